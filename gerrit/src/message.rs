//! The review message: a one-line summary; each regression, inconclusive
//! series (saying what would settle it: a recheck, or plainly that rechecks
//! alone cannot) and improvement in one
//! sentence with units (`perfkit_analysis::report::lead`, the sentence the
//! change page leads with too); the numbers behind them (a table and the
//! verdicts' formula text); a link to the change page; and a last line
//! that marks the result set
//! (`perfkit-result: ps=… digest=…`), so a later run can tell whether the
//! same result is already on the change and, when a recheck changed it,
//! say what changed. Gerrit shows raw HTML comments as text, so the marker
//! is a plain line rather than a hidden one. Everything fits in
//! [`MESSAGE_LIMIT`] bytes: rows beyond it are left to the change page.

use std::collections::HashSet;
use std::fmt::Write;

use perfkit_analysis::Metric;
use perfkit_analysis::compare::{Comparison, SeriesVerdict, Status};
use perfkit_analysis::report::{
    autolink, cells, lead, markdown_escape, metric_name, provenance, settle_all, summary,
    upgrade_line,
};
use perfkit_schema::identity::sha256_hex;

use crate::api::ChangeMessageInfo;

/// Bytes of message at most: well under Gerrit's default 16 KiB
/// `change.commentSizeLimit`, leaving room for the `Patch Set N: <votes>`
/// line Gerrit puts before it.
pub const MESSAGE_LIMIT: usize = 12 * 1024;
/// How the marker line starts.
pub const MARKER: &str = "perfkit-result:";
/// Series ids listed per status in the marker; beyond, only the count.
const LISTED_MAX: usize = 20;
/// Flagged series whose formula text is quoted in full.
const REASONS_MAX: usize = 5;
/// Inconclusive series shown (the rest are counted).
const INCONCLUSIVE_MAX: usize = 10;
/// Improvements shown (the rest are counted).
const IMPROVEMENTS_MAX: usize = 10;
/// Per-series changes listed in an update.
const CHANGES_MAX: usize = 10;

/// The statuses a message reports, with their letters in the marker.
const FLAGGED: [(Status, char); 3] = [
    (Status::Regression, 'r'),
    (Status::Inconclusive, 'i'),
    (Status::Improvement, 'b'),
];

fn metric_code(metric: Metric) -> char {
    match metric {
        Metric::Duration => 'd',
        Metric::FailureRate => 'f',
        Metric::Throughput => 't',
    }
}

/// A series as the marker lists it: 8 hex digits of its id and its metric.
fn short_id(s: &SeriesVerdict) -> String {
    format!(
        "{}.{}",
        s.id.get(..8).unwrap_or(&s.id),
        metric_code(s.metric)
    )
}

/// Whether a marker's id has the form [`short_id`] writes,
/// `^[0-9a-f]{8}\.[dft]$`: anything else in a stored message is not
/// perfkit's, and must not reach the text of an update.
fn is_short_id(id: &str) -> bool {
    let Some((hex, metric)) = id.split_once('.') else {
        return false;
    };
    hex.len() == 8
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && matches!(metric, "d" | "f" | "t")
}

/// Series names as messages show them: `scenario › action (job)`, with the
/// subtask title in front where two series would otherwise read the same
/// (one scenario run by several subtasks), Markdown-escaped.
struct Names {
    ambiguous: HashSet<String>,
}

impl Names {
    fn of(c: &Comparison) -> Names {
        let mut seen = HashSet::new();
        let ambiguous = c
            .series
            .iter()
            .map(|s| s.label.short())
            .filter(|name| !seen.insert(name.clone()))
            .collect();
        Names { ambiguous }
    }

    fn name(&self, s: &SeriesVerdict) -> String {
        let short = s.label.short();
        if self.ambiguous.contains(&short) {
            markdown_escape(&format!("{}: {short}", s.label.subtask_title))
        } else {
            markdown_escape(&short)
        }
    }
}

/// What a message said, as its last line records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub patchset: u32,
    /// 16 hex digits of SHA-256 over every flagged series and its status.
    pub digest: String,
    /// Per entry of [`FLAGGED`]: how many series, and their short ids when
    /// there are at most [`LISTED_MAX`].
    pub flagged: [(usize, Option<Vec<String>>); 3],
}

