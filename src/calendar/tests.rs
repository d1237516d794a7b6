//! The index against a brute-force oracle, and the business-time rules on hand-checked cases.
//!
//! The oracle knows only the definition: an instant is business time when it falls inside one
//! of the UTC intervals that some local day's working hours (after holidays and closures)
//! convert to. It steps minute by minute; it shares none of the index's merging, cumulative
//! sums, buckets or day walking.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;

const MIN: i64 = 60 * MICROS;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Every local day's intervals touching `[from, to)`, unmerged.
fn oracle_intervals(cal: &Calendar, from: i64, to: i64) -> Vec<(i64, i64)> {
    let tz = cal.timezone();
    let first = utc_to_local(&tz, from).unwrap().0 - Days::new(2);
    let last = utc_to_local(&tz, to).unwrap().0 + Days::new(2);
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for day in first.iter_days().take_while(|day| *day <= last) {
        cal.day_intervals(day, &mut scratch, &mut out);
    }
    out
}

fn oracle_business(intervals: &[(i64, i64)], t: i64) -> bool {
    intervals.iter().any(|&(s, e)| s <= t && t < e)
}

/// Business µs in `[a, b)` (minute-aligned, `a <= b`) by stepping minutes.
fn oracle_seconds(cal: &Calendar, a: i64, b: i64) -> i64 {
    let iv = oracle_intervals(cal, a, b);
    (0..(b - a) / MIN)
        .filter(|m| oracle_business(&iv, a + m * MIN))
        .count() as i64
        * MIN
}

/// `business_add` by stepping minutes; `amount` is a whole number of minutes. `None` when the
/// answer lies more than 60 days away (the stepping would take too long).
fn oracle_add(cal: &Calendar, t: i64, amount: i64) -> Option<i64> {
    let reach = 60 * 86_400 * MICROS;
    let iv = oracle_intervals(cal, t - reach, t + reach);
    let minutes = amount / MIN;
    let mut left = minutes.abs();
    let mut m = t;
    while (m - t).abs() < reach {
        if minutes == 0 {
            if oracle_business(&iv, m) {
                return Some(m);
            }
            m += MIN;
        } else if minutes > 0 {
            if oracle_business(&iv, m) {
                left -= 1;
            }
            m += MIN;
        } else {
            m -= MIN;
            if oracle_business(&iv, m) {
                left -= 1;
            }
        }
        if minutes != 0 && left == 0 {
            return Some(m);
        }
    }
    None
}

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
];

/// A random calendar: ranges on a 15-minute grid (overnight ones too), dropped where they
/// would overlap; some holidays, closures and a period change.
fn arb_calendar() -> impl Strategy<Value = Calendar> {
    arb_calendar_on(900)
}

/// [`arb_calendar`] with ranges and closures on a grid of `grid` seconds (a divisor of a day).
fn arb_calendar_on(grid: u32) -> impl Strategy<Value = Calendar> {
    let steps = DAY_SECONDS / grid;
    let range = (0u32..steps, 0u32..=steps).prop_map(move |(a, b)| (a * grid, b * grid));
    (
        0..ZONES.len(),
        proptest::collection::vec((0usize..7, range.clone()), 1..10),
        proptest::collection::vec(0u64..2000, 0..12),
        proptest::collection::vec((0u64..2000, 0u32..steps - 1, 1u32..20), 0..8),
        any::<bool>(),
        proptest::option::of((0u64..2000, 0usize..7, range)),
    )
        .prop_map(move |(zone, ranges, holidays, closures, br, period)| {
            let tz: Tz = ZONES[zone].parse().unwrap();
            let base = d("2016-01-01");
            let build = |ranges: &[(usize, (u32, u32))]| {
                let mut days: [Vec<TimeRange>; 7] = Default::default();
                for &(day, (a, b)) in ranges {
                    let range = TimeRange {
                        start: WallTime::from_seconds(a).unwrap(),
                        end: WallTime::from_seconds(b).unwrap(),
                    };
                    days[day].push(range);
                    if WeeklyHours::new(days.clone()).is_err() {
                        days[day].pop();
                    }
                }
                WeeklyHours::new(days).unwrap()
            };
            let mut cal = Calendar::new("random", tz, build(&ranges));
            if let Some((offset, day, r)) = period {
                cal = cal.with_period(base + Days::new(offset), build(&[(day, r)]));
            }
            for h in holidays {
                cal = cal.with_holiday(base + Days::new(h), "h");
            }
            for (day, start, len) in closures {
                let start = start * grid;
                let end = (start + len * grid).min(DAY_SECONDS);
                let closure = Closure {
                    date: base + Days::new(day),
                    range: TimeRange {
                        start: WallTime::from_seconds(start).unwrap(),
                        end: WallTime::from_seconds(end).unwrap(),
                    },
                };
                if let Ok(next) = cal.clone().with_closure(closure) {
                    cal = next;
                }
            }
            if br {
                cal = cal.with_holiday_set(BuiltinSet::Br);
            }
            cal
        })
}

