//! Archive behaviour on InMemory and on a local directory (the default
//! archive): the shared suite, what actually lands on disk, URL handling and
//! unwritable locations.

#[path = "support/archive_suite.rs"]
mod suite;

use std::path::Path as FsPath;
use std::sync::Arc;

use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use perfkit_archive::ArchiveError;
use perfkit_archive::{Archive, PutOutcome};
use perfkit_schema::key::Table;

use suite::{NOVA_BUILD_DIR, NOVA_BUILDS_KEY, nova, objects};

#[tokio::test]
async fn in_memory_archive_under_a_root() {
    let store = Arc::new(InMemory::new());
    let archive = Archive::from_store(
        store.clone(),
        Path::from("team/archive"),
        "memory:///team/archive".into(),
    );
    suite::exercise(&archive, store.as_ref(), "team/archive").await;
    suite::assert_conditional_create(store.as_ref()).await;
    assert_eq!(
        archive.build_url(&nova()),
        format!("memory:///team/archive/{NOVA_BUILD_DIR}")
    );
}

#[tokio::test]
async fn memory_url_opens_an_empty_archive() {
    let archive = Archive::open("memory://").unwrap();
    assert_eq!(archive.display_url(), "memory:///");
    assert_eq!(archive.list_builds(None).await.unwrap(), vec![]);
    assert_eq!(
        archive
            .put_build(objects(&nova(), "m"), false)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        archive.build_url(&nova()),
        format!("memory:///{NOVA_BUILD_DIR}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_of_one_build() {
    suite::concurrent_puts(&Archive::open("memory://").unwrap()).await;
    let tmp = tempfile::tempdir().unwrap();
    suite::concurrent_puts(&Archive::open(tmp.path().to_str().unwrap()).unwrap()).await;
}

#[tokio::test]
async fn local_directory_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-yet").join("archive");
    let archive = Archive::open(dir.to_str().unwrap()).unwrap();
    assert!(dir.is_dir(), "the archive directory is created");
    assert_eq!(archive.display_url(), dir.to_str().unwrap());
    let raw = LocalFileSystem::new_with_prefix(&dir).unwrap();
    suite::exercise(&archive, &raw, "").await;
    suite::assert_conditional_create(&raw).await;

    // On disk the project is one directory whose name holds a literal `%2F`.
    let on_disk = dir.join(NOVA_BUILDS_KEY);
    assert!(on_disk.is_file(), "{} missing", on_disk.display());
    assert!(std::fs::read(&on_disk).unwrap().starts_with(b"PAR1"));
    assert_eq!(
        archive.build_url(&nova()),
        format!(
            "{}/",
            dir.join(NOVA_BUILD_DIR)
                .to_str()
                .unwrap()
                .trim_end_matches('/')
        ),
        "build_url is the directory's path"
    );
    let mut projects: Vec<String> = std::fs::read_dir(dir.join("v2/builds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("project="))
        .collect();
    projects.sort();
    assert_eq!(
        projects,
        ["project=openstack%2Fneutron", "project=openstack%2Fnova"]
    );
    assert!(!dir.join("v2/builds/project=openstack").exists());
    // Staged writes were all renamed into place.
    let staging = walk(&dir)
        .into_iter()
        .filter(|p| p.contains('#'))
        .collect::<Vec<_>>();
    assert_eq!(staging, Vec::<String>::new());
}

#[tokio::test]
async fn file_url_and_trailing_slash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    let url = format!("file://{}/", dir.display());
    let archive = Archive::open(&url).unwrap();
    assert_eq!(archive.display_url(), dir.to_str().unwrap());
    archive
        .put_build(objects(&nova(), "f"), false)
        .await
        .unwrap();
    assert!(dir.join(NOVA_BUILDS_KEY).is_file());

    // The same directory opened as a plain path sees the same build.
    let again = Archive::open(&format!("{}/", dir.display())).unwrap();
    assert_eq!(again.display_url(), dir.to_str().unwrap());
    let listed = again.list_builds(None).await.unwrap();
    assert_eq!(listed.iter().map(|b| &b.key).collect::<Vec<_>>(), [&nova()]);
    let outcome = again.put_build(objects(&nova(), "f"), false).await.unwrap();
    assert_eq!(outcome, PutOutcome::AlreadyArchived);
}

#[tokio::test]
async fn directory_below_a_regular_file_is_refused_clearly() {
    // Tests run as root, so permissions cannot make a directory unwritable;
    // a path below a regular file cannot be created by anyone.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"not a directory").unwrap();
    let below = file.join("archive");
    let err = Archive::open(below.to_str().unwrap()).unwrap_err();
    let ArchiveError::Url { url, message } = &err else {
        panic!("expected ArchiveUrl, got {err:?}");
    };
    assert_eq!(url, below.to_str().unwrap());
    assert!(
        message.starts_with("cannot create the archive directory: "),
        "{message}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open archive `{}`", below.display()))
    );
    assert!(err.hint().is_some());

    let err = Archive::open(file.to_str().unwrap()).unwrap_err();
    assert!(
        err.to_string().ends_with("exists and is not a directory"),
        "{err}"
    );
}

