//! One ingest run: export files through a source mapping into the stored tables.
//!
//! 1. Every file streams through its mapping ([`super::stream`]) into files in a staging
//!    folder (`data/_staging/…`) as Parquet, so memory stays bounded whatever the export's size; files,
//!    and byte ranges of large files, are read by [`Options::threads`] threads (`stage`).
//!    With `strict`, the first bad row stops the run and nothing is committed.
//! 2. The staged rows are reconciled with the stored table (`plan`): one version per key (the
//!    latest; see `plan::versions`), and for each the action that makes the result
//!    independent of the order in which overlapping exports arrive (insert, update, unchanged,
//!    or a conflict: the same key and version with different content, where the version with
//!    the greater content hash is kept and the other goes to quarantine). The input and the
//!    stored table are split by key into buckets in one pass each (`buckets`), worked on by
//!    every thread at once (`parts`), so memory is bounded by the buckets in hand
//!    ([`Options::chunk_rows`]) rather than by the export or the table; an input of new keys
//!    only is its own plan. Tickets derived from events are replayed by the history rules
//!    (`replay`); events and milestones derived from snapshots are diffed and filled, and the
//!    tickets reconciled, in one pass over the same buckets (`snapshots`). Both read the
//!    staged rows already grouped by bucket of ticket (`stage::Grouped`: staging writes a
//!    row group per bucket) rather than splitting them again, when those buckets are small
//!    enough.
//! 3. Inserts and updates are committed with one Delta MERGE per table (an append when there
//!    are only inserts); rejected rows are merged into `quarantine` (so re-ingesting a file
//!    does not repeat them). Nothing reads back a commit of the run: the tickets derived from
//!    events read the events' plan (so that a check derives them as a run does), and the two
//!    tables of a snapshot export are committed at once.
//!
//! A run holds an exclusive lock on the data folder; staging left behind by a killed run is
//! removed by the next one.

mod buckets;
mod delta;
mod parts;
mod plan;
mod reconcile;
mod replay;
mod snapshots;
mod stage;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::DataFusionError;

use crate::config::{Shape, SourceMapping};
use crate::tables::delta::{self as store, StoreError};
use crate::tables::{Table, QUARANTINE, TICKETS, TICKET_EVENTS};

use super::records::attributes_schema;
use super::stream::StreamError;
use delta::{delete, record_rejections};
use reconcile::{
    column_list, ingest_context, register_parquet, source_predicate, Mode, Planned, Run,
};
use stage::{has_files, stage_files, with_lines, Stage, STAGED, STAGED_ATTRIBUTES};

/// The staging folder inside the data folder (hidden from sessions by its leading `_`).
const STAGING: &str = "_staging";
/// The relations (and staging folders) of derived tickets and events.
const DERIVED: &str = "derived_tickets";
const DERIVED_EVENTS: &str = "derived_events";
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
    /// Older versions of a key that a later row of the same run replaces (a snapshot export's
    /// earlier updates of a ticket).
    pub superseded: u64,
    pub quarantined: u64,
    /// Rows the mapping marks as not real rows (kept in quarantine, not counted as rejected).
    pub skipped: u64,
    /// Whether the rows were derived from another table (tickets from their events): `read`
    /// is then the number of tickets the run touched.
    pub derived: bool,
    /// The table's version after the run.
    pub version: i64,
}

impl TableCounts {
    /// Add the counts of `other` (another step's, or another bucket's, of the same table).
    pub fn add(&mut self, other: &TableCounts) {
        self.read += other.read;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.superseded += other.superseded;
        self.quarantined += other.quarantined;
        self.skipped += other.skipped;
        self.derived |= other.derived;
    }
}

/// One input file's counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub rows: u64,
    pub quarantined: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub source: String,
    /// What the run did with its result: with `check`, the counts say what would change.
    pub commit: Commit,
    pub files: Vec<FileReport>,
    pub tables: BTreeMap<&'static str, TableCounts>,
}

