//! The SLA clock rules against a minute-by-minute oracle: on random histories (status
//! changes, zero-length stays, reopenings, pauses) and as-of instants, every amount, stop,
//! stage and due time of [`super::clock::measure`] equals what stepping through the minutes
//! gives. The oracle's calendar is a plain predicate (UTC weekdays 09:00–17:00); the engine
//! uses the same calendar's business-time index.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::clock::{measure, Terms, TicketRow, Timeline};
use crate::calendar::{BusinessIndex, CalendarRegistry};
use crate::config::{Config, ResolutionStop, SlaPolicy};
use crate::history::{Event, Replay};
use crate::tables::{EventType, SlaMetric, SlaStage, Status, Vocabulary};

const MINUTE: i64 = 60_000_000;
/// Monday 2026-03-02T00:00:00Z.
const MONDAY: i64 = 1_772_409_600_000_000;

fn index() -> Arc<BusinessIndex> {
    let text = "default_calendar = \"w\"\n[calendars.w]\ntimezone = \"UTC\"\n\
                hours = { mon = [\"09:00-17:00\"], tue = [\"09:00-17:00\"], \
                wed = [\"09:00-17:00\"], thu = [\"09:00-17:00\"], fri = [\"09:00-17:00\"] }\n";
    let config = Config::parse(Path::new("kpi.toml"), text).unwrap();
    let registry = CalendarRegistry::new(config.calendars, config.default_calendar).unwrap();
    registry.index("w", None).unwrap()
}

/// The oracle's calendar: whether the minute starting at `t` is business time.
fn business_minute(t: i64) -> bool {
    let minutes = (t - MONDAY).div_euclid(MINUTE);
    let day = minutes.div_euclid(24 * 60).rem_euclid(7); // 0 = Monday
    let minute_of_day = minutes.rem_euclid(24 * 60);
    day < 5 && (9 * 60..17 * 60).contains(&minute_of_day)
}

fn policy(pauses: Vec<Status>, stop: ResolutionStop, targets: [u64; 3]) -> SlaPolicy {
    SlaPolicy {
        name: "p".into(),
        position: 1,
        when: None,
        calendar: None,
        pause_statuses: pauses,
        targets: BTreeMap::from([
            (SlaMetric::FirstResponse, targets[0] * 60),
            (SlaMetric::Resolution, targets[1] * 60),
            (SlaMetric::FirstResolution, targets[2] * 60),
        ]),
        business_day: None,
        valid_from: None,
        valid_until: None,
        resolution_stop: stop,
    }
}

