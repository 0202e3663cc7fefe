//! Finding the project repository a scaffold writes into (git2) and the
//! Gerrit project name its remote points at. Writing files is left to
//! `scaffold`.

use std::path::{Path, PathBuf};

use git2::{Repository, RepositoryOpenFlags};
use perfkit_schema::ProjectName;

use crate::scaffold::ScaffoldError;

/// The work tree of the repository being scaffolded.
#[derive(Debug, Clone)]
pub struct ProjectRepo {
    /// Top of the work tree (where `.zuul.yaml` and `rally-jobs/` live).
    pub root: PathBuf,
    /// The remote the project name was derived from, if any: (name, url).
    pub remote: Option<(String, String)>,
}

/// Opens the repository: `explicit` must be a work tree's top directory;
/// without it the search starts at `cwd` and goes up, as `git` does.
pub fn open(explicit: Option<&Path>, cwd: &Path) -> Result<ProjectRepo, ScaffoldError> {
    let (repo, asked) = match explicit {
        Some(path) => {
            let flags = RepositoryOpenFlags::NO_SEARCH;
            let repo = Repository::open_ext(path, flags, std::iter::empty::<&std::ffi::OsStr>());
            (repo, path)
        }
        None => (Repository::discover(cwd), cwd),
    };
    let repo = repo.map_err(|_| ScaffoldError::NotARepo {
        path: asked.to_path_buf(),
        searched_up: explicit.is_none(),
    })?;
    let root = match repo.workdir() {
        Some(dir) if !repo.is_bare() => dir.to_path_buf(),
        _ => {
            return Err(ScaffoldError::BareRepo {
                path: repo.path().to_path_buf(),
            });
        }
    };
    let root = root.canonicalize().unwrap_or(root);
    Ok(ProjectRepo {
        remote: preferred_remote(&repo),
        root,
    })
}

/// `origin` first (a clone from opendev.org), then `gerrit` (added by
/// git-review), then whatever remote comes first.
fn preferred_remote(repo: &Repository) -> Option<(String, String)> {
    let names = repo.remotes().ok()?;
    let mut names: Vec<String> = names
        .iter()
        .filter_map(|n| n.ok().flatten())
        .map(str::to_string)
        .collect();
    let rank = |n: &str| match n {
        "origin" => 0,
        "gerrit" => 1,
        _ => 2,
    };
    names.sort_by_key(|n| rank(n));
    names.into_iter().find_map(|name| {
        let remote = repo.find_remote(&name).ok()?;
        let url = remote.url().ok()?.to_string();
        Some((name, url))
    })
}

/// The Gerrit project a clone URL points at: `https://opendev.org/openstack/nova`,
/// `ssh://user@review.opendev.org:29418/openstack/nova.git`,
/// `git@github.com:openstack/nova.git` and `https://review.example.org/a/x/y`
/// (Gerrit's authenticated prefix) all give `openstack/nova`-style names.
/// Local paths and `file://` URLs give `None`: their path says nothing
/// reliable about the project.
pub fn project_from_remote_url(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        // Drop `user@host:port`, keep the path.
        let (_, path) = rest.split_once('/')?;
        path
    } else if let Some((host, path)) = url.split_once(':') {
        // scp-like `git@host:owner/name.git`; a Windows drive or a path with
        // a colon further down is not one.
        if host.is_empty() || host.contains('/') || host.len() == 1 {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let path = path.strip_prefix("a/").unwrap_or(path);
    if path.is_empty() || path.starts_with('~') {
        return None;
    }
    Some(path.to_string())
}

/// The project to scaffold: `--project` when given (`nova` means
/// `openstack/nova`), else the one the remote points at. The returned note
/// says where the name came from, or that the two disagree.
pub fn resolve_project(
    arg: Option<&str>,
    repo: &ProjectRepo,
) -> Result<(ProjectName, Option<String>), ScaffoldError> {
    let from_remote = repo.remote.as_ref().and_then(|(name, url)| {
        let project = project_from_remote_url(url)?;
        let project = ProjectName::try_from(project.as_str()).ok()?;
        Some((name.clone(), project))
    });
    match (arg, from_remote) {
        (Some(raw), remote) => {
            let project = ProjectName::try_from(raw)
                .map_err(|e| ScaffoldError::InvalidProject(e.to_string()))?;
            let note = remote.and_then(|(remote_name, remote_project)| {
                (remote_project != project).then(|| {
                    format!(
                        "`--project {project}` differs from remote `{remote_name}` ({remote_project}); using {project}"
                    )
                })
            });
            Ok((project, note))
        }
        (None, Some((remote_name, project))) => {
            let note = format!("project {project} taken from remote `{remote_name}`");
            Ok((project, Some(note)))
        }
        (None, None) => Err(ScaffoldError::ProjectUnknown {
            remote: repo.remote.as_ref().map(|(_, url)| url.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_give_the_gerrit_project() {
        let cases = [
            ("https://opendev.org/openstack/nova", "openstack/nova"),
            ("https://opendev.org/openstack/nova.git", "openstack/nova"),
            ("https://opendev.org/openstack/nova/", "openstack/nova"),
            (
                "ssh://jdoe@review.opendev.org:29418/openstack/nova.git",
                "openstack/nova",
            ),
            (
                "ssh://review.opendev.org:29418/openstack/neutron",
                "openstack/neutron",
            ),
            ("git@github.com:openstack/nova.git", "openstack/nova"),
            (
                "git://git.openstack.org/openstack/cinder",
                "openstack/cinder",
            ),
            (
                "https://review.example.org/a/x/networking-foo",
                "x/networking-foo",
            ),
            (
                "http://zuul:8080/openstack/rally-openstack",
                "openstack/rally-openstack",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(project_from_remote_url(url).as_deref(), Some(want), "{url}");
        }
    }

    #[test]
    fn local_remotes_say_nothing() {
        for url in [
            "/srv/git/nova",
            "../nova",
            "file:///srv/git/openstack/nova",
            "C:/x/y",
            "",
        ] {
            assert_eq!(project_from_remote_url(url), None, "{url}");
        }
    }
}
