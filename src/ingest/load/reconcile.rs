//! Reconciliation: the staged (or derived) rows of one table weighed against the stored table,
//! bucket by bucket of keys, by the rule of `plan`, into a plan of actions that makes the result
//! independent of the order in which overlapping exports arrive; then the plan's rows committed
//! (a Delta append or MERGE), and the run's session and stored tables as SQL relations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::common::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::config::SourceMapping;
use crate::tables::delta as store;
use crate::tables::{Column, Table};

use super::buckets::{key_hashes, Buckets};
use super::delta::{merge, register_latest, write};
use super::parts::{write_parts, PartWriter};
use super::plan;
use super::stage::{has_files, Stage};
use super::{io, query, Commit, IngestError, Options, Progress, TableCounts};

/// How the rows of an input are weighed against the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Rows of an export: the later version wins (see [`super::plan`]).
    Versioned,
    /// Rows derived from the whole stored history: they replace the stored row when they differ.
    Derived,
}

/// Rows per Parquet row group in the files a run writes (plans and Delta data files): a row
/// group is buffered whole before it is written, once per open file, so the Parquet default
/// (about a million rows) would hold hundreds of MB per monthly partition of `ticket_events`.
pub(super) const WRITE_ROW_GROUP: usize = 131_072;

/// A session for one run's SQL (reading staged and stored rows, Delta writes and merges):
/// plain strings (not views) throughout, as in the stored tables; a bounded memory pool with
/// spilling to `spill_dir`, sort-merge joins (which spill) rather than hash joins (which must
/// hold one side in memory), and one partition, which halves the operators holding memory at
/// once. When the pool runs out, the error names its five largest users.
pub(super) fn ingest_context(
    spill_dir: &Path,
    memory_mb: usize,
) -> Result<SessionContext, IngestError> {
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
    // Snappy, as Delta writers and DuckDB write by default: cheaper to encode than zstd
    // (DataFusion's own default), for files somewhat larger.
    config.options_mut().execution.parquet.compression = Some("snappy".to_string());
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
    Ok(ctx)
}

/// Register the Parquet files of `dir` (staged rows, or a step's output) as `name`.
pub(super) async fn register_parquet(
    ctx: &SessionContext,
    name: &str,
    dir: &Path,
) -> Result<(), IngestError> {
    ctx.register_parquet(
        name,
        dir.to_string_lossy().as_ref(),
        ParquetReadOptions::default(),
    )
    .await
    .map_err(query("reading staged rows"))
}

/// What [`apply`] did to one table.
pub(super) struct Applied {
    pub(super) table: &'static str,
    pub(super) counts: TableCounts,
    pub(super) conflicts: Vec<RecordBatch>,
    pub(super) version: i64,
}

/// What the steps of a run share.
pub(super) struct Run<'a> {
    pub(super) ctx: &'a SessionContext,
    pub(super) data_dir: &'a Path,
    pub(super) stage: &'a Stage,
    pub(super) mapping: &'a SourceMapping,
    pub(super) progress: &'a dyn Progress,
    /// Rows the buckets of keys a step holds at once hold together, about
    /// ([`Options::chunk_rows`]).
    pub(super) chunk_rows: u64,
    pub(super) commit: Commit,
    /// Threads a step may use ([`Options::threads`]).
    pub(super) threads: usize,
}

