//! The job variants `perfkit scaffold` adds next to the Rally job:
//! `--with-locust` (Locust against devstack's Keystone), `--with-fio` (fio
//! on the test node's disk) and `--with-fio --rbd` (fio's rbd engine on
//! devstack's Ceph). Each brings a workload file under `rally-jobs/`, a
//! Zuul job rendered from `rally-jobs-template/zuul/<kind>-job.yaml.j2` and
//! a run and a post-run playbook (the post-runs share
//! `tasks/keep-results.yaml` with the Rally job's; both fio jobs share
//! `tasks/run-fio.yaml` and the post-run `post-fio.yaml`). Merging the job
//! into the repo's Zuul config is `scaffold`'s business.

use std::path::{Path, PathBuf};

use minijinja::context;
use perfkit_schema::ProjectName;

use crate::scaffold::ScaffoldError;
use crate::scaffold::job::{CLEANUP_PLAYBOOK, IRRELEVANT_FILES, render};
use crate::scaffold::playbooks::variant_playbooks;

const LOCUSTFILE_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/rally-jobs/locust/locustfile.py.j2");
const FIO_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/rally-jobs/fio/PROJECT.fio.j2");
const LOCUST_JOB_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/zuul/locust-job.yaml.j2");
const LOCUST_UPGRADE_JOB_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/zuul/locust-upgrade-job.yaml.j2");
const FIO_JOB_TEMPLATE: &str = include_str!("../../../rally-jobs-template/zuul/fio-job.yaml.j2");
const FIO_RBD_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/rally-jobs/fio/PROJECT-rbd.fio.j2");
const FIO_RBD_JOB_TEMPLATE: &str =
    include_str!("../../../rally-jobs-template/zuul/fio-rbd-job.yaml.j2");

/// The job `--with-fio --rbd` inherits: devstack-plugin-ceph's own
/// single-node job (devstack with the Ceph plugin, on a node named
/// `controller`). Its run playbook (devstack, then Tempest) is replaced by
/// perfkit's, which deploys devstack the same way and runs fio instead.
pub const CEPH_PARENT_JOB: &str = "devstack-plugin-ceph-tempest-py3";

/// The job `--with-locust --upgrade` inherits: grenade's single-node
/// upgrade job. Its run playbook is replaced by perfkit's, which does what
/// grenade's does with Locust running through the upgrade.
pub const GRENADE_PARENT_JOB: &str = "grenade";

/// Nodepool label of the fio job's one node (named `controller`, as in
/// devstack's nodesets, so that every perfkit playbook targets the same host).
const FIO_NODE_LABEL: &str = "ubuntu-noble";

/// A job variant, in the order the jobs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Locust,
    /// `--with-locust --upgrade`: Locust through grenade's upgrade.
    LocustUpgrade,
    Fio,
    /// `--with-fio --rbd`: fio's rbd engine on devstack's Ceph.
    FioRbd,
}

