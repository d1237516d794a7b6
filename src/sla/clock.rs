//! The SLA rules for one ticket, in plain Rust (the README's "SLA semantics" is their
//! documentation): what a ticket's history looks like as of an instant ([`Timeline`]), and each
//! metric's clock measured against its policy's targets in business time ([`measure`]).
//!
//! Nothing here knows DataFusion: the views feed it one ticket at a time
//! ([`super::exec`]), and its business time comes through [`BusinessClock`].

use crate::calendar::{BusinessIndex, CalendarError, MICROS};
use crate::config::{ResolutionStop, SlaPolicy};
use crate::history::{stays, Event, Stay};
use crate::tables::{ActorRole, EventType, SlaMetric, SlaStage, Status, Vocabulary};

/// Business time of one calendar, in µs: what the rules need of a calendar.
pub trait BusinessClock {
    /// Business µs in `[a, b)`.
    fn micros(&self, a: i64, b: i64) -> Result<i64, CalendarError>;
    /// The instant at which `micros` of business time from `t` are complete.
    fn add(&self, t: i64, micros: i64) -> Result<i64, CalendarError>;
}

impl BusinessClock for BusinessIndex {
    fn micros(&self, a: i64, b: i64) -> Result<i64, CalendarError> {
        self.business_micros(a, b)
    }

    fn add(&self, t: i64, micros: i64) -> Result<i64, CalendarError> {
        BusinessIndex::add(self, t, micros)
    }
}

/// What the `tickets` table says of a ticket (instants in UTC µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketRow {
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The current status; `None` when the stored word is not canonical.
    pub status: Option<Status>,
}

/// A ticket as it stood at an instant: its status stays and public replies up to then, and
/// its timestamps that had happened by then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    /// The first entry into a resolved status (the history rules').
    pub resolved_at: Option<i64>,
    /// Status stays, the current one without `left_at`; never empty.
    pub stays: Vec<Stay>,
    /// Whether the stays come from status events (else: one stay from creation in the
    /// ticket's current status, the best a tickets-only source tells).
    pub from_events: bool,
    /// The ticket's `resolved_at` / `closed_at` for tickets-only sources, as of the instant.
    closed_at: Option<i64>,
    /// Public replies of agents and customers, in `(ts, event_id)` order.
    pub replies: Vec<(i64, ActorRole)>,
    /// The instant the timeline stands at.
    pub as_of: i64,
}

