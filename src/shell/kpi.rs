//! `kpi run`: KPI results as rows for programs (one row per KPI, period and breakdown value)
//! and as a table for people (values in their unit), and the catalog listing.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::error::ArrowError;

use crate::catalog::locale::Lang;
use crate::catalog::{Catalog, KpiResult, KpiRow};

/// The rows of a result to show: its overall row, and its rows broken down by `by` when
/// given.
pub fn selected<'a>(
    result: &'a KpiResult,
    by: Option<&'a str>,
) -> impl Iterator<Item = &'a KpiRow> + 'a {
    result
        .rows
        .iter()
        .filter(move |r| r.dimension.is_none() || r.dimension.as_deref() == by)
}

/// The results as typed rows: what `--format csv|json|ndjson` and `--out` write.
pub fn results_batch(results: &[KpiResult], by: Option<&str>) -> Result<RecordBatch, ArrowError> {
    let rows: Vec<(&KpiResult, &KpiRow)> = results
        .iter()
        .flat_map(|r| selected(r, by).map(move |row| (r, row)))
        .collect();
    let text = |f: &dyn Fn(&KpiResult, &KpiRow) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|(r, row)| f(r, row)).collect::<Vec<_>>(),
        ))
    };
    let instant = |f: &dyn Fn(&KpiResult) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|(r, _)| f(r)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let float = |f: &dyn Fn(&KpiRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(
            rows.iter().map(|(_, row)| f(row)).collect::<Vec<_>>(),
        ))
    };
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Schema::new(vec![
        Field::new("kpi", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("period_start", timestamp.clone(), false),
        Field::new("period_end", timestamp.clone(), false),
        Field::new("evaluated_at", timestamp, false),
        Field::new("to_date", DataType::Boolean, false),
        Field::new("unit", DataType::Utf8, false),
        Field::new("dimension", DataType::Utf8, true),
        Field::new("dimension_value", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("numerator", DataType::Float64, true),
        Field::new("denominator", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(&|r, _| Some(r.kpi.name().to_string())),
        text(&|r, _| Some(r.period.label.clone())),
        instant(&|r| r.period.start),
        instant(&|r| r.period.end),
        instant(&|r| r.evaluated_at),
        Arc::new(BooleanArray::from(
            rows.iter().map(|(r, _)| r.is_partial()).collect::<Vec<_>>(),
        )),
        text(&|r, _| Some(r.kpi.header.unit.to_string())),
        text(&|_, row| row.dimension.clone()),
        text(&|_, row| row.dimension_value.clone()),
        float(&|row| row.value),
        float(&|row| row.numerator),
        float(&|row| row.denominator),
        Arc::new(Int64Array::from(
            rows.iter().map(|(_, row)| row.n).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// The results for people: the value in its unit, the breakdown as `team = billing`.
pub fn display_batch(
    results: &[KpiResult],
    by: Option<&str>,
    lang: Lang,
) -> Result<RecordBatch, ArrowError> {
    let mut columns: [Vec<Option<String>>; 6] = Default::default();
    for result in results {
        let unit = result.kpi.header.unit;
        let period = if result.is_partial() {
            format!("{} (to date)", result.period.label)
        } else {
            result.period.label.clone()
        };
        for row in selected(result, by) {
            let breakdown = match (&row.dimension, &row.dimension_value) {
                (Some(d), Some(v)) => format!("{d} = {v}"),
                _ => "(overall)".to_string(),
            };
            let fraction = match (row.numerator, row.denominator) {
                (Some(a), Some(b)) => {
                    Some(format!("{} / {}", lang.number(a, 0), lang.number(b, 0)))
                }
                _ => None,
            };
            let values = [
                Some(result.kpi.name().to_string()),
                Some(period.clone()),
                Some(breakdown),
                Some(row.value.map_or("-".to_string(), |v| lang.value(unit, v))),
                fraction,
                row.n.map(|n| lang.number(n as f64, 0)),
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
    }
    let names = ["kpi", "period", "breakdown", "value", "of", "n"];
    text_batch(&names, columns)
}

/// The catalog for people: name, unit, direction, title and where it comes from.
pub fn catalog_batch(catalog: &Catalog) -> Result<RecordBatch, ArrowError> {
    let column = |f: &dyn Fn(&crate::catalog::Kpi) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            catalog.iter().map(|k| f(k)).collect::<Vec<_>>(),
        ))
    };
    let schema = Schema::new(
        ["name", "unit", "direction", "title", "source"]
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            column(&|k| k.name().to_string()),
            column(&|k| k.header.unit.to_string()),
            column(&|k| k.header.direction.to_string()),
            column(&|k| k.header.title.clone()),
            column(&|k| k.location()),
        ],
    )
}

/// `kpi_targets` rows for people: targets and actuals in their unit, focus marked.
pub fn targets_display(
    rows: &RecordBatch,
    catalog: &Catalog,
    lang: Lang,
) -> Result<RecordBatch, ArrowError> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    let text = |name: &str| {
        rows.column_by_name(name)
            .map(|c| c.as_string::<i32>().clone())
    };
    let float = |name: &str| {
        rows.column_by_name(name)
            .map(|c| c.as_primitive::<Float64Type>().clone())
    };
    let flag = |name: &str| rows.column_by_name(name).map(|c| c.as_boolean().clone());
    let (Some(kpi), Some(quarter), Some(target), Some(actual), Some(status), Some(focus)) = (
        text("kpi"),
        text("quarter"),
        float("target"),
        float("actual"),
        text("status"),
        flag("focus"),
    ) else {
        return Err(ArrowError::SchemaError("not kpi_targets rows".into()));
    };
    let (Some(planned), Some(reason)) = (flag("planned"), text("reason")) else {
        return Err(ArrowError::SchemaError("not kpi_targets rows".into()));
    };
    let mut columns: [Vec<Option<String>>; 7] = Default::default();
    for i in 0..rows.num_rows() {
        let unit = catalog
            .get(kpi.value(i))
            .map_or(crate::catalog::Unit::Ratio, |k| k.header.unit);
        let value = |a: &Float64Array| a.is_valid(i).then(|| lang.value(unit, a.value(i)));
        let values = [
            Some(kpi.value(i).to_string()),
            Some(quarter.value(i).to_string()),
            value(&target).map(|t| {
                if planned.value(i) {
                    format!("{t} (plan)")
                } else {
                    t
                }
            }),
            value(&actual),
            status.is_valid(i).then(|| status.value(i).to_string()),
            Some(if focus.value(i) { "focus" } else { "" }.to_string()),
            reason.is_valid(i).then(|| reason.value(i).to_string()),
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    let names = [
        "kpi", "quarter", "target", "actual", "status", "focus", "why",
    ];
    text_batch(&names, columns)
}

/// The review table for people: KPI, actual, target, status, focus, change and trend (and
/// the pace columns while the quarter runs).
pub fn review_display(
    rows: &[crate::catalog::review::report::SummaryRow],
    lang: Lang,
    running: bool,
) -> Result<RecordBatch, ArrowError> {
    let w = crate::catalog::review::report::Words::of(lang);
    let mut names = vec![
        w.kpi, w.actual, w.target, w.status, w.focus, w.change, w.trend,
    ];
    if running {
        names.extend([w.expected, w.projection]);
    }
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    for r in rows {
        let mut values = vec![
            r.name.clone(),
            r.actual.clone(),
            r.target.clone(),
            r.status.clone(),
            if r.focus {
                "●".to_string()
            } else {
                String::new()
            },
            r.change.clone(),
            r.sparkline.clone(),
        ];
        if running {
            values.extend([r.expected.clone(), r.projection.clone()]);
        }
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(Some(value));
        }
    }
    text_batch(&names, columns)
}

/// A table of text columns named `names`, for printing.
pub(crate) fn text_batch(
    names: &[&str],
    columns: impl IntoIterator<Item = Vec<Option<String>>>,
) -> Result<RecordBatch, ArrowError> {
    let schema = Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(schema), arrays)
}
