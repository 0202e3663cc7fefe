//! `scaffold::plan` and `scaffold::write` on temporary repos of every Zuul
//! layout, with snapshots of what perfkit writes into the Zuul config and
//! the post-run playbook; `repo::open` on real git repos made with git2.

use std::path::{Path, PathBuf};

use perfkit_schema::ProjectName;
use perfkit_zuul::ScaffoldError;
use perfkit_zuul::scaffold::config::ConfigRoot;
use perfkit_zuul::scaffold::repo;
use perfkit_zuul::scaffold::{self, FileAction, ScaffoldPlan, ScaffoldRequest};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
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

fn repo_with(copies: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in copies {
        copy(&fixtures().join(from), &dir.path().join(to));
    }
    dir
}

fn request(root: &Path, project: &str) -> ScaffoldRequest {
    ScaffoldRequest {
        repo_root: root.to_path_buf(),
        project: ProjectName::try_from(project).unwrap(),
        job_name: None,
        pipelines: vec![],
        scenarios: None,
        templates_dir: None,
        force: false,
        variants: vec![],
    }
}

fn file<'a>(plan: &'a ScaffoldPlan, path: &str) -> &'a scaffold::FileChange {
    plan.files
        .iter()
        .find(|f| f.path == Path::new(path))
        .unwrap_or_else(|| {
            panic!(
                "{path} not in plan: {:?}",
                plan.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
}

#[test]
fn neutron_zuul_d_gets_one_new_file() {
    let dir = repo_with(&[("openstack/neutron/zuul.d", "zuul.d")]);
    let plan = scaffold::plan(&request(dir.path(), "neutron")).unwrap();
    assert_eq!(plan.config_root, ConfigRoot::Dir("zuul.d".into()));
    let zuul = file(&plan, "zuul.d/perfkit-rally.yaml");
    assert_eq!(zuul.action, FileAction::Create);
    // The other zuul.d files are not in the plan at all.
    assert!(
        !plan
            .files
            .iter()
            .any(|f| f.path.starts_with("zuul.d")
                && f.path != Path::new("zuul.d/perfkit-rally.yaml"))
    );
    insta::assert_snapshot!("zuul_d_neutron", zuul.after);
}

#[test]
fn nova_dot_zuul_yaml_diff() {
    let dir = repo_with(&[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    let plan = scaffold::plan(&request(dir.path(), "nova")).unwrap();
    let zuul = file(&plan, ".zuul.yaml");
    assert_eq!(zuul.action, FileAction::Update);
    insta::assert_snapshot!("dot_zuul_yaml_nova_diff", zuul.unified_diff());
}

#[test]
fn rally_openstack_dot_zuul_d_and_mistral_zuul_yaml() {
    let dir = repo_with(&[("openstack/rally-openstack/.zuul.d", ".zuul.d")]);
    let plan = scaffold::plan(&request(dir.path(), "openstack/rally-openstack")).unwrap();
    assert_eq!(plan.config_root, ConfigRoot::Dir(".zuul.d".into()));
    insta::assert_snapshot!(
        "dot_zuul_d_rally_openstack",
        file(&plan, ".zuul.d/perfkit-rally.yaml").after
    );

    let dir = repo_with(&[("openstack/mistral/.zuul.yaml", "zuul.yaml")]);
    let mut req = request(dir.path(), "mistral");
    req.job_name = Some("mistral-perfkit-rally".into());
    req.pipelines = vec!["check".into(), "periodic-weekly".into()];
    let plan = scaffold::plan(&req).unwrap();
    assert_eq!(plan.config_root, ConfigRoot::File("zuul.yaml".into()));
    insta::assert_snapshot!(
        "zuul_yaml_mistral_diff",
        file(&plan, "zuul.yaml").unified_diff()
    );
}

#[test]
fn no_config_and_the_playbook() {
    let dir = repo_with(&[]);
    let plan = scaffold::plan(&request(dir.path(), "x/frobnicator")).unwrap();
    assert_eq!(plan.config_root, ConfigRoot::None);
    insta::assert_snapshot!("none_frobnicator", file(&plan, ".zuul.yaml").after);
    insta::assert_snapshot!(
        "post_run_playbook",
        file(&plan, "playbooks/perfkit/post-rally-task.yaml").after
    );
    insta::assert_snapshot!(
        "playbooks_readme",
        file(&plan, "playbooks/perfkit/README.rst").after
    );
}

#[test]
fn write_then_plan_again_is_a_no_op() {
    let dir = repo_with(&[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    let req = request(dir.path(), "nova");
    let plan = scaffold::plan(&req).unwrap();
    assert!(!plan.is_noop());
    scaffold::write(&plan, dir.path()).unwrap();
    for f in &plan.files {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&f.path)).unwrap(),
            f.after
        );
    }
    let again = scaffold::plan(&req).unwrap();
    assert!(
        again.is_noop(),
        "{:?}",
        again
            .files
            .iter()
            .map(|f| (&f.path, f.action))
            .collect::<Vec<_>>()
    );
    assert!(again.unified_diff().is_empty());
}

#[test]
fn a_failed_write_leaves_no_trace() {
    let dir = repo_with(&[("openstack/nova/.zuul.yaml", ".zuul.yaml")]);
    let plan = scaffold::plan(&request(dir.path(), "nova")).unwrap();
    // Something gets in the way between planning and writing: the files
    // written before the failure (rally-jobs/ sorts first) must go again.
    std::fs::write(dir.path().join("playbooks"), "in the way\n").unwrap();
    let err = scaffold::write(&plan, dir.path()).unwrap_err();
    assert!(matches!(err, ScaffoldError::Write { .. }), "{err}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".zuul.yaml", "playbooks"],
        "temp files or new dirs left behind"
    );
    let original = std::fs::read_to_string(fixtures().join("openstack/nova/.zuul.yaml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".zuul.yaml")).unwrap(),
        original
    );
    // Planning already sees the obstacle.
    let err = scaffold::plan(&request(dir.path(), "nova")).unwrap_err();
    assert!(matches!(err, ScaffoldError::Write { .. }), "{err}");
}

#[test]
fn repos_are_found_upwards_and_their_remote_names_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let git = git2::Repository::init(dir.path()).unwrap();
    git.remote(
        "gerrit",
        "ssh://jdoe@review.opendev.org:29418/openstack/nova.git",
    )
    .unwrap();
    let sub = dir.path().join("nova/compute");
    std::fs::create_dir_all(&sub).unwrap();

    let found = repo::open(None, &sub).unwrap();
    assert_eq!(found.root, dir.path().canonicalize().unwrap());
    let (project, note) = repo::resolve_project(None, &found).unwrap();
    assert_eq!(project.as_str(), "openstack/nova");
    assert!(note.unwrap().contains("remote `gerrit`"));

    // `origin` wins over `gerrit`; a disagreeing --project is used but noted.
    git.remote("origin", "https://opendev.org/openstack/nova")
        .unwrap();
    let found = repo::open(Some(dir.path()), &sub).unwrap();
    assert_eq!(found.remote.as_ref().unwrap().0, "origin");
    let (project, note) = repo::resolve_project(Some("cinder"), &found).unwrap();
    assert_eq!(project.as_str(), "openstack/cinder");
    assert!(note.unwrap().contains("differs from remote `origin`"));

    // --repo must be the top of a work tree.
    assert!(matches!(
        repo::open(Some(&sub), dir.path()),
        Err(ScaffoldError::NotARepo {
            searched_up: false,
            ..
        })
    ));
    let bare = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(bare.path()).unwrap();
    assert!(matches!(
        repo::open(Some(bare.path()), bare.path()),
        Err(ScaffoldError::BareRepo { .. })
    ));
}

#[test]
fn templates_dir_overrides_the_zuul_templates() {
    let dir = repo_with(&[]);
    let templates = tempfile::tempdir().unwrap();
    let zuul = templates.path().join("zuul");
    std::fs::create_dir_all(&zuul).unwrap();
    std::fs::write(
        zuul.join("job.yaml.j2"),
        "# ours\n- job:\n    name: {{ job_name }}\n    parent: {{ parent }}\n    voting: false\n",
    )
    .unwrap();
    let mut req = request(dir.path(), "nova");
    req.templates_dir = Some(templates.path().to_path_buf());
    let plan = scaffold::plan(&req).unwrap();
    let text = &file(&plan, ".zuul.yaml").after;
    assert!(text.starts_with("# ours\n- job:\n    name: nova-rally-task\n    parent: rally-task-nova\n    voting: false\n"), "{text}");
    // The built-in project stanza is still used.
    assert!(text.contains("- project:\n"), "{text}");

    // A job template that loses the job's name cannot be merged safely.
    std::fs::write(zuul.join("job.yaml.j2"), "- job:\n    name: other\n").unwrap();
    let err = scaffold::plan(&req).unwrap_err();
    assert!(matches!(err, ScaffoldError::Template { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("exactly one `- job:` stanza named `nova-rally-task`"),
        "{err}"
    );
}
