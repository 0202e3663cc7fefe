//! Checks the harness the site tests stand on: the loopback file server
//! answers like a web server, and browse.py reports what a real Chromium
//! saw on a page (errors, broken links, charts, readiness, a11y problems).
//! The site itself is tested elsewhere.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::{Value, json};

/// Sends one raw request line and returns (status code, head, body).
fn request(base: &str, request_line: &str) -> (u16, String, Vec<u8>) {
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = TcpStream::connect(addr).expect("server accepts");
    write!(stream, "{request_line}\r\nHost: test\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn serve_dir_answers_like_a_static_web_server() {
    let site = tempfile::tempdir().unwrap();
    write(site.path(), "index.html", "<p>home");
    write(site.path(), "runs/index.html", "<p>runs");
    write(site.path(), "data/series.js", "var s = 1;");
    write(site.path(), "style.css", "p {}");
    write(site.path(), "chart.svg", "<svg/>");
    write(site.path(), "feed.xml", "<feed/>");
    write(site.path(), "a b.json", "{}");
    std::fs::create_dir(site.path().join("empty")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", "secret");
    std::os::unix::fs::symlink(outside.path(), site.path().join("escape")).unwrap();

    let (base, guard) = common::serve_dir(site.path());
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with('/'));

    let content_types = [
        ("/", "text/html; charset=utf-8", "<p>home"),
        ("/runs/", "text/html; charset=utf-8", "<p>runs"),
        (
            "/data/series.js?v=2",
            "text/javascript; charset=utf-8",
            "var s = 1;",
        ),
        ("/style.css", "text/css; charset=utf-8", "p {}"),
        ("/chart.svg", "image/svg+xml", "<svg/>"),
        ("/feed.xml", "application/xml", "<feed/>"),
        ("/a%20b.json", "application/json", "{}"),
    ];
    for (path, content_type, body) in content_types {
        let (status, head, got) = request(&base, &format!("GET {path} HTTP/1.1"));
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains(&format!("Content-Type: {content_type}\r\n")),
            "{path}: {head}"
        );
        assert_eq!(String::from_utf8(got).unwrap(), body, "{path}");
    }

    let (status, head, body) = request(&base, "HEAD /style.css HTTP/1.1");
    assert_eq!((status, body.len()), (200, 0));
    assert!(head.contains("Content-Length: 4\r\n"), "{head}");

    let (status, head, _) = request(&base, "GET /runs HTTP/1.1");
    assert_eq!(status, 301);
    assert!(head.contains("Location: /runs/\r\n"), "{head}");

    for (request_line, expected) in [
        ("GET /missing.html HTTP/1.1", 404),
        ("GET /empty/ HTTP/1.1", 404),
        ("GET /../../etc/passwd HTTP/1.1", 403),
        ("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1", 403),
        ("GET /escape/secret.txt HTTP/1.1", 403),
        ("GET /%zz HTTP/1.1", 400),
        ("POST /index.html HTTP/1.1", 405),
    ] {
        assert_eq!(request(&base, request_line).0, expected, "{request_line}");
    }

    drop(guard);
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        TcpStream::connect(addr).is_err(),
        "the server stops with its guard"
    );
}

const HOME: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Home</title></head>
<body><h1 id="top">Home</h1>
<a href="chart.html">Chart</a> <a href="runs/">Runs</a> <a href="missing.html">Broken</a>
<a href="#top">Top</a> <a href="#nowhere">Nowhere</a> <a href="https://opendev.org/">External</a>
<img src="logo.png">
<script>console.error("boom"); window.perfkitReady = true;</script>
</body></html>"##;

const CHART: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chart</title></head>
<body><canvas id="c" width="200" height="100" role="img" aria-label="durations"></canvas>
<script>
setTimeout(() => {
  const ctx = document.getElementById('c').getContext('2d');
  ctx.fillRect(10, 10, 50, 50);
  window.perfkitCharts = [{id: "c", points: 3, series: 1}];
  window.perfkitReady = true;
}, 50);
</script></body></html>"#;

const NEVER_READY: &str = r#"<!doctype html>
<html><head><title>Runs</title></head><body><p>runs</p>
<script>notDefined();</script></body></html>"#;

fn link<'a>(page: &'a Value, suffix: &str) -> &'a Value {
    page["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["href"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no link ending in {suffix}: {page:#}"))
}

fn assert_reports(pages: &[Value], over_http: bool) {
    let [home, chart, runs] = pages else {
        panic!("three pages: {pages:#?}")
    };
    assert_eq!(home["title"], "Home");
    assert_eq!(home["ready"], true);
    assert_eq!(
        home["status"],
        if over_http { json!(200) } else { Value::Null }
    );
    assert!(
        home["console_errors"]
            .as_array()
            .unwrap()
            .contains(&json!("boom")),
        "{home:#}"
    );
    assert!(
        home["failed_requests"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/logo.png"),
        "{home:#}"
    );
    assert_eq!(link(home, "/chart.html")["ok"], true);
    assert_eq!(link(home, "/runs/")["ok"], true);
    assert_eq!(link(home, "/missing.html")["ok"], false);
    assert_eq!(link(home, "#top")["ok"], true);
    assert_eq!(link(home, "#nowhere")["ok"], false);
    assert_eq!(link(home, "opendev.org/")["ok"], Value::Null);
    assert_eq!(
        home["a11y"],
        json!([r#"img without alt: img[src="logo.png"]"#])
    );

    assert_eq!(chart["ready"], true);
    assert_eq!(
        chart["charts"],
        json!([{"id": "c", "points": 3, "series": 1}])
    );
    assert_eq!(
        chart["canvases"],
        json!([{"chart": "c", "width": 200, "height": 100, "role": "img", "label": "durations"}])
    );
    assert_eq!(home["canvases"], json!([]));
    assert_eq!(chart["console_errors"], json!([]));
    assert_eq!(chart["a11y"], json!([]));
    assert!(chart["paint"]["first_contentful_paint_ms"].is_number());
    let shot = chart["screenshot"].as_str().unwrap();
    assert!(std::fs::read(shot).unwrap().starts_with(b"\x89PNG"));

    assert_eq!(runs["ready"], false);
    assert_eq!(
        runs["page_errors"],
        json!(["ReferenceError: notDefined is not defined"])
    );
    assert_eq!(runs["a11y"], json!(["<html> has no lang"]));
}

#[test]
fn browse_reports_what_chromium_saw_over_file_and_http() {
    let Some(mut browser) = common::browser() else {
        return;
    };
    browser.timeout_ms = 3_000; // runs/ never gets ready
    let site = tempfile::tempdir().unwrap();
    write(site.path(), "index.html", HOME);
    write(site.path(), "chart.html", CHART);
    write(site.path(), "runs/index.html", NEVER_READY);
    let (base, _server) = common::serve_dir(site.path());
    let file_base = format!("file://{}/", site.path().display());
    let urls: Vec<String> = [&file_base, &base]
        .iter()
        .flat_map(|b| ["index.html", "chart.html", "runs/"].map(|p| format!("{b}{p}")))
        .collect();
    let shots = tempfile::tempdir().unwrap();

    let report = browser.browse(&urls, shots.path());

    let pages = report["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 6);
    assert_reports(&pages[..3], false);
    assert_reports(&pages[3..], true);
}
