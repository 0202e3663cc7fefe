//! A soak test of the upstream collector loop, `perfkit collect --review
//! --gerrit … --site …` run cycle after cycle as cron would, against the
//! stand-in Zuul (`tests/tools/zuul_server.py`) and Gerrit
//! (`tests/tools/gerrit_server.py`): about 300 builds (periodic builds and
//! check builds of many changes, patchsets and rechecks, with copies of the
//! real Rally history reports) arrive in batches over many cycles, with
//! faults: Zuul 5xx, a Zuul that stays down for a cycle, slow pages and
//! logs, gzip-served logs and `.gz` reports, reports cut short or missing,
//! Gerrit 503 and 429, reviews Gerrit stored but answered with a 500 or not
//! at all, and collectors killed (SIGKILL) at random points.
//!
//! At the end: every good build is archived once and every bad one recorded
//! as failed; each result of a patchset is posted once (a recheck that
//! changes it is a new one) and none is missing; no report was downloaded
//! twice but after a kill that came before its build was committed; every
//! cycle with nothing new kept the budget (one page of the builds API, no
//! download, no Gerrit request, no site file rewritten); the site shows
//! every patchset.
//!
//! The plan (builds, batches, faults, kill times) comes from a seed, printed
//! first; `PERFKIT_SOAK_SEED=<n>` replays it. Where a kill lands in the
//! collector's work depends on timing, so a replay follows the same plan,
//! not the same instructions.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{fixture, perfkit, tools_python as python};
use serde_json::{Value, json};

const JOB: &str = "nova-rally-soak";
const PROJECT: &str = "openstack/nova";
const TENANT: &str = "openstack";
const USER: &str = "perfkit-bot";
/// Distinctive, so a leak anywhere in the output is found.
const PASSWORD: &str = "Pw-5oak-never-shown";
const SITE_URL: &str = "https://perf.example.org/";
/// Builds in the whole soak.
const BUILDS: usize = 300;
/// Cycles of the soak proper (the settling cycles come after).
const SOAK_CYCLES: usize = 34;
/// Builds each cycle lists: the newest, one page of the builds API.
/// (`--since`, as in the README's cron line, costs a cycle with nothing new
/// two pages once the history is longer than a page: paging stops only at
/// a page that is all older than the window.)
const LIMIT: usize = 50;
/// Most builds released before one cycle; three batches stay within
/// [`LIMIT`], so a build left by a killed cycle and one that could not
/// reach Zuul is still listed by the next one.
const MOST_PER_BATCH: usize = 16;
/// Patchsets whose review is done again at the end to see nothing is
/// missing (each is a process: all of them would double the test's time).
const REVIEWS_CHECKED: usize = 40;
/// Longest a cycle may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(120);
/// Seconds between two builds' starts (Zuul's times and the reports').
const BUILD_SPACING: i64 = 600;
/// Longest delay a fault puts on a request, and some: after a kill, the
/// servers finish (and log) what the dead collector had asked before the
/// next cycle's requests are told apart.
const IN_FLIGHT: Duration = Duration::from_millis(600);

/// A small deterministic generator (SplitMix64): no dependency, and a
/// plan is reproduced from its seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// In `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `PERFKIT_SOAK_SEED` (decimal or `0x` hex), else a fresh one.
fn seed() -> u64 {
    match std::env::var("PERFKIT_SOAK_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("PERFKIT_SOAK_SEED={text:?} is not a number"))
        }
        Err(_) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// Says the seed again when the test fails, next to the failure.
struct SeedOnFailure(u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "soak failed with seed {0}: replay with PERFKIT_SOAK_SEED={0}",
                self.0
            );
        }
    }
}

/// A test server from tests/tools, killed on drop; `first_line` is what it
/// printed on start (its URL or port).
struct Server {
    child: Child,
    first_line: String,
}

impl Server {
    /// Starts `script` with `args`; its stderr goes to `dir/<script>.stderr`
    /// (the tracebacks of connections a killed collector reset).
    fn start(
        python: &Path,
        dir: &Path,
        script: &str,
        args: &[&dyn AsRef<std::ffi::OsStr>],
    ) -> Server {
        let stderr = File::create(dir.join(format!("{script}.stderr"))).unwrap();
        let mut child = Command::new(python)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/tools")
                    .join(script),
            )
            .args(args.iter().map(|a| a.as_ref()))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{script} starts: {e}"));
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        Server {
            child,
            first_line: first_line.trim().to_string(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stand-in Zuul with every build of the soak; its `released` knob
/// says how many have finished so far.
struct Zuul {
    _server: Server,
    base: String,
    port: u16,
    log: PathBuf,
}

impl Zuul {
    fn start(python: &Path, dir: &Path, builds: &[Value]) -> Zuul {
        let description = dir.join("builds.json");
        std::fs::write(&description, json!({ "builds": builds }).to_string()).unwrap();
        let log = dir.join("zuul-requests.jsonl");
        let server = Server::start(
            python,
            dir,
            "zuul_server.py",
            &[&"--builds", &description, &"--request-log", &log],
        );
        let base = server.first_line.clone();
        let port = base
            .strip_prefix("http://127.0.0.1:")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("the test Zuul said {base:?}"));
        Zuul {
            _server: server,
            base,
            port,
            log,
        }
    }

    /// Sets the knobs (`tests/tools/zuul_server.py`, `Knobs`).
    fn control(&self, knobs: &Value) {
        let body = knobs.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "POST /_control HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// The requests since the last call, knobs left out (the log is emptied).
    fn take_requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        std::fs::write(&self.log, "").unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &Value| r["path"] != "/_control")
            .collect()
    }
}

/// The stand-in Gerrit with every change of the soak open.
struct Gerrit {
    _server: Server,
    url: String,
    dir: PathBuf,
}

impl Gerrit {
    fn start(python: &Path, dir: &Path, changes: &BTreeMap<u64, u32>) -> Gerrit {
        let dir = dir.join("gerrit");
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let changes: Vec<Value> = changes
            .iter()
            .map(|(number, patch_sets)| {
                json!({"project": PROJECT, "number": number, "patch_sets": patch_sets,
                       "status": "NEW"})
            })
            .collect();
        let state = json!({
            "accounts": {USER: {"password": PASSWORD, "labels": {"Verified": [-1, 1]}}},
            "labels": ["Verified", "Code-Review"],
            "changes": changes,
        });
        std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
        let server = Server::start(
            python,
            &dir,
            "gerrit_server.py",
            &[
                &"--state",
                &dir.join("state.json"),
                &"--log",
                &dir.join("log.json"),
                &"--dump",
                &dir.join("dump.json"),
                &"--control",
                &dir.join("control.json"),
            ],
        );
        let port: u16 = server.first_line.parse().unwrap_or_else(|_| {
            panic!(
                "the test Gerrit printed {:?}, not its port",
                server.first_line
            )
        });
        Gerrit {
            _server: server,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Every request the server received, oldest first.
    fn requests(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("log.json")) else {
            return Vec::new();
        };
        serde_json::from_str(&text).unwrap()
    }

    /// Sets the knobs; `cycle` makes every write new, so the server
    /// re-reads it even when the knobs are the same as two cycles ago.
    fn control(&self, cycle: usize, fail_next: &Value) {
        let knobs = json!({"cycle": cycle, "fail_next": fail_next});
        std::fs::write(self.dir.join("control.json"), knobs.to_string()).unwrap();
    }

    /// Every change's messages as the server stores them.
    fn dump(&self) -> Value {
        let Ok(text) = std::fs::read_to_string(self.dir.join("dump.json")) else {
            return json!({});
        };
        serde_json::from_str(&text).unwrap()
    }

    /// `perfkit` with the account's credentials in the environment (never
    /// on the command line), a HOME without `.netrc`, and a short watch for
    /// reviews that got no answer.
    fn perfkit(&self) -> Command {
        self.perfkit_watching(Duration::from_millis(300))
    }

    /// [`Gerrit::perfkit`] watching a review that got no answer for `watch`.
    fn perfkit_watching(&self, watch: Duration) -> Command {
        let mut cmd = perfkit();
        for var in [
            "PERFKIT_GERRIT_CREDENTIALS",
            "NETRC",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.join("home"))
            .env("PERFKIT_GERRIT_USER", USER)
            .env("PERFKIT_GERRIT_PASSWORD", PASSWORD)
            .env(
                "PERFKIT_GERRIT_CONFIRM_SECONDS",
                watch.as_secs_f64().to_string(),
            );
        cmd
    }
}

/// How a build keeps (or lacks) its Rally report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// `perfkit/report.json`, declared as an artifact.
    Plain,
    /// The same, sent with `Content-Encoding: gzip` (OpenDev's log storage).
    GzipEncoded,
    /// `perfkit/report.json.gz`: a gzip file without `Content-Encoding`.
    GzFile,
    /// rally-openstack's `results/report.json`, no artifact (found by
    /// its known path), sometimes gzip-served.
    KnownPath { gzip: bool },
    /// Cut short: recorded as failed for good.
    Truncated,
    /// The job succeeded, but its declared report is gone (404), or it
    /// declared none and no known path has one: failed for good.
    Missing { declared: bool },
    /// devstack failed before Rally ran: a log, no results.
    FailedEarly,
    /// NODE_FAILURE: never ran, no log.
    NeverRan,
}

/// What the archive must hold for a build in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Archived with its results.
    Archived,
    /// Recorded as failed for good (`source_format = "failed"`).
    FailedForGood,
    /// Recorded without results (`source_format = "none"`).
    NoResults,
}

