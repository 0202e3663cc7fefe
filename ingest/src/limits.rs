//! Limits on what one result file may hold, far beyond what the tools
//! write. Results come from CI jobs that run untrusted code, so a file can
//! be crafted to make ingest slow or large; past a limit the file is
//! refused with an error naming the file, the place and the limit.
//!
//! Sizes of real output, for scale: the Rally 5.1.1 reports in
//! `tests/fixtures/rally/` have at most 2 subtasks and 3 workloads, 4
//! atomic actions per iteration (4 distinct), nested 2 deep, names of up
//! to 22 bytes and paths of up to 39; rally-openstack's scenarios time a
//! few to a few dozen actions, nested a few levels, and a CI job runs tens
//! to a few hundred workloads. Locust runs have a handful to a few hundred
//! request names, fio job files a handful to a few hundred jobs (`numjobs`
//! without `group_reporting` multiplies them) of a few dozen options.
//!
//! | limit | value | real output |
//! | --- | --- | --- |
//! | Rally tasks per report | 1,000 | 1 (a few with `rally task report UUID…`) |
//! | Rally subtasks per report | 10,000 | tens |
//! | Rally workloads per report | 10,000 | tens to a few hundred |
//! | atomic actions per iteration (repeats included) | 100,000 | a few to a few hundred |
//! | distinct atomic action paths per iteration | 10,000 | a few to a few dozen |
//! | atomic action nesting depth | 32 | a few |
//! | atomic action name | 1,024 bytes | ≤ ~60 |
//! | atomic action path (`a > b > c`) | 4,096 bytes | ≤ ~150 |
//! | series per Rally report (workload × action path) | 100,000 | hundreds to a few thousand |
//! | Locust requests (method and name) per result | 10,000 | a handful to a few hundred |
//! | fio jobs per report | 10,000 | a handful to a few hundred |
//! | fio options per job (global and its own) | 1,000 | a few dozen |
//! | size of a Locust or fio file (read whole) | 256 MiB | KB to a few MB |
//!
//! Iterations and samples are not limited: a long run legitimately has
//! millions, and each costs constant time and memory (Rally reports
//! stream; nothing grows with them but the durations kept per workload).
//! JSON nesting is limited by serde_json itself to 128 levels for every
//! value perfkit reads (Rally's configs, Locust's and fio's JSON); values
//! it skips are stepped over without recursion.
//!
//! Why these bound the work: every per-report collection (workloads,
//! subtask titles, action paths, series, Locust requests, fio jobs) is
//! looked up through a hash map or visited once, so time is linear in the
//! input; the limits keep memory proportional to it too (an action path
//! is copied into every row of its action, so its length multiplies).

/// Rally tasks per report.
pub const MAX_TASKS: usize = 1_000;
/// Rally subtasks per report.
pub const MAX_SUBTASKS: usize = 10_000;
/// Rally workloads per report (v2 workloads, or old-format list elements).
pub const MAX_WORKLOADS: usize = 10_000;
/// Atomic actions in one iteration, repeats and nested ones included.
pub const MAX_ACTIONS_PER_ITERATION: usize = 100_000;
/// Distinct atomic action paths in one iteration.
pub const MAX_DISTINCT_ACTIONS_PER_ITERATION: usize = 10_000;
/// How deep atomic actions nest (a top-level action is at depth 1).
pub const MAX_ACTION_DEPTH: u8 = 32;
/// Bytes of one atomic action's name.
pub const MAX_ACTION_NAME_BYTES: usize = 1_024;
/// Bytes of an atomic action's path, its parents' names and its own
/// joined by ` > `.
pub const MAX_ACTION_PATH_BYTES: usize = 4_096;
/// Distinct (workload, atomic action path) pairs in one Rally report:
/// the series rows it adds besides one `total` per workload.
pub const MAX_SERIES: usize = 100_000;
/// Locust requests (distinct method and name rows) in one result.
pub const MAX_LOCUST_REQUESTS: usize = 10_000;
/// fio jobs in one report.
pub const MAX_FIO_JOBS: usize = 10_000;
/// fio options of one job, its own and the global ones together.
pub const MAX_FIO_OPTIONS: usize = 1_000;
/// Bytes of one Locust or fio file (they are read whole; Rally reports
/// stream and have no size limit).
pub const MAX_MEASURED_FILE_BYTES: u64 = 256 << 20;

/// What to do about a file past a limit.
pub const HINT: &str = "real tool output stays far below perfkit's limits (README, \"Limits\"); if this file is genuine, split the run into smaller ones, otherwise check what wrote it";

/// `12345` as `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "more than N <what> (perfkit's limit)".
pub(crate) fn over(limit: usize, what: &str) -> String {
    format!(
        "more than {} {what} (perfkit's limit)",
        thousands(limit as u64)
    )
}

/// How serde_json's own nesting limit is told, in place of its
/// "recursion limit exceeded".
pub(crate) const TOO_DEEP: &str = "JSON nested more than 128 levels deep (the JSON parser's limit; real output nests a few levels)";

/// A serde_json error as a message: [`TOO_DEEP`] for its nesting limit,
/// else its own text without the position (the caller gives that).
pub(crate) fn json_error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("recursion limit exceeded") {
        return TOO_DEEP.into();
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("invalid JSON: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_with_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            over(MAX_WORKLOADS, "workloads in one report"),
            "more than 10,000 workloads in one report (perfkit's limit)"
        );
    }

    #[test]
    fn json_errors_are_worded_plainly() {
        let deep = "[".repeat(200);
        let e = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err();
        assert_eq!(json_error_text(&e), TOO_DEEP);
        let e = serde_json::from_str::<serde_json::Value>("[1,").unwrap_err();
        assert_eq!(
            json_error_text(&e),
            "invalid JSON: EOF while parsing a value"
        );
    }
}
