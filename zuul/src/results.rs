//! Where a build's Rally results are: the artifacts the scaffolded post-run
//! playbook returns (`rally-jobs-template/playbooks/perfkit/post-rally-task.yaml`:
//! "Rally JSON report" `perfkit/report.json`, type `rally_report_json`, and
//! "Rally results JSON" `perfkit/results.json`, type `rally_results_json`),
//! else the known paths below the build's log URL: perfkit's `perfkit/`
//! and rally-openstack's `results/` (its post-run copies Rally's results
//! directory into the log root). `report.json` carries everything, so it
//! is tried before the old-format `results.json`. The scaffolded Locust
//! jobs return Locust's CSV set (`perfkit/locust_stats.csv`,
//! `locust_stats_csv`, with its history, failures and exceptions files and,
//! through an upgrade, `locust_upgrade_window.json` beside it) and the same
//! run as `perfkit/locust.json` (`locust_json`): the CSV set is preferred,
//! as the in-job upload prefers it, because only it keeps the per-second
//! history the upgrade phases are cut from. The fio jobs return
//! `perfkit/fio.json` (`fio_json`).
//!
//! A job chooses its artifacts' URLs (`zuul_return`), so a check job of any
//! change could point one at an internal address for the collector to
//! fetch: only artifacts on the log URL's origin are looked at.

use url::Url;

use crate::builds::ApiBuild;

/// Artifact types (`metadata.type`) and names of the scaffolded playbook, best first.
const ARTIFACTS: [(&str, &str); 5] = [
    ("rally_report_json", "Rally JSON report"),
    ("rally_results_json", "Rally results JSON"),
    ("locust_stats_csv", "Locust request statistics (CSV)"),
    ("locust_json", "Locust JSON statistics"),
    ("fio_json", "fio JSON+ output"),
];

/// Paths below a build's log URL where Rally results are kept, best first.
pub const KNOWN_PATHS: [&str; 7] = [
    "perfkit/report.json",
    "perfkit/results.json",
    "results/report.json",
    "results/results.json",
    "perfkit/locust_stats.csv",
    "perfkit/locust.json",
    "perfkit/fio.json",
];

/// A place to look for a build's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub url: Url,
    /// The file name to ingest it as (`report.json`…): the in-job path
    /// ingests the file under its own name, and `source_file` must match.
    pub file_name: String,
    /// Whether the build declared it as an artifact (so it must exist).
    pub declared: bool,
    /// Files that belong with it, downloaded beside it when they exist
    /// (Locust's `_stats_history.csv` and the rest of its CSV set), with
    /// the names to give them.
    pub companions: Vec<(Url, String)>,
}

/// The files of a Locust CSV set besides `PREFIX_stats.csv`, all optional
/// (the upgrade window only when the run went through an upgrade).
const LOCUST_CSV_COMPANIONS: [&str; 4] = [
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
    "_upgrade_window.json",
];

/// Where to look for a build's results.
#[derive(Debug, Default)]
pub struct Places {
    /// In order: declared artifacts, then the known paths.
    pub candidates: Vec<Candidate>,
    /// Rally artifacts left out because they are not on the log URL's
    /// origin, as messages.
    pub ignored: Vec<String>,
}

