//! `kpi sla board` and `kpi sla show`: the SLA screens of a support lead.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use kpi::session::Session;
use kpi::shell::sla::{board_rows, print_board, show, BoardGroup};
use kpi::shell::Format;
use kpi::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// Open tickets by remaining business time, grouped: overdue, at risk and on track.
    Board(BoardArgs),
    /// One ticket's timeline: status stays with business time and pauses, each SLA clock with
    /// its due time and stage.
    Show(ShowArgs),
}

/// Flags every SLA screen shares.
#[derive(Debug, Args)]
pub struct Common {
    /// Evaluate as of this instant (RFC 3339, e.g. 2026-06-30T23:59:59Z) instead of now.
    #[arg(long, value_name = "INSTANT", value_parser = super::sql::as_of)]
    pub as_of: Option<DateTime<Utc>>,
    /// Memory queries may use before they spill to disk (512M, 4G). Default: `memory_limit`
    /// in kpi.toml, else unlimited.
    #[arg(long, env = "KPI_MEMORY_LIMIT", value_name = "SIZE", value_parser = super::sql::memory_size)]
    pub memory_limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BoardArgs {
    /// Group tickets by this column of `tickets`.
    #[arg(long, value_enum, default_value_t = BoardGroup::Team)]
    by: BoardGroup,
    /// Output format: grouped tables (coloured on a terminal), or the rows as CSV or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Refresh every SECONDS (in place on a terminal) until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = watch_seconds)]
    watch: Option<u64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The ticket's id.
    ticket: String,
    /// Only the ticket of this source system (default: every source that has the id).
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    #[command(flatten)]
    common: Common,
}

fn watch_seconds(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=86_400).contains(s))
        .ok_or_else(|| format!("'{value}' is not a number of seconds from 1 to 86400"))
}

pub async fn run(ws: &Workspace, command: SlaCommand) -> Result<ExitCode> {
    let mut out = super::output::stdout();
    let terminal = std::io::stdout().is_terminal();
    // NO_COLOR (https://no-color.org) turns colours off on a terminal too.
    let colour = terminal && std::env::var_os("NO_COLOR").is_none();
    match command {
        SlaCommand::Board(args) => {
            let session = session(ws, &args.common)?;
            loop {
                let rows = board_rows(&session, args.by).await?;
                if let Some(seconds) = args.watch {
                    if terminal {
                        // Clear the screen and go home: the board refreshes in place.
                        write!(out, "\x1b[2J\x1b[H")?;
                    }
                    let when = args.common.as_of.unwrap_or_else(Utc::now);
                    writeln!(
                        out,
                        "SLA board as of {} · refreshing every {seconds} s (Ctrl-C stops)\n",
                        when.to_rfc3339_opts(SecondsFormat::Secs, true)
                    )?;
                }
                print_board(&rows, args.by, args.format, colour, &mut out)?;
                out.flush()?;
                match args.watch {
                    Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                    None => break,
                }
            }
        }
        SlaCommand::Show(args) => {
            let session = session(ws, &args.common)?;
            show(
                &session,
                &args.ticket,
                args.source.as_deref(),
                colour,
                &mut out,
            )
            .await?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The read-only session these flags ask for.
pub fn session(ws: &Workspace, common: &Common) -> Result<Session> {
    Ok(Session::builder(ws)
        .read_only(true)
        .as_of(common.as_of)
        .memory_limit(common.memory_limit.or(ws.config.memory_limit))
        .build()?)
}
