//! Running one statement for the shell, on the shell's query runtime: plan it, execute it with
//! the spinner watching, and turn its result into what the screen or a file gets. Everything
//! here owns what it uses, so that a cancelled statement can be dropped at any point.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::error::DataFusionError;
use datafusion::physical_plan::execute_stream;
use datafusion::sql::parser::Statement;
use futures::StreamExt;

use super::display::{more_rows, Expanded, Grid};
use super::progress::Progress;
use crate::session::unwind::{catching, catching_stream};
use crate::session::Session;
use crate::shell::{out_file, write_batches, Format};

/// How the result of a statement is wanted.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub format: Format,
    pub expanded: Expanded,
    pub max_rows: usize,
    /// The terminal's width.
    pub width: usize,
    /// A file to write the result to instead.
    pub out: Option<PathBuf>,
}

/// What a statement produced.
#[derive(Debug)]
pub enum Outcome {
    /// A statement without result columns (DDL, `SET`).
    Done,
    /// The result, written to a file.
    Written { rows: usize, file: PathBuf },
    /// The result as text for the screen, and its number of rows (shown or not).
    Text { text: String, rows: usize },
}

/// Plan and run `statement`, shaping its result as `wanted` says.
pub async fn execute(
    session: Session,
    statement: Statement,
    wanted: Wanted,
    started: Instant,
    progress: Progress,
) -> Result<Outcome, DataFusionError> {
    let (schema, task, physical) = catching(async {
        let plan = session.plan(statement).await?;
        let df = session.context().execute_logical_plan(plan).await?;
        let schema = df.schema().inner().clone();
        let task = Arc::new(df.task_ctx());
        Ok((schema, task, df.create_physical_plan().await?))
    })
    .await?;
    progress.watch(Arc::clone(&physical), started);
    let stream = catching_stream(execute_stream(physical, task)?);
    let mut stream = Box::pin(stream.inspect(move |batch| {
        if let Ok(batch) = batch {
            progress.add_rows(batch.num_rows());
        }
    }));
    if let Some(file) = wanted.out {
        let rows = out_file::write_file(&file, schema, stream)
            .await
            .map_err(|e| match e {
                out_file::OutFileError::Query(e) => e,
                other => DataFusionError::External(Box::new(other)),
            })?;
        return Ok(Outcome::Written { rows, file });
    }
    if schema.fields().is_empty() {
        while let Some(batch) = stream.next().await {
            batch?;
        }
        return Ok(Outcome::Done);
    }
    let external = |e| DataFusionError::External(Box::new(e));
    match wanted.format {
        Format::Table => {
            let mut grid = Grid::new(&schema);
            let (mut kept, mut more) = (0, 0);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let take = (wanted.max_rows - kept).min(batch.num_rows());
                grid.push(&batch, take)?;
                kept += take;
                more += batch.num_rows() - take;
            }
            Ok(Outcome::Text {
                text: grid.render(wanted.width, wanted.expanded, more),
                rows: kept + more,
            })
        }
        format => {
            // The printer holds its writer across batches: gather the rows kept, then print.
            let (mut batches, mut kept, mut more) = (Vec::new(), 0, 0);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let take = (wanted.max_rows - kept).min(batch.num_rows());
                if take > 0 {
                    batches.push(batch.slice(0, take));
                }
                kept += take;
                more += batch.num_rows() - take;
            }
            let mut out = Vec::new();
            write_batches(&schema, &batches, format, &mut out).map_err(external)?;
            let mut text = String::from_utf8_lossy(&out).into_owned();
            if more > 0 {
                text.push_str(&more_rows(more));
            }
            Ok(Outcome::Text {
                text,
                rows: kept + more,
            })
        }
    }
}