/// Where to look, in order: declared artifacts on the log URL's origin,
/// then the known paths.
pub fn candidates(build: &ApiBuild) -> Places {
    let log_url = build.log_url.as_deref().and_then(|u| base_url(u).ok());
    let mut ignored = Vec::new();
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |url: Url, declared: bool| {
        if !matches!(url.scheme(), "http" | "https") || out.iter().any(|c| c.url == url) {
            return;
        }
        let file_name = file_name(&url);
        let companions = companions(&url, &file_name);
        out.push(Candidate {
            url,
            file_name,
            declared,
            companions,
        });
    };
    for (kind, name) in ARTIFACTS {
        for artifact in &build.artifacts {
            if artifact.kind.as_deref() != Some(kind) && artifact.name != name {
                continue;
            }
            // Zuul stores artifact URLs joined to the log URL; a relative
            // one (the log URL was unknown then) is joined here.
            let url = Url::parse(&artifact.url)
                .ok()
                .or_else(|| log_url.as_ref()?.join(&artifact.url).ok());
            match url {
                Some(url) if log_url.as_ref().is_some_and(|l| l.origin() == url.origin()) => {
                    push(url, true)
                }
                Some(url) => {
                    let why = format!(
                        "ignored the artifact {:?}: {} is not the origin of the build's log URL ({})",
                        artifact.name,
                        url.origin().ascii_serialization(),
                        log_url
                            .as_ref()
                            .map_or("none".into(), |l| l.origin().ascii_serialization())
                    );
                    if !ignored.contains(&why) {
                        ignored.push(why);
                    }
                }
                None => {}
            }
        }
    }
    if let Some(base) = &log_url {
        for path in KNOWN_PATHS {
            if let Ok(url) = base.join(path) {
                push(url, false);
            }
        }
    }
    Places {
        candidates: out,
        ignored,
    }
}

/// The siblings of a Locust `PREFIX_stats.csv` (same directory, so same
/// origin), named as Locust names them; nothing for any other file.
fn companions(url: &Url, file_name: &str) -> Vec<(Url, String)> {
    let Some(prefix) = file_name.strip_suffix("_stats.csv") else {
        return Vec::new();
    };
    let served = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let gz = if served.ends_with(".gz") { ".gz" } else { "" };
    LOCUST_CSV_COMPANIONS
        .iter()
        .filter_map(|suffix| {
            let name = format!("{prefix}{suffix}");
            let sibling = url.join(&format!("{name}{gz}")).ok()?;
            Some((sibling, name))
        })
        .collect()
}

/// The log URL as a directory URL (Zuul's log URLs end in `/`; be lenient).
fn base_url(log_url: &str) -> Result<Url, impl std::error::Error> {
    if log_url.ends_with('/') {
        Url::parse(log_url)
    } else {
        Url::parse(&format!("{log_url}/"))
    }
}

