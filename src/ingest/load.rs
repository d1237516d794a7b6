//! One ingest run: export files through a source mapping into the stored tables.
//!
//! 1. Every file streams through its mapping ([`super::stream`]) into Parquet files in a
//!    staging folder (`data/_staging/…`), so memory stays bounded whatever the export's size.
//!    With `strict`, the first bad row stops the run and nothing is committed.
//! 2. The staged rows are reconciled with the stored table in DataFusion SQL: one version per
//!    key (the latest; see [`version_sql`]), and for each the action that makes the result
//!    independent of the order in which overlapping exports arrive (insert, update, unchanged,
//!    or a conflict: the same key and version with different content, where the version with
//!    the greater content hash is kept and the other goes to quarantine).
//!    A large run does this in chunks of keys ([`Options::chunk_rows`]), so that what the SQL holds
//!    in memory is bounded by the chunk rather than by the export.
//! 3. Inserts and updates are committed with one Delta MERGE per table (an append when there
//!    are only inserts); rejected rows are merged into `quarantine` (so re-ingesting a file
//!    does not repeat them).
//!
//! A run holds an exclusive lock on the data folder; staging left behind by a killed run is
//! removed by the next one.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;

use crate::config::{Shape, SourceMapping};

use crate::tables::delta::{self as store, StoreError};
use crate::tables::vocab::sql_literal;
use crate::tables::{Column, EventType, Table, QUARANTINE, TICKETS, TICKET_EVENTS};

use super::records::{attributes_schema, snapshots_schema};
use super::stream::{self, FileStats, Output, StreamError};

/// Records per Arrow batch while reading.
const BATCH_ROWS: usize = 8_192;
/// Rows per Parquet row group in staging: bounds the writers' memory.
const STAGE_ROW_GROUP: usize = 65_536;
/// The staging folder inside the data folder (hidden from sessions by its leading `_`).
const STAGING: &str = "_staging";
/// The lock file that serialises ingest runs on one data folder.
const LOCK: &str = ".ingest.lock";

/// Why a run failed. Nothing is committed when a run fails before its commits.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Query {
        context: String,
        source: Box<DataFusionError>,
    },
    #[error("committing to '{table}': {source}")]
    Commit {
        table: &'static str,
        source: Box<deltalake::DeltaTableError>,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> IngestError {
    let context = context.into();
    move |source| IngestError::Io { context, source }
}

fn query(context: &str) -> impl FnOnce(DataFusionError) -> IngestError + '_ {
    move |source| IngestError::Query {
        context: context.to_string(),
        source: Box::new(source),
    }
}

/// What happened to the rows of one table in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    /// Rows of the input that belong to this table (including rejected ones).
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Rows already stored as they are, older than the stored version, or repeated in the input.
    pub unchanged: u64,
    pub quarantined: u64,
    /// The table's version after the run.
    pub version: i64,
}

/// One input file's counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub rows: u64,
    pub quarantined: u64,
    pub bytes: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub source: String,
    pub files: Vec<FileReport>,
    pub tables: BTreeMap<&'static str, TableCounts>,
}

/// Hooks for progress reports while a run works.
pub trait Progress {
    /// A file starts (`index` from 0 of `total`).
    fn file(&self, _index: usize, _total: usize, _path: &Path, _bytes: u64) {}
    /// Rows and bytes of the current file read so far.
    fn read(&self, _rows: u64, _bytes: u64) {}
    /// A later step starts (reconciling, committing).
    fn step(&self, _what: &str) {}
}

/// No progress reports.
pub struct Quiet;
impl Progress for Quiet {}

/// How a run works: strictness and the tuning of its chunks and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Stop at the first bad row and commit nothing.
    pub strict: bool,
    /// Rows a step handles at once: a step reads its inputs once per chunk, and what a chunk's
    /// sorts, joins and windows hold grows with it (about 1 KB per row of events in memory).
    pub chunk_rows: u64,
    /// The memory (MiB) a chunk's SQL may reserve; sorts beyond it spill to the staging folder.
    /// With the default, 1M generated tickets ingest in every shape with a peak of 1.3–1.7 GB
    /// (BENCHMARKS.md).
    pub memory_mb: usize,
}

impl Options {
    /// The default rows per chunk.
    pub const CHUNK_ROWS: u64 = 1_000_000;
    /// The default memory of a run's SQL, MiB.
    pub const MEMORY_MB: usize = 1024;
    /// The least memory a run accepts, MiB.
    pub const MIN_MEMORY_MB: usize = 64;
    /// The most memory a run accepts, MiB (1 PiB: a bound, not a recommendation).
    pub const MAX_MEMORY_MB: usize = 1 << 30;
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strict: false,
            chunk_rows: Options::CHUNK_ROWS,
            memory_mb: Options::MEMORY_MB,
        }
    }
}

