//! A loopback static file server for the site tests: serves one directory
//! over HTTP the way a plain web server would (GET/HEAD, index.html for
//! directories, Content-Type by extension), so pages can be opened with
//! http:// URLs as well as file:// ones. Only tests use it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bounds a request head so a stuck or hostile client cannot hold a thread.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `dir` on `http://127.0.0.1:<free port>/` until the guard is dropped.
pub fn serve_dir(dir: &Path) -> (String, ServerGuard) {
    let root = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot serve {}: {e}", dir.display()));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("listener address");
    let stop = Arc::new(AtomicBool::new(false));
    let accept_stop = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if accept_stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                // A client that goes away mid-answer is not the server's problem.
                let _ = answer(stream, &root);
            });
        }
    });
    let guard = ServerGuard {
        addr,
        stop,
        thread: Some(thread),
    };
    (format!("http://{addr}/"), guard)
}

/// Stops the server started by [`serve_dir`] when dropped.
pub struct ServerGuard {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; one connection wakes it up to see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request, one response, then the connection closes.
fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers; nothing in them changes the answer.
    let mut head_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" || head_bytes > MAX_HEAD_BYTES {
            break;
        }
    }
    let response = respond(&request_line, root);
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len(),
        response
            .location
            .map(|l| format!("Location: {l}\r\n"))
            .unwrap_or_default(),
    );
    out.write_all(head.as_bytes())?;
    if !request_line.starts_with("HEAD ") {
        out.write_all(&response.body)?;
    }
    out.flush()
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    location: Option<String>,
    body: Vec<u8>,
}

fn plain(status: &'static str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        location: None,
        body: format!("{status}\n").into_bytes(),
    }
}

fn respond(request_line: &str, root: &Path) -> Response {
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return plain("400 Bad Request");
    };
    if method != "GET" && method != "HEAD" {
        return plain("405 Method Not Allowed");
    }
    let url_path = target.split(['?', '#']).next().unwrap_or("/");
    let Some(rel) = decode_path(url_path) else {
        return plain("400 Bad Request");
    };
    let Some(mut file) = resolve(root, &rel) else {
        return plain("403 Forbidden");
    };
    if file.is_dir() {
        // Relative links in a directory's index.html resolve against `dir/`.
        if !url_path.ends_with('/') {
            return Response {
                location: Some(format!("{url_path}/")),
                ..plain("301 Moved Permanently")
            };
        }
        file.push("index.html");
    }
    match std::fs::read(&file) {
        Ok(body) if file.is_file() => Response {
            status: "200 OK",
            content_type: content_type(&file),
            location: None,
            body,
        },
        _ => plain("404 Not Found"),
    }
}

/// `root` joined with the URL path, or `None` when the path would leave
/// `root` (`..` segments, or a symlink pointing outside).
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let path = root.join(rel);
    match path.canonicalize() {
        Ok(real) if !real.starts_with(root) => None,
        _ => Some(path),
    }
}

/// Percent-decodes a URL path; `None` for malformed escapes, non-UTF-8,
/// NUL or backslashes (which some platforms treat as separators).
fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (!decoded.contains(['\0', '\\'])).then_some(decoded)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
