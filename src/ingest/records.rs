//! Canonical records, a batch at a time: the checks the canonical tables require (required
//! fields, milestones not before creation, CSAT between 1 and 5), and the Arrow batches of the
//! canonical schemas made of the rows that pass them.
//!
//! A row's rejections are those of its values ([`super::mapper`]) or, when its values are all
//! usable, the first check it fails, in the order the checks are listed here.
//!
//! Events without a source id get a deterministic one, a hash of their content, so that
//! ingesting the same export twice, or two overlapping exports, yields the same event ids.

use std::sync::{Arc, OnceLock};

use chrono::DateTime;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::HashMap;

use crate::config::sources::TICKET_ATTRIBUTES;

use super::mapper::{Column, Mapped, Rejection};
use crate::tables::{EventType, Kind, Vocabulary, TICKETS, TICKET_EVENTS};

/// Rows that passed their checks, as a batch of one schema, with each row's line.
#[derive(Debug, Clone)]
pub struct Rows {
    pub batch: RecordBatch,
    pub lines: Vec<u64>,
}

fn missing(line: u64, column: &str) -> Rejection {
    Rejection {
        line,
        column: column.to_string(),
        value: String::new(),
        reason: format!("missing required field {column}"),
    }
}

fn iso(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
    )
}

/// The text column `name` as an array of `n` rows (all NULL when unmapped).
fn text_array(v: &Mapped, name: &str, n: usize) -> ArrayRef {
    match v.texts(name) {
        Some(a) => Arc::new(a.clone()),
        None => Arc::new(StringArray::new_null(n)),
    }
}

fn time_array(v: &Mapped, name: &str, n: usize) -> ArrayRef {
    match v.times(name) {
        Some(a) => Arc::new(a.clone()),
        None => Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
    }
}

/// An integer column as `Int32` (values were checked to fit), with `default` for NULL.
fn int32_array(v: &Mapped, name: &str, n: usize, default: Option<i32>) -> ArrayRef {
    Arc::new(
        (0..n)
            .map(|i| v.int(name, i).map(|x| x as i32).or(default))
            .collect::<Int32Array>(),
    )
}

/// The rows of `columns` (all rows of a batch, rejected ones included) where `keep` holds, as
/// a batch of `schema`, with their lines.
fn kept(
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    lines: &[u64],
    keep: &[bool],
) -> Result<Rows, ArrowError> {
    // Rejected rows may lack required values: filter them out before the schema is enforced.
    let loose = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    );
    let all = RecordBatch::try_new(Arc::new(loose), columns)?;
    let mask: BooleanArray = keep.iter().map(|k| Some(*k)).collect();
    let filtered = filter_record_batch(&all, &mask)?;
    let lines = lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(l, _)| *l)
        .collect();
    Ok(Rows {
        batch: RecordBatch::try_new(schema, filtered.columns().to_vec())?,
        lines,
    })
}

/// The rows of `columns` that are not rejected.
fn accepted(schema: SchemaRef, columns: Vec<ArrayRef>, m: &Mapped) -> Result<Rows, ArrowError> {
    let keep: Vec<bool> = m.rejected.iter().map(|r| !r).collect();
    kept(schema, columns, &m.lines, &keep)
}

/// The first check a ticket row fails, if any: required fields, integers that fit, milestones
/// not before creation, a non-negative reopen count, a CSAT between 1 and 5.
fn ticket_check(v: &Mapped, i: usize, line: u64) -> Option<Rejection> {
    for column in ["ticket_id", "source_system"] {
        if v.text(column, i).is_none_or(str::is_empty) {
            return Some(missing(line, column));
        }
    }
    let Some(created) = v.time("created_at", i) else {
        return Some(missing(line, "created_at"));
    };
    if v.text("status", i).is_none_or(str::is_empty) {
        return Some(missing(line, "status"));
    }
    let reject = |column: &str, value: String, reason: String| {
        Some(Rejection {
            line,
            column: column.to_string(),
            value,
            reason,
        })
    };
    for column in ["reopen_count", "csat_score"] {
        if let Some(x) = v.int(column, i).filter(|x| i32::try_from(*x).is_err()) {
            return reject(column, x.to_string(), format!("{column} out of range"));
        }
    }
    for column in ["first_response_at", "resolved_at", "closed_at"] {
        if let Some(at) = v.time(column, i).filter(|&at| at < created) {
            return reject(
                column,
                iso(at),
                format!(
                    "{} before created ({})",
                    column.trim_end_matches("_at"),
                    iso(created)
                ),
            );
        }
    }
    if let Some(x) = v.int("reopen_count", i).filter(|x| *x < 0) {
        return reject(
            "reopen_count",
            x.to_string(),
            "reopen_count is negative".into(),
        );
    }
    csat_check(v, i, line)
}

