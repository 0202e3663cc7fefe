//! Adding perfkit's job to a single-file Zuul config (`zuul.yaml`,
//! `.zuul.yaml`) as text, so that comments, anchors, `!encrypted` secrets,
//! order and blank lines stay byte for byte; and proving it by parsing the
//! result and comparing it with the original structure plus exactly our
//! additions. Deciding which file to edit is `scaffold`'s job.
//!
//! Edits are line insertions only (plus, with `--force`, rewriting the job
//! block perfkit wrote before): the job block is appended at the end; the
//! job name goes into an existing project stanza's block-style `jobs:` list
//! when there is one for the pipeline, else into a second `- project:`
//! stanza appended after the job (Zuul combines project stanzas).

use std::path::Path;

use yaml_serde::Value;

use crate::scaffold::ScaffoldError;
use crate::scaffold::config::{job_name, parse_stanzas, pipeline_jobs, stanza_body};

/// What happened to perfkit's job stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Not there before; appended.
    Added,
    /// Already there, exactly as perfkit writes it.
    Unchanged,
    /// There, written by perfkit, edited since: left alone.
    KeptEdited,
    /// There, edited, and rewritten because of `--force`.
    Rewritten,
}

/// The job block to add: perfkit's header comment lines, then the stanza.
#[derive(Debug, Clone)]
pub struct JobBlock<'a> {
    pub name: &'a str,
    /// Rendered text, ending in a newline.
    pub text: &'a str,
    /// `text` parsed: the one `- job:` stanza.
    pub stanza: &'a Value,
}

/// The merged file and what changed.
#[derive(Debug, Clone)]
pub struct Merged {
    pub text: String,
    pub job: JobState,
    /// Pipelines the job was added to in an existing project stanza.
    pub pipelines_in_place: Vec<String>,
    /// Pipelines listed in the new `- project:` stanza.
    pub pipelines_new_stanza: Vec<String>,
}

/// One planned `- <job>` line in an existing `jobs:` list.
struct ListInsert {
    /// Insert before this line index.
    at: usize,
    indent: usize,
    stanza: usize,
    pipeline: String,
}

enum JobEdit {
    Keep,
    Append,
    Replace {
        stanza: usize,
        lines: std::ops::Range<usize>,
    },
}