/// Ingest `files` through `mapping` into the tables of `data_dir`.
pub async fn ingest(
    data_dir: &Path,
    mapping: &SourceMapping,
    files: &[PathBuf],
    options: &Options,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    std::fs::create_dir_all(data_dir)
        .map_err(io(format!("cannot create {}", data_dir.display())))?;
    let lock_path = data_dir.join(LOCK);
    let lock =
        File::create(&lock_path).map_err(io(format!("cannot create {}", lock_path.display())))?;
    lock.lock()
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;

    let staging_root = data_dir.join(STAGING);
    if staging_root.exists() {
        // Left by a run that was killed: it committed nothing from there, or all of it.
        std::fs::remove_dir_all(&staging_root)
            .map_err(io(format!("cannot remove {}", staging_root.display())))?;
    }
    let stage = Stage::new(staging_root.join(format!("run-{}", std::process::id())))?;
    let result = run(data_dir, mapping, files, options, progress, &stage).await;
    // The staging folder goes in every case; the lock is released when `lock` drops.
    let _ = std::fs::remove_dir_all(&staging_root);
    drop(lock);
    result
}

/// How the rows of an input are weighed against the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Rows of an export: the later version wins (see [`reconcile_sql`]).
    Versioned,
    /// Rows derived from the whole stored history: they replace the stored row when they differ.
    Derived,
}

/// The relation names of one run's staged files.
const STAGED: &str = "staged";
const STAGED_ATTRIBUTES: &str = "staged_attributes";
/// The relations [`snapshot_events_sql`] and [`derived_tickets_sql`] read, as `_chunk` views.
const SNAPSHOT_INPUTS: &[&str] = &[STAGED, "tickets_before"];
const DERIVED_INPUTS: &[&str] = &[STAGED, STAGED_ATTRIBUTES, "events_now", "stored_tickets"];
/// What a derived row names as its file in quarantine and plans.
const DERIVED_FILE: &str = "(derived from ticket_events)";