impl Serving {
    fn fate(self) -> Fate {
        match self {
            Serving::Plain | Serving::GzipEncoded | Serving::GzFile | Serving::KnownPath { .. } => {
                Fate::Archived
            }
            Serving::Truncated | Serving::Missing { .. } => Fate::FailedForGood,
            Serving::FailedEarly | Serving::NeverRan => Fate::NoResults,
        }
    }
}

/// One build of the soak.
struct Build {
    uuid: String,
    change: Option<(u64, u32)>,
    serving: Serving,
    /// The URL path of its log directory (`/logs/…/`), if it ran.
    log_dir: Option<String>,
    /// Zuul's description of it (`zuul_server.py`'s format).
    zuul: Value,
}

impl Build {
    fn describe(&self, n: usize) -> String {
        match self.change {
            Some((c, p)) => format!(
                "build {n} ({}, change {c},{p}, {:?})",
                self.uuid, self.serving
            ),
            None => format!("build {n} ({}, periodic, {:?})", self.uuid, self.serving),
        }
    }
}

/// A Zuul build uuid (32 hex digits) whose first seven, in log paths,
/// differ per build.
fn uuid(n: usize) -> String {
    format!("{:07x}0d1e9b8d4c3e8f7a6b5c4d3e2", 0xc00_0000 + n * 4099)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) as seconds since the epoch.
fn parse_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    Some(days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?)
}

