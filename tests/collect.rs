//! End-to-end runs of `perfkit collect` against a stand-in Zuul web API and
//! log server (`tests/tools/zuul_server.py`, stdlib Python) that serves
//! builds in Zuul 14.3.0's shape with real Rally reports
//! (tests/fixtures/rally/history and noise): a backfill across pages with
//! every kind of build and per-build trouble, a second run that downloads
//! nothing, `--since`/`--limit`, keys equal to the in-job `perfkit ingest
//! --zuul-vars`, retries on 503/429, timeouts and compressed logs; and
//! what a hostile job or server must not achieve: credentials in `--zuul`
//! printed, fetches off the log server's origin, endless paging.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{archive_shape, fixture, perfkit, run, tools_python as python, tree};
use serde_json::{Value, json};

const JOB: &str = "nova-rally-task";
const CEPH_JOB: &str = "nova-rally-task-ceph";

/// A running `zuul_server.py`; killed on drop.
struct Zuul {
    child: Child,
    /// `http://127.0.0.1:<port>/`
    base: String,
    log: PathBuf,
}

impl Zuul {
    fn start(dir: &Path, builds: &[Value]) -> Option<Zuul> {
        let python = python()?;
        let description = dir.join("builds.json");
        std::fs::write(&description, json!({ "builds": builds }).to_string()).unwrap();
        let log = dir.join("requests.jsonl");
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/zuul_server.py"))
            .arg("--builds")
            .arg(&description)
            .arg("--request-log")
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("zuul_server.py starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "server said {line:?}"
        );
        Some(Zuul {
            child,
            base: line.trim().to_string(),
            log,
        })
    }

    fn port(&self) -> u16 {
        self.base
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Sets the server's knobs (`fail_next`, `fail_status`, `retry_after`,
    /// `fail_prefix`, `delay_ms`, `delay_prefix`).
    fn control(&self, knobs: Value) {
        let body = knobs.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port())).unwrap();
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

    /// Requests since the last call (the server appends JSON lines).
    fn take_requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &Value| r["path"] != "/_control")
            .collect()
    }
}

