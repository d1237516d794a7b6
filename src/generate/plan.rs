//! The plan of a run, fixed before any ticket is simulated: which calendar each team works by,
//! each team's volume factor on each day, how many tickets each team receives each day (they
//! add up to exactly the number asked for), and when a day's tickets arrive.
//!
//! Days are UTC days from `--from`. A team's arrivals on a day are weighted by its business
//! time that day (plus a trickle of e-mail and portal tickets while it is closed), by the day
//! of the week, by a slow growth over the period, and by a random volume factor per team and
//! day. The same factor is the team's *pressure* that day: it slows down its responses.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate};
use chrono_tz::Tz;

use crate::calendar::{BusinessIndex, CalendarError, CalendarRegistry};

use super::model::{Shift, TEAMS};
use super::random::{Purpose, Streams};
use super::timefmt::{floor_minute, DAY, MINUTE};
use super::GenerateError;

/// Arrival weight of a closed minute relative to an open one.
const OFF_HOURS: f64 = 0.06;
/// Volume by day of the week, Monday first.
const WEEKDAY: [f64; 7] = [1.25, 1.1, 1.0, 0.95, 0.85, 0.5, 0.4];
/// Growth of the volume from the first day to the last.
const GROWTH: f64 = 0.15;

/// The calendar a team works by.
#[derive(Debug, Clone)]
pub struct TeamCalendar {
    pub name: String,
    pub tz: Tz,
    pub index: Arc<BusinessIndex>,
}

/// One ticket's arrival: when, for which team, whether the team was open, and its number
/// among the team's tickets of the day (which names its random stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Arrival {
    pub at: i64,
    pub team: usize,
    pub index: u32,
    pub business: bool,
}

/// The plan of a run.
#[derive(Debug)]
pub struct Plan {
    /// `--from` at 00:00 UTC, in µs.
    pub start: i64,
    pub days: u32,
    /// The end of the period: nothing at or after it is exported.
    pub horizon: i64,
    /// Per team.
    pub calendars: Vec<TeamCalendar>,
    /// Per day and team.
    counts: Vec<[u32; 4]>,
    pressure: Vec<[f64; 4]>,
}

/// The calendar names of the day and night shifts: the default calendar (or the first one)
/// and the first other calendar (or the same one when there is only one).
pub fn shift_calendars(registry: &CalendarRegistry) -> Result<(String, String), GenerateError> {
    let day = registry
        .default_name()
        .or_else(|| registry.names().next())
        .ok_or(GenerateError::NoCalendars)?
        .to_string();
    let night = registry
        .names()
        .find(|n| *n != day)
        .unwrap_or(&day)
        .to_string();
    Ok((day, night))
}

impl Plan {
    pub fn new(
        tickets: u64,
        from: NaiveDate,
        days: u32,
        registry: &CalendarRegistry,
        streams: &Streams,
    ) -> Result<Plan, GenerateError> {
        let start = from
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .ok_or(GenerateError::Start { from })?;
        let horizon = start + i64::from(days) * DAY;
        let (day_name, night_name) = shift_calendars(registry)?;
        // Responses to the last tickets run past the horizon: index a year beyond it.
        let span = Some((start - DAY, horizon + 400 * DAY));
        let mut calendars = Vec::new();
        for team in &TEAMS {
            let name = match team.shift {
                Shift::Day => &day_name,
                Shift::Night => &night_name,
            };
            calendars.push(TeamCalendar {
                name: name.clone(),
                tz: registry.calendar(name)?.timezone(),
                index: registry.index(name, span)?,
            });
        }

        // Raw weights per day and team, then each team's weights scaled to its share.
        let mut weights = vec![[0f64; 4]; days as usize];
        let mut pressure = vec![[0f64; 4]; days as usize];
        for (t, team) in TEAMS.iter().enumerate() {
            let mut total = 0.0;
            for d in 0..days {
                let date = from + Duration::days(i64::from(d));
                let weekday = WEEKDAY[date.weekday().num_days_from_monday() as usize];
                let noise = streams.stream(Purpose::Load, t, d, 0).log_normal(1.0, 0.3);
                let day_start = start + i64::from(d) * DAY;
                let open = calendars[t]
                    .index
                    .business_micros(day_start, day_start + DAY)?;
                let closed = DAY - open;
                let hours = (open as f64 + OFF_HOURS * closed as f64) / DAY as f64;
                let growth = 1.0 + GROWTH * f64::from(d) / f64::from(days);
                let w = growth * weekday * noise * hours;
                weights[d as usize][t] = w;
                pressure[d as usize][t] = (weekday * noise).clamp(0.5, 2.5);
                total += w;
            }
            for day in weights.iter_mut() {
                day[t] *= team.share / total;
            }
        }
        // Whole tickets by cumulative rounding: the counts add up to exactly `tickets`.
        let grand: f64 = weights.iter().flatten().sum();
        let mut counts = vec![[0u32; 4]; days as usize];
        let (mut cum, mut given) = (0.0, 0u64);
        let cells = days as usize * 4;
        for (k, (d, t)) in (0..days as usize)
            .flat_map(|d| (0..4).map(move |t| (d, t)))
            .enumerate()
        {
            cum += weights[d][t];
            let target = if k + 1 == cells {
                tickets
            } else {
                ((cum / grand * tickets as f64).round() as u64).clamp(given, tickets)
            };
            counts[d][t] = u32::try_from(target - given).unwrap_or(u32::MAX);
            given = target;
        }
        Ok(Plan {
            start,
            days,
            horizon,
            calendars,
            counts,
            pressure,
        })
    }

