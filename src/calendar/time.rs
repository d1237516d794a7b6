//! Wall-clock times of day, time ranges as written in `kpi.toml` (`"08:00-12:00"`), and the
//! one place where a local wall time becomes a UTC instant.
//!
//! Instants are `i64` microseconds since the Unix epoch, UTC, the same representation as
//! Arrow's `Timestamp(Microsecond, "UTC")`.

use std::fmt;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::CalendarError;

/// Seconds in a local day on the wall clock (not in real time: DST days differ).
pub const DAY_SECONDS: u32 = 86_400;
/// Microseconds per second.
pub const MICROS: i64 = 1_000_000;

/// A wall-clock time of day in seconds after local midnight, `0..=86400` (86400 is "24:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(u32);

impl WallTime {
    pub const MIDNIGHT: WallTime = WallTime(0);
    pub const END_OF_DAY: WallTime = WallTime(DAY_SECONDS);

    pub fn from_seconds(seconds: u32) -> Option<WallTime> {
        (seconds <= DAY_SECONDS).then_some(WallTime(seconds))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }

    /// Parse `HH:MM` or `HH:MM:SS`; `24:00` is accepted (end of day).
    pub fn parse(text: &str) -> Result<WallTime, CalendarError> {
        let bad = || CalendarError::BadTime {
            value: text.to_string(),
        };
        let mut parts = text.trim().split(':');
        let mut field = |max: u32| -> Result<Option<u32>, CalendarError> {
            match parts.next() {
                None => Ok(None),
                Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    let v: u32 = p.parse().map_err(|_| bad())?;
                    if v > max {
                        Err(bad())
                    } else {
                        Ok(Some(v))
                    }
                }
                Some(_) => Err(bad()),
            }
        };
        let h = field(24)?.ok_or_else(bad)?;
        let m = field(59)?.ok_or_else(bad)?;
        let s = field(59)?.unwrap_or(0);
        if parts.next().is_some() {
            return Err(bad());
        }
        let total = h * 3600 + m * 60 + s;
        if total > DAY_SECONDS {
            return Err(bad());
        }
        Ok(WallTime(total))
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

/// A range of wall-clock time as written in the configuration, `start-end`.
///
/// `end <= start` means the range runs past midnight into the next day (an overnight shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start: WallTime,
    pub end: WallTime,
}

impl TimeRange {
    /// Parse `HH:MM-HH:MM` (seconds optional). `24:00` is only valid as an end.
    pub fn parse(text: &str) -> Result<TimeRange, CalendarError> {
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| CalendarError::BadRange {
                value: text.to_string(),
                reason: "expected HH:MM-HH:MM".to_string(),
            })?;
        let start = WallTime::parse(a)?;
        let end = WallTime::parse(b)?;
        if start == WallTime::END_OF_DAY {
            return Err(CalendarError::BadRange {
                value: text.to_string(),
                reason: "24:00 can only end a range".to_string(),
            });
        }
        Ok(TimeRange { start, end })
    }

    pub fn is_overnight(self) -> bool {
        self.end <= self.start
    }

    /// The part of the range on the day it starts, as `[start, end)` seconds of that day.
    pub fn same_day_part(self) -> (u32, u32) {
        if self.is_overnight() {
            (self.start.0, DAY_SECONDS)
        } else {
            (self.start.0, self.end.0)
        }
    }

    /// The part after midnight on the next day, if the range is overnight and has one.
    pub fn next_day_part(self) -> Option<(u32, u32)> {
        (self.is_overnight() && self.end.0 > 0).then_some((0, self.end.0))
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The UTC instant (µs) of a wall time on a local date in `tz`.
///
/// An ambiguous wall time (it occurs twice when clocks fall back) is the *earlier* instant. A
/// wall time that does not exist (clocks spring forward over it) is read with the UTC offset in
/// force *before* the transition, so it lands after the gap. `24:00` is midnight of the next day.
pub fn local_to_utc(tz: &Tz, date: NaiveDate, time: u32) -> Option<i64> {
    let (date, time) = if time >= DAY_SECONDS {
        (date.checked_add_days(Days::new(1))?, time - DAY_SECONDS)
    } else {
        (date, time)
    };
    let naive = date.and_hms_opt(time / 3600, time / 60 % 60, time % 60)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => Some(dt.timestamp_micros()),
        chrono::LocalResult::Ambiguous(earlier, _) => Some(earlier.timestamp_micros()),
        chrono::LocalResult::None => {
            let offset = offset_before_gap(tz, naive)?;
            Some((naive.and_utc().timestamp() - i64::from(offset)) * MICROS)
        }
    }
}

