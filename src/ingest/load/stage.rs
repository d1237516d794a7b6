//! Staging: the export files through their mapping into Parquet files of canonical rows in
//! the run's staging folder, with the file and line of each row, and the rejected rows beside
//! them.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::RecordBatchReader;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::compute::{concat_batches, interleave_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::arrow::{ArrowWriter, ProjectionMask};
use datafusion::parquet::file::properties::WriterProperties;

use super::buckets::batch_key_hashes;
use super::reconcile::buckets_for;
use super::{io, query, FileReport, IngestError, Options, Progress};
use crate::config::{Shape, SourceMapping};
use crate::ingest::bucket;
use crate::ingest::mapper::Mapper;
use crate::ingest::reader::{split, BatchReader, Header, Range};
use crate::ingest::records::{attributes_schema, snapshots_schema};
use crate::ingest::stream::{self, FileStats, Output, StreamError};
use crate::tables::{QUARANTINE, TICKETS, TICKET_EVENTS};

/// The relation names of one run's staged files.
pub(super) const STAGED: &str = "staged";
pub(super) const STAGED_ATTRIBUTES: &str = "staged_attributes";
/// Whether `dir` exists and holds anything (a query that wrote no rows may leave no file).
pub(super) fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// `schema` with the input file and line of each row appended.
pub(super) fn with_lines(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("_file", DataType::Utf8, false));
    fields.push(Field::new("_line", DataType::UInt64, false));
    Arc::new(Schema::new(fields))
}

pub(super) fn attach_lines(
    batch: RecordBatch,
    file: &str,
    lines: Vec<u64>,
) -> Result<RecordBatch, DataFusionError> {
    let n = batch.num_rows();
    let schema = with_lines(&batch.schema());
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![file; n])));
    columns.push(Arc::new(UInt64Array::from(lines)));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The staging folder of one run.
pub(super) struct Stage {
    pub(super) dir: PathBuf,
}

impl Stage {
    pub(super) fn new(dir: PathBuf) -> Result<Stage, IngestError> {
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        Ok(Stage { dir })
    }
}

/// Rows per Parquet row group in staging: bounds each writer's memory. (Staging in Parquet
/// rather than Arrow IPC: the reconciliation's SQL then knows the row counts, and its peak
/// memory stays about 1 GB lower on 1M tickets.)
const STAGE_ROW_GROUP: usize = 65_536;

/// Rows a grouping writer holds before it writes them, a row group per bucket.
const GROUPED_ROWS: usize = 131_072;

/// Staged rows of one kind from one task: a Parquet file, written batch by batch, created with
/// the first row.
struct Writer {
    path: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
    /// When the rows are grouped by bucket of ticket: the rows waiting and their buckets.
    grouping: Option<Grouping>,
    /// When the rows' keys are hashed as they are written: the key's columns, and the hashes
    /// so far ([`bucket::hashes`]).
    keys: Option<(&'static [&'static str], Vec<u64>)>,
}

/// The rows a grouping writer holds, with the bucket of ticket of each ([`TICKETS`]'s key, of
/// `n` buckets), and the bucket of each row group it wrote.
struct Grouping {
    n: u64,
    /// The rows held, and the bucket of each.
    pending: Vec<(RecordBatch, Vec<u32>)>,
    rows: usize,
    groups: Vec<u64>,
}

impl Writer {
    fn new(path: PathBuf, schema: SchemaRef) -> Writer {
        Writer {
            path,
            schema,
            writer: None,
            rows: 0,
            grouping: None,
            keys: None,
        }
    }

