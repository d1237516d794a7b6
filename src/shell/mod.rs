//! `kpi sql`: running SQL statements against a workspace session and printing their results.
//!
//! This module owns statement splitting, execution and result formats, and the interactive
//! shell ([`repl`]). It knows nothing of business time; the session it is given already has
//! the functions and tables.

pub mod calendar;
mod format;
pub mod kpi;
pub mod out_file;
pub mod repl;
pub mod sla;

use std::io::Write;
use std::path::Path;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;

use crate::session::unwind::{catching, catching_stream};
use crate::session::Session;

pub use format::{write_batches, Format, OutputError, Printer};

/// Errors of running SQL.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The text is not valid SQL.
    #[error("{0}")]
    Parse(Box<DataFusionError>),
    /// A statement failed to plan or run; `index` is 1-based, `of` the number of statements.
    #[error("{}{source}", statement_prefix(*index, *of))]
    Statement {
        index: usize,
        of: usize,
        source: Box<DataFusionError>,
    },
    /// Results could not be written.
    #[error("cannot write results: {0}")]
    Output(#[from] OutputError),
    /// The result file could not be written.
    #[error(transparent)]
    File(#[from] out_file::OutFileError),
}

fn statement_prefix(index: usize, of: usize) -> String {
    if of > 1 {
        format!("statement {index} of {of}: ")
    } else {
        String::new()
    }
}

/// Run every `;`-separated statement of `sql` in order, streaming each result to `out` batch
/// by batch. Stops at the first failing statement. With `file`, the last statement's result
/// goes to that file instead ([`out_file`]), and the number of rows written is returned.
pub async fn run_sql(
    session: &Session,
    sql: &str,
    format: Format,
    out: &mut dyn Write,
    file: Option<&Path>,
) -> Result<Option<usize>, ShellError> {
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| ShellError::Parse(Box::new(e)))?;
    let of = statements.len();
    for (i, statement) in statements.into_iter().enumerate() {
        let wrap = |source: DataFusionError| ShellError::Statement {
            index: i + 1,
            of,
            source: Box::new(session.explain_error(source)),
        };
        let df = catching(async {
            let plan = session.plan(statement).await?;
            session.context().execute_logical_plan(plan).await
        })
        .await
        .map_err(wrap)?;
        let schema = df.schema().inner().clone();
        let mut stream = catching_stream(catching(df.execute_stream()).await.map_err(wrap)?);
        if let Some(file) = file.filter(|_| i + 1 == of) {
            let rows = out_file::write_file(file, schema, stream)
                .await
                .map_err(|e| match e {
                    out_file::OutFileError::Query(e) => wrap(e),
                    other => ShellError::File(other),
                })?;
            return Ok(Some(rows));
        }
        let mut printer = Printer::new(schema, format, &mut *out);
        while let Some(batch) = stream.next().await {
            printer.batch(&batch.map_err(wrap)?)?;
        }
        printer.finish()?;
    }
    Ok(None)
}
