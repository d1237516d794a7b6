//! `events.ndjson`: a Zendesk-like activity log, one JSON object per line, one line per thing
//! that happened (an update that replies and sets the ticket pending is two events at the same
//! instant). Each line carries the ticket's attributes after the update; timestamps are
//! RFC 3339 with milliseconds and the UTC offset of the team's calendar zone. Lines are
//! grouped by ticket, tickets in order of creation.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::bad::{hours_early, BadKind, BAD_ID_OFFSET};
use super::model::{Channel, Priority, Status};
use super::ticket::{Actor, State, Update};
use super::timefmt::{dmy_hms, rfc3339_ms, HOUR};
use super::view::View;

pub const FILE: &str = "events.ndjson";

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Open => "open",
        Status::Pending => "pending",
        Status::OnHold => "hold",
        Status::Resolved => "solved",
        Status::Closed => "closed",
    }
}

pub fn priority_word(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

pub fn channel_word(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Phone => "voice",
        Channel::Chat => "chat",
        Channel::Portal => "web",
    }
}

/// The event types, as the log spells them.
pub mod kind {
    pub const CREATED: &str = "Create";
    pub const STATUS: &str = "StatusChange";
    pub const PUBLIC: &str = "PublicComment";
    pub const INTERNAL: &str = "PrivateComment";
    pub const ASSIGNED: &str = "AssigneeChange";
    pub const PRIORITY: &str = "PriorityChange";
    pub const CSAT: &str = "SatisfactionRating";
    pub const REOPENED: &str = "Reopen";
}

fn role_word(actor: Actor) -> &'static str {
    match actor {
        Actor::Customer => "end-user",
        Actor::Agent(_) => "agent",
        Actor::System => "system",
    }
}

#[derive(Serialize)]
struct Line<'a> {
    id: u64,
    ticket_id: Option<u64>,
    created_at: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    author: &'a str,
    author_role: &'a str,
    previous_status: Option<&'a str>,
    status: Option<&'a str>,
    value: Option<&'a str>,
    via: &'a str,
    inbox: &'a str,
    group: &'a str,
    priority: &'a str,
    requester: &'a str,
    assignee: Option<&'a str>,
    satisfaction_score: Option<u8>,
}

/// Writes `events.ndjson`.
pub struct EventsNdjson {
    out: BufWriter<File>,
    time: String,
    value: String,
    pub rows: u64,
}

impl EventsNdjson {
    pub fn create(path: &Path) -> std::io::Result<EventsNdjson> {
        Ok(EventsNdjson {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            time: String::new(),
            value: String::new(),
            rows: 0,
        })
    }