async fn run(
    data_dir: &Path,
    mapping: &SourceMapping,
    files: &[PathBuf],
    options: &Options,
    progress: &dyn Progress,
    stage: &Stage,
) -> Result<IngestReport, IngestError> {
    let strict = options.strict;
    // 1. Stage.
    let staged_schema = match mapping.shape {
        Shape::Tickets => TICKETS.schema(),
        Shape::Events => TICKET_EVENTS.schema(),
        Shape::Snapshots => snapshots_schema(),
    };
    let mut records = Writer::new(stage.dir.join(STAGED), with_lines(&staged_schema));
    let mut attributes = Writer::new(
        stage.dir.join(STAGED_ATTRIBUTES),
        with_lines(&attributes_schema()),
    );
    let mut rejected = Writer::new(stage.dir.join(QUARANTINE.name), QUARANTINE.schema());
    let mut reports = Vec::with_capacity(files.len());
    let mut totals = FileStats::default();
    for (index, path) in files.iter().enumerate() {
        let bytes = std::fs::metadata(path)
            .map_err(io(format!("cannot read {}", path.display())))?
            .len();
        progress.file(index, files.len(), path, bytes);
        let file = path.display().to_string();
        let stats = stream::ingest_file(path, mapping, BATCH_ROWS, strict, &mut |out| {
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
                Output::Progress { rows, bytes } => {
                    progress.read(rows, bytes);
                    Ok(())
                }
            }
            .map_err(|e| e.to_string())
        })?;
        totals.rows += stats.rows;
        totals.quarantined += stats.quarantined;
        reports.push(FileReport {
            path: file,
            rows: stats.rows,
            quarantined: stats.quarantined,
            bytes,
        });
    }
    let staged_records = records.finish()?;
    let staged_attributes = attributes.finish()?;
    rejected.finish()?;

    // 2. Reconcile and commit, table by table.
    let ctx = ingest_context(&stage.dir.join("spill"), options.memory_mb)?;
    let tickets = &TICKETS;
    let events = &TICKET_EVENTS;
    // Both tables exist after any run, so that every session can query them.
    let mut versions = BTreeMap::new();
    for target in [tickets, events] {
        let table = store::open_or_create(data_dir, target).await?;
        versions.insert(target.name, store::version(&table));
    }
    let mut tables: BTreeMap<&'static str, TableCounts> = BTreeMap::new();
    let mut conflicts: Vec<RecordBatch> = Vec::new();
    let primary = match mapping.shape {
        Shape::Tickets => tickets.name,
        Shape::Events => events.name,
        Shape::Snapshots => tickets.name,
    };
    if staged_records > 0 {
        register_parquet(&ctx, STAGED, &stage.dir.join(STAGED)).await?;
        let staged_columns = |target: &Table| {
            format!(
                "SELECT {}, _file, _line, CAST(NULL AS BIGINT) AS _s FROM {STAGED}",
                column_list(target.columns, "")
            )
        };
        let steps = Run {
            ctx: &ctx,
            data_dir,
            stage,
            mapping,
            progress,
            chunks: staged_records.div_ceil(options.chunk_rows.max(1)).max(1),
        };
        let mut applied = Vec::new();
        match mapping.shape {
            Shape::Tickets => {
                let sql = staged_columns(tickets);
                applied.push(
                    steps
                        .apply(tickets, Input::View(&sql), Mode::Versioned)
                        .await?,
                );
            }
            Shape::Events => {
                let sql = staged_columns(events);
                applied.push(
                    steps
                        .apply(events, Input::View(&sql), Mode::Versioned)
                        .await?,
                );
                if mapping.derive_tickets {
                    progress.step("deriving tickets from their events");
                    if staged_attributes > 0 {
                        register_parquet(
                            &ctx,
                            STAGED_ATTRIBUTES,
                            &stage.dir.join(STAGED_ATTRIBUTES),
                        )
                        .await?;
                    } else {
                        let empty = with_lines(&attributes_schema());
                        ctx.register_batch(STAGED_ATTRIBUTES, RecordBatch::new_empty(empty))
                            .map_err(query("registering the staged attributes"))?;
                    }
                    register_latest(&ctx, "events_now", data_dir, events).await?;
                    let sql = derived_tickets_sql();
                    applied.push(
                        steps
                            .apply(
                                tickets,
                                Input::Materialized(&sql, DERIVED_INPUTS),
                                Mode::Derived,
                            )
                            .await?,
                    );
                }
            }
            Shape::Snapshots => {
                // The events first: they diff the first snapshot of each ticket with the
                // stored ticket as it was before this run.
                register_latest(&ctx, "tickets_before", data_dir, tickets).await?;
                let sql = snapshot_events_sql();
                applied.push(
                    steps
                        .apply(
                            events,
                            Input::Materialized(&sql, SNAPSHOT_INPUTS),
                            Mode::Versioned,
                        )
                        .await?,
                );
                let sql = format!(
                    "SELECT {}, _file, _line, _seq AS _s FROM {STAGED}",
                    column_list(tickets.columns, "")
                );
                applied.push(
                    steps
                        .apply(tickets, Input::View(&sql), Mode::Versioned)
                        .await?,
                );
            }
        }
        for a in applied {
            versions.insert(a.table, a.version);
            let counts = tables.entry(a.table).or_default();
            counts.read += a.counts.read;
            counts.inserted += a.counts.inserted;
            counts.updated += a.counts.updated;
            counts.unchanged += a.counts.unchanged;
            counts.quarantined += a.counts.quarantined;
            conflicts.extend(a.conflicts);
        }
    }
    {
        // Rows of the files that were rejected belong to the table the export feeds.
        let counts = tables.entry(primary).or_default();
        if mapping.shape != Shape::Snapshots || staged_records == 0 {
            counts.read = totals.rows;
        } else {
            counts.read += totals.quarantined;
        }
        counts.quarantined += totals.quarantined;
    }

    // 3. Rejected rows: those of the files, then the conflicts.
    let quarantine = record_rejections(&ctx, data_dir, stage, conflicts, progress).await?;
    versions.insert(QUARANTINE.name, store::version(&quarantine));
    for (name, version) in versions {
        tables.entry(name).or_default().version = version;
    }

    Ok(IngestReport {
        source: mapping.name.clone(),
        files: reports,
        tables,
    })
}

/// Rows per Parquet row group in the files a run writes (plans and Delta data files): a row
/// group is buffered whole before it is written, once per open file, so the Parquet default
/// (about a million rows) would hold hundreds of MB per monthly partition of `ticket_events`.
const WRITE_ROW_GROUP: usize = 131_072;

/// A session for one run's SQL: plain strings (not views) throughout, as in the stored tables;
/// a bounded memory pool with spilling to `spill_dir`, sort-merge joins (which spill) rather
/// than hash joins (which must hold one side in memory), and one partition, which halves the
/// operators holding memory at once (measured: 3.7 GB peak instead of 5.1 GB on 6.5M
/// snapshot rows, 6% slower). When the pool runs out, the error names its five largest users.
fn ingest_context(spill_dir: &Path, memory_mb: usize) -> Result<SessionContext, IngestError> {
    std::fs::create_dir_all(spill_dir)
        .map_err(io(format!("cannot create {}", spill_dir.display())))?;
    let mut config = datafusion::prelude::SessionConfig::new()
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.optimizer.prefer_hash_join", false)
        .with_target_partitions(1);
    config.options_mut().execution.parquet.max_row_group_size = WRITE_ROW_GROUP;
    let pool = datafusion::execution::memory_pool::TrackConsumersPool::new(
        datafusion::execution::memory_pool::FairSpillPool::new(
            memory_mb
                .max(Options::MIN_MEMORY_MB)
                .saturating_mul(1024 * 1024),
        ),
        std::num::NonZeroUsize::new(5).expect("5 is not zero"),
    );
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_temp_file_path(spill_dir)
        .build_arc()
        .map_err(query("preparing the ingest session"))?;
    // Delta's planner, for the plans of Delta writes run in this session.
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udf(super::bucket::udf());
    Ok(ctx)
}