/// Hooks for progress reports while a run works.
pub trait Progress {
    /// Reading starts: these files, of so many bytes in all.
    fn reading(&self, _files: &[PathBuf], _bytes: u64) {}
    /// Rows and bytes of the files read so far.
    fn read(&self, _rows: u64, _bytes: u64) {}
    /// A later step starts (reconciling, committing).
    fn step(&self, _what: &str) {}
}

/// No progress reports.
pub struct Quiet;
impl Progress for Quiet {}

/// What a run does with what it computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Commit {
    /// Insert and update the stored rows, and record the rejected ones (the default).
    #[default]
    Merge,
    /// Read, check and reconcile everything and report what would change; commit nothing.
    Check,
    /// Replace every stored row of the source (its `source_system` in `tickets` and
    /// `ticket_events`, its name in `quarantine`) with the run's rows: after a mapping changed.
    Replace,
}

/// How a run works: strictness and the tuning of its chunks and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Stop at the first bad row and commit nothing.
    pub strict: bool,
    /// What the run does with its result.
    pub commit: Commit,
    /// Rows a step holds in memory at once, about: the rows of the buckets of keys (of its
    /// input and of the stored table) that its threads work on.
    pub chunk_rows: u64,
    /// The memory (MiB) the run's SQL (reading stored tables, Delta writes and merges) may
    /// reserve; beyond it, it spills to the staging folder.
    pub memory_mb: usize,
    /// Files, or byte ranges of large files, read at once. The tables and the quarantine do not
    /// depend on it.
    pub threads: usize,
    /// Bytes of a large file each thread reads at once (nor do the results depend on it).
    pub range_bytes: u64,
    /// Rows read, mapped and checked at once (nor on this).
    pub batch_rows: usize,
}

impl Options {
    /// The default rows per chunk.
    pub const CHUNK_ROWS: u64 = 500_000;
    /// The default memory of a run's SQL, MiB.
    pub const MEMORY_MB: usize = 1024;
    /// The least memory a run accepts, MiB.
    pub const MIN_MEMORY_MB: usize = 64;
    /// The most memory a run accepts, MiB (1 PiB: a bound, not a recommendation).
    pub const MAX_MEMORY_MB: usize = 1 << 30;

    /// The default rows of a batch.
    pub const BATCH_ROWS: usize = 8_192;

    /// The default bytes of a file read at once.
    pub const RANGE_BYTES: u64 = 64 << 20;

