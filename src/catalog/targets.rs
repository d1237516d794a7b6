//! Progressive targets: each quarter's focus and each KPI's target ladder, and the status of
//! an actual against its target. Pure rules over numbers (README, "Progressive targets");
//! the actuals come from running the KPIs.
//!
//! - The focus of quarter Q is the `focus_count` KPIs with the largest weighted normalized
//!   gap `weight × (goal − basis) / (goal − baseline)`, clamped at 0, where the basis is the
//!   actual of Q's previous quarter (its target when it has no actual yet: planned quarters
//!   assume each target is met). Ties go to the name first in alphabetical order; KPIs with
//!   no gap are never in focus; `focus_override` pins a quarter's focus by hand.
//! - A focus KPI's target moves towards its goal, never past it: linear by
//!   `(goal − previous target) / quarters left until 'by' (inclusive)`, geometric by its share
//!   of `goal − previous target`. Any other KPI keeps its previous target. Before the first
//!   target quarter, the "previous target" is the baseline.

use std::collections::BTreeMap;

use super::header::{Direction, Unit};
use super::locale::Lang;
use crate::calendar::Quarter;
use crate::config::{Baseline, KpiTarget, Ramp, TargetsConfig};

/// The overall actual of each KPI in each finished quarter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actuals(BTreeMap<(String, Quarter), f64>);

impl Actuals {
    pub fn insert(&mut self, kpi: &str, quarter: Quarter, value: f64) {
        self.0.insert((kpi.to_string(), quarter), value);
    }

    pub fn get(&self, kpi: &str, quarter: Quarter) -> Option<f64> {
        self.0.get(&(kpi.to_string(), quarter)).copied()
    }
}

/// A KPI with targets, with the direction its catalog header gives.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub target: KpiTarget,
    pub direction: Direction,
}

/// What the gap of a quarter was measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The previous quarter's actual.
    Actual,
    /// The previous quarter's target, assumed met (it has no actual yet).
    AssumedTarget,
    /// The baseline (the previous quarter is the baseline quarter, or before the ladder).
    Baseline,
}

/// Why a KPI is in focus in a quarter, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The quarter is before the KPI's first target quarter.
    BeforeStart(Quarter),
    /// The baseline quarter has no actual, so there is no ladder.
    NoBaseline(Quarter),
    /// Named in `focus_override` for the quarter.
    Pinned,
    /// `focus_override` pins the quarter's focus and does not name it.
    NotPinned,
    /// Among the `focus_count` largest gaps (1-based rank).
    Focus { rank: usize },
    /// A gap, but ranked after the focus.
    Outranked { rank: usize },
    /// The basis already meets the goal.
    NoGap,
}

/// One KPI in one quarter.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kpi: String,
    pub quarter: Quarter,
    pub target: Option<f64>,
    pub focus: bool,
    /// The quarter has no final actual yet: its target is a plan.
    pub planned: bool,
    /// The quarter's final actual, when it has one.
    pub actual: Option<f64>,
    /// The value the gap was measured from, and what it is.
    pub basis: Option<(f64, Basis)>,
    /// The weighted normalized gap (0 when the goal is met).
    pub gap: Option<f64>,
    pub why: Why,
}

/// The focus and targets of a run of quarters.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// By quarter, then by KPI name.
    pub steps: Vec<Step>,
    pub focus_count: usize,
}

/// How an actual compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// At least as good as the target.
    Met,
    /// Worse, but within the tolerance.
    AtRisk,
    /// Worse by more than the tolerance.
    Missed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::AtRisk => "at_risk",
            Status::Missed => "missed",
        }
    }

    /// The status of `actual` against `target`, direction-aware.
    pub fn of(actual: f64, target: f64, tolerance: f64, direction: Direction) -> Status {
        let shortfall = (target - actual) * direction.sign();
        // A hair of floating-point noise is not a shortfall.
        if shortfall <= 1e-12 * target.abs().max(1.0) {
            Status::Met
        } else if shortfall <= tolerance + 1e-12 {
            Status::AtRisk
        } else {
            Status::Missed
        }
    }
}