fn format_utc(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A real Rally report moved in time by `offset` seconds: every time in it
/// (task, subtask and workload `created_at`/`updated_at`, the workload's
/// `start_time`, iterations' `timestamp`, atomic actions' `started_at`/
/// `finished_at`) moves together, the rest stays byte for byte. Each build
/// gets its own, so that the archive's time order is the order builds
/// arrive in, as upstream: baselines and verdicts then do not depend on
/// which batch a branch build came in.
fn moved_report(text: &str, offset: i64) -> String {
    const DATES: [&str; 3] = ["created_at", "updated_at", "generated_at"];
    const EPOCHS: [&str; 4] = ["start_time", "timestamp", "started_at", "finished_at"];
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find("\": ") {
        let key = rest[..at].rsplit('"').next().unwrap_or_default();
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        rest = tail;
        if DATES.contains(&key)
            && tail.starts_with('"')
            && let Some(time) = tail.get(1..20).and_then(parse_utc)
        {
            out.push('"');
            out.push_str(&format_utc(time + offset));
            rest = &tail[20..];
        } else if EPOCHS.contains(&key) {
            let end = tail
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(tail.len());
            if let Ok(value) = tail[..end].parse::<f64>() {
                write!(out, "{}", value + offset as f64).unwrap();
                rest = &tail[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The history fixtures each build's report is a moved copy of.
struct Fixtures {
    /// `history/<name>` → its text and its task's `created_at`/`updated_at`.
    reports: BTreeMap<String, (String, i64, i64)>,
}

impl Fixtures {
    fn load() -> Fixtures {
        let mut names: Vec<String> = (1..=20)
            .map(|i| format!("build-{i:02}.report.json"))
            .collect();
        names.push("change-900001.report.json".into());
        names.push("change-900002.report.json".into());
        let reports = names
            .into_iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(fixture(&format!("rally/history/{name}"))).unwrap();
                let rally: Value = serde_json::from_str(&text).unwrap();
                let task = &rally["tasks"][0];
                let time = |field: &str| parse_utc(task[field].as_str().unwrap()).unwrap();
                let times = (time("created_at"), time("updated_at"));
                (name, (text, times.0, times.1))
            })
            .collect();
        Fixtures { reports }
    }

    /// Build `n` of `change` (none: periodic), with a copy of the report
    /// `history/<report>` moved to its time in `dir`; `cut`: only that
    /// percentage of it.
    fn build(
        &self,
        dir: &Path,
        n: usize,
        change: Option<(u64, u32)>,
        serving: Serving,
        report: &str,
        cut: Option<usize>,
    ) -> Build {
        std::fs::create_dir_all(dir).unwrap();
        // Monday 2026-09-07, 00:00 UTC: build n starts n × BUILD_SPACING later.
        let start = days_from_civil(2026, 9, 7) * 86_400 + n as i64 * BUILD_SPACING;
        let (text, created, updated) = &self.reports[report];
        let moved = moved_report(text, start - created);
        let file = dir.join(format!("{n:03}-{report}"));
        match cut {
            Some(percent) => {
                let mut end = moved.len() * percent / 100;
                while !moved.is_char_boundary(end) {
                    end -= 1;
                }
                std::fs::write(&file, &moved[..end]).unwrap();
            }
            None => std::fs::write(&file, &moved).unwrap(),
        }
        let times = (start - 2, start + (updated - created) + 2);
        zuul_build(n, change, serving, &file, times)
    }
}

/// What the soak is made of: its builds, in the order they finish, and
/// the patchsets of each change.
struct Plan {
    builds: Vec<Build>,
    changes: BTreeMap<u64, u32>,
}

/// Makes the builds: a branch history first, then check builds of changes
/// (new changes, new patchsets, rechecks) with a periodic build now and
/// then; reports moved to the build's time and written to `dir`.
fn plan(rng: &mut Rng, dir: &Path) -> Plan {
    let fixtures = Fixtures::load();
    let mut changes: BTreeMap<u64, u32> = BTreeMap::new();
    // Changes under review: (change, its newest patchset).
    let mut open: Vec<(u64, u32)> = Vec::new();
    let mut next_change = 920_001u64;
    let mut builds = Vec::new();
    for n in 1..=BUILDS {
        let periodic = n <= 12 || rng.percent(22);
        let change = if periodic {
            None
        } else {
            let roll = rng.below(100);
            if open.is_empty() || roll < 35 {
                let fresh = (next_change, 1);
                next_change += 1 + rng.below(3);
                open.push(fresh);
                if open.len() > 14 {
                    open.remove(0);
                }
                Some(fresh)
            } else if roll < 60 {
                let i = rng.below(open.len() as u64) as usize;
                open[i].1 += 1;
                Some(open[i])
            } else {
                Some(*rng.pick(&open))
            }
        };
        if let Some((c, p)) = change {
            let known = changes.entry(c).or_insert(p);
            *known = (*known).max(p);
        }
        let report = match change {
            None => format!("build-{:02}.report.json", 11 + rng.below(10)),
            Some(_) => match rng.below(100) {
                0..45 => "change-900001.report.json".into(),
                45..65 => "change-900002.report.json".into(),
                65..85 => format!("build-{:02}.report.json", 11 + rng.below(10)),
                _ => format!("build-{:02}.report.json", 1 + rng.below(10)),
            },
        };
        let serving = match rng.below(100) {
            0..55 => Serving::Plain,
            55..67 => Serving::GzipEncoded,
            67..75 => Serving::GzFile,
            75..83 => Serving::KnownPath {
                gzip: rng.percent(50),
            },
            83..89 => Serving::Truncated,
            89..93 => Serving::Missing {
                declared: rng.percent(50),
            },
            93..97 => Serving::FailedEarly,
            _ => Serving::NeverRan,
        };
        let cut = (serving == Serving::Truncated).then(|| rng.between(10, 90) as usize);
        builds.push(fixtures.build(dir, n, change, serving, &report, cut));
    }
    Plan { builds, changes }
}

/// Build `n` (its `_id`) in `zuul_server.py`'s description format.
fn zuul_build(
    n: usize,
    change: Option<(u64, u32)>,
    serving: Serving,
    report: &Path,
    (start, end): (i64, i64),
) -> Build {
    let uuid = uuid(n);
    let (pipeline, git_ref, ref_url, log_path) = match change {
        Some((c, p)) => (
            "check",
            format!("refs/changes/{:02}/{c}/{p}", c % 100),
            format!("https://review.opendev.org/c/{PROJECT}/+/{c}"),
            format!("{:02}/{c}/{p}/check/{JOB}/{}/", c % 100, &uuid[..7]),
        ),
        None => (
            "periodic",
            "refs/heads/master".to_string(),
            format!("https://opendev.org/{PROJECT}/commit/?h=master"),
            format!(
                "periodic/opendev.org/{PROJECT}/master/{JOB}/{}/",
                &uuid[..7]
            ),
        ),
    };
    let report = report.display().to_string();
    let declared = |url: &str| {
        json!([
            {"name": "Rally JSON report", "url": url, "metadata": {"type": "rally_report_json"}},
            {"name": "Rally HTML report", "url": "perfkit/report.html",
             "metadata": {"type": "rally_report_html"}},
        ])
    };
    let mut files = json!({"job-output.txt": {"text": "devstack log\n"}});
    let mut artifacts = json!([]);
    let mut result = "SUCCESS";
    match serving {
        Serving::Plain | Serving::Truncated => {
            files["perfkit/report.json"] = json!({"path": report});
            artifacts = declared("perfkit/report.json");
        }
        Serving::GzipEncoded => {
            files["perfkit/report.json"] = json!({"path": report, "gzip": true});
            artifacts = declared("perfkit/report.json");
        }
        Serving::GzFile => {
            files["perfkit/report.json.gz"] = json!({"path": report, "gzfile": true});
            artifacts = declared("perfkit/report.json.gz");
        }
        Serving::KnownPath { gzip } => {
            files["results/report.json"] = json!({"path": report, "gzip": gzip});
            artifacts = json!([{"name": "Rally CI report", "url": "index.html"}]);
        }
        Serving::Missing { declared: true } => {
            files["perfkit/report.json"] = json!({"status": 404});
            artifacts = declared("perfkit/report.json");
        }
        Serving::Missing { declared: false } => {}
        Serving::FailedEarly => result = "FAILURE",
        Serving::NeverRan => result = "NODE_FAILURE",
    }
    let ran = serving != Serving::NeverRan;
    let zuul = json!({
        "uuid": uuid, "job_name": JOB, "result": result,
        "start_time": ran.then(|| format_utc(start)), "end_time": format_utc(end),
        "voting": pipeline != "check", "nodeset": "ubuntu-noble", "pipeline": pipeline,
        "event_id": format!("{n:032x}"), "event_timestamp": format_utc(start - 60),
        "queue_item_uuid": format!("{:032x}", n + 7000),
        "buildset": {"uuid": format!("{:032x}", n + 9000)},
        "ref": {"project": PROJECT, "branch": "master",
                "change": change.map(|(c, _)| c),
                "patchset": change.map(|(_, p)| p.to_string()),
                "ref": git_ref, "oldrev": null, "newrev": null, "ref_url": ref_url},
        "log_path": ran.then_some(&log_path),
        "artifacts": artifacts,
        "files": if ran { files } else { json!({}) },
    });
    Build {
        uuid,
        change,
        serving,
        // zuul_server.py serves the logs of `log_path` below `/logs/`.
        log_dir: ran.then(|| format!("/logs/{log_path}")),
        zuul,
    }
}

/// What goes wrong in one cycle.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Zuul's knobs for the cycle (failures, delays), besides `released`.
    zuul: Option<Value>,
    /// Zuul answers every request with a 503: the cycle cannot list builds.
    zuul_down: bool,
    /// Gerrit's `fail_next` for the cycle.
    gerrit: Option<Value>,
    /// SIGKILL this long after the collector started.
    kill_after: Option<Duration>,
    /// SIGKILL once Gerrit got a review POST; the collector watches for a
    /// review that got no answer this long, so that it is still at it.
    kill_after_post: Option<Duration>,
}

impl Faults {
    fn any(&self) -> bool {
        self.zuul.is_some()
            || self.zuul_down
            || self.gerrit.is_some()
            || self.kill_after.is_some()
            || self.kill_after_post.is_some()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(z) = &self.zuul {
            parts.push(format!("zuul {z}"));
        }
        if self.zuul_down {
            parts.push("zuul down".into());
        }
        if let Some(g) = &self.gerrit {
            parts.push(format!("gerrit {g}"));
        }
        if let Some(k) = self.kill_after {
            parts.push(format!("SIGKILL after {} ms", k.as_millis()));
        }
        if self.kill_after_post.is_some() {
            parts.push("SIGKILL after a review POST".into());
        }
        if parts.is_empty() {
            "no faults".into()
        } else {
            parts.join("; ")
        }
    }
}

/// One cycle of the schedule: how many builds have finished by then, and
/// what goes wrong.
struct Step {
    released: usize,
    faults: Faults,
}

/// Releases every build over [`SOAK_CYCLES`] cycles in batches of at most
/// [`MOST_PER_BATCH`], with cycles where nothing is new in between, and
/// draws each cycle's faults; in one cycle Zuul is down. A kill and a Zuul
/// that is down never come in two cycles in a row, so every build is
/// listed by a cycle that can archive it before it leaves the newest
/// [`LIMIT`].
fn schedule(rng: &mut Rng) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut released = 0;
    let mut disrupted = false;
    let zuul_down = rng.between(4, SOAK_CYCLES as u64 - 4) as usize;
    for cycle in 0..SOAK_CYCLES {
        let left_cycles = SOAK_CYCLES - cycle;
        let left = BUILDS - released;
        let needed = left.div_ceil(MOST_PER_BATCH);
        // Nothing new now and then, while the rest still fits.
        let idle = cycle > 0 && left_cycles > needed + 1 && rng.percent(30);
        if !idle && left > 0 {
            let low = (left / left_cycles).clamp(1, MOST_PER_BATCH);
            released += (rng.between(low as u64, MOST_PER_BATCH as u64) as usize).min(left);
        }
        let mut faults = Faults::default();
        if !idle || rng.percent(30) {
            match rng.below(100) {
                0..14 => {
                    faults.zuul = Some(json!({"fail_next": rng.between(1, 2),
                        "fail_status": *rng.pick(&[500, 502, 503]), "fail_prefix": "/api/"}))
                }
                14..28 => {
                    faults.zuul = Some(json!({"delay_ms": rng.between(100, 400),
                        "delay_prefix": "/api/"}))
                }
                28..40 => {
                    faults.zuul = Some(json!({"fail_next": rng.between(1, 3),
                        "fail_status": 503, "fail_prefix": "/logs/"}))
                }
                40..48 => {
                    faults.zuul = Some(json!({"fail_next": 1, "fail_status": 429,
                        "retry_after": 1, "fail_prefix": "/logs/"}))
                }
                48..58 => {
                    faults.zuul = Some(json!({"delay_ms": rng.between(20, 120),
                        "delay_prefix": "/logs/"}))
                }
                _ => {}
            }
            faults.gerrit = match rng.below(100) {
                0..10 => Some(json!({"count": rng.between(1, 2), "status": 503})),
                10..18 => Some(json!({"count": 1, "status": 429, "retry_after": 1})),
                18..28 => Some(json!({"count": 1, "status": 500, "method": "POST",
                    "after_apply": true})),
                28..38 => Some(json!({"count": 1, "method": "POST", "after_apply": true,
                    "drop": true})),
                38..44 => Some(json!({"count": 1, "method": "POST", "drop": true})),
                44..50 => Some(json!({"count": 2, "status": 503, "method": "POST"})),
                _ => None,
            };
            if !disrupted && cycle + 1 != zuul_down && rng.percent(28) {
                faults.kill_after = Some(Duration::from_millis(rng.between(5, 1500)));
            }
        }
        if cycle == zuul_down {
            faults.zuul = None;
            faults.zuul_down = true;
            faults.kill_after = None;
        }
        disrupted = faults.zuul_down || faults.kill_after.is_some();
        steps.push(Step { released, faults });
    }
    assert_eq!(released, BUILDS, "the schedule releases every build");
    steps
}

/// Every file of the site with its modification time and a digest of its
/// bytes; a state directory of perfkit's inside it (`.perfkit`, if it is
/// kept there) is left out.
fn site_files(site: &Path) -> BTreeMap<PathBuf, (SystemTime, u64)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![site.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if dir != site || path.file_name() != Some(".perfkit".as_ref()) {
                    dirs.push(path);
                }
            } else {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                let mut hasher = DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut hasher);
                out.insert(path, (modified, hasher.finish()));
            }
        }
    }
    out
}