/// Register (or re-register) the query `sql` as the view `name`.
pub(super) async fn register_view(
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

/// `'text'`: a SQL string literal of any text.
fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `column = 'value'`, quoted for SQL.
pub(super) fn source_predicate(column: &str, value: &str) -> String {
    format!("{column} = {}", text_literal(value))
}

impl Run<'_> {
    /// Register the stored `table` as `name` as it stands before the run's commits: without
    /// the source's rows when the run replaces them.
    pub(super) async fn register_before(
        &self,
        name: &str,
        table: &Table,
    ) -> Result<(), IngestError> {
        if self.commit != Commit::Replace {
            return register_latest(self.ctx, name, self.data_dir, table).await;
        }
        let all = format!("{name}_with_source");
        register_latest(self.ctx, &all, self.data_dir, table).await?;
        let keep = source_predicate("source_system", &self.mapping.source_system);
        register_view(
            self.ctx,
            name,
            &format!("SELECT * FROM {all} WHERE NOT ({keep})"),
            "reading a stored table",
        )
        .await
    }

    /// Reconcile the rows of `input_sql` (the target's columns, then `_file`, `_line` and the
    /// tie-break `_s`) with the stored `target`, and commit the inserts and updates in one
    /// MERGE. `hashes` are the hashes of the input rows' keys when they are known
    /// ([`super::stage::Staged::key_hashes`]).
    pub(super) async fn apply(
        &self,
        target: &'static Table,
        input_sql: &str,
        hashes: Option<Vec<u64>>,
        mode: Mode,
    ) -> Result<Applied, IngestError> {
        let (planned, counts) = self.plan(target, input_sql, hashes, mode).await?;
        self.commit(target, planned, counts).await
    }

    /// Reconcile the rows of `input_sql` (see [`Run::apply`]) with the stored `target` (as
    /// `stored_<table>`) into its plan. Returns where the plan is, and its counts.
    pub(super) async fn plan(
        &self,
        target: &'static Table,
        input_sql: &str,
        hashes: Option<Vec<u64>>,
        mode: Mode,
    ) -> Result<(Planned, TableCounts), IngestError> {
        let name = target.name;
        let stored = format!("stored_{name}");
        self.register_before(&stored, target).await?;
        let input = format!("input_{name}");
        register_view(self.ctx, &input, input_sql, "planning the input rows").await?;

        self.progress
            .step(&format!("reconciling {name} with the stored table"));
        let mut counts = TableCounts {
            derived: mode == Mode::Derived,
            ..TableCounts::default()
        };
        let planned = self
            .reconcile(
                target,
                (&input, hashes),
                &stored,
                mode,
                &self.plan_dir(target),
                &mut counts,
            )
            .await?;
        Ok((planned, counts))
    }

    /// The folder of the plan of `target`'s rows.
    pub(super) fn plan_dir(&self, target: &Table) -> PathBuf {
        self.stage.dir.join(format!("plan_{}", target.name))
    }

    /// Commit the plan of `target`'s rows (see [`Run::apply`]), whose counts are `counts`.
    pub(super) async fn commit(
        &self,
        target: &'static Table,
        planned: Planned,
        counts: TableCounts,
    ) -> Result<Applied, IngestError> {
        self.register_plan(target, planned).await?;
        self.commit_plan(target, counts).await
    }

    /// Register the plan of `target`'s rows as the relation `plan_<table>`.
    pub(super) async fn register_plan(
        &self,
        target: &'static Table,
        planned: Planned,
    ) -> Result<(), IngestError> {
        let ctx = self.ctx;
        let plan_name = format!("plan_{}", target.name);
        let plan_dir = self.plan_dir(target);
        let _ = ctx.deregister_table(&plan_name);
        match planned {
            // Every row is new: the input is the plan, and is not copied.
            Planned::Inserts(input) => {
                let sql = format!(
                    "SELECT {}, _file, _line, CAST(NULL AS VARCHAR) AS _th, \
                     '{}' AS _action FROM {input}",
                    column_list(target.columns, ""),
                    plan::Action::Insert.name()
                );
                register_view(ctx, &plan_name, &sql, "planning the input rows").await?;
            }
            Planned::Files(_) if has_files(&plan_dir) => {
                register_parquet(ctx, &plan_name, &plan_dir).await?;
            }
            Planned::Files(schema) => {
                ctx.register_batch(&plan_name, RecordBatch::new_empty(schema))
                    .map_err(query("registering the plan"))?;
            }
        }
        Ok(())
    }

    /// Commit the registered plan of `target`'s rows ([`Run::register_plan`]), whose counts are
    /// `counts`: its inserts and updates, or with [`Commit::Replace`] all its rows in place of
    /// the source's. Lists its conflicts.
    pub(super) async fn commit_plan(
        &self,
        target: &'static Table,
        counts: TableCounts,
    ) -> Result<Applied, IngestError> {
        let Run {
            ctx,
            data_dir,
            mapping,
            progress,
            commit,
            ..
        } = *self;
        let name = target.name;
        let mut table = store::open_or_create(data_dir, target).await?;
        let plan_name = format!("plan_{name}");
        let conflicts = ctx
            .sql(&conflicts_sql(&mapping.name, target.key, &plan_name))
            .await
            .map_err(query("listing conflicts"))?
            .collect()
            .await
            .map_err(query("listing conflicts"))?;
        let rows = || async {
            ctx.sql(&format!(
                "SELECT {} FROM {plan_name} WHERE _action IN ('insert', 'update', 'replace')",
                column_list(target.columns, "")
            ))
            .await
            .map_err(query("selecting the rows to commit"))
        };
        match commit {
            Commit::Check => {}
            Commit::Replace => {
                progress.step(&format!("replacing the source's rows in {name}"));
                let predicate = source_predicate("source_system", &mapping.source_system);
                table = write(ctx, table, rows().await?, Some(&predicate), target).await?;
            }
            Commit::Merge if counts.inserted + counts.updated > 0 => {
                progress.step(&format!("committing to {name}"));
                table = if counts.updated == 0 {
                    // Only new keys: an append commits them without joining the stored table.
                    write(ctx, table, rows().await?, None, target).await?
                } else {
                    merge(ctx, table, rows().await?, target, true).await?
                };
            }
            Commit::Merge => {}
        }
        Ok(Applied {
            table: name,
            counts,
            conflicts,
            version: store::version(&table),
        })
    }
}

