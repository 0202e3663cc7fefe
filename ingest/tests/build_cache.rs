//! The local build cache: a second load reads nothing from the archive, a
//! new or rewritten build is fetched alone, a removed one is forgotten, and
//! a damaged cache is rebuilt rather than trusted. Whatever the cache holds,
//! the builds returned equal a direct read of the archive.

use std::path::{Path, PathBuf};

use perfkit_archive::Archive;
use perfkit_archive::build_cache::{BuildCache, CacheStats};
use perfkit_archive::history::load_builds;
use perfkit_archive::progress::Silent;
use perfkit_ingest::pipeline::{IngestRequest, RunId, ingest_file};
use perfkit_schema::records::BuildMeta;
use perfkit_schema::{ArchivedBuild, BuildId, ProjectName};

fn history(n: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/rally/history")
        .join(format!("build-{n:02}.report.json"))
}

async fn ingest(archive: &Archive, n: u32, build: &str, replace: bool) {
    let request = IngestRequest {
        project: ProjectName::try_from("openstack/nova").unwrap(),
        meta: BuildMeta {
            pipeline: Some("periodic".into()),
            branch: Some("master".into()),
            job: Some("rally".into()),
            ..BuildMeta::default()
        },
        replace,
    };
    let id = RunId::Given(BuildId::try_from(build).unwrap());
    ingest_file(archive, &history(n), &request, id, &Silent)
        .await
        .unwrap();
}

fn sorted(mut builds: Vec<ArchivedBuild>) -> Vec<ArchivedBuild> {
    builds.sort_by(|a, b| a.record.key.build.cmp(&b.record.key.build));
    builds
}

async fn direct(archive: &Archive) -> Vec<ArchivedBuild> {
    let keys = archive.list_builds(None).await.unwrap();
    sorted(load_builds(archive, &keys, &Silent).await.unwrap())
}

#[tokio::test]
async fn only_new_and_rewritten_builds_are_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path().join("archive").to_str().unwrap()).unwrap();
    let cache = BuildCache::new(&dir.path().join("cache"));
    let project = ProjectName::try_from("openstack/nova").unwrap();
    for n in 1..=4 {
        ingest(&archive, n, &format!("b{n}"), false).await;
    }
    let load = || async { cache.load(&archive, &project, &Silent).await.unwrap() };

    let (first, stats) = load().await;
    assert_eq!(
        stats,
        CacheStats {
            cached: 0,
            fetched: 4
        }
    );
    assert_eq!(sorted(first), direct(&archive).await);
    let (again, stats) = load().await;
    assert_eq!(
        stats,
        CacheStats {
            cached: 4,
            fetched: 0
        }
    );
    assert_eq!(sorted(again), direct(&archive).await);

    ingest(&archive, 5, "b5", false).await;
    // b2 rewritten from another run's result: the cache must not keep the old one.
    ingest(&archive, 12, "b2", true).await;
    let (third, stats) = load().await;
    assert_eq!(
        stats,
        CacheStats {
            cached: 3,
            fetched: 2
        }
    );
    assert_eq!(sorted(third), direct(&archive).await);

    // Nothing new: everything from the cache, nothing read but the index.
    let (fourth, stats) = load().await;
    assert_eq!(
        stats,
        CacheStats {
            cached: 5,
            fetched: 0
        }
    );
    assert_eq!(sorted(fourth), direct(&archive).await);
}

#[tokio::test]
async fn a_damaged_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path().join("archive").to_str().unwrap()).unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = BuildCache::new(&cache_dir);
    let project = ProjectName::try_from("openstack/nova").unwrap();
    for n in 1..=3 {
        ingest(&archive, n, &format!("b{n}"), false).await;
    }
    cache.load(&archive, &project, &Silent).await.unwrap();
    let project_dir = cache_dir.join("openstack~nova");
    for entry in std::fs::read_dir(&project_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".series.parquet") {
            std::fs::write(&path, b"not parquet").unwrap();
        }
    }
    let (builds, stats) = cache.load(&archive, &project, &Silent).await.unwrap();
    assert_eq!(
        stats,
        CacheStats {
            cached: 0,
            fetched: 3
        }
    );
    assert_eq!(sorted(builds), direct(&archive).await);
    let (_, stats) = cache.load(&archive, &project, &Silent).await.unwrap();
    assert_eq!(
        stats,
        CacheStats {
            cached: 3,
            fetched: 0
        }
    );

    // Garbage in the index: a cold start, not an error.
    std::fs::write(project_dir.join("index.json"), b"{").unwrap();
    let (_, stats) = cache.load(&archive, &project, &Silent).await.unwrap();
    assert_eq!(
        stats,
        CacheStats {
            cached: 0,
            fetched: 3
        }
    );
}
