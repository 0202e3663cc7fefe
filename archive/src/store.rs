//! The object-store archive (`docs/ARCHITECTURE.md`, "The archive"): where a build's three
//! Parquet objects go, how they are written so that readers see all of a
//! build or none of it, and how archived builds are listed back.
//!
//! A build is visible once its `builds` object exists; that object is
//! written last and with `PutMode::Create`, so a second ingest of the same
//! build (or a concurrent one) finds it and changes nothing. Opening an
//! archive from a URL lives in [`open`], key <-> path mapping in [`paths`].

mod open;
mod paths;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use perfkit_schema::key::{ArchiveKey, Table};
use perfkit_schema::names::ProjectName;

use crate::error::ArchiveError;

/// Objects larger than this are uploaded in parts, so that one slow request
/// does not hit the client timeout and a failed part is retried alone.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;

/// Part size of multipart uploads (S3 requires at least 5 MiB per part).
const MULTIPART_CHUNK: usize = 8 * 1024 * 1024;

/// How many parts of one object are in flight at once.
const MULTIPART_CONCURRENCY: usize = 4;

/// An opened archive: a store, the prefix inside it, and a URL fit to show.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    root: Path,
    display: String,
    /// Set once the store was seen refusing a create-only put of an existing
    /// object ([`Archive::ensure_create_only`]), so the probe runs once per
    /// process; set from the start for stores that need no probe.
    create_only_seen: Arc<OnceLock<()>>,
}

/// The object, one per project, that tells whether the store honours
/// create-only puts: under the project's `builds` prefix, which a
/// project-scoped credential may write (`docs/credentials.md`). It is not a
/// `.parquet` key, so readers and SQL globs pass it by.
const CREATE_ONLY_PROBE: &str = "create-only-probe";
const CREATE_ONLY_PROBE_TEXT: &[u8] =
    b"perfkit: written create-only to check that this store refuses to overwrite it\n";

/// The encoded Parquet objects of one build, one per table.
#[derive(Debug, Clone)]
pub struct BuildObjects {
    pub samples: Bytes,
    pub workloads: Bytes,
    pub series: Bytes,
    pub builds: Bytes,
}

/// What [`Archive::put_build`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The build was not archived before; it is now.
    Written,
    /// The build was archived and `replace` rewrote it.
    Replaced,
    /// The build was already archived (possibly by a concurrent ingest);
    /// nothing visible changed.
    AlreadyArchived,
}

impl Archive {
    /// Opens an archive from a directory or URL: `./dir`, `/abs/dir`,
    /// `file:///abs/dir` (created if missing), `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix` (also `azure://`,
    /// `abfs[s]://`) or `memory://`. Cloud credentials and endpoints come
    /// from the standard `AWS_*`, `GOOGLE_*` and `AZURE_*` variables.
    pub fn open(url: &str) -> Result<Archive, ArchiveError> {
        open::open(url, std::iter::empty::<(&str, &str)>())
    }

