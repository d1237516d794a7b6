//! Derivation in SQL: events from consecutive snapshots of a ticket, and the snapshots'
//! milestones from their status history. (Tickets from their events: `replay`.)

use crate::tables::vocab::sql_literal;
use crate::tables::{EventType, Status, TICKETS};

use super::reconcile::hash_sql;
use super::stage::STAGED;

/// The relations [`snapshot_events_sql`] reads, as `_chunk` views.
pub(super) const SNAPSHOT_INPUTS: &[&str] = &[STAGED, "tickets_before"];
/// The relations [`snapshot_tickets_sql`] reads, as `_chunk` views.
pub(super) const SNAPSHOT_TICKET_INPUTS: &[&str] = &[STAGED, "events_now"];
/// What a derived row names as its file in quarantine and plans.
pub(super) const DERIVED_FILE: &str = "(derived from ticket_events)";

/// Status-change, assignment and priority-change events from consecutive snapshots of each
/// ticket (the staged ones, the first of them diffed with the stored ticket when that is
/// older), and a `created` event per ticket. Event ids hash the event's content.
pub(super) fn snapshot_events_sql() -> String {
    let order = "PARTITION BY ticket_id, source_system \
                 ORDER BY updated_at, _seq NULLS FIRST, _file, _line";
    let id = hash_sql([
        "source_system",
        "ticket_id",
        "CAST(ts AS BIGINT)",
        "event_type",
        "actor",
        "from_status",
        "to_status",
        "value",
    ]);
    let none = "CAST(NULL AS VARCHAR)";
    let created = sql_literal(EventType::Created);
    let status = sql_literal(EventType::StatusChanged);
    let assigned = sql_literal(EventType::Assigned);
    let priority = sql_literal(EventType::PriorityChanged);
    // One pass over the snapshots: each is paired with the four kinds of event it may yield
    // (a tiny build side), and the pairs that yield nothing are filtered out.
    format!(
        "WITH s AS (
            SELECT ticket_id, source_system, created_at, updated_at, status, assignee, priority,
                _seq, _actor, _file, _line,
                row_number() OVER ({order}) AS _n,
                lag(status) OVER ({order}) AS _ls,
                lag(assignee) OVER ({order}) AS _la,
                lag(priority) OVER ({order}) AS _lp
            FROM {STAGED}_chunk
        ),
        p AS (
            SELECT s.*,
                coalesce(s._n > 1 OR b.updated_at < s.updated_at, false) AS _prev,
                CASE WHEN s._n > 1 THEN s._ls ELSE b.status END AS _ps,
                CASE WHEN s._n > 1 THEN s._la ELSE b.assignee END AS _pa,
                CASE WHEN s._n > 1 THEN s._lp ELSE b.priority END AS _pp
            FROM s LEFT JOIN tickets_before_chunk b
                ON b.ticket_id = s.ticket_id AND b.source_system = s.source_system
        ),
        e AS (
            SELECT ticket_id, source_system,
                CASE WHEN k.kind = {created} THEN created_at ELSE updated_at END AS ts,
                k.kind AS event_type,
                CASE WHEN k.kind = {created} THEN {none} ELSE _actor END AS actor,
                CASE WHEN k.kind = {status} THEN _ps END AS from_status,
                CASE WHEN k.kind = {status} THEN status END AS to_status,
                CASE k.kind WHEN {assigned} THEN coalesce(assignee, '') WHEN {priority} THEN priority
                    END AS value,
                _file, _line
            FROM (VALUES ({created}), ({status}), ({assigned}), ({priority}))
                AS k(kind)
            CROSS JOIN p
            WHERE CASE k.kind
                WHEN {created} THEN _n = 1
                WHEN {status} THEN _prev AND status IS DISTINCT FROM _ps
                WHEN {assigned} THEN _prev AND assignee IS DISTINCT FROM _pa
                ELSE _prev AND priority IS NOT NULL AND priority IS DISTINCT FROM _pp
            END
        )
        SELECT {id} AS event_id, ticket_id, source_system, ts, event_type, actor,
            {none} AS actor_role, from_status, to_status, value,
            to_char(ts, '%Y-%m') AS month, _file, _line, CAST(NULL AS BIGINT) AS _s
        FROM e"
    )
}

/// The tickets of the staged snapshots, each with `resolved_at` and `closed_at` filled, where the
/// export leaves them blank, from the ticket's status history up to the snapshot's update (the
/// stored events, this run's included): a snapshot's own value wins when it has one.
pub(super) fn snapshot_tickets_sql() -> String {
    let closed = sql_literal(Status::Closed);
    let columns: Vec<String> = TICKETS
        .columns
        .iter()
        .map(|c| match c.name {
            "resolved_at" => "coalesce(s.resolved_at, m.resolved_at) AS resolved_at".to_string(),
            "closed_at" => format!(
                "coalesce(s.closed_at, CASE WHEN s.status = {closed} THEN m.last_closed END) \
                 AS closed_at"
            ),
            name => format!("s.{name}"),
        })
        .collect();
    format!(
        "WITH at AS (
            SELECT DISTINCT ticket_id, source_system, updated_at AS at FROM {STAGED}_chunk
            WHERE resolved_at IS NULL OR (closed_at IS NULL AND status = {closed})
        ),
        m AS ({milestones})
        SELECT {columns}, s._file, s._line, s._seq AS _s
        FROM {STAGED}_chunk s
        LEFT JOIN m ON m.ticket_id = s.ticket_id AND m.source_system = s.source_system
            AND m.at = s.updated_at",
        milestones = crate::history::sql::milestones_until("events_now_chunk", "at"),
        columns = columns.join(", "),
    )
}
