//! perfkit-git: the merged commits between two builds, read with git2
//! from local clones the operator keeps fetched (`perfkit site --repo
//! PROJECT=PATH`). Nothing here fetches: git2 is built without network
//! transports. A range is walked on the branch's first-parent line (the
//! merges Gerrit made, one per change), so a merged feature branch counts
//! as its merge commit.

mod write;

pub use write::HistoryWriter;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{Oid, Repository};
use perfkit_analysis::culprits::{Commit, CommitLog, change_number};
use perfkit_schema::ProjectName;

/// Commits of a branch's first-parent line read at most: older range ends
/// are reported as not on the branch.
pub const MAX_LINE: usize = 200_000;

/// A `--repo` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--repo {project}={}: {message}", .path.display())]
pub struct RepoError {
    pub project: String,
    pub path: PathBuf,
    pub message: String,
}

impl RepoError {
    pub fn hint(&self) -> Option<String> {
        Some(
            "give `--repo PROJECT=PATH` a local clone of the project (e.g. `git clone https://opendev.org/openstack/nova`), kept fetched by cron; perfkit never fetches".into(),
        )
    }
}

/// `PROJECT=PATH` as given on the command line.
pub fn parse_repo_arg(arg: &str) -> Result<(ProjectName, PathBuf), String> {
    let (project, path) = arg
        .split_once('=')
        .ok_or_else(|| format!("`{}` is not PROJECT=PATH", perfkit_schema::shown(arg)))?;
    let project = ProjectName::try_from(project).map_err(|e| e.to_string())?;
    if path.is_empty() {
        return Err(format!("`{project}=` names no path"));
    }
    Ok((project, PathBuf::from(path)))
}

/// The clones of some projects.
pub struct Repos {
    paths: BTreeMap<String, PathBuf>,
    /// First-parent lines already walked, by (project, branch).
    lines: Mutex<HashMap<(String, String), Line>>,
}

/// A branch's first-parent line, tip first, and each commit's position.
struct Line {
    commits: Vec<Oid>,
    position: HashMap<Oid, usize>,
}

impl Repos {
    /// Checks that each path is a git repository.
    pub fn open(repos: Vec<(ProjectName, PathBuf)>) -> Result<Repos, RepoError> {
        let mut paths = BTreeMap::new();
        for (project, path) in repos {
            if let Err(e) = Repository::open(&path) {
                return Err(RepoError {
                    project: project.to_string(),
                    path,
                    message: format!("not a git repository ({})", e.message()),
                });
            }
            paths.insert(project.to_string(), path);
        }
        Ok(Repos {
            paths,
            lines: Mutex::new(HashMap::new()),
        })
    }

    fn line(
        &self,
        project: &str,
        path: &Path,
        repo: &Repository,
        branch: &str,
    ) -> Result<(), String> {
        let key = (project.to_string(), branch.to_string());
        if self.lines.lock().expect("lines lock").contains_key(&key) {
            return Ok(());
        }
        let tip = [
            format!("refs/remotes/origin/{branch}"),
            format!("refs/heads/{branch}"),
        ]
        .iter()
        .find_map(|name| repo.refname_to_id(name).ok())
        .ok_or_else(|| {
            format!(
                "no branch `{branch}` in {} (looked for origin/{branch} and {branch})",
                path.display()
            )
        })?;
        let mut commits = Vec::new();
        let mut next = Some(tip);
        while let Some(oid) = next {
            if commits.len() == MAX_LINE {
                break;
            }
            commits.push(oid);
            let commit = repo.find_commit(oid).map_err(|e| e.message().to_string())?;
            next = commit.parent_ids().next();
        }
        let position = commits.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        self.lines
            .lock()
            .expect("lines lock")
            .insert(key, Line { commits, position });
        Ok(())
    }
}

impl CommitLog for Repos {
    fn projects(&self) -> Vec<String> {
        self.paths.keys().cloned().collect()
    }

    fn between(
        &self,
        project: &str,
        branch: &str,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<(Vec<Commit>, usize), String> {
        let path = self
            .paths
            .get(project)
            .ok_or_else(|| format!("no --repo for {project}"))?;
        let repo = Repository::open(path).map_err(|e| e.message().to_string())?;
        self.line(project, path, &repo, branch)?;
        let lines = self.lines.lock().expect("lines lock");
        let line = &lines[&(project.to_string(), branch.to_string())];
        let place = |sha: &str| -> Result<usize, String> {
            let oid = Oid::from_str(sha).map_err(|e| e.message().to_string())?;
            line.position.get(&oid).copied().ok_or_else(|| {
                format!(
                    "commit {} is not on {branch}'s first-parent line in {} (fetch the clone)",
                    short(sha),
                    path.display()
                )
            })
        };
        let (newest, oldest) = (place(to)?, place(from)?);
        if oldest < newest {
            return Err(format!(
                "commit {} is newer than {} on {branch}",
                short(from),
                short(to)
            ));
        }
        let commits = line.commits[newest..oldest]
            .iter()
            .take(limit)
            .map(|oid| describe(&repo, *oid))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((commits, oldest - newest))
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A commit's subject, author, time and Gerrit trailers.
fn describe(repo: &Repository, oid: Oid) -> Result<Commit, String> {
    let commit = repo.find_commit(oid).map_err(|e| e.message().to_string())?;
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let trailer = |key: &str| {
        message
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| v.trim().to_string())
            })
            .rfind(|v| !v.is_empty())
    };
    let reviewed_on = trailer("Reviewed-on").filter(|u| is_http_url(u));
    let author = commit.author();
    Ok(Commit {
        sha: oid.to_string(),
        subject: message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        time_us: author.when().seconds() * 1_000_000,
        change_id: trailer("Change-Id"),
        change: reviewed_on.as_deref().and_then(change_number),
        reviewed_on,
    })
}

fn is_http_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_args_name_a_project_and_a_path() {
        let (p, path) = parse_repo_arg("nova=/srv/git/nova").unwrap();
        assert_eq!(p.as_str(), "openstack/nova");
        assert_eq!(path, PathBuf::from("/srv/git/nova"));
        assert!(parse_repo_arg("/srv/git/nova").is_err());
        assert!(parse_repo_arg("nova=").is_err());
    }

    #[test]
    fn only_http_links_are_kept() {
        assert!(is_http_url("https://review.opendev.org/c/x/+/1"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("https://a b"));
    }
}
