//! Tickets derived from their events in Rust: the tickets an events export touched, each from
//! its whole stored history by the history rules ([`crate::history::Replay`], the rules that
//! [`crate::history::sql::ticket_facts`] states in SQL), with the latest attributes the event
//! rows carried. Bucket by bucket of tickets ([`Buckets`]), so memory is bounded by a bucket.
//!
//! The attributes follow one rule: the run's latest non-empty value wins when the run's rows
//! are at least as recent as the stored ticket, otherwise the stored value stays (and fills a
//! blank); the assignment of the event history comes between the two for `assignee`, and the
//! rating of the history wins for `csat_score`.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, UInt64Array,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, HashMap, HashSet};

use crate::config::sources::TICKET_ATTRIBUTES;
use crate::history::{Event, Facts, Replay};
use crate::tables::{ActorRole, Status, Vocabulary, TICKETS, TICKET_EVENTS};

use super::buckets::{Bucketed, Buckets};
use super::parts::write_parts;
use super::reconcile::{rows_of, Run};
use super::snapshots::{assemble, input_schema};
use super::stage::{Grouped, STAGED_ATTRIBUTES};
use super::{query, IngestError};

/// What a derived row names as its file in quarantine and plans.
const DERIVED_FILE: &str = "(derived from ticket_events)";

/// The attributes an event row may carry (`TICKET_ATTRIBUTES`): the first five are taken
/// plainly (the run's latest value, or the stored one), then `assignee` and `csat_score`.
const PLAIN: usize = 5;
const ASSIGNEE: usize = 5;
const CSAT: usize = 6;

pub(super) fn arrow(e: ArrowError) -> IngestError {
    query("deriving tickets")(DataFusionError::from(e))
}

/// The column `name` of a bucket, cast to `to`.
fn column_as(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, IngestError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| arrow(ArrowError::SchemaError(format!("no column {name}"))))?;
    cast(column, to).map_err(arrow)
}

