//! End-to-end runs of `perfkit scaffold` in temporary git repositories that
//! hold real OpenStack Zuul configs (tests/fixtures/openstack) or none, one
//! per layout Zuul knows (`zuul.yaml`, `zuul.d/`, `.zuul.yaml`, `.zuul.d/`)
//! plus no config: what is written, that nothing else changes, that a second
//! run changes nothing, `--dry-run`, `--force`, errors. With
//! `PERFKIT_ZUUL_PYTHON` the result goes through Zuul's own config parser
//! (tests/tools/validate-zuul-config.py); with `PERFKIT_TOOLS_BIN` every
//! scaffolded playbook through `ansible-playbook --syntax-check` and stubbed
//! runs. `--with-locust`, `--with-fio` and `--with-fio --rbd` get the same
//! checks, plus real runs of their jobs on localhost: the tools venv's
//! Locust against a stand-in Keystone, Debian's fio (on PATH); the RBD job
//! file goes through that fio's rbd engine options, and its playbook runs
//! with a stand-in `rbd` (and against a real Ceph when `PERFKIT_CEPH_CONF`
//! names one). Without the tools those checks are skipped (and fail with
//! `PERFKIT_REQUIRE_TOOLS=1`, except the real Ceph).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
#[path = "../archive/tests/support/moto.rs"]
#[allow(dead_code)] // the S3 suite's helpers this file does not need
mod moto;

use moto::local_server::tool_from_env as tool;

