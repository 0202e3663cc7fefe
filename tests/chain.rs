//! The whole chain of issue 5, end to end: `perfkit collect` archives a
//! project's builds from a stand-in Zuul (`tests/tools/zuul_server.py`)
//! serving the real Rally history (tests/fixtures/rally/history: a 20 → 30
//! ms step at build 11, then a 40 ms patchset and a 30 ms one), `perfkit
//! review` posts the regressed patchset's verdict on a test Gerrit
//! (`tests/tools/gerrit_server.py`) and stays silent on the clean one, and
//! `perfkit site` shows the branch's step and the change's page.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{fixture, perfkit, run, tools_python as python};
use serde_json::{Value, json};

const JOB: &str = "perfkit-demo-history";
const PROJECT: &str = "openstack/nova";
const USER: &str = "perfkit-bot";
/// Distinctive, so a leak anywhere in the output is found.
const PASSWORD: &str = "Pw-3kQ9-chain-never-shown";
const SITE_URL: &str = "https://perf.example.org/";
/// The patchset that makes the API slower (40 ms against the 30 ms branch).
const SLOWER: (u64, u32) = (912345, 3);
/// The patchset that changes nothing (30 ms).
const CLEAN: (u64, u32) = (912346, 1);
/// Another slower patchset, built later (the collector test's).
const LATER: (u64, u32) = (912347, 2);

/// A test server from tests/tools, killed on drop; `first_line` is what it
/// printed on start (its URL or port).
struct Server {
    child: Child,
    first_line: String,
}

