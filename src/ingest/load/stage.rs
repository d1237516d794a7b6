//! Staging: the export files through their mapping into Parquet files of canonical rows in
//! the run's staging folder, with the file and line of each row, and the rejected rows beside
//! them.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use super::{io, query, FileReport, IngestError, Options, Progress};
use crate::config::{Shape, SourceMapping};
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

/// Staged rows of one kind from one task: a Parquet file, written batch by batch, created with
/// the first row.
struct Writer {
    path: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
}

impl Writer {
    fn new(path: PathBuf, schema: SchemaRef) -> Writer {
        Writer {
            path,
            schema,
            writer: None,
            rows: 0,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataFusionError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let writer = match &mut self.writer {
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
                self.writer.insert(ArrowWriter::try_new(
                    file,
                    Arc::clone(&self.schema),
                    Some(props),
                )?)
            }
        };
        writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close the file: what was staged.
    fn finish(mut self) -> Result<Written, IngestError> {
        if let Some(writer) = self.writer.take() {
            writer
                .close()
                .map_err(|e| query("staging rows")(DataFusionError::from(e)))?;
        }
        Ok(Written {
            path: (self.rows > 0).then_some(self.path),
            rows: self.rows,
        })
    }
}

/// A closed staged file: its path (none when it had no rows) and its rows.
struct Written {
    path: Option<PathBuf>,
    rows: u64,
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
    for (file, path) in files.iter().enumerate() {
        let size = std::fs::metadata(path)
            .map_err(io(format!("cannot read {}", path.display())))?
            .len();
        let (_, header) = BatchReader::open(path, mapping).map_err(StreamError::from)?;
        let ranges = split::ranges(path, &header, options.range_bytes, threads)
            .map_err(io(format!("cannot read {}", path.display())))?;
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
    }
    staged.reports = reports;
    Ok(staged)
}

fn discard(done: Done) -> Result<(), IngestError> {
    done.records.discard()?;
    done.attributes.discard()?;
    done.rejected.discard()
}

/// What every task of a run shares.
struct Work<'a> {
    files: &'a [PathBuf],
    headers: &'a [Header],
    mapping: &'a SourceMapping,
    options: &'a Options,
    stage: &'a Stage,
    counters: &'a Counters,
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
        let mut records = Writer::new(
            stage.dir.join(STAGED).join(&name),
            with_lines(&staged_schema),
        );
        let mut attributes = Writer::new(
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
