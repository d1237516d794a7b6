//! Writing the generator's instants in the three exports' timestamp forms, without going
//! through a format string per value (exports hold tens of millions of timestamps).
//!
//! The simulation's clock ticks in whole minutes, so the minute-precision ticket export states
//! exactly the same instants as the other two.

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, Timelike, Utc};
use chrono_tz::Tz;

/// One minute in µs.
pub const MINUTE: i64 = 60_000_000;
/// One hour in µs.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in µs.
pub const DAY: i64 = 24 * HOUR;

/// `t` rounded down to a whole minute.
pub fn floor_minute(t: i64) -> i64 {
    t.div_euclid(MINUTE) * MINUTE
}

/// `t` rounded up to a whole minute.
pub fn ceil_minute(t: i64) -> i64 {
    floor_minute(t + MINUTE - 1)
}

/// The wall time of `t` in `tz` and the UTC offset in force, in seconds east of UTC.
fn local(tz: &Tz, t: i64) -> (NaiveDateTime, i32) {
    let utc = DateTime::<Utc>::from_timestamp_micros(t).unwrap_or_default();
    let dt = utc.with_timezone(tz);
    (dt.naive_local(), dt.offset().fix().local_minus_utc())
}

fn push2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

fn push_year(out: &mut String, year: i32) {
    if (0..10_000).contains(&year) {
        let y = year as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        out.push_str(&year.to_string());
    }
}

fn push_date_iso(out: &mut String, n: &NaiveDateTime) {
    push_year(out, n.year());
    out.push('-');
    push2(out, n.month());
    out.push('-');
    push2(out, n.day());
}

fn push_hm(out: &mut String, n: &NaiveDateTime) {
    push2(out, n.hour());
    out.push(':');
    push2(out, n.minute());
}

/// `02/03/2026 08:15`: day/month/year and minutes, wall time in `tz`.
pub fn dmy_hm(out: &mut String, tz: &Tz, t: i64) {
    let (n, _) = local(tz, t);
    push2(out, n.day());
    out.push('/');
    push2(out, n.month());
    out.push('/');
    push_year(out, n.year());
    out.push(' ');
    push_hm(out, &n);
}

/// `2026-03-02T08:15:00.000-03:00`: RFC 3339 with milliseconds and the offset of `tz`.
pub fn rfc3339_ms(out: &mut String, tz: &Tz, t: i64) {
    let (n, offset) = local(tz, t);
    push_date_iso(out, &n);
    out.push('T');
    push_hm(out, &n);
    out.push(':');
    push2(out, n.second());
    out.push('.');
    let ms = n.nanosecond() / 1_000_000;
    out.push(char::from(b'0' + (ms / 100 % 10) as u8));
    push2(out, ms % 100);
    out.push(if offset < 0 { '-' } else { '+' });
    let minutes = offset.unsigned_abs() / 60;
    push2(out, minutes / 60);
    out.push(':');
    push2(out, minutes % 60);
}

/// `2026-03-02 11:15:00`: date and time of day in UTC.
pub fn ymd_hms_utc(out: &mut String, t: i64) {
    let (n, _) = local(&Tz::UTC, t);
    push_date_iso(out, &n);
    out.push(' ');
    push_hm(out, &n);
    out.push(':');
    push2(out, n.second());
}

/// `2026-03-02T08:15`: an ISO wall time in `tz`, which the ticket export's pattern does not
/// read (a bad row).
pub fn iso_local_hm(out: &mut String, tz: &Tz, t: i64) {
    let (n, _) = local(tz, t);
    push_date_iso(out, &n);
    out.push('T');
    push_hm(out, &n);
}

/// `02/03/2026 08:15:00`: a day-first wall time in `tz`, which is not RFC 3339 (a bad row).
pub fn dmy_hms(out: &mut String, tz: &Tz, t: i64) {
    dmy_hm(out, tz, t);
    out.push_str(":00");
}

/// `3/2/2026 11:15 AM`: a US-style UTC time, which the audit export's pattern does not read
/// (a bad row).
pub fn us_utc(out: &mut String, t: i64) {
    let (n, _) = local(&Tz::UTC, t);
    let (pm, hour) = n.hour12();
    out.push_str(&format!(
        "{}/{}/{} {}:{:02} {}",
        n.month(),
        n.day(),
        n.year(),
        hour,
        n.minute(),
        if pm { "PM" } else { "AM" }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_772_450_100_000_000; // 2026-03-02T11:15:00Z

    fn with(f: impl Fn(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn the_three_export_forms() {
        let sp: Tz = "America/Sao_Paulo".parse().unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(with(|s| dmy_hm(s, &sp, T)), "02/03/2026 08:15");
        assert_eq!(
            with(|s| rfc3339_ms(s, &sp, T)),
            "2026-03-02T08:15:00.000-03:00"
        );
        assert_eq!(
            with(|s| rfc3339_ms(s, &berlin, T + 123_000)),
            "2026-03-02T12:15:00.123+01:00"
        );
        assert_eq!(with(|s| ymd_hms_utc(s, T)), "2026-03-02 11:15:00");
        assert_eq!(with(|s| iso_local_hm(s, &sp, T)), "2026-03-02T08:15");
        assert_eq!(with(|s| dmy_hms(s, &sp, T)), "02/03/2026 08:15:00");
        assert_eq!(with(|s| us_utc(s, T)), "3/2/2026 11:15 AM");
        // Summer time in Berlin.
        let july = T + 120 * DAY;
        assert!(with(|s| rfc3339_ms(s, &berlin, july)).ends_with("+02:00"));
    }

    #[test]
    fn minutes_round_both_ways() {
        assert_eq!(floor_minute(T + 59_999_999), T);
        assert_eq!(ceil_minute(T + 1), T + MINUTE);
        assert_eq!(ceil_minute(T), T);
        assert_eq!(floor_minute(-1), -MINUTE);
    }
}