async fn register_parquet(ctx: &SessionContext, name: &str, dir: &Path) -> Result<(), IngestError> {
    ctx.register_parquet(
        name,
        dir.to_string_lossy().as_ref(),
        ParquetReadOptions::default(),
    )
    .await
    .map_err(query("reading staged rows"))
}

/// Whether `dir` exists and holds anything (a query that wrote no rows may leave no file).
fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Register the stored `table` of `data_dir`, at its latest version, as `name`.
async fn register_latest(
    ctx: &SessionContext,
    name: &str,
    data_dir: &Path,
    table: &Table,
) -> Result<(), IngestError> {
    let path = store::table_path(data_dir, table);
    let stored = store::open(&path).await?;
    register(ctx, name, &stored, &path).await
}

/// Register (or re-register) the stored `table` as `name`.
async fn register(
    ctx: &SessionContext,
    name: &str,
    table: &DeltaTable,
    path: &Path,
) -> Result<(), IngestError> {
    let provider = store::provider(Arc::new(ctx.state()), table, path).await?;
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, provider)
        .map_err(query("registering a stored table"))?;
    Ok(())
}

/// The rows [`apply`] reconciles: a query over the staged files, read as it is, or a derived
/// query over `{relation}_chunk` views of the named relations (see [`register_chunk`]),
/// computed once, chunk by chunk of tickets, into the staging folder.
enum Input<'a> {
    View(&'a str),
    Materialized(&'a str, &'a [&'a str]),
}

/// What [`apply`] did to one table.
struct Applied {
    table: &'static str,
    counts: TableCounts,
    conflicts: Vec<RecordBatch>,
    version: i64,
}

/// What the steps of a run share.
struct Run<'a> {
    ctx: &'a SessionContext,
    data_dir: &'a Path,
    stage: &'a Stage,
    mapping: &'a SourceMapping,
    progress: &'a dyn Progress,
    /// Into how many chunks of keys each step splits its rows ([`Options::chunk_rows`]).
    chunks: u64,
}

/// Register `{relation}_chunk` for each relation: its rows whose `key` falls in chunk `i`
/// of `n` (all of them when `n` is 1).
async fn register_chunk(
    ctx: &SessionContext,
    relations: &[&str],
    key: &[&str],
    n: u64,
    i: u64,
) -> Result<(), IngestError> {
    for relation in relations {
        let filter = if n > 1 {
            format!(
                " WHERE {}({n}, {}) = {i}",
                super::bucket::NAME,
                key.join(", ")
            )
        } else {
            String::new()
        };
        register_view(
            ctx,
            &format!("{relation}_chunk"),
            &format!("SELECT * FROM {relation}{filter}"),
            "planning a chunk of the input",
        )
        .await?;
    }
    Ok(())
}

/// Register (or re-register) the query `sql` as the view `name`.
async fn register_view(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    context: &str,
) -> Result<(), IngestError> {
    let view = ctx.sql(sql).await.map_err(query(context))?.into_view();
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, view).map_err(query(context))?;
    Ok(())
}

