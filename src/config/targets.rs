//! `[targets]` and `[review]`: progressive quarterly targets per KPI (baseline, goal, the
//! quarter to reach it by, ramp, tolerance, weight), how many KPIs are pushed each quarter,
//! hand-pinned focus, and where the review writes. KPI names are checked against the catalog
//! by the catalog layer, which reports them at the line kept here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};
use crate::calendar::Quarter;

/// The default number of KPIs pushed each quarter.
pub const FOCUS_COUNT: usize = 3;

/// The validated `[targets]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetsConfig {
    /// How many KPIs are in focus each quarter.
    pub focus_count: usize,
    /// The KPIs with targets, in name order.
    pub kpis: Vec<KpiTarget>,
    /// Quarters whose focus is pinned by hand: the KPI names, with the line of each entry.
    pub focus_override: BTreeMap<Quarter, (Vec<String>, usize)>,
}

impl TargetsConfig {
    pub fn get(&self, kpi: &str) -> Option<&KpiTarget> {
        self.kpis.iter().find(|t| t.kpi == kpi)
    }
}

/// Where a KPI's ladder starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// The actual of a past quarter.
    Quarter(Quarter),
    /// A number, in the KPI's unit (a share from 0 to 1 for percentages).
    Value(f64),
}

/// How a focus KPI's target moves towards its goal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ramp {
    /// By `(goal − previous target) / quarters left until 'by' (inclusive)`.
    Linear,
    /// By this share of the remaining gap `goal − previous target`.
    Geometric(f64),
}

/// `[targets.kpis.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiTarget {
    pub kpi: String,
    pub baseline: Baseline,
    pub goal: f64,
    /// The quarter the goal should be reached in.
    pub by: Quarter,
    pub ramp: Ramp,
    /// Within this of the target (on the wrong side) is at risk; beyond it, missed.
    pub tolerance: f64,
    /// Scales the normalized gap when the focus is chosen.
    pub weight: f64,
    /// The first quarter with a target: `start`, else the quarter after a baseline quarter.
    pub start: Quarter,
    /// The line of `[targets.kpis.NAME]` in kpi.toml, for errors about the name.
    pub line: usize,
}

/// The validated `[review]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReviewConfig {
    /// Where `kpi review` writes (relative paths: to the workspace); `None`: `out/` in the
    /// current directory.
    pub out_dir: Option<PathBuf>,
}

