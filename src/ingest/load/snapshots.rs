//! What a snapshot export derives, in Rust, bucket by bucket of tickets ([`Buckets`]):
//!
//! - **events** from consecutive snapshots of each ticket (ordered by update, sequence, file
//!   and line; the first diffed with the stored ticket when that is older): `created` for the
//!   first, and `status_changed`, `assigned` (an empty value when the assignee goes) and
//!   `priority_changed` where the values differ. An event's id hashes its content
//!   ([`crate::ingest::row_hash`]), so the same history gives the same ids;
//! - **tickets**: each snapshot with a blank `resolved_at` (and a blank `closed_at` when it is
//!   closed) filled from the ticket's status history up to the snapshot's update, the stored
//!   events and this run's: the first entry into a resolved status, the last entry into
//!   `closed`. A snapshot's own value wins. The tickets are reconciled with the stored ones
//!   in the same pass (the rule of [`super::plan`]), so the snapshots are split into buckets
//!   once.
//!
//! The buckets are worked on by the run's threads at once ([`super::parts`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::HashMap;

use crate::ingest::records::month;
use crate::ingest::row_hash;
use crate::tables::{EventType, Status, Vocabulary, TICKETS, TICKET_EVENTS};

use super::buckets::{Bucketed, Buckets};
use super::parts::write_parts;
use super::plan;
use super::reconcile::{column_list, plan_bucket, Mode, Planned, Run};
use super::replay::{arrow, by_ticket, get, get_int, int, text};
use super::stage::{with_lines, Grouped, STAGED};
use super::{IngestError, TableCounts};

/// `table`'s columns with `_file`, `_line` and `_s` (the rows a reconciliation reads).
pub(super) fn input_schema(table: &crate::tables::Table) -> SchemaRef {
    let mut fields: Vec<Field> = with_lines(&table.schema())
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_s", DataType::Int64, true));
    Arc::new(Schema::new(fields))
}

/// `columns` by name, in the order of `schema` and cast to its types.
pub(super) fn assemble(
    schema: &SchemaRef,
    mut columns: HashMap<&str, ArrayRef>,
) -> Result<RecordBatch, IngestError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let column = columns.remove(f.name().as_str()).ok_or_else(|| {
                arrow(ArrowError::SchemaError(format!(
                    "no derived column {}",
                    f.name()
                )))
            })?;
            cast(&column, f.data_type()).map_err(arrow)
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(arrow)
}

