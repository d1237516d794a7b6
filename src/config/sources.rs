//! `[sources.NAME]` tables: how one kind of help-desk export maps onto the canonical tables,
//! without code. The export's shape and file format, its columns by header name, how its
//! timestamps read, which tokens mean NULL, value maps to the canonical vocabularies and
//! constant columns.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use super::calendars::parse_timezone;
use super::formats::TimestampFormat;
use super::{ConfigError, Source};
use crate::tables::columns::{EVENT_COLUMNS, TICKET_COLUMNS};
use crate::tables::{ActorRole, Priority, Status, Vocabulary};

/// What one row of an export describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One row per ticket, its current state.
    Tickets,
    /// One row per status change or activity.
    Events,
    /// One row per update of a ticket, a full copy of the record each time.
    Snapshots,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Tickets => "tickets",
            Shape::Events => "events",
            Shape::Snapshots => "snapshots",
        }
    }

    /// The canonical columns a mapping of this shape may fill.
    pub fn targets(self) -> Vec<&'static str> {
        let tickets = TICKET_COLUMNS.iter().map(|c| c.name);
        match self {
            Shape::Tickets => tickets.collect(),
            Shape::Events => EVENT_COLUMNS
                .iter()
                .map(|c| c.name)
                .filter(|n| *n != "month")
                .chain(TICKET_ATTRIBUTES.iter().copied())
                .collect(),
            Shape::Snapshots => tickets.chain(["sequence", "actor"]).collect(),
        }
    }

    /// Columns that must be mapped or constant; a group is satisfied by any one of its members.
    fn required(self) -> &'static [&'static [&'static str]] {
        match self {
            Shape::Tickets => &[&["ticket_id"], &["created_at"], &["status"]],
            Shape::Events => &[&["ticket_id"], &["ts"], &["event_type", "to_status"]],
            Shape::Snapshots => &[
                &["ticket_id"],
                &["created_at"],
                &["status"],
                &["updated_at"],
            ],
        }
    }
}

/// Ticket attributes an event export may carry on each row (the latest one wins).
pub const TICKET_ATTRIBUTES: &[&str] = &[
    "channel",
    "inbox",
    "team",
    "priority",
    "requester",
    "assignee",
    "csat_score",
];

/// Canonical columns whose source values can be mapped, and the vocabulary they map to
/// (empty: any value).
pub const MAPPABLE: &[(&str, &[&str])] = &[
    ("status", Status::NAMES),
    ("priority", Priority::NAMES),
    ("event_type", &[]),
    ("actor_role", ActorRole::NAMES),
    ("channel", &[]),
];

/// The file format of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    Csv(CsvOptions),
    /// One JSON object per line.
    Ndjson,
    Parquet,
}

/// How a CSV export is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// A WHATWG encoding label: `utf-8` (a byte-order mark is skipped), `latin1`,
    /// `windows-1252`, `utf-16le`, …
    pub encoding: String,
}

/// Where a canonical column comes from: a header, and which of several equal headers; or
/// several headers whose values are combined (`Status` and `Sub Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    pub header: String,
    /// 1 for the first column with this header, 2 for the second, …
    pub occurrence: usize,
    /// For a combined column: the headers after `header` whose values follow its value.
    pub more: Vec<String>,
    /// What goes between the non-empty values of a combined column.
    pub join: String,
}

impl ColumnRef {
    /// The column as one header.
    pub fn single(header: &str) -> ColumnRef {
        ColumnRef {
            header: header.to_string(),
            occurrence: 1,
            more: Vec::new(),
            join: String::new(),
        }
    }

    /// Every header the column reads, with its occurrence.
    pub fn parts(&self) -> impl Iterator<Item = (&str, usize)> {
        std::iter::once((self.header.as_str(), self.occurrence))
            .chain(self.more.iter().map(|h| (h.as_str(), 1)))
    }

    /// How rejections name the column: its header, or its headers joined by `+`.
    pub fn label(&self) -> String {
        self.parts().map(|(h, _)| h).collect::<Vec<_>>().join("+")
    }
}

