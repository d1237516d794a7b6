//! Holiday files: the error type, extension dispatch and the CSV format.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::ics::parse_holiday_ics;

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
pub(super) const MAX_EVENT_DAYS: i64 = 366;

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

    /// A DURATION that is not a whole number of days or weeks.
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

pub(super) fn event_label(event: &Option<String>) -> String {
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
pub(super) fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}
