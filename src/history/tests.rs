//! The two forms of the rules agree: hand-computed cases, and random histories replayed in
//! Rust and queried in SQL.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

use super::*;
use crate::tables::{ActorRole, EventType, Status, Vocabulary, TICKET_EVENTS};

const MINUTE: i64 = 60_000_000;

fn status_event(ts: i64, to: Status) -> Event<'static> {
    Event {
        to_status: Some(to),
        ..Event::new(ts, EventType::StatusChanged)
    }
}

fn agent_reply(ts: i64) -> Event<'static> {
    Event {
        actor_role: Some(ActorRole::Agent),
        ..Event::new(ts, EventType::PublicReply)
    }
}

#[test]
fn the_first_response_is_the_earlier_of_a_reply_and_a_move_out_of_the_initial_status() {
    let created = Event {
        to_status: Some(Status::New),
        ..Event::new(0, EventType::Created)
    };
    // Triaged (new → open) at 10 min, answered at 30 min.
    let triaged = [
        created,
        status_event(10 * MINUTE, Status::Open),
        agent_reply(30 * MINUTE),
    ];
    assert_eq!(Replay::of(&triaged).first_response_at, Some(10 * MINUTE));
    // Answered first, then moved.
    let answered = [
        created,
        agent_reply(5 * MINUTE),
        status_event(10 * MINUTE, Status::Open),
    ];
    assert_eq!(Replay::of(&answered).first_response_at, Some(5 * MINUTE));
    // A customer's reply is not a response.
    let customer = Event {
        actor_role: Some(ActorRole::Customer),
        ..agent_reply(3 * MINUTE)
    };
    assert_eq!(Replay::of(&[created, customer]).first_response_at, None);
}

#[test]
fn reopens_resolution_and_closing() {
    let events = [
        status_event(0, Status::New),
        status_event(MINUTE, Status::Resolved),
        status_event(2 * MINUTE, Status::Open),
        Event::new(3 * MINUTE, EventType::Reopened),
        status_event(4 * MINUTE, Status::Closed),
        status_event(5 * MINUTE, Status::Pending),
        status_event(6 * MINUTE, Status::Closed),
    ];
    let facts = Replay::of(&events);
    assert_eq!(facts.resolved_at, Some(MINUTE));
    assert_eq!(facts.closed_at, Some(6 * MINUTE));
    assert_eq!(facts.reopen_count, 3);
    assert_eq!(facts.status, Some(Status::Closed));
    assert_eq!(facts.created_at, Some(0));
    assert_eq!(facts.updated_at, Some(6 * MINUTE));
    // Reopened and not closed again: no closing time.
    assert_eq!(Replay::of(&events[..6]).closed_at, None);
    // No status event at all: `new`.
    assert_eq!(Replay::of(&[agent_reply(0)]).status, Some(Status::New));
}

#[test]
fn stays_run_from_move_to_move_and_keep_zero_length_ones() {
    let events = [
        Event::new(0, EventType::Created),
        status_event(MINUTE, Status::Open),
        agent_reply(2 * MINUTE),
        status_event(5 * MINUTE, Status::Pending),
        status_event(5 * MINUTE, Status::Open),
        status_event(9 * MINUTE, Status::Resolved),
    ];
    let got = stays(&events);
    let expected = [
        (Status::Open, MINUTE, Some(5 * MINUTE)),
        (Status::Pending, 5 * MINUTE, Some(5 * MINUTE)),
        (Status::Open, 5 * MINUTE, Some(9 * MINUTE)),
        (Status::Resolved, 9 * MINUTE, None),
    ];
    assert_eq!(got.len(), expected.len());
    for (i, (stay, (status, entered, left))) in got.iter().zip(expected).enumerate() {
        assert_eq!(
            (stay.number, stay.status, stay.entered_at, stay.left_at),
            (i as u32 + 1, status, entered, left)
        );
    }
    assert!(stays(&[agent_reply(0)]).is_empty());
}

/// One random event: (minute, id, type, role, to_status, value).
type Raw = (i64, u8, usize, Option<usize>, Option<usize>, Option<usize>);

const TYPES: &[&str] = &[
    "created",
    "status_changed",
    "public_reply",
    "internal_note",
    "assigned",
    "csat_rated",
    "reopened",
    "escalated",
];
const VALUES: &[&str] = &["1", "3", "5", "0", "7", "x", "ana", "bo"];

fn raw_event() -> impl Strategy<Value = Raw> {
    (
        0i64..40,
        any::<u8>(),
        0..TYPES.len(),
        proptest::option::of(0..ActorRole::ALL.len()),
        proptest::option::weighted(0.5, 0..Status::ALL.len()),
        proptest::option::of(0..VALUES.len()),
    )
}

