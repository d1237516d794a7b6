//! Running one KPI over one period: the period parameters bound, the evaluation instant set
//! to the period's end (or the as-of instant, for a period still running), and the output
//! contract checked — a numeric `value`, optional numeric `numerator` / `denominator` and
//! integer `n`, every other column a breakdown dimension, NULL on the overall row.

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SQLOptions, SessionContext};

use super::kpis::Kpi;
use super::CatalogError;
use crate::calendar::{format_utc, local_to_utc, Quarter};

/// A half-open span of time `[start, end)` a KPI is computed over (UTC microseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-Q2`, or `2026-04-01..2026-05-01` for a range of dates.
    pub label: String,
    pub start: i64,
    pub end: i64,
}

impl Period {
    /// A quarter, from local midnight to local midnight in `tz`.
    pub fn quarter(quarter: Quarter, tz: &Tz) -> Period {
        let (start, end) = quarter.bounds(tz);
        Period {
            label: quarter.to_string(),
            start,
            end,
        }
    }

    /// The local dates `from` (included) to `to` (excluded) in `tz`.
    pub fn dates(from: NaiveDate, to: NaiveDate, tz: &Tz) -> Result<Period, CatalogError> {
        if to <= from {
            return Err(CatalogError::Period(format!(
                "--to {to} must be after --from {from} (the end is excluded)"
            )));
        }
        let at = |date| {
            local_to_utc(tz, date, 0)
                .ok_or_else(|| CatalogError::Period(format!("{date} is out of range")))
        };
        Ok(Period {
            label: format!("{from}..{to}"),
            start: at(from)?,
            end: at(to)?,
        })
    }
}

/// The columns of a KPI's output with a fixed meaning; any other column is a dimension.
pub const MEASURES: [&str; 4] = ["value", "numerator", "denominator", "n"];

/// One output row of a KPI.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    /// The dimension columns not NULL on this row, joined by ` / ` (`None`: the overall row).
    pub dimension: Option<String>,
    /// Their values, joined the same way.
    pub dimension_value: Option<String>,
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub n: Option<i64>,
}

/// A KPI computed over a period.
#[derive(Debug, Clone)]
pub struct KpiResult {
    pub kpi: Arc<Kpi>,
    pub period: Period,
    /// The instant the views were evaluated at (UTC µs): the period's end, or the as-of
    /// instant when that comes first.
    pub evaluated_at: i64,
    /// The breakdown dimensions the query offers, in column order.
    pub dimensions: Vec<String>,
    /// The overall row first, then the breakdown rows by dimension and value.
    pub rows: Vec<KpiRow>,
}

impl KpiResult {
    /// The overall row (all dimensions NULL), when the query returned one.
    pub fn overall(&self) -> Option<&KpiRow> {
        self.rows.iter().find(|r| r.dimension.is_none())
    }

    /// The overall value.
    pub fn value(&self) -> Option<f64> {
        self.overall().and_then(|r| r.value)
    }

    /// Whether the period was still running at the evaluation instant.
    pub fn is_partial(&self) -> bool {
        self.evaluated_at < self.period.end
    }
}

/// Run `kpi` over `period` as known at `as_of` (UTC µs): the views are evaluated at the
/// period's end, or at `as_of` when the period is still running then — and `$period_end` is
/// that instant too, so a running period is computed to date.
pub async fn run_kpi(
    ctx: &SessionContext,
    kpi: &Arc<Kpi>,
    period: &Period,
    as_of: i64,
) -> Result<KpiResult, CatalogError> {
    if as_of < period.start {
        return Err(CatalogError::Period(format!(
            "{} starts at {}, after the as-of instant {}: there is nothing to compute yet",
            period.label,
            format_utc(period.start),
            format_utc(as_of)
        )));
    }
    let evaluated_at = as_of.min(period.end);
    let location = kpi.location();
    let plan_error = |e: DataFusionError| {
        let line = e
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| s.start.line as usize)
            .filter(|l| *l > 0)
            .unwrap_or(kpi.header.sql_line);
        CatalogError::Plan {
            location: location.clone(),
            line,
            message: e.strip_backtrace(),
        }
    };
    let (context, plan) = plan_period(ctx, &kpi.sql, period.start, evaluated_at)
        .await
        .map_err(plan_error)?;
    let dimensions = check_contract(plan.schema(), kpi)?;
    let run_error = |e: DataFusionError| CatalogError::Run {
        kpi: kpi.name().to_string(),
        period: period.label.clone(),
        source: Box::new(e),
    };
    let batches = context
        .execute_logical_plan(plan)
        .await
        .map_err(run_error)?
        .collect()
        .await
        .map_err(run_error)?;
    let mut rows = Vec::new();
    for batch in &batches {
        read_rows(batch, &dimensions, &mut rows).map_err(|e| run_error(e.into()))?;
    }
    let overall = rows.iter().filter(|r| r.dimension.is_none()).count();
    if overall > 1 {
        return Err(CatalogError::Contract {
            location,
            line: kpi.header.sql_line,
            message: format!(
                "{overall} rows have every breakdown column NULL for {}; only the overall row \
                 may (GROUP BY GROUPING SETS ((), (team), …) gives one)",
                period.label
            ),
        });
    }
    // The overall row first (None sorts first), then each breakdown by its values.
    rows.sort_by(|a, b| {
        (&a.dimension, &a.dimension_value).cmp(&(&b.dimension, &b.dimension_value))
    });
    Ok(KpiResult {
        kpi: kpi.clone(),
        period: period.clone(),
        evaluated_at,
        dimensions,
        rows,
    })
}