#[tokio::test]
async fn write_failure_after_open_is_an_archive_error() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::open(tmp.path().to_str().unwrap()).unwrap();
    // `v1` turns into a file: no table directory can be created below it.
    std::fs::write(tmp.path().join("v1"), b"in the way").unwrap();
    let err = archive
        .put_build(objects(&nova(), "x"), false)
        .await
        .unwrap_err();
    suite::assert_archive_error(&err, archive.display_url());
    let ArchiveError::Store { key, .. } = &err else {
        unreachable!()
    };
    assert!(key.starts_with("v1/"), "{key}");
    eprintln!("{err}");
}

#[test]
fn malformed_locations_are_archive_url_errors() {
    for (raw, expected) in [
        ("", "empty"),
        ("ftp://host/dir", "unsupported scheme `ftp://`"),
        (
            "https://example.org/archive",
            "unsupported scheme `https://`",
        ),
        ("s3:/bucket", "write `s3://…`"),
        ("file://remote-host/dir", "cannot name a remote host"),
    ] {
        match Archive::open(raw) {
            Err(e @ ArchiveError::Url { .. }) => {
                assert!(e.to_string().contains(expected), "{raw}: {e}")
            }
            other => panic!("{raw}: expected ArchiveUrl, got {other:?}"),
        }
    }
}

#[test]
fn s3_display_url_has_no_credentials() {
    let archive = Archive::open_with_options(
        "s3://bucket/some/prefix/?X-Amz-Security-Token=tok",
        [("aws_region", "us-east-1")],
    )
    .unwrap();
    assert_eq!(archive.display_url(), "s3://bucket/some/prefix");
    assert_eq!(
        archive.build_url(&nova()),
        format!("s3://bucket/some/prefix/{NOVA_BUILD_DIR}")
    );
    assert_eq!(
        archive.object_url(&nova(), Table::Samples),
        "s3://bucket/some/prefix/v1/samples/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d.parquet",
        "v1 objects are still named for messages about them"
    );
    // Credentials in the URL would be silently unused: refused, not echoed.
    match Archive::open_with_options(
        "s3://AKIAEXAMPLE:hunter2@bucket/p",
        [("aws_region", "us-east-1")],
    ) {
        Ok(_) => panic!("credentials in the URL must be refused"),
        Err(err) => assert!(!err.to_string().contains("hunter2"), "{err}"),
    }
}

fn walk(dir: &FsPath) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// An in-memory store that misbehaves on purpose: like some S3-compatible
/// servers it may ignore `If-None-Match: *` (a create-only put
/// overwrites), or it may die after a number of writes (every later
/// request fails, as if the writing process had crashed there).
#[derive(Debug, Default)]
struct Faulty {
    inner: Arc<InMemory>,
    ignores_create_only: bool,
    /// Writes (puts and deletes) that still succeed; `None`: all.
    writes_left: Option<std::sync::atomic::AtomicUsize>,
    /// The put (counted from 0) that is applied but answered with an error,
    /// as when a connection drops after the server wrote the object.
    lose_answer_of: Option<usize>,
    puts_seen: std::sync::atomic::AtomicUsize,
}