impl Marker {
    /// The marker of a comparison's result.
    pub fn of(c: &Comparison) -> Marker {
        let mut canonical = String::new();
        let flagged = FLAGGED.map(|(status, letter)| {
            let of_status: Vec<&SeriesVerdict> =
                c.series.iter().filter(|s| s.status == status).collect();
            let mut full: Vec<String> = of_status
                .iter()
                .map(|s| format!("{}.{}", s.id, metric_code(s.metric)))
                .collect();
            full.sort();
            for id in &full {
                let _ = writeln!(canonical, "{letter} {id}");
            }
            let mut short: Vec<String> = of_status.iter().map(|s| short_id(s)).collect();
            short.sort();
            (full.len(), (short.len() <= LISTED_MAX).then_some(short))
        });
        Marker {
            patchset: c.patchset,
            digest: sha256_hex(canonical.as_bytes())[..16].to_string(),
            flagged,
        }
    }

    /// `perfkit-result: ps=3 digest=… r=2:1a2b3c4d.d,5e6f7a8b.d i=0 b=0`
    pub fn line(&self) -> String {
        let mut line = format!("{MARKER} ps={} digest={}", self.patchset, self.digest);
        for ((_, letter), (count, ids)) in FLAGGED.iter().zip(&self.flagged) {
            let _ = write!(line, " {letter}={count}");
            if let Some(ids) = ids.as_ref().filter(|ids| !ids.is_empty()) {
                let _ = write!(line, ":{}", ids.join(","));
            }
        }
        line
    }

    /// The marker in a stored message (Gerrit puts `Patch Set N: …` before
    /// the text perfkit sent); the last one wins.
    pub fn parse(message: &str) -> Option<Marker> {
        let line = message
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(MARKER))?;
        let mut patchset = None;
        let mut digest = None;
        let mut flagged: [(usize, Option<Vec<String>>); 3] = Default::default();
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "ps" => patchset = value.parse().ok(),
                "digest" => {
                    digest = Some(value.to_string())
                        .filter(|d| d.len() == 16 && d.chars().all(|c| c.is_ascii_hexdigit()))
                }
                _ => {
                    let Some(i) = FLAGGED.iter().position(|(_, l)| key == l.to_string()) else {
                        continue;
                    };
                    let (count, ids) = value.split_once(':').unwrap_or((value, ""));
                    let count: usize = count.parse().ok()?;
                    // Ids not of perfkit's form are dropped; the list is
                    // then short of the count, so it is not relied on.
                    let ids: Vec<String> = ids
                        .split(',')
                        .filter(|id| is_short_id(id))
                        .map(str::to_string)
                        .collect();
                    flagged[i] = (count, (ids.len() == count).then_some(ids));
                }
            }
        }
        Some(Marker {
            patchset: patchset?,
            digest: digest?,
            flagged,
        })
    }

    /// The status a series had, by short id: `Some(None)` when it was not
    /// flagged, `None` when the marker cannot tell (too many to list).
    fn status_of(&self, short: &str) -> Option<Option<Status>> {
        for ((status, _), (_, ids)) in FLAGGED.iter().zip(&self.flagged) {
            if ids
                .as_ref()
                .is_some_and(|ids| ids.iter().any(|id| id == short))
            {
                return Some(Some(*status));
            }
        }
        self.flagged
            .iter()
            .all(|(_, ids)| ids.is_some())
            .then_some(None)
    }
}

/// The marker of the last message with exactly `tag` on `patchset` that
/// account `author` (the one perfkit posts as) posted. Anyone may set any
/// tag and write a marker line, so a message of another account counts
/// for nothing: it could silence perfkit, or its vote.
pub fn latest_marker(
    messages: &[ChangeMessageInfo],
    tag: &str,
    patchset: u32,
    author: u64,
) -> Option<Marker> {
    messages
        .iter()
        .filter(|m| m.posted_by(author))
        .filter(|m| m.tag.as_deref() == Some(tag))
        .filter(|m| m.revision_number.is_none_or(|n| n == patchset))
        .filter_map(|m| Marker::parse(&m.message))
        .rfind(|marker| marker.patchset == patchset)
}

/// Whether a comparison alone is worth a message: something regressed or
/// needs a recheck. (Improvements and clean results are not: nobody has to
/// act on them.)
pub fn worth_saying(c: &Comparison) -> bool {
    c.has_regression() || c.count(Status::Inconclusive) > 0
}