impl Variant {
    /// The name in the job's and its files' names (`locust`, `fio`, `fio-rbd`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Locust => "locust",
            Variant::LocustUpgrade => "locust-upgrade",
            Variant::Fio => "fio",
            Variant::FioRbd => "fio-rbd",
        }
    }

    /// The `perfkit scaffold` flags that ask for it.
    pub fn flag(self) -> &'static str {
        match self {
            Variant::Locust => "--with-locust",
            Variant::LocustUpgrade => "--with-locust --upgrade",
            Variant::Fio => "--with-fio",
            Variant::FioRbd => "--with-fio --rbd",
        }
    }

    /// `<short name>-locust`, `<short name>-fio` or `<short name>-fio-rbd`.
    pub fn job_name(self, project: &ProjectName) -> String {
        format!("{}-{}", project.short_name(), self.name())
    }

    /// perfkit's own file for this job in a `zuul.d/` directory.
    pub fn zuul_dir_file(self) -> &'static str {
        match self {
            Variant::Locust => "perfkit-locust.yaml",
            Variant::LocustUpgrade => "perfkit-locust-upgrade.yaml",
            Variant::Fio => "perfkit-fio.yaml",
            Variant::FioRbd => "perfkit-fio-rbd.yaml",
        }
    }

    /// The template of the job stanza (relative to the templates root).
    pub fn job_template_name(self) -> &'static str {
        match self {
            Variant::Locust => "zuul/locust-job.yaml.j2",
            Variant::LocustUpgrade => "zuul/locust-upgrade-job.yaml.j2",
            Variant::Fio => "zuul/fio-job.yaml.j2",
            Variant::FioRbd => "zuul/fio-rbd-job.yaml.j2",
        }
    }

    /// The run playbook, relative to the project repo.
    pub fn run_playbook(self) -> String {
        format!("playbooks/perfkit/run-{}.yaml", self.name())
    }

    /// The post-run playbook, relative to the project repo: both fio jobs
    /// keep the same `fio.json` with the same one, both Locust jobs their
    /// CSV set with the same one.
    pub fn post_run_playbook(self) -> String {
        let tool = match self {
            Variant::FioRbd => Variant::Fio.name(),
            Variant::LocustUpgrade => Variant::Locust.name(),
            _ => self.name(),
        };
        format!("playbooks/perfkit/post-{tool}.yaml")
    }

    /// The workload file, relative to the project repo: beside the Rally
    /// task in `rally-jobs/`, the directory the project's performance jobs
    /// already read from.
    pub fn workload_path(self, project: &ProjectName) -> String {
        match self {
            Variant::Locust | Variant::LocustUpgrade => {
                "rally-jobs/locust/locustfile.py".to_string()
            }
            Variant::Fio => format!("rally-jobs/fio/{}.fio", project.short_name()),
            Variant::FioRbd => format!("rally-jobs/fio/{}-rbd.fio", project.short_name()),
        }
    }

    /// Locust needs devstack's Keystone but not Rally: the Rally job's
    /// parents would install Rally and run their own post-runs on results
    /// that are not there. fio needs nothing but a node; fio on RBD needs
    /// devstack's Ceph.
    fn parent(self) -> &'static str {
        match self {
            Variant::Locust => "devstack",
            Variant::LocustUpgrade => GRENADE_PARENT_JOB,
            Variant::Fio => "base",
            Variant::FioRbd => CEPH_PARENT_JOB,
        }
    }

    /// Job timeout in seconds: devstack alone can take most of an hour;
    /// grenade deploys once and upgrades.
    fn timeout_s(self) -> u32 {
        match self {
            Variant::LocustUpgrade => 10800,
            Variant::Locust | Variant::FioRbd => 7200,
            Variant::Fio => 1800,
        }
    }

    fn workload_template(self) -> (&'static str, &'static str) {
        match self {
            Variant::Locust | Variant::LocustUpgrade => {
                ("rally-jobs/locust/locustfile.py.j2", LOCUSTFILE_TEMPLATE)
            }
            Variant::Fio => ("rally-jobs/fio/PROJECT.fio.j2", FIO_TEMPLATE),
            Variant::FioRbd => ("rally-jobs/fio/PROJECT-rbd.fio.j2", FIO_RBD_TEMPLATE),
        }
    }

    fn job_template(self) -> &'static str {
        match self {
            Variant::Locust => LOCUST_JOB_TEMPLATE,
            Variant::LocustUpgrade => LOCUST_UPGRADE_JOB_TEMPLATE,
            Variant::Fio => FIO_JOB_TEMPLATE,
            Variant::FioRbd => FIO_RBD_JOB_TEMPLATE,
        }
    }
}

/// Everything one variant adds.
#[derive(Debug, Clone)]
pub struct VariantPlan {
    pub variant: Variant,
    pub job_name: String,
    /// The rendered `- job:` stanza with perfkit's header comment.
    pub job_text: String,
    /// (path in the repo, content): the workload file, both playbooks and
    /// the results variables they share.
    pub files: Vec<(PathBuf, String)>,
    /// Lines for the terminal.
    pub notes: Vec<String>,
}