/// The committed attempts of each build (`builds` objects), by build id.
/// A writer killed in a put leaves the local store's staging file
/// (`attempt=0.parquet#1`), which no reader lists: not a commit.
fn committed(archive: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in common::tree(&archive.join("v2/builds")) {
        let mut parts = key.split('/');
        let (Some(build), Some(attempt)) = (parts.nth(3), parts.next()) else {
            continue;
        };
        if let Some(id) = build.strip_prefix("build=")
            && attempt.starts_with("attempt=")
            && attempt.ends_with(".parquet")
        {
            out.entry(id.to_string())
                .or_default()
                .push(attempt.to_string());
        }
    }
    out
}

/// The directory of the collector's state and the number of its newest lease.
fn lease_file(archive: &Path) -> Option<(PathBuf, u64)> {
    let dir = archive.join("v2/collector").join(TENANT);
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("lease-")?.parse::<u64>().ok()
        })
        .max()?;
    Some((dir, newest))
}

/// A killed collector's lease expires `--lease` (a minute at the least)
/// after it was taken; the test cannot wait that long at each kill, so it
/// stands in for the time passing and gives the lease back for the dead
/// holder, as a holder does when it ends: the next number, created already
/// expired. Returns whether there was a lease to give back.
fn expire_dead_lease(archive: &Path) -> bool {
    let Some((dir, newest)) = lease_file(archive) else {
        return false;
    };
    let body: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("lease-{newest:020}"))).unwrap())
            .unwrap();
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    if body["expires_us"].as_i64().unwrap() <= now_us {
        return false;
    }
    let given_back = json!({"expires_us": 0, "token": "00000000000000aa"});
    std::fs::write(
        dir.join(format!("lease-{:020}", newest + 1)),
        given_back.to_string(),
    )
    .unwrap();
    true
}

