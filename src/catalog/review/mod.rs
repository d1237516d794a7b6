//! The quarterly review: every KPI over the reviewed quarter and the four before it, compared
//! with the target ladder (status, focus, change), with the pace of a quarter still running;
//! then written out ([`results`]: `kpi_results` Parquet and the run's manifest; [`report`]:
//! the Markdown summary and the HTML report).

mod charts;
pub mod report;
pub mod results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::prelude::SessionContext;

use super::kpis::{Catalog, Kpi};
use super::locale::Lang;
use super::quarterly::{target_specs, Quarterly};
use super::run::{KpiResult, KpiRow, Period};
use super::targets::{Ladder, Status, TargetSpec};
use super::{CatalogError, Unit};
use crate::calendar::Quarter;
use crate::config::Config;

/// Quarters a review shows: the reviewed one and this many before it.
pub const HISTORY: i32 = 4;

/// What a review run is about and what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub quarter: Quarter,
    /// Everything is computed as known at this instant (UTC µs).
    pub as_of: i64,
    /// When the run happened (UTC µs).
    pub computed_at: i64,
    /// The version of each Delta table read.
    pub versions: BTreeMap<String, u64>,
    /// Digests of the other inputs that decide the numbers ([`inputs`]).
    pub inputs: BTreeMap<String, String>,
    /// The run this one reproduces, for `--rerun`.
    pub rerun_of: Option<String>,
}

/// A run id that sorts by time: `20261129T144012Z-3fa9c1` (UTC, then six hex digits).
pub fn run_id(at: chrono::DateTime<chrono::Utc>, quarter: Quarter) -> String {
    let noise = blake3::hash(
        format!(
            "{}:{}:{quarter}",
            at.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id()
        )
        .as_bytes(),
    );
    format!(
        "{}-{}",
        at.format("%Y%m%dT%H%M%SZ"),
        &noise.to_hex().as_str()[..6]
    )
}

/// Everything a review writes under `out` — the manifest and `kpi_results` partition, the
/// `sla_detail` partition when `detail`, the Markdown summary and the HTML report (named
/// `review-QUARTER[.LANG].md|html`) — and the paths written.
pub async fn write_outputs(
    review: &Review,
    ctx: &SessionContext,
    out: &Path,
    lang: Lang,
    detail: bool,
) -> Result<Vec<PathBuf>, CatalogError> {
    let mut written = results::write_results(review, out, lang)?;
    if detail {
        written.push(results::write_detail(ctx, review, &review.period, out).await?);
    }
    let suffix = match lang {
        Lang::En => String::new(),
        other => format!(".{}", other.tag()),
    };
    for (extension, text) in [
        ("md", report::markdown(review, lang)?),
        ("html", report::html(review, lang)?),
    ] {
        let path = out.join(format!(
            "review-{}{suffix}.{extension}",
            review.info.quarter
        ));
        results::write_atomically(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Digests (BLAKE3) of what decides a review's numbers besides the tables: the configuration
/// file (calendars, policies, targets) and the catalog's queries.
pub fn inputs(config: &Config, catalog: &Catalog) -> BTreeMap<String, String> {
    let config_text = std::fs::read(&config.path).unwrap_or_default();
    let mut queries = blake3::Hasher::new();
    for kpi in catalog.iter() {
        queries.update(kpi.name().as_bytes());
        queries.update(&[0]);
        queries.update(kpi.sql.as_bytes());
        queries.update(&[0]);
    }
    BTreeMap::from([
        (
            "kpi.toml".to_string(),
            blake3::hash(&config_text).to_hex().to_string(),
        ),
        (
            "queries".to_string(),
            queries.finalize().to_hex().to_string(),
        ),
    ])
}

/// A KPI's value in one quarter of the review window.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarterValue {
    pub quarter: Quarter,
    /// The quarter's value (to date when `partial`); `None` before the data starts.
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub focus: bool,
    pub status: Option<Status>,
    /// The quarter was still running at as-of.
    pub partial: bool,
}

/// The pace of a quarter still running at as-of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Share of the quarter elapsed at as-of, 0 to 1.
    pub elapsed: f64,
    /// Where the linear pace to the target is now: on the straight line from the previous
    /// quarter's actual to the target (for a KPI that accumulates, the elapsed share of the
    /// target). `None` without a target.
    pub expected: Option<f64>,
    /// The value expected at the quarter's end: the value to date (for a KPI that
    /// accumulates, the value to date divided by the elapsed share).
    pub projection: f64,
}

impl Pace {
    /// A value to date projected to the quarter's end.
    pub fn project(&self, value: f64, accumulates: bool) -> f64 {
        if accumulates && self.elapsed > 0.0 {
            value / self.elapsed
        } else {
            value
        }
    }
}

/// One output row of a KPI for the reviewed quarter, compared with its target.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRow {
    pub row: KpiRow,
    pub target: Option<f64>,
    pub status: Option<Status>,
    /// The same KPI and breakdown value in the previous quarter.
    pub previous_value: Option<f64>,
}

