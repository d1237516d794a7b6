//! `kpi_bucket(n, key…)`: which of `n` chunks a key falls in, so that an ingest run can
//! reconcile a large input chunk by chunk (see `load`). Registered in ingest sessions only.
//!
//! The key's columns are hashed as text, so a key read as `Utf8` from staging and as another
//! string type from a stored table lands in the same chunk. Buckets need only agree within one
//! run; they are never stored.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub const NAME: &str = "kpi_bucket";

#[derive(Debug, PartialEq, Eq, Hash)]
struct BucketFunc {
    signature: Signature,
}

/// The `kpi_bucket` function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(BucketFunc {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

impl ScalarUDFImpl for BucketFunc {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(n)))) if *n > 0 => *n as u64,
            _ => return exec_err!("{NAME}(n, key…) needs a positive BIGINT literal n"),
        };
        if args.args.len() < 2 {
            return exec_err!("{NAME}(n, key…) needs at least one key column");
        }
        let rows = args.number_rows;
        let keys = args.args[1..]
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let buckets: Int64Array = buckets(&keys, n)?
            .into_iter()
            .map(|b| Some(b as i64))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(buckets)))
    }
}

/// Which of `n` chunks the key of each row of `keys` (its columns) falls in.
pub fn buckets(keys: &[ArrayRef], n: u64) -> Result<Vec<u64>> {
    Ok(hashes(keys)?.into_iter().map(|h| h % n.max(1)).collect())
}

/// A 64-bit hash of the key of each row of `keys` (its columns), the same whatever string type
/// holds them.
pub fn hashes(keys: &[ArrayRef]) -> Result<Vec<u64>> {
    let rows = keys.first().map_or(0, |k| k.len());
    let keys = keys
        .iter()
        .map(|k| cast(k, &DataType::Utf8).map_err(Into::into))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let mut hashes = vec![0u64; rows];
    create_hashes(&keys, &RandomState::with_seed(0), &mut hashes)?;
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, LargeStringArray, StringArray};
    use datafusion::arrow::datatypes::{Field, Int64Type};
    use datafusion::common::config::ConfigOptions;

    use super::*;

    fn buckets(n: i64, keys: Vec<ArrayRef>) -> Vec<i64> {
        let rows = keys[0].len();
        let mut args = vec![ColumnarValue::Scalar(ScalarValue::Int64(Some(n)))];
        args.extend(keys.iter().cloned().map(ColumnarValue::Array));
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let out = udf()
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("b", DataType::Int64, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(rows)
            .unwrap();
        out.as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn string_types_agree_and_buckets_spread() {
        let ids: Vec<String> = (0..1000).map(|i| format!("T-{i}")).collect();
        let utf8: ArrayRef = Arc::new(StringArray::from(ids.clone()));
        let large: ArrayRef = Arc::new(LargeStringArray::from(ids));
        let a = buckets(7, vec![Arc::clone(&utf8)]);
        assert_eq!(a, buckets(7, vec![large]));
        assert!(a.iter().all(|b| (0..7).contains(b)));
        for b in 0..7 {
            let share = a.iter().filter(|&&x| x == b).count();
            assert!(
                (80..220).contains(&share),
                "bucket {b} holds {share} of 1000"
            );
        }
        let system: ArrayRef = Arc::new(StringArray::from(vec!["zendesk"; 1000]));
        assert_ne!(a, buckets(7, vec![utf8, system]), "every key column counts");
    }
}