/// What happened in one run of the collector.
struct Cycle {
    index: usize,
    /// Builds released so far.
    released: usize,
    /// Builds released since the previous cycle.
    new: usize,
    faults: Faults,
    /// Killed before it ended.
    killed: bool,
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    /// Found the lease held and did nothing.
    held: bool,
    api_pages: usize,
    /// Paths of the logs it asked for, with the status of the answer.
    log_requests: Vec<(String, u64)>,
    gerrit_requests: usize,
    site_rewritten: bool,
    took: Duration,
}

impl Cycle {
    fn header(&self) -> String {
        format!(
            "cycle {} ({} released, {} new; {})",
            self.index,
            self.released,
            self.new,
            self.faults.describe()
        )
    }

    /// Report downloads: log files answered 200.
    fn downloads(&self) -> impl Iterator<Item = &str> {
        self.log_requests
            .iter()
            .filter(|(_, status)| *status == 200)
            .map(|(path, _)| path.as_str())
    }
}

/// The soak's world: servers, archive, site, and what each cycle did.
struct Soak {
    /// Which test's, in what it prints (the tests run side by side).
    name: &'static str,
    work: PathBuf,
    zuul: Zuul,
    gerrit: Gerrit,
    archive: PathBuf,
    site: PathBuf,
    cycles: Vec<Cycle>,
    /// The committed attempts after each cycle.
    committed_after: Vec<BTreeMap<String, Vec<String>>>,
    gerrit_seen: usize,
    runtime: tokio::runtime::Runtime,
}

