//! The canonical tables column by column: `tickets` (one row per ticket, its current state),
//! `ticket_events` (the append-only history) and `quarantine` (rejected rows), each with its
//! key and partition columns; and the columns of the derived SLA views
//! (`ticket_status_intervals`, `ticket_sla`), the contract analysts and the KPI catalog rely
//! on. The README's table reference is generated from these lists.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A UTC instant, `Timestamp(Microsecond, "UTC")`.
    Timestamp,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit unsigned count (line numbers).
    Count,
    /// A 64-bit integer (amounts of seconds).
    BigInt,
    /// True or false.
    Boolean,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
            Kind::Integer => DataType::Int32,
            Kind::Count => DataType::UInt64,
            Kind::BigInt => DataType::Int64,
            Kind::Boolean => DataType::Boolean,
        }
    }

    /// The SQL spelling used in the documentation.
    pub fn sql(self) -> &'static str {
        match self {
            Kind::Text => "TEXT",
            Kind::Timestamp => "TIMESTAMP (UTC)",
            Kind::Integer => "INT",
            Kind::Count => "BIGINT UNSIGNED",
            Kind::BigInt => "BIGINT",
            Kind::Boolean => "BOOLEAN",
        }
    }
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether every row has a value (`NOT NULL`).
    pub required: bool,
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: Kind, required: bool, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        required,
        doc,
    }
}

/// `tickets`: one row per ticket, keyed by `ticket_id`.
pub const TICKET_COLUMNS: &[Column] = &[
    col("ticket_id", Kind::Text, true, "The ticket's key in its source system."),
    col(
        "source_system",
        Kind::Text,
        true,
        "Where the ticket comes from: the mapping's `source_system` (by default the source's name).",
    ),
    col("created_at", Kind::Timestamp, true, "When the ticket was opened."),
    col(
        "updated_at",
        Kind::Timestamp,
        false,
        "The latest change the exports know of.",
    ),
    col(
        "channel",
        Kind::Text,
        false,
        "How it arrived: email, phone, chat, portal, or the source's own word.",
    ),
    col("inbox", Kind::Text, false, "The inbox or queue it arrived in."),
    col("team", Kind::Text, false, "The team that owns it."),
    col(
        "priority",
        Kind::Text,
        false,
        "Canonical priority: low, normal, high or urgent.",
    ),
    col("requester", Kind::Text, false, "Who asked."),
    col("assignee", Kind::Text, false, "The agent it is assigned to."),
    col(
        "status",
        Kind::Text,
        true,
        "Canonical current status: new, open, pending, on_hold, resolved or closed.",
    ),
    col(
        "first_response_at",
        Kind::Timestamp,
        false,
        "The first response: the earlier of the first public reply of an agent and the first \
         move out of the initial status.",
    ),
    col(
        "resolved_at",
        Kind::Timestamp,
        false,
        "The first time it entered a resolved status.",
    ),
    col("closed_at", Kind::Timestamp, false, "When it was closed."),
    col(
        "reopen_count",
        Kind::Integer,
        true,
        "How many times it left resolved or closed for an unresolved status.",
    ),
    col(
        "csat_score",
        Kind::Integer,
        false,
        "Customer satisfaction rating, 1 (worst) to 5 (best).",
    ),
];

/// `ticket_events`: the history, keyed by `event_id`, partitioned by `month`.
pub const EVENT_COLUMNS: &[Column] = &[
    col(
        "event_id",
        Kind::Text,
        true,
        "The event's key: the source's, or derived from its content when the source has none.",
    ),
    col("ticket_id", Kind::Text, true, "The ticket it belongs to."),
    col(
        "source_system",
        Kind::Text,
        true,
        "Where the event comes from, as in `tickets`.",
    ),
    col("ts", Kind::Timestamp, true, "When it happened."),
    col(
        "event_type",
        Kind::Text,
        true,
        "What happened: created, status_changed, public_reply, internal_note, assigned, \
         priority_changed, csat_rated, reopened, or the source's own word.",
    ),
    col("actor", Kind::Text, false, "Who did it."),
    col(
        "actor_role",
        Kind::Text,
        false,
        "agent, customer or system.",
    ),
    col(
        "from_status",
        Kind::Text,
        false,
        "Canonical status before a status change.",
    ),
    col(
        "to_status",
        Kind::Text,
        false,
        "Canonical status after a status change.",
    ),
    col(
        "value",
        Kind::Text,
        false,
        "The event's value: the new assignee or priority, the CSAT score, …",
    ),
    col(
        "month",
        Kind::Text,
        true,
        "`YYYY-MM` of `ts` in UTC: the partition column.",
    ),
];

fn schema_of(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), !c.required))
            .collect::<Vec<_>>(),
    ))
}