    /// This writer, hashing the keys (columns `key`) of the rows it writes.
    fn hashing(self, key: Option<&'static [&'static str]>) -> Writer {
        Writer {
            keys: key.map(|key| (key, Vec::new())),
            ..self
        }
    }

    /// A writer whose file holds its rows grouped into `buckets` buckets of ticket: each row
    /// group holds rows of one bucket.
    fn grouped(path: PathBuf, schema: SchemaRef, buckets: u64) -> Writer {
        Writer {
            grouping: Some(Grouping {
                n: buckets.max(1),
                pending: Vec::new(),
                rows: 0,
                groups: Vec::new(),
            }),
            ..Writer::new(path, schema)
        }
    }

    /// The file's writer, created at the first call.
    fn writer(&mut self) -> Result<&mut ArrowWriter<File>, DataFusionError> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let file = File::create(&self.path)?;
                // Plain values: staged files are read once, soon, from the same disk, and
                // building dictionaries costs more than the bytes they save.
                let props = WriterProperties::builder()
                    .set_max_row_group_row_count(Some(STAGE_ROW_GROUP))
                    .set_dictionary_enabled(false)
                    .build();
                ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(props))?
            }
        };
        Ok(self.writer.insert(writer))
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataFusionError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        let key_hashes =
            |key| batch_key_hashes(batch, key).map_err(|e| DataFusionError::External(Box::new(e)));
        if let Some((key, hashes)) = &mut self.keys {
            hashes.extend(key_hashes(key)?);
        }
        let Some(grouping) = &mut self.grouping else {
            return self.writer()?.write(batch).map_err(Into::into);
        };
        let buckets = key_hashes(TICKETS.key)?
            .into_iter()
            .map(|h| bucket::bucket(h, grouping.n) as u32)
            .collect();
        grouping.pending.push((batch.clone(), buckets));
        grouping.rows += batch.num_rows();
        if grouping.rows >= GROUPED_ROWS {
            self.write_groups()?;
        }
        Ok(())
    }

    /// Write the rows a grouping writer holds in bucket order, a row group (or more, when
    /// large) per bucket.
    fn write_groups(&mut self) -> Result<(), DataFusionError> {
        let Some(mut grouping) = self.grouping.take() else {
            return Ok(());
        };
        let pending = std::mem::take(&mut grouping.pending);
        if !pending.is_empty() {
            // A counting sort of the rows by bucket, then one copy in that order.
            let mut starts = vec![0usize; grouping.n as usize + 1];
            for (_, buckets) in &pending {
                for &b in buckets {
                    starts[b as usize + 1] += 1;
                }
            }
            for b in 1..starts.len() {
                starts[b] += starts[b - 1];
            }
            let mut at = starts.clone();
            let mut order = vec![(0, 0); grouping.rows];
            for (i, (_, buckets)) in pending.iter().enumerate() {
                for (row, &b) in buckets.iter().enumerate() {
                    order[at[b as usize]] = (i, row);
                    at[b as usize] += 1;
                }
            }
            let batches: Vec<&RecordBatch> = pending.iter().map(|(batch, _)| batch).collect();
            let sorted = interleave_record_batch(&batches, &order)?;
            drop(pending);
            let writer = self.writer()?;
            for (b, range) in starts.windows(2).enumerate() {
                if range[1] > range[0] {
                    writer.write(&sorted.slice(range[0], range[1] - range[0]))?;
                    writer.flush()?;
                    let written = writer.flushed_row_groups().len();
                    grouping.groups.resize(written, b as u64);
                }
            }
        }
        grouping.rows = 0;
        self.grouping = Some(grouping);
        Ok(())
    }

    /// Close the file: what was staged.
    fn finish(mut self) -> Result<Written, IngestError> {
        self.write_groups().map_err(query("staging rows"))?;
        if let Some(writer) = self.writer.take() {
            writer
                .close()
                .map_err(|e| query("staging rows")(DataFusionError::from(e)))?;
        }
        Ok(Written {
            path: (self.rows > 0).then_some(self.path),
            rows: self.rows,
            groups: self.grouping.map(|g| g.groups).unwrap_or_default(),
            hashes: self.keys.map(|(_, hashes)| hashes),
        })
    }
}

/// A closed staged file: its path (none when it had no rows), its rows, when its rows are
/// grouped by bucket, the bucket of each row group, and when their keys were hashed, the hash
/// of each row's.
struct Written {
    path: Option<PathBuf>,
    rows: u64,
    groups: Vec<u64>,
    hashes: Option<Vec<u64>>,
}

impl Written {
    /// Remove the file: its rows are not to be used.
    fn discard(self) -> Result<(), IngestError> {
        match self.path {
            Some(path) => {
                std::fs::remove_file(&path).map_err(io(format!("cannot remove {}", path.display())))
            }
            None => Ok(()),
        }
    }
}

