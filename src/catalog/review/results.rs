//! What a review writes for BI tools: `kpi_results` as plain hive-partitioned Parquet
//! (`<out>/kpi_results/quarter=2026-Q2/part-0.parquet`), `sla_detail` likewise with
//! `--detail`, and the run's manifest (`<out>/runs/RUN_ID.json`: as-of, table versions) that
//! `kpi review --rerun` reads.
//!
//! A partition is written whole in a staging folder, then swapped in by renames: a reader sees
//! the old quarter or the new one, never half of one; re-running a quarter replaces it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Review, RunInfo};
use crate::calendar::{format_utc, Quarter};
use crate::catalog::CatalogError;

/// The folder of `kpi_results` under a review's output folder.
pub const KPI_RESULTS: &str = "kpi_results";
/// The folder of the ticket-level detail (`--detail`).
pub const SLA_DETAIL: &str = "sla_detail";
/// The folder of run manifests.
pub const RUNS: &str = "runs";

/// The columns of `kpi_results` files (the partition column `quarter` is in the path):
/// name, type, nullable, meaning. The README documents them from this list.
pub const RESULT_COLUMNS: [(&str, &str, bool, &str); 25] = [
    ("kpi", "VARCHAR", false, "The KPI's name."),
    (
        "title",
        "VARCHAR",
        false,
        "Its title (in the review's language).",
    ),
    (
        "unit",
        "VARCHAR",
        false,
        "percent (a share from 0 to 1), hours, count, score or ratio.",
    ),
    (
        "direction",
        "VARCHAR",
        false,
        "higher_is_better or lower_is_better.",
    ),
    (
        "dimension",
        "VARCHAR",
        true,
        "The breakdown column (team, channel, …); NULL on the overall row.",
    ),
    (
        "dimension_value",
        "VARCHAR",
        true,
        "The breakdown value; NULL on the overall row.",
    ),
    (
        "value",
        "DOUBLE",
        true,
        "The KPI's value (quarter to date while the quarter runs).",
    ),
    (
        "numerator",
        "DOUBLE",
        true,
        "What the value divides, when the KPI is a ratio.",
    ),
    ("denominator", "DOUBLE", true, "What it divides by."),
    (
        "n",
        "BIGINT",
        true,
        "How many items (tickets, clocks) the value is computed from.",
    ),
    (
        "target",
        "DOUBLE",
        true,
        "The quarter's target (the same for every breakdown row).",
    ),
    (
        "status",
        "VARCHAR",
        true,
        "met, at_risk or missed against the target (from the projection while the quarter runs).",
    ),
    (
        "focus",
        "BOOLEAN",
        false,
        "Whether the KPI is in the quarter's focus.",
    ),
    (
        "previous_value",
        "DOUBLE",
        true,
        "The same KPI and breakdown value in the previous quarter.",
    ),
    ("change", "DOUBLE", true, "value − previous_value."),
    (
        "to_date",
        "BOOLEAN",
        false,
        "The quarter was still running at as-of: values are quarter to date.",
    ),
    (
        "expected_value",
        "DOUBLE",
        true,
        "While running: the value the linear pace to the target expects at as-of.",
    ),
    (
        "projected_value",
        "DOUBLE",
        true,
        "While running: the value projected to the quarter's end.",
    ),
    (
        "period_start",
        "TIMESTAMP",
        false,
        "The quarter's start (UTC).",
    ),
    (
        "period_end",
        "TIMESTAMP",
        false,
        "The quarter's end, excluded (UTC).",
    ),
    (
        "as_of",
        "TIMESTAMP",
        false,
        "The instant the review computed as of (UTC).",
    ),
    (
        "computed_at",
        "TIMESTAMP",
        false,
        "When the review ran (UTC).",
    ),
    (
        "run_id",
        "VARCHAR",
        false,
        "The review run: `kpi review --rerun RUN_ID` reproduces it.",
    ),
    (
        "tickets_version",
        "BIGINT",
        true,
        "The Delta version of `tickets` read.",
    ),
    (
        "ticket_events_version",
        "BIGINT",
        true,
        "The Delta version of `ticket_events` read.",
    ),
];

