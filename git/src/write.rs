//! Writing a small linear history (for `perfkit demo`): each commit
//! changes one file on `refs/heads/master`, with a fixed author and time,
//! so the same history always gets the same commit ids.

use std::path::Path;

use git2::{Oid, Repository, Signature, Time};

/// A repository being written, on `master`.
pub struct HistoryWriter {
    repo: Repository,
}

impl HistoryWriter {
    /// A fresh repository at `path` (which must not hold one).
    pub fn init(path: &Path) -> Result<HistoryWriter, git2::Error> {
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("master");
        let repo = Repository::init_opts(path, &options)?;
        Ok(HistoryWriter { repo })
    }

    /// Commits `file` with `content` on `master` (first parent: its tip),
    /// authored by `author` (`Name <email>`) at `time_s`; returns the id.
    pub fn commit(
        &self,
        file: &str,
        content: &str,
        message: &str,
        author: (&str, &str),
        time_s: i64,
    ) -> Result<String, git2::Error> {
        let blob = self.repo.blob(content.as_bytes())?;
        let parent = match self.repo.refname_to_id("refs/heads/master") {
            Ok(oid) => Some(self.repo.find_commit(oid)?),
            Err(_) => None,
        };
        let mut tree = self
            .repo
            .treebuilder(parent.as_ref().map(|p| p.tree()).transpose()?.as_ref())?;
        tree.insert(file, blob, 0o100644)?;
        let tree = self.repo.find_tree(tree.write()?)?;
        let who = Signature::new(author.0, author.1, &Time::new(time_s, 0))?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid: Oid = self.repo.commit(
            Some("refs/heads/master"),
            &who,
            &who,
            message,
            &tree,
            &parents,
        )?;
        Ok(oid.to_string())
    }
}
