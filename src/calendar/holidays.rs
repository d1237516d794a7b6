//! Holiday sources for business calendars: the built-in, rule-based holiday
//! sets (`BR`, `BR-optional`) and user-supplied holiday files (`.csv`, `.ics`).
//!
//! This module only answers "which calendar dates are holidays, and what are
//! they called". It knows nothing of time zones, business hours or SQL: a
//! holiday here is a whole civil date, and it is up to the calendar code to
//! turn it into closed intervals in some time zone.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, Weekday};

// ---------------------------------------------------------------------------
// Built-in rule sets
// ---------------------------------------------------------------------------

/// A built-in, rule-based holiday set, computed for any year (no hard-coded
/// table of dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinSet {
    /// Brazil's national public holidays (feriados nacionais), including the
    /// movable Good Friday.
    Br,
    /// Brazil's nationwide optional days off (pontos facultativos) that most
    /// businesses observe: Carnaval Monday and Tuesday, and Corpus Christi.
    BrOptional,
}

impl BuiltinSet {
    /// All sets with their config names.
    pub const ALL: [(&'static str, BuiltinSet); 2] = [
        ("BR", BuiltinSet::Br),
        ("BR-optional", BuiltinSet::BrOptional),
    ];

    /// Parse a config name, exact match, e.g. `"BR"`, `"BR-optional"`.
    /// `None` if unknown.
    pub fn from_name(name: &str) -> Option<BuiltinSet> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, set)| *set)
    }

    /// The config name of this set.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinSet::Br => "BR",
            BuiltinSet::BrOptional => "BR-optional",
        }
    }

    /// The holiday's name if `date` is a holiday of this set.
    ///
    /// Cheap enough to call once per day over decades: no allocation, and
    /// Easter is only computed when the month and weekday could match a
    /// movable holiday. When a movable and a fixed holiday fall on the same
    /// date (e.g. Good Friday on 21 April 2000), the fixed one's name wins.
    pub fn holiday(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            BuiltinSet::Br => br_holiday(date),
            BuiltinSet::BrOptional => br_optional_holiday(date),
        }
    }
}

/// Days from Easter Sunday to `date`, or `None` if Easter cannot be computed.
fn days_from_easter(date: NaiveDate) -> Option<i64> {
    let easter = easter_sunday(date.year())?;
    Some(date.signed_duration_since(easter).num_days())
}

fn br_holiday(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some("Confraternização Universal"),
        (4, 21) => Some("Tiradentes"),
        (5, 1) => Some("Dia do Trabalho"),
        (9, 7) => Some("Independência do Brasil"),
        // Lei 6.802/1980.
        (10, 12) if year >= 1980 => Some("Nossa Senhora Aparecida"),
        (11, 2) => Some("Finados"),
        (11, 15) => Some("Proclamação da República"),
        // Lei 14.759/2023, national from 2024 on.
        (11, 20) if year >= 2024 => Some("Dia Nacional de Zumbi e da Consciência Negra"),
        (12, 25) => Some("Natal"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Good Friday (Easter - 2) falls between 20 March and 23 April.
    if matches!(date.month(), 3 | 4)
        && date.weekday() == Weekday::Fri
        && days_from_easter(date) == Some(-2)
    {
        return Some("Paixão de Cristo");
    }
    None
}

fn br_optional_holiday(date: NaiveDate) -> Option<&'static str> {
    // Carnaval (Easter - 48 / - 47) falls between 2 February and 9 March;
    // Corpus Christi (Easter + 60) between 21 May and 24 June.
    let candidate = match date.month() {
        2 | 3 => matches!(date.weekday(), Weekday::Mon | Weekday::Tue),
        5 | 6 => date.weekday() == Weekday::Thu,
        _ => false,
    };
    if !candidate {
        return None;
    }
    match days_from_easter(date)? {
        -48 => Some("Carnaval (segunda-feira)"),
        -47 => Some("Carnaval (terça-feira)"),
        60 => Some("Corpus Christi"),
        _ => None,
    }
}