impl ReviewConfig {
    /// The review's output folder: `out_dir`, else `out/` in the current directory.
    pub fn folder(&self) -> PathBuf {
        self.out_dir.clone().unwrap_or_else(|| {
            std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("."))
                .join("out")
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    focus_count: Option<Spanned<i64>>,
    start: Option<Spanned<String>>,
    #[serde(default)]
    kpis: BTreeMap<String, Spanned<RawKpiTarget>>,
    #[serde(default)]
    focus_override: BTreeMap<String, Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpiTarget {
    baseline: Spanned<toml::Value>,
    goal: Spanned<f64>,
    by: Spanned<String>,
    ramp: Option<Spanned<toml::Value>>,
    tolerance: Option<Spanned<f64>>,
    weight: Option<Spanned<f64>>,
    start: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReview {
    out_dir: Option<Spanned<String>>,
}

pub(super) fn build_review(
    raw: Option<&Spanned<RawReview>>,
    root: &std::path::Path,
) -> ReviewConfig {
    ReviewConfig {
        out_dir: raw
            .and_then(|r| r.get_ref().out_dir.as_ref())
            .map(|d| root.join(d.get_ref())),
    }
}

pub(super) fn build(
    ctx: &Source<'_>,
    raw: Option<&Spanned<RawTargets>>,
) -> Result<TargetsConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(TargetsConfig {
            focus_count: FOCUS_COUNT,
            ..TargetsConfig::default()
        });
    };
    let raw = raw.get_ref();
    let quarter = |value: &Spanned<String>, key: &str| {
        Quarter::parse(value.get_ref()).map_err(|e| ctx.invalid(value.span(), key, e.to_string()))
    };
    let focus_count = match &raw.focus_count {
        Some(n) if !(1..=100).contains(n.get_ref()) => {
            return Err(ctx.invalid(
                n.span(),
                "targets.focus_count",
                format!("{} is not a number of KPIs from 1 to 100", n.get_ref()),
            ))
        }
        Some(n) => *n.get_ref() as usize,
        None => FOCUS_COUNT,
    };
    let start = raw
        .start
        .as_ref()
        .map(|s| quarter(s, "targets.start"))
        .transpose()?;
    let mut kpis = Vec::new();
    for (name, spanned) in &raw.kpis {
        kpis.push(kpi_target(ctx, name, spanned, start)?);
    }
    let mut focus_override = BTreeMap::new();
    for (key, names) in &raw.focus_override {
        let key_path = format!("targets.focus_override.{key}");
        let q =
            Quarter::parse(key).map_err(|e| ctx.invalid(names.span(), &key_path, e.to_string()))?;
        let (line, _) = ctx.position(names.span().start);
        focus_override.insert(q, (names.get_ref().clone(), line));
    }
    Ok(TargetsConfig {
        focus_count,
        kpis,
        focus_override,
    })
}

fn kpi_target(
    ctx: &Source<'_>,
    name: &str,
    spanned: &Spanned<RawKpiTarget>,
    default_start: Option<Quarter>,
) -> Result<KpiTarget, ConfigError> {
    let raw = spanned.get_ref();
    let key = |k: &str| format!("targets.kpis.{name}.{k}");
    let finite = |v: &Spanned<f64>, k: &str| {
        if v.get_ref().is_finite() {
            Ok(*v.get_ref())
        } else {
            Err(ctx.invalid(v.span(), &key(k), "must be a finite number"))
        }
    };
    let quarter = |value: &Spanned<String>, k: &str| {
        Quarter::parse(value.get_ref())
            .map_err(|e| ctx.invalid(value.span(), &key(k), e.to_string()))
    };
    let baseline = match raw.baseline.get_ref() {
        toml::Value::String(s) => Baseline::Quarter(Quarter::parse(s).map_err(|e| {
            ctx.invalid(
                raw.baseline.span(),
                &key("baseline"),
                format!("{e}; or give a number"),
            )
        })?),
        toml::Value::Float(x) if x.is_finite() => Baseline::Value(*x),
        toml::Value::Integer(n) => Baseline::Value(*n as f64),
        other => {
            return Err(ctx.invalid(
                raw.baseline.span(),
                &key("baseline"),
                format!("{other} is neither a quarter (\"2026-Q1\") nor a number"),
            ))
        }
    };
    let goal = finite(&raw.goal, "goal")?;
    let by = quarter(&raw.by, "by")?;
    let ramp = match raw.ramp.as_ref().map(|r| (r.get_ref(), r.span())) {
        None => Ramp::Linear,
        Some((toml::Value::String(s), _)) if s == "linear" => Ramp::Linear,
        Some((toml::Value::Table(t), span)) => {
            let share = match (t.len(), t.get("geometric")) {
                (1, Some(toml::Value::Float(x))) => *x,
                (1, Some(toml::Value::Integer(n))) => *n as f64,
                _ => f64::NAN,
            };
            if !(share > 0.0 && share <= 1.0) {
                return Err(ctx.invalid(
                    span,
                    &key("ramp"),
                    "write { geometric = SHARE } with a share of the remaining gap above 0 and \
                     at most 1, e.g. { geometric = 0.5 }",
                ));
            }
            Ramp::Geometric(share)
        }
        Some((other, span)) => {
            return Err(ctx.invalid(
                span,
                &key("ramp"),
                format!("{other} is not a ramp: \"linear\" or {{ geometric = 0.5 }}"),
            ))
        }
    };
    let tolerance = match &raw.tolerance {
        Some(t) if finite(t, "tolerance")? < 0.0 => {
            return Err(ctx.invalid(t.span(), &key("tolerance"), "must be 0 or more"))
        }
        Some(t) => *t.get_ref(),
        None => 0.0,
    };
    let weight = match &raw.weight {
        Some(w) if finite(w, "weight")? <= 0.0 => {
            return Err(ctx.invalid(w.span(), &key("weight"), "must be above 0"))
        }
        Some(w) => *w.get_ref(),
        None => 1.0,
    };
    let start = match (&raw.start, baseline) {
        (Some(s), _) => quarter(s, "start")?,
        (None, Baseline::Quarter(q)) => q.next(),
        (None, Baseline::Value(_)) => default_start.ok_or_else(|| {
            ctx.invalid(
                raw.baseline.span(),
                &key("baseline"),
                "a numeric baseline needs the first quarter with a target: add start = \
                 \"YYYY-QN\" here or in [targets]",
            )
        })?,
    };
    if let Baseline::Quarter(q) = baseline {
        if q >= start {
            return Err(ctx.invalid(
                raw.baseline.span(),
                &key("baseline"),
                format!(
                    "the baseline quarter {q} must come before the first target quarter {start}"
                ),
            ));
        }
    }
    if by < start {
        return Err(ctx.invalid(
            raw.by.span(),
            &key("by"),
            format!("{by} is before the first target quarter {start}"),
        ));
    }
    // The `[targets.kpis.NAME]` header when the table has one, else where its value starts.
    let at = ctx
        .text
        .find(&format!("[targets.kpis.{name}]"))
        .unwrap_or(spanned.span().start);
    let (line, _) = ctx.position(at);
    Ok(KpiTarget {
        kpi: name.to_string(),
        baseline,
        goal,
        by,
        ramp,
        tolerance,
        weight,
        start,
        line,
    })
}
