//! perfkit-zuul: everything Zuul. [`scaffold`] writes a project's
//! performance job (the `rally-jobs/` tree, the Zuul job merged into
//! whatever config layout the repo uses, the post-run playbook, and the
//! Locust and fio variants); [`builds`] reads finished builds from Zuul's
//! REST API and [`results`] says where in a build's logs its results are;
//! [`vars`] reads a build's `zuul` variables into build metadata.
//!
//! It ingests nothing: callers hand the metadata it reads to
//! `perfkit-ingest` (see `docs/ARCHITECTURE.md`).

pub mod builds;
pub mod results;
pub mod scaffold;
pub mod vars;

pub use scaffold::ScaffoldError;
