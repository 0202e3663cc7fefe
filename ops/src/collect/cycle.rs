//! One cycle of the upstream collector (`perfkit collect --review …`):
//! under a lease kept in the archive, archive what is new, then review the
//! patchsets that got a new build (never the whole archive) and those an
//! earlier cycle left pending (after archiving: a branch build a dead
//! cycle left behind may belong in their baselines), and rebuild the site
//! only when something was archived. The pending list is written before the reviews
//! and removed once all of them are confirmed, so a cycle that dies in
//! between leaves them to the next; Gerrit's result marker makes a repeated
//! review a no-op. Likewise a stale-site mark is written before archiving
//! and removed once the site is rebuilt, so the next cycle rebuilds the
//! site of one that died after archiving, although it finds nothing new
//! (its reviews link to change pages that must exist).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use perfkit_archive::Archive;
use perfkit_archive::collector::{PatchsetRef, Pending, StaleSite};
use perfkit_schema::ArchiveKey;

use crate::Outcome;
use crate::review::{Notify, PlainHttp, ReviewOptions};
use crate::site::SiteOptions;

/// What the cycle does besides archiving.
pub struct CycleOptions {
    /// Gerrit's base URL, e.g. `https://review.opendev.org`: review the
    /// patchsets that got a new build (`None`: no reviews)
    pub gerrit: Option<String>,
    /// Base URL of the site: review messages link there
    pub site_url: Option<String>,
    /// Directory the site is built in, when the cycle builds it
    pub site_out: Option<PathBuf>,
    /// The site's working state [default: beside `site_out`].
    pub site_state_dir: Option<PathBuf>,
    /// How long a cycle may hold the lease
    pub lease: Duration,
    /// Whether a plain `http://` Gerrit off this machine is accepted
    pub plain_http: PlainHttp,
}

/// The lease and reviews around one collection.
pub struct Cycle<'a> {
    archive: &'a Archive,
    scope: String,
    options: &'a CycleOptions,
    /// When this run's lease expires (µs since the epoch): past it another
    /// run may hold the lease, so this one reviews and publishes nothing.
    lease_expires_us: std::sync::atomic::AtomicI64,
}

/// What the reviews of a cycle came to.
#[derive(Debug, Default)]
pub struct Reviewed {
    pub patchsets: usize,
    pub failed: usize,
}

