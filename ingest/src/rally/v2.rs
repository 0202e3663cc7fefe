//! The v2 JSON report: `{"info": {...}, "tasks": [TASK...]}` with
//! TASK → `subtasks` → `workloads` → `data` (iterations). As Rally
//! 5.1.1's JSON exporter writes it; real samples in `tests/fixtures/rally/`.
//!
//! A workload's key needs its subtask title and its scenario name; Rally
//! writes both before `data`, so rows stream straight to the sink. Its
//! position is counted here (Rally writes `position` after `data`; the two
//! agree, a mismatch is logged). Task uuid and status, which Rally writes
//! before `subtasks`, are put on the task's records when the task ends, so
//! any key order works.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use perfkit_schema::identity::WorkloadPlace;

use super::SUPPORTED_FORMAT_VERSIONS;
use super::config::{
    ContextResult, HookRun, Info, WorkloadFields, failed_criteria, failed_hook_results,
    first_context_error, single_entry,
};
use super::emit::flush_deferred;
use super::iteration::{DataSeed, skip_unknown};
use super::state::{Ctx, Fatal, Key, KeySeed, OPT_NUM, Seg};
use crate::limits::{MAX_SUBTASKS, MAX_TASKS, MAX_WORKLOADS, over};

/// Walks a v2 report whose first byte is `{`.
pub(crate) fn parse_report<'de, D: de::Deserializer<'de>>(
    de: D,
    ctx: &mut Ctx<'_>,
) -> Result<(), D::Error> {
    de.deserialize_map(ReportSeed { ctx })
}

struct ReportSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
}

const REPORT_KEYS: &[&str] = &["info", "tasks"];

impl<'de> Visitor<'de> for ReportSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Rally v2 report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        let (mut saw_info, mut saw_tasks) = (false, false);
        while let Some(key) = map.next_key_seed(KeySeed(REPORT_KEYS))? {
            match key {
                Key::Known("info") => {
                    ctx.path.push(Seg::Key("info"));
                    let info: Info = map.next_value()?;
                    if let Some(version) = &info.format_version
                        && !SUPPORTED_FORMAT_VERSIONS.contains(&version.as_str())
                    {
                        // Checked as soon as seen; after `tasks`, the
                        // pipeline discards the rows already sent.
                        return Err(ctx.fail(Fatal::UnsupportedVersion(version.clone())));
                    }
                    ctx.run.format_version = info.format_version;
                    ctx.run.tool_version = info.rally_version;
                    saw_info = true;
                    ctx.path.pop();
                }
                Key::Known(_) => {
                    ctx.path.push(Seg::Key("tasks"));
                    map.next_value_seed(TasksSeed { ctx: &mut *ctx })?;
                    saw_tasks = true;
                    ctx.path.pop();
                }
                unknown => skip_unknown(ctx, &mut map, unknown)?,
            }
        }
        if !saw_tasks {
            return Err(ctx.fail(Fatal::NotRally("a JSON object without `tasks`".into())));
        }
        if !saw_info {
            return Err(ctx.missing("info"));
        }
        if ctx.run.format_version.is_none() {
            ctx.path.push(Seg::Key("info"));
            return Err(ctx.missing("format_version"));
        }
        Ok(())
    }
}

/// Visits a JSON list, one element at a time, with `index` in the path.
macro_rules! each_element {
    ($seq:ident, $ctx:ident, |$index:ident| $seed:expr) => {{
        let mut count = 0usize;
        loop {
            let $index = count;
            $ctx.path.push(Seg::Index($index));
            let more = $seq.next_element_seed($seed)?.is_some();
            $ctx.path.pop();
            if !more {
                break;
            }
            count += 1;
        }
        count
    }};
}
pub(crate) use each_element;

struct TasksSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
}

impl<'de> DeserializeSeed<'de> for TasksSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TasksSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of tasks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        each_element!(seq, ctx, |index| TaskSeed {
            ctx: &mut *ctx,
            index: to_u32(index)
        });
        Ok(())
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct TaskSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    index: u32,
}

impl<'de> DeserializeSeed<'de> for TaskSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

const TASK_KEYS: &[&str] = &["uuid", "status", "subtasks"];

/// How often each subtask title was seen so far in a task, for `title_occurrence`.
struct TaskState {
    index: u32,
    titles: HashMap<String, u32>,
}