impl Server {
    fn start(python: &Path, script: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Server {
        let mut child = Command::new(python)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/tools")
                    .join(script),
            )
            .args(args.iter().map(|a| a.as_ref()))
            .stdout(Stdio::piped())
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

/// Starts the test Zuul with `builds`; returns it and its base URL. It
/// appends a JSON line per request to `dir/zuul-requests.jsonl`.
fn start_zuul(python: &Path, dir: &Path, builds: &[Value]) -> (Server, String) {
    let description = dir.join("builds.json");
    std::fs::write(&description, json!({ "builds": builds }).to_string()).unwrap();
    let zuul = Server::start(
        python,
        "zuul_server.py",
        &[
            &"--builds",
            &description,
            &"--request-log",
            &dir.join("zuul-requests.jsonl"),
        ],
    );
    assert!(
        zuul.first_line.starts_with("http://127.0.0.1:"),
        "the test Zuul said {:?}",
        zuul.first_line
    );
    let base = zuul.first_line.clone();
    (zuul, base)
}

/// The test Gerrit, with both changes open and the perfkit account.
struct Gerrit {
    _server: Server,
    url: String,
    dir: PathBuf,
}

impl Gerrit {
    fn start(python: &Path, dir: &Path) -> Gerrit {
        let dir = dir.join("gerrit");
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let changes: Vec<Value> = [SLOWER, CLEAN, LATER]
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

    /// Sets the server's knobs (`tests/tools/gerrit_server.py`).
    fn control(&self, knobs: Value) {
        std::fs::write(self.dir.join("control.json"), knobs.to_string()).unwrap();
    }

    fn posts(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["method"] == "POST")
            .collect()
    }

    /// A change's messages as the server stores them.
    fn messages(&self, (number, _): (u64, u32)) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("dump.json")) else {
            return Vec::new();
        };
        let dump: Value = serde_json::from_str(&text).unwrap();
        dump[format!("{PROJECT}~{number}")]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// perfkit with the account's credentials in the environment (and a
    /// HOME without `.netrc`).
    fn perfkit(&self) -> Command {
        let mut cmd = perfkit();
        for var in [
            "PERFKIT_GERRIT_CREDENTIALS",
            "NETRC",
            "http_proxy",
            "HTTP_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.join("home"))
            .env("PERFKIT_GERRIT_USER", USER)
            .env("PERFKIT_GERRIT_PASSWORD", PASSWORD);
        cmd
    }

    /// `perfkit review` of a patchset with the account's credentials;
    /// asserts the password shows in neither output.
    fn review(&self, archive: &Path, (change, patchset): (u64, u32)) -> (i32, String, String) {
        let mut cmd = self.perfkit();
        cmd.args(["review", "--gerrit", &self.url, "--project", PROJECT])
            .args(["--change", &change.to_string()])
            .args(["--patchset", &patchset.to_string()])
            .arg("--archive")
            .arg(archive)
            .args(["--site-url", SITE_URL]);
        let (code, out, err) = run(&mut cmd);
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "the password leaked:\n{out}{err}"
        );
        (code, out, err)
    }
}

/// A Zuul build uuid (32 hex digits) whose first seven, in log paths,
/// differ per build.
fn uuid(n: usize) -> String {
    format!("{:07x}5f2c9b8d4c3e8f7a6b5c4d3e2", 0xb00_0000 + n * 4099)
}

/// `time` (Zuul's `%Y-%m-%dT%H:%M:%S`, UTC) moved by `seconds` within its day.
fn shift(time: &str, seconds: i64) -> String {
    let (date, clock) = time.split_once('T').unwrap();
    let hms: Vec<i64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    let t = hms[0] * 3600 + hms[1] * 60 + hms[2] + seconds;
    assert!(
        (0..86_400).contains(&t),
        "{time} {seconds:+}s leaves its day"
    );
    format!("{date}T{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// Build `n` (its `_id`, oldest first) of the job: periodic on master, or a
/// check of (change, patchset), with the Rally report `history/<report>` as
/// its artifact. Zuul's start and end enclose the Rally task's own
/// `created_at` … `updated_at`, so the API and the report tell one story.
fn zuul_build(n: usize, change: Option<(u64, u32)>, report: &str) -> Value {
    let uuid = uuid(n);
    let path = fixture(&format!("rally/history/{report}"));
    let rally: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let task = &rally["tasks"][0];
    let start = shift(task["created_at"].as_str().unwrap(), -2);
    let end = shift(task["updated_at"].as_str().unwrap(), 2);
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
    json!({
        "uuid": uuid, "job_name": JOB, "result": "SUCCESS",
        "start_time": start, "end_time": end,
        "voting": pipeline != "check", "nodeset": "ubuntu-noble", "pipeline": pipeline,
        "event_id": format!("{n:032x}"), "event_timestamp": start,
        "queue_item_uuid": format!("{:032x}", n + 7000),
        "buildset": {"uuid": format!("{:032x}", n + 9000)},
        "ref": {"project": PROJECT, "branch": "master",
                "change": change.map(|(c, _)| c),
                "patchset": change.map(|(_, p)| p.to_string()),
                "ref": git_ref, "oldrev": null, "newrev": null, "ref_url": ref_url},
        "log_path": log_path,
        "artifacts": [
            {"name": "Rally JSON report", "url": "perfkit/report.json",
             "metadata": {"type": "rally_report_json"}},
            {"name": "Rally HTML report", "url": "perfkit/report.html",
             "metadata": {"type": "rally_report_html"}},
        ],
        "files": {
            "job-output.txt": {"text": "devstack log\n"},
            "perfkit/report.json": {"path": path.display().to_string()},
            "perfkit/report.html": {"text": "<html></html>"},
        },
    })
}

/// Twenty periodic builds of master (the step at build 11), then the two
/// patchsets' check builds, oldest first.
fn history() -> Vec<Value> {
    let mut builds: Vec<Value> = (1..=20)
        .map(|i| zuul_build(i, None, &format!("build-{i:02}.report.json")))
        .collect();
    builds.push(zuul_build(21, Some(SLOWER), "change-900001.report.json"));
    builds.push(zuul_build(22, Some(CLEAN), "change-900002.report.json"));
    // The baseline is the branch builds before the patchset: times in order.
    for pair in builds.windows(2) {
        let (end, next) = (&pair[0]["end_time"], &pair[1]["start_time"]);
        assert!(end.as_str() < next.as_str(), "{end} is after {next}");
    }
    builds
}

/// The `perfkit site` series page of the HTTP workload (its link in the
/// project index is on the row that names the `total` action).
fn http_series_page(project_dir: &Path) -> String {
    let index = std::fs::read_to_string(project_dir.join("index.html")).unwrap();
    let page = index
        .lines()
        .find(|l| l.contains("\">HttpRequests.check_request</a>") && l.contains(">total</td>"))
        .and_then(|l| l.split("href=\"series/").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no HTTP series in the project index:\n{index}"));
    std::fs::read_to_string(project_dir.join("series").join(page)).unwrap()
}

#[test]
fn collect_then_review_posts_the_regression_and_nothing_for_the_clean_change() {
    let started = Instant::now();
    let Some(python) = python() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let builds = history();
    let (_zuul, zuul_url) = start_zuul(&python, work.path(), &builds);
    let gerrit = Gerrit::start(&python, work.path());
    let archive = work.path().join("archive");

    // collect: every build is new, none fails.
    let (code, out, err) = run(perfkit()
        .args(["collect", "--zuul", &zuul_url, "--tenant", "openstack"])
        .args(["--job", JOB])
        .arg("--archive")
        .arg(&archive));
    assert_eq!(code, 0, "{out}{err}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    assert_eq!(
        summary,
        format!(
            "summary: 22 builds of {JOB} from {zuul_url}api/tenant/openstack/builds (1 page): 22 new (22 archived, 0 without Rally results), 0 skipped (already archived), 0 failed"
        )
    );

    // review of the slower patchset: one POST, on its revision.
    let (code, out, err) = gerrit.review(&archive, SLOWER);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(
            "posted the result to openstack/nova change 912345 patchset 3 as perfkit-bot: regression in "
        ),
        "{out}"
    );
    let posts = gerrit.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0]["path"],
        "/a/changes/openstack%2Fnova~912345/revisions/3/review"
    );
    assert_eq!(posts[0]["status"], 200);
    let review: Value = serde_json::from_str(posts[0]["body"].as_str().unwrap()).unwrap();
    let message = review["message"].as_str().unwrap();
    eprintln!("--- the message posted on change 912345 patchset 3:\n{message}\n---");
    assert!(
        review["tag"]
            .as_str()
            .is_some_and(|t| t.starts_with("autogenerated:perfkit")),
        "{review}"
    );
    assert!(
        message.starts_with("**perfkit**: regression in ")
            && message
                .lines()
                .next()
                .unwrap()
                .ends_with(" series — openstack/nova change 912345 patchset 3"),
        "{message}"
    );
    // Markdown: Gerrit shows `check\_request` as `check_request`.
    let regressions = message
        .split("**Regressions**")
        .nth(1)
        .unwrap_or_else(|| panic!("no regressions:\n{message}"));
    assert!(
        regressions
            .contains("\n- HttpRequests.check\\_request › total (perfkit-demo-history) — Slower: "),
        "{message}"
    );
    assert!(
        regressions.contains(
            "| regression | HttpRequests.check\\_request › total (perfkit-demo-history) |"
        ),
        "{message}"
    );
    assert!(
        message.contains("Details: <https://perf.example.org/openstack~nova/change/912345-3.html>"),
        "{message}"
    );
    // The baseline is the branch since its step (builds 11-20), not the
    // 20 ms builds before it nor the other patchset's later build.
    assert!(
        message.contains("20 iterations in 1 build vs 200 in 10 branch builds"),
        "{message}"
    );
    let marker = message.lines().last().unwrap();
    assert!(
        marker.starts_with("perfkit-result: ps=3 digest="),
        "the marker is the last line: {marker}"
    );

    let stored = gerrit.messages(SLOWER);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["message"], format!("Patch Set 3:\n\n{message}"));

