//! The upstream collector's own state, kept in the archive so that a cycle
//! can run from cron on one host or as a periodic job on a fresh node
//! (`docs/archive-v2.md`, "The collector's own state"):
//!
//! - a **lease** so that two cycles never overlap: leases are numbered
//!   (`v2/collector/<scope>/lease-<n>`, create-only, the expiry inside); a
//!   cycle reads the newest, stops at once if it has not expired, and
//!   otherwise creates the next number. Two cycles racing for the same
//!   number cannot both create it, so exactly one holds the lease. A
//!   lease past its expiry is ignored (its holder died); a cycle gives its
//!   lease back by creating the next number already expired;
//! - **pending reviews** (`v2/collector/<scope>/pending-<time>-<token>.json`):
//!   the patchsets a cycle archived a new build of, written before it
//!   reviews them and deleted once every review is confirmed, so that a
//!   cycle that dies in between leaves them to the next one;
//! - **stale-site marks** (`v2/collector/<scope>/site-<time>-<token>.json`):
//!   written before a cycle archives, deleted once it rebuilt the site (or
//!   archived nothing), so that the next cycle rebuilds the site of a cycle
//!   that died in between even when it finds nothing new itself.

use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions};
use perfkit_schema::key::{LAYOUT_V2, is_token};
use serde::{Deserialize, Serialize};

use crate::ArchiveError;
use crate::store::{Archive, join, new_token};

/// A patchset to review.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PatchsetRef {
    pub project: String,
    pub change: u64,
    pub patchset: u32,
}

/// A lease this process holds ([`Archive::take_lease`]).
#[derive(Debug)]
pub struct Lease {
    number: u64,
    /// When it expires, µs since the epoch.
    pub expires_us: i64,
}

/// Why a lease was not taken: another cycle holds it until then (µs since
/// the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub until_us: i64,
}

/// What a lease object holds.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    expires_us: i64,
    token: String,
}

/// A pending list ([`Archive::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    path: Path,
    pub patchsets: Vec<PatchsetRef>,
}

/// A mark that the site may be behind the archive
/// ([`Archive::mark_site_stale`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleSite {
    path: Path,
}

/// A state object's name: kind, the time that orders it (a lease's expiry,
/// a pending list's writing), a token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct StateName {
    time_us: i64,
    token: String,
}

