//! `kpi targets`: the progressive target ladder per KPI, its focus and why.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use clap::Args;

use kpi::calendar::Quarter;
use kpi::catalog::locale::Lang;
use kpi::catalog::quarterly::{target_specs, targets_batch, Quarterly};
use kpi::catalog::targets::RULES;
use kpi::shell::{self, Format};
use kpi::workspace::Workspace;

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// First quarter to show. Default: the quarter of the as-of instant.
    #[arg(long, value_name = "YYYY-QN", value_parser = super::run::quarter)]
    from: Option<Quarter>,
    /// How many quarters to show.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=40))]
    quarters: u32,
    /// Print the rules that choose the focus and move the targets first.
    #[arg(long)]
    explain: bool,
    /// Output format: a table for people, or the rows of kpi_targets as CSV or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Language of the table's numbers and reasons.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    lang: Lang,
    #[command(flatten)]
    common: super::sla::Common,
}

pub async fn run(ws: &Workspace, args: TargetsArgs) -> Result<ExitCode> {
    let session = super::sla::session(ws, &args.common)?;
    let catalog = session.catalog()?;
    let mut out = super::output::stdout();
    if args.explain {
        writeln!(out, "{RULES}\n")?;
    }
    let config = &ws.config.targets;
    let specs = target_specs(config, &catalog, &ws.config.path)?;
    if specs.is_empty() {
        writeln!(
            out,
            "no targets: add [targets.kpis.NAME] tables to {} (README, \"Progressive targets\")",
            ws.config.path.display()
        )?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let as_of = args
        .common
        .as_of
        .unwrap_or_else(Utc::now)
        .timestamp_micros();
    let quarterly = Quarterly::new(session.context(), ws.quarter_zone(), as_of);
    let from = args.from.unwrap_or_else(|| quarterly.current());
    let through = from.offset(args.quarters as i32 - 1);
    let runs = quarterly.ladder_runs(&specs, through);
    let bar = super::progress::bar(runs as u64, "running KPIs");
    let mut quarterly = quarterly.with_progress(
        runs,
        Box::new(|done, _, what| bar.update(done as u64, what)),
    );
    let ladder = quarterly.ladder(config, &catalog, &specs, through).await?;
    drop(quarterly);
    bar.finish();
    let rows = targets_batch(&ladder, &specs, &catalog, from, through, args.lang);
    let batch = match args.format {
        Format::Table => shell::kpi::targets_display(&rows, &catalog, args.lang)?,
        _ => rows,
    };
    shell::write_batches(
        &batch.schema(),
        std::slice::from_ref(&batch),
        args.format,
        &mut out,
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