/// Merges the job into `original` (the text of `path`, already parsed into
/// `stanzas`), listing it in each of `pipelines` that does not list it yet.
/// `render_project` renders a `- project:` stanza for the given pipelines.
pub fn merge_into_file(
    path: &Path,
    original: &str,
    stanzas: &[Value],
    job: &JobBlock<'_>,
    pipelines: &[String],
    render_project: &dyn Fn(&[String]) -> Result<String, ScaffoldError>,
    force: bool,
) -> Result<Merged, ScaffoldError> {
    let eol = if original.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let base: String = if original.is_empty() || original.ends_with('\n') {
        original.to_string()
    } else {
        format!("{original}{eol}")
    };
    let lines: Vec<&str> = base.split_inclusive('\n').collect();
    let top = top_level_items(&lines);
    // Text positions map to stanzas only when every stanza starts with a
    // `- ` line at column 0, as in every real config seen.
    let mapped = top.len() == stanzas.len();

    let (job_state, job_edit) = plan_job(path, &lines, &top, mapped, stanzas, job, eol, force)?;
    let missing: Vec<String> = pipelines
        .iter()
        .filter(|p| {
            !stanzas
                .iter()
                .filter_map(|s| stanza_body(s, "project"))
                .any(|proj| pipeline_jobs(proj, p).contains(&job.name))
        })
        .cloned()
        .collect();

    let mut inserts = Vec::new();
    if mapped {
        for pipeline in &missing {
            let found = (0..top.len()).find_map(|i| {
                stanza_body(&stanzas[i], "project")?;
                let end = top.get(i + 1).copied().unwrap_or(lines.len());
                jobs_list_end(&lines, top[i], end, pipeline).map(|(at, indent)| ListInsert {
                    at,
                    indent,
                    stanza: i,
                    pipeline: pipeline.clone(),
                })
            });
            inserts.extend(found);
        }
    }
    let first = build(
        path,
        &base,
        &lines,
        stanzas,
        job,
        &job_edit,
        &inserts,
        &missing,
        render_project,
        eol,
    );
    let (text, inserts) = match first {
        Ok(text) => (text, inserts),
        // Our reading of the text disagreed with the parser: fall back to
        // appending a whole project stanza, which needs no reading.
        Err(_) if !inserts.is_empty() => {
            let text = build(
                path,
                &base,
                &lines,
                stanzas,
                job,
                &job_edit,
                &[],
                &missing,
                render_project,
                eol,
            )?;
            (text, Vec::new())
        }
        Err(e) => return Err(e),
    };
    let pipelines_in_place: Vec<String> = inserts.iter().map(|i| i.pipeline.clone()).collect();
    let pipelines_new_stanza = missing
        .into_iter()
        .filter(|p| !pipelines_in_place.contains(p))
        .collect();
    Ok(Merged {
        text: if text == base && base != original {
            original.to_string()
        } else {
            text
        },
        job: job_state,
        pipelines_in_place,
        pipelines_new_stanza,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_job(
    path: &Path,
    lines: &[&str],
    top: &[usize],
    mapped: bool,
    stanzas: &[Value],
    job: &JobBlock<'_>,
    eol: &str,
    force: bool,
) -> Result<(JobState, JobEdit), ScaffoldError> {
    let defined: Vec<usize> = (0..stanzas.len())
        .filter(|&i| job_name(&stanzas[i]) == Some(job.name))
        .collect();
    let conflict = |line: Option<usize>| ScaffoldError::JobConflict {
        job: job.name.to_string(),
        path: path.to_path_buf(),
        line,
    };
    let idx = match defined.as_slice() {
        [] => return Ok((JobState::Added, JobEdit::Append)),
        [i] if mapped => *i,
        [i, ..] => return Err(conflict(mapped.then(|| top[*i] + 1))),
    };
    let start = top[idx];
    let mut end = top.get(idx + 1).copied().unwrap_or(lines.len());
    // Blank lines and column-0 comments before the next stanza belong to it.
    while end > start + 1 && {
        let l = lines[end - 1].trim_end();
        l.is_empty() || l.starts_with('#')
    } {
        end -= 1;
    }
    let wanted = job.text.replace('\n', eol);
    let header: Vec<&str> = job
        .text
        .lines()
        .take_while(|l| !l.starts_with("- job:"))
        .collect();
    let block_start = start.checked_sub(header.len());
    let ours = match block_start {
        Some(h) if !header.is_empty() => lines[h..start]
            .iter()
            .zip(&header)
            .all(|(have, want)| have.trim_end() == want.trim_end()),
        _ => false,
    };
    let current_from = if ours {
        block_start.unwrap_or(start)
    } else {
        start
    };
    let current: String = lines[current_from..end].concat();
    if current == wanted {
        return Ok((JobState::Unchanged, JobEdit::Keep));
    }
    if !ours {
        return Err(conflict(Some(start + 1)));
    }
    if force {
        Ok((
            JobState::Rewritten,
            JobEdit::Replace {
                stanza: idx,
                lines: current_from..end,
            },
        ))
    } else {
        Ok((JobState::KeptEdited, JobEdit::Keep))
    }
}

/// Applies the edits and checks the result against the expected structure.
#[allow(clippy::too_many_arguments)]
fn build(
    path: &Path,
    base: &str,
    lines: &[&str],
    stanzas: &[Value],
    job: &JobBlock<'_>,
    job_edit: &JobEdit,
    inserts: &[ListInsert],
    missing: &[String],
    render_project: &dyn Fn(&[String]) -> Result<String, ScaffoldError>,
    eol: &str,
) -> Result<String, ScaffoldError> {
    let leftover: Vec<String> = missing
        .iter()
        .filter(|p| !inserts.iter().any(|i| &i.pipeline == *p))
        .cloned()
        .collect();
    let job_text = job.text.replace('\n', eol);
    let mut out = String::with_capacity(base.len() + 2048);
    for (idx, line) in lines.iter().enumerate() {
        for ins in inserts.iter().filter(|i| i.at == idx) {
            out.push_str(&format!("{}- {}{eol}", " ".repeat(ins.indent), job.name));
        }
        if let JobEdit::Replace { lines: range, .. } = job_edit
            && range.contains(&idx)
        {
            if idx == range.start {
                out.push_str(&job_text);
            }
            continue;
        }
        out.push_str(line);
    }
    for ins in inserts.iter().filter(|i| i.at == lines.len()) {
        out.push_str(&format!("{}- {}{eol}", " ".repeat(ins.indent), job.name));
    }
    let mut tail = String::new();
    if matches!(job_edit, JobEdit::Append) {
        tail.push_str(&job_text);
    }
    let project_text = if leftover.is_empty() {
        None
    } else {
        Some(render_project(&leftover)?.replace('\n', eol))
    };
    if let Some(p) = &project_text {
        if !tail.is_empty() {
            tail.push_str(eol);
        }
        tail.push_str(p);
    }
    if !tail.is_empty() {
        let ends_blank = out.is_empty() || out.ends_with(&format!("{eol}{eol}"));
        if !ends_blank {
            out.push_str(eol);
        }
        out.push_str(&tail);
    }

    // The proof: parse what we wrote, and compare with the original plus
    // exactly our additions.
    let check = |message: String| ScaffoldError::MergeCheck {
        path: path.to_path_buf(),
        message,
    };
    let merged = parse_stanzas(path, &out).map_err(|e| check(e.to_string()))?;
    let mut expected = stanzas.to_vec();
    for ins in inserts {
        let jobs = expected[ins.stanza]
            .get_mut("project")
            .and_then(|p| p.get_mut(ins.pipeline.as_str()))
            .and_then(|p| p.get_mut("jobs"))
            .and_then(Value::as_sequence_mut)
            .ok_or_else(|| check(format!("no `{}` jobs list to extend", ins.pipeline)))?;
        jobs.push(Value::String(job.name.to_string()));
    }
    match job_edit {
        JobEdit::Keep => {}
        JobEdit::Append => expected.push(job.stanza.clone()),
        JobEdit::Replace { stanza, .. } => expected[*stanza] = job.stanza.clone(),
    }
    if let Some(p) = &project_text {
        expected.extend(parse_stanzas(path, p).map_err(|e| check(e.to_string()))?);
    }
    if merged != expected {
        return Err(check(
            "the edited text does not parse to the original config plus perfkit's job".into(),
        ));
    }
    Ok(out)
}

/// Line indices of top-level list items (`- ` at column 0).
fn top_level_items(lines: &[&str]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_end();
            l == "-" || l.starts_with("- ")
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether a line carries YAML content (not blank, not only a comment).
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key:` alone on its line (a trailing comment allowed): a block mapping
/// key whose value follows on the next lines.
fn is_block_key(line: &str, key: &str) -> bool {
    line.trim()
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| {
            let rest = rest.trim();
            rest.is_empty() || rest.starts_with('#')
        })
}

/// Where to add an item to `<pipeline>: jobs:` in the project stanza on
/// lines `start..end`: (line index to insert before, item indentation).
/// `None` unless the list is a plain block sequence.
fn jobs_list_end(
    lines: &[&str],
    start: usize,
    end: usize,
    pipeline: &str,
) -> Option<(usize, usize)> {
    if !is_block_key(lines[start].strip_prefix("- ")?, "project") {
        return None;
    }
    let key_indent = (start + 1..end)
        .find(|&i| is_content(lines[i]))
        .map(|i| indent_of(lines[i]))?;
    let p_line = (start + 1..end)
        .find(|&i| indent_of(lines[i]) == key_indent && is_block_key(lines[i], pipeline))?;
    let p_end = (p_line + 1..end)
        .find(|&i| is_content(lines[i]) && indent_of(lines[i]) <= key_indent)
        .unwrap_or(end);
    let sub_indent = (p_line + 1..p_end)
        .find(|&i| is_content(lines[i]))
        .map(|i| indent_of(lines[i]))
        .filter(|&j| j > key_indent)?;
    let jobs_line = (p_line + 1..p_end)
        .find(|&i| indent_of(lines[i]) == sub_indent && is_block_key(lines[i], "jobs"))?;
    let jobs_end = (jobs_line + 1..p_end)
        .find(|&i| {
            let l = lines[i];
            is_content(l)
                && (indent_of(l) < sub_indent
                    || (indent_of(l) == sub_indent && !l.trim_start().starts_with('-')))
        })
        .unwrap_or(p_end);
    let first_item = (jobs_line + 1..jobs_end).find(|&i| is_content(lines[i]))?;
    let item = lines[first_item].trim_start();
    if !(item.starts_with("- ") || item.trim_end() == "-") {
        return None;
    }
    let last = (jobs_line + 1..jobs_end)
        .rev()
        .find(|&i| is_content(lines[i]))?;
    Some((last + 1, indent_of(lines[first_item])))
}
