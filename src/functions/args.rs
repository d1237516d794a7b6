//! What the business-time functions share: argument coercion, the optional calendar argument,
//! and loops over scalar-or-array timestamp inputs with NULL propagation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::aggregate::{max, min};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, TimeUnit};
use datafusion::common::types::{logical_float64, logical_int64, logical_string, NativeType};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, Signature, TypeSignature, TypeSignatureClass,
    Volatility,
};

use crate::calendar::{BusinessIndex, CalendarError, Unit};

use super::Calendars;

/// The timestamp type every timestamp argument is coerced to, and that functions return.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// What an argument position accepts.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// A timestamp of any unit, with or without zone (without means UTC); dates and strings
    /// are cast.
    Timestamp,
    /// An amount of business time: integer or fractional seconds, or an interval without
    /// month or day parts.
    Amount,
}

/// The parameters of a business-time function: fixed arguments, then an optional calendar name.
///
/// Type checking happens in two steps so that mistakes get this module's messages rather than
/// DataFusion's generic "failed to coerce" error: [`Params::coerce_types`] maps valid arguments to
/// the types the kernels take and passes invalid ones through unchanged, and
/// [`Params::check`], called from `return_type` on the coerced types, rejects what is left.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub name: &'static str,
    pub syntax: &'static str,
    pub fixed: &'static [Arg],
}

impl Params {
    /// The signature: user-defined coercion, plus example signatures (µs UTC timestamps, the
    /// amount types, a text calendar) so the function lists in `SHOW FUNCTIONS` and
    /// `information_schema.parameters`. `Nullary` lets a call without arguments reach
    /// [`Params::check`] and its "takes N arguments" message.
    pub fn signature(&self) -> Signature {
        let timestamp = TypeSignatureClass::Native(Arc::new(NativeType::Timestamp(
            TimeUnit::Microsecond,
            Some(Arc::from("UTC")),
        )));
        let mut examples: Vec<Vec<TypeSignatureClass>> = vec![vec![]];
        for arg in self.fixed {
            let choices = match arg {
                Arg::Timestamp => vec![timestamp.clone()],
                Arg::Amount => vec![
                    TypeSignatureClass::Native(logical_int64()),
                    TypeSignatureClass::Native(logical_float64()),
                    TypeSignatureClass::Interval,
                ],
            };
            examples = examples
                .iter()
                .flat_map(|prefix| {
                    choices.iter().map(move |c| {
                        let mut v = prefix.clone();
                        v.push(c.clone());
                        v
                    })
                })
                .collect();
        }
        let with_calendar = examples.iter().map(|v| {
            let mut v = v.clone();
            v.push(TypeSignatureClass::Native(logical_string()));
            v
        });
        let mut signatures = vec![TypeSignature::UserDefined, TypeSignature::Nullary];
        signatures.extend(
            examples.iter().cloned().chain(with_calendar).map(|v| {
                TypeSignature::Coercible(v.into_iter().map(Coercion::new_exact).collect())
            }),
        );
        Signature::one_of(signatures, Volatility::Immutable)
    }

    /// The types to cast the arguments to; invalid arguments are left as they are for
    /// [`Params::check`] to report.
    pub fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(self.check(types).unwrap_or_else(|_| types.to_vec()))
    }

    /// The types the kernels take for `types`, or a planning error naming the argument, what it
    /// should be, and the function's syntax.
    pub fn check(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(self.name, self.syntax, self.fixed, types)
    }
}

/// Coerce `types` for a function taking `fixed` arguments and an optional calendar name.
pub fn coerce(
    name: &str,
    syntax: &str,
    fixed: &[Arg],
    types: &[DataType],
) -> Result<Vec<DataType>> {
    if types.len() != fixed.len() && types.len() != fixed.len() + 1 {
        return plan_err!(
            "{name} takes {} or {} arguments, {syntax}; got {}",
            fixed.len(),
            fixed.len() + 1,
            types.len()
        );
    }
    let mut out = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        let position = i + 1;
        let coerced = match fixed.get(i) {
            Some(Arg::Timestamp) => match t {
                DataType::Timestamp(_, _)
                | DataType::Date32
                | DataType::Date64
                | DataType::Null
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View => utc_micros(),
                other => {
                    return plan_err!(
                        "{name}: argument {position} must be a timestamp, got {other}; {syntax}"
                    )
                }
            },
            Some(Arg::Amount) => match t {
                t if t.is_integer() => DataType::Int64,
                DataType::Null => DataType::Int64,
                t if t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => {
                    DataType::Float64
                }
                DataType::Interval(_) => {
                    DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano)
                }
                DataType::Duration(_) => DataType::Duration(TimeUnit::Microsecond),
                other => {
                    return plan_err!(
                        "{name}: argument {position} must be seconds (a number) or an interval, got {other}; {syntax}"
                    )
                }
            },
            None => match t {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                    DataType::Utf8
                }
                other => {
                    return plan_err!(
                        "{name}: the calendar argument must be a calendar name (text), got {other}; {syntax}"
                    )
                }
            },
        };
        out.push(coerced);
    }
    Ok(out)
}