    /// Like [`Archive::open`], plus `object_store` builder options (e.g.
    /// `aws_endpoint`, `aws_access_key_id`, `allow_http`, `timeout`) that
    /// take precedence over the environment. Unknown keys are refused;
    /// local and in-memory archives take no options and ignore them.
    pub fn open_with_options<I, K, V>(url: &str, options: I) -> Result<Archive, ArchiveError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        open::open(url, options)
    }

    /// Whether [`Archive::open_with_options`] takes `key` for the archive
    /// at `url` (any key for local and in-memory archives, which ignore
    /// them). For callers that must refuse a key without quoting it.
    pub fn takes_option(url: &str, key: &str) -> bool {
        open::takes_option(url, key)
    }

    /// Wraps an existing store; `root` is the archive's prefix inside it and
    /// `display` the URL shown in messages (it must hold no credentials).
    pub fn from_store(store: Arc<dyn ObjectStore>, root: Path, display: String) -> Archive {
        Archive {
            store,
            root,
            display,
            create_only_seen: Arc::default(),
        }
    }

    /// Skips the create-only probe: for object_store's own local-directory
    /// and in-memory stores, which implement create-only puts themselves
    /// (a no-replace link on disk; the archive suite tests both), so a
    /// local archive holds only its tables.
    pub(crate) fn with_trusted_create_only(self) -> Archive {
        let _ = self.create_only_seen.set(());
        self
    }

    /// The archive's location for messages, without credentials.
    pub fn display_url(&self) -> &str {
        &self.display
    }

    /// Where `table`'s object of `key` lives, for "written to …" messages:
    /// a file path for local archives, a URL otherwise.
    pub fn object_url(&self, key: &ArchiveKey, table: Table) -> String {
        let relative = paths::relative_path(key, table);
        if self.display.ends_with('/') {
            format!("{}{}", self.display, relative)
        } else {
            format!("{}/{}", self.display, relative)
        }
    }

    /// Whether `key` is archived, i.e. its `builds` object exists.
    pub async fn contains(&self, key: &ArchiveKey) -> Result<bool, ArchiveError> {
        self.exists(&self.path(key, Table::Builds)).await
    }

    /// Like [`Archive::contains`], or `None` when the store refuses to say:
    /// an in-job credential may only add objects (`docs/credentials.md`),
    /// and real S3 answers such a caller's HEAD with 403 even for a missing
    /// key. Writers then rely on the create-only `builds` row instead.
    pub async fn contains_if_allowed(
        &self,
        key: &ArchiveKey,
    ) -> Result<Option<bool>, ArchiveError> {
        let path = self.path(key, Table::Builds);
        match self.store.head(&path).await {
            Ok(_) => Ok(Some(true)),
            Err(object_store::Error::NotFound { .. }) => Ok(Some(false)),
            Err(object_store::Error::PermissionDenied { .. }) => Ok(None),
            Err(e) => Err(self.error("check", &path, e)),
        }
    }

    /// Writes one build: samples, workloads and series first, the `builds`
    /// object last, so readers never see a partial build. Without `replace`, an
    /// archived build is left alone ([`PutOutcome::AlreadyArchived`]); with
    /// it, the build is first hidden (its `builds` object deleted), then
    /// rewritten.
    pub async fn put_build(
        &self,
        key: &ArchiveKey,
        objects: BuildObjects,
        replace: bool,
    ) -> Result<PutOutcome, ArchiveError> {
        self.ensure_create_only(&key.project).await?;
        let builds = self.path(key, Table::Builds);
        let existed = if replace {
            self.exists(&builds).await?
        } else {
            // Not knowing is fine here: the create-only row below decides.
            self.contains_if_allowed(key).await? == Some(true)
        };
        if existed && !replace {
            return Ok(PutOutcome::AlreadyArchived);
        }
        if existed {
            // Hidden before its data changes, so no reader mixes old and new.
            self.store
                .delete(&builds)
                .await
                .map_err(|e| self.error("delete", &builds, e))?;
        }
        // Overwritten, not created: leftovers of an earlier failed attempt
        // are invisible (no `builds` object) and must not block this one.
        // The price: when two ingests of one build race, the loser may
        // overwrite the winner's data objects. Both encode the same build,
        // so that is harmless unless they ran different perfkit versions.
        let (samples, workloads, series) = (
            self.path(key, Table::Samples),
            self.path(key, Table::Workloads),
            self.path(key, Table::Series),
        );
        futures::try_join!(
            self.put_overwrite(&samples, objects.samples),
            self.put_overwrite(&workloads, objects.workloads),
            self.put_overwrite(&series, objects.series),
        )?;
        let mode = if replace {
            PutMode::Overwrite
        } else {
            PutMode::Create
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&builds, PutPayload::from(objects.builds), options)
            .await
        {
            Ok(_) if existed => Ok(PutOutcome::Replaced),
            Ok(_) => Ok(PutOutcome::Written),
            // A concurrent ingest of the same build won the race.
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyArchived),
            Err(e) => Err(self.error("write", &builds, e)),
        }
    }

    /// Refuses to write to a store that ignores create-only puts (some
    /// S3-compatible ones ignore `If-None-Match: *`): there the `builds`
    /// row that commits a build would silently overwrite a concurrent
    /// ingest's. The probe object of `project` is put create-only: refused
    /// because it exists means the store honours it (one request, the usual
    /// case); written means it did not exist or was overwritten, so a
    /// second put must be refused.
    pub async fn ensure_create_only(&self, project: &ProjectName) -> Result<(), ArchiveError> {
        if self.create_only_seen.get().is_some() {
            return Ok(());
        }
        self.probe_create_only(project).await
    }

    async fn probe_create_only(&self, project: &ProjectName) -> Result<(), ArchiveError> {
        let mut parts = ArchiveKey::table_prefix(Table::Builds, Some(project));
        parts.push(CREATE_ONLY_PROBE.to_string());
        let path = paths::join(&self.root, parts);
        for _ in 0..2 {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let payload = PutPayload::from_static(CREATE_ONLY_PROBE_TEXT);
            match self.store.put_opts(&path, payload, options).await {
                Ok(_) => continue,
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let _ = self.create_only_seen.set(());
                    return Ok(());
                }
                Err(e) => return Err(self.error("write", &path, e)),
            }
        }
        Err(ArchiveError::CreateOnlyIgnored {
            url: self.display.clone(),
            key: path.to_string(),
        })
    }

    /// Reads `table`'s object of `key`.
    pub async fn get(&self, key: &ArchiveKey, table: Table) -> Result<Bytes, ArchiveError> {
        let path = self.path(key, table);
        let result = self
            .store
            .get(&path)
            .await
            .map_err(|e| self.error("read", &path, e))?;
        result
            .bytes()
            .await
            .map_err(|e| self.error("read", &path, e))
    }

    /// Reads `table`'s object of `key`, or `None` when it does not exist.
    pub async fn get_if_present(
        &self,
        key: &ArchiveKey,
        table: Table,
    ) -> Result<Option<Bytes>, ArchiveError> {
        let path = self.path(key, table);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error("read", &path, e)),
        };
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.error("read", &path, e))?;
        Ok(Some(bytes))
    }

    /// Every archived build (one with a `builds` object), optionally of one
    /// project, sorted by project, change, patchset and build. Objects that
    /// do not parse as archive keys are ignored.
    pub async fn list_builds(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<ArchiveKey>, ArchiveError> {
        Ok(self
            .list_build_versions(project)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Like [`Archive::list_builds`], with a version string per build that
    /// changes when the build is rewritten (`--replace`): size, modification
    /// time and ETag of its `builds` object.
    pub async fn list_build_versions(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<(ArchiveKey, String)>, ArchiveError> {
        let prefix = paths::join(&self.root, ArchiveKey::table_prefix(Table::Builds, project));
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.error("list", &prefix, e))?;
        let mut keys: Vec<(ArchiveKey, String)> = metas
            .iter()
            .filter_map(|meta| {
                let (table, key) = paths::parse_key(&self.root, &meta.location)?;
                let version = format!(
                    "{}-{}-{}",
                    meta.size,
                    meta.last_modified.timestamp_micros(),
                    meta.e_tag.as_deref().unwrap_or("")
                );
                Some((table, key, version))
            })
            .filter(|(table, key, _)| {
                *table == Table::Builds && project.is_none_or(|p| &key.project == p)
            })
            .map(|(_, key, version)| (key, version))
            .collect();
        keys.sort_by(|(a, _), (b, _)| {
            (&a.project, a.change, a.patchset, &a.build)
                .cmp(&(&b.project, b.change, b.patchset, &b.build))
        });
        keys.dedup_by(|a, b| a.0 == b.0);
        Ok(keys)
    }

    fn path(&self, key: &ArchiveKey, table: Table) -> Path {
        paths::join(&self.root, key.parts(table))
    }

    async fn exists(&self, path: &Path) -> Result<bool, ArchiveError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("check", path, e)),
        }
    }

    async fn put_overwrite(&self, path: &Path, bytes: Bytes) -> Result<(), ArchiveError> {
        if bytes.len() <= MULTIPART_THRESHOLD {
            self.store
                .put(path, PutPayload::from(bytes))
                .await
                .map_err(|e| self.error("write", path, e))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.error("write", path, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK);
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Err(e) = writer.wait_for_capacity(MULTIPART_CONCURRENCY).await {
                // Best effort: the upload failed already and the error says why.
                let _ = writer.abort().await;
                return Err(self.error("write", path, e));
            }
            writer.put(rest.split_to(rest.len().min(MULTIPART_CHUNK)));
        }
        writer
            .finish()
            .await
            .map_err(|e| self.error("write", path, e))?;
        Ok(())
    }

    fn error(
        &self,
        action: &'static str,
        path: &Path,
        source: object_store::Error,
    ) -> ArchiveError {
        ArchiveError::Store {
            url: self.display.clone(),
            action,
            key: paths::relative_display(&self.root, path),
            source: Box::new(source),
        }
    }
}
