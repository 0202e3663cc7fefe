//! The JavaScript data files behind the charts. They are scripts, not JSON
//! fetched at run time, because browsers refuse `fetch` from `file://`;
//! each assigns into `window.perfkitData`. Numbers are rounded to four
//! significant digits (charts cannot show more) to keep files small, and
//! JSON text is escaped so nothing in it can close a script or a string.

use perfkit_schema::analysis::compare::BuildRef;
use perfkit_schema::analysis::trend::SeriesTrend;
use serde_json::{Value, json};

use crate::urls::http_url;

/// Builds per `builds-<n>.js` chunk: a 10,000-build history is five files
/// of about 200 KB, and old chunks never change once full.
pub const BUILDS_PER_CHUNK: usize = 2000;

/// `value` with four significant digits, as JSON (null when not finite).
fn round4(value: Option<f64>) -> Value {
    match value.filter(|v| v.is_finite()) {
        Some(0.0) => json!(0),
        Some(v) => {
            let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
            json!(rounded)
        }
        None => Value::Null,
    }
}

/// The script text assigning `value` to `window.perfkitData<path>`.
fn script(path: &str, value: &Value) -> String {
    let json = serde_json::to_string(value).expect("JSON values always serialize");
    format!(
        "(window.perfkitData=window.perfkitData||{{series:{{}},builds:{{}}}}){path}={};\n",
        safe_json(&json)
    )
}

/// JSON text made safe inside a script: nothing in it can close a script
/// element or end a line in old JavaScript engines.
fn safe_json(json: &str) -> String {
    if !json.contains(['<', '>', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `data/builds-<chunk>.js`: who ran each branch build, columnar.
pub fn builds_chunk(chunk: usize, builds: &[BuildRef]) -> String {
    let start = chunk * BUILDS_PER_CHUNK;
    let part = &builds[start..builds.len().min(start + BUILDS_PER_CHUNK)];
    let value = json!({
        "start": start,
        "id": part.iter().map(|b| b.build.as_str()).collect::<Vec<_>>(),
        "t": part.iter().map(|b| b.time_us / 1000).collect::<Vec<_>>(),
        "change": part.iter().map(|b| b.change).collect::<Vec<_>>(),
        "ps": part.iter().map(|b| b.patchset).collect::<Vec<_>>(),
        "pipeline": part.iter().map(|b| b.pipeline.as_deref()).collect::<Vec<_>>(),
        "log": part.iter().map(|b| b.log_url.as_deref().and_then(http_url)).collect::<Vec<_>>(),
        "url": part.iter().map(|b| b.change_url.as_deref().and_then(http_url)).collect::<Vec<_>>(),
    });
    script(&format!(".builds[{chunk}]"), &value)
}

/// Chunks needed for `builds` branch builds.
pub fn chunk_count(builds: usize) -> usize {
    builds.div_ceil(BUILDS_PER_CHUNK)
}

/// Appends `value` with four significant digits as a JSON number, in the
/// shorter of plain (`0.02013`, `12350`) and exponent (`2.013e-7`) form,
/// or `null` when missing or not finite.
fn push_number(out: &mut String, value: Option<f64>) {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        out.push_str("null");
        return;
    };
    if v == 0.0 {
        out.push('0');
        return;
    }
    let exponent_form = format!("{v:.3e}");
    let (mantissa, exponent) = exponent_form
        .split_once('e')
        .unwrap_or((&exponent_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mantissa = trim_zeros(mantissa);
    let plain = if (-6..=15).contains(&exponent) {
        let rounded: f64 = exponent_form.parse().unwrap_or(v);
        let decimals = (3 - exponent).max(0) as usize;
        Some(trim_zeros(&format!("{rounded:.decimals$}")).to_string())
    } else {
        None
    };
    let short = format!("{mantissa}e{exponent}");
    match plain {
        Some(p) if p.len() <= short.len() => out.push_str(&p),
        _ => out.push_str(&short),
    }
}

/// `1.500` → `1.5`, `2.000` → `2`; integers are left alone.
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Appends `"name":[v,v,…],` for one column of numbers.
fn push_column<T>(out: &mut String, name: &str, items: &[T], value: impl Fn(&T) -> Option<f64>) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_number(out, value(item));
    }
    out.push_str("],");
}

/// `data/<series-id>.js`: the points and annotations of one series,
/// written straight into a string: a 10,000-build history is 70,000
/// numbers per series, and a JSON value per number cost seconds per site.
pub fn series(trend: &SeriesTrend) -> String {
    let p = &trend.points;
    let mut body = String::with_capacity(64 + p.len() * 48);
    body.push('{');
    push_column(&mut body, "b", p, |x| Some(x.build as f64));
    push_column(&mut body, "median", p, |x| x.median);
    push_column(&mut body, "p95", p, |x| x.p95);
    push_column(&mut body, "min", p, |x| x.min);
    push_column(&mut body, "max", p, |x| x.max);
    push_column(&mut body, "fail", p, |x| x.failure_rate());
    push_column(&mut body, "n", p, |x| Some(x.samples as f64));
    if p.iter().any(|x| x.throughput.is_some()) {
        push_column(&mut body, "tput", p, |x| x.throughput);
    } else {
        body.push_str("\"tput\":null,");
    }
    let annotations: Vec<Value> = trend
        .annotations
        .iter()
        .map(|a| {
            json!({
                "i": a.point,
                "kind": a.change.kind,
                "metric": a.metric,
                "pct": round4(a.change.magnitude_pct),
            })
        })
        .collect();
    // Units say how the page formats values: `s` as durations, others
    // (fio's `IO/s`) as numbers with the unit.
    body.push_str("\"unit\":");
    body.push_str(&json!(trend.label.unit).to_string());
    body.push_str(",\"rate\":");
    body.push_str(&json!(trend.label.rate_unit).to_string());
    body.push(',');
    body.push_str("\"ann\":");
    body.push_str(&serde_json::to_string(&annotations).expect("JSON values serialize"));
    body.push('}');
    format!(
        "(window.perfkitData=window.perfkitData||{{series:{{}},builds:{{}}}})[\"series\"][{}]={};\n",
        json!(trend.id),
        safe_json(&body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_cannot_be_broken_out_of() {
        let text = script(
            ".x",
            &json!({"a": "</script><img onerror=alert(1)>\u{2028}"}),
        );
        assert!(!text.contains("</script"), "{text}");
        assert!(!text.contains('<') && !text.contains('\u{2028}'), "{text}");
        assert!(text.contains("\\u003c/script\\u003e"));
    }

    #[test]
    fn columns_are_compact_json() {
        let mut out = String::new();
        for v in [
            Some(0.020134567),
            Some(12345.678),
            Some(0.0),
            None,
            Some(f64::NAN),
            Some(1.0),
            Some(-2.5),
            Some(3.14159e-9),
        ] {
            push_number(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "0.02013 12350 0 null null 1 -2.5 3.142e-9 ");
        let parsed: Vec<serde_json::Value> = out
            .split_whitespace()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        assert_eq!(parsed[0], json!(0.02013));
    }

    #[test]
    fn numbers_keep_four_digits() {
        assert_eq!(round4(Some(0.020134567)), json!(0.02013));
        assert_eq!(round4(Some(12345.678)), json!(12350.0));
        assert_eq!(round4(Some(0.0)), json!(0));
        assert_eq!(round4(Some(f64::NAN)), Value::Null);
    }
}
