//! Test support: a throwaway moto S3 server on 127.0.0.1, started from
//! `$PERFKIT_TOOLS_BIN/moto_server` and killed when the guard drops.

use std::path::PathBuf;

#[path = "local_server.rs"]
pub mod local_server;

use local_server::LocalServer;

/// The tools venv's bin dir, or `None` (with the reason printed) when the
/// test should be skipped. Panics when `PERFKIT_REQUIRE_TOOLS=1`.
pub fn tools_bin(test: &str) -> Option<PathBuf> {
    local_server::tool_from_env(
        "PERFKIT_TOOLS_BIN",
        &format!("{test} (needs the tools venv bin dir with moto_server)"),
    )
}

/// A running moto server; killed on drop.
pub struct Moto {
    server: LocalServer,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it answers.
    pub fn start(bin: &std::path::Path, log_dir: &std::path::Path) -> Moto {
        let server = LocalServer::start(
            "moto",
            &bin.join("moto_server"),
            |port| {
                vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ]
            },
            |port| local_server::http_request(port, "GET", "/").0 == 200,
            log_dir,
        );
        Moto { server }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Creates a bucket with a plain `PUT /<bucket>` (moto accepts it unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) =
            local_server::http_request(self.server.port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }

    /// Stops the server now (for "server down" tests).
    pub fn kill(&mut self) {
        self.server.kill();
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    local_server::free_port()
}
