//! `[calendars.NAME]` tables: time zone, weekly hours, validity periods, holidays (built-in
//! sets, explicit dates, files) and partial-day closures.

use std::path::Path;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};
use crate::calendar::holidays::{self, BuiltinSet};
use crate::calendar::{Calendar, Closure, TimeRange, WeeklyHours, WEEKDAYS};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    timezone: Spanned<String>,
    hours: Spanned<RawHours>,
    #[serde(default)]
    periods: Vec<Spanned<RawPeriod>>,
    #[serde(default)]
    holiday_sets: Vec<Spanned<String>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    holiday_files: Vec<Spanned<String>>,
    #[serde(default)]
    closures: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    #[serde(default)]
    mon: Vec<Spanned<String>>,
    #[serde(default)]
    tue: Vec<Spanned<String>>,
    #[serde(default)]
    wed: Vec<Spanned<String>>,
    #[serde(default)]
    thu: Vec<Spanned<String>>,
    #[serde(default)]
    fri: Vec<Spanned<String>>,
    #[serde(default)]
    sat: Vec<Spanned<String>>,
    #[serde(default)]
    sun: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriod {
    from: Spanned<String>,
    hours: Spanned<RawHours>,
}

/// Validate one calendar table into a [`Calendar`].
pub(super) fn build(
    src: &Source<'_>,
    root: &Path,
    name: &str,
    raw: &Spanned<RawCalendar>,
) -> Result<Calendar, ConfigError> {
    let key = |field: &str| format!("calendars.{name}.{field}");
    let raw_span = raw.span();
    let raw = raw.get_ref();
    src.check_name(raw_span.clone(), "calendars", "calendar", name)?;
    let tz = parse_timezone(raw.timezone.get_ref())
        .map_err(|msg| src.invalid(raw.timezone.span(), &key("timezone"), msg))?;
    let hours = weekly_hours(src, &key("hours"), &raw.hours)?;
    let mut calendar = Calendar::new(name, tz, hours);

    for period in &raw.periods {
        let p = period.get_ref();
        let from = parse_date(p.from.get_ref())
            .map_err(|msg| src.invalid(p.from.span(), &key("periods.from"), msg))?;
        calendar = calendar.with_period(from, weekly_hours(src, &key("periods.hours"), &p.hours)?);
    }
    calendar
        .validate()
        .map_err(|e| src.invalid(raw.hours.span(), &key("hours"), e.to_string()))?;

    for set in &raw.holiday_sets {
        let builtin = BuiltinSet::from_name(set.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = BuiltinSet::ALL.iter().map(|(n, _)| *n).collect();
            src.invalid(
                set.span(),
                &key("holiday_sets"),
                format!(
                    "unknown holiday set '{}'; known: {}",
                    set.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        calendar = calendar.with_holiday_set(builtin);
    }
    for entry in &raw.holidays {
        let text = entry.get_ref().trim();
        let (date, label) = text.split_once(' ').unwrap_or((text, ""));
        let date =
            parse_date(date).map_err(|msg| src.invalid(entry.span(), &key("holidays"), msg))?;
        let label = label.trim();
        calendar = calendar.with_holiday(date, if label.is_empty() { "holiday" } else { label });
    }
    for file in &raw.holiday_files {
        let path = root.join(file.get_ref());
        let loaded = holidays::load_holiday_file(&path)
            .map_err(|e| src.invalid(file.span(), &key("holiday_files"), e.to_string()))?;
        for holiday in loaded {
            let label = holiday.name.unwrap_or_else(|| "holiday".to_string());
            calendar = calendar.with_holiday(holiday.date, label);
        }
    }
    for closure in &raw.closures {
        let parsed = Closure::parse(closure.get_ref())
            .map_err(|e| src.invalid(closure.span(), &key("closures"), e.to_string()))?;
        calendar = calendar
            .with_closure(parsed)
            .map_err(|e| src.invalid(closure.span(), &key("closures"), e.to_string()))?;
    }
    Ok(calendar)
}

fn weekly_hours(
    src: &Source<'_>,
    key: &str,
    raw: &Spanned<RawHours>,
) -> Result<WeeklyHours, ConfigError> {
    let h = raw.get_ref();
    let days = [&h.mon, &h.tue, &h.wed, &h.thu, &h.fri, &h.sat, &h.sun];
    let mut ranges: [Vec<TimeRange>; 7] = Default::default();
    for (i, day) in days.iter().enumerate() {
        for text in day.iter() {
            let range = TimeRange::parse(text.get_ref()).map_err(|e| {
                src.invalid(
                    text.span(),
                    &format!("{key}.{}", WEEKDAYS[i]),
                    e.to_string(),
                )
            })?;
            ranges[i].push(range);
        }
    }
    WeeklyHours::new(ranges).map_err(|e| src.invalid(raw.span(), key, e.to_string()))
}

pub(super) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("invalid date '{text}' (expected YYYY-MM-DD)"))
}

/// An IANA zone name, with a suggestion when only the case is wrong.
pub(crate) fn parse_timezone(name: &str) -> Result<Tz, String> {
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    let wanted = name.to_ascii_lowercase().replace(' ', "_");
    let suggestion = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().to_ascii_lowercase() == wanted)
        .or_else(|| {
            let last = wanted.rsplit('/').next().unwrap_or(&wanted).to_string();
            chrono_tz::TZ_VARIANTS.iter().find(|tz| {
                tz.name()
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.to_ascii_lowercase() == last)
            })
        });
    Err(match suggestion {
        Some(tz) => format!("unknown time zone '{name}'; did you mean '{}'?", tz.name()),
        None => format!(
            "unknown time zone '{name}'; use an IANA name such as 'America/Sao_Paulo', 'Europe/Berlin' or 'UTC'"
        ),
    })
}