/// What a recheck changed since the previous message.
struct Update {
    head: String,
    lines: Vec<String>,
}

fn update(previous: &Marker, now: &Marker, c: &Comparison, names: &Names) -> Update {
    let categories = ["regressions", "inconclusive", "improvements"];
    let counts: Vec<String> = categories
        .iter()
        .zip(previous.flagged.iter().zip(&now.flagged))
        .filter(|(_, ((before, _), (after, _)))| before != after)
        .map(|(name, ((before, _), (after, _)))| format!("{name} {before} → {after}"))
        .collect();
    let head = format!(
        "**Update after a recheck** of patchset {}: {}.",
        c.patchset,
        if counts.is_empty() {
            "other series are flagged now".to_string()
        } else {
            counts.join(", ")
        }
    );
    // Series flagged before or now, worst first as the comparison orders them.
    let mut lines = Vec::new();
    let mut seen = Vec::new();
    for s in &c.series {
        let short = short_id(s);
        let Some(before) = previous.status_of(&short) else {
            continue;
        };
        seen.push(short);
        if before == Some(s.status) || (before.is_none() && !is_flagged(s.status)) {
            continue;
        }
        lines.push(format!(
            "- {}, {}: {} → {}",
            names.name(s),
            metric_name(s.metric, &s.label),
            before.map(Status::name).unwrap_or("not flagged"),
            s.status.name()
        ));
    }
    for ((status, _), (_, ids)) in FLAGGED.iter().zip(&previous.flagged) {
        for id in ids.iter().flatten().filter(|id| !seen.contains(id)) {
            lines.push(format!(
                "- series {id}: {} → no longer measured",
                status.name()
            ));
        }
    }
    Update { head, lines }
}

fn is_flagged(status: Status) -> bool {
    FLAGGED.iter().any(|(s, _)| *s == status)
}

/// The parts of a message, rendered once; [`render`] picks how many rows fit.
struct Parts {
    update: Option<Update>,
    head: String,
    /// One sentence per series ([`lead`]), by status.
    regressions: Vec<String>,
    inconclusive: Vec<String>,
    /// What would settle the inconclusive ones ([`settle_all`]).
    settle: String,
    improvements: Vec<String>,
    /// The numbers behind them: a table row and the verdict's formula text
    /// per flagged series.
    rows: Vec<String>,
    reasons: Vec<String>,
    link: Option<String>,
    marker: String,
}

/// How many of each kind of row a rendering shows.
#[derive(Clone, Copy)]
struct Shown {
    changes: usize,
    regressions: usize,
    inconclusive: usize,
    improvements: usize,
    rows: usize,
    reasons: usize,
}

const TABLE_HEAD: &str = "| status | series | metric | baseline ±noise | new | change | q |\n|---|---|---|---|---|---|---|\n";

fn table_row(s: &SeriesVerdict, names: &Names) -> String {
    let [base, new, change, q] = cells(s);
    format!(
        "| {} | {} | {} | {base} | {new} | {change} | {q} |\n",
        s.status.name(),
        names.name(s),
        metric_name(s.metric, &s.label)
    )
}

/// The series and what a reviewer needs to know about it, in one line.
fn lead_line(s: &SeriesVerdict, names: &Names) -> Option<String> {
    Some(format!(
        "- {} — {}\n",
        names.name(s),
        markdown_escape(&lead(s)?)
    ))
}

/// The verdict's own sentence and the samples behind it.
fn reason_line(s: &SeriesVerdict, names: &Names) -> Option<String> {
    let v = s.verdict.as_ref()?;
    // Rally counts iterations; Locust and fio series (depth 0, other rate
    // units) hold quantile points of a distribution or one value per build.
    let rally = s.label.depth > 0 || s.label.rate_unit == "iterations/s";
    let unit = if rally { "iterations" } else { "values" };
    let samples = if v.new_builds > 0 {
        format!(
            "{} {unit} in {} build{} vs {} in {} branch build{}",
            v.n_new,
            v.new_builds,
            if v.new_builds == 1 { "" } else { "s" },
            v.n_baseline,
            v.baseline_builds,
            if v.baseline_builds == 1 { "" } else { "s" }
        )
    } else {
        format!("{} {unit} vs {} on the branch", v.n_new, v.n_baseline)
    };
    Some(format!(
        "- {}, {}: {}; {samples}\n",
        names.name(s),
        metric_name(s.metric, &s.label),
        markdown_escape(&v.reason)
    ))
}