/// The events of `tickets` (ticket number → its raw events) as a `ticket_events` batch.
fn batch(tickets: &[Vec<Raw>]) -> RecordBatch {
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); 6];
    let mut ts = Vec::new();
    for (t, events) in tickets.iter().enumerate() {
        for (i, &(minute, id, kind, role, to, value)) in events.iter().enumerate() {
            let row = [
                Some(format!("{id:03}-{i}")),
                Some(format!("t{t}")),
                Some(TYPES[kind].to_string()),
                role.map(|r| ActorRole::ALL[r].as_str().to_string()),
                to.map(|s| Status::ALL[s].as_str().to_string()),
                value.map(|v| VALUES[v].to_string()),
            ];
            for (column, cell) in columns.iter_mut().zip(row) {
                column.push(cell);
            }
            ts.push(minute * MINUTE);
        }
    }
    let n = ts.len();
    let text = |i: usize| -> ArrayRef { Arc::new(StringArray::from(columns[i].clone())) };
    let schema = TICKET_EVENTS.schema();
    let mut arrays = Vec::new();
    for field in schema.fields() {
        let array: ArrayRef = match field.name().as_str() {
            "event_id" => text(0),
            "ticket_id" => text(1),
            "event_type" => text(2),
            "actor_role" => text(3),
            "to_status" => text(4),
            "value" => text(5),
            "ts" => Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
            "source_system" | "month" => Arc::new(StringArray::from(vec!["s"; n])),
            _ => Arc::new(StringArray::from(vec![None::<&str>; n])),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema, arrays).unwrap()
}

/// A ticket's raw events as rule events, in `(ts, event_id)` order.
fn sorted(events: &[Raw]) -> Vec<Event<'static>> {
    let mut sorted: Vec<(i64, String, &Raw)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.0 * MINUTE, format!("{:03}-{i}", e.1), e))
        .collect();
    sorted.sort();
    sorted
        .iter()
        .map(|&(ts, _, &(_, _, kind, role, to, value))| Event {
            ts,
            event_type: TYPES[kind],
            actor_role: role.map(|r| ActorRole::ALL[r]),
            to_status: to.map(|s| Status::ALL[s]),
            value: value.map(|v| VALUES[v]),
        })
        .collect()
}

/// Run `sql` over the events of `tickets`, registered as `events`.
fn query(tickets: &[Vec<Raw>], sql: &str) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    ctx.register_batch("events", batch(tickets)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(async { ctx.sql(sql).await?.collect().await })
        .unwrap()
}

/// The Rust replay of each ticket's events.
fn replayed(tickets: &[Vec<Raw>]) -> Vec<Facts> {
    tickets.iter().map(|e| Replay::of(&sorted(e))).collect()
}

/// The stays of every ticket, by the Rust rules: (ticket, stay).
fn replayed_stays(tickets: &[Vec<Raw>]) -> Vec<(usize, Stay)> {
    tickets
        .iter()
        .enumerate()
        .flat_map(|(t, e)| stays(&sorted(e)).into_iter().map(move |s| (t, s)))
        .collect()
}

/// The stays of every ticket, by the SQL rules.
fn queried_stays(tickets: &[Vec<Raw>]) -> Vec<(usize, Stay)> {
    let batches = query(
        tickets,
        &format!(
            "SELECT CAST(substr(ticket_id, 2) AS BIGINT), stay, status, entered_at, left_at \
             FROM ({}) ORDER BY 1, 2",
            sql::status_stays("events")
        ),
    );
    let mut out = Vec::new();
    for b in &batches {
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let ts = |i: usize| {
            b.column(i)
                .as_primitive::<TimestampMicrosecondType>()
                .clone()
        };
        let (ticket, stay, entered, left) = (int(0), int(1), ts(3), ts(4));
        let status = b.column(2).as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            out.push((
                ticket.value(i) as usize,
                Stay {
                    number: stay.value(i) as u32,
                    status: Status::parse(status.value(i)).unwrap(),
                    entered_at: entered.value(i),
                    left_at: left.is_valid(i).then(|| left.value(i)),
                },
            ));
        }
    }
    out
}

/// The SQL form's facts for each ticket.
fn queried(tickets: &[Vec<Raw>]) -> Vec<Facts> {
    let batches = query(
        tickets,
        &format!(
            "SELECT * FROM ({}) ORDER BY CAST(substr(ticket_id, 2) AS INT)",
            sql::ticket_facts("events")
        ),
    );
    let mut out = Vec::new();
    for b in &batches {
        let ts = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .clone()
        };
        let int = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<Int32Type>()
                .clone()
        };
        let text = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
        let opt_ts = |a: &TimestampMicrosecondArray, i: usize| a.is_valid(i).then(|| a.value(i));
        let opt_int = |a: &Int32Array, i: usize| a.is_valid(i).then(|| a.value(i));
        let (created, updated, first, resolved, closed) = (
            ts("created_at"),
            ts("updated_at"),
            ts("first_response_at"),
            ts("resolved_at"),
            ts("closed_at"),
        );
        let (reopens, csat) = (int("reopen_count"), int("csat_score"));
        let (status, assigned) = (text("status"), text("assigned"));
        for i in 0..b.num_rows() {
            out.push(Facts {
                created_at: opt_ts(&created, i),
                updated_at: opt_ts(&updated, i),
                status: Status::parse(status.value(i)),
                first_response_at: opt_ts(&first, i),
                resolved_at: opt_ts(&resolved, i),
                closed_at: opt_ts(&closed, i),
                reopen_count: reopens.value(i) as u32,
                csat_score: opt_int(&csat, i),
                assigned: assigned.is_valid(i).then(|| assigned.value(i).to_string()),
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_sql_rules_equal_the_replay(
        tickets in proptest::collection::vec(proptest::collection::vec(raw_event(), 1..12), 1..8)
    ) {
        prop_assert_eq!(queried(&tickets), replayed(&tickets));
        prop_assert_eq!(queried_stays(&tickets), replayed_stays(&tickets));
    }
}