impl Run<'_> {
    /// Derive from the staged snapshots (`staged`, read from `grouped` when they are grouped
    /// by bucket, see [`Grouped`]) their events, into Parquet files in
    /// `events_dir`, and themselves as tickets with their blank milestones filled, reconciled
    /// with the stored tickets into the plan of `tickets`, bucket by bucket of tickets: the
    /// first snapshot of each ticket diffed with `tickets_before`, the milestones from the
    /// status changes of `events_before` and of the events just derived (the events the table
    /// holds once they are committed). Returns the schema of the events, and the tickets' plan
    /// and counts.
    pub(super) async fn snapshot_rows(
        &self,
        events_dir: &Path,
        grouped: Option<&Grouped>,
    ) -> Result<(SchemaRef, Planned, TableCounts), IngestError> {
        let needed = self
            .buckets(&[STAGED, "tickets_before", "events_before"])
            .await?;
        // The staged snapshots grouped by bucket, unless their buckets are larger than a chunk.
        let grouped = grouped.filter(|g| g.n >= needed);
        let buckets = grouped.map_or(needed, |g| g.n);
        let root = self.stage.dir.join("buckets_snapshots");
        let split = |sql: String, name: &'static str| {
            let dir = root.join(name);
            async move { Buckets::split(self.ctx, &sql, TICKETS.key, buckets, &dir).await }
        };
        let staged = match grouped {
            Some(grouped) => Bucketed::Staged(&grouped.records, None),
            None => Bucketed::Split(split(format!("SELECT * FROM {STAGED}"), "staged").await?),
        };
        let stored = split(
            format!(
                "SELECT {} FROM tickets_before",
                column_list(TICKETS.columns, "")
            ),
            "before",
        )
        .await?;
        let history = split(
            "SELECT ticket_id, source_system, ts, to_status FROM events_before \
             WHERE to_status IS NOT NULL"
                .to_string(),
            "history",
        )
        .await?;
        let (events_schema, tickets_schema) =
            (input_schema(&TICKET_EVENTS), input_schema(&TICKETS));
        let plan_schema = plan::plan_schema(&tickets_schema, &TICKETS).map_err(arrow)?;
        let counts = Mutex::new(TableCounts::default());
        let stored_empty = RecordBatch::new_empty(Arc::clone(&stored.schema));
        write_parts(
            buckets as usize,
            self.threads,
            "part-derived.parquet",
            [
                (events_dir, &events_schema),
                (&self.plan_dir(&TICKETS), &plan_schema),
            ],
            |b, threads| {
                let (before, history) = (stored.take(b)?, history.take(b)?);
                let Some(staged) = staged.take(b)? else {
                    return Ok([Vec::new(), Vec::new()]);
                };
                let events = events_of(&staged, before.as_ref(), &events_schema, threads)?;
                let histories: Vec<&RecordBatch> = history.iter().chain([&events]).collect();
                let tickets = milestones_of(&staged, &histories, &tickets_schema)?;
                let before = before.as_ref().unwrap_or(&stored_empty);
                let planned = plan_bucket(
                    &TICKETS,
                    &tickets,
                    before,
                    Mode::Versioned,
                    threads,
                    &counts,
                )?;
                Ok([vec![events], planned])
            },
        )?;
        let _ = std::fs::remove_dir_all(&root);
        let counts = counts.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((events_schema, Planned::Files(plan_schema), counts))
    }
}

/// Whether two optional values differ (SQL's `IS DISTINCT FROM`).
fn distinct(a: Option<&str>, b: Option<&str>) -> bool {
    a != b
}

