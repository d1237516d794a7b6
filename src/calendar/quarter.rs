//! Calendar quarters (`2026-Q2`): parsing, order, arithmetic, and their bounds as UTC instants
//! in a time zone (a quarter starts at local midnight of its first day).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{local_to_utc, CalendarError};

/// A calendar quarter: Q1 is January to March.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    /// `year * 4 + (quarter - 1)`: consecutive quarters are consecutive numbers.
    ordinal: i32,
}

/// Years a quarter may name: wide enough for any help-desk history, narrow enough that every
/// bound is a valid instant.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

impl Quarter {
    /// Quarter `q` (1 to 4) of `year`.
    pub fn new(year: i32, q: u32) -> Option<Quarter> {
        (YEARS.contains(&year) && (1..=4).contains(&q)).then(|| Quarter {
            ordinal: year * 4 + q as i32 - 1,
        })
    }

    /// Parse `2026-Q2` (the `Q` in either case).
    pub fn parse(text: &str) -> Result<Quarter, CalendarError> {
        let bad = || CalendarError::BadQuarter {
            value: text.to_string(),
        };
        let trimmed = text.trim();
        let (year, q) = trimmed.split_once(['-']).ok_or_else(bad)?;
        let q = q.strip_prefix(['Q', 'q']).ok_or_else(bad)?;
        if year.len() != 4 || q.len() != 1 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        Quarter::new(year, q).ok_or_else(bad)
    }

    /// The quarter a date falls in.
    /// The quarter that `instant` falls in, read in `zone`.
    pub fn at(instant: DateTime<Utc>, zone: &Tz) -> Quarter {
        Quarter::containing(instant.with_timezone(zone).date_naive())
    }

    pub fn containing(date: NaiveDate) -> Quarter {
        Quarter {
            ordinal: date.year() * 4 + (date.month0() / 3) as i32,
        }
    }

    pub fn year(self) -> i32 {
        self.ordinal.div_euclid(4)
    }

    /// 1 to 4.
    pub fn number(self) -> u32 {
        self.ordinal.rem_euclid(4) as u32 + 1
    }

    /// The quarter `n` quarters later (earlier when negative).
    pub fn offset(self, n: i32) -> Quarter {
        Quarter {
            ordinal: self.ordinal + n,
        }
    }

    pub fn next(self) -> Quarter {
        self.offset(1)
    }

    pub fn previous(self) -> Quarter {
        self.offset(-1)
    }

    /// Quarters from `self` to `later`, both included (0 when `later` is earlier).
    pub fn count_to(self, later: Quarter) -> u32 {
        u32::try_from(later.ordinal - self.ordinal + 1).unwrap_or(0)
    }

    /// Every quarter from `self` to `last`, both included.
    pub fn through(self, last: Quarter) -> impl Iterator<Item = Quarter> {
        (self.ordinal..=last.ordinal).map(|ordinal| Quarter { ordinal })
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        let month = (self.number() - 1) * 3 + 1;
        NaiveDate::from_ymd_opt(self.year(), month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The first day of the next quarter (the end, exclusive).
    pub fn end_day(self) -> NaiveDate {
        self.next().first_day()
    }

    /// Its half-open bounds `[start, end)` in UTC microseconds: local midnight of its first
    /// day and of the next quarter's first day in `tz`.
    pub fn bounds(self, tz: &Tz) -> (i64, i64) {
        let at = |date| local_to_utc(tz, date, 0).unwrap_or(i64::MIN);
        (at(self.first_day()), at(self.end_day()))
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year(), self.number())
    }
}

impl std::str::FromStr for Quarter {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Quarter, CalendarError> {
        Quarter::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_counts() {
        let q = Quarter::parse("2026-Q2").unwrap();
        assert_eq!((q.year(), q.number()), (2026, 2));
        assert_eq!(q.to_string(), "2026-Q2");
        assert_eq!(
            Quarter::parse("2026-q4").unwrap().next().to_string(),
            "2027-Q1"
        );
        assert_eq!(
            Quarter::parse("2027-Q1").unwrap().previous().to_string(),
            "2026-Q4"
        );
        assert_eq!(q.count_to(Quarter::parse("2027-Q2").unwrap()), 5);
        assert_eq!(q.count_to(q.previous()), 0);
        assert_eq!(q.through(q.offset(2)).count(), 3);
        for bad in [
            "2026-Q5", "2026-Q0", "26-Q1", "2026Q1", "2026-2", "", "2026-Q12",
        ] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_and_bounds() {
        let q = Quarter::parse("2026-Q3").unwrap();
        assert_eq!(q.first_day().to_string(), "2026-07-01");
        assert_eq!(q.end_day().to_string(), "2026-10-01");
        assert_eq!(
            Quarter::containing(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()).to_string(),
            "2026-Q4"
        );
        // São Paulo is UTC-3: the quarter starts at 03:00 UTC.
        let (start, end) = q.bounds(&chrono_tz::America::Sao_Paulo);
        assert_eq!(super::super::format_utc(start), "2026-07-01T03:00:00Z");
        assert_eq!(super::super::format_utc(end), "2026-10-01T03:00:00Z");
        let (start, _) = q.bounds(&chrono_tz::UTC);
        assert_eq!(super::super::format_utc(start), "2026-07-01T00:00:00Z");
    }
}