/// The setting the SLA views read their evaluation instant from.
const AS_OF_SETTING: &str = "kpi.as_of";

/// Plan `sql` (one read-only query) over the period `[start, evaluated_at)`: the SLA views
/// evaluated at `evaluated_at` (the period's end, or the as-of instant while it runs), and
/// `$period_start` / `$period_end` bound to the two instants. The context to run it in.
pub(crate) async fn plan_period(
    ctx: &SessionContext,
    sql: &str,
    start: i64,
    evaluated_at: i64,
) -> datafusion::error::Result<(SessionContext, datafusion::logical_expr::LogicalPlan)> {
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .set(AS_OF_SETTING, &format_utc(evaluated_at))?;
    let plan = state.create_logical_plan(sql).await?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)?;
    let instant = |micros| ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()));
    let plan = plan.with_param_values(ParamValues::from(vec![
        ("period_start", instant(start)),
        ("period_end", instant(evaluated_at)),
    ]))?;
    Ok((SessionContext::new_with_state(state), plan))
}

/// The dimension columns of a KPI's output, or the contract it breaks.
fn check_contract(schema: &DFSchema, kpi: &Kpi) -> Result<Vec<String>, CatalogError> {
    let broken = |message: String| CatalogError::Contract {
        location: kpi.location(),
        line: kpi.header.sql_line,
        message,
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if !names.contains(&"value") {
        return Err(broken(format!(
            "the query has no `value` column (its columns: {}); name the KPI's value `AS value`",
            names.join(", ")
        )));
    }
    let mut dimensions = Vec::new();
    for field in schema.fields() {
        let name = field.name().as_str();
        let numeric = field.data_type().is_numeric() || field.data_type() == &DataType::Null;
        if MEASURES.contains(&name) {
            if !numeric {
                return Err(broken(format!(
                    "`{name}` must be a number, not {}",
                    field.data_type()
                )));
            }
        } else if names.iter().filter(|n| **n == name).count() > 1 {
            return Err(broken(format!("the column `{name}` appears twice")));
        } else {
            dimensions.push(name.to_string());
        }
    }
    Ok(dimensions)
}

/// Append a batch's rows to `rows`.
fn read_rows(
    batch: &RecordBatch,
    dimensions: &[String],
    rows: &mut Vec<KpiRow>,
) -> Result<(), datafusion::arrow::error::ArrowError> {
    let measure = |name: &str, to: &DataType| -> Result<_, datafusion::arrow::error::ArrowError> {
        batch.column_by_name(name).map(|c| cast(c, to)).transpose()
    };
    let value = measure("value", &DataType::Float64)?;
    let numerator = measure("numerator", &DataType::Float64)?;
    let denominator = measure("denominator", &DataType::Float64)?;
    let n = measure("n", &DataType::Int64)?;
    let dims = dimensions
        .iter()
        .map(|d| {
            let column = batch
                .column_by_name(d)
                .map(|c| cast(c, &DataType::Utf8))
                .transpose()?;
            Ok((d.as_str(), column))
        })
        .collect::<Result<Vec<_>, datafusion::arrow::error::ArrowError>>()?;
    let float = |a: &Option<Arc<dyn Array>>, i: usize| {
        a.as_ref()
            .filter(|a| a.is_valid(i))
            .map(|a| a.as_primitive::<Float64Type>().value(i))
            .filter(|v| v.is_finite())
    };
    for i in 0..batch.num_rows() {
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (name, column) in &dims {
            if let Some(column) = column.as_ref().filter(|c| c.is_valid(i)) {
                names.push(*name);
                values.push(column.as_string::<i32>().value(i).to_string());
            }
        }
        rows.push(KpiRow {
            dimension: (!names.is_empty()).then(|| names.join(" / ")),
            dimension_value: (!values.is_empty()).then(|| values.join(" / ")),
            value: float(&value, i),
            numerator: float(&numerator, i),
            denominator: float(&denominator, i),
            n: n.as_ref()
                .filter(|a| a.is_valid(i))
                .map(|a| a.as_primitive::<Int64Type>().value(i)),
        });
    }
    Ok(())
}
