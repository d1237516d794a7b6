//! `next_business_open(ts [, calendar])`: the first business instant at or after `ts`.

use std::sync::OnceLock;

use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::args::{self, calendar_err, utc_micros, Arg, CalendarArg, Instants, Params};
use super::Calendars;

const SYNTAX: &str = "next_business_open(ts [, calendar])";
pub(crate) const PARAMS: Params = Params {
    name: "next_business_open",
    syntax: SYNTAX,
    fixed: &[Arg::Timestamp],
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NextBusinessOpenFunc {
    signature: Signature,
    calendars: Calendars,
}

impl NextBusinessOpenFunc {
    pub fn new(calendars: Calendars) -> Self {
        Self {
            signature: PARAMS.signature(),
            calendars,
        }
    }
}

impl ScalarUDFImpl for NextBusinessOpenFunc {
    fn name(&self) -> &str {
        "next_business_open"
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
        let ts = Instants::new(&args.args[0], self.name())?;
        let calendar = CalendarArg::new(&args.args, 1, self.name())?;
        args::evaluate::<TimestampMicrosecondType>(
            &[ts],
            None,
            calendar,
            &self.calendars,
            &args,
            utc_micros(),
            |index, v, _, valid| {
                if !valid {
                    return Ok(0);
                }
                index.next_open(v[0]).map_err(calendar_err)
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            super::doc(
                "The first instant at or after ts that is business time: ts itself during \
                 working hours, otherwise the next opening (where an SLA clock starts).",
                SYNTAX,
                "SELECT next_business_open(TIMESTAMP '2026-03-07 15:00:00Z', 'br-sp');",
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
    use super::super::test_support::{invoke, ts, Unwrap};
    use super::*;

    #[test]
    fn closed_instants_move_to_the_opening() {
        let f = NextBusinessOpenFunc::new;
        assert_eq!(
            invoke(f, vec![ts("2026-03-07T15:00:00Z")]).scalar(),
            ts("2026-03-09T11:00:00Z").scalar_value()
        );
        assert_eq!(
            invoke(f, vec![ts("2026-03-09T11:30:00Z")]).scalar(),
            ts("2026-03-09T11:30:00Z").scalar_value()
        );
    }
}
