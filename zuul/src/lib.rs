//! perfkit-zuul: scaffolds a project's Rally performance job: the
//! `rally-jobs/` tree from `rally-jobs-template/`, the Zuul job merged into
//! whatever config layout the repo uses, and the post-run playbook; and,
//! on request, Locust and fio jobs beside it (`variants`).

pub mod catalog;
pub mod error;

pub use error::ScaffoldError;
pub mod playbooks;
pub mod rally_jobs;
pub mod repo;
pub mod scaffold;
pub mod variants;
pub mod zuul_config;
pub mod zuul_job;
pub mod zuul_merge;