/// Convert a calendar error into a DataFusion execution error.
pub fn calendar_err(err: CalendarError) -> datafusion::error::DataFusionError {
    exec_datafusion_err!("{err}")
}

/// A timestamp argument in µs UTC: one value for every row, or an array.
pub enum Instants<'a> {
    Scalar(Option<i64>),
    Array(&'a TimestampMicrosecondArray),
}

impl<'a> Instants<'a> {
    pub fn new(value: &'a ColumnarValue, name: &str) -> Result<Instants<'a>> {
        match value {
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, _)) => {
                Ok(Instants::Scalar(*v))
            }
            ColumnarValue::Scalar(ScalarValue::Null) => Ok(Instants::Scalar(None)),
            ColumnarValue::Array(array) => match array.data_type() {
                DataType::Timestamp(TimeUnit::Microsecond, _) => {
                    Ok(Instants::Array(array.as_primitive()))
                }
                other => exec_err!("{name}: expected a timestamp array, got {other}"),
            },
            ColumnarValue::Scalar(other) => {
                exec_err!("{name}: expected a timestamp, got {}", other.data_type())
            }
        }
    }

    /// The smallest and largest non-NULL instant.
    pub fn span(&self) -> Option<(i64, i64)> {
        match self {
            Instants::Scalar(v) => v.map(|v| (v, v)),
            Instants::Array(a) => Some((min(*a)?, max(*a)?)),
        }
    }

    fn nulls(&self, len: usize) -> Option<NullBuffer> {
        match self {
            Instants::Scalar(Some(_)) => None,
            Instants::Scalar(None) => Some(NullBuffer::new_null(len)),
            Instants::Array(a) => a.nulls().cloned(),
        }
    }

    fn is_null_scalar(&self) -> bool {
        matches!(self, Instants::Scalar(None))
    }
}

/// Combine the spans of several inputs.
pub fn union_span(spans: impl IntoIterator<Item = Option<(i64, i64)>>) -> Option<(i64, i64)> {
    spans
        .into_iter()
        .flatten()
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
}

/// The optional trailing calendar argument.
pub enum CalendarArg<'a> {
    /// No argument: the workspace's default calendar.
    Default,
    /// A literal name for every row.
    Named(String),
    /// A NULL literal: every result is NULL.
    Null,
    /// A column of calendar names.
    PerRow(&'a StringArray),
}

impl<'a> CalendarArg<'a> {
    pub fn new(args: &'a [ColumnarValue], fixed: usize, name: &str) -> Result<CalendarArg<'a>> {
        match args.get(fixed) {
            None => Ok(CalendarArg::Default),
            Some(ColumnarValue::Scalar(s)) => match s {
                ScalarValue::Utf8(Some(v))
                | ScalarValue::LargeUtf8(Some(v))
                | ScalarValue::Utf8View(Some(v)) => Ok(CalendarArg::Named(v.clone())),
                ScalarValue::Utf8(None)
                | ScalarValue::LargeUtf8(None)
                | ScalarValue::Utf8View(None)
                | ScalarValue::Null => Ok(CalendarArg::Null),
                other => exec_err!("{name}: calendar must be text, got {}", other.data_type()),
            },
            Some(ColumnarValue::Array(a)) => match a.as_string_opt::<i32>() {
                Some(strings) => Ok(CalendarArg::PerRow(strings)),
                None => exec_err!("{name}: calendar must be text, got {}", a.data_type()),
            },
        }
    }
}

/// Resolves calendar names to indexes for one batch, growing indexes to cover `span`.
pub struct Resolver<'a> {
    calendars: &'a Calendars,
    span: Option<(i64, i64)>,
    cache: Vec<(String, Arc<BusinessIndex>)>,
}

