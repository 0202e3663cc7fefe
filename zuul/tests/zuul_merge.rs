//! Merging perfkit's job into real single-file Zuul configs (nova, cinder,
//! glance, mistral, zaqar from tests/fixtures/openstack) and into odd
//! synthetic ones: only insertions, the original bytes come back when the
//! inserted lines are removed, the result parses to the original plus the
//! job, and a second merge changes nothing.

use std::path::{Path, PathBuf};

use perfkit_schema::ProjectName;
use perfkit_zuul::ScaffoldError;
use perfkit_zuul::scaffold::catalog::ServiceEntry;
use perfkit_zuul::scaffold::config::{job_name, parse_stanzas, pipeline_jobs, stanza_body};
use perfkit_zuul::scaffold::job::{JobSpec, render_job, render_project};
use perfkit_zuul::scaffold::merge::{JobBlock, JobState, Merged, merge_into_file};
use similar::{ChangeTag, TextDiff};
use yaml_serde::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn entry(service: &str, parent: Option<&str>) -> ServiceEntry {
    ServiceEntry {
        service: service.into(),
        rally_parent_job: parent.map(str::to_string),
        devstack_plugins: vec![],
        devstack_services: vec![("c-bak".into(), false)],
        required_projects: vec![],
        timeout_s: 7200,
        subtasks: vec![],
    }
}

struct Job {
    name: String,
    text: String,
    stanza: Value,
}

fn job(project: &str, name: &str) -> Job {
    let project = ProjectName::try_from(project).unwrap();
    let short = project.short_name().to_string();
    let spec = JobSpec::new(
        &project,
        name,
        &entry(&short, Some(&format!("rally-task-{short}"))),
        &format!("rally-jobs/task-{short}.yaml"),
    );
    let text = render_job(&spec, None).unwrap();
    let stanza = parse_stanzas(Path::new("job"), &text).unwrap().remove(0);
    Job {
        name: name.into(),
        text,
        stanza,
    }
}

fn merge(
    path: &str,
    original: &str,
    job: &Job,
    pipelines: &[&str],
    force: bool,
) -> Result<Merged, ScaffoldError> {
    let stanzas = parse_stanzas(Path::new(path), original)?;
    let pipelines: Vec<String> = pipelines.iter().map(|p| p.to_string()).collect();
    let name = job.name.clone();
    let render = move |p: &[String]| render_project(&name, p, None);
    merge_into_file(
        Path::new(path),
        original,
        &stanzas,
        &JobBlock {
            name: &job.name,
            text: &job.text,
            stanza: &job.stanza,
        },
        &pipelines,
        &render,
        force,
    )
}

/// The diff is insertions only, and the kept lines are the original bytes.
fn assert_only_insertions(original: &str, merged: &str) -> Vec<String> {
    let diff = TextDiff::from_lines(original, merged);
    let mut kept = String::new();
    let mut inserted = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Equal => kept.push_str(change.value()),
            ChangeTag::Insert => inserted.push(change.value().to_string()),
            ChangeTag::Delete => panic!("line deleted: {:?}", change.value()),
        }
    }
    assert_eq!(
        kept, original,
        "removing the inserted lines must give the original bytes"
    );
    inserted
}

fn lists(stanzas: &[Value], pipeline: &str, job: &str) -> usize {
    stanzas
        .iter()
        .filter_map(|s| stanza_body(s, "project"))
        .map(|p| {
            pipeline_jobs(p, pipeline)
                .iter()
                .filter(|j| **j == job)
                .count()
        })
        .sum()
}

/// The parsed config without `job`: its stanza, its entries in project
/// pipelines, and project stanzas left with nothing but empty job lists.
fn strip(stanzas: Vec<Value>, job: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for mut s in stanzas {
        if job_name(&s) == Some(job) {
            continue;
        }
        let mut emptied_only = false;
        if let Some(Value::Mapping(project)) = s.get_mut("project") {
            let mut all_empty = true;
            for (_, pipeline) in project.iter_mut() {
                match pipeline.get_mut("jobs").and_then(Value::as_sequence_mut) {
                    Some(jobs) => {
                        jobs.retain(|j| {
                            let name = match j {
                                Value::String(n) => Some(n.as_str()),
                                Value::Mapping(m) => m.keys().next().and_then(Value::as_str),
                                _ => None,
                            };
                            name != Some(job)
                        });
                        all_empty &= jobs.is_empty();
                    }
                    None => all_empty = false,
                }
            }
            emptied_only = all_empty;
        }
        if !emptied_only {
            out.push(s);
        }
    }
    out
}