impl Drop for Zuul {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What kind of queue item a build ran for.
#[derive(Clone, Copy)]
enum Item {
    Check(u64, u32),
    Gate(u64, u32),
    Periodic,
    Post,
    Tag,
}

/// Where a build keeps its Rally report.
#[derive(Clone, Copy)]
enum Report<'a> {
    /// perfkit/report.json + results.json, returned as artifacts (the
    /// scaffolded post-run playbook).
    Artifact(&'a str),
    /// rally-openstack's post-run: `results/report.json`, no artifact.
    RallyOpenstack(&'a str),
    /// Declared as an artifact but not JSON.
    Corrupt,
    /// A log directory without any results (404 for every candidate).
    Missing,
    /// The report, served gzip-compressed whatever the client asks.
    Gzipped(&'a str),
}

/// A build uuid (32 hex digits) whose first seven, in log paths, differ per build.
fn uuid(n: usize) -> String {
    format!("{:07x}5f2c9b8d4c3e8f7a6b5c4d3e2", 0xa00_0000 + n * 4099)
}

/// Zuul's time format, `n` hours after 2026-01-01T00:00:00.
fn at(n: usize) -> String {
    format!("2026-01-{:02}T{:02}:00:00", 1 + n / 24, n % 24)
}

/// The path a Rally fixture is at.
fn rally(rel: &str) -> String {
    fixture(&format!("rally/{rel}")).display().to_string()
}

/// Build number `n` (its `_id`, oldest first) in the description format.
fn zuul_build(n: usize, job: &str, item: Item, result: Option<&str>) -> Value {
    let uuid = uuid(n);
    let (pipeline, change, patchset, git_ref, branch, newrev, oldrev) = match item {
        Item::Check(c, p) | Item::Gate(c, p) => (
            if matches!(item, Item::Check(..)) {
                "check"
            } else {
                "gate"
            },
            Some(c),
            Some(p.to_string()),
            format!("refs/changes/{:02}/{c}/{p}", c % 100),
            Some("master"),
            None,
            None,
        ),
        Item::Periodic => (
            "periodic",
            None,
            None,
            "refs/heads/master".into(),
            Some("master"),
            None,
            None,
        ),
        Item::Post => (
            "post",
            None,
            None,
            "refs/heads/master".into(),
            Some("master"),
            Some(format!("{n:040x}")),
            Some("2222222222222222222222222222222222222222".to_string()),
        ),
        Item::Tag => (
            "release",
            None,
            None,
            "refs/tags/32.0.0".into(),
            None,
            Some(format!("{n:040x}")),
            None,
        ),
    };
    let ref_url = match change {
        Some(c) => format!("https://review.opendev.org/c/openstack/nova/+/{c}"),
        None => "https://opendev.org/openstack/nova/commit/?h=master".into(),
    };
    let log_path = match change {
        Some(c) => format!(
            "{:02}/{c}/{}/{pipeline}/{job}/{}/",
            c % 100,
            patchset.clone().unwrap(),
            &uuid[..7]
        ),
        None => format!(
            "{pipeline}/opendev.org/openstack/nova/master/{job}/{}/",
            &uuid[..7]
        ),
    };
    json!({
        "uuid": uuid, "job_name": job, "result": result,
        "start_time": at(n), "end_time": at(n + 1),
        "voting": pipeline != "check", "nodeset": "ubuntu-noble",
        "pipeline": pipeline,
        "event_id": format!("{n:032x}"), "event_timestamp": at(n),
        "queue_item_uuid": format!("{:032x}", n + 7000),
        "buildset": {"uuid": format!("{:032x}", n + 9000)},
        "ref": {"project": "openstack/nova", "branch": branch, "change": change, "patchset": patchset,
                "ref": git_ref, "oldrev": oldrev, "newrev": newrev, "ref_url": ref_url},
        "log_path": log_path,
        "files": {"job-output.txt": {"text": "devstack log\n"}},
    })
}

/// Adds where the report is to a build.
fn with_report(mut build: Value, report: Report) -> Value {
    let artifacts = || {
        json!([
            {"name": "Rally JSON report", "url": "perfkit/report.json", "metadata": {"type": "rally_report_json"}},
            {"name": "Rally results JSON", "url": "perfkit/results.json", "metadata": {"type": "rally_results_json"}},
            {"name": "Rally HTML report", "url": "perfkit/report.html", "metadata": {"type": "rally_report_html"}},
        ])
    };
    let files = build["files"].as_object_mut().unwrap();
    match report {
        Report::Artifact(path) => {
            files.insert("perfkit/report.json".into(), json!({"path": path}));
            files.insert(
                "perfkit/report.html".into(),
                json!({"text": "<html></html>"}),
            );
            build["artifacts"] = artifacts();
        }
        Report::RallyOpenstack(path) => {
            files.insert("results/report.json".into(), json!({"path": path}));
            build["artifacts"] = json!([{"name": "Rally CI report", "url": "index.html"}]);
        }
        Report::Corrupt => {
            files.insert(
                "perfkit/report.json".into(),
                json!({"text": "{\"info\": {\"generated_at\": \"2026-01-01\"}, \"tasks\": [{\"uuid\": "}),
            );
            build["artifacts"] = artifacts();
        }
        Report::Missing => {}
        Report::Gzipped(path) => {
            files.insert(
                "perfkit/report.json".into(),
                json!({"path": path, "gzip": true}),
            );
            build["artifacts"] = artifacts();
        }
    }
    build
}

/// A build that never ran: no log URL, no artifacts.
fn never_ran(mut build: Value) -> Value {
    build["log_path"] = Value::Null;
    build["start_time"] = Value::Null;
    build.as_object_mut().unwrap().remove("files");
    build
}

/// The archive key of the `builds` object of build `n`.
fn builds_key(n: usize, change: u64, patchset: u32) -> String {
    format!(
        "v2/builds/project=openstack%2Fnova/change={change}/patchset={patchset}/build={}/attempt=0.parquet",
        uuid(n)
    )
}

fn builds_keys(archive: &Path) -> BTreeSet<String> {
    tree(archive)
        .into_iter()
        .filter(|k| k.starts_with("v2/builds/"))
        .collect()
}

fn collect(zuul: &Zuul, archive: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = perfkit();
    cmd.args(["collect", "--zuul", &zuul.base, "--tenant", "openstack"])
        .arg("--archive")
        .arg(archive)
        .args(extra);
    run(&mut cmd)
}

fn summary(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"))
}

/// Build `n` and the (change, patchset) of its archive key (`None`: not archived).
type Expected = (usize, Option<(u64, u32)>);

/// The builds of the backfill, oldest first, and the archive key each new
/// one must get (`None`: must not be archived).
fn backfill() -> (Vec<Value>, Vec<Expected>) {
    let mut builds = Vec::new();
    let mut expected = Vec::new();
    let mut add = |build: Value, key: Option<(u64, u32)>| {
        expected.push((builds.len() + 1, key));
        builds.push(build);
    };
    // Old trouble first, so that `--since` can leave it out.
    let n = 1;
    add(
        with_report(
            zuul_build(n, JOB, Item::Check(900050, 1), Some("SUCCESS")),
            Report::Missing,
        ),
        Some((900050, 1)),
    );
    let n = n + 1;
    add(
        with_report(
            zuul_build(n, JOB, Item::Check(900051, 2), Some("SUCCESS")),
            Report::Corrupt,
        ),
        Some((900051, 2)),
    );
    let n = n + 1;
    add(
        never_ran(zuul_build(n, JOB, Item::Periodic, Some("NODE_FAILURE"))),
        Some((0, 0)),
    );
    let n = n + 1;
    // devstack failed before Rally ran: a log, no results.
    add(
        zuul_build(n, JOB, Item::Check(900052, 1), Some("FAILURE")),
        Some((900052, 1)),
    );
    let mut n = n;
    for i in 1..=20 {
        n += 1;
        let file = rally(&format!("history/build-{i:02}.report.json"));
        let report = if i % 2 == 1 {
            Report::Artifact(&file)
        } else {
            Report::RallyOpenstack(&file)
        };
        add(
            with_report(zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")), report),
            Some((0, 0)),
        );
    }
    for i in 1..=20u64 {
        n += 1;
        let file = rally(&format!("noise/build-{i:02}.report.json"));
        let (change, patchset) = (900100 + i, 1 + (i % 3) as u32);
        // An SLA failure fails the job, with results all the same.
        let result = if i == 7 { "FAILURE" } else { "SUCCESS" };
        let build = zuul_build(n, JOB, Item::Check(change, patchset), Some(result));
        add(
            with_report(build, Report::Artifact(&file)),
            Some((change, patchset)),
        );
    }
    for i in 16..=20u64 {
        n += 1;
        let file = rally(&format!("history/build-{i:02}.report.json"));
        let change = 900200 + i;
        let build = zuul_build(n, JOB, Item::Gate(change, 1), Some("SUCCESS"));
        add(
            with_report(build, Report::Artifact(&file)),
            Some((change, 1)),
        );
    }
    for change in [900001u64, 900002] {
        n += 1;
        let file = rally(&format!("history/change-{change}.report.json"));
        let build = zuul_build(n, JOB, Item::Check(change, 1), Some("SUCCESS"));
        add(
            with_report(build, Report::Artifact(&file)),
            Some((change, 1)),
        );
    }
    n += 1;
    let post = zuul_build(n, JOB, Item::Post, Some("SUCCESS"));
    add(
        with_report(
            post,
            Report::Artifact(&rally("history/build-20.report.json")),
        ),
        Some((0, 0)),
    );
    n += 1;
    let tag = zuul_build(n, JOB, Item::Tag, Some("SUCCESS"));
    add(
        with_report(
            tag,
            Report::Artifact(&rally("history/build-19.report.json")),
        ),
        Some((0, 0)),
    );
    for i in 1..=3 {
        n += 1;
        let file = rally(&format!("noise/build-{i:02}.report.json"));
        let build = zuul_build(n, CEPH_JOB, Item::Periodic, Some("SUCCESS"));
        add(with_report(build, Report::Artifact(&file)), Some((0, 0)));
    }
    // Still running: `complete=true` leaves it out.
    n += 1;
    let running = zuul_build(n, JOB, Item::Periodic, None);
    add(
        with_report(
            running,
            Report::Artifact(&rally("history/build-01.report.json")),
        ),
        None,
    );
    // Another job of the project.
    n += 1;
    let tox = zuul_build(n, "nova-tox-py312", Item::Check(900300, 1), Some("SUCCESS"));
    add(
        with_report(
            tox,
            Report::Artifact(&rally("history/build-02.report.json")),
        ),
        None,
    );
    (builds, expected)
}

/// GETs of Rally result files in `requests`.
fn report_gets(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/logs/")))
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

fn api_requests(requests: &[Value]) -> Vec<&Value> {
    requests
        .iter()
        .filter(|r| r["path"] == "/api/tenant/openstack/builds")
        .collect()
}

/// A backfill of 56 builds over three pages (check with change/patchset,
/// gate, periodic, post, tag, a second job; a NODE_FAILURE, a failed
/// devstack, a 404 log, a corrupt report), then runs that find everything
/// archived (the 404 and the corrupt report as failed for good): no report
/// is downloaded again, `--since` stops paging early, `--limit` asks for
/// just that many. `ls` and `site` read the result.
#[test]
fn backfill_then_reruns_download_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (builds, expected) = backfill();
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    let archive = work.path().join("archive");
    let jobs = ["--job", JOB, "--job", CEPH_JOB];
    let started = Instant::now();
    let (code, out, err) = collect(
        &zuul,
        &archive,
        &[&jobs[..], &["--page-size", "20"]].concat(),
    );
    let took = started.elapsed();
    eprintln!("--- backfill ({took:.1?}) stdout:\n{out}--- stderr:\n{err}");
    assert_eq!(
        code, 2,
        "a failed build makes the exit code 2:\n{out}\n{err}"
    );
    let endpoint = format!("{}api/tenant/openstack/builds", zuul.base);
    assert_eq!(
        summary(&out),
        format!(
            "summary: 56 builds of {JOB}, {CEPH_JOB} from {endpoint} (3 pages): 54 new (52 archived, 2 without Rally results), 0 skipped (already archived), 2 failed"
        )
    );
    // The failures name the build and what is wrong, and are listed at the
    // end. They are recorded, so expired logs do not fail every run.
    assert!(!err.contains("hint: log servers delete old logs"), "{err}");
    let missing = format!("openstack/nova change 900050 patchset 1 build {}", uuid(1));
    let corrupt = format!("openstack/nova change 900051 patchset 2 build {}", uuid(2));
    assert!(
        err.contains(&format!(
            "error: {missing}: its Rally results artifact is gone"
        )) || err.contains(&format!(
            "error: {missing}: no Rally results: the build succeeded"
        )),
        "{err}"
    );
    assert!(
        err.contains("perfkit/report.json, perfkit/results.json"),
        "{err}"
    );
    assert!(
        err.contains(&format!("error: {corrupt}: cannot ingest")),
        "{err}"
    );
    // Sorted, so that cron mails diff well (uuid 1 sorts before uuid 2).
    assert!(
        out.ends_with(&format!(
            "failed for good (recorded, not fetched again; `--retry-failed` tries them again):\n  {missing}\n  {corrupt}\n"
        )),
        "{out}"
    );
    assert!(out.contains(&format!(
        "recorded openstack/nova periodic master build {} [periodic, {JOB}, NODE_FAILURE]: no Rally results",
        uuid(3)
    )));
    assert!(out.contains(&format!(
        "recorded openstack/nova change 900052 patchset 1 build {} [check, {JOB}, FAILURE]: no Rally results",
        uuid(4)
    )));

    // Exactly the expected keys, nothing else.
    let want: BTreeSet<String> = expected
        .iter()
        .filter_map(|(n, key)| key.map(|(c, p)| builds_key(*n, c, p)))
        .collect();
    assert_eq!(builds_keys(&archive), want);
    assert_eq!(want.len(), 56);

    // Paging: three pages of at most 20, pinned to the newest build id.
    let requests = zuul.take_requests();
    let pages = api_requests(&requests);
    let skips: Vec<&str> = pages
        .iter()
        .map(|r| r["query"]["skip"][0].as_str().unwrap())
        .collect();
    assert_eq!(skips, ["0", "20", "40"]);
    assert_eq!(pages[0]["query"]["job_name"], json!([JOB, CEPH_JOB]));
    assert_eq!(pages[0]["query"]["complete"], json!(["true"]));
    // 56 is the newest complete build of the two jobs.
    assert_eq!(pages[1]["query"]["idx_max"], json!(["56"]));
    assert!(pages.iter().all(|r| r["status"] == 200));

    // Again: one existence check per build, no download at all (the two
    // that failed for good are recorded), exit 0.
    let (code, out, err) = collect(
        &zuul,
        &archive,
        &[&jobs[..], &["--page-size", "20"]].concat(),
    );
    eprintln!("--- second run stdout:\n{out}");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        summary(&out),
        format!(
            "summary: 56 builds of {JOB}, {CEPH_JOB} from {endpoint} (3 pages): 0 new (0 archived, 0 without Rally results), 56 skipped (already archived), 0 failed"
        )
    );
    assert_eq!(report_gets(&zuul.take_requests()), Vec::<String>::new());
    assert_eq!(builds_keys(&archive), want);

    // --since after the failures: everything skipped, exit 0, no log
    // request at all, and paging stops at the first page that is all older.
    let since = at(40);
    let (code, out, err) = collect(
        &zuul,
        &archive,
        &[&jobs[..], &["--page-size", "10", "--since", &since]].concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).contains("17 builds")
            && summary(&out).contains("(3 pages): 0 new")
            && summary(&out).ends_with("17 skipped (already archived), 0 failed"),
        "{out}"
    );
    let requests = zuul.take_requests();
    assert_eq!(api_requests(&requests).len(), 3, "{requests:?}");
    assert!(report_gets(&requests).is_empty());

    // --limit: the newest five, asked for as such.
    let (code, out, _) = collect(&zuul, &archive, &[&jobs[..], &["--limit", "5"]].concat());
    assert_eq!(code, 0);
    assert!(summary(&out).contains("summary: 5 builds"), "{out}");
    let requests = zuul.take_requests();
    let pages = api_requests(&requests);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["query"]["limit"], json!(["5"]));

    // A project filter reaches Zuul as `project`.
    let (code, out, _) = collect(
        &zuul,
        &archive,
        &["--job", JOB, "--project", "openstack/nova", "--limit", "3"],
    );
    assert_eq!(code, 0, "{out}");
    let requests = zuul.take_requests();
    assert_eq!(
        api_requests(&requests)[0]["query"]["project"],
        json!(["openstack/nova"])
    );

    // ls shows the builds without results for what they were.
    let (code, out, err) = run(perfkit().arg("ls").arg("--archive").arg(&archive));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 57, "{out}");
    let node_failure = out.lines().find(|l| l.contains(&uuid(3))).unwrap();
    assert!(node_failure.ends_with("- (NODE_FAILURE)"), "{node_failure}");
    let (code, out, _) = run(perfkit()
        .args(["ls", "--json"])
        .arg("--archive")
        .arg(&archive));
    assert_eq!(code, 0);
    let failure: Value = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["build"] == uuid(4))
        .unwrap();
    assert_eq!(failure["zuul_result"], "FAILURE");
    assert_eq!(failure["source_format"], "none");
    // The builds that failed for good say why.
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |n: usize| rows.iter().find(|v| v["build"] == uuid(n)).unwrap();
    assert_eq!(row(1)["source_format"], "failed");
    assert!(
        row(1)["failure"].as_str().unwrap().contains("(404)"),
        "{}",
        row(1)
    );
    assert_eq!(row(2)["source_format"], "failed");
    assert!(
        row(2)["failure"]
            .as_str()
            .unwrap()
            .contains("cannot ingest"),
        "{}",
        row(2)
    );
    assert_eq!(row(5)["failure"], Value::Null);

    // The site builds from an archive holding builds without results.
    let site = work.path().join("site");
    let (code, out, err) = run(perfkit()
        .arg("site")
        .arg("--archive")
        .arg(&archive)
        .arg("--out")
        .arg(&site));
    assert_eq!(code, 0, "{out}{err}");
    assert!(site.join("index.html").exists());
}

