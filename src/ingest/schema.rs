//! The canonical tables every export lands in: `tickets` (one row per ticket, its current
//! state) and `ticket_events` (the append-only history). Column by column, with the canonical
//! vocabularies of statuses, priorities, event types and actor roles.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// SQL name of the ticket table.
pub const TICKETS: &str = "tickets";
/// SQL name of the event table.
pub const TICKET_EVENTS: &str = "ticket_events";

/// The type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A UTC instant, `Timestamp(Microsecond, "UTC")`.
    Timestamp,
    /// A 32-bit integer.
    Integer,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
            Kind::Integer => DataType::Int32,
        }
    }

    /// The SQL spelling used in the documentation.
    pub fn sql(self) -> &'static str {
        match self {
            Kind::Text => "TEXT",
            Kind::Timestamp => "TIMESTAMP (UTC)",
            Kind::Integer => "INT",
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
        "The first public reply of an agent.",
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
        "How many times it left resolved or closed for an open status.",
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

/// Canonical statuses, in their usual order.
pub const STATUSES: &[&str] = &["new", "open", "pending", "on_hold", "resolved", "closed"];
/// Statuses in which a ticket counts as resolved.
pub const RESOLVED_STATUSES: &[&str] = &["resolved", "closed"];
/// Statuses that pause the customer's clock (waiting on the customer or a third party).
pub const PAUSED_STATUSES: &[&str] = &["pending", "on_hold"];
/// Canonical priorities, lowest first.
pub const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];
/// Event types the engine understands; sources may add their own.
pub const EVENT_TYPES: &[&str] = &[
    "created",
    "status_changed",
    "public_reply",
    "internal_note",
    "assigned",
    "priority_changed",
    "csat_rated",
    "reopened",
];
/// Who acts.
pub const ACTOR_ROLES: &[&str] = &["agent", "customer", "system"];

fn schema_of(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), !c.required))
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow schema of `tickets`.
pub fn tickets_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| schema_of(TICKET_COLUMNS)))
}

/// The Arrow schema of `ticket_events`.
pub fn events_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| schema_of(EVENT_COLUMNS)))
}

/// The canonical column of a table by name.
pub fn column(columns: &'static [Column], name: &str) -> Option<&'static Column> {
    columns.iter().find(|c| c.name == name)
}

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
        let tickets = tickets_schema();
        assert_eq!(tickets.fields().len(), TICKET_COLUMNS.len());
        let created = tickets.field_with_name("created_at").unwrap();
        assert!(!created.is_nullable());
        assert_eq!(
            created.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
        );
        assert!(tickets.field_with_name("csat_score").unwrap().is_nullable());
        let events = events_schema();
        assert_eq!(events.field(events.fields().len() - 1).name(), "month");
    }

    /// The README's reference of the canonical tables is this module's, word for word.
    #[test]
    fn the_readme_documents_the_canonical_tables() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let missing: Vec<String> = [TICKET_COLUMNS, EVENT_COLUMNS]
            .into_iter()
            .map(markdown)
            .filter(|table| !readme.contains(table))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md should contain these tables:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn vocabularies_are_consistent() {
        for s in RESOLVED_STATUSES.iter().chain(PAUSED_STATUSES) {
            assert!(STATUSES.contains(s), "{s}");
        }
        let md = markdown(TICKET_COLUMNS);
        assert!(md.contains("| `ticket_id` | TEXT | no |"), "{md}");
    }
}
