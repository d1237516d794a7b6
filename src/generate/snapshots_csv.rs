//! `snapshots.csv`: a ServiceNow-like audit export, one row per update of a ticket with a full
//! copy of the record after it. `sys_mod_count` counts a ticket's versions from 0 (its
//! creation); every update is a version, comments and work notes included, so the last row of
//! a ticket is its state at the horizon. Plain UTF-8, LF line ends, commas; times in UTC as
//! `%Y-%m-%d %H:%M:%S`; states and priorities as ServiceNow's codes. Rows are grouped by
//! ticket, tickets in order of creation.

use std::fs::File;
use std::path::Path;

use super::bad::{hours_early, BadKind, BAD_ID_OFFSET, UNKNOWN_STATUS};
use super::model::{Channel, Priority, Status};
use super::ticket::State;
use super::timefmt::{us_utc, ymd_hms_utc, HOUR};
use super::view::{Cells, View};

pub const FILE: &str = "snapshots.csv";

/// The header row, in file order.
pub const HEADERS: [&str; 18] = [
    "number",
    "sys_mod_count",
    "sys_updated_on",
    "sys_updated_by",
    "opened_at",
    "short_description",
    "state",
    "priority",
    "assignment_group",
    "assigned_to",
    "contact_type",
    "u_queue",
    "caller_id",
    "u_first_response_at",
    "resolved_at",
    "closed_at",
    "reopen_count",
    "u_csat_score",
];

const NUMBER: usize = 0;
const VERSION: usize = 1;
const UPDATED: usize = 2;
const UPDATED_BY: usize = 3;
const OPENED: usize = 4;
const DESCRIPTION: usize = 5;
const STATE: usize = 6;
const PRIORITY: usize = 7;
const GROUP: usize = 8;
const ASSIGNED: usize = 9;
const CONTACT_TYPE: usize = 10;
const QUEUE: usize = 11;
const CALLER: usize = 12;
const FIRST_RESPONSE: usize = 13;
const RESOLVED: usize = 14;
const CLOSED: usize = 15;
const REOPENS: usize = 16;
const CSAT: usize = 17;

pub fn state_code(s: Status) -> &'static str {
    match s {
        Status::New => "1",
        Status::Open => "2",
        Status::OnHold => "3",
        Status::Pending => "-5",
        Status::Resolved => "6",
        Status::Closed => "7",
    }
}

pub fn priority_word(p: Priority) -> &'static str {
    match p {
        Priority::Urgent => "1 - Critical",
        Priority::High => "2 - High",
        Priority::Normal => "3 - Moderate",
        Priority::Low => "4 - Low",
    }
}

pub fn channel_word(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Phone => "phone",
        Channel::Chat => "chat",
        Channel::Portal => "self-service",
    }
}

/// Writes `snapshots.csv`.
pub struct SnapshotsCsv {
    out: csv::Writer<File>,
    cells: Cells,
    pub rows: u64,
}

impl SnapshotsCsv {
    pub fn create(path: &Path) -> csv::Result<SnapshotsCsv> {
        let mut out = csv::WriterBuilder::new()
            .buffer_capacity(1 << 20)
            .from_path(path)?;
        out.write_record(HEADERS)?;
        Ok(SnapshotsCsv {
            out,
            cells: Cells::new(HEADERS.len()),
            rows: 0,
        })
    }

    /// The record of `v`'s ticket in `state`, as version `version`, updated by `by`.
    fn fill(&mut self, v: &View<'_>, state: &State, version: u64, by: &str) {
        let t = v.ticket;
        let c = &mut self.cells;
        c.number(NUMBER, Some(t.id));
        c.number(VERSION, Some(version));
        c.time(UPDATED, Some(state.updated), ymd_hms_utc);
        c.set(UPDATED_BY, by);
        c.time(OPENED, Some(t.created), ymd_hms_utc);
        c.set(DESCRIPTION, &t.subject);
        c.set(STATE, state_code(state.status));
        c.set(PRIORITY, priority_word(state.priority));
        c.set(GROUP, v.team.name);
        c.set(ASSIGNED, state.assignee.map_or("", |a| v.agent(a)));
        c.set(CONTACT_TYPE, channel_word(t.channel));
        c.set(QUEUE, t.inbox);
        c.set(CALLER, v.customer_email);
        c.time(FIRST_RESPONSE, state.first_response, ymd_hms_utc);
        c.time(RESOLVED, state.resolved, ymd_hms_utc);
        c.time(CLOSED, state.closed, ymd_hms_utc);
        c.number(REOPENS, Some(u64::from(state.reopens)));
        c.number(CSAT, state.csat.map(u64::from));
    }

    /// One row per update of the ticket.
    pub fn write(&mut self, v: &View<'_>) -> csv::Result<()> {
        let t = v.ticket;
        let mut state = State::new(t.created, t.priority);
        for (version, u) in t.updates.iter().enumerate() {
            state.apply(u);
            self.fill(v, &state, version as u64, v.actor(u.actor));
            self.cells.write(&mut self.out)?;
            self.rows += 1;
        }
        Ok(())
    }

    /// A bad row after the ticket's (see [`super::bad`]): its last version under another
    /// number, as version 0.
    pub fn write_bad(&mut self, v: &View<'_>, kind: BadKind) -> csv::Result<()> {
        let t = v.ticket;
        let by = t.updates.last().map_or("", |u| v.actor(u.actor));
        self.fill(v, &v.last, 0, by);
        let c = &mut self.cells;
        c.number(NUMBER, Some(t.id + BAD_ID_OFFSET));
        match kind {
            BadKind::UnparseableTimestamp => c.time(UPDATED, Some(v.last.updated), us_utc),
            BadKind::MissingTicketId => c.set(NUMBER, ""),
            BadKind::ResolvedBeforeCreated => {
                c.set(STATE, state_code(Status::Resolved));
                c.time(UPDATED, Some(t.created), ymd_hms_utc);
                c.set(FIRST_RESPONSE, "");
                let early = t.created - hours_early(t.id) * HOUR;
                c.time(RESOLVED, Some(early), ymd_hms_utc);
                c.set(CLOSED, "");
            }
            BadKind::UnknownStatus => c.set(STATE, UNKNOWN_STATUS),
        }
        self.rows += 1;
        self.cells.write(&mut self.out)
    }

    pub fn finish(mut self) -> csv::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
