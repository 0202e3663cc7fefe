//! A workload's small objects (scenario, runner, contexts, hooks, SLA and
//! their results) in Rally's v2 shapes, and the [`WorkloadRecord`] built
//! from them. The old format's v1 shapes are converted here so that the
//! same configuration hashes the same in both formats.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use perfkit_schema::WorkloadRecord;
use perfkit_schema::identity::{canonical_json, config_hash};

use super::state::{WorkloadAcc, to_us};

/// `info` of a v2 report.
#[derive(Debug, Deserialize)]
pub(crate) struct Info {
    #[serde(default)]
    pub format_version: Option<String>,
    #[serde(default)]
    pub rally_version: Option<String>,
}

/// One entry of a workload's `hooks`: its config and what each trigger did.
#[derive(Debug, Deserialize)]
pub(crate) struct HookRun {
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub results: Vec<HookResult>,
}

/// One hook execution. `error` is `{etype, msg, details}` in Rally 5.1.1
/// but a list in Rally's import schema: both are accepted, only its
/// presence matters.
#[derive(Debug, Deserialize)]
pub(crate) struct HookResult {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

impl HookResult {
    fn failed(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => matches!(status, "failed" | "validation_failed"),
            None => self
                .error
                .as_ref()
                .is_some_and(|e| describe_error(e).is_some()),
        }
    }
}

/// Failed executions over all hooks.
pub(crate) fn failed_hook_results(hooks: &[HookRun]) -> u32 {
    let failed = hooks
        .iter()
        .flat_map(|h| &h.results)
        .filter(|r| r.failed())
        .count();
    u32::try_from(failed).unwrap_or(u32::MAX)
}

/// One entry of `contexts_results`.
#[derive(Debug, Deserialize)]
pub(crate) struct ContextResult {
    #[serde(default)]
    setup: Option<ContextPhase>,
}

#[derive(Debug, Deserialize)]
struct ContextPhase {
    #[serde(default)]
    error: Option<Value>,
}

/// `type: message` of the first context whose setup failed.
pub(crate) fn first_context_error(results: &[ContextResult]) -> Option<String> {
    results
        .iter()
        .filter_map(|r| r.setup.as_ref()?.error.as_ref())
        .find_map(describe_error)
}

/// `type: message` from Rally's `[type, message, traceback]`, a hook's
/// `{etype, msg, details}`, or a plain string; `None` when empty.
fn describe_error(error: &Value) -> Option<String> {
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let (kind, message) = match error {
        Value::Null => return None,
        Value::String(s) => return (!s.is_empty()).then(|| s.clone()),
        Value::Array(items) => (text(items.first()), text(items.get(1))),
        Value::Object(o) => (
            text(o.get("etype").or_else(|| o.get("type"))),
            text(o.get("msg").or_else(|| o.get("message"))),
        ),
        other => return Some(other.to_string()),
    };
    match (kind, message) {
        (Some(k), Some(m)) => Some(format!("{k}: {m}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => match error {
            Value::Array(a) if a.is_empty() => None,
            Value::Object(o) if o.is_empty() => None,
            other => Some(other.to_string()),
        },
    }
}

/// Why an SLA result entry is unusable: (entry index, field, expected).
pub(crate) type SlaProblem = (usize, &'static str, &'static str);

/// Checks `{criterion, success, detail}` entries; returns the failed criteria.
pub(crate) fn failed_criteria(entries: &[Value]) -> Result<Vec<String>, SlaProblem> {
    let mut failed = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let criterion =
            entry
                .get("criterion")
                .and_then(Value::as_str)
                .ok_or((i, "criterion", "a string"))?;
        let success =
            entry
                .get("success")
                .and_then(Value::as_bool)
                .ok_or((i, "success", "a boolean"))?;
        if !success {
            failed.push(criterion.to_string());
        }
    }
    Ok(failed)
}

/// `{type: config}` or `{name: args}`: exactly one key.
pub(crate) fn single_entry(map: Map<String, Value>) -> Option<(String, Value)> {
    if map.len() != 1 {
        return None;
    }
    map.into_iter().next()
}

/// A v1 runner `{"type": "constant", "times": 10}` as (`constant`, `{"times": 10}`).
pub(crate) fn runner_from_v1(mut map: Map<String, Value>) -> Option<(String, Value)> {
    match map.remove("type") {
        Some(Value::String(kind)) => Some((kind, Value::Object(map))),
        _ => None,
    }
}

