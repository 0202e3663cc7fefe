//! Numbers as people read them, shared by pages, reports and comments.

/// A duration in seconds with three significant digits: `850 µs`,
/// `20.1 ms`, `1.25 s`; `–` for none.
pub fn duration(seconds: Option<f64>) -> String {
    duration_to(seconds, 3)
}

/// [`duration`] with `digits` significant digits (`±1.1 ms` for a spread).
pub fn duration_to(seconds: Option<f64>, digits: usize) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite()) else {
        return "–".into();
    };
    let (value, unit) = match s.abs() {
        0.0 => return "0 s".into(),
        a if a < 1e-3 => (s * 1e6, "µs"),
        a if a < 1.0 => (s * 1e3, "ms"),
        _ => (s, "s"),
    };
    format!("{} {unit}", significant(value, digits))
}

/// A series value in its unit: durations as [`duration`], rates with an
/// SI prefix and three significant digits (`75.8k IO/s`, `612 MB/s`); `–`
/// for none.
pub fn measure(value: Option<f64>, unit: &str) -> String {
    measure_to(value, unit, 3)
}

/// [`measure`] with `digits` significant digits.
pub fn measure_to(value: Option<f64>, unit: &str, digits: usize) -> String {
    if unit.is_empty() || unit == "s" {
        return duration_to(value, digits);
    }
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "–".into();
    };
    let (scaled, prefix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let number = significant(scaled, digits);
    // Bytes take the prefix (`MB/s`); counts carry it (`75.8k IO/s`).
    if unit.starts_with('B') {
        format!("{number} {prefix}{unit}")
    } else {
        format!("{number}{prefix} {unit}")
    }
}

/// A throughput in the series' rate unit (`13.7 requests/s`); `13.7/s`
/// when the unit is not known.
pub fn rate_in(per_second: Option<f64>, rate_unit: &str) -> String {
    match per_second.filter(|v| v.is_finite()) {
        Some(r) if !rate_unit.is_empty() => format!("{} {rate_unit}", significant(r, 3)),
        other => rate(other),
    }
}

#[cfg(test)]
mod measure_tests {
    use super::{measure, measure_to};

    #[test]
    fn rates_get_an_si_prefix_and_durations_a_time_unit() {
        assert_eq!(measure(Some(75_843.2), "IO/s"), "75.8k IO/s");
        assert_eq!(measure(Some(612_483_710.0), "B/s"), "612 MB/s");
        assert_eq!(measure(Some(950.0), "IO/s"), "950 IO/s");
        assert_eq!(measure(Some(0.0234), "s"), "23.4 ms");
        assert_eq!(measure(None, "B/s"), "–");
        assert_eq!(measure_to(Some(0.001093), "s", 2), "1.1 ms");
        assert_eq!(measure_to(Some(1_234.0), "IO/s", 2), "1.2k IO/s");
    }
}

/// `value` with `digits` significant digits, without trailing zeros.
pub fn significant(value: f64, digits: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A signed percentage: `+12.3 %`, `-4.0 %`.
pub fn percent(value: Option<f64>) -> String {
    match value.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:+.1} %"),
        None => "–".into(),
    }
}

/// A change point's or alert's move as shown: relative for values
/// (`+12.0 %`), in percentage points for a failure rate (`+25.0 pp`, since
/// 0 → 25 % is no percentage of 0).
pub fn change_of(metric: crate::Metric, value: Option<f64>) -> String {
    match (metric, value.filter(|v| v.is_finite())) {
        (crate::Metric::FailureRate, Some(v)) => format!("{v:+.1} pp"),
        _ => percent(value),
    }
}

/// A share as a percentage: `25 %`, `3.3 %`.
pub fn share(fraction: Option<f64>) -> String {
    match fraction.filter(|v| v.is_finite()) {
        Some(f) => format!("{} %", significant(100.0 * f, 2)),
        None => "–".into(),
    }
}

/// A p- or q-value: `0.003`, `<0.001`.
pub fn probability(p: Option<f64>) -> String {
    match p.filter(|v| v.is_finite()) {
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
        None => "–".into(),
    }
}

/// Iterations per second: `12.5/s`.
pub fn rate(per_second: Option<f64>) -> String {
    match per_second.filter(|v| v.is_finite()) {
        Some(r) => format!("{}/s", significant(r, 3)),
        None => "–".into(),
    }
}

/// Microseconds since the epoch as `2026-11-23 14:05 UTC` (civil-from-days,
/// so no date crate is needed for one format).
pub fn timestamp(us: i64) -> String {
    let (date, h, m, _) = civil(us);
    format!("{date} {h:02}:{m:02} UTC")
}

/// Microseconds since the epoch as `2026-11-23 14:05:09` (UTC), for tables.
pub fn datetime(us: i64) -> String {
    let (date, h, m, s) = civil(us);
    format!("{date} {h:02}:{m:02}:{s:02}")
}

/// Microseconds since the epoch as RFC 3339 (`2026-11-23T14:05:09Z`), for Atom.
pub fn rfc3339(us: i64) -> String {
    let (date, h, m, s) = civil(us);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

fn civil(us: i64) -> (String, i64, i64, i64) {
    let secs = us.div_euclid(1_000_000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_rate_moves_in_points() {
        use crate::Metric;
        assert_eq!(change_of(Metric::FailureRate, Some(25.0)), "+25.0 pp");
        assert_eq!(change_of(Metric::Duration, Some(12.04)), "+12.0 %");
        assert_eq!(change_of(Metric::Throughput, Some(-3.0)), "-3.0 %");
        assert_eq!(change_of(Metric::FailureRate, None), "–");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(Some(0.020134)), "20.1 ms");
        assert_eq!(duration(Some(0.00085)), "850 µs");
        assert_eq!(duration(Some(1.25)), "1.25 s");
        assert_eq!(duration(Some(123.4)), "123 s");
        assert_eq!(duration(Some(0.0)), "0 s");
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(f64::NAN)), "–");
    }

    #[test]
    fn numbers() {
        assert_eq!(percent(Some(12.345)), "+12.3 %");
        assert_eq!(percent(Some(-4.0)), "-4.0 %");
        assert_eq!(share(Some(0.25)), "25 %");
        assert_eq!(share(Some(0.0333)), "3.3 %");
        assert_eq!(probability(Some(0.0004)), "<0.001");
        assert_eq!(probability(Some(0.0312)), "0.031");
        assert_eq!(rate(Some(12.54)), "12.5/s");
        assert_eq!(significant(1500.0, 3), "1500");
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_442_709_000_000), "2026-11-23T14:05:09Z");
        assert_eq!(timestamp(951_782_400_000_000), "2000-02-29 00:00 UTC");
        assert_eq!(datetime(1_795_312_100_000_000), "2026-11-22 01:48:20");
    }
}
