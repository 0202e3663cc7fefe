//! `perfkit site` end to end: the demo's real Rally history → archive →
//! site; every page, link and chart checked in a real headless Chromium,
//! from `file://` and over HTTP; hostile names escaped; rebuilds
//! incremental and deterministic.

mod common;

use std::path::{Path, PathBuf};

use common::{browser, demo_archive, fixture, ingest_into, perfkit, run, serve_dir, tree};

fn site(archive: &Path, out: &Path) -> String {
    let (code, stdout, stderr) = run(perfkit()
        .args(["site", "--archive"])
        .arg(archive)
        .arg("--out")
        .arg(out));
    assert_eq!(code, 0, "{stdout}{stderr}");
    stdout
}

/// The site's files; perfkit's working state is never among them.
fn published(out: &Path) -> Vec<String> {
    let files = tree(out);
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with('.') && !f.contains("/.")),
        "perfkit's state in the published site: {files:?}"
    );
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `written` from the `site: N files written, …` line.
fn written(stdout: &str) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("site: "))
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    line["site: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The id of the series page whose link text starts with `scenario` and
/// whose row names `action`.
fn series_page(project_index: &str, scenario: &str, action: &str) -> String {
    project_index
        .lines()
        .find(|l| {
            l.contains(&format!("\">{scenario}</a>")) && l.contains(&format!(">{action}</td>"))
        })
        .and_then(|l| l.split("href=\"series/").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no series {scenario} › {action}"))
        .to_string()
}

fn xml_is_well_formed(path: &Path) -> String {
    let (code, out, err) = run(std::process::Command::new("python3").args([
        "-c",
        "import sys, xml.etree.ElementTree as ET\n\
         ns = {'a': 'http://www.w3.org/2005/Atom'}\n\
         root = ET.parse(sys.argv[1]).getroot()\n\
         print(len(root.findall('a:entry', ns)))\n\
         for e in root.findall('a:entry', ns): print(e.find('a:id', ns).text, e.find('a:title', ns).text)",
    ])
    .arg(path));
    assert_eq!(code, 0, "{} is not well-formed XML: {err}", path.display());
    out
}

#[test]
fn the_demo_site_has_history_verdicts_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let out = dir.path().join("site");
    let stdout = site(&archive, &out);
    assert!(
        stdout.contains("perfkit/demo: 52 branch builds"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("open: {}", out.join("index.html").display())));

    let project = out.join("perfkit~demo");
    for page in ["index.html", "alerts.html", "alerts.atom", "changes.html"] {
        assert!(project.join(page).is_file(), "{page}");
    }
    let index = read(&project.join("index.html"));
    let http = series_page(&index, "HttpRequests.check_request", "total");
    let page = read(&project.join("series").join(&http));
    assert!(
        page.contains("<span class=\"status regressed\">regressed</span>"),
        "{page}"
    );
    // The real step: 20 ms builds 1-10, 30 ms from build 11.
    assert!(
        page.contains("regression</span></td><td>duration</td>"),
        "{page}"
    );
    let control = series_page(&index, "Dummy.dummy", "total");
    assert!(!read(&project.join("series").join(control)).contains("status regression"));

    let regressed = read(&project.join("change/900001-1.html"));
    assert!(
        regressed.contains("regression in 2 of 5 series"),
        "{regressed}"
    );
    // Each regression leads with the sentence the review message has,
    // above its picture (drawn in the browser test below).
    assert!(
        regressed.contains("<p class=\"lead\">Slower: 46.8 ms against a usual 33.9 ms: +12.5 ms (+37 %), 12× how much builds usually vary (±1.1 ms).</p>"),
        "{regressed}"
    );
    assert_eq!(
        regressed
            .matches("<div class=\"chart strip-chart\"")
            .count(),
        2
    );
    assert!(regressed.contains("perfkitChangePage([{"), "{regressed}");
    let clean = read(&project.join("change/900002-1.html"));
    assert!(clean.contains("no regression in 5 series"), "{clean}");

    let feed = xml_is_well_formed(&project.join("alerts.atom"));
    let entries: usize = feed.lines().next().unwrap().parse().unwrap();
    assert!(entries >= 1, "{feed}");
    assert!(feed.contains("urn:uuid:"), "{feed}");
    assert!(feed.contains("HttpRequests.check_request"), "{feed}");
    let all = xml_is_well_formed(&out.join("alerts.atom"));
    assert_eq!(all.lines().next(), feed.lines().next());
}

#[test]
fn rebuilds_rewrite_only_what_changed_and_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let first = written(&site(&archive, &a));
    assert!(first > 50, "{first}");
    site(&archive, &b);
    let files = published(&a);
    assert_eq!(files, published(&b));
    for f in &files {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two builds of the same archive"
        );
    }
    assert_eq!(written(&site(&archive, &a)), 0, "nothing changed");

    // One more periodic build of the history job.
    let (code, _, err) = run(ingest_into(&archive)
        .args([
            "--project",
            "perfkit/demo",
            "--pipeline",
            "periodic",
            "--branch",
            "master",
        ])
        .args(["--job", "perfkit-demo-history", "--build", "extra-build-21"])
        .arg(fixture("rally/history/build-20.report.json")));
    assert_eq!(code, 0, "{err}");
    let stdout = site(&archive, &a);
    let again = written(&stdout);
    assert!(stdout.contains("53 branch builds"), "{stdout}");
    assert!(
        again > 0 && again < first / 2,
        "{again} of {first} rewritten"
    );
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert_same_as_fresh_build(&archive, &a, &dir.path().join("fresh-1"));

    // A build later than all: the last site build's state is extended.
    let mut report: serde_json::Value =
        serde_json::from_str(&read(&fixture("rally/history/build-20.report.json"))).unwrap();
    a_year_later(&mut report);
    let later = dir.path().join("later.report.json");
    std::fs::write(&later, report.to_string()).unwrap();
    let (code, _, err) = run(ingest_into(&archive)
        .args(["--project", "perfkit/demo", "--pipeline", "periodic"])
        .args(["--branch", "master", "--job", "perfkit-demo-history"])
        .args(["--build", "later-build-22"])
        .arg(&later));
    assert_eq!(code, 0, "{err}");
    let (stdout, log) = site_logged(&archive, &a);
    assert!(stdout.contains("54 branch builds"), "{stdout}");
    assert!(log.contains("1 new branch builds merged ("), "{log}");
    assert!(log.contains("; 0 of"), "{log}");
    assert_same_as_fresh_build(&archive, &a, &dir.path().join("fresh-2"));
    let (stdout, log) = site_logged(&archive, &a);
    assert!(log.contains("branch history unchanged; 0 of"), "{log}");
    assert_eq!(written(&stdout), 0, "{stdout}");

    // A new patchset, a recheck of it, and a branch build older than the
    // newest: only what they change is redone, with the same result as a
    // first build.
    for (build, extra, file, expect) in [
        (
            "check-3",
            vec![
                "--pipeline",
                "check",
                "--change",
                "900003",
                "--patchset",
                "1",
            ],
            fixture("rally/history/change-900002.report.json"),
            "branch history unchanged; 1 of",
        ),
        (
            "recheck-3",
            vec![
                "--pipeline",
                "check",
                "--change",
                "900003",
                "--patchset",
                "1",
            ],
            fixture("rally/history/change-900001.report.json"),
            "branch history unchanged; 1 of",
        ),
        (
            "backfilled-23",
            vec!["--pipeline", "periodic", "--branch", "master"],
            fixture("rally/history/build-05.report.json"),
            "1 new branch builds merged (",
        ),
    ] {
        let (code, _, err) = run(ingest_into(&archive)
            .args(["--project", "perfkit/demo", "--job", "perfkit-demo-history"])
            .args(["--build", build])
            .args(extra)
            .arg(file));
        assert_eq!(code, 0, "{err}");
        let (_, log) = site_logged(&archive, &a);
        assert!(log.contains(expect), "{build}: {log}");
        assert_same_as_fresh_build(&archive, &a, &dir.path().join(build));
    }

    // Without perfkit's state (memo, points, manifest) the site is the same.
    std::fs::remove_dir_all(dir.path().join("a.perfkit-state")).unwrap();
    assert_eq!(
        written(&site(&archive, &a)),
        0,
        "same bytes without the state"
    );
}

