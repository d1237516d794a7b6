//! `business_add(ts, amount [, calendar])`: the instant reached after an amount of business
//! time (the SLA due date).

use std::sync::OnceLock;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, DurationMicrosecondType, Float64Type, Int64Type, IntervalMonthDayNano,
    IntervalMonthDayNanoType, TimestampMicrosecondType,
};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::args::{self, calendar_err, utc_micros, Arg, CalendarArg, Instants, Params};
use super::Calendars;
use crate::calendar::MICROS;

const SYNTAX: &str = "business_add(ts, seconds [, calendar])";
pub(crate) const PARAMS: Params = Params {
    name: "business_add",
    syntax: SYNTAX,
    fixed: &[Arg::Timestamp, Arg::Amount],
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BusinessAddFunc {
    signature: Signature,
    calendars: Calendars,
}

impl BusinessAddFunc {
    pub fn new(calendars: Calendars) -> Self {
        Self {
            signature: PARAMS.signature(),
            calendars,
        }
    }
}

/// The amount argument after coercion.
enum Amount<'a> {
    Scalar(Option<i64>),
    Seconds(&'a datafusion::arrow::array::Int64Array),
    FractionalSeconds(&'a datafusion::arrow::array::Float64Array),
    Interval(&'a datafusion::arrow::array::IntervalMonthDayNanoArray),
    Duration(&'a datafusion::arrow::array::DurationMicrosecondArray),
}

fn seconds_to_micros(seconds: i64) -> Result<i64> {
    match seconds.checked_mul(MICROS) {
        Some(m) => Ok(m),
        None => exec_err!("business_add: {seconds} seconds is out of range"),
    }
}

fn float_to_micros(seconds: f64) -> Result<i64> {
    let micros = (seconds * MICROS as f64).round();
    if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
        return exec_err!("business_add: {seconds} seconds is out of range");
    }
    Ok(micros as i64)
}

fn interval_to_micros(v: IntervalMonthDayNano) -> Result<i64> {
    if v.months != 0 || v.days != 0 {
        return exec_err!(
            "business_add: interval with {} month(s) and {} day(s): business time has no fixed day \
             or month length; give hours, minutes or seconds (e.g. INTERVAL '36 hours')",
            v.months,
            v.days
        );
    }
    Ok(v.nanoseconds / 1_000)
}

impl<'a> Amount<'a> {
    fn new(value: &'a ColumnarValue) -> Result<Amount<'a>> {
        Ok(match value {
            ColumnarValue::Scalar(s) => Amount::Scalar(match s {
                ScalarValue::Int64(v) => v.map(seconds_to_micros).transpose()?,
                ScalarValue::Float64(v) => v.map(float_to_micros).transpose()?,
                ScalarValue::IntervalMonthDayNano(v) => v.map(interval_to_micros).transpose()?,
                ScalarValue::DurationMicrosecond(v) => *v,
                ScalarValue::Null => None,
                other => {
                    return exec_err!(
                        "business_add: unsupported amount type {}",
                        other.data_type()
                    )
                }
            }),
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Int64 => Amount::Seconds(a.as_primitive::<Int64Type>()),
                DataType::Float64 => Amount::FractionalSeconds(a.as_primitive::<Float64Type>()),
                DataType::Interval(_) => {
                    Amount::Interval(a.as_primitive::<IntervalMonthDayNanoType>())
                }
                DataType::Duration(_) => {
                    Amount::Duration(a.as_primitive::<DurationMicrosecondType>())
                }
                other => return exec_err!("business_add: unsupported amount type {other}"),
            },
        })
    }

    fn nulls(&self) -> Option<NullBuffer> {
        match self {
            Amount::Scalar(_) => None,
            Amount::Seconds(a) => a.nulls().cloned(),
            Amount::FractionalSeconds(a) => a.nulls().cloned(),
            Amount::Interval(a) => a.nulls().cloned(),
            Amount::Duration(a) => a.nulls().cloned(),
        }
    }

    fn micros(&self, i: usize) -> Result<i64> {
        match self {
            Amount::Scalar(v) => Ok(v.unwrap_or(0)),
            Amount::Seconds(a) => seconds_to_micros(a.value(i)),
            Amount::FractionalSeconds(a) => float_to_micros(a.value(i)),
            Amount::Interval(a) => interval_to_micros(a.value(i)),
            Amount::Duration(a) => Ok(a.value(i)),
        }
    }
}

impl ScalarUDFImpl for BusinessAddFunc {
    fn name(&self) -> &str {
        "business_add"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        PARAMS.check(arg_types)?;
        Ok(utc_micros())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name();
        let start = Instants::new(&args.args[0], name)?;
        let amount = Amount::new(&args.args[1])?;
        if matches!(amount, Amount::Scalar(None)) {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from(utc_micros())?));
        }
        let calendar = CalendarArg::new(&args.args, 2, name)?;
        args::evaluate::<TimestampMicrosecondType>(
            &[start],
            amount.nulls(),
            calendar,
            &self.calendars,
            &args,
            utc_micros(),
            |index, v, i, valid| {
                if !valid {
                    return Ok(0);
                }
                index.add(v[0], amount.micros(i)?).map_err(calendar_err)
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            super::doc(
                "The instant reached after adding an amount of business time to ts: the SLA due \
                 date. Positive amounts go forward and give the first instant at which the amount \
                 is complete (a due time can be a closing time); negative amounts go backward. \
                 Adding 0 to a closed instant gives the next opening. The amount is seconds \
                 (integer or fractional) or an interval of hours/minutes/seconds; intervals with \
                 days or months are rejected because a business day has no fixed length.",
                SYNTAX,
                "SELECT business_add(created_at, 8 * 3600, 'br-sp') AS due_at FROM tickets;",
            )
            .with_argument("ts", "Start instant (timestamp; without a time zone it is UTC).")
            .with_argument("seconds", "Business seconds to add (BIGINT or DOUBLE), or an INTERVAL such as INTERVAL '8 hours'.")
            .with_argument(
                "calendar",
                "Calendar name from kpi.toml; default: default_calendar.",
            )
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;

    use super::super::test_support::{invoke, try_invoke, ts, Unwrap};
    use super::*;

    fn secs(v: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(v)))
    }

    #[test]
    fn forward_backward_and_zero() {
        // Friday 2026-03-06 16:00 local (19:00Z) + 2h: 1h on Friday (closes 17:00), 1h Monday.
        let out = invoke(
            BusinessAddFunc::new,
            vec![ts("2026-03-06T19:00:00Z"), secs(7200)],
        );
        assert_eq!(out.scalar(), ts("2026-03-09T12:00:00Z").scalar_value());
        let out = invoke(
            BusinessAddFunc::new,
            vec![ts("2026-03-09T12:00:00Z"), secs(-7200)],
        );
        assert_eq!(out.scalar(), ts("2026-03-06T19:00:00Z").scalar_value());
        // Saturday + 0 = Monday's opening.
        let out = invoke(
            BusinessAddFunc::new,
            vec![ts("2026-03-07T15:00:00Z"), secs(0)],
        );
        assert_eq!(out.scalar(), ts("2026-03-09T11:00:00Z").scalar_value());
    }

    #[test]
    fn a_literal_instant_with_a_column_of_amounts() {
        let amounts = ColumnarValue::Array(std::sync::Arc::new(
            datafusion::arrow::array::Int64Array::from(vec![Some(3600), None, Some(7200)]),
        ));
        let out = invoke(
            BusinessAddFunc::new,
            vec![ts("2026-03-06T19:00:00Z"), amounts],
        );
        let array = out.array();
        let array = array.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(array.len(), 3);
        assert!(array.is_null(1));
        let expected = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        assert_eq!(array.value(0), expected("2026-03-06T20:00:00Z"));
        assert_eq!(array.value(2), expected("2026-03-09T12:00:00Z"));
    }

    #[test]
    fn intervals_with_days_are_rejected() {
        let day = ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(
            IntervalMonthDayNano::new(0, 1, 0),
        )));
        let err =
            try_invoke(BusinessAddFunc::new, vec![ts("2026-03-06T19:00:00Z"), day]).unwrap_err();
        assert!(
            err.to_string().contains("business time has no fixed day"),
            "{err}"
        );
        let hours = ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(
            IntervalMonthDayNano::new(0, 0, 2 * 3_600_000_000_000),
        )));
        let out = invoke(
            BusinessAddFunc::new,
            vec![ts("2026-03-06T19:00:00Z"), hours],
        );
        assert_eq!(out.scalar(), ts("2026-03-09T12:00:00Z").scalar_value());
    }
}