/// A column of a bucket as text, by name.
pub(super) fn text(batch: &RecordBatch, name: &str) -> Result<StringArray, IngestError> {
    Ok(column_as(batch, name, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// A column of a bucket as `Int64` (instants as microseconds), by name.
pub(super) fn int(batch: &RecordBatch, name: &str) -> Result<Int64Array, IngestError> {
    Ok(column_as(batch, name, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

pub(super) fn get(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

pub(super) fn get_int(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

/// A bucket's rows by ticket key (`ticket_id`, `source_system`).
pub(super) fn by_ticket(batch: &RecordBatch) -> Result<(StringArray, StringArray), IngestError> {
    Ok((text(batch, "ticket_id")?, text(batch, "source_system")?))
}

/// The derived columns that are instants, in the order [`Facts`] gives them.
const TIMES: [&str; 5] = [
    "created_at",
    "updated_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
];

/// Rows of a bucket carrying attributes (the run's event rows, or stored tickets): the key,
/// the instant (`ts`, or the stored `updated_at`), the file and line when they have them, and
/// the attributes (`TICKET_ATTRIBUTES`) as text.
struct Rows {
    ticket: StringArray,
    system: StringArray,
    ts: Int64Array,
    file: StringArray,
    line: Int64Array,
    columns: Vec<StringArray>,
}

impl Rows {
    fn of(batch: &RecordBatch) -> Result<Rows, IngestError> {
        let (ticket, system) = by_ticket(batch)?;
        let n = batch.num_rows();
        let has = |name: &str| batch.column_by_name(name).is_some();
        Ok(Rows {
            ticket,
            system,
            ts: if has("ts") {
                int(batch, "ts")?
            } else {
                int(batch, "updated_at")?
            },
            file: if has("_file") {
                text(batch, "_file")?
            } else {
                StringArray::from(vec![""; n])
            },
            line: if has("_line") {
                int(batch, "_line")?
            } else {
                Int64Array::from(vec![0; n])
            },
            columns: TICKET_ATTRIBUTES
                .iter()
                .map(|name| text(batch, name))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The latest non-empty attributes of one ticket in the run's rows.
#[derive(Default)]
struct Latest {
    /// The latest instant of the ticket's rows.
    ts: Option<i64>,
    /// Per attribute (`TICKET_ATTRIBUTES`): the row holding the latest
    /// non-empty value, by (instant, file, line).
    rows: [Option<usize>; TICKET_ATTRIBUTES.len()],
}

impl Run<'_> {
    /// Derive the tickets that the staged events (`staged`, `staged_attributes`) touch, into
    /// Parquet files in `dir`, from the stored tickets `stored_tickets` and the events as the
    /// table holds them once the plan of `ticket_events` is committed: the stored events
    /// `events_before` but those the plan replaces, and the plan's rows (`plan_ticket_events`).
    /// The committed table is not read back: a check (which commits nothing) derives the
    /// tickets as a run does. When every staged event is in the plan, `grouped` may hold them
    /// grouped by bucket ([`Grouped`]): the run's events and attributes are then read from
    /// there rather than split again. Returns the schema of the rows.
    pub(super) async fn derive_tickets(
        &self,
        dir: &Path,
        grouped: Option<&Grouped>,
    ) -> Result<SchemaRef, IngestError> {
        let plan = format!("plan_{}", TICKET_EVENTS.name);
        let written = format!("{plan} WHERE _action IN ('insert', 'update', 'replace')");
        let events_rows = self.rows("events_before").await? + self.rows(&plan).await?;
        let needed = self.buckets_of(
            events_rows
                .max(self.rows(STAGED_ATTRIBUTES).await?)
                .max(self.rows("stored_tickets").await?),
        );
        // Staged buckets larger than a chunk are split anew.
        let grouped = grouped.filter(|g| g.n >= needed);
        let buckets = grouped.map_or(needed, |g| g.n);
        // The stored events that the plan replaces (an update, or a conflict the input won).
        let replaced: HashSet<String> = self
            .ctx
            .sql(&format!(
                "SELECT event_id FROM {plan} WHERE _action IN ('update', 'replace')"
            ))
            .await
            .map_err(query("deriving tickets"))?
            .collect()
            .await
            .map_err(query("deriving tickets"))?
            .iter()
            .map(|b| text(b, "event_id"))
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .flat_map(|ids| ids.iter().flatten().map(str::to_string))
            .collect();

        let root = self.stage.dir.join("buckets_derive");
        let split = |sql: String, name: &'static str| {
            let dir = root.join(name);
            async move { Buckets::split(self.ctx, &sql, TICKETS.key, buckets, &dir).await }
        };
        // Two splits rather than one of a union, whose inputs DataFusion would read on other
        // threads than the one splitting them (which costs time and memory).
        let columns = EVENT_COLUMNS.join(", ");
        let stored_events = Buckets::split_routed(
            self.ctx,
            &format!("SELECT {columns} FROM events_before"),
            TICKETS.key,
            buckets,
            &root.join("stored_events"),
            |batch, hashes| {
                if replaced.is_empty() {
                    return Ok(Some((batch, hashes)));
                }
                let ids = text(&batch, "event_id")?;
                let kept: Vec<u32> = (0..batch.num_rows() as u32)
                    .filter(|&i| !replaced.contains(ids.value(i as usize)))
                    .collect();
                rows_of(&batch, &hashes, kept).map_err(arrow)
            },
        )
        .await?;
        let (run_events, attributes) = match grouped {
            Some(grouped) => (
                Bucketed::Staged(&grouped.records, Some(&EVENT_COLUMNS)),
                Bucketed::Staged(&grouped.attributes, None),
            ),
            None => (
                Bucketed::Split(
                    split(format!("SELECT {columns} FROM {written}"), "run_events").await?,
                ),
                // Every ticket the run touches has a row in the staged attributes (see
                // [`crate::ingest::records::events`]).
                Bucketed::Split(
                    split(format!("SELECT * FROM {STAGED_ATTRIBUTES}"), "attributes").await?,
                ),
            ),
        };
        let stored = split(
            format!(
                "SELECT ticket_id, source_system, updated_at, {} FROM stored_tickets",
                TICKET_ATTRIBUTES.join(", ")
            ),
            "stored",
        )
        .await?;

        let schema = input_schema(&TICKETS);
        write_parts(
            buckets as usize,
            self.threads,
            "part-derived.parquet",
            [(dir, &schema)],
            |b, _| {
                let events = match (run_events.take(b)?, stored_events.take(b)?) {
                    (Some(run), Some(stored)) => Some(concat_as(&run, &stored)?),
                    (run, stored) => run.or(stored),
                };
                let stored = stored.take(b)?;
                let (Some(touched), Some(events)) = (attributes.take(b)?, events) else {
                    return Ok([Vec::new()]);
                };
                let derived = derive_bucket(&events, &touched, stored.as_ref(), &schema)?;
                Ok([vec![derived]])
            },
        )?;
        let _ = std::fs::remove_dir_all(&root);
        Ok(schema)
    }
}

/// The columns of the events a derivation reads.
const EVENT_COLUMNS: [&str; 8] = [
    "ticket_id",
    "source_system",
    "ts",
    "event_id",
    "event_type",
    "actor_role",
    "to_status",
    "value",
];

/// The rows of `first`, then those of `second` with their columns cast to the types of
/// `first`'s (the run's events read from staging, the stored ones from Delta).
fn concat_as(first: &RecordBatch, second: &RecordBatch) -> Result<RecordBatch, IngestError> {
    let schema = first.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| column_as(second, f.name(), f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let second = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(arrow)?;
    concat_batches(&schema, [first, &second]).map_err(arrow)
}

/// The derived tickets of one bucket: of each ticket of the run's `attributes` rows (every
/// ticket the run touched), from its `events`.
fn derive_bucket(
    events: &RecordBatch,
    attributes: &RecordBatch,
    stored: Option<&RecordBatch>,
    schema: &SchemaRef,
) -> Result<RecordBatch, IngestError> {
    let run_rows = Rows::of(attributes)?;
    let a = &run_rows;
    // The touched tickets, each once, in the order of their first row.
    let mut touched: Vec<(&str, &str)> = Vec::new();
    // The run's latest attributes of each ticket.
    let mut latest: HashMap<(&str, &str), Latest> = HashMap::new();
    let order = |i: usize| (a.ts.value(i), a.file.value(i), a.line.value(i));
    for i in 0..a.ticket.len() {
        let key = (a.ticket.value(i), a.system.value(i));
        let l = latest.entry(key).or_insert_with(|| {
            touched.push(key);
            Latest::default()
        });
        if !a.columns.iter().any(|c| c.is_valid(i)) {
            continue;
        }
        l.ts = Some(l.ts.map_or(a.ts.value(i), |t| t.max(a.ts.value(i))));
        for (c, column) in a.columns.iter().enumerate() {
            if column.is_valid(i) && l.rows[c].is_none_or(|j| order(i) > order(j)) {
                l.rows[c] = Some(i);
            }
        }
    }

    // The events of each touched ticket, in (ts, event_id) order.
    let (e_ticket, e_system) = by_ticket(events)?;
    let mut history: HashMap<(&str, &str), Vec<usize>> =
        touched.iter().map(|&key| (key, Vec::new())).collect();
    let ts = int(events, "ts")?;
    let event_id = text(events, "event_id")?;
    let event_type = text(events, "event_type")?;
    let actor_role = text(events, "actor_role")?;
    let to_status = text(events, "to_status")?;
    let value = text(events, "value")?;
    for i in 0..events.num_rows() {
        if let Some(rows) = history.get_mut(&(e_ticket.value(i), e_system.value(i))) {
            rows.push(i);
        }
    }

    // The stored ticket of each key.
    let stored_rows = stored
        .filter(|s| s.num_rows() > 0)
        .map(Rows::of)
        .transpose()?;
    let stored_at: HashMap<(&str, &str), usize> = stored_rows
        .as_ref()
        .map(|s| {
            (0..s.ticket.len())
                .map(|i| ((s.ticket.value(i), s.system.value(i)), i))
                .collect()
        })
        .unwrap_or_default();

    let mut out_ticket = StringBuilder::new();
    let mut out_system = StringBuilder::new();
    let mut times: Vec<TimestampMicrosecondBuilder> = (0..TIMES.len())
        .map(|_| TimestampMicrosecondBuilder::new())
        .collect();
    let mut plain: Vec<StringBuilder> = (0..PLAIN).map(|_| StringBuilder::new()).collect();
    let mut assignee = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut reopen_count = Int64Builder::new();
    let mut csat = Int64Builder::new();
    let mut rows = 0usize;
    for key in touched {
        let Some(mut order) = history.remove(&key) else {
            continue;
        };
        if order.is_empty() {
            continue;
        }
        order.sort_unstable_by(|&x, &y| {
            ts.value(x)
                .cmp(&ts.value(y))
                .then_with(|| event_id.value(x).cmp(event_id.value(y)))
        });
        let mut replay = Replay::new();
        for &e in &order {
            replay.apply(&Event {
                ts: ts.value(e),
                event_type: event_type.value(e),
                actor_role: get(&actor_role, e).and_then(ActorRole::parse),
                to_status: get(&to_status, e).and_then(Status::parse),
                value: get(&value, e),
            });
        }
        let Facts {
            created_at,
            updated_at,
            status: current,
            first_response_at,
            resolved_at,
            closed_at,
            reopen_count: reopens,
            csat_score,
            assigned,
        } = replay.facts();

        let run = latest.get(&key);
        let t = stored_at.get(&key).copied();
        let stored_updated = stored_rows
            .as_ref()
            .zip(t)
            .and_then(|(s, t)| get_int(&s.ts, t));
        // The run's rows are as recent as the stored ticket (or nothing is stored).
        let run_wins = stored_updated.is_none()
            || matches!((run.and_then(|l| l.ts), stored_updated), (Some(a), Some(b)) if a >= b);
        let run_value = |c: usize| -> Option<&str> { get(&run_rows.columns[c], run?.rows[c]?) };
        let stored_value =
            |c: usize| -> Option<&str> { get(&stored_rows.as_ref()?.columns[c], t?) };
        out_ticket.append_value(key.0);
        out_system.append_value(key.1);
        times[0].append_option(created_at);
        times[1].append_option(updated_at);
        for (c, builder) in plain.iter_mut().enumerate() {
            let v = if run_wins {
                run_value(c).or(stored_value(c))
            } else {
                stored_value(c).or(run_value(c))
            };
            builder.append_option(v);
        }
        let a_assignee = run_value(ASSIGNEE);
        let s_assignee = stored_value(ASSIGNEE);
        let h_assignee = assigned.as_deref();
        let who = if run_wins {
            a_assignee.or(h_assignee).or(s_assignee)
        } else {
            h_assignee.or(s_assignee).or(a_assignee)
        };
        assignee.append_option(who.filter(|w| !w.is_empty()));
        status.append_option(current.map(Status::as_str));
        times[2].append_option(first_response_at);
        times[3].append_option(resolved_at);
        times[4].append_option(closed_at);
        reopen_count.append_value(i64::from(reopens));
        let rating = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok());
        let run_csat = rating(run_value(CSAT));
        let stored_csat = rating(stored_value(CSAT));
        csat.append_option(csat_score.map(i64::from).or(run_csat).or(stored_csat));
        rows += 1;
    }

    // The columns in the order of `tickets`, cast to its types.
    let mut by_name: HashMap<&str, ArrayRef> = HashMap::new();
    by_name.insert("ticket_id", Arc::new(out_ticket.finish()));
    by_name.insert("source_system", Arc::new(out_system.finish()));
    for (name, builder) in TIMES.iter().zip(times.iter_mut()) {
        by_name.insert(name, Arc::new(builder.finish()));
    }
    for (name, builder) in TICKET_ATTRIBUTES.iter().zip(plain.iter_mut()) {
        by_name.insert(name, Arc::new(builder.finish()));
    }
    by_name.insert("assignee", Arc::new(assignee.finish()));
    by_name.insert("status", Arc::new(status.finish()));
    by_name.insert("reopen_count", Arc::new(reopen_count.finish()));
    by_name.insert("csat_score", Arc::new(csat.finish()));
    by_name.insert(
        "_file",
        Arc::new(StringArray::from(vec![DERIVED_FILE; rows])),
    );
    by_name.insert("_line", Arc::new(UInt64Array::from(vec![0u64; rows])));
    by_name.insert("_s", Arc::new(Int64Array::new_null(rows)));
    assemble(schema, by_name)
}