/// The Arrow schema of the `kpi_results` files.
pub fn results_schema() -> SchemaRef {
    let fields: Vec<Field> = RESULT_COLUMNS
        .iter()
        .map(|(name, kind, nullable, _)| {
            let data_type = match *kind {
                "DOUBLE" => DataType::Float64,
                "BIGINT" => DataType::Int64,
                "BOOLEAN" => DataType::Boolean,
                "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                _ => DataType::Utf8,
            };
            Field::new(*name, data_type, *nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The reviewed quarter's rows of every KPI.
pub fn results_batch(
    review: &Review,
    lang: crate::catalog::locale::Lang,
) -> Result<RecordBatch, CatalogError> {
    struct Row<'a> {
        kpi: &'a super::KpiReview,
        row: &'a super::ReviewRow,
    }
    let rows: Vec<Row<'_>> = review
        .kpis
        .iter()
        .flat_map(|k| k.rows.iter().map(move |row| Row { kpi: k, row }))
        .collect();
    let info = &review.info;
    let constant_time = |t: i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![t; rows.len()]).with_timezone("UTC"))
    };
    let text = |f: &dyn Fn(&Row<'_>) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let float = |f: &dyn Fn(&Row<'_>) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let flag = |f: &dyn Fn(&Row<'_>) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let version = |table: &str| -> ArrayRef {
        let v = info
            .versions
            .get(table)
            .and_then(|v| i64::try_from(*v).ok());
        Arc::new(Int64Array::from(vec![v; rows.len()]))
    };
    let is_overall = |r: &Row<'_>| r.row.row.dimension.is_none();
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(r.kpi.kpi.name().to_string())),
        text(&|r| Some(super::report::title(&r.kpi.kpi, lang).to_string())),
        text(&|r| Some(r.kpi.unit().to_string())),
        text(&|r| Some(r.kpi.kpi.header.direction.to_string())),
        text(&|r| r.row.row.dimension.clone()),
        text(&|r| r.row.row.dimension_value.clone()),
        float(&|r| r.row.row.value),
        float(&|r| r.row.row.numerator),
        float(&|r| r.row.row.denominator),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.row.row.n).collect::<Vec<_>>(),
        )),
        float(&|r| r.row.target),
        text(&|r| r.row.status.map(|s| s.name().to_string())),
        flag(&|r| r.kpi.current().is_some_and(|c| c.focus)),
        float(&|r| r.row.previous_value),
        float(&|r| r.row.change()),
        flag(&|r| r.kpi.pace.is_some()),
        float(&|r| r.kpi.pace.filter(|_| is_overall(r)).map(|p| p.expected)),
        float(&|r| r.kpi.pace.filter(|_| is_overall(r)).map(|p| p.projection)),
        constant_time(review.period.start),
        constant_time(review.period.end),
        constant_time(info.as_of),
        constant_time(info.computed_at),
        text(&|_| Some(info.run_id.clone())),
        version("tickets"),
        version("ticket_events"),
    ];
    RecordBatch::try_new(results_schema(), columns)
        .map_err(|e| CatalogError::Period(format!("cannot assemble kpi_results: {e}")))
}

/// The manifest of a review run, `<out>/runs/RUN_ID.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub quarter: String,
    /// RFC 3339, UTC.
    pub as_of: String,
    pub computed_at: String,
    pub versions: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
}

impl Manifest {
    pub fn of(info: &RunInfo) -> Manifest {
        Manifest {
            run_id: info.run_id.clone(),
            quarter: info.quarter.to_string(),
            as_of: format_utc(info.as_of),
            computed_at: format_utc(info.computed_at),
            versions: info.versions.clone(),
            rerun_of: info.rerun_of.clone(),
        }
    }

    /// Read the manifest of `run_id` under `out`.
    pub fn read(out: &Path, run_id: &str) -> Result<Manifest, CatalogError> {
        let path = out.join(RUNS).join(format!("{run_id}.json"));
        let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            CatalogError::Period(format!("{} is not a review manifest: {e}", path.display()))
        })
    }

    pub fn quarter(&self) -> Result<Quarter, CatalogError> {
        Quarter::parse(&self.quarter).map_err(|e| CatalogError::Period(e.to_string()))
    }
}

/// Write `review`'s outputs for BI tools under `out`: its `kpi_results` partition and its
/// manifest. The paths written.
pub fn write_results(
    review: &Review,
    out: &Path,
    lang: crate::catalog::locale::Lang,
) -> Result<Vec<PathBuf>, CatalogError> {
    let batch = results_batch(review, lang)?;
    let partition = write_partition(
        out,
        KPI_RESULTS,
        review.info.quarter,
        &review.info.run_id,
        |file| {
            let mut writer = parquet_writer(file, batch.schema())?;
            writer.write(&batch).map_err(io_error)?;
            writer.close().map_err(io_error)?;
            Ok(())
        },
    )?;
    let manifest = out.join(RUNS).join(format!("{}.json", review.info.run_id));
    let text = serde_json::to_string_pretty(&Manifest::of(&review.info))
        .map_err(|e| CatalogError::Period(e.to_string()))?;
    write_atomically(&manifest, text.as_bytes())?;
    Ok(vec![partition, manifest])
}