/// Moves a Rally report's times (epoch seconds) a year on.
fn a_year_later(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v.as_f64() {
                    Some(t) if key == "timestamp" || key == "start_time" => {
                        *v = serde_json::json!(t + 365.0 * 86400.0);
                    }
                    _ => a_year_later(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(a_year_later),
        _ => {}
    }
}

/// `perfkit -v site`: (stdout, stderr with the log).
fn site_logged(archive: &Path, out: &Path) -> (String, String) {
    let (code, stdout, stderr) = run(perfkit()
        .args(["-v", "site", "--archive"])
        .arg(archive)
        .arg("--out")
        .arg(out));
    assert_eq!(code, 0, "{stdout}{stderr}");
    (stdout, stderr)
}

/// The site in `out` holds exactly the files, byte for byte, of a first
/// build of `archive` into `fresh`.
fn assert_same_as_fresh_build(archive: &Path, out: &Path, fresh: &Path) {
    site(archive, fresh);
    let files = published(out);
    assert_eq!(files, published(fresh));
    for f in &files {
        assert!(
            std::fs::read(out.join(f)).unwrap() == std::fs::read(fresh.join(f)).unwrap(),
            "{f} differs from a first build of the same archive"
        );
    }
}

/// A real report whose names carry markup, ingested with hostile Zuul
/// metadata: nothing may reach a page unescaped or run in the browser.
fn hostile_archive(dir: &Path) -> PathBuf {
    let mut report: serde_json::Value =
        serde_json::from_str(&read(&fixture("rally/dev-success.report.json"))).unwrap();
    let subtask = &mut report["tasks"][0]["subtasks"][0];
    subtask["title"] = "<script>alert('title')</script>".into();
    for iteration in subtask["workloads"][0]["data"].as_array_mut().unwrap() {
        iteration["atomic_actions"][0]["name"] = "\"><img src=x onerror=alert('action')>".into();
    }
    let file = dir.join("hostile.report.json");
    std::fs::write(&file, serde_json::to_vec(&report).unwrap()).unwrap();
    let archive = dir.join("archive");
    for (build, extra) in [
        ("h1", vec!["--pipeline", "periodic"]),
        ("h2", vec!["--pipeline", "periodic"]),
        (
            "h3",
            vec!["--pipeline", "check", "--change", "77", "--patchset", "1"],
        ),
    ] {
        let (code, _, err) = run(ingest_into(&archive)
            .args(["--project", "evil/project", "--build", build])
            .args(["--job", "<script>alert('job')</script>"])
            .args(["--branch", "\"><img src=x onerror=alert('branch')>"])
            .args(["--log-url", "javascript:alert('log')"])
            .args(extra)
            .arg(&file));
        assert_eq!(code, 0, "{err}");
    }
    archive
}

#[test]
fn hostile_names_are_escaped_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let archive = hostile_archive(dir.path());
    let out = dir.path().join("site");
    site(&archive, &out);
    let mut pages = 0;
    for file in published(&out) {
        let text = read(&out.join(&file));
        for raw in ["<script>alert", "<img src=x", "javascript:alert"] {
            assert!(!text.contains(raw), "{file} contains `{raw}` unescaped");
        }
        if file.ends_with(".html") && file.contains("evil~project") {
            pages += 1;
        }
    }
    assert!(pages >= 5, "{pages}");
    let index = read(&out.join("evil~project/index.html"));
    assert!(index.contains("&lt;script&gt;alert("), "{index}");
    assert!(
        index.contains("&quot;&gt;&lt;img src=x onerror=alert("),
        "{index}"
    );
    xml_is_well_formed(&out.join("evil~project/alerts.atom"));

    let Some(browser) = browser() else { return };
    let series: Vec<String> = tree(&out.join("evil~project/series"))
        .into_iter()
        .map(|f| {
            format!(
                "file://{}",
                out.join("evil~project/series").join(f).display()
            )
        })
        .collect();
    let mut urls = vec![
        format!("file://{}", out.join("evil~project/index.html").display()),
        format!(
            "file://{}",
            out.join("evil~project/change/77-1.html").display()
        ),
    ];
    urls.extend(series);
    let report = browser.browse(&urls, &dir.path().join("shots"));
    for page in report["pages"].as_array().unwrap() {
        assert_eq!(page["dialogs"], serde_json::json!([]), "{page}");
        assert_eq!(page["console_errors"], serde_json::json!([]), "{page}");
        assert_eq!(page["page_errors"], serde_json::json!([]), "{page}");
        assert_eq!(page["ready"], true, "{page}");
    }
}

