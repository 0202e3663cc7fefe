//! The old `rally task results` list: one element per workload of one task,
//! `{key: {name, pos, kw: {args, runner, context, sla, hooks}}, result:
//! [ITERATION...], sla: [...], hooks: [...], load_duration, full_duration}`.
//! As Rally 5.1.1's `rally task results` prints it; real samples in
//! `tests/fixtures/rally/`.
//!
//! The format has no subtasks, titles, task status or uuids. A v1 task's
//! subtasks are titled by scenario name, so the scenario name stands in for
//! the subtask title (a v1 task then gets the same workload keys in both
//! formats). Consecutive elements with the same name and a growing `pos`
//! form one pseudo-subtask; the n-th pseudo-subtask with the same name gets
//! title occurrence n. `created_at` (day and month swapped by Rally) is
//! ignored.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use perfkit_schema::identity::WorkloadPlace;

use super::config::{HookRun, WorkloadFields, failed_hook_results, hook_from_v1, runner_from_v1};
use super::emit::flush_deferred;
use super::iteration::{DataSeed, skip_unknown};
use super::state::{Ctx, Fatal, Key, KeySeed, OPT_NUM, Seg};
use super::v2::{checked_sla, each_element};
use crate::limits::{MAX_WORKLOADS, over};

/// Walks an old results list whose first byte is `[`.
pub(crate) fn parse_results<'de, D: de::Deserializer<'de>>(
    de: D,
    ctx: &mut Ctx<'_>,
) -> Result<(), D::Error> {
    de.deserialize_seq(ResultsSeed { ctx })
}

struct ResultsSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
}

/// Pseudo-subtask bookkeeping across elements.
#[derive(Default)]
struct Grouping {
    /// (name, pos) of the previous element.
    previous: Option<(String, u32)>,
    subtask_index: u32,
    occurrence: u32,
    /// How many pseudo-subtasks had each title (scenario name) so far.
    titles: HashMap<String, u32>,
}

impl Grouping {
    /// (subtask index, title occurrence) of an element.
    fn place(&mut self, name: &str, pos: u32) -> (u32, u32) {
        let same_subtask = self
            .previous
            .as_ref()
            .is_some_and(|(prev_name, prev_pos)| prev_name == name && pos > *prev_pos);
        if !same_subtask {
            if self.previous.is_some() {
                self.subtask_index += 1;
            }
            let seen = self.titles.entry(name.to_string()).or_insert(0);
            self.occurrence = *seen;
            *seen = seen.saturating_add(1);
        }
        self.previous = Some((name.to_string(), pos));
        (self.subtask_index, self.occurrence)
    }
}

impl<'de> Visitor<'de> for ResultsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of Rally task results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        let mut grouping = Grouping::default();
        let count = each_element!(seq, ctx, |index| ElementSeed {
            ctx: &mut *ctx,
            grouping: &mut grouping,
            index
        });
        if count == 0 {
            return Err(ctx.fail(Fatal::NotRally("an empty list".into())));
        }
        Ok(())
    }
}

struct ElementSeed<'a, 's, 'g> {
    ctx: &'a mut Ctx<'s>,
    grouping: &'g mut Grouping,
    index: usize,
}

impl ElementSeed<'_, '_, '_> {
    /// A first element that is not a result object means this is some
    /// other JSON list; later ones are just malformed.
    fn not_an_object<E: de::Error>(self, found: de::Unexpected<'_>, plural: &str) -> Result<(), E> {
        if self.index == 0 {
            let what = format!("a JSON list of {plural}, not of Rally results");
            return Err(self.ctx.fail(Fatal::NotRally(what)));
        }
        Err(E::invalid_type(found, &self))
    }
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[derive(Deserialize)]
struct OldKey {
    name: String,
    #[serde(default)]
    description: Option<String>,
    pos: u32,
    kw: OldKw,
}