    // review of the clean patchset: nothing to act on, nothing posted.
    let (code, out, err) = gerrit.review(&archive, CLEAN);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("not posted: no regression in "), "{out}");
    assert_eq!(gerrit.posts().len(), 1, "the clean change got a POST");
    assert!(gerrit.messages(CLEAN).is_empty());

    // site: the change's page, and the branch's step on the HTTP series.
    let site = work.path().join("site");
    let (code, out, err) = run(perfkit()
        .arg("site")
        .arg("--archive")
        .arg(&archive)
        .arg("--out")
        .arg(&site));
    assert_eq!(code, 0, "{out}{err}");
    let project_dir = site.join("openstack~nova");
    let change_page = std::fs::read_to_string(project_dir.join("change/912345-3.html")).unwrap();
    assert!(change_page.contains("regression in "), "{change_page}");
    let series = http_series_page(&project_dir);
    let changes = series
        .split("<h2>Changes</h2>")
        .nth(1)
        .and_then(|s| s.split("<h2>History</h2>").next())
        .unwrap();
    let step = changes
        .lines()
        .find(|l| l.contains("<span class=\"status regression\">"))
        .unwrap_or_else(|| panic!("no regression change point:\n{changes}"));
    // The first build after the step is build 11, linked to its Zuul log
    // (the page escapes `/` in attributes).
    let step = step.replace("&#x2f;", "/");
    assert!(
        step.contains(&format!(
            "href=\"{zuul_url}logs/periodic/opendev.org/{PROJECT}/master/{JOB}/{}/\"",
            &uuid(11)[..7]
        )),
        "{step}"
    );
    // From the 20 ms level (~24 ms measured) to the 30 ms one (~34 ms).
    let levels: Vec<f64> = step
        .split("<td class=\"num\">")
        .filter_map(|cell| cell.split(" ms</td>").next()?.parse().ok())
        .collect();
    assert!(
        matches!(levels[..], [before, after] if (20.0..28.0).contains(&before) && (30.0..38.0).contains(&after)),
        "{step}"
    );
    eprintln!("chain test took {:.1?}", started.elapsed());
}

/// The paths the test Zuul was asked for since the last call (its request
/// log is emptied).
fn zuul_paths(dir: &Path) -> Vec<String> {
    let log = dir.join("zuul-requests.jsonl");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(&log, "").unwrap();
    text.lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            r["path"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// Every file of the site with its modification time.
fn site_files(site: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut dirs = vec![site.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                out.push((path, modified));
            }
        }
    }
    out.sort();
    out
}

