//! A step's output, bucket by bucket: the rows of several buckets computed at once on the
//! run's threads and written in bucket order, so that the files do not depend on the threads,
//! while the next buckets are computed.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use super::reconcile::WRITE_ROW_GROUP;
use super::{io, query, IngestError};

/// Compute the rows of each bucket `b` of `n` with `part(b, threads)`, one list of batches per
/// output, and write them into the file `name` of each output's folder (with its schema).
///
/// With at least `threads` buckets, `threads` of them are computed at once, each given one
/// thread for its own work; otherwise one at a time with every thread. Either way a bucket's
/// rows are written once the buckets before it are, so the output is the same whatever
/// `threads` is. Memory holds the buckets being computed and those being written.
pub(super) fn write_parts<const K: usize>(
    n: usize,
    threads: usize,
    name: &str,
    outputs: [(&Path, &SchemaRef); K],
    part: impl Fn(usize, usize) -> Result<[Vec<RecordBatch>; K], IngestError> + Sync,
) -> Result<(), IngestError> {
    let threads = threads.max(1);
    let (at_once, inner) = if threads > 1 && n >= threads {
        (threads, 1)
    } else {
        (1, threads)
    };
    let mut writers: [Option<PartWriter>; K] = std::array::from_fn(|_| None);
    let mut write = |rows: [Vec<RecordBatch>; K]| -> Result<(), IngestError> {
        for (k, batches) in rows.into_iter().enumerate() {
            let (dir, schema) = outputs[k];
            for batch in batches.iter().filter(|b| b.num_rows() > 0) {
                PartWriter::open(&mut writers[k], dir, name, Arc::clone(schema))?.write(batch)?;
            }
        }
        Ok(())
    };
    let mut computed: Vec<[Vec<RecordBatch>; K]> = Vec::new();
    for first in (0..n).step_by(at_once) {
        computed = std::thread::scope(|s| {
            let part = &part;
            let work: Vec<_> = (first..(first + at_once).min(n))
                .map(|b| s.spawn(move || part(b, inner)))
                .collect();
            // The buckets before these are written while these are computed.
            let written = computed.drain(..).try_for_each(&mut write);
            let results = work
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>, _>>();
            written.and(results)
        })?;
    }
    computed.into_iter().try_for_each(&mut write)?;
    for writer in writers.into_iter().flatten() {
        writer.finish()?;
    }
    Ok(())
}

/// A step's output (a plan, derived rows): one Parquet file of a folder, written batch by
/// batch, created with the first row.
pub(super) struct PartWriter {
    writer: ArrowWriter<File>,
}

impl PartWriter {
    /// The writer in `out`, or a new one of the file `name` in `dir`.
    pub(super) fn open<'a>(
        out: &'a mut Option<PartWriter>,
        dir: &Path,
        name: &str,
        schema: SchemaRef,
    ) -> Result<&'a mut PartWriter, IngestError> {
        if let Some(writer) = out {
            return Ok(writer);
        }
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let path = dir.join(name);
        let file = File::create(&path).map_err(io(format!("cannot create {}", path.display())))?;
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(WRITE_ROW_GROUP))
            .set_dictionary_enabled(false)
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| query("writing a step's rows")(e.into()))?;
        Ok(out.insert(PartWriter { writer }))
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), IngestError> {
        self.writer
            .write(batch)
            .map_err(|e| query("writing a step's rows")(e.into()))
    }

    pub(super) fn finish(self) -> Result<(), IngestError> {
        self.writer
            .close()
            .map(|_| ())
            .map_err(|e| query("writing a step's rows")(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read(path: &Path) -> Vec<i64> {
        let file = File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        reader
            .flat_map(|b| {
                let b = b.unwrap();
                let c = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..c.len()).map(|i| c.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn buckets_are_written_in_order_whatever_the_threads() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let dir = tempfile::tempdir().unwrap();
        for threads in [1, 2, 3, 8] {
            let (a, b) = (
                dir.path().join(format!("a{threads}")),
                dir.path().join(format!("b{threads}")),
            );
            write_parts(
                7,
                threads,
                "part.parquet",
                [(&a, &schema), (&b, &schema)],
                |bucket, _| {
                    // Uneven work, so later buckets may finish first.
                    std::thread::sleep(std::time::Duration::from_millis(((7 - bucket) * 3) as u64));
                    let rows = |offset: i64| {
                        let values: Vec<i64> = (0..bucket as i64)
                            .map(|i| offset + 10 * bucket as i64 + i)
                            .collect();
                        RecordBatch::try_new(
                            Arc::clone(&schema),
                            vec![Arc::new(Int64Array::from(values))],
                        )
                        .unwrap()
                    };
                    Ok([vec![rows(0)], vec![rows(1000), rows(2000)]])
                },
            )
            .unwrap();
            let expected: Vec<i64> = (0..7)
                .flat_map(|b| (0..b).map(move |i| 10 * b + i))
                .collect();
            assert_eq!(read(&a.join("part.parquet")), expected, "{threads} threads");
            let second: Vec<i64> = (0..7)
                .flat_map(|b| {
                    (0..b)
                        .map(move |i| 1000 + 10 * b + i)
                        .chain((0..b).map(move |i| 2000 + 10 * b + i))
                })
                .collect();
            assert_eq!(read(&b.join("part.parquet")), second, "{threads} threads");
        }
    }

    #[test]
    fn an_error_in_a_bucket_is_the_step_s_error() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let dir = tempfile::tempdir().unwrap();
        let result = write_parts(
            5,
            2,
            "part.parquet",
            [(dir.path(), &schema)],
            |bucket, _| {
                if bucket == 3 {
                    return Err(io("bucket 3")(std::io::Error::other("failed")));
                }
                Ok([Vec::new()])
            },
        );
        assert!(result.unwrap_err().to_string().contains("bucket 3"));
    }
}
