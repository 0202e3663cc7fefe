//! Test support: the behaviour every archive backend must show (write, read
//! back, idempotent re-put, replace, hidden failed attempts, listing, real
//! key encoding, multipart-sized objects), run against InMemory, a local
//! directory, moto and Azurite. `raw` is the same store seen without the archive,
//! used to plant objects and to check the real keys independently.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use perfkit_archive::ArchiveError;
use perfkit_archive::{Archive, BuildObjects, MULTIPART_THRESHOLD, PutOutcome};
use perfkit_schema::key::{ArchiveKey, Table};
use perfkit_schema::names::{BuildId, ProjectName};

/// The real key of the archive's main test build, written out by hand.
pub const NOVA_BUILDS_KEY: &str = "v1/builds/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d.parquet";

pub fn key(project: &str, change: u64, patchset: u32, build: &str) -> ArchiveKey {
    ArchiveKey {
        project: ProjectName::try_from(project).unwrap(),
        change,
        patchset,
        build: BuildId::try_from(build).unwrap(),
    }
}

pub fn nova() -> ArchiveKey {
    key(
        "openstack/nova",
        912345,
        3,
        "0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d",
    )
}

/// Distinct bytes per table and generation, so a mix-up is visible.
pub fn objects(tag: &str) -> BuildObjects {
    BuildObjects {
        samples: Bytes::from(format!("samples-{tag}")),
        workloads: Bytes::from(format!("workloads-{tag}")),
        series: Bytes::from(format!("series-{tag}")),
        builds: Bytes::from(format!("builds-{tag}")),
    }
}

pub async fn assert_objects(archive: &Archive, key: &ArchiveKey, expected: &BuildObjects) {
    for (table, bytes) in [
        (Table::Samples, &expected.samples),
        (Table::Workloads, &expected.workloads),
        (Table::Series, &expected.series),
        (Table::Builds, &expected.builds),
    ] {
        let got = archive.get(key, table).await.unwrap();
        assert!(
            got == *bytes,
            "{key:?} {table:?}: got {} bytes, expected {}",
            got.len(),
            bytes.len()
        );
    }
}

/// `root` joined with an already-encoded relative key, without re-encoding.
pub fn raw_path(root: &str, relative: &str) -> Path {
    let full = if root.is_empty() {
        relative.to_string()
    } else {
        format!("{root}/{relative}")
    };
    Path::parse(full).unwrap()
}