/// Easter Sunday (Gregorian, anonymous Gregorian / Meeus-Jones-Butcher
/// algorithm). `None` only if the date is out of chrono's range.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    // i64 and Euclidean division: no overflow and well-defined for any i32
    // (including proleptic negative years).
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).ok()?;
    let day = u32::try_from(n.rem_euclid(31) + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

// ---------------------------------------------------------------------------
// Holiday files
// ---------------------------------------------------------------------------

/// One holiday read from a file: date plus optional name, and the 1-based
/// line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHoliday {
    pub date: NaiveDate,
    pub name: Option<String>,
    pub line: usize,
}

/// The longest all-day event accepted from an `.ics` file, in days. Anything
/// longer is almost certainly a typo in DTEND/DURATION.
const MAX_EVENT_DAYS: i64 = 366;

/// Errors reading or parsing a holiday file. Every message names the file
/// and, where known, the 1-based line.
#[derive(Debug, thiserror::Error)]
pub enum HolidayFileError {
    /// The file could not be read (missing, permissions, ...).
    #[error("cannot read holiday file '{path}': {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The file is not valid UTF-8.
    #[error("holiday file '{path}' is not valid UTF-8 (first bad byte on line {line}); save it as UTF-8")]
    NotUtf8 { path: PathBuf, line: usize },

    /// The file's extension is not one of the supported formats.
    #[error("unsupported holiday file '{path}': the extension must be one of .csv, .ics")]
    UnsupportedExtension { path: PathBuf },

    /// The CSV reader rejected a line.
    #[error("{path}:{line}: malformed CSV line: {message}")]
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A CSV row has more than the two cells `date,name`.
    #[error("{path}:{line}: expected at most 2 cells (date,name), found {count}; quote names that contain commas")]
    CsvTooManyCells {
        path: PathBuf,
        line: usize,
        count: usize,
    },

    /// A CSV row has an empty date cell.
    #[error("{path}:{line}: missing date (expected YYYY-MM-DD in the first cell)")]
    CsvMissingDate { path: PathBuf, line: usize },

    /// A CSV date cell is not a valid `YYYY-MM-DD` date.
    #[error("{path}:{line}: invalid date '{value}' (expected YYYY-MM-DD)")]
    CsvInvalidDate {
        path: PathBuf,
        line: usize,
        value: String,
    },