/// What staging produced.
pub(super) struct Staged {
    pub(super) reports: Vec<FileReport>,
    pub(super) totals: FileStats,
    /// Rows staged as records (of the export's shape) and as attributes.
    pub(super) records: u64,
    pub(super) attributes: u64,
    /// The staged files grouped by bucket of ticket, when they are (events whose tickets are
    /// derived, and snapshots).
    pub(super) grouped: Option<Grouped>,
    /// The hash of the key of each staged record ([`bucket::hashes`] of the key of the table
    /// the records are rows of), when they are rows of a stored table (tickets, events): the
    /// reconciliation needs them and need not read the keys back.
    pub(super) key_hashes: Option<Vec<u64>>,
}

/// The staged records and attributes of a run as row groups each of one bucket of ticket
/// ([`TICKETS`]'s key, [`bucket::bucket`] of `n`): the derivations of tickets (from events or
/// snapshots) read a bucket's rows straight from them, instead of splitting every row again.
pub(super) struct Grouped {
    pub(super) n: u64,
    pub(super) records: GroupedFiles,
    pub(super) attributes: GroupedFiles,
}

/// The staged files of one kind (records, attributes) whose rows are grouped by bucket, in
/// task order.
#[derive(Default)]
pub(super) struct GroupedFiles(Vec<GroupedFile>);

/// A staged file whose rows are grouped by bucket.
struct GroupedFile {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    /// The bucket of each row group.
    groups: Vec<u64>,
}

impl GroupedFile {
    fn open(written: &Written) -> Result<Option<GroupedFile>, IngestError> {
        let Some(path) = &written.path else {
            return Ok(None);
        };
        let file = File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
        let metadata = ArrowReaderMetadata::load(&file, Default::default())
            .map_err(|e| query("reading staged rows")(e.into()))?;
        Ok(Some(GroupedFile {
            path: path.clone(),
            metadata,
            groups: written.groups.clone(),
        }))
    }
}

impl GroupedFiles {
    /// The rows of bucket `b` (their columns `columns`, or all), as one batch (none when the
    /// bucket has none), in the order they were staged.
    pub(super) fn take(
        &self,
        b: usize,
        columns: Option<&[&str]>,
    ) -> Result<Option<RecordBatch>, IngestError> {
        let failed =
            |e: datafusion::parquet::errors::ParquetError| query("reading staged rows")(e.into());
        let mut batches = Vec::new();
        let mut schema = None;
        for f in &self.0 {
            let groups: Vec<usize> = (0..f.groups.len())
                .filter(|&g| f.groups[g] == b as u64)
                .collect();
            if groups.is_empty() {
                continue;
            }
            let file =
                File::open(&f.path).map_err(io(format!("cannot open {}", f.path.display())))?;
            let mut builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(file, f.metadata.clone())
                    .with_row_groups(groups)
                    .with_batch_size(STAGE_ROW_GROUP);
            if let Some(columns) = columns {
                let mask =
                    ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
                builder = builder.with_projection(mask);
            }
            let reader = builder.build().map_err(failed)?;
            schema.get_or_insert(RecordBatchReader::schema(&reader));
            for batch in reader {
                batches.push(batch.map_err(|e| query("reading staged rows")(e.into()))?);
            }
        }
        let Some(schema) = schema else {
            return Ok(None);
        };
        concat_batches(&schema, &batches)
            .map(Some)
            .map_err(|e| query("reading staged rows")(e.into()))
    }
}

/// One part of the work: a file, or a byte range of it.
struct Task {
    /// The task's place in file order: its staged files are named after it.
    index: usize,
    file: usize,
    range: Range,
    /// Whether the file is read in several ranges.
    split: bool,
}

/// What a task did. Its files are closed (a task holds no rows once it ends) and kept until
/// its range is known to have started at a record boundary.
struct Done {
    stats: FileStats,
    records: Written,
    attributes: Written,
    rejected: Written,
    stopped_at: Option<u64>,
    first_start: Option<u64>,
    strict: Option<StreamError>,
}

/// Progress shared by the tasks: rows and bytes read so far.
#[derive(Default)]
struct Counters {
    rows: AtomicU64,
    bytes: AtomicU64,
}