/// Write the rows of `sql` chunk by chunk into `dir` (one Parquet file per chunk), calling
/// `prepare(i)` before chunk `i`, and register `dir` as `name`.
async fn write_chunks<F, Fut>(
    ctx: &SessionContext,
    sql: &str,
    dir: &Path,
    name: &str,
    chunks: u64,
    mut prepare: F,
) -> Result<(), IngestError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), IngestError>>,
{
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let mut schema = None;
    for i in 0..chunks {
        prepare(i).await?;
        let df = ctx.sql(sql).await.map_err(query("planning a step"))?;
        schema = Some(Arc::new(df.schema().as_arrow().clone()));
        let file = dir.join(format!("part-{i:05}.parquet"));
        df.write_parquet(
            file.to_string_lossy().as_ref(),
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .map_err(query("running a step"))?;
    }
    let _ = ctx.deregister_table(name);
    if has_files(dir) {
        register_parquet(ctx, name, dir).await
    } else {
        let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
        ctx.register_batch(name, RecordBatch::new_empty(schema))
            .map(|_| ())
            .map_err(query("running a step"))
    }
}

impl Run<'_> {
    /// Reconcile the rows of `input_sql` (the target's columns, then `_file`, `_line` and the
    /// tie-break `_s`) with the stored `target`, and commit the inserts and updates in one
    /// MERGE.
    async fn apply(
        &self,
        target: &'static Table,
        input_sql: Input<'_>,
        mode: Mode,
    ) -> Result<Applied, IngestError> {
        let Run {
            ctx,
            data_dir,
            stage,
            mapping,
            progress,
            chunks,
        } = *self;
        let name = target.name;
        progress.step(&format!("reconciling {name} with the stored table"));
        let path = store::table_path(data_dir, target);
        let mut table = store::open_or_create(data_dir, target).await?;
        let stored = format!("stored_{name}");
        register(ctx, &stored, &table, &path).await?;
        let input = format!("input_{name}");
        match input_sql {
            Input::View(sql) => {
                register_view(ctx, &input, sql, "planning the input rows").await?;
            }
            Input::Materialized(sql, relations) => {
                // Costly to compute, and the reconciliation reads its input once per chunk:
                // written once, chunk by chunk of tickets.
                write_chunks(ctx, sql, &stage.dir.join(&input), &input, chunks, |i| {
                    register_chunk(ctx, relations, TICKETS.key, chunks, i)
                })
                .await?;
            }
        }

        let plan_name = format!("plan_{name}");
        let sql = reconcile_sql(
            target,
            &format!("{input}_chunk"),
            &format!("{stored}_chunk"),
            mode,
        );
        let relations = [input.as_str(), stored.as_str()];
        write_chunks(
            ctx,
            &sql,
            &stage.dir.join(&plan_name),
            &plan_name,
            chunks,
            |i| register_chunk(ctx, &relations, target.key, chunks, i),
        )
        .await?;

        let mut counts = TableCounts::default();
        let by_action = ctx
            .sql(&format!(
                "SELECT _action, count(*) AS n FROM {plan_name} GROUP BY _action"
            ))
            .await
            .map_err(query("counting actions"))?
            .collect()
            .await
            .map_err(query("counting actions"))?;
        for batch in &by_action {
            let actions = batch.column(0).as_string::<i32>();
            let n = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let n = n.value(i) as u64;
                counts.read += n;
                match actions.value(i) {
                    "insert" => counts.inserted += n,
                    "update" | "replace" => counts.updated += n,
                    "conflict" => counts.quarantined += n,
                    _ => counts.unchanged += n,
                }
            }
        }
        let conflicts = ctx
            .sql(&conflicts_sql(&mapping.name, target.key, &plan_name))
            .await
            .map_err(query("listing conflicts"))?
            .collect()
            .await
            .map_err(query("listing conflicts"))?;
        if counts.inserted + counts.updated > 0 {
            progress.step(&format!("committing to {name}"));
            let source = ctx
                .sql(&format!(
                    "SELECT {} FROM {plan_name} WHERE _action IN ('insert', 'update', 'replace')",
                    column_list(target.columns, "")
                ))
                .await
                .map_err(query("selecting the rows to commit"))?;
            table = if counts.updated == 0 {
                // Only new keys: an append commits them without joining the stored table.
                append(ctx, table, source, name).await?
            } else {
                let columns: Vec<&str> = target.columns.iter().map(|c| c.name).collect();
                merge(ctx, table, source, &columns, target.key, true, name).await?
            };
        }
        Ok(Applied {
            table: name,
            counts,
            conflicts,
            version: store::version(&table),
        })
    }
}

/// Merge the rows rejected from the files and the conflicts into `quarantine`.
async fn record_rejections(
    ctx: &SessionContext,
    data_dir: &Path,
    stage: &Stage,
    conflicts: Vec<RecordBatch>,
    progress: &dyn Progress,
) -> Result<DeltaTable, IngestError> {
    let mut quarantine = store::open_or_create(data_dir, &QUARANTINE).await?;
    let staged_rejects = stage.dir.join(QUARANTINE.name);
    let mut sources = Vec::new();
    if has_files(&staged_rejects) {
        register_parquet(ctx, "rejected", &staged_rejects).await?;
        sources.push(
            ctx.table("rejected")
                .await
                .map_err(query("reading the rejected rows"))?,
        );
    }
    if conflicts.iter().any(|b| b.num_rows() > 0) {
        sources.push(
            ctx.read_batches(conflicts)
                .map_err(query("reading the conflicts"))?,
        );
    }
    if let Some(first) = sources.pop() {
        progress.step("recording rejected rows in quarantine");
        let mut all = first;
        for other in sources {
            all = all
                .union(other)
                .map_err(query("collecting rejected rows"))?;
        }
        let columns: Vec<&str> = QUARANTINE.column_names().collect();
        // Every column is the key: a rejected row already recorded is not recorded again.
        quarantine = merge(
            ctx,
            quarantine,
            all,
            &columns,
            QUARANTINE.key,
            false,
            QUARANTINE.name,
        )
        .await?;
    }
    Ok(quarantine)
}

/// `schema` with the input file and line of each row appended.
fn with_lines(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("_file", DataType::Utf8, false));
    fields.push(Field::new("_line", DataType::UInt64, false));
    Arc::new(Schema::new(fields))
}

