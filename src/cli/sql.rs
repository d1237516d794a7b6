//! `kpi sql`: run statements from -c, -f or standard input.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use kpi::shell::{self, Format};
use kpi::workspace::Workspace;

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
}

pub fn run(ws: &Workspace, args: SqlArgs) -> Result<ExitCode> {
    let sql = match (&args.command, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read SQL file {}", file.display()))?,
        (None, None) => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!(
                    "no SQL given: pass -c 'SQL' or -f FILE, or pipe statements on standard input"
                );
            }
            let mut sql = String::new();
            stdin
                .read_to_string(&mut sql)
                .context("cannot read SQL from standard input")?;
            sql
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the query runtime")?;
    runtime.block_on(async {
        let ctx = kpi::session::session(ws).await?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let result = shell::run_sql(&ctx, &sql, args.format, &mut out).await;
        out.flush().context("cannot write to standard output")?;
        result?;
        Ok(ExitCode::SUCCESS)
    })
}