impl Soak {
    /// Starts the servers with `builds` (none finished yet) and `changes`.
    fn start(
        name: &'static str,
        python: &Path,
        work: &Path,
        builds: &[Build],
        changes: &BTreeMap<u64, u32>,
    ) -> Soak {
        let zuul = Zuul::start(
            python,
            work,
            &builds.iter().map(|b| b.zuul.clone()).collect::<Vec<_>>(),
        );
        Soak {
            name,
            work: work.to_path_buf(),
            zuul,
            gerrit: Gerrit::start(python, work, changes),
            archive: work.join("archive"),
            site: work.join("site"),
            cycles: Vec::new(),
            committed_after: Vec::new(),
            gerrit_seen: 0,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn collector(&self, watch: Duration) -> Command {
        let mut cmd = self.gerrit.perfkit_watching(watch);
        cmd.args(["collect", "--zuul", &self.zuul.base, "--tenant", TENANT])
            .args(["--job", JOB, "--limit", &LIMIT.to_string()])
            .arg("--archive")
            .arg(&self.archive)
            .args(["--review", "--gerrit", &self.gerrit.url])
            .arg("--site")
            .arg(&self.site)
            .args(["--site-url", SITE_URL, "--lease", "1"]);
        cmd
    }

    /// Stops the servers and the runtime without waiting for its idle
    /// blocking threads to time out (seconds).
    fn close(self) {
        self.runtime.shutdown_background();
    }

    /// The collector's pending review lists in the archive.
    fn pending(&self) -> usize {
        let archive = perfkit_archive::Archive::open(self.archive.to_str().unwrap()).unwrap();
        self.runtime
            .block_on(archive.pending(TENANT))
            .unwrap()
            .len()
    }

    /// Runs one cycle with `faults` after `released` builds finished;
    /// returns its index in `cycles`.
    fn cycle(&mut self, released: usize, faults: Faults) -> usize {
        let index = self.cycles.len();
        let new = released - self.cycles.last().map_or(0, |c| c.released);
        let mut knobs = json!({"released": released, "fail_next": 0, "fail_status": 503,
            "retry_after": null, "fail_prefix": "", "delay_ms": 0, "delay_prefix": ""});
        if let Some(zuul) = &faults.zuul {
            for (k, v) in zuul.as_object().unwrap() {
                knobs[k] = v.clone();
            }
        }
        if faults.zuul_down {
            knobs["fail_next"] = json!(1000);
            knobs["fail_prefix"] = json!("/api/");
        }
        self.zuul.control(&knobs);
        self.gerrit.control(
            index,
            faults.gerrit.as_ref().unwrap_or(&json!({"count": 0})),
        );
        self.zuul.take_requests();
        let site_before = site_files(&self.site);

        let out_path = self.work.join(format!("cycles/{index:02}.out"));
        let err_path = self.work.join(format!("cycles/{index:02}.err"));
        std::fs::create_dir_all(out_path.parent().unwrap()).unwrap();
        let watch = faults.kill_after_post.unwrap_or(Duration::from_millis(300));
        let started = Instant::now();
        let mut child = self
            .collector(watch)
            .stdout(File::create(&out_path).unwrap())
            .stderr(File::create(&err_path).unwrap())
            .spawn()
            .expect("perfkit runs");
        let mut killed = false;
        if faults.kill_after_post.is_some() {
            let before = self.gerrit.requests().len();
            while child.try_wait().unwrap().is_none()
                && !self.gerrit.requests()[before..]
                    .iter()
                    .any(|r| r["method"] == "POST")
            {
                assert!(started.elapsed() < HUNG, "cycle {index}: no review POST");
                std::thread::sleep(Duration::from_millis(10));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed = true;
            }
        }
        if let Some(after) = faults.kill_after {
            std::thread::sleep(after);
            if child.try_wait().unwrap().is_none() {
                // `Child::kill` is SIGKILL: no handler, no cleanup.
                child.kill().unwrap();
                killed = true;
            }
        }
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > HUNG {
                let _ = child.kill();
                panic!("cycle {index} still runs after {HUNG:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = started.elapsed();
        if killed {
            std::thread::sleep(IN_FLIGHT);
        }
        let stdout = std::fs::read_to_string(&out_path).unwrap();
        let stderr = std::fs::read_to_string(&err_path).unwrap();
        assert!(
            !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
            "cycle {index}: the password leaked"
        );

        let requests = self.zuul.take_requests();
        let api_pages = requests
            .iter()
            .filter(|r| r["path"] == format!("/api/tenant/{TENANT}/builds"))
            .count();
        let log_requests = requests
            .iter()
            .filter_map(|r| {
                let path = r["path"].as_str()?;
                path.starts_with("/logs/")
                    .then(|| (path.to_string(), r["status"].as_u64().unwrap_or(0)))
            })
            .collect();
        let gerrit_total = self.gerrit.requests().len();
        let gerrit_requests = gerrit_total - self.gerrit_seen;
        self.gerrit_seen = gerrit_total;
        let site_rewritten = site_files(&self.site) != site_before;
        let held = stdout.starts_with("another collect cycle of tenant")
            && stdout.contains(" holds the lease until ");
        self.committed_after.push(committed(&self.archive));
        let cycle = Cycle {
            index,
            released,
            new,
            faults,
            killed,
            exit: if killed { None } else { status.code() },
            stdout,
            stderr,
            held,
            api_pages,
            log_requests,
            gerrit_requests,
            site_rewritten,
            took,
        };
        eprintln!(
            "{} {}: {} in {:.2?}, {} pages, {} downloads, {} Gerrit requests{}",
            self.name,
            cycle.header(),
            match (cycle.killed, cycle.held, cycle.exit) {
                (true, _, _) => "killed".to_string(),
                (_, true, _) => "lease held".to_string(),
                (_, _, code) => format!("exit {code:?}"),
            },
            cycle.took,
            cycle.api_pages,
            cycle.downloads().count(),
            cycle.gerrit_requests,
            if cycle.site_rewritten {
                ", site rewritten"
            } else {
                ""
            }
        );
        self.cycles.push(cycle);
        index
    }

    /// Whether `cycle` left nothing to do but what new builds bring: it
    /// ran to its end, no build failed in a way the next run retries, no
    /// review is pending.
    fn settled(&self, cycle: &Cycle) -> bool {
        !cycle.killed
            && !cycle.held
            && matches!(cycle.exit, Some(0 | 2))
            && cycle.stdout.contains("\nreviews: ")
            && (cycle.exit == Some(0) || cycle.stdout.contains("failed for good"))
            && !cycle.stdout.contains("failed (tried again next run)")
            && !cycle.stdout.contains(", failed (pending")
            && !cycle.stderr.contains("outlived its lease")
            && self.pending() == 0
    }

    /// A cycle with nothing new after a settled one, without faults:
    /// one page of the builds API, no download, no Gerrit request, no site
    /// file rewritten.
    fn assert_quiet(&self, cycle: &Cycle) {
        let context = format!("{}:\n{}{}", cycle.header(), cycle.stdout, cycle.stderr);
        assert_eq!(cycle.exit, Some(0), "{context}");
        assert!(cycle.stdout.contains("): 0 new"), "{context}");
        assert!(
            cycle.api_pages <= 1,
            "{} pages of the builds API for one job: {context}",
            cycle.api_pages
        );
        assert!(
            cycle.log_requests.is_empty(),
            "a quiet cycle asked for logs {:?}: {context}",
            cycle.log_requests
        );
        assert_eq!(cycle.gerrit_requests, 0, "Gerrit was asked: {context}");
        assert!(
            !cycle.site_rewritten,
            "a site file was rewritten: {context}"
        );
    }
}

/// perfkit's review messages on each (change, patchset), in posting
/// order: the digest of each one's marker, and its text.
fn markers(dump: &Value) -> BTreeMap<(u64, u32), Vec<(String, String)>> {
    let mut out: BTreeMap<(u64, u32), Vec<(String, String)>> = BTreeMap::new();
    for (id, change) in dump.as_object().unwrap() {
        let number: u64 = id.rsplit_once('~').unwrap().1.parse().unwrap();
        for message in change["messages"].as_array().unwrap() {
            assert_eq!(message["author"]["username"], USER, "{message}");
            let text = message["message"].as_str().unwrap();
            let marker = text
                .lines()
                .last()
                .and_then(|l| l.strip_prefix("perfkit-result: ps="))
                .unwrap_or_else(|| panic!("a message without perfkit's marker: {text}"));
            let (ps, rest) = marker.split_once(' ').unwrap();
            let digest = rest
                .strip_prefix("digest=")
                .and_then(|d| d.split(' ').next())
                .unwrap();
            let ps: u32 = ps.parse().unwrap();
            assert_eq!(message["_revision_number"], ps, "{message}");
            out.entry((number, ps))
                .or_default()
                .push((digest.to_string(), text.to_string()));
        }
    }
    out
}

#[test]
fn the_collector_loop_survives_faults_and_kills_and_does_each_thing_once() {
    let Some(python) = python() else {
        return;
    };
    let started = Instant::now();
    let seed = seed();
    eprintln!("soak seed {seed} (replay with PERFKIT_SOAK_SEED={seed})");
    let _seed_on_failure = SeedOnFailure(seed);
    let mut rng = Rng(seed);
    let temp = tempfile::tempdir().unwrap();
    let work = &temp.path().to_path_buf();
    // PERFKIT_SOAK_KEEP=1 keeps the archive, site, servers' logs and each
    // cycle's output to look at.
    let _temp = if std::env::var_os("PERFKIT_SOAK_KEEP").is_some() {
        eprintln!("work directory kept: {}", temp.keep().display());
        None
    } else {
        Some(temp)
    };

    // Phase 1: the plan.
    let phase = Instant::now();
    let plan = plan(&mut rng, &work.join("reports"));
    let steps = schedule(&mut rng);
    let mut soak = Soak::start("soak", &python, work, &plan.builds, &plan.changes);
    let by_log_dir: BTreeMap<&str, usize> = plan
        .builds
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((b.log_dir.as_deref()?, i)))
        .collect();
    let build_of = |path: &str| -> usize {
        let dir = by_log_dir
            .range(..=path)
            .next_back()
            .filter(|(dir, _)| path.starts_with(*dir))
            .unwrap_or_else(|| panic!("{path} is no build's log"));
        *dir.1
    };
    let kinds = plan.builds.iter().fold(BTreeMap::new(), |mut m, b| {
        *m.entry(format!("{:?}", b.serving)).or_insert(0) += 1;
        m
    });
    eprintln!(
        "plan: {} builds ({} changes, {} patchsets) in {} cycles; {kinds:?}; {:.2?}",
        plan.builds.len(),
        plan.changes.len(),
        plan.changes.values().sum::<u32>(),
        steps.len(),
        phase.elapsed()
    );

    // Phase 2: the soak.
    let phase = Instant::now();
    let mut quiet_checked = 0;
    for step in steps {
        let after_settled = soak.cycles.last().is_some_and(|c| soak.settled(c));
        let i = soak.cycle(step.released, step.faults);
        let cycle = &soak.cycles[i];
        if cycle.new == 0 && !cycle.faults.any() && after_settled {
            soak.assert_quiet(cycle);
            quiet_checked += 1;
        }
        if cycle.killed {
            // The next cron run comes while the dead holder's lease lasts:
            // it does nothing at all.
            let released = cycle.released;
            let next = soak.cycle(released, Faults::default());
            let next = &soak.cycles[next];
            if next.held {
                let context = format!("{}:\n{}{}", next.header(), next.stdout, next.stderr);
                assert_eq!(next.exit, Some(0), "{context}");
                assert_eq!(next.api_pages + next.log_requests.len(), 0, "{context}");
                assert_eq!(next.gerrit_requests, 0, "{context}");
                assert!(!next.site_rewritten, "{context}");
                assert!(expire_dead_lease(&soak.archive));
            }
        }
    }
    eprintln!(
        "soak: {} cycles, {} killed, {} found the lease held, in {:.1?}",
        soak.cycles.len(),
        soak.cycles.iter().filter(|c| c.killed).count(),
        soak.cycles.iter().filter(|c| c.held).count(),
        phase.elapsed()
    );

    // Phase 3: no more faults; cycles until one has nothing to do.
    let phase = Instant::now();
    let mut settling = 0;
    loop {
        let after_settled = soak.cycles.last().is_some_and(|c| soak.settled(c));
        let i = soak.cycle(BUILDS, Faults::default());
        let cycle = &soak.cycles[i];
        if after_settled {
            soak.assert_quiet(cycle);
            quiet_checked += 1;
            break;
        }
        if cycle.held {
            assert!(expire_dead_lease(&soak.archive));
        }
        settling += 1;
        assert!(
            settling <= 4,
            "not settled after {settling} cycles without faults:\n{}\n{}",
            cycle.stdout,
            cycle.stderr
        );
    }
    assert!(
        quiet_checked >= 2,
        "only {quiet_checked} cycles had nothing new to check the budget on"
    );
    eprintln!(
        "settled in {settling} more cycles, {quiet_checked} quiet cycles checked, {:.1?}",
        phase.elapsed()
    );

    // Phase 4: what the archive, Gerrit, the logs and the site hold.
    let phase = Instant::now();
    // 1. Every good build archived once, every bad one recorded as failed,
    //    every one without results recorded as such: one commit each.
    let commits = committed(&soak.archive);
    let store = perfkit_archive::Archive::open(soak.archive.to_str().unwrap()).unwrap();
    let project = perfkit_schema::ProjectName::try_from(PROJECT).unwrap();
    let index = soak.runtime.block_on(store.read_index(&project)).unwrap();
    let rows: BTreeMap<String, &perfkit_schema::BuildRecord> = index
        .rows
        .iter()
        .map(|r| (r.record.key.build.to_string(), &r.record))
        .collect();
    for (i, build) in plan.builds.iter().enumerate() {
        let what = build.describe(i + 1);
        assert_eq!(
            commits.get(&build.uuid).map(Vec::as_slice),
            Some(&["attempt=0.parquet".to_string()][..]),
            "{what}: committed attempts"
        );
        let row = rows
            .get(&build.uuid)
            .unwrap_or_else(|| panic!("{what} is not in the index"));
        match build.serving.fate() {
            Fate::Archived => assert!(row.has_results(), "{what}: {row:?}"),
            Fate::FailedForGood => {
                assert!(row.failed_for_good(), "{what}: {row:?}");
                assert!(row.failure.is_some(), "{what}: {row:?}");
            }
            Fate::NoResults => assert_eq!(row.source_format, "none", "{what}: {row:?}"),
        }
    }
    assert_eq!(commits.len(), plan.builds.len(), "builds nobody planned");
    assert_eq!(soak.pending(), 0, "reviews left pending");

    // 2. One message per (patchset, result), only from perfkit, and none
    //    missing. A patchset's result is what its builds so far say: a
    //    recheck can turn a regression into no change and another one back,
    //    and each turn is a message. So: a message never repeats the one
    //    before it, a patchset has no more messages than cycles that
    //    committed builds of it with results (each cycle reviews once what
    //    it archived, and the cycle after a kill what the killed one did),
    //    and a review of each patchset now posts nothing.
    let markers = markers(&soak.gerrit.dump());
    let commit_cycle: Vec<usize> = plan
        .builds
        .iter()
        .map(|b| {
            (soak.committed_after.iter())
                .position(|c| c.contains_key(&b.uuid))
                .unwrap()
        })
        .collect();
    // Per patchset, its builds with results (their numbers, oldest first)
    // and the cycles that committed them.
    let mut result_builds: BTreeMap<(u64, u32), Vec<usize>> = BTreeMap::new();
    let mut result_cycles: BTreeMap<(u64, u32), BTreeSet<usize>> = BTreeMap::new();
    for (i, build) in plan.builds.iter().enumerate() {
        if let (Some(ps), Fate::Archived) = (build.change, build.serving.fate()) {
            result_builds.entry(ps).or_default().push(i);
            result_cycles.entry(ps).or_default().insert(commit_cycle[i]);
        }
    }
    // Branch builds older than a patchset's newest build but committed
    // after its last review: its baseline gained them late (a kill left
    // them to a later cycle), and the collector reviews again only a
    // patchset that gets a new build of its own.
    let late_branch_builds = |ps: &(u64, u32)| -> Vec<usize> {
        let builds = &result_builds[ps];
        let newest = *builds.last().unwrap();
        let reviewed_after = builds.iter().map(|&i| commit_cycle[i]).max().unwrap();
        (0..newest)
            .filter(|&i| {
                let b = &plan.builds[i];
                b.change.is_none()
                    && b.serving.fate() == Fate::Archived
                    && commit_cycle[i] > reviewed_after
            })
            .collect()
    };
    for ((change, patchset), messages) in &markers {
        let all = || {
            messages
                .iter()
                .map(|(_, text)| text.as_str())
                .collect::<Vec<_>>()
                .join("\n---\n")
        };
        for pair in messages.windows(2) {
            assert_ne!(
                pair[0].0,
                pair[1].0,
                "change {change},{patchset} got the same result twice in a row:\n{}",
                all()
            );
        }
        let cycles = result_cycles
            .get(&(*change, *patchset))
            .unwrap_or_else(|| panic!("change {change},{patchset} has no results but a review"));
        assert!(
            messages.len() <= cycles.len(),
            "change {change},{patchset}: {} messages, builds with results committed in cycles {cycles:?}:\n{}",
            messages.len(),
            all()
        );
    }
    let with_results: BTreeSet<(u64, u32)> = result_cycles.keys().copied().collect();
    // A review costs a process; those most likely to have lost one (their
    // builds committed in a cycle that was killed or had Gerrit fail)
    // first, then others drawn from the seed.
    let troubled = |cycle: usize| {
        let c = &soak.cycles[cycle];
        c.killed || c.faults.gerrit.is_some()
    };
    let (mut at_risk, mut others) = (Vec::new(), Vec::new());
    for (ps, cycles) in &result_cycles {
        if cycles.iter().any(|&c| troubled(c)) {
            at_risk.push(*ps);
        } else {
            others.push(*ps);
        }
    }
    let mut to_check = Vec::new();
    for pool in [&mut at_risk, &mut others] {
        while to_check.len() < REVIEWS_CHECKED && !pool.is_empty() {
            let i = rng.below(pool.len() as u64) as usize;
            to_check.push(pool.swap_remove(i));
        }
    }
    let gerrit_before = soak.gerrit.requests().len();
    let (mut reviewed, mut baseline_grew) = (0, 0);
    for &(change, patchset) in &to_check {
        let (code, out, err) = common::run(
            soak.gerrit
                .perfkit()
                .args(["review", "--dry-run", "--gerrit", &soak.gerrit.url])
                .args(["--project", PROJECT, "--change", &change.to_string()])
                .args(["--patchset", &patchset.to_string()])
                .arg("--archive")
                .arg(&soak.archive)
                .args(["--site-url", SITE_URL]),
        );
        assert_eq!(code, 0, "review of {change},{patchset}: {out}{err}");
        if !out.starts_with("not posted: ") {
            let late = late_branch_builds(&(change, patchset));
            let builds: Vec<String> = (0..plan.builds.len())
                .filter(|&i| plan.builds[i].change == Some((change, patchset)))
                .map(|i| {
                    format!(
                        "{} in cycle {}",
                        plan.builds[i].describe(i + 1),
                        commit_cycle[i]
                    )
                })
                .collect();
            assert!(
                !late.is_empty(),
                "change {change},{patchset} lacks its result; its builds: {builds:?}\n{out}{err}"
            );
            eprintln!(
                "change {change},{patchset}: its result changed since its last review (its builds: {builds:?}), as branch builds {:?} were committed later",
                late.iter()
                    .map(|&i| format!("{} in cycle {}", i + 1, commit_cycle[i]))
                    .collect::<Vec<_>>()
            );
            baseline_grew += 1;
        }
        reviewed += usize::from(out.contains("is already on"));
    }
    let posts_after = soak.gerrit.requests()[gerrit_before..]
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts_after, 0, "a dry run posted");

    // 3. No report downloaded twice, but after a kill that came before its
    //    build was committed; none once its build was committed.
    let mut downloaded: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for cycle in &soak.cycles {
        for path in cycle.downloads() {
            downloaded.entry(path).or_default().push(cycle.index);
        }
    }
    let mut downloaded_again = 0;
    for (path, cycles) in &downloaded {
        let i = build_of(path);
        let what = plan.builds[i].describe(i + 1);
        let uuid = &plan.builds[i].uuid;
        let committed_in = (0..soak.cycles.len())
            .find(|&c| soak.committed_after[c].contains_key(uuid))
            .unwrap_or_else(|| panic!("{what} was never committed"));
        for (n, &c) in cycles.iter().enumerate() {
            assert!(
                c <= committed_in,
                "{path} downloaded in cycle {c}, after {what} was committed in cycle {committed_in}"
            );
            if n + 1 < cycles.len() {
                let cycle = &soak.cycles[c];
                assert!(
                    cycle.killed && c < committed_in,
                    "{path} ({what}) downloaded again in cycle {} after cycle {c} ({}) downloaded it",
                    cycles[n + 1],
                    if cycle.killed {
                        "killed after committing it"
                    } else {
                        "not killed"
                    }
                );
                downloaded_again += 1;
            }
        }
    }
    // A log request of a build after its commit is as bad as a download.
    for cycle in &soak.cycles {
        for (path, status) in &cycle.log_requests {
            let i = build_of(path);
            let uuid = &plan.builds[i].uuid;
            if cycle.index > 0 && soak.committed_after[cycle.index - 1].contains_key(uuid) {
                panic!(
                    "cycle {} asked for {path} ({status}) of {}, committed before",
                    cycle.index,
                    plan.builds[i].describe(i + 1)
                );
            }
        }
    }

    // 5. The site shows every patchset with results.
    let project_dir = soak.site.join("openstack~nova");
    // The page escapes `/` in attributes.
    let changes_page = std::fs::read_to_string(project_dir.join("changes.html"))
        .unwrap()
        .replace("&#x2f;", "/");
    for &(change, patchset) in &with_results {
        assert!(
            project_dir
                .join(format!("change/{change}-{patchset}.html"))
                .is_file(),
            "the site has no page of change {change},{patchset}"
        );
        assert!(
            changes_page.contains(&format!("change/{change}-{patchset}.html")),
            "the site's changes page does not name {change},{patchset}"
        );
    }
    assert!(soak.site.join("index.html").is_file());

    let posted: usize = markers.values().map(Vec::len).sum();
    eprintln!(
        "checked: {} builds, {} patchsets with results ({posted} messages; of {} reviewed again, {reviewed} had their result on Gerrit, {baseline_grew} a baseline that grew since, the others nothing to say), {} downloads ({downloaded_again} again after a kill), {:.1?}",
        plan.builds.len(),
        with_results.len(),
        to_check.len(),
        downloaded.values().map(Vec::len).sum::<usize>(),
        phase.elapsed()
    );
    eprintln!("soak seed {seed} passed in {:.1?}", started.elapsed());
    soak.close();
}

/// A cycle killed after it archived a build, while it reviews it (here:
/// watching for a review POST that got no answer), leaves both the review
/// and the site to the next cycle, although that one finds nothing new:
/// the review it posts links to a change page that must exist.
#[test]
fn a_cycle_killed_after_archiving_leaves_its_review_and_site_to_the_next() {
    let Some(python) = python() else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path();
    let fixtures = Fixtures::load();
    let reports = work.join("reports");
    let slower = (930_001, 1);
    let mut builds: Vec<Build> = (1..=12)
        .map(|n| {
            let report = format!("build-{:02}.report.json", 11 + (n - 1) % 10);
            fixtures.build(&reports, n, None, Serving::Plain, &report, None)
        })
        .collect();
    builds.push(fixtures.build(
        &reports,
        13,
        Some(slower),
        Serving::Plain,
        "change-900001.report.json",
        None,
    ));
    let changes = BTreeMap::from([slower]);
    let mut soak = Soak::start("killed-after-archiving", &python, work, &builds, &changes);

    let first = soak.cycle(12, Faults::default());
    assert_eq!(
        soak.cycles[first].exit,
        Some(0),
        "{}",
        soak.cycles[first].stderr
    );

    // The review POST is lost (not stored, no answer); the collector
    // watches for it and is killed meanwhile.
    let killed = soak.cycle(
        13,
        Faults {
            gerrit: Some(json!({"count": 1, "method": "POST", "drop": true})),
            kill_after_post: Some(Duration::from_secs(60)),
            ..Faults::default()
        },
    );
    assert!(soak.cycles[killed].killed);
    assert!(committed(&soak.archive).contains_key(&builds[12].uuid));
    assert!(expire_dead_lease(&soak.archive));

    let next = soak.cycle(13, Faults::default());
    let cycle = &soak.cycles[next];
    let context = format!("{}{}", cycle.stdout, cycle.stderr);
    assert_eq!(cycle.exit, Some(0), "{context}");
    assert!(cycle.stdout.contains("): 0 new"), "{context}");
    assert!(
        cycle
            .stdout
            .contains("reviews: 0 patchsets with a new build, 1 left pending earlier"),
        "{context}"
    );
    let markers = markers(&soak.gerrit.dump());
    assert_eq!(markers[&slower].len(), 1, "{markers:?}");
    let page = "openstack~nova/change/930001-1.html";
    assert!(
        markers[&slower][0].1.contains(&format!("{SITE_URL}{page}")),
        "{}",
        markers[&slower][0].1
    );
    assert!(
        soak.site.join(page).is_file(),
        "the review links to {page}, which the site does not have: {context}"
    );

    // Then nothing is left to do.
    let quiet = soak.cycle(13, Faults::default());
    assert!(soak.settled(&soak.cycles[next]));
    soak.assert_quiet(&soak.cycles[quiet]);
    soak.close();
}