impl Ladder {
    /// Plan `specs` from the first target quarter through `through`, given the actuals of
    /// the quarters up to `finished` (the last quarter with final actuals).
    pub fn plan(
        config: &TargetsConfig,
        specs: &[TargetSpec],
        actuals: &Actuals,
        finished: Option<Quarter>,
        through: Quarter,
    ) -> Ladder {
        let mut specs: Vec<&TargetSpec> = specs.iter().collect();
        specs.sort_by(|a, b| a.target.kpi.cmp(&b.target.kpi));
        let is_finished = |q: Quarter| finished.is_some_and(|f| q <= f);
        let baselines: Vec<Option<f64>> = specs
            .iter()
            .map(|s| match s.target.baseline {
                Baseline::Value(v) => Some(v),
                Baseline::Quarter(q) => actuals.get(&s.target.kpi, q),
            })
            .collect();
        let mut steps = Vec::new();
        let Some(first) = specs.iter().map(|s| s.target.start).min() else {
            return Ladder {
                steps,
                focus_count: config.focus_count,
            };
        };
        // The previous quarter's target of each KPI (None before its ladder starts).
        let mut previous: Vec<Option<f64>> = vec![None; specs.len()];
        for quarter in first.through(through) {
            // The gap of each KPI with a ladder this quarter.
            let mut gaps: Vec<Option<(f64, (f64, Basis))>> = vec![None; specs.len()];
            for (i, spec) in specs.iter().enumerate() {
                let t = &spec.target;
                let Some(baseline) = baselines[i] else {
                    continue;
                };
                if quarter < t.start {
                    continue;
                }
                let before = quarter.previous();
                let basis = match (is_finished(before), actuals.get(&t.kpi, before)) {
                    (true, Some(actual)) => (actual, Basis::Actual),
                    _ => match previous[i] {
                        Some(target) => (target, Basis::AssumedTarget),
                        None => (baseline, Basis::Baseline),
                    },
                };
                gaps[i] = Some((gap(t, spec.direction, baseline, basis.0), basis));
            }
            let pinned = config.focus_override.get(&quarter).map(|(names, _)| names);
            // Ranks by gap, largest first, ties by name (specs are in name order).
            let mut ranked: Vec<usize> = (0..specs.len())
                .filter(|&i| gaps[i].is_some_and(|(g, _)| g > 0.0))
                .collect();
            ranked.sort_by(|&a, &b| {
                let (ga, gb) = (gaps[a].map_or(0.0, |g| g.0), gaps[b].map_or(0.0, |g| g.0));
                gb.total_cmp(&ga).then(a.cmp(&b))
            });
            for (i, spec) in specs.iter().enumerate() {
                let t = &spec.target;
                let rank = ranked.iter().position(|&r| r == i).map(|r| r + 1);
                let (why, focus) = match (baselines[i], gaps[i]) {
                    (None, _) => match t.baseline {
                        Baseline::Quarter(q) => (Why::NoBaseline(q), false),
                        Baseline::Value(_) => (Why::BeforeStart(t.start), false),
                    },
                    (Some(_), None) => (Why::BeforeStart(t.start), false),
                    (Some(_), Some(_)) => match (pinned, rank) {
                        (Some(names), _) if names.contains(&t.kpi) => (Why::Pinned, true),
                        (Some(_), _) => (Why::NotPinned, false),
                        (None, Some(r)) if r <= config.focus_count => {
                            (Why::Focus { rank: r }, true)
                        }
                        (None, Some(r)) => (Why::Outranked { rank: r }, false),
                        (None, None) => (Why::NoGap, false),
                    },
                };
                let target = match (baselines[i], gaps[i]) {
                    (Some(baseline), Some(_)) => {
                        let prev = previous[i].unwrap_or(baseline);
                        Some(if focus {
                            step_towards(t, spec.direction, prev, quarter)
                        } else {
                            prev
                        })
                    }
                    _ => None,
                };
                previous[i] = target.or(previous[i]);
                steps.push(Step {
                    kpi: t.kpi.clone(),
                    quarter,
                    target,
                    focus,
                    planned: !is_finished(quarter),
                    actual: actuals
                        .get(&t.kpi, quarter)
                        .filter(|_| is_finished(quarter)),
                    basis: gaps[i].map(|(_, b)| b),
                    gap: gaps[i].map(|(g, _)| g),
                    why,
                });
            }
        }
        Ladder {
            steps,
            focus_count: config.focus_count,
        }
    }

    pub fn step(&self, kpi: &str, quarter: Quarter) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.kpi == kpi && s.quarter == quarter)
    }

    /// The KPIs in focus in `quarter`, by name.
    pub fn focus(&self, quarter: Quarter) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.quarter == quarter && s.focus)
            .map(|s| s.kpi.as_str())
            .collect()
    }
}

/// The weighted normalized gap of `basis`, clamped at 0: `(goal − basis) / (goal − baseline)`
/// oriented by the direction, so that a baseline already beyond the goal still measures a
/// shortfall as a gap.
fn gap(t: &KpiTarget, direction: Direction, baseline: f64, basis: f64) -> f64 {
    let shortfall = (t.goal - basis) * direction.sign();
    if shortfall <= 1e-12 {
        return 0.0;
    }
    let span = (t.goal - baseline).abs();
    // Baseline = goal: any shortfall is a whole gap.
    let raw = if span < 1e-12 { 1.0 } else { shortfall / span };
    t.weight * raw
}