impl ReviewRow {
    pub fn change(&self) -> Option<f64> {
        Some(self.row.value? - self.previous_value?)
    }
}

/// One KPI in the review.
#[derive(Debug, Clone)]
pub struct KpiReview {
    pub kpi: Arc<Kpi>,
    pub spec: Option<TargetSpec>,
    /// Oldest first; the reviewed quarter last.
    pub history: Vec<QuarterValue>,
    /// The reviewed quarter's rows: overall first, then each breakdown value.
    pub rows: Vec<ReviewRow>,
    /// The breakdown dimensions the KPI offers.
    pub dimensions: Vec<String>,
    /// Set when the reviewed quarter was still running at as-of.
    pub pace: Option<Pace>,
}

impl KpiReview {
    /// The reviewed quarter.
    pub fn current(&self) -> Option<&QuarterValue> {
        self.history.last()
    }

    /// The previous quarter.
    pub fn previous(&self) -> Option<&QuarterValue> {
        self.history.iter().rev().nth(1)
    }

    pub fn unit(&self) -> Unit {
        self.kpi.header.unit
    }
}

/// A computed review.
#[derive(Debug, Clone)]
pub struct Review {
    pub info: RunInfo,
    /// The reviewed quarter's bounds.
    pub period: Period,
    /// The time zone quarters and dates are read in.
    pub zone: chrono_tz::Tz,
    /// The window, oldest first; the reviewed quarter last.
    pub quarters: Vec<Quarter>,
    /// In catalog (name) order.
    pub kpis: Vec<KpiReview>,
    pub ladder: Ladder,
    pub specs: Vec<TargetSpec>,
}

impl Review {
    /// Run every KPI of `catalog` over `info.quarter` and the [`HISTORY`] quarters before it,
    /// and compare them with the targets of `config`.
    pub async fn compute(
        quarterly: &mut Quarterly<'_>,
        catalog: &Catalog,
        config: &Config,
        info: RunInfo,
    ) -> Result<Review, CatalogError> {
        let quarter = info.quarter;
        if quarter > quarterly.current() {
            return Err(CatalogError::Period(format!(
                "{quarter} has not started at the as-of instant (the current quarter is {})",
                quarterly.current()
            )));
        }
        let specs = target_specs(&config.targets, catalog, &config.path)?;
        let ladder = quarterly
            .ladder(&config.targets, catalog, &specs, quarter)
            .await?;
        let quarters: Vec<Quarter> = quarter.offset(-HISTORY).through(quarter).collect();
        let mut kpis = Vec::new();
        for kpi in catalog.iter() {
            let spec = specs.iter().find(|s| s.target.kpi == kpi.name()).cloned();
            let mut results: Vec<Option<KpiResult>> = Vec::new();
            for &q in &quarters {
                results.push(quarterly.run(kpi, q).await?.cloned());
            }
            kpis.push(kpi_review(kpi, spec, &quarters, &results, &ladder));
        }
        Ok(Review {
            period: quarterly.period(quarter),
            zone: quarterly.zone(),
            info,
            quarters,
            kpis,
            ladder,
            specs,
        })
    }

