//! One ticket's story, as the list of updates a help desk records: who did what and when,
//! with business-time delays for agents (the team's calendar, slowed by the team's pressure
//! that day) and wall-clock delays for customers and automations.
//!
//! [`State`] replays updates by the history rules every export agrees with
//! ([`crate::history`]: first response, resolution, closing, reopens and status come from
//! there), so the exports' ticket fields are what the ingest derives from their events.
//! Updates at or after the horizon are never recorded.

use crate::calendar::{BusinessIndex, CalendarError};
use crate::history::{Event, Replay};
use crate::tables::{ActorRole, EventType};

use super::model::{
    self, Channel, People, Priority, PriorityModel, Status, Team, OFF_HOURS_CHANNELS,
};
use super::random::Rand;
use super::timefmt::{ceil_minute, HOUR, MINUTE};

/// Who made an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The ticket's requester.
    Customer,
    /// An agent of the ticket's team, by index.
    Agent(usize),
    /// An automation (routing, reminders, auto-close).
    System,
}

/// One recorded update: a time, an actor and what changed. An update may do several things at
/// once (a reply that also sets the ticket pending); the event export lists them one by one,
/// the audit export writes one record version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    pub at: i64,
    pub actor: Actor,
    /// The ticket's creation (status `New`).
    pub created: bool,
    pub assign: Option<usize>,
    pub priority: Option<Priority>,
    pub public_reply: bool,
    pub internal_note: bool,
    /// The customer reopened a resolved ticket.
    pub reopened: bool,
    pub status: Option<Status>,
    pub csat: Option<u8>,
}

impl Update {
    fn new(at: i64, actor: Actor) -> Update {
        Update {
            at,
            actor,
            created: false,
            assign: None,
            priority: None,
            public_reply: false,
            internal_note: false,
            reopened: false,
            status: None,
            csat: None,
        }
    }

    /// The events of the history rules this update records, in the order the event export
    /// lists them: the creation (into `new`), a public reply, a reopening carrying its status
    /// move, or a plain status change.
    fn history_events(&self) -> impl Iterator<Item = Event<'static>> {
        let role = match self.actor {
            Actor::Customer => ActorRole::Customer,
            Actor::Agent(_) => ActorRole::Agent,
            Actor::System => ActorRole::System,
        };
        let at = self.at;
        let reply = self.public_reply.then_some(Event {
            actor_role: Some(role),
            ..Event::new(at, EventType::PublicReply)
        });
        let kind = if self.created {
            EventType::Created
        } else if self.reopened {
            EventType::Reopened
        } else {
            EventType::StatusChanged
        };
        let status = self.status.map(|to| Event {
            actor_role: Some(role),
            to_status: Some(to),
            ..Event::new(at, kind)
        });
        reply.into_iter().chain(status)
    }
}

/// The state of a ticket after some of its updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub priority: Priority,
    pub assignee: Option<usize>,
    pub first_response: Option<i64>,
    pub resolved: Option<i64>,
    pub closed: Option<i64>,
    pub reopens: u32,
    pub csat: Option<u8>,
    pub updated: i64,
    history: Replay,
}

impl State {
    pub fn new(created: i64, priority: Priority) -> State {
        State {
            status: Status::New,
            priority,
            assignee: None,
            first_response: None,
            resolved: None,
            closed: None,
            reopens: 0,
            csat: None,
            updated: created,
            history: Replay::new(),
        }
    }

    /// The state after `u`, by the history rules.
    pub fn apply(&mut self, u: &Update) {
        if let Some(a) = u.assign {
            self.assignee = Some(a);
        }
        if let Some(p) = u.priority {
            self.priority = p;
        }
        for e in u.history_events() {
            self.history.apply(&e);
        }
        let facts = self.history.facts();
        self.first_response = facts.first_response_at;
        self.resolved = facts.resolved_at;
        self.closed = facts.closed_at;
        self.reopens = facts.reopen_count;
        self.status = facts.status.unwrap_or(Status::New);
        if u.csat.is_some() {
            self.csat = u.csat;
        }
        self.updated = u.at;
    }
}

/// A simulated ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: u64,
    pub team: usize,
    pub channel: Channel,
    pub inbox: &'static str,
    pub priority: Priority,
    pub customer: u64,
    pub subject: String,
    pub created: i64,
    /// Updates in time order, the creation first; none at or after the horizon.
    pub updates: Vec<Update>,
}

