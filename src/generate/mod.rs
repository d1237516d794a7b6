//! `kpi generate`: deterministic, realistic synthetic help-desk exports at any scale, for
//! demos, tests and benchmarks. One simulation of tickets is written in three shapes that
//! describe the same tickets at the same instants: a HubSpot-like ticket export
//! (`tickets_csv`), a Zendesk-like event log (`events_ndjson`) and a ServiceNow-like audit
//! export (`snapshots_csv`); `examples/mappings/` holds the `[sources.NAME]` tables that
//! read them.
//!
//! The model is described in [`SIMULATION`] (also the text of `kpi generate --help`).
//! - `plan`: team calendars, daily volumes, arrival times.
//! - `ticket`: one ticket's updates, and the derivation rules as `ticket::State`.
//! - `model`: teams, channels, priorities, people.
//! - `random`: the seeded random streams.
//! - `bad`: the deliberately bad rows.
//! - `timefmt`, `view`: timestamp forms and what the writers see of a ticket.
//!
//! Memory stays flat: tickets are produced day by day (only a day's arrivals are held and
//! sorted) and each ticket is written as soon as it is simulated. This module knows the
//! calendars but nothing of DataFusion or of the ingest.

mod bad;
mod events_ndjson;
mod model;
mod plan;
mod random;
mod snapshots_csv;
mod ticket;
mod tickets_csv;
mod timefmt;
mod view;

pub use bad::{BadKind, BAD_ID_OFFSET};

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::calendar::{CalendarError, CalendarRegistry};

use events_ndjson::EventsNdjson;
use model::{People, TEAMS};
use plan::{Arrival, Plan};
use random::{Purpose, Streams};
use snapshots_csv::SnapshotsCsv;
use ticket::{Desk, Ticket};
use tickets_csv::TicketsCsv;
use view::View;

/// How the simulation works, for the documentation and `kpi generate --help`.
pub const SIMULATION: &str = "\
The simulation:
  - Four teams: billing, onboarding and tech work by the workspace's default calendar,
    infra by its first other calendar (bundled workspace: br-sp and night-ops).
  - Days are UTC days from --from. Each team's tickets on a day follow its business hours
    that day (a trickle of e-mail and portal tickets arrives while it is closed), the day
    of the week, a 15% growth over the period and a random volume factor per team and day.
    The same factor is the team's pressure that day: it slows its responses down.
  - Channels email, phone, chat and portal (phone and chat only while the team is open),
    an inbox per channel (a mailbox per team), priorities mostly normal, some urgent.
  - Agents answer in business time of the team's calendar: routing assigns an agent, the
    ticket stays new until the agent's first reply (scaled by the priority's target and
    the pressure), then cycles of work follow; tickets wait on the
    customer (pending) or on a third party (on hold), are reassigned, change priority,
    are solved, reopened by the customer (about 5%), and closed 3 to 5 days after.
  - About 30% of solved tickets get a satisfaction score from 1 to 5, lower when the
    resolution took long or the ticket was reopened.
  - The simulation clock ticks in whole minutes; nothing at or after the end of the
    period is written, and tickets still open then stay open.
  - After each ticket, each file gets a bad record with probability --bad-rows:
    an unparseable timestamp, a missing ticket id, resolved before created, or the
    unknown status 'Escalated'. Bad records use ticket ids above 1000000000.

The files (the same tickets, the same instants):
  tickets.csv     HubSpot-like, one row per ticket: UTF-8 with BOM, CRLF, wall times in
                  America/Sao_Paulo as dd/mm/yyyy HH:MM; 'Name' appears twice (contact, owner).
  events.ndjson   Zendesk-like, one JSON object per event with the ticket's attributes;
                  RFC 3339 times with milliseconds and the team zone's offset.
  snapshots.csv   ServiceNow-like audit, one full record per update (sys_mod_count 0, 1, ...);
                  UTC times as yyyy-mm-dd HH:MM:SS; state and priority codes.
