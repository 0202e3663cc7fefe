//! Test support: the behaviour every archive backend must show (write, read
//! back, idempotent re-put, conflicts, replace as the next attempt, hidden
//! failed attempts, listing, the index and its repair, v1 builds, real key
//! encoding, multipart-sized objects), run against InMemory, a local
//! directory, moto and Azurite. `raw` is the same store seen without the archive,
//! used to plant objects and to check the real keys independently.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use perfkit_archive::ArchiveError;
use perfkit_archive::batch::encode_build;
use perfkit_archive::{Archive, BuildObjects, BuildRef, MULTIPART_THRESHOLD, PutOutcome};
use perfkit_schema::key::{ArchiveKey, Table};
use perfkit_schema::names::{BuildId, ProjectName};
use perfkit_schema::records::{BuildMeta, BuildRecord};

/// The real key of the archive's main test build's first attempt, written
/// out by hand.
pub const NOVA_BUILDS_KEY: &str = "v2/builds/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d/attempt=0.parquet";

/// The directory of that build's attempts, as `Archive::build_url` ends.
pub const NOVA_BUILD_DIR: &str = "v2/builds/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d/";

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

/// A `builds` row of `key` ingested from a file whose digest is `sha-<tag>`.
pub fn record(key: &ArchiveKey, tag: &str) -> BuildRecord {
    BuildRecord {
        key: key.clone(),
        meta: BuildMeta {
            change: (key.change > 0).then_some(key.change),
            patchset: (key.change > 0).then_some(key.patchset),
            job: Some("rally-job".into()),
            ..BuildMeta::default()
        },
        source_format: "rally-v2".into(),
        source_format_version: None,
        tool_version: None,
        source_file: format!("{tag}.json"),
        source_sha256: format!("sha-{tag}"),
        source_bytes: 1,
        task_count: 1,
        task_statuses: vec!["finished".into()],
        workload_count: 1,
        iteration_count: 1,
        failed_iteration_count: 0,
        pass_sla: true,
        started_at_us: Some(1_700_000_000_000_000),
        finished_at_us: None,
        ingested_at_us: 1_700_000_100_000_000,
        perfkit_version: "test".into(),
        failure: None,
    }
}

/// Distinct bytes per table and generation, so a mix-up is visible.
pub fn objects(key: &ArchiveKey, tag: &str) -> BuildObjects {
    BuildObjects {
        samples: Bytes::from(format!("samples-{tag}")),
        workloads: Bytes::from(format!("workloads-{tag}")),
        series: Bytes::from(format!("series-{tag}")),
        record: record(key, tag),
    }
}

