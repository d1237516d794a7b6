//! `[sla]` and `[[sla.policies]]`: the SLA policies, in file order (the first that matches a
//! ticket applies), each with its condition, calendar, pause statuses, targets in business
//! time and validity. Everything but the SQL of `when` is checked here; `when` is planned
//! against the `tickets` schema by the SLA layer, which reports it at the position kept here.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::calendars::parse_date;
use super::{ConfigError, Source};
use crate::tables::{SlaMetric, Status, Vocabulary};

/// The default share of a target below which a running SLA is "at risk".
pub const AT_RISK_SHARE: f64 = 0.25;

/// The longest target accepted: 100 years (anything longer is a typo).
pub const MAX_TARGET_SECONDS: u64 = 100 * 366 * 24 * 3600;

/// The validated `[sla]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaConfig {
    /// A running SLA is at risk when its remaining time is below this share of its target.
    pub at_risk_share: f64,
    /// The policies, in file order.
    pub policies: Vec<SlaPolicy>,
}

impl Default for SlaConfig {
    fn default() -> SlaConfig {
        SlaConfig {
            at_risk_share: AT_RISK_SHARE,
            policies: Vec::new(),
        }
    }
}

/// Where the resolution clock stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionStop {
    /// At the last entry into a resolved status (`resolved` or `closed`) from outside them.
    Resolved,
    /// At the last entry into `closed`.
    Closed,
}

/// The `when` condition of a policy: SQL over `tickets`, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub sql: String,
    /// `kpi.toml:LINE:COLUMN` of the value, for errors found when it is planned.
    pub line: usize,
    pub column: usize,
}

/// One version of an SLA policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    pub name: String,
    /// 1-based position in the file: the order in which policies are tried.
    pub position: usize,
    /// Which tickets it applies to; `None`: every ticket.
    pub when: Option<Condition>,
    /// The calendar its targets are measured in; `None`: the default calendar.
    pub calendar: Option<String>,
    /// Statuses whose stays pause the resolution clocks.
    pub pause_statuses: Vec<Status>,
    /// Targets in business seconds, by metric; a metric without one is not measured.
    pub targets: BTreeMap<SlaMetric, u64>,
    /// What "1bd" means for this policy, in business seconds.
    pub business_day: Option<u64>,
    /// First local day of the calendar on which it applies (inclusive).
    pub valid_from: Option<NaiveDate>,
    /// First local day on which it no longer applies (exclusive).
    pub valid_until: Option<NaiveDate>,
    pub resolution_stop: ResolutionStop,
}

impl SlaPolicy {
    /// Whether a stay in `status` pauses this policy's resolution clocks.
    pub fn pauses(&self, status: Status) -> bool {
        self.pause_statuses.contains(&status)
    }

    /// Whether its validity overlaps `other`'s.
    fn overlaps(&self, other: &SlaPolicy) -> bool {
        let starts_before_end = |a: &SlaPolicy, b: &SlaPolicy| match (a.valid_from, b.valid_until) {
            (Some(from), Some(until)) => from < until,
            _ => true,
        };
        starts_before_end(self, other) && starts_before_end(other, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    at_risk_share: Option<Spanned<f64>>,
    #[serde(default)]
    policies: Vec<Spanned<RawPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    when: Option<Spanned<String>>,
    calendar: Option<Spanned<String>>,
    #[serde(default)]
    pause_statuses: Vec<Spanned<String>>,
    targets: Spanned<BTreeMap<String, Spanned<RawDuration>>>,
    business_day: Option<Spanned<RawDuration>>,
    valid_from: Option<Spanned<String>>,
    valid_until: Option<Spanned<String>>,
    resolution_stop: Option<Spanned<String>>,
}

/// A duration as written: `"1h30m"`, `"3bd"`, or a number of seconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(i64),
    Text(String),
}

/// A duration of business time, before `bd` is resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Duration {
    Seconds(u64),
    BusinessDays(f64),
}