    /// The default threads: the machine's cores.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strict: false,
            commit: Commit::Merge,
            chunk_rows: Options::CHUNK_ROWS,
            memory_mb: Options::MEMORY_MB,
            threads: Options::default_threads(),
            range_bytes: Options::RANGE_BYTES,
            batch_rows: Options::BATCH_ROWS,
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

/// Register the derived rows in `dir` (none when it has no files, with `schema`) as `name`.
async fn register_derived(
    ctx: &datafusion::prelude::SessionContext,
    name: &str,
    dir: &Path,
    schema: datafusion::arrow::datatypes::SchemaRef,
) -> Result<(), IngestError> {
    if has_files(dir) {
        register_parquet(ctx, name, dir).await
    } else {
        ctx.register_batch(name, RecordBatch::new_empty(schema))
            .map(|_| ())
            .map_err(query("registering derived rows"))
    }
}

async fn run(
    data_dir: &Path,
    mapping: &SourceMapping,
    files: &[PathBuf],
    options: &Options,
    progress: &dyn Progress,
    stage: &Stage,
) -> Result<IngestReport, IngestError> {
    // 1. Stage.
    let staged = stage_files(files, mapping, options, stage, progress)?;
    let (reports, totals) = (staged.reports, staged.totals);
    let (staged_records, staged_attributes) = (staged.records, staged.attributes);
    let grouped = staged.grouped;
    let key_hashes = staged.key_hashes;

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
            chunk_rows: options.chunk_rows.max(1),
            commit: options.commit,
            threads: options.threads.max(1),
        };
        let mut applied = Vec::new();
        match mapping.shape {
            Shape::Tickets => {
                let sql = staged_columns(tickets);
                applied.push(
                    steps
                        .apply(tickets, &sql, key_hashes, Mode::Versioned)
                        .await?,
                );
            }
            Shape::Events => {
                let sql = staged_columns(events);
                let (planned, counts) = steps
                    .plan(events, &sql, key_hashes, Mode::Versioned)
                    .await?;
                // When the plan is the staged input itself, the derivation reads its events
                // from the staged files.
                let grouped = grouped.filter(|_| matches!(planned, Planned::Inserts(_)));
                steps.register_plan(events, planned).await?;
                if !mapping.derive_tickets {
                    applied.push(steps.commit_plan(events, counts).await?);
                } else {
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
                    steps.register_before("events_before", events).await?;
                    steps.register_before("stored_tickets", tickets).await?;
                    progress.step("deriving the tickets rows");
                    let dir = stage.dir.join(DERIVED);
                    let schema = steps.derive_tickets(&dir, grouped.as_ref()).await?;
                    applied.push(steps.commit_plan(events, counts).await?);
                    register_derived(&ctx, DERIVED, &dir, schema).await?;
                    let sql = format!("SELECT * FROM {DERIVED}");
                    applied.push(steps.apply(tickets, &sql, None, Mode::Derived).await?);
                }
            }
            Shape::Snapshots => {
                // The events diff the first snapshot of each ticket with the stored ticket as
                // it was before this run; the tickets' blank milestones come from the status
                // history, stored and derived.
                steps.register_before("tickets_before", tickets).await?;
                steps.register_before("events_before", events).await?;
                progress.step("deriving the ticket_events and tickets rows");
                let events_dir = stage.dir.join(DERIVED_EVENTS);
                let (events_schema, tickets_plan, tickets_counts) =
                    steps.snapshot_rows(&events_dir, grouped.as_ref()).await?;
                register_derived(&ctx, DERIVED_EVENTS, &events_dir, events_schema).await?;
                let sql = format!("SELECT * FROM {DERIVED_EVENTS}");
                // Two tables, two commits: both at once.
                let (events_applied, tickets_applied) = futures::try_join!(
                    steps.apply(events, &sql, None, Mode::Versioned),
                    steps.commit(tickets, tickets_plan, tickets_counts)
                )?;
                applied.extend([events_applied, tickets_applied]);
            }
        }
        for a in applied {
            versions.insert(a.table, a.version);
            tables.entry(a.table).or_default().add(&a.counts);
            conflicts.extend(a.conflicts);
        }
    } else if options.commit == Commit::Replace {
        // Nothing staged: the source's rows go all the same.
        let fed: &[&'static Table] = match mapping.shape {
            Shape::Tickets => &[&TICKETS],
            Shape::Events if mapping.derive_tickets => &[&TICKET_EVENTS, &TICKETS],
            Shape::Events => &[&TICKET_EVENTS],
            Shape::Snapshots => &[&TICKET_EVENTS, &TICKETS],
        };
        let predicate = source_predicate("source_system", &mapping.source_system);
        for target in fed {
            progress.step(&format!("removing the source's rows from {}", target.name));
            let table = store::open_or_create(data_dir, target).await?;
            let table = delete(&ctx, table, &predicate, target.name).await?;
            versions.insert(target.name, store::version(&table));
        }
    }
    {
        // Rows of the files that were rejected belong to the table the export feeds.
        let counts = tables.entry(primary).or_default();
        if mapping.shape != Shape::Snapshots || staged_records == 0 {
            counts.read = totals.rows;
        } else {
            counts.read += totals.quarantined + totals.skipped;
        }
        counts.quarantined += totals.quarantined;
        counts.skipped += totals.skipped;
    }

    // 3. Rejected rows: those of the files, then the conflicts.
    let quarantine = record_rejections(
        &ctx,
        data_dir,
        stage,
        conflicts,
        (options.commit, &mapping.name),
        progress,
    )
    .await?;
    versions.insert(QUARANTINE.name, store::version(&quarantine));
    for (name, version) in versions {
        tables.entry(name).or_default().version = version;
    }

    Ok(IngestReport {
        source: mapping.name.clone(),
        commit: options.commit,
        files: reports,
        tables,
    })
}