    /// The `.ics` file is structurally broken (unbalanced BEGIN/END, a line
    /// without `NAME:VALUE`, content outside VCALENDAR, ...).
    #[error("{path}:{line}: {message}")]
    IcsMalformed {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A DTSTART/DTEND value is not a valid `YYYYMMDD` date.
    #[error("{path}:{line}: invalid date '{value}' in {property} (expected YYYYMMDD, e.g. DTSTART;VALUE=DATE:20260125)")]
    IcsInvalidDate {
        path: PathBuf,
        line: usize,
        property: &'static str,
        value: String,
    },

    /// An event starts or ends at a time of day rather than on a whole date.
    #[error("{path}:{line}: event {} has a time of day in {property} ('{value}'); holiday files hold whole days only, put partial-day closures in `closures` in kpi.toml", event_label(.event))]
    IcsTimedEvent {
        path: PathBuf,
        line: usize,
        event: Option<String>,
        property: &'static str,
        value: String,
    },

    /// An event recurs (RRULE or RDATE).
    #[error("{path}:{line}: event {} has {what}; recurring events are not supported in holiday files, list each date", event_label(.event))]
    IcsRecurrence {
        path: PathBuf,
        line: usize,
        event: Option<String>,
        what: &'static str,
    },

    /// A DURATION that is not a positive whole number of days or weeks.
    #[error("{path}:{line}: event {} has an unsupported DURATION '{value}' (all-day events need whole days or weeks, e.g. P1D or P1W)", event_label(.event))]
    IcsInvalidDuration {
        path: PathBuf,
        line: usize,
        event: Option<String>,
        value: String,
    },

    /// An event's DTEND is before its DTSTART.
    #[error("{path}:{line}: event {} ends ({end}) before it starts ({start}); check DTEND", event_label(.event))]
    IcsEndBeforeStart {
        path: PathBuf,
        line: usize,
        event: Option<String>,
        start: NaiveDate,
        end: NaiveDate,
    },

    /// An event spans implausibly many days.
    #[error("{path}:{line}: event {} spans {days} days (at most {max} allowed); check DTEND or DURATION", event_label(.event), max = MAX_EVENT_DAYS)]
    IcsEventTooLong {
        path: PathBuf,
        line: usize,
        event: Option<String>,
        days: i64,
    },
}

fn event_label(event: &Option<String>) -> String {
    match event {
        Some(name) => format!("'{name}'"),
        None => "(no SUMMARY)".to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Csv,
    Ics,
}

impl FileKind {
    fn from_path(path: &Path) -> Result<FileKind, HolidayFileError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("csv") {
            Ok(FileKind::Csv)
        } else if ext.eq_ignore_ascii_case("ics") {
            Ok(FileKind::Ics)
        } else {
            Err(HolidayFileError::UnsupportedExtension {
                path: path.to_path_buf(),
            })
        }
    }
}

/// Load a holiday file: `.csv` or `.ics`, dispatching on the extension
/// (case-insensitive). See [`parse_holiday_csv`] and [`parse_holiday_ics`]
/// for the formats.
pub fn load_holiday_file(path: &Path) -> Result<Vec<FileHoliday>, HolidayFileError> {
    // Check the extension first so the error does not depend on the file
    // existing.
    FileKind::from_path(path)?;
    let bytes = std::fs::read(path).map_err(|source| HolidayFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            return Err(HolidayFileError::NotUtf8 {
                path: path.to_path_buf(),
                line,
            });
        }
    };
    parse_holiday_file(path, &text)
}

/// Parse in-memory holiday file content, picking the format from `path`'s
/// extension exactly like [`load_holiday_file`]; `path` is otherwise only
/// used in messages.
pub fn parse_holiday_file(path: &Path, text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
    match FileKind::from_path(path)? {
        FileKind::Csv => parse_holiday_csv(path, text),
        FileKind::Ics => parse_holiday_ics(path, text),
    }
}

// --- CSV -------------------------------------------------------------------

/// Parse CSV holiday content; `path` is only used in messages.
///
/// Columns `date[,name]`; an optional header row whose first cell is `date`
/// (case-insensitive); dates `YYYY-MM-DD`; blank lines and lines starting
/// with `#` ignored; a UTF-8 BOM and CRLF line endings are tolerated. Cells
/// are trimmed; an empty name becomes `None`. Quoted cells (for names with
/// commas) must close on the same line.
///
/// Lines are split here and each one is handed to the `csv` crate for the
/// cell syntax: its `Position` line/byte counts are off after skipped
/// comment/blank lines and with CRLF, and messages must name the exact line.
pub fn parse_holiday_csv(path: &Path, text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'));

    let mut out = Vec::new();
    let mut seen_row = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut reader = builder.from_reader(raw.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(record)) => record,
            Some(Err(e)) => {
                return Err(HolidayFileError::Csv {
                    path: path.to_path_buf(),
                    line,
                    message: e.to_string(),
                })
            }
            None => continue,
        };
        let first = record.get(0).unwrap_or("").trim();
        if !seen_row {
            seen_row = true;
            if first.eq_ignore_ascii_case("date") {
                continue;
            }
        }
        if record.len() > 2 {
            return Err(HolidayFileError::CsvTooManyCells {
                path: path.to_path_buf(),
                line,
                count: record.len(),
            });
        }
        if first.is_empty() {
            return Err(HolidayFileError::CsvMissingDate {
                path: path.to_path_buf(),
                line,
            });
        }
        let date = parse_iso_date(first).ok_or_else(|| HolidayFileError::CsvInvalidDate {
            path: path.to_path_buf(),
            line,
            value: first.to_owned(),
        })?;
        let name = record
            .get(1)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        out.push(FileHoliday { date, name, line });
    }
    Ok(out)
}