/// The in-job zuul variables of `build` (as described to the server; Zuul
/// 14.3.0: `Change.toDict` drops newrev, `Tag` has no branch).
fn zuul_vars_for(api: &Value) -> Value {
    let r = &api["ref"];
    let mut zuul = json!({
        "build": api["uuid"], "buildset": api["buildset"]["uuid"], "tenant": "openstack",
        "job": api["job_name"], "pipeline": api["pipeline"], "ref": r["ref"],
        "project": {"name": r["project"], "short_name": "nova",
                    "canonical_name": "opendev.org/openstack/nova"},
        "change_url": r["ref_url"],
    });
    let z = zuul.as_object_mut().unwrap();
    if !r["branch"].is_null() {
        z.insert("branch".into(), r["branch"].clone());
    }
    if !r["change"].is_null() {
        z.insert("change".into(), json!(r["change"].to_string()));
        z.insert("patchset".into(), r["patchset"].clone());
    } else {
        for name in ["oldrev", "newrev"] {
            if !r[name].is_null() {
                z.insert(name.into(), r[name].clone());
            }
        }
    }
    if let Some(tag) = r["ref"].as_str().and_then(|s| s.strip_prefix("refs/tags/")) {
        z.insert("tag".into(), json!(tag));
    }
    json!({ "zuul": zuul })
}

