//! Iterations (`data` in v2, `result` in the old format) and their atomic
//! actions: v2 nested lists `[{name, started_at, finished_at, children,
//! failed?}]` and the old format's flat `{name: seconds}` (accepted in either
//! layout, since both describe the same thing). Each iteration is read
//! into the reusable [`super::emit::IterBuf`] and sent as rows when its
//! object ends.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::emit::{Action, NO_PARENT, finish_iteration};
use super::state::{AppendStr, Ctx, Fatal, Key, KeySeed, NUM, OPT_NUM, Seg};
use crate::limits::{
    MAX_ACTION_DEPTH, MAX_ACTION_NAME_BYTES, MAX_ACTIONS_PER_ITERATION, over, thousands,
};

/// A workload's list of iterations.
pub(crate) struct DataSeed<'a, 's> {
    pub ctx: &'a mut Ctx<'s>,
    /// Old format: `x (2)` action names are repeats of `x`.
    pub old_names: bool,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of iterations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        for index in 0.. {
            ctx.path.push(Seg::Index(index));
            let seed = IterationSeed {
                ctx: &mut *ctx,
                index,
                old_names: self.old_names,
            };
            if seq.next_element_seed(seed)?.is_none() {
                ctx.path.pop();
                break;
            }
            ctx.path.pop();
        }
        Ok(())
    }
}

struct IterationSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    index: usize,
    old_names: bool,
}

impl<'de> DeserializeSeed<'de> for IterationSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

const ITERATION_KEYS: &[&str] = &[
    "duration",
    "timestamp",
    "idle_duration",
    "error",
    "atomic_actions",
    // Skipped, but known: an unknown key is copied into the JSON path.
    "output",
];

impl<'de> Visitor<'de> for IterationSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an iteration object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        ctx.iter.reset();
        while let Some(key) = map.next_key_seed(KeySeed(ITERATION_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            match name {
                "duration" => ctx.iter.duration = map.next_value_seed(NUM)?,
                "timestamp" => ctx.iter.timestamp = map.next_value_seed(NUM)?,
                "idle_duration" => ctx.iter.idle = map.next_value_seed(OPT_NUM)?,
                "error" => map.next_value_seed(ErrorSeed { ctx: &mut *ctx })?,
                "output" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => map.next_value_seed(ActionsSeed {
                    ctx: &mut *ctx,
                    parent: NO_PARENT,
                    depth: 1,
                })?,
            }
            ctx.path.pop();
        }
        if ctx.iter.duration.is_none() {
            return Err(ctx.missing("duration"));
        }
        if ctx.iter.timestamp.is_none() {
            return Err(ctx.missing("timestamp"));
        }
        finish_iteration(ctx, self.index, self.old_names)?;
        Ok(())
    }
}

/// Reads and drops the value of a key no visitor wants, keeping its name in the path.
pub(crate) fn skip_unknown<'de, A: MapAccess<'de>>(
    ctx: &mut Ctx<'_>,
    map: &mut A,
    key: Key,
) -> Result<(), A::Error> {
    ctx.path.push(match key {
        Key::Known(name) => Seg::Key(name),
        Key::Unknown(name) => Seg::Name(name),
    });
    map.next_value::<IgnoredAny>()?;
    ctx.path.pop();
    Ok(())
}

/// `error`: `[]`, `null`, or `[type, message, traceback]`.
struct ErrorSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
}

impl<'de> DeserializeSeed<'de> for ErrorSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ErrorSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list [type, message, traceback]")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        ctx.iter.error_parts = 0;
        for index in 0.. {
            ctx.path.push(Seg::Index(index));
            let more = if index < 3 {
                seq.next_element_seed(AppendStr(&mut ctx.iter.errors[index]))?
                    .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            ctx.path.pop();
            if !more {
                break;
            }
            ctx.iter.error_parts = (index + 1).min(3);
        }
        Ok(())
    }
}

