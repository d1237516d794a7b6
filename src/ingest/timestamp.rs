//! Reading timestamps from exports: a list of formats tried in order, and the time zone of
//! naive values. Naive wall times follow the calendar rules for daylight-saving days (an
//! ambiguous time is the earlier instant; a time in the gap is read with the offset in force
//! before it), so an export and a calendar never disagree about what a wall time means.
//!
//! A value is read by the first format, in the configured order, that both matches it and gives
//! an instant inside the source's window (by default 1970 to 2100): a millisecond epoch does not
//! pass for a date in the year 58136 under `unix`, and `%Y` does not read `26` as the year 26.
//! The order decides ambiguous values (`02/03/2026` under `%d/%m/%Y` and `%m/%d/%Y`), so it is
//! kept whatever the data; speed comes from exact fast paths instead: RFC 3339 and patterns of
//! fixed-width numeric fields are read without chrono's general parser, and anything they do
//! not recognise goes to it. Epochs are read as exact decimals, never through floating point.
//! A second of `60` (a leap second) is the first instant of the next minute.

use chrono::format::{parse, Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike};
use chrono_tz::Tz;

use crate::calendar::{format_utc, local_to_utc};
pub use crate::config::TimestampFormat;

const MICROS: i64 = 1_000_000;

/// The instants a source's timestamps may fall in.
pub use crate::config::TimestampRange as Window;

fn contains(window: &Window, t: i64) -> bool {
    (window.from..window.until).contains(&t)
}

fn describe(window: &Window) -> String {
    let day = |t: i64| format_utc(t).chars().take(10).collect::<String>();
    format!("{} to {}", day(window.from), day(window.until - 1))
}

/// One format, ready to read values.
#[derive(Debug, Clone)]
enum Reader {
    Rfc3339,
    UnixSeconds,
    UnixMillis,
    Pattern {
        items: Vec<Item<'static>>,
        /// The value carries its offset (`%z`).
        offset: bool,
        /// A fixed-width layout of the pattern, when it has one.
        fixed: Option<Fixed>,
    },
}

/// A pattern made only of `%Y`, `%m`, `%d`, `%H`, `%M`, `%S` and literal ASCII characters:
/// each field at a fixed position.
#[derive(Debug, Clone)]
struct Fixed {
    /// Field (`b'Y'`, …) and its byte position; literals with theirs.
    fields: Vec<(u8, usize)>,
    literals: Vec<(u8, usize)>,
    len: usize,
}

