//! Command-line definitions (clap derive; doc comments are the help text) and dispatch.
//! Each command validates its arguments, then calls into the library.

mod calendar;
mod generate;
mod ingest;
pub mod output;
mod progress;
mod review;
mod run;
mod serve;
mod sla;
mod sql;
mod targets;
mod user;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use kpi::workspace::{self, Workspace};

/// kpi — a SQL analytics engine for backoffice KPIs: help-desk history as Parquet,
/// business-hours SLA arithmetic in SQL, progressive quarterly targets.
#[derive(Debug, Parser)]
#[command(name = "kpi", version, propagate_version = true)]
pub struct Cli {
    /// Workspace folder (holds kpi.toml). Default: the current directory if it has a
    /// kpi.toml, else the bundled sample workspace (read-only: commands that write need one).
    #[arg(
        long,
        short = 'w',
        global = true,
        env = "KPI_WORKSPACE",
        value_name = "DIR"
    )]
    workspace: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new workspace: a commented kpi.toml and data/, queries/, holidays/ folders.
    Init {
        /// Folder to create the workspace in (created if missing).
        dir: PathBuf,
    },
    /// Ingest help-desk exports into the workspace's tables through a [sources.NAME] mapping.
    Ingest(ingest::IngestArgs),
    /// The SQL shell on a terminal; or run SQL from -c SQL, -f FILE, or standard input.
    Sql(sql::SqlArgs),
    /// Run saved KPI queries (the catalog: bundled and queries/*.sql) over a quarter or dates.
    Run(run::RunArgs),
    /// The scheduled quarterly review: every KPI against its progressive target; writes
    /// kpi_results (Parquet), a Markdown summary and an HTML report.
    Review(review::ReviewArgs),
    /// The progressive target ladder per KPI and quarter: targets, focus, and why.
    Targets(targets::TargetsArgs),
    /// SLA screens: the board of open tickets by remaining business time, one ticket's timeline.
    #[command(subcommand)]
    Sla(sla::SlaCommand),
    /// Inspect business calendars: days, holidays, business time between two instants.
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// Serve the workspace over the PostgreSQL wire protocol for BI tools and SQL clients:
    /// SCRAM-authenticated users (see `kpi user`), role-based, read-only.
    Serve(serve::ServeArgs),
    /// The users of `kpi serve` and their roles (users.toml, passwords as SCRAM verifiers).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Write deterministic, realistic synthetic help-desk exports (tickets.csv, events.ndjson,
    /// snapshots.csv) for demos and benchmarks.
    #[command(after_long_help = kpi::generate::SIMULATION)]
    Generate(generate::GenerateArgs),
}

/// Run a parsed command line; the exit code on success.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { dir } => {
            let path = workspace::init(&dir)?;
            let mut out = output::stdout();
            writeln!(out, "created {}", path.display())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            sql::run(&ws, args).await
        }
        Command::Ingest(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            ingest::run(&ws, args).await
        }
        Command::Run(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            run::run(&ws, args).await
        }
        Command::Review(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            review::run(&ws, args).await
        }
        Command::Targets(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            targets::run(&ws, args).await
        }
        Command::Sla(command) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            sla::run(&ws, command).await
        }
        Command::Calendar(command) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            calendar::run(&ws, command)
        }
        Command::Serve(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            serve::run(&ws, args).await
        }
        Command::User(command) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            user::run(&ws, command)
        }
        Command::Generate(args) => {
            let ws = Workspace::discover(cli.workspace.as_deref())?;
            generate::run(&ws, args)
        }
    }
}
