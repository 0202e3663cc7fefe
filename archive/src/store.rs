//! The object-store archive (`docs/ARCHITECTURE.md`, "The archive"): where a build's three
//! Parquet objects go, how they are written so that readers see all of a
//! build or none of it, and how archived builds are listed back.
//!
//! A build is visible once its `builds` object exists; that object is
//! written last and with `PutMode::Create`, so a second ingest of the same
//! build (or a concurrent one) finds it and changes nothing. Opening an
//! archive from a URL lives in [`open`], key <-> path mapping in [`paths`].

mod commit;
pub mod counting;
mod list;
mod open;
mod paths;
mod staging;

pub(crate) use commit::{Newest, new_token};
pub use list::BuildRef;

/// Whether the store refused the request for lack of permission. S3 LIST
/// errors reach object_store as generic errors that carry the status only
/// in their text.
pub(crate) fn denied(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::PermissionDenied { .. })
        || e.to_string().contains("403 Forbidden")
}

/// `root` followed by the unencoded `parts`.
pub(crate) fn join(root: &Path, parts: Vec<String>) -> Path {
    paths::join(root, parts)
}

/// A listed v1 object's table and key.
pub(crate) fn parse_v1(root: &Path, location: &Path) -> Option<(Table, ArchiveKey)> {
    paths::parse_key(root, location)
}

/// A listed v2 object's table, key, attempt and token.
pub(crate) fn parse_v2_object(
    root: &Path,
    location: &Path,
) -> Option<perfkit_schema::key::V2Object> {
    paths::parse_v2(root, location)
}

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
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
    /// Requests made through this archive, once [`Archive::counting`].
    counts: Option<Arc<counting::RequestCounts>>,
    /// The directory of a local-directory archive.
    local_dir: Option<std::path::PathBuf>,
}

/// The object, one per project, that tells whether the store honours
/// create-only puts: under the project's `builds` prefix, which a
/// project-scoped credential may write (`docs/credentials.md`). It is not a
/// `.parquet` key, so readers and SQL globs pass it by.
const CREATE_ONLY_PROBE: &str = "create-only-probe";
const CREATE_ONLY_PROBE_TEXT: &[u8] =
    b"perfkit: written create-only to check that this store refuses to overwrite it\n";

/// One build to write: its encoded data objects and its `builds` row
/// (encoded by [`Archive::put_build`], which knows the attempt).
#[derive(Debug, Clone)]
pub struct BuildObjects {
    pub samples: Bytes,
    pub workloads: Bytes,
    pub series: Bytes,
    pub record: perfkit_schema::BuildRecord,
}