impl Faulty {
    fn ignoring_create_only() -> Faulty {
        Faulty {
            ignores_create_only: true,
            ..Faulty::default()
        }
    }

    fn dying_after(inner: Arc<InMemory>, writes: usize) -> Faulty {
        Faulty {
            inner,
            writes_left: Some(writes.into()),
            ..Faulty::default()
        }
    }

    fn losing_the_answer_of(inner: Arc<InMemory>, put: usize) -> Faulty {
        Faulty {
            inner,
            lose_answer_of: Some(put),
            ..Faulty::default()
        }
    }

    /// Whether this write may happen; once one is refused, all are.
    fn write_allowed(&self) -> object_store::Result<()> {
        use std::sync::atomic::Ordering;
        let Some(left) = &self.writes_left else {
            return Ok(());
        };
        match left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Ok(()),
            Err(_) => Err(object_store::Error::Generic {
                store: "Faulty",
                source: "the writer died here".into(),
            }),
        }
    }
}

impl std::fmt::Display for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty")
    }
}

#[async_trait::async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        mut opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.write_allowed()?;
        if self.ignores_create_only {
            opts.mode = PutMode::Overwrite;
        }
        let n = self
            .puts_seen
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let result = self.inner.put_opts(location, payload, opts).await?;
        if self.lose_answer_of == Some(n) {
            return Err(object_store::Error::Generic {
                store: "Faulty",
                source: "connection reset after the write".into(),
            });
        }
        Ok(result)
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.write_allowed()?;
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if let Err(e) = self.write_allowed() {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.write_allowed()?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// A store that ignores create-only puts is found out before the first
/// build is written, and nothing is written to it; one that honours them
/// costs one probe put per process (the probe exists after the first).
#[tokio::test]
async fn a_store_that_ignores_create_only_puts_is_refused() {
    let store = Arc::new(Faulty::ignoring_create_only());
    let archive = Archive::from_store(store.clone(), Path::from("a"), "s3://lax/a".into());
    let err = archive
        .put_build(objects(&nova(), "x"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArchiveError::CreateOnlyIgnored { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("s3://lax/a")
            && text.contains("v2/builds/project=openstack%2Fnova/create-only-probe"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("ignores conditional creates"));
    let keys: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        keys,
        ["a/v2/builds/project=openstack%2Fnova/create-only-probe"],
        "only the probe was written"
    );
    assert!(archive.list_builds(None).await.unwrap().is_empty());

    // An honest store behind an unknown client: probed once per process;
    // the probe stays, so a later process is told by one refused put.
    let memory = Arc::new(InMemory::new());
    for process in ["first", "second"] {
        let honest = Archive::from_store(memory.clone(), Path::from("a"), "s3://ok/a".into());
        let outcome = honest
            .put_build(objects(&nova(), "same"), false)
            .await
            .unwrap();
        let want = match process {
            "first" => PutOutcome::Written,
            _ => PutOutcome::AlreadyArchived,
        };
        assert_eq!(outcome, want);
        let listed = honest.list_builds(None).await.unwrap();
        assert_eq!(
            listed.iter().map(|b| &b.key).collect::<Vec<_>>(),
            [&nova()],
            "the probe is not listed as a build"
        );
    }
    let probe = Path::parse("a/v2/builds/project=openstack%2Fnova/create-only-probe").unwrap();
    assert!(memory.head(&probe).await.is_ok());

    // object_store's own local and in-memory stores are not probed: a
    // local archive holds only its tables.
    let tmp = tempfile::tempdir().unwrap();
    let local = Archive::open(tmp.path().to_str().unwrap()).unwrap();
    local.put_build(objects(&nova(), "z"), false).await.unwrap();
    let others: Vec<String> = walk(tmp.path())
        .into_iter()
        .filter(|p| !p.ends_with(".parquet"))
        .collect();
    assert_eq!(others, Vec::<String>::new());
}

/// `--replace` is atomic for readers whatever step the writer dies at:
/// before its commit, readers (through the index and through a listing)
/// see the previous attempt whole; after it, the listing sees the new one
/// whole and the index catches up with `repair_index`. Never a mix.
#[tokio::test]
async fn a_replace_that_dies_at_any_step_leaves_one_whole_attempt() {
    let project = perfkit_schema::ProjectName::try_from("openstack/nova").unwrap();
    let old = objects(&nova(), "old");
    let new = objects(&nova(), "new");
    // Writes of a replace: the create-only probe (refused, as it exists),
    // three data objects, the commit, the segment.
    for dies_after in 0..=6 {
        let memory = Arc::new(InMemory::new());
        let healthy = Archive::from_store(memory.clone(), Path::from("a"), "memory:///a".into());
        healthy.put_build(old.clone(), false).await.unwrap();
        // The probe exists: a later writer needs no write to check it.
        let store = Arc::new(Faulty::dying_after(memory.clone(), dies_after));
        let dying = Archive::from_store(store, Path::from("a"), "memory:///a".into());
        let result = dying.put_build(new.clone(), true).await;
        assert_eq!(result.is_ok(), dies_after == 6, "{dies_after}: {result:?}");

        let committed = dies_after >= 5;
        let (expected, attempt) = if committed { (&new, 1) } else { (&old, 0) };
        // Listing: the newest committed attempt, whole.
        suite::assert_objects(&healthy, expected, attempt).await;
        let listed = healthy.list_builds(None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].attempt, Some(attempt), "{dies_after}");
        // The index: the previous attempt until the new one's segment is
        // written (or `repair_index` adds it); its data is whole either way.
        let index = healthy.read_index(&project).await.unwrap();
        assert_eq!(index.rows.len(), 1);
        let row = &index.rows[0];
        let indexed = if dies_after == 6 { &new } else { &old };
        assert_eq!(row.record, indexed.record, "{dies_after}");
        assert_eq!(
            healthy.get_data(row, Table::Series).await.unwrap(),
            indexed.series,
            "{dies_after}"
        );
        let repaired = healthy.repair_index(&project).await.unwrap();
        assert_eq!(repaired.added, usize::from(dies_after == 5), "{dies_after}");
        let index = healthy.read_index(&project).await.unwrap();
        assert_eq!(index.rows[0].record, expected.record, "{dies_after}");
        // Running the replace again finishes the job.
        if !committed {
            let again = healthy.put_build(new.clone(), true).await.unwrap();
            assert_eq!(again, PutOutcome::Replaced);
            suite::assert_objects(&healthy, &new, 1).await;
        }
    }
}

/// A commit put whose answer is lost after the store wrote it: the writer
/// reads the row back, finds its own token, and goes on; it never deletes
/// the data objects its committed row names.
#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_not_undone() {
    let memory = Arc::new(InMemory::new());
    let healthy = Archive::from_store(memory.clone(), Path::from("a"), "memory:///a".into());
    // The probe exists already, so a new writer's puts are: the probe (0,
    // refused), three data objects (1-3), the commit (4), the segment (5).
    healthy
        .put_build(
            objects(&suite::key("openstack/nova", 1, 1, "other"), "o"),
            false,
        )
        .await
        .unwrap();
    let store = Arc::new(Faulty::losing_the_answer_of(memory, 4));
    let writer = Archive::from_store(store, Path::from("a"), "memory:///a".into());
    let build = objects(&nova(), "lost");
    let outcome = writer.put_build(build.clone(), false).await.unwrap();
    assert_eq!(outcome, PutOutcome::Written);
    suite::assert_objects(&healthy, &build, 0).await;
    let project = perfkit_schema::ProjectName::try_from("openstack/nova").unwrap();
    let index = healthy.read_index(&project).await.unwrap();
    assert!(index.rows.iter().any(|r| r.record == build.record));
}