/// The message for `c`, at most `limit` bytes; with `previous` (the last
/// perfkit message on the patchset, whose result differs) it starts with
/// what changed. Each flagged series leads with its sentence in units
/// ([`lead`], the one the change page shows too); the numbers behind them
/// follow.
pub fn body(c: &Comparison, link: Option<&str>, previous: Option<&Marker>, limit: usize) -> String {
    let marker = Marker::of(c);
    let names = Names::of(c);
    let of = |status: Status| c.series.iter().filter(move |s| s.status == status);
    let flagged = || {
        of(Status::Regression)
            .chain(of(Status::Inconclusive))
            .chain(of(Status::Improvement))
    };
    let parts = Parts {
        update: previous.map(|p| update(p, &marker, c, &names)),
        head: format!(
            "**perfkit**: {} — {} change {} patchset {}\n\n{}\n{}",
            markdown_escape(&summary(c)),
            markdown_escape(&c.project),
            c.change,
            c.patchset,
            markdown_escape(&provenance(c)),
            upgrade_line(c)
                .map(|l| format!("\n{}\n", markdown_escape(&l)))
                .unwrap_or_default()
        ),
        regressions: of(Status::Regression)
            .filter_map(|s| lead_line(s, &names))
            .collect(),
        inconclusive: of(Status::Inconclusive)
            .filter_map(|s| lead_line(s, &names))
            .collect(),
        settle: settle_all(c),
        improvements: of(Status::Improvement)
            .filter_map(|s| lead_line(s, &names))
            .collect(),
        rows: flagged().map(|s| table_row(s, &names)).collect(),
        reasons: flagged().filter_map(|s| reason_line(s, &names)).collect(),
        link: link.map(autolink),
        marker: marker.line(),
    };
    let mut shown = Shown {
        changes: parts
            .update
            .as_ref()
            .map_or(0, |u| u.lines.len().min(CHANGES_MAX)),
        regressions: parts.regressions.len(),
        inconclusive: parts.inconclusive.len().min(INCONCLUSIVE_MAX),
        improvements: parts.improvements.len().min(IMPROVEMENTS_MAX),
        rows: parts.rows.len(),
        reasons: parts.reasons.len().min(REASONS_MAX),
    };
    loop {
        let text = render(&parts, shown);
        let over = text.len().saturating_sub(limit);
        if over == 0 {
            return text;
        }
        // Shed the numbers first (the change page has them), then the
        // sentences, improvements before inconclusive before regressions,
        // the update's list last.
        if shown.reasons > 0 {
            shown.reasons = fewer(&parts.reasons[..shown.reasons], over);
        } else if shown.rows > 0 {
            shown.rows = fewer(&parts.rows[..shown.rows], over);
        } else if shown.improvements > 0 {
            shown.improvements = fewer(&parts.improvements[..shown.improvements], over);
        } else if shown.inconclusive > 0 {
            shown.inconclusive = fewer(&parts.inconclusive[..shown.inconclusive], over);
        } else if shown.regressions > 0 {
            shown.regressions = fewer(&parts.regressions[..shown.regressions], over);
        } else if shown.changes > 0 {
            let lines = &parts
                .update
                .as_ref()
                .expect("changes come from an update")
                .lines;
            shown.changes = fewer(&lines[..shown.changes], over);
        } else {
            return cut(&text, &parts.marker, limit);
        }
    }
}

/// How many of `rows` remain when the last ones give up `over` bytes.
fn fewer(rows: &[String], over: usize) -> usize {
    let mut kept = rows.len();
    let mut freed = 0;
    while kept > 0 && freed < over {
        kept -= 1;
        freed += rows[kept].len();
    }
    kept
}

/// The last resort when even the rowless message is too long (a huge job
/// name, say): cut it, keep the marker.
fn cut(text: &str, marker: &str, limit: usize) -> String {
    let tail = format!("\n…\n\n{marker}\n");
    let mut end = limit.saturating_sub(tail.len()).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{tail}", &text[..end])
}