/// The events of one bucket of snapshots.
fn events_of(
    staged: &RecordBatch,
    before: Option<&RecordBatch>,
    schema: &SchemaRef,
    threads: usize,
) -> Result<RecordBatch, IngestError> {
    let (ticket, system) = by_ticket(staged)?;
    let created = int(staged, "created_at")?;
    let updated = int(staged, "updated_at")?;
    let status = text(staged, "status")?;
    let assignee = text(staged, "assignee")?;
    let priority = text(staged, "priority")?;
    let seq = int(staged, "_seq")?;
    let actor = text(staged, "_actor")?;
    let file = text(staged, "_file")?;
    let line = int(staged, "_line")?;

    let stored = before.filter(|b| b.num_rows() > 0);
    let stored_columns = match stored {
        Some(b) => Some((
            by_ticket(b)?,
            int(b, "updated_at")?,
            text(b, "status")?,
            text(b, "assignee")?,
            text(b, "priority")?,
        )),
        None => None,
    };
    let stored_at: HashMap<(&str, &str), usize> = stored_columns
        .as_ref()
        .map(|((t, s), ..)| {
            (0..t.len())
                .map(|i| ((t.value(i), s.value(i)), i))
                .collect()
        })
        .unwrap_or_default();

    // Snapshots by ticket, then update (unknown last), sequence (unknown first), file, line.
    let mut order: Vec<usize> = (0..staged.num_rows()).collect();
    order.sort_unstable_by(|&a, &b| {
        (ticket.value(a), system.value(a))
            .cmp(&(ticket.value(b), system.value(b)))
            .then_with(|| match (get_int(&updated, a), get_int(&updated, b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => y.is_some().cmp(&x.is_some()),
            })
            .then_with(|| get_int(&seq, a).cmp(&get_int(&seq, b)))
            .then_with(|| file.value(a).cmp(file.value(b)))
            .then_with(|| line.value(a).cmp(&line.value(b)))
    });

    let mut e = EventColumns::default();
    for (k, &r) in order.iter().enumerate() {
        let key = (ticket.value(r), system.value(r));
        let first = k == 0 || (ticket.value(order[k - 1]), system.value(order[k - 1])) != key;
        let previous = if !first {
            let p = order[k - 1];
            Some((get(&status, p), get(&assignee, p), get(&priority, p)))
        } else {
            stored_columns
                .as_ref()
                .and_then(|(_, b_updated, b_status, b_assignee, b_priority)| {
                    let t = *stored_at.get(&key)?;
                    let older = matches!(
                        (get_int(b_updated, t), get_int(&updated, r)),
                        (Some(b), Some(s)) if b < s
                    );
                    older.then(|| (get(b_status, t), get(b_assignee, t), get(b_priority, t)))
                })
        };
        let at = get_int(&updated, r);
        let who = get(&actor, r);
        let place = (file.value(r), line.value(r) as u64);
        if first {
            e.push(
                key,
                get_int(&created, r),
                EventType::Created,
                None,
                None,
                None,
                None,
                place,
            );
        }
        if let Some((ps, pa, pp)) = previous {
            let (s, a, p) = (get(&status, r), get(&assignee, r), get(&priority, r));
            if distinct(s, ps) {
                e.push(key, at, EventType::StatusChanged, who, ps, s, None, place);
            }
            if distinct(a, pa) {
                e.push(
                    key,
                    at,
                    EventType::Assigned,
                    who,
                    None,
                    None,
                    Some(a.unwrap_or("")),
                    place,
                );
            }
            if p.is_some() && distinct(p, pp) {
                e.push(
                    key,
                    at,
                    EventType::PriorityChanged,
                    who,
                    None,
                    None,
                    p,
                    place,
                );
            }
        }
    }
    e.finish(schema, threads)
}

/// The columns of derived events, row by row.
#[derive(Default)]
struct EventColumns {
    ticket: StringBuilder,
    system: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    ts_id: Int64Builder,
    event_type: StringBuilder,
    actor: StringBuilder,
    from: StringBuilder,
    to: StringBuilder,
    value: StringBuilder,
    month: StringBuilder,
    file: StringBuilder,
    line: Vec<u64>,
}

impl EventColumns {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        (ticket, system): (&str, &str),
        ts: Option<i64>,
        event_type: EventType,
        actor: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        value: Option<&str>,
        (file, line): (&str, u64),
    ) {
        self.ticket.append_value(ticket);
        self.system.append_value(system);
        self.ts.append_option(ts);
        self.ts_id.append_option(ts);
        self.event_type.append_value(event_type.as_str());
        self.actor.append_option(actor);
        self.from.append_option(from);
        self.to.append_option(to);
        self.value.append_option(value);
        self.month.append_option(ts.map(month));
        self.file.append_value(file);
        self.line.push(line);
    }

    fn finish(mut self, schema: &SchemaRef, threads: usize) -> Result<RecordBatch, IngestError> {
        let n = self.line.len();
        let ticket: ArrayRef = Arc::new(self.ticket.finish());
        let system: ArrayRef = Arc::new(self.system.finish());
        let event_type: ArrayRef = Arc::new(self.event_type.finish());
        let actor: ArrayRef = Arc::new(self.actor.finish());
        let from: ArrayRef = Arc::new(self.from.finish());
        let to: ArrayRef = Arc::new(self.to.finish());
        let value: ArrayRef = Arc::new(self.value.finish());
        let ts_id: ArrayRef = Arc::new(self.ts_id.finish());
        // The id: the same values, in the same order, as earlier versions hashed.
        let id = row_hash::hashes_on(
            &[
                Arc::clone(&system),
                Arc::clone(&ticket),
                ts_id,
                Arc::clone(&event_type),
                Arc::clone(&actor),
                Arc::clone(&from),
                Arc::clone(&to),
                Arc::clone(&value),
            ],
            n,
            threads,
        )
        .map_err(|e| arrow(ArrowError::ExternalError(Box::new(e))))?;
        let mut columns: HashMap<&str, ArrayRef> = HashMap::new();
        columns.insert("event_id", Arc::new(id));
        columns.insert("ticket_id", ticket);
        columns.insert("source_system", system);
        columns.insert("ts", Arc::new(self.ts.finish().with_timezone("UTC")));
        columns.insert("event_type", event_type);
        columns.insert("actor", actor);
        columns.insert("actor_role", Arc::new(StringArray::new_null(n)));
        columns.insert("from_status", from);
        columns.insert("to_status", to);
        columns.insert("value", value);
        columns.insert("month", Arc::new(self.month.finish()));
        columns.insert("_file", Arc::new(self.file.finish()));
        columns.insert("_line", Arc::new(UInt64Array::from(self.line)));
        columns.insert("_s", Arc::new(Int64Array::new_null(n)));
        assemble(schema, columns)
    }
}

