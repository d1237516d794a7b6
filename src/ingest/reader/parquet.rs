//! Parquet exports: the mapped columns of each batch cast to text, the way the other formats
//! arrive (timestamps with a zone in RFC 3339, naive ones as wall times read with the source's
//! zone, numbers in decimal). A row's "line" is its record number.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use super::{Layout, ReadError, TextBatch};

/// Rows per batch read from a Parquet file.
const BATCH_ROWS: usize = 8192;

pub(super) struct Batches {
    batches: ParquetRecordBatchReader,
    records: u64,
    /// The file's size and rows, to report progress as a share of its bytes.
    size: u64,
    total: u64,
    bytes: Arc<AtomicU64>,
}

impl Batches {
    /// The batches of `path` and its column names.
    pub fn open(path: &Path, bytes: Arc<AtomicU64>) -> Result<(Batches, Vec<String>), ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let format_error = |e: &dyn std::fmt::Display| ReadError::Format {
            path: path.to_path_buf(),
            message: format!("not a readable Parquet file: {e}"),
        };
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format_error(&e))?;
        let headers = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let total = builder.metadata().file_metadata().num_rows().max(1) as u64;
        let batches = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| format_error(&e))?;
        let batches = Batches {
            batches,
            records: 0,
            size,
            total,
            bytes,
        };
        Ok((batches, headers))
    }

    /// The next batch's mapped columns, as text.
    pub fn next(&mut self, layout: &Layout) -> Result<Option<TextBatch>, String> {
        let Some(batch) = self.batches.next().transpose().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let text = |i: usize| -> Result<StringArray, String> {
            let text = cast(batch.column(i), &DataType::Utf8).map_err(|e| e.to_string())?;
            Ok(text.as_string::<i32>().clone())
        };
        let columns = layout
            .columns
            .iter()
            .map(|(parts, join)| match parts.as_slice() {
                [i] => text(*i),
                _ => {
                    let parts = parts
                        .iter()
                        .map(|&i| text(i))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((0..batch.num_rows())
                        .map(|row| {
                            Layout::combine(
                                parts.iter().map(|p| p.is_valid(row).then(|| p.value(row))),
                                join,
                            )
                        })
                        .collect())
                }
            })
            .collect::<Result<Vec<StringArray>, String>>()?;
        let first = self.records + 1;
        self.records += batch.num_rows() as u64;
        let share = u128::from(self.size) * u128::from(self.records.min(self.total))
            / u128::from(self.total);
        self.bytes.store(share as u64, Ordering::Relaxed);
        Ok(Some(TextBatch {
            lines: (first..=self.records).collect(),
            columns,
            malformed: Vec::new(),
        }))
    }
}
