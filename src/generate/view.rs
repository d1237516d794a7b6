//! What the export writers see of a simulated ticket: the ticket, its state at the horizon,
//! its team and calendar zone, and the people it names. Also the cell buffer the two CSV
//! writers fill row by row without allocating.

use std::fs::File;

use chrono_tz::Tz;

use super::model::Team;
use super::ticket::{Actor, State, Ticket};

/// A ticket as the writers see it.
pub struct View<'a> {
    pub ticket: &'a Ticket,
    pub team: &'a Team,
    /// The zone of the team's calendar.
    pub tz: &'a Tz,
    pub agents: &'a [String],
    pub agent_emails: &'a [String],
    pub customer_name: &'a str,
    pub customer_email: &'a str,
    /// The state at the horizon.
    pub last: State,
}

/// Who acts as the system in every export.
pub const SYSTEM: &str = "system";

impl View<'_> {
    /// An agent's display name.
    pub fn agent(&self, i: usize) -> &str {
        self.agents.get(i).map_or("", String::as_str)
    }

    /// An agent's e-mail address.
    pub fn agent_email(&self, i: usize) -> &str {
        self.agent_emails.get(i).map_or("", String::as_str)
    }

    /// The name an export gives an actor: the requester's e-mail, the agent's name, `system`.
    pub fn actor(&self, actor: Actor) -> &str {
        match actor {
            Actor::Customer => self.customer_email,
            Actor::Agent(i) => self.agent(i),
            Actor::System => SYSTEM,
        }
    }
}

/// The cells of one CSV row, reused from row to row.
pub struct Cells(Vec<String>);

impl Cells {
    pub fn new(n: usize) -> Cells {
        Cells(vec![String::new(); n])
    }

    /// Cell `i`, emptied, to write into.
    pub fn at(&mut self, i: usize) -> &mut String {
        let cell = &mut self.0[i];
        cell.clear();
        cell
    }

    /// Set cell `i` to `text`.
    pub fn set(&mut self, i: usize, text: &str) {
        self.at(i).push_str(text);
    }

    /// Set cell `i` to `time` written by `form`, or empty (NULL).
    pub fn time(&mut self, i: usize, time: Option<i64>, form: impl Fn(&mut String, i64)) {
        let cell = self.at(i);
        if let Some(t) = time {
            form(cell, t);
        }
    }

    /// Set cell `i` to a number, or empty.
    pub fn number(&mut self, i: usize, n: Option<u64>) {
        let cell = self.at(i);
        if let Some(n) = n {
            use std::fmt::Write;
            let _ = write!(cell, "{n}");
        }
    }

    pub fn write(&self, out: &mut csv::Writer<File>) -> csv::Result<()> {
        out.write_record(&self.0)
    }
}