Mappings that read them: examples/mappings/ (also in the bundled sample_data/kpi.toml).

The same options and seed always give byte-identical files.";

/// The most tickets one run writes.
pub const MAX_TICKETS: u64 = 100_000_000;
/// The longest period, in days.
pub const MAX_DAYS: u32 = 3660;
/// The first ticket id; ids count up in order of creation.
pub const FIRST_TICKET_ID: u64 = 100_001;

/// Errors of a generator run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The number of tickets is 0 or too large.
    #[error("the number of tickets must be between 1 and {MAX_TICKETS} (got {tickets})")]
    Tickets { tickets: u64 },
    /// The period is empty or too long.
    #[error("the period must be between 1 and {MAX_DAYS} days (got {days})")]
    Days { days: u32 },
    /// The bad-row rate is not a probability.
    #[error("the bad-row rate must be between 0 and 1 (got {rate})")]
    BadRowRate { rate: f64 },
    /// The first day is outside the supported dates.
    #[error("the first day {from} is outside the supported years 1900 to 2500")]
    Start { from: NaiveDate },
    /// The workspace has no calendar to place responses in business hours.
    #[error("the workspace defines no calendars; generate places responses in business hours and needs at least one [calendars.NAME] in kpi.toml")]
    NoCalendars,
    /// Business-time arithmetic failed.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// The output folder cannot be created.
    #[error("cannot create the output folder {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An output file cannot be written.
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// Progress of a run, for a progress bar.
pub trait Progress {
    /// The run starts: `total` tickets to simulate.
    fn start(&self, _total: u64) {}
    /// `done` tickets have been written.
    fn tickets(&self, _done: u64) {}
}

/// No progress reporting.
impl Progress for () {}

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: PathBuf,
    pub rows: u64,
    /// Bad records by kind, in the order of [`BadKind::ALL`].
    pub bad: [u64; 4],
    pub bytes: u64,
}

impl FileSummary {
    /// Bad records of all kinds.
    pub fn bad_records(&self) -> u64 {
        self.bad.iter().sum()
    }
}

/// What a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tickets: u64,
    /// Each team and the calendar it works by.
    pub teams: Vec<(&'static str, String)>,
    /// `tickets.csv`, `events.ndjson`, `snapshots.csv`.
    pub files: [FileSummary; 3],
}

/// Rows per file, and bad records per file and kind.
type Counts = ([u64; 3], [[u64; 4]; 3]);

/// A generator run: the number of tickets, then options, then [`Generate::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Generate {
    tickets: u64,
    seed: u64,
    from: NaiveDate,
    days: u32,
    bad_rows: f64,
}

/// Default first day.
pub const DEFAULT_FROM: &str = "2026-01-01";
/// Default period in days.
pub const DEFAULT_DAYS: u32 = 90;
/// Default seed.
pub const DEFAULT_SEED: u64 = 42;
/// Default bad-row rate.
pub const DEFAULT_BAD_ROWS: f64 = 0.001;

impl Generate {
    /// `tickets` tickets from 2026-01-01 over 90 days, seed 42, bad rows at 0.001.
    pub fn new(tickets: u64) -> Generate {
        Generate {
            tickets,
            seed: DEFAULT_SEED,
            from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            days: DEFAULT_DAYS,
            bad_rows: DEFAULT_BAD_ROWS,
        }
    }

    pub fn seed(mut self, seed: u64) -> Generate {
        self.seed = seed;
        self
    }

    /// The first day (UTC).
    pub fn from(mut self, from: NaiveDate) -> Generate {
        self.from = from;
        self
    }

    pub fn days(mut self, days: u32) -> Generate {
        self.days = days;
        self
    }

    /// The chance that a bad record follows a ticket, in each file.
    pub fn bad_rows(mut self, rate: f64) -> Generate {
        self.bad_rows = rate;
        self
    }

