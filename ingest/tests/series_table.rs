//! The `series` table ingest writes equals what `series::rebuild` makes
//! from the archived `samples` and `workloads`, for every real fixture: the
//! summary the site reads cannot drift from the raw tables.

use std::path::{Path, PathBuf};

use perfkit_archive::Archive;
use perfkit_archive::parquet_file::decode;
use perfkit_archive::progress::Silent;
use perfkit_archive::series::{decode_series, rebuild};
use perfkit_ingest::pipeline::{IngestRequest, RunId, ingest_file};
use perfkit_schema::records::BuildMeta;
use perfkit_schema::{ArchiveKey, ProjectName, SeriesRow, Table};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            (name.ends_with(".report.json") || name.ends_with(".results.json"))
                && !name.starts_with("dev-crashed")
        })
        .collect();
    files.push(dir.join("history/build-11.report.json"));
    files.sort();
    files
}

async fn archived(archive: &Archive, path: &Path) -> (ArchiveKey, Vec<SeriesRow>, Vec<SeriesRow>) {
    let request = IngestRequest {
        project: ProjectName::try_from("openstack/nova").unwrap(),
        meta: BuildMeta {
            job: Some("rally".into()),
            ..BuildMeta::default()
        },
        replace: false,
    };
    let report = ingest_file(archive, path, &request, RunId::FromContent, &Silent)
        .await
        .unwrap();
    let key = report.key;
    let row = archive.newest_row(&key).await.unwrap().unwrap();
    let mut tables = Vec::new();
    for t in [Table::Series, Table::Samples, Table::Workloads] {
        let bytes = archive.get_data(&row, t).await.unwrap();
        tables.push(decode(t.name(), bytes).unwrap());
    }
    let written = decode_series(&key, &tables[0]).unwrap();
    let rebuilt = rebuild(&key, &tables[1], &tables[2]).unwrap();
    (key, written, rebuilt)
}

#[tokio::test]
async fn the_series_table_matches_the_raw_tables() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path().to_str().unwrap()).unwrap();
    for path in fixtures() {
        let (_, written, rebuilt) = archived(&archive, &path).await;
        assert!(!written.is_empty(), "{}", path.display());
        assert_eq!(written, rebuilt, "{}", path.display());
    }
}

#[tokio::test]
async fn failed_samples_count_but_do_not_time() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path().to_str().unwrap()).unwrap();
    let fixture = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/rally")
            .join(name)
    };

    let (_, rows, _) = archived(&archive, &fixture("dev-failures.report.json")).await;
    let totals: Vec<&SeriesRow> = rows.iter().filter(|r| r.action == "total").collect();
    assert!(totals.iter().any(|r| r.failed > 0));
    for r in &totals {
        assert_eq!(r.durations_s.len() as u64, r.samples - r.failed, "{r:?}");
    }

    // A workload whose context failed ran nothing, yet has its row.
    let (_, rows, _) = archived(&archive, &fixture("dev-context-fail.report.json")).await;
    let empty: Vec<&SeriesRow> = rows.iter().filter(|r| r.samples == 0).collect();
    assert_eq!(empty.len(), 1, "{rows:?}");
    assert_eq!(empty[0].action, "total");
    assert!(!empty[0].pass_sla);

    // Throughput: iterations over the load duration, on `total` only.
    let (_, rows, _) = archived(&archive, &fixture("dev-success.report.json")).await;
    let total = rows.iter().find(|r| r.action == "total").unwrap();
    let load = total.load_duration_s.unwrap();
    assert_eq!(total.throughput(), Some(total.samples as f64 / load));
    assert!(
        rows.iter()
            .filter(|r| r.action != "total")
            .all(|r| r.throughput().is_none())
    );
}