async fn builds_rows(archive: &Path) -> Vec<perfkit_schema::BuildRecord> {
    let archive = perfkit_archive::Archive::open(archive.to_str().unwrap()).unwrap();
    let keys = archive.list_builds(None).await.unwrap();
    let mut rows = Vec::new();
    for key in &keys {
        let build = perfkit_archive::history::load_build(&archive, key)
            .await
            .unwrap();
        rows.push(build.record);
    }
    rows
}

/// The same build collected and ingested in the job with its zuul
/// variables: the same objects under the same keys, the same `builds` row
/// but for what only Zuul's API knows (log URL, Zuul's result) and the
/// ingest time.
#[test]
fn collected_builds_match_the_in_job_ingest() {
    let work = tempfile::tempdir().unwrap();
    let report = rally("history/build-05.report.json");
    let builds = vec![
        with_report(
            zuul_build(1, JOB, Item::Check(912345, 3), Some("SUCCESS")),
            Report::Artifact(&report),
        ),
        with_report(
            zuul_build(2, JOB, Item::Gate(912346, 1), Some("SUCCESS")),
            Report::Artifact(&report),
        ),
        with_report(
            zuul_build(3, JOB, Item::Periodic, Some("SUCCESS")),
            Report::Artifact(&report),
        ),
        with_report(
            zuul_build(4, JOB, Item::Post, Some("SUCCESS")),
            Report::Artifact(&report),
        ),
        with_report(
            zuul_build(5, JOB, Item::Tag, Some("SUCCESS")),
            Report::RallyOpenstack(&report),
        ),
    ];
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    let collected = work.path().join("collected");
    let (code, out, err) = collect(&zuul, &collected, &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(summary(&out).contains("5 new (5 archived"), "{out}");

    let in_job = work.path().join("in-job");
    for build in &builds {
        let vars = work
            .path()
            .join(format!("{}.json", build["uuid"].as_str().unwrap()));
        std::fs::write(&vars, zuul_vars_for(build).to_string()).unwrap();
        let dir = work.path().join(build["uuid"].as_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&report, dir.join("report.json")).unwrap();
        let (code, out, err) = run(common::ingest_into(&in_job)
            .arg("--zuul-vars")
            .arg(&vars)
            .arg(dir.join("report.json")));
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(archive_shape(&collected), archive_shape(&in_job));
    assert_eq!(builds_keys(&collected).len(), 5);
    assert!(builds_keys(&collected).contains(&builds_key(1, 912345, 3)));
    assert!(builds_keys(&collected).contains(&builds_key(5, 0, 0)));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let collected_rows = rt.block_on(builds_rows(&collected));
    let in_job_rows = rt.block_on(builds_rows(&in_job));
    assert_eq!(collected_rows.len(), 5);
    for (mut c, mut j) in collected_rows.into_iter().zip(in_job_rows) {
        assert!(
            c.meta
                .log_url
                .as_deref()
                .is_some_and(|u| u.starts_with(&zuul.base))
        );
        assert_eq!(c.meta.zuul_result.as_deref(), Some("SUCCESS"));
        assert_eq!(
            (j.meta.log_url.take(), j.meta.zuul_result.take()),
            (None, None)
        );
        // Only the collector knows whether a gate build's change merged.
        let gate = c.meta.pipeline.as_deref() == Some("gate");
        assert_eq!(
            c.meta.zuul_buildset_result.take().is_some(),
            gate,
            "{:?}",
            c.meta.pipeline
        );
        assert_eq!(j.meta.zuul_buildset_result, None);
        c.meta.log_url = None;
        c.meta.zuul_result = None;
        c.ingested_at_us = 0;
        j.ingested_at_us = 0;
        assert_eq!(c, j);
    }
}

/// Three small builds: what the retry and trouble tests collect.
fn three_builds() -> Vec<Value> {
    (1..=3)
        .map(|n| {
            let file = rally(&format!("history/build-{n:02}.report.json"));
            with_report(
                zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")),
                Report::Artifact(&file),
            )
        })
        .collect()
}

/// 503s on the API and 429s (with `Retry-After`) on the logs are retried
/// until they pass; a Zuul that stays down or a wrong tenant ends the run
/// with one clear error.
#[test]
fn retries_on_503_and_429_then_succeeds() {
    let work = tempfile::tempdir().unwrap();
    let Some(zuul) = Zuul::start(work.path(), &three_builds()) else {
        return;
    };
    zuul.control(json!({"fail_next": 3, "fail_status": 503, "fail_prefix": "/api/"}));
    let (code, out, err) = collect(&zuul, &work.path().join("a"), &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(summary(&out).contains("3 new (3 archived"), "{out}");
    let statuses: Vec<i64> = api_requests(&zuul.take_requests())
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 503, 200]);

    zuul.control(
        json!({"fail_next": 2, "fail_status": 429, "retry_after": 1, "fail_prefix": "/logs/"}),
    );
    let started = Instant::now();
    let (code, out, err) = collect(&zuul, &work.path().join("b"), &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(summary(&out).contains("3 new (3 archived"), "{out}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored"
    );
    let requests = zuul.take_requests();
    let logs: Vec<i64> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/logs/"))
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(logs.iter().filter(|s| **s == 429).count(), 2, "{logs:?}");
    assert_eq!(logs.iter().filter(|s| **s == 200).count(), 3, "{logs:?}");

    zuul.control(json!({"fail_next": 100, "fail_status": 503, "fail_prefix": "/api/"}));
    let (code, out, err) = collect(
        &zuul,
        &work.path().join("c"),
        &["--job", JOB, "--retries", "1"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("cannot list builds from")
            && err.contains("503 Service Unavailable (after 2 attempts)"),
        "{err}"
    );
    zuul.control(json!({"fail_next": 0}));

    let mut cmd = perfkit();
    cmd.args([
        "collect", "--zuul", &zuul.base, "--tenant", "nope", "--job", JOB,
    ])
    .arg("--archive")
    .arg(work.path().join("d"));
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2);
    assert!(
        err.contains("Zuul answered 404") && err.contains("hint: check `--zuul`"),
        "{err}"
    );
}

/// A log server that stalls past `--timeout` fails that build alone, with
/// the reason (the next run tries it again); a gzip-served one is archived.
#[test]
fn slow_logs_fail_their_build_alone() {
    let work = tempfile::tempdir().unwrap();
    let mut builds = three_builds();
    builds[1] = with_report(
        zuul_build(2, JOB, Item::Periodic, Some("SUCCESS")),
        Report::Gzipped(&rally("history/build-02.report.json")),
    );
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    zuul.control(json!({"delay_ms": 3000, "delay_prefix": log_dir(3)}));
    let (code, out, err) = collect(
        &zuul,
        &work.path().join("a"),
        &["--job", JOB, "--timeout", "1", "--retries", "1"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        summary(&out).ends_with(
            "2 new (2 archived, 0 without Rally results), 0 skipped (already archived), 1 failed"
        ),
        "{out}"
    );
    assert!(
        err.contains(&format!("build {}: cannot download", uuid(3))) && err.contains("timed out"),
        "{err}"
    );
    assert!(out.contains("failed (tried again next run):"), "{out}");
    assert!(!err.contains("hint: log servers delete old logs"), "{err}");
}

/// The log directory (URL path) of periodic build `n` of [`JOB`].
fn log_dir(n: usize) -> String {
    format!(
        "/logs/periodic/opendev.org/openstack/nova/master/{JOB}/{}/",
        &uuid(n)[..7]
    )
}

/// Declares the report as `perfkit/report.json.gz`, served as `spec` says.
fn gz_artifact(mut build: Value, spec: Value) -> Value {
    build["artifacts"] = json!([{"name": "Rally JSON report", "url": "perfkit/report.json.gz",
                                 "metadata": {"type": "rally_report_json"}}]);
    build["files"]["perfkit/report.json.gz"] = spec;
    build
}

/// OpenDev's Swift log storage serves the files it keeps compressed with
/// `Content-Encoding: gzip` whatever the client asks, and a job may keep
/// its report as `*.gz` (served with or without that header): each is
/// decompressed as it streams and archived as the plain file would be
/// (same file name, size and digest as the in-job ingest records).
#[test]
fn gzip_served_logs_and_gz_reports_are_archived() {
    let work = tempfile::tempdir().unwrap();
    let file = rally("history/build-01.report.json");
    let mut known_path = with_report(
        zuul_build(4, JOB, Item::Periodic, Some("SUCCESS")),
        Report::RallyOpenstack(&file),
    );
    known_path["files"]["results/report.json"]["gzip"] = json!(true);
    let builds = vec![
        with_report(
            zuul_build(1, JOB, Item::Periodic, Some("SUCCESS")),
            Report::Gzipped(&file),
        ),
        gz_artifact(
            zuul_build(2, JOB, Item::Periodic, Some("SUCCESS")),
            json!({"path": file, "gzfile": true}),
        ),
        gz_artifact(
            zuul_build(3, JOB, Item::Periodic, Some("SUCCESS")),
            json!({"path": file, "gzip": true}),
        ),
        known_path,
    ];
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    let archive = work.path().join("archive");
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(summary(&out).contains("4 new (4 archived"), "{out}");
    let requests = zuul.take_requests();
    let logs: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/logs/"))
        .collect();
    assert!(
        logs.iter().all(|r| r["accept_encoding"] == "gzip"),
        "{logs:?}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(builds_rows(&archive));
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.source_file, "report.json", "{row:?}");
        assert_eq!(row.source_bytes, size, "{row:?}");
        assert_eq!(row.source_sha256, rows[0].source_sha256);
        assert!(row.has_results());
    }
}

/// The cap counts decompressed bytes: a zip bomb (64 MiB of zeros in a
/// gzip body of ~64 KiB) and a plain file over the cap are both refused
/// early and recorded as failed for good; the build under the cap is
/// archived.
#[test]
fn the_download_cap_counts_decompressed_bytes() {
    let work = tempfile::tempdir().unwrap();
    let mut bomb = with_report(
        zuul_build(1, JOB, Item::Periodic, Some("SUCCESS")),
        Report::Artifact("unused"),
    );
    bomb["files"]["perfkit/report.json"] = json!({"zeros": 64 << 20, "gzip": true});
    let mut big = with_report(
        zuul_build(2, JOB, Item::Periodic, Some("SUCCESS")),
        Report::Artifact("unused"),
    );
    big["files"]["perfkit/report.json"] = json!({"zeros": 2 << 20});
    let fine = with_report(
        zuul_build(3, JOB, Item::Periodic, Some("SUCCESS")),
        Report::Gzipped(&rally("history/build-03.report.json")),
    );
    let Some(zuul) = Zuul::start(work.path(), &[bomb, big, fine]) else {
        return;
    };
    let archive = work.path().join("archive");
    let started = Instant::now();
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB, "--max-download", "1MiB"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        summary(&out).ends_with(
            "1 new (1 archived, 0 without Rally results), 0 skipped (already archived), 2 failed"
        ),
        "{out}"
    );
    for n in [1, 2] {
        assert!(
            err.lines().any(
                |l| l.contains(&format!("build {}: cannot download", uuid(n)))
                    && l.contains(
                        "larger than 1 MiB once decoded (the download cap, `--max-download`)"
                    )
            ),
            "{err}"
        );
    }
    let (code, out, _) = run(perfkit()
        .args(["ls", "--json"])
        .arg("--archive")
        .arg(&archive));
    assert_eq!(code, 0);
    let failed = out
        .lines()
        .filter(|l| l.contains("\"source_format\":\"failed\""))
        .count();
    assert_eq!(failed, 2, "{out}");
}

/// A server that drips the body (16 bytes every 100 ms) never lets the
/// read timeout fire; the deadline ends the download, retries included.
/// That build alone fails, is not recorded, and the next run archives it.
#[test]
fn a_slow_drip_download_ends_at_the_deadline() {
    let work = tempfile::tempdir().unwrap();
    let Some(zuul) = Zuul::start(work.path(), &three_builds()) else {
        return;
    };
    zuul.control(json!({"drip_ms": 100, "drip_prefix": log_dir(2)}));
    let archive = work.path().join("archive");
    let mut cmd = perfkit();
    cmd.args([
        "collect",
        "--zuul",
        &zuul.base,
        "--tenant",
        "openstack",
        "--job",
        JOB,
    ])
    .args([
        "--timeout",
        "5",
        "--deadline",
        "2",
        "--retries",
        "3",
        "--archive",
    ])
    .arg(&archive);
    let started = Instant::now();
    let (code, out, err) = run_within(&mut cmd, Duration::from_secs(30));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(summary(&out).contains("2 new (2 archived"), "{out}");
    assert!(
        err.contains(&format!("build {}: cannot download", uuid(2)))
            && err.contains("not done within 2 s (the deadline of one download, `--deadline`)"),
        "{err}"
    );
    zuul.control(json!({"drip_ms": 0}));
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).contains("1 new (1 archived") && summary(&out).contains("2 skipped"),
        "{out}"
    );
}