fn attach_lines(
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

/// `a.col1, a.col2, …` (or without a prefix).
fn column_list(columns: &[Column], alias: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}{}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The version of a row, which decides which of two rows with the same key is the later one:
/// a ticket's `updated_at`, or when the export has none the latest of its milestones (a later
/// export of a ticket knows of later milestones). Events have no versions.
fn version_sql(table: &str, alias: &str) -> String {
    if table == TICKETS.name {
        format!(
            "coalesce({alias}updated_at, greatest({alias}created_at, {alias}first_response_at, \
             {alias}resolved_at, {alias}closed_at))"
        )
    } else {
        "CAST(NULL AS TIMESTAMP)".to_string()
    }
}

/// A hash of values (SQL expressions): fields are length-prefixed so that no two different
/// lists of values share an input.
fn hash_sql<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> String {
    let parts: Vec<String> = values
        .into_iter()
        .map(|v| {
            let text = format!("CAST({} AS VARCHAR)", v.as_ref());
            format!("coalesce(concat(character_length({text}), ':', {text}), '-')")
        })
        .collect();
    format!("md5(concat({}))", parts.join(", '|', "))
}

/// A hash of a row's content (all its columns), the deterministic tie-break between two
/// versions of one key that disagree.
fn row_hash_sql(columns: &[Column], alias: &str) -> String {
    hash_sql(columns.iter().map(|c| format!("{alias}{}", c.name)))
}

/// The reconciliation of the input rows with the stored table: every input row with its
/// `_action`:
/// - `insert`: a new key; `update`: a later version of a stored row;
/// - `replace`: the same version as the stored row with other content and a greater hash (the
///   stored row is replaced and recorded as a conflict);
/// - `conflict`: the same version as the stored row, or as another input row, with other
///   content and a smaller hash: quarantined;
/// - `unchanged`: identical to the stored row or to another input row, older than the
///   stored version, or superseded by a later version in the same run.
///
/// Versions are compared by [`version_sql`], then by the input's `_s` (a snapshot's sequence
/// number). In [`Mode::Derived`], an input row replaces the stored one whenever they differ.
fn reconcile_sql(target: &Table, input: &str, stored: &str, mode: Mode) -> String {
    let key = target.key;
    let columns = target.columns;
    let table = target.name;
    let partition = key.join(", ");
    let join = key
        .iter()
        .map(|k| format!("t.{k} = w.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let staged_version = version_sql(table, "s.");
    let staged_hash = row_hash_sql(columns, "s.");
    let target_version = version_sql(table, "t.");
    let target_hash = row_hash_sql(columns, "t.");
    let cols = column_list(columns, "");
    let wcols = column_list(columns, "w.");
    let first_key = key[0];
    let order = format!(
        "PARTITION BY {partition} ORDER BY _v DESC NULLS LAST, _s DESC NULLS LAST, _h DESC, _file, _line"
    );
    let stored_action = match mode {
        Mode::Versioned => {
            "WHEN (_v IS NOT DISTINCT FROM _tv) AND _h = _th THEN 'unchanged'
                WHEN (_v IS NOT DISTINCT FROM _tv) AND _h > _th THEN 'replace'
                WHEN (_v IS NOT DISTINCT FROM _tv) THEN 'conflict'
                WHEN _tv IS NULL OR _v > _tv THEN 'update'
                ELSE 'unchanged'"
        }
        Mode::Derived => "WHEN _h = _th THEN 'unchanged' ELSE 'update'",
    };
    format!(
        "WITH s AS (
            SELECT {cols}, _file, _line, _s, {staged_version} AS _v, {staged_hash} AS _h FROM {input} s
        ),
        ranked AS (
            SELECT *,
                row_number() OVER ({order}) AS _rn,
                first_value(_v) OVER ({order}) AS _wv,
                first_value(_s) OVER ({order}) AS _ws,
                first_value(_h) OVER ({order}) AS _wh
            FROM s
        ),
        w AS (SELECT * FROM ranked WHERE _rn = 1),
        joined AS (
            SELECT {wcols}, w._file, w._line, w._v, w._h,
                t.{first_key} IS NOT NULL AS _stored,
                {target_version} AS _tv, {target_hash} AS _th
            FROM w LEFT JOIN {stored} t ON {join}
        )
        SELECT {cols}, _file, _line, _h, _th,
            CASE
                WHEN NOT _stored THEN 'insert'
                {stored_action}
            END AS _action
        FROM joined
        UNION ALL
        SELECT {cols}, _file, _line, _h, _wh AS _th,
            CASE WHEN (_v IS NOT DISTINCT FROM _wv) AND (_s IS NOT DISTINCT FROM _ws) AND _h <> _wh
                THEN 'conflict' ELSE 'unchanged' END AS _action
        FROM ranked WHERE _rn > 1"
    )
}

/// Quarantine rows for the conflicts of a plan: the losing input rows, and the stored rows
/// that an input row replaced.
fn conflicts_sql(source: &str, key: &[&str], plan: &str) -> String {
    let source = source.replace('\'', "''");
    let key_value = if key.len() == 1 {
        key[0].to_string()
    } else {
        key.join(" || '/' || ")
    };
    let key_name = key.join("/");
    format!(
        "SELECT '{source}' AS source, _file AS file, _line AS line, '{key_name}' AS \"column\",
            {key_value} AS value,
            'duplicate key with conflicting content: another version with the same key and \
             time differs (content hash ' || _th || ' kept)' AS reason
         FROM {plan} WHERE _action = 'conflict'
         UNION ALL
         SELECT '{source}' AS source, '(stored)' AS file, arrow_cast(0, 'UInt64') AS line,
            '{key_name}' AS \"column\", {key_value} AS value,
            'duplicate key with conflicting content: the stored version (content hash ' || _th || \
            ') was replaced by ' || _file || ':' || CAST(_line AS VARCHAR) AS reason
         FROM {plan} WHERE _action = 'replace'"
    )
}

/// Status-change, assignment and priority-change events from consecutive snapshots of each
/// ticket (the staged ones, the first of them diffed with the stored ticket when that is
/// older), and a `created` event per ticket. Event ids hash the event's content.
fn snapshot_events_sql() -> String {
    let order = "PARTITION BY ticket_id, source_system \
                 ORDER BY updated_at, _seq NULLS FIRST, _file, _line";
    let id = hash_sql([
        "source_system",
        "ticket_id",
        "CAST(ts AS BIGINT)",
        "event_type",
        "actor",
        "from_status",
        "to_status",
        "value",
    ]);
    let none = "CAST(NULL AS VARCHAR)";
    let created = sql_literal(EventType::Created);
    let status = sql_literal(EventType::StatusChanged);
    let assigned = sql_literal(EventType::Assigned);
    let priority = sql_literal(EventType::PriorityChanged);
    // One pass over the snapshots: each is paired with the four kinds of event it may yield
    // (a tiny build side), and the pairs that yield nothing are filtered out.
    format!(
        "WITH s AS (
            SELECT ticket_id, source_system, created_at, updated_at, status, assignee, priority,
                _seq, _actor, _file, _line,
                row_number() OVER ({order}) AS _n,
                lag(status) OVER ({order}) AS _ls,
                lag(assignee) OVER ({order}) AS _la,
                lag(priority) OVER ({order}) AS _lp
            FROM {STAGED}_chunk
        ),
        p AS (
            SELECT s.*,
                coalesce(s._n > 1 OR b.updated_at < s.updated_at, false) AS _prev,
                CASE WHEN s._n > 1 THEN s._ls ELSE b.status END AS _ps,
                CASE WHEN s._n > 1 THEN s._la ELSE b.assignee END AS _pa,
                CASE WHEN s._n > 1 THEN s._lp ELSE b.priority END AS _pp
            FROM s LEFT JOIN tickets_before_chunk b
                ON b.ticket_id = s.ticket_id AND b.source_system = s.source_system
        ),
        e AS (
            SELECT ticket_id, source_system,
                CASE WHEN k.kind = {created} THEN created_at ELSE updated_at END AS ts,
                k.kind AS event_type,
                CASE WHEN k.kind = {created} THEN {none} ELSE _actor END AS actor,
                CASE WHEN k.kind = {status} THEN _ps END AS from_status,
                CASE WHEN k.kind = {status} THEN status END AS to_status,
                CASE k.kind WHEN {assigned} THEN assignee WHEN {priority} THEN priority END
                    AS value,
                _file, _line
            FROM (VALUES ({created}), ({status}), ({assigned}), ({priority}))
                AS k(kind)
            CROSS JOIN p
            WHERE CASE k.kind
                WHEN {created} THEN _n = 1
                WHEN {status} THEN _prev AND status IS DISTINCT FROM _ps
                WHEN {assigned} THEN _prev AND assignee IS NOT NULL AND assignee IS DISTINCT FROM _pa
                ELSE _prev AND priority IS NOT NULL AND priority IS DISTINCT FROM _pp
            END
        )
        SELECT {id} AS event_id, ticket_id, source_system, ts, event_type, actor,
            {none} AS actor_role, from_status, to_status, value,
            to_char(ts, '%Y-%m') AS month, _file, _line, CAST(NULL AS BIGINT) AS _s
        FROM e"
    )
}

/// The tickets of the events staged in this run, derived from all their stored events by the
/// history rules ([`crate::history`]), with the latest attributes the event rows carried;
/// attributes a run does not carry keep their stored values.
fn derived_tickets_sql() -> String {
    let attribute = |c: &str| {
        format!(
            "CASE WHEN t.updated_at IS NULL OR a._ts >= t.updated_at \
                 THEN coalesce(a.{c}, t.{c}) ELSE coalesce(t.{c}, a.{c}) END AS {c}"
        )
    };
    let latest = |c: &str| {
        format!("first_value({c} ORDER BY ts DESC, _file DESC, _line DESC) FILTER (WHERE {c} IS NOT NULL) AS {c}")
    };
    let plain = ["channel", "inbox", "team", "priority", "requester"];
    let attributes: Vec<String> = plain.iter().map(|c| attribute(c)).collect();
    let latest: Vec<String> = plain
        .iter()
        .chain(&["assignee", "csat_score"])
        .map(|c| latest(c))
        .collect();
    format!(
        "WITH k AS (SELECT DISTINCT ticket_id, source_system FROM {STAGED}_chunk),
        ev AS (
            SELECT e.* FROM events_now_chunk e
            JOIN k ON e.ticket_id = k.ticket_id AND e.source_system = k.source_system
        ),
        h AS ({facts}),
        a AS (
            SELECT ticket_id, source_system, max(ts) AS _ts, {latest}
            FROM {STAGED_ATTRIBUTES}_chunk GROUP BY ticket_id, source_system
        )
        SELECT h.ticket_id, h.source_system, h.created_at, h.updated_at, {attributes},
            CASE WHEN t.updated_at IS NULL OR a._ts >= t.updated_at
                THEN coalesce(a.assignee, h.assigned, t.assignee)
                ELSE coalesce(h.assigned, t.assignee, a.assignee) END AS assignee,
            h.status, h.first_response_at, h.resolved_at, h.closed_at, h.reopen_count,
            coalesce(h.csat_score, a.csat_score, t.csat_score) AS csat_score,
            '{DERIVED_FILE}' AS _file, arrow_cast(0, 'UInt64') AS _line, CAST(NULL AS BIGINT) AS _s
        FROM h
        LEFT JOIN a ON a.ticket_id = h.ticket_id AND a.source_system = h.source_system
        LEFT JOIN stored_tickets_chunk t ON t.ticket_id = h.ticket_id AND t.source_system = h.source_system",
        facts = crate::history::sql::ticket_facts("ev"),
        latest = latest.join(",\n                "),
        attributes = attributes.join(",\n            "),
    )
}

/// Append the rows of `source`, all with keys `table` lacks, to `table` in one commit.
async fn append(
    ctx: &SessionContext,
    table: DeltaTable,
    source: datafusion::dataframe::DataFrame,
    name: &'static str,
) -> Result<DeltaTable, IngestError> {
    table
        .write(Vec::new())
        .with_input_plan(source.logical_plan().clone())
        .with_save_mode(deltalake::protocol::SaveMode::Append)
        .with_session_state(Arc::new(ctx.state()))
        .await
        .map_err(|source| IngestError::Commit {
            table: name,
            source: Box::new(source),
        })
}

/// MERGE `source` into `table`, matching rows on the `key` columns: insert the rows of `source`
/// the table lacks and, with `update`, overwrite the matched ones.
async fn merge(
    ctx: &SessionContext,
    table: DeltaTable,
    source: datafusion::dataframe::DataFrame,
    columns: &[&str],
    key: &[&str],
    update: bool,
    name: &'static str,
) -> Result<DeltaTable, IngestError> {
    let on = key
        .iter()
        .map(|k| format!("t.\"{k}\" = s.\"{k}\""))
        .collect::<Vec<_>>()
        .join(" AND ");
    let commit = |source| IngestError::Commit {
        table: name,
        source: Box::new(source),
    };
    let mut builder = table
        .merge(source, on)
        .with_session_state(Arc::new(ctx.state()))
        .with_source_alias("s")
        .with_target_alias("t")
        .when_not_matched_insert(|mut i| {
            for c in columns {
                i = i.set(format!("\"{c}\""), format!("s.\"{c}\""));
            }
            i
        })
        .map_err(commit)?;
    if update {
        builder = builder
            .when_matched_update(|mut u| {
                for c in columns {
                    u = u.update(format!("\"{c}\""), format!("s.\"{c}\""));
                }
                u
            })
            .map_err(commit)?;
    }
    let (table, _metrics) = builder.await.map_err(commit)?;
    Ok(table)
}

/// The staging folder of one run.
struct Stage {
    dir: PathBuf,
}

impl Stage {
    fn new(dir: PathBuf) -> Result<Stage, IngestError> {
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        Ok(Stage { dir })
    }
}

/// Staged rows of one kind: Parquet files in one folder, written batch by batch.
struct Writer {
    dir: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
}

impl Writer {
    fn new(dir: PathBuf, schema: SchemaRef) -> Writer {
        Writer {
            dir,
            schema,
            writer: None,
            rows: 0,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataFusionError> {
        if self.writer.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let file = File::create(self.dir.join("part-0.parquet"))?;
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(STAGE_ROW_GROUP))
                .build();
            self.writer = Some(ArrowWriter::try_new(
                file,
                Arc::clone(&self.schema),
                Some(props),
            )?);
        }
        if let Some(writer) = self.writer.as_mut() {
            writer.write(batch)?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close the files; the number of rows staged.
    fn finish(mut self) -> Result<u64, IngestError> {
        if let Some(writer) = self.writer.take() {
            writer
                .close()
                .map_err(|e| query("staging rows")(DataFusionError::from(e)))?;
        }
        Ok(self.rows)
    }
}