    /// Tickets of `team` on `day`.
    pub fn count(&self, day: u32, team: usize) -> u32 {
        self.counts[day as usize][team]
    }

    /// Tickets of `day`, all teams.
    #[cfg(test)]
    pub fn day_total(&self, day: u32) -> u64 {
        self.counts[day as usize]
            .iter()
            .map(|&c| u64::from(c))
            .sum()
    }

    /// How busy `team` is on `day` (1 is usual; responses slow down above it).
    pub fn pressure(&self, day: u32, team: usize) -> f64 {
        self.pressure[day as usize][team]
    }

    /// The arrivals of `day`, all teams, in time order (ties by team and index) into `out`.
    pub fn arrivals(
        &self,
        day: u32,
        streams: &Streams,
        out: &mut Vec<Arrival>,
    ) -> Result<(), CalendarError> {
        out.clear();
        let day_start = self.start + i64::from(day) * DAY;
        let day_end = day_start + DAY;
        for (t, calendar) in self.calendars.iter().enumerate() {
            let count = self.count(day, t);
            if count == 0 {
                continue;
            }
            let index = &calendar.index;
            let mut rng = streams.stream(Purpose::Arrivals, t, day, 0);
            let open = index.business_micros(day_start, day_end)?;
            let open_weight = open as f64;
            let closed_weight = OFF_HOURS * (DAY - open) as f64;
            for j in 0..count {
                let business = rng.unit() * (open_weight + closed_weight) < open_weight;
                let at = if business {
                    let t = index.add(day_start, 1 + rng.below(open as u64) as i64)?;
                    floor_minute(t).clamp(day_start, day_end - MINUTE)
                } else {
                    // A closed minute, by rejection (closed time is at least a share of the
                    // day here, so this ends fast; the bound only guards odd calendars).
                    let mut at = day_start;
                    for _ in 0..64 {
                        at = day_start + rng.below(1440) as i64 * MINUTE;
                        if !index.is_business(at)? {
                            break;
                        }
                    }
                    at
                };
                out.push(Arrival {
                    at,
                    team: t,
                    index: j,
                    business,
                });
            }
        }
        out.sort_unstable();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Origin, Workspace, BUNDLED};

    fn sample() -> Workspace {
        Workspace::open(std::path::Path::new(BUNDLED), Origin::Bundled).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn counts_add_up_and_follow_business_hours() {
        let ws = sample();
        let streams = Streams::new(3);
        let plan = Plan::new(10_000, date("2026-03-02"), 14, &ws.calendars, &streams).unwrap();
        let total: u64 = (0..14).map(|d| plan.day_total(d)).sum();
        assert_eq!(total, 10_000);
        assert_eq!(plan.calendars[0].name, "br-sp");
        assert_eq!(plan.calendars[3].name, "night-ops");
        // Day teams get far fewer tickets on Sunday (day 6) than on Monday (day 0); the night
        // team's big day is Saturday (day 5), when its calendar is open all day.
        assert!(plan.count(0, 2) > 5 * plan.count(6, 2), "{plan:?}");
        assert!(plan.count(5, 3) > plan.count(3, 3), "{plan:?}");
        let mut arrivals = Vec::new();
        plan.arrivals(0, &streams, &mut arrivals).unwrap();
        assert_eq!(arrivals.len() as u64, plan.day_total(0));
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        assert!(arrivals
            .iter()
            .all(|a| a.at >= plan.start && a.at < plan.start + DAY && a.at % MINUTE == 0));
        // Most of the tech team's Monday tickets arrive in business hours.
        let tech: Vec<_> = arrivals.iter().filter(|a| a.team == 2).collect();
        let open = tech.iter().filter(|a| a.business).count();
        assert!(open * 10 > tech.len() * 7, "{open} of {}", tech.len());
    }

    #[test]
    fn one_calendar_serves_both_shifts() {
        let text = "default_calendar = \"x\"\n[calendars.x]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\n";
        let config = crate::config::Config::parse(std::path::Path::new("kpi.toml"), text).unwrap();
        let registry = CalendarRegistry::new(config.calendars, config.default_calendar).unwrap();
        assert_eq!(
            shift_calendars(&registry).unwrap(),
            ("x".to_string(), "x".to_string())
        );
        let empty = CalendarRegistry::new([], None).unwrap();
        assert!(matches!(
            shift_calendars(&empty),
            Err(GenerateError::NoCalendars)
        ));
    }
}
