//! `perfkit demo`: the quick start. Ingests real Rally, Locust and fio
//! results shipped inside the binary (produced by the real tools, see the
//! READMEs under `tests/fixtures/`) into a local archive, as a project
//! `perfkit/demo` with check-pipeline changes and periodic histories.

use crate::Outcome;
use std::path::PathBuf;

use perfkit_archive::Archive;
use perfkit_ingest::pipeline::IngestRequest;
use perfkit_schema::ProjectName;
use perfkit_schema::records::BuildMeta;

use crate::ingest::{archive_url, ingest_files};

/// What `perfkit demo` was asked to do (the binary fills it from its arguments).
pub struct DemoOptions {
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    pub archive: Option<String>,
    /// Directory to write the site to
    pub out: PathBuf,
}

/// A bundled result and how it is archived.
struct Example {
    /// Where it comes from, below `tests/fixtures/`.
    file: &'static str,
    /// One file (Rally, fio), or the files of a Locust `--csv` set, which
    /// is ingested as the directory holding them.
    files: &'static [(&'static str, &'static [u8])],
    job: &'static str,
    /// `Some((change, patchset))` for a check build, `None` for periodic.
    change: Option<(u64, u32)>,
}

macro_rules! example {
    ($file:literal, $job:literal, $change:expr) => {
        Example {
            file: concat!("rally/", $file),
            files: &[(
                $file,
                include_bytes!(concat!("../../tests/fixtures/rally/", $file)),
            )],
            job: $job,
            change: $change,
        }
    };
}

/// One run of the real Locust history (keystone's token API, simulated on
/// 127.0.0.1; 20 ms per request, 35 ms from run 9 on).
macro_rules! locust_run {
    ($n:literal) => {
        Example {
            file: concat!("locust/history/run-", $n),
            files: &[
                (
                    "locust_stats.csv",
                    include_bytes!(concat!(
                        "../../tests/fixtures/locust/history/run-",
                        $n,
                        "/locust_stats.csv"
                    )),
                ),
                (
                    "locust_stats_history.csv",
                    include_bytes!(concat!(
                        "../../tests/fixtures/locust/history/run-",
                        $n,
                        "/locust_stats_history.csv"
                    )),
                ),
                (
                    "locust_failures.csv",
                    include_bytes!(concat!(
                        "../../tests/fixtures/locust/history/run-",
                        $n,
                        "/locust_failures.csv"
                    )),
                ),
                (
                    "locust_exceptions.csv",
                    include_bytes!(concat!(
                        "../../tests/fixtures/locust/history/run-",
                        $n,
                        "/locust_exceptions.csv"
                    )),
                ),
            ],
            job: "perfkit-demo-locust",
            change: None,
        }
    };
}

/// One run of the real fio history (4k random writes at queue depth 32;
/// from run 9 on a second tenant shares the disk).
macro_rules! fio_run {
    ($n:literal) => {
        Example {
            file: concat!("fio/history/run-", $n, ".json"),
            files: &[(
                concat!("fio-run-", $n, ".json"),
                include_bytes!(concat!(
                    "../../tests/fixtures/fio/history/run-",
                    $n,
                    ".json"
                )),
            )],
            job: "perfkit-demo-fio",
            change: None,
        }
    };
}

const EXAMPLES: &[Example] = &[
    example!("dev-success.report.json", "perfkit-demo-dummy", None),
    example!("dev-sla-v1.report.json", "perfkit-demo-sla", None),
    example!("dev-output-hooks.report.json", "perfkit-demo-hooks", None),
    example!("dev-context-fail.report.json", "perfkit-demo-context", None),
    example!(
        "dev-failures.report.json",
        "perfkit-demo-dummy",
        Some((900003, 1))
    ),
    example!(
        "dev-success.results.json",
        "perfkit-demo-dummy",
        Some((900004, 1))
    ),
    example!("dev-abort-on-sla.report.json", "perfkit-demo-abort", None),
    example!("dev-crashed.report.json", "perfkit-demo-crashed", None),
    // A real history: the HTTP server behind HttpRequests.check_request got
    // 10 ms slower from build 11 on, then two check runs against that branch:
    // change 900001 another 10 ms slower (a regression), change 900002 as
    // fast as the branch (clean). See tests/fixtures/rally/history/README.md.
    example!("history/build-01.report.json", "perfkit-demo-history", None),
    example!("history/build-02.report.json", "perfkit-demo-history", None),
    example!("history/build-03.report.json", "perfkit-demo-history", None),
    example!("history/build-04.report.json", "perfkit-demo-history", None),
    example!("history/build-05.report.json", "perfkit-demo-history", None),
    example!("history/build-06.report.json", "perfkit-demo-history", None),
    example!("history/build-07.report.json", "perfkit-demo-history", None),
    example!("history/build-08.report.json", "perfkit-demo-history", None),
    example!("history/build-09.report.json", "perfkit-demo-history", None),
    example!("history/build-10.report.json", "perfkit-demo-history", None),
    example!("history/build-11.report.json", "perfkit-demo-history", None),
    example!("history/build-12.report.json", "perfkit-demo-history", None),
    example!("history/build-13.report.json", "perfkit-demo-history", None),
    example!("history/build-14.report.json", "perfkit-demo-history", None),
    example!("history/build-15.report.json", "perfkit-demo-history", None),
    example!("history/build-16.report.json", "perfkit-demo-history", None),
    example!("history/build-17.report.json", "perfkit-demo-history", None),
    example!("history/build-18.report.json", "perfkit-demo-history", None),
    example!("history/build-19.report.json", "perfkit-demo-history", None),
    example!("history/build-20.report.json", "perfkit-demo-history", None),
    example!(
        "history/change-900001.report.json",
        "perfkit-demo-history",
        Some((900001, 1))
    ),
    example!(
        "history/change-900002.report.json",
        "perfkit-demo-history",
        Some((900002, 1))
    ),
    locust_run!("01"),
    locust_run!("02"),
    locust_run!("03"),
    locust_run!("04"),
    locust_run!("05"),
    locust_run!("06"),
    locust_run!("07"),
    locust_run!("08"),
    locust_run!("09"),
    locust_run!("10"),
    locust_run!("11"),
    locust_run!("12"),
    locust_run!("13"),
    fio_run!("01"),
    fio_run!("02"),
    fio_run!("03"),
    fio_run!("04"),
    fio_run!("05"),
    fio_run!("06"),
    fio_run!("07"),
    fio_run!("08"),
    fio_run!("09"),
    fio_run!("10"),
    fio_run!("11"),
    fio_run!("12"),
    fio_run!("13"),
];

