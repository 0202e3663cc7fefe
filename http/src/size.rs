//! Byte sizes as users write them (`--max-download 512MiB`) and as
//! messages show them.

const UNITS: [(&str, u64); 8] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("K", 1 << 10),
    ("M", 1 << 20),
];

/// Parses `1048576`, `512KiB`, `64MiB`, `2GiB`, `100MB`, `64M`
/// (case-insensitive; `K`/`M` are binary).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{}` is not a size\nhint: e.g. `512MiB`, `2GiB` or a number of bytes",
            perfkit_schema::shown(text)
        )
    };
    let (digits, factor) = UNITS
        .iter()
        .find_map(|(unit, factor)| {
            let cut = t.len().checked_sub(unit.len())?;
            (t.is_char_boundary(cut) && t[cut..].eq_ignore_ascii_case(unit))
                .then(|| (t[..cut].trim(), *factor))
        })
        .unwrap_or((t, 1));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(factor).ok_or_else(bad)?;
    if bytes == 0 {
        return Err(bad());
    }
    Ok(bytes)
}

/// `512 MiB`, `1.5 GiB`, `900 bytes`.
pub fn shown_size(bytes: u64) -> String {
    let units = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, factor) in units {
        if bytes >= factor {
            let value = bytes as f64 / factor as f64;
            return if bytes.is_multiple_of(factor) {
                format!("{} {unit}", bytes / factor)
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2 gib"), Ok(2 << 30));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        for bad in [
            "",
            "0",
            "MiB",
            "-1",
            "1.5GiB",
            "99999999999GiB",
            "10 parsecs",
        ] {
            assert!(parse_size(bad).unwrap_err().contains("hint:"), "{bad}");
        }
        assert_eq!(shown_size(512 << 20), "512 MiB");
        assert_eq!(shown_size(1536 << 20), "1.5 GiB");
        assert_eq!(shown_size(900), "900 bytes");
    }
}