impl<'de> Visitor<'de> for TaskSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a task object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        if self.index as usize >= MAX_TASKS {
            return Err(ctx.fail(Fatal::Limit(over(MAX_TASKS, "tasks in one report"))));
        }
        let first_workload = ctx.run.workloads.len();
        let mut task = TaskState {
            index: self.index,
            titles: HashMap::new(),
        };
        let (mut uuid, mut status) = (None, None);
        while let Some(key) = map.next_key_seed(KeySeed(TASK_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            match name {
                "uuid" => uuid = map.next_value::<Option<String>>()?,
                "status" => status = Some(map.next_value::<String>()?),
                _ => map.next_value_seed(SubtasksSeed {
                    ctx: &mut *ctx,
                    task: &mut task,
                })?,
            }
            ctx.path.pop();
        }
        let Some(status) = status else {
            return Err(ctx.missing("status"));
        };
        for record in &mut ctx.run.workloads[first_workload..] {
            record.task_uuid.clone_from(&uuid);
            record.task_status = Some(status.clone());
        }
        // Rally says `pass_sla: true` for a crashed task; perfkit does not.
        if status != "finished" {
            ctx.run.task_not_finished = true;
        }
        ctx.run.task_statuses.push(status);
        Ok(())
    }
}

struct SubtasksSeed<'a, 's, 't> {
    ctx: &'a mut Ctx<'s>,
    task: &'t mut TaskState,
}

impl<'de> DeserializeSeed<'de> for SubtasksSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SubtasksSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of subtasks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (ctx, task) = (self.ctx, self.task);
        each_element!(seq, ctx, |index| SubtaskSeed {
            ctx: &mut *ctx,
            task: &mut *task,
            index: to_u32(index)
        });
        Ok(())
    }
}

struct SubtaskSeed<'a, 's, 't> {
    ctx: &'a mut Ctx<'s>,
    task: &'t mut TaskState,
    index: u32,
}

/// Where the workloads of the subtask being read go.
struct SubtaskState {
    task_index: u32,
    index: u32,
    /// (title, n-th subtask with this title in the task).
    title: Option<(String, u32)>,
    first_workload: usize,
}

impl SubtaskState {
    fn key(&self, job: &str, position: u32, scenario: &str) -> Option<String> {
        let (title, occurrence) = self.title.as_ref()?;
        let place = WorkloadPlace {
            job,
            subtask_title: title,
            title_occurrence: *occurrence,
            position,
            scenario,
        };
        Some(place.key())
    }
}

impl<'de> DeserializeSeed<'de> for SubtaskSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

const SUBTASK_KEYS: &[&str] = &["title", "workloads"];

impl<'de> Visitor<'de> for SubtaskSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a subtask object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (ctx, task) = (self.ctx, self.task);
        if ctx.run.subtasks >= MAX_SUBTASKS {
            let limit = over(MAX_SUBTASKS, "subtasks in one report");
            return Err(ctx.fail(Fatal::Limit(limit)));
        }
        ctx.run.subtasks += 1;
        let mut sub = SubtaskState {
            task_index: task.index,
            index: self.index,
            title: None,
            first_workload: ctx.run.workloads.len(),
        };
        while let Some(key) = map.next_key_seed(KeySeed(SUBTASK_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            if name == "title" {
                let title: String = map.next_value()?;
                let seen = task.titles.entry(title.clone()).or_insert(0);
                let occurrence = *seen;
                *seen = seen.saturating_add(1);
                sub.title = Some((title, occurrence));
                // Workloads read before the title get their keys now.
                name_workloads(ctx, &sub);
                flush_deferred(ctx)?;
            } else {
                map.next_value_seed(WorkloadsSeed {
                    ctx: &mut *ctx,
                    sub: &sub,
                })?;
            }
            ctx.path.pop();
        }
        if sub.title.is_none() {
            return Err(ctx.missing("title"));
        }
        Ok(())
    }
}

/// Gives the subtask's keyless workload records their title and key.
fn name_workloads(ctx: &mut Ctx<'_>, sub: &SubtaskState) {
    let Some((title, _)) = &sub.title else { return };
    for record in &mut ctx.run.workloads[sub.first_workload..] {
        if record.workload_key.is_empty() {
            record.subtask_title.clone_from(title);
            record.workload_key = sub
                .key(ctx.job, record.position, &record.scenario)
                .unwrap_or_default();
        }
    }
}

struct WorkloadsSeed<'a, 's, 't> {
    ctx: &'a mut Ctx<'s>,
    sub: &'t SubtaskState,
}

impl<'de> DeserializeSeed<'de> for WorkloadsSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for WorkloadsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of workloads")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (ctx, sub) = (self.ctx, self.sub);
        each_element!(seq, ctx, |index| WorkloadSeed {
            ctx: &mut *ctx,
            sub,
            position: to_u32(index)
        });
        Ok(())
    }
}

struct WorkloadSeed<'a, 's, 't> {
    ctx: &'a mut Ctx<'s>,
    sub: &'t SubtaskState,
    position: u32,
}

impl<'de> DeserializeSeed<'de> for WorkloadSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