/// Read `"90s"`, `"30m"`, `"4h"`, `"1h30m"`, `"5400"` or `"3bd"` (also `"1.5bd"`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "invalid duration '{text}': use seconds (5400) or units such as 90s, 30m, 4h, \
             1h30m, or business days such as 3bd"
        )
    };
    if let Some(days) = t.strip_suffix("bd") {
        let days: f64 = days.trim().parse().map_err(|_| bad())?;
        if !(days.is_finite() && days > 0.0) {
            return Err(bad());
        }
        return Ok(Duration::BusinessDays(days));
    }
    if let Ok(seconds) = t.parse::<u64>() {
        return Ok(Duration::Seconds(seconds));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    // The rank of the last unit read (0 = d … 3 = s); none yet.
    let mut last_unit: Option<u8> = None;
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        // Units in decreasing order, each once: 1h30m, not 30m1h.
        let (rank, scale) = match c {
            'd' => (0, 86_400),
            'h' => (1, 3_600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return Err(bad()),
        };
        if number.is_empty() || last_unit.is_some_and(|last| rank <= last) {
            return Err(bad());
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
        last_unit = Some(rank);
    }
    if !number.is_empty() || last_unit.is_none() {
        return Err(bad());
    }
    Ok(Duration::Seconds(total))
}

impl RawDuration {
    fn parse(&self) -> Result<Duration, String> {
        match self {
            RawDuration::Seconds(s) if *s >= 0 => Ok(Duration::Seconds(*s as u64)),
            RawDuration::Seconds(s) => Err(format!("invalid duration {s}: it is negative")),
            RawDuration::Text(t) => parse_duration(t),
        }
    }
}

/// Validate the `[sla]` table. `calendars` are the names defined in the file;
/// `default_calendar` the file's default.
pub(super) fn build(
    src: &Source<'_>,
    raw: Option<&Spanned<RawSla>>,
    calendars: &[&str],
    default_calendar: Option<&str>,
) -> Result<SlaConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(SlaConfig::default());
    };
    let at_risk_share = match &raw.get_ref().at_risk_share {
        Some(share) => {
            let v = *share.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(src.invalid(
                    share.span(),
                    "sla.at_risk_share",
                    format!("{v} is not a share between 0 and 1 (exclusive), such as 0.25"),
                ));
            }
            v
        }
        None => AT_RISK_SHARE,
    };
    let mut policies: Vec<(SlaPolicy, Range<usize>)> = Vec::new();
    for (i, raw_policy) in raw.get_ref().policies.iter().enumerate() {
        let policy = build_policy(src, i + 1, raw_policy, calendars, default_calendar)?;
        if let Some((earlier, earlier_span)) = policies
            .iter()
            .find(|(p, _)| p.name == policy.name && p.overlaps(&policy))
        {
            let (line, _) = src.position(earlier_span.start);
            return Err(src.invalid(
                raw_policy.span(),
                &format!("sla.policies.{}", policy.name),
                format!(
                    "two versions of policy '{}' apply on the same days (the other is at line \
                     {line}); give them valid_from / valid_until that do not overlap",
                    earlier.name
                ),
            ));
        }
        policies.push((policy, raw_policy.span()));
    }
    Ok(SlaConfig {
        at_risk_share,
        policies: policies.into_iter().map(|(p, _)| p).collect(),
    })
}

