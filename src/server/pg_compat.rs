//! The few PostgreSQL functions that BI tools and drivers call while they look around, beyond
//! what datafusion-postgres' `pg_catalog` provides: `version()` as clients parse it,
//! `to_regtype`, and the catalog helpers SQLAlchemy's inspector uses. Each answers as
//! PostgreSQL would for a database without sequences, collations or extension types.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, visit_relations, Expr, Query, Statement, Value,
};

/// `statement` with each scalar subquery that reads only `pg_catalog` tables replaced by NULL;
/// `None` when it has none. Drivers' catalog queries (SQLAlchemy's `get_columns`, for one)
/// look up column defaults, identity options and collations with correlated subqueries,
/// which DataFusion cannot plan; this database has none of those, so NULL is their answer.
pub(super) fn without_catalog_subqueries(statement: &Statement) -> Option<Statement> {
    let mut rewritten = statement.clone();
    let mut changed = false;
    let _ = visit_expressions_mut(&mut rewritten, |expr| {
        if let Expr::Subquery(query) = expr {
            if reads_only_catalog(query) {
                *expr = Expr::Value(Value::Null.with_empty_span());
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed.then_some(rewritten)
}

/// Whether a query reads tables, all of them `pg_catalog`'s.
fn reads_only_catalog(query: &Query) -> bool {
    let mut tables = 0;
    let mut others = 0;
    let _ = visit_relations(query, |name| {
        tables += 1;
        let parts: Vec<String> = name.0.iter().map(|p| p.to_string()).collect();
        let catalog = match parts.as_slice() {
            [schema, _] => schema == "pg_catalog",
            [table] => table.starts_with("pg_"),
            _ => false,
        };
        if !catalog {
            others += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    tables > 0 && others == 0
}

/// Register the functions in a connection's session.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(version_function());
    ctx.register_udf(to_regtype_function());
    // No column is fed by a sequence.
    ctx.register_udf(constant(
        "pg_get_serial_sequence",
        2,
        ScalarValue::Utf8(None),
    ));
    // The one (default) collation is visible.
    ctx.register_udf(constant(
        "pg_collation_is_visible",
        1,
        ScalarValue::Boolean(Some(true)),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
}

/// `json_build_object(key, value, …)`: a JSON object as text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

/// A value as JSON: numbers and booleans as they are, NULL as null, anything else a string.
fn json_value(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value;
    if value.is_null() {
        return Value::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_) => {
            serde_json::from_str(&value.to_string()).unwrap_or(Value::String(value.to_string()))
        }
        other => Value::String(other.to_string()),
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return datafusion::common::exec_err!(
                "json_build_object takes pairs of keys and values"
            );
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = datafusion::arrow::array::StringBuilder::new();
        for row in 0..rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                let key = match key {
                    ScalarValue::Utf8(Some(k)) | ScalarValue::LargeUtf8(Some(k)) => k,
                    other => other.to_string(),
                };
                object.insert(key, json_value(&value));
            }
            out.append_value(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// A function of `arity` arguments of any type that always answers `value`.
fn constant(name: &'static str, arity: usize, value: ScalarValue) -> ScalarUDF {
    ScalarUDF::new_from_impl(Constant {
        name,
        signature: Signature::any(arity, Volatility::Immutable),
        value,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    signature: Signature,
    value: ScalarValue,
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(
        &self,
        _args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// The version PostgreSQL clients parse (SQLAlchemy, for one, reads `select version()`), then
/// what actually answers.
pub(super) const VERSION: &str = concat!(
    "PostgreSQL 16.6 (kpi ",
    env!("CARGO_PKG_VERSION"),
    ", Apache DataFusion 55)"
);

/// `version()`, as PostgreSQL clients expect it.
fn version_function() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::from(VERSION)))),
    )
}

/// `to_regtype(name)`: the OID of a built-in type the server serves, else NULL (as for a type
/// that does not exist). Drivers ask for it to detect extension types such as hstore.
fn to_regtype_function() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::cast::as_string_array;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    const TYPES: [(&str, i32); 17] = [
        ("bool", 16),
        ("boolean", 16),
        ("int2", 21),
        ("int4", 23),
        ("integer", 23),
        ("int8", 20),
        ("bigint", 20),
        ("float4", 700),
        ("float8", 701),
        ("numeric", 1700),
        ("text", 25),
        ("varchar", 1043),
        ("date", 1082),
        ("timestamp", 1114),
        ("timestamptz", 1184),
        ("interval", 1186),
        ("json", 114),
    ];
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names: &StringArray = as_string_array(&arrays[0])?;
            let oids: Int32Array = (0..names.len())
                .map(|i| {
                    let name = names
                        .is_valid(i)
                        .then(|| names.value(i).to_ascii_lowercase())?;
                    TYPES.iter().find(|(n, _)| *n == name).map(|(_, oid)| *oid)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(oids)))
        }),
    )
}
