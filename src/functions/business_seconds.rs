//! `business_seconds(start, end [, calendar])`: business seconds between two instants.

use std::sync::OnceLock;

use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::args::{self, calendar_err, Arg, CalendarArg, Instants, Params};
use super::Calendars;
use crate::calendar::{Unit, MICROS};

const SYNTAX: &str = "business_seconds(start, end [, calendar])";
pub(crate) const PARAMS: Params = Params {
    name: "business_seconds",
    syntax: SYNTAX,
    fixed: &[Arg::Timestamp, Arg::Timestamp],
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BusinessSecondsFunc {
    signature: Signature,
    calendars: Calendars,
}

impl BusinessSecondsFunc {
    pub fn new(calendars: Calendars) -> Self {
        Self {
            signature: PARAMS.signature(),
            calendars,
        }
    }
}

/// Business time between `start` and `end`, shared with `business_hours`: `convert` maps an
/// amount in `unit` to the result.
pub(super) fn invoke_span<T, F>(
    calendars: &Calendars,
    args: &ScalarFunctionArgs,
    name: &str,
    data_type: DataType,
    unit: Unit,
    convert: F,
) -> Result<ColumnarValue>
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    F: Fn(i64) -> T::Native,
{
    let start = Instants::new(&args.args[0], name)?;
    let end = Instants::new(&args.args[1], name)?;
    let calendar = CalendarArg::new(&args.args, 2, name)?;
    if let Some(result) = args::evaluate_span_columns::<T>(
        &start, &end, &calendar, calendars, &data_type, unit, &convert,
    )? {
        return Ok(result);
    }
    args::evaluate::<T>(
        &[start, end],
        None,
        calendar,
        calendars,
        args,
        data_type,
        |index, v, _, valid| {
            let micros = match index.fast_micros(v[0], v[1]) {
                Some(m) => m,
                None if valid => index.business_micros(v[0], v[1]).map_err(calendar_err)?,
                None => 0,
            };
            Ok(convert(match unit {
                Unit::Micros => micros,
                Unit::Seconds => micros / MICROS,
            }))
        },
    )
}

impl ScalarUDFImpl for BusinessSecondsFunc {
    fn name(&self) -> &str {
        "business_seconds"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        PARAMS.check(arg_types)?;
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Whole seconds, truncated toward zero (so a negative span mirrors the positive one).
        invoke_span::<Int64Type, _>(
            &self.calendars,
            &args,
            self.name(),
            DataType::Int64,
            Unit::Seconds,
            |s| s,
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            super::doc(
                "Business seconds between two instants under a business calendar: only time \
                 inside working hours, outside holidays and closures, counts. Negative when end \
                 is before start. Fractions of a second are truncated toward zero.",
                SYNTAX,
                "SELECT business_seconds(TIMESTAMP '2026-03-02 11:00:00Z', TIMESTAMP '2026-03-02 17:00:00Z', 'br-sp');",
            )
            .with_argument("start", "Start instant (timestamp; without a time zone it is UTC).")
            .with_argument("end", "End instant (timestamp; without a time zone it is UTC).")
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
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::common::ScalarValue;

    use super::super::test_support::{invoke, ts, ts_array, utf8, Unwrap};
    use super::*;

    #[test]
    fn literals_columns_nulls_and_negative_spans() {
        let f = |cal| BusinessSecondsFunc::new(cal);
        // Monday 2026-03-02, São Paulo (UTC-3): 08:00-12:00 and 13:00-18:00 local.
        let out = invoke(
            f,
            vec![ts("2026-03-02T11:00:00Z"), ts("2026-03-02T21:00:00Z")],
        );
        assert_eq!(out.scalar(), ScalarValue::Int64(Some(9 * 3600)));
        let out = invoke(
            f,
            vec![ts("2026-03-02T21:00:00Z"), ts("2026-03-02T11:00:00Z")],
        );
        assert_eq!(out.scalar(), ScalarValue::Int64(Some(-9 * 3600)));
        let out = invoke(
            f,
            vec![
                ts("2026-03-02T11:00:00Z"),
                ColumnarValue::Scalar(ScalarValue::Null),
            ],
        );
        assert_eq!(out.scalar(), ScalarValue::Int64(None));
        let out = invoke(
            f,
            vec![
                ts_array(&[
                    Some("2026-03-02T11:00:00Z"),
                    None,
                    Some("2026-03-02T12:00:00.5Z"),
                ]),
                ts("2026-03-02T12:00:01Z"),
                utf8("br-sp"),
            ],
        );
        let array = out.array();
        let array = array.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(array.value(0), 3601);
        assert!(array.is_null(1));
        assert_eq!(array.value(2), 0, "half a second truncates to 0");
    }

    /// The column fast path agrees with row-by-row scalar calls, also with NULLs and with
    /// instants far outside the index window (which it hands to the exact path).
    #[test]
    fn columns_agree_with_scalars() {
        let starts = [
            Some("2026-03-02T10:59:59.999999Z"),
            Some("2026-12-24T14:00:00Z"),
            None,
            Some("1650-06-01T12:00:00Z"),
            Some("2026-03-06T20:00:00Z"),
        ];
        let ends = [
            Some("2026-03-09T11:30:00.5Z"),
            Some("2024-01-01T00:00:00Z"),
            Some("2026-03-02T12:00:00Z"),
            Some("1650-06-03T12:00:00Z"),
            Some("2590-01-01T00:00:00Z"),
        ];
        for rows in [&[0usize, 1][..], &[0, 1, 2], &[0, 1, 3], &[0, 2, 4]] {
            let pick =
                |xs: &[Option<&'static str>]| rows.iter().map(|&i| xs[i]).collect::<Vec<_>>();
            let out = invoke(
                BusinessSecondsFunc::new,
                vec![
                    ts_array(&pick(&starts)),
                    ts_array(&pick(&ends)),
                    utf8("br-sp"),
                ],
            );
            let ColumnarValue::Array(out) = out else {
                panic!("expected an array")
            };
            let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
            for (k, &i) in rows.iter().enumerate() {
                let expected = match (starts[i], ends[i]) {
                    (Some(a), Some(b)) => {
                        invoke(BusinessSecondsFunc::new, vec![ts(a), ts(b), utf8("br-sp")]).scalar()
                    }
                    _ => ScalarValue::Int64(None),
                };
                let got = ScalarValue::try_from_array(out, k).unwrap();
                assert_eq!(got, expected, "row {i}");
            }
        }
    }

    #[test]
    fn unknown_calendar_lists_the_known_ones() {
        let err = super::super::test_support::try_invoke(
            BusinessSecondsFunc::new,
            vec![
                ts("2026-03-02T11:00:00Z"),
                ts("2026-03-02T12:00:00Z"),
                utf8("br-rj"),
            ],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown calendar 'br-rj'; known: br-sp, night-ops"),
            "{err}"
        );
    }
}