/// The demo project's history builds and the commits they tested: a
/// small git repository written beside the site's state, the same commit
/// ids on every run. Build n tested commit n; the server got 10 ms slower
/// with commit 11, and commits 4a and 4b landed between builds 3 and 4.
fn demo_repo(out: &std::path::Path) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let path = perfkit_site::dirs::default_state_dir(out).join("demo-repo");
    if path.exists() {
        std::fs::remove_dir_all(&path)?;
    }
    std::fs::create_dir_all(&path)?;
    let repo = perfkit_git::HistoryWriter::init(&path)?;
    let author = ("Demo Developer", "dev@example.org");
    let mut tested = Vec::new();
    let mut delay_ms = 20;
    for n in 1..=20u32 {
        let time_s = 1_767_225_600 + i64::from(n) * 86_400;
        let commit = |subject: &str, number: u32, delay: u32| {
            let message = format!(
                "{subject}\n\nChange-Id: I{:040x}\nReviewed-on: https://review.opendev.org/c/perfkit/demo/+/{number}\n",
                u128::from(number) * 0x9e37_79b9_7f4a_7c15
            );
            repo.commit(
                "server.conf",
                &format!("delay_ms = {delay}\nrevision = {number}\n"),
                &message,
                author,
                time_s - 3600 + i64::from(number % 7) * 60,
            )
        };
        if n == 4 {
            commit("Document the server's delay setting", 800_040, delay_ms)?;
            commit("Log each request's path", 800_041, delay_ms)?;
        }
        if n == 11 {
            delay_ms = 30;
        }
        let subject = match n {
            11 => "Validate every request against the policy file".to_string(),
            _ => format!("Tidy request handling, part {n}"),
        };
        tested.push(commit(&subject, 800_000 + n, delay_ms)?);
    }
    Ok((path, tested))
}

pub async fn run(args: DemoOptions) -> anyhow::Result<Outcome> {
    let url = archive_url(args.archive);
    let archive = Archive::open(&url)?;
    let (repo, commits) = demo_repo(&args.out)?;
    let scratch = std::env::temp_dir().join(format!("perfkit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = ingest_examples(&archive, &scratch, &commits).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let failures = result?;
    println!();
    let site = crate::site::SiteOptions {
        archive: Some(url.clone()),
        out: args.out,
        state_dir: None,
        projects: Vec::new(),
        base_url: None,
        repos: vec![format!("perfkit/demo={}", repo.display())],
        commit_url: None,
    };
    crate::site::run(site).await?;
    println!();
    println!("archive: {}", archive.display_url());
    println!(
        "next: `perfkit compare --archive {url} --project perfkit/demo --change 900001 --patchset 1`, or query the archive with DuckDB:"
    );
    println!(
        "  duckdb -c \"SELECT * FROM read_parquet('{}/v2/workloads/**/*.parquet', hive_partitioning=true)\"   (the README's query reads each build's newest attempt only)",
        url.trim_end_matches('/')
    );
    Ok(if failures == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

async fn ingest_examples(
    archive: &Archive,
    scratch: &std::path::Path,
    commits: &[String],
) -> anyhow::Result<usize> {
    let project = ProjectName::try_from("perfkit/demo").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut failures = 0;
    for example in EXAMPLES {
        let path: PathBuf = scratch.join(example.file.replace('/', "_"));
        match example.files {
            [(_, bytes)] => std::fs::write(&path, bytes)?,
            set => {
                std::fs::create_dir_all(&path)?;
                for (name, bytes) in set {
                    std::fs::write(path.join(name), bytes)?;
                }
            }
        }
        let (change, patchset) = example.change.unzip();
        let check = change.is_some();
        let meta = BuildMeta {
            change,
            patchset,
            pipeline: Some(if check { "check" } else { "periodic" }.to_string()),
            branch: Some("master".to_string()),
            git_ref: (!check).then(|| "refs/heads/master".to_string()),
            job: Some(example.job.to_string()),
            tenant: Some("demo".to_string()),
            commit: history_build(example.file).and_then(|n| commits.get(n - 1).cloned()),
            ..BuildMeta::default()
        };
        let request = IngestRequest {
            project: project.clone(),
            meta,
            replace: false,
        };
        failures += ingest_files(archive, &request, None, &[path], &|_| {
            format!("example {}", example.file)
        })
        .await;
    }
    Ok(failures)
}

/// `n` of the history's `build-<n>` files.
fn history_build(file: &str) -> Option<usize> {
    file.strip_prefix("rally/history/build-")?
        .strip_suffix(".report.json")?
        .parse()
        .ok()
}
