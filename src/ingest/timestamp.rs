//! Reading timestamps from exports: a list of formats tried in order, and the time zone of
//! naive values. Naive wall times follow the calendar rules for daylight-saving days (an
//! ambiguous time is the earlier instant; a time in the gap is read with the offset in force
//! before it), so an export and a calendar never disagree about what a wall time means.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;

use crate::calendar::local_to_utc;
pub use crate::config::TimestampFormat;

/// Reading values in each format (the formats themselves are configuration:
/// [`crate::config::TimestampFormat`]).
impl TimestampFormat {
    /// The UTC instant in µs, or `None` when `text` does not match this format.
    fn read(&self, text: &str, tz: &Tz) -> Option<i64> {
        match self {
            TimestampFormat::Rfc3339 => DateTime::parse_from_rfc3339(text)
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .ok()
                .map(|t| t.timestamp_micros()),
            TimestampFormat::UnixSeconds => {
                let secs: f64 = text.parse().ok()?;
                let micros = (secs * 1e6).round();
                (micros.is_finite() && micros.abs() < 9.2e18).then_some(micros as i64)
            }
            TimestampFormat::UnixMillis => text.parse::<i64>().ok()?.checked_mul(1000),
            TimestampFormat::Pattern(p) if Self::has_offset(p) => DateTime::parse_from_str(text, p)
                .ok()
                .map(|t| t.timestamp_micros()),
            TimestampFormat::Pattern(p) => {
                let naive = NaiveDateTime::parse_from_str(text, p).ok().or_else(|| {
                    NaiveDate::parse_from_str(text, p)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })?;
                let time = naive.time();
                let start = local_to_utc(tz, naive.date(), time.num_seconds_from_midnight())?;
                Some(start + i64::from(time.nanosecond() / 1000))
            }
        }
    }
}

/// The formats and zone of one source's timestamps.
#[derive(Debug, Clone)]
pub struct TimestampParser {
    formats: Vec<TimestampFormat>,
    tz: Tz,
}

impl TimestampParser {
    /// `formats` are tried in order; an empty list means RFC 3339 only.
    pub fn new(formats: Vec<TimestampFormat>, tz: Tz) -> TimestampParser {
        let formats = if formats.is_empty() {
            vec![TimestampFormat::Rfc3339]
        } else {
            formats
        };
        TimestampParser { formats, tz }
    }

    /// The UTC instant in µs of `text` (trimmed), or a reason naming the formats tried.
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        self.formats
            .iter()
            .find_map(|f| f.read(text, &self.tz))
            .ok_or_else(|| {
                let tried: Vec<String> = self
                    .formats
                    .iter()
                    .map(|f| match f {
                        TimestampFormat::Rfc3339 => "rfc3339".to_string(),
                        TimestampFormat::UnixSeconds => "unix".to_string(),
                        TimestampFormat::UnixMillis => "unix_ms".to_string(),
                        TimestampFormat::Pattern(p) => format!("'{p}'"),
                    })
                    .collect();
                format!("unparseable timestamp (tried {})", tried.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::format_utc;

    fn parser(formats: &[&str], tz: &str) -> TimestampParser {
        TimestampParser::new(
            formats
                .iter()
                .map(|f| TimestampFormat::parse(f).unwrap())
                .collect(),
            tz.parse().unwrap(),
        )
    }

    fn utc(p: &TimestampParser, text: &str) -> String {
        format_utc(p.parse(text).unwrap())
    }

    #[test]
    fn patterns_in_order_and_in_the_source_zone() {
        let p = parser(
            &["%d/%m/%Y %H:%M", "%Y/%m/%d %H:%M:%S%.3f", "rfc3339"],
            "America/Sao_Paulo",
        );
        assert_eq!(utc(&p, "02/03/2026 08:00"), "2026-03-02T11:00:00Z");
        assert_eq!(
            utc(&p, " 2026/03/02 08:00:00.250 "),
            "2026-03-02T11:00:00.250Z"
        );
        assert_eq!(utc(&p, "2026-03-02T08:00:00+01:00"), "2026-03-02T07:00:00Z");
        assert_eq!(utc(&p, "2026-03-02 08:00:00Z"), "2026-03-02T08:00:00Z");
        let err = p.parse("March 2nd").unwrap_err();
        assert!(
            err.contains(
                "unparseable timestamp (tried '%d/%m/%Y %H:%M', '%Y/%m/%d %H:%M:%S%.3f', rfc3339)"
            ),
            "{err}"
        );
    }

    #[test]
    fn dates_epochs_and_offsets() {
        let p = parser(&["%Y-%m-%d", "unix"], "Europe/Berlin");
        assert_eq!(utc(&p, "2026-07-01"), "2026-06-30T22:00:00Z");
        assert_eq!(utc(&p, "1767225600.5"), "2026-01-01T00:00:00.500Z");
        let p = parser(&["%Y-%m-%d %H:%M %z"], "UTC");
        assert_eq!(utc(&p, "2026-07-01 10:00 +0200"), "2026-07-01T08:00:00Z");
        let p = parser(&["unix_ms"], "UTC");
        assert_eq!(utc(&p, "1767225600123"), "2026-01-01T00:00:00.123Z");
    }

    #[test]
    fn daylight_saving_wall_times_follow_the_calendar_rules() {
        let p = parser(&["%Y-%m-%d %H:%M"], "Europe/Berlin");
        // 2026-10-25 02:30 occurs twice: the earlier instant (still UTC+2).
        assert_eq!(utc(&p, "2026-10-25 02:30"), "2026-10-25T00:30:00Z");
        // 2026-03-29 02:30 does not exist: read with the offset before the gap (UTC+1).
        assert_eq!(utc(&p, "2026-03-29 02:30"), "2026-03-29T01:30:00Z");
    }

    #[test]
    fn bad_formats_are_rejected() {
        assert!(TimestampFormat::parse("dd/mm/yyyy")
            .unwrap_err()
            .contains("unknown timestamp format 'dd/mm/yyyy'"));
        assert!(TimestampFormat::parse("%Y-%m %")
            .unwrap_err()
            .contains("invalid strftime pattern"));
    }
}