impl Run<'_> {
    /// Into how many buckets to split `rows` rows so that the buckets a step holds at once
    /// (one per thread) hold about [`Run::chunk_rows`] rows together.
    pub(super) fn buckets_of(&self, rows: u64) -> u64 {
        buckets_for(rows, self.chunk_rows, self.threads)
    }

    /// Into how many buckets of keys to split the rows of `relations` ([`Run::buckets_of`] the
    /// largest).
    pub(super) async fn buckets(&self, relations: &[&str]) -> Result<u64, IngestError> {
        let mut most = 0;
        for relation in relations {
            most = most.max(self.rows(relation).await?);
        }
        Ok(self.buckets_of(most))
    }

    /// The rows of the relation `relation`.
    pub(super) async fn rows(&self, relation: &str) -> Result<u64, IngestError> {
        let rows = self
            .ctx
            .table(relation)
            .await
            .map_err(query("counting rows"))?
            .count()
            .await
            .map_err(query("counting rows"))?;
        Ok(rows as u64)
    }

    /// Weigh the rows of the relation `input` (the target's columns, `_file`, `_line`, `_s`;
    /// with the hashes of their keys when they are known) against the stored relation `stored`
    /// by the rule of [`plan`], and write the plan's rows into `plan_dir`. Returns the plan's
    /// schema.
    ///
    /// A first pass reads the keys of both: a key that appears once in the input and is not
    /// stored is an insert, written to the plan as the second pass reads it. The rows of the
    /// other keys (by a 64-bit hash of the key, so a collision only costs time) are split into
    /// buckets of keys ([`Buckets`]) and planned bucket by bucket. When every key is an insert
    /// the input itself is the plan, and nothing is written.
    async fn reconcile(
        &self,
        target: &'static Table,
        (input, input_hashes): (&str, Option<Vec<u64>>),
        stored: &str,
        mode: Mode,
        plan_dir: &Path,
        counts: &mut TableCounts,
    ) -> Result<Planned, IngestError> {
        let name = target.name;
        let dir = self.stage.dir.join(format!("buckets_{name}"));
        let keys = target.key.join(", ");
        let input_hashes = match input_hashes {
            Some(hashes) => hashes,
            None => {
                key_hashes(self.ctx, &format!("SELECT {keys} FROM {input}"), target.key).await?
            }
        };
        let contested = Contested::of(
            input_hashes,
            key_hashes(
                self.ctx,
                &format!("SELECT {keys} FROM {stored}"),
                target.key,
            )
            .await?,
            self.threads,
        );
        if contested.hashes.is_empty() {
            counts.read += contested.input_rows;
            counts.inserted += contested.input_rows;
            return Ok(Planned::Inserts(input.to_string()));
        }
        let buckets = self.buckets_of(contested.rows);

        let failed = |e: ArrowError| query("reconciling")(DataFusionError::from(e));
        let mut out: Option<PartWriter> = None;
        let rows = Buckets::split_routed(
            self.ctx,
            &format!(
                "SELECT {}, _file, _line, _s FROM {input}",
                column_list(target.columns, ""),
            ),
            target.key,
            buckets,
            &dir.join("input"),
            |batch, hashes| {
                let (open, rest): (Vec<u32>, Vec<u32>) =
                    (0..hashes.len() as u32).partition(|&i| !contested.has(hashes[i as usize]));
                if !open.is_empty() {
                    let inserts =
                        take_record_batch(&batch, &UInt32Array::from(open)).map_err(failed)?;
                    counts.read += inserts.num_rows() as u64;
                    counts.inserted += inserts.num_rows() as u64;
                    let plan = plan::inserts(&inserts, target).map_err(failed)?;
                    PartWriter::open(&mut out, plan_dir, "part-inserts.parquet", plan.schema())?
                        .write(&plan)?;
                }
                rows_of(&batch, &hashes, rest).map_err(failed)
            },
        )
        .await?;
        let kept = Buckets::split_routed(
            self.ctx,
            &format!("SELECT {} FROM {stored}", column_list(target.columns, ""),),
            target.key,
            buckets,
            &dir.join("stored"),
            |batch, hashes| {
                let rest: Vec<u32> = (0..hashes.len() as u32)
                    .filter(|&i| contested.has(hashes[i as usize]))
                    .collect();
                rows_of(&batch, &hashes, rest).map_err(failed)
            },
        )
        .await?;
        if let Some(out) = out {
            out.finish()?;
        }
        let schema = plan::plan_schema(&rows.schema, target).map_err(failed)?;
        let planned = Mutex::new(TableCounts::default());
        let kept_empty = RecordBatch::new_empty(Arc::clone(&kept.schema));
        write_parts(
            rows.len(),
            self.threads,
            "part-contested.parquet",
            [(plan_dir, &schema)],
            |b, threads| {
                let stored = kept.take(b)?;
                let Some(input) = rows.take(b)? else {
                    return Ok([Vec::new()]);
                };
                let stored = stored.as_ref().unwrap_or(&kept_empty);
                Ok([plan_bucket(
                    target, &input, stored, mode, threads, &planned,
                )?])
            },
        )?;
        counts.add(&planned.into_inner().unwrap_or_else(|e| e.into_inner()));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Planned::Files(schema))
    }
}