/// Stage `files` through `mapping`, reading up to `options.threads` files or ranges of files
/// at once. The staged rows, their lines and the quarantined rows do not depend on how the
/// work was split.
pub(super) fn stage_files(
    files: &[PathBuf],
    mapping: &SourceMapping,
    options: &Options,
    stage: &Stage,
    progress: &dyn Progress,
) -> Result<Staged, IngestError> {
    let mapper = stream::mapper(mapping)?;
    let threads = options.threads.max(1);
    // Every file's header first: a file that does not fit the mapping fails the run at once.
    let mut headers = Vec::with_capacity(files.len());
    let mut sizes = Vec::with_capacity(files.len());
    let mut tasks = VecDeque::new();
    let mut lines = 0;
    for (file, path) in files.iter().enumerate() {
        let size = std::fs::metadata(path)
            .map_err(io(format!("cannot read {}", path.display())))?
            .len();
        let (_, header) = BatchReader::open(path, mapping).map_err(StreamError::from)?;
        let ranges = split::ranges(path, &header, options.range_bytes, threads)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if grouped(mapping) {
            lines += split::lines_estimate(path, &header)
                .map_err(io(format!("cannot read {}", path.display())))?;
        }
        let split = ranges.len() > 1;
        for range in ranges {
            tasks.push_back(Task {
                index: tasks.len(),
                file,
                range,
                split,
            });
        }
        headers.push(header);
        sizes.push(size);
    }
    // Buckets for about a quarter more rows than the lines: they are read back whole, and
    // were there more rows than that, the derivation would split the rows anew.
    let buckets =
        grouped(mapping).then(|| buckets_for(lines + lines / 4, options.chunk_rows, threads));
    progress.reading(files, sizes.iter().sum());
    let all: Vec<(usize, Range, bool)> = tasks.iter().map(|t| (t.file, t.range, t.split)).collect();
    let counters = Counters::default();
    let queue = Mutex::new(tasks);
    // Tasks after one that failed under `strict` are not started: the first error is earlier.
    let stop_after = AtomicUsize::new(usize::MAX);
    let results: Mutex<Vec<Option<Result<Done, IngestError>>>> =
        Mutex::new((0..all.len()).map(|_| None).collect());
    let work = Work {
        files,
        headers: &headers,
        mapping,
        options,
        stage,
        counters: &counters,
        buckets,
    };
    let worker = || {
        let mut mapper = mapper.clone();
        loop {
            let Some(task) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                break;
            };
            if task.index > stop_after.load(Ordering::Relaxed) {
                continue;
            }
            let done = work.run(&task, &mut mapper);
            if let Ok(Done {
                strict: Some(_), ..
            }) = &done
            {
                stop_after.fetch_min(task.index, Ordering::Relaxed);
            }
            results.lock().unwrap_or_else(|e| e.into_inner())[task.index] = Some(done);
        }
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(all.len()).max(1))
            .map(|_| scope.spawn(worker))
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            progress.read(
                counters.rows.load(Ordering::Relaxed),
                counters.bytes.load(Ordering::Relaxed),
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    progress.read(
        counters.rows.load(Ordering::Relaxed),
        counters.bytes.load(Ordering::Relaxed),
    );
    let mut results: Vec<Option<Done>> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(Option::transpose)
        .collect::<Result<_, _>>()?;

    // Check, in file order, that each range of a split CSV file started where the previous one
    // stopped; read again the ranges that did not, and the ones never started.
    let mut mapper = mapper;
    let mut reports: Vec<FileReport> = files
        .iter()
        .zip(&sizes)
        .map(|(path, &bytes)| FileReport {
            path: path.display().to_string(),
            rows: 0,
            quarantined: 0,
            skipped: 0,
            bytes,
        })
        .collect();
    let mut staged = Staged {
        reports: Vec::new(),
        totals: FileStats::default(),
        records: 0,
        attributes: 0,
        grouped: buckets.map(|n| Grouped {
            n,
            records: GroupedFiles::default(),
            attributes: GroupedFiles::default(),
        }),
        key_hashes: records_key(mapping).map(|_| Vec::new()),
    };
    let mut previous: Option<(usize, Option<u64>)> = None;
    for index in 0..all.len() {
        let (file, range, split) = all[index];
        let trusted_start = match previous {
            Some((f, stopped)) if f == file && split => stopped,
            _ => None,
        };
        let mut done = results[index].take();
        let needs_rerun = match (&done, trusted_start) {
            (None, _) => true,
            (Some(d), Some(start)) => d.first_start != Some(start),
            (Some(_), None) => false,
        };
        if needs_rerun {
            if let Some(d) = done.take() {
                discard(d)?;
            }
            let path = &files[file];
            let range = match trusted_start {
                Some(start) if start != range.start => Range {
                    start,
                    end: range.end,
                    lines_before: range.lines_before
                        + split::lines_between(path, range.start, start)
                            .map_err(io(format!("cannot read {}", path.display())))?,
                },
                _ => range,
            };
            let task = Task {
                index,
                file,
                range,
                split,
            };
            done = Some(work.run(&task, &mut mapper)?);
        }
        let Some(mut done) = done else { continue };
        if let Some(error) = done.strict.take() {
            // The first bad row of the run, in file and line order.
            discard(done)?;
            for later in results.iter_mut().skip(index + 1) {
                if let Some(d) = later.take() {
                    discard(d)?;
                }
            }
            return Err(error.into());
        }
        previous = Some((file, done.stopped_at));
        let report = &mut reports[file];
        report.rows += done.stats.rows;
        report.quarantined += done.stats.quarantined;
        report.skipped += done.stats.skipped;
        staged.totals.rows += done.stats.rows;
        staged.totals.records += done.stats.records;
        staged.totals.quarantined += done.stats.quarantined;
        staged.totals.skipped += done.stats.skipped;
        staged.records += done.records.rows;
        staged.attributes += done.attributes.rows;
        if let (Some(all), Some(hashes)) = (&mut staged.key_hashes, &done.records.hashes) {
            all.extend_from_slice(hashes);
        }
        if let Some(grouped) = &mut staged.grouped {
            grouped.records.0.extend(GroupedFile::open(&done.records)?);
            grouped
                .attributes
                .0
                .extend(GroupedFile::open(&done.attributes)?);
        }
    }
    staged.reports = reports;
    Ok(staged)
}

