//! Canonical records: one ticket or one event, checked for what the canonical tables require
//! (required fields, resolved not before created, CSAT between 1 and 5), and written as Arrow
//! batches of the canonical schemas.
//!
//! Events without a source id get a deterministic one, a hash of their content, so that
//! ingesting the same export twice, or two overlapping exports, yields the same event ids.

use std::sync::{Arc, OnceLock};

use chrono::DateTime;
use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::config::sources::TICKET_ATTRIBUTES;

use super::mapper::{Fields, Rejection, Value};
use crate::tables::{EventType, Kind, Vocabulary, TICKETS, TICKET_EVENTS};

/// One row of `tickets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub ticket_id: String,
    pub source_system: String,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub channel: Option<String>,
    pub inbox: Option<String>,
    pub team: Option<String>,
    pub priority: Option<String>,
    pub requester: Option<String>,
    pub assignee: Option<String>,
    pub status: String,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopen_count: i32,
    pub csat_score: Option<i32>,
}

/// One row of `ticket_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub event_id: String,
    pub ticket_id: String,
    pub source_system: String,
    pub ts: i64,
    pub event_type: String,
    pub actor: Option<String>,
    pub actor_role: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub value: Option<String>,
}

/// The ticket attributes an event row carries (channel, team, assignee, …), with the event's
/// time: the latest ones become the derived ticket's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRecord {
    pub ticket_id: String,
    pub source_system: String,
    pub ts: i64,
    pub channel: Option<String>,
    pub inbox: Option<String>,
    pub team: Option<String>,
    pub priority: Option<String>,
    pub requester: Option<String>,
    pub assignee: Option<String>,
    pub csat_score: Option<i32>,
}

/// One row of a snapshot export: the whole ticket as of one update, and its place in the
/// ticket's sequence of updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub ticket: TicketRecord,
    /// The source's update counter, which orders updates made within one timestamp.
    pub sequence: Option<i64>,
    /// Who made the update.
    pub actor: Option<String>,
}

fn missing(line: u64, column: &str) -> Rejection {
    Rejection {
        line,
        column: column.to_string(),
        value: String::new(),
        reason: format!("missing required field {column}"),
    }
}

fn text(f: &Fields, column: &str) -> Option<String> {
    f.get(column).text().map(str::to_string)
}

fn required_text(f: &Fields, column: &str) -> Result<String, Rejection> {
    text(f, column)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(f.line, column))
}

fn required_time(f: &Fields, column: &str) -> Result<i64, Rejection> {
    f.get(column).time().ok_or_else(|| missing(f.line, column))
}

fn small_int(f: &Fields, column: &str) -> Result<Option<i32>, Rejection> {
    match f.get(column) {
        Value::Int(v) => i32::try_from(*v).map(Some).map_err(|_| Rejection {
            line: f.line,
            column: column.to_string(),
            value: v.to_string(),
            reason: format!("{column} out of range"),
        }),
        _ => Ok(None),
    }
}

impl TicketRecord {
    /// The ticket a mapped row describes, or why it cannot be one.
    pub fn from_fields(f: &Fields) -> Result<TicketRecord, Rejection> {
        let record = TicketRecord {
            ticket_id: required_text(f, "ticket_id")?,
            source_system: required_text(f, "source_system")?,
            created_at: required_time(f, "created_at")?,
            updated_at: f.get("updated_at").time(),
            channel: text(f, "channel"),
            inbox: text(f, "inbox"),
            team: text(f, "team"),
            priority: text(f, "priority"),
            requester: text(f, "requester"),
            assignee: text(f, "assignee"),
            status: required_text(f, "status")?,
            first_response_at: f.get("first_response_at").time(),
            resolved_at: f.get("resolved_at").time(),
            closed_at: f.get("closed_at").time(),
            reopen_count: small_int(f, "reopen_count")?.unwrap_or(0),
            csat_score: small_int(f, "csat_score")?,
        };
        record.check(f.line)?;
        Ok(record)
    }