impl Timeline {
    /// The ticket `row` with its `events` (in `(ts, event_id)` order) as it stood at `as_of`:
    /// events after `as_of` are ignored, and timestamps of the row after `as_of` have not
    /// happened. `events` must hold every status change of the ticket (also those after
    /// `as_of`: they tell an events source from a tickets-only one) and its public replies.
    pub fn new(row: &TicketRow, events: &[Event<'_>], as_of: i64) -> Timeline {
        let has_status_events = events.iter().any(|e| e.to_status.is_some());
        let seen = events.partition_point(|e| e.ts <= as_of);
        let events = &events[..seen];
        let happened = |t: Option<i64>| t.filter(|&t| t <= as_of);
        let mut stays = stays(events);
        let from_events = has_status_events;
        if stays.is_empty() {
            // A ticket whose status changes all come later was `new` (the history rules); a
            // ticket without any is in its current status since creation.
            let status = if has_status_events {
                Status::New
            } else {
                row.status.unwrap_or(Status::New)
            };
            stays.push(Stay {
                number: 1,
                status,
                entered_at: row.created_at,
                left_at: None,
            });
        }
        let replies = events
            .iter()
            .filter(|e| e.event_type == EventType::PublicReply.as_str())
            .filter_map(|e| e.actor_role.map(|role| (e.ts, role)))
            .collect();
        // The first resolution: a tickets-only source may give `closed_at` without
        // `resolved_at` (a closed ticket was resolved by then); for an events source
        // `resolved_at` already comes first.
        let resolved_at = match (happened(row.resolved_at), happened(row.closed_at)) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, c) => r.or(c),
        };
        Timeline {
            created_at: row.created_at,
            first_response_at: happened(row.first_response_at),
            resolved_at,
            stays,
            from_events,
            closed_at: happened(row.closed_at),
            replies,
            as_of,
        }
    }

    /// The current stay (as of the timeline's instant).
    pub fn current(&self) -> &Stay {
        // `new` never leaves `stays` empty.
        &self.stays[self.stays.len() - 1]
    }

    /// Where `resolution` stops: the last entry into the done group (`resolved`, `closed`;
    /// `closed` alone with [`ResolutionStop::Closed`]) from a status outside it, provided the
    /// ticket is still in the group; `None` while it is not.
    pub fn resolution_stop(&self, stop: ResolutionStop) -> Option<i64> {
        let in_group = |s: Status| match stop {
            ResolutionStop::Resolved => s.is_resolved(),
            ResolutionStop::Closed => s == Status::Closed,
        };
        if !self.from_events {
            if !in_group(self.current().status) {
                return None;
            }
            return match stop {
                ResolutionStop::Resolved => self.resolved_at,
                ResolutionStop::Closed => self.closed_at,
            };
        }
        let run = self
            .stays
            .iter()
            .rev()
            .take_while(|s| in_group(s.status))
            .last()?;
        Some(run.entered_at)
    }

    /// `next_reply` occurrences: `(start, stop)` for each customer reply, after the first
    /// agent reply, that is not already waiting for an answer; stopped by the next agent reply.
    pub fn reply_waits(&self) -> Vec<(i64, Option<i64>)> {
        let mut waits: Vec<(i64, Option<i64>)> = Vec::new();
        let mut agent_replied = false;
        let mut waiting = false;
        for &(ts, role) in &self.replies {
            match role {
                ActorRole::Agent => {
                    if waiting {
                        if let Some(last) = waits.last_mut() {
                            *last = (last.0, Some(ts));
                        }
                        waiting = false;
                    }
                    agent_replied = true;
                }
                ActorRole::Customer if agent_replied && !waiting => {
                    waits.push((ts, None));
                    waiting = true;
                }
                _ => {}
            }
        }
        waits
    }

    /// The stays in `policy`'s pause statuses as `[entered, left)`, the current one to the
    /// timeline's instant.
    /// A ticket without status changes has no known stays to pause in.
    fn pause_stays(&self, policy: &SlaPolicy) -> Vec<(i64, i64)> {
        if !self.from_events {
            return Vec::new();
        }
        self.stays
            .iter()
            .filter(|s| policy.pauses(s.status))
            .map(|s| (s.entered_at, s.left_at.unwrap_or(self.as_of)))
            .collect()
    }
}

/// One metric occurrence of a ticket, measured (times in UTC µs, amounts in business µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub metric: SlaMetric,
    /// 1-based.
    pub occurrence: u32,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    pub target: i64,
    pub elapsed: i64,
    pub paused: i64,
    pub due_at: Option<i64>,
    pub stage: SlaStage,
    pub breached: bool,
    pub remaining: i64,
    pub at_risk: bool,
}

/// What to measure a ticket against: its policy and the workspace's at-risk share.
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    pub policy: &'a SlaPolicy,
    pub at_risk_share: f64,
}

impl Terms<'_> {
    /// The target of `metric` in business µs; `None` when the policy does not measure it.
    /// `first_resolution` falls back on the `resolution` target.
    pub fn target(&self, metric: SlaMetric) -> Option<i64> {
        let targets = &self.policy.targets;
        let seconds = match metric {
            SlaMetric::FirstResolution => targets
                .get(&metric)
                .or_else(|| targets.get(&SlaMetric::Resolution)),
            _ => targets.get(&metric),
        }?;
        // Targets are at most 100 years (checked when kpi.toml is read).
        Some(i64::try_from(*seconds).map_or(i64::MAX, |s| s.saturating_mul(MICROS)))
    }
}

