//! iCalendar (`.ics`) holiday files: all-day events, with RFC 5545 line unfolding.

use std::path::Path;

use chrono::NaiveDate;

use super::files::*;

// --- iCalendar -------------------------------------------------------------
//
// Approach: a small hand parser rather than `icalendar::parser`. That parser
// only works on unfolded text and returns no positions, so it cannot report
// the physical line of a DTSTART; mapping its properties back to lines by
// counting DTSTARTs in the raw text is fragile because VTIMEZONE's
// STANDARD/DAYLIGHT sub-components also carry DTSTART (and RRULE) lines. The
// hand parser does RFC 5545 §3.1 unfolding (a line starting with a space or
// tab continues the previous one) while remembering where each logical line
// started, tracks BEGIN/END nesting, and only looks at properties directly
// inside a VEVENT (not in a nested VALARM, nor in VTIMEZONE).

/// One unfolded content line and the physical line (1-based) it started on.
struct LogicalLine {
    line: usize,
    text: String,
}

fn unfold_lines(text: &str) -> Result<Vec<LogicalLine>, (usize, String)> {
    let mut out: Vec<LogicalLine> = Vec::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let line = idx + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            match out.last_mut() {
                Some(prev) => prev.text.push_str(rest),
                None => {
                    return Err((
                        line,
                        "continuation line (starting with a space or tab) with no line before it"
                            .to_owned(),
                    ))
                }
            }
        } else {
            out.push(LogicalLine {
                line,
                text: raw.to_owned(),
            });
        }
    }
    Ok(out)
}

/// A parsed content line: `NAME *(;PARAM=VALUE) : VALUE`.
#[derive(Debug, Clone)]
struct Property {
    line: usize,
    /// Upper-cased.
    name: String,
    /// Names upper-cased, values with surrounding quotes removed.
    params: Vec<(String, String)>,
    value: String,
}

