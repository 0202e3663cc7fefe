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
    let safe = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("(window.perfkitData=window.perfkitData||{{series:{{}},builds:{{}}}}){path}={safe};\n")
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

/// `data/<series-id>.js`: the points and annotations of one series.
pub fn series(trend: &SeriesTrend) -> String {
    let p = &trend.points;
    let throughput = p
        .iter()
        .any(|x| x.throughput.is_some())
        .then(|| p.iter().map(|x| round4(x.throughput)).collect::<Vec<_>>());
    let value = json!({
        "b": p.iter().map(|x| x.build).collect::<Vec<_>>(),
        "median": p.iter().map(|x| round4(x.median)).collect::<Vec<_>>(),
        "p95": p.iter().map(|x| round4(x.p95)).collect::<Vec<_>>(),
        "min": p.iter().map(|x| round4(x.min)).collect::<Vec<_>>(),
        "max": p.iter().map(|x| round4(x.max)).collect::<Vec<_>>(),
        "fail": p.iter().map(|x| round4(x.failure_rate())).collect::<Vec<_>>(),
        "n": p.iter().map(|x| x.samples).collect::<Vec<_>>(),
        "tput": throughput,
        "ann": trend.annotations.iter().map(|a| json!({
            "i": a.point,
            "kind": a.change.kind,
            "metric": a.metric,
            "pct": round4(a.change.magnitude_pct),
        })).collect::<Vec<_>>(),
    });
    script(&format!("[\"series\"][{}]", json!(trend.id)), &value)
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
    fn numbers_keep_four_digits() {
        assert_eq!(round4(Some(0.020134567)), json!(0.02013));
        assert_eq!(round4(Some(12345.678)), json!(12350.0));
        assert_eq!(round4(Some(0.0)), json!(0));
        assert_eq!(round4(Some(f64::NAN)), Value::Null);
    }
}
