//! Helpers for the functions' unit tests: calendars from the documented example and a way to
//! call a function the way DataFusion does.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::Field;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::Calendars;
use crate::calendar::CalendarRegistry;
use crate::config::Config;

const CONFIG: &str = r#"
default_calendar = "br-sp"

[calendars.br-sp]
timezone = "America/Sao_Paulo"
hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-12:00", "13:00-18:00"],
          wed = ["08:00-12:00", "13:00-18:00"], thu = ["08:00-12:00", "13:00-18:00"],
          fri = ["08:00-12:00", "13:00-17:00"] }
holiday_sets = ["BR"]

[calendars.night-ops]
timezone = "Europe/Berlin"
hours = { mon = ["22:00-06:00"], tue = ["22:00-06:00"], sat = ["00:00-24:00"] }
"#;

pub fn calendars() -> Calendars {
    let config = Config::parse(Path::new("kpi.toml"), CONFIG).unwrap();
    let registry = CalendarRegistry::new(config.calendars, config.default_calendar).unwrap();
    Calendars(Arc::new(registry))
}

pub fn try_invoke<F: ScalarUDFImpl>(
    make: impl FnOnce(Calendars) -> F,
    args: Vec<ColumnarValue>,
) -> Result<ColumnarValue> {
    let func = make(calendars());
    let types: Vec<_> = args.iter().map(|a| a.data_type()).collect();
    let coerced = func.coerce_types(&types)?;
    let rows = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let args: Vec<ColumnarValue> = args
        .into_iter()
        .zip(&coerced)
        .map(|(a, t)| a.cast_to(t, None))
        .collect::<Result<_>>()?;
    let arg_fields = coerced
        .iter()
        .enumerate()
        .map(|(i, t)| Arc::new(Field::new(format!("a{i}"), t.clone(), true)))
        .collect();
    let return_field = Arc::new(Field::new("out", func.return_type(&coerced)?, true));
    func.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field,
        config_options: Arc::new(ConfigOptions::default()),
    })
}

pub fn invoke<F: ScalarUDFImpl>(
    make: impl FnOnce(Calendars) -> F,
    args: Vec<ColumnarValue>,
) -> ColumnarValue {
    try_invoke(make, args).unwrap()
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

/// A timestamp literal in µs UTC.
pub fn ts(rfc3339: &str) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
        Some(micros(rfc3339)),
        Some(Arc::from("UTC")),
    ))
}

pub fn ts_array(values: &[Option<&str>]) -> ColumnarValue {
    let array =
        TimestampMicrosecondArray::from(values.iter().map(|v| v.map(micros)).collect::<Vec<_>>())
            .with_timezone("UTC");
    ColumnarValue::Array(Arc::new(array))
}

pub fn utf8(s: &str) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_string())))
}

/// Unwrapping results in tests.
pub trait Unwrap {
    fn scalar(&self) -> ScalarValue;
    fn scalar_value(&self) -> ScalarValue;
    fn array(&self) -> ArrayRef;
}

impl Unwrap for ColumnarValue {
    fn scalar(&self) -> ScalarValue {
        match self {
            ColumnarValue::Scalar(s) => s.clone(),
            ColumnarValue::Array(a) => panic!("expected a scalar, got an array of {}", a.len()),
        }
    }

    fn scalar_value(&self) -> ScalarValue {
        self.scalar()
    }

    fn array(&self) -> ArrayRef {
        match self {
            ColumnarValue::Array(a) => Arc::clone(a),
            ColumnarValue::Scalar(s) => panic!("expected an array, got {s}"),
        }
    }
}