#[derive(Deserialize)]
struct OldKw {
    #[serde(default = "empty_object")]
    args: Value,
    runner: Map<String, Value>,
    #[serde(default = "empty_object")]
    context: Value,
    #[serde(default = "empty_object")]
    sla: Value,
    #[serde(default)]
    hooks: Vec<Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

const ELEMENT_KEYS: &[&str] = &[
    "key",
    "result",
    "sla",
    "hooks",
    "load_duration",
    "full_duration",
];

impl<'de> Visitor<'de> for ElementSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Rally result object with `key` and `result`")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Bool(v), "booleans")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Signed(v), "numbers")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Unsigned(v), "numbers")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Float(v), "numbers")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Str(v), "strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object(de::Unexpected::Unit, "nulls")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        self.not_an_object(de::Unexpected::Seq, "lists")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (ctx, grouping) = (self.ctx, self.grouping);
        if ctx.run.workloads.len() >= MAX_WORKLOADS {
            let limit = over(MAX_WORKLOADS, "workloads (list elements) in one file");
            return Err(ctx.fail(Fatal::Limit(limit)));
        }
        ctx.wl
            .reset(u32::try_from(ctx.run.workloads.len()).unwrap_or(u32::MAX));
        let mut f = WorkloadFields::default();
        let mut place = None;
        let (mut saw_result, mut saw_sla) = (false, false);
        while let Some(key) = map.next_key_seed(KeySeed(ELEMENT_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            match name {
                "key" => {
                    let key: OldKey = map.next_value()?;
                    let Some(runner) = runner_from_v1(key.kw.runner) else {
                        ctx.path.extend([Seg::Key("kw"), Seg::Key("runner")]);
                        return Err(de::Error::custom("runner without a string `type`"));
                    };
                    let (subtask_index, occurrence) = grouping.place(&key.name, key.pos);
                    ctx.wl.key = Some(
                        WorkloadPlace {
                            job: ctx.job,
                            subtask_title: &key.name,
                            title_occurrence: occurrence,
                            position: key.pos,
                            scenario: &key.name,
                        }
                        .key(),
                    );
                    place = Some((subtask_index, key.pos));
                    f.runner = Some(runner);
                    f.contexts = Some(key.kw.context);
                    f.sla = Some(key.kw.sla);
                    f.hooks = key.kw.hooks.into_iter().map(hook_from_v1).collect();
                    f.description = key.description;
                    f.scenario = Some((key.name, key.kw.args));
                }
                "result" => {
                    map.next_value_seed(DataSeed {
                        ctx: &mut *ctx,
                        old_names: true,
                    })?;
                    saw_result = true;
                }
                "sla" => {
                    let results: Vec<Value> = map.next_value()?;
                    f.sla_failed = checked_sla(ctx, &results)?;
                    f.sla_results = results;
                    saw_sla = true;
                }
                "hooks" => {
                    // Configs come from `key.kw.hooks`; here only the outcomes.
                    let hooks: Vec<HookRun> = map.next_value::<Option<_>>()?.unwrap_or_default();
                    f.hooks_failed = failed_hook_results(&hooks);
                }
                "load_duration" => f.load_duration = map.next_value_seed(OPT_NUM)?,
                _ => f.full_duration = map.next_value_seed(OPT_NUM)?,
            }
            ctx.path.pop();
        }
        let Some((subtask_index, position)) = place.filter(|_| saw_result) else {
            if self.index == 0 {
                let what = "a JSON list of objects without Rally's `key` and `result`".to_string();
                return Err(ctx.fail(Fatal::NotRally(what)));
            }
            return Err(ctx.missing(if saw_result { "key" } else { "result" }));
        };
        if !saw_sla {
            return Err(ctx.missing("sla"));
        }
        // No `start_time` in this format: Rally's own loader uses the first iteration.
        f.start_time = ctx.wl.first_timestamp;
        let mut record = f.into_record(&ctx.wl);
        record.subtask_index = subtask_index;
        record.subtask_title.clone_from(&record.scenario);
        record.position = position;
        ctx.run.workloads.push(record);
        flush_deferred(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_subtasks_follow_name_and_position() {
        let mut g = Grouping::default();
        // v1 task: a: [cfg0, cfg1], b: [cfg0]; then a second subtask running `a` again.
        let got: Vec<_> = [("a", 0), ("a", 1), ("b", 0), ("a", 0), ("a", 0)]
            .into_iter()
            .map(|(n, p)| g.place(n, p))
            .collect();
        assert_eq!(got, [(0, 0), (0, 0), (1, 0), (2, 1), (3, 2)]);
    }
}
