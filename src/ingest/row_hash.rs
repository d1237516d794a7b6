//! The content hash of a list of values — the deterministic tie-break
//! between two versions of one key, and the id of an event derived from snapshots.
//!
//! Each value is read as its SQL text (`CAST(… AS VARCHAR)`) and written as its length in
//! characters, `:` and the text (a NULL as a bare `:`); the fields are joined by `|`, so no two
//! different lists of values share an input. The hash is the MD5 of that text in lowercase hex:
//! the same as SQL's `md5(concat(character_length(v), ':', v, '|', …))` (`concat` skips NULLs),
//! so ids stored by earlier versions, which computed it that way, stay the same.

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::{cast_with_options, concat};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::format::DEFAULT_CAST_OPTIONS;
use datafusion::common::Result;
use md5::{Digest, Md5};

/// The hash of each row of `columns` (all of `rows` rows).
pub fn hashes(columns: &[ArrayRef], rows: usize) -> Result<StringArray> {
    let texts = columns
        .iter()
        .map(|c| cast_with_options(c, &DataType::Utf8, &DEFAULT_CAST_OPTIONS).map_err(Into::into))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let texts: Vec<&StringArray> = texts.iter().map(|t| t.as_string::<i32>()).collect();
    let mut out = StringBuilder::with_capacity(rows, rows * 32);
    let mut length = String::new();
    let mut hex = String::with_capacity(32);
    for row in 0..rows {
        let mut md5 = Md5::new();
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                md5.update(b"|");
            }
            if text.is_null(row) {
                md5.update(b":");
                continue;
            }
            let value = text.value(row);
            length.clear();
            let _ = write!(length, "{}:", value.chars().count());
            md5.update(length.as_bytes());
            md5.update(value.as_bytes());
        }
        hex.clear();
        for byte in md5.finalize().iter() {
            let _ = write!(hex, "{byte:02x}");
        }
        out.append_value(&hex);
    }
    Ok(out.finish())
}

/// [`hashes`] on `threads` threads, each hashing a slice of the rows.
pub fn hashes_on(columns: &[ArrayRef], rows: usize, threads: usize) -> Result<StringArray> {
    let part = rows.div_ceil(threads.max(1)).max(1);
    if part >= rows {
        return hashes(columns, rows);
    }
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..rows)
            .step_by(part)
            .map(|start| {
                let len = part.min(rows - start);
                let slices: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, len)).collect();
                scope.spawn(move || hashes(&slices, len))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hashing does not panic"))
            .collect::<Result<Vec<_>>>()
    })?;
    let parts: Vec<&dyn Array> = parts.iter().map(|p| p as &dyn Array).collect();
    Ok(concat(&parts)?.as_string::<i32>().clone())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int32Array, RecordBatch, TimestampMicrosecondArray};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The function agrees with the SQL it replaces, on every type the tables hold, NULLs and
    /// text whose length in characters differs from its length in bytes.
    #[tokio::test]
    async fn agrees_with_md5_of_length_prefixed_text() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("é|x"),
            Some(""),
            Some("1:2"),
        ]));
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1_767_225_600_000_000),
            Some(1_767_225_600_123_456),
            None,
            Some(0),
            Some(-1),
        ]));
        let int: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(3),
            None,
            Some(-7),
            Some(0),
            None,
        ]));
        let columns = [Arc::clone(&text), Arc::clone(&ts), Arc::clone(&int)];
        let batch = RecordBatch::try_from_iter([("t", text), ("ts", ts), ("n", int)]).unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("v", batch).unwrap();
        let part = |c: &str| {
            format!("coalesce(concat(character_length(CAST({c} AS VARCHAR)), ':', CAST({c} AS VARCHAR)), '-')")
        };
        let sql = format!(
            "SELECT md5(concat({}, '|', {}, '|', {})) FROM v",
            part("t"),
            part("ts"),
            part("n"),
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let expected =
            cast_with_options(batches[0].column(0), &DataType::Utf8, &DEFAULT_CAST_OPTIONS)
                .unwrap();
        assert_eq!(&hashes(&columns, 5).unwrap(), expected.as_string::<i32>());
        assert_eq!(
            hashes_on(&columns, 5, 2).unwrap(),
            hashes(&columns, 5).unwrap()
        );
        let one = hashes(&columns[..1], 5).unwrap();
        assert_eq!(
            one.value(0),
            "2c1119fadf9f513c490c9a39716a9985",
            "md5 of 1:a"
        );
        assert_eq!(one.value(1), "853ae90f0351324bd73ea615e6487517", "md5 of :");
    }
}
