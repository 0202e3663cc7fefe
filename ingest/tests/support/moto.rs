//! Test support: a throwaway moto S3 server on 127.0.0.1, started from
//! `$PERFKIT_TOOLS_BIN/moto_server` and killed when the guard drops.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tools venv's bin dir, or `None` (with the reason printed) when the
/// test should be skipped. Panics when `PERFKIT_REQUIRE_TOOLS=1`.
pub fn tools_bin(test: &str) -> Option<PathBuf> {
    match std::env::var_os("PERFKIT_TOOLS_BIN") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{test}: PERFKIT_TOOLS_BIN is unset but PERFKIT_REQUIRE_TOOLS=1")
        }
        _ => {
            eprintln!(
                "skipping {test}: PERFKIT_TOOLS_BIN is unset (the tools venv bin dir with moto_server)"
            );
            None
        }
    }
}

/// A running moto server; killed on drop.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it answers.
    pub fn start(bin: &std::path::Path, log_dir: &std::path::Path) -> Moto {
        let exe = bin.join("moto_server");
        assert!(exe.exists(), "{} does not exist", exe.display());
        let mut last_log = String::new();
        // The free port can be taken between probing and binding: try again.
        for attempt in 0..3 {
            let port = free_port();
            let log = log_dir.join(format!("moto-{port}.log"));
            let out = std::fs::File::create(&log).expect("moto log file");
            let child = Command::new(&exe)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup log"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut moto = Moto {
                child: Some(child),
                port,
                log,
            };
            if moto.wait_ready(Duration::from_secs(60)) {
                return moto;
            }
            last_log = std::fs::read_to_string(&moto.log).unwrap_or_default();
            moto.kill();
            eprintln!("moto did not come up on port {port} (attempt {attempt}): {last_log}");
        }
        panic!("moto_server did not start; last log:\n{last_log}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a plain `PUT /<bucket>` (moto accepts it unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }

    /// Stops the server now (for "server down" tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.request("GET", "/").0 == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// One HTTP/1.1 request without body; returns status and body text.
    fn request(&self, method: &str, target: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    free_port()
}