/// The plan of one bucket's `input` against its `stored` rows ([`plan::plan`]), in batches of
/// the files a run writes; its counts are added to `counts` (shared by the buckets).
pub(super) fn plan_bucket(
    target: &Table,
    input: &RecordBatch,
    stored: &RecordBatch,
    mode: Mode,
    threads: usize,
    counts: &Mutex<TableCounts>,
) -> Result<Vec<RecordBatch>, IngestError> {
    let mut bucket_counts = TableCounts::default();
    let batches = plan::plan(
        target,
        input,
        stored,
        mode,
        WRITE_ROW_GROUP,
        threads,
        &mut bucket_counts,
    )
    .map_err(|e| query("reconciling")(DataFusionError::from(e)))?;
    counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(&bucket_counts);
    Ok(batches)
}

/// Into how many buckets to split `rows` rows so that the buckets that `threads` threads hold
/// at once hold about `chunk_rows` rows together.
pub(super) fn buckets_for(rows: u64, chunk_rows: u64, threads: usize) -> u64 {
    let per_bucket = (chunk_rows / threads.max(1) as u64).max(1);
    rows.div_ceil(per_bucket).max(1)
}

/// Where a reconciliation's plan is.
pub(super) enum Planned {
    /// In files of the plan's folder ([`Run::plan_dir`]; none when it has no rows), with this
    /// schema.
    Files(SchemaRef),
    /// Nowhere: every row of the input relation named is an insert.
    Inserts(String),
}

/// The rows `rows` of `batch`, with their key hashes (none when there are none).
pub(super) fn rows_of(
    batch: &RecordBatch,
    hashes: &[u64],
    rows: Vec<u32>,
) -> Result<Option<(RecordBatch, Vec<u64>)>, ArrowError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let hashes = rows.iter().map(|&i| hashes[i as usize]).collect();
    let rows = take_record_batch(batch, &UInt32Array::from(rows))?;
    Ok(Some((rows, hashes)))
}

/// The keys (by hash) that need the full rule: those that appear more than once in the input
/// or are also stored.
struct Contested {
    /// Sorted, without repeats.
    hashes: Vec<u64>,
    /// The input and stored rows of those keys, the larger of the two counts.
    rows: u64,
    /// The rows of the input.
    input_rows: u64,
}

impl Contested {
    /// The contested keys of an input and a stored table, from the hashes of their keys,
    /// sorted on `threads` threads.
    fn of(input: Vec<u64>, stored: Vec<u64>, threads: usize) -> Contested {
        let input = sorted(input, threads);
        let stored = sorted(stored, threads);
        let mut hashes = Vec::new();
        for pair in input.windows(2) {
            if pair[0] == pair[1] && hashes.last() != Some(&pair[0]) {
                hashes.push(pair[0]);
            }
        }
        let mut also_stored: Vec<u64> = stored
            .iter()
            .copied()
            .filter(|h| input.binary_search(h).is_ok())
            .collect();
        also_stored.dedup();
        hashes.extend(also_stored);
        hashes.sort_unstable();
        hashes.dedup();
        let has = |h: &u64| hashes.binary_search(h).is_ok();
        let rows = (input.iter().filter(|h| has(h)).count() as u64)
            .max(stored.iter().filter(|h| has(h)).count() as u64);
        Contested {
            hashes,
            rows,
            input_rows: input.len() as u64,
        }
    }