/// The instants a source's timestamps may fall in, `[from, until)` in UTC µs: a value outside
/// is rejected (the next timestamp format is tried first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampRange {
    pub from: i64,
    pub until: i64,
}

impl Default for TimestampRange {
    /// 1970-01-01 to the end of 2100.
    fn default() -> TimestampRange {
        TimestampRange {
            from: 0,
            until: 4_133_980_800_000_000,
        }
    }
}

/// The value-map target that marks a value as "not a real row": such rows are skipped, counted
/// and kept in quarantine.
pub const SKIP: &str = "skip";

/// A validated `[sources.NAME]`.
#[derive(Debug, Clone)]
pub struct SourceMapping {
    pub name: String,
    pub shape: Shape,
    pub format: InputFormat,
    /// The zone of naive timestamps.
    pub timezone: Tz,
    pub timestamp_formats: Vec<TimestampFormat>,
    pub timestamp_range: TimestampRange,
    /// Values that mean NULL (compared after trimming spaces).
    pub null_values: Vec<String>,
    pub source_system: String,
    /// Canonical column → source column, in file order.
    pub columns: Vec<(String, ColumnRef)>,
    /// Canonical column → source value → canonical value.
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Canonical column → the same value on every row.
    pub constants: BTreeMap<String, String>,
    /// For an events source: whether `tickets` rows are derived from the stored events (on by
    /// default; off when a tickets export of the same system provides them).
    pub derive_tickets: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    shape: Spanned<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    delimiter: Option<Spanned<String>>,
    #[serde(default)]
    quote: Option<Spanned<String>>,
    #[serde(default)]
    encoding: Option<Spanned<String>>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    timestamp_formats: Vec<Spanned<String>>,
    #[serde(default)]
    timestamp_range: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    null_values: Option<Vec<String>>,
    #[serde(default)]
    source_system: Option<Spanned<String>>,
    #[serde(default)]
    columns: BTreeMap<String, Spanned<RawColumn>>,
    #[serde(default)]
    values: BTreeMap<String, Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    constants: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    derive_tickets: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawColumn {
    Header(String),
    Detailed(RawColumnRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumnRef {
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    occurrence: Option<usize>,
    #[serde(default)]
    headers: Option<Vec<String>>,
    #[serde(default)]
    join: Option<String>,
}

const ENCODINGS: &[&str] = &[
    "utf-8",
    "utf8",
    "latin1",
    "iso-8859-1",
    "windows-1252",
    "cp1252",
    "iso-8859-15",
    "utf-16",
    "utf-16le",
    "utf-16be",
];

/// `["YYYY-MM-DD", "YYYY-MM-DD"]`: the first day to the last day, inclusive, in UTC.
fn parse_range(days: &[String]) -> Result<TimestampRange, String> {
    let day = |text: &str| {
        chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| format!("'{text}' is not a date (YYYY-MM-DD)"))
    };
    let [first, last] = days else {
        return Err("expected [\"first day\", \"last day\"] (YYYY-MM-DD)".into());
    };
    let (first, last) = (day(first)?, day(last)?);
    if last < first {
        return Err(format!(
            "the last day {last} is before the first day {first}"
        ));
    }
    let micros = |d: chrono::NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    };
    Ok(TimestampRange {
        from: micros(first),
        until: micros(last) + 86_400_000_000,
    })
}

fn one_byte(value: &str) -> Option<u8> {
    match value {
        "\\t" | "\t" | "tab" => Some(b'\t'),
        v if v.len() == 1 && v.is_ascii() => Some(v.as_bytes()[0]),
        _ => None,
    }
}

/// Validate one source table.
pub(super) fn build(
    src: &Source<'_>,
    name: &str,
    raw: &Spanned<RawSource>,
) -> Result<SourceMapping, ConfigError> {
    let key = |field: &str| format!("sources.{name}.{field}");
    let span = raw.span();
    let raw = raw.get_ref();
    src.check_name(span.clone(), "sources", "source", name)?;
    let shape = match raw.shape.get_ref().as_str() {
        "tickets" => Shape::Tickets,
        "events" => Shape::Events,
        "snapshots" => Shape::Snapshots,
        other => {
            return Err(src.invalid(
                raw.shape.span(),
                &key("shape"),
                format!("unknown shape '{other}' (use tickets, events or snapshots)"),
            ))
        }
    };
    let format_name = raw.format.as_ref().map_or("csv", |f| f.get_ref().as_str());
    let csv_only = [
        ("delimiter", raw.delimiter.as_ref()),
        ("quote", raw.quote.as_ref()),
        ("encoding", raw.encoding.as_ref()),
    ];
    let format = match format_name {
        "csv" => {
            let byte = |field: &str, value: Option<&Spanned<String>>, default: u8| match value {
                None => Ok(default),
                Some(v) => one_byte(v.get_ref()).ok_or_else(|| {
                    src.invalid(
                        v.span(),
                        &key(field),
                        format!("'{}' is not a single ASCII character", v.get_ref()),
                    )
                }),
            };
            let encoding = match &raw.encoding {
                None => "utf-8".to_string(),
                Some(e) => {
                    let label = e.get_ref().trim().to_ascii_lowercase();
                    if !ENCODINGS.contains(&label.as_str()) {
                        return Err(src.invalid(
                            e.span(),
                            &key("encoding"),
                            format!(
                                "unknown encoding '{}' (use one of {})",
                                e.get_ref(),
                                ENCODINGS.join(", ")
                            ),
                        ));
                    }
                    label
                }
            };
            InputFormat::Csv(CsvOptions {
                delimiter: byte("delimiter", raw.delimiter.as_ref(), b',')?,
                quote: byte("quote", raw.quote.as_ref(), b'"')?,
                encoding,
            })
        }
        "ndjson" | "parquet" => {
            if let Some((field, Some(v))) = csv_only.iter().find(|(_, v)| v.is_some()) {
                return Err(src.invalid(
                    v.span(),
                    &key(field),
                    format!("'{field}' applies to csv sources only, this one is {format_name}"),
                ));
            }
            if format_name == "ndjson" {
                InputFormat::Ndjson
            } else {
                InputFormat::Parquet
            }
        }
        other => {
            let span = raw.format.as_ref().map_or(span, |f| f.span());
            return Err(src.invalid(
                span,
                &key("format"),
                format!("unknown format '{other}' (use csv, ndjson or parquet)"),
            ));
        }
    };
    let timezone = match &raw.timezone {
        None => Tz::UTC,
        Some(tz) => parse_timezone(tz.get_ref())
            .map_err(|msg| src.invalid(tz.span(), &key("timezone"), msg))?,
    };
    let timestamp_formats = raw
        .timestamp_formats
        .iter()
        .map(|f| {
            TimestampFormat::parse(f.get_ref())
                .map_err(|msg| src.invalid(f.span(), &key("timestamp_formats"), msg))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let timestamp_range = match &raw.timestamp_range {
        None => TimestampRange::default(),
        Some(range) => parse_range(range.get_ref())
            .map_err(|msg| src.invalid(range.span(), &key("timestamp_range"), msg))?,
    };

    let targets = shape.targets();
    let check_target = |column: &str, span, field: &str| {
        if targets.contains(&column) {
            Ok(())
        } else {
            Err(src.invalid(
                span,
                &key(&format!("{field}.{column}")),
                format!(
                    "unknown column '{column}' for a {} source; known: {}",
                    shape.name(),
                    targets.join(", ")
                ),
            ))
        }
    };
    let mut columns: Vec<(String, ColumnRef, usize)> = Vec::new();
    for (column, raw_ref) in &raw.columns {
        check_target(column, raw_ref.span(), "columns")?;
        let invalid = |message: &str| {
            src.invalid(
                raw_ref.span(),
                &key(&format!("columns.{column}")),
                message.to_string(),
            )
        };
        let column_ref = match raw_ref.get_ref() {
            RawColumn::Header(h) => ColumnRef::single(h),
            RawColumn::Detailed(RawColumnRef {
                header: Some(header),
                occurrence,
                headers: None,
                join: None,
            }) => ColumnRef {
                occurrence: occurrence.unwrap_or(1),
                ..ColumnRef::single(header)
            },
            RawColumn::Detailed(RawColumnRef {
                header: None,
                occurrence: None,
                headers: Some(headers),
                join,
            }) => match headers.as_slice() {
                [first, more @ ..] if !more.is_empty() => ColumnRef {
                    header: first.clone(),
                    occurrence: 1,
                    more: more.to_vec(),
                    join: join.clone().unwrap_or_else(|| "-".to_string()),
                },
                _ => return Err(invalid("'headers' combines two or more headers")),
            },
            RawColumn::Detailed(_) => {
                return Err(invalid(
                    "expected { header = \"…\", occurrence = N } or \
                     { headers = [\"…\", \"…\"], join = \"…\" }",
                ))
            }
        };
        if column_ref.parts().any(|(h, _)| h.trim().is_empty()) || column_ref.occurrence == 0 {
            return Err(invalid(
                "expected a header name (and an occurrence of 1 or more)",
            ));
        }
        columns.push((column.clone(), column_ref, raw_ref.span().start));
    }
    columns.sort_by_key(|(_, _, at)| *at);
    let columns: Vec<(String, ColumnRef)> = columns.into_iter().map(|(c, r, _)| (c, r)).collect();

    let mut constants = BTreeMap::new();
    for (column, value) in &raw.constants {
        check_target(column, value.span(), "constants")?;
        if columns.iter().any(|(c, _)| c == column) {
            return Err(src.invalid(
                value.span(),
                &key(&format!("constants.{column}")),
                format!("'{column}' is both mapped to a column and given a constant"),
            ));
        }
        constants.insert(column.clone(), value.get_ref().clone());
    }

    let mut values = BTreeMap::new();
    for (column, map) in &raw.values {
        let Some((_, vocabulary)) = MAPPABLE.iter().find(|(c, _)| c == column) else {
            return Err(src.invalid(
                map.span(),
                &key(&format!("values.{column}")),
                format!(
                    "values can be mapped for {} only",
                    MAPPABLE
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        for (from, to) in map.get_ref() {
            if to != SKIP && !vocabulary.is_empty() && !vocabulary.contains(&to.as_str()) {
                return Err(src.invalid(
                    map.span(),
                    &key(&format!("values.{column}")),
                    format!(
                        "'{from}' maps to '{to}', which is not a canonical {column} (use one of {}, \
                         or '{SKIP}' for values that mark rows to leave out)",
                        vocabulary.join(", ")
                    ),
                ));
            }
        }
        values.insert(column.clone(), map.get_ref().clone());
    }

    for group in shape.required() {
        let given = |c: &&str| columns.iter().any(|(m, _)| m == c) || constants.contains_key(*c);
        if !group.iter().any(given) {
            let what = group
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(src.invalid(
                span,
                &format!("sources.{name}"),
                format!(
                    "a {} source needs {what} (under [sources.{name}.columns] or constants)",
                    shape.name()
                ),
            ));
        }
    }

    let derive_tickets = match &raw.derive_tickets {
        Some(d) if shape != Shape::Events => {
            return Err(src.invalid(
                d.span(),
                &key("derive_tickets"),
                format!(
                    "'derive_tickets' applies to events sources only, this one is {}",
                    shape.name()
                ),
            ))
        }
        Some(d) => *d.get_ref(),
        None => shape == Shape::Events,
    };
    let source_system = match &raw.source_system {
        Some(s) if s.get_ref().trim().is_empty() => {
            return Err(src.invalid(s.span(), &key("source_system"), "must not be empty"))
        }
        Some(s) => s.get_ref().clone(),
        None => name.to_string(),
    };
    Ok(SourceMapping {
        name: name.to_string(),
        shape,
        derive_tickets,
        format,
        timezone,
        timestamp_formats,
        timestamp_range,
        null_values: raw
            .null_values
            .clone()
            .unwrap_or_else(|| vec![String::new()])
            .into_iter()
            .map(|v| v.trim().to_string())
            .collect(),
        source_system,
        columns,
        values,
        constants,
    })
}