impl Property {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_content_line(line: usize, text: &str) -> Option<Property> {
    // The value starts after the first ':' that is not inside a quoted
    // parameter value.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let head = &text[..colon];
    let value = &text[colon + 1..];

    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts.next()?.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let params = parts
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_ascii_uppercase(), v.to_owned())
        })
        .collect();
    Some(Property {
        line,
        name: name.to_ascii_uppercase(),
        params,
        value: value.to_owned(),
    })
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// Undo RFC 5545 TEXT escaping (`\\`, `\;`, `\,`, `\n`); newlines become
/// spaces since a holiday name is one line.
fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push(' '),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What we keep of a VEVENT while reading it.
#[derive(Default)]
struct EventAcc {
    dtstart: Option<Property>,
    dtend: Option<Property>,
    duration: Option<Property>,
    summary: Option<String>,
    /// Line and description of the first RRULE/RDATE.
    recurrence: Option<(usize, &'static str)>,
    cancelled: bool,
}

/// Parse iCalendar holiday content; `path` is only used in messages.
///
/// Every VEVENT with a DTSTART becomes one holiday per date: all-day events
/// (`DTSTART;VALUE=DATE:20260125` or a bare 8-digit value) cover each date
/// from DTSTART up to but excluding DTEND (one day if DTEND is absent, or
/// `DURATION:PnD` / `PnW`). SUMMARY becomes the name. Events with a time of
/// day, recurrence (RRULE/RDATE) or malformed dates are errors naming the
/// line of the offending property. VEVENTs without DTSTART and events with
/// `STATUS:CANCELLED` are skipped. Each holiday's `line` is that of its
/// event's DTSTART.
pub fn parse_holiday_ics(path: &Path, text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let malformed = |line: usize, message: String| HolidayFileError::IcsMalformed {
        path: path.to_path_buf(),
        line,
        message,
    };
    let lines = unfold_lines(text).map_err(|(line, msg)| malformed(line, msg))?;

    let mut out = Vec::new();
    // Open components: (upper-cased name, line of BEGIN).
    let mut stack: Vec<(String, usize)> = Vec::new();
    // The open VEVENT, if any, with the stack depth at which it is open.
    let mut event: Option<(usize, EventAcc)> = None;
    let mut saw_calendar = false;

    for LogicalLine { line, text } in &lines {
        let line = *line;
        if text.trim().is_empty() {
            continue;
        }
        if stack.is_empty() && !text.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR") {
            return Err(malformed(
                line,
                format!(
                    "expected BEGIN:VCALENDAR, found '{}'; is this an iCalendar file?",
                    snippet(text)
                ),
            ));
        }
        let prop = parse_content_line(line, text).ok_or_else(|| {
            malformed(
                line,
                format!(
                    "malformed line '{}' (expected NAME:VALUE or NAME;PARAM=...:VALUE)",
                    snippet(text)
                ),
            )
        })?;
        match prop.name.as_str() {
            "BEGIN" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                saw_calendar = true;
                if comp == "VEVENT" {
                    if event.is_some() {
                        return Err(malformed(
                            line,
                            "BEGIN:VEVENT inside another VEVENT".to_owned(),
                        ));
                    }
                    event = Some((stack.len() + 1, EventAcc::default()));
                }
                stack.push((comp, line));
            }
            "END" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                match stack.pop() {
                    Some((open, _)) if open == comp => {}
                    Some((open, open_line)) => {
                        let message = format!(
                            "END:{comp} does not match BEGIN:{open} on line {open_line} \
                             (missing END:{open}?)"
                        );
                        return Err(malformed(line, message));
                    }
                    None => {
                        return Err(malformed(
                            line,
                            format!("END:{comp} without a matching BEGIN"),
                        ))
                    }
                }
                if comp == "VEVENT" {
                    if let Some((_, acc)) = event.take() {
                        finish_event(path, acc, &mut out)?;
                    }
                }
            }
            _ => {
                if let Some((depth, acc)) = event.as_mut() {
                    if *depth == stack.len() {
                        add_event_property(acc, prop).map_err(|msg| malformed(line, msg))?;
                    }
                }
            }
        }
    }

    if let Some((open, open_line)) = stack.pop() {
        return Err(malformed(
            open_line,
            format!("BEGIN:{open} is never closed (missing END:{open})"),
        ));
    }
    if !saw_calendar {
        return Err(malformed(
            1,
            "no BEGIN:VCALENDAR found; is this an iCalendar file?".to_owned(),
        ));
    }
    Ok(out)
}

/// At most 60 characters of `text`, for messages.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

fn add_event_property(acc: &mut EventAcc, prop: Property) -> Result<(), String> {
    fn set_once(slot: &mut Option<Property>, prop: Property) -> Result<(), String> {
        if let Some(prev) = slot {
            return Err(format!(
                "event has more than one {} (the first is on line {})",
                prop.name, prev.line
            ));
        }
        *slot = Some(prop);
        Ok(())
    }
    match prop.name.as_str() {
        "DTSTART" => set_once(&mut acc.dtstart, prop)?,
        "DTEND" => set_once(&mut acc.dtend, prop)?,
        "DURATION" => set_once(&mut acc.duration, prop)?,
        "SUMMARY" => {
            acc.summary
                .get_or_insert_with(|| unescape_text(&prop.value).trim().to_owned());
        }
        "RRULE" => {
            acc.recurrence
                .get_or_insert((prop.line, "a recurrence rule (RRULE)"));
        }
        "RDATE" => {
            acc.recurrence
                .get_or_insert((prop.line, "extra recurrence dates (RDATE)"));
        }
        "STATUS" => acc.cancelled = prop.value.trim().eq_ignore_ascii_case("CANCELLED"),
        _ => {}
    }
    Ok(())
}

enum IcsDate {
    Date(NaiveDate),
    Timed,
    Invalid,
}