impl StateName {
    fn parse(file: &str, kind: &str) -> Option<StateName> {
        let rest = file.strip_prefix(kind)?.strip_prefix('-')?;
        let rest = rest.strip_suffix(".json").unwrap_or(rest);
        let (time, token) = rest.split_once('-')?;
        if time.len() != 20 || !time.bytes().all(|b| b.is_ascii_digit()) || !is_token(token) {
            return None;
        }
        Some(StateName {
            time_us: time.parse().ok()?,
            token: token.to_string(),
        })
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl Archive {
    fn state_path(&self, scope: &str, file: String) -> Path {
        self.state_prefix(scope).join(file.as_str())
    }

    fn state_prefix(&self, scope: &str) -> Path {
        join(
            self.root(),
            vec![
                LAYOUT_V2.to_string(),
                "collector".to_string(),
                scope.to_string(),
            ],
        )
    }

    /// The state objects of `scope` of one kind, oldest first.
    async fn state_objects(
        &self,
        scope: &str,
        kind: &str,
    ) -> Result<Vec<(StateName, Path)>, ArchiveError> {
        let prefix = self.state_prefix(scope);
        let mut out: Vec<(StateName, Path)> = self
            .list_all(&prefix)
            .await?
            .into_iter()
            .filter_map(|m| {
                let name = StateName::parse(m.location.filename()?, kind)?;
                Some((name, m.location))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn lease_path(&self, scope: &str, number: u64) -> Path {
        self.state_path(scope, format!("lease-{number:020}"))
    }

    /// The numbers of `scope`'s leases, ascending.
    async fn lease_numbers(&self, scope: &str) -> Result<Vec<u64>, ArchiveError> {
        let prefix = self.state_prefix(scope);
        let mut numbers: Vec<u64> = self
            .list_all(&prefix)
            .await?
            .iter()
            .filter_map(|m| {
                let n = m.location.filename()?.strip_prefix("lease-")?;
                (n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse().ok())
                    .flatten()
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    async fn lease_expiry(&self, scope: &str, number: u64) -> Result<i64, ArchiveError> {
        let path = self.lease_path(scope, number);
        let bytes = self.get_path(&path).await?;
        let body: LeaseBody = serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Decode {
            key: self.url_of(&path),
            message: format!("not a lease: {e}"),
        })?;
        Ok(body.expires_us)
    }

    async fn create_lease(
        &self,
        scope: &str,
        number: u64,
        expires_us: i64,
    ) -> Result<bool, ArchiveError> {
        let body = serde_json::to_vec(&LeaseBody {
            expires_us,
            token: new_token(),
        })
        .map_err(|e| ArchiveError::Encode {
            table: "lease",
            message: e.to_string(),
        })?;
        let path = self.lease_path(scope, number);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.store().put_opts(&path, body.into(), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error("write", &path, e)),
        }
    }

    /// Takes the collector lease of `scope` (a Zuul tenant) for `ttl`, or
    /// says until when another cycle holds it: one LIST, one GET of the
    /// newest lease, one create-only PUT of the next.
    pub async fn take_lease(
        &self,
        scope: &str,
        ttl: Duration,
    ) -> Result<Result<Lease, Held>, ArchiveError> {
        let now = now_us();
        let numbers = self.lease_numbers(scope).await?;
        if let Some(&newest) = numbers.last() {
            let until_us = self.lease_expiry(scope, newest).await?;
            if until_us > now {
                return Ok(Err(Held { until_us }));
            }
        }
        let next = numbers.last().map_or(0, |n| n + 1);
        let expires_us = now + ttl.as_micros() as i64;
        if !self.create_lease(scope, next, expires_us).await? {
            // Another cycle created this number first: it holds the lease.
            let until_us = self.lease_expiry(scope, next).await?;
            return Ok(Err(Held { until_us }));
        }
        // Leases before the expired one are history (best effort).
        for &old in numbers.iter().rev().skip(1) {
            let _ = self.store().delete(&self.lease_path(scope, old)).await;
        }
        Ok(Ok(Lease {
            number: next,
            expires_us,
        }))
    }

    /// Gives the lease back: the next number, created already expired, so
    /// the next cycle need not wait for the expiry (best effort: a lease
    /// not given back expires).
    pub async fn release_lease(&self, scope: &str, lease: Lease) {
        let _ = self.create_lease(scope, lease.number + 1, 0).await;
    }

    /// The pending lists of `scope`, oldest first: patchsets a cycle
    /// archived new builds of and has not confirmed the reviews of.
    pub async fn pending(&self, scope: &str) -> Result<Vec<Pending>, ArchiveError> {
        let mut out = Vec::new();
        for (_, path) in self.state_objects(scope, "pending").await? {
            let bytes = self.get_path(&path).await?;
            let patchsets = serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Decode {
                key: self.url_of(&path),
                message: format!("not a pending list: {e}"),
            })?;
            out.push(Pending { path, patchsets });
        }
        Ok(out)
    }

    /// Records `patchsets` as pending review (one create-only object).
    pub async fn add_pending(
        &self,
        scope: &str,
        patchsets: &[PatchsetRef],
    ) -> Result<Pending, ArchiveError> {
        let path = self.state_path(
            scope,
            format!("pending-{:020}-{}.json", now_us(), new_token()),
        );
        let body = serde_json::to_vec(patchsets).map_err(|e| ArchiveError::Encode {
            table: "pending",
            message: e.to_string(),
        })?;
        self.put_new(&path, body.into()).await?;
        Ok(Pending {
            path,
            patchsets: patchsets.to_vec(),
        })
    }

    /// The stale-site marks of `scope`: cycles that archived builds (or
    /// were about to) and did not rebuild the site after.
    pub async fn stale_site_marks(&self, scope: &str) -> Result<Vec<StaleSite>, ArchiveError> {
        Ok(self
            .state_objects(scope, "site")
            .await?
            .into_iter()
            .map(|(_, path)| StaleSite { path })
            .collect())
    }

    /// Marks the site of `scope` as behind the archive until
    /// [`Archive::clear_site_marks`] (one create-only object).
    pub async fn mark_site_stale(&self, scope: &str) -> Result<StaleSite, ArchiveError> {
        let path = self.state_path(scope, format!("site-{:020}-{}.json", now_us(), new_token()));
        self.put_new(&path, bytes::Bytes::from_static(b"{}"))
            .await?;
        Ok(StaleSite { path })
    }

    /// The site caught up with what `marks` stood for: forget them.
    pub async fn clear_site_marks(&self, marks: &[StaleSite]) -> Result<(), ArchiveError> {
        for mark in marks {
            match self.store().delete(&mark.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error("delete", &mark.path, e)),
            }
        }
        Ok(())
    }

    /// Every review of `pending` is confirmed: forget it.
    pub async fn finish_pending(&self, pending: Pending) -> Result<(), ArchiveError> {
        match self.store().delete(&pending.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", &pending.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ps(change: u64) -> PatchsetRef {
        PatchsetRef {
            project: "openstack/nova".into(),
            change,
            patchset: 1,
        }
    }

    #[tokio::test]
    async fn one_lease_at_a_time_and_an_expired_one_is_ignored() {
        let archive = Archive::open("memory://").unwrap();
        let lease = archive
            .take_lease("openstack", Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        let held = archive
            .take_lease("openstack", Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(held.until_us, lease.expires_us);
        // Another tenant's collector is not in the way.
        let other = archive
            .take_lease("zuul", Duration::from_secs(600))
            .await
            .unwrap();
        assert!(other.is_ok());
        // Given back: the next cycle takes it at once.
        archive.release_lease("openstack", lease).await;
        let short = archive
            .take_lease("openstack", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        // Its holder died without giving it back: once expired, ignored.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let after = archive
            .take_lease("openstack", Duration::from_secs(600))
            .await
            .unwrap();
        assert!(after.is_ok(), "{after:?}");
        assert!(short.number < after.unwrap().number);
    }

    #[tokio::test]
    async fn racing_cycles_agree_on_one_holder() {
        let archive = Archive::open("memory://").unwrap();
        for round in 0..10 {
            let scope = format!("t{round}");
            let ttl = Duration::from_secs(600);
            let (a, b) = tokio::join!(
                archive.take_lease(&scope, ttl),
                archive.take_lease(&scope, ttl)
            );
            let taken = [a.unwrap().is_ok(), b.unwrap().is_ok()];
            assert_eq!(
                taken.iter().filter(|t| **t).count(),
                1,
                "round {round}: {taken:?}"
            );
        }
    }

    #[tokio::test]
    async fn stale_site_marks_are_their_own_kind_and_last_until_cleared() {
        let archive = Archive::open("memory://").unwrap();
        assert!(
            archive
                .stale_site_marks("openstack")
                .await
                .unwrap()
                .is_empty()
        );
        let first = archive.mark_site_stale("openstack").await.unwrap();
        let second = archive.mark_site_stale("openstack").await.unwrap();
        archive.add_pending("openstack", &[ps(1)]).await.unwrap();
        let lease = archive
            .take_lease("openstack", Duration::from_secs(600))
            .await
            .unwrap();
        assert!(lease.is_ok());
        assert!(archive.mark_site_stale("zuul").await.is_ok());
        let marks = archive.stale_site_marks("openstack").await.unwrap();
        assert_eq!(marks.len(), 2, "{marks:?}");
        assert!(marks.contains(&first) && marks.contains(&second));
        assert_eq!(archive.pending("openstack").await.unwrap().len(), 1);
        archive
            .clear_site_marks(std::slice::from_ref(&first))
            .await
            .unwrap();
        // Clearing twice (two cycles settling the same mark) is no error.
        archive.clear_site_marks(&[first, second]).await.unwrap();
        assert!(
            archive
                .stale_site_marks("openstack")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(archive.stale_site_marks("zuul").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn pending_lists_survive_until_finished() {
        let archive = Archive::open("memory://").unwrap();
        assert!(archive.pending("openstack").await.unwrap().is_empty());
        archive
            .add_pending("openstack", &[ps(1), ps(2)])
            .await
            .unwrap();
        archive.add_pending("openstack", &[ps(3)]).await.unwrap();
        let pending = archive.pending("openstack").await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].patchsets, vec![ps(1), ps(2)]);
        archive.finish_pending(pending[0].clone()).await.unwrap();
        let left = archive.pending("openstack").await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].patchsets, vec![ps(3)]);
    }
}