fn check_real(project: &str, name: &str) -> (String, Merged) {
    let path = fixtures().join(format!("openstack/{project}/.zuul.yaml"));
    let original = std::fs::read_to_string(&path).unwrap();
    let j = job(project, name);
    let merged = merge(".zuul.yaml", &original, &j, &["check", "gate"], false).unwrap();
    assert_eq!(merged.job, JobState::Added);
    let inserted = assert_only_insertions(&original, &merged.text);
    assert!(
        inserted.iter().any(|l| l.trim() == format!("name: {name}")),
        "{inserted:#?}"
    );

    let before = parse_stanzas(Path::new("a"), &original).unwrap();
    let after = parse_stanzas(Path::new("b"), &merged.text).unwrap();
    assert_eq!(
        after.iter().filter(|s| job_name(s) == Some(name)).count(),
        1
    );
    for p in ["check", "gate"] {
        assert_eq!(lists(&after, p, name), 1, "{project} {p}");
    }
    // Taking our additions out of the parsed result gives the original structure.
    assert_eq!(strip(after, name), before);

    // Second run: nothing to do.
    let again = merge(".zuul.yaml", &merged.text, &j, &["check", "gate"], false).unwrap();
    assert_eq!(again.job, JobState::Unchanged);
    assert_eq!(again.text, merged.text);
    assert!(again.pipelines_in_place.is_empty() && again.pipelines_new_stanza.is_empty());
    (original, merged)
}

#[test]
fn nova_gets_the_job_in_its_existing_check_and_gate_lists() {
    let (_, merged) = check_real("nova", "nova-rally-task");
    assert_eq!(merged.pipelines_in_place, ["check", "gate"]);
    assert!(merged.pipelines_new_stanza.is_empty());
    // The new list entries use the list's own indentation.
    assert_eq!(
        merged.text.matches("\n        - nova-rally-task\n").count(),
        2
    );
}

#[test]
fn other_real_single_file_configs_merge_cleanly() {
    check_real("glance", "glance-rally-task");
    check_real("mistral", "mistral-rally-task-perfkit");
    check_real("zaqar", "zaqar-rally-task");
    check_real("cinder", "cinder-perfkit-rally");
}

