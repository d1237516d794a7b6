//! Runs every `tests/sql/*.slt` file against a session of the test workspace `tests/sql/`
//! (its `kpi.toml` defines the calendars the files use).
//!
//! Values are printed the way Arrow displays them (`NULL`, `2026-03-02T11:00:00Z`, `1.5`).
//! Column types are checked: `I` integers, `R` floats, `T` text, any other letter (`B`, `P`)
//! for everything else. Every record of every file runs; the test fails at the end with all
//! failures, each naming its file and line.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use kpi::workspace::{Origin, Workspace};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

/// A `kpi` session as a sqllogictest database.
struct Kpi {
    ctx: SessionContext,
}

// `AsyncDB` is declared with `#[async_trait]`; its methods are written out in the form that
// macro expands to, which spares a dev-dependency on `async-trait`.
impl AsyncDB for Kpi {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    fn run<'a, 'b, 'f>(&'a mut self, sql: &'b str) -> BoxFuture<'f, Result<Output, DataFusionError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(run_sql(&self.ctx, sql))
    }

    fn shutdown<'a, 'f>(&'a mut self) -> BoxFuture<'f, ()>
    where
        'a: 'f,
        Self: 'f,
    {
        Box::pin(async {})
    }

    fn engine_name(&self) -> &str {
        "kpi"
    }
}

type Output = DBOutput<DefaultColumnType>;

async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Output, DataFusionError> {
    let df = ctx.sql(sql).await?;
    let schema = df.schema().inner().clone();
    if schema.fields().is_empty() {
        df.collect().await?;
        return Ok(DBOutput::StatementComplete(0));
    }
    let types = schema
        .fields()
        .iter()
        .map(|f| column_type(f.data_type()))
        .collect();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in df.collect().await? {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| cell(f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    Ok(DBOutput::Rows { types, rows })
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

/// An empty string would vanish in the expected output: show it as `(empty)`.
fn cell(text: String) -> String {
    if text.is_empty() {
        "(empty)".to_string()
    } else {
        text
    }
}

/// The test workspace: `kpi.toml`, holiday files and the `.slt` files.
fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql")
}

fn slt_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    files
}

/// Run one file in a fresh session; return its failures.
async fn run_file(path: &Path) -> Vec<String> {
    let workspace = Workspace::open(&workspace_dir(), Origin::Explicit).unwrap();
    let ctx = kpi::session::Session::builder(&workspace)
        .url_tables(true)
        .build()
        .unwrap()
        .context()
        .clone();
    let mut runner = Runner::new(move || {
        let ctx = ctx.clone();
        async move { Ok::<_, DataFusionError>(Kpi { ctx }) }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    let records = match sqllogictest::parse_file(path) {
        Ok(records) => records,
        Err(e) => return vec![format!("cannot parse: {e}")],
    };
    let mut failures = Vec::new();
    for record in records {
        if let Err(e) = runner.run_async(record).await {
            failures.push(e.to_string());
        }
    }
    failures
}

#[tokio::test]
async fn sql_logic_tests() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files in tests/sql");
    let mut report = String::new();
    for path in &files {
        for failure in run_file(path).await {
            report.push_str(&format!("--- {}\n{failure}\n", path.display()));
        }
    }
    assert!(report.is_empty(), "sqllogictest failures:\n{report}");
}