impl Ticket {
    /// The state at the horizon.
    pub fn final_state(&self) -> State {
        let mut state = State::new(self.created, self.priority);
        for u in &self.updates {
            state.apply(u);
        }
        state
    }
}

/// Most updates a ticket gets (bounds event ids and run time).
pub const MAX_UPDATES: usize = 60;

/// What a ticket's simulation needs of its team and day.
pub struct Desk<'a> {
    pub team: &'a Team,
    pub index: &'a BusinessIndex,
    pub people: &'a People,
    /// The team's pressure that day (1 is usual).
    pub pressure: f64,
    pub horizon: i64,
}

/// Records updates in time order (at least a minute apart) until the horizon.
struct Log<'a> {
    updates: &'a mut Vec<Update>,
    horizon: i64,
    last: i64,
}

impl Log<'_> {
    /// Record `u` (moved to a minute after the previous update if needed); `false` once the
    /// horizon is reached, after which nothing more is recorded.
    fn push(&mut self, mut u: Update) -> bool {
        if let Some(prev) = self.updates.last() {
            u.at = u.at.max(prev.at + MINUTE);
        }
        if u.at >= self.horizon || self.updates.len() >= MAX_UPDATES {
            self.last = i64::MAX;
            return false;
        }
        self.last = u.at;
        self.updates.push(u);
        true
    }
}

