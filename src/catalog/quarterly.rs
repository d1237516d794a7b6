//! KPIs by quarter: running them once per quarter (cached), the target specs of a workspace
//! checked against the catalog, and the ladder planned from the actuals.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::DateTime;
use chrono_tz::Tz;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

use super::kpis::{Catalog, Kpi};
use super::run::{run_kpi, KpiResult, Period};
use super::targets::{Actuals, Ladder, Status, TargetSpec, TARGET_COLUMNS};
use super::CatalogError;
use crate::calendar::Quarter;
use crate::config::{Baseline, TargetsConfig};

/// Called after each KPI run: runs done, runs planned, what just ran.
pub type Progress<'a> = Box<dyn FnMut(usize, usize, &str) + Send + 'a>;

/// Runs KPIs by quarter as known at one as-of instant, each (KPI, quarter) once.
pub struct Quarterly<'a> {
    ctx: &'a SessionContext,
    zone: Tz,
    as_of: i64,
    cache: HashMap<(String, Quarter), KpiResult>,
    progress: Option<Progress<'a>>,
    done: usize,
    planned: usize,
}

impl<'a> Quarterly<'a> {
    /// Quarters are read in `zone`; everything is computed as known at `as_of` (UTC µs).
    pub fn new(ctx: &'a SessionContext, zone: Tz, as_of: i64) -> Quarterly<'a> {
        Quarterly {
            ctx,
            zone,
            as_of,
            cache: HashMap::new(),
            progress: None,
            done: 0,
            planned: 0,
        }
    }

    /// Report each run to `progress`, out of `planned` runs.
    pub fn with_progress(mut self, planned: usize, progress: Progress<'a>) -> Self {
        self.planned = planned;
        self.progress = Some(progress);
        self
    }

    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The quarter the as-of instant falls in (in the quarters' zone).
    pub fn current(&self) -> Quarter {
        let instant = DateTime::from_timestamp_micros(self.as_of).unwrap_or_default();
        Quarter::at(instant, &self.zone)
    }

    /// The last quarter that had ended at the as-of instant.
    pub fn finished(&self) -> Quarter {
        self.current().previous()
    }

    pub fn period(&self, quarter: Quarter) -> Period {
        Period::quarter(quarter, &self.zone)
    }

    /// `kpi` over `quarter` (quarter to date when it is running); `None` for a quarter that
    /// starts after the as-of instant.
    pub async fn run(
        &mut self,
        kpi: &Arc<Kpi>,
        quarter: Quarter,
    ) -> Result<Option<&KpiResult>, CatalogError> {
        if quarter > self.current() {
            return Ok(None);
        }
        let key = (kpi.name().to_string(), quarter);
        if !self.cache.contains_key(&key) {
            let period = self.period(quarter);
            let result = run_kpi(self.ctx, kpi, &period, self.as_of).await?;
            self.done += 1;
            if let Some(progress) = self.progress.as_mut() {
                progress(
                    self.done,
                    self.planned.max(self.done),
                    &format!("{} {quarter}", kpi.name()),
                );
            }
            self.cache.insert(key.clone(), result);
        }
        Ok(self.cache.get(&key))
    }

    /// The ladder of `specs` through `through`, from the actuals of every finished quarter
    /// the ladder needs.
    pub async fn ladder(
        &mut self,
        config: &TargetsConfig,
        catalog: &Catalog,
        specs: &[TargetSpec],
        through: Quarter,
    ) -> Result<Ladder, CatalogError> {
        let finished = self.finished();
        let mut actuals = Actuals::default();
        for spec in specs {
            let t = &spec.target;
            let first = first_needed(spec);
            let kpi = catalog.get(&t.kpi)?.clone();
            for quarter in first.through(through.min(finished)) {
                if let Some(value) = self.run(&kpi, quarter).await?.and_then(KpiResult::value) {
                    actuals.insert(&t.kpi, quarter, value);
                }
            }
        }
        Ok(Ladder::plan(
            config,
            specs,
            &actuals,
            Some(finished),
            through,
        ))
    }

    /// The number of runs [`Quarterly::ladder`] needs for `specs` (for progress).
    pub fn ladder_runs(&self, specs: &[TargetSpec], through: Quarter) -> usize {
        let last = through.min(self.finished());
        specs
            .iter()
            .map(|s| first_needed(s).count_to(last) as usize)
            .sum()
    }
}

/// The first quarter whose actual a KPI's ladder needs: its baseline quarter, or the quarter
/// before its first target.
fn first_needed(spec: &TargetSpec) -> Quarter {
    let t = &spec.target;
    match t.baseline {
        Baseline::Quarter(q) => q.min(t.start.previous()),
        Baseline::Value(_) => t.start.previous(),
    }
}

/// The `[targets.kpis]` of a workspace with their KPIs' directions; an unknown KPI (there or
/// in `focus_override`) is an error at its line of `config_path`.
pub fn target_specs(
    config: &TargetsConfig,
    catalog: &Catalog,
    config_path: &Path,
) -> Result<Vec<TargetSpec>, CatalogError> {
    let unknown = |name: &str, line: usize, key: &str| CatalogError::Targets {
        path: config_path.to_path_buf(),
        line,
        message: format!(
            "{key}: no KPI is named '{name}'{} (kpi run --list shows the catalog)",
            crate::names::hint(name, catalog.names())
        ),
    };
    let mut specs = Vec::new();
    for target in &config.kpis {
        let kpi = catalog.get(&target.kpi).map_err(|_| {
            unknown(
                &target.kpi,
                target.line,
                &format!("targets.kpis.{}", target.kpi),
            )
        })?;
        specs.push(TargetSpec {
            target: target.clone(),
            direction: kpi.header.direction,
        });
    }
    for (quarter, (names, line)) in &config.focus_override {
        for name in names {
            if !specs.iter().any(|s| &s.target.kpi == name) {
                let key = format!("targets.focus_override.{quarter}");
                return Err(match catalog.get(name) {
                    Ok(_) => CatalogError::Targets {
                        path: config_path.to_path_buf(),
                        line: *line,
                        message: format!(
                            "{key}: '{name}' has no [targets.kpis.{name}]; only KPIs with \
                             targets can be in focus"
                        ),
                    },
                    Err(_) => unknown(name, *line, &key),
                });
            }
        }
    }
    Ok(specs)
}

/// The ladder's steps from `from` through `through`, by KPI then quarter, as the rows of
/// `kpi_targets` ([`super::targets::TARGET_COLUMNS`]); reasons in `lang`.
pub fn targets_batch(
    ladder: &Ladder,
    specs: &[TargetSpec],
    catalog: &Catalog,
    from: Quarter,
    through: Quarter,
    lang: super::locale::Lang,
) -> RecordBatch {
    let mut steps: Vec<&super::targets::Step> = ladder
        .steps
        .iter()
        .filter(|s| s.quarter >= from && s.quarter <= through)
        .collect();
    steps.sort_by(|a, b| (&a.kpi, a.quarter).cmp(&(&b.kpi, b.quarter)));
    let spec = |kpi: &str| specs.iter().find(|s| s.target.kpi == kpi);
    let unit = |kpi: &str| {
        catalog
            .get(kpi)
            .map_or(super::header::Unit::Ratio, |k| k.header.unit)
    };
    let status = |s: &super::targets::Step| {
        let spec = spec(&s.kpi)?;
        let (actual, target) = (s.actual?, s.target?);
        Some(Status::of(actual, target, spec.target.tolerance, spec.direction).name())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            steps.iter().map(|s| s.kpi.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            steps.iter().map(|s| s.quarter.to_string()),
        )),
        Arc::new(Float64Array::from_iter(steps.iter().map(|s| s.target))),
        Arc::new(BooleanArray::from_iter(steps.iter().map(|s| Some(s.focus)))),
        Arc::new(BooleanArray::from_iter(
            steps.iter().map(|s| Some(s.planned)),
        )),
        Arc::new(Float64Array::from_iter(steps.iter().map(|s| s.actual))),
        Arc::new(StringArray::from_iter(steps.iter().map(|s| status(s)))),
        Arc::new(Float64Array::from_iter(steps.iter().map(|s| s.gap))),
        Arc::new(StringArray::from_iter(steps.iter().map(|s| {
            spec(&s.kpi).map(|spec| s.explain(spec, unit(&s.kpi), ladder.focus_count, lang))
        }))),
    ];
    RecordBatch::try_new(targets_schema(), columns)
        .unwrap_or_else(|_| RecordBatch::new_empty(targets_schema()))
}

/// The schema of `kpi_targets`.
pub fn targets_schema() -> SchemaRef {
    let fields: Vec<Field> = TARGET_COLUMNS
        .iter()
        .map(|(name, kind, _)| {
            let data_type = match *kind {
                "DOUBLE" => DataType::Float64,
                "BOOLEAN" => DataType::Boolean,
                _ => DataType::Utf8,
            };
            let required = matches!(*name, "kpi" | "quarter" | "focus" | "planned");
            Field::new(*name, data_type, !required)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// How a table of the catalog reads the session's as-of instant from its settings.
pub type AsOfSetting = fn(&datafusion::config::ConfigOptions) -> Option<DateTime<chrono::Utc>>;

/// `kpi_targets`: the ladder from the first target quarter to four quarters after the as-of
/// instant's, computed when a query scans it (so it follows new ingests and `kpi.as_of`).
#[derive(Debug)]
pub struct TargetsTable {
    pub config: TargetsConfig,
    pub catalog: Arc<Catalog>,
    pub config_path: std::path::PathBuf,
    pub zone: Tz,
    pub as_of: AsOfSetting,
}

#[async_trait::async_trait]
impl datafusion::catalog::TableProvider for TargetsTable {
    fn schema(&self) -> SchemaRef {
        targets_schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::View
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        _filters: &[datafusion::logical_expr::Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let failed = |e: CatalogError| datafusion::error::DataFusionError::External(Box::new(e));
        let Some(session) = state
            .as_any()
            .downcast_ref::<datafusion::execution::SessionState>()
        else {
            return datafusion::common::plan_err!("kpi_targets needs a DataFusion session state");
        };
        let ctx = SessionContext::new_with_state(session.clone());
        let as_of = (self.as_of)(state.config_options())
            .unwrap_or_else(chrono::Utc::now)
            .timestamp_micros();
        let specs = target_specs(&self.config, &self.catalog, &self.config_path).map_err(failed)?;
        let mut quarterly = Quarterly::new(&ctx, self.zone, as_of);
        let through = quarterly.current().offset(4);
        let batch = match specs.iter().map(|s| s.target.start).min() {
            Some(first) => {
                let ladder = quarterly
                    .ladder(&self.config, &self.catalog, &specs, through)
                    .await
                    .map_err(failed)?;
                targets_batch(
                    &ladder,
                    &specs,
                    &self.catalog,
                    first,
                    through,
                    super::locale::Lang::En,
                )
            }
            None => RecordBatch::new_empty(targets_schema()),
        };
        let exec = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            targets_schema(),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
