//! The history rules as SQL (see the module documentation of [`crate::history`] for the
//! rules): one query over any relation with the columns of `ticket_events`.

use crate::tables::vocab::{sql_list, sql_literal};
use crate::tables::{ActorRole, EventType, Status};

/// One row per `(ticket_id, source_system)` of the relation `events` (the columns of
/// `ticket_events`), with the facts the rules derive: `created_at`, `updated_at`, `status`,
/// `first_response_at`, `resolved_at`, `closed_at`, `reopen_count` (INT), `csat_score` (INT,
/// NULL unless the last rating is 1–5) and `assigned`.
pub fn ticket_facts(events: &str) -> String {
    let resolved = sql_list(Status::RESOLVED);
    let closed = sql_literal(Status::Closed);
    let new = sql_literal(Status::New);
    let reply = sql_literal(EventType::PublicReply);
    let agent = sql_literal(ActorRole::Agent);
    let rated = sql_literal(EventType::CsatRated);
    let assigned = sql_literal(EventType::Assigned);
    let reopened = sql_literal(EventType::Reopened);
    let created = sql_literal(EventType::Created);
    let by_ticket = "PARTITION BY ticket_id, source_system";
    format!(
        "WITH e AS (
            SELECT ticket_id, source_system, ts, event_id, event_type, actor_role, to_status, value,
                row_number() OVER ({by_ticket}, event_type ORDER BY ts DESC, event_id DESC) AS _r
            FROM {events}
        ),
        st AS (
            SELECT ticket_id, source_system, ts, to_status,
                lag(to_status) OVER ({by_ticket} ORDER BY ts, event_id) AS _prev,
                first_value(to_status) OVER ({by_ticket} ORDER BY ts, event_id) AS _initial,
                row_number() OVER ({by_ticket} ORDER BY ts DESC, event_id DESC) AS _last
            FROM e WHERE to_status IS NOT NULL
        ),
        sa AS (
            SELECT ticket_id, source_system,
                min(CASE WHEN to_status <> _initial THEN ts END) AS _first_move,
                min(CASE WHEN to_status IN {resolved} THEN ts END) AS resolved_at,
                max(CASE WHEN to_status = {closed} THEN ts END) AS _last_closed,
                max(CASE WHEN _last = 1 THEN to_status END) AS status,
                sum(CASE WHEN _prev IN {resolved} AND to_status NOT IN {resolved} THEN 1 ELSE 0 END)
                    AS _reopens
            FROM st GROUP BY ticket_id, source_system
        ),
        ea AS (
            SELECT ticket_id, source_system,
                coalesce(min(CASE WHEN event_type = {created} THEN ts END), min(ts)) AS created_at,
                max(ts) AS updated_at,
                min(CASE WHEN event_type = {reply} AND actor_role = {agent} THEN ts END)
                    AS _first_reply,
                max(CASE WHEN event_type = {rated} AND _r = 1 THEN try_cast(value AS INT) END)
                    AS _csat,
                max(CASE WHEN event_type = {assigned} AND _r = 1 THEN value END) AS assigned,
                sum(CASE WHEN event_type = {reopened} AND to_status IS NULL THEN 1 ELSE 0 END)
                    AS _reopen_events
            FROM e GROUP BY ticket_id, source_system
        )
        SELECT ea.ticket_id, ea.source_system, ea.created_at, ea.updated_at,
            coalesce(sa.status, {new}) AS status,
            least(ea._first_reply, sa._first_move) AS first_response_at,
            sa.resolved_at,
            CASE WHEN sa.status = {closed} THEN sa._last_closed END AS closed_at,
            CAST(coalesce(sa._reopens, 0) + ea._reopen_events AS INT) AS reopen_count,
            CASE WHEN ea._csat BETWEEN 1 AND 5 THEN ea._csat END AS csat_score,
            ea.assigned
        FROM ea
        LEFT JOIN sa ON sa.ticket_id = ea.ticket_id AND sa.source_system = ea.source_system"
    )
}

/// For each row of the relation `at` (`ticket_id`, `source_system`, `at`), the milestones of the
/// ticket's status history up to that instant, from the events of the relation `events` with
/// `ts <= at`: `resolved_at` (the first entry into a resolved status) and `last_closed` (the
/// last entry into `closed`, which is `closed_at` when the ticket is closed at `at`).
pub fn milestones_until(events: &str, at: &str) -> String {
    let resolved = sql_list(Status::RESOLVED);
    let closed = sql_literal(Status::Closed);
    format!(
        "SELECT a.ticket_id, a.source_system, a.at,
            min(CASE WHEN e.to_status IN {resolved} THEN e.ts END) AS resolved_at,
            max(CASE WHEN e.to_status = {closed} THEN e.ts END) AS last_closed
        FROM {at} a
        JOIN {events} e ON e.ticket_id = a.ticket_id AND e.source_system = a.source_system
            AND e.to_status IS NOT NULL AND e.ts <= a.at
        GROUP BY a.ticket_id, a.source_system, a.at"
    )
}

/// One row per status stay of each ticket of the relation `events` (the columns of
/// `ticket_events`): `ticket_id`, `source_system`, `stay` (1-based, BIGINT), `status`,
/// `entered_at`, `left_at` (NULL for the current stay).
pub fn status_stays(events: &str) -> String {
    let order = "PARTITION BY ticket_id, source_system ORDER BY ts, event_id";
    format!(
        "SELECT ticket_id, source_system,
            CAST(row_number() OVER ({order}) AS BIGINT) AS stay,
            to_status AS status, ts AS entered_at,
            lead(ts) OVER ({order}) AS left_at
        FROM {events} WHERE to_status IS NOT NULL"
    )
}