fn discard(done: Done) -> Result<(), IngestError> {
    done.records.discard()?;
    done.attributes.discard()?;
    done.rejected.discard()
}

/// Whether the staged rows are grouped by bucket of ticket (see [`Grouped`]): events whose
/// tickets are derived, and snapshots.
fn grouped(mapping: &SourceMapping) -> bool {
    match mapping.shape {
        Shape::Events => mapping.derive_tickets,
        Shape::Snapshots => true,
        Shape::Tickets => false,
    }
}

/// The key of the stored table whose rows the staged records are, if they are such rows
/// (snapshots are not: the events and tickets are derived from them).
fn records_key(mapping: &SourceMapping) -> Option<&'static [&'static str]> {
    match mapping.shape {
        Shape::Tickets => Some(TICKETS.key),
        Shape::Events => Some(TICKET_EVENTS.key),
        Shape::Snapshots => None,
    }
}

/// What every task of a run shares.
struct Work<'a> {
    files: &'a [PathBuf],
    headers: &'a [Header],
    mapping: &'a SourceMapping,
    options: &'a Options,
    stage: &'a Stage,
    counters: &'a Counters,
    /// The buckets the staged records and attributes are grouped in, if they are.
    buckets: Option<u64>,
}

impl Work<'_> {
    /// Read one file or range into its own staged files.
    fn run(&self, task: &Task, mapper: &mut Mapper) -> Result<Done, IngestError> {
        let Work {
            files,
            headers,
            mapping,
            options,
            stage,
            counters,
            buckets,
        } = *self;
        let path = &files[task.file];
        let mut reader = if task.split {
            BatchReader::open_range(path, mapping, &headers[task.file], task.range)
        } else {
            BatchReader::open(path, mapping).map(|(reader, _)| reader)
        }
        .map_err(StreamError::from)?;
        let name = format!("part-{:05}.parquet", task.index);
        let staged_schema = match mapping.shape {
            Shape::Tickets => TICKETS.schema(),
            Shape::Events => TICKET_EVENTS.schema(),
            Shape::Snapshots => snapshots_schema(),
        };
        let writer = |path: PathBuf, schema: SchemaRef| match buckets {
            Some(n) => Writer::grouped(path, schema, n),
            None => Writer::new(path, schema),
        };
        let mut records = writer(
            stage.dir.join(STAGED).join(&name),
            with_lines(&staged_schema),
        )
        .hashing(records_key(mapping));
        let mut attributes = writer(
            stage.dir.join(STAGED_ATTRIBUTES).join(&name),
            with_lines(&attributes_schema()),
        );
        let mut rejected = Writer::new(
            stage.dir.join(QUARANTINE.name).join(&name),
            QUARANTINE.schema(),
        );
        let file = reader.name().to_string();
        let (mut rows, mut bytes) = (0, 0);
        let result = stream::ingest_reader(
            &mut reader,
            mapper,
            mapping,
            options.batch_rows.max(1),
            options.strict,
            &mut |out| {
                match out {
                    Output::Tickets(batch, lines)
                    | Output::Events(batch, lines)
                    | Output::Snapshots(batch, lines) => {
                        attach_lines(batch, &file, lines).and_then(|b| records.write(&b))
                    }
                    Output::Attributes(batch, lines) => {
                        attach_lines(batch, &file, lines).and_then(|b| attributes.write(&b))
                    }
                    Output::Quarantine(batch) => rejected.write(&batch),
                    Output::Progress { rows: r, bytes: b } => {
                        counters.rows.fetch_add(r - rows, Ordering::Relaxed);
                        counters
                            .bytes
                            .fetch_add(b.saturating_sub(bytes), Ordering::Relaxed);
                        (rows, bytes) = (r, b.max(bytes));
                        Ok(())
                    }
                }
                .map_err(|e| e.to_string())
            },
        );
        let (stats, strict) = match result {
            Ok(stats) => (stats, None),
            Err(e @ StreamError::Strict { .. }) => (FileStats::default(), Some(e)),
            Err(e) => return Err(e.into()),
        };
        Ok(Done {
            stats,
            records: records.finish()?,
            attributes: attributes.finish()?,
            rejected: rejected.finish()?,
            stopped_at: reader.stopped_at(),
            first_start: reader.first_start(),
            strict,
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};

    use super::*;

    fn events(from: usize, to: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ticket_id", DataType::Utf8, false),
            Field::new("source_system", DataType::Utf8, false),
            Field::new("n", DataType::UInt64, false),
        ]));
        let tickets: Vec<String> = (from..to).map(|i| format!("T-{}", i % 997)).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(tickets)),
            Arc::new(StringArray::from(vec!["desk"; to - from])),
            Arc::new(UInt64Array::from_iter_values(from as u64..to as u64)),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// Rows written grouped come back bucket by bucket: each row in the bucket of its ticket,
    /// every row once, in the order written within a bucket, across the files of several tasks.
    #[test]
    fn grouped_rows_are_read_back_by_bucket_of_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let n = 7;
        // More rows than a writer holds, in batches of uneven sizes, in two files.
        let rows = GROUPED_ROWS + 5_000;
        let mut files = Vec::new();
        for (task, (from, to)) in [(0, rows), (rows, rows + 300)].into_iter().enumerate() {
            let path = dir.path().join(format!("part-{task}.parquet"));
            let mut writer = Writer::grouped(path, events(0, 0).schema(), n);
            let mut at = from;
            while at < to {
                let end = (at + 8_000 + at % 3_000).min(to);
                writer.write(&events(at, end)).unwrap();
                at = end;
            }
            let written = writer.finish().unwrap();
            assert_eq!(written.rows, (to - from) as u64);
            files.extend(GroupedFile::open(&written).unwrap());
        }
        let grouped = Grouped {
            n,
            records: GroupedFiles(files),
            attributes: GroupedFiles::default(),
        };
        let mut seen = Vec::new();
        for b in 0..n as usize {
            let batch = grouped
                .records
                .take(b, Some(&["ticket_id", "source_system", "n"]))
                .unwrap()
                .unwrap();
            let keys = [Arc::clone(batch.column(0)), Arc::clone(batch.column(1))];
            for h in bucket::hashes(&keys).unwrap() {
                assert_eq!(bucket::bucket(h, n), b as u64);
            }
            let numbers = batch
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
            let numbers: Vec<u64> = numbers.values().to_vec();
            assert!(numbers.is_sorted(), "bucket {b} keeps the written order");
            seen.extend(numbers);
            // Only the columns asked for.
            let only = grouped.records.take(b, Some(&["n"])).unwrap().unwrap();
            assert_eq!((only.num_columns(), only.num_rows()), (1, batch.num_rows()));
            assert!(only.column(0).null_count() == 0);
        }
        assert!(grouped.records.take(n as usize, None).unwrap().is_none());
        assert!(grouped.attributes.take(0, None).unwrap().is_none());
        seen.sort_unstable();
        assert_eq!(seen, (0..(rows + 300) as u64).collect::<Vec<_>>());
    }
}