impl Fixed {
    fn compile(pattern: &str) -> Option<Fixed> {
        let bytes = pattern.as_bytes();
        let (mut fields, mut literals) = (Vec::new(), Vec::new());
        let (mut i, mut at) = (0, 0);
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let spec = *bytes.get(i + 1)?;
                let width = match spec {
                    b'Y' => 4,
                    b'm' | b'd' | b'H' | b'M' | b'S' => 2,
                    _ => return None,
                };
                fields.push((spec, at));
                at += width;
                i += 2;
            } else if b.is_ascii() && !b.is_ascii_whitespace() && !b.is_ascii_digit() {
                // chrono lets a space in the pattern match any run of spaces: not fixed.
                literals.push((b, at));
                at += 1;
                i += 1;
            } else {
                return None;
            }
        }
        let has = |f: u8| fields.iter().filter(|(s, _)| *s == f).count();
        // Each field once, and a whole date.
        if fields.iter().any(|(f, _)| has(*f) > 1) || has(b'Y') + has(b'm') + has(b'd') != 3 {
            return None;
        }
        Some(Fixed {
            fields,
            literals,
            len: at,
        })
    }

    /// The wall time of `text`, or `None` when it is not exactly in this layout.
    fn read(&self, text: &[u8]) -> Option<(NaiveDate, u32)> {
        if text.len() != self.len || self.literals.iter().any(|&(b, at)| text[at] != b) {
            return None;
        }
        let (mut y, mut mo, mut d, mut h, mut mi, mut s) = (0, 0, 0, 0, 0, 0);
        for &(field, at) in &self.fields {
            let width = if field == b'Y' { 4 } else { 2 };
            let value = digits(&text[at..at + width])?;
            match field {
                b'Y' => y = value,
                b'm' => mo = value,
                b'd' => d = value,
                b'H' => h = value,
                b'M' => mi = value,
                _ => s = value,
            }
        }
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
        Some((date, h * 3600 + mi * 60 + s))
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// RFC 3339 in its usual shape (`2026-03-02T08:15:00.250-03:00`, `Z`, a space for the `T`,
/// `±hhmm`), read without chrono; `None` for anything else, which chrono then reads.
fn rfc3339_fast(t: &[u8]) -> Option<i64> {
    if t.len() < 20 || t[4] != b'-' || t[7] != b'-' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    if t[10] != b'T' && t[10] != b' ' {
        return None;
    }
    let (y, mo, d) = (digits(&t[0..4])?, digits(&t[5..7])?, digits(&t[8..10])?);
    let (h, mi, s) = (
        digits(&t[11..13])?,
        digits(&t[14..16])?,
        digits(&t[17..19])?,
    );
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if t[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < t.len() && t[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        nanos = digits(&t[start..end])? * 10u32.pow(9 - (end - start) as u32);
        i = end;
    }
    let offset = match &t[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = i64::from(oh * 60 + om);
            if *sign == b'-' {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let seconds = date.and_hms_opt(h, mi, s)?.and_utc().timestamp() - offset;
    Some(seconds * MICROS + i64::from(nanos / 1000))
}

/// chrono's RFC 3339 reading, and the two offset layouts it does not take.
fn rfc3339_chrono(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| micros_of(t.timestamp(), t.nanosecond()))
}

/// µs of an instant given as seconds and nanoseconds, where a leap second's nanoseconds (one
/// second or more) carry into the next second.
fn micros_of(seconds: i64, nanos: u32) -> i64 {
    seconds * MICROS + i64::from(nanos / 1000)
}

/// An exact decimal number of `unit`s (`1767225600`, `1767225600.25`) in µs, rounded half up
/// to the µs; `None` for anything else (exponents, spaces inside, overflow).
fn decimal_micros(text: &str, unit: i64) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || text.ends_with('.') {
        return None;
    }
    let mut micros = whole.parse::<i64>().ok()?.checked_mul(unit)?;
    // Each fraction digit down to the µs counts exactly; the next one rounds.
    let mut scale = unit;
    let mut round = false;
    for b in fraction.bytes() {
        if scale == 1 {
            round = b >= b'5';
            break;
        }
        scale /= 10;
        micros = micros.checked_add(i64::from(b - b'0') * scale)?;
    }
    if round {
        micros = micros.checked_add(1)?;
    }
    Some(if negative { -micros } else { micros })
}

impl Reader {
    fn new(format: &TimestampFormat) -> Reader {
        match format {
            TimestampFormat::Rfc3339 => Reader::Rfc3339,
            TimestampFormat::UnixSeconds => Reader::UnixSeconds,
            TimestampFormat::UnixMillis => Reader::UnixMillis,
            TimestampFormat::Pattern(p) => Reader::Pattern {
                // Patterns were checked when the configuration was read.
                items: StrftimeItems::new(p).parse_to_owned().unwrap_or_default(),
                offset: TimestampFormat::has_offset(p),
                fixed: (!TimestampFormat::has_offset(p))
                    .then(|| Fixed::compile(p))
                    .flatten(),
            },
        }
    }

    /// The UTC instant in µs, or `None` when `text` does not match this format.
    fn read(&self, text: &str, tz: &Tz) -> Option<i64> {
        match self {
            Reader::Rfc3339 => rfc3339_fast(text.as_bytes()).or_else(|| rfc3339_chrono(text)),
            Reader::UnixSeconds => decimal_micros(text, MICROS),
            Reader::UnixMillis => decimal_micros(text, 1000),
            Reader::Pattern {
                items,
                offset,
                fixed,
            } => {
                if let Some((date, seconds)) = fixed.as_ref().and_then(|f| f.read(text.as_bytes()))
                {
                    return local_to_utc(tz, date, seconds);
                }
                let mut parsed = Parsed::new();
                parse(&mut parsed, text, items.iter()).ok()?;
                if *offset {
                    let t = parsed.to_datetime().ok()?;
                    return Some(micros_of(t.timestamp(), t.nanosecond()));
                }
                let (date, time) = match parsed.to_naive_datetime_with_offset(0) {
                    Ok(naive) => (naive.date(), naive.time()),
                    Err(_) => (parsed.to_naive_date().ok()?, NaiveTime::MIN),
                };
                let start = local_to_utc(tz, date, time.num_seconds_from_midnight())?;
                Some(start.checked_add(i64::from(time.nanosecond() / 1000))?)
            }
        }
    }
}

/// The formats, zone and window of one source's timestamps.
#[derive(Debug, Clone)]
pub struct TimestampParser {
    formats: Vec<TimestampFormat>,
    readers: Vec<Reader>,
    tz: Tz,
    window: Window,
}

impl TimestampParser {
    /// `formats` are tried in order; an empty list means RFC 3339 only.
    pub fn new(formats: Vec<TimestampFormat>, tz: Tz, window: Window) -> TimestampParser {
        let formats = if formats.is_empty() {
            vec![TimestampFormat::Rfc3339]
        } else {
            formats
        };
        let readers = formats.iter().map(Reader::new).collect();
        TimestampParser {
            formats,
            readers,
            tz,
            window,
        }
    }

    /// The UTC instant in µs of `text` (trimmed), or a reason naming the formats tried.
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        let mut outside = None;
        for reader in &self.readers {
            match reader.read(text, &self.tz) {
                Some(t) if contains(&self.window, t) => return Ok(t),
                Some(t) => {
                    outside.get_or_insert(t);
                }
                None => {}
            }
        }
        Err(match outside {
            Some(t) => format!(
                "timestamp outside {} (read as {})",
                describe(&self.window),
                format_utc(t)
            ),
            None => {
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
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(formats: &[&str], tz: &str) -> TimestampParser {
        TimestampParser::new(
            formats
                .iter()
                .map(|f| TimestampFormat::parse(f).unwrap())
                .collect(),
            tz.parse().unwrap(),
            Window::default(),
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
        // The order decides an ambiguous value, whatever came before.
        let p = parser(&["%d/%m/%Y", "%m/%d/%Y"], "UTC");
        assert_eq!(utc(&p, "13/01/2026"), "2026-01-13T00:00:00Z");
        assert_eq!(utc(&p, "02/03/2026"), "2026-03-02T00:00:00Z");
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
    fn epochs_are_exact_decimals() {
        let p = parser(&["unix"], "UTC");
        assert_eq!(utc(&p, "1767225600.499968"), "2026-01-01T00:00:00.499968Z");
        assert_eq!(utc(&p, "1767225600.0000005"), "2026-01-01T00:00:00.000001Z");
        assert_eq!(utc(&p, "1767225600.0000004"), "2026-01-01T00:00:00Z");
        for bad in ["1.7e9", "17672256 00", "0x10", "1767225600.", ".5", ""] {
            assert!(p.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_outside_the_window_are_refused_and_the_next_format_tried() {
        // A millisecond epoch is not a date in the year 58136.
        let p = parser(&["unix", "unix_ms"], "UTC");
        assert_eq!(utc(&p, "1767225600123"), "2026-01-01T00:00:00.123Z");
        let p = parser(&["unix"], "UTC");
        let err = p.parse("8210298412800").unwrap_err();
        assert!(
            err.starts_with("timestamp outside 1970-01-01 to 2100-12-31 (read as"),
            "{err}"
        );
        // `%Y` reads `26` as the year 26: refused, and `%y` then reads 2026.
        let p = parser(&["%d/%m/%Y", "%d/%m/%y"], "America/Sao_Paulo");
        assert_eq!(utc(&p, "02/03/26"), "2026-03-02T03:00:00Z");
        let p = parser(&["rfc3339"], "UTC");
        assert!(p.parse("0000-01-01T00:00:00Z").is_err());
        assert!(p.parse("1969-12-31T23:59:59Z").is_err());
        assert_eq!(utc(&p, "2100-12-31T23:59:59Z"), "2100-12-31T23:59:59Z");
        assert!(p.parse("2101-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn a_leap_second_is_the_start_of_the_next_minute() {
        let p = parser(&["%Y-%m-%d %H:%M:%S", "rfc3339"], "UTC");
        assert_eq!(utc(&p, "2026-03-02 08:00:60"), "2026-03-02T08:01:00Z");
        assert_eq!(utc(&p, "2026-03-02T08:00:60Z"), "2026-03-02T08:01:00Z");
        assert_eq!(
            utc(&p, "2026-03-02T08:00:60.5Z"),
            "2026-03-02T08:01:00.500Z"
        );
    }

    #[test]
    fn fast_paths_agree_with_chrono() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        for text in [
            "2026-03-02T08:00:00Z",
            "2026-03-02T08:00:00.1Z",
            "2026-03-02T08:00:00.123456789-03:00",
            "2026-03-02 08:00:00+0530",
            "2026-02-29T08:00:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T08:00:00",
            "2026-03-02t08:00:00z",
        ] {
            assert_eq!(
                rfc3339_fast(text.as_bytes()).or_else(|| rfc3339_chrono(text)),
                rfc3339_chrono(text),
                "{text}"
            );
        }
        let fixed = Reader::new(&TimestampFormat::parse("%d/%m/%Y %H:%M:%S").unwrap());
        let general = Reader::Pattern {
            items: StrftimeItems::new("%d/%m/%Y %H:%M:%S")
                .parse_to_owned()
                .unwrap(),
            offset: false,
            fixed: None,
        };
        for text in [
            "02/03/2026 08:00:00",
            "2/3/2026 08:00:00",
            "31/02/2026 08:00:00",
            "02/03/2026  08:00:00",
            "02/03/2026 25:00:00",
        ] {
            assert_eq!(fixed.read(text, &tz), general.read(text, &tz), "{text}");
        }
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
