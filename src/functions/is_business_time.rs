//! `is_business_time(ts [, calendar])`: whether an instant is inside working hours.

use std::sync::OnceLock;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Int8Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::args::{self, calendar_err, Arg, CalendarArg, Instants, Params};
use super::Calendars;

const SYNTAX: &str = "is_business_time(ts [, calendar])";
pub(crate) const PARAMS: Params = Params {
    name: "is_business_time",
    syntax: SYNTAX,
    fixed: &[Arg::Timestamp],
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IsBusinessTimeFunc {
    signature: Signature,
    calendars: Calendars,
}

impl IsBusinessTimeFunc {
    pub fn new(calendars: Calendars) -> Self {
        Self {
            signature: PARAMS.signature(),
            calendars,
        }
    }
}

impl ScalarUDFImpl for IsBusinessTimeFunc {
    fn name(&self) -> &str {
        "is_business_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        PARAMS.check(arg_types)?;
        Ok(DataType::Boolean)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ts = Instants::new(&args.args[0], self.name())?;
        let calendar = CalendarArg::new(&args.args, 1, self.name())?;
        // Evaluated as 0/1 bytes through the shared loop, then turned into booleans.
        let flags = args::evaluate::<Int8Type>(
            &[ts],
            None,
            calendar,
            &self.calendars,
            &args,
            DataType::Int8,
            |index, v, _, valid| {
                if !valid {
                    return Ok(0);
                }
                index.is_business(v[0]).map(i8::from).map_err(calendar_err)
            },
        )?;
        let to_bool = |a: &dyn Array| -> BooleanArray {
            let a = a
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int8Array>()
                .map(|a| a.iter().map(|v| v.map(|v| v != 0)).collect())
                .unwrap_or_else(|| BooleanArray::new_null(a.len()));
            a
        };
        Ok(match flags {
            ColumnarValue::Array(a) => ColumnarValue::Array(std::sync::Arc::new(to_bool(&a))),
            ColumnarValue::Scalar(s) => {
                let a = s.to_array()?;
                ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(
                    &to_bool(&a),
                    0,
                )?)
            }
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            super::doc(
                "True when the instant is inside working hours of the calendar (intervals are \
                 half-open: an opening time is business time, a closing time is not).",
                SYNTAX,
                "SELECT is_business_time(TIMESTAMP '2026-03-02 11:00:00Z', 'br-sp');",
            )
            .with_argument("ts", "Instant (timestamp; without a time zone it is UTC).")
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

    use super::super::test_support::{invoke, ts, Unwrap};
    use super::*;

    #[test]
    fn opening_is_in_and_closing_is_out() {
        let f = IsBusinessTimeFunc::new;
        assert_eq!(
            invoke(f, vec![ts("2026-03-02T11:00:00Z")]).scalar(),
            ScalarValue::Boolean(Some(true))
        );
        assert_eq!(
            invoke(f, vec![ts("2026-03-02T15:00:00Z")]).scalar(),
            ScalarValue::Boolean(Some(false))
        );
        assert_eq!(
            invoke(f, vec![ColumnarValue::Scalar(ScalarValue::Null)]).scalar(),
            ScalarValue::Boolean(None)
        );
    }
}