fn csat_check(v: &Mapped, i: usize, line: u64) -> Option<Rejection> {
    let score = v.int("csat_score", i)?;
    if i32::try_from(score).is_err() {
        return Some(Rejection {
            line,
            column: "csat_score".into(),
            value: score.to_string(),
            reason: "csat_score out of range".into(),
        });
    }
    (!(1..=5).contains(&score)).then(|| Rejection {
        line,
        column: "csat_score".into(),
        value: score.to_string(),
        reason: "csat_score must be between 1 and 5".into(),
    })
}

/// Apply `check` to every row not yet rejected.
fn check_rows(m: &mut Mapped, check: impl Fn(&Mapped, usize, u64) -> Option<Rejection>) {
    let found: Vec<(usize, Rejection)> = (0..m.num_rows())
        .filter(|&i| !m.rejected[i])
        .filter_map(|i| check(m, i, m.lines[i]).map(|r| (i, r)))
        .collect();
    for (i, r) in found {
        m.reject(i, r);
    }
}

/// The ticket columns of a mapped batch, all rows.
fn ticket_columns(v: &Mapped, n: usize) -> Vec<ArrayRef> {
    TICKETS
        .columns
        .iter()
        .map(|c| match (c.name, c.kind) {
            ("reopen_count", _) => int32_array(v, c.name, n, Some(0)),
            (_, Kind::Integer) => int32_array(v, c.name, n, None),
            (_, Kind::Timestamp) => time_array(v, c.name, n),
            _ => text_array(v, c.name, n),
        })
        .collect()
}

/// The tickets of a tickets export.
pub fn tickets(m: &mut Mapped) -> Result<Rows, ArrowError> {
    check_rows(m, ticket_check);
    let n = m.num_rows();
    let columns = ticket_columns(m, n);
    accepted(TICKETS.schema(), columns, m)
}

/// The schema of staged snapshots: the ticket columns, then `_seq` and `_actor`.
pub fn snapshots_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let mut fields: Vec<Field> = TICKETS
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("_seq", DataType::Int64, true));
        fields.push(Field::new("_actor", DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    }))
}

/// The rows of a snapshot export: valid tickets with their update time, sequence and actor.
pub fn snapshots(m: &mut Mapped) -> Result<Rows, ArrowError> {
    check_rows(m, |v, i, line| {
        ticket_check(v, i, line).or_else(|| {
            v.time("updated_at", i)
                .is_none()
                .then(|| missing(line, "updated_at"))
        })
    });
    let n = m.num_rows();
    let mut columns = ticket_columns(m, n);
    columns.push(match m.ints("sequence") {
        Some(a) => Arc::new(a.clone()),
        None => Arc::new(Int64Array::new_null(n)),
    });
    columns.push(text_array(m, "actor", n));
    accepted(snapshots_schema(), columns, m)
}

/// The schema of staged ticket attributes.
pub fn attributes_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let tickets = TICKETS.schema();
        let fields: Vec<Field> = TICKETS
            .key
            .iter()
            .map(|n| tickets.field_with_name(n).cloned())
            .chain([Ok(Field::new("ts", Kind::Timestamp.data_type(), false))])
            .chain(
                TICKET_ATTRIBUTES
                    .iter()
                    .map(|n| tickets.field_with_name(n).cloned()),
            )
            .collect::<Result<_, _>>()
            .expect("ticket attributes are ticket columns");
        Arc::new(Schema::new(fields))
    }))
}