/// A v1 hook `{name, args, description, trigger: {name, args}}` in the v2
/// shape `{action: {name: args}, trigger: {name: args}, description}`
/// (the inverse of Rally's old-json-results exporter). Other shapes are
/// kept as they are.
pub(crate) fn hook_from_v1(hook: Value) -> Value {
    let Value::Object(mut h) = hook else {
        return hook;
    };
    let trigger = h.get("trigger").and_then(Value::as_object);
    let (Some(name), Some(trigger_name)) = (
        h.get("name").and_then(Value::as_str),
        trigger.and_then(|t| t.get("name")).and_then(Value::as_str),
    ) else {
        return Value::Object(h);
    };
    let (name, trigger_name) = (name.to_string(), trigger_name.to_string());
    let trigger_args = trigger
        .and_then(|t| t.get("args"))
        .cloned()
        .unwrap_or(Value::Null);
    let args = h.remove("args").unwrap_or(Value::Null);
    let description = h
        .remove("description")
        .unwrap_or_else(|| Value::String(String::new()));
    json!({
        "action": {name: args},
        "trigger": {trigger_name: trigger_args},
        "description": description,
    })
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// What a workload object says besides its iterations.
#[derive(Debug, Default)]
pub(crate) struct WorkloadFields {
    /// (scenario name, args).
    pub scenario: Option<(String, Value)>,
    /// (runner type, config without the type).
    pub runner: Option<(String, Value)>,
    pub contexts: Option<Value>,
    /// Hook configs in the v2 shape.
    pub hooks: Vec<Value>,
    pub hooks_failed: u32,
    pub sla: Option<Value>,
    pub sla_results: Vec<Value>,
    pub sla_failed: Vec<String>,
    pub context_error: Option<String>,
    pub description: Option<String>,
    pub start_time: Option<f64>,
    pub load_duration: Option<f64>,
    pub full_duration: Option<f64>,
}

impl WorkloadFields {
    /// The record of this workload; place fields (indexes, title, key) are
    /// left for the caller. `scenario` and `runner` must have been checked.
    pub fn into_record(self, acc: &WorkloadAcc) -> WorkloadRecord {
        let (scenario, args) = self.scenario.unwrap_or_default();
        let (runner_type, runner) = self.runner.unwrap_or_default();
        let contexts = self.contexts.unwrap_or_else(empty_object);
        let sla = self.sla.unwrap_or_else(empty_object);
        let hooks = Value::Array(self.hooks);
        let count = |key: &str| runner.get(key).and_then(Value::as_u64);
        let (runner_times, runner_concurrency) = (count("times"), count("concurrency"));
        let args_json = canonical_json(&args);
        let runner_json = canonical_json(&runner);
        let config = json!({
            "scenario": {scenario.as_str(): args},
            "runner": {runner_type.as_str(): runner},
            "contexts": contexts,
            "hooks": hooks,
            "sla": sla,
        });
        WorkloadRecord {
            workload_index: acc.index,
            workload_key: acc.key.clone().unwrap_or_default(),
            config_hash: config_hash(&config),
            scenario,
            description: self.description.unwrap_or_default(),
            runner_type,
            runner_times,
            runner_concurrency,
            runner_json,
            args_json,
            contexts_json: canonical_json(&config["contexts"]),
            sla_json: canonical_json(&config["sla"]),
            hooks_json: canonical_json(&config["hooks"]),
            start_time_us: self.start_time.and_then(to_us),
            load_duration_s: self.load_duration,
            full_duration_s: self.full_duration,
            iterations: acc.iterations,
            failed_iterations: acc.failed,
            pass_sla: self.sla_failed.is_empty(),
            sla_results_json: canonical_json(&Value::Array(self.sla_results)),
            sla_failed: self.sla_failed,
            context_error: self.context_error,
            hooks_failed: self.hooks_failed,
            duration: acc.summary(),
            ..WorkloadRecord::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hooks_and_runners_take_v2_shapes() {
        let v1 = json!({"name": "sys_call", "args": "echo x", "description": "d",
                        "trigger": {"name": "event", "args": {"unit": "iteration", "at": [2]}}});
        let v2 = json!({"action": {"sys_call": "echo x"}, "description": "d",
                        "trigger": {"event": {"unit": "iteration", "at": [2]}}});
        assert_eq!(hook_from_v1(v1), v2);
        assert_eq!(hook_from_v1(v2.clone()), v2);
        let Value::Object(runner) = json!({"type": "constant", "times": 10}) else {
            unreachable!()
        };
        assert_eq!(
            runner_from_v1(runner),
            Some(("constant".into(), json!({"times": 10})))
        );
    }

    #[test]
    fn errors_read_as_type_and_message() {
        let tb = json!(["KeyError", "boom", "Traceback..."]);
        assert_eq!(describe_error(&tb).as_deref(), Some("KeyError: boom"));
        let hook = json!({"etype": "n/a", "msg": "Subprocess returned 1", "details": ""});
        assert_eq!(
            describe_error(&hook).as_deref(),
            Some("n/a: Subprocess returned 1")
        );
        assert_eq!(describe_error(&json!([])), None);
        assert_eq!(describe_error(&Value::Null), None);
    }

    #[test]
    fn sla_entries_are_checked() {
        let ok = [
            json!({"criterion": "a", "success": true}),
            json!({"criterion": "b", "success": false}),
        ];
        assert_eq!(failed_criteria(&ok), Ok(vec!["b".to_string()]));
        assert_eq!(
            failed_criteria(&[json!({"criterion": "a"})]),
            Err((0, "success", "a boolean"))
        );
    }
}