fn render(p: &Parts, n: Shown) -> String {
    let elsewhere = if p.link.is_some() {
        "the change page lists them all"
    } else {
        "`perfkit compare` lists them all"
    };
    let mut out = String::new();
    if let Some(update) = &p.update {
        out.push_str(&update.head);
        out.push('\n');
        if !update.lines.is_empty() {
            out.push('\n');
        }
        for line in &update.lines[..n.changes] {
            out.push_str(line);
            out.push('\n');
        }
        more(
            &mut out,
            update.lines.len() - n.changes,
            "changes",
            elsewhere,
        );
        out.push('\n');
    }
    out.push_str(&p.head);
    let settle = format!("**Inconclusive**: {}.", p.settle);
    let sections = [
        (
            "**Regressions**",
            &p.regressions,
            n.regressions,
            "regressions",
        ),
        (
            &settle,
            &p.inconclusive,
            n.inconclusive,
            "inconclusive series",
        ),
        (
            "**Improvements**",
            &p.improvements,
            n.improvements,
            "improvements",
        ),
    ];
    for (title, lines, shown, what) in sections {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}\n");
        lines[..shown].iter().for_each(|l| out.push_str(l));
        more(&mut out, lines.len() - shown, what, elsewhere);
    }
    if n.rows > 0 {
        out.push_str("\nThe numbers behind them:\n\n");
        out.push_str(TABLE_HEAD);
        p.rows[..n.rows].iter().for_each(|r| out.push_str(r));
        if n.reasons > 0 {
            out.push('\n');
            p.reasons[..n.reasons].iter().for_each(|r| out.push_str(r));
        }
    }
    if let Some(link) = &p.link {
        let _ = write!(out, "\nDetails: {link}\n");
    }
    let _ = write!(out, "\n{}\n", p.marker);
    out
}

