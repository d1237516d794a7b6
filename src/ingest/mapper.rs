//! Turning batches of raw text into canonical columns, a whole column at a time: NULL tokens,
//! value maps, constants, and typed parsing (timestamps in the source's formats, zone and
//! window; exact integers; canonical vocabularies). A value that cannot be used becomes a
//! [`Rejection`] naming the line, the column, the raw value and the reason, so its row can be
//! quarantined instead of silently dropped or half-loaded.
//!
//! Mapped and vocabulary columns have few distinct values: each distinct raw value is
//! converted once and remembered (up to 4,096 values per column).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Int64Array, Int64Builder, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};

use crate::config::sources::{MAPPABLE, SKIP};
use crate::config::SourceMapping;

use super::reader::TextBatch;
use super::timestamp::TimestampParser;
use crate::tables::{Kind, TICKETS, TICKET_EVENTS};

/// A canonical value (of a constant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    /// UTC µs.
    Time(i64),
    Int(i64),
}

/// Why a row (or one of its values) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    /// The source column (header) the value came from, or the canonical column.
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// Distinct raw values remembered per column.
const MEMO_ENTRIES: usize = 4096;

/// What one distinct raw text value of a column converts to.
#[derive(Debug, Clone)]
enum Outcome {
    Null,
    Text(Arc<str>),
    Time(i64),
    Int(i64),
    Reject(Arc<str>),
    /// A value the mapping marks as "not a real row".
    Skip,
}

/// The reason of a row skipped by its mapping.
pub const SKIPPED: &str = "skipped by mapping";

/// How one canonical column is filled.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    /// The header, for rejections.
    header: String,
    kind: Kind,
    /// Source value → canonical value.
    map: Option<BTreeMap<String, String>>,
    /// Allowed canonical values (empty: any).
    vocabulary: &'static [&'static str],
}

impl Target {
    /// Whether the column's values repeat enough to be remembered.
    fn memoised(&self) -> bool {
        self.map.is_some() || !self.vocabulary.is_empty()
    }
}

/// Maps batches of one source to canonical columns.
#[derive(Debug, Clone)]
pub struct Mapper {
    targets: Vec<Target>,
    memos: Vec<HashMap<String, Outcome>>,
    constants: Vec<(String, Value)>,
    nulls: Vec<String>,
    timestamps: TimestampParser,
}

/// A canonical column of a batch.
#[derive(Debug, Clone)]
pub enum Column {
    Text(StringArray),
    Time(TimestampMicrosecondArray),
    Int(Int64Array),
}

/// The canonical columns of one batch, and the rows rejected so far.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub lines: Vec<u64>,
    columns: BTreeMap<String, Column>,
    /// Whether each row is rejected.
    pub rejected: Vec<bool>,
    /// Whether each row is skipped by the mapping (also rejected, but not an error).
    pub skipped: Vec<bool>,
    /// Every rejected value, in row order, then column order.
    pub rejections: Vec<Rejection>,
}

impl Mapped {
    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.get(name)
    }

    /// The text column `name`, if mapped (or constant).
    pub fn texts(&self, name: &str) -> Option<&StringArray> {
        match self.columns.get(name) {
            Some(Column::Text(a)) => Some(a),
            _ => None,
        }
    }

    /// The timestamp column `name` (UTC µs), if mapped.
    pub fn times(&self, name: &str) -> Option<&TimestampMicrosecondArray> {
        match self.columns.get(name) {
            Some(Column::Time(a)) => Some(a),
            _ => None,
        }
    }

    /// The integer column `name`, if mapped.
    pub fn ints(&self, name: &str) -> Option<&Int64Array> {
        match self.columns.get(name) {
            Some(Column::Int(a)) => Some(a),
            _ => None,
        }
    }

    /// The text of `name` at `row` (`None` for NULL or an unmapped column).
    pub fn text(&self, name: &str, row: usize) -> Option<&str> {
        self.texts(name)
            .filter(|a| a.is_valid(row))
            .map(|a| a.value(row))
    }

    pub fn time(&self, name: &str, row: usize) -> Option<i64> {
        self.times(name)
            .filter(|a| a.is_valid(row))
            .map(|a| a.value(row))
    }

    pub fn int(&self, name: &str, row: usize) -> Option<i64> {
        self.ints(name)
            .filter(|a| a.is_valid(row))
            .map(|a| a.value(row))
    }

    /// Reject `row` for `rejection`, unless it already is.
    pub fn reject(&mut self, row: usize, rejection: Rejection) {
        if !self.rejected[row] {
            self.rejected[row] = true;
            self.rejections.push(rejection);
        }
    }
}

