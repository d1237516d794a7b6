//! `business_hours(start, end [, calendar])`: business hours between two instants.

use std::sync::OnceLock;

use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::args::{Arg, Params};
use super::business_seconds::invoke_span;
use super::Calendars;
use crate::calendar::Unit;

const SYNTAX: &str = "business_hours(start, end [, calendar])";
pub(crate) const PARAMS: Params = Params {
    name: "business_hours",
    syntax: SYNTAX,
    fixed: &[Arg::Timestamp, Arg::Timestamp],
};
const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BusinessHoursFunc {
    signature: Signature,
    calendars: Calendars,
}

impl BusinessHoursFunc {
    pub fn new(calendars: Calendars) -> Self {
        Self {
            signature: PARAMS.signature(),
            calendars,
        }
    }
}

impl ScalarUDFImpl for BusinessHoursFunc {
    fn name(&self) -> &str {
        "business_hours"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        PARAMS.check(arg_types)?;
        Ok(DataType::Float64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_span::<Float64Type, _>(
            &self.calendars,
            &args,
            self.name(),
            DataType::Float64,
            Unit::Micros,
            |m| m as f64 / MICROS_PER_HOUR,
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            super::doc(
                "Business hours (fractional, DOUBLE) between two instants under a business \
                 calendar; business_seconds divided by 3600 without truncation. Negative when \
                 end is before start.",
                SYNTAX,
                "SELECT business_hours(created_at, first_response_at, 'br-sp') FROM tickets;",
            )
            .with_argument(
                "start",
                "Start instant (timestamp; without a time zone it is UTC).",
            )
            .with_argument(
                "end",
                "End instant (timestamp; without a time zone it is UTC).",
            )
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
    fn fractional_hours() {
        let out = invoke(
            BusinessHoursFunc::new,
            vec![ts("2026-03-02T11:00:00Z"), ts("2026-03-02T11:45:00Z")],
        );
        assert_eq!(out.scalar(), ScalarValue::Float64(Some(0.75)));
    }
}