    fn line(&mut self, line: &Line<'_>) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    /// The ticket's events, update by update.
    pub fn write(&mut self, v: &View<'_>) -> std::io::Result<()> {
        let t = v.ticket;
        let mut state = State::new(t.created, t.priority);
        let mut seq = 0u64;
        for u in &t.updates {
            let before = state.status;
            state.apply(u);
            self.time.clear();
            rfc3339_ms(&mut self.time, v.tz, u.at);
            for (kind, from, to, value) in events(u, before) {
                seq += 1;
                self.value.clear();
                match value {
                    Value::None => {}
                    Value::Agent(a) => self.value.push_str(v.agent(a)),
                    Value::Priority(p) => self.value.push_str(priority_word(p)),
                    Value::Score(s) => self.value.push_str(&s.to_string()),
                }
                let line = Line {
                    id: t.id * 1000 + seq,
                    ticket_id: Some(t.id),
                    created_at: &self.time,
                    kind,
                    author: v.actor(u.actor),
                    author_role: role_word(u.actor),
                    previous_status: from.map(status_word),
                    status: to.map(status_word),
                    value: (!matches!(value, Value::None)).then_some(self.value.as_str()),
                    via: channel_word(t.channel),
                    inbox: t.inbox,
                    group: v.team.name,
                    priority: priority_word(state.priority),
                    requester: v.customer_email,
                    assignee: state.assignee.map(|a| v.agent(a)),
                    satisfaction_score: state.csat,
                };
                // The line borrows this writer's buffers: write through the field, not `line()`.
                serde_json::to_writer(&mut self.out, &line)?;
                self.out.write_all(b"\n")?;
                self.rows += 1;
            }
        }
        Ok(())
    }

    /// A bad record after the ticket's events (see [`super::bad`]).
    pub fn write_bad(&mut self, v: &View<'_>, kind: BadKind) -> std::io::Result<()> {
        let t = v.ticket;
        let s = &v.last;
        let bad_id = t.id + BAD_ID_OFFSET;
        let mut time = String::new();
        let at = s.updated;
        let mut line = Line {
            id: bad_id * 1000 + 1,
            ticket_id: Some(bad_id),
            created_at: "",
            kind: kind::PUBLIC,
            author: v.customer_email,
            author_role: role_word(Actor::Customer),
            previous_status: None,
            status: None,
            value: None,
            via: channel_word(t.channel),
            inbox: t.inbox,
            group: v.team.name,
            priority: priority_word(s.priority),
            requester: v.customer_email,
            assignee: s.assignee.map(|a| v.agent(a)),
            satisfaction_score: None,
        };
        match kind {
            BadKind::UnparseableTimestamp => {
                dmy_hms(&mut time, v.tz, at);
                line.created_at = &time;
                self.line(&line)
            }
            BadKind::MissingTicketId => {
                rfc3339_ms(&mut time, v.tz, at);
                line.created_at = &time;
                line.ticket_id = None;
                self.line(&line)
            }
            BadKind::UnknownStatus => {
                rfc3339_ms(&mut time, v.tz, at);
                line.created_at = &time;
                line.kind = kind::STATUS;
                line.author = v.actor(Actor::System);
                line.author_role = role_word(Actor::System);
                line.previous_status = Some(status_word(s.status));
                line.status = Some("escalated");
                self.line(&line)
            }
            BadKind::ResolvedBeforeCreated => {
                rfc3339_ms(&mut time, v.tz, t.created);
                line.created_at = &time;
                line.kind = kind::CREATED;
                line.status = Some(status_word(Status::New));
                line.assignee = None;
                self.line(&line)?;
                let mut early = String::new();
                rfc3339_ms(&mut early, v.tz, t.created - hours_early(t.id) * HOUR);
                line.id += 1;
                line.created_at = &early;
                line.kind = kind::STATUS;
                line.author = v.actor(Actor::System);
                line.author_role = role_word(Actor::System);
                line.previous_status = Some(status_word(Status::New));
                line.status = Some(status_word(Status::Resolved));
                self.line(&line)
            }
        }
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The value an event carries.
#[derive(Debug, Clone, Copy)]
enum Value {
    None,
    Agent(usize),
    Priority(Priority),
    Score(u8),
}

/// The events of one update, in a fixed order: creation, assignment, priority, comments,
/// reopening (which carries its status move), status, rating.
fn events(
    u: &Update,
    before: Status,
) -> impl Iterator<Item = (&'static str, Option<Status>, Option<Status>, Value)> {
    let created = u
        .created
        .then_some((kind::CREATED, None, Some(Status::New), Value::None));
    let assigned = u
        .assign
        .map(|a| (kind::ASSIGNED, None, None, Value::Agent(a)));
    let priority = u
        .priority
        .map(|p| (kind::PRIORITY, None, None, Value::Priority(p)));
    let public = u
        .public_reply
        .then_some((kind::PUBLIC, None, None, Value::None));
    let internal = u
        .internal_note
        .then_some((kind::INTERNAL, None, None, Value::None));
    // A reopening is one event with its status move.
    let reopened = u
        .reopened
        .then_some((kind::REOPENED, Some(before), u.status, Value::None));
    let status = u
        .status
        .filter(|_| !u.created && !u.reopened)
        .map(|to| (kind::STATUS, Some(before), Some(to), Value::None));
    let csat = u.csat.map(|s| (kind::CSAT, None, None, Value::Score(s)));
    [
        created, assigned, priority, public, internal, reopened, status, csat,
    ]
    .into_iter()
    .flatten()
}
