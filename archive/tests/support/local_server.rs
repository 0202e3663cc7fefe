//! Test support: a throwaway server process on 127.0.0.1 (moto, Azurite),
//! started on a free port, its output in a log file, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path in the environment variable `var`, or `None` (with the reason
/// printed) when what needs it (`what`) should be skipped. Panics when
/// `PERFKIT_REQUIRE_TOOLS=1`: CI never skips.
pub fn tool_from_env(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{var} is not set but PERFKIT_REQUIRE_TOOLS=1 ({what})")
        }
        _ => {
            eprintln!("skipping {what}: {var} is not set");
            None
        }
    }
}

/// A running server; killed on drop.
pub struct LocalServer {
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
}

impl LocalServer {
    /// Starts `exe` with `args(port)` on a free port, its output in
    /// `log_dir/<name>-<port>.log`, and waits up to a minute until
    /// `ready(port)` holds. A port can be taken between probing and
    /// binding, so three ports are tried.
    pub fn start(
        name: &str,
        exe: &Path,
        args: impl Fn(u16) -> Vec<String>,
        ready: impl Fn(u16) -> bool,
        log_dir: &Path,
    ) -> LocalServer {
        assert!(exe.exists(), "{} does not exist", exe.display());
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let log = log_dir.join(format!("{name}-{port}.log"));
            let out = std::fs::File::create(&log).expect("server log file");
            let child = Command::new(exe)
                .args(args(port))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup log"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut server = LocalServer {
                child: Some(child),
                port,
                log,
            };
            if server.wait_ready(Duration::from_secs(60), &ready) {
                return server;
            }
            last_log = std::fs::read_to_string(&server.log).unwrap_or_default();
            server.kill();
            eprintln!("{name} did not come up on port {port} (attempt {attempt}): {last_log}");
        }
        panic!("{name} did not start; last log:\n{last_log}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (for "server down" tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, within: Duration, ready: &impl Fn(u16) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if ready(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request without body; returns status and body text
/// (status 0 when nothing answers).
pub fn http_request(port: u16, method: &str, target: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A port on 127.0.0.1 that nothing listens on now (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