/// The type of a mapped column: canonical columns have theirs; `sequence` orders snapshots.
fn kind_of(column: &str) -> Kind {
    if column == "sequence" {
        return Kind::Integer;
    }
    TICKETS
        .column(column)
        .or_else(|| TICKET_EVENTS.column(column))
        .map_or(Kind::Text, |c| c.kind)
}

/// The value map and vocabulary of a column; the status map serves all three status columns.
fn target(mapping: &SourceMapping, name: &str, header: String) -> Target {
    let key = mapping_key(name);
    let vocabulary = MAPPABLE
        .iter()
        .find(|(c, _)| *c == key)
        .map_or(&[][..], |(_, v)| *v);
    Target {
        name: name.to_string(),
        header,
        kind: kind_of(name),
        map: mapping.values.get(key).cloned(),
        vocabulary,
    }
}

fn mapping_key(column: &str) -> &str {
    match column {
        "from_status" | "to_status" => "status",
        other => other,
    }
}

impl Mapper {
    pub fn new(mapping: &SourceMapping) -> Result<Mapper, Rejection> {
        let targets: Vec<Target> = mapping
            .columns
            .iter()
            .map(|(name, r)| target(mapping, name, r.label()))
            .collect();
        let timestamps = TimestampParser::new(
            mapping.timestamp_formats.clone(),
            mapping.timezone,
            mapping.timestamp_range,
        );
        let mut mapper = Mapper {
            memos: vec![HashMap::new(); targets.len()],
            targets,
            constants: Vec::new(),
            nulls: mapping.null_values.clone(),
            timestamps,
        };
        // Constants go through the same conversion as column values, once.
        let mut constants = vec![(
            "source_system".to_string(),
            Value::Text(mapping.source_system.clone()),
        )];
        for (name, raw) in &mapping.constants {
            let target = target(mapping, name, format!("constants.{name}"));
            let value = match mapper.convert(&target, raw) {
                Outcome::Null => Value::Null,
                Outcome::Text(t) => Value::Text(t.to_string()),
                Outcome::Time(t) => Value::Time(t),
                Outcome::Int(v) => Value::Int(v),
                Outcome::Skip => {
                    return Err(Rejection {
                        line: 0,
                        column: target.header,
                        value: raw.clone(),
                        reason: format!("'{SKIP}' applies to column values, not to constants"),
                    })
                }
                Outcome::Reject(reason) => {
                    return Err(Rejection {
                        line: 0,
                        column: target.header,
                        value: raw.clone(),
                        reason: reason.to_string(),
                    })
                }
            };
            constants.push((name.clone(), value));
        }
        mapper.constants = constants;
        Ok(mapper)
    }

    /// The canonical columns of `batch`, with every rejected value.
    pub fn map(&mut self, batch: &TextBatch) -> Mapped {
        let n = batch.num_rows();
        let mut columns = BTreeMap::new();
        let mut rejections: Vec<(usize, usize, Rejection)> = Vec::new();
        for (index, raw) in batch.columns.iter().enumerate() {
            let column = self.map_column(index, raw, &batch.lines, &mut rejections);
            columns.insert(self.targets[index].name.clone(), column);
        }
        for (name, value) in &self.constants {
            columns.insert(name.clone(), constant(value, n));
        }
        // Row order, then column order, as a row would list them.
        rejections.sort_by_key(|(row, column, _)| (*row, *column));
        let mut rejected = vec![false; n];
        let mut skipped = vec![false; n];
        for (row, _, r) in &rejections {
            rejected[*row] = true;
            skipped[*row] |= r.reason == SKIPPED;
        }
        // A row the mapping skips is that only, whatever else is wrong with it.
        let mut seen = vec![false; n];
        rejections.retain(|(row, _, r)| {
            !skipped[*row] || (r.reason == SKIPPED && !std::mem::replace(&mut seen[*row], true))
        });
        Mapped {
            lines: batch.lines.clone(),
            columns,
            rejected,
            skipped,
            rejections: rejections.into_iter().map(|(_, _, r)| r).collect(),
        }
    }