/// Four builds: a declared report answering `missing` (404 or 410), one
/// cut short, and a good one (`fixed`: every report good).
fn trouble_builds(fixed: bool) -> Vec<Value> {
    let file = rally("history/build-04.report.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut builds: Vec<Value> = (1..=4)
        .map(|n| {
            with_report(
                zuul_build(n, JOB, Item::Check(900400 + n as u64, 1), Some("SUCCESS")),
                Report::Artifact(&file),
            )
        })
        .collect();
    if !fixed {
        builds[0]["files"]["perfkit/report.json"] = json!({"status": 404});
        builds[1]["files"]["perfkit/report.json"] = json!({"status": 410});
        builds[2]["files"]["perfkit/report.json"] = json!({"text": &text[..text.len() / 2]});
    }
    builds
}

/// Builds whose results are gone (404, 410) or cut short fail once, are
/// recorded as failed for good, and cost no download on later runs;
/// `--retry-failed` fetches them again (here from a log server that has
/// them back) and archives them in place of the record.
#[test]
fn builds_that_failed_for_good_are_recorded_and_retried_on_request() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("archive");
    let (broken_dir, fixed_dir) = (work.path().join("broken"), work.path().join("fixed"));
    std::fs::create_dir_all(&broken_dir).unwrap();
    std::fs::create_dir_all(&fixed_dir).unwrap();
    let Some(broken) = Zuul::start(&broken_dir, &trouble_builds(false)) else {
        return;
    };
    let (code, out, err) = collect(&broken, &archive, &["--job", JOB]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        summary(&out).ends_with(
            "1 new (1 archived, 0 without Rally results), 0 skipped (already archived), 3 failed"
        ),
        "{out}"
    );
    for n in 1..=3 {
        assert!(
            out.contains(&format!(
                "\n  openstack/nova change {} patchset 1 build {}",
                900400 + n,
                uuid(n)
            )),
            "{out}"
        );
    }
    assert!(
        out.contains(
            "failed for good (recorded, not fetched again; `--retry-failed` tries them again):"
        ),
        "{out}"
    );
    assert!(
        err.contains("its Rally results artifact is gone") && err.contains("cannot ingest"),
        "{err}"
    );
    broken.take_requests();

    let (code, out, err) = collect(&broken, &archive, &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).ends_with(
            "0 new (0 archived, 0 without Rally results), 4 skipped (already archived), 0 failed"
        ),
        "{out}"
    );
    assert_eq!(report_gets(&broken.take_requests()), Vec::<String>::new());
    drop(broken);

    let Some(fixed) = Zuul::start(&fixed_dir, &trouble_builds(true)) else {
        return;
    };
    let (code, out, _) = collect(&fixed, &archive, &["--job", JOB]);
    assert_eq!(code, 0);
    assert!(summary(&out).contains("4 skipped"), "{out}");
    assert_eq!(report_gets(&fixed.take_requests()), Vec::<String>::new());

    let (code, out, err) = collect(&fixed, &archive, &["--job", JOB, "--retry-failed"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).ends_with(
            "3 new (3 archived, 0 without Rally results), 1 skipped (already archived), 0 failed"
        ),
        "{out}"
    );
    let gets = report_gets(&fixed.take_requests());
    assert_eq!(gets.len(), 3, "{gets:?}");
    assert!(!gets.iter().any(|g| g.contains("/900404/")), "{gets:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(builds_rows(&archive));
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().all(|r| r.has_results() && r.failure.is_none()),
        "{rows:?}"
    );

    // Nothing is recorded as failed any more: a retry run downloads nothing.
    let (code, out, _) = collect(&fixed, &archive, &["--job", JOB, "--retry-failed"]);
    assert_eq!(code, 0);
    assert!(summary(&out).contains("4 skipped"), "{out}");
    assert_eq!(report_gets(&fixed.take_requests()), Vec::<String>::new());
}

