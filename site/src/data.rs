//! The JavaScript data files behind the charts. They are scripts, not JSON
//! fetched at run time, because browsers refuse `fetch` from `file://`;
//! each assigns into `window.perfkitData`. Numbers are rounded to four
//! significant digits (charts cannot show more) to keep files small, and
//! JSON text is escaped so nothing in it can close a script or a string.

use perfkit_analysis::compare::BuildRef;
use perfkit_analysis::trend::{SeriesTrend, TrendPoint};
use serde_json::{Value, json};

use crate::urls::http_url;

/// Builds per `builds-<n>.js` chunk: a 10,000-build history is five files
/// of about 200 KB, and old chunks never change once full.
pub const BUILDS_PER_CHUNK: usize = 2000;

/// `value` with four significant digits, as JSON (null when not finite).
pub(crate) fn round4(value: Option<f64>) -> Value {
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
    format!("{DATA}{path}={};\n", safe_json(&json))
}

/// JSON text made safe inside a script: nothing in it can close a script
/// element or end a line in old JavaScript engines.
pub(crate) fn safe_json(json: &str) -> String {
    if !json.contains(['<', '>', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `data/<id>-run.js`: the per-second chart of a series' newest run.
pub fn run(id: &str, value: &Value) -> String {
    let json = serde_json::to_string(value).expect("JSON values always serialize");
    let id = serde_json::to_string(id).expect("strings always serialize");
    format!(
        "{DATA}.run={DATA}.run||{{}};{DATA}.run[{}]={};\n",
        safe_json(&id),
        safe_json(&json)
    )
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
    // Millions of numbers per site: exact float formatting cost seconds,
    // so the digits come from integer arithmetic unless rounding is a
    // near tie, where the exact (slow) way decides.
    match four_digits(v) {
        Some((digits, exponent)) => push_digits(out, v < 0.0, digits, exponent),
        None => push_number_exactly(out, v),
    }
}

/// `|v|` as `digits` (1000..=9999) × 10^(exponent − 3), rounded to nearest;
/// `None` when that rounding is too close to call in floating point.
fn four_digits(v: f64) -> Option<(u32, i32)> {
    let a = v.abs();
    if !(1e-30..1e30).contains(&a) {
        return None;
    }
    let mut exponent = a.log10().floor() as i32;
    let mut scaled = a / 10f64.powi(exponent - 3);
    if scaled >= 10000.0 {
        exponent += 1;
        scaled = a / 10f64.powi(exponent - 3);
    } else if scaled < 1000.0 {
        exponent -= 1;
        scaled = a / 10f64.powi(exponent - 3);
    }
    if !(1000.0..10000.0).contains(&scaled) || (scaled.fract() - 0.5).abs() < 1e-6 {
        return None;
    }
    let mut digits = scaled.round() as u32;
    if digits == 10000 {
        digits = 1000;
        exponent += 1;
    }
    Some((digits, exponent))
}

/// Writes `digits` × 10^(exponent − 3) as `push_number_exactly` would,
/// without allocating (it runs for every number of every data file).
fn push_digits(out: &mut String, negative: bool, digits: u32, exponent: i32) {
    let d = [
        (b'0' + (digits / 1000) as u8) as char,
        (b'0' + (digits / 100 % 10) as u8) as char,
        (b'0' + (digits / 10 % 10) as u8) as char,
        (b'0' + (digits % 10) as u8) as char,
    ];
    // Significant digits once trailing zeros are dropped.
    let mut n = 4;
    while n > 1 && d[n - 1] == '0' {
        n -= 1;
    }
    let sign = usize::from(negative);
    // `four_digits` keeps |exponent| below 31: one or two digits.
    let magnitude = exponent.unsigned_abs();
    let exponent_len = 1 + usize::from(magnitude >= 10) + usize::from(exponent < 0);
    let short_len = sign + 1 + if n > 1 { n } else { 0 } + 1 + exponent_len;
    let point = exponent + 1; // digits before the decimal point
    let plain_len = (-6..=15).contains(&exponent).then(|| {
        sign + if point >= 4 {
            point as usize
        } else if point > 0 {
            let p = point as usize;
            p + if n > p { 1 + n - p } else { 0 }
        } else {
            2 + (-point) as usize + n
        }
    });
    if negative {
        out.push('-');
    }
    match plain_len {
        Some(len) if len <= short_len => {
            if point >= 4 {
                out.extend(d);
                out.extend(std::iter::repeat_n('0', point as usize - 4));
            } else if point > 0 {
                let p = point as usize;
                out.extend(&d[..p]);
                if n > p {
                    out.push('.');
                    out.extend(&d[p..n]);
                }
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-point) as usize));
                out.extend(&d[..n]);
            }
        }
        _ => {
            out.push(d[0]);
            if n > 1 {
                out.push('.');
                out.extend(&d[1..n]);
            }
            out.push('e');
            if exponent < 0 {
                out.push('-');
            }
            if magnitude >= 10 {
                out.push((b'0' + (magnitude / 10) as u8) as char);
            }
            out.push((b'0' + (magnitude % 10) as u8) as char);
        }
    }
}