#[test]
fn a_job_perfkit_did_not_write_is_never_touched() {
    let original = std::fs::read_to_string(fixtures().join("openstack/cinder/.zuul.yaml")).unwrap();
    let err = merge(
        ".zuul.yaml",
        &original,
        &job("cinder", "cinder-rally-task"),
        &["check"],
        true,
    )
    .unwrap_err();
    match &err {
        ScaffoldError::JobConflict { job, line, .. } => {
            assert_eq!(job, "cinder-rally-task");
            let line = line.expect("line of the existing job");
            assert_eq!(original.lines().nth(line - 1), Some("- job:"));
            assert_eq!(
                original.lines().nth(line).map(str::trim),
                Some("name: cinder-rally-task")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.hint()
            .unwrap()
            .contains("--job-name cinder-perfkit-rally")
    );
}

#[test]
fn pipelines_missing_from_the_stanza_go_to_a_second_project_stanza() {
    let original = std::fs::read_to_string(fixtures().join("openstack/nova/.zuul.yaml")).unwrap();
    let j = job("nova", "nova-rally-task");
    let merged = merge(".zuul.yaml", &original, &j, &["check", "periodic"], false).unwrap();
    assert_eq!(merged.pipelines_in_place, ["check"]);
    assert_eq!(merged.pipelines_new_stanza, ["periodic"]);
    let inserted = assert_only_insertions(&original, &merged.text);
    assert!(inserted.iter().any(|l| l.trim_end() == "- project:"));
    let after = parse_stanzas(Path::new("b"), &merged.text).unwrap();
    assert_eq!(lists(&after, "periodic", "nova-rally-task"), 1);
    assert_eq!(lists(&after, "check", "nova-rally-task"), 1);
}

#[test]
fn flow_lists_anchored_lists_and_named_stanzas_fall_back_to_a_new_stanza() {
    let original = "\
# keep me
- job:
    name: base-thing
    vars: &v
      a: 1
- project:
    check:
      jobs: [one, two]   # flow style
    gate:
      jobs: &gatejobs
        - one
- project:
    periodic:
      jobs: *gatejobs
";
    let j = job("nova", "nova-rally-task");
    let merged = merge(
        "zuul.yaml",
        original,
        &j,
        &["check", "gate", "periodic"],
        false,
    )
    .unwrap();
    assert!(merged.pipelines_in_place.is_empty());
    assert_eq!(merged.pipelines_new_stanza, ["check", "gate", "periodic"]);
    assert_only_insertions(original, &merged.text);
    let after = parse_stanzas(Path::new("b"), &merged.text).unwrap();
    for p in ["check", "gate", "periodic"] {
        assert_eq!(lists(&after, p, "nova-rally-task"), 1, "{p}");
    }
}

#[test]
fn secrets_tags_and_indentless_lists_survive() {
    let original =
        std::fs::read_to_string(fixtures().join("zuul-valid/perfkit-job-tags-secret.yaml"))
            .unwrap();
    let j = job("nova", "nova-rally-task");
    let merged = merge(".zuul.yaml", &original, &j, &["check", "periodic"], false).unwrap();
    assert_eq!(merged.pipelines_in_place, ["check", "periodic"]);
    assert_only_insertions(&original, &merged.text);
    assert!(
        merged
            .text
            .contains("password: !encrypted/pkcs1-oaep\n        - aGVsbG8=")
    );

    let indentless = "- project:\n    check:\n      jobs:\n      - a\n      - b:\n          voting: false\n    gate:\n      jobs:\n      - a\n";
    let merged = merge(".zuul.yaml", indentless, &j, &["check", "gate"], false).unwrap();
    assert_eq!(merged.pipelines_in_place, ["check", "gate"]);
    assert!(
        merged
            .text
            .contains("          voting: false\n      - nova-rally-task\n    gate:")
    );
    assert!(merged.text.contains("      - a\n      - nova-rally-task\n"));
}

#[test]
fn crlf_files_stay_crlf_and_a_missing_final_newline_is_added() {
    let original = "- project:\r\n    check:\r\n      jobs:\r\n        - a\r\n";
    let j = job("nova", "nova-rally-task");
    let merged = merge(".zuul.yaml", original, &j, &["check"], false).unwrap();
    assert!(
        !merged.text.replace("\r\n", "").contains('\n'),
        "a bare LF slipped in"
    );
    assert_only_insertions(original, &merged.text);

    let original = "- project:\n    check:\n      jobs:\n        - a";
    let merged = merge(".zuul.yaml", original, &j, &["check"], false).unwrap();
    assert!(merged.text.starts_with(
        "- project:\n    check:\n      jobs:\n        - a\n        - nova-rally-task\n"
    ));
}

#[test]
fn an_edited_job_is_kept_unless_forced() {
    let original =
        std::fs::read_to_string(fixtures().join("openstack/mistral/.zuul.yaml")).unwrap();
    let j = job("mistral", "mistral-perfkit");
    let first = merge(".zuul.yaml", &original, &j, &["check"], false).unwrap();
    let edited = first
        .text
        .replace("    timeout: 7200\n", "    timeout: 9000\n");
    assert_ne!(edited, first.text);

    let kept = merge(".zuul.yaml", &edited, &j, &["check", "gate"], false).unwrap();
    assert_eq!(kept.job, JobState::KeptEdited);
    assert!(
        kept.text.contains("    timeout: 9000\n"),
        "the user's edit must stay"
    );
    // mistral's project stanza has a gate list: the job joins it.
    assert_eq!(kept.pipelines_in_place, ["gate"]);
    assert_only_insertions(&edited, &kept.text);

    let forced = merge(".zuul.yaml", &edited, &j, &["check"], true).unwrap();
    assert_eq!(forced.job, JobState::Rewritten);
    assert_eq!(forced.text, first.text);
}

#[test]
fn an_empty_config_gets_the_job_and_a_project_stanza() {
    let j = job("trove", "trove-rally-task");
    let merged = merge(".zuul.yaml", "", &j, &["check", "gate"], false).unwrap();
    let stanzas = parse_stanzas(Path::new("x"), &merged.text).unwrap();
    assert_eq!(stanzas.len(), 2);
    assert_eq!(job_name(&stanzas[0]), Some("trove-rally-task"));
    assert_eq!(lists(&stanzas, "gate", "trove-rally-task"), 1);
    let again = merge(".zuul.yaml", &merged.text, &j, &["check", "gate"], false).unwrap();
    assert_eq!(again.text, merged.text);
}

#[test]
fn the_rendered_job_says_what_the_spec_says() {
    let project = ProjectName::try_from("openstack/designate").unwrap();
    let mut e = entry("designate", Some("rally-task-designate"));
    e.devstack_plugins = vec![(
        "designate".into(),
        "https://opendev.org/openstack/designate".into(),
    )];
    e.devstack_services = vec![("designate".into(), true), ("horizon".into(), false)];
    e.required_projects = vec![
        "openstack/designate".into(),
        "python-designateclient".into(),
    ];
    e.timeout_s = 7800;
    let spec = JobSpec::new(
        &project,
        "designate-rally-task",
        &e,
        "rally-jobs/task-designate.yaml",
    );
    let text = render_job(&spec, None).unwrap();
    let expected: Value = yaml_serde::from_str(
        r#"
job:
  name: designate-rally-task
  parent: rally-task-designate
  timeout: 7800
  required-projects: [openstack/rally-openstack, openstack/designate, openstack/python-designateclient]
  irrelevant-files: ['^.*\.rst$', '^api-ref/.*$', '^doc/.*$', '^releasenotes/.*$']
  post-run:
    - playbooks/perfkit/post-rally-task.yaml
    - {name: playbooks/perfkit/cleanup.yaml, cleanup: true}
  vars:
    rally_task: rally-jobs/task-designate.yaml
    devstack_plugins:
      rally-openstack: https://opendev.org/openstack/rally-openstack
      designate: https://opendev.org/openstack/designate
    devstack_services: {designate: true, horizon: false}
"#,
    )
    .unwrap();
    let mut got = parse_stanzas(Path::new("job"), &text).unwrap().remove(0);
    let description = match &mut got {
        Value::Mapping(m) => m
            .get_mut("job")
            .and_then(|j| j.as_mapping_mut())
            .and_then(|j| j.remove("description")),
        _ => None,
    };
    assert!(
        description.and_then(|d| d
            .as_str()
            .map(|s| s.contains("rally-jobs/task-designate.yaml")))
            == Some(true)
    );
    assert_eq!(got, expected, "{text}");
}
