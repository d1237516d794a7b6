//! `sla_policies`: one row per policy version, as configured, for analysts and BI tools to
//! join with the SLA views.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;

use crate::config::{Config, ResolutionStop};
use crate::tables::{SlaMetric, Vocabulary};

/// The SQL name of the policies table.
pub const SLA_POLICIES: &str = "sla_policies";

/// Days from 1970-01-01 (`Date32`).
fn days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - 719_163
}

/// The policies of `config` as one batch.
pub fn policies_batch(config: &Config) -> Result<RecordBatch, ArrowError> {
    let policies = &config.sla.policies;
    let text = |f: &dyn Fn(&crate::config::SlaPolicy) -> Option<String>| -> ArrayRef {
        Arc::new(policies.iter().map(f).collect::<StringArray>())
    };
    let mut pauses = ListBuilder::new(StringBuilder::new());
    for p in policies {
        for s in &p.pause_statuses {
            pauses.values().append_value(s.as_str());
        }
        pauses.append(true);
    }
    let target = |metric: SlaMetric| -> ArrayRef {
        Arc::new(
            policies
                .iter()
                .map(|p| p.targets.get(&metric).map(|s| *s as i64))
                .collect::<Int64Array>(),
        )
    };
    let date = |f: &dyn Fn(&crate::config::SlaPolicy) -> Option<NaiveDate>| -> ArrayRef {
        Arc::new(
            policies
                .iter()
                .map(|p| f(p).map(days))
                .collect::<Date32Array>(),
        )
    };
    let mut fields = vec![
        Field::new("policy", DataType::Utf8, false),
        Field::new("position", DataType::Int32, false),
        Field::new("condition", DataType::Utf8, true),
        Field::new("calendar", DataType::Utf8, true),
        Field::new(
            "pause_statuses",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        text(&|p| Some(p.name.clone())),
        Arc::new(
            policies
                .iter()
                .map(|p| p.position as i32)
                .collect::<Int32Array>(),
        ),
        text(&|p| p.when.as_ref().map(|w| w.sql.clone())),
        text(&|p| {
            p.calendar
                .clone()
                .or_else(|| config.default_calendar.clone())
        }),
        Arc::new(pauses.finish()),
    ];
    for metric in SlaMetric::ALL {
        fields.push(Field::new(
            format!("{}_seconds", metric.as_str()),
            DataType::Int64,
            true,
        ));
        columns.push(target(*metric));
    }
    fields.extend([
        Field::new("business_day_seconds", DataType::Int64, true),
        Field::new("resolution_stop", DataType::Utf8, false),
        Field::new("valid_from", DataType::Date32, true),
        Field::new("valid_until", DataType::Date32, true),
    ]);
    columns.extend([
        Arc::new(
            policies
                .iter()
                .map(|p| p.business_day.map(|s| s as i64))
                .collect::<Int64Array>(),
        ) as ArrayRef,
        text(&|p| {
            Some(
                match p.resolution_stop {
                    ResolutionStop::Resolved => "resolved",
                    ResolutionStop::Closed => "closed",
                }
                .to_string(),
            )
        }),
        date(&|p| p.valid_from),
        date(&|p| p.valid_until),
    ]);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