/// Builds that never ran (SKIPPED; some NODE_FAILUREs) have no start or
/// end time, some not even an event time. With `--since` they count as
/// old as the build listed before them, so a history full of them does not
/// keep the listing paging to its start: here 2 pages, not 11.
#[test]
fn builds_without_times_do_not_keep_since_paging() {
    let work = tempfile::tempdir().unwrap();
    let file = rally("history/build-05.report.json");
    let mut builds = Vec::new();
    for n in 1..=100 {
        if n % 4 == 0 {
            builds.push(with_report(
                zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")),
                Report::Artifact(&file),
            ));
        } else {
            let mut skipped = never_ran(zuul_build(n, JOB, Item::Periodic, Some("SKIPPED")));
            skipped["end_time"] = Value::Null;
            if n % 2 == 0 {
                skipped["event_timestamp"] = Value::Null;
            }
            builds.push(skipped);
        }
    }
    for n in 101..=105 {
        builds.push(with_report(
            zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")),
            Report::Artifact(&file),
        ));
    }
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    let archive = work.path().join("archive");
    let since = at(101);
    let (code, out, err) = collect(
        &zuul,
        &archive,
        &["--job", JOB, "--page-size", "10", "--since", &since],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).starts_with("summary: 5 builds of")
            && summary(&out).contains("(2 pages): 5 new (5 archived"),
        "{out}"
    );
    assert_eq!(api_requests(&zuul.take_requests()).len(), 2);

    // Without --since every build is listed, the skipped ones recorded.
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB, "--page-size", "50"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).contains("105 builds")
            && summary(&out).contains("25 archived, 75 without Rally results"),
        "{out}"
    );
}