fn more(out: &mut String, left: usize, what: &str, elsewhere: &str) {
    if left > 0 {
        let _ = writeln!(out, "\n… and {left} more {what}; {elsewhere}.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AccountInfo;
    use perfkit_analysis::SeriesLabel;
    use perfkit_analysis::compare::BuildRef;
    use perfkit_analysis::regress::verdict::{Direction, Test, Verdict, VerdictKind};

    fn series(n: usize, status: Status) -> SeriesVerdict {
        let kind = match status {
            Status::Regression => VerdictKind::Regression,
            Status::Inconclusive => VerdictKind::Inconclusive,
            Status::Improvement => VerdictKind::Improvement,
            _ => VerdictKind::NoChange,
        };
        SeriesVerdict {
            id: format!("{:016x}", 0xabc0_0000_u64 + n as u64 * 0x1_0000_0000),
            label: SeriesLabel {
                job: "perf-job".into(),
                branch: "master".into(),
                subtask_title: format!("subtask-{n}"),
                scenario: format!("NovaServers.boot_and_delete_server_{n}"),
                action: "nova.boot_server".into(),
                depth: 0,
                unit: "s".into(),
                higher_is_better: false,
                rate_unit: "iterations/s".into(),
            },
            metric: Metric::Duration,
            status,
            verdict: Some(Verdict {
                series: String::new(),
                kind,
                test: Test::MannWhitney,
                direction: Direction::LowerIsBetter,
                baseline_median: Some(1.0),
                baseline_spread: Some(0.05),
                new_median: Some(1.4),
                shift: Some(0.4),
                change_pct: Some(40.0),
                floor: Some(0.1),
                p_value: Some(1e-6),
                q_value: Some(1e-5),
                n_baseline: 200,
                n_new: 20,
                baseline_builds: 10,
                new_builds: 1,
                reason: "shift +0.4 (+40.0 %) beyond floor 0.1 and q 1e-5 ≤ 0.05".into(),
            }),
        }
    }

    fn comparison(series: Vec<SeriesVerdict>) -> Comparison {
        let build = BuildRef {
            build: "b1".into(),
            change: 912345,
            patchset: 3,
            job: Some("perf-job".into()),
            pipeline: Some("check".into()),
            branch: Some("master".into()),
            node_provider: None,
            log_url: None,
            change_url: None,
            time_us: 0,
            commits: Default::default(),
        };
        Comparison {
            project: "openstack/nova".into(),
            change: 912345,
            patchset: 3,
            builds: vec![build.clone()],
            baseline: vec![build],
            same_provider: false,
            series,
            upgrade: None,
        }
    }

    #[test]
    fn a_run_through_an_upgrade_is_one_line_of_the_message() {
        let mut c = comparison(vec![series(1, Status::NoChange)]);
        let plain = body(&c, None, None, MESSAGE_LIMIT);
        assert!(!plain.contains("upgrade"), "{plain}");
        c.upgrade = Some(perfkit_analysis::compare::UpgradeTally {
            builds: 1,
            requests: 2527,
            failures: 10,
        });
        let text = body(&c, None, None, MESSAGE_LIMIT);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("during the upgrade"))
            .collect();
        assert_eq!(
            lines,
            ["2527 requests during the upgrade, 10 failed"],
            "{text}"
        );
    }

    #[test]
    fn sentences_lead_and_the_numbers_follow() {
        let mut inconclusive = series(2, Status::Inconclusive);
        let v = inconclusive.verdict.as_mut().unwrap();
        (v.new_median, v.shift, v.change_pct, v.q_value) =
            (Some(1.12), Some(0.12), Some(12.0), Some(0.1));
        let mut improved = series(3, Status::Improvement);
        let v = improved.verdict.as_mut().unwrap();
        (v.new_median, v.shift, v.change_pct) = (Some(0.7), Some(-0.3), Some(-30.0));
        let c = comparison(vec![series(1, Status::Regression), inconclusive, improved]);
        let text = body(&c, Some("https://perf.example.org/x"), None, MESSAGE_LIMIT);
        let regression = "\n**Regressions**\n\n- NovaServers.boot\\_and\\_delete\\_server\\_1 › nova.boot\\_server (perf-job) — Slower: 1.4 s against a usual 1 s: +400 ms (+40 %), 8.0× how much builds usually vary (±50 ms).\n";
        let recheck = "\n**Inconclusive**: a recheck would settle it.\n\n- NovaServers.boot\\_and\\_delete\\_server\\_2 › nova.boot\\_server (perf-job) — Possibly slower: 1.12 s against a usual 1 s: +120 ms (+12 %), 2.4× how much builds usually vary (±50 ms); one build cannot tell this from a slow node — a recheck would settle it.\n";
        let improvement = "\n**Improvements**\n\n- NovaServers.boot\\_and\\_delete\\_server\\_3 › nova.boot\\_server (perf-job) — Faster: 700 ms against a usual 1 s: -300 ms (-30 %), 6.0× how much builds usually vary (±50 ms).\n";
        let numbers = "\nThe numbers behind them:\n\n| status | series | metric | baseline ±noise | new | change | q |\n";
        let at = |part: &str| {
            text.find(part)
                .unwrap_or_else(|| panic!("no {part:?} in\n{text}"))
        };
        assert!(at(regression) < at(recheck), "{text}");
        assert!(at(recheck) < at(improvement), "{text}");
        assert!(at(improvement) < at(numbers), "{text}");
        // The formula text stays, after the sentences.
        assert!(
            at(numbers)
                < at("nova.boot\\_server (perf-job), duration: shift +0.4 (+40.0 %) beyond floor"),
            "{text}"
        );
        eprintln!("{text}");
    }

    #[test]
    fn the_heading_says_plainly_when_rechecks_cannot_settle_it() {
        // 30 ms over 1 s ± 50 ms from 10 branch builds: no number of
        // rechecks takes the floor (≥ 3 × 50 ms / √10) under it.
        let mut small = series(2, Status::Inconclusive);
        let v = small.verdict.as_mut().unwrap();
        (v.new_median, v.shift, v.change_pct, v.q_value, v.floor) = (
            Some(1.03),
            Some(0.03),
            Some(3.0),
            Some(0.05),
            Some(3.0 * 0.05 * 1.1f64.sqrt()),
        );
        let text = body(&comparison(vec![small]), None, None, MESSAGE_LIMIT);
        assert!(
            text.contains("\n**Inconclusive**: rechecks alone cannot tell it from noise.\n"),
            "{text}"
        );
        assert!(
            text.contains("; rechecks alone cannot tell a shift this small from noise.\n"),
            "{text}"
        );
        assert!(!text.contains("would settle"), "{text}");
    }

    #[test]
    fn the_numbers_give_way_before_the_sentences() {
        let many: Vec<SeriesVerdict> = (0..40).map(|n| series(n, Status::Regression)).collect();
        let c = comparison(many);
        let full = body(&c, None, None, MESSAGE_LIMIT);
        assert!(full.contains("The numbers behind them:"), "{full}");
        let limit = full.find("\nThe numbers behind them:").unwrap() + 200;
        let text = body(&c, None, None, limit);
        assert!(text.len() <= limit);
        assert_eq!(
            text.matches(" — Slower: 1.4 s against a usual 1 s").count(),
            40,
            "{text}"
        );
        assert!(!text.contains("beyond floor"), "{text}");
    }

    #[test]
    fn marker_round_trips_through_a_stored_message() {
        let c = comparison(vec![
            series(1, Status::Regression),
            series(2, Status::Inconclusive),
            series(3, Status::NoChange),
        ]);
        let marker = Marker::of(&c);
        let text = body(&c, Some("https://perf.example.org/x"), None, MESSAGE_LIMIT);
        assert!(text.ends_with(&format!("{}\n", marker.line())), "{text}");
        let stored = format!("Patch Set 3: Verified-1\n\n{text}");
        assert_eq!(Marker::parse(&stored), Some(marker.clone()));
        assert!(marker.line().contains(" r=1:") && marker.line().contains(" b=0"));
    }

    #[test]
    fn digest_depends_on_verdicts_not_numbers() {
        let a = comparison(vec![series(1, Status::Regression)]);
        let mut b = a.clone();
        b.series[0].verdict.as_mut().unwrap().new_median = Some(1.5);
        assert_eq!(Marker::of(&a).digest, Marker::of(&b).digest);
        b.series[0].status = Status::Inconclusive;
        assert_ne!(Marker::of(&a).digest, Marker::of(&b).digest);
    }

    #[test]
    fn large_results_are_cut_to_the_limit_with_marker_and_link() {
        let many: Vec<SeriesVerdict> = (0..400)
            .map(|n| {
                series(
                    n,
                    if n % 3 == 0 {
                        Status::Inconclusive
                    } else {
                        Status::Regression
                    },
                )
            })
            .collect();
        let c = comparison(many);
        let text = body(&c, Some("https://perf.example.org/c"), None, MESSAGE_LIMIT);
        assert!(text.len() <= MESSAGE_LIMIT, "{}", text.len());
        assert!(
            text.len() > MESSAGE_LIMIT - 400,
            "uses the room: {}",
            text.len()
        );
        assert!(text.contains("more regressions; the change page lists them all"));
        assert!(text.contains("Details: <https://perf.example.org/c>"));
        let marker = Marker::parse(&text).unwrap();
        assert_eq!(marker, Marker::of(&c));
        // Too many to list: counts only.
        assert_eq!(marker.flagged[0].0, 266);
        assert!(marker.flagged[0].1.is_none());
    }

    #[test]
    fn a_huge_header_is_cut_and_keeps_the_marker() {
        let mut c = comparison(vec![series(1, Status::Regression)]);
        c.builds[0].job = Some("j".repeat(20_000));
        let text = body(&c, None, None, MESSAGE_LIMIT);
        assert!(text.len() <= MESSAGE_LIMIT);
        assert_eq!(Marker::parse(&text), Some(Marker::of(&c)));
    }

    #[test]
    fn series_that_read_the_same_are_told_apart_by_subtask() {
        let mut a = series(1, Status::Regression);
        let mut b = series(2, Status::Regression);
        b.label.scenario = a.label.scenario.clone();
        a.label.subtask_title = "boot-small".into();
        b.label.subtask_title = "boot-large".into();
        let text = body(
            &comparison(vec![a, b, series(3, Status::Inconclusive)]),
            None,
            None,
            MESSAGE_LIMIT,
        );
        assert!(
            text.contains("| boot-small: NovaServers.boot\\_and\\_delete\\_server\\_1 › "),
            "{text}"
        );
        assert!(
            text.contains("| boot-large: NovaServers.boot\\_and\\_delete\\_server\\_1 › "),
            "{text}"
        );
        assert!(
            text.contains("| NovaServers.boot\\_and\\_delete\\_server\\_3 › "),
            "{text}"
        );
    }

    #[test]
    fn untrusted_labels_are_escaped() {
        let mut s = series(1, Status::Regression);
        s.label.scenario = "<img src=x> | *bold*".into();
        let text = body(&comparison(vec![s]), None, None, MESSAGE_LIMIT);
        assert!(text.contains("&lt;img src=x&gt; \\| \\*bold\\*"), "{text}");
        assert!(!text.contains("<img"));
    }

    #[test]
    fn an_update_says_what_changed() {
        let before = comparison(vec![
            series(1, Status::Regression),
            series(2, Status::Inconclusive),
        ]);
        let mut after = before.clone();
        after.series[0].status = Status::NoChange;
        after.series[1].status = Status::Regression;
        let previous = Marker::of(&before);
        let text = body(&after, None, Some(&previous), MESSAGE_LIMIT);
        assert!(
            text.starts_with("**Update after a recheck** of patchset 3: inconclusive 1 → 0.\n"),
            "{text}"
        );
        assert!(
            text.contains("boot\\_and\\_delete\\_server\\_1 › nova.boot\\_server (perf-job), duration: regression → no change"),
            "{text}"
        );
        assert!(
            text.contains(
                "server\\_2 › nova.boot\\_server (perf-job), duration: inconclusive → regression"
            ),
            "{text}"
        );
    }

    const BOT: u64 = 1000001;

    fn account(id: u64) -> Option<AccountInfo> {
        Some(AccountInfo {
            account_id: Some(id),
        })
    }

    fn stored(text: &str, tag: &str, ps: u32, author: u64) -> ChangeMessageInfo {
        ChangeMessageInfo {
            message: format!("Patch Set {ps}:\n\n{text}"),
            tag: Some(tag.to_string()),
            revision_number: Some(ps),
            author: account(author),
            real_author: None,
        }
    }

    #[test]
    fn latest_marker_matches_tag_and_patchset() {
        let c = comparison(vec![series(1, Status::Regression)]);
        let text = body(&c, None, None, MESSAGE_LIMIT);
        let message = |tag: &str, ps: u32| stored(&text, tag, ps, BOT);
        let tag = "autogenerated:perfkit";
        assert!(latest_marker(&[message(tag, 3)], tag, 3, BOT).is_some());
        assert!(latest_marker(&[message("autogenerated:perfkit:job", 3)], tag, 3, BOT).is_none());
        assert!(latest_marker(&[message(tag, 3)], "autogenerated:perfkit:job", 3, BOT).is_none());
        assert!(latest_marker(&[message(tag, 2)], tag, 3, BOT).is_none());
    }

    #[test]
    fn only_the_accounts_own_markers_count() {
        let c = comparison(vec![series(1, Status::Regression)]);
        let text = body(&c, None, None, MESSAGE_LIMIT);
        let tag = "autogenerated:perfkit";
        let forged = stored(&text, tag, 3, 1000000);
        assert!(latest_marker(std::slice::from_ref(&forged), tag, 3, BOT).is_none());
        let mut gerrits_own = stored(&text, tag, 3, BOT);
        gerrits_own.author = None;
        assert!(latest_marker(&[gerrits_own], tag, 3, BOT).is_none());
        // Posted on the account's behalf by someone else.
        let mut on_behalf = stored(&text, tag, 3, BOT);
        on_behalf.real_author = account(1000000);
        assert!(latest_marker(&[on_behalf], tag, 3, BOT).is_none());
        // A later forged message does not hide the account's own.
        let own = stored(&text, tag, 3, BOT);
        assert_eq!(
            latest_marker(&[own, forged], tag, 3, BOT),
            Some(Marker::of(&c))
        );
    }

    #[test]
    fn marker_ids_are_series_ids_or_nothing() {
        let marker = Marker::parse(
            "perfkit-result: ps=3 digest=0123456789abcdef r=2:[x](https://evil.example/),0abc0000.d i=1:ABCDEF01.d b=1:0abc0000.t",
        )
        .unwrap();
        // One id of two is not an id: the list is not relied on.
        assert_eq!(marker.flagged[0], (2, None));
        assert_eq!(marker.flagged[1], (1, None));
        assert_eq!(marker.flagged[2], (1, Some(vec!["0abc0000.t".to_string()])));
        assert!(is_short_id("0abc0000.f"));
        for bad in [
            "0abc0000.x",
            "0abc000.d",
            "0abc00000.d",
            "0abc0000",
            "0abc0000.d.d",
        ] {
            assert!(!is_short_id(bad), "{bad}");
        }
        // An update from it names no such id.
        let c = comparison(vec![series(1, Status::Regression)]);
        let text = body(&c, None, Some(&marker), MESSAGE_LIMIT);
        assert!(!text.contains("evil.example"), "{text}");
    }
}