/// Where site tests keep their screenshots (test artefacts).
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_page_works_in_a_real_browser() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let out = dir.path().join("site");
    site(&archive, &out);
    let index = read(&out.join("perfkit~demo/index.html"));
    let http = series_page(&index, "HttpRequests.check_request", "total");
    let nested = series_page(&index, "Dummy.dummy", "foo &gt; bar");
    let pages = [
        "index.html".to_string(),
        "alerts.html".into(),
        "perfkit~demo/index.html".into(),
        "perfkit~demo/alerts.html".into(),
        "perfkit~demo/changes.html".into(),
        "perfkit~demo/change/900001-1.html".into(),
        format!("perfkit~demo/series/{http}"),
        format!("perfkit~demo/series/{nested}"),
    ];
    let (base, _server) = serve_dir(&out);
    for (scheme, root) in [
        ("file", format!("file://{}/", out.display())),
        ("http", base),
    ] {
        let urls: Vec<String> = pages.iter().map(|p| format!("{root}{p}")).collect();
        let report = browser.browse(&urls, &screenshot_dir().join(scheme));
        let pages = report["pages"].as_array().unwrap();
        assert_eq!(pages.len(), urls.len());
        for page in pages {
            let url = page["url"].as_str().unwrap();
            assert_eq!(page["error"], serde_json::Value::Null, "{page}");
            assert_eq!(page["ready"], true, "{url}");
            assert_eq!(
                page["console_errors"],
                serde_json::json!([]),
                "{url}: {page}"
            );
            assert_eq!(page["page_errors"], serde_json::json!([]), "{url}");
            assert_eq!(page["failed_requests"], serde_json::json!([]), "{url}");
            assert_eq!(page["a11y"], serde_json::json!([]), "{url}");
            for link in page["links"].as_array().unwrap() {
                assert_ne!(link["ok"], false, "{url}: broken link {link}");
            }
            assert!(Path::new(page["screenshot"].as_str().unwrap()).is_file());
        }
        // The HttpRequests series: 20 branch builds in each chart.
        let charts = &pages[6]["charts"];
        let points: Vec<(String, u64)> = charts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["points"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            points,
            [
                ("chart-duration".to_string(), 20),
                ("chart-failures".to_string(), 20),
                ("chart-throughput".to_string(), 20)
            ],
            "{charts}"
        );
        // Pages without charts say so.
        assert_eq!(pages[2]["charts"], serde_json::json!([]));
        // The slower patchset: a strip plot per regression, the 10 baseline
        // builds since the branch's step beside the patchset's one build,
        // 20 iterations each.
        let change = &pages[5];
        let strips: Vec<serde_json::Value> = change["charts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!([c["id"], c["builds"], c["baseline"], c["new"], c["points"]])
            })
            .collect();
        assert_eq!(
            strips,
            [
                serde_json::json!(["strip-0", 11, 10, 1, 220]),
                serde_json::json!(["strip-1", 11, 10, 1, 220])
            ],
            "{change}"
        );
        for id in ["strip-0", "strip-1"] {
            let canvas = change["canvases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["chart"] == id)
                .unwrap_or_else(|| panic!("no canvas drawn in {id}: {change}"));
            assert!(canvas["width"].as_u64().unwrap() >= 320, "{canvas}");
            assert!(canvas["height"].as_u64().unwrap() > 100, "{canvas}");
            assert!(
                canvas["label"]
                    .as_str()
                    .unwrap()
                    .starts_with("Strip plot: 10 baseline builds (medians "),
                "{canvas}"
            );
        }
    }
}

#[test]
fn bad_flags_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = demo_archive(dir.path());
    let out = dir.path().join("out");
    let (code, _, err) = run(perfkit()
        .args(["site", "--archive"])
        .arg(&archive)
        .arg("--out")
        .arg(&out)
        .args(["--base-url", "javascript:alert(1)"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not an http(s) URL") && err.contains("hint: "),
        "{err}"
    );
    assert!(!out.exists(), "a refused flag created {}", out.display());
}
