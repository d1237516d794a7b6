//! Timestamp formats a source mapping accepts (`timestamp_formats = [...]`), parsed from
//! `kpi.toml`. Reading values in them is the ingest's job (`crate::ingest::timestamp`).

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