impl<'a> Cycle<'a> {
    pub fn new(archive: &'a Archive, tenant: &str, options: &'a CycleOptions) -> Cycle<'a> {
        Cycle {
            archive,
            scope: tenant.to_string(),
            options,
            lease_expires_us: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Takes the lease, or says who holds it (`None`: stop, exit 0).
    pub async fn begin(&self) -> anyhow::Result<Option<perfkit_archive::collector::Lease>> {
        match self
            .archive
            .take_lease(&self.scope, self.options.lease)
            .await?
        {
            Ok(lease) => {
                self.lease_expires_us
                    .store(lease.expires_us, std::sync::atomic::Ordering::Relaxed);
                Ok(Some(lease))
            }
            Err(held) => {
                println!(
                    "another collect cycle of tenant {} holds the lease until {} UTC; nothing done",
                    self.scope,
                    perfkit_analysis::format::datetime(held.until_us)
                );
                Ok(None)
            }
        }
    }

    /// Whether this run still holds its lease.
    fn holds_lease(&self) -> bool {
        now_us()
            < self
                .lease_expires_us
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn end(&self, lease: perfkit_archive::collector::Lease) {
        self.archive.release_lease(&self.scope, lease).await;
    }

    /// The pending lists earlier cycles left (they died, or Gerrit failed,
    /// before every review was confirmed); read before this cycle records
    /// its own, reviewed after it archived: a branch build the dead cycle
    /// left unarchived may belong in their baselines.
    pub async fn earlier_pending(&self) -> anyhow::Result<Vec<Pending>> {
        if self.options.gerrit.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.archive.pending(&self.scope).await?)
    }

    /// Reviews the `lists` earlier cycles left ([`Cycle::earlier_pending`]).
    pub async fn finish_pending(&self, lists: Vec<Pending>) -> anyhow::Result<Reviewed> {
        let mut total = Reviewed::default();
        for pending in lists {
            let done = self.review_list(pending).await?;
            total.patchsets += done.patchsets;
            total.failed += done.failed;
        }
        Ok(total)
    }

    /// Records the patchsets of `keys` (builds about to be archived) as
    /// pending review; `None` when there is none (or no Gerrit).
    pub async fn record_pending(&self, keys: &[ArchiveKey]) -> anyhow::Result<Option<Pending>> {
        let patchsets: BTreeSet<PatchsetRef> = keys
            .iter()
            .filter(|k| k.change > 0)
            .map(|k| PatchsetRef {
                project: k.project.to_string(),
                change: k.change,
                patchset: k.patchset,
            })
            .collect();
        if patchsets.is_empty() || self.options.gerrit.is_none() {
            return Ok(None);
        }
        let list: Vec<PatchsetRef> = patchsets.into_iter().collect();
        Ok(Some(self.archive.add_pending(&self.scope, &list).await?))
    }

    /// Reviews each patchset of `pending` that has an archived build with
    /// results (one whose build could not be archived is left to the run
    /// that archives it); forgets the list once all are confirmed (a
    /// failure leaves it to the next cycle).
    pub async fn review_list(&self, pending: Pending) -> anyhow::Result<Reviewed> {
        let mut reviewed = Reviewed::default();
        let gerrit = self.options.gerrit.clone().unwrap_or_default();
        let mut failed: Vec<PatchsetRef> = Vec::new();
        let mut with_results: std::collections::HashMap<String, BTreeSet<(u64, u32)>> =
            Default::default();
        for p in &pending.patchsets {
            if !with_results.contains_key(&p.project) {
                let project = perfkit_schema::ProjectName::try_from(p.project.as_str())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let index = self.archive.read_index(&project).await?;
                let judged = index
                    .rows
                    .iter()
                    .filter(|r| r.record.has_results())
                    .map(|r| (r.record.key.change, r.record.key.patchset))
                    .collect();
                with_results.insert(p.project.clone(), judged);
            }
            if !with_results[&p.project].contains(&(p.change, p.patchset)) {
                continue;
            }
            if !self.holds_lease() {
                eprintln!(
                    "error: this run outlived its lease (`--lease`): {} change {} patchset {} is left pending for the next run",
                    p.project, p.change, p.patchset
                );
                reviewed.failed += 1;
                failed.push(p.clone());
                continue;
            }
            let options = ReviewOptions {
                gerrit: gerrit.clone(),
                project: p.project.clone(),
                change: p.change,
                patchset: p.patchset,
                job: None,
                archive: None,
                site_url: self.options.site_url.clone(),
                dry_run: false,
                notify: Notify::None,
                vote: None,
                always: false,
                plain_http: self.options.plain_http,
            };
            reviewed.patchsets += 1;
            match crate::review::run_on(Some(self.archive), options).await {
                Ok(_) => {}
                Err(e) => {
                    reviewed.failed += 1;
                    failed.push(p.clone());
                    eprintln!(
                        "error: review of {} change {} patchset {}: {e:#}\nhint: it stays pending; the next cycle reviews it",
                        p.project, p.change, p.patchset
                    );
                }
            }
        }
        // Only what failed stays pending: the next run does not review the
        // others again.
        if !failed.is_empty() {
            self.archive.add_pending(&self.scope, &failed).await?;
        }
        self.archive.finish_pending(pending).await?;
        Ok(reviewed)
    }

    /// The stale-site marks earlier cycles left: they archived builds and
    /// died (or their site build failed) before the site showed them.
    pub async fn stale_site_marks(&self) -> anyhow::Result<Vec<StaleSite>> {
        if self.options.site_out.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.archive.stale_site_marks(&self.scope).await?)
    }

    /// Before builds are archived (`keys`, none: nothing to mark): the
    /// site is behind the archive until this cycle rebuilds it.
    pub async fn mark_site_stale(&self, keys: &[ArchiveKey]) -> anyhow::Result<Option<StaleSite>> {
        if keys.is_empty() || self.options.site_out.is_none() {
            return Ok(None);
        }
        Ok(Some(self.archive.mark_site_stale(&self.scope).await?))
    }

    /// Rebuilds the site when the cycle archived something, an earlier one
    /// left it stale (`stale`), or it does not exist yet: a cycle with
    /// nothing new rewrites no file. Once it is rebuilt, the marks are
    /// cleared, and so is this cycle's own (`own`) when it archived nothing.
    pub async fn site(
        &self,
        archived_any: bool,
        stale: Vec<StaleSite>,
        own: Option<StaleSite>,
    ) -> anyhow::Result<Outcome> {
        let Some(out) = &self.options.site_out else {
            return Ok(Outcome::Success);
        };
        if !archived_any && stale.is_empty() && out.join("index.html").is_file() {
            if let Some(own) = own {
                self.archive.clear_site_marks(&[own]).await?;
            }
            return Ok(Outcome::Success);
        }
        if !self.holds_lease() {
            eprintln!(
                "error: this run outlived its lease (`--lease`): the site is left to the next run"
            );
            return Ok(Outcome::Failed);
        }
        let options = SiteOptions {
            archive: None,
            out: out.clone(),
            state_dir: self.options.site_state_dir.clone(),
            projects: Vec::new(),
            base_url: self.options.site_url.clone(),
            repos: Vec::new(),
            commit_url: None,
        };
        let outcome = crate::site::run_on(Some(self.archive.clone()), options).await?;
        if outcome == Outcome::Success {
            let mut marks = stale;
            marks.extend(own);
            self.archive.clear_site_marks(&marks).await?;
        }
        Ok(outcome)
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