/// Write `ticket_sla` as of the quarter's end (or as-of) for the clocks started in the
/// quarter, with the tickets' team, channel, inbox, priority and assignee, as the
/// `sla_detail` partition of the quarter.
pub async fn write_detail(
    ctx: &SessionContext,
    review: &Review,
    period: &crate::catalog::Period,
    out: &Path,
) -> Result<PathBuf, CatalogError> {
    const DETAIL: &str = "SELECT s.*, t.team, t.channel, t.inbox, t.priority, t.assignee \
        FROM ticket_sla s \
        JOIN tickets t ON t.ticket_id = s.ticket_id AND t.source_system = s.source_system \
        WHERE s.started_at >= $period_start AND s.started_at < $period_end \
        ORDER BY s.started_at, s.ticket_id, s.metric, s.occurrence";
    let failed = |e: datafusion::error::DataFusionError| CatalogError::Run {
        kpi: SLA_DETAIL.to_string(),
        period: period.label.clone(),
        source: Box::new(e),
    };
    let evaluated_at = review.info.as_of.min(period.end);
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .set("kpi.as_of", &format_utc(evaluated_at))
        .map_err(failed)?;
    let instant = |micros| ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()));
    let plan = state
        .create_logical_plan(DETAIL)
        .await
        .and_then(|p| {
            p.with_param_values(ParamValues::from(vec![
                ("period_start", instant(period.start)),
                ("period_end", instant(evaluated_at)),
            ]))
        })
        .map_err(failed)?;
    let df = SessionContext::new_with_state(state)
        .execute_logical_plan(plan)
        .await
        .map_err(failed)?;
    let schema: SchemaRef = df.schema().inner().clone();
    let mut stream = df.execute_stream().await.map_err(failed)?;
    // Batches are written as they come; the staging folder keeps a failure invisible.
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(failed)?);
    }
    write_partition(
        out,
        SLA_DETAIL,
        review.info.quarter,
        &review.info.run_id,
        |file| {
            let mut writer = parquet_writer(file, schema.clone())?;
            for batch in &batches {
                writer.write(batch).map_err(io_error)?;
            }
            writer.close().map_err(io_error)?;
            Ok(())
        },
    )
}

fn parquet_writer(file: File, schema: SchemaRef) -> Result<ArrowWriter<File>, std::io::Error> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(io_error)
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Write `<out>/<table>/quarter=Q/part-0.parquet` through a staging folder, then swap it in.
fn write_partition(
    out: &Path,
    table: &str,
    quarter: Quarter,
    run_id: &str,
    write: impl FnOnce(File) -> Result<(), std::io::Error>,
) -> Result<PathBuf, CatalogError> {
    let partition = format!("quarter={quarter}");
    let target = out.join(table).join(&partition);
    let staging = out.join(".staging").join(run_id).join(table);
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CatalogError::Write { path, source }
    };
    let staged = staging.join(&partition);
    std::fs::create_dir_all(&staged).map_err(at(&staged))?;
    let file_path = staged.join("part-0.parquet");
    let file = File::create(&file_path).map_err(at(&file_path))?;
    write(file).map_err(at(&file_path))?;
    File::open(&file_path)
        .and_then(|f| f.sync_all())
        .map_err(at(&file_path))?;
    std::fs::create_dir_all(out.join(table)).map_err(at(&out.join(table)))?;
    // Swap: the old partition moves aside, the new one takes its place, the old is removed.
    let old = staging.join(format!("{partition}.old"));
    if target.exists() {
        std::fs::rename(&target, &old).map_err(at(&target))?;
    }
    std::fs::rename(&staged, &target).map_err(at(&target))?;
    let _ = std::fs::remove_dir_all(out.join(".staging").join(run_id));
    let _ = std::fs::remove_dir(out.join(".staging"));
    Ok(target.join("part-0.parquet"))
}

/// Write `bytes` to `path` through a temporary file beside it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    let failed = |source| CatalogError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}
