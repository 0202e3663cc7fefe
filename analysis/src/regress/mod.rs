//! Regression detection (`docs/ARCHITECTURE.md`, "Detection"): pure statistics over plain
//! values, no I/O, no async. `verdict` answers "does this patchset regress?"
//! against a baseline window (its per-series rule is in `evidence`);
//! `changepoint` answers "when did the branch change?" on a history of
//! per-build values, `failures` the same for a failure rate from per-build
//! counts; `stats` holds the tests both use and `rng` the seeded
//! PRNG behind permutation tests. Loading samples is the caller's job.

pub mod changepoint;
mod evidence;
pub mod failures;
pub mod rng;
pub mod stats;
pub mod verdict;

pub use changepoint::{ChangeKind, ChangePoint, ChangePointConfig, change_points};
pub use failures::{FailureChangeConfig, failure_change_points};
pub use verdict::{
    Counts, Direction, SeriesData, SeriesInput, Thresholds, Verdict, VerdictKind,
    verdicts_for_build,
};

#[cfg(test)]
mod tests;