impl<'a> Resolver<'a> {
    pub fn new(calendars: &'a Calendars, span: Option<(i64, i64)>) -> Resolver<'a> {
        Resolver {
            calendars,
            span,
            cache: Vec::new(),
        }
    }

    /// The index for a calendar name, or for the workspace default when `None`.
    pub fn index(&mut self, name: Option<&str>) -> Result<Arc<BusinessIndex>> {
        let registry = &self.calendars.0;
        let name = registry.resolve(name).map_err(calendar_err)?;
        if let Some((_, index)) = self.cache.iter().find(|(n, _)| n == name) {
            return Ok(Arc::clone(index));
        }
        let index = registry.index(name, self.span).map_err(calendar_err)?;
        self.cache.push((name.to_string(), Arc::clone(&index)));
        Ok(index)
    }
}

/// The hot path of `business_seconds` and `business_hours`: two timestamp columns and one
/// calendar. One pass of the index's column kernel computes business time in `unit` for every
/// row, then `convert` maps it to the result type; `None` (use [`evaluate`]) when the arguments
/// have another shape or a non-NULL row lies outside the index window (which [`evaluate`]
/// grows, or answers exactly by walking days).
pub fn evaluate_span_columns<T: ArrowPrimitiveType>(
    start: &Instants<'_>,
    end: &Instants<'_>,
    calendar: &CalendarArg<'_>,
    calendars: &Calendars,
    data_type: &DataType,
    unit: Unit,
    convert: impl Fn(i64) -> T::Native,
) -> Result<Option<ColumnarValue>> {
    let (Instants::Array(a), Instants::Array(b)) = (start, end) else {
        return Ok(None);
    };
    let name = match calendar {
        CalendarArg::Default => None,
        CalendarArg::Named(name) => Some(name.as_str()),
        CalendarArg::Null | CalendarArg::PerRow(_) => return Ok(None),
    };
    let index = Resolver::new(calendars, None).index(name)?;
    let nulls = NullBuffer::union(a.nulls(), b.nulls()).filter(|n| n.null_count() > 0);
    let (a, b) = (a.values(), b.values());
    let mut amounts = vec![0i64; a.len()];
    if index.spans_into(a, b, unit, &mut amounts) {
        // Some instant is outside the window; it matters only on a row that is not NULL.
        let (lo, hi) = index.window();
        let inside = |i: usize| (lo..=hi).contains(&a[i]) && (lo..=hi).contains(&b[i]);
        let valid_outside = match &nulls {
            None => true,
            Some(valid) => valid.valid_indices().any(|i| !inside(i)),
        };
        if valid_outside {
            return Ok(None);
        }
    }
    let values: Vec<T::Native> = amounts.into_iter().map(convert).collect();
    let array = PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(data_type.clone());
    Ok(Some(ColumnarValue::Array(Arc::new(array))))
}

/// Evaluate a function of one or two instants (and the calendar) over scalars or arrays.
///
/// `f(index, inputs, valid)` computes one row; `valid` is false for rows that will be NULL
/// (their value is ignored, and `f` must not fail on them). A NULL literal anywhere gives a NULL
/// result without evaluating anything.
pub fn evaluate<T: ArrowPrimitiveType>(
    inputs: &[Instants<'_>],
    extra_nulls: Option<NullBuffer>,
    calendar: CalendarArg<'_>,
    calendars: &Calendars,
    args: &ScalarFunctionArgs,
    data_type: DataType,
    f: impl Fn(&BusinessIndex, &[i64], usize, bool) -> Result<T::Native>,
) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = args.number_rows;
    let null_result = || ScalarValue::try_from(&data_type);
    if inputs.iter().any(Instants::is_null_scalar) || matches!(calendar, CalendarArg::Null) {
        return Ok(ColumnarValue::Scalar(null_result()?));
    }
    let len = if all_scalar { 1 } else { rows };
    let span = union_span(inputs.iter().map(Instants::span));
    let mut resolver = Resolver::new(calendars, span);

    let mut nulls = extra_nulls;
    for input in inputs {
        nulls = NullBuffer::union(nulls.as_ref(), input.nulls(len).as_ref());
    }
    if let CalendarArg::PerRow(names) = &calendar {
        nulls = NullBuffer::union(nulls.as_ref(), names.nulls());
    }

    let mut values: Vec<T::Native> = Vec::with_capacity(len);
    let mut row = [0i64; 2];
    let value_at = |input: &Instants<'_>, i: usize| match input {
        Instants::Scalar(v) => v.unwrap_or(0),
        Instants::Array(a) => a.values()[i],
    };
    match &calendar {
        CalendarArg::Default | CalendarArg::Named(_) => {
            let name = match &calendar {
                CalendarArg::Named(name) => Some(name.as_str()),
                _ => None,
            };
            let index = resolver.index(name)?;
            match (inputs, &nulls) {
                // The hot path: two columns, one calendar, no NULLs.
                ([Instants::Array(a), Instants::Array(b)], None) => {
                    for (&x, &y) in a.values().iter().zip(b.values().iter()) {
                        values.push(f(&index, &[x, y], 0, true)?);
                    }
                }
                _ => {
                    for i in 0..len {
                        for (k, input) in inputs.iter().enumerate() {
                            row[k] = value_at(input, i);
                        }
                        let valid = nulls.as_ref().is_none_or(|n| n.is_valid(i));
                        values.push(f(&index, &row[..inputs.len()], i, valid)?);
                    }
                }
            }
        }
        CalendarArg::PerRow(names) => {
            for i in 0..len {
                for (k, input) in inputs.iter().enumerate() {
                    row[k] = value_at(input, i);
                }
                let valid = nulls.as_ref().is_none_or(|n| n.is_valid(i));
                if !valid {
                    values.push(T::Native::default());
                    continue;
                }
                let index = resolver.index(Some(names.value(i)))?;
                values.push(f(&index, &row[..inputs.len()], i, true)?);
            }
        }
        // Answered with a NULL scalar before the loop.
        CalendarArg::Null => {}
    }
    let array = PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(data_type);
    if all_scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?));
    }
    Ok(ColumnarValue::Array(Arc::new(array) as ArrayRef))
}
