//! `kpi generate --tickets N --out DIR`: synthetic help-desk exports in three shapes (the
//! simulation lives in `kpi::generate`; this file parses options and reports).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use chrono::NaiveDate;
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use kpi::generate::{self, Generate, GenerateError, Summary};
use kpi::workspace::Workspace;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of tickets to simulate (1 to 100000000).
    #[arg(long, short = 'n', value_name = "N")]
    tickets: u64,
    /// Seed of the random streams: the same seed and options give byte-identical files.
    #[arg(long, value_name = "S", default_value_t = generate::DEFAULT_SEED)]
    seed: u64,
    /// Output folder, created if missing; tickets.csv, events.ndjson and snapshots.csv in it
    /// are replaced.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// First day of the period (a UTC day), YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = generate::DEFAULT_FROM)]
    from: String,
    /// Length of the period in days (1 to 3660); nothing at or after its end is written.
    #[arg(long, value_name = "D", default_value_t = generate::DEFAULT_DAYS)]
    days: u32,
    /// Chance that a bad record follows a ticket, in each file (0 disables bad records).
    #[arg(long, value_name = "RATE", default_value_t = generate::DEFAULT_BAD_ROWS)]
    bad_rows: f64,
}

pub fn run(ws: &Workspace, args: GenerateArgs) -> Result<ExitCode> {
    let from = NaiveDate::parse_from_str(args.from.trim(), "%Y-%m-%d")
        .map_err(|_| anyhow!("--from: invalid date '{}' (expected YYYY-MM-DD)", args.from))?;
    let job = Generate::new(args.tickets)
        .seed(args.seed)
        .from(from)
        .days(args.days)
        .bad_rows(args.bad_rows);
    job.validate().map_err(|e| {
        let flag = match e {
            GenerateError::Tickets { .. } => "--tickets",
            GenerateError::Days { .. } => "--days",
            GenerateError::BadRowRate { .. } => "--bad-rows",
            _ => "--from",
        };
        anyhow!("{flag}: {e}")
    })?;
    let bar = Bar::new(std::io::stderr().is_terminal());
    let started = Instant::now();
    let result = job.run(&ws.calendars, &args.out, &bar);
    bar.0.finish_and_clear();
    let summary = result?;
    let mut out = super::output::stdout();
    writeln!(
        out,
        "{}",
        summary_line(&summary, &args.out, started.elapsed())
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `generated N tickets into DIR: tickets.csv R rows (B), …; bad records a/b/c; T s`.
fn summary_line(summary: &Summary, out: &std::path::Path, elapsed: Duration) -> String {
    let files: Vec<String> = summary
        .files
        .iter()
        .map(|f| {
            format!(
                "{} {} rows ({})",
                f.path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                f.rows,
                HumanBytes(f.bytes)
            )
        })
        .collect();
    let bad: Vec<String> = summary
        .files
        .iter()
        .map(|f| f.bad_records().to_string())
        .collect();
    format!(
        "generated {} tickets into {}: {}; bad records {}; {:.2} s",
        summary.tickets,
        out.display(),
        files.join(", "),
        bad.join("/"),
        elapsed.as_secs_f64()
    )
}

/// A progress bar of tickets on standard error when it is a terminal; hidden otherwise.
struct Bar(ProgressBar);

impl Bar {
    fn new(visible: bool) -> Bar {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "generating [{bar:30}] {human_pos}/{human_len} tickets {per_sec} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl generate::Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn tickets(&self, done: u64) {
        self.0.set_position(done);
    }
}