/// The build's newest committed row is `expected`'s, at `attempt`, and its
/// data objects are `expected`'s byte for byte.
pub async fn assert_objects(archive: &Archive, expected: &BuildObjects, attempt: u32) {
    let key = &expected.record.key;
    let row = archive.newest_row(key).await.unwrap().expect("archived");
    assert_eq!(row.record, expected.record, "{key:?}");
    assert_eq!(
        row.commit.as_ref().map(|c| c.attempt),
        Some(attempt),
        "{key:?}"
    );
    for (table, bytes) in [
        (Table::Samples, &expected.samples),
        (Table::Workloads, &expected.workloads),
        (Table::Series, &expected.series),
    ] {
        let got = archive.get_data(&row, table).await.unwrap();
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

fn keys(listed: Vec<BuildRef>) -> Vec<(ArchiveKey, Option<u32>)> {
    listed.into_iter().map(|b| (b.key, b.attempt)).collect()
}

pub async fn exercise(archive: &Archive, raw: &dyn ObjectStore, root: &str) {
    let nova = nova();
    let nova_ps4 = key("openstack/nova", 912345, 4, "1b7e2d3c");
    let nova_post = key("nova", 0, 0, "2c8f3e4d");
    let neutron = key("openstack/neutron", 700001, 1, "3d9a4f5e");
    let nova_project = ProjectName::try_from("openstack/nova").unwrap();

    assert!(!archive.contains(&nova).await.unwrap());
    assert_eq!(archive.list_builds(None).await.unwrap(), vec![]);

    // Written, then read back byte for byte.
    let first = objects(&nova, "first");
    assert_eq!(
        archive.put_build(first.clone(), false).await.unwrap(),
        PutOutcome::Written
    );
    assert!(archive.contains(&nova).await.unwrap());
    assert_objects(archive, &first, 0).await;

    // The real key carries the project as one `%2F`-escaped part.
    raw.head(&raw_path(root, NOVA_BUILDS_KEY)).await.unwrap();
    assert!(
        archive.build_url(&nova).ends_with(
            "/v2/builds/project=openstack%2Fnova/change=912345/patchset=3/build=0f6c3f4ad9b14c1d8e3a7c5b2e1f0a9d/"
        ),
        "{}",
        archive.build_url(&nova)
    );

    // A second ingest of the same file changes nothing; of another file it
    // is a conflict, and nothing of it is kept.
    let again = BuildObjects {
        samples: Bytes::from_static(b"other bytes, same digest"),
        ..first.clone()
    };
    let outcome = archive.put_build(again, false).await.unwrap();
    assert_eq!(outcome, PutOutcome::AlreadyArchived);
    let err = archive
        .put_build(objects(&nova, "second"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Conflict { archived_sha256: Some(sha), .. } if sha == "sha-first"),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("--replace"), "{err}");
    assert_objects(archive, &first, 0).await;

    // Replace commits the next attempt; the first stays as it was.
    let third = objects(&nova, "third");
    assert_eq!(
        archive.put_build(third.clone(), true).await.unwrap(),
        PutOutcome::Replaced
    );
    assert_objects(archive, &third, 1).await;
    raw.head(&raw_path(root, NOVA_BUILDS_KEY)).await.unwrap();
    // Replacing a build that was never archived just writes it.
    let neutron_objects = objects(&neutron, "neutron");
    let outcome = archive
        .put_build(neutron_objects.clone(), true)
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Written);
    assert_objects(archive, &neutron_objects, 0).await;

    // A writer that died before its commit left data objects of attempt 0.
    let leftover = |table: &str| {
        raw_path(
            root,
            &format!(
                "v2/{table}/project=openstack%2Fnova/change=912345/patchset=4/build=1b7e2d3c/attempt=0-00000000deadbeef.parquet"
            ),
        )
    };
    for table in ["samples", "workloads", "series"] {
        raw.put(&leftover(table), PutPayload::from_static(b"partial"))
            .await
            .unwrap();
    }
    assert!(!archive.contains(&nova_ps4).await.unwrap());
    assert!(
        !keys(archive.list_builds(None).await.unwrap())
            .iter()
            .any(|(k, _)| k == &nova_ps4)
    );
    let retry = objects(&nova_ps4, "retry");
    assert_eq!(
        archive.put_build(retry.clone(), false).await.unwrap(),
        PutOutcome::Written
    );
    assert_objects(archive, &retry, 0).await;

    // Objects that are not archive keys are ignored by the listing.
    for foreign in [
        "v2/builds/README.md",
        "v2/builds/project=openstack%2Fnova/change=x/patchset=1/build=abc/attempt=0.parquet",
        "v2/builds/project=openstack%2Fnova/change=912345/patchset=3/build=abc/attempt=01.parquet",
        "v2/builds/project=openstack%2Fnova/change=912345/patchset=3/build=abc.json",
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
        ..objects(&nova_post, "post")
    };
    assert_eq!(
        archive.put_build(big.clone(), false).await.unwrap(),
        PutOutcome::Written
    );
    assert_objects(archive, &big, 0).await;

    let all = keys(archive.list_builds(None).await.unwrap());
    assert_eq!(
        all,
        vec![
            (neutron.clone(), Some(0)),
            (nova_post.clone(), Some(0)),
            (nova.clone(), Some(1)),
            (nova_ps4.clone(), Some(0)),
        ]
    );
    let only_nova = keys(archive.list_builds(Some(&nova_project)).await.unwrap());
    assert_eq!(only_nova, all[1..].to_vec());
    let none = archive
        .list_builds(Some(&ProjectName::try_from("openstack/cinder").unwrap()))
        .await
        .unwrap();
    assert_eq!(none, vec![]);
    assert_eq!(
        archive.list_projects().await.unwrap(),
        ["openstack/neutron", "openstack/nova"]
            .map(|p| ProjectName::try_from(p).unwrap())
            .to_vec()
    );

    // The index has every build at its newest attempt, without a request
    // per build.
    let index = archive.read_index(&nova_project).await.unwrap();
    let indexed: Vec<(ArchiveKey, Option<u32>)> = index
        .rows
        .iter()
        .map(|r| (r.record.key.clone(), r.commit.as_ref().map(|c| c.attempt)))
        .collect();
    assert_eq!(
        indexed,
        vec![
            (nova_post.clone(), Some(0)),
            (nova.clone(), Some(1)),
            (nova_ps4.clone(), Some(0))
        ]
    );
    assert_eq!(index.unindexed_v1, 0);
    assert!(index.skipped.is_empty(), "{:?}", index.skipped);

    // A build archived by a perfkit that wrote layout v1 is listed, read
    // (one by one until repaired) and then indexed by `repair_index`.
    let old = key("openstack/nova", 912000, 1, "0a1d");
    let old_row = record(&old, "old");
    let v1 = |table: &str| {
        raw_path(
            root,
            &format!(
                "v1/{table}/project=openstack%2Fnova/change=912000/patchset=1/build=0a1d.parquet"
            ),
        )
    };
    raw.put(
        &v1("builds"),
        PutPayload::from(encode_build(&old_row).unwrap()),
    )
    .await
    .unwrap();
    raw.put(&v1("series"), PutPayload::from_static(b"v1 series"))
        .await
        .unwrap();
    assert!(archive.contains(&old).await.unwrap());
    let listed = keys(archive.list_builds(Some(&nova_project)).await.unwrap());
    assert!(listed.contains(&(old.clone(), None)), "{listed:?}");
    let index = archive.read_index(&nova_project).await.unwrap();
    assert_eq!(index.unindexed_v1, 1);
    assert!(
        index
            .rows
            .iter()
            .any(|r| r.record == old_row && r.commit.is_none())
    );
    let repaired = archive.repair_index(&nova_project).await.unwrap();
    assert_eq!((repaired.listed, repaired.added), (4, 1), "{repaired:?}");
    let index = archive.read_index(&nova_project).await.unwrap();
    assert_eq!((index.rows.len(), index.unindexed_v1), (4, 0));
    let row = archive.newest_row(&old).await.unwrap().unwrap();
    assert_eq!(
        archive.get_data(&row, Table::Series).await.unwrap(),
        "v1 series".as_bytes()
    );
    // A second repair finds nothing to add.
    assert_eq!(archive.repair_index(&nova_project).await.unwrap().added, 0);
}

/// Two ingests of the same build racing: exactly one commits it. With the
/// same bytes the other reports it archived; with other bytes the other
/// fails with a conflict. Either way the winner's objects are intact.
pub async fn concurrent_puts(archive: &Archive) {
    for n in 0..10 {
        let key = key("openstack/nova", 1000 + n, 1, "a1b2c3");
        let (a, b) = (objects(&key, "a"), objects(&key, "b"));
        let same = n % 2 == 0;
        let second = if same { a.clone() } else { b.clone() };
        let (first_result, second_result) = tokio::join!(
            archive.put_build(a.clone(), false),
            archive.put_build(second.clone(), false),
        );
        let results = [first_result, second_result];
        let written: Vec<usize> = (0..2)
            .filter(|&i| matches!(results[i], Ok(PutOutcome::Written)))
            .collect();
        assert_eq!(written.len(), 1, "round {n}: {results:?}");
        let loser = &results[1 - written[0]];
        if same {
            assert!(
                matches!(loser, Ok(PutOutcome::AlreadyArchived)),
                "round {n}: {loser:?}"
            );
        } else {
            assert!(
                matches!(loser, Err(ArchiveError::Conflict { .. })),
                "round {n}: {loser:?}"
            );
        }
        let winner = if written[0] == 0 { &a } else { &second };
        assert_objects(archive, winner, 0).await;
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
        .put_build(objects(&later, "down"), false)
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