impl Desk<'_> {
    /// `minutes` of the team's business time after `t`, rounded up to a whole minute.
    fn business_after(&self, t: i64, minutes: f64) -> Result<i64, CalendarError> {
        let minutes = minutes.clamp(1.0, 60.0 * 24.0 * 365.0).round() as i64;
        Ok(ceil_minute(self.index.add(t, minutes * MINUTE)?))
    }

    /// How much the day's pressure stretches agents' delays.
    fn slowdown(&self) -> f64 {
        self.pressure * (0.5 + 0.5 * self.pressure)
    }

    /// Simulate a ticket arriving at `at` into `ticket` (its buffers are reused).
    pub fn simulate(
        &self,
        id: u64,
        at: i64,
        business: bool,
        team_index: usize,
        rng: &mut Rand,
        ticket: &mut Ticket,
    ) -> Result<(), CalendarError> {
        let team = self.team;
        let channel = if business {
            rng.pick(&team.channels)
        } else {
            rng.pick(OFF_HOURS_CHANNELS)
        };
        let priority = model::priority(team, channel, rng);
        ticket.id = id;
        ticket.team = team_index;
        ticket.channel = channel;
        ticket.inbox = team.inbox(channel, rng);
        ticket.priority = priority;
        ticket.customer = self.people.customer(rng);
        ticket.subject = model::subject(team, rng);
        ticket.created = at;
        ticket.updates.clear();
        let agents = self.people.agents[team_index].len() as u64;
        let mut log = Log {
            updates: &mut ticket.updates,
            horizon: self.horizon,
            last: at,
        };
        self.story(channel, priority, agents, rng, &mut log)
    }

    fn story(
        &self,
        channel: Channel,
        mut priority: Priority,
        agents: u64,
        rng: &mut Rand,
        log: &mut Log<'_>,
    ) -> Result<(), CalendarError> {
        let created = log.last;
        let slow = self.slowdown();
        let mut agent = rng.below(agents) as usize;

        // Phone tickets are logged by the agent who takes the call.
        let opener = if channel == Channel::Phone {
            Actor::Agent(agent)
        } else {
            Actor::Customer
        };
        let mut u = Update::new(created, opener);
        u.created = true;
        u.status = Some(Status::New);
        if !log.push(u) {
            return Ok(());
        }

        // Routing: live channels go to the agent who answers, the rest to a round robin. The
        // ticket stays new until the agent's first reply.
        let (assigned_at, router) = if channel.is_live() {
            (created + rng.between(0, 2) * MINUTE, Actor::Agent(agent))
        } else {
            let at = self.business_after(created, rng.log_normal(12.0, 1.3) * slow)?;
            (at, Actor::System)
        };
        let mut u = Update::new(assigned_at, router);
        u.assign = Some(agent);
        if !log.push(u) {
            return Ok(());
        }
        if rng.chance(0.07) {
            let mut u = Update::new(log.last + rng.between(1, 20) * MINUTE, Actor::Agent(agent));
            priority = priority.changed(rng.chance(0.6));
            u.priority = Some(priority);
            if !log.push(u) {
                return Ok(());
            }
        }
        if rng.chance(0.15) {
            let mut u = Update::new(log.last + rng.between(1, 30) * MINUTE, Actor::Agent(agent));
            u.internal_note = true;
            if !log.push(u) {
                return Ok(());
            }
        }

        // The first reply: during the call or chat, else after business time scaled by the
        // priority's target and the day's pressure.
        let mut next = match channel {
            Channel::Phone | Channel::Chat => created + rng.between(1, 8) * MINUTE,
            Channel::Email | Channel::Portal => self.business_after(
                created,
                priority.first_response_target() * rng.log_normal(0.45, 1.1) * slow,
            )?,
        };
        let mut status = Status::New;
        // Some agents triage before they answer: the ticket moves to open, which the history
        // rules count as the first response when it precedes the first reply.
        if !channel.is_live() && rng.chance(0.12) {
            let at = log.last + rng.between(1, 30) * MINUTE;
            if at < next {
                let mut u = Update::new(at, Actor::Agent(agent));
                u.status = Some(Status::Open);
                if !log.push(u) {
                    return Ok(());
                }
                status = Status::Open;
            }
        }
        let mut actions = 0u32;
        let mut reopens = 0u32;
        let mut first_resolution = None;
        loop {
            match status {
                Status::New | Status::Open => {
                    if actions > 0 && rng.chance(0.05) && agents > 1 {
                        // Handed over to a colleague.
                        let other = (agent as u64 + 1 + rng.below(agents - 1)) % agents;
                        agent = other as usize;
                        let mut u = Update::new(next, Actor::System);
                        u.assign = Some(agent);
                        if !log.push(u) {
                            return Ok(());
                        }
                        next = log.last + rng.between(5, 60) * MINUTE;
                    }
                    if actions > 0 && rng.chance(0.03) {
                        priority = priority.changed(rng.chance(0.7));
                        let mut u = Update::new(next, Actor::Agent(agent));
                        u.priority = Some(priority);
                        if !log.push(u) {
                            return Ok(());
                        }
                        next = log.last + MINUTE;
                    }
                    let resolve = match (actions, channel.is_live()) {
                        (0, true) => 0.55,
                        (0, false) => 0.35,
                        _ => (0.5 + 0.1 * f64::from(actions)).min(0.95),
                    };
                    let outcome = if actions >= 8 {
                        Status::Resolved
                    } else {
                        rng.pick(&[
                            (Status::Resolved, resolve),
                            (Status::Pending, 0.3),
                            (Status::OnHold, self.team.hold),
                            (Status::Open, (0.95 - resolve).max(0.05)),
                        ])
                    };
                    // Every action answers the customer; putting the ticket on hold also
                    // leaves a note for the team.
                    let mut u = Update::new(next, Actor::Agent(agent));
                    u.public_reply = true;
                    u.internal_note = outcome == Status::OnHold;
                    if outcome != status {
                        u.status = Some(outcome);
                    }
                    if !log.push(u) {
                        return Ok(());
                    }
                    actions += 1;
                    status = outcome;
                    if status == Status::Resolved {
                        first_resolution.get_or_insert(log.last);
                    } else if status == Status::Open {
                        next = self.business_after(
                            log.last,
                            priority.work_time() * rng.log_normal(1.0, 1.0) * slow,
                        )?;
                    }
                }
                Status::Pending => {
                    if rng.chance(0.15) {
                        // No answer: an automation solves the ticket after three days.
                        let mut u = Update::new(log.last + 72 * HOUR, Actor::System);
                        u.status = Some(Status::Resolved);
                        if !log.push(u) {
                            return Ok(());
                        }
                        first_resolution.get_or_insert(log.last);
                        status = Status::Resolved;
                    } else {
                        let wait = rng.log_normal(240.0, 1.6).round() as i64;
                        let mut u = Update::new(log.last + wait * MINUTE, Actor::Customer);
                        u.public_reply = true;
                        u.status = Some(Status::Open);
                        if !log.push(u) {
                            return Ok(());
                        }
                        status = Status::Open;
                        next = self.business_after(
                            log.last,
                            priority.work_time() * rng.log_normal(0.6, 1.0) * slow,
                        )?;
                    }
                }
                Status::OnHold => {
                    let back = self.business_after(log.last, rng.log_normal(480.0, 1.0) * slow)?;
                    let mut u = Update::new(back, Actor::Agent(agent));
                    u.internal_note = true;
                    u.status = Some(Status::Open);
                    if !log.push(u) {
                        return Ok(());
                    }
                    status = Status::Open;
                    next = log.last + rng.between(1, 30) * MINUTE;
                }
                Status::Resolved => {
                    let resolved = log.last;
                    let close_at = resolved + rng.between(72, 120) * HOUR;
                    if reopens < 2 && rng.chance(0.05) {
                        let wait = rng.log_normal(900.0, 1.2).round() as i64;
                        let at = resolved + wait * MINUTE;
                        if at < close_at {
                            let mut u = Update::new(at, Actor::Customer);
                            u.public_reply = true;
                            u.reopened = true;
                            u.status = Some(Status::Open);
                            if !log.push(u) {
                                return Ok(());
                            }
                            reopens += 1;
                            status = Status::Open;
                            next = self.business_after(
                                log.last,
                                priority.work_time() * rng.log_normal(0.5, 1.0) * slow,
                            )?;
                            continue;
                        }
                    }
                    if rng.chance(0.3) {
                        let wait = rng.log_normal(360.0, 1.4).round() as i64;
                        let at = resolved + wait.max(1) * MINUTE;
                        if at < close_at {
                            let first = first_resolution.unwrap_or(resolved);
                            let hours =
                                self.index.business_micros(created, first)? as f64 / HOUR as f64;
                            let mut u = Update::new(at, Actor::Customer);
                            u.csat = Some(csat(hours, reopens, rng));
                            if !log.push(u) {
                                return Ok(());
                            }
                        }
                    }
                    let mut u = Update::new(close_at, Actor::System);
                    u.status = Some(Status::Closed);
                    log.push(u);
                    return Ok(());
                }
                Status::Closed => return Ok(()),
            }
        }
    }
}