/// The status at minute `t` of events in order (`None` before the first status event).
fn status_at(events: &[Event<'_>], t: i64) -> Option<Status> {
    events
        .iter()
        .rev()
        .filter(|e| e.ts <= t)
        .find_map(|e| e.to_status)
}

/// Where the oracle says a metric stops, as of `as_of`.
fn oracle_stop(
    metric: SlaMetric,
    events: &[Event<'_>],
    as_of: i64,
    stop: ResolutionStop,
) -> Option<i64> {
    let seen: Vec<&Event<'_>> = events.iter().filter(|e| e.ts <= as_of).collect();
    let done = |s: Status| match stop {
        ResolutionStop::Resolved => s.is_resolved(),
        ResolutionStop::Closed => s == Status::Closed,
    };
    match metric {
        SlaMetric::FirstResponse => {
            let initial = seen.iter().find_map(|e| e.to_status);
            seen.iter()
                .find(|e| {
                    e.event_type == EventType::PublicReply.as_str()
                        || e.to_status.is_some_and(|s| Some(s) != initial)
                })
                .map(|e| e.ts)
        }
        SlaMetric::FirstResolution => seen
            .iter()
            .find(|e| e.to_status.is_some_and(Status::is_resolved))
            .map(|e| e.ts),
        _ => {
            // Walk back over the trailing run of done statuses.
            let statuses: Vec<(i64, Status)> = seen
                .iter()
                .filter_map(|e| e.to_status.map(|s| (e.ts, s)))
                .collect();
            let run = statuses.iter().rev().take_while(|(_, s)| done(*s)).last();
            run.map(|(t, _)| *t)
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    created: i64,
    /// (minutes after the previous event, status or a reply)
    steps: Vec<(i64, Option<Status>)>,
    as_of_after: i64,
    pauses: Vec<Status>,
    stop: ResolutionStop,
    targets: [u64; 3],
}

fn case() -> impl Strategy<Value = Case> {
    let status = prop::sample::select(Status::ALL.to_vec());
    (
        0i64..7 * 24 * 60,
        prop::collection::vec(
            (0i64..1500, prop::option::weighted(0.8, status.clone())),
            0..8,
        ),
        0i64..8000,
        prop::sample::subsequence(Status::WAITING.to_vec(), 0..=2),
        prop::bool::ANY,
        [1u64..900, 1u64..3000, 1u64..3000],
    )
        .prop_map(
            |(created, steps, as_of_after, pauses, closed, targets)| Case {
                created: MONDAY + created * MINUTE,
                steps,
                as_of_after,
                pauses,
                stop: if closed {
                    ResolutionStop::Closed
                } else {
                    ResolutionStop::Resolved
                },
                targets,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn clocks_match_a_minute_by_minute_oracle(case in case()) {
        let index = index();
        let mut events = vec![Event {
            to_status: Some(Status::New),
            ..Event::new(case.created, EventType::Created)
        }];
        let mut t = case.created;
        for (gap, status) in &case.steps {
            t += gap * MINUTE;
            events.push(match status {
                Some(s) => Event { to_status: Some(*s), ..Event::new(t, EventType::StatusChanged) },
                None => Event {
                    actor_role: Some(crate::tables::ActorRole::Agent),
                    ..Event::new(t, EventType::PublicReply)
                },
            });
        }
        let as_of = case.created + case.as_of_after * MINUTE;
        let facts = Replay::of(&events);
        let row = TicketRow {
            created_at: case.created,
            first_response_at: facts.first_response_at,
            resolved_at: facts.resolved_at,
            closed_at: facts.closed_at,
            status: facts.status,
        };
        let policy = policy(case.pauses.clone(), case.stop, case.targets);
        let terms = Terms { policy: &policy, at_risk_share: 0.25 };
        let timeline = Timeline::new(&row, &events, as_of);
        let metrics = [SlaMetric::FirstResponse, SlaMetric::Resolution, SlaMetric::FirstResolution];
        let measures = measure(&timeline, &terms, &metrics, index.as_ref()).unwrap();
        prop_assert_eq!(measures.len(), 3);
        for m in measures {
            let stop = oracle_stop(m.metric, &events, as_of, case.stop);
            prop_assert_eq!(m.stopped_at, stop, "{:?} stop", m.metric);
            let pausable = m.metric != SlaMetric::FirstResponse;
            let end = stop.unwrap_or(as_of);
            let target = terms.target(m.metric).unwrap();
            let (mut elapsed, mut paused, mut counted, mut due) = (0, 0, 0, None);
            let mut minute = case.created;
            // Step to the end, and on (without pauses) until the target is reached.
            let limit = end + 60 * 24 * 60 * MINUTE;
            while minute < end || (due.is_none() && minute < limit) {
                let before_end = minute < end;
                let in_pause = pausable
                    && before_end
                    && status_at(&events, minute).is_some_and(|s| policy.pause_statuses.contains(&s));
                if business_minute(minute) {
                    if in_pause {
                        paused += MINUTE;
                    } else {
                        if before_end {
                            elapsed += MINUTE;
                        }
                        counted += MINUTE;
                        if due.is_none() && counted >= target {
                            due = Some(minute + MINUTE);
                        }
                    }
                }
                minute += MINUTE;
            }
            prop_assert_eq!(m.elapsed, elapsed, "{:?} elapsed", m.metric);
            prop_assert_eq!(m.paused, paused, "{:?} paused", m.metric);
            prop_assert_eq!(m.remaining, target - elapsed);
            prop_assert_eq!(m.breached, elapsed > target);
            let paused_now = stop.is_none() && pausable
                && status_at(&events, as_of).is_some_and(|s| policy.pause_statuses.contains(&s));
            let stage = if elapsed > target { SlaStage::Breached }
                else if stop.is_some() { SlaStage::Met }
                else if paused_now { SlaStage::Paused }
                else { SlaStage::Running };
            prop_assert_eq!(m.stage, stage, "{:?} stage", m.metric);
            if paused_now {
                prop_assert_eq!(m.due_at, None);
            } else {
                prop_assert_eq!(m.due_at, due, "{:?} due", m.metric);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// next_reply against a declarative statement of the rule: a customer reply after the
    /// first agent reply starts an occurrence when the reply just before it is an agent's
    /// (no customer message is waiting); the next agent reply stops it.
    #[test]
    fn next_reply_matches_its_declarative_rule(
        created in 0i64..7 * 24 * 60,
        steps in prop::collection::vec((0i64..600, prop::bool::ANY), 0..12),
        as_of_after in 0i64..6000,
    ) {
        use crate::tables::ActorRole;
        let index = index();
        let created = MONDAY + created * MINUTE;
        let mut events = vec![Event {
            to_status: Some(Status::New),
            ..Event::new(created, EventType::Created)
        }];
        let mut t = created;
        for (gap, agent) in &steps {
            t += gap * MINUTE;
            let role = if *agent { ActorRole::Agent } else { ActorRole::Customer };
            events.push(Event { actor_role: Some(role), ..Event::new(t, EventType::PublicReply) });
        }
        let as_of = created + as_of_after * MINUTE;
        let facts = Replay::of(&events);
        let row = TicketRow {
            created_at: created,
            first_response_at: facts.first_response_at,
            resolved_at: facts.resolved_at,
            closed_at: facts.closed_at,
            status: facts.status,
        };
        let mut policy = policy(vec![Status::Pending], ResolutionStop::Resolved, [30, 60, 60]);
        policy.targets = BTreeMap::from([(SlaMetric::NextReply, 120 * 60)]);
        let terms = Terms { policy: &policy, at_risk_share: 0.25 };
        let timeline = Timeline::new(&row, &events, as_of);
        let measures = measure(&timeline, &terms, &[SlaMetric::NextReply], index.as_ref()).unwrap();

        let replies: Vec<(i64, ActorRole)> = events[1..]
            .iter()
            .filter(|e| e.ts <= as_of)
            .map(|e| (e.ts, e.actor_role.unwrap()))
            .collect();
        let first_agent = replies.iter().position(|r| r.1 == ActorRole::Agent);
        let expected: Vec<(i64, Option<i64>)> = match first_agent {
            None => Vec::new(),
            Some(first) => (first + 1..replies.len())
                .filter(|&i| replies[i].1 == ActorRole::Customer && replies[i - 1].1 == ActorRole::Agent)
                .map(|i| {
                    let stop = replies[i..].iter().find(|r| r.1 == ActorRole::Agent).map(|r| r.0);
                    (replies[i].0, stop)
                })
                .collect(),
        };
        prop_assert_eq!(measures.len(), expected.len());
        for (n, (m, (start, stop))) in measures.iter().zip(&expected).enumerate() {
            prop_assert_eq!(m.occurrence as usize, n + 1);
            prop_assert_eq!(m.started_at, *start);
            prop_assert_eq!(m.stopped_at, *stop);
            prop_assert_eq!(m.paused, 0);
            let end = stop.unwrap_or(as_of);
            let elapsed = (0..(end - start) / MINUTE)
                .filter(|k| business_minute(start + k * MINUTE))
                .count() as i64 * MINUTE;
            prop_assert_eq!(m.elapsed, elapsed);
        }
    }
}