const PLAYBOOK: &str = "playbooks/perfkit/post-rally-task.yaml";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(rel)
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh git repo with `origin` pointing at `remote`, holding copies of
/// fixture paths (`(from, to)`, directories copied recursively).
fn repo(remote: Option<&str>, copies: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    if let Some(url) = remote {
        git(dir.path(), &["remote", "add", "origin", url]);
    }
    for (from, to) in copies {
        copy(&fixture(from), &dir.path().join(to));
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// Every file under `root` except `.git/`, with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn perfkit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perfkit"))
        .arg("scaffold")
        .args(args)
        .current_dir(dir)
        .env_remove("PERFKIT_ARCHIVE")
        .output()
        .expect("perfkit runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Exit 2, `error:` then `hint:` on stderr, and the repo left as it was.
fn fails(dir: &Path, args: &[&str], error_has: &str) -> String {
    let before = tree(dir);
    let o = perfkit(dir, args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(&o)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(error_has),
        "{err}"
    );
    assert!(lines.iter().any(|l| l.starts_with("hint: ")), "{err}");
    assert_eq!(tree(dir), before, "a failed scaffold changed the repo");
    err
}

/// The removed lines are none and the kept lines are the original bytes.
fn only_insertions(original: &[u8], now: &[u8]) {
    let (a, b) = (
        String::from_utf8_lossy(original),
        String::from_utf8_lossy(now),
    );
    let diff = similar_lines(&a, &b);
    assert_eq!(
        diff, a,
        "removing perfkit's lines must give back the original"
    );
}

/// Longest-common-subsequence over lines, done here (not with perfkit's
/// own diff) so the check is independent: keeps the lines of `new` that
/// match `old` in order and returns them.
fn similar_lines(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut kept) = (0, 0, String::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            kept.push_str(a[i]);
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    kept
}

/// Zuul's own parser on the repo root; `strict` also fails on warnings
/// (off only where the test itself sets up a second, ignored config root).
fn validate_zuul(root: &Path, layout: &str, strict: bool) {
    let Some(python) = tool("PERFKIT_ZUUL_PYTHON", "the Zuul config validator") else {
        return;
    };
    let out = Command::new(python)
        .arg(workspace().join("tests/tools/validate-zuul-config.py"))
        .args(strict.then_some("--strict"))
        .arg(root)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "Zuul validator refused the {layout} result:\n{text}"
    );
    eprintln!(
        "zuul validator ({layout}): {}",
        text.lines().last().unwrap_or("")
    );
}

fn ansible(bin: &Path, args: &[&str], extra_env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(bin.join("ansible-playbook"));
    cmd.args(["-i"])
        .arg(fixture("ansible/inventory"))
        .env(
            "ANSIBLE_LIBRARY",
            workspace().join("tests/tools/ansible-lint-stubs"),
        )
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", std::env::temp_dir())
        .args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A roles directory with a do-nothing `orchestrate-devstack` (the role
/// devstack's repo gives Zuul jobs; run-locust.yaml deploys devstack with it).
fn stub_roles(dir: &Path) -> PathBuf {
    let roles = dir.join("roles");
    let tasks = roles.join("orchestrate-devstack/tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("main.yaml"),
        "- name: Stand in for devstack's orchestrate-devstack\n  ansible.builtin.debug:\n    msg: devstack would be deployed here\n",
    )
    .unwrap();
    roles
}

/// `ansible-playbook --syntax-check` on every playbook perfkit wrote under
/// playbooks/perfkit/ (their imported tasks files included).
fn syntax_check(root: &Path, layout: &str) {
    let Some(bin) = tool("PERFKIT_TOOLS_BIN", "ansible-playbook --syntax-check") else {
        return;
    };
    let vars = format!("@{}", fixture("zuul-vars/change.yaml").display());
    let stubs = tempfile::tempdir().unwrap();
    let roles = stub_roles(stubs.path());
    let mut playbooks: Vec<PathBuf> = std::fs::read_dir(root.join("playbooks/perfkit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    playbooks.sort();
    assert!(playbooks.contains(&root.join(PLAYBOOK)), "{playbooks:?}");
    for playbook in &playbooks {
        let out = ansible(
            &bin,
            &["-e", &vars, "--syntax-check", playbook.to_str().unwrap()],
            &[("ANSIBLE_ROLES_PATH", &roles)],
        );
        assert!(
            out.status.success(),
            "syntax check of {} ({layout}):\n{}{}",
            playbook.display(),
            stdout(&out),
            stderr(&out)
        );
    }
    eprintln!(
        "ansible-playbook --syntax-check ({layout}): {} playbooks ok",
        playbooks.len()
    );
}

/// neutron as it is: a `zuul.d/` layout and an opendev remote.
fn neutron_checkout() -> tempfile::TempDir {
    repo(
        Some("https://opendev.org/openstack/neutron"),
        &[("openstack/neutron", ".")],
    )
}

/// mistral's config as `zuul.yaml`, shadowed by a `.zuul.yaml` (zaqar's)
/// that Zuul reads first; no remote.
fn shadowed_zuul_yaml_checkout() -> tempfile::TempDir {
    repo(
        None,
        &[
            ("openstack/mistral/.zuul.yaml", "zuul.yaml"),
            ("openstack/zaqar/.zuul.yaml", ".zuul.yaml"),
        ],
    )
}

/// What one layout run must show: created files, the others untouched,
/// Zuul and Ansible happy, and a second run that changes nothing.
fn scaffold_layout(dir: &Path, args: &[&str], layout: &str, config: &str, strict: bool) -> String {
    let before = tree(dir);
    let out = ok(&perfkit(dir, args));
    let after = tree(dir);
    for (path, bytes) in &before {
        if path == config {
            only_insertions(bytes, &after[path]);
        } else {
            assert_eq!(&after[path], bytes, "{path} changed");
        }
    }
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(
        after.keys().any(|p| p.starts_with("rally-jobs/task-")),
        "{added:?}"
    );
    assert!(after.contains_key(PLAYBOOK));
    assert!(after.contains_key("playbooks/perfkit/README.rst"));
    assert!(after.contains_key(config), "{config} missing: {added:?}");
    assert!(
        out.contains(&format!("{config} ")) || out.contains(&format!("{config}\n")),
        "{out}"
    );
    for p in &added {
        assert!(
            out.contains(&format!("created      {p}")),
            "{p} not reported:\n{out}"
        );
    }
    assert!(
        out.contains("next steps:") && out.contains("git review"),
        "{out}"
    );

    validate_zuul(dir, layout, strict);
    syntax_check(dir, layout);

    let again = ok(&perfkit(dir, args));
    assert_eq!(tree(dir), after, "second run changed files");
    assert!(again.contains("nothing to do"), "{again}");
    assert!(
        !again.contains("created") && !again.contains("updated"),
        "{again}"
    );
    out
}

#[test]
fn zuul_d_layout_gets_its_own_file() {
    let dir = neutron_checkout();
    let out = scaffold_layout(
        dir.path(),
        &[],
        "zuul.d/ (neutron)",
        "zuul.d/perfkit-rally.yaml",
        true,
    );
    assert!(
        out.contains("project openstack/neutron taken from remote `origin`"),
        "{out}"
    );
    // neutron already has its own task file: kept as it is, and the job runs it.
    assert!(
        out.contains("kept         rally-jobs/task-neutron.yaml (differs"),
        "{out}"
    );
    let text = std::fs::read_to_string(dir.path().join("zuul.d/perfkit-rally.yaml")).unwrap();
    assert!(text.contains("    name: neutron-rally-task\n"), "{text}");
    assert!(text.contains("    post-run:\n      - playbooks/perfkit/post-rally-task.yaml\n"));
    assert!(text.contains("      rally_task: rally-jobs/task-neutron.yaml\n"));
}

#[test]
fn dot_zuul_yaml_layout_is_edited_in_place() {
    let dir = repo(
        Some("ssh://jdoe@review.opendev.org:29418/openstack/nova.git"),
        &[("openstack/nova/.zuul.yaml", ".zuul.yaml")],
    );
    let out = scaffold_layout(
        dir.path(),
        &["--project", "nova"],
        ".zuul.yaml (nova)",
        ".zuul.yaml",
        true,
    );
    assert!(
        out.contains("listed in check, gate of the existing project stanza"),
        "{out}"
    );
}

#[test]
fn dot_zuul_d_layout_gets_its_own_file_and_custom_projects_work() {
    // rally-openstack itself has no catalog entry: the custom plugin case.
    let dir = repo(
        Some("git@github.com:openstack/rally-openstack.git"),
        &[("openstack/rally-openstack/.zuul.d", ".zuul.d")],
    );
    scaffold_layout(
        dir.path(),
        &[],
        ".zuul.d/ (rally-openstack)",
        ".zuul.d/perfkit-rally.yaml",
        true,
    );
    let text = std::fs::read_to_string(dir.path().join(".zuul.d/perfkit-rally.yaml")).unwrap();
    assert!(
        text.contains("    parent: rally-task-at-devstack\n"),
        "{text}"
    );
    assert!(!dir.path().join("zuul.d").exists());
}

#[test]
fn zuul_yaml_layout_is_edited_and_shadowed_roots_are_reported() {
    let dir = shadowed_zuul_yaml_checkout();
    let out = scaffold_layout(
        dir.path(),
        &[
            "--project",
            "openstack/mistral",
            "--job-name",
            "mistral-perfkit-rally",
        ],
        "zuul.yaml (mistral)",
        "zuul.yaml",
        false,
    );
    assert!(out.contains("Zuul ignores `.zuul.yaml`"), "{out}");
}

#[test]
fn no_config_creates_dot_zuul_yaml() {
    let dir = repo(Some("https://opendev.org/openstack/trove"), &[]);
    let out = scaffold_layout(
        dir.path(),
        &["--pipelines", "check"],
        "none (trove)",
        ".zuul.yaml",
        true,
    );
    assert!(out.contains("created      .zuul.yaml"), "{out}");
    let text = std::fs::read_to_string(dir.path().join(".zuul.yaml")).unwrap();
    assert!(
        text.contains("    check:\n      jobs:\n        - trove-rally-task\n"),
        "{text}"
    );
    assert!(!text.contains("gate:"), "{text}");
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let dir = repo(None, &[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    let before = tree(dir.path());
    let out = ok(&perfkit(dir.path(), &["--project", "nova", "--dry-run"]));
    assert_eq!(tree(dir.path()), before);
    assert!(
        out.contains("--- a/.zuul.yaml\n+++ b/.zuul.yaml\n"),
        "{out}"
    );
    assert!(
        out.contains("--- /dev/null\n+++ b/playbooks/perfkit/post-rally-task.yaml\n"),
        "{out}"
    );
    assert!(out.contains("+        - nova-rally-task\n"), "{out}");
    assert!(
        out.contains("would create") && out.contains("dry run: nothing written"),
        "{out}"
    );
}

#[test]
fn edited_files_are_kept_unless_forced() {
    let dir = repo(None, &[("openstack/neutron/zuul.d", "zuul.d")]);
    let args = ["--project", "neutron"];
    ok(&perfkit(dir.path(), &args));
    let playbook = dir.path().join(PLAYBOOK);
    let zuul_file = dir.path().join("zuul.d/perfkit-rally.yaml");
    let original_playbook = std::fs::read_to_string(&playbook).unwrap();
    std::fs::write(&playbook, format!("{original_playbook}# my tweak\n")).unwrap();
    let edited_zuul = std::fs::read_to_string(&zuul_file)
        .unwrap()
        .replace("timeout: ", "timeout: 1");
    std::fs::write(&zuul_file, &edited_zuul).unwrap();

    let out = ok(&perfkit(dir.path(), &args));
    assert!(
        out.contains(&format!("kept         {PLAYBOOK} (differs")),
        "{out}"
    );
    assert!(
        out.contains("kept         zuul.d/perfkit-rally.yaml (differs"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&playbook)
            .unwrap()
            .ends_with("# my tweak\n")
    );
    assert_eq!(std::fs::read_to_string(&zuul_file).unwrap(), edited_zuul);

    let dry = ok(&perfkit(
        dir.path(),
        &["--project", "neutron", "--dry-run", "--force"],
    ));
    assert!(dry.contains("-# my tweak\n"), "{dry}");
    let out = ok(&perfkit(dir.path(), &["--project", "neutron", "--force"]));
    assert!(
        out.contains(&format!("updated      {PLAYBOOK} (overwritten (--force))")),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&playbook).unwrap(),
        original_playbook
    );
    assert!(ok(&perfkit(dir.path(), &args)).contains("nothing to do"));
}

#[test]
fn an_existing_job_of_the_same_name_is_refused_then_renamed() {
    let dir = repo(None, &[("openstack/cinder/.zuul.yaml", ".zuul.yaml")]);
    let err = fails(
        dir.path(),
        &["--project", "cinder"],
        "job `cinder-rally-task` is already defined in `.zuul.yaml` (line",
    );
    assert!(err.contains("--job-name cinder-perfkit-rally"), "{err}");
    let out = ok(&perfkit(
        dir.path(),
        &["--project", "cinder", "--job-name", "cinder-perfkit-rally"],
    ));
    assert!(out.contains("updated      .zuul.yaml"), "{out}");
    validate_zuul(dir.path(), ".zuul.yaml (cinder, renamed job)", true);
}

#[test]
fn errors_are_one_line_with_a_hint_and_change_nothing() {
    let outside = tempfile::tempdir().unwrap();
    fails(
        outside.path(),
        &["--project", "nova"],
        "no git repository at or above",
    );
    fails(
        outside.path(),
        &["--repo", ".", "--project", "nova"],
        "no git repository at `.`",
    );

    let no_remote = repo(None, &[]);
    fails(
        no_remote.path(),
        &[],
        "cannot tell which project this repository is",
    );
    fails(
        no_remote.path(),
        &["--project", "../etc"],
        "project name `../etc` is not valid",
    );
    fails(
        no_remote.path(),
        &["--project", "nova", "--pipelines", "check,ga te"],
        "pipeline name `ga te`",
    );

    let broken = repo(None, &[("zuul-invalid/duplicate-key.yaml", ".zuul.yaml")]);
    fails(
        broken.path(),
        &["--project", "nova"],
        "cannot parse the Zuul config `.zuul.yaml`",
    );

    // A file where a directory must go: nothing at all may be written.
    let blocked = repo(None, &[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    std::fs::write(blocked.path().join("playbooks"), "not a directory\n").unwrap();
    fails(
        blocked.path(),
        &["--project", "nova"],
        "cannot write `playbooks/perfkit/",
    );
}

#[test]
fn unknown_scenarios_are_an_error_but_unknown_services_are_not() {
    let dir = repo(None, &[]);
    fails(
        dir.path(),
        &[
            "--project",
            "nova",
            "--scenarios",
            "NovaServers.no_such_scenario",
        ],
        "NovaServers.no_such_scenario",
    );
    let out = ok(&perfkit(dir.path(), &["--project", "x/frobnicator"]));
    assert!(out.contains("rally-jobs/plugins/"), "{out}");
}

#[test]
fn help_shows_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_perfkit"))
        .args(["scaffold", "--help"])
        .output()
        .unwrap();
    let text = ok(&out);
    for needle in [
        "--project",
        "--repo",
        "--pipelines",
        "--scenarios",
        "--templates",
        "--dry-run",
        "--force",
        "--with-locust",
        "--with-fio",
        "--rbd",
        "--upgrade",
        "Examples:",
        "perfkit scaffold --project keystone --with-locust",
        "perfkit scaffold --project keystone --with-locust --upgrade",
        "perfkit scaffold --project cinder --with-fio --rbd",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

/// A stand-in `perfkit` in `dir` that logs its arguments, its archive
/// environment, and the settings file it is handed (`$3`) with its mode.
/// Returns (executable, log).
/// ansible-playbook's arguments for a scaffolded playbook on localhost with
/// the change's zuul vars and `vars` (`-e` values, in order).
fn change_playbook_args(bin: &Path, vars: &[String], playbook: &Path) -> Vec<String> {
    let mut args = vec![
        "-e".to_string(),
        format!(
            "ansible_python_interpreter={}",
            bin.join("python").display()
        ),
        "-e".into(),
        format!("@{}", fixture("zuul-vars/change.yaml").display()),
    ];
    for var in vars {
        args.extend(["-e".to_string(), var.clone()]);
    }
    args.push(playbook.display().to_string());
    args
}

/// Like [`change_playbook_args`] for a post-run: Rally results in
/// `results`, perfkit's home, then `vars`.
fn post_run_args(
    bin: &Path,
    results: &Path,
    home: &Path,
    vars: &[String],
    playbook: &Path,
) -> Vec<String> {
    let mut all = vec![
        format!("rally_results_dir={}", results.display()),
        format!("perfkit_home={}", home.display()),
    ];
    all.extend_from_slice(vars);
    change_playbook_args(bin, &all, playbook)
}

/// A scaffolded nova checkout, the tools venv's bin dir and a work
/// directory, or `None` (printed) when the tools venv is missing.
fn nova_with_tools(what: &str) -> Option<(tempfile::TempDir, PathBuf, tempfile::TempDir)> {
    let dir = repo(None, &[]);
    ok(&perfkit(dir.path(), &["--project", "nova"]));
    let bin = tool("PERFKIT_TOOLS_BIN", what)?;
    Some((dir, bin, tempfile::tempdir().unwrap()))
}

/// The `perfkit_checksum` extra var that lets the post-run run `bin`.
fn checksum_var(bin: &Path) -> String {
    let bytes = std::fs::read(bin).unwrap();
    format!(
        "perfkit_checksum=sha256:{}",
        perfkit_schema::identity::sha256_hex(&bytes)
    )
}

fn fake_perfkit(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let fake = dir.join("perfkit");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\nprintf 'ARGS %s\\n' \"$*\" >> '{log}'\nprintf 'ENV [%s] [%s]\\n' \"$PERFKIT_ARCHIVE\" \"$AWS_SECRET_ACCESS_KEY\" >> '{log}'\nsed 's/^/FILE /' \"$3\" >> '{log}'\nstat -c 'MODE %a' \"$3\" >> '{log}'\n",
            log = log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (fake, log)
}

/// The scaffolded post-run, run for real by ansible-playbook on localhost
/// (stubbed `synchronize`/`zuul_return`) with every kind of zuul vars: the
/// artifacts are described, and with a `perfkit_archive` secret, perfkit
/// is called with the zuul vars file and report.json, the credentials only
/// in its environment.
#[test]
fn post_run_playbook_runs_with_every_kind_of_zuul_vars() {
    let Some((dir, bin, work)) = nova_with_tools("the stubbed post-run playbook run") else {
        return;
    };
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    for f in ["report.json", "results.json", "report.html"] {
        std::fs::write(results.join(f), "{}").unwrap();
    }
    let (fake, log) = fake_perfkit(work.path());
    let secret = work.path().join("secret.yaml");
    std::fs::write(
        &secret,
        "perfkit_archive:\n  url: s3://perf/openstack\n  env:\n    AWS_ACCESS_KEY_ID: AKIDEXAMPLE\n    AWS_SECRET_ACCESS_KEY: s3cr3t-value\n",
    )
    .unwrap();
    // The project under test checked out where Zuul puts it below the
    // user's home: the post-run records its commit.
    let checkout = work.path().join("src/opendev.org/openstack/nova");
    std::fs::create_dir_all(&checkout).unwrap();
    git(&checkout, &["init", "-q"]);
    git(
        &checkout,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "tested",
        ],
    );
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&checkout)
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    let python = bin.join("python");
    let playbook = dir.path().join(PLAYBOOK);
    for kind in ["change", "periodic", "post", "tag"] {
        let _ = std::fs::remove_file(&log);
        let vars = format!("@{}", fixture(&format!("zuul-vars/{kind}.yaml")).display());
        let common = [
            "-v".to_string(),
            "-e".into(),
            format!("ansible_python_interpreter={}", python.display()),
            "-e".into(),
            vars,
            "-e".into(),
            format!("rally_results_dir={}", results.display()),
            "-e".into(),
            format!("perfkit_home={}", work.path().join("home").display()),
            "-e".into(),
            format!("perfkit_bin={}", fake.display()),
            "-e".into(),
            checksum_var(&fake),
            "-e".into(),
            format!("ansible_user_dir={}", work.path().display()),
        ];
        let mut args: Vec<&str> = common.iter().map(String::as_str).collect();
        args.push(playbook.to_str().unwrap());
        // Without a secret: artifacts only, perfkit never called.
        let out = ansible(&bin, &args, &[]);
        let text = stdout(&out);
        assert!(out.status.success(), "{kind}: {text}{}", stderr(&out));
        for url in [
            "perfkit/report.json",
            "perfkit/results.json",
            "perfkit/report.html",
        ] {
            assert!(
                text.contains(url),
                "{kind}: artifact {url} missing:\n{text}"
            );
        }
        assert!(!log.exists(), "{kind}: perfkit ran without a secret");
        assert!(
            text.contains("perfkit_commits"),
            "{kind}: no commits artifact:\n{text}"
        );

        // With the secret: one ingest call, credentials in env only.
        let with_secret = format!("@{}", secret.display());
        let mut args: Vec<&str> = common.iter().map(String::as_str).collect();
        args.extend(["-e", &with_secret, playbook.to_str().unwrap()]);
        let out = ansible(&bin, &args, &[]);
        let text = stdout(&out);
        assert!(out.status.success(), "{kind}: {text}{}", stderr(&out));
        assert!(!text.contains("s3cr3t-value"), "{kind}: secret printed");
        let calls = std::fs::read_to_string(&log).unwrap();
        let zuul_vars = work.path().join("home/zuul-vars.json");
        let env_file = work.path().join("home/archive.env");
        // Credentials reach perfkit through a 0600 file named on the
        // command line, never through its argv or environment.
        let want = format!(
            "ARGS ingest --env-file {} --project openstack/nova --zuul-vars {} {}\nENV [] []\n\
             FILE PERFKIT_ARCHIVE=s3://perf/openstack\nFILE AWS_ACCESS_KEY_ID=AKIDEXAMPLE\n\
             FILE AWS_SECRET_ACCESS_KEY=s3cr3t-value\nMODE 600\n",
            env_file.display(),
            zuul_vars.display(),
            results.join("report.json").display()
        );
        assert!(calls.ends_with(&want), "{kind}: {calls}");
        assert!(
            !env_file.exists(),
            "{kind}: the settings file was left behind"
        );
        let vars: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&zuul_vars).unwrap()).unwrap();
        assert_eq!(vars["zuul"]["project"]["name"], "openstack/nova", "{kind}");
        // Only the checked-out project (rally-openstack is not on this node).
        assert_eq!(
            vars["perfkit_commits"],
            serde_json::json!({"openstack/nova": head}),
            "{kind}"
        );
        assert_eq!(
            vars["zuul"].get("change").is_some(),
            kind == "change",
            "{kind}"
        );
        eprintln!("post-run playbook with {kind} vars: ok");
    }
}

/// The post-run hands the archive credentials only to a perfkit whose
/// sha256 is `perfkit_checksum`, whether it comes from `perfkit_bin`,
/// `PATH` or a download: it runs a private copy it checked, and refuses
/// (before any credential is written) a binary that differs or a job
/// without checksum.
#[test]
fn post_run_runs_only_a_perfkit_with_the_expected_checksum() {
    let Some((dir, bin, work)) = nova_with_tools("the post-run's checksum check") else {
        return;
    };
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("report.json"), "{}").unwrap();
    let fakes = work.path().join("fakes");
    std::fs::create_dir(&fakes).unwrap();
    let (fake, log) = fake_perfkit(&fakes);
    let secret = format!("@{}", archive_secret(work.path()).display());
    let home = work.path().join("home");
    let playbook = dir.path().join(PLAYBOOK);
    let run = |extra: &[String], path: Option<&Path>| {
        let _ = std::fs::remove_file(&log);
        let mut vars = vec![secret.clone()];
        vars.extend_from_slice(extra);
        let args = post_run_args(&bin, &results, &home, &vars, &playbook);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let search = path.map(|p| {
            std::env::join_paths(
                std::iter::once(p.to_path_buf())
                    .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
            )
            .unwrap()
        });
        let env: Vec<(&str, &Path)> = search
            .as_ref()
            .map(|p| vec![("PATH", Path::new(p))])
            .unwrap_or_default();
        let out = ansible(&bin, &args, &env);
        (
            out.status.success(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    };
    let copy = home.join("bin/perfkit");

    // From perfkit_bin, and from PATH: the checked copy runs.
    for (how, extra, path) in [
        (
            "perfkit_bin",
            vec![
                format!("perfkit_bin={}", fake.display()),
                checksum_var(&fake),
            ],
            None,
        ),
        ("PATH", vec![checksum_var(&fake)], Some(fakes.as_path())),
    ] {
        let (ok, text) = run(&extra, path);
        assert!(ok, "{how}: {text}");
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            calls.starts_with("ARGS ingest --env-file"),
            "{how}: {calls}"
        );
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&fake).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{how}");
        }
        assert!(!text.contains("s3cr3t-value"), "{how}: secret printed");
    }

    // Downloaded (a local HTTP server stands in for the release host):
    // get_url checks the same checksum, and the download is what runs.
    let server = moto::local_server::LocalServer::start(
        "http.server",
        &bin.join("python"),
        |port| {
            vec![
                "-m".into(),
                "http.server".into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--directory".into(),
                fakes.display().to_string(),
                port.to_string(),
            ]
        },
        |port| moto::local_server::http_request(port, "GET", "/perfkit").0 == 200,
        work.path(),
    );
    let _ = std::fs::remove_file(&copy);
    let url = format!("perfkit_download_url={}/perfkit", server.endpoint());
    let (ok, text) = run(&[url.clone(), checksum_var(&fake)], None);
    assert!(ok, "download: {text}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .starts_with("ARGS ingest")
    );
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&fake).unwrap());
    let (ok, text) = run(
        &[url, format!("perfkit_checksum=sha256:{}", "1".repeat(64))],
        None,
    );
    assert!(!ok, "a download with another checksum ran:\n{text}");
    assert!(!log.exists(), "download with another checksum: perfkit ran");

    // A binary that is not the one the job names, and a job that names
    // none: perfkit never runs and no settings file is ever written.
    let other = "0".repeat(64);
    for (why, extra, want) in [
        (
            "wrong checksum",
            vec![
                format!("perfkit_bin={}", fake.display()),
                format!("perfkit_checksum=sha256:{other}"),
            ],
            format!("not the {other} of perfkit_checksum"),
        ),
        (
            "no checksum",
            vec![format!("perfkit_bin={}", fake.display())],
            "perfkit_checksum the sha256 of the perfkit binary".to_string(),
        ),
    ] {
        let _ = std::fs::remove_file(&copy);
        let (ok, text) = run(&extra, None);
        assert!(!ok, "{why}: the post-run passed:\n{text}");
        assert!(text.contains(&want), "{why}: {want:?} not said:\n{text}");
        assert!(!log.exists(), "{why}: perfkit ran");
        assert!(!home.join("archive.env").exists(), "{why}");
        assert!(!text.contains("s3cr3t-value"), "{why}: secret printed");
    }
}

/// The cleanup playbook every job gets removes the archive settings a
/// post-run that timed out left behind, and is harmless when none are left.
#[test]
fn cleanup_playbook_removes_the_archive_settings() {
    let Some((dir, bin, work)) = nova_with_tools("the cleanup playbook") else {
        return;
    };
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let settings = home.join("archive.env");
    std::fs::write(&settings, "AWS_SECRET_ACCESS_KEY=s3cr3t-value\n").unwrap();
    let roles = stub_roles(work.path());
    let cleanup = dir.path().join("playbooks/perfkit/cleanup.yaml");
    for round in ["left behind", "already gone"] {
        let text = run_playbook(
            &bin,
            &cleanup,
            &roles,
            &[format!("perfkit_home={}", home.display())],
        );
        assert!(!settings.exists(), "{round}: {text}");
        assert!(!text.contains("s3cr3t-value"), "{round}: {text}");
    }
    assert!(home.is_dir(), "only the settings file goes");
}

#[test]
fn other_real_single_file_configs_stay_valid() {
    for project in ["glance", "zaqar"] {
        let dir = repo(
            Some(&format!("https://opendev.org/openstack/{project}")),
            &[(&format!("openstack/{project}/.zuul.yaml"), ".zuul.yaml")],
        );
        scaffold_layout(
            dir.path(),
            &[],
            &format!(".zuul.yaml ({project})"),
            ".zuul.yaml",
            true,
        );
    }
}

/// The object keys below `prefix` of `bucket`, as boto3 lists them (it
/// decodes the listing itself, independently of object_store).
fn s3_keys(bin: &Path, endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["PERFKIT_TEST_S3_ENDPOINT"], region_name="us-east-1")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    for obj in page.get("Contents", []):
        print(obj["Key"])
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", script, bucket, prefix])
        .env("PERFKIT_TEST_S3_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 listing failed: {}",
        stderr(&out)
    );
    let mut keys: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    keys.sort();
    keys
}

/// The archived build of `archive` (one build expected), read back.
fn only_build(archive: &str, endpoint: &str) -> perfkit_schema::ArchivedBuild {
    let options = [
        ("aws_endpoint", endpoint.to_string()),
        ("aws_allow_http", "true".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_region", "us-east-1".into()),
    ];
    let archive = perfkit_archive::Archive::open_with_options(archive, options).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let keys = archive.list_builds(None).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        perfkit_archive::history::load_build(&archive, &keys[0])
            .await
            .unwrap()
    })
}