/// `quarantine`: the rows an ingest rejected, with where they were and why. Every column is
/// the key: a rejected row already recorded is not recorded again.
pub const QUARANTINE_COLUMNS: &[Column] = &[
    col(
        "source",
        Kind::Text,
        true,
        "The source mapping that read the row.",
    ),
    col(
        "file",
        Kind::Text,
        true,
        "The export file, or `(stored)` for a replaced stored row.",
    ),
    col(
        "line",
        Kind::Count,
        true,
        "The row's line in the file (1 is the first line).",
    ),
    col(
        "column",
        Kind::Text,
        true,
        "The canonical column (or key) at fault.",
    ),
    col("value", Kind::Text, true, "The offending raw value."),
    col("reason", Kind::Text, true, "Why the row was rejected."),
];

/// One canonical table: its SQL name, columns, key and partition columns.
#[derive(Debug)]
pub struct Table {
    /// The name users type in SQL, and the table's folder under `data/`.
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The columns that identify a row: no two stored rows share them.
    pub key: &'static [&'static str],
    /// The Delta partition columns.
    pub partition_by: &'static [&'static str],
    schema: OnceLock<SchemaRef>,
}

impl Table {
    const fn new(
        name: &'static str,
        columns: &'static [Column],
        key: &'static [&'static str],
        partition_by: &'static [&'static str],
    ) -> Table {
        Table {
            name,
            columns,
            key,
            partition_by,
            schema: OnceLock::new(),
        }
    }

    /// The table's Arrow schema (required columns are not nullable).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(self.schema.get_or_init(|| schema_of(self.columns)))
    }

    /// The column `name` of this table.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &'static str> {
        self.columns.iter().map(|c| c.name)
    }
}

/// `tickets`: one row per ticket and source system.
pub static TICKETS: Table = Table::new(
    "tickets",
    TICKET_COLUMNS,
    &["ticket_id", "source_system"],
    &[],
);
/// `ticket_events`: one row per event, partitioned by month.
pub static TICKET_EVENTS: Table =
    Table::new("ticket_events", EVENT_COLUMNS, &["event_id"], &["month"]);
/// `quarantine`: rejected rows; every column is the key.
pub static QUARANTINE: Table = Table::new(
    "quarantine",
    QUARANTINE_COLUMNS,
    &["source", "file", "line", "column", "value", "reason"],
    &[],
);

/// The stored canonical tables.
pub static STORED: [&Table; 3] = [&TICKETS, &TICKET_EVENTS, &QUARANTINE];

/// `ticket_status_intervals`: one row per stay of a ticket in a status.
const INTERVAL_COLUMNS: &[Column] = &[
    col("ticket_id", Kind::Text, true, "The ticket."),
    col(
        "source_system",
        Kind::Text,
        true,
        "The system it came from.",
    ),
    col(
        "stay",
        Kind::BigInt,
        true,
        "1-based number of the stay within the ticket, in (ts, event_id) order.",
    ),
    col("status", Kind::Text, true, "The status it stayed in."),
    col(
        "entered_at",
        Kind::Timestamp,
        true,
        "When it entered the status.",
    ),
    col(
        "left_at",
        Kind::Timestamp,
        false,
        "When it left the status; NULL while it is the current one (as of the evaluation instant).",
    ),
    col(
        "calendar",
        Kind::Text,
        false,
        "The calendar of the ticket's SLA policy, else the default calendar.",
    ),
    col(
        "pauses",
        Kind::Boolean,
        true,
        "Whether the ticket's SLA policy pauses its resolution clocks in this status.",
    ),
    col(
        "seconds",
        Kind::BigInt,
        true,
        "Elapsed seconds to `left_at`, or to the as-of instant while current.",
    ),
    col(
        "business_seconds",
        Kind::BigInt,
        false,
        "The same span in business seconds of `calendar` (NULL without a calendar).",
    ),
];

