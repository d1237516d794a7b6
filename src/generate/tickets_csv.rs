//! `tickets.csv`: a HubSpot-like export, one row per ticket with its state at the horizon.
//! UTF-8 with a byte-order mark, CRLF line ends, commas, quotes where needed; naive wall times
//! in America/Sao_Paulo as `%d/%m/%Y %H:%M`; empty cells are NULL. The header `Name` appears
//! twice: the contact's name, then the ticket owner's.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use chrono_tz::Tz;

use super::bad::{hours_early, BadKind, BAD_ID_OFFSET, UNKNOWN_STATUS};
use super::model::{Channel, Priority, Status};
use super::timefmt::{dmy_hm, iso_local_hm, HOUR};
use super::view::{Cells, View};

pub const FILE: &str = "tickets.csv";

/// The zone of the export's naive timestamps.
pub const TIMEZONE: Tz = chrono_tz::America::Sao_Paulo;

/// The header row, in file order.
pub const HEADERS: [&str; 18] = [
    "Ticket ID",
    "Ticket name",
    "Create date",
    "Last activity date",
    "Ticket status",
    "Priority",
    "Source",
    "Inbox",
    "Team",
    "Contact email",
    "Name",
    "Ticket owner",
    "Name",
    "First agent reply date",
    "Resolved date",
    "Close date",
    "Reopen count",
    "CSAT",
];

const ID: usize = 0;
const SUBJECT: usize = 1;
const CREATED: usize = 2;
const UPDATED: usize = 3;
const STATUS: usize = 4;
const PRIORITY: usize = 5;
const SOURCE: usize = 6;
const INBOX: usize = 7;
const TEAM: usize = 8;
const CONTACT_EMAIL: usize = 9;
const CONTACT_NAME: usize = 10;
const OWNER_EMAIL: usize = 11;
const OWNER_NAME: usize = 12;
const FIRST_REPLY: usize = 13;
const RESOLVED: usize = 14;
const CLOSED: usize = 15;
const REOPENS: usize = 16;
const CSAT: usize = 17;

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::New => "New",
        Status::Open => "Open",
        Status::Pending => "Waiting on contact",
        Status::OnHold => "On hold",
        Status::Resolved => "Resolved",
        Status::Closed => "Closed",
    }
}

pub fn priority_word(p: Priority) -> &'static str {
    match p {
        Priority::Low => "LOW",
        Priority::Normal => "MEDIUM",
        Priority::High => "HIGH",
        Priority::Urgent => "URGENT",
    }
}

pub fn channel_word(c: Channel) -> &'static str {
    match c {
        Channel::Email => "EMAIL",
        Channel::Phone => "PHONE",
        Channel::Chat => "CHAT",
        Channel::Portal => "FORM",
    }
}

/// Writes `tickets.csv`.
pub struct TicketsCsv {
    out: csv::Writer<File>,
    cells: Cells,
    pub rows: u64,
}

fn local(out: &mut String, t: i64) {
    dmy_hm(out, &TIMEZONE, t);
}

impl TicketsCsv {
    /// Create the file and write the byte-order mark and the header.
    pub fn create(path: &Path) -> csv::Result<TicketsCsv> {
        let mut file = File::create(path)?;
        file.write_all(b"\xEF\xBB\xBF")?;
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(1 << 20)
            .from_writer(file);
        out.write_record(HEADERS)?;
        Ok(TicketsCsv {
            out,
            cells: Cells::new(HEADERS.len()),
            rows: 0,
        })
    }

    fn fill(&mut self, v: &View<'_>) {
        let t = v.ticket;
        let s = &v.last;
        let c = &mut self.cells;
        c.number(ID, Some(t.id));
        c.set(SUBJECT, &t.subject);
        c.time(CREATED, Some(t.created), local);
        c.time(UPDATED, Some(s.updated), local);
        c.set(STATUS, status_word(s.status));
        c.set(PRIORITY, priority_word(s.priority));
        c.set(SOURCE, channel_word(t.channel));
        c.set(INBOX, t.inbox);
        c.set(TEAM, v.team.name);
        c.set(CONTACT_EMAIL, v.customer_email);
        c.set(CONTACT_NAME, v.customer_name);
        c.set(OWNER_EMAIL, s.assignee.map_or("", |a| v.agent_email(a)));
        c.set(OWNER_NAME, s.assignee.map_or("", |a| v.agent(a)));
        c.time(FIRST_REPLY, s.first_response, local);
        c.time(RESOLVED, s.resolved, local);
        c.time(CLOSED, s.closed, local);
        c.number(REOPENS, Some(u64::from(s.reopens)));
        c.number(CSAT, s.csat.map(u64::from));
    }

    /// The ticket's row.
    pub fn write(&mut self, v: &View<'_>) -> csv::Result<()> {
        self.fill(v);
        self.rows += 1;
        self.cells.write(&mut self.out)
    }

    /// A bad row after the ticket's (see [`super::bad`]).
    pub fn write_bad(&mut self, v: &View<'_>, kind: BadKind) -> csv::Result<()> {
        self.fill(v);
        let t = v.ticket;
        let c = &mut self.cells;
        c.number(ID, Some(t.id + BAD_ID_OFFSET));
        match kind {
            BadKind::UnparseableTimestamp => {
                c.time(CREATED, Some(t.created), |out, t| {
                    iso_local_hm(out, &TIMEZONE, t)
                });
            }
            BadKind::MissingTicketId => c.set(ID, ""),
            BadKind::ResolvedBeforeCreated => {
                let early = t.created - hours_early(t.id) * HOUR;
                c.set(STATUS, status_word(Status::Resolved));
                c.time(UPDATED, Some(t.created), local);
                c.set(FIRST_REPLY, "");
                c.time(RESOLVED, Some(early), local);
                c.set(CLOSED, "");
            }
            BadKind::UnknownStatus => c.set(STATUS, UNKNOWN_STATUS),
        }
        self.rows += 1;
        self.cells.write(&mut self.out)
    }

    pub fn finish(mut self) -> csv::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