/// The same playbook with the real `perfkit` as `perfkit_bin`, real Rally
/// results (report.json, results.json, junit.xml of one `rally task start`,
/// tests/fixtures/rally/dev-success.*) and a real S3-compatible server
/// (moto on 127.0.0.1) named by the `perfkit_archive` secret, for every
/// kind of zuul vars: a change build lands under its change and patchset,
/// periodic, post and tag builds (no change or patchset) under
/// change=0/patchset=0, with the four objects and the build's Zuul
/// metadata in its `builds` row.
#[test]
fn post_run_playbook_archives_with_the_real_perfkit() {
    let Some((dir, bin, work)) = nova_with_tools("the post-run playbook with the real perfkit")
    else {
        return;
    };
    let moto = moto::Moto::start(&bin, work.path());
    let endpoint = moto.endpoint();
    const BUCKET: &str = "perfkit-in-job";
    moto.create_bucket(BUCKET);
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    for (from, to) in [
        ("rally/dev-success.report.json", "report.json"),
        ("rally/dev-success.results.json", "results.json"),
        ("rally/dev-success.junit.xml", "junit.xml"),
    ] {
        std::fs::copy(fixture(from), results.join(to)).unwrap();
    }
    let report_sha256 =
        perfkit_schema::identity::sha256_hex(&std::fs::read(results.join("report.json")).unwrap());
    let playbook = dir.path().join(PLAYBOOK);
    let checksum = checksum_var(Path::new(env!("CARGO_BIN_EXE_perfkit")));
    let build = "5f2c1e0a9b8d4c3e8f7a6b5c4d3e2f1a";
    for (kind, change, patchset, pipeline) in [
        ("change", 912345, 3, "check"),
        ("periodic", 0, 0, "periodic"),
        ("post", 0, 0, "post"),
        ("tag", 0, 0, "release"),
    ] {
        let secret = work.path().join(format!("secret-{kind}.yaml"));
        std::fs::write(
            &secret,
            format!(
                "perfkit_archive:\n  url: s3://{BUCKET}/{kind}\n  env:\n    AWS_ACCESS_KEY_ID: test\n    AWS_SECRET_ACCESS_KEY: test\n    AWS_REGION: us-east-1\n    AWS_ENDPOINT: {endpoint}\n    AWS_ALLOW_HTTP: 'true'\n"
            ),
        )
        .unwrap();
        let args = [
            "-e".to_string(),
            format!(
                "ansible_python_interpreter={}",
                bin.join("python").display()
            ),
            "-e".into(),
            format!("@{}", fixture(&format!("zuul-vars/{kind}.yaml")).display()),
            "-e".into(),
            format!("rally_results_dir={}", results.display()),
            "-e".into(),
            format!("perfkit_home={}", work.path().join(kind).display()),
            "-e".into(),
            format!("perfkit_bin={}", env!("CARGO_BIN_EXE_perfkit")),
            "-e".into(),
            checksum.clone(),
            "-e".into(),
            format!("@{}", secret.display()),
            playbook.display().to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ansible(&bin, &args, &[]);
        assert!(
            out.status.success(),
            "{kind}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            !stdout(&out).contains("AWS_SECRET_ACCESS_KEY=test"),
            "{kind}: credentials printed"
        );

        let partition =
            format!("project=openstack%2Fnova/change={change}/patchset={patchset}/build={build}");
        let mut want: Vec<String> = ["samples", "series", "workloads"]
            .iter()
            .map(|table| format!("{kind}/v2/{table}/{partition}/attempt=0-TOKEN.parquet"))
            .collect();
        want.push(format!("{kind}/v2/builds/{partition}/attempt=0.parquet"));
        // The object that showed the store honours create-only puts.
        want.push(format!(
            "{kind}/v2/builds/project=openstack%2Fnova/create-only-probe"
        ));
        want.push(format!(
            "{kind}/v2/index/project=openstack%2Fnova/segments/*"
        ));
        want.sort();
        assert_eq!(
            common::key_shapes(s3_keys(&bin, &endpoint, BUCKET, &format!("{kind}/"))),
            want,
            "{kind}"
        );

        let archived = only_build(&format!("s3://{BUCKET}/{kind}"), &endpoint);
        let r = &archived.record;
        let m = &r.meta;
        assert_eq!(r.key.project.as_str(), "openstack/nova", "{kind}");
        let numbers = (change > 0).then_some((change, patchset));
        assert_eq!(m.change.zip(m.patchset), numbers, "{kind}");
        assert_eq!(m.pipeline.as_deref(), Some(pipeline), "{kind}");
        assert_eq!(m.job.as_deref(), Some("nova-rally-task"), "{kind}");
        assert_eq!(m.zuul_build.as_deref(), Some(build), "{kind}");
        assert_eq!(
            m.buildset.as_deref(),
            Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
            "{kind}"
        );
        assert_eq!(m.tenant.as_deref(), Some("openstack"), "{kind}");
        let (git_ref, branch, tag) = match kind {
            "change" => ("refs/changes/45/912345/3", Some("master"), None),
            "tag" => ("refs/tags/32.0.0", None, Some("32.0.0")),
            _ => ("refs/heads/master", Some("master"), None),
        };
        assert_eq!(m.git_ref.as_deref(), Some(git_ref), "{kind}");
        assert_eq!(m.branch.as_deref(), branch, "{kind}");
        assert_eq!(m.tag.as_deref(), tag, "{kind}");
        assert_eq!(m.zuul_result, None, "{kind}: unknown inside the job");
        assert_eq!(
            (r.source_format.as_str(), r.source_file.as_str()),
            ("rally-v2", "report.json"),
            "{kind}"
        );
        assert_eq!(r.source_sha256, report_sha256, "{kind}");
        assert_eq!(
            (r.workload_count, r.iteration_count, r.pass_sla),
            (1, 10, true),
            "{kind}"
        );
        assert!(!archived.series.is_empty(), "{kind}");
        eprintln!("post-run playbook archived a {kind} build into moto S3: ok");
    }
}

/// The identity policy of docs/credentials.md (read from it), for `project`
/// (URL-encoded) under `bucket`/`prefix`.
fn documented_policy(bucket: &str, prefix: &str, project: &str) -> serde_json::Value {
    let doc = std::fs::read_to_string(workspace().join("docs/credentials.md")).unwrap();
    let start = doc
        .find("```json\n")
        .expect("docs/credentials.md: no json block")
        + 8;
    let end = start + doc[start..].find("```").unwrap();
    let text = doc[start..end]
        .replace("BUCKET", bucket)
        .replace("PREFIX", prefix)
        .replace("PROJECT", project);
    serde_json::from_str(&text).expect("docs/credentials.md: the policy is not JSON")
}

/// Creates IAM users with the given policies on a moto server (auth off),
/// a bucket, then turns moto's IAM enforcement on; returns each user's
/// (access key id, secret).
fn moto_users(
    bin: &Path,
    endpoint: &str,
    bucket: &str,
    users: &[(&str, serde_json::Value)],
) -> BTreeMap<String, (String, String)> {
    let script = r#"
import json, sys, urllib.request, boto3
endpoint, bucket, users = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
iam = boto3.client("iam", **kw)
keys = {}
for name, policy in users.items():
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    keys[name] = [key["AccessKeyId"], key["SecretAccessKey"]]
boto3.client("s3", **kw).create_bucket(Bucket=bucket)
# From now on every request is authenticated and authorized.
# (Not form-encoded: moto reads the raw body.)
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0",
    headers={"Content-Type": "application/octet-stream"}, method="POST"))