pub async fn exercise(archive: &Archive, raw: &dyn ObjectStore, root: &str) {
    let nova = nova();
    let nova_ps4 = key("openstack/nova", 912345, 4, "1b7e2d3c");
    let nova_post = key("nova", 0, 0, "2c8f3e4d");
    let neutron = key("openstack/neutron", 700001, 1, "3d9a4f5e");

    assert!(!archive.contains(&nova).await.unwrap());
    assert_eq!(archive.list_builds(None).await.unwrap(), vec![]);

    // Written, then read back byte for byte.
    let first = objects("first");
    assert_eq!(
        archive
            .put_build(&nova, first.clone(), false)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert!(archive.contains(&nova).await.unwrap());
    assert_objects(archive, &nova, &first).await;

    // The real key carries the project as one `%2F`-escaped part.
    raw.head(&raw_path(root, NOVA_BUILDS_KEY)).await.unwrap();
    assert!(
        archive
            .object_url(&nova, Table::Builds)
            .ends_with(&format!("/{NOVA_BUILDS_KEY}"))
    );

    // A second ingest changes nothing.
    let outcome = archive
        .put_build(&nova, objects("second"), false)
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::AlreadyArchived);
    assert_objects(archive, &nova, &first).await;

    // Replace rewrites all three objects.
    let third = objects("third");
    assert_eq!(
        archive.put_build(&nova, third.clone(), true).await.unwrap(),
        PutOutcome::Replaced
    );
    assert_objects(archive, &nova, &third).await;
    // Replacing a build that was never archived just writes it.
    let neutron_objects = objects("neutron");
    let outcome = archive
        .put_build(&neutron, neutron_objects.clone(), true)
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Written);
    assert_objects(archive, &neutron, &neutron_objects).await;

    // A failed earlier attempt: data objects without a builds object.
    let leftover = |table: &str| {
        raw_path(
            root,
            &format!(
                "v1/{table}/project=openstack%2Fnova/change=912345/patchset=4/build=1b7e2d3c.parquet"
            ),
        )
    };
    raw.put(&leftover("samples"), PutPayload::from_static(b"partial"))
        .await
        .unwrap();
    raw.put(&leftover("workloads"), PutPayload::from_static(b"partial"))
        .await
        .unwrap();
    assert!(!archive.contains(&nova_ps4).await.unwrap());
    assert!(!archive.list_builds(None).await.unwrap().contains(&nova_ps4));
    let retry = objects("retry");
    assert_eq!(
        archive
            .put_build(&nova_ps4, retry.clone(), false)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_objects(archive, &nova_ps4, &retry).await;

    // Objects that are not archive keys are ignored by the listing.
    for foreign in [
        "v1/builds/README.md",
        "v1/builds/project=openstack%2Fnova/change=x/patchset=1/build=abc.parquet",
        "v1/builds/project=openstack%2Fnova/change=912345/patchset=3/build=abc.json",
    ] {
        raw.put(&raw_path(root, foreign), PutPayload::from_static(b"{}"))
            .await
            .unwrap();
    }

    // Large enough for a multipart upload.
    let big = BuildObjects {
        samples: Bytes::from(
            (0..MULTIPART_THRESHOLD + 3 * 1024 * 1024)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
        ..objects("post")
    };
    assert_eq!(
        archive
            .put_build(&nova_post, big.clone(), false)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_objects(archive, &nova_post, &big).await;

    let all = archive.list_builds(None).await.unwrap();
    assert_eq!(
        all,
        vec![
            neutron.clone(),
            nova_post.clone(),
            nova.clone(),
            nova_ps4.clone()
        ]
    );
    let only_nova = archive
        .list_builds(Some(&ProjectName::try_from("openstack/nova").unwrap()))
        .await
        .unwrap();
    assert_eq!(only_nova, vec![nova_post, nova, nova_ps4]);
    let none = archive
        .list_builds(Some(&ProjectName::try_from("openstack/cinder").unwrap()))
        .await
        .unwrap();
    assert_eq!(none, vec![]);
}

/// Two ingests of the same build racing: exactly one writes it.
pub async fn concurrent_puts(archive: &Archive) {
    for n in 0..10 {
        let key = key("openstack/nova", 1000 + n, 1, "a1b2c3");
        let (a, b) = tokio::join!(
            archive.put_build(&key, objects("a"), false),
            archive.put_build(&key, objects("b"), false),
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| *o == PutOutcome::Written);
        assert_eq!(
            outcomes,
            [PutOutcome::AlreadyArchived, PutOutcome::Written],
            "round {n}"
        );
        let builds = archive.get(&key, Table::Builds).await.unwrap();
        assert!(builds == "builds-a".as_bytes() || builds == "builds-b".as_bytes());
    }
}

/// The server honours conditional creates: without that, idempotence would
/// silently turn into overwrites.
pub async fn assert_conditional_create(raw: &dyn ObjectStore) {
    let path = Path::from("runs/create-check/object");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    raw.put_opts(&path, PutPayload::from_static(b"one"), create())
        .await
        .unwrap();
    let second = raw
        .put_opts(&path, PutPayload::from_static(b"two"), create())
        .await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{second:?}"
    );
}

/// With the store's server gone, writing a build and listing fail with a
/// clear archive error naming `display` (after the bounded retries).
#[allow(dead_code)] // local archives have no server to lose
pub async fn assert_server_down_errors(archive: &Archive, display: &str) {
    let started = std::time::Instant::now();
    let later = key("openstack/nova", 912345, 5, "feedbeef");
    let err = archive
        .put_build(&later, objects("down"), false)
        .await
        .unwrap_err();
    eprintln!("server down: failed after {:.1?}: {err}", started.elapsed());
    assert_archive_error(&err, display);
    let err = archive.list_builds(None).await.unwrap_err();
    assert_archive_error(&err, display);
}

/// The error a store failure must surface as.
pub fn assert_archive_error(error: &ArchiveError, display: &str) {
    let ArchiveError::Store { url, .. } = error else {
        panic!("expected ArchiveError::Store, got {error:?}");
    };
    assert_eq!(url, display);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("archive `{display}`: ")),
        "{text}"
    );
    assert!(error.hint().is_some());
}