/// The last path segment, kept to safe characters (`report.json` by
/// default). A `.gz` suffix is dropped: the download is decompressed, and
/// the in-job ingest archived the file under its plain name.
fn file_name(url: &Url) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let last = last.strip_suffix(".gz").unwrap_or(last);
    let safe: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        "report.json".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::Artifact;

    fn build(log_url: Option<&str>, artifacts: Vec<Artifact>) -> ApiBuild {
        ApiBuild {
            uuid: "abc".into(),
            log_url: log_url.map(str::to_string),
            artifacts,
            ..ApiBuild::default()
        }
    }

    #[test]
    fn declared_artifacts_come_first_then_known_paths() {
        let b = build(
            Some("https://logs.example.org/45/1/3/check/j/abc"),
            vec![
                Artifact {
                    name: "Rally results JSON".into(),
                    url: "https://logs.example.org/45/1/3/check/j/abc/perfkit/results.json".into(),
                    kind: Some("rally_results_json".into()),
                },
                Artifact {
                    name: "Rally JSON report".into(),
                    url: "perfkit/report.json".into(),
                    kind: None,
                },
                Artifact {
                    name: "Rally CI report".into(),
                    url: "https://logs.example.org/45/1/3/check/j/abc/index.html".into(),
                    kind: None,
                },
            ],
        );
        let c = candidates(&b).candidates;
        let urls: Vec<&str> = c.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://logs.example.org/45/1/3/check/j/abc/perfkit/report.json",
                "https://logs.example.org/45/1/3/check/j/abc/perfkit/results.json",
                "https://logs.example.org/45/1/3/check/j/abc/results/report.json",
                "https://logs.example.org/45/1/3/check/j/abc/results/results.json",
                "https://logs.example.org/45/1/3/check/j/abc/perfkit/locust_stats.csv",
                "https://logs.example.org/45/1/3/check/j/abc/perfkit/locust.json",
                "https://logs.example.org/45/1/3/check/j/abc/perfkit/fio.json",
            ]
        );
        assert!(c[0].declared && c[1].declared && !c[2].declared);
        assert_eq!(c[1].file_name, "results.json");
        let gz = Url::parse("https://logs.example.org/x/perfkit/report.json.gz").unwrap();
        assert_eq!(file_name(&gz), "report.json");
    }

    #[test]
    fn a_locust_csv_set_comes_whole_and_before_its_json() {
        let log = "https://logs.example.org/45/1/3/check/keystone-locust-upgrade/abc/";
        let artifact = |name: &str, url: &str, kind: &str| Artifact {
            name: name.into(),
            url: url.into(),
            kind: Some(kind.into()),
        };
        let b = build(
            Some(log),
            vec![
                artifact(
                    "Locust JSON statistics",
                    "perfkit/locust.json",
                    "locust_json",
                ),
                artifact(
                    "Locust request statistics (CSV)",
                    "perfkit/locust_stats.csv.gz",
                    "locust_stats_csv",
                ),
            ],
        );
        let c = candidates(&b).candidates;
        assert_eq!(c[0].file_name, "locust_stats.csv");
        assert!(c[0].declared && c[1].declared);
        assert_eq!(c[1].file_name, "locust.json");
        assert!(c[1].companions.is_empty());
        let siblings: Vec<(&str, &str)> = c[0]
            .companions
            .iter()
            .map(|(url, name)| (url.as_str(), name.as_str()))
            .collect();
        let at = |f: &str| format!("{log}perfkit/{f}");
        assert_eq!(
            siblings,
            [
                (
                    at("locust_stats_history.csv.gz").as_str(),
                    "locust_stats_history.csv"
                ),
                (at("locust_failures.csv.gz").as_str(), "locust_failures.csv"),
                (
                    at("locust_exceptions.csv.gz").as_str(),
                    "locust_exceptions.csv"
                ),
                (
                    at("locust_upgrade_window.json.gz").as_str(),
                    "locust_upgrade_window.json"
                ),
            ]
        );
        // The known path has the same siblings, without `.gz`.
        let known = candidates(&build(Some(log), Vec::new())).candidates;
        let stats = known
            .iter()
            .find(|c| c.file_name == "locust_stats.csv")
            .unwrap();
        assert_eq!(
            stats.companions[3].0.as_str(),
            at("locust_upgrade_window.json")
        );
    }

    #[test]
    fn a_build_that_never_ran_has_nowhere_to_look() {
        assert!(candidates(&build(None, Vec::new())).candidates.is_empty());
        let file = build(Some("file:///etc/"), Vec::new());
        assert!(candidates(&file).candidates.is_empty());
    }

    #[test]
    fn artifacts_off_the_log_urls_origin_are_ignored() {
        let artifact = |url: &str| Artifact {
            name: "Rally JSON report".into(),
            url: url.into(),
            kind: Some("rally_report_json".into()),
        };
        let log_url = "https://logs.example.org/45/1/3/check/j/abc/";
        for elsewhere in [
            "http://169.254.169.254/latest/meta-data/",
            "http://logs.example.org/45/1/3/check/j/abc/perfkit/report.json",
            "https://logs.example.org:8443/45/1/3/check/j/abc/perfkit/report.json",
            "https://evil.example.org/report.json",
            "//evil.example.org/report.json",
        ] {
            let places = candidates(&build(Some(log_url), vec![artifact(elsewhere)]));
            assert!(
                places.candidates.iter().all(|c| !c.declared),
                "{elsewhere}: {places:?}"
            );
            assert_eq!(places.candidates.len(), KNOWN_PATHS.len());
            assert_eq!(places.ignored.len(), 1, "{elsewhere}");
            assert!(
                places.ignored[0].contains(
                    "is not the origin of the build's log URL (https://logs.example.org)"
                ),
                "{places:?}"
            );
        }
        let same = candidates(&build(
            Some(log_url),
            vec![artifact(
                "https://logs.example.org:443/elsewhere/report.json",
            )],
        ));
        assert!(same.candidates[0].declared && same.ignored.is_empty());
        // Without a log URL there is no origin to trust.
        let none = candidates(&build(
            None,
            vec![artifact("https://logs.example.org/x/report.json")],
        ));
        assert!(none.candidates.is_empty());
        assert!(none.ignored[0].ends_with("(none)"), "{none:?}");
    }
}
