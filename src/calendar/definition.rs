//! The validated definition of one business calendar and the business intervals of a local day.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use chrono_tz::Tz;

use super::holidays::BuiltinSet;
use super::time::{local_to_utc, TimeRange, DAY_SECONDS};
use super::CalendarError;

/// Config names of the weekdays, Monday first (the index used everywhere in this module).
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Working ranges for each weekday, Monday first, checked for overlaps.
///
/// A range whose end is not after its start is an overnight shift: it belongs to the weekday it
/// starts on and its part after midnight lies on the next wall-clock day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours {
    ranges: [Vec<TimeRange>; 7],
    /// Per weekday, the sorted `[start, end)` seconds worked on that wall-clock day, including
    /// the after-midnight part of the previous weekday's overnight shifts.
    segments: [Vec<(u32, u32)>; 7],
}

impl WeeklyHours {
    /// Validate the ranges of each weekday (Monday first): no two may cover the same
    /// wall-clock time, counting the overnight part that spills into the next day.
    pub fn new(ranges: [Vec<TimeRange>; 7]) -> Result<WeeklyHours, CalendarError> {
        let mut labelled: [Vec<((u32, u32), TimeRange)>; 7] = Default::default();
        for (day, day_ranges) in ranges.iter().enumerate() {
            for &range in day_ranges {
                labelled[day].push((range.same_day_part(), range));
                if let Some(part) = range.next_day_part() {
                    labelled[(day + 1) % 7].push((part, range));
                }
            }
        }
        let mut segments: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, parts) in labelled.iter_mut().enumerate() {
            parts.sort_by_key(|(seg, _)| *seg);
            for pair in parts.windows(2) {
                if pair[0].0 .1 > pair[1].0 .0 {
                    return Err(CalendarError::Overlap {
                        day: WEEKDAYS[day].to_string(),
                        first: pair[0].1.to_string(),
                        second: pair[1].1.to_string(),
                    });
                }
            }
            segments[day] = parts.iter().map(|(seg, _)| *seg).collect();
        }
        Ok(WeeklyHours { ranges, segments })
    }

    /// The configured ranges of a weekday (0 = Monday).
    pub fn ranges(&self, weekday: usize) -> &[TimeRange] {
        &self.ranges[weekday % 7]
    }

    /// True when no weekday has working time.
    pub fn is_empty(&self) -> bool {
        self.ranges.iter().all(Vec::is_empty)
    }

    /// Seconds worked on a weekday's wall-clock day under this pattern alone.
    fn segments(&self, weekday: usize) -> &[(u32, u32)] {
        &self.segments[weekday % 7]
    }
}

/// A partial-day closure on a local date: `date` from `range.start` to `range.end` (an overnight
/// range continues into the next date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closure {
    pub date: NaiveDate,
    pub range: TimeRange,
}

impl Closure {
    /// Parse `YYYY-MM-DD HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<Closure, CalendarError> {
        let bad = |reason: &str| CalendarError::BadRange {
            value: text.to_string(),
            reason: reason.to_string(),
        };
        let (date, range) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("expected 'YYYY-MM-DD HH:MM-HH:MM'"))?;
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| bad("expected 'YYYY-MM-DD HH:MM-HH:MM' with a valid date"))?;
        let range = TimeRange::parse(range.trim()).map_err(|e| match e {
            CalendarError::BadTime { .. } | CalendarError::BadRange { .. } => {
                bad("expected 'YYYY-MM-DD HH:MM-HH:MM'")
            }
            other => other,
        })?;
        Ok(Closure { date, range })
    }
}

/// What a local day looks like: its holiday, if any, and its business intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySchedule {
    pub date: NaiveDate,
    /// The holiday's name when the whole day is closed by a holiday.
    pub holiday: Option<String>,
    /// Working `[start, end)` seconds of the wall-clock day, after closures.
    pub local: Vec<(u32, u32)>,
    /// The same intervals as UTC instants (µs), `[start, end)`; empty ones dropped.
    pub utc: Vec<(i64, i64)>,
}

