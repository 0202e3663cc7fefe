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

use suite::{NOVA_BUILDS_KEY, nova, objects};

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
        archive.object_url(&nova(), Table::Builds),
        format!("memory:///team/archive/{NOVA_BUILDS_KEY}")
    );
}

#[tokio::test]
async fn memory_url_opens_an_empty_archive() {
    let archive = Archive::open("memory://").unwrap();
    assert_eq!(archive.display_url(), "memory:///");
    assert_eq!(archive.list_builds(None).await.unwrap(), vec![]);
    assert_eq!(
        archive
            .put_build(&nova(), objects("m"), false)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        archive.object_url(&nova(), Table::Builds),
        format!("memory:///{NOVA_BUILDS_KEY}")
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
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"builds-third");
    assert_eq!(
        archive.object_url(&nova(), Table::Builds),
        on_disk.to_str().unwrap(),
        "object_url is the file's path"
    );
    let mut projects: Vec<String> = std::fs::read_dir(dir.join("v1/builds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("project="))
        .collect();
    projects.sort();
    assert_eq!(
        projects,
        ["project=openstack%2Fneutron", "project=openstack%2Fnova"]
    );
    assert!(!dir.join("v1/builds/project=openstack").exists());
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
        .put_build(&nova(), objects("f"), false)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.join(NOVA_BUILDS_KEY)).unwrap(),
        b"builds-f"
    );

    // The same directory opened as a plain path sees the same build.
    let again = Archive::open(&format!("{}/", dir.display())).unwrap();
    assert_eq!(again.display_url(), dir.to_str().unwrap());
    assert_eq!(again.list_builds(None).await.unwrap(), vec![nova()]);
    let outcome = again.put_build(&nova(), objects("g"), false).await.unwrap();
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
        .put_build(&nova(), objects("x"), false)
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
        archive.object_url(&nova(), Table::Samples),
        "s3://bucket/some/prefix/v1/samples/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d.parquet"
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

/// An in-memory store that, like some S3-compatible servers, ignores
/// `If-None-Match: *`: a create-only put overwrites.
#[derive(Debug, Default)]
struct IgnoresCreateOnly(InMemory);

impl std::fmt::Display for IgnoresCreateOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IgnoresCreateOnly")
    }
}

#[async_trait::async_trait]
impl ObjectStore for IgnoresCreateOnly {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        mut opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        opts.mode = PutMode::Overwrite;
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

/// A store that ignores create-only puts is found out before the first
/// build is written, and nothing is written to it; one that honours them
/// costs one probe put per process (the probe exists after the first).
#[tokio::test]
async fn a_store_that_ignores_create_only_puts_is_refused() {
    let store = Arc::new(IgnoresCreateOnly::default());
    let archive = Archive::from_store(store.clone(), Path::from("a"), "s3://lax/a".into());
    let err = archive
        .put_build(&nova(), objects("x"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArchiveError::CreateOnlyIgnored { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("s3://lax/a")
            && text.contains("v1/builds/project=openstack%2Fnova/create-only-probe"),
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
        ["a/v1/builds/project=openstack%2Fnova/create-only-probe"],
        "only the probe was written"
    );
    assert!(archive.list_builds(None).await.unwrap().is_empty());

    // An honest store behind an unknown client: probed once per process;
    // the probe stays, so a later process is told by one refused put.
    let memory = Arc::new(InMemory::new());
    for process in ["first", "second"] {
        let honest = Archive::from_store(memory.clone(), Path::from("a"), "s3://ok/a".into());
        let outcome = honest
            .put_build(&nova(), objects(process), false)
            .await
            .unwrap();
        let want = match process {
            "first" => PutOutcome::Written,
            _ => PutOutcome::AlreadyArchived,
        };
        assert_eq!(outcome, want);
        assert_eq!(
            honest.list_builds(None).await.unwrap(),
            vec![nova()],
            "the probe is not listed as a build"
        );
    }
    let probe = Path::parse("a/v1/builds/project=openstack%2Fnova/create-only-probe").unwrap();
    assert!(memory.head(&probe).await.is_ok());

    // object_store's own local and in-memory stores are not probed: a
    // local archive holds only its tables.
    let tmp = tempfile::tempdir().unwrap();
    let local = Archive::open(tmp.path().to_str().unwrap()).unwrap();
    local.put_build(&nova(), objects("z"), false).await.unwrap();
    let others: Vec<String> = walk(tmp.path())
        .into_iter()
        .filter(|p| !p.ends_with(".parquet"))
        .collect();
    assert_eq!(others, Vec::<String>::new());
}