/// Every occurrence of the `metrics` the policy measures for the ticket `timeline`.
pub fn measure(
    timeline: &Timeline,
    terms: &Terms<'_>,
    metrics: &[SlaMetric],
    clock: &dyn BusinessClock,
) -> Result<Vec<Measure>, CalendarError> {
    let mut out = Vec::new();
    let pauses = timeline.pause_stays(terms.policy);
    let paused_now = timeline.from_events && terms.policy.pauses(timeline.current().status);
    for &metric in metrics {
        let Some(target) = terms.target(metric) else {
            continue;
        };
        let created = timeline.created_at;
        let clock_run = |occurrence, start, stop, pausable| Run {
            metric,
            occurrence,
            start,
            stop,
            target,
            pauses: if pausable { &pauses[..] } else { &[] },
            paused_now: pausable && paused_now,
        };
        match metric {
            SlaMetric::FirstResponse => {
                let run = clock_run(1, created, timeline.first_response_at, false);
                out.push(run.measure(timeline.as_of, terms.at_risk_share, clock)?);
            }
            SlaMetric::Resolution => {
                let stop = timeline.resolution_stop(terms.policy.resolution_stop);
                let run = clock_run(1, created, stop, true);
                out.push(run.measure(timeline.as_of, terms.at_risk_share, clock)?);
            }
            SlaMetric::FirstResolution => {
                let run = clock_run(1, created, timeline.resolved_at, true);
                out.push(run.measure(timeline.as_of, terms.at_risk_share, clock)?);
            }
            SlaMetric::NextReply => {
                for (i, (start, stop)) in timeline.reply_waits().into_iter().enumerate() {
                    let run = clock_run(i as u32 + 1, start, stop, false);
                    out.push(run.measure(timeline.as_of, terms.at_risk_share, clock)?);
                }
            }
        }
    }
    Ok(out)
}

/// One clock: from `start` to `stop` (or the as-of instant), less the `pauses`.
struct Run<'a> {
    metric: SlaMetric,
    occurrence: u32,
    start: i64,
    stop: Option<i64>,
    target: i64,
    /// Pause stays `[from, to)` in order, disjoint.
    pauses: &'a [(i64, i64)],
    /// Whether the ticket is in a pause status at the as-of instant.
    paused_now: bool,
}

impl Run<'_> {
    fn measure(
        &self,
        as_of: i64,
        at_risk_share: f64,
        clock: &dyn BusinessClock,
    ) -> Result<Measure, CalendarError> {
        let start = self.start;
        // A stop before the start (inconsistent source data) measures nothing.
        let end = self.stop.unwrap_or(as_of).max(start);
        let mut paused = 0;
        for &(from, to) in self.pauses {
            let (from, to) = (from.max(start), to.min(end));
            if from < to {
                paused += clock.micros(from, to)?;
            }
        }
        let elapsed = clock.micros(start, end)? - paused;
        let breached = elapsed > self.target;
        let running = self.stop.is_none();
        let paused_now = running && self.paused_now;
        let stage = if breached {
            SlaStage::Breached
        } else if !running {
            SlaStage::Met
        } else if paused_now {
            SlaStage::Paused
        } else {
            SlaStage::Running
        };
        let remaining = self.target - elapsed;
        let due_at = if paused_now {
            None
        } else {
            Some(self.due_at(end, clock)?)
        };
        Ok(Measure {
            metric: self.metric,
            occurrence: self.occurrence,
            started_at: start,
            stopped_at: self.stop.map(|s| s.max(start)),
            target: self.target,
            elapsed,
            paused,
            due_at,
            stage,
            breached,
            remaining,
            at_risk: running
                && !breached
                && (remaining as f64) < at_risk_share * self.target as f64,
        })
    }

    /// The instant the elapsed time reaches the target: business time from the start, skipping
    /// the pauses before `end` (none after it).
    fn due_at(&self, end: i64, clock: &dyn BusinessClock) -> Result<i64, CalendarError> {
        let mut cursor = self.start;
        let mut left = self.target;
        for &(from, to) in self.pauses {
            let (from, to) = (from.max(self.start), to.min(end));
            if from >= to || to <= cursor {
                continue;
            }
            let before = clock.micros(cursor, from.max(cursor))?;
            if before >= left {
                break;
            }
            left -= before;
            cursor = to;
        }
        clock.add(cursor, left)
    }
}
