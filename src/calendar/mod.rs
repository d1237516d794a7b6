//! Business calendars: weekly working hours in an IANA time zone, holidays, partial-day
//! closures and validity periods, and the precomputed index that answers business-time
//! questions in O(1).
//!
//! This module owns the semantics of business time (README, "Business-time rules"). It knows
//! nothing of DataFusion or of the configuration file: the SQL functions and `kpi.toml` are
//! thin layers over [`Calendar`], [`BusinessIndex`] and [`CalendarRegistry`].

mod definition;
pub mod holidays;
mod index;
mod kernel;
mod quarter;
mod registry;
mod time;
mod walk;

#[cfg(test)]
mod tests;

pub use definition::{Calendar, Closure, DaySchedule, WeeklyHours, WEEKDAYS};
pub use holidays::BuiltinSet;
pub use index::BusinessIndex;
pub use kernel::Unit;
pub use quarter::Quarter;
pub use registry::CalendarRegistry;
pub use time::{format_utc, local_to_utc, utc_to_local, TimeRange, WallTime, DAY_SECONDS, MICROS};

/// Errors in defining or using a business calendar.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    /// A quarter that is not `YYYY-QN`.
    #[error("invalid quarter '{value}' (expected YYYY-QN, e.g. 2026-Q2)")]
    BadQuarter { value: String },
    /// A time of day that is not `HH:MM`, `HH:MM:SS` or `24:00`.
    #[error("invalid time '{value}' (expected HH:MM between 00:00 and 24:00)")]
    BadTime { value: String },
    /// A time range that is not `HH:MM-HH:MM`.
    #[error("invalid time range '{value}': {reason}")]
    BadRange { value: String, reason: String },
    /// Two working ranges (or two closures) cover the same wall-clock time.
    #[error(
        "'{first}' and '{second}' overlap on {day}; working hours and closures must not overlap"
    )]
    Overlap {
        day: String,
        first: String,
        second: String,
    },
    /// A calendar with no working hours on any day.
    #[error("calendar '{name}' has no working hours on any day")]
    NoHours { name: String },
    /// The SQL or CLI named a calendar that is not defined.
    #[error("unknown calendar '{name}'; known: {known}")]
    Unknown { name: String, known: String },
    /// No calendar argument was given and the workspace sets no `default_calendar`.
    #[error("no calendar given and no default_calendar set in kpi.toml; pass a calendar name as the last argument (known: {known})")]
    NoDefault { known: String },
    /// An instant outside the range of calendar dates (about ±262,000 years).
    #[error("instant {micros} µs since the epoch is outside the supported range of dates")]
    OutOfRange { micros: i64 },
    /// A forward or backward search found no business time within its bound.
    #[error("calendar '{name}' has no business time within {years} years {direction} {from}")]
    NoBusinessTime {
        name: String,
        years: u32,
        direction: &'static str,
        from: String,
    },
    /// Arithmetic overflow in an addition of business time.
    #[error("business_add overflows: {from} plus {seconds} s of business time is beyond the supported range")]
    Overflow { from: String, seconds: String },
}