    fn map_column(
        &mut self,
        index: usize,
        raw: &StringArray,
        lines: &[u64],
        rejections: &mut Vec<(usize, usize, Rejection)>,
    ) -> Column {
        let n = raw.len();
        let target = self.targets[index].clone();
        let mut text =
            StringBuilder::with_capacity(if target.kind == Kind::Text { n } else { 0 }, 0);
        let mut times =
            TimestampMicrosecondBuilder::with_capacity(if target.kind == Kind::Timestamp {
                n
            } else {
                0
            });
        let mut ints = Int64Builder::new();
        for (row, &line) in lines.iter().enumerate().take(n) {
            let outcome = if raw.is_null(row) {
                Outcome::Null
            } else {
                let value = raw.value(row);
                if target.memoised() {
                    match self.memos[index].get(value) {
                        Some(outcome) => outcome.clone(),
                        None => {
                            let outcome = self.convert(&target, value);
                            if self.memos[index].len() < MEMO_ENTRIES {
                                self.memos[index].insert(value.to_string(), outcome.clone());
                            }
                            outcome
                        }
                    }
                } else {
                    self.convert(&target, value)
                }
            };
            match outcome {
                Outcome::Null | Outcome::Reject(_) | Outcome::Skip => {
                    let reason = match &outcome {
                        Outcome::Reject(reason) => Some(reason.to_string()),
                        Outcome::Skip => Some(SKIPPED.to_string()),
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        rejections.push((
                            row,
                            index,
                            Rejection {
                                line,
                                column: target.header.clone(),
                                value: raw.value(row).to_string(),
                                reason,
                            },
                        ));
                    }
                    match target.kind {
                        Kind::Text => text.append_null(),
                        Kind::Timestamp => times.append_null(),
                        _ => ints.append_null(),
                    }
                }
                Outcome::Text(t) => text.append_value(&*t),
                Outcome::Time(t) => times.append_value(t),
                Outcome::Int(v) => ints.append_value(v),
            }
        }
        match target.kind {
            Kind::Text => Column::Text(text.finish()),
            Kind::Timestamp => Column::Time(times.finish().with_timezone("UTC")),
            _ => Column::Int(ints.finish()),
        }
    }

    /// The canonical value of one raw value of `target`.
    fn convert(&self, target: &Target, raw: &str) -> Outcome {
        let trimmed = raw.trim();
        if self.nulls.iter().any(|n| n == trimmed) {
            return Outcome::Null;
        }
        let mapped = target.map.as_ref().and_then(|m| {
            m.get(trimmed).or_else(|| {
                m.iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(trimmed))
                    .map(|(_, v)| v)
            })
        });
        if mapped.is_some_and(|m| m == SKIP) {
            return Outcome::Skip;
        }
        let text = mapped.map_or(trimmed, String::as_str);
        let reject = |reason: String| Outcome::Reject(Arc::from(reason));
        match target.kind {
            Kind::Text => {
                if target.vocabulary.is_empty() {
                    return Outcome::Text(Arc::from(text));
                }
                match target
                    .vocabulary
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(text))
                {
                    Some(v) => Outcome::Text(Arc::from(*v)),
                    None => reject(format!(
                        "unknown {} with no mapping (add it under [sources.NAME.values.{}] \
                         or use one of {})",
                        mapping_key(&target.name),
                        mapping_key(&target.name),
                        target.vocabulary.join(", ")
                    )),
                }
            }
            Kind::Timestamp => match self.timestamps.parse(text) {
                Ok(t) => Outcome::Time(t),
                Err(reason) => reject(reason),
            },
            Kind::Integer | Kind::Count | Kind::BigInt => match parse_integer(text) {
                Some(v) => Outcome::Int(v),
                None => reject(format!(
                    "not an integer ({} expects a whole number)",
                    target.name
                )),
            },
            // No stored column is a boolean: only the derived SLA views have such columns.
            Kind::Boolean => reject(format!(
                "{} is derived, not loaded from exports",
                target.name
            )),
        }
    }
}