/// `push_number` through exact float formatting.
fn push_number_exactly(out: &mut String, v: f64) {
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

/// The script prefix every data file starts with.
const DATA: &str = "(window.perfkitData=window.perfkitData||{series:{},builds:{}})";

/// `data/<series-id>.js`: what a series page needs besides its points:
/// units, annotations, and how many point chunks to expect.
pub fn series(trend: &SeriesTrend, chunks: usize) -> String {
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
    let value = json!({
        "chunks": chunks,
        "tput": trend.points.iter().any(|x| x.throughput.is_some()),
        "unit": trend.label.unit,
        "rate": trend.label.rate_unit,
        "ann": annotations,
    });
    script(&format!("[\"series\"][{}]", json!(trend.id)), &value)
}

/// The points of `trend` whose builds fall in `chunk` (of
/// `BUILDS_PER_CHUNK` builds): a new build changes only the last chunk.
pub fn chunk_points(trend: &SeriesTrend, chunk: usize) -> &[TrendPoint] {
    let p = &trend.points;
    let from = p.partition_point(|x| x.build < chunk * BUILDS_PER_CHUNK);
    let to = p.partition_point(|x| x.build < (chunk + 1) * BUILDS_PER_CHUNK);
    &p[from..to]
}

/// `data/<series-id>-<chunk>.js`: one chunk's points, columnar, written
/// straight into a string: a 10,000-build history is 70,000 numbers per
/// series, and a JSON value per number cost seconds per site.
pub fn series_chunk(trend: &SeriesTrend, chunk: usize) -> String {
    let p = chunk_points(trend, chunk);
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
    body.pop();
    body.push('}');
    format!(
        "(function(d){{d=d.points=d.points||{{}};(d[{id}]=d[{id}]||{{}})[{chunk}]={body};}})({DATA});\n",
        id = json!(trend.id),
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
    fn fast_digits_match_exact_formatting() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![
            1.0, 9.9995, 9.9994, 0.1, 1e-6, 1.5e-7, 999.95, 1e15, 9.9999e15, 123.45, 0.00012345,
        ];
        for _ in 0..200_000 {
            let bits = next();
            let mantissa = 1.0 + (bits >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = (bits % 48) as i32 - 24;
            let sign = if bits & 1 == 1 { -1.0 } else { 1.0 };
            values.push(sign * mantissa * 10f64.powi(exponent));
        }
        for v in values {
            let (mut fast, mut exact) = (String::new(), String::new());
            push_number(&mut fast, Some(v));
            push_number_exactly(&mut exact, v);
            assert_eq!(fast, exact, "{v:e}");
        }
    }

    #[test]
    fn numbers_keep_four_digits() {
        assert_eq!(round4(Some(0.020134567)), json!(0.02013));
        assert_eq!(round4(Some(12345.678)), json!(12350.0));
        assert_eq!(round4(Some(0.0)), json!(0));
        assert_eq!(round4(Some(f64::NAN)), Value::Null);
    }
}