fn parse_ics_date(prop: &Property) -> IcsDate {
    let value = prop.value.trim();
    let is_date_time = prop
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE-TIME"));
    if is_date_time || value.contains(['T', 't']) {
        return IcsDate::Timed;
    }
    let b = value.as_bytes();
    if b.len() != 8 {
        return IcsDate::Invalid;
    }
    let parsed = (|| {
        let year = i32::try_from(digits(&b[0..4])?).ok()?;
        NaiveDate::from_ymd_opt(year, digits(&b[4..6])?, digits(&b[6..8])?)
    })();
    match parsed {
        Some(date) => IcsDate::Date(date),
        None => IcsDate::Invalid,
    }
}

/// `[+]P<n>D` or `[+]P<n>W` as a number of days; a zero duration, like a DTEND equal to its
/// DTSTART, is read as the one day.
fn parse_day_duration(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    let v = v.strip_prefix(['P', 'p'])?;
    let (num, factor) = if let Some(n) = v.strip_suffix(['D', 'd']) {
        (n, 1)
    } else if let Some(n) = v.strip_suffix(['W', 'w']) {
        (n, 7)
    } else {
        return None;
    };
    let n = i64::from(digits(num.as_bytes())?);
    Some((n * factor).max(1))
}

fn finish_event(
    path: &Path,
    acc: EventAcc,
    out: &mut Vec<FileHoliday>,
) -> Result<(), HolidayFileError> {
    let Some(dtstart) = acc.dtstart else {
        return Ok(());
    };
    if acc.cancelled {
        return Ok(());
    }
    let event = acc.summary.filter(|s| !s.is_empty());
    let path_buf = || path.to_path_buf();

    let date_of = |prop: &Property, property: &'static str| match parse_ics_date(prop) {
        IcsDate::Date(d) => Ok(d),
        IcsDate::Timed => Err(HolidayFileError::IcsTimedEvent {
            path: path_buf(),
            line: prop.line,
            event: event.clone(),
            property,
            value: prop.value.trim().to_owned(),
        }),
        IcsDate::Invalid => Err(HolidayFileError::IcsInvalidDate {
            path: path_buf(),
            line: prop.line,
            property,
            value: prop.value.trim().to_owned(),
        }),
    };

    let start = date_of(&dtstart, "DTSTART")?;
    if let Some((line, what)) = acc.recurrence {
        return Err(HolidayFileError::IcsRecurrence {
            path: path_buf(),
            line,
            event,
            what,
        });
    }

    let (days, end_line) = match (&acc.dtend, &acc.duration) {
        (Some(dtend), Some(_)) => {
            return Err(HolidayFileError::IcsMalformed {
                path: path_buf(),
                line: dtend.line,
                message: format!(
                    "event {} has both DTEND and DURATION; use only one",
                    event_label(&event)
                ),
            })
        }
        (Some(dtend), None) => {
            let end = date_of(dtend, "DTEND")?;
            if end < start {
                return Err(HolidayFileError::IcsEndBeforeStart {
                    path: path_buf(),
                    line: dtend.line,
                    event,
                    start,
                    end,
                });
            }
            // DTEND is exclusive; DTEND == DTSTART (seen in sloppy exports)
            // is read as a single day.
            (
                end.signed_duration_since(start).num_days().max(1),
                dtend.line,
            )
        }
        (None, Some(duration)) => {
            let days = parse_day_duration(&duration.value).ok_or_else(|| {
                HolidayFileError::IcsInvalidDuration {
                    path: path_buf(),
                    line: duration.line,
                    event: event.clone(),
                    value: duration.value.trim().to_owned(),
                }
            })?;
            (days, duration.line)
        }
        (None, None) => (1, dtstart.line),
    };
    if days > MAX_EVENT_DAYS {
        return Err(HolidayFileError::IcsEventTooLong {
            path: path_buf(),
            line: end_line,
            event,
            days,
        });
    }

    let mut date = start;
    for i in 0..days {
        if i > 0 {
            date = date
                .succ_opt()
                .ok_or_else(|| HolidayFileError::IcsMalformed {
                    path: path_buf(),
                    line: end_line,
                    message: format!(
                        "event {} extends past the latest supported date",
                        event_label(&event)
                    ),
                })?;
        }
        out.push(FileHoliday {
            date,
            name: event.clone(),
            line: dtstart.line,
        });
    }
    Ok(())
}
