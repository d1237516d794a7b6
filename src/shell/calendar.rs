//! A calendar day by day, as `kpi calendar show` and the shell's `\cal` print it: each local
//! date's business intervals (wall time), business hours and holiday.

use chrono::NaiveDate;

use crate::calendar::{Calendar, WallTime};

/// Days one listing shows at most, so that a typo in a year does not flood the terminal.
pub const MAX_DAYS: i64 = 3_700;

/// One local date of a calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// The local date.
    pub date: NaiveDate,
    /// `08:00-12:00, 13:00-18:00`, or `-` on a day without business hours.
    pub intervals: String,
    /// Business hours of the day.
    pub hours: f64,
    /// The holiday's name, on a holiday.
    pub holiday: Option<String>,
}

/// Errors of a day listing.
#[derive(Debug, thiserror::Error)]
pub enum DaysError {
    /// The period ends before it starts.
    #[error("the period ends ({to}) before it starts ({from})")]
    Backwards { from: NaiveDate, to: NaiveDate },
    /// The period is longer than [`MAX_DAYS`].
    #[error("{from} to {to} spans more than {MAX_DAYS} days; show a shorter period")]
    TooLong { from: NaiveDate, to: NaiveDate },
}

/// The days from `from` to `to` (both included) of `calendar`.
pub fn days(calendar: &Calendar, from: NaiveDate, to: NaiveDate) -> Result<Vec<Day>, DaysError> {
    if to < from {
        return Err(DaysError::Backwards { from, to });
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(DaysError::TooLong { from, to });
    }
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|date| {
            let day = calendar.day(date);
            let micros: i64 = day.utc.iter().map(|(s, e)| e - s).sum();
            let intervals = day
                .local
                .iter()
                .map(|&(s, e)| format!("{}-{}", wall(s), wall(e)))
                .collect::<Vec<_>>()
                .join(", ");
            Day {
                date,
                intervals: if intervals.is_empty() {
                    "-".to_string()
                } else {
                    intervals
                },
                hours: micros as f64 / 3.6e9,
                holiday: day.holiday,
            }
        })
        .collect())
}

/// A wall-clock time of day, `08:00`.
pub fn wall(seconds: u32) -> String {
    WallTime::from_seconds(seconds)
        .map(|w| w.to_string())
        .unwrap_or_default()
}