/// The upstream collector as one line from cron: `perfkit collect
/// --review --gerrit … --site …`. A cycle archives the new builds, reviews
/// only the patchsets that got one, and builds the site; a cycle with
/// nothing new asks Zuul for one page, downloads no report, sends Gerrit
/// nothing and rewrites no site file; a review that fails stays pending in
/// the archive and the next cycle posts it exactly once; a cycle that finds
/// another one's lease does nothing.
#[test]
fn one_collector_line_archives_reviews_and_publishes_each_result_once() {
    let Some(python) = python() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let gerrit = Gerrit::start(&python, work.path());
    let archive = work.path().join("archive");
    let site = work.path().join("site");
    let all = history();
    let cycle = |zuul_url: &str| {
        let mut cmd = gerrit.perfkit();
        cmd.args([
            "collect",
            "--zuul",
            zuul_url,
            "--tenant",
            "openstack",
            "--job",
            JOB,
        ])
        .arg("--archive")
        .arg(&archive)
        .args(["--review", "--gerrit", &gerrit.url])
        .arg("--site")
        .arg(&site)
        .args(["--site-url", SITE_URL]);
        let (code, out, err) = run(&mut cmd);
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "{out}{err}"
        );
        (code, out, err)
    };
    let posts_on = |change: u64| {
        gerrit
            .posts()
            .iter()
            .filter(|p| {
                p["path"]
                    .as_str()
                    .is_some_and(|path| path.contains(&format!("~{change}/")))
            })
            .count()
    };

    // Cycle 1: the branch history and the slower patchset.
    let (zuul, zuul_url) = start_zuul(&python, work.path(), &all[..21]);
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("21 new (21 archived"), "{out}");
    assert!(
        out.contains("reviews: 1 patchsets with a new build, 0 left pending earlier"),
        "{out}"
    );
    assert_eq!(posts_on(SLOWER.0), 1);
    assert!(site.join("openstack~nova/change/912345-3.html").is_file());
    zuul_paths(work.path());

    // Cycle 2: nothing new. One page of builds, no report, no Gerrit
    // request, no site file rewritten.
    let gerrit_before = gerrit.requests().len();
    let site_before = site_files(&site);
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(1 page): 0 new"), "{out}");
    let asked = zuul_paths(work.path());
    assert_eq!(asked.len(), 1, "one page of the builds API: {asked:?}");
    assert!(asked[0].ends_with("/builds"), "{asked:?}");
    assert_eq!(gerrit.requests().len(), gerrit_before, "Gerrit was asked");
    assert_eq!(site_files(&site), site_before, "a site file was rewritten");
    drop(zuul);

    // Cycle 3: a new slower patchset, but Gerrit refuses the review: the
    // build is archived, the review stays pending, exit 2.
    let mut later = zuul_build(23, Some(LATER), "change-900001.report.json");
    later["start_time"] = json!(shift(all[21]["end_time"].as_str().unwrap(), 60));
    later["end_time"] = json!(shift(all[21]["end_time"].as_str().unwrap(), 120));
    let mut builds = all[..21].to_vec();
    builds.push(later);
    let (zuul, zuul_url) = start_zuul(&python, work.path(), &builds);
    gerrit.control(json!({"fail_next": {"count": 1000, "status": 403, "method": "POST"}}));
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("1 new (1 archived"), "{out}");
    assert!(err.contains("it stays pending"), "{err}");
    assert_eq!(posts_on(LATER.0), 1, "one refused POST");
    assert!(gerrit.messages(LATER).is_empty());

    // Cycle 4: Gerrit is back; the pending review is posted, once.
    gerrit.control(json!({"fail_next": {"count": 0}}));
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 new"), "{out}");
    assert!(
        out.contains("reviews: 0 patchsets with a new build, 1 left pending earlier"),
        "{out}"
    );
    assert_eq!(gerrit.messages(LATER).len(), 1);
    // Cycle 5: nothing pending any more, nothing new: Gerrit is not asked.
    let gerrit_before = gerrit.requests().len();
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 left pending earlier"), "{out}");
    assert_eq!(gerrit.requests().len(), gerrit_before);
    assert_eq!(gerrit.messages(LATER).len(), 1);
    assert_eq!(gerrit.messages(SLOWER).len(), 1);

    // A cycle that finds another's lease does nothing and exits 0.
    zuul_paths(work.path());
    let store = perfkit_archive::Archive::open(archive.to_str().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = rt
        .block_on(store.take_lease("openstack", std::time::Duration::from_secs(600)))
        .unwrap()
        .unwrap();
    let (code, out, err) = cycle(&zuul_url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("another collect cycle of tenant openstack holds the lease"),
        "{out}"
    );
    assert!(zuul_paths(work.path()).is_empty(), "Zuul was asked");
    rt.block_on(store.release_lease("openstack", held));
    drop(zuul);
}
