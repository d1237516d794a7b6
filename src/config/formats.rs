//! Value formats of `kpi.toml`: the timestamp formats a source mapping accepts
//! (`timestamp_formats = [...]`; reading values in them is the ingest's job,
//! `crate::ingest::timestamp`), and sizes in bytes (`memory_limit = "2G"`).

/// One accepted timestamp format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601 with an offset or `Z` (`2026-03-02T08:00:00-03:00`); a space may
    /// replace the `T`.
    Rfc3339,
    /// Seconds since 1970-01-01 UTC, possibly fractional.
    UnixSeconds,
    /// Milliseconds since 1970-01-01 UTC.
    UnixMillis,
    /// A strftime pattern (`%d/%m/%Y %H:%M`). With `%z`/`%:z` the value carries its offset;
    /// without, it is a wall time in the source's zone; with no time fields, midnight.
    Pattern(String),
}

impl TimestampFormat {
    /// Parse a format name from `kpi.toml`: `rfc3339`, `unix`, `unix_ms` or a strftime pattern.
    pub fn parse(spec: &str) -> Result<TimestampFormat, String> {
        match spec {
            "rfc3339" | "iso8601" => Ok(TimestampFormat::Rfc3339),
            "unix" | "unix_seconds" => Ok(TimestampFormat::UnixSeconds),
            "unix_ms" | "unix_millis" => Ok(TimestampFormat::UnixMillis),
            pattern if pattern.contains('%') => {
                // Reject patterns chrono cannot use (an unknown `%q`, a dangling `%`).
                let items = chrono::format::StrftimeItems::new(pattern);
                if items
                    .clone()
                    .any(|i| matches!(i, chrono::format::Item::Error))
                {
                    return Err(format!("invalid strftime pattern '{pattern}'"));
                }
                Ok(TimestampFormat::Pattern(pattern.to_string()))
            }
            other => Err(format!(
                "unknown timestamp format '{other}' (use rfc3339, unix, unix_ms or a strftime \
                 pattern such as '%d/%m/%Y %H:%M')"
            )),
        }
    }

    pub(crate) fn has_offset(pattern: &str) -> bool {
        pattern.contains("%z") || pattern.contains("%:z") || pattern.contains("%#z")
    }
}

/// A size in bytes: `1073741824`, `512M`, `4G`, `1.5GB` (binary units), at least 16 MiB (the
/// memory limit of queries; `--memory-limit` reads the same).
pub fn parse_size(value: &str) -> Result<usize, String> {
    let text = value.trim().to_ascii_uppercase();
    let text = text.strip_suffix('B').unwrap_or(&text);
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let scale: f64 = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit in '{value}': use K, M, G or T")),
    };
    let bytes = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| n * scale)
        .ok_or_else(|| {
            format!("invalid size '{value}': use a positive number such as 512M or 4G")
        })?;
    if bytes < 16.0 * 1024.0 * 1024.0 {
        return Err(format!("size '{value}' is too small: give at least 16M"));
    }
    Ok(bytes.min(usize::MAX as f64) as usize)
}

/// A duration as PostgreSQL writes `statement_timeout`: `30s`, `500ms`, `2min`, `1h`, or a bare
/// number of milliseconds. Zero is refused: it would mean "no limit".
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    let text = value.trim().to_ascii_lowercase();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text.as_str(), "ms"),
    };
    let millis: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("unknown unit in '{value}': use ms, s, min or h")),
    };
    let n: u64 = number
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid duration '{value}': use a positive number such as 30s"))?;
    n.checked_mul(millis)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("duration '{value}' is too long"))
}

/// A duration for people: `30s`, `1500ms`, `2min`.
pub fn format_duration(duration: std::time::Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{}min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A size for people: `2.0 GiB`, `512.0 MiB`.
pub fn format_size(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4gb"), Ok(4 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("67108864"), Ok(64 << 20));
        assert!(parse_size("12Q").unwrap_err().contains("'12Q'"));
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("1K").unwrap_err().contains("too small"));
        assert_eq!(format_size(2 << 30), "2.0 GiB");
        assert_eq!(format_size(512 << 20), "512.0 MiB");
    }
}
