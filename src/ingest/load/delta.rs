//! Delta writes: stored tables registered in the run's session, appends and MERGEs of planned
//! rows, and the rejected rows merged into `quarantine`.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use crate::tables::delta::{self as store};
use crate::tables::{Table, QUARANTINE};

use super::reconcile::register_parquet;
use super::reconcile::source_predicate;
use super::stage::{has_files, Stage};
use super::{query, Commit, IngestError, Progress};

/// The error of a failed commit to `table`.
fn commit(table: &'static str) -> impl Fn(deltalake::DeltaTableError) -> IngestError {
    move |source| IngestError::Commit {
        table,
        source: Box::new(source),
    }
}

/// Register the stored `table` of `data_dir`, at its latest version, as `name`.
pub(super) async fn register_latest(
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
pub(super) async fn register(
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

/// Merge the rows rejected from the files and the conflicts into `quarantine` (with
/// [`Commit::Replace`], replace the source's rows with them; with [`Commit::Check`], nothing).
pub(super) async fn record_rejections(
    ctx: &SessionContext,
    data_dir: &Path,
    stage: &Stage,
    conflicts: Vec<RecordBatch>,
    (commit, source): (Commit, &str),
    progress: &dyn Progress,
) -> Result<DeltaTable, IngestError> {
    let mut quarantine = store::open_or_create(data_dir, &QUARANTINE).await?;
    if commit == Commit::Check {
        return Ok(quarantine);
    }
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
    let all = match sources.pop() {
        Some(first) => {
            let mut all = first;
            for other in sources {
                all = all
                    .union(other)
                    .map_err(query("collecting rejected rows"))?;
            }
            Some(all)
        }
        None => None,
    };
    if commit == Commit::Replace {
        progress.step("replacing the source's rows in quarantine");
        let predicate = source_predicate("source", source);
        return match all {
            Some(all) => {
                let all = all.distinct().map_err(query("collecting rejected rows"))?;
                write(ctx, quarantine, all, Some(&predicate), &QUARANTINE).await
            }
            None => delete(ctx, quarantine, &predicate, QUARANTINE.name).await,
        };
    }
    if let Some(all) = all {
        progress.step("recording rejected rows in quarantine");
        // Every column is the key: a rejected row already recorded is not recorded again.
        quarantine = merge(ctx, quarantine, all, &QUARANTINE, false).await?;
    }
    Ok(quarantine)
}

/// How the data files of `target` are written: as the session's Parquet options say, but
/// without a dictionary for a key of one column, whose values are all distinct (a dictionary
/// would only cost the time of filling it until the writer gives it up).
fn writer_properties(
    ctx: &SessionContext,
    target: &Table,
) -> Result<WriterProperties, IngestError> {
    let mut builder = ctx
        .state()
        .config_options()
        .execution
        .parquet
        .into_writer_properties_builder()
        .map_err(query("preparing a Delta write"))?;
    if let [key] = target.key {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*key), false);
    }
    Ok(builder.build())
}

/// Write the rows of `source` to `target`'s `table` in one commit: in place of the rows that
/// match `replace_where` (which all of `source` matches), or appended to the table without one.
pub(super) async fn write(
    ctx: &SessionContext,
    table: DeltaTable,
    source: datafusion::dataframe::DataFrame,
    replace_where: Option<&str>,
    target: &'static Table,
) -> Result<DeltaTable, IngestError> {
    let name = target.name;
    let builder = table
        .write(Vec::new())
        .with_input_plan(source.logical_plan().clone())
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties(ctx, target)?);
    let builder = match replace_where {
        Some(predicate) => builder
            .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
            .with_replace_where(predicate),
        None => builder.with_save_mode(deltalake::protocol::SaveMode::Append),
    };
    builder.await.map_err(commit(name))
}

/// Delete the rows of `table` that match `predicate`, in one commit (none when none do).
pub(super) async fn delete(
    ctx: &SessionContext,
    table: DeltaTable,
    predicate: &str,
    name: &'static str,
) -> Result<DeltaTable, IngestError> {
    let (table, _metrics) = table
        .delete()
        .with_predicate(predicate)
        .with_session_state(Arc::new(ctx.state()))
        .await
        .map_err(commit(name))?;
    Ok(table)
}

/// MERGE `source` into `target`'s `table`, matching rows on its key: insert the rows of
/// `source` the table lacks and, with `update`, overwrite the matched ones.
pub(super) async fn merge(
    ctx: &SessionContext,
    table: DeltaTable,
    source: datafusion::dataframe::DataFrame,
    target: &'static Table,
    update: bool,
) -> Result<DeltaTable, IngestError> {
    let (name, key) = (target.name, target.key);
    let columns: Vec<&str> = target.column_names().collect();
    let on = key
        .iter()
        .map(|k| format!("t.\"{k}\" = s.\"{k}\""))
        .collect::<Vec<_>>()
        .join(" AND ");
    let failed = commit(name);
    let mut builder = table
        .merge(source, on)
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties(ctx, target)?)
        .with_source_alias("s")
        .with_target_alias("t")
        .when_not_matched_insert(|mut i| {
            for c in &columns {
                i = i.set(format!("\"{c}\""), format!("s.\"{c}\""));
            }
            i
        })
        .map_err(&failed)?;
    if update {
        builder = builder
            .when_matched_update(|mut u| {
                for c in &columns {
                    u = u.update(format!("\"{c}\""), format!("s.\"{c}\""));
                }
                u
            })
            .map_err(&failed)?;
    }
    let (table, _metrics) = builder.await.map_err(&failed)?;
    Ok(table)
}
