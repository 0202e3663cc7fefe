//! `perfkit scaffold --with-locust --upgrade` for real: the generated
//! locustfile and the script the generated playbook runs
//! (files/locust-through-upgrade.py, with the options the playbook passes)
//! drive the real Locust against a Keystone stand-in
//! (tests/support/keystone_standin.py: two backend processes behind a load
//! balancer) while the test restarts the backends one after the other and
//! writes grenade-style phase markers around that rolling restart. The run
//! is ingested with the real `perfkit`: the failures the restarts cause are
//! counted in the window and the phases add up to the run.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{perfkit, run, tool};
use perfkit_schema::{Phase, SeriesRow};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Standin {
    script: PathBuf,
    key: PathBuf,
}

impl Standin {
    fn spawn(&self, args: &[String]) -> Child {
        Command::new("python3")
            .arg(&self.script)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn backend(&self, port: u16) -> Child {
        let child = self.spawn(&[
            "backend".into(),
            port.to_string(),
            self.key.display().to_string(),
        ]);
        wait_for_port(port);
        child
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A grenade summary-log line (outfilter's UTC time prefix).
fn marker(log: &Path, text: &str) {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S.%3N"])
        .output()
        .unwrap();
    let stamp = String::from_utf8(out.stdout).unwrap();
    let line = format!("{} | {text}\n", stamp.trim());
    let mut old = std::fs::read_to_string(log).unwrap_or_default();
    old.push_str(&line);
    std::fs::write(log, old).unwrap();
}

/// The `Aggregated` total request count of the newest history row.
fn requests_so_far(history: &Path) -> u64 {
    let text = std::fs::read_to_string(history).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.contains(",,Aggregated,"))
        .and_then(|l| l.split(',').nth(17))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The argv of the playbook task that starts Locust in the background.
fn playbook_argv(run_playbook: &str) -> Vec<String> {
    let plays: Vec<serde_json::Value> = yaml_to_json(run_playbook);
    for play in &plays {
        for task in play["tasks"].as_array().into_iter().flatten() {
            for inner in task["block"].as_array().into_iter().flatten() {
                if inner["name"] == "Start Locust in the background" {
                    return inner["ansible.builtin.command"]["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                }
            }
        }
    }
    panic!("no task starts Locust in:\n{run_playbook}");
}

fn yaml_to_json(text: &str) -> Vec<serde_json::Value> {
    let python = tool("PERFKIT_TOOLS_BIN", "python").unwrap();
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn locust_through_a_rolling_restart_counts_the_failures_in_the_window() {
    let Some(locust) = tool("PERFKIT_TOOLS_BIN", "locust") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("keystone");
    std::fs::create_dir_all(&repo).unwrap();
    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .unwrap()
            .success()
    );
    let (code, out, err) = run(perfkit()
        .args([
            "scaffold",
            "--project",
            "keystone",
            "--with-locust",
            "--upgrade",
            "--repo",
        ])
        .arg(&repo));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("keystone-locust-upgrade"), "{out}");

    // The options the generated playbook passes, with this test's values
    // in place of Ansible's templates.
    let argv = playbook_argv(
        &std::fs::read_to_string(repo.join("playbooks/perfkit/run-locust-upgrade.yaml")).unwrap(),
    );
    let work = dir.path().join("work");
    let results = work.join("locust");
    std::fs::create_dir_all(&results).unwrap();
    let (lb, a_port, b_port) = (free_port(), free_port(), free_port());
    let openrc = work.join("openrc");
    std::fs::write(
        &openrc,
        format!(
            "export OS_AUTH_URL=http://127.0.0.1:{lb}/identity/v3\nexport OS_USERNAME=$1\n\
             export OS_PASSWORD=secretadmin\nexport OS_PROJECT_NAME=$2\n"
        ),
    )
    .unwrap();
    let summary = work.join("grenade.sh.log.summary");
    let job_vars: Vec<(&str, String)> = vec![
        ("--openrc", openrc.display().to_string()),
        ("--os-user", "admin".into()),
        ("--os-project", "admin".into()),
        ("--upgrade-log", summary.display().to_string()),
        ("--after", "3".into()),
        (
            "--stop-file",
            work.join("upgrade-over").display().to_string(),
        ),
        ("--max-seconds", "120".into()),
        (
            "--window-file",
            results
                .join("locust_upgrade_window.json")
                .display()
                .to_string(),
        ),
        (
            "--locustfile",
            repo.join("rally-jobs/locust/locustfile.py")
                .display()
                .to_string(),
        ),
        ("--users", "5".into()),
        ("--spawn-rate", "5".into()),
        ("--csv", results.join("locust").display().to_string()),
        ("--json-file", results.join("locust").display().to_string()),
        ("--html", results.join("locust.html").display().to_string()),
    ];
    // The markers are the job's variables: read them from the job.
    let job = std::fs::read_to_string(repo.join(".zuul.yaml")).unwrap();
    let jobs = yaml_to_json(&job);
    let vars = jobs
        .iter()
        .find(|s| s["job"]["name"] == "keystone-locust-upgrade")
        .map(|s| s["job"]["vars"].clone())
        .unwrap();
    let start_marker = vars["perfkit_upgrade_start_marker"]
        .as_str()
        .unwrap()
        .to_string();
    let end_marker = vars["perfkit_upgrade_end_marker"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(vars["perfkit_locust_issue_weight"], 30);
    assert_eq!(vars["perfkit_locust_validate_weight"], 70);
    let mut command: Vec<String> = Vec::new();
    let mut previous = String::new();
    let mut after_dashes = false;
    for item in &argv {
        let value = if item == "--" {
            after_dashes = true;
            item.clone()
        } else if !item.contains("{{") {
            item.clone()
        } else if previous == "python3" {
            repo.join("playbooks/perfkit/files/locust-through-upgrade.py")
                .display()
                .to_string()
        } else if previous == "--" {
            locust.display().to_string()
        } else if previous == "--start-marker" {
            start_marker.clone()
        } else if previous == "--end-marker" {
            end_marker.clone()
        } else if let Some((_, v)) = job_vars.iter().find(|(k, _)| *k == previous) {
            v.clone()
        } else {
            panic!("no test value for {previous} {item}");
        };
        previous = item.clone();
        command.push(value);
    }
    assert!(after_dashes && command[0] == "python3", "{command:?}");
    assert!(command.contains(&"--csv-full-history".to_string()));

    let standin = Standin {
        script: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/keystone_standin.py"),
        key: work.join("key"),
    };
    std::fs::write(&standin.key, b"a key both backends share").unwrap();
    let mut a = standin.backend(a_port);
    let mut b = standin.backend(b_port);
    let balancer = standin.spawn(&[
        "lb".into(),
        lb.to_string(),
        a_port.to_string(),
        b_port.to_string(),
    ]);
    wait_for_port(lb);

    let driver = Command::new(&command[0])
        .args(&command[1..])
        .env("PERFKIT_LOCUST_ISSUE_WEIGHT", "30")
        .env("PERFKIT_LOCUST_VALIDATE_WEIGHT", "70")
        .env("PERFKIT_LOCUST_WAIT", "0.05")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let history = results.join("locust_stats_history.csv");
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests_so_far(&history) < 40 {
        assert!(Instant::now() < deadline, "Locust never got going");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    // The rolling upgrade: one backend after the other is down ~1.5 s.
    // Two seconds of margin at each edge: a history row holds the running
    // totals of up to a second after its timestamp.
    marker(&summary, "Shutting down all services on base devstack...");
    std::thread::sleep(Duration::from_secs(2));
    for (backend, port) in [(&mut a, a_port), (&mut b, b_port)] {
        let _ = backend.kill();
        let _ = backend.wait();
        std::thread::sleep(Duration::from_millis(1500));
        *backend = standin.backend(port);
        std::thread::sleep(Duration::from_secs(2));
    }
    marker(&summary, "Running resource phase: verify post-upgrade");
    let out = driver.wait_with_output().unwrap();
    for child in [a, b, balancer] {
        stop(child);
    }
    let log = String::from_utf8_lossy(&out.stderr);
    // 3: Locust ran and some requests failed.
    assert_eq!(out.status.code(), Some(3), "{log}");
    assert!(log.contains("upgrade window closes"), "{log}");

    let archive = dir.path().join("archive");
    let (code, out, err) = run(perfkit()
        .args([
            "ingest",
            "--project",
            "keystone",
            "--job",
            "keystone-locust-upgrade",
        ])
        .args(["--pipeline", "periodic", "--branch", "master", "--archive"])
        .arg(&archive)
        .arg(results.join("locust")));
    assert_eq!(code, 0, "{out}{err}");

    let archive_dir = archive.clone();
    let archive = perfkit_archive::Archive::open(archive.to_str().unwrap()).unwrap();
    let build = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let keys = archive.list_builds(None).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        perfkit_archive::history::load_build(&archive, &keys[0])
            .await
            .unwrap()
    });
    let whole: Vec<&SeriesRow> = build.series.iter().filter(|r| r.phase.is_none()).collect();
    assert_eq!(whole.len(), 3, "GET, POST and Aggregated");
    let (mut during_requests, mut during_failures) = (0, 0);
    for w in &whole {
        let phases: Vec<&SeriesRow> = build
            .series
            .iter()
            .filter(|r| r.workload_key == w.workload_key && r.phase.is_some())
            .collect();
        let of = |p: Phase| *phases.iter().find(|r| r.phase == Some(p)).unwrap();
        let (before, during, after) = (of(Phase::Before), of(Phase::During), of(Phase::After));
        eprintln!(
            "{:<22} before {:>5} requests {:>3} failed | during {:>5} requests {:>3} failed | after {:>5} requests {:>3} failed | total {} / {}",
            w.action,
            before.samples,
            before.failed,
            during.samples,
            during.failed,
            after.samples,
            after.failed,
            w.samples,
            w.failed
        );
        // The phases add up to the run.
        assert_eq!(
            before.samples + during.samples + after.samples,
            w.samples,
            "{}",
            w.action
        );
        assert_eq!(
            before.failed + during.failed + after.failed,
            w.failed,
            "{}",
            w.action
        );
        // Every failure came from the restarts, inside the window.
        assert_eq!((before.failed, after.failed), (0, 0), "{}", w.action);
        assert!(before.samples > 0 && during.samples > 0 && after.samples > 0);
        assert_eq!(
            during.action,
            format!("{}{}", w.action, Phase::During.action_suffix())
        );
        assert!(!during.durations_s.is_empty());
        let window = w.window.unwrap();
        assert!(window.end_us - window.start_us > 3_000_000, "{window:?}");
        if w.action == "Aggregated" {
            (during_requests, during_failures) = (during.samples, during.failed);
            assert!(w.per_second_json.is_some());
        }
    }
    assert!(during_failures > 0, "the restarts made no request fail");

    let line = format!("{during_requests} requests during the upgrade, {during_failures} failed");
    eprintln!("{line}");

    // The site: the Aggregated page draws the run second by second, with
    // the window and the line in its data.
    let site = dir.path().join("site");
    let (code, out, err) = run(perfkit()
        .arg("site")
        .arg("--archive")
        .arg(&archive_dir)
        .arg("--out")
        .arg(&site));
    assert_eq!(code, 0, "{out}{err}");
    let data_dir = site.join("openstack~keystone/data");
    let runs: Vec<String> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-run.js"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(runs.len(), 3, "GET, POST and Aggregated have a run chart");
    let aggregated = runs
        .iter()
        .find(|r| r.contains(&format!("\"line\":\"{line}\"")))
        .unwrap_or_else(|| panic!("no run chart says {line:?}: {runs:?}"));
    assert!(aggregated.contains("\"window\":["), "{aggregated}");
    let page = std::fs::read_dir(site.join("openstack~keystone/series"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|p| p.contains("-run.js") && p.contains("Aggregated</h1>"))
        .expect("the Aggregated page loads its run chart");
    assert!(page.contains("id=\"chart-run\""), "{page}");
}