    /// The KPIs in focus in the reviewed quarter.
    pub fn focus(&self) -> Vec<&str> {
        self.ladder.focus(self.info.quarter)
    }

    /// The worst status of the reviewed quarter over the KPIs with targets.
    pub fn worst(&self) -> Option<Status> {
        self.kpis
            .iter()
            .filter_map(|k| k.current().and_then(|c| c.status))
            .max_by_key(|s| match s {
                Status::Met => 0,
                Status::AtRisk => 1,
                Status::Missed => 2,
            })
    }
}

fn kpi_review(
    kpi: &Arc<Kpi>,
    spec: Option<TargetSpec>,
    quarters: &[Quarter],
    results: &[Option<KpiResult>],
    ladder: &Ladder,
) -> KpiReview {
    let status_of = |value: Option<f64>, target: Option<f64>| {
        let spec = spec.as_ref()?;
        Some(Status::of(
            value?,
            target?,
            spec.target.tolerance,
            spec.direction,
        ))
    };
    let mut history = Vec::with_capacity(quarters.len());
    for (q, result) in quarters.iter().zip(results) {
        let step = ladder.step(kpi.name(), *q);
        let value = result.as_ref().and_then(KpiResult::value);
        let target = step.and_then(|s| s.target);
        history.push(QuarterValue {
            quarter: *q,
            value,
            target,
            focus: step.is_some_and(|s| s.focus),
            status: status_of(value, target),
            partial: result.as_ref().is_some_and(KpiResult::is_partial),
        });
    }
    let current = results.last().and_then(Option::as_ref);
    let previous = results.iter().rev().nth(1).and_then(Option::as_ref);
    let target = history.last().and_then(|h| h.target);
    let accumulates = kpi.header.accumulates;
    let pace = current.filter(|r| r.is_partial()).and_then(|r| {
        let value = r.value()?;
        let span = (r.period.end - r.period.start) as f64;
        let elapsed = ((r.evaluated_at - r.period.start) as f64 / span).clamp(0.0, 1.0);
        let start = previous.and_then(KpiResult::value).unwrap_or(value);
        let expected = target.map(|t| {
            if accumulates {
                t * elapsed
            } else {
                start + (t - start) * elapsed
            }
        });
        let mut pace = Pace {
            elapsed,
            expected,
            projection: value,
        };
        pace.projection = pace.project(value, accumulates);
        Some(pace)
    });
    if let (Some(pace), Some(last)) = (pace, history.last_mut()) {
        // A running quarter is judged on where it is heading.
        last.status = status_of(Some(pace.projection), last.target);
    }
    let rows = current.map_or_else(Vec::new, |r| {
        r.rows
            .iter()
            .map(|row| {
                let previous_value = previous.and_then(|p| {
                    p.rows
                        .iter()
                        .find(|o| {
                            o.dimension == row.dimension && o.dimension_value == row.dimension_value
                        })
                        .and_then(|o| o.value)
                });
                // A running quarter is judged on where each row is heading.
                let value = match pace {
                    Some(p) => row.value.map(|v| p.project(v, accumulates)),
                    None => row.value,
                };
                let status = status_of(value, target);
                ReviewRow {
                    row: row.clone(),
                    target,
                    status,
                    previous_value,
                }
            })
            .collect()
    });
    KpiReview {
        kpi: kpi.clone(),
        spec,
        history,
        rows,
        dimensions: current.map_or_else(Vec::new, |r| r.dimensions.clone()),
        pace,
    }
}