/// A minute-aligned instant in 2016–2021 (which includes the last Brazilian DST years).
fn arb_instant() -> impl Strategy<Value = i64> {
    let lo = 1_451_606_400i64 / 60; // 2016-01-01
    (lo..lo + 6 * 365 * 1440).prop_map(|m| m * MIN)
}

fn small_index(cal: Calendar) -> BusinessIndex {
    // A one-year window, so that random spans also cross its edges and the walking paths.
    BusinessIndex::build(Arc::new(cal), 2018, 2019).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn seconds_match_the_oracle(
        cal in arb_calendar(),
        a in arb_instant(),
        len in 0i64..(6 * 1440),
        backwards in any::<bool>(),
    ) {
        let b = a + len * MIN;
        let expected = oracle_seconds(&cal, a, b);
        let index = small_index(cal);
        let (x, y) = if backwards { (b, a) } else { (a, b) };
        let sign = if backwards { -1 } else { 1 };
        prop_assert_eq!(index.business_micros(x, y).unwrap(), sign * expected);
    }

    #[test]
    fn add_is_the_inverse_and_matches_the_oracle(
        cal in arb_calendar(),
        t in arb_instant(),
        minutes in -3000i64..3000,
    ) {
        let expected = oracle_add(&cal, t, minutes * MIN);
        prop_assume!(expected.is_some());
        let expected = expected.unwrap();
        let index = small_index(cal);
        let got = index.add(t, minutes * MIN).unwrap();
        prop_assert_eq!(got, expected, "add({}, {} min)", format_utc(t), minutes);
        if minutes > 0 {
            prop_assert_eq!(index.business_micros(t, got).unwrap(), minutes * MIN);
        }
    }

    #[test]
    fn membership_and_next_open_match_the_oracle(cal in arb_calendar(), t in arb_instant()) {
        let iv = oracle_intervals(&cal, t, t + MIN);
        let index = small_index(cal.clone());
        prop_assert_eq!(index.is_business(t).unwrap(), oracle_business(&iv, t));
        if let Some(expected) = oracle_add(&cal, t, 0) {
            prop_assert_eq!(index.next_open(t).unwrap(), expected);
        }
    }

    /// The column kernel, vectorised or not, agrees with the index row by row, in both units,
    /// on instants with microseconds and on spans that leave the window. Calendars on an
    /// hourly grid mostly fit the vectorised kernel's table; those on a 15-minute grid often
    /// do not and take the scalar loop.
    #[test]
    fn the_column_kernel_matches_the_index(
        cal in prop_oneof![arb_calendar_on(3600), arb_calendar()],
        rows in proptest::collection::vec(
            (arb_instant(), 0i64..MIN, -3000i64..30_000, 0i64..MIN), 1..48),
    ) {
        let index = small_index(cal);
        let (lo, hi) = index.window();
        let a: Vec<i64> = rows.iter().map(|r| r.0 + r.1).collect();
        let b: Vec<i64> = rows.iter().map(|r| r.0 + r.2 * MIN + r.3).collect();
        let inside = |t: i64| (lo..=hi).contains(&t);
        let any_outside = a.iter().chain(&b).any(|&t| !inside(t));
        for unit in [Unit::Micros, Unit::Seconds] {
            let mut out = vec![0; a.len()];
            let mut plain = vec![0; a.len()];
            let outside = index.spans_into(&a, &b, unit, &mut out);
            prop_assert_eq!(outside, any_outside);
            if let Some(plain_outside) = index.compact_spans_plain(&a, &b, unit, &mut plain) {
                prop_assert_eq!(plain_outside, any_outside);
            }
            for i in 0..a.len() {
                if !(inside(a[i]) && inside(b[i])) {
                    continue;
                }
                let micros = index.business_micros(a[i], b[i]).unwrap();
                let expected = match unit {
                    Unit::Micros => micros,
                    Unit::Seconds => micros / MICROS,
                };
                prop_assert_eq!(out[i], expected, "row {} {:?}", i, unit);
                if index.has_compact_table() {
                    prop_assert_eq!(plain[i], expected, "row {} {:?} (plain)", i, unit);
                }
            }
        }
    }

    #[test]
    fn long_spans_are_additive_and_antisymmetric(
        cal in arb_calendar(),
        a in arb_instant(),
        b in arb_instant(),
        c in arb_instant(),
    ) {
        let index = small_index(cal.clone());
        let wide = BusinessIndex::build(Arc::new(cal), 2010, 2030).unwrap();
        let ab = index.business_micros(a, b).unwrap();
        prop_assert_eq!(ab, -index.business_micros(b, a).unwrap());
        prop_assert_eq!(ab + index.business_micros(b, c).unwrap(), index.business_micros(a, c).unwrap());
        prop_assert_eq!(ab, wide.business_micros(a, b).unwrap());
        prop_assert_eq!(index.add(a, 3_600 * MICROS).unwrap(), wide.add(a, 3_600 * MICROS).unwrap());
    }
}