    fn has(&self, hash: u64) -> bool {
        !self.hashes.is_empty() && self.hashes.binary_search(&hash).is_ok()
    }
}

/// `hashes` in ascending order, sorted on `threads` threads: parted by their top bits (hashes
/// spread evenly), each part sorted apart.
fn sorted(mut hashes: Vec<u64>, threads: usize) -> Vec<u64> {
    const BITS: u32 = 8;
    if threads < 2 || hashes.len() < 1 << 16 {
        hashes.sort_unstable();
        return hashes;
    }
    let part = |h: u64| (h >> (64 - BITS)) as usize;
    let mut ends = vec![0usize; 1 << BITS];
    for &h in &hashes {
        ends[part(h)] += 1;
    }
    let mut at = Vec::with_capacity(ends.len());
    let mut sum = 0;
    for end in &mut ends {
        at.push(sum);
        sum += *end;
        *end = sum;
    }
    let mut out = vec![0u64; hashes.len()];
    for &h in &hashes {
        let p = part(h);
        out[at[p]] = h;
        at[p] += 1;
    }
    drop(hashes);
    // The parts, dealt to the threads in turn.
    let mut shares: Vec<Vec<&mut [u64]>> = (0..threads).map(|_| Vec::new()).collect();
    let mut rest = out.as_mut_slice();
    let mut start = 0;
    for (p, &end) in ends.iter().enumerate() {
        let (part, tail) = rest.split_at_mut(end - start);
        shares[p % threads].push(part);
        (rest, start) = (tail, end);
    }
    std::thread::scope(|scope| {
        for share in shares {
            scope.spawn(move || share.into_iter().for_each(|part| part.sort_unstable()));
        }
    });
    out
}

/// `a.col1, a.col2, …` (or without a prefix).
pub(super) fn column_list(columns: &[Column], alias: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}{}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quarantine rows for the conflicts of a plan: the losing input rows, and the stored rows
/// that an input row replaced.
pub(super) fn conflicts_sql(source: &str, key: &[&str], plan: &str) -> String {
    let source = text_literal(source);
    let key_value = if key.len() == 1 {
        key[0].to_string()
    } else {
        key.join(" || '/' || ")
    };
    let key_name = key.join("/");
    format!(
        "SELECT {source} AS source, _file AS file, _line AS line, '{key_name}' AS \"column\",
            {key_value} AS value,
            'duplicate key with conflicting content: another version with the same key and \
             time differs (content hash ' || _th || ' kept)' AS reason
         FROM {plan} WHERE _action = 'conflict'
         UNION ALL
         SELECT {source} AS source, '(stored)' AS file, arrow_cast(0, 'UInt64') AS line,
            '{key_name}' AS \"column\", {key_value} AS value,
            'duplicate key with conflicting content: the stored version (content hash ' || _th || \
            ') was replaced by ' || _file || ':' || CAST(_line AS VARCHAR) AS reason
         FROM {plan} WHERE _action = 'replace'"
    )
}

#[cfg(test)]
mod tests {
    use super::{sorted, Contested};

    #[test]
    fn keys_repeated_in_the_input_or_stored_are_contested() {
        let c = Contested::of(vec![5, 1, 7, 5, 9, 3], vec![9, 2, 9], 2);
        assert_eq!(c.hashes, vec![5, 9]);
        assert!(c.has(5) && c.has(9) && !c.has(1) && !c.has(2));
        // Input rows 5, 5, 9; stored rows 9, 9.
        assert_eq!((c.rows, c.input_rows), (3, 6));
        let none = Contested::of(vec![1, 2, 3], Vec::new(), 1);
        assert!(!none.has(1) && none.rows == 0);
    }

    #[test]
    fn hashes_sorted_on_several_threads_as_on_one() {
        // Enough hashes to be parted, spread like hashes, with repeats and extremes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut hashes: Vec<u64> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        hashes.extend([0, u64::MAX, 0, 42, 42]);
        hashes.extend_from_within(..1000);
        let mut expected = hashes.clone();
        expected.sort_unstable();
        for threads in [1, 2, 3, 8] {
            assert_eq!(
                sorted(hashes.clone(), threads),
                expected,
                "{threads} threads"
            );
        }
    }
}