/// The UTC offset (seconds east) in force just before the gap that swallows `naive`.
fn offset_before_gap(tz: &Tz, naive: NaiveDateTime) -> Option<i32> {
    // A day earlier the wall clock exists (zones move at most a few hours at a time) and the
    // offset is the one in force before the transition.
    let earlier = naive.checked_sub_days(Days::new(1))?;
    match tz.from_local_datetime(&earlier) {
        chrono::LocalResult::Single(dt) | chrono::LocalResult::Ambiguous(_, dt) => {
            Some(dt.offset().fix().local_minus_utc())
        }
        chrono::LocalResult::None => {
            Some(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc())
        }
    }
}

/// The local date and wall-clock seconds of day of a UTC instant (µs), or `None` when the
/// instant is outside the range of calendar dates (beyond ±262,000 years).
pub fn utc_to_local(tz: &Tz, micros: i64) -> Option<(NaiveDate, u32)> {
    let dt = DateTime::<Utc>::from_timestamp_micros(micros)?.with_timezone(tz);
    let naive = dt.naive_local();
    let secs = naive.time().num_seconds_from_midnight();
    Some((naive.date(), secs))
}

/// Format a UTC instant (µs) as RFC 3339 in UTC, for messages.
pub fn format_utc(micros: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{micros} µs since the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_times_and_ranges() {
        assert_eq!(WallTime::parse("08:30").unwrap().seconds(), 8 * 3600 + 1800);
        assert_eq!(WallTime::parse("24:00").unwrap(), WallTime::END_OF_DAY);
        assert_eq!(WallTime::parse("23:59:59").unwrap().seconds(), 86_399);
        for bad in [
            "24:01",
            "8:00",
            "08:60",
            "ab:cd",
            "",
            "08:00:00:00",
            "25:00",
        ] {
            assert!(WallTime::parse(bad).is_err(), "{bad}");
        }
        let r = TimeRange::parse("22:00-06:00").unwrap();
        assert!(r.is_overnight());
        assert_eq!(r.same_day_part(), (22 * 3600, DAY_SECONDS));
        assert_eq!(r.next_day_part(), Some((0, 6 * 3600)));
        let r = TimeRange::parse("00:00-24:00").unwrap();
        assert!(!r.is_overnight());
        assert_eq!(r.to_string(), "00:00-24:00");
        assert!(TimeRange::parse("24:00-06:00").is_err());
        assert!(TimeRange::parse("0800-1200").is_err());
    }

    #[test]
    fn dst_gap_and_overlap_follow_the_rules() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST. 02:30 does not exist: read with +01:00.
        let t = local_to_utc(&berlin, d("2026-03-29"), 2 * 3600 + 1800).unwrap();
        assert_eq!(format_utc(t), "2026-03-29T01:30:00Z");
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET. 02:30 occurs twice: the earlier wins.
        let t = local_to_utc(&berlin, d("2026-10-25"), 2 * 3600 + 1800).unwrap();
        assert_eq!(format_utc(t), "2026-10-25T00:30:00Z");
        // 24:00 is the next day's midnight.
        let t = local_to_utc(&berlin, d("2026-10-24"), DAY_SECONDS).unwrap();
        assert_eq!(format_utc(t), "2026-10-24T22:00:00Z");
        let sp: Tz = "America/Sao_Paulo".parse().unwrap();
        // 2018-11-04: 00:00 -03 jumped to 01:00 -02; midnight did not exist.
        let t = local_to_utc(&sp, d("2018-11-04"), 0).unwrap();
        assert_eq!(format_utc(t), "2018-11-04T03:00:00Z");
        assert_eq!(utc_to_local(&sp, t).unwrap(), (d("2018-11-04"), 3600));
    }
}