/// The events of an events export, and the ticket attributes their rows carry (channel, team,
/// assignee, …, with the event's time: the latest ones become the derived ticket's), with a
/// row for every ticket the rows touch (its attributes blank when none of its rows carries any).
pub fn events(m: &mut Mapped) -> Result<(Rows, Rows), ArrowError> {
    // Without an `event_type`, a row with a `to_status` is a `status_changed` event.
    check_rows(m, |v, i, line| {
        let typed = v.text("event_type", i).is_some_and(|t| !t.is_empty());
        if !typed && v.text("to_status", i).is_none() {
            return Some(missing(line, "event_type"));
        }
        for column in ["ticket_id", "source_system"] {
            if v.text(column, i).is_none_or(str::is_empty) {
                return Some(missing(line, column));
            }
        }
        if v.time("ts", i).is_none() {
            return Some(missing(line, "ts"));
        }
        csat_check(v, i, line)
    });
    let n = m.num_rows();
    let types: StringArray = (0..n)
        .map(|i| {
            Some(
                m.text("event_type", i)
                    .filter(|t| !t.is_empty())
                    .unwrap_or(EventType::StatusChanged.as_str()),
            )
        })
        .collect();
    let mut ids = StringBuilder::with_capacity(n, n * 32);
    let mut months = StringBuilder::with_capacity(n, n * 7);
    for i in 0..n {
        let t = m.time("ts", i).unwrap_or_default();
        months.append_value(month(t));
        match m.text("event_id", i).filter(|s| !s.is_empty()) {
            Some(id) => ids.append_value(id),
            None if m.rejected[i] => ids.append_value(""),
            None => ids.append_value(content_id(&[
                m.text("source_system", i),
                m.text("ticket_id", i),
                Some(&t.to_string()),
                Some(types.value(i)),
                m.text("actor", i),
                m.text("actor_role", i),
                m.text("from_status", i),
                m.text("to_status", i),
                m.text("value", i),
            ])),
        }
    }
    let columns: Vec<ArrayRef> = TICKET_EVENTS
        .columns
        .iter()
        .map(|c| match c.name {
            "event_id" => Arc::new(ids.finish()) as ArrayRef,
            "event_type" => Arc::new(types.clone()),
            "month" => Arc::new(months.finish()),
            name if c.kind == Kind::Timestamp => time_array(m, name, n),
            name => text_array(m, name, n),
        })
        .collect();
    let events = accepted(TICKET_EVENTS.schema(), columns, m)?;

    // The ticket attributes of the accepted rows, but only the rows that can give the ticket
    // its attributes: for each attribute the latest row that carries it, and the latest row
    // that carries any (its instant tells whether the run's attributes are newer than the
    // stored ones); and the latest row of each ticket (carrying any or not), so that every
    // ticket the batch touches is there. Latest by (ts, line): the order in which the
    // derivation weighs them, whose other tie-break, the file, is the same for the whole batch.
    let held: Vec<&dyn Array> = TICKET_ATTRIBUTES
        .iter()
        .filter_map(|a| match m.column(a) {
            Some(Column::Text(c)) => Some(c as &dyn Array),
            Some(Column::Int(c)) => Some(c as &dyn Array),
            _ => None,
        })
        .collect();
    let (ts, lines) = (m.times("ts"), &m.lines);
    let order = |i: usize| (ts.filter(|t| t.is_valid(i)).map(|t| t.value(i)), lines[i]);
    let (systems, tickets) = (m.texts("source_system"), m.texts("ticket_id"));
    fn key_part(a: Option<&StringArray>, i: usize) -> Option<&str> {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
    }
    let mut latest: HashMap<_, Vec<Option<usize>>> = HashMap::new();
    for i in (0..n).filter(|&i| !m.rejected[i]) {
        // The latest row, then the latest carrying any, then one per attribute.
        let rows = latest
            .entry((key_part(systems, i), key_part(tickets, i)))
            .or_insert_with(|| vec![None; held.len() + 2]);
        let later = |row: Option<usize>| row.is_none_or(|j| order(i) > order(j));
        if later(rows[0]) {
            rows[0] = Some(i);
        }
        if !held.iter().any(|c| c.is_valid(i)) {
            continue;
        }
        if later(rows[1]) {
            rows[1] = Some(i);
        }
        for (a, column) in held.iter().enumerate() {
            if column.is_valid(i) && later(rows[a + 2]) {
                rows[a + 2] = Some(i);
            }
        }
    }
    let mut carried = vec![false; n];
    for i in latest.values().flatten().flatten() {
        carried[*i] = true;
    }
    let attributes: Vec<ArrayRef> = attributes_schema()
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "ts" => time_array(m, "ts", n),
            "csat_score" => int32_array(m, "csat_score", n, None),
            name => text_array(m, name, n),
        })
        .collect();
    let attributes = kept(attributes_schema(), attributes, &m.lines, &carried)?;
    Ok((events, attributes))
}

/// A deterministic id from an event's content (source system, ticket, µs, type, actor, actor
/// role, from and to status, value): the same event in two exports gets the same id. Fields
/// are length-prefixed so that no two different events share an input.
pub fn content_id(parts: &[Option<&str>]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        match part {
            None => hasher.update(b"-"),
            Some(p) => hasher
                .update(format!("{}:", p.len()).as_bytes())
                .update(p.as_bytes()),
        };
    }
    hasher.finalize().to_hex()[..32].to_string()
}