    /// Checks that hold for every ticket, whatever its source.
    pub fn check(&self, line: u64) -> Result<(), Rejection> {
        let reject = |column: &str, value: String, reason: String| {
            Err(Rejection {
                line,
                column: column.to_string(),
                value,
                reason,
            })
        };
        for (column, at) in [
            ("first_response_at", self.first_response_at),
            ("resolved_at", self.resolved_at),
            ("closed_at", self.closed_at),
        ] {
            if let Some(at) = at.filter(|&at| at < self.created_at) {
                return reject(
                    column,
                    iso(at),
                    format!(
                        "{} before created ({})",
                        column.trim_end_matches("_at"),
                        iso(self.created_at)
                    ),
                );
            }
        }
        if self.reopen_count < 0 {
            return reject(
                "reopen_count",
                self.reopen_count.to_string(),
                "reopen_count is negative".into(),
            );
        }
        if let Some(score) = self.csat_score.filter(|s| !(1..=5).contains(s)) {
            return reject(
                "csat_score",
                score.to_string(),
                "csat_score must be between 1 and 5".into(),
            );
        }
        Ok(())
    }
}

impl AttributeRecord {
    /// The attributes of an event row, or `None` when it carries none.
    pub fn from_fields(
        f: &Fields,
        event: &EventRecord,
    ) -> Result<Option<AttributeRecord>, Rejection> {
        let record = AttributeRecord {
            ticket_id: event.ticket_id.clone(),
            source_system: event.source_system.clone(),
            ts: event.ts,
            channel: text(f, "channel"),
            inbox: text(f, "inbox"),
            team: text(f, "team"),
            priority: text(f, "priority"),
            requester: text(f, "requester"),
            assignee: text(f, "assignee"),
            csat_score: small_int(f, "csat_score")?,
        };
        if let Some(score) = record.csat_score.filter(|s| !(1..=5).contains(s)) {
            return Err(Rejection {
                line: f.line,
                column: "csat_score".into(),
                value: score.to_string(),
                reason: "csat_score must be between 1 and 5".into(),
            });
        }
        let any = [
            &record.channel,
            &record.inbox,
            &record.team,
            &record.priority,
            &record.requester,
            &record.assignee,
        ]
        .iter()
        .any(|v| v.is_some())
            || record.csat_score.is_some();
        Ok(any.then_some(record))
    }
}

impl SnapshotRecord {
    /// The snapshot a mapped row describes: a valid ticket with its update time.
    pub fn from_fields(f: &Fields) -> Result<SnapshotRecord, Rejection> {
        let ticket = TicketRecord::from_fields(f)?;
        if ticket.updated_at.is_none() {
            return Err(missing(f.line, "updated_at"));
        }
        Ok(SnapshotRecord {
            ticket,
            sequence: f.get("sequence").int(),
            actor: text(f, "actor"),
        })
    }
}

fn iso(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
    )
}

impl EventRecord {
    /// The event a mapped row describes, or why it cannot be one. Without an `event_type`, a
    /// row with a `to_status` is a `status_changed` event.
    pub fn from_fields(f: &Fields) -> Result<EventRecord, Rejection> {
        let to_status = text(f, "to_status");
        let event_type = match text(f, "event_type").filter(|s| !s.is_empty()) {
            Some(t) => t,
            None if to_status.is_some() => EventType::StatusChanged.as_str().to_string(),
            None => return Err(missing(f.line, "event_type")),
        };
        let mut record = EventRecord {
            event_id: text(f, "event_id").unwrap_or_default(),
            ticket_id: required_text(f, "ticket_id")?,
            source_system: required_text(f, "source_system")?,
            ts: required_time(f, "ts")?,
            event_type,
            actor: text(f, "actor"),
            actor_role: text(f, "actor_role"),
            from_status: text(f, "from_status"),
            to_status,
            value: text(f, "value"),
        };
        if record.event_id.is_empty() {
            record.event_id = record.content_id();
        }
        Ok(record)
    }