fn build_policy(
    src: &Source<'_>,
    position: usize,
    raw: &Spanned<RawPolicy>,
    calendars: &[&str],
    default_calendar: Option<&str>,
) -> Result<SlaPolicy, ConfigError> {
    let span = raw.span();
    let raw = raw.get_ref();
    let name = raw.name.get_ref().clone();
    src.check_name(raw.name.span(), "sla.policies", "policy", &name)?;
    let key = |field: &str| format!("sla.policies.{name}.{field}");

    let calendar = match &raw.calendar {
        Some(c) if calendars.contains(&c.get_ref().as_str()) => Some(c.get_ref().clone()),
        Some(c) => {
            return Err(src.invalid(
                c.span(),
                &key("calendar"),
                super::unknown_calendar(c.get_ref(), calendars),
            ))
        }
        None if default_calendar.is_none() => {
            return Err(src.invalid(
                span,
                &key("calendar"),
                "no calendar: give the policy a calendar, or set default_calendar",
            ))
        }
        None => None,
    };

    let mut pause_statuses = Vec::new();
    for s in &raw.pause_statuses {
        let status = Status::parse(s.get_ref()).ok_or_else(|| {
            src.invalid(
                s.span(),
                &key("pause_statuses"),
                format!(
                    "unknown status '{}'; the canonical statuses are {}",
                    s.get_ref(),
                    Status::NAMES.join(", ")
                ),
            )
        })?;
        if status.is_resolved() {
            return Err(src.invalid(
                s.span(),
                &key("pause_statuses"),
                format!("'{status}' is a resolved status: a resolved ticket's clock has stopped"),
            ));
        }
        if !pause_statuses.contains(&status) {
            pause_statuses.push(status);
        }
    }

    let business_day = match &raw.business_day {
        Some(d) => match d.get_ref().parse() {
            Ok(Duration::Seconds(s)) if s > 0 && s <= 86_400 => Some(s),
            Ok(Duration::Seconds(_)) => {
                return Err(src.invalid(
                    d.span(),
                    &key("business_day"),
                    "a business day must be more than 0 and at most 24h of business time",
                ))
            }
            Ok(Duration::BusinessDays(_)) => {
                return Err(src.invalid(
                    d.span(),
                    &key("business_day"),
                    "a business day is given in hours, such as \"9h\" or \"8h30m\"",
                ))
            }
            Err(msg) => return Err(src.invalid(d.span(), &key("business_day"), msg)),
        },
        None => None,
    };

    let mut targets = BTreeMap::new();
    for (metric_name, value) in raw.targets.get_ref() {
        let target_key = key(&format!("targets.{metric_name}"));
        let metric = SlaMetric::parse(metric_name).ok_or_else(|| {
            src.invalid(
                value.span(),
                &target_key,
                format!(
                    "unknown metric '{metric_name}'; known: {}",
                    SlaMetric::NAMES.join(", ")
                ),
            )
        })?;
        let seconds = match value.get_ref().parse() {
            Ok(Duration::Seconds(s)) => s,
            Ok(Duration::BusinessDays(days)) => match business_day {
                Some(day) => (days * day as f64).round() as u64,
                None => {
                    return Err(src.invalid(
                        value.span(),
                        &target_key,
                        "a target in business days ('bd') needs the policy's business_day, \
                         such as business_day = \"9h\"",
                    ))
                }
            },
            Err(msg) => return Err(src.invalid(value.span(), &target_key, msg)),
        };
        if seconds == 0 {
            return Err(src.invalid(value.span(), &target_key, "a target must be positive"));
        }
        if seconds > MAX_TARGET_SECONDS {
            return Err(src.invalid(
                value.span(),
                &target_key,
                format!("{seconds} seconds is longer than 100 years of business time"),
            ));
        }
        targets.insert(metric, seconds);
    }
    if targets.is_empty() {
        return Err(src.invalid(
            raw.targets.span(),
            &key("targets"),
            format!(
                "no targets: give at least one of {}",
                SlaMetric::NAMES.join(", ")
            ),
        ));
    }

    let date = |value: &Option<Spanned<String>>, field: &str| -> Result<_, ConfigError> {
        value
            .as_ref()
            .map(|d| parse_date(d.get_ref()).map_err(|msg| src.invalid(d.span(), &key(field), msg)))
            .transpose()
    };
    let valid_from = date(&raw.valid_from, "valid_from")?;
    let valid_until = date(&raw.valid_until, "valid_until")?;
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until <= from {
            let span = raw.valid_until.as_ref().map_or(span.clone(), Spanned::span);
            return Err(src.invalid(
                span,
                &key("valid_until"),
                format!("valid_until {until} is not after valid_from {from}"),
            ));
        }
    }

    let resolution_stop = match &raw.resolution_stop {
        None => ResolutionStop::Resolved,
        Some(s) => match s.get_ref().as_str() {
            "resolved" => ResolutionStop::Resolved,
            "closed" => ResolutionStop::Closed,
            other => {
                return Err(src.invalid(
                    s.span(),
                    &key("resolution_stop"),
                    format!("unknown resolution_stop '{other}'; use \"resolved\" or \"closed\""),
                ))
            }
        },
    };

    let when = match &raw.when {
        Some(w) if w.get_ref().trim().is_empty() => {
            return Err(src.invalid(
                w.span(),
                &key("when"),
                "an empty condition: omit `when` to match every ticket",
            ))
        }
        Some(w) => {
            let (line, column) = src.position(w.span().start);
            Some(Condition {
                sql: w.get_ref().clone(),
                line,
                column,
            })
        }
        None => None,
    };

    Ok(SlaPolicy {
        name,
        position,
        when,
        calendar,
        pause_statuses,
        targets,
        business_day,
        valid_from,
        valid_until,
        resolution_stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = |t: &str| parse_duration(t);
        assert_eq!(s("90s"), Ok(Duration::Seconds(90)));
        assert_eq!(s("30m"), Ok(Duration::Seconds(1800)));
        assert_eq!(s("4h"), Ok(Duration::Seconds(14_400)));
        assert_eq!(s("1h30m"), Ok(Duration::Seconds(5400)));
        assert_eq!(s("1d2h3m4s"), Ok(Duration::Seconds(93_784)));
        assert_eq!(s("5400"), Ok(Duration::Seconds(5400)));
        assert_eq!(s("3bd"), Ok(Duration::BusinessDays(3.0)));
        assert_eq!(s("1.5bd"), Ok(Duration::BusinessDays(1.5)));
        for bad in [
            "", "h", "4x", "30m1h", "1h1h", "4 h", "-1h", "bd", "0bd", "1.5h", "4h30",
        ] {
            assert!(s(bad).is_err(), "{bad:?}");
        }
        assert!(s("4x").unwrap_err().contains("'4x'"));
    }
}