fn berlin_office() -> Calendar {
    let mut days: [Vec<TimeRange>; 7] = Default::default();
    for day in days.iter_mut().take(5) {
        day.push(TimeRange::parse("08:00-12:00").unwrap());
        day.push(TimeRange::parse("13:00-18:00").unwrap());
    }
    days[6].push(TimeRange::parse("00:00-24:00").unwrap());
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    Calendar::new("berlin", tz, WeeklyHours::new(days).unwrap())
}

fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

#[test]
fn dst_sundays_are_shorter_and_longer_in_real_time() {
    let index = BusinessIndex::build(Arc::new(berlin_office()), 2026, 2027).unwrap();
    let hours = |a: &str, b: &str| index.business_micros(at(a), at(b)).unwrap() as f64 / 3.6e9;
    // 2026-03-29 (spring forward): the 24-hour Sunday has 23 real hours.
    assert_eq!(hours("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"), 23.0);
    // 2026-10-25 (fall back): 25 real hours.
    assert_eq!(hours("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"), 25.0);
    // A Monday is 9 hours, whatever the season.
    assert_eq!(hours("2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"), 9.0);
    assert_eq!(hours("2026-10-26T00:00:00Z", "2026-10-27T00:00:00Z"), 9.0);
}

/// The vectorised kernel's table exists for usual office calendars, over decades, and not for
/// a calendar with a break shorter than its 2048-second buckets.
#[test]
fn office_calendars_fit_the_vectorised_kernel() {
    let index = BusinessIndex::build(Arc::new(berlin_office()), 2000, 2040).unwrap();
    assert!(index.has_compact_table());
    let (a, b) = (at("2026-03-27T07:00:00Z"), at("2026-03-31T07:00:00.5Z"));
    let mut out = [0i64];
    assert!(!index.spans_into(&[a], &[b], Unit::Seconds, &mut out));
    assert_eq!(out[0], index.business_micros(a, b).unwrap() / MICROS);

    let mut days: [Vec<TimeRange>; 7] = Default::default();
    days[0].push(TimeRange::parse("08:00-10:00").unwrap());
    days[0].push(TimeRange::parse("10:15-12:00").unwrap());
    let tz: Tz = "UTC".parse().unwrap();
    let cal = Calendar::new("short-break", tz, WeeklyHours::new(days).unwrap());
    let index = BusinessIndex::build(Arc::new(cal), 2026, 2027).unwrap();
    assert!(!index.has_compact_table());
    assert!(!index.spans_into(&[a], &[b], Unit::Seconds, &mut out));
    assert_eq!(out[0], 3 * 3600 + 45 * 60);
}

#[test]
fn far_instants_are_exact_and_never_panic() {
    let cal = Arc::new(berlin_office());
    let index = BusinessIndex::build(Arc::clone(&cal), 2026, 2027).unwrap();
    // A week in 1850 and in 2950: 5 x 9 + 24 hours (no DST rules then, or not known).
    let week = |start: &str, end: &str| index.business_micros(at(start), at(end)).unwrap();
    assert_eq!(
        week("1850-01-06T23:00:00Z", "1850-01-13T23:00:00Z"),
        69 * 3_600 * MICROS
    );
    let w = week("2950-01-05T00:00:00Z", "2950-01-12T00:00:00Z");
    assert_eq!(w, 69 * 3_600 * MICROS);
    let t = at("2950-01-05T00:00:00Z");
    assert_eq!(
        index.business_micros(t, index.add(t, w).unwrap()).unwrap(),
        w
    );
    assert!(index.business_micros(i64::MIN, 0).is_err());
    assert!(index.next_open(i64::MAX).is_err());
}

#[test]
fn a_calendar_without_future_business_time_is_an_error_not_a_loop() {
    let mut days: [Vec<TimeRange>; 7] = Default::default();
    days[0].push(TimeRange::parse("09:00-17:00").unwrap());
    let tz: Tz = "UTC".parse().unwrap();
    let cal = Calendar::new("ending", tz, WeeklyHours::new(days).unwrap()).with_period(
        d("2027-01-01"),
        WeeklyHours::new(Default::default()).unwrap(),
    );
    let index = BusinessIndex::build(Arc::new(cal), 2026, 2028).unwrap();
    let err = index
        .add(at("2026-12-31T00:00:00Z"), 3_600 * MICROS)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no business time within 10 years after"),
        "{err}"
    );
}
