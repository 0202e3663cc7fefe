//! Block-style YAML for the data perfkit puts into a Rally task (scenario
//! args, contexts, SLAs), as the `yaml` template filter, plus the
//! conversions between `serde_json::Value` and minijinja values.
//!
//! Own emitter rather than a serializer: the output sits inside a hand-laid
//! template at a given indentation, keys are sorted whatever serde_json's
//! features are, and every string that YAML 1.1 (PyYAML, which Rally uses)
//! could read as something else is double-quoted.

use std::collections::BTreeMap;

use minijinja::value::{Value as JinjaValue, ValueKind};
use serde_json::Value;

/// YAML for `value` as it follows a `key:` at column `indent - 2`: a scalar
/// or empty collection on the same line (` 4`, ` {}`), otherwise a block
/// starting on the next line, indented by `indent` spaces.
pub fn block(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| format!("\n{pad}{}:{}", scalar_str(k), block(&map[k], indent + 2)))
                .collect()
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                let inner = block(item, indent + 2);
                let nested_start = format!("\n{}", " ".repeat(indent + 2));
                match inner.strip_prefix(&nested_start) {
                    // a mapping or list item starts on the dash's line
                    Some(rest) => format!("\n{pad}- {rest}"),
                    None => format!("\n{pad}-{inner}"),
                }
            })
            .collect(),
        Value::Object(_) => " {}".into(),
        Value::Array(_) => " []".into(),
        other => format!(" {}", scalar(other)),
    }
}

/// A scalar as YAML text.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => scalar_str(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A string, plain when that is unambiguous, else double-quoted (JSON string
/// escapes are valid YAML double-quoted escapes).
fn scalar_str(s: &str) -> String {
    const YAML11_WORDS: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' '))
        && !YAML11_WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

/// serde_json → minijinja (maps keep sorted keys).
pub fn to_jinja(value: &Value) -> JinjaValue {
    match value {
        Value::Null => JinjaValue::from(()),
        Value::Bool(b) => JinjaValue::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => JinjaValue::from(i),
            (None, Some(f)) => JinjaValue::from(f),
            (None, None) => JinjaValue::from(n.to_string()),
        },
        Value::String(s) => JinjaValue::from(s.as_str()),
        Value::Array(items) => items.iter().map(to_jinja).collect(),
        Value::Object(map) => JinjaValue::from_object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_jinja(v)))
                .collect::<BTreeMap<String, JinjaValue>>(),
        ),
    }
}

/// minijinja → serde_json, for values handed back to the `yaml` filter.
pub fn from_jinja(value: &JinjaValue) -> Result<Value, minijinja::Error> {
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(value.is_true()),
        ValueKind::Number => match value.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(f64::try_from(value.clone())?),
        },
        ValueKind::String => Value::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => Value::Array(
            value
                .try_iter()?
                .map(|v| from_jinja(&v))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                map.insert(key.to_string(), from_jinja(&item)?);
            }
            Value::Object(map)
        }
        _ => Value::String(value.to_string()),
    })
}

/// The `yaml(indent)` template filter (see [`block`]).
pub fn filter(value: JinjaValue, indent: usize) -> Result<String, minijinja::Error> {
    Ok(block(&from_jinja(&value)?, indent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(value: Value) {
        let text = format!("root:{}\n", block(&value, 2));
        let parsed: Value = yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed["root"], value, "\n{text}");
    }

    #[test]
    fn emitted_yaml_reads_back_as_the_same_value() {
        roundtrip(json!({"image": {"name": "{{ image_name }}"}, "size": 1}));
        roundtrip(json!({"policies": ["affinity"], "detailed": true, "ratio": 0.5}));
        roundtrip(json!({"definition": [{"granularity": "0:00:01", "timespan": "1:00:00"}]}));
        roundtrip(json!({"a": [[1, 2], [], {}], "b": null, "c": "yes", "d": "1.1.0.0/30"}));
        roundtrip(json!({"path": "~/.rally/extra/x.yaml", "text": "two\nlines \"q\""}));
        roundtrip(json!({"nested": {"deeper": {"list": [{"k": "v", "l": [1]}]}}}));
        roundtrip(json!("plain words"));
        roundtrip(json!({}));
    }

    #[test]
    fn layout_is_block_style_with_sorted_keys() {
        let text = block(
            &json!({"users": {"tenants": 2}, "quotas": {"nova": {"ram": -1}}}),
            4,
        );
        assert_eq!(
            text,
            "\n    quotas:\n      nova:\n        ram: -1\n    users:\n      tenants: 2"
        );
        assert_eq!(
            block(&json!([{"a": 1, "b": 2}, "x"]), 2),
            "\n  - a: 1\n    b: 2\n  - x"
        );
        assert_eq!(block(&json!({}), 2), " {}");
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "yes",
            "No",
            "0:00:01",
            "1.1.0.0/30",
            "{{ image_name }}",
            "~",
            "a: b",
            "",
        ] {
            assert!(scalar(&json!(s)).starts_with('"'), "{s}");
        }
        for s in [
            "public",
            "rally tests creating types",
            "fake-hardware",
            "nova.boot_server",
        ] {
            assert_eq!(scalar(&json!(s)), s);
        }
    }

    #[test]
    fn jinja_conversion_is_lossless() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(from_jinja(&to_jinja(&v)).unwrap(), v);
    }
}
