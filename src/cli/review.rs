//! `kpi review`: the scheduled quarterly review — every KPI for a quarter and the four before
//! it against the progressive targets; `kpi_results` Parquet, a Markdown summary and an HTML
//! report written; exit status 2 on missed targets when asked.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use kpi::calendar::Quarter;
use kpi::catalog::locale::Lang;
use kpi::catalog::quarterly::{target_specs, Quarterly};
use kpi::catalog::review::results::{self, Manifest};
use kpi::catalog::review::{report, Review, RunInfo, HISTORY};
use kpi::catalog::targets::Status;
use kpi::session::{DataFolder, Session};
use kpi::shell::{self, Format};
use kpi::workspace::Workspace;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The quarter to review, e.g. 2026-Q2 (a running quarter is reviewed to date, with its
    /// pace and projection).
    #[arg(long, value_name = "YYYY-QN", value_parser = super::run::quarter, required_unless_present = "rerun")]
    quarter: Option<Quarter>,
    /// Output folder. Default: `[review] out_dir` in kpi.toml, else `out/` in the current
    /// directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Language of the reports and the table.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    lang: Lang,
    /// Also write the ticket-level SLA detail of the quarter (sla_detail/quarter=Q/).
    #[arg(long)]
    detail: bool,
    /// Exit with status 2 when a KPI missed its target (missed), or missed it or is at risk
    /// (at_risk): for schedulers.
    #[arg(long, value_enum, value_name = "STATUS")]
    fail_on: Option<FailOn>,
    /// Reproduce an earlier run: its quarter, as-of instant and table versions (Delta time
    /// travel), from <out>/runs/RUN_ID.json; the outputs go to <out>/reruns/RUN_ID/.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["quarter", "as_of"])]
    rerun: Option<String>,
    /// Output format of the review table printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Compute as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "INSTANT", value_parser = super::sql::as_of)]
    as_of: Option<DateTime<Utc>>,
    /// Memory queries may use before they spill to disk (512M, 4G). Default: `memory_limit`
    /// in kpi.toml, else unlimited.
    #[arg(long, env = "KPI_MEMORY_LIMIT", value_name = "SIZE", value_parser = super::sql::memory_size)]
    memory_limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Missed,
    #[value(name = "at_risk")]
    AtRisk,
}

pub async fn run(ws: &Workspace, args: ReviewArgs) -> Result<ExitCode> {
    let folder = args
        .out
        .clone()
        .unwrap_or_else(|| ws.config.review.folder());
    let computed_at = Utc::now();
    let (quarter, as_of, versions, rerun_of) = match &args.rerun {
        Some(id) => {
            let manifest = Manifest::read(&folder, id)?;
            let as_of = DateTime::parse_from_rfc3339(&manifest.as_of)
                .with_context(|| format!("run {id}: bad as_of '{}'", manifest.as_of))?
                .with_timezone(&Utc);
            (
                manifest.quarter()?,
                as_of,
                manifest.versions.clone(),
                Some(manifest),
            )
        }
        None => {
            let Some(quarter) = args.quarter else {
                bail!("give --quarter YYYY-QN (or --rerun RUN_ID)");
            };
            let versions = DataFolder::delta_versions(&ws.config.data_dir).await?;
            (quarter, args.as_of.unwrap_or(computed_at), versions, None)
        }
    };
    let session = Session::builder(ws)
        .read_only(true)
        .as_of(Some(as_of))
        .table_versions(versions.clone())
        .memory_limit(args.memory_limit.or(ws.config.memory_limit))
        .build()?;
    let catalog = session.catalog()?;
    let inputs = kpi::catalog::review::inputs(&ws.config, &catalog);
    // A rerun writes beside the live outputs, never over them.
    let out = match &rerun_of {
        Some(first) => {
            for (name, digest) in &first.inputs {
                if inputs.get(name) != Some(digest) {
                    eprintln!(
                        "warning: {name} has changed since run {}: the numbers may differ",
                        first.run_id
                    );
                }
            }
            folder.join("reruns").join(&first.run_id)
        }
        None => folder,
    };
    let info = RunInfo {
        run_id: kpi::catalog::review::run_id(computed_at, quarter),
        quarter,
        as_of: as_of.timestamp_micros(),
        computed_at: computed_at.timestamp_micros(),
        versions,
        inputs,
        rerun_of: rerun_of.map(|m| m.run_id),
    };
    let zone = ws.quarter_zone();
    let specs = target_specs(&ws.config.targets, &catalog, &ws.config.path)?;
    let planning = Quarterly::new(session.context(), zone, info.as_of);
    let runs = planning.ladder_runs(&specs, quarter) + catalog.len() * (HISTORY as usize + 1);
    let bar = super::progress::bar(runs as u64, "reviewing");
    let mut quarterly = Quarterly::new(session.context(), zone, info.as_of).with_progress(
        runs,
        Box::new(|done, _, what| bar.update(done as u64, what)),
    );
    let review = Review::compute(&mut quarterly, &catalog, &ws.config, info).await?;
    drop(quarterly);
    bar.finish();

    let written = kpi::catalog::review::write_outputs(
        &review,
        session.context(),
        &out,
        args.lang,
        args.detail,
    )
    .await?;

    let mut stdout = super::output::stdout();
    let running = review.kpis.iter().any(|k| k.pace.is_some());
    let batch = match args.format {
        Format::Table => {
            let rows = report::summary(&review, args.lang);
            shell::kpi::review_display(&rows, args.lang, running)?
        }
        _ => results::results_batch(&review, args.lang)?,
    };
    shell::write_batches(
        &batch.schema(),
        std::slice::from_ref(&batch),
        args.format,
        &mut stdout,
    )?;
    stdout.flush()?;
    eprintln!(
        "review {} of {quarter} as of {}: {} KPIs, focus {}",
        review.info.run_id,
        kpi::calendar::format_utc(review.info.as_of),
        review.kpis.len(),
        match review.focus() {
            f if f.is_empty() => "none".to_string(),
            f => f.join(", "),
        }
    );
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    let failing = matches!(
        (args.fail_on, review.worst()),
        (Some(FailOn::Missed), Some(Status::Missed))
            | (Some(FailOn::AtRisk), Some(Status::Missed | Status::AtRisk))
    );
    Ok(if failing {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
