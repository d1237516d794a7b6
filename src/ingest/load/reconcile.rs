//! Reconciliation: the staged (or derived) rows of one table weighed against the stored table
//! in DataFusion SQL, chunk by chunk of keys, into a plan of actions that makes the result
//! independent of the order in which overlapping exports arrive; then the plan's rows committed.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::config::SourceMapping;
use crate::tables::delta as store;
use crate::tables::{Column, Table, TICKETS};

use super::delta::{merge, register_latest, write};
use super::stage::{has_files, Stage};
use super::{io, query, Commit, IngestError, Options, Progress, TableCounts};

/// How the rows of an input are weighed against the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Rows of an export: the later version wins (see [`reconcile_sql`]).
    Versioned,
    /// Rows derived from the whole stored history: they replace the stored row when they differ.
    Derived,
}

/// Rows per Parquet row group in the files a run writes (plans and Delta data files): a row
/// group is buffered whole before it is written, once per open file, so the Parquet default
/// (about a million rows) would hold hundreds of MB per monthly partition of `ticket_events`.
pub(super) const WRITE_ROW_GROUP: usize = 131_072;

/// A session for one run's SQL: plain strings (not views) throughout, as in the stored tables;
/// a bounded memory pool with spilling to `spill_dir`, sort-merge joins (which spill) rather
/// than hash joins (which must hold one side in memory), and one partition, which halves the
/// operators holding memory at once (measured: 3.7 GB peak instead of 5.1 GB on 6.5M
/// snapshot rows, 6% slower). When the pool runs out, the error names its five largest users.
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
    ctx.register_udf(crate::ingest::bucket::udf());
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

/// The rows [`apply`] reconciles: a query over the staged files, read as it is, or a derived
/// query over `{relation}_chunk` views of the named relations (see [`register_chunk`]),
/// computed once, chunk by chunk of tickets, into the staging folder.
pub(super) enum Input<'a> {
    View(&'a str),
    Materialized(&'a str, &'a [&'a str]),
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
    /// Into how many chunks of keys each step splits its rows ([`Options::chunk_rows`]).
    pub(super) chunks: u64,
    pub(super) commit: Commit,
}

/// Register `{relation}_chunk` for each relation: its rows whose `key` falls in chunk `i`
/// of `n` (all of them when `n` is 1).
pub(super) async fn register_chunk(
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
                crate::ingest::bucket::NAME,
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

/// Write the rows of `sql` chunk by chunk into `dir` (one Parquet file per chunk), calling
/// `prepare(i)` before chunk `i`, and register `dir` as `name`.
pub(super) async fn write_chunks<F, Fut>(
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

    /// Register the stored `table` as `name` as it stands after the commit of `applied`: when
    /// the run commits nothing, the stored rows that the plan keeps and the plan's new rows.
    pub(super) async fn register_after(
        &self,
        name: &str,
        table: &'static Table,
    ) -> Result<(), IngestError> {
        if self.commit != Commit::Check {
            return register_latest(self.ctx, name, self.data_dir, table).await;
        }
        let stored = format!("{name}_stored");
        self.register_before(&stored, table).await?;
        let plan = format!("plan_{}", table.name);
        let columns = column_list(table.columns, "");
        let on = table
            .key
            .iter()
            .map(|k| format!("s.{k} = p.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let key = table.key.join(", ");
        register_view(
            self.ctx,
            name,
            &format!(
                "SELECT {columns} FROM {stored} s LEFT ANTI JOIN (
                    SELECT {key} FROM {plan} WHERE _action IN ('update', 'replace')
                ) p ON {on}
                UNION ALL
                SELECT {columns} FROM {plan} WHERE _action IN ('insert', 'update', 'replace')"
            ),
            "reading a stored table with the run's rows",
        )
        .await
    }

    /// Reconcile the rows of `input_sql` (the target's columns, then `_file`, `_line` and the
    /// tie-break `_s`) with the stored `target`, and commit the inserts and updates in one
    /// MERGE.
    pub(super) async fn apply(
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
            commit,
        } = *self;
        let name = target.name;
        let mut table = store::open_or_create(data_dir, target).await?;
        let stored = format!("stored_{name}");
        self.register_before(&stored, target).await?;
        let input = format!("input_{name}");
        match input_sql {
            Input::View(sql) => {
                register_view(ctx, &input, sql, "planning the input rows").await?;
            }
            Input::Materialized(sql, relations) => {
                progress.step(&format!("deriving the {name} rows"));
                // Costly to compute, and the reconciliation reads its input once per chunk:
                // written once, chunk by chunk of tickets.
                write_chunks(ctx, sql, &stage.dir.join(&input), &input, chunks, |i| {
                    register_chunk(ctx, relations, TICKETS.key, chunks, i)
                })
                .await?;
            }
        }

        progress.step(&format!("reconciling {name} with the stored table"));
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

        let mut counts = TableCounts {
            derived: mode == Mode::Derived,
            ..TableCounts::default()
        };
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
                    "superseded" => counts.superseded += n,
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
                table = write(ctx, table, rows().await?, Some(&predicate), name).await?;
            }
            Commit::Merge if counts.inserted + counts.updated > 0 => {
                progress.step(&format!("committing to {name}"));
                table = if counts.updated == 0 {
                    // Only new keys: an append commits them without joining the stored table.
                    write(ctx, table, rows().await?, None, name).await?
                } else {
                    let columns: Vec<&str> = target.columns.iter().map(|c| c.name).collect();
                    merge(ctx, table, rows().await?, &columns, target.key, true, name).await?
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

/// `a.col1, a.col2, …` (or without a prefix).
pub(super) fn column_list(columns: &[Column], alias: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}{}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The version of a row, which decides which of two rows with the same key is the later one:
/// a ticket's `updated_at`, or when the export has none the latest of its milestones (a later
/// export of a ticket knows of later milestones). Events have no versions.
pub(super) fn version_sql(table: &str, alias: &str) -> String {
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
pub(super) fn hash_sql<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> String {
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
pub(super) fn row_hash_sql(columns: &[Column], alias: &str) -> String {
    hash_sql(columns.iter().map(|c| format!("{alias}{}", c.name)))
}

/// The reconciliation of the input rows with the stored table: every input row with its
/// `_action`:
/// - `insert`: a new key; `update`: a later version of a stored row;
/// - `replace`: the same version as the stored row with other content and a greater hash (the
///   stored row is replaced and recorded as a conflict);
/// - `conflict`: the same version as the stored row, or as another input row, with other
///   content and a smaller hash: quarantined;
/// - `unchanged`: identical to the stored row or to another input row, or older than the
///   stored version;
/// - `superseded`: an older version than another input row of the same key.
///
/// Versions are compared by [`version_sql`], then by the input's `_s` (a snapshot's sequence
/// number). In [`Mode::Derived`], an input row replaces the stored one whenever they differ.
pub(super) fn reconcile_sql(target: &Table, input: &str, stored: &str, mode: Mode) -> String {
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
                THEN 'conflict' WHEN _h = _wh THEN 'unchanged' ELSE 'superseded' END AS _action
        FROM ranked WHERE _rn > 1"
    )
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
