//! `kpi ingest --source NAME FILE…`: export files into the workspace's tables.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use kpi::ingest::load::{self, IngestReport, Progress};
use kpi::workspace::Workspace;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The source mapping to read the files with: a `[sources.NAME]` table of kpi.toml.
    #[arg(long, short = 's', value_name = "NAME")]
    source: String,
    /// Export files to ingest; glob patterns (`exports/*.csv`) are expanded.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Stop at the first bad row, naming its file, line, column and value, and commit nothing.
    #[arg(long)]
    strict: bool,
    /// Read, check and reconcile everything, and report what would be inserted, updated and
    /// quarantined; commit nothing.
    #[arg(long, visible_alias = "dry-run")]
    check: bool,
    /// Replace every stored row of this source (in tickets, ticket_events and quarantine) with
    /// the rows of these files: how a changed mapping is applied to what was ingested before.
    #[arg(long)]
    replace_source: bool,
    /// Print the summary as JSON on standard output (no progress bar).
    #[arg(long)]
    json: bool,
    /// Print how long each step took on standard error.
    #[arg(long)]
    timings: bool,
    /// Rows a reconciliation step holds in memory at once, about: the buckets of keys (of the
    /// export and of the stored table) its threads work on (smaller buckets, less memory).
    #[arg(
        long,
        env = "KPI_INGEST_CHUNK_ROWS",
        value_name = "ROWS",
        default_value_t = load::Options::CHUNK_ROWS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    chunk_rows: u64,
    /// Memory (MiB) the run's SQL (reading stored tables, Delta writes and merges) may use
    /// before it spills to disk (at least 64).
    #[arg(
        long,
        env = "KPI_INGEST_MEMORY_MB",
        value_name = "MIB",
        default_value_t = load::Options::MEMORY_MB as u64,
        value_parser = clap::value_parser!(u64)
            .range(load::Options::MIN_MEMORY_MB as u64..=load::Options::MAX_MEMORY_MB as u64)
    )]
    memory_mb: u64,
    /// Files, or parts of large files, read at once (default: the machine's cores). The result
    /// is the same whatever the number.
    #[arg(
        long,
        env = "KPI_INGEST_THREADS",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=1024)
    )]
    threads: Option<u64>,
}

pub async fn run(ws: &Workspace, args: IngestArgs) -> Result<ExitCode> {
    ws.require_writable("kpi ingest")?;
    let mapping = ws
        .config
        .sources
        .iter()
        .find(|s| s.name == args.source)
        .ok_or_else(|| {
            let known: Vec<&str> = ws.config.sources.iter().map(|s| s.name.as_str()).collect();
            if known.is_empty() {
                anyhow!(
                    "unknown source '{}': {} defines no [sources.NAME] mappings",
                    args.source,
                    ws.config.path.display()
                )
            } else {
                anyhow!(
                    "unknown source '{}'; known: {}",
                    args.source,
                    known.join(", ")
                )
            }
        })?;
    let files = expand(&args.files)?;
    let bar = Bar::new(!args.json && std::io::stderr().is_terminal(), args.timings);
    let options = load::Options {
        strict: args.strict,
        commit: match (args.check, args.replace_source) {
            (true, _) => load::Commit::Check,
            (false, true) => load::Commit::Replace,
            (false, false) => load::Commit::Merge,
        },
        chunk_rows: args.chunk_rows,
        memory_mb: usize::try_from(args.memory_mb).context("--memory-mb is too large")?,
        threads: args
            .threads
            .map_or_else(load::Options::default_threads, |n| n as usize),
        ..load::Options::default()
    };
    let result = load::ingest(&ws.config.data_dir, mapping, &files, &options, &bar).await;
    bar.lap("");
    bar.bar.finish_and_clear();
    let report = result?;
    let mut out = super::output::stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_summary(&report, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The files named on the command line, glob patterns expanded, in the order given.
fn expand(patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if path.exists() {
            files.push(path.to_path_buf());
            continue;
        }
        let mut matched: Vec<PathBuf> = glob::glob(pattern)
            .with_context(|| format!("invalid file pattern '{pattern}'"))?
            .filter_map(|entry| entry.ok())
            .filter(|p| p.is_file())
            .collect();
        if matched.is_empty() {
            bail!("no such file: {pattern}");
        }
        matched.sort();
        files.append(&mut matched);
    }
    Ok(files)
}

fn print_summary(report: &IngestReport, out: &mut dyn Write) -> std::io::Result<()> {
    for file in &report.files {
        write!(
            out,
            "{}: {} rows, {} quarantined",
            file.path, file.rows, file.quarantined
        )?;
        if file.skipped > 0 {
            write!(out, ", {} skipped by the mapping", file.skipped)?;
        }
        writeln!(out)?;
    }
    for (table, counts) in &report.tables {
        if *table == kpi::tables::QUARANTINE.name {
            continue;
        }
        if counts.derived {
            write!(out, "{table}: {} touched (derived)", counts.read)?;
        } else {
            write!(out, "{table}: {} read", counts.read)?;
        }
        write!(
            out,
            ", {} inserted, {} updated, {} unchanged",
            counts.inserted, counts.updated, counts.unchanged
        )?;
        if counts.superseded > 0 {
            write!(out, ", {} superseded by later rows", counts.superseded)?;
        }
        write!(out, ", {} quarantined", counts.quarantined)?;
        if counts.skipped > 0 {
            write!(out, ", {} skipped", counts.skipped)?;
        }
        writeln!(out, " (version {})", counts.version)?;
    }
    let kept: u64 = report
        .tables
        .values()
        .map(|c| c.quarantined + c.skipped)
        .sum();
    match report.commit {
        load::Commit::Check => {
            return writeln!(
                out,
                "check only: nothing was committed (the counts are what a run would do)"
            );
        }
        load::Commit::Replace => writeln!(
            out,
            "the source's earlier rows were replaced by these (tickets, ticket_events, quarantine)"
        )?,
        load::Commit::Merge => {}
    }
    if kept > 0 {
        writeln!(
            out,
            "rejected rows and their reasons: SELECT * FROM quarantine"
        )?;
    }
    Ok(())
}

/// A progress bar on standard error when it is a terminal; silent otherwise. With `--timings`,
/// each step's time on standard error as it ends.
struct Bar {
    bar: ProgressBar,
    timings: Option<Mutex<(String, Instant)>>,
}

impl Bar {
    /// End the current step: with timings, print how long it took.
    fn lap(&self, next: &str) {
        if let Some(timings) = &self.timings {
            let mut current = timings.lock().unwrap_or_else(|e| e.into_inner());
            if !current.0.is_empty() {
                self.bar.suspend(|| {
                    eprintln!(
                        "{:>8.2} s  {}",
                        current.1.elapsed().as_secs_f64(),
                        current.0
                    )
                });
            }
            *current = (next.to_string(), Instant::now());
        }
    }

    fn new(visible: bool, timings: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar,
            timings: timings.then(|| Mutex::new((String::new(), Instant::now()))),
        }
    }
}

impl Progress for Bar {
    fn reading(&self, files: &[PathBuf], bytes: u64) {
        self.lap("reading and checking the files");
        self.bar.reset();
        self.bar.set_length(bytes);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.bar.set_prefix(match files {
            [one] => one.file_name().map_or_else(
                || one.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            _ => format!("{} files", files.len()),
        });
    }

    fn read(&self, rows: u64, bytes: u64) {
        self.bar.set_position(bytes);
        self.bar.set_message(format!("{rows} rows"));
    }

    fn step(&self, what: &str) {
        self.lap(what);
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar.set_message(what.to_string());
    }
}