/// `atomic_actions`: a v2 list of action objects, or the old `{name: seconds}`.
struct ActionsSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    parent: usize,
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for ActionsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ActionsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of atomic actions (or an old-format {name: seconds} object)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        for index in 0.. {
            ctx.path.push(Seg::Index(index));
            let seed = ActionSeed {
                ctx: &mut *ctx,
                parent: self.parent,
                depth: self.depth,
            };
            if seq.next_element_seed(seed)?.is_none() {
                ctx.path.pop();
                break;
            }
            ctx.path.pop();
        }
        Ok(())
    }

    /// Old format: top level only, no start times, no failed flag.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        if self.parent != NO_PARENT {
            return Err(de::Error::invalid_type(
                de::Unexpected::Map,
                &"a list of child actions",
            ));
        }
        loop {
            let start = ctx.iter.names.len();
            if map.next_key_seed(AppendStr(&mut ctx.iter.names))?.is_none() {
                break;
            }
            let end = ctx.iter.names.len();
            check_action(ctx, end - start)?;
            ctx.path.push(Seg::ActionName(start, end));
            let seconds = map.next_value_seed(OPT_NUM)?;
            ctx.path.pop();
            let mut action = Action::new(NO_PARENT, 1, (start, end));
            // `null`: the action never finished. Rally's own exporter cannot
            // write it, so there is no row (the name still counts for repeats).
            action.skip = seconds.is_none();
            action.duration_s = seconds.unwrap_or(f64::NAN);
            ctx.iter.actions.push(action);
        }
        Ok(())
    }
}

/// One v2 atomic action. Its slot is reserved before its children are
/// read, so rows come out in pre-order whatever the key order.
struct ActionSeed<'a, 's> {
    ctx: &'a mut Ctx<'s>,
    parent: usize,
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for ActionSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

const ACTION_KEYS: &[&str] = &["name", "started_at", "finished_at", "failed", "children"];

impl<'de> Visitor<'de> for ActionSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an atomic action object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        if self.depth > MAX_ACTION_DEPTH {
            let limit = format!(
                "atomic actions nested more than {MAX_ACTION_DEPTH} levels deep (perfkit's limit)"
            );
            return Err(ctx.fail(Fatal::Limit(limit)));
        }
        check_action(ctx, 0)?;
        let slot = ctx.iter.actions.len();
        ctx.iter
            .actions
            .push(Action::new(self.parent, self.depth, (0, 0)));
        let (mut named, mut started, mut finished, mut failed) = (false, None, None, false);
        while let Some(key) = map.next_key_seed(KeySeed(ACTION_KEYS))? {
            let Key::Known(name) = key else {
                skip_unknown(ctx, &mut map, key)?;
                continue;
            };
            ctx.path.push(Seg::Key(name));
            match name {
                "name" => {
                    let start = ctx.iter.names.len();
                    map.next_value_seed(AppendStr(&mut ctx.iter.names))?;
                    let end = ctx.iter.names.len();
                    check_name(ctx, end - start)?;
                    ctx.iter.actions[slot].name = (start, end);
                    named = true;
                }
                "started_at" => started = map.next_value_seed(NUM)?,
                "finished_at" => finished = map.next_value_seed(NUM)?,
                "failed" => failed = map.next_value::<Option<bool>>()?.unwrap_or(false),
                _ => {
                    // At most MAX_ACTION_DEPTH + 1, checked when a child comes.
                    let depth = self.depth + 1;
                    map.next_value_seed(ActionsSeed {
                        ctx: &mut *ctx,
                        parent: slot,
                        depth,
                    })?;
                }
            }
            ctx.path.pop();
        }
        if !named {
            return Err(ctx.missing("name"));
        }
        let (Some(started), Some(finished)) = (started, finished) else {
            return Err(ctx.missing(if started.is_none() {
                "started_at"
            } else {
                "finished_at"
            }));
        };
        let action = &mut ctx.iter.actions[slot];
        action.duration_s = finished - started;
        action.started_at = Some(started);
        action.failed = failed;
        Ok(())
    }
}

/// Refuses one more action in an iteration that has the most it may, or
/// (old format, where the name comes first) a name over the limit.
fn check_action<E: de::Error>(ctx: &mut Ctx<'_>, name_bytes: usize) -> Result<(), E> {
    if ctx.iter.actions.len() >= MAX_ACTIONS_PER_ITERATION {
        let limit = over(MAX_ACTIONS_PER_ITERATION, "atomic actions in one iteration");
        return Err(ctx.fail(Fatal::Limit(limit)));
    }
    check_name(ctx, name_bytes)
}

fn check_name<E: de::Error>(ctx: &mut Ctx<'_>, bytes: usize) -> Result<(), E> {
    if bytes > MAX_ACTION_NAME_BYTES {
        let limit = format!(
            "an atomic action name of {} bytes, more than {} (perfkit's limit)",
            thousands(bytes as u64),
            thousands(MAX_ACTION_NAME_BYTES as u64)
        );
        return Err(ctx.fail(Fatal::Limit(limit)));
    }
    Ok(())
}