/// A validated business calendar. Build it with [`Calendar::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    name: String,
    tz: Tz,
    hours: WeeklyHours,
    /// Hours in force from a local date on, sorted by date.
    periods: Vec<(NaiveDate, WeeklyHours)>,
    holiday_sets: Vec<BuiltinSet>,
    holidays: BTreeMap<NaiveDate, String>,
    /// Closed `[start, end)` seconds per local date, sorted, non-overlapping.
    closures: BTreeMap<NaiveDate, Vec<(u32, u32)>>,
}

impl Calendar {
    pub fn new(name: impl Into<String>, tz: Tz, hours: WeeklyHours) -> Calendar {
        Calendar {
            name: name.into(),
            tz,
            hours,
            periods: Vec::new(),
            holiday_sets: Vec::new(),
            holidays: BTreeMap::new(),
            closures: BTreeMap::new(),
        }
    }

    /// Use `hours` instead of the base hours from local date `from` on (until a later period).
    pub fn with_period(mut self, from: NaiveDate, hours: WeeklyHours) -> Calendar {
        self.periods.push((from, hours));
        self.periods.sort_by_key(|(from, _)| *from);
        self
    }

    pub fn with_holiday_set(mut self, set: BuiltinSet) -> Calendar {
        if !self.holiday_sets.contains(&set) {
            self.holiday_sets.push(set);
        }
        self
    }

    /// Close a whole local date. A second name for the same date is kept beside the first.
    pub fn with_holiday(mut self, date: NaiveDate, name: impl Into<String>) -> Calendar {
        let name = name.into();
        self.holidays
            .entry(date)
            .and_modify(|existing| {
                if !existing.split(" / ").any(|n| n == name) {
                    existing.push_str(" / ");
                    existing.push_str(&name);
                }
            })
            .or_insert(name);
        self
    }

    /// Add a partial-day closure; closures that overlap on a date are an error.
    pub fn with_closure(mut self, closure: Closure) -> Result<Calendar, CalendarError> {
        let mut parts = vec![(closure.date, closure.range.same_day_part())];
        if let Some(part) = closure.range.next_day_part() {
            if let Some(next) = closure.date.checked_add_days(Days::new(1)) {
                parts.push((next, part));
            }
        }
        for (date, (start, end)) in parts {
            let day = self.closures.entry(date).or_default();
            if let Some(&(s, e)) = day.iter().find(|&&(s, e)| s < end && start < e) {
                return Err(CalendarError::Overlap {
                    day: date.to_string(),
                    first: format!("{date} {}-{}", wall(s), wall(e)),
                    second: format!("{date} {}-{}", wall(start), wall(end)),
                });
            }
            day.push((start, end));
            day.sort_unstable();
        }
        Ok(self)
    }