/// `ticket_sla`: one row per ticket, metric and occurrence.
const SLA_COLUMNS: &[Column] = &[
    col("ticket_id", Kind::Text, true, "The ticket."),
    col("source_system", Kind::Text, true, "The system it came from."),
    col(
        "metric",
        Kind::Text,
        true,
        "first_response, next_reply, resolution or first_resolution.",
    ),
    col(
        "occurrence",
        Kind::BigInt,
        true,
        "1-based; above 1 only for next_reply.",
    ),
    col("policy", Kind::Text, true, "The SLA policy that applies to the ticket."),
    col("calendar", Kind::Text, true, "The policy's calendar (business time is measured in it)."),
    col("started_at", Kind::Timestamp, true, "When the clock started."),
    col(
        "stopped_at",
        Kind::Timestamp,
        false,
        "When it stopped; NULL while running or paused.",
    ),
    col("target_seconds", Kind::BigInt, true, "The target, in business seconds."),
    col(
        "business_elapsed_seconds",
        Kind::BigInt,
        true,
        "Business seconds from start to stop (or to as-of), minus paused business seconds.",
    ),
    col(
        "business_paused_seconds",
        Kind::BigInt,
        true,
        "Business seconds spent in the policy's pause statuses between start and stop.",
    ),
    col(
        "due_at",
        Kind::Timestamp,
        false,
        "When the elapsed time reaches the target, given the pauses so far and none after; NULL while paused.",
    ),
    col("stage", Kind::Text, true, "running, paused, met or breached."),
    col(
        "breached",
        Kind::Boolean,
        true,
        "Whether the elapsed time exceeds the target, stopped or not.",
    ),
    col(
        "remaining_seconds",
        Kind::BigInt,
        true,
        "target_seconds - business_elapsed_seconds; negative when overdue.",
    ),
    col(
        "at_risk",
        Kind::Boolean,
        true,
        "Running or paused, not breached, and less than the policy's at-risk share of the target remains.",
    ),
];

/// `ticket_status_intervals`, a view derived from `tickets` and `ticket_events`.
pub static TICKET_STATUS_INTERVALS: Table = Table::new(
    "ticket_status_intervals",
    INTERVAL_COLUMNS,
    &["ticket_id", "source_system", "stay"],
    &[],
);
/// `ticket_sla`, a view derived from `tickets`, `ticket_events` and the SLA policies.
pub static TICKET_SLA: Table = Table::new(
    "ticket_sla",
    SLA_COLUMNS,
    &["ticket_id", "source_system", "metric", "occurrence"],
    &[],
);

/// The derived SLA views.
pub static VIEWS: [&Table; 2] = [&TICKET_STATUS_INTERVALS, &TICKET_SLA];

/// A Markdown table documenting `columns` (the README's schema reference is checked against it).
pub fn markdown(columns: &[Column]) -> String {
    let mut out = String::from("| column | type | null | meaning |\n|---|---|---|---|\n");
    for c in columns {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.name,
            c.kind.sql(),
            if c.required { "no" } else { "yes" },
            c.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_follow_the_column_lists() {
        let tickets = TICKETS.schema();
        assert_eq!(tickets.fields().len(), TICKET_COLUMNS.len());
        let created = tickets.field_with_name("created_at").unwrap();
        assert!(!created.is_nullable());
        assert_eq!(
            created.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
        );
        assert!(tickets.field_with_name("csat_score").unwrap().is_nullable());
        let events = TICKET_EVENTS.schema();
        assert_eq!(events.field(events.fields().len() - 1).name(), "month");
    }

    /// The README's reference of the canonical tables is this module's, word for word.
    #[test]
    fn the_readme_documents_the_canonical_tables() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let missing: Vec<String> = STORED
            .into_iter()
            .chain(VIEWS)
            .map(|t| markdown(t.columns))
            .filter(|table| !readme.contains(table))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md should contain these tables:\n{}",
            missing.join("\n")
        );
    }

    /// The columns' documentation (and so the README) names every word of their vocabulary.
    #[test]
    fn column_docs_name_their_vocabularies() {
        use crate::tables::vocab::{ActorRole, EventType, Priority, Status, Vocabulary};
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        for (table, column, words) in [
            (&TICKETS, "status", Status::NAMES),
            (&TICKETS, "priority", Priority::NAMES),
            (&TICKET_EVENTS, "actor_role", ActorRole::NAMES),
            (&TICKET_EVENTS, "event_type", EventType::NAMES),
        ] {
            let doc = table.column(column).unwrap().doc;
            for word in words {
                assert!(doc.contains(word), "{column}: {word} missing from {doc:?}");
            }
        }
        let line = readme
            .lines()
            .skip_while(|l| !l.starts_with("Canonical vocabularies"))
            .take(3)
            .collect::<String>();
        for word in Status::NAMES
            .iter()
            .chain(Priority::NAMES)
            .chain(ActorRole::NAMES)
        {
            assert!(
                line.contains(&format!("`{word}`")),
                "README vocabularies lack {word}"
            );
        }
    }

    #[test]
    fn keys_and_partitions_are_columns_and_required() {
        for table in STORED.into_iter().chain(VIEWS) {
            for name in table.key.iter().chain(table.partition_by) {
                let column = table
                    .column(name)
                    .unwrap_or_else(|| panic!("{}.{name}", table.name));
                assert!(column.required, "{}.{name}", table.name);
            }
        }
        let md = markdown(TICKET_COLUMNS);
        assert!(md.contains("| `ticket_id` | TEXT | no |"), "{md}");
        assert_eq!(QUARANTINE.schema().field(2).data_type(), &DataType::UInt64);
    }
}
