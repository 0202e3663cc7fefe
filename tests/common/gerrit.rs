//! A test Gerrit (`tests/tools/gerrit_server.py`, Python standard
//! library) speaking Gerrit's REST protocol, for `perfkit review` and
//! `perfkit review --suspects`: started with changes and accounts, it
//! records every request it gets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::perfkit;

pub const USER: &str = "perfkit-bot";
/// Distinctive, so a leak anywhere in the output is found.
pub const PASSWORD: &str = "Pw-7hX2-never-shown";
/// `_account_id`s on the test Gerrit: the perfkit account (its first) and
/// the owner of every change.
pub const BOT_ID: u64 = 1000001;
pub const OWNER_ID: u64 = 1000000;
/// How long perfkit looks for a POST that got no answer, in these tests.
pub const CONFIRM_SECONDS: &str = "0.3";

/// A running test Gerrit; killed when dropped.
pub struct Gerrit {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
}

impl Gerrit {
    /// A Gerrit with `changes` (ids `<project>~<number>`, patchset counts
    /// and statuses) and the perfkit account, which may vote Verified ±1.
    pub fn start(dir: &Path, changes: &[(&str, u32, &str)]) -> Option<Gerrit> {
        Gerrit::start_with_messages(dir, changes, Vec::new())
    }

    /// As [`Gerrit::start`], the first change already carrying `messages`
    /// (ChangeMessageInfo).
    pub fn start_with_messages(
        dir: &Path,
        changes: &[(&str, u32, &str)],
        messages: Vec<Value>,
    ) -> Option<Gerrit> {
        let mut changes: Vec<Value> = changes
            .iter()
            .map(|(id, patch_sets, status)| {
                let (project, number) = id.rsplit_once('~').unwrap();
                json!({"project": project, "number": number.parse::<u64>().unwrap(),
                       "patch_sets": patch_sets, "status": status})
            })
            .collect();
        changes[0]["messages"] = json!(messages);
        Gerrit::start_with(
            dir,
            json!({
                "accounts": {
                    USER: {"password": PASSWORD, "labels": {"Verified": [-1, 1]}},
                    "reader": {"password": "reader-pw", "can_review": false}
                },
                "labels": ["Verified", "Code-Review"],
                "changes": changes
            }),
        )
    }

    pub fn start_with(dir: &Path, state: Value) -> Option<Gerrit> {
        let dir = dir.join("gerrit");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/gerrit_server.py");
        let spawned = Command::new("python3")
            .arg(script)
            .arg("--state")
            .arg(dir.join("state.json"))
            .arg("--log")
            .arg(dir.join("log.json"))
            .arg("--control")
            .arg(dir.join("control.json"))
            .arg("--dump")
            .arg(dir.join("dump.json"))
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
                    panic!("python3 does not run: {e}");
                }
                eprintln!("skipped: python3 does not run ({e})");
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the test Gerrit printed {line:?}, not its port"));
        Some(Gerrit {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        })
    }

    /// Every request the server received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("log.json")).unwrap();
        serde_json::from_str::<Vec<Value>>(&text).unwrap()
    }

    pub fn posts(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["method"] == "POST")
            .collect()
    }

    /// The ReviewInput of every accepted POST.
    pub fn accepted_reviews(&self) -> Vec<Value> {
        self.posts()
            .iter()
            .filter(|r| r["status"] == 200)
            .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
            .collect()
    }

    /// A change's messages as the server stores them.
    pub fn messages(&self, id: &str) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("dump.json")) else {
            return Vec::new();
        };
        let dump: Value = serde_json::from_str(&text).unwrap();
        dump[id]["messages"].as_array().cloned().unwrap_or_default()
    }

    pub fn control(&self, knobs: Value) {
        std::fs::write(self.dir.join("control.json"), knobs.to_string()).unwrap();
    }

    /// `perfkit review` of `change` patchset `patchset` of `project`, with
    /// the account's credentials in the environment and a HOME without
    /// a `.netrc`.
    pub fn review(&self, archive: &Path, project: &str, change: u64, patchset: u32) -> Command {
        let mut cmd = self.review_without_credentials(archive, project, change, patchset);
        cmd.env("PERFKIT_GERRIT_USER", USER)
            .env("PERFKIT_GERRIT_PASSWORD", PASSWORD);
        cmd
    }

    pub fn review_without_credentials(
        &self,
        archive: &Path,
        project: &str,
        change: u64,
        patchset: u32,
    ) -> Command {
        let home = self.dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = perfkit();
        for var in [
            "PERFKIT_GERRIT_USER",
            "PERFKIT_GERRIT_PASSWORD",
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
        cmd.env("HOME", &home)
            .env("PERFKIT_GERRIT_CONFIRM_SECONDS", CONFIRM_SECONDS)
            .arg("review")
            .arg("--gerrit")
            .arg(&self.url)
            .arg("--archive")
            .arg(archive)
            .args(["--project", project])
            .args(["--change", &change.to_string()])
            .args(["--patchset", &patchset.to_string()]);
        cmd
    }
}

impl Gerrit {
    /// `perfkit review --suspects` of `project` with the account's credentials.
    pub fn review_suspects(&self, archive: &Path, project: &str) -> Command {
        let home = self.dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = perfkit();
        for var in [
            "PERFKIT_GERRIT_CREDENTIALS",
            "NETRC",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .env("PERFKIT_GERRIT_USER", USER)
            .env("PERFKIT_GERRIT_PASSWORD", PASSWORD)
            .env("PERFKIT_GERRIT_CONFIRM_SECONDS", CONFIRM_SECONDS)
            .arg("review")
            .arg("--suspects")
            .arg("--gerrit")
            .arg(&self.url)
            .arg("--archive")
            .arg(archive)
            .args(["--project", project]);
        cmd
    }
}

impl Drop for Gerrit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
