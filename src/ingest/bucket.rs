//! Key hashes: which of `n` buckets a key falls in, so that an ingest run can reconcile a
//! large input bucket by bucket (see `load`), and the 64-bit hash that finds repeated keys.
//!
//! The key's columns are hashed as text, so a key read as `Utf8` from staging and as another
//! string type from a stored table has the same hash. Hashes need only agree within one run;
//! they are never stored.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::Result;

/// Which of `n` buckets a key with the hash `hash` falls in.
pub fn bucket(hash: u64, n: u64) -> u64 {
    hash % n.max(1)
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
    use std::sync::Arc;

    use datafusion::arrow::array::{LargeStringArray, StringArray};

    use super::*;

    fn buckets(keys: &[ArrayRef], n: u64) -> Result<Vec<u64>> {
        Ok(hashes(keys)?.into_iter().map(|h| bucket(h, n)).collect())
    }

    #[test]
    fn string_types_agree_and_buckets_spread() {
        let ids: Vec<String> = (0..1000).map(|i| format!("T-{i}")).collect();
        let utf8: ArrayRef = Arc::new(StringArray::from(ids.clone()));
        let large: ArrayRef = Arc::new(LargeStringArray::from(ids));
        let a = buckets(&[Arc::clone(&utf8)], 7).unwrap();
        assert_eq!(a, buckets(&[large], 7).unwrap());
        assert!(a.iter().all(|b| (0..7).contains(b)));
        for b in 0..7 {
            let share = a.iter().filter(|&&x| x == b).count();
            assert!(
                (80..220).contains(&share),
                "bucket {b} holds {share} of 1000"
            );
        }
        let system: ArrayRef = Arc::new(StringArray::from(vec!["zendesk"; 1000]));
        assert_ne!(
            a,
            buckets(&[utf8, system], 7).unwrap(),
            "every key column counts"
        );
    }
}
