//! Zuul's REST builds API as Zuul 14.3.0 serves it (`zuul/web/__init__.py`:
//! `builds`, `BuildConverter.toDict`, `RefConverter.toDict`):
//! `GET /api/tenant/<tenant>/builds?job_name=…&project=…&complete=true&skip=N&limit=N`
//! answers a JSON list, newest first (by build id `_id`; repeated
//! parameters are OR-ed). Each build has `uuid`, `job_name`, `result`,
//! `start_time`/`end_time` (UTC, `%Y-%m-%dT%H:%M:%S`), `log_url`,
//! `artifacts` (`[{name, url, metadata?}]`, URLs already joined to the log
//! URL), `pipeline`, `buildset: {uuid}` and, since Zuul 10, the item under
//! `ref`: `{project, branch, change, patchset, ref, oldrev, newrev,
//! ref_url}` (`change` an integer, `patchset` a string, unknown values
//! null). Older Zuuls put those item fields at the top level; both are read.

#[cfg(feature = "client")]
use std::collections::HashSet;

use crate::vars::ZuulFacts;
use serde_json::Value;
use url::Url;

use perfkit_http::{DisplaySafeUrl, Problem, UrlArgError};
#[cfg(feature = "client")]
use perfkit_http::{FetchError, Fetcher};
use perfkit_schema::shown;

/// What to ask Zuul for.
#[derive(Debug, Clone)]
pub struct BuildsQuery {
    /// `<zuul>/api/tenant/<tenant>/builds`.
    endpoint: DisplaySafeUrl,
    jobs: Vec<String>,
    projects: Vec<String>,
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    page_size: u32,
}

impl BuildsQuery {
    pub fn new(
        zuul: &str,
        tenant: &str,
        jobs: &[String],
        projects: &[String],
        page_size: u32,
    ) -> anyhow::Result<BuildsQuery> {
        let hint = "give Zuul's web address, e.g. https://zuul.opendev.org";
        let mut endpoint = DisplaySafeUrl::http_arg("--zuul", zuul).map_err(|e| match e {
            UrlArgError::Credentials { .. } => {
                Problem::new(e.to_string(), "Zuul's builds API and log servers need none")
            }
            _ => Problem::new(e.to_string(), hint),
        })?;
        anyhow::ensure!(
            !tenant.is_empty() && !tenant.contains('/'),
            "`--tenant {}` is not a tenant name",
            shown(tenant)
        );
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        endpoint
            .path_segments_mut()
            .map_err(|()| Problem::new("`--zuul` cannot have a path", hint))?
            .pop_if_empty()
            .extend(["api", "tenant", tenant, "builds"]);
        Ok(BuildsQuery {
            endpoint,
            jobs: jobs.to_vec(),
            projects: projects.to_vec(),
            page_size,
        })
    }

    /// The endpoint, for messages.
    pub fn endpoint(&self) -> &DisplaySafeUrl {
        &self.endpoint
    }

    /// `<zuul>/api/tenant/<tenant>/buildset/<uuid>`.
    pub fn buildset_url(&self, uuid: &str) -> Url {
        let mut url = self.endpoint.as_url().clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop().extend(["buildset", uuid]);
        }
        url
    }

    /// One page of at most `limit` builds: `skip` builds left out, and
    /// with `idx_max` only builds up to that id, so that builds finishing
    /// while we page do not shift the pages under us.
    pub fn page_url(&self, skip: u64, idx_max: Option<u64>, limit: u32) -> Url {
        let mut url = self.endpoint.as_url().clone();
        {
            let mut query = url.query_pairs_mut();
            for job in &self.jobs {
                query.append_pair("job_name", job);
            }
            for project in &self.projects {
                query.append_pair("project", project);
            }
            query.append_pair("complete", "true");
            if let Some(id) = idx_max {
                query.append_pair("idx_max", &id.to_string());
            }
            query.append_pair("skip", &skip.to_string());
            query.append_pair("limit", &limit.to_string());
        }
        url
    }
}

