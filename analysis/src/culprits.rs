//! From a change point to the commits that may have caused it: the range
//! of commits between the last branch build before the change and the
//! first one after it, on each project whose repository the caller can
//! read (`CommitLog`, implemented by perfkit-git on a local clone). Pure:
//! the log is handed in, nothing here reads a repository.

use serde::{Deserialize, Serialize};

use crate::compare::BuildRef;
use crate::trend::TrendPoint;

/// Commits listed per range at most; a range wider than this is a hint,
/// not a list of suspects, and is reported by its width only.
pub const MAX_LISTED: usize = 50;

/// A merged commit on the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Full hex id.
    pub sha: String,
    /// First line of the message (untrusted text).
    pub subject: String,
    /// Author name (untrusted text).
    pub author: String,
    /// Author time, µs since the epoch.
    pub time_us: i64,
    /// The `Change-Id:` trailer.
    pub change_id: Option<String>,
    /// The `Reviewed-on:` trailer when it is an http(s) URL: the change on Gerrit.
    pub reviewed_on: Option<String>,
    /// The change number at the end of `reviewed_on`.
    pub change: Option<u64>,
}

/// The commits of one project between two builds, first-parent order,
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspects {
    pub project: String,
    /// The commit of the last build before the change (not a suspect).
    pub from: String,
    /// The commit of the first build after it (the newest suspect).
    pub to: String,
    /// How many commits the range holds.
    pub width: usize,
    /// The first `MAX_LISTED` of them, newest first.
    pub commits: Vec<Commit>,
    /// Why the commits could not be listed (not on the branch, not in the
    /// clone…); then `width` is 0 and `commits` empty.
    pub problem: Option<String>,
}

impl Suspects {
    /// One commit: the culprit, not a hint.
    pub fn is_culprit(&self) -> bool {
        self.problem.is_none() && self.width == 1
    }

    /// How the range reads in a sentence.
    pub fn describe(&self) -> String {
        if let Some(problem) = &self.problem {
            return format!("{}: no suspects ({problem})", self.project);
        }
        match self.width {
            0 => format!("{}: no commit between the two builds", self.project),
            1 => format!("{}: 1 commit, the culprit", self.project),
            n => format!("{}: {n} commits, suspects", self.project),
        }
    }
}

/// Reads the commits of a project between two of its commits.
pub trait CommitLog {
    /// The projects it has a repository for.
    fn projects(&self) -> Vec<String>;
    /// The commits after `from` up to `to` on `branch`'s first-parent
    /// line, newest first, at most `limit` of them, and how many there are.
    fn between(
        &self,
        project: &str,
        branch: &str,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<(Vec<Commit>, usize), String>;
}

/// The range end commits of `project` for a change at `point` of `points`:
/// the commit of the nearest earlier build that has one, and of the
/// nearest build from `point` on that has one.
pub fn range_of(
    builds: &[BuildRef],
    points: &[TrendPoint],
    point: usize,
    project: &str,
) -> Option<(String, String)> {
    let commit = |p: &TrendPoint| builds.get(p.build)?.commits.get(project).cloned();
    let from = points.get(..point)?.iter().rev().find_map(commit)?;
    let to = points.get(point..)?.iter().find_map(commit)?;
    Some((from, to))
}

/// The suspects of a change at `point` on every project `log` can read,
/// the series' own project first.
pub fn suspects(
    log: &dyn CommitLog,
    own: &str,
    branch: &str,
    builds: &[BuildRef],
    points: &[TrendPoint],
    point: usize,
) -> Vec<Suspects> {
    let mut projects = log.projects();
    projects.sort_by_key(|p| (p != own, p.clone()));
    projects
        .into_iter()
        .filter_map(|project| {
            let (from, to) = range_of(builds, points, point, &project)?;
            let (commits, width, problem) = if from == to {
                (Vec::new(), 0, None)
            } else {
                match log.between(&project, branch, &from, &to, MAX_LISTED) {
                    Ok((commits, width)) => (commits, width, None),
                    Err(problem) => (Vec::new(), 0, Some(problem)),
                }
            };
            Some(Suspects {
                project,
                from,
                to,
                width,
                commits,
                problem,
            })
        })
        .collect()
}

/// The Gerrit change number a `Reviewed-on:` URL ends with
/// (`https://review.opendev.org/c/openstack/nova/+/912345`, or the old
/// `https://review.openstack.org/912345`).
pub fn change_number(reviewed_on: &str) -> Option<u64> {
    reviewed_on
        .trim_end_matches('/')
        .rsplit('/')
        .next()?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(commit: Option<&str>) -> BuildRef {
        BuildRef {
            build: "b".into(),
            change: 0,
            patchset: 0,
            job: None,
            pipeline: None,
            branch: None,
            node_provider: None,
            log_url: None,
            change_url: None,
            time_us: 0,
            commits: commit
                .map(|c| [("p".to_string(), c.to_string())].into())
                .unwrap_or_default(),
        }
    }

    fn point(build: usize) -> TrendPoint {
        TrendPoint {
            build,
            samples: 1,
            failed: 0,
            median: Some(1.0),
            p95: None,
            min: None,
            max: None,
            throughput: None,
            pass_sla: true,
            config_changed: false,
        }
    }

    #[test]
    fn range_ends_skip_builds_without_a_usable_commit() {
        let builds = [build(Some("a")), build(None), build(None), build(Some("d"))];
        let points: Vec<TrendPoint> = (0..4).map(point).collect();
        assert_eq!(
            range_of(&builds, &points, 2, "p"),
            Some(("a".into(), "d".into()))
        );
        assert_eq!(range_of(&builds, &points, 0, "p"), None);
        assert_eq!(range_of(&builds, &points, 2, "other"), None);
    }

    #[test]
    fn change_numbers_from_reviewed_on() {
        assert_eq!(
            change_number("https://review.opendev.org/c/openstack/nova/+/912345"),
            Some(912345)
        );
        assert_eq!(
            change_number("https://review.openstack.org/4321/"),
            Some(4321)
        );
        assert_eq!(change_number("https://review.example.org/c/x/+/abc"), None);
    }
}