    /// A deterministic id from the event's content: the same event in two exports gets the
    /// same id. Fields are length-prefixed so that no two different events share an input.
    pub fn content_id(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        let ts = self.ts.to_string();
        for part in [
            Some(self.source_system.as_str()),
            Some(self.ticket_id.as_str()),
            Some(ts.as_str()),
            Some(self.event_type.as_str()),
            self.actor.as_deref(),
            self.actor_role.as_deref(),
            self.from_status.as_deref(),
            self.to_status.as_deref(),
            self.value.as_deref(),
        ] {
            match part {
                None => hasher.update(b"-"),
                Some(p) => hasher
                    .update(format!("{}:", p.len()).as_bytes())
                    .update(p.as_bytes()),
            };
        }
        hasher.finalize().to_hex()[..32].to_string()
    }

    /// `YYYY-MM` of the event's instant in UTC: its partition.
    pub fn month(&self) -> String {
        DateTime::from_timestamp_micros(self.ts)
            .map_or_else(|| "invalid".to_string(), |t| t.format("%Y-%m").to_string())
    }
}

fn utc_times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn ints(values: impl Iterator<Item = Option<i32>>) -> ArrayRef {
    let mut b = Int32Builder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// `tickets` rows as a batch of the canonical schema.
pub fn tickets_batch(rows: &[TicketRecord]) -> Result<RecordBatch, ArrowError> {
    let t = |f: fn(&TicketRecord) -> Option<&str>| texts(rows.iter().map(f));
    RecordBatch::try_new(
        TICKETS.schema(),
        vec![
            t(|r| Some(&r.ticket_id)),
            t(|r| Some(&r.source_system)),
            utc_times(rows.iter().map(|r| Some(r.created_at))),
            utc_times(rows.iter().map(|r| r.updated_at)),
            t(|r| r.channel.as_deref()),
            t(|r| r.inbox.as_deref()),
            t(|r| r.team.as_deref()),
            t(|r| r.priority.as_deref()),
            t(|r| r.requester.as_deref()),
            t(|r| r.assignee.as_deref()),
            t(|r| Some(&r.status)),
            utc_times(rows.iter().map(|r| r.first_response_at)),
            utc_times(rows.iter().map(|r| r.resolved_at)),
            utc_times(rows.iter().map(|r| r.closed_at)),
            ints(rows.iter().map(|r| Some(r.reopen_count))),
            ints(rows.iter().map(|r| r.csat_score)),
        ],
    )
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

/// Event rows' ticket attributes as a batch of [`attributes_schema`].
pub fn attributes_batch(rows: &[AttributeRecord]) -> Result<RecordBatch, ArrowError> {
    let t = |f: fn(&AttributeRecord) -> Option<&str>| texts(rows.iter().map(f));
    RecordBatch::try_new(
        attributes_schema(),
        vec![
            t(|r| Some(&r.ticket_id)),
            t(|r| Some(&r.source_system)),
            utc_times(rows.iter().map(|r| Some(r.ts))),
            t(|r| r.channel.as_deref()),
            t(|r| r.inbox.as_deref()),
            t(|r| r.team.as_deref()),
            t(|r| r.priority.as_deref()),
            t(|r| r.requester.as_deref()),
            t(|r| r.assignee.as_deref()),
            ints(rows.iter().map(|r| r.csat_score)),
        ],
    )
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

/// Snapshot rows as a batch of [`snapshots_schema`].
pub fn snapshots_batch(rows: &[SnapshotRecord]) -> Result<RecordBatch, ArrowError> {
    let tickets: Vec<TicketRecord> = rows.iter().map(|r| r.ticket.clone()).collect();
    let mut columns = tickets_batch(&tickets)?.columns().to_vec();
    columns.push(Arc::new(Int64Array::from_iter(
        rows.iter().map(|r| r.sequence),
    )));
    columns.push(texts(rows.iter().map(|r| r.actor.as_deref())));
    RecordBatch::try_new(snapshots_schema(), columns)
}

/// `ticket_events` rows as a batch of the canonical schema.
pub fn events_batch(rows: &[EventRecord]) -> Result<RecordBatch, ArrowError> {
    let t = |f: fn(&EventRecord) -> Option<&str>| texts(rows.iter().map(f));
    let months: Vec<String> = rows.iter().map(EventRecord::month).collect();
    RecordBatch::try_new(
        TICKET_EVENTS.schema(),
        vec![
            t(|r| Some(&r.event_id)),
            t(|r| Some(&r.ticket_id)),
            t(|r| Some(&r.source_system)),
            utc_times(rows.iter().map(|r| Some(r.ts))),
            t(|r| Some(&r.event_type)),
            t(|r| r.actor.as_deref()),
            t(|r| r.actor_role.as_deref()),
            t(|r| r.from_status.as_deref()),
            t(|r| r.to_status.as_deref()),
            t(|r| r.value.as_deref()),
            texts(months.iter().map(|m| Some(m.as_str()))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: u64, values: &[(&str, Value)]) -> Fields {
        let mut f = Fields::default();
        f.line = line;
        for (k, v) in values {
            f.set(k, v.clone());
        }
        f
    }

    fn s(v: &str) -> Value {
        Value::Text(v.into())
    }

    const T0: i64 = 1_772_449_200_000_000; // 2026-03-02T11:00:00Z

    #[test]
    fn tickets_need_their_required_fields_and_a_consistent_timeline() {
        let base = [
            ("ticket_id", s("7")),
            ("source_system", s("hd")),
            ("created_at", Value::Time(T0)),
            ("status", s("open")),
        ];
        let ok = TicketRecord::from_fields(&fields(2, &base)).unwrap();
        assert_eq!((ok.reopen_count, ok.csat_score), (0, None));
        let batch = tickets_batch(&[ok]).unwrap();
        assert_eq!(batch.num_rows(), 1);

        let err = TicketRecord::from_fields(&fields(3, &base[1..])).unwrap_err();
        assert_eq!(
            (err.line, err.column.as_str(), err.reason.as_str()),
            (3, "ticket_id", "missing required field ticket_id")
        );
        let mut early = base.to_vec();
        early.push(("resolved_at", Value::Time(T0 - 60_000_000)));
        let err = TicketRecord::from_fields(&fields(4, &early)).unwrap_err();
        assert_eq!(err.column, "resolved_at");
        assert_eq!(err.value, "2026-03-02T10:59:00Z");
        assert_eq!(err.reason, "resolved before created (2026-03-02T11:00:00Z)");
        let mut csat = base.to_vec();
        csat.push(("csat_score", Value::Int(9)));
        let err = TicketRecord::from_fields(&fields(5, &csat)).unwrap_err();
        assert_eq!(err.reason, "csat_score must be between 1 and 5");
    }

    #[test]
    fn event_ids_are_deterministic_and_content_based() {
        let row = [
            ("ticket_id", s("7")),
            ("source_system", s("hd")),
            ("ts", Value::Time(T0)),
            ("to_status", s("pending")),
        ];
        let a = EventRecord::from_fields(&fields(2, &row)).unwrap();
        let b = EventRecord::from_fields(&fields(99, &row)).unwrap();
        assert_eq!(a.event_type, "status_changed");
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.event_id.len(), 32);
        let mut other = row.to_vec();
        other[3] = ("to_status", s("open"));
        let c = EventRecord::from_fields(&fields(2, &other)).unwrap();
        assert_ne!(a.event_id, c.event_id);
        // A source id is kept as it is.
        let mut with_id = row.to_vec();
        with_id.push(("event_id", s("e-1")));
        assert_eq!(
            EventRecord::from_fields(&fields(2, &with_id))
                .unwrap()
                .event_id,
            "e-1"
        );
        assert_eq!(a.month(), "2026-03");
        let batch = events_batch(&[a, c]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let err = EventRecord::from_fields(&fields(5, &row[..3])).unwrap_err();
        assert_eq!(err.reason, "missing required field event_type");
    }
}