/// One bucket of snapshots as tickets with their blank milestones filled from `histories`
/// (`ticket_id`, `source_system`, `ts`, `to_status` of status changes; rows without an instant
/// or a status are not changes).
fn milestones_of(
    staged: &RecordBatch,
    histories: &[&RecordBatch],
    schema: &SchemaRef,
) -> Result<RecordBatch, IngestError> {
    let n = staged.num_rows();
    // Each ticket's status changes: (instant, status).
    let columns = histories
        .iter()
        .map(|h| Ok((by_ticket(h)?, int(h, "ts")?, text(h, "to_status")?)))
        .collect::<Result<Vec<_>, IngestError>>()?;
    let mut changes: HashMap<(&str, &str), Vec<(i64, Status)>> = HashMap::new();
    for ((t, s), ts, to) in &columns {
        for i in 0..t.len() {
            if let (Some(at), Some(status)) = (get_int(ts, i), get(to, i).and_then(Status::parse)) {
                changes
                    .entry((t.value(i), s.value(i)))
                    .or_default()
                    .push((at, status));
            }
        }
    }

    let (ticket, system) = by_ticket(staged)?;
    let updated = int(staged, "updated_at")?;
    let status = text(staged, "status")?;
    let resolved = int(staged, "resolved_at")?;
    let closed = int(staged, "closed_at")?;
    let mut resolved_at = TimestampMicrosecondBuilder::with_capacity(n);
    let mut closed_at = TimestampMicrosecondBuilder::with_capacity(n);
    for r in 0..n {
        let is_closed = get(&status, r) == Some(Status::Closed.as_str());
        let (mut first_resolved, mut last_closed) = (None::<i64>, None::<i64>);
        let blank = resolved.is_null(r) || (closed.is_null(r) && is_closed);
        if let (true, Some(at)) = (blank, get_int(&updated, r)) {
            for &(t, to) in changes
                .get(&(ticket.value(r), system.value(r)))
                .map_or(&[][..], Vec::as_slice)
            {
                if t > at {
                    continue;
                }
                if to.is_resolved() {
                    first_resolved = Some(first_resolved.map_or(t, |f| f.min(t)));
                }
                if to == Status::Closed {
                    last_closed = Some(last_closed.map_or(t, |l| l.max(t)));
                }
            }
        }
        resolved_at.append_option(get_int(&resolved, r).or(first_resolved));
        closed_at.append_option(get_int(&closed, r).or(last_closed.filter(|_| is_closed)));
    }

    let mut columns: HashMap<&str, ArrayRef> = HashMap::new();
    for field in schema.fields() {
        let name = field.name().as_str();
        let column = match name {
            "resolved_at" => Arc::new(resolved_at.finish().with_timezone("UTC")) as ArrayRef,
            "closed_at" => Arc::new(closed_at.finish().with_timezone("UTC")),
            "_s" => Arc::clone(
                staged
                    .column_by_name("_seq")
                    .ok_or_else(|| arrow(ArrowError::SchemaError("no column _seq".into())))?,
            ),
            _ => Arc::clone(
                staged
                    .column_by_name(name)
                    .ok_or_else(|| arrow(ArrowError::SchemaError(format!("no column {name}"))))?,
            ),
        };
        columns.insert(name, column);
    }
    assemble(schema, columns)
}