    /// Fail when no weekday of any period has working hours, or when the overnight shift of
    /// the day before a period starts overlaps the period's first day (the same overlap within
    /// one set of hours is refused by [`WeeklyHours::new`]).
    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.hours.is_empty() && self.periods.iter().all(|(_, h)| h.is_empty()) {
            return Err(CalendarError::NoHours {
                name: self.name.clone(),
            });
        }
        let mut before = &self.hours;
        for (from, hours) in &self.periods {
            let weekday = from.weekday().num_days_from_monday() as usize;
            let mut parts: Vec<((u32, u32), TimeRange)> = before
                .ranges((weekday + 6) % 7)
                .iter()
                .filter_map(|r| r.next_day_part().map(|part| (part, *r)))
                .chain(
                    hours
                        .ranges(weekday)
                        .iter()
                        .map(|r| (r.same_day_part(), *r)),
                )
                .collect();
            parts.sort_by_key(|(part, _)| *part);
            for pair in parts.windows(2) {
                if pair[0].0 .1 > pair[1].0 .0 {
                    return Err(CalendarError::Overlap {
                        day: format!("{from}, the first day of the hours from {from}"),
                        first: pair[0].1.to_string(),
                        second: pair[1].1.to_string(),
                    });
                }
            }
            before = hours;
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The weekly hours in force on a local date.
    pub fn hours_on(&self, date: NaiveDate) -> &WeeklyHours {
        self.periods
            .iter()
            .rev()
            .find(|(from, _)| *from <= date)
            .map_or(&self.hours, |(_, hours)| hours)
    }

    /// The holiday closing a local date, if any: explicit and file holidays first, then the
    /// built-in rule sets.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        if let Some(name) = self.holidays.get(&date) {
            return Some(name);
        }
        self.holiday_sets.iter().find_map(|set| set.holiday(date))
    }

    /// Closed `[start, end)` seconds of a local date (partial-day closures).
    pub fn closures_on(&self, date: NaiveDate) -> &[(u32, u32)] {
        self.closures.get(&date).map_or(&[], Vec::as_slice)
    }

    /// Working `[start, end)` seconds of a local wall-clock day into `out` (cleared first):
    /// the day's own ranges and the after-midnight part of the previous day's overnight
    /// shifts, minus closures; nothing on a holiday.
    pub fn local_segments(&self, date: NaiveDate, out: &mut Vec<(u32, u32)>) {
        out.clear();
        if self.holiday(date).is_some() {
            return;
        }
        let weekday = date.weekday().num_days_from_monday() as usize;
        let today = self.hours_on(date);
        let previous = match date.checked_sub_days(Days::new(1)) {
            Some(prev) => self.hours_on(prev),
            None => today,
        };
        if std::ptr::eq(today, previous) {
            out.extend_from_slice(today.segments(weekday));
        } else {
            // A period starts today: own ranges from today's hours, the overnight spill from
            // yesterday's.
            let spill_of_previous = previous
                .ranges((weekday + 6) % 7)
                .iter()
                .filter_map(|r| r.next_day_part());
            let own = today.ranges(weekday).iter().map(|r| r.same_day_part());
            out.extend(spill_of_previous.chain(own));
            out.sort_unstable();
        }
        if let Some(closed) = self.closures.get(&date) {
            for &cut in closed {
                subtract(out, cut);
            }
        }
    }

    /// Business intervals of a local day as UTC instants (µs) appended to `out`; `scratch` is
    /// a reusable buffer. Intervals that are empty after the DST rules are dropped.
    pub fn day_intervals(
        &self,
        date: NaiveDate,
        scratch: &mut Vec<(u32, u32)>,
        out: &mut Vec<(i64, i64)>,
    ) {
        self.local_segments(date, scratch);
        for &(start, end) in scratch.iter() {
            let (Some(a), Some(b)) = (
                local_to_utc(&self.tz, date, start),
                local_to_utc(&self.tz, date, end),
            ) else {
                continue;
            };
            if a < b {
                out.push((a, b));
            }
        }
    }

    /// Everything about one local day, for display.
    pub fn day(&self, date: NaiveDate) -> DaySchedule {
        let mut local = Vec::new();
        let mut utc = Vec::new();
        self.local_segments(date, &mut local);
        self.day_intervals(date, &mut Vec::new(), &mut utc);
        DaySchedule {
            date,
            holiday: self.holiday(date).map(str::to_string),
            local,
            utc,
        }
    }

    /// All holidays in `[from, to]` with their names, for the `holidays` table and the CLI.
    pub fn holidays_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, String)> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter_map(|d| self.holiday(d).map(|name| (d, name.to_string())))
            .collect()
    }
}

fn wall(seconds: u32) -> String {
    super::time::WallTime::from_seconds(seconds.min(DAY_SECONDS))
        .map(|w| w.to_string())
        .unwrap_or_default()
}