/// `n` copies of a constant.
fn constant(value: &Value, n: usize) -> Column {
    match value {
        Value::Null => Column::Text(StringArray::new_null(n)),
        Value::Text(t) => Column::Text(StringArray::from_iter_values(std::iter::repeat_n(t, n))),
        Value::Time(t) => {
            Column::Time(TimestampMicrosecondArray::from(vec![*t; n]).with_timezone("UTC"))
        }
        Value::Int(v) => Column::Int(Int64Array::from(vec![*v; n])),
    }
}

/// A whole number, also written with a zero fraction (`3.0`, as spreadsheets do); read exactly,
/// never through floating point, so `1e2` or `9007199254740993.0` are not quietly rounded.
pub fn parse_integer(text: &str) -> Option<i64> {
    let whole = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    let digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(source: &str) -> Mapper {
        Mapper::new(&crate::ingest::test_mapping("s", source)).unwrap()
    }

    const SOURCE: &str = r#"shape = "tickets"
timezone = "America/Sao_Paulo"
timestamp_formats = ["%d/%m/%Y %H:%M"]
null_values = ["", "?", "NULL"]
columns = { ticket_id = "Id", created_at = "Created", status = "Status", priority = "Prio", csat_score = "CSAT" }
constants = { channel = "email" }
values.status = { "Waiting on contact" = "pending", "Fechado" = "closed" }
values.priority = { "P1" = "urgent" }
"#;

    fn batch(rows: &[[Option<&str>; 5]]) -> TextBatch {
        TextBatch {
            lines: (0..rows.len() as u64).map(|i| 7 + i).collect(),
            columns: (0..5)
                .map(|c| rows.iter().map(|r| r[c]).collect::<StringArray>())
                .collect(),
            malformed: Vec::new(),
        }
    }

    #[test]
    fn values_are_mapped_typed_and_nulled() {
        let mut m = mapper(SOURCE);
        let got = m.map(&batch(&[
            [
                Some("42"),
                Some("02/03/2026 08:00"),
                Some(" waiting on CONTACT "),
                Some("P1"),
                Some("4.0"),
            ],
            [Some("43"), Some("?"), Some("Open"), Some("NULL"), None],
        ]));
        assert!(got.rejections.is_empty(), "{:?}", got.rejections);
        assert_eq!(got.text("ticket_id", 0), Some("42"));
        assert_eq!(got.time("created_at", 0), Some(1_772_449_200_000_000));
        assert_eq!(got.text("status", 0), Some("pending"));
        assert_eq!(got.text("priority", 0), Some("urgent"));
        assert_eq!(got.int("csat_score", 0), Some(4));
        assert_eq!(got.text("channel", 1), Some("email"));
        assert_eq!(got.text("source_system", 1), Some("s"));
        assert_eq!(got.time("created_at", 1), None);
        assert_eq!(got.text("status", 1), Some("open"));
        assert_eq!(got.text("priority", 1), None);
    }

    #[test]
    fn bad_values_are_rejected_with_their_line_column_and_reason() {
        let mut m = mapper(SOURCE);
        let got = m.map(&batch(&[
            [Some("1"), None, Some("Open"), None, None],
            [
                Some("44"),
                Some("2026-03-02"),
                Some("Escalated"),
                Some("P1"),
                Some("great"),
            ],
        ]));
        let summary: Vec<_> = got
            .rejections
            .iter()
            .map(|r| (r.line, r.column.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (8, "Created", "2026-03-02"),
                (8, "Status", "Escalated"),
                (8, "CSAT", "great")
            ]
        );
        assert_eq!(got.rejected, [false, true]);
        let reasons: Vec<&str> = got.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert!(
            reasons[0].starts_with("unparseable timestamp"),
            "{}",
            reasons[0]
        );
        assert!(
            reasons[1].starts_with(
                "unknown status with no mapping (add it under [sources.NAME.values.status]"
            ),
            "{}",
            reasons[1]
        );
        assert!(reasons[2].contains("not an integer"), "{}", reasons[2]);
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(parse_integer("3"), Some(3));
        assert_eq!(parse_integer("-3.00"), Some(-3));
        assert_eq!(parse_integer("+7"), Some(7));
        for bad in [
            "1e2",
            "3.5",
            "3.",
            ".0",
            "",
            "-",
            "9007199254740993.5",
            "1 000",
        ] {
            assert_eq!(parse_integer(bad), None, "{bad}");
        }
        assert_eq!(
            parse_integer("9007199254740993.0"),
            Some(9_007_199_254_740_993)
        );
    }
}
