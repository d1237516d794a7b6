//! The history rules applied event by event (see the module documentation of
//! [`crate::history`] for the rules).

use crate::tables::{ActorRole, EventType, Status, Vocabulary};

/// What the rules read of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// When it happened, µs since 1970-01-01 UTC.
    pub ts: i64,
    /// The canonical event type, or the source's own word.
    pub event_type: &'a str,
    pub actor_role: Option<ActorRole>,
    /// The status the event moved the ticket to, if it did.
    pub to_status: Option<Status>,
    /// The event's value (the rating of `csat_rated`, the assignee of `assigned`).
    pub value: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// An event of a canonical type with no role, status or value.
    pub fn new(ts: i64, event_type: EventType) -> Event<'a> {
        Event {
            ts,
            event_type: event_type.as_str(),
            actor_role: None,
            to_status: None,
            value: None,
        }
    }

    fn is(&self, event_type: EventType) -> bool {
        self.event_type == event_type.as_str()
    }
}

/// What the rules derive from a ticket's events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub status: Option<Status>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopen_count: u32,
    pub csat_score: Option<i32>,
    pub assigned: Option<String>,
}

/// The rules applied to a ticket's events one by one, in `(ts, event_id)` order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replay {
    first: Option<i64>,
    created: Option<i64>,
    updated: Option<i64>,
    initial: Option<Status>,
    status: Option<Status>,
    first_reply: Option<i64>,
    first_move: Option<i64>,
    resolved: Option<i64>,
    last_closed: Option<i64>,
    reopens: u32,
    csat: Option<i32>,
    assigned: Option<String>,
}

fn earliest(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Replay {
    /// No events yet.
    pub fn new() -> Replay {
        Replay::default()
    }

    /// Apply the next event.
    pub fn apply(&mut self, e: &Event<'_>) {
        self.first = earliest(self.first, e.ts);
        if e.is(EventType::Created) {
            self.created = earliest(self.created, e.ts);
        }
        self.updated = Some(self.updated.map_or(e.ts, |u| u.max(e.ts)));
        if e.is(EventType::PublicReply) && e.actor_role == Some(ActorRole::Agent) {
            self.first_reply = earliest(self.first_reply, e.ts);
        }
        if let Some(to) = e.to_status {
            let initial = *self.initial.get_or_insert(to);
            if to != initial {
                self.first_move = earliest(self.first_move, e.ts);
            }
            if self.status.is_some_and(Status::is_resolved) && !to.is_resolved() {
                self.reopens += 1;
            }
            if to.is_resolved() {
                self.resolved = earliest(self.resolved, e.ts);
            }
            if to == Status::Closed {
                self.last_closed = Some(e.ts);
            }
            self.status = Some(to);
        } else if e.is(EventType::Reopened) {
            self.reopens += 1;
        }
        if e.is(EventType::CsatRated) {
            self.csat = e
                .value
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|v| (1..=5).contains(v));
        }
        if e.is(EventType::Assigned) {
            self.assigned = e.value.map(str::to_string);
        }
    }

    /// The facts so far.
    pub fn facts(&self) -> Facts {
        let first_response_at = match (self.first_reply, self.first_move) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Facts {
            created_at: self.created.or(self.first),
            updated_at: self.updated,
            status: Some(self.status.unwrap_or(Status::New)).filter(|_| self.first.is_some()),
            first_response_at,
            resolved_at: self.resolved,
            closed_at: self
                .last_closed
                .filter(|_| self.status == Some(Status::Closed)),
            reopen_count: self.reopens,
            csat_score: self.csat,
            assigned: self.assigned.clone(),
        }
    }

    /// The facts of `events`, taken in the order given.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event<'a>>) -> Facts {
        let mut replay = Replay::new();
        for e in events {
            replay.apply(e);
        }
        replay.facts()
    }
}

/// One stay of a ticket in a status: from the event that moved it there to the next event
/// that moved it, or still going (`left_at` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stay {
    /// 1-based, in order.
    pub number: u32,
    pub status: Status,
    pub entered_at: i64,
    pub left_at: Option<i64>,
}

/// The status stays of a ticket's events, taken in `(ts, event_id)` order: each event with a
/// `to_status` starts a stay (a move into the status it is already in starts a new one, and a
/// stay may last zero seconds: both matter for counting); before the first such event there is
/// no stay.
pub fn stays<'a>(events: impl IntoIterator<Item = &'a Event<'a>>) -> Vec<Stay> {
    let mut out: Vec<Stay> = Vec::new();
    for e in events {
        let Some(status) = e.to_status else {
            continue;
        };
        if let Some(last) = out.last_mut() {
            last.left_at = Some(e.ts);
        }
        out.push(Stay {
            number: out.len() as u32 + 1,
            status,
            entered_at: e.ts,
            left_at: None,
        });
    }
    out
}