const WORKLOAD_KEYS: &[&str] = &[
    "scenario",
    "runner",
    "hooks",
    "contexts",
    "contexts_results",
    "sla",
    "sla_results",
    "data",
    "description",
    "start_time",
    "load_duration",
    "full_duration",
    "position",
];

/// `sla_results` = `{"sla": [{criterion, success, detail}, ...]}`.
#[derive(Deserialize)]
struct SlaResults {
    #[serde(default)]
    sla: Vec<Value>,
}

/// `{name: config}` with exactly one key (scenario, runner).
fn one_entry<E: de::Error>(map: Map<String, Value>, what: &str) -> Result<(String, Value), E> {
    let len = map.len();
    single_entry(map).ok_or_else(|| {
        E::custom(format!(
            "expected {what} as an object with one key, found {len} keys"
        ))
    })
}

impl<'de> Visitor<'de> for WorkloadSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a workload object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (ctx, sub) = (self.ctx, self.sub);
        if ctx.run.workloads.len() >= MAX_WORKLOADS {
            let limit = over(MAX_WORKLOADS, "workloads in one report");
            return Err(ctx.fail(Fatal::Limit(limit)));
        }
        let index = to_u32(ctx.run.workloads.len());
        ctx.wl.reset(index);
        let mut f = WorkloadFields::default();
        let (mut saw_data, mut position_field) = (false, None);
        while let Some(key) = map.next_key_seed(KeySeed(WORKLOAD_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            match name {
                "scenario" => {
                    let (scenario, args) =
                        one_entry(map.next_value()?, "`scenario` ({name: args})")?;
                    ctx.wl.key = sub.key(ctx.job, self.position, &scenario);
                    f.scenario = Some((scenario, args));
                }
                "runner" => {
                    f.runner = Some(one_entry(map.next_value()?, "`runner` ({type: config})")?)
                }
                "hooks" => {
                    let hooks: Vec<HookRun> = map.next_value::<Option<_>>()?.unwrap_or_default();
                    f.hooks_failed = failed_hook_results(&hooks);
                    f.hooks = hooks
                        .into_iter()
                        .map(|h| h.config.unwrap_or(Value::Null))
                        .collect();
                }
                "contexts" => f.contexts = Some(map.next_value()?),
                "contexts_results" => {
                    let results: Vec<ContextResult> =
                        map.next_value::<Option<_>>()?.unwrap_or_default();
                    f.context_error = first_context_error(&results);
                }
                "sla" => f.sla = Some(map.next_value()?),
                "sla_results" => {
                    let results = map
                        .next_value::<Option<SlaResults>>()?
                        .map_or_else(Vec::new, |r| r.sla);
                    ctx.path.push(Seg::Key("sla"));
                    f.sla_failed = checked_sla(ctx, &results)?;
                    ctx.path.pop();
                    f.sla_results = results;
                }
                "data" => {
                    map.next_value_seed(DataSeed {
                        ctx: &mut *ctx,
                        old_names: false,
                    })?;
                    saw_data = true;
                }
                "description" => f.description = map.next_value()?,
                "start_time" => f.start_time = map.next_value_seed(OPT_NUM)?,
                "load_duration" => f.load_duration = map.next_value_seed(OPT_NUM)?,
                "full_duration" => f.full_duration = map.next_value_seed(OPT_NUM)?,
                _ => position_field = map.next_value::<Option<u64>>()?,
            }
            ctx.path.pop();
        }
        for (field, seen) in [
            ("scenario", f.scenario.is_some()),
            ("runner", f.runner.is_some()),
            ("data", saw_data),
        ] {
            if !seen {
                return Err(ctx.missing(field));
            }
        }
        if let Some(p) = position_field.filter(|p| *p != u64::from(self.position)) {
            tracing::warn!(
                path = %ctx.json_path(),
                "workload `position` is {p} but it is workload {} of its subtask; using {}",
                self.position,
                self.position
            );
        }
        if let Some(start) = f.start_time.and_then(super::state::to_us) {
            ctx.run.saw_start(Some(start));
        }
        let mut record = f.into_record(&ctx.wl);
        record.task_index = sub.task_index;
        record.subtask_index = sub.index;
        record.position = self.position;
        if let Some((title, _)) = &sub.title {
            record.subtask_title.clone_from(title);
        }
        ctx.run.workloads.push(record);
        flush_deferred(ctx)
    }
}

/// The failed criteria of SLA results, or a malformed-entry error naming it.
pub(crate) fn checked_sla<E: de::Error>(
    ctx: &mut Ctx<'_>,
    results: &[Value],
) -> Result<Vec<String>, E> {
    failed_criteria(results).map_err(|(i, field, expected)| {
        ctx.path.push(Seg::Index(i));
        ctx.path.push(Seg::Key(field));
        E::custom(format!("invalid SLA result: `{field}` must be {expected}"))
    })
}