/// A focus quarter's target: a step from `prev` towards the goal, never past it; `prev`
/// itself when it already meets the goal.
fn step_towards(t: &KpiTarget, direction: Direction, prev: f64, quarter: Quarter) -> f64 {
    let remaining = t.goal - prev;
    if remaining * direction.sign() <= 0.0 {
        return prev;
    }
    let step = match t.ramp {
        Ramp::Linear => remaining / f64::from(quarter.count_to(t.by).max(1)),
        Ramp::Geometric(share) => remaining * share,
    };
    prev + step
}

impl Step {
    /// Why the KPI is in focus in this quarter or not, in words, with values in `unit`.
    pub fn explain(&self, spec: &TargetSpec, unit: Unit, count: usize, lang: Lang) -> String {
        let t = &spec.target;
        let v = |x: f64| lang.value(unit, x);
        let basis = match self.basis {
            Some((x, Basis::Actual)) => format!("{}'s actual {}", self.quarter.previous(), v(x)),
            Some((x, Basis::AssumedTarget)) => {
                format!(
                    "{}'s target {} (assumed met)",
                    self.quarter.previous(),
                    v(x)
                )
            }
            Some((x, Basis::Baseline)) => format!("the baseline {}", v(x)),
            None => String::new(),
        };
        let gap = self.gap.unwrap_or(0.0);
        let ramp = match t.ramp {
            Ramp::Linear => format!(
                "linear: 1/{} of the way to the goal {} (quarters left until {})",
                self.quarter.count_to(t.by).max(1),
                v(t.goal),
                t.by
            ),
            Ramp::Geometric(s) => format!(
                "geometric: {} of the way to the goal {}",
                lang.value(Unit::Percent, s),
                v(t.goal)
            ),
        };
        match self.why {
            Why::BeforeStart(q) => format!("no target before {q}"),
            Why::NoBaseline(q) => format!("no target: the baseline quarter {q} has no actual"),
            Why::Pinned => format!("focus, pinned by focus_override; {ramp}"),
            Why::NotPinned => "maintain: focus_override pins this quarter's focus".to_string(),
            Why::Focus { rank } => format!(
                "focus: gap {} from {basis} ranks {rank} of the {count} in focus; {ramp}",
                lang.number(gap, 2)
            ),
            Why::Outranked { rank } => format!(
                "maintain: gap {} from {basis} ranks {rank}, after the {count} in focus",
                lang.number(gap, 2)
            ),
            Why::NoGap => format!("maintain: {basis} already meets the goal {}", v(t.goal)),
        }
    }
}

/// The rules, as `kpi targets --explain` prints them.
pub const RULES: &str = "\
How targets are planned (README, \"Progressive targets\"):
  - Each KPI in [targets.kpis] has a baseline (a past quarter's actual, or a number), a goal,
    the quarter to reach it by, a ramp, a tolerance and a weight.
  - The focus of quarter Q is the focus_count KPIs with the largest weighted normalized gap
      weight × (goal − basis) / (goal − baseline), clamped at 0,
    where the basis is the actual of the quarter before Q (or its target, assumed met, when
    that quarter has no final actual yet). Ties go to the first name alphabetically; a KPI
    whose basis already meets its goal is not in focus. [targets.focus_override] pins a
    quarter's focus by hand.
  - A focus KPI's target moves towards its goal and never past it:
      linear:    by (goal − previous target) / (quarters left until 'by', inclusive)
      geometric: by its share of (goal − previous target)
    Every other KPI keeps its previous target (maintain). The first quarter's previous target
    is the baseline.
  - Quarters without a final actual are planned assuming each target is met, and marked planned.
  - Status of an actual against its target, direction-aware: met when at least as good; at risk
    when worse by at most the tolerance; missed when worse by more.";

#[cfg(test)]
mod tests;

/// The columns of `kpi_targets` and of `kpi targets --format csv|json`: name, type, meaning.
pub const TARGET_COLUMNS: [(&str, &str, &str); 9] = [
    ("kpi", "VARCHAR", "The KPI."),
    ("quarter", "VARCHAR", "The quarter, `YYYY-QN`."),
    (
        "target",
        "DOUBLE",
        "Its target (NULL before the ladder starts or without a baseline).",
    ),
    (
        "focus",
        "BOOLEAN",
        "Whether the KPI is pushed this quarter.",
    ),
    (
        "planned",
        "BOOLEAN",
        "The quarter has no final actual yet; its target assumes the earlier ones are met.",
    ),
    (
        "actual",
        "DOUBLE",
        "The quarter's final actual (NULL while planned).",
    ),
    (
        "status",
        "VARCHAR",
        "met, at_risk or missed (NULL without an actual or a target).",
    ),
    (
        "gap",
        "DOUBLE",
        "The weighted normalized gap that chose the focus.",
    ),
    (
        "reason",
        "VARCHAR",
        "Why the KPI is in focus or not, in words.",
    ),
];