/// An artifact of a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub name: String,
    pub url: String,
    /// `metadata.type`, as the scaffolded post-run playbook sets it.
    pub kind: Option<String>,
}

/// One finished build as the API describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiBuild {
    /// Zuul's database id (`_id`): pages are ordered by it.
    pub id: Option<u64>,
    pub uuid: String,
    pub job_name: Option<String>,
    pub result: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// When the event that triggered the build came (Zuul >= 4): the only
    /// time a build that never ran (SKIPPED, some NODE_FAILUREs) has.
    pub event_timestamp: Option<String>,
    pub log_url: Option<String>,
    pub pipeline: Option<String>,
    pub buildset: Option<String>,
    pub project: Option<String>,
    pub branch: Option<String>,
    pub change: Option<String>,
    pub patchset: Option<String>,
    pub git_ref: Option<String>,
    pub newrev: Option<String>,
    pub ref_url: Option<String>,
    pub artifacts: Vec<Artifact>,
    /// The commits the post-run recorded (its `perfkit_commits` artifact's
    /// metadata), (project, sha).
    pub commits: Vec<(String, String)>,
}

impl ApiBuild {
    /// Reads one element of the builds list.
    pub fn from_json(value: &Value) -> Result<ApiBuild, String> {
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let uuid = text(value.get("uuid"))
            .filter(|u| !u.is_empty())
            .ok_or("a build without `uuid`")?;
        // Zuul >= 10 nests the item under `ref`; before, `ref` was the git ref.
        let item = match value.get("ref") {
            Some(nested @ Value::Object(_)) => nested,
            _ => value,
        };
        let artifacts = value
            .get("artifacts")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|a| {
                        Some(Artifact {
                            name: text(a.get("name")).unwrap_or_default(),
                            url: text(a.get("url"))?,
                            kind: text(a.get("metadata").and_then(|m| m.get("type"))),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ApiBuild {
            id: value.get("_id").and_then(Value::as_u64),
            uuid,
            job_name: text(value.get("job_name")),
            result: text(value.get("result")),
            start_time: text(value.get("start_time")),
            end_time: text(value.get("end_time")),
            event_timestamp: text(value.get("event_timestamp")),
            log_url: text(value.get("log_url")),
            pipeline: text(value.get("pipeline")),
            buildset: text(value.get("buildset").and_then(|b| b.get("uuid")))
                .or_else(|| text(value.get("buildset"))),
            project: text(item.get("project")),
            branch: text(item.get("branch")),
            change: text(item.get("change")),
            patchset: text(item.get("patchset")),
            git_ref: text(item.get("ref")),
            newrev: text(item.get("newrev")),
            ref_url: text(item.get("ref_url")),
            commits: commits_artifact(value.get("artifacts")),
            artifacts,
        })
    }

    /// The facts `perfkit ingest --zuul-vars` reads inside the job, from
    /// the API's names for them.
    pub fn facts(&self, tenant: &str) -> ZuulFacts {
        ZuulFacts {
            project: self.project.clone(),
            change: self.change.clone(),
            patchset: self.patchset.clone(),
            git_ref: self.git_ref.clone(),
            newrev: self.newrev.clone(),
            branch: self.branch.clone(),
            tag: None,
            pipeline: self.pipeline.clone(),
            job: self.job_name.clone(),
            build: Some(self.uuid.clone()),
            buildset: self.buildset.clone(),
            tenant: Some(tenant.to_string()),
            change_url: self.ref_url.clone(),
            log_url: self.log_url.clone(),
            result: self.result.clone(),
            node_provider: None,
            node_label: None,
            commits: self.commits.clone(),
        }
    }

    /// When the build started (else ended, else its event came), µs
    /// since the epoch.
    pub fn time_us(&self) -> Option<i64> {
        [&self.start_time, &self.end_time, &self.event_timestamp]
            .into_iter()
            .find_map(|t| t.as_deref().and_then(parse_utc_us))
    }

    /// Whether Zuul says the job succeeded (so Rally results must exist).
    pub fn succeeded(&self) -> bool {
        self.result.as_deref() == Some("SUCCESS")
    }

    /// "openstack/nova change 912345 patchset 3 build <uuid>", for messages.
    pub fn describe(&self) -> String {
        let project = self.project.as_deref().unwrap_or("?");
        let mut text = shown(project).into_owned();
        match (&self.change, &self.patchset) {
            (Some(c), Some(p)) => {
                text.push_str(&format!(" change {} patchset {}", shown(c), shown(p)))
            }
            _ => {
                if let Some(pipeline) = &self.pipeline {
                    text.push_str(&format!(" {}", shown(pipeline)));
                }
                if let Some(branch) = &self.branch {
                    text.push_str(&format!(" {}", shown(branch)));
                }
            }
        }
        text.push_str(&format!(" build {}", shown(&self.uuid)));
        text
    }
}

/// The builds to collect, newest first.
#[derive(Debug, Default)]
pub struct Listing {
    pub builds: Vec<ApiBuild>,
    /// Elements of the list that are not builds (no `uuid`), as messages.
    pub invalid: Vec<String>,
    /// Why the listing may be incomplete, as messages.
    pub warnings: Vec<String>,
    pub pages: u32,
}

/// Which builds to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Only builds that started at or after this time (µs).
    pub since_us: Option<i64>,
    /// At most this many builds (the newest).
    pub limit: Option<usize>,
}

/// Zuul's result for a buildset (the queue item all of a change's jobs
/// ran in), `None` while the item is still in its pipeline. In a gate
/// pipeline `SUCCESS` means every job passed and the change merged (Zuul
/// reports `MERGE_FAILURE` when the merge itself failed).
#[cfg(feature = "client")]
pub async fn buildset_result(
    fetcher: &Fetcher,
    query: &BuildsQuery,
    uuid: &str,
) -> anyhow::Result<Option<String>> {
    let url = query.buildset_url(uuid);
    let body = fetcher
        .get_bytes(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read buildset {}: {e}", shown(uuid)))?;
    let buildset: Value = serde_json::from_slice(&body)
        .map_err(|e| anyhow::anyhow!("Zuul's answer to {url} is not JSON: {e}"))?;
    match buildset.get("result") {
        Some(Value::String(result)) if !result.is_empty() => Ok(Some(result.clone())),
        Some(Value::Null) | None => Ok(None),
        Some(other) => anyhow::bail!("Zuul's answer to {url} has the result {other}, not a string"),
    }
}

/// Pages through the builds API until the list ends, `window.limit`
/// builds are found, a whole page is older than `window.since_us`, or a
/// page lists no build not seen before (a server that ignores `skip`
/// would otherwise be asked forever). `on_page` is told how many builds
/// were found so far.
///
/// A build with no time at all is as old as the newest timed build listed
/// before it (pages are newest first): before any, it is recent; after an
/// old one, old. So builds that never ran cannot keep `--since` paging
/// through the whole history.
#[cfg(feature = "client")]
pub async fn list_builds(
    fetcher: &Fetcher,
    query: &BuildsQuery,
    window: Window,
    on_page: &dyn Fn(usize),
) -> anyhow::Result<Listing> {
    let mut listing = Listing::default();
    let mut seen = HashSet::new();
    let mut skip = 0u64;
    let mut idx_max = None;
    // The time of the last timed build listed, which untimed ones inherit.
    let mut last_time: Option<i64> = None;
    loop {
        let wanted = match window.limit {
            Some(n) => (n - listing.builds.len()).min(query.page_size as usize) as u32,
            None => query.page_size,
        };
        let url = query.page_url(skip, idx_max, wanted);
        let body = fetcher
            .get_bytes(&url)
            .await
            .map_err(|e| page_error(&url, &e))?;
        let page: Value = serde_json::from_slice(&body).map_err(|e| {
            Problem::new(
                format!("Zuul's answer to {url} is not JSON: {e}"),
                "is `--zuul` Zuul's web address (the one serving /api/)?",
            )
        })?;
        let Value::Array(items) = page else {
            anyhow::bail!("Zuul's answer to {url} is not a list of builds");
        };
        listing.pages += 1;
        if idx_max.is_none() {
            idx_max = items
                .first()
                .and_then(|b| b.get("_id"))
                .and_then(Value::as_u64);
        }
        let mut recent = false;
        let mut unseen = 0usize;
        for item in &items {
            let build = match ApiBuild::from_json(item) {
                Ok(build) => build,
                Err(e) => {
                    listing.invalid.push(format!("{e} on the page {url}"));
                    continue;
                }
            };
            if !seen.insert(build.uuid.clone()) {
                continue;
            }
            unseen += 1;
            let time = build.time_us().or(last_time);
            last_time = time;
            if let (Some(since), Some(time)) = (window.since_us, time)
                && time < since
            {
                continue;
            }
            recent = true;
            listing.builds.push(build);
            if window.limit.is_some_and(|n| listing.builds.len() >= n) {
                on_page(listing.builds.len());
                return Ok(listing);
            }
        }
        on_page(listing.builds.len());
        if items.len() < wanted as usize || (window.since_us.is_some() && !recent) {
            return Ok(listing);
        }
        if unseen == 0 {
            listing.warnings.push(format!(
                "the page {url} adds no new build: stopped listing there, so older builds may be missing\nhint: does this Zuul ignore `skip`?"
            ));
            return Ok(listing);
        }
        skip += items.len() as u64;
    }
}

#[cfg(feature = "client")]
fn page_error(url: &Url, e: &FetchError) -> anyhow::Error {
    match e {
        FetchError::NotFound => Problem::new(
            format!("Zuul answered 404 for {url}"),
            "check `--zuul` (Zuul's web address) and `--tenant`",
        )
        .into(),
        other => anyhow::anyhow!("cannot list builds from {url}: {other}"),
    }
}

/// Zuul's `%Y-%m-%dT%H:%M:%S` (UTC) as µs since the epoch; fractions of
/// seconds and a `Z` or `+00:00` suffix are accepted too.
pub fn parse_utc_us(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut d = date.split('-');
    let (year, month, day) = (
        d.next()?.parse::<i64>().ok()?,
        d.next()?.parse::<u32>().ok()?,
        d.next()?.parse::<u32>().ok()?,
    );
    // Four-digit years: the text comes from a server, and a year past
    // them would overflow the microseconds below.
    if d.next().is_some()
        || !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut micros = 0i64;
    if let Some(time) = time {
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut t = hms.split(':');
        let hour = t.next()?.parse::<i64>().ok()?;
        let minute = t.next()?.parse::<i64>().ok()?;
        let second = t
            .next()
            .map(str::parse::<i64>)
            .transpose()
            .ok()?
            .unwrap_or(0);
        if t.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        micros = ((hour * 60 + minute) * 60 + second) * 1_000_000;
        if let Some(f) = fraction {
            let digits: String = f.chars().take(6).collect();
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            micros += digits.parse::<i64>().ok()? * 10i64.pow(6 - digits.len() as u32);
        }
    }
    days_from_civil(year, month, day)
        .checked_mul(86_400_000_000)?
        .checked_add(micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `--since`: a date (`2026-01-31`), a UTC time (`2026-01-31T06:00:00`),
/// or an age in days or hours before `now_us` (`2d`, `12h`).
pub fn parse_since(text: &str, now_us: i64) -> Result<i64, String> {
    let t = text.trim();
    let age = |digits: &str, unit_us: i64| -> Option<i64> {
        let n = digits.parse::<i64>().ok()?;
        now_us.checked_sub(n.checked_mul(unit_us)?)
    };
    let relative = if let Some(d) = t.strip_suffix('d') {
        age(d, 86_400_000_000)
    } else if let Some(h) = t.strip_suffix('h') {
        age(h, 3_600_000_000)
    } else {
        None
    };
    relative.or_else(|| parse_utc_us(t)).ok_or_else(|| {
        format!(
            "`--since {}` is not a date\nhint: e.g. `--since 2026-01-31`, `--since 2026-01-31T06:00:00` (UTC) or `--since 2d`",
            shown(text)
        )
    })
}

/// The post-run's record of the commits it checked out: the metadata of
/// its artifact of type `perfkit_commits` (`{"commits": {project: sha}}`),
/// so the collector needs no download for it.
fn commits_artifact(artifacts: Option<&Value>) -> Vec<(String, String)> {
    let Some(list) = artifacts.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| a.get("metadata"))
        .filter(|m| m.get("type").and_then(Value::as_str) == Some(COMMITS_ARTIFACT))
        .filter_map(|m| m.get("commits").and_then(Value::as_object))
        .flat_map(|commits| {
            commits
                .iter()
                .filter_map(|(p, sha)| Some((p.clone(), sha.as_str()?.to_string())))
        })
        .collect()
}

/// The artifact type of the post-run's commit record.
pub const COMMITS_ARTIFACT: &str = "perfkit_commits";

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `zuul_builds` fuzz target: a year of 11 digits
    /// overflowed the microseconds (a panic in debug builds, a wrong time in
    /// release ones).
    #[test]
    fn times_out_of_range_are_not_times() {
        assert_eq!(parse_utc_us("20234567896-01-02T03:04:05"), None);
        assert_eq!(parse_utc_us("10000-01-01"), None);
        assert!(parse_utc_us("9999-12-31T23:59:59").is_some());
        assert!(parse_utc_us("0000-01-01").is_some_and(|t| t < 0));
        let now = parse_utc_us("2026-01-02T00:00:00").unwrap();
        assert!(parse_since("-106751990d", now).is_err());
        assert!(parse_since("9223372036854775807h", now).is_err());
        assert_eq!(parse_since("1d", now), Ok(now - 86_400_000_000));
    }

    #[test]
    fn zuul_10_shape() {
        let v: Value = serde_json::json!({
            "_id": 7, "uuid": "abc", "job_name": "nova-rally-task", "result": "SUCCESS",
            "start_time": "2026-01-02T03:04:05", "end_time": "2026-01-02T04:00:00",
            "log_url": "https://logs.example.org/45/912345/3/check/nova-rally-task/abc/",
            "artifacts": [{"name": "Rally JSON report", "url": "https://logs.example.org/x/perfkit/report.json",
                           "metadata": {"type": "rally_report_json"}}],
            "pipeline": "check", "buildset": {"uuid": "bs"},
            "ref": {"project": "openstack/nova", "branch": "master", "change": 912345, "patchset": "3",
                    "ref": "refs/changes/45/912345/3", "oldrev": null, "newrev": null,
                    "ref_url": "https://review.opendev.org/912345"}
        });
        let b = ApiBuild::from_json(&v).unwrap();
        assert_eq!(b.id, Some(7));
        assert_eq!(b.change.as_deref(), Some("912345"));
        assert_eq!(b.patchset.as_deref(), Some("3"));
        assert_eq!(b.git_ref.as_deref(), Some("refs/changes/45/912345/3"));
        assert_eq!(b.buildset.as_deref(), Some("bs"));
        assert_eq!(b.artifacts[0].kind.as_deref(), Some("rally_report_json"));
        assert_eq!(b.time_us(), parse_utc_us("2026-01-02T03:04:05"));
        assert!(b.succeeded());
    }

    #[test]
    fn the_post_runs_commits_come_from_artifact_metadata() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let v: Value = serde_json::json!({
            "uuid": "abc", "job_name": "j", "result": "SUCCESS", "pipeline": "periodic",
            "artifacts": [
                {"name": "perfkit commits", "url": "perfkit/",
                 "metadata": {"type": "perfkit_commits",
                              "commits": {"openstack/nova": sha, "openstack/devstack": sha}}},
                {"name": "other", "url": "x", "metadata": {"commits": {"openstack/x": sha}}}
            ],
            "ref": {"project": "openstack/nova", "branch": "master", "ref": "refs/heads/master"}
        });
        let b = ApiBuild::from_json(&v).unwrap();
        let meta = crate::vars::interpret(b.facts("openstack")).unwrap().meta;
        assert_eq!(meta.commit.as_deref(), Some(sha));
        assert_eq!(
            meta.required_commits,
            [("openstack/devstack".to_string(), sha.to_string())].into()
        );
    }

    #[test]
    fn pre_zuul_10_shape() {
        let v: Value = serde_json::json!({
            "uuid": "abc", "job_name": "j", "result": "NODE_FAILURE", "log_url": null,
            "project": "openstack/nova", "branch": "master", "change": null, "patchset": null,
            "ref": "refs/heads/master", "newrev": null, "pipeline": "periodic",
            "buildset": {"uuid": "bs"}, "artifacts": []
        });
        let b = ApiBuild::from_json(&v).unwrap();
        assert_eq!(b.project.as_deref(), Some("openstack/nova"));
        assert_eq!(b.git_ref.as_deref(), Some("refs/heads/master"));
        assert_eq!((b.change, b.log_url), (None, None));
        assert!(ApiBuild::from_json(&serde_json::json!({"job_name": "j"})).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_utc_us("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_utc_us("1970-01-02"), Some(86_400_000_000));
        assert_eq!(
            parse_utc_us("2000-03-01T00:00:01.5Z"),
            Some(951_868_801_500_000)
        );
        assert_eq!(parse_utc_us("2026-13-01"), None);
        assert_eq!(parse_utc_us("yesterday"), None);
        assert_eq!(parse_since("2d", 3 * 86_400_000_000), Ok(86_400_000_000));
        assert_eq!(parse_since("1h", 3_600_000_000), Ok(0));
        assert!(parse_since("soon", 0).unwrap_err().contains("hint:"));
    }

    #[test]
    fn page_urls_carry_zuuls_parameters() {
        let q = BuildsQuery::new(
            "https://zuul.example.org/zuul/",
            "openstack",
            &["a".into(), "b c".into()],
            &["openstack/nova".into()],
            50,
        )
        .unwrap();
        assert_eq!(
            q.page_url(100, Some(9), 50).as_str(),
            "https://zuul.example.org/zuul/api/tenant/openstack/builds?job_name=a&job_name=b+c&project=openstack%2Fnova&complete=true&idx_max=9&skip=100&limit=50"
        );
        assert!(BuildsQuery::new("zuul.example.org", "t", &[], &[], 50).is_err());
        assert_eq!(
            q.buildset_url("4fa2").as_str(),
            "https://zuul.example.org/zuul/api/tenant/openstack/buildset/4fa2"
        );
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        for url in [
            "https://perfkit:s3cr3t@zuul.example.org/",
            "https://s3cr3t@zuul.example.org/",
            "https://:s3cr3t@zuul.example.org/",
            "s3cr3t@zuul.example.org",
            "ftp://perfkit:s3cr3t@zuul.example.org/",
        ] {
            let e = BuildsQuery::new(url, "t", &[], &[], 50).unwrap_err();
            assert!(!format!("{e:#}").contains("s3cr3t"), "{url}: {e:#}");
        }
        let e = BuildsQuery::new("https://u:s3cr3t@zuul.example.org/", "t", &[], &[], 50);
        assert!(
            e.unwrap_err()
                .to_string()
                .starts_with("`--zuul` must not contain credentials")
        );
    }
}