/// A job may set its own log URL. By default results come only from
/// public addresses (and Zuul's own origin): a log URL on another local
/// port, or named `localhost`, is refused and recorded, and that server
/// hears nothing. `--results-origin` allows exactly the origins listed.
#[test]
fn results_come_only_from_allowed_origins() {
    let work = tempfile::tempdir().unwrap();
    let file = rally("history/build-06.report.json");
    let (here_dir, there_dir) = (work.path().join("here"), work.path().join("there"));
    std::fs::create_dir_all(&here_dir).unwrap();
    std::fs::create_dir_all(&there_dir).unwrap();
    let elsewhere = |n: usize| {
        with_report(
            zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")),
            Report::Artifact(&file),
        )
    };
    let Some(there) = Zuul::start(&there_dir, &[elsewhere(1), elsewhere(3)]) else {
        return;
    };
    let log_url = |host: &str, n: usize| format!("http://{host}:{}{}", there.port(), log_dir(n));
    let mut pointing_away = elsewhere(1);
    pointing_away["log_url"] = json!(log_url("127.0.0.1", 1));
    let mut named_localhost = elsewhere(3);
    named_localhost["log_url"] = json!(log_url("localhost", 3));
    let builds = [pointing_away, elsewhere(2), named_localhost];
    let Some(here) = Zuul::start(&here_dir, &builds) else {
        return;
    };
    let there_origin = format!("http://127.0.0.1:{}", there.port());

    let (code, out, err) = collect(&here, &work.path().join("a"), &["--job", JOB]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        summary(&out).contains("1 new (1 archived") && summary(&out).ends_with("2 failed"),
        "{out}"
    );
    assert!(
        err.contains(&format!("{there_origin} is not a public address")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "http://localhost:{} is a local host name",
            there.port()
        )),
        "{err}"
    );
    assert_eq!(there.take_requests(), Vec::<Value>::new());

    let (code, out, err) = collect(
        &here,
        &work.path().join("b"),
        &[
            "--job",
            JOB,
            "--results-origin",
            &there_origin,
            "--results-origin",
            "http://localhost:1",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(summary(&out).contains("2 new (2 archived"), "{out}");
    assert!(
        err.contains("http://localhost:")
            && err.contains("is not an origin results may come from (`--results-origin`)"),
        "{err}"
    );
    assert_eq!(report_gets(&there.take_requests()).len(), 1);

    let (code, _, err) = collect(
        &here,
        &work.path().join("c"),
        &["--job", JOB, "--results-origin", "logs.example.org/x"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`--results-origin logs.example.org/x` is not a URL") && err.contains("hint:"),
        "{err}"
    );
    let (code, _, err) = collect(
        &here,
        &work.path().join("c"),
        &[
            "--job",
            JOB,
            "--results-origin",
            "https://u:s3cr3t@logs.example.org",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("must not contain credentials") && !err.contains("s3cr3t"),
        "{err}"
    );
}

/// Runs `cmd` like `run`, but kills it and fails the test after `limit`.
fn run_within(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit runs");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    )
}

/// A token in `--zuul` is refused before any request, and shown nowhere:
/// not in the error, the summary, page errors or debug logs.
#[test]
fn credentials_in_the_zuul_url_are_refused_and_never_shown() {
    let work = tempfile::tempdir().unwrap();
    let Some(zuul) = Zuul::start(work.path(), &three_builds()) else {
        return;
    };
    let token = "s3cr3t-T0KEN";
    let host = zuul.base.trim_start_matches("http://");
    let cases = [
        (
            format!("http://perfkit:{token}@{host}"),
            "`--zuul` must not contain credentials",
        ),
        (
            format!("http://{token}@{host}"),
            "`--zuul` must not contain credentials",
        ),
        (
            format!("http://:{token}@{host}"),
            "`--zuul` must not contain credentials",
        ),
        (format!("{token}@zuul.example.org"), "`--zuul` is not a URL"),
        (
            format!("ftp://perfkit:{token}@{host}"),
            "`--zuul` must be an http:// or https:// URL",
        ),
    ];
    for (url, message) in cases {
        let mut cmd = perfkit();
        cmd.args([
            "collect",
            "--zuul",
            &url,
            "--tenant",
            "openstack",
            "--job",
            JOB,
        ])
        .arg("--archive")
        .arg(work.path().join("archive"))
        .env("PERFKIT_LOG", "debug");
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 2, "{url}: {out}{err}");
        assert!(err.contains(message), "{url}: {err}");
        assert!(
            !out.contains(token) && !err.contains(token),
            "{url} shown:\n{out}{err}"
        );
    }
    assert_eq!(zuul.take_requests(), Vec::<Value>::new());
    assert!(!work.path().join("archive").exists());
}

/// A job chooses its artifacts' URLs: one on another origin (here another
/// port) is ignored with a warning and the known paths are tried; a log
/// server's redirect to another origin is not followed (one on the same
/// origin is). The other server hears nothing.
#[test]
fn artifacts_and_redirects_stay_on_the_log_urls_origin() {
    let work = tempfile::tempdir().unwrap();
    let file = rally("history/build-01.report.json");
    let (here, there) = (work.path().join("here"), work.path().join("there"));
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    let decoy = with_report(
        zuul_build(1, JOB, Item::Periodic, Some("SUCCESS")),
        Report::Artifact(&file),
    );
    let Some(elsewhere) = Zuul::start(&there, &[decoy]) else {
        return;
    };
    let foreign = format!(
        "{}logs/periodic/opendev.org/openstack/nova/master/{JOB}/{}/perfkit/report.json",
        elsewhere.base,
        &uuid(1)[..7]
    );
    let mut pointing_away = zuul_build(1, JOB, Item::Periodic, Some("SUCCESS"));
    pointing_away["artifacts"] = json!([{"name": "Rally JSON report", "url": foreign,
                                         "metadata": {"type": "rally_report_json"}}]);
    pointing_away["files"]["perfkit/report.json"] = json!({"path": file});
    let mut redirected_away = zuul_build(2, JOB, Item::Periodic, Some("SUCCESS"));
    redirected_away["files"]["perfkit/report.json"] = json!({"redirect": foreign});
    let mut moved = zuul_build(3, JOB, Item::Periodic, Some("SUCCESS"));
    moved["files"]["perfkit/report.json"] = json!({"redirect": "../moved/report.json"});
    moved["files"]["moved/report.json"] = json!({"path": file});
    let Some(zuul) = Zuul::start(&here, &[pointing_away, redirected_away, moved]) else {
        return;
    };

    let (code, out, err) = collect(&zuul, &work.path().join("archive"), &["--job", JOB]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        summary(&out).ends_with(
            "2 new (2 archived, 0 without Rally results), 0 skipped (already archived), 1 failed"
        ),
        "{out}{err}"
    );
    let origin = |base: &str| base.trim_end_matches('/').to_string();
    assert!(
        err.contains(&format!(
            "warning: openstack/nova periodic master build {}: ignored the artifact \"Rally JSON report\": {} is not the origin of the build's log URL ({})",
            uuid(1),
            origin(&elsewhere.base),
            origin(&zuul.base)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: openstack/nova periodic master build {}: cannot download",
            uuid(2)
        )) && err.contains(&format!(
            "HTTP 302 Found: redirected to {}, another origin (not followed)",
            origin(&elsewhere.base)
        )),
        "{err}"
    );
    assert!(out.contains(&format!(
        "archived openstack/nova periodic master build {}",
        uuid(1)
    )));
    assert!(out.contains(&format!(
        "archived openstack/nova periodic master build {}",
        uuid(3)
    )));
    assert_eq!(elsewhere.take_requests(), Vec::<Value>::new());
    let gets = report_gets(&zuul.take_requests());
    assert!(
        gets.iter().any(|g| g.ends_with("/moved/report.json")),
        "{gets:?}"
    );
}

/// A server that ignores `skip` answers every page with the first one:
/// listing stops, with a warning, at the first page that adds no build.
#[test]
fn a_zuul_that_ignores_skip_does_not_page_forever() {
    let work = tempfile::tempdir().unwrap();
    let builds: Vec<Value> = (1..=5)
        .map(|n| {
            let file = rally(&format!("history/build-{n:02}.report.json"));
            with_report(
                zuul_build(n, JOB, Item::Periodic, Some("SUCCESS")),
                Report::Artifact(&file),
            )
        })
        .collect();
    let Some(zuul) = Zuul::start(work.path(), &builds) else {
        return;
    };
    zuul.control(json!({"ignore_skip": true}));
    let mut cmd = perfkit();
    cmd.args([
        "collect",
        "--zuul",
        &zuul.base,
        "--tenant",
        "openstack",
        "--job",
        JOB,
    ])
    .args(["--page-size", "2", "--archive"])
    .arg(work.path().join("archive"));
    let (code, out, err) = run_within(&mut cmd, Duration::from_secs(30));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).starts_with("summary: 2 builds of")
            && summary(&out).contains("(2 pages): 2 new (2 archived"),
        "{out}"
    );
    assert!(
        err.contains("warning: the page ")
            && err.contains("skip=2")
            && err.contains("adds no new build: stopped listing there")
            && err.contains("hint: does this Zuul ignore `skip`?"),
        "{err}"
    );
    assert_eq!(api_requests(&zuul.take_requests()).len(), 2);
}