/// A satisfaction score from 1 to 5: mostly 4s and 5s, lower the longer the first
/// resolution took (in business hours) and after reopens.
fn csat(hours: f64, reopens: u32, rng: &mut Rand) -> u8 {
    let hours = hours.max(0.0);
    let mean = 4.7 - 1.9 * hours / (hours + 24.0) - 0.7 * f64::from(reopens);
    (mean + 0.8 * rng.normal()).round().clamp(1.0, 5.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(at: i64, actor: Actor, status: Option<Status>) -> Update {
        let mut u = Update::new(at, actor);
        u.status = status;
        u
    }

    #[test]
    fn state_follows_the_derivation_rules() {
        let mut s = State::new(0, Priority::Normal);
        let mut reply = update(10, Actor::Customer, None);
        reply.public_reply = true;
        s.apply(&reply);
        assert_eq!(s.first_response, None, "customers do not count");
        reply.actor = Actor::Agent(1);
        reply.at = 20;
        s.apply(&reply);
        s.apply(&update(30, Actor::Agent(1), Some(Status::Resolved)));
        s.apply(&update(40, Actor::Customer, Some(Status::Open)));
        s.apply(&update(50, Actor::Agent(1), Some(Status::Resolved)));
        s.apply(&update(60, Actor::System, Some(Status::Closed)));
        assert_eq!(
            (s.first_response, s.resolved, s.closed, s.reopens, s.status),
            (Some(20), Some(30), Some(60), 1, Status::Closed)
        );
        assert_eq!(s.updated, 60);
    }

    #[test]
    fn a_triage_before_the_first_reply_is_the_first_response() {
        let mut created = update(0, Actor::Customer, Some(Status::New));
        created.created = true;
        let mut s = State::new(0, Priority::Normal);
        s.apply(&created);
        s.apply(&update(10, Actor::Agent(0), Some(Status::Open)));
        let mut reply = update(30, Actor::Agent(0), None);
        reply.public_reply = true;
        s.apply(&reply);
        assert_eq!((s.first_response, s.status), (Some(10), Status::Open));
    }

    #[test]
    fn satisfaction_falls_with_resolution_time() {
        let mut rng = super::super::random::Streams::new(5).stream(
            super::super::random::Purpose::Ticket,
            0,
            0,
            0,
        );
        let mean = |hours: f64, rng: &mut Rand| {
            (0..2000)
                .map(|_| f64::from(csat(hours, 0, rng)))
                .sum::<f64>()
                / 2000.0
        };
        let fast = mean(1.0, &mut rng);
        let slow = mean(200.0, &mut rng);
        assert!(fast > 4.2 && (1.0..3.4).contains(&slow), "{fast} {slow}");
    }
}
