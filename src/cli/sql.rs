//! `kpi sql`: run statements from -c, -f or piped standard input, or the interactive shell on a
//! terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;

use kpi::session::{options::parse_as_of, Session};
use kpi::shell::repl::Shell;
use kpi::shell::{self, Format};
use kpi::workspace::{Origin, Workspace};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run: one or more statements separated by ';'.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        conflicts_with = "file"
    )]
    command: Option<String>,
    /// A file of SQL statements to run.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format of query results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result of the last statement to FILE instead of printing it: CSV, JSON,
    /// NDJSON or Parquet by the extension (.csv, .json, .ndjson, .parquet), written whole.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Evaluate as of this instant (RFC 3339, e.g. 2026-06-30T23:59:59Z) instead of now: the
    /// `kpi.as_of` setting, which `SET kpi.as_of = '…'` also changes.
    #[arg(long, value_name = "INSTANT", value_parser = as_of)]
    as_of: Option<DateTime<Utc>>,
    /// Memory queries may use before sorts, joins and aggregations spill to disk: bytes, or
    /// with a unit (512M, 4G). Default: `memory_limit` in kpi.toml, else unlimited.
    #[arg(long, env = "KPI_MEMORY_LIMIT", value_name = "SIZE", value_parser = memory_size)]
    memory_limit: Option<usize>,
}

fn session(ws: &Workspace, args: &SqlArgs) -> Result<Session> {
    let session = Session::builder(ws)
        .url_tables(true)
        .as_of(args.as_of)
        .memory_limit(args.memory_limit.or(ws.config.memory_limit))
        .build()?;
    if let Err(e) = session.catalog() {
        eprintln!("warning: {e}; kpi_catalog and kpi_targets are not available until it is fixed");
    }
    Ok(session)
}

/// The interactive shell, on a terminal without -c or -f.
async fn interactive(ws: &Workspace, args: &SqlArgs) -> Result<ExitCode> {
    if args.out.is_some() {
        bail!(
            "--out writes the result of -c or -f; in the shell, \\o FILE sends results to a file"
        );
    }
    let session = session(ws, args)?;
    let name = match ws.origin {
        Origin::Bundled => "sample".to_string(),
        _ => ws
            .root()
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "workspace".to_string()),
    };
    let mut shell = Shell::new(session, &name, ws.calendars.clone(), ws.quarter_zone());
    if args.format != Format::Table {
        shell.settings_mut().format = args.format;
    }
    shell.run().await?;
    Ok(ExitCode::SUCCESS)
}

pub fn as_of(value: &str) -> Result<DateTime<Utc>, String> {
    parse_as_of(value)?.ok_or_else(|| "give an instant; 'now' is the default".to_string())
}

/// A size in bytes: `1073741824`, `512M`, `4G`, `1.5GB` (binary units).
pub fn memory_size(value: &str) -> Result<usize, String> {
    kpi::config::parse_size(value)
}

pub async fn run(ws: &Workspace, args: SqlArgs) -> Result<ExitCode> {
    let sql = match (&args.command, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read SQL file {}", file.display()))?,
        (None, None) => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                return interactive(ws, &args).await;
            }
            let mut sql = String::new();
            stdin
                .read_to_string(&mut sql)
                .context("cannot read SQL from standard input")?;
            sql
        }
    };
    let session = session(ws, &args)?;
    let mut out = super::output::stdout();
    let written =
        shell::run_sql(&session, &sql, args.format, &mut out, args.out.as_deref()).await?;
    out.flush()?;
    if let (Some(rows), Some(file)) = (written, &args.out) {
        eprintln!("wrote {rows} rows to {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}
