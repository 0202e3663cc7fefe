//! Workload identity across builds (`docs/ARCHITECTURE.md`, "Series and identity").
//! Rally's uuids change every run, so a workload is known by where it sits
//! in the job's task; its configuration is hashed beside that so a config
//! edit starts a new segment instead of looking like a regression.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// JSON text with object keys sorted at every level, independent of how
/// the input was ordered or which serde_json features are enabled.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Where a workload sits in a job's Rally task. Two subtasks with the same
/// title are told apart by `title_occurrence` (0 for the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadPlace<'a> {
    pub job: &'a str,
    pub subtask_title: &'a str,
    pub title_occurrence: u32,
    pub position: u32,
    pub scenario: &'a str,
}

impl WorkloadPlace<'_> {
    /// The stable workload key: 16 hex digits of a hash of the place.
    pub fn key(&self) -> String {
        let text = format!(
            "{}\0{}\0{}\0{}\0{}",
            self.job, self.subtask_title, self.title_occurrence, self.position, self.scenario
        );
        sha256_hex(text.as_bytes())[..16].to_string()
    }
}

/// Hash of a workload's configuration (scenario args, runner, contexts,
/// hooks, SLA), normalized to Rally's v2 shapes by the caller.
pub fn config_hash(config: &Value) -> String {
    sha256_hex(canonical_json(config).as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(config_hash(&a), config_hash(&b));
    }

    #[test]
    fn workload_key_depends_on_every_part() {
        let base = WorkloadPlace {
            job: "j",
            subtask_title: "t",
            title_occurrence: 0,
            position: 0,
            scenario: "Dummy.dummy",
        };
        let moved = WorkloadPlace {
            position: 1,
            ..base.clone()
        };
        assert_eq!(base.key().len(), 16);
        assert_ne!(base.key(), moved.key());
        assert_eq!(base.key(), base.clone().key());
    }
}
