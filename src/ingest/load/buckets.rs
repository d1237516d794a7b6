//! Bucket files: the rows of a query split by key into `n` buckets in one pass, each bucket
//! an Arrow IPC file in the staging folder, read back one bucket at a time. This is how a large
//! run works chunk by chunk: every row is read once and written to its bucket, and each chunk
//! reads only its own bucket of the input and of the stored table.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::stage::GroupedFiles;
use super::{io, query, IngestError};
use crate::ingest::bucket;

/// Rows a bucket file's batches hold, at least (but its last).
const BATCH_ROWS: usize = 8_192;

/// The buckets of one query's rows.
pub(super) struct Buckets {
    /// The schema of the rows.
    pub(super) schema: SchemaRef,
    /// One file per bucket, none when the bucket has no rows.
    files: Vec<Option<PathBuf>>,
}

fn arrow(context: &str) -> impl FnOnce(ArrowError) -> IngestError + '_ {
    move |e| query(context)(DataFusionError::from(e))
}

/// `schema` with dictionary-encoded columns (such as a Delta table's partition values) as
/// plain ones: an IPC file holds one dictionary per column, and batches bring their own.
fn plain_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => {
                f.as_ref().clone().with_data_type(value.as_ref().clone())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `batch` with the columns of `schema` (see [`plain_schema`]).
fn plain(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// The columns `key` of `batch`.
fn key_columns(batch: &RecordBatch, key: &[&str]) -> Result<Vec<ArrayRef>, IngestError> {
    key.iter()
        .map(|k| {
            batch.column_by_name(k).cloned().ok_or_else(|| {
                arrow("splitting rows by key")(ArrowError::SchemaError(format!(
                    "no key column {k}"
                )))
            })
        })
        .collect()
}

/// The hashes of the keys (columns `key`) of the rows of `batch` (see [`bucket::hashes`]).
pub(super) fn batch_key_hashes(batch: &RecordBatch, key: &[&str]) -> Result<Vec<u64>, IngestError> {
    bucket::hashes(&key_columns(batch, key)?).map_err(query("hashing keys"))
}

/// The hashes of the keys of every row of `sql`'s result (see [`bucket::hashes`]).
pub(super) async fn key_hashes(
    ctx: &SessionContext,
    sql: &str,
    key: &[&str],
) -> Result<Vec<u64>, IngestError> {
    let df = ctx.sql(sql).await.map_err(query("planning a step"))?;
    let mut stream = df.execute_stream().await.map_err(query("running a step"))?;
    let mut all = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(query("running a step"))?;
        all.extend(batch_key_hashes(&batch, key)?);
    }
    Ok(all)
}

impl Buckets {
    /// Run `sql` and split its rows into `n` buckets by the columns `key`, in files of `dir`.
    pub(super) async fn split(
        ctx: &SessionContext,
        sql: &str,
        key: &[&str],
        n: u64,
        dir: &Path,
    ) -> Result<Buckets, IngestError> {
        Buckets::split_routed(ctx, sql, key, n, dir, |batch, hashes| {
            Ok(Some((batch, hashes)))
        })
        .await
    }

    /// [`Buckets::split`], with each batch first handed to `route` with the hashes of its keys
    /// (see [`bucket::hashes`]): it returns the rows to split (and their hashes), if any.
    pub(super) async fn split_routed(
        ctx: &SessionContext,
        sql: &str,
        key: &[&str],
        n: u64,
        dir: &Path,
        mut route: impl FnMut(
            RecordBatch,
            Vec<u64>,
        ) -> Result<Option<(RecordBatch, Vec<u64>)>, IngestError>,
    ) -> Result<Buckets, IngestError> {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let df = ctx.sql(sql).await.map_err(query("planning a step"))?;
        let schema = plain_schema(df.schema().as_arrow());
        let mut stream = df.execute_stream().await.map_err(query("running a step"))?;
        let n = n.max(1) as usize;
        let mut writers: Vec<Option<FileWriter<BufWriter<File>>>> = (0..n).map(|_| None).collect();
        let mut files: Vec<Option<PathBuf>> = vec![None; n];
        // Rows wait per bucket until a batch's worth is there: a file of many tiny batches is
        // slow to write and to read back.
        let mut pending: Vec<(Vec<RecordBatch>, usize)> = (0..n).map(|_| (Vec::new(), 0)).collect();
        let mut flush = |b: usize, batches: Vec<RecordBatch>| -> Result<(), IngestError> {
            let Some(first) = batches.first() else {
                return Ok(());
            };
            let batch =
                concat_batches(&first.schema(), &batches).map_err(arrow("writing a bucket"))?;
            let writer = match &mut writers[b] {
                Some(writer) => writer,
                None => {
                    let path = dir.join(format!("bucket-{b:05}.arrow"));
                    let file = File::create(&path)
                        .map_err(io(format!("cannot create {}", path.display())))?;
                    files[b] = Some(path);
                    writers[b].insert(
                        FileWriter::try_new(BufWriter::new(file), &batch.schema())
                            .map_err(arrow("writing a bucket"))?,
                    )
                }
            };
            writer.write(&batch).map_err(arrow("writing a bucket"))
        };
        let mut write = |b: usize, batch: RecordBatch| -> Result<(), IngestError> {
            if batch.num_rows() == 0 {
                return Ok(());
            }
            let (batches, rows) = &mut pending[b];
            *rows += batch.num_rows();
            batches.push(batch);
            if *rows >= BATCH_ROWS {
                *rows = 0;
                flush(b, std::mem::take(batches))?;
            }
            Ok(())
        };
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(query("running a step"))?;
            let batch = plain(&schema, batch).map_err(arrow("reading rows"))?;
            let hashes = batch_key_hashes(&batch, key)?;
            let Some((batch, hashes)) = route(batch, hashes)? else {
                continue;
            };
            if n == 1 {
                write(0, batch)?;
                continue;
            }
            let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
            for (i, h) in hashes.into_iter().enumerate() {
                rows[bucket::bucket(h, n as u64) as usize].push(i as u32);
            }
            for (b, rows) in rows.into_iter().enumerate() {
                if !rows.is_empty() {
                    let part = take_record_batch(&batch, &UInt32Array::from(rows))
                        .map_err(arrow("splitting rows by key"))?;
                    write(b, part)?;
                }
            }
        }
        for (b, (batches, _)) in pending.into_iter().enumerate() {
            flush(b, batches)?;
        }
        for writer in writers.iter_mut().flatten() {
            writer.finish().map_err(arrow("writing a bucket"))?;
        }
        Ok(Buckets { schema, files })
    }

    /// How many buckets there are.
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }

    /// The rows of bucket `b`, as one batch (none when it has no rows). The file goes once read.
    pub(super) fn take(&self, b: usize) -> Result<Option<RecordBatch>, IngestError> {
        let Some(path) = self.files.get(b).and_then(Option::as_ref) else {
            return Ok(None);
        };
        let file = File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
        let reader =
            FileReader::try_new(BufReader::new(file), None).map_err(arrow("reading a bucket"))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(arrow("reading a bucket"))?;
        let batch = concat_batches(&schema, &batches).map_err(arrow("reading a bucket"))?;
        drop(batches);
        std::fs::remove_file(path).map_err(io(format!("cannot remove {}", path.display())))?;
        Ok(Some(batch))
    }
}

/// The rows of a step's input, bucket by bucket: split into bucket files, or straight from the
/// staged files grouped by bucket (their columns given, or all).
pub(super) enum Bucketed<'a> {
    Split(Buckets),
    Staged(&'a GroupedFiles, Option<&'a [&'a str]>),
}

impl Bucketed<'_> {
    /// The rows of bucket `b`, as one batch (none when it has no rows).
    pub(super) fn take(&self, b: usize) -> Result<Option<RecordBatch>, IngestError> {
        match self {
            Bucketed::Split(buckets) => buckets.take(b),
            Bucketed::Staged(files, columns) => files.take(b, *columns),
        }
    }
}