#[test]
fn help_shows_examples() {
    let (code, out, _) = run(perfkit().args(["collect", "--help"]));
    assert_eq!(code, 0);
    for needle in [
        "Examples:",
        "--since",
        "--limit",
        "--job",
        "Exit status",
        "--max-download",
        "--deadline",
        "--results-origin",
        "--retry-failed",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    let (code, _, err) = run(perfkit().args([
        "collect",
        "--zuul",
        "http://127.0.0.1:9/",
        "--tenant",
        "t",
        "--job",
        "j",
        "--since",
        "soon",
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains("`--since soon` is not a date") && err.contains("hint:"),
        "{err}"
    );
}

/// A gate build joins baselines only once its change merged: the collector
/// asks Zuul for the buildset's result, waits while the change is still in
/// the gate (nothing archived, exit 0), and records what Zuul said.
#[test]
fn gate_builds_wait_for_their_buildset_and_record_its_result() {
    let work = tempfile::tempdir().unwrap();
    let report = rally("history/build-05.report.json");
    let gate = |n: usize, change: u64, buildset_result: Value| {
        let mut build = with_report(
            zuul_build(n, JOB, Item::Gate(change, 1), Some("SUCCESS")),
            Report::Artifact(&report),
        );
        build["buildset"]["result"] = buildset_result;
        build
    };
    let running = vec![
        gate(1, 912001, json!("SUCCESS")),
        gate(2, 912002, json!("MERGE_FAILURE")),
        gate(3, 912003, Value::Null),
    ];
    let archive = work.path().join("archive");
    let first = work.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let Some(zuul) = Zuul::start(&first, &running) else {
        return;
    };
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB]);
    assert_eq!(code, 0, "waiting is no failure:\n{out}{err}");
    assert!(
        summary(&out).contains("3 builds of") && summary(&out).contains("2 new (2 archived"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "waiting for their change to leave the gate (archived next run, once Zuul says whether it merged):\n  openstack/nova change 912003 patchset 1 build {}",
            uuid(3)
        )),
        "{out}"
    );
    let buildset_requests = zuul
        .take_requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/api/tenant/openstack/buildset/"))
        })
        .count();
    assert_eq!(buildset_requests, 3, "one per new gate build");
    drop(zuul);

    // The item left the gate: the next run archives it, and only it.
    let finished = vec![
        gate(1, 912001, json!("SUCCESS")),
        gate(2, 912002, json!("MERGE_FAILURE")),
        gate(3, 912003, json!("SUCCESS")),
    ];
    let second = work.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let zuul = Zuul::start(&second, &finished).unwrap();
    let (code, out, err) = collect(&zuul, &archive, &["--job", JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).contains("1 new (1 archived") && summary(&out).contains("2 skipped"),
        "{out}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows: Vec<(u64, Option<String>)> = rt
        .block_on(builds_rows(&archive))
        .into_iter()
        .map(|b| (b.key.change, b.meta.zuul_buildset_result))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (912001, Some("SUCCESS".into())),
            (912002, Some("MERGE_FAILURE".into())),
            (912003, Some("SUCCESS".into())),
        ]
    );
}

/// A Locust job's build as the scaffolded post-run returns it: the CSV
/// set (with the upgrade window of a run through an upgrade) and the same
/// run as JSON. The collector archives the CSV set whole, phases included,
/// exactly as the in-job upload does; two of its files are served
/// gzip-compressed, as OpenDev's log storage may.
#[test]
fn a_locust_csv_set_is_collected_whole_with_its_upgrade_window() {
    const LOCUST_JOB: &str = "keystone-locust-upgrade";
    let work = tempfile::tempdir().unwrap();
    let run_dir = fixture("locust/history/run-01");
    // The window: the middle third of the run's per-second history.
    let history = std::fs::read_to_string(run_dir.join("locust_stats_history.csv")).unwrap();
    let seconds: Vec<f64> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect();
    let (first, last) = (seconds[0], seconds[seconds.len() - 1]);
    let window = work.path().join("locust_upgrade_window.json");
    let span = last - first;
    std::fs::write(
        &window,
        json!({"start": first + span / 3.0, "end": first + 2.0 * span / 3.0}).to_string(),
    )
    .unwrap();
    let file = |name: &str| run_dir.join(name).display().to_string();
    let mut build = zuul_build(1, LOCUST_JOB, Item::Check(912400, 2), Some("SUCCESS"));
    let declared = [
        (
            "locust_stats.csv",
            "Locust request statistics (CSV)",
            "locust_stats_csv",
        ),
        (
            "locust_stats_history.csv",
            "Locust statistics history (CSV)",
            "locust_stats_history_csv",
        ),
        (
            "locust_failures.csv",
            "Locust failures (CSV)",
            "locust_failures_csv",
        ),
        (
            "locust_exceptions.csv",
            "Locust exceptions (CSV)",
            "locust_exceptions_csv",
        ),
        ("locust.json", "Locust JSON statistics", "locust_json"),
        (
            "locust_upgrade_window.json",
            "Upgrade window of the Locust run",
            "locust_upgrade_window_json",
        ),
    ];
    build["artifacts"] = declared
        .iter()
        .map(|(f, name, kind)| json!({"name": name, "url": format!("perfkit/{f}"), "metadata": {"type": kind}}))
        .collect();
    let files = build["files"].as_object_mut().unwrap();
    for (f, _, _) in &declared[..5] {
        let gzip = matches!(*f, "locust_stats.csv" | "locust_stats_history.csv");
        files.insert(
            format!("perfkit/{f}"),
            json!({"path": file(f), "gzip": gzip}),
        );
    }
    files.insert(
        "perfkit/locust_upgrade_window.json".into(),
        json!({"path": window.display().to_string()}),
    );
    let Some(zuul) = Zuul::start(work.path(), std::slice::from_ref(&build)) else {
        return;
    };
    let collected = work.path().join("collected");
    let (code, out, err) = collect(&zuul, &collected, &["--job", LOCUST_JOB]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(summary(&out).contains("1 new (1 archived"), "{out}");
    assert!(out.contains("locust-csv"), "{out}");
    let fetched: BTreeSet<String> = report_gets(&zuul.take_requests())
        .into_iter()
        .filter_map(|p| Some(p.rsplit_once('/')?.1.to_string()))
        .collect();
    assert!(!fetched.contains("locust.json"), "{fetched:?}");
    for (f, _, _) in declared.iter().filter(|(f, ..)| *f != "locust.json") {
        assert!(fetched.contains(*f), "{f} not fetched: {fetched:?}");
    }

    // The in-job upload of the same files, by their prefix.
    let in_job = work.path().join("in-job");
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    for (f, _, _) in &declared[..5] {
        std::fs::copy(file(f), results.join(f)).unwrap();
    }
    std::fs::copy(&window, results.join("locust_upgrade_window.json")).unwrap();
    let vars = work.path().join("zuul-vars.json");
    std::fs::write(&vars, zuul_vars_for(&build).to_string()).unwrap();
    let (code, out, err) = run(common::ingest_into(&in_job)
        .arg("--zuul-vars")
        .arg(&vars)
        .arg(results.join("locust")));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(archive_shape(&collected), archive_shape(&in_job));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let archive = perfkit_archive::Archive::open(collected.to_str().unwrap()).unwrap();
    let keys = rt.block_on(archive.list_builds(None)).unwrap();
    assert_eq!(keys.len(), 1);
    let archived = rt
        .block_on(perfkit_archive::history::load_build(&archive, &keys[0]))
        .unwrap();
    assert_eq!(archived.record.source_format, "locust-csv");
    let phase = |p: perfkit_schema::Phase| {
        archived
            .series
            .iter()
            .find(|r| r.phase == Some(p) && r.action.starts_with("Aggregated"))
            .unwrap_or_else(|| panic!("no {p:?} row: {:?}", archived.series))
    };
    let whole = archived
        .series
        .iter()
        .find(|r| r.phase.is_none() && r.action == "Aggregated")
        .unwrap();
    use perfkit_schema::Phase::{After, Before, During};
    let (before, during, after) = (phase(Before), phase(During), phase(After));
    assert!(during.samples > 0 && before.samples > 0 && after.samples > 0);
    assert_eq!(
        before.samples + during.samples + after.samples,
        whole.samples
    );
    assert_eq!(before.failed + during.failed + after.failed, whole.failed);
}