print(json.dumps(keys))
"#;
    let users: serde_json::Map<String, serde_json::Value> = users
        .iter()
        .map(|(name, policy)| (name.to_string(), policy.clone()))
        .collect();
    let out = Command::new(bin.join("python"))
        .args(["-c", script, endpoint, bucket])
        .arg(serde_json::Value::Object(users).to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "moto IAM setup: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// What S3 answers `user` for each (name, operation, key) probe: "ok" or
/// the error code.
fn s3_probes(
    bin: &Path,
    endpoint: &str,
    user: &(String, String),
    bucket: &str,
    probes: &[(&str, &str, String)],
) -> BTreeMap<String, String> {
    let script = r#"
import json, sys, boto3, botocore
endpoint, key_id, secret, bucket, probes = sys.argv[1:5] + [json.loads(sys.argv[5])]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key_id, aws_secret_access_key=secret)
answers = {}
for name, op, key in probes:
    try:
        if op == "put":
            s3.put_object(Bucket=bucket, Key=key, Body=b"forged")
        elif op == "delete":
            s3.delete_object(Bucket=bucket, Key=key)
        elif op == "get":
            s3.get_object(Bucket=bucket, Key=key)
        elif op == "list":
            s3.list_objects_v2(Bucket=bucket, Prefix=key)
        answers[name] = "ok"
    except botocore.exceptions.ClientError as e:
        answers[name] = e.response["Error"]["Code"]
print(json.dumps(answers))
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", script, endpoint, &user.0, &user.1, bucket])
        .arg(serde_json::to_string(probes).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "S3 probes: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The credential docs/credentials.md recommends for the in-job upload, on
/// a moto S3 server that enforces IAM identity policies: the scaffolded
/// post-run archives the nova build with it (real perfkit), and the same
/// keys cannot add another project's builds (not even `novaclient`, whose
/// name starts with nova's), delete, overwrite-read other projects, or
/// list. A credential without the optional read statement uploads too.
#[test]
fn a_project_scoped_credential_adds_only_its_own_builds() {
    let Some((dir, bin, work)) = nova_with_tools("the project-scoped S3 credential") else {
        return;
    };
    let moto = moto::Moto::start(&bin, work.path());
    let endpoint = moto.endpoint();
    const BUCKET: &str = "perf";
    const PREFIX: &str = "openstack";
    let policy = documented_policy(BUCKET, PREFIX, "openstack%2Fnova");
    let mut put_only = policy.clone();
    put_only["Statement"].as_array_mut().unwrap().truncate(1);
    let everything = serde_json::json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let users = moto_users(
        &bin,
        &endpoint,
        BUCKET,
        &[
            ("nova-ci", policy),
            ("nova-put-only", put_only),
            ("admin", everything),
        ],
    );
    let env_file = |user: &str| {
        let (id, secret) = &users[user];
        let path = work.path().join(format!("{user}.env"));
        std::fs::write(
            &path,
            format!(
                "PERFKIT_ARCHIVE=s3://{BUCKET}/{PREFIX}\nAWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\nAWS_REGION=us-east-1\nAWS_ENDPOINT={endpoint}\nAWS_ALLOW_HTTP=true\n"
            ),
        )
        .unwrap();
        path
    };
    let keys_of = |project: &str| -> Vec<String> {
        let script = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[4]):
    for obj in page.get("Contents", []):
        print(obj["Key"])
"#;
        let (id, secret) = &users["admin"];
        let out = Command::new(bin.join("python"))
            .args(["-c", script, &endpoint, id, secret, BUCKET])
            .output()
            .unwrap();
        assert!(out.status.success(), "listing: {}", stderr(&out));
        stdout(&out)
            .lines()
            .filter(|k| k.contains(&format!("/project={project}/")) && k.ends_with(".parquet"))
            .map(str::to_string)
            .collect()
    };

    // The in-job path: the scaffolded post-run with nova-ci's keys.
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::copy(
        fixture("rally/dev-success.report.json"),
        results.join("report.json"),
    )
    .unwrap();
    let (id, secret) = &users["nova-ci"];
    let secret_file = work.path().join("secret.yaml");
    std::fs::write(
        &secret_file,
        format!(
            "perfkit_archive:\n  url: s3://{BUCKET}/{PREFIX}\n  env:\n    AWS_ACCESS_KEY_ID: {id}\n    AWS_SECRET_ACCESS_KEY: {secret}\n    AWS_REGION: us-east-1\n    AWS_ENDPOINT: {endpoint}\n    AWS_ALLOW_HTTP: 'true'\n"
        ),
    )
    .unwrap();
    let perfkit_bin = Path::new(env!("CARGO_BIN_EXE_perfkit"));
    let args = post_run_args(
        &bin,
        &results,
        &work.path().join("home"),
        &[
            format!("perfkit_bin={}", perfkit_bin.display()),
            checksum_var(perfkit_bin),
            format!("@{}", secret_file.display()),
        ],
        &dir.path().join(PLAYBOOK),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ansible(&bin, &args, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let nova = keys_of("openstack%2Fnova");
    assert_eq!(
        nova.len(),
        5,
        "three data objects, the commit, a segment: {nova:?}"
    );

    // What else the keys can do: only add objects under nova's keys.
    let builds_row = nova.iter().find(|k| k.contains("/v2/builds/")).unwrap();
    let elsewhere = |project: &str| {
        format!(
            "{PREFIX}/v2/builds/project={project}/change=0/patchset=0/build=forged/attempt=0.parquet"
        )
    };
    let answers = s3_probes(
        &bin,
        &endpoint,
        &users["nova-ci"],
        BUCKET,
        &[
            (
                "add to nova",
                "put",
                format!(
                    "{PREFIX}/v2/samples/project=openstack%2Fnova/change=0/patchset=0/build=probe/attempt=0-0123456789abcdef.parquet"
                ),
            ),
            ("read nova's builds row", "get", builds_row.clone()),
            ("forge neutron", "put", elsewhere("openstack%2Fneutron")),
            (
                "forge novaclient",
                "put",
                elsewhere("openstack%2Fnovaclient"),
            ),
            (
                "forge outside the tables",
                "put",
                format!("{PREFIX}/v2/project=openstack%2Fnova/x"),
            ),
            ("delete nova's row", "delete", builds_row.clone()),
            ("list", "list", format!("{PREFIX}/")),
        ],
    );
    let want: BTreeMap<String, String> = [
        ("add to nova", "ok"),
        ("read nova's builds row", "ok"),
        ("forge neutron", "AccessDenied"),
        ("forge novaclient", "AccessDenied"),
        ("forge outside the tables", "AccessDenied"),
        ("delete nova's row", "AccessDenied"),
        ("list", "AccessDenied"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(answers, want);

    // `perfkit ingest` with nova's keys: another project fails and writes
    // nothing; nova's own builds go in, once, with or without the read.
    let ingest = |user: &str, project: &str, report: &str| {
        Command::new(perfkit_bin)
            .args(["ingest", "--env-file"])
            .arg(env_file(user))
            .args(["--project", project])
            .arg(fixture(report))
            .output()
            .unwrap()
    };
    let out = ingest(
        "nova-ci",
        "openstack/neutron",
        "rally/dev-failures.report.json",
    );
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the credential may not write this key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(keys_of("openstack%2Fneutron"), Vec::<String>::new());
    for (user, report) in [
        ("nova-ci", "rally/dev-failures.report.json"),
        ("nova-put-only", "rally/dev-success-x2.report.json"),
    ] {
        let first = ingest(user, "openstack/nova", report);
        assert!(first.status.success(), "{user}: {}", stderr(&first));
        assert!(
            stdout(&first).contains(": archived openstack/nova"),
            "{user}: {}",
            stdout(&first)
        );
        let again = ingest(user, "openstack/nova", report);
        assert!(again.status.success(), "{user}: {}", stderr(&again));
        assert!(
            stdout(&again).contains("already"),
            "{user}: {}",
            stdout(&again)
        );
    }
    // The playbook's build (5 objects), the probe object, two more builds
    // (5 each); nova-ci's second ingest could not list the index to see the
    // build there, so it added a segment; nova-put-only's second ingest
    // wrote its data objects before its commit was refused, and cannot
    // delete them (`perfkit repair` does, a day later).
    assert_eq!(keys_of("openstack%2Fnova").len(), 5 + 1 + 5 + 5 + 1 + 3);
}

// --- `--with-locust` and `--with-fio` ---

const LOCUSTFILE: &str = "rally-jobs/locust/locustfile.py";
const RUN_LOCUST: &str = "playbooks/perfkit/run-locust.yaml";
const POST_LOCUST: &str = "playbooks/perfkit/post-locust.yaml";
const RUN_FIO: &str = "playbooks/perfkit/run-fio.yaml";
const POST_FIO: &str = "playbooks/perfkit/post-fio.yaml";
const RUN_FIO_TASKS: &str = "playbooks/perfkit/tasks/run-fio.yaml";
const RUN_FIO_RBD: &str = "playbooks/perfkit/run-fio-rbd.yaml";
const RESULTS_VARS: &str = "playbooks/perfkit/vars/results.yaml";
const PREPARE_LOCUST: &str = "playbooks/perfkit/tasks/prepare-locust.yaml";
const RUN_LOCUST_UPGRADE: &str = "playbooks/perfkit/run-locust-upgrade.yaml";
const THROUGH_UPGRADE: &str = "playbooks/perfkit/files/locust-through-upgrade.py";

/// The jobs each pipeline lists, over every project stanza of the config
/// Zuul would read.
fn listed_jobs(root: &Path) -> BTreeMap<String, Vec<String>> {
    use perfkit_zuul::scaffold::config::{pipeline_jobs, read, stanza_body};
    let config = read(root).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pipeline in ["check", "gate", "periodic"] {
        for file in &config.files {
            for project in file
                .stanzas
                .iter()
                .filter_map(|s| stanza_body(s, "project"))
            {
                out.entry(pipeline.into()).or_default().extend(
                    pipeline_jobs(project, pipeline)
                        .iter()
                        .map(|j| j.to_string()),
                );
            }
        }
    }
    out
}

/// A repo scaffolded with both variants: the variant files are there, the
/// three jobs are listed in check and gate, Zuul and Ansible accept it all
/// and a second run changes nothing (`scaffold_layout`).
fn scaffold_variants(dir: &Path, args: &[&str], layout: &str, config: &str, strict: bool) {
    let mut all = args.to_vec();
    all.extend(["--with-locust", "--with-fio"]);
    let out = scaffold_layout(dir, &all, layout, config, strict);
    let jobs = listed_jobs(dir);
    let rally_job = jobs["check"]
        .iter()
        .find(|j| j.ends_with("-rally-task") || j.ends_with("-perfkit-rally"))
        .unwrap_or_else(|| panic!("no Rally job listed: {jobs:?}\n{out}"))
        .clone();
    let short = rally_job
        .strip_suffix("-rally-task")
        .or_else(|| rally_job.strip_suffix("-perfkit-rally"))
        .unwrap_or_else(|| panic!("{rally_job}: not a perfkit Rally job name"))
        .to_string();
    for file in [
        LOCUSTFILE,
        RUN_LOCUST,
        POST_LOCUST,
        PREPARE_LOCUST,
        RUN_FIO,
        POST_FIO,
        RUN_FIO_TASKS,
        &format!("rally-jobs/fio/{short}.fio"),
        "playbooks/perfkit/tasks/keep-results.yaml",
        RESULTS_VARS,
    ] {
        assert!(dir.join(file).is_file(), "{layout}: {file} missing");
    }
    for pipeline in ["check", "gate"] {
        for job in [
            rally_job.clone(),
            format!("{short}-locust"),
            format!("{short}-fio"),
        ] {
            assert_eq!(
                jobs[pipeline].iter().filter(|j| **j == job).count(),
                1,
                "{layout}: {job} not listed once in {pipeline}: {jobs:?}"
            );
        }
    }
    assert!(
        out.contains(&format!(
            "jobs {rally_job}, {short}-locust, {short}-fio in check, gate"
        )),
        "{out}"
    );
}

/// Then `--with-fio --rbd` on the same repo: the Ceph job is added beside
/// the others (the config file only gains lines, every other file stays as
/// it was), Zuul and Ansible accept it all, a second run changes nothing,
/// and the RBD job shares the local-disk job's post-run and fio tasks.
fn scaffold_rbd_variant(dir: &Path, args: &[&str], layout: &str, config: &str, strict: bool) {
    let mut all = args.to_vec();
    all.extend(["--with-fio", "--rbd"]);
    let before = tree(dir);
    let out = scaffold_layout(dir, &all, layout, config, strict);
    let after = tree(dir);
    let jobs = listed_jobs(dir);
    let rally_job = jobs["check"]
        .iter()
        .find(|j| j.ends_with("-rally-task") || j.ends_with("-perfkit-rally"))
        .unwrap()
        .clone();
    let short = rally_job
        .strip_suffix("-rally-task")
        .or_else(|| rally_job.strip_suffix("-perfkit-rally"))
        .unwrap_or_else(|| panic!("{rally_job}: not a perfkit Rally job name"))
        .to_string();
    let rbd_job = format!("{short}-fio-rbd");
    for pipeline in ["check", "gate"] {
        for job in [&rally_job, &format!("{short}-fio"), &rbd_job] {
            assert_eq!(
                jobs[pipeline].iter().filter(|j| *j == job).count(),
                1,
                "{layout}: {job} not listed once in {pipeline}: {jobs:?}"
            );
        }
    }
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    let mut want = vec![
        RUN_FIO_RBD.to_string(),
        format!("rally-jobs/fio/{short}-rbd.fio"),
    ];
    if let Some(dir_root) = config.strip_suffix("perfkit-rally.yaml") {
        want.push(format!("{dir_root}perfkit-fio-rbd.yaml"));
    }
    want.sort();
    assert_eq!(added, want.iter().collect::<Vec<_>>(), "{layout}:\n{out}");
    assert!(
        out.contains(&format!("jobs {rally_job}, {rbd_job} in check, gate")),
        "{out}"
    );
}

/// Then `--with-locust --upgrade` on the same repo: the grenade job is
/// added beside the others (only its run playbook, the script it runs and,
/// in a directory layout, its own config file are new: the locustfile,
/// Locust's preparation tasks and the post-run are the plain job's), Zuul
/// and Ansible accept it all and a second run changes nothing.
fn scaffold_upgrade_variant(dir: &Path, args: &[&str], layout: &str, config: &str, strict: bool) {
    let mut all = args.to_vec();
    all.extend(["--with-locust", "--upgrade"]);
    let before = tree(dir);
    let out = scaffold_layout(dir, &all, layout, config, strict);
    let after = tree(dir);
    let jobs = listed_jobs(dir);
    let rally_job = jobs["check"]
        .iter()
        .find(|j| j.contains("rally"))
        .unwrap()
        .clone();
    let short = rally_job.split('-').next().unwrap().to_string();
    let upgrade_job = format!("{short}-locust-upgrade");
    for pipeline in ["check", "gate"] {
        for job in [&rally_job, &format!("{short}-locust"), &upgrade_job] {
            assert_eq!(
                jobs[pipeline].iter().filter(|j| *j == job).count(),
                1,
                "{layout}: {job} not listed once in {pipeline}: {jobs:?}"
            );
        }
    }
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    let mut want = vec![THROUGH_UPGRADE.to_string(), RUN_LOCUST_UPGRADE.to_string()];
    if let Some(dir_root) = config.strip_suffix("perfkit-rally.yaml") {
        want.push(format!("{dir_root}perfkit-locust-upgrade.yaml"));
    }
    want.sort();
    assert_eq!(added, want.iter().collect::<Vec<_>>(), "{layout}:\n{out}");
    for shared in [LOCUSTFILE, PREPARE_LOCUST, POST_LOCUST] {
        assert_eq!(before.get(shared), after.get(shared), "{layout}: {shared}");
    }
    assert!(
        out.contains(&format!("jobs {rally_job}, {upgrade_job} in check, gate")),
        "{out}"
    );
    assert!(out.contains("single-node grenade"), "{out}");
}

#[test]
fn locust_and_fio_jobs_pass_zuul_and_ansible_in_every_layout() {
    // zuul.d/, .zuul.d/, .zuul.yaml, zuul.yaml (shadowing a .zuul.yaml), none.
    let neutron = neutron_checkout();
    scaffold_variants(
        neutron.path(),
        &[],
        "zuul.d/ (neutron, --with-locust --with-fio)",
        "zuul.d/perfkit-rally.yaml",
        true,
    );
    for own in ["zuul.d/perfkit-locust.yaml", "zuul.d/perfkit-fio.yaml"] {
        assert!(neutron.path().join(own).is_file(), "{own} missing");
    }

    scaffold_rbd_variant(
        neutron.path(),
        &[],
        "zuul.d/ (neutron, then --with-fio --rbd)",
        "zuul.d/perfkit-rally.yaml",
        true,
    );
    scaffold_upgrade_variant(
        neutron.path(),
        &[],
        "zuul.d/ (neutron, then --with-locust --upgrade)",
        "zuul.d/perfkit-rally.yaml",
        true,
    );

    let rally = repo(
        Some("git@github.com:openstack/rally-openstack.git"),
        &[("openstack/rally-openstack/.zuul.d", ".zuul.d")],
    );
    scaffold_variants(
        rally.path(),
        &[],
        ".zuul.d/ (rally-openstack, --with-locust --with-fio)",
        ".zuul.d/perfkit-rally.yaml",
        true,
    );
    scaffold_rbd_variant(
        rally.path(),
        &[],
        ".zuul.d/ (rally-openstack, then --with-fio --rbd)",
        ".zuul.d/perfkit-rally.yaml",
        true,
    );
    assert!(!rally.path().join("zuul.d").exists());

    let nova = repo(None, &[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    scaffold_variants(
        nova.path(),
        &["--project", "nova"],
        ".zuul.yaml (nova, --with-locust --with-fio)",
        ".zuul.yaml",
        true,
    );
    scaffold_rbd_variant(
        nova.path(),
        &["--project", "nova"],
        ".zuul.yaml (nova, then --with-fio --rbd)",
        ".zuul.yaml",
        true,
    );
    scaffold_upgrade_variant(
        nova.path(),
        &["--project", "nova"],
        ".zuul.yaml (nova, then --with-locust --upgrade)",
        ".zuul.yaml",
        true,
    );

    let mistral = shadowed_zuul_yaml_checkout();
    scaffold_variants(
        mistral.path(),
        &[
            "--project",
            "mistral",
            "--job-name",
            "mistral-perfkit-rally",
        ],
        "zuul.yaml (mistral, --with-locust --with-fio)",
        "zuul.yaml",
        false,
    );
    scaffold_rbd_variant(
        mistral.path(),
        &[
            "--project",
            "mistral",
            "--job-name",
            "mistral-perfkit-rally",
        ],
        "zuul.yaml (mistral, then --with-fio --rbd)",
        "zuul.yaml",
        false,
    );
    scaffold_upgrade_variant(
        mistral.path(),
        &[
            "--project",
            "mistral",
            "--job-name",
            "mistral-perfkit-rally",
        ],
        "zuul.yaml (mistral, then --with-locust --upgrade)",
        "zuul.yaml",
        false,
    );

    let keystone = repo(
        Some("https://opendev.org/openstack/keystone"),
        &[("openstack/keystone/rally-jobs", "rally-jobs")],
    );
    scaffold_variants(
        keystone.path(),
        &[],
        "none (keystone, --with-locust --with-fio)",
        ".zuul.yaml",
        true,
    );
    scaffold_rbd_variant(
        keystone.path(),
        &[],
        "none (keystone, then --with-fio --rbd)",
        ".zuul.yaml",
        true,
    );
    scaffold_upgrade_variant(
        keystone.path(),
        &[],
        "none (keystone, then --with-locust --upgrade)",
        ".zuul.yaml",
        true,
    );
    let text = std::fs::read_to_string(keystone.path().join(".zuul.yaml")).unwrap();
    for line in [
        "    name: keystone-locust\n    parent: devstack\n",
        "    run: playbooks/perfkit/run-locust.yaml\n",
        "    post-run:\n      - playbooks/perfkit/post-locust.yaml\n",
        "      perfkit_locustfile: rally-jobs/locust/locustfile.py\n",
        "      perfkit_locust_issue_weight: 30\n      perfkit_locust_validate_weight: 70\n",
        "    name: keystone-fio\n    parent: base\n",
        "      perfkit_fio_jobfile: rally-jobs/fio/keystone.fio\n",
        "    name: keystone-fio-rbd\n    parent: devstack-plugin-ceph-tempest-py3\n",
        "    run: playbooks/perfkit/run-fio-rbd.yaml\n",
        "    post-run:\n      - playbooks/perfkit/post-fio.yaml\n",
        "      devstack_services:\n        tempest: false\n",
        "      perfkit_fio_jobfile: rally-jobs/fio/keystone-rbd.fio\n",
        "      perfkit_fio_rbd_pool: volumes\n      perfkit_fio_rbd_client: admin\n",
        "    name: keystone-locust-upgrade\n    parent: grenade\n",
        "    run: playbooks/perfkit/run-locust-upgrade.yaml\n",
        "    post-run:\n      - playbooks/perfkit/post-locust.yaml\n",
        "      - zuul: openstack/grenade\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    // Every job removes the archive credentials even after a post-run
    // timeout or an abort: Zuul runs cleanup post-run playbooks whatever
    // happened.
    assert_eq!(
        text.matches("      - name: playbooks/perfkit/cleanup.yaml\n        cleanup: true\n")
            .count(),
        text.matches("- job:\n").count(),
        "{text}"
    );
}

#[test]
fn a_variant_added_later_only_adds() {
    // Single file: the Rally-only config gains lines, loses none.
    let dir = repo(None, &[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    ok(&perfkit(dir.path(), &["--project", "nova"]));
    let rally_only = tree(dir.path());
    let out = ok(&perfkit(
        dir.path(),
        &["--project", "nova", "--with-locust"],
    ));
    let now = tree(dir.path());
    for (path, bytes) in &rally_only {
        if path == ".zuul.yaml" {
            only_insertions(bytes, &now[path]);
        } else {
            assert_eq!(&now[path], bytes, "{path} changed:\n{out}");
        }
    }
    let added: Vec<&String> = now
        .keys()
        .filter(|p| !rally_only.contains_key(*p))
        .collect();
    assert_eq!(
        added,
        [
            POST_LOCUST,
            RUN_LOCUST,
            PREPARE_LOCUST,
            RESULTS_VARS,
            LOCUSTFILE
        ],
        "{out}"
    );
    assert!(
        out.contains(".zuul.yaml (nova-locust: job added; listed in check, gate of the existing project stanza)"),
        "{out}"
    );
    validate_zuul(dir.path(), ".zuul.yaml (nova, locust added later)", true);

    // Directory: the Rally job's file stays as it was; fio gets its own.
    let dir = repo(None, &[("openstack/neutron/zuul.d", "zuul.d")]);
    ok(&perfkit(dir.path(), &["--project", "neutron"]));
    let rally_only = tree(dir.path());
    ok(&perfkit(
        dir.path(),
        &["--project", "neutron", "--with-fio"],
    ));
    let now = tree(dir.path());
    for (path, bytes) in &rally_only {
        assert_eq!(&now[path], bytes, "{path} changed");
    }
    let added: Vec<&String> = now
        .keys()
        .filter(|p| !rally_only.contains_key(*p))
        .collect();
    assert_eq!(
        added,
        [
            POST_FIO,
            RUN_FIO,
            RUN_FIO_TASKS,
            RESULTS_VARS,
            "rally-jobs/fio/neutron.fio",
            "zuul.d/perfkit-fio.yaml"
        ]
    );
    validate_zuul(dir.path(), "zuul.d/ (neutron, fio added later)", true);

    // The RBD job after the local-disk one: only its own three files.
    let with_fio = now;
    ok(&perfkit(
        dir.path(),
        &["--project", "neutron", "--with-fio", "--rbd"],
    ));
    let now = tree(dir.path());
    for (path, bytes) in &with_fio {
        assert_eq!(&now[path], bytes, "{path} changed");
    }
    let added: Vec<&String> = now.keys().filter(|p| !with_fio.contains_key(*p)).collect();
    assert_eq!(
        added,
        [
            RUN_FIO_RBD,
            "rally-jobs/fio/neutron-rbd.fio",
            "zuul.d/perfkit-fio-rbd.yaml"
        ]
    );
    validate_zuul(
        dir.path(),
        "zuul.d/ (neutron, fio on RBD added later)",
        true,
    );
}

#[test]
fn dry_run_shows_the_variants_and_writes_nothing() {
    let dir = repo(None, &[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    let before = tree(dir.path());
    let out = ok(&perfkit(
        dir.path(),
        &[
            "--project",
            "nova",
            "--with-locust",
            "--with-fio",
            "--dry-run",
        ],
    ));
    assert_eq!(tree(dir.path()), before);
    for file in [
        LOCUSTFILE,
        RUN_LOCUST,
        POST_LOCUST,
        RUN_FIO,
        POST_FIO,
        "rally-jobs/fio/nova.fio",
    ] {
        assert!(
            out.contains(&format!("--- /dev/null\n+++ b/{file}\n")),
            "{file} not in the diff:\n{out}"
        );
        assert!(out.contains(&format!("would create {file}")), "{out}");
    }
    for line in [
        "+        - nova-locust\n",
        "+        - nova-fio\n",
        "+    name: nova-fio\n",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert!(out.contains("dry run: nothing written"), "{out}");
}

#[test]
fn variant_job_names_that_are_taken_are_refused() {
    let dir = repo(None, &[]);
    std::fs::write(
        dir.path().join(".zuul.yaml"),
        "- job:\n    name: keystone-locust\n    parent: devstack\n",
    )
    .unwrap();
    let err = fails(
        dir.path(),
        &["--project", "keystone", "--with-locust"],
        "job `keystone-locust` is already defined in `.zuul.yaml` (line 1)",
    );
    assert!(err.contains("leave out `--with-locust`"), "{err}");
    fails(
        dir.path(),
        &[
            "--project",
            "keystone",
            "--with-fio",
            "--job-name",
            "keystone-fio",
        ],
        "job name `keystone-fio` is the name of the `--with-fio` job",
    );
    std::fs::write(
        dir.path().join(".zuul.yaml"),
        "- job:\n    name: keystone-fio-rbd\n    parent: base\n",
    )
    .unwrap();
    let err = fails(
        dir.path(),
        &["--project", "keystone", "--with-fio", "--rbd"],
        "job `keystone-fio-rbd` is already defined in `.zuul.yaml` (line 1)",
    );
    assert!(
        err.contains("always named `keystone-fio-rbd`")
            && err.contains("leave out `--with-fio --rbd`"),
        "{err}"
    );
    // `--rbd` says where the fio job runs: alone it asks for nothing.
    let o = perfkit(dir.path(), &["--project", "keystone", "--rbd"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("--with-fio"), "{}", stderr(&o));
}

/// `PERFKIT_TOOLS_BIN/<name>`, or `None` (printed) when the tools venv
/// lacks it and tools are not required.
fn venv_tool(name: &str, what: &str) -> Option<PathBuf> {
    let bin = tool("PERFKIT_TOOLS_BIN", what)?;
    let path = bin.join(name);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "{} is missing ({what}); run the tests with tests/run",
            path.display()
        );
    }
    eprintln!("skipping {what}: no {}", path.display());
    None
}

/// A program on PATH (a Debian package such as fio), or `None` (printed).
fn path_tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("PERFKIT_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{name} is not on PATH but PERFKIT_REQUIRE_TOOLS=1 ({install})")
        }
        None => {
            eprintln!("skipping: {name} is not on PATH ({install})");
            None
        }
    }
}

/// Locust's task ratios for the locustfile, with extra environment.
fn locust_task_ratios(locust: &Path, file: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(locust);
    cmd.arg("-f").arg(file).arg("--show-task-ratio-json");
    cmd.env_remove("PERFKIT_LOCUST_ISSUE_WEIGHT")
        .env_remove("PERFKIT_LOCUST_VALIDATE_WEIGHT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_locustfile_is_python_with_two_weighted_tasks() {
    let dir = repo(None, &[]);
    ok(&perfkit(
        dir.path(),
        &["--project", "keystone", "--with-locust"],
    ));
    let file = dir.path().join(LOCUSTFILE);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("{{") && !text.contains("{%"), "{text}");

    let python = tool("PERFKIT_TOOLS_BIN", "python")
        .map(|b| b.join("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let compiled = Command::new(&python)
        .args(["-m", "py_compile"])
        .arg(&file)
        .env("PYTHONPYCACHEPREFIX", dir.path().join("pycache"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", stderr(&compiled));

    let Some(locust) = venv_tool("locust", "locust --list on the locustfile") else {
        return;
    };
    let listed = Command::new(&locust)
        .arg("-f")
        .arg(&file)
        .arg("--list")
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("KeystoneTokenUser"),
        "{}",
        stdout(&listed)
    );

    for (env, issue, validate) in [
        (vec![], 0.3, 0.7),
        (
            vec![
                ("PERFKIT_LOCUST_ISSUE_WEIGHT", "1"),
                ("PERFKIT_LOCUST_VALIDATE_WEIGHT", "3"),
            ],
            0.25,
            0.75,
        ),
    ] {
        let out = locust_task_ratios(&locust, &file, &env);
        assert!(out.status.success(), "{}", stderr(&out));
        let ratios: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tasks = &ratios["total"]["KeystoneTokenUser"]["tasks"];
        assert_eq!(tasks.as_object().map(|t| t.len()), Some(2), "{ratios}");
        assert_eq!(tasks["issue"]["ratio"].as_f64(), Some(issue), "{ratios}");
        assert_eq!(
            tasks["validate"]["ratio"].as_f64(),
            Some(validate),
            "{ratios}"
        );
    }
    let bad = locust_task_ratios(&locust, &file, &[("PERFKIT_LOCUST_ISSUE_WEIGHT", "lots")]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("PERFKIT_LOCUST_ISSUE_WEIGHT='lots' is not a whole number"),
        "{}",
        stderr(&bad)
    );
}

/// A stand-in for devstack's Keystone on 127.0.0.1: issues a token for the
/// one password-auth body it expects, validates tokens it issued, and says
/// at `/seen` how many of each it served and which bodies it refused.
const STAND_IN_KEYSTONE: &str = r#"
import json, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WANT = {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "password": sys.argv[1], "domain": {"id": "default"}}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
TOKENS = "/identity/v3/auth/tokens"
lock = threading.Lock()
tokens, seen = set(), {"issued": 0, "validated": 0, "refused": []}

class Keystone(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response: no Nagle delays

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"{}", token=None):
        self.send_response(code)
        if token:
            self.send_header("X-Subject-Token", token)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != TOKENS or json.loads(body) != WANT:
            with lock:
                seen["refused"].append(self.path)
            return self.reply(401)
        token = uuid.uuid4().hex
        with lock:
            tokens.add(token)
            seen["issued"] += 1
        self.reply(201, b'{"token": {"methods": ["password"]}}', token)

    def do_GET(self):
        if self.path == "/seen":
            with lock:
                return self.reply(200, json.dumps(seen).encode())
        auth = self.headers.get("X-Auth-Token")
        subject = self.headers.get("X-Subject-Token")
        with lock:
            valid = self.path == TOKENS and auth in tokens and subject in tokens
            if valid:
                seen["validated"] += 1
        if not valid:
            return self.reply(404)
        self.reply(200, b'{"token": {}}', subject)

class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # Locust resets its connections when it stops

server = Server(("127.0.0.1", 0), Keystone)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// Kills the child process when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stand-in Keystone, and the port it listens on.
fn stand_in_keystone(python: &Path, password: &str) -> (Killed, u16) {
    use std::io::BufRead as _;
    let mut child = Command::new(python)
        .args(["-c", STAND_IN_KEYSTONE, password])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port: {line:?}"));
    (Killed(child), port)
}

/// Python's answer from the stand-in Keystone's `/seen`.
fn keystone_seen(python: &Path, port: u16) -> serde_json::Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            &format!("http://127.0.0.1:{port}/seen"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A secret giving `perfkit_archive`, as a vars file.
fn archive_secret(dir: &Path) -> PathBuf {
    let secret = dir.join("secret.yaml");
    std::fs::write(
        &secret,
        "perfkit_archive:\n  url: s3://perf/openstack\n  env:\n    AWS_ACCESS_KEY_ID: AKIDEXAMPLE\n    AWS_SECRET_ACCESS_KEY: s3cr3t-value\n",
    )
    .unwrap();
    secret
}

/// Runs a scaffolded playbook on localhost with the change's zuul vars,
/// the stub roles and `extra` (`-e` values); asserts it passed and returns
/// its output.
fn run_playbook(bin: &Path, playbook: &Path, roles: &Path, extra: &[String]) -> String {
    let mut args = vec!["-v".to_string()];
    args.extend(change_playbook_args(bin, extra, playbook));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ansible(bin, &args, &[("ANSIBLE_ROLES_PATH", roles)]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{}:\n{text}", playbook.display());
    text
}

/// The ingest call the fake perfkit logged: its arguments, with the
/// credentials only in the 0600 settings file.
fn assert_ingested(log: &Path, home: &Path, project: &str, inputs: &[PathBuf]) {
    let calls = std::fs::read_to_string(log).unwrap();
    let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let want = format!(
        "ARGS ingest --env-file {} --project {project} --zuul-vars {} {}\nENV [] []\n\
         FILE PERFKIT_ARCHIVE=s3://perf/openstack\nFILE AWS_ACCESS_KEY_ID=AKIDEXAMPLE\n\
         FILE AWS_SECRET_ACCESS_KEY=s3cr3t-value\nMODE 600\n",
        home.join("archive.env").display(),
        home.join("zuul-vars.json").display(),
        inputs.join(" ")
    );
    assert_eq!(calls, want);
    assert!(
        !home.join("archive.env").exists(),
        "settings file left behind"
    );
}

/// The Locust job on localhost: run-locust.yaml (devstack stubbed, the
/// real Locust, an openrc like devstack's pointing at a stand-in Keystone)
/// issues and validates real tokens and leaves Locust's CSV, JSON and HTML
/// results; with a wrong password Locust exits 2; post-locust.yaml returns
/// the results as artifacts and, with a secret, hands `perfkit ingest` the
/// CSV prefix, which the real perfkit archives as one run.
#[test]
fn the_locust_job_runs_against_a_stand_in_keystone() {
    let dir = repo(None, &[]);
    ok(&perfkit(
        dir.path(),
        &["--project", "nova", "--with-locust"],
    ));
    let Some(locust) = venv_tool("locust", "the Locust job against a stand-in Keystone") else {
        return;
    };
    let bin = locust.parent().unwrap().to_path_buf();
    let python = bin.join("python");
    let work = tempfile::tempdir().unwrap();
    let roles = stub_roles(work.path());
    const PASSWORD: &str = "pw-n0t-in-any-log";
    let (_keystone, port) = stand_in_keystone(&python, PASSWORD);
    let openrc = work.path().join("openrc");
    std::fs::write(
        &openrc,
        format!(
            "# Like devstack's: source openrc USER PROJECT\nexport OS_AUTH_URL=http://127.0.0.1:{port}/identity\n\
             export OS_USERNAME=$1 OS_PROJECT_NAME=$2 OS_PASSWORD={PASSWORD}\n\
             export OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default\n"
        ),
    )
    .unwrap();
    let results = work.path().join("perfkit/locust");
    let results_var = format!("perfkit_locust_results_dir={}", results.display());
    let run = run_playbook(
        &bin,
        &dir.path().join(RUN_LOCUST),
        &roles,
        &[
            results_var.clone(),
            format!("perfkit_src_dir={}", dir.path().display()),
            format!("perfkit_locust_openrc={}", openrc.display()),
            format!("perfkit_locust_bin={}", locust.display()),
            "perfkit_locust_become=false".into(),
            "perfkit_locustfile=rally-jobs/locust/locustfile.py".into(),
            "perfkit_locust_users=4".into(),
            "perfkit_locust_spawn_rate=4".into(),
            "perfkit_locust_run_time=6s".into(),
            "perfkit_locust_issue_weight=30".into(),
            "perfkit_locust_validate_weight=70".into(),
        ],
    );
    assert!(run.contains("devstack would be deployed here"), "{run}");
    assert!(!run.contains(PASSWORD), "the password was printed:\n{run}");

    let seen = keystone_seen(&python, port);
    assert_eq!(seen["refused"], serde_json::json!([]), "{seen}");
    let (issued, validated) = (
        seen["issued"].as_u64().unwrap(),
        seen["validated"].as_u64().unwrap(),
    );
    // The 30/70 mix is checked by the_locustfile_is_python_with_two_weighted_tasks;
    // a 3 s run on a busy machine is too short to judge it.
    assert!(issued > 0 && validated > 0, "{seen}");

    let mut files: Vec<String> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "locust.html",
            "locust.json",
            "locust_exceptions.csv",
            "locust_failures.csv",
            "locust_stats.csv",
            "locust_stats_history.csv"
        ]
    );
    let stats = std::fs::read_to_string(results.join("locust_stats.csv")).unwrap();
    for method in ["GET", "POST"] {
        let row = stats
            .lines()
            .find(|l| l.starts_with(&format!("{method},/v3/auth/tokens,")))
            .unwrap_or_else(|| panic!("no {method} row:\n{stats}"));
        let failures: u64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert_eq!(failures, 0, "{row}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("locust.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    for file in &files {
        let text = std::fs::read_to_string(results.join(file)).unwrap();
        assert!(!text.contains(PASSWORD), "the password is in {file}");
    }

    // OS_AUTH_URL may end in /v3; only failures (a wrong password) is a
    // broken run, not a result: Locust exits 2.
    for (url, password, code) in [
        ("identity/v3/", PASSWORD, 0),
        ("identity", "not-the-password", 2),
    ] {
        let direct = Command::new(&locust)
            .arg("-f")
            .arg(dir.path().join(LOCUSTFILE))
            .args(["--headless", "-u", "1", "-r", "1", "-t", "5s"])
            .args(["--exit-code-on-error", "3"])
            .env("OS_AUTH_URL", format!("http://127.0.0.1:{port}/{url}"))
            .env("OS_USERNAME", "admin")
            .env("OS_PASSWORD", password)
            .env("OS_PROJECT_NAME", "admin")
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(
            direct.status.code(),
            Some(code),
            "{url}: {}{}",
            stdout(&direct),
            stderr(&direct)
        );
        assert_eq!(
            stderr(&direct).contains("no request succeeded"),
            code == 2,
            "{}",
            stderr(&direct)
        );
    }

    let fakes = work.path().join("fakes");
    std::fs::create_dir(&fakes).unwrap();
    let (fake, log) = fake_perfkit(&fakes);
    let home = work.path().join("home");
    let secret = format!("@{}", archive_secret(work.path()).display());
    let post = run_playbook(
        &bin,
        &dir.path().join(POST_LOCUST),
        &roles,
        &[
            results_var,
            format!("perfkit_home={}", home.display()),
            format!("perfkit_bin={}", fake.display()),
            checksum_var(&fake),
            secret,
        ],
    );
    for file in &files {
        assert!(
            post.contains(&format!("perfkit/{file}")),
            "artifact {file}:\n{post}"
        );
    }
    assert!(!post.contains("s3cr3t-value"), "secret printed:\n{post}");
    // The CSV prefix only: the JSON is the same run again.
    assert_ingested(&log, &home, "openstack/nova", &[results.join("locust")]);
    real_ingest(&results.join("locust"), "[locust-csv]");
}

/// The real `perfkit ingest` of what a scaffolded job produced here: one
/// archived run of the expected format.
fn real_ingest(input: &Path, format: &str) {
    let archive = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_perfkit"))
        .args(["ingest", "--project", "openstack/nova", "--archive"])
        .arg(archive.path())
        .arg(input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(stdout.contains(format), "{stdout}");
    assert_eq!(
        stdout.matches(": archived openstack/nova").count(),
        1,
        "{stdout}"
    );
}

/// The fio job file, parsed by fio with and without the variables the
/// playbook sets; then the fio job on localhost: run-fio.yaml runs the real
/// fio (small size and run time) and leaves JSON+ output for both jobs,
/// removing its test files; post-fio.yaml returns it as an artifact and
/// hands it to `perfkit ingest` with a secret.
#[test]
fn the_fio_job_file_parses_and_the_fio_job_runs_here() {
    let dir = repo(None, &[]);
    ok(&perfkit(dir.path(), &["--project", "cinder", "--with-fio"]));
    let jobfile = dir.path().join("rally-jobs/fio/cinder.fio");
    let Some(fio) = path_tool("fio", "`apt-get install fio`") else {
        return;
    };
    // Direct I/O needs a real file system: tmpfs (often /tmp) refuses it.
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = work.path().join("fio-data");
    let parse = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&fio);
        cmd.arg("--parse-only").arg(&jobfile);
        for var in ["PERFKIT_FIO_DIR", "PERFKIT_FIO_SIZE", "PERFKIT_FIO_RUNTIME"] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let data_str = data.to_str().unwrap();
    let good = parse(&[
        ("PERFKIT_FIO_DIR", data_str),
        ("PERFKIT_FIO_SIZE", "1G"),
        ("PERFKIT_FIO_RUNTIME", "60"),
    ]);
    assert!(good.status.success(), "{}{}", stdout(&good), stderr(&good));
    let unset = parse(&[]);
    assert!(
        !unset.status.success(),
        "fio accepted the job file without its variables"
    );
    assert!(
        stderr(&unset).contains("size=${PERFKIT_FIO_SIZE}"),
        "{}",
        stderr(&unset)
    );

    let Some(bin) = tool("PERFKIT_TOOLS_BIN", "the fio job run by ansible-playbook") else {
        return;
    };
    let roles = stub_roles(work.path());
    let results = work.path().join("fio-results");
    let results_var = format!("perfkit_fio_results_dir={}", results.display());
    run_playbook(
        &bin,
        &dir.path().join(RUN_FIO),
        &roles,
        &[
            results_var.clone(),
            format!("perfkit_fio_dir={data_str}"),
            format!("perfkit_src_dir={}", dir.path().display()),
            "perfkit_fio_jobfile=rally-jobs/fio/cinder.fio".into(),
            "perfkit_fio_size=8M".into(),
            "perfkit_fio_runtime=1".into(),
        ],
    );
    assert!(!data.exists(), "fio's test files were left behind");
    let output: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("fio.json")).unwrap()).unwrap();
    assert_eq!(output["global options"]["directory"], data_str, "{output}");
    assert_eq!(output["global options"]["size"], "8M");
    let jobs = output["jobs"].as_array().unwrap();
    let summary: Vec<(String, String, String, bool)> = jobs
        .iter()
        .map(|j| {
            let opts = &j["job options"];
            let dir = if opts["rw"] == "randwrite" {
                "write"
            } else {
                "read"
            };
            (
                j["jobname"].as_str().unwrap().to_string(),
                opts["bs"].as_str().unwrap().to_string(),
                opts["iodepth"].as_str().unwrap().to_string(),
                j[dir]["iops"].as_f64().unwrap() > 0.0 && j["error"] == 0,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("randwrite-4k-qd32".into(), "4k".into(), "32".into(), true),
            ("seqread-1m".into(), "1M".into(), "16".into(), true),
        ]
    );
    // json+ adds the completion-latency histogram to the percentiles.
    assert!(
        jobs[0]["write"]["clat_ns"]["bins"].is_object(),
        "{}",
        jobs[0]
    );

    let (fake, log) = fake_perfkit(work.path());
    let home = work.path().join("home");
    let secret = format!("@{}", archive_secret(work.path()).display());
    let post = run_playbook(
        &bin,
        &dir.path().join(POST_FIO),
        &roles,
        &[
            results_var,
            format!("perfkit_home={}", home.display()),
            format!("perfkit_bin={}", fake.display()),
            checksum_var(&fake),
            secret,
        ],
    );
    assert!(post.contains("perfkit/fio.json"), "{post}");
    assert_ingested(&log, &home, "openstack/nova", &[results.join("fio.json")]);
    real_ingest(&results.join("fio.json"), "[fio-json]");
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// The real RBD fio output (tests/fixtures/fio/rbd).
const RBD_FIXTURE: &str = "fio/rbd/randwrite-seqread-rbd.json";

/// The RBD job file through Debian's fio: its rbd engine has the options
/// the file sets, and fio parses the file with the variables the playbook
/// sets and refuses it without them. Then run-fio-rbd.yaml on localhost
/// (devstack stubbed) with a stand-in `rbd` and a stand-in fio: the image
/// is created in the pool, fio gets the pool, client and image, and the
/// image is removed after fio, also when fio fails, but not when it was
/// never created; post-fio.yaml keeps and ingests fio.json as for the
/// local-disk job. With `PERFKIT_CEPH_CONF` (a Ceph config whose admin
/// keyring works, a pool `volumes`), the same playbook with the real `rbd`
/// and fio against that Ceph.
#[test]
fn the_fio_rbd_job_file_parses_and_its_playbook_always_removes_the_image() {
    let dir = repo(None, &[]);
    ok(&perfkit(
        dir.path(),
        &["--project", "cinder", "--with-fio", "--rbd"],
    ));
    let jobfile = dir.path().join("rally-jobs/fio/cinder-rbd.fio");
    let Some(fio) = path_tool("fio", "`apt-get install fio`") else {
        return;
    };
    let enghelp = Command::new(&fio).arg("--enghelp=rbd").output().unwrap();
    let options = stdout(&enghelp);
    assert!(
        enghelp.status.success(),
        "fio has no rbd engine: {options}{}",
        stderr(&enghelp)
    );
    for option in ["clientname", "pool", "rbdname"] {
        assert!(
            options.lines().any(|l| l.trim_start().starts_with(option)),
            "{option} missing from `fio --enghelp=rbd`:\n{options}"
        );
    }
    let vars = [
        "PERFKIT_FIO_RBD_POOL",
        "PERFKIT_FIO_RBD_CLIENT",
        "PERFKIT_FIO_RBD_IMAGE",
        "PERFKIT_FIO_RUNTIME",
    ];
    let parse = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&fio);
        cmd.arg("--parse-only").arg(&jobfile);
        for var in vars {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    };
    let set = [
        ("PERFKIT_FIO_RBD_POOL", "volumes"),
        ("PERFKIT_FIO_RBD_CLIENT", "admin"),
        ("PERFKIT_FIO_RBD_IMAGE", "perfkit-fio-test"),
        ("PERFKIT_FIO_RUNTIME", "60"),
    ];
    let good = parse(&set);
    assert!(good.status.success(), "{}{}", stdout(&good), stderr(&good));
    let unset = parse(&[]);
    assert!(
        !unset.status.success(),
        "fio accepted the job file without its variables"
    );
    for needle in [
        "failed parsing pool",
        "failed parsing rbdname",
        "failed parsing clientname",
    ] {
        assert!(
            stderr(&unset).contains(needle),
            "{needle}: {}",
            stderr(&unset)
        );
    }

    let Some(bin) = tool(
        "PERFKIT_TOOLS_BIN",
        "the fio RBD job run by ansible-playbook",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let roles = stub_roles(work.path());
    let results = work.path().join("fio-results");
    let log = work.path().join("rbd.log");
    let rbd = script(
        work.path(),
        "rbd",
        &format!(
            "echo \"rbd $* CEPH_CONF=$CEPH_CONF\" >> '{log}'\n[ \"$3\" = create ] && [ -e '{log}.refuse' ] && exit 17\nexit 0\n",
            log = log.display()
        ),
    );
    // A fio that writes the real RBD output where it is told, and logs the
    // environment the job file reads; `.fail` makes the run fail.
    let fixture_json = fixture(RBD_FIXTURE);
    let fake_fio = script(
        work.path(),
        "fio",
        &format!(
            "case \"$1\" in --version|--enghelp=rbd) exit 0;; esac\n\
             echo \"fio $* pool=$PERFKIT_FIO_RBD_POOL client=$PERFKIT_FIO_RBD_CLIENT image=$PERFKIT_FIO_RBD_IMAGE runtime=$PERFKIT_FIO_RUNTIME\" >> '{log}'\n\
             [ -e '{log}.fail' ] && exit 1\ncp '{fixture}' \"$3\"\n",
            log = log.display(),
            fixture = fixture_json.display()
        ),
    );
    let results_var = format!("perfkit_fio_results_dir={}", results.display());
    let extra = |fio: &Path, rbd: &Path| -> Vec<String> {
        vec![
            results_var.clone(),
            format!("perfkit_src_dir={}", dir.path().display()),
            format!("perfkit_fio_bin={}", fio.display()),
            format!("perfkit_rbd_bin={}", rbd.display()),
            "perfkit_fio_jobfile=rally-jobs/fio/cinder-rbd.fio".into(),
            "perfkit_fio_size=64M".into(),
            "perfkit_fio_runtime=2".into(),
            "perfkit_fio_rbd_pool=volumes".into(),
            "perfkit_fio_rbd_client=admin".into(),
            "perfkit_fio_rbd_become=false".into(),
        ]
    };
    let playbook = dir.path().join(RUN_FIO_RBD);
    let run_fio = |fio: &Path, rbd: &Path, more: &[String]| {
        let mut vars = extra(fio, rbd);
        vars.extend_from_slice(more);
        let args = change_playbook_args(&bin, &vars, &playbook);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ansible(&bin, &args, &[("ANSIBLE_ROLES_PATH", &roles)]);
        (
            out.status.success(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    };
    let taken = |what: &str| std::fs::read_to_string(&log).unwrap_or_default() + what;

    // Success: create, fio with the job's pool, client and image, remove.
    let (passed, text) = run_fio(&fake_fio, &rbd, &[]);
    assert!(passed, "{text}");
    let image = "perfkit-fio-5f2c1e0a9b8d4c3e8f7a6b5c4d3e2f1a";
    let want = format!(
        "rbd --id admin create --size 64M volumes/{image} CEPH_CONF=\n\
         fio --output-format=json+ --output {out} {job} pool=volumes client=admin image={image} runtime=2\n\
         rbd --id admin rm --no-progress volumes/{image} CEPH_CONF=\n",
        out = results.join("fio.json").display(),
        job = jobfile.display(),
    );
    assert_eq!(taken(""), want);
    assert!(results.join("fio.json").is_file());

    // fio fails: the play fails, the image is removed all the same.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(format!("{}.fail", log.display()), "").unwrap();
    let conf = format!(
        "perfkit_fio_rbd_conf={}",
        work.path().join("ceph.conf").display()
    );
    let (passed, text) = run_fio(
        &fake_fio,
        &rbd,
        &[conf, "perfkit_fio_rbd_image=mine".into()],
    );
    assert!(!passed, "the play passed although fio failed:\n{text}");
    let lines: Vec<String> = taken("").lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}\n{text}");
    assert!(
        lines[0].starts_with("rbd --id admin create --size 64M volumes/mine CEPH_CONF=/"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("fio "), "{lines:?}");
    assert!(
        lines[2].starts_with("rbd --id admin rm --no-progress volumes/mine CEPH_CONF=/"),
        "{lines:?}"
    );
    assert!(lines[2].ends_with("/ceph.conf"), "{lines:?}");

    // The image could not be created (someone's, say): fio does not run and
    // nothing is removed.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(format!("{}.refuse", log.display()), "").unwrap();
    let (passed, text) = run_fio(&fake_fio, &rbd, &[]);
    assert!(!passed, "{text}");
    let lines: Vec<String> = taken("").lines().map(String::from).collect();
    assert_eq!(lines.len(), 1, "{lines:?}\n{text}");
    assert!(lines[0].contains(" create "), "{lines:?}");

    // The shared post-run keeps and ingests fio.json (from the success above).
    std::fs::remove_file(format!("{}.fail", log.display())).unwrap();
    std::fs::remove_file(format!("{}.refuse", log.display())).unwrap();
    let (passed, text) = run_fio(&fake_fio, &rbd, &[]);
    assert!(passed, "{text}");
    let (fake, ingest_log) = fake_perfkit(work.path());
    let home = work.path().join("home");
    let secret = format!("@{}", archive_secret(work.path()).display());
    let post = run_playbook(
        &bin,
        &dir.path().join(POST_FIO),
        &roles,
        &[
            results_var.clone(),
            format!("perfkit_home={}", home.display()),
            format!("perfkit_bin={}", fake.display()),
            checksum_var(&fake),
            secret,
        ],
    );
    assert!(post.contains("perfkit/fio.json"), "{post}");
    assert_ingested(
        &ingest_log,
        &home,
        "openstack/nova",
        &[results.join("fio.json")],
    );
    real_ingest(&results.join("fio.json"), "[fio-json]");

    // A real Ceph, when one is named (not in CI: see tests/fixtures/fio/rbd).
    let Some(conf) = std::env::var_os("PERFKIT_CEPH_CONF") else {
        eprintln!("skipping the RBD job against a real Ceph: PERFKIT_CEPH_CONF is not set");
        return;
    };
    let real_rbd = path_tool("rbd", "`apt-get install ceph-common`").expect("rbd");
    let image = format!("perfkit-fio-test-{}", std::process::id());
    let (passed, text) = run_fio(
        &fio,
        &real_rbd,
        &[
            format!("perfkit_fio_rbd_conf={}", Path::new(&conf).display()),
            format!("perfkit_fio_rbd_image={image}"),
        ],
    );
    assert!(passed, "{text}");
    let output: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("fio.json")).unwrap()).unwrap();
    assert_eq!(output["global options"]["ioengine"], "rbd", "{output}");
    assert_eq!(output["global options"]["pool"], "volumes");
    assert_eq!(output["global options"]["rbdname"], image.as_str());
    for (j, dir) in [(0, "write"), (1, "read")] {
        let job = &output["jobs"][j];
        assert_eq!(job["error"], 0, "{job}");
        assert!(job[dir]["iops"].as_f64().unwrap() > 0.0, "{job}");
        assert!(job[dir]["clat_ns"]["bins"].is_object(), "{job}");
    }
    let listed = Command::new(&real_rbd)
        .args(["ls", "volumes"])
        .env("CEPH_CONF", &conf)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        !stdout(&listed).contains(&image),
        "image left behind: {}",
        stdout(&listed)
    );
    real_ingest(&results.join("fio.json"), "[fio-json]");
    eprintln!(
        "the RBD job ran against the real Ceph of {}",
        Path::new(&conf).display()
    );
}