/// Remove `[cut.0, cut.1)` from sorted, non-overlapping segments.
fn subtract(segments: &mut Vec<(u32, u32)>, cut: (u32, u32)) {
    let mut kept = Vec::with_capacity(segments.len() + 1);
    for &(s, e) in segments.iter() {
        if e <= cut.0 || s >= cut.1 {
            kept.push((s, e));
            continue;
        }
        if s < cut.0 {
            kept.push((s, cut.0));
        }
        if e > cut.1 {
            kept.push((cut.1, e));
        }
    }
    *segments = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(spec: &[(usize, &str)]) -> [Vec<TimeRange>; 7] {
        let mut out: [Vec<TimeRange>; 7] = Default::default();
        for &(day, r) in spec {
            out[day].push(TimeRange::parse(r).unwrap());
        }
        out
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn overlapping_ranges_are_rejected_including_overnight_spill() {
        let err = WeeklyHours::new(ranges(&[(0, "08:00-12:00"), (0, "11:00-13:00")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'08:00-12:00' and '11:00-13:00' overlap on mon; working hours and closures must not overlap"
        );
        let err = WeeklyHours::new(ranges(&[(0, "22:00-06:00"), (1, "05:00-10:00")])).unwrap_err();
        assert!(err.to_string().contains("overlap on tue"), "{err}");
        // Touching ranges are fine.
        WeeklyHours::new(ranges(&[(0, "22:00-06:00"), (1, "06:00-10:00")])).unwrap();
    }

    #[test]
    fn an_overnight_shift_may_not_overlap_the_first_day_of_the_next_period() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let sunday_nights = WeeklyHours::new(ranges(&[(6, "22:00-06:00")])).unwrap();
        let monday_mornings = WeeklyHours::new(ranges(&[(0, "05:00-10:00")])).unwrap();
        // 2026-03-02 is a Monday: the Sunday shift before it runs until 06:00 that Monday.
        let cal = Calendar::new("p", tz, sunday_nights.clone())
            .with_period(d("2026-03-02"), monday_mornings);
        let err = cal.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "'22:00-06:00' and '05:00-10:00' overlap on 2026-03-02, the first day of the hours \
             from 2026-03-02; working hours and closures must not overlap"
        );
        // Touching is fine, and so is a period starting on another weekday.
        let touching = WeeklyHours::new(ranges(&[(0, "06:00-10:00")])).unwrap();
        Calendar::new("p", tz, sunday_nights.clone())
            .with_period(d("2026-03-02"), touching)
            .validate()
            .unwrap();
        let tuesday = WeeklyHours::new(ranges(&[(1, "05:00-10:00")])).unwrap();
        Calendar::new("p", tz, sunday_nights)
            .with_period(d("2026-03-03"), tuesday)
            .validate()
            .unwrap();
    }

    #[test]
    fn overnight_shift_into_a_holiday_loses_only_the_part_after_midnight() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let hours = WeeklyHours::new(ranges(&[(0, "22:00-06:00")])).unwrap();
        // 2026-01-05 is a Monday; Tuesday 2026-01-06 is a holiday here.
        let cal = Calendar::new("n", tz, hours).with_holiday(d("2026-01-06"), "x");
        let mut seg = Vec::new();
        cal.local_segments(d("2026-01-05"), &mut seg);
        assert_eq!(seg, vec![(22 * 3600, DAY_SECONDS)]);
        cal.local_segments(d("2026-01-06"), &mut seg);
        assert!(seg.is_empty());
    }

    #[test]
    fn closures_cut_segments_and_may_not_overlap() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let hours = WeeklyHours::new(ranges(&[(3, "08:00-12:00"), (3, "13:00-18:00")])).unwrap();
        let cal = Calendar::new("c", tz, hours)
            .with_closure(Closure::parse("2026-12-24 11:00-24:00").unwrap())
            .unwrap();
        let mut seg = Vec::new();
        cal.local_segments(d("2026-12-24"), &mut seg);
        assert_eq!(seg, vec![(8 * 3600, 11 * 3600)]);
        let err = cal
            .with_closure(Closure::parse("2026-12-24 10:00-12:00").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("overlap on 2026-12-24"), "{err}");
        assert!(Closure::parse("2026-12-24").is_err());
        assert!(Closure::parse("2026-13-24 10:00-12:00").is_err());
    }

    #[test]
    fn periods_switch_hours_on_their_date() {
        let tz: Tz = "UTC".parse().unwrap();
        let old = WeeklyHours::new(ranges(&[(0, "22:00-06:00"), (1, "22:00-06:00")])).unwrap();
        let new = WeeklyHours::new(ranges(&[(1, "09:00-17:00")])).unwrap();
        // From Tuesday 2026-01-06 the new hours hold; Monday night's spill still counts.
        let cal = Calendar::new("p", tz, old).with_period(d("2026-01-06"), new);
        let mut seg = Vec::new();
        cal.local_segments(d("2026-01-06"), &mut seg);
        assert_eq!(seg, vec![(0, 6 * 3600), (9 * 3600, 17 * 3600)]);
        cal.local_segments(d("2026-01-07"), &mut seg);
        assert!(seg.is_empty());
    }
}