    /// Check the options (no I/O).
    pub fn validate(&self) -> Result<(), GenerateError> {
        if !(1..=MAX_TICKETS).contains(&self.tickets) {
            return Err(GenerateError::Tickets {
                tickets: self.tickets,
            });
        }
        if !(1..=MAX_DAYS).contains(&self.days) {
            return Err(GenerateError::Days { days: self.days });
        }
        if !(0.0..=1.0).contains(&self.bad_rows) {
            return Err(GenerateError::BadRowRate {
                rate: self.bad_rows,
            });
        }
        let year = chrono::Datelike::year(&self.from);
        if !(1900..=2500).contains(&year) {
            return Err(GenerateError::Start { from: self.from });
        }
        Ok(())
    }

    /// Simulate and write `tickets.csv`, `events.ndjson` and `snapshots.csv` into `out`
    /// (created if missing; existing files of these names are replaced). Files are written
    /// under a `.partial` name and renamed at the end, so a failed run leaves no file that
    /// looks complete.
    pub fn run(
        &self,
        calendars: &CalendarRegistry,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<Summary, GenerateError> {
        self.validate()?;
        let streams = Streams::new(self.seed);
        let plan = Plan::new(self.tickets, self.from, self.days, calendars, &streams)?;
        std::fs::create_dir_all(out).map_err(|source| GenerateError::CreateDir {
            path: out.to_path_buf(),
            source,
        })?;
        let names = [tickets_csv::FILE, events_ndjson::FILE, snapshots_csv::FILE];
        let partials = names.map(|n| out.join(format!("{n}.partial")));
        let (rows, bad) = self
            .write(&plan, &streams, &partials, progress)
            .inspect_err(|_| {
                for p in &partials {
                    let _ = std::fs::remove_file(p);
                }
            })?;
        for (partial, name) in partials.iter().zip(names) {
            let path = out.join(name);
            std::fs::rename(partial, &path).map_err(|e| GenerateError::Write {
                path,
                message: e.to_string(),
            })?;
        }
        let files = [0, 1, 2].map(|i| {
            let path = out.join(names[i]);
            FileSummary {
                bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
                path,
                rows: rows[i],
                bad: bad[i],
            }
        });
        Ok(Summary {
            tickets: self.tickets,
            teams: TEAMS
                .iter()
                .zip(&plan.calendars)
                .map(|(t, c)| (t.name, c.name.clone()))
                .collect(),
            files,
        })
    }

    /// The day-by-day loop; rows and bad records per file.
    fn write(
        &self,
        plan: &Plan,
        streams: &Streams,
        paths: &[PathBuf; 3],
        progress: &dyn Progress,
    ) -> Result<Counts, GenerateError> {
        let failed = |i: usize| {
            move |e: &dyn std::fmt::Display| GenerateError::Write {
                path: paths[i].clone(),
                message: e.to_string(),
            }
        };
        let mut tickets_out = TicketsCsv::create(&paths[0]).map_err(|e| failed(0)(&e))?;
        let mut events_out = EventsNdjson::create(&paths[1]).map_err(|e| failed(1)(&e))?;
        let mut snapshots_out = SnapshotsCsv::create(&paths[2]).map_err(|e| failed(2)(&e))?;
        let people = People::new(self.tickets, self.days);
        progress.start(self.tickets);
        let mut bad = [[0u64; 4]; 3];
        let mut arrivals: Vec<Arrival> = Vec::new();
        let mut ticket = Ticket {
            id: 0,
            team: 0,
            channel: model::Channel::Email,
            inbox: "",
            priority: model::Priority::Normal,
            customer: 0,
            subject: String::new(),
            created: 0,
            updates: Vec::new(),
        };
        let mut done = 0u64;
        for day in 0..plan.days {
            plan.arrivals(day, streams, &mut arrivals)?;
            for arrival in &arrivals {
                let t = arrival.team;
                let calendar = &plan.calendars[t];
                let desk = Desk {
                    team: &TEAMS[t],
                    index: &calendar.index,
                    people: &people,
                    pressure: plan.pressure(day, t),
                    horizon: plan.horizon,
                };
                let mut rng = streams.stream(Purpose::Ticket, t, day, arrival.index);
                desk.simulate(
                    FIRST_TICKET_ID + done,
                    arrival.at,
                    arrival.business,
                    t,
                    &mut rng,
                    &mut ticket,
                )?;
                let (customer_name, customer_email) = model::customer_contact(ticket.customer);
                let view = View {
                    ticket: &ticket,
                    team: &TEAMS[t],
                    tz: &calendar.tz,
                    agents: &people.agents[t],
                    agent_emails: &people.agent_emails[t],
                    customer_name: &customer_name,
                    customer_email: &customer_email,
                    last: ticket.final_state(),
                };
                let mut bad_rng = streams.stream(Purpose::Bad, t, day, arrival.index);
                let kinds = [(); 3].map(|_| BadKind::draw(&mut bad_rng, self.bad_rows));

                tickets_out.write(&view).map_err(|e| failed(0)(&e))?;
                if let Some(kind) = kinds[0] {
                    tickets_out
                        .write_bad(&view, kind)
                        .map_err(|e| failed(0)(&e))?;
                }
                events_out.write(&view).map_err(|e| failed(1)(&e))?;
                if let Some(kind) = kinds[1] {
                    events_out
                        .write_bad(&view, kind)
                        .map_err(|e| failed(1)(&e))?;
                }
                snapshots_out.write(&view).map_err(|e| failed(2)(&e))?;
                if let Some(kind) = kinds[2] {
                    snapshots_out
                        .write_bad(&view, kind)
                        .map_err(|e| failed(2)(&e))?;
                }
                for (file, kind) in kinds.iter().enumerate() {
                    if let Some(kind) = kind {
                        bad[file][kind.position()] += 1;
                    }
                }
                done += 1;
                if done.is_multiple_of(4096) {
                    progress.tickets(done);
                }
            }
        }
        progress.tickets(done);
        let rows = [tickets_out.rows, events_out.rows, snapshots_out.rows];
        tickets_out.finish().map_err(|e| failed(0)(&e))?;
        events_out.finish().map_err(|e| failed(1)(&e))?;
        snapshots_out.finish().map_err(|e| failed(2)(&e))?;
        Ok((rows, bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Origin, Workspace, BUNDLED};

    #[test]
    fn options_are_validated_before_any_io() {
        let ws = Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap();
        let nowhere = Path::new("/nonexistent/never/created");
        let err = |g: Generate| g.run(&ws.calendars, nowhere, &()).unwrap_err().to_string();
        assert_eq!(
            err(Generate::new(0)),
            "the number of tickets must be between 1 and 100000000 (got 0)"
        );
        assert!(err(Generate::new(5).days(0)).contains("between 1 and 3660 days (got 0)"));
        assert!(err(Generate::new(5).bad_rows(1.5)).contains("between 0 and 1 (got 1.5)"));
        assert!(err(Generate::new(5).bad_rows(f64::NAN)).contains("(got NaN)"));
        let early = NaiveDate::from_ymd_opt(1200, 1, 1).unwrap();
        assert!(err(Generate::new(5).from(early)).contains("1200-01-01"));
        assert!(!nowhere.exists());
    }

    #[test]
    fn a_small_run_writes_every_ticket_in_every_file() {
        let ws = Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let summary = Generate::new(40)
            .days(3)
            .bad_rows(0.0)
            .run(&ws.calendars, dir.path(), &())
            .unwrap();
        assert_eq!(summary.tickets, 40);
        assert_eq!(summary.files[0].rows, 40);
        assert!(summary.files[1].rows > 80 && summary.files[2].rows > 80);
        assert!(summary
            .files
            .iter()
            .all(|f| f.bad_records() == 0 && f.bytes > 0));
        assert_eq!(summary.teams[3], ("infra", "night-ops".to_string()));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