/// What [`Archive::put_build`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The build was not archived before; it is now.
    Written,
    /// The build was archived and this is its next attempt (`replace`, or
    /// a result where only a record without results was).
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
            counts: None,
            local_dir: None,
        }
    }

    /// The same archive, counting the requests made through it from now
    /// on ([`Archive::requests`]).
    pub fn counting(self) -> Archive {
        let counts = Arc::new(counting::RequestCounts::default());
        Archive {
            store: Arc::new(counting::CountingStore {
                inner: self.store,
                counts: counts.clone(),
            }),
            counts: Some(counts),
            ..self
        }
    }

    /// The requests counted so far (`None` unless [`Archive::counting`]).
    pub fn requests(&self) -> Option<counting::Requests> {
        self.counts.as_ref().map(|c| c.snapshot())
    }

    /// Skips the create-only probe: for object_store's own local-directory
    /// and in-memory stores, which implement create-only puts themselves
    /// (a no-replace link on disk; the archive suite tests both), so a
    /// local archive holds only its tables.
    pub(crate) fn with_trusted_create_only(self) -> Archive {
        let _ = self.create_only_seen.set(());
        self
    }

    pub(crate) fn with_local_dir(self, dir: std::path::PathBuf) -> Archive {
        Archive {
            local_dir: Some(dir),
            ..self
        }
    }

    /// Deletes the staging files (`<key>#<n>`) a writer killed mid-put left
    /// in a local-directory archive, if last modified more than `grace`
    /// ago; returns how many (always 0 for object stores, whose uploads are
    /// atomic or expire by the bucket's own rules).
    pub fn sweep_staging(&self, grace: std::time::Duration) -> usize {
        self.local_dir
            .as_deref()
            .map_or(0, |dir| staging::sweep(dir, grace))
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
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

    /// Where `key`'s attempts are committed (its v2 `builds` directory),
    /// for "archived to …" messages.
    pub fn build_url(&self, key: &ArchiveKey) -> String {
        let mut url = self.url_of(&paths::join(&self.root, key.v2_build_dir(Table::Builds)));
        url.push('/');
        url
    }

    /// Whether `key` is archived, i.e. a `builds` object of it exists.
    pub async fn contains(&self, key: &ArchiveKey) -> Result<bool, ArchiveError> {
        Ok(self.contains_if_allowed(key).await? == Some(true))
    }

    /// Like [`Archive::contains`], or `None` when the store refuses to say:
    /// an in-job credential may only add objects (`docs/credentials.md`),
    /// and real S3 answers such a caller's HEAD with 403 even for a missing
    /// key. Writers then rely on the create-only `builds` row instead.
    pub async fn contains_if_allowed(
        &self,
        key: &ArchiveKey,
    ) -> Result<Option<bool>, ArchiveError> {
        Ok(match self.newest(key).await? {
            commit::Newest::Unknown => None,
            commit::Newest::Absent => Some(false),
            commit::Newest::V1 | commit::Newest::V2(_) => Some(true),
        })
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
        let mut parts = ArchiveKey::v2_table_prefix(Table::Builds, Some(project));
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

    /// Reads `table`'s data object of the build `row` describes (the
    /// attempt it names, or the v1 object).
    pub async fn get_data(
        &self,
        row: &crate::batch::CommittedRow,
        table: Table,
    ) -> Result<Bytes, ArchiveError> {
        match &row.commit {
            Some(commit) => {
                self.get_path(&self.data_path(&row.record.key, table, commit))
                    .await
            }
            None => self.get(&row.record.key, table).await,
        }
    }

    /// Reads `table`'s object of `key` in layout v1.
    pub async fn get(&self, key: &ArchiveKey, table: Table) -> Result<Bytes, ArchiveError> {
        self.get_path(&self.path(key, table)).await
    }

    pub(crate) async fn get_path(&self, path: &Path) -> Result<Bytes, ArchiveError> {
        let result = self
            .store
            .get(path)
            .await
            .map_err(|e| self.error("read", path, e))?;
        result
            .bytes()
            .await
            .map_err(|e| self.error("read", path, e))
    }

    /// Where `path` lives, for messages (see [`Archive::object_url`]).
    pub(crate) fn url_of(&self, path: &Path) -> String {
        let relative = paths::relative_display(&self.root, path);
        if self.display.ends_with('/') {
            format!("{}{}", self.display, relative)
        } else {
            format!("{}/{}", self.display, relative)
        }
    }

    /// Reads `table`'s object of `key` in layout v1, or `None` when it
    /// does not exist.
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

    /// `table`'s object of `key` in layout v1.
    fn path(&self, key: &ArchiveKey, table: Table) -> Path {
        paths::join(&self.root, key.parts(table))
    }

    /// Writes an object that must not exist yet, create-only. Above
    /// [`MULTIPART_THRESHOLD`] it is uploaded in parts, which object stores
    /// cannot make conditional; its name carries a fresh random token, so
    /// no other writer uses it either.
    pub(crate) async fn put_new(&self, path: &Path, bytes: Bytes) -> Result<(), ArchiveError> {
        if bytes.len() <= MULTIPART_THRESHOLD {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            self.store
                .put_opts(path, PutPayload::from(bytes), options)
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

    pub(crate) fn error(
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