/// Renders a variant for `project`; reads nothing but `--templates`.
pub fn plan_variant(
    variant: Variant,
    project: &ProjectName,
    templates_dir: Option<&Path>,
) -> Result<VariantPlan, ScaffoldError> {
    let short = project.short_name();
    let job_name = variant.job_name(project);
    let workload = variant.workload_path(project);
    let (workload_template, workload_builtin) = variant.workload_template();
    let workload_text = render(
        workload_template,
        workload_builtin,
        templates_dir,
        context! { project => project.as_str(), short_name => short },
    )?;
    let job_text = render(
        variant.job_template_name(),
        variant.job_template(),
        templates_dir,
        context! {
            project => project.as_str(),
            job_name => job_name.clone(),
            parent => variant.parent(),
            timeout => variant.timeout_s(),
            workload => workload.clone(),
            run => variant.run_playbook(),
            post_run => variant.post_run_playbook(),
            cleanup_run => CLEANUP_PLAYBOOK,
            irrelevant_files => IRRELEVANT_FILES.to_vec(),
            node_label => FIO_NODE_LABEL,
        },
    )?;
    let mut files = vec![(PathBuf::from(&workload), workload_text)];
    files.extend(variant_playbooks(variant, templates_dir)?);
    let mut notes = Vec::new();
    if matches!(variant, Variant::Locust | Variant::LocustUpgrade) && short != "keystone" {
        notes.push(format!(
            "{workload} exercises Keystone's token API (every devstack has Keystone); add \
             {short}'s own requests to it, and {short}'s devstack plugin to {job_name}'s vars"
        ));
    }
    notes.extend(match variant {
        Variant::Locust => None,
        Variant::LocustUpgrade => Some(format!(
            "{job_name} runs single-node grenade: the old services stop and the new ones start on \
             one node, so requests fail while Keystone is down; a multi-node grenade job or \
             OpenStack-Ansible's upgrade job (containers behind a load balancer) gives the \
             rolling version (see playbooks/perfkit/README.rst)"
        )),
        Variant::Fio => Some(format!(
            "{job_name} measures the test node's storage, not the change: it may belong in a \
             periodic pipeline rather than check and gate"
        )),
        Variant::FioRbd => Some(format!(
            "{job_name} measures devstack's one-OSD Ceph on the test node (pool `volumes`, \
             perfkit_fio_rbd_pool), not the change: it may belong in a periodic pipeline \
             rather than check and gate"
        )),
    });
    Ok(VariantPlan {
        variant,
        job_name,
        job_text,
        files,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(variant: Variant, project: &str) -> VariantPlan {
        let project = ProjectName::try_from(project).unwrap();
        plan_variant(variant, &project, None).unwrap()
    }

    /// The job's post-run: `post`, then the shared cleanup playbook with
    /// `cleanup: true` (run even when the build is aborted).
    fn assert_post_runs(job: &yaml_serde::Value, post: &str) {
        let runs = &job["post-run"];
        assert_eq!(runs[0].as_str(), Some(post), "{runs:?}");
        assert_eq!(runs[1]["name"].as_str(), Some(CLEANUP_PLAYBOOK), "{runs:?}");
        assert_eq!(runs[1]["cleanup"].as_bool(), Some(true), "{runs:?}");
        assert!(runs.get(2).is_none(), "{runs:?}");
    }

    fn job_body(text: &str) -> yaml_serde::Value {
        let stanzas: Vec<yaml_serde::Value> = yaml_serde::from_str(text).unwrap();
        assert_eq!(stanzas.len(), 1, "{text}");
        stanzas[0].get("job").cloned().unwrap()
    }

    #[test]
    fn the_locust_job_runs_the_locustfile_on_devstack() {
        let p = plan(Variant::Locust, "openstack/keystone");
        assert_eq!(p.job_name, "keystone-locust");
        let job = job_body(&p.job_text);
        assert_eq!(job["parent"].as_str(), Some("devstack"));
        assert_eq!(
            job["run"].as_str(),
            Some("playbooks/perfkit/run-locust.yaml")
        );
        assert_post_runs(&job, "playbooks/perfkit/post-locust.yaml");
        assert_eq!(job["roles"][0]["zuul"].as_str(), Some("openstack/devstack"));
        let vars = &job["vars"];
        assert_eq!(
            vars["perfkit_locustfile"].as_str(),
            Some("rally-jobs/locust/locustfile.py")
        );
        assert_eq!(vars["perfkit_locust_issue_weight"].as_u64(), Some(30));
        assert_eq!(vars["perfkit_locust_validate_weight"].as_u64(), Some(70));
        for var in [
            "perfkit_locust_users",
            "perfkit_locust_spawn_rate",
            "perfkit_locust_run_time",
        ] {
            assert!(!vars[var].is_null(), "{var} missing");
        }
        let paths: Vec<String> = p
            .files
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "rally-jobs/locust/locustfile.py",
                "playbooks/perfkit/run-locust.yaml",
                "playbooks/perfkit/post-locust.yaml",
                "playbooks/perfkit/vars/results.yaml",
                "playbooks/perfkit/cleanup.yaml",
                "playbooks/perfkit/tasks/prepare-locust.yaml"
            ]
        );
        let locustfile = &p.files[0].1;
        assert!(
            locustfile.contains("for openstack/keystone"),
            "{locustfile}"
        );
        assert!(locustfile.contains("POST /v3/auth/tokens"));
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }

    #[test]
    fn other_projects_are_told_the_locustfile_is_keystones() {
        let p = plan(Variant::Locust, "nova");
        assert_eq!(p.job_name, "nova-locust");
        assert!(
            p.notes[0].contains("add nova's own requests"),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn the_fio_job_runs_the_project_job_file_on_one_node() {
        let p = plan(Variant::Fio, "openstack/cinder");
        assert_eq!(p.job_name, "cinder-fio");
        let job = job_body(&p.job_text);
        assert_eq!(job["parent"].as_str(), Some("base"));
        assert_eq!(
            job["nodeset"]["nodes"][0]["name"].as_str(),
            Some("controller")
        );
        assert_eq!(
            job["vars"]["perfkit_fio_jobfile"].as_str(),
            Some("rally-jobs/fio/cinder.fio")
        );
        assert_eq!(job["vars"]["perfkit_fio_size"].as_str(), Some("1G"));
        assert_eq!(job["vars"]["perfkit_fio_runtime"].as_u64(), Some(60));
        let (path, text) = &p.files[0];
        assert_eq!(path, Path::new("rally-jobs/fio/cinder.fio"));
        for option in [
            "directory=${PERFKIT_FIO_DIR}",
            "size=${PERFKIT_FIO_SIZE}",
            "runtime=${PERFKIT_FIO_RUNTIME}",
            "ioengine=libaio",
            "rw=randwrite\nbs=4k\niodepth=32\n",
            "stonewall\nrw=read\nbs=1M\n",
        ] {
            assert!(text.contains(option), "{option} missing:\n{text}");
        }
    }

    #[test]
    fn the_fio_rbd_job_runs_on_devstacks_ceph_and_shares_the_fio_playbooks() {
        let p = plan(Variant::FioRbd, "openstack/cinder");
        assert_eq!(p.job_name, "cinder-fio-rbd");
        assert_eq!(Variant::FioRbd.flag(), "--with-fio --rbd");
        assert_eq!(Variant::FioRbd.zuul_dir_file(), "perfkit-fio-rbd.yaml");
        let job = job_body(&p.job_text);
        assert_eq!(
            job["parent"].as_str(),
            Some("devstack-plugin-ceph-tempest-py3")
        );
        // The parent's nodeset (one `controller`) and roles are inherited.
        assert!(job["nodeset"].is_null(), "{}", p.job_text);
        assert_eq!(job["timeout"].as_u64(), Some(7200));
        assert_eq!(
            job["run"].as_str(),
            Some("playbooks/perfkit/run-fio-rbd.yaml")
        );
        assert_post_runs(&job, "playbooks/perfkit/post-fio.yaml");
        let vars = &job["vars"];
        assert_eq!(vars["devstack_services"]["tempest"].as_bool(), Some(false));
        assert_eq!(
            vars["perfkit_fio_jobfile"].as_str(),
            Some("rally-jobs/fio/cinder-rbd.fio")
        );
        assert_eq!(vars["perfkit_fio_size"].as_str(), Some("1G"));
        assert_eq!(vars["perfkit_fio_runtime"].as_u64(), Some(60));
        assert_eq!(vars["perfkit_fio_rbd_pool"].as_str(), Some("volumes"));
        assert_eq!(vars["perfkit_fio_rbd_client"].as_str(), Some("admin"));

        let paths: Vec<String> = p
            .files
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "rally-jobs/fio/cinder-rbd.fio",
                "playbooks/perfkit/run-fio-rbd.yaml",
                "playbooks/perfkit/post-fio.yaml",
                "playbooks/perfkit/vars/results.yaml",
                "playbooks/perfkit/cleanup.yaml",
                "playbooks/perfkit/tasks/run-fio.yaml"
            ]
        );
        // The same post-run and fio tasks as the local-disk job, byte for byte.
        let local = plan(Variant::Fio, "openstack/cinder");
        for shared in [2, 3, 4, 5] {
            assert_eq!(p.files[shared], local.files[shared]);
        }
        let run = &p.files[1].1;
        for needle in [
            "ansible.builtin.import_tasks: tasks/run-fio.yaml",
            "    - orchestrate-devstack\n",
            "      always:\n",
            "              - rm\n",
        ] {
            assert!(run.contains(needle), "{needle} missing:\n{run}");
        }
        let text = &p.files[0].1;
        for option in [
            "ioengine=rbd\n",
            "clientname=${PERFKIT_FIO_RBD_CLIENT}\n",
            "pool=${PERFKIT_FIO_RBD_POOL}\n",
            "rbdname=${PERFKIT_FIO_RBD_IMAGE}\n",
            "invalidate=0\n",
            "runtime=${PERFKIT_FIO_RUNTIME}\n",
            "[randwrite-4k-qd32]\nrw=randwrite\nbs=4k\niodepth=32\n",
            "stonewall\nrw=read\nbs=1M\n",
        ] {
            assert!(text.contains(option), "{option} missing:\n{text}");
        }
        assert!(!text.contains("directory="), "{text}");
        assert!(p.notes[0].contains("Ceph"), "{:?}", p.notes);
    }

    #[test]
    fn the_upgrade_job_runs_locust_through_grenade_and_shares_the_locust_files() {
        let p = plan(Variant::LocustUpgrade, "openstack/keystone");
        assert_eq!(p.job_name, "keystone-locust-upgrade");
        assert_eq!(Variant::LocustUpgrade.flag(), "--with-locust --upgrade");
        let job = job_body(&p.job_text);
        assert_eq!(job["parent"].as_str(), Some("grenade"));
        assert_eq!(job["timeout"].as_u64(), Some(10800));
        assert_eq!(
            job["run"].as_str(),
            Some("playbooks/perfkit/run-locust-upgrade.yaml")
        );
        assert_post_runs(&job, "playbooks/perfkit/post-locust.yaml");
        assert_eq!(job["roles"][1]["zuul"].as_str(), Some("openstack/grenade"));
        let vars = &job["vars"];
        assert_eq!(vars["perfkit_locust_issue_weight"].as_u64(), Some(30));
        assert_eq!(vars["perfkit_locust_validate_weight"].as_u64(), Some(70));
        assert!(vars["perfkit_locust_run_time"].is_null(), "{}", p.job_text);
        assert_eq!(
            vars["perfkit_upgrade_log"].as_str(),
            Some("/opt/stack/logs/grenade.sh.log.summary")
        );
        assert!(
            vars["perfkit_upgrade_start_marker"]
                .as_str()
                .unwrap()
                .contains("Shutting down all services on base devstack")
        );
        let paths: Vec<String> = p
            .files
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "rally-jobs/locust/locustfile.py",
                "playbooks/perfkit/run-locust-upgrade.yaml",
                "playbooks/perfkit/post-locust.yaml",
                "playbooks/perfkit/vars/results.yaml",
                "playbooks/perfkit/cleanup.yaml",
                "playbooks/perfkit/tasks/prepare-locust.yaml",
                "playbooks/perfkit/files/locust-through-upgrade.py"
            ]
        );
        // The locustfile, post-run and Locust preparation of the plain job,
        // byte for byte.
        let plain = plan(Variant::Locust, "openstack/keystone");
        for (shared, in_plain) in [(0, 0), (2, 2), (3, 3), (4, 4), (5, 5)] {
            assert_eq!(p.files[shared], plain.files[in_plain]);
        }
        let run = &p.files[1].1;
        for needle in [
            "ansible.builtin.import_tasks: tasks/prepare-locust.yaml",
            "src: files/locust-through-upgrade.py",
            "name: run-grenade",
            "      always:\n",
        ] {
            assert!(run.contains(needle), "{needle} missing:\n{run}");
        }
        assert!(p.notes[0].contains("single-node grenade"), "{:?}", p.notes);
    }

    #[test]
    fn templates_can_be_overridden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rally-jobs/fio")).unwrap();
        std::fs::write(
            dir.path().join("rally-jobs/fio/PROJECT.fio.j2"),
            "; mine for {{ short_name }}\n[job]\nrw=read\n",
        )
        .unwrap();
        let project = ProjectName::try_from("cinder").unwrap();
        let p = plan_variant(Variant::Fio, &project, Some(dir.path())).unwrap();
        assert_eq!(p.files[0].1, "; mine for cinder\n[job]\nrw=read\n");
    }
}