/// Strict `YYYY-MM-DD` (exactly four-digit year, two-digit month and day).
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// Parse a run of ASCII digits (at most 8, so no overflow).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

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

/// `[+]P<n>D` or `[+]P<n>W` with n >= 1, as a number of days.
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
    (n >= 1).then_some(n * factor)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn dates(hs: &[FileHoliday]) -> Vec<NaiveDate> {
        hs.iter().map(|h| h.date).collect()
    }

    // --- built-ins -----------------------------------------------------------

    #[test]
    fn easter_known_years() {
        for (y, m, day) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2000, 4, 23),
            (1990, 4, 15),
            (2008, 3, 23),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(y), Some(d(y, m, day)), "year {y}");
        }
    }

    #[test]
    fn easter_is_a_sunday_in_range() {
        for y in 1583..=4099 {
            let e = easter_sunday(y).unwrap();
            assert_eq!(e.weekday(), Weekday::Sun, "year {y}");
            assert!(e >= d(y, 3, 22) && e <= d(y, 4, 25), "year {y}: {e}");
        }
    }

    #[test]
    fn easter_out_of_range_is_none_not_panic() {
        assert_eq!(easter_sunday(i32::MAX), None);
        assert_eq!(easter_sunday(i32::MIN), None);
        assert!(easter_sunday(-100).is_some());
    }

    #[test]
    fn names_round_trip() {
        for (name, set) in BuiltinSet::ALL {
            assert_eq!(BuiltinSet::from_name(name), Some(set));
            assert_eq!(set.name(), name);
        }
        assert_eq!(BuiltinSet::from_name("br"), None);
        assert_eq!(BuiltinSet::from_name("US"), None);
    }

    #[test]
    fn br_2026() {
        let expected = [
            (d(2026, 1, 1), "Confraternização Universal"),
            (d(2026, 4, 3), "Paixão de Cristo"),
            (d(2026, 4, 21), "Tiradentes"),
            (d(2026, 5, 1), "Dia do Trabalho"),
            (d(2026, 9, 7), "Independência do Brasil"),
            (d(2026, 10, 12), "Nossa Senhora Aparecida"),
            (d(2026, 11, 2), "Finados"),
            (d(2026, 11, 15), "Proclamação da República"),
            (
                d(2026, 11, 20),
                "Dia Nacional de Zumbi e da Consciência Negra",
            ),
            (d(2026, 12, 25), "Natal"),
        ];
        for (date, name) in expected {
            assert_eq!(BuiltinSet::Br.holiday(date), Some(name), "{date}");
            assert_eq!(BuiltinSet::BrOptional.holiday(date), None, "{date}");
        }
        // Exactly these ten days in the year.
        let mut count = 0;
        let mut day = d(2026, 1, 1);
        while day.year() == 2026 {
            if BuiltinSet::Br.holiday(day).is_some() {
                count += 1;
            }
            day = day.succ_opt().unwrap();
        }
        assert_eq!(count, expected.len());
    }

    #[test]
    fn br_optional_2026() {
        let expected = [
            (d(2026, 2, 16), "Carnaval (segunda-feira)"),
            (d(2026, 2, 17), "Carnaval (terça-feira)"),
            (d(2026, 6, 4), "Corpus Christi"),
        ];
        for (date, name) in expected {
            assert_eq!(BuiltinSet::BrOptional.holiday(date), Some(name), "{date}");
            assert_eq!(BuiltinSet::Br.holiday(date), None, "{date}");
        }
        let mut count = 0;
        let mut day = d(2026, 1, 1);
        while day.year() == 2026 {
            if BuiltinSet::BrOptional.holiday(day).is_some() {
                count += 1;
            }
            day = day.succ_opt().unwrap();
        }
        assert_eq!(count, expected.len());
    }

    #[test]
    fn br_history() {
        assert!(BuiltinSet::Br.holiday(d(2024, 11, 20)).is_some());
        assert_eq!(BuiltinSet::Br.holiday(d(2023, 11, 20)), None);
        assert_eq!(BuiltinSet::Br.holiday(d(1979, 10, 12)), None);
        assert!(BuiltinSet::Br.holiday(d(1980, 10, 12)).is_some());
        // Good Friday on Tiradentes (2000): still a holiday.
        assert_eq!(BuiltinSet::Br.holiday(d(2000, 4, 21)), Some("Tiradentes"));
    }

    #[test]
    fn regular_day_is_none() {
        assert_eq!(BuiltinSet::Br.holiday(d(2026, 3, 10)), None);
        assert_eq!(BuiltinSet::BrOptional.holiday(d(2026, 3, 10)), None);
        // Extremes of chrono's range do not panic.
        assert_eq!(BuiltinSet::Br.holiday(NaiveDate::MAX), None);
        let _ = BuiltinSet::BrOptional.holiday(NaiveDate::MIN);
        let _ = BuiltinSet::Br.holiday(NaiveDate::MIN);
    }

    // --- CSV -----------------------------------------------------------------

    fn csv(text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
        parse_holiday_csv(Path::new("holidays/sp.csv"), text)
    }

    #[test]
    fn csv_with_header() {
        let hs = csv("Date,Name\n2026-01-25,Aniversário de São Paulo\n2026-07-09, Revolução Constitucionalista \n").unwrap();
        assert_eq!(
            hs,
            vec![
                FileHoliday {
                    date: d(2026, 1, 25),
                    name: Some("Aniversário de São Paulo".into()),
                    line: 2
                },
                FileHoliday {
                    date: d(2026, 7, 9),
                    name: Some("Revolução Constitucionalista".into()),
                    line: 3
                },
            ]
        );
    }

    #[test]
    fn csv_without_header_and_optional_names() {
        let hs = csv("2026-01-25\n2026-07-09,\n2026-11-20,\"Consciência Negra, SP\"").unwrap();
        assert_eq!(
            dates(&hs),
            vec![d(2026, 1, 25), d(2026, 7, 9), d(2026, 11, 20)]
        );
        assert_eq!(hs[0].name, None);
        assert_eq!(hs[1].name, None);
        assert_eq!(hs[2].name.as_deref(), Some("Consciência Negra, SP"));
        assert_eq!(hs[2].line, 3);
    }

    #[test]
    fn csv_bom_crlf() {
        let hs =
            csv("\u{feff}date,name\r\n2026-01-25,Aniversário\r\n2026-07-09,Revolução\r\n").unwrap();
        assert_eq!(dates(&hs), vec![d(2026, 1, 25), d(2026, 7, 9)]);
        assert_eq!(hs[1].name.as_deref(), Some("Revolução"));
        assert_eq!(hs[1].line, 3);
    }

    #[test]
    fn csv_comments_and_blank_lines() {
        let text = "# São Paulo city holidays\n\ndate,name\n# a comment, with \"quotes\n\n   \n  # indented comment\n2026-01-25,Aniversário\n\n2026-07-09\n";
        let hs = csv(text).unwrap();
        assert_eq!(dates(&hs), vec![d(2026, 1, 25), d(2026, 7, 9)]);
        assert_eq!(hs[0].line, 8);
        assert_eq!(hs[1].line, 10);
    }

    #[test]
    fn csv_empty_is_ok() {
        assert_eq!(csv("").unwrap(), vec![]);
        assert_eq!(csv("date,name\n").unwrap(), vec![]);
    }

    #[test]
    fn csv_bad_date() {
        let err = csv("date,name\n2026-01-25,ok\n2026-13-01,bad\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "holidays/sp.csv:3: invalid date '2026-13-01' (expected YYYY-MM-DD)"
        );
        for bad in [
            "26-01-01",
            "2026/01/01",
            "2026-1-01",
            "01/02/2026",
            "2026-02-30",
            "+2026-01-01",
        ] {
            let err = csv(&format!("{bad},x\n")).unwrap_err();
            assert!(
                matches!(&err, HolidayFileError::CsvInvalidDate { line: 1, value, .. } if value == bad),
                "{bad}: {err}"
            );
        }
        // A header row that is not first is just a bad date.
        let err = csv("2026-01-01\ndate,name\n").unwrap_err();
        assert!(err.to_string().contains(":2: invalid date 'date'"), "{err}");
    }

    #[test]
    fn csv_missing_date() {
        let err = csv("2026-01-01\n,Natal\n").unwrap_err();
        assert!(
            matches!(err, HolidayFileError::CsvMissingDate { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn csv_too_many_cells() {
        let err = csv("date,name\n2026-01-25,São Paulo,extra\n").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            HolidayFileError::CsvTooManyCells {
                line: 2,
                count: 3,
                ..
            }
        ));
        assert!(msg.starts_with("holidays/sp.csv:2: "), "{msg}");
    }

    // --- ICS -----------------------------------------------------------------

    fn ics(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
    }

    fn parse_ics(text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
        parse_holiday_ics(Path::new("holidays/feriados.ics"), text)
    }

    #[test]
    fn ics_single_all_day_events() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\n",
            "UID:1\r\n",
            "SUMMARY:Aniversário de São Paulo\r\n",
            "DTSTART;VALUE=DATE:20260125\r\n", // line 7
            "DTEND;VALUE=DATE:20260126\r\n",
            "END:VEVENT\r\n",
            "BEGIN:VEVENT\r\n",
            "DTSTART:20260709\r\n", // line 11, bare 8-digit value, no DTEND
            "SUMMARY:Revolu\\, ção\r\n",
            "END:VEVENT\r\n",
        ));
        let hs = parse_ics(&text).unwrap();
        assert_eq!(
            hs,
            vec![
                FileHoliday {
                    date: d(2026, 1, 25),
                    name: Some("Aniversário de São Paulo".into()),
                    line: 7
                },
                FileHoliday {
                    date: d(2026, 7, 9),
                    name: Some("Revolu, ção".into()),
                    line: 11
                },
            ]
        );
    }

    #[test]
    fn ics_multi_day_events() {
        let text = ics(concat!(
            "BEGIN:VEVENT\n",
            "DTSTART;VALUE=DATE:20261224\n",
            "DTEND;VALUE=DATE:20270102\n",
            "SUMMARY:Recesso\n",
            "END:VEVENT\n",
            "BEGIN:VEVENT\n",
            "DTSTART;VALUE=DATE:20260216\n",
            "DURATION:P2D\n",
            "END:VEVENT\n",
            "BEGIN:VEVENT\n",
            "DTSTART;VALUE=DATE:20260301\n",
            "DURATION:P1W\n",
            "SUMMARY:\n",
            "END:VEVENT\n",
        ));
        let hs = parse_ics(&text).unwrap();
        let got = dates(&hs);
        assert_eq!(got.len(), 9 + 2 + 7);
        assert_eq!(got[0], d(2026, 12, 24));
        assert_eq!(got[8], d(2027, 1, 1));
        assert_eq!(got[9..11], [d(2026, 2, 16), d(2026, 2, 17)]);
        assert_eq!(got[11], d(2026, 3, 1));
        assert_eq!(got[17], d(2026, 3, 7));
        assert!(hs[..9]
            .iter()
            .all(|h| h.name.as_deref() == Some("Recesso") && h.line == 5));
        assert!(hs[9..].iter().all(|h| h.name.is_none()));
    }

    #[test]
    fn ics_folded_lines_and_nesting() {
        // Folded SUMMARY and DTSTART; a VTIMEZONE with timed DTSTART and RRULE
        // and a VALARM inside the event must be ignored.
        let text = concat!(
            "\u{feff}BEGIN:VCALENDAR\r\n", // 1
            "VERSION:2.0\r\n",
            "BEGIN:VTIMEZONE\r\n",
            "TZID:America/Sao_Paulo\r\n",
            "BEGIN:STANDARD\r\n", // 5
            "DTSTART:19700101T000000\r\n",
            "RRULE:FREQ=YEARLY\r\n",
            "END:STANDARD\r\n",
            "END:VTIMEZONE\r\n",
            "BEGIN:VEVENT\r\n", // 10
            "SUMMARY;LANGUAGE=pt-BR:Dia Nacional de Zumbi e da Con\r\n",
            " sciência Negra\r\n",
            "DTSTART;VALUE=DATE:2026\r\n", // 13
            "\t1120\r\n",
            "BEGIN:VALARM\r\n",
            "TRIGGER:-PT15M\r\n",
            "DTSTART:20261119T090000\r\n",
            "END:VALARM\r\n",
            "END:VEVENT\r\n",
            "END:VCALENDAR\r\n",
        );
        let hs = parse_ics(text).unwrap();
        assert_eq!(
            hs,
            vec![FileHoliday {
                date: d(2026, 11, 20),
                name: Some("Dia Nacional de Zumbi e da Consciência Negra".into()),
                line: 13
            }]
        );
    }

    #[test]
    fn ics_timed_dtstart_is_error() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\n",
            "SUMMARY:Véspera de Natal\r\n",
            "DTSTART;TZID=America/Sao_Paulo:20261224T120000\r\n", // line 6
            "DTEND;TZID=America/Sao_Paulo:20261224T180000\r\n",
            "END:VEVENT\r\n",
        ));
        let err = parse_ics(&text).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, HolidayFileError::IcsTimedEvent { line: 6, .. }),
            "{msg}"
        );
        assert!(
            msg.starts_with("holidays/feriados.ics:6: event 'Véspera de Natal'"),
            "{msg}"
        );
        assert!(msg.contains("'20261224T120000'"), "{msg}");
        assert!(msg.contains("closures"), "{msg}");

        // A date DTSTART with a timed DTEND is also rejected.
        let text =
            ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261224\nDTEND:20261224T180000Z\nEND:VEVENT\n");
        let err = parse_ics(&text).unwrap_err();
        assert!(
            matches!(
                err,
                HolidayFileError::IcsTimedEvent {
                    line: 6,
                    property: "DTEND",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn ics_rrule_is_error() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\n",
            "SUMMARY:Natal\r\n",
            "DTSTART;VALUE=DATE:20261225\r\n",
            "RRULE:FREQ=YEARLY\r\n", // line 7
            "END:VEVENT\r\n",
        ));
        let err = parse_ics(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "holidays/feriados.ics:7: event 'Natal' has a recurrence rule (RRULE); recurring events are not supported in holiday files, list each date"
        );
    }

    #[test]
    fn ics_bad_date_is_error() {
        let text = ics(concat!(
            "BEGIN:VEVENT\n",
            "SUMMARY:x\n",
            "DTSTART;VALUE=DATE:20261301\n", // line 6
            "END:VEVENT\n",
        ));
        let err = parse_ics(&text).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("holidays/feriados.ics:6: invalid date '20261301' in DTSTART"),
            "{msg}"
        );
        for bad in ["2026-12-25", "2026125", "", "abcdefgh"] {
            let text = ics(&format!(
                "BEGIN:VEVENT\nDTSTART;VALUE=DATE:{bad}\nEND:VEVENT\n"
            ));
            let err = parse_ics(&text).unwrap_err();
            assert!(
                matches!(&err, HolidayFileError::IcsInvalidDate { line: 5, value, .. } if value == bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn ics_other_errors() {
        let cases: [(&str, usize); 5] = [
            // DTEND before DTSTART
            (
                "BEGIN:VEVENT\nDTSTART:20261225\nDTEND:20261220\nEND:VEVENT\n",
                6,
            ),
            // unsupported duration
            (
                "BEGIN:VEVENT\nDTSTART:20261225\nDURATION:PT4H\nEND:VEVENT\n",
                6,
            ),
            // absurd span
            (
                "BEGIN:VEVENT\nDTSTART:20260101\nDTEND:30260101\nEND:VEVENT\n",
                6,
            ),
            // unclosed event, reported at the mismatching END:VCALENDAR
            ("BEGIN:VEVENT\nDTSTART:20261225\n", 6),
            // line without a colon
            ("BEGIN:VEVENT\nDTSTART 20261225\nEND:VEVENT\n", 5),
        ];
        for (body, line) in cases {
            let err = parse_ics(&ics(body)).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("holidays/feriados.ics:{line}: ")),
                "{msg}"
            );
        }
        let err = parse_ics("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261225\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("holidays/feriados.ics:2: BEGIN:VEVENT is never closed"),
            "{err}"
        );
        let err = parse_ics("date,name\n2026-01-01,x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "holidays/feriados.ics:1: expected BEGIN:VCALENDAR, found 'date,name'; is this an iCalendar file?"
        );
        let err = parse_ics(&format!("{}X-TRAILING:1\n", ics(""))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("holidays/feriados.ics:5: expected BEGIN:VCALENDAR"),
            "{err}"
        );
        assert!(parse_ics("").is_err());
        assert!(parse_ics(" leading continuation\n").is_err());
    }

    #[test]
    fn ics_skips_cancelled_and_dateless_events() {
        let text = ics(concat!(
            "BEGIN:VEVENT\nSUMMARY:no date\nEND:VEVENT\n",
            "BEGIN:VEVENT\nDTSTART:20261225\nSTATUS:CANCELLED\nEND:VEVENT\n",
            "BEGIN:VEVENT\nDTSTART:20261226\nDTEND:20261226\nEND:VEVENT\n",
        ));
        let hs = parse_ics(&text).unwrap();
        assert_eq!(dates(&hs), vec![d(2026, 12, 26)]);
        assert_eq!(parse_ics(&ics("")).unwrap(), vec![]);
    }

    // --- dispatch --------------------------------------------------------------

    #[test]
    fn unknown_extension() {
        let err = load_holiday_file(Path::new("holidays/feriados.xlsx")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported holiday file 'holidays/feriados.xlsx': the extension must be one of .csv, .ics"
        );
        assert!(matches!(
            parse_holiday_file(Path::new("holidays/noext"), ""),
            Err(HolidayFileError::UnsupportedExtension { .. })
        ));
        assert!(parse_holiday_file(Path::new("x.CSV"), "2026-01-01\n").is_ok());
    }

    #[test]
    fn load_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let csv_path = dir.join("sp.CSV");
        std::fs::write(&csv_path, "date,name\n2026-01-25,Aniversário\n").unwrap();
        let ics_path = dir.join("br.Ics");
        std::fs::write(
            &ics_path,
            ics("BEGIN:VEVENT\nDTSTART:20261225\nSUMMARY:Natal\nEND:VEVENT\n"),
        )
        .unwrap();
        let bad_path = dir.join("latin1.csv");
        std::fs::write(&bad_path, b"2026-01-01,ok\n2026-01-25,Anivers\xe1rio\n").unwrap();

        assert_eq!(
            dates(&load_holiday_file(&csv_path).unwrap()),
            vec![d(2026, 1, 25)]
        );
        assert_eq!(
            dates(&load_holiday_file(&ics_path).unwrap()),
            vec![d(2026, 12, 25)]
        );
        let err = load_holiday_file(&bad_path).unwrap_err();
        assert!(
            matches!(err, HolidayFileError::NotUtf8 { line: 2, .. }),
            "{err}"
        );

        let missing = dir.join("missing.csv");
        let err = load_holiday_file(&missing).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot read holiday file '{}': ",
                missing.display()
            )),
            "{msg}"
        );
    }
}
