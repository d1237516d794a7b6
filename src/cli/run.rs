//! `kpi run`: run saved KPI queries over a quarter or a range of dates.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chrono::{NaiveDate, Utc};
use clap::Args;

use kpi::calendar::Quarter;
use kpi::catalog::locale::Lang;
use kpi::catalog::{run_kpi, Period};
use kpi::shell::{self, Format};
use kpi::workspace::Workspace;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// KPIs to run, by name (`kpi run --list` shows the catalog).
    #[arg(value_name = "KPI")]
    kpis: Vec<String>,
    /// Run every KPI of the catalog.
    #[arg(long, conflicts_with = "kpis")]
    all: bool,
    /// List the catalog (bundled KPIs and the workspace's own) instead of running anything.
    #[arg(long, conflicts_with_all = ["kpis", "all"])]
    list: bool,
    /// The quarter to compute, e.g. 2026-Q2, in the default calendar's time zone. Default:
    /// the quarter of the as-of instant (to date).
    #[arg(long, value_name = "YYYY-QN", value_parser = quarter, conflicts_with_all = ["from", "to"])]
    quarter: Option<Quarter>,
    /// First day of a period of dates (included), instead of a quarter.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
    from: Option<NaiveDate>,
    /// Last day of the period (excluded).
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    to: Option<NaiveDate>,
    /// Show the breakdown by this dimension (team, channel, …) under each overall value.
    #[arg(long, value_name = "DIMENSION")]
    by: Option<String>,
    /// Output format: a table for people (values in their unit), or the rows as CSV or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the rows to FILE instead: CSV, JSON, NDJSON or Parquet by the extension.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Language of the table's numbers.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    lang: Lang,
    #[command(flatten)]
    common: super::sla::Common,
}

pub fn quarter(value: &str) -> Result<Quarter, String> {
    Quarter::parse(value).map_err(|e| e.to_string())
}

pub async fn run(ws: &Workspace, args: RunArgs) -> Result<ExitCode> {
    let session = super::sla::session(ws, &args.common)?;
    let catalog = session.catalog()?;
    let mut out = super::output::stdout();
    if args.list {
        let batch = shell::kpi::catalog_batch(&catalog)?;
        shell::write_batches(
            &batch.schema(),
            std::slice::from_ref(&batch),
            args.format,
            &mut out,
        )?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let kpis = if args.all {
        catalog.iter().cloned().collect::<Vec<_>>()
    } else if args.kpis.is_empty() {
        bail!("name the KPIs to run, or pass --all (kpi run --list shows the catalog)");
    } else {
        args.kpis
            .iter()
            .map(|name| catalog.get(name).cloned())
            .collect::<Result<Vec<_>, _>>()?
    };
    let as_of = args.common.as_of.unwrap_or_else(Utc::now);
    let zone = ws.quarter_zone();
    let period = match (args.quarter, args.from, args.to) {
        (_, Some(from), Some(to)) => Period::dates(from, to, &zone)?,
        (Some(q), _, _) => Period::quarter(q, &zone),
        _ => Period::quarter(Quarter::at(as_of, &zone), &zone),
    };
    let mut results = Vec::with_capacity(kpis.len());
    for kpi in &kpis {
        let result = run_kpi(session.context(), kpi, &period, as_of.timestamp_micros()).await?;
        if let Some(by) = &args.by {
            if !result.dimensions.iter().any(|d| d == by) {
                bail!(
                    "KPI '{}' has no breakdown by '{by}'{}",
                    kpi.name(),
                    match result.dimensions.is_empty() {
                        true => "; it has no breakdown".to_string(),
                        false => format!("; it has: {}", result.dimensions.join(", ")),
                    }
                );
            }
        }
        results.push(result);
    }
    let by = args.by.as_deref();
    if let Some(file) = &args.out {
        let batch = shell::kpi::results_batch(&results, by)?;
        let rows = shell::out_file::write_file(
            file,
            batch.schema(),
            futures::stream::iter(vec![Ok(batch)]),
        )
        .await?;
        eprintln!("wrote {rows} rows to {}", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let batch = match args.format {
        Format::Table => shell::kpi::display_batch(&results, by, args.lang)?,
        _ => shell::kpi::results_batch(&results, by)?,
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