/// `YYYY-MM` of an instant (UTC µs): an event's partition.
pub fn month(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::mapper::Mapper;
    use crate::ingest::reader::TextBatch;
    use datafusion::arrow::array::AsArray;

    fn mapped(source: &str, rows: &[&[Option<&str>]]) -> Mapped {
        let mapping = crate::ingest::test_mapping("hd", source);
        let width = mapping.columns.len();
        let batch = TextBatch {
            lines: (0..rows.len() as u64).map(|i| i + 2).collect(),
            columns: (0..width)
                .map(|c| rows.iter().map(|r| r[c]).collect::<StringArray>())
                .collect(),
            malformed: Vec::new(),
        };
        Mapper::new(&mapping).unwrap().map(&batch)
    }

    const TICKETS_SOURCE: &str = "shape = \"tickets\"\n\
        columns = { ticket_id = \"Id\", created_at = \"C\", status = \"S\", \
        resolved_at = \"R\", csat_score = \"Q\" }\n";

    #[test]
    fn tickets_need_their_required_fields_and_a_consistent_timeline() {
        let t0 = Some("2026-03-02T11:00:00Z");
        let mut m = mapped(
            TICKETS_SOURCE,
            &[
                &[Some("7"), t0, Some("open"), None, None],
                &[None, t0, Some("open"), None, None],
                &[
                    Some("8"),
                    t0,
                    Some("open"),
                    Some("2026-03-02T10:59:00Z"),
                    None,
                ],
                &[Some("9"), t0, Some("open"), None, Some("9")],
            ],
        );
        let rows = tickets(&mut m).unwrap();
        assert_eq!(rows.batch.num_rows(), 1);
        assert_eq!(rows.lines, [2]);
        let reopen = rows.batch.column_by_name("reopen_count").unwrap();
        assert_eq!(
            reopen
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .value(0),
            0
        );
        let got: Vec<(u64, &str, &str, &str)> = m
            .rejections
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.column.as_str(),
                    r.value.as_str(),
                    r.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (3, "ticket_id", "", "missing required field ticket_id"),
                (
                    4,
                    "resolved_at",
                    "2026-03-02T10:59:00Z",
                    "resolved before created (2026-03-02T11:00:00Z)"
                ),
                (5, "csat_score", "9", "csat_score must be between 1 and 5"),
            ]
        );
    }

    #[test]
    fn attributes_keep_only_the_rows_that_can_give_a_ticket_its_values() {
        let source = "shape = \"events\"\n\
            columns = { ticket_id = \"T\", ts = \"At\", to_status = \"S\", team = \"G\", \
            channel = \"Ch\" }\n";
        let (s, t) = (Some("open"), |h: &'static str| Some(h));
        let mut m = mapped(
            source,
            &[
                &[
                    Some("1"),
                    t("2026-03-02T10:00:00Z"),
                    s,
                    Some("a"),
                    Some("email"),
                ],
                &[Some("1"), t("2026-03-02T11:00:00Z"), s, Some("b"), None],
                &[Some("1"), t("2026-03-02T09:00:00Z"), s, None, Some("chat")],
                &[Some("1"), t("2026-03-02T12:00:00Z"), s, None, None],
                &[Some("2"), t("2026-03-02T10:00:00Z"), s, Some("c"), None],
                &[Some("2"), t("2026-03-02T10:00:00Z"), s, Some("d"), None],
            ],
        );
        let (events, attributes) = events(&mut m).unwrap();
        assert_eq!(events.batch.num_rows(), 6);
        // Ticket 1: the latest team (line 3, also the latest row carrying any), the latest
        // channel (line 2: 09:00 is earlier) and the latest row (line 5); ticket 2: the later
        // line of the same instant (line 7).
        assert_eq!(attributes.lines, [2, 3, 5, 7]);
    }

    #[test]
    fn event_ids_are_deterministic_and_content_based() {
        let source = "shape = \"events\"\n\
            columns = { ticket_id = \"T\", ts = \"At\", to_status = \"S\", event_id = \"Id\" }\n";
        let at = Some("2026-03-02T11:00:00Z");
        let mut m = mapped(
            source,
            &[
                &[Some("7"), at, Some("pending"), None],
                &[Some("7"), at, Some("pending"), None],
                &[Some("7"), at, Some("open"), None],
                &[Some("7"), at, Some("open"), Some("e-1")],
                &[Some("7"), at, None, None],
            ],
        );
        let (events, attributes) = events(&mut m).unwrap();
        // No attributes mapped: one row for the one ticket touched, its attributes blank.
        assert_eq!(attributes.lines, [5]);
        let ids = events
            .batch
            .column_by_name("event_id")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(ids.value(0), ids.value(1));
        assert_eq!(ids.value(0).len(), 32);
        assert_ne!(ids.value(0), ids.value(2));
        assert_eq!(ids.value(3), "e-1");
        let types = events
            .batch
            .column_by_name("event_type")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(types.value(0), "status_changed");
        let months = events
            .batch
            .column_by_name("month")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(months.value(0), "2026-03");
        assert_eq!(m.rejections[0].reason, "missing required field event_type");
        assert_eq!(m.rejections[0].line, 6);
    }

    #[test]
    fn months_of_instants() {
        for (t, m) in [
            (0, "1970-01"),
            (1_772_449_200_000_000, "2026-03"),
            (951_782_400_000_000, "2000-02-29"),
            (4_133_980_799_000_000, "2100-12"),
        ] {
            assert_eq!(month(t), &m[..7], "{t}");
        }
    }
}
