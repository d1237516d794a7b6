//! What a review writes for BI tools: `kpi_results` as plain hive-partitioned Parquet
//! (`<out>/kpi_results/quarter=2026-Q2/part-0.parquet`), `sla_detail` likewise with
//! `--detail`, and the run's manifest (`<out>/runs/RUN_ID.json`: as-of, table versions) that
//! `kpi review --rerun` reads.
//!
//! A partition is one file, written under a hidden temporary name in its folder and renamed
//! over the previous one: a reader sees the old quarter or the new one, never half of one;
//! re-running a quarter replaces it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
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
        flag(&|r| r.kpi.current().is_some_and(|c| c.partial)),
        float(&|r| {
            r.kpi
                .pace
                .filter(|_| is_overall(r))
                .and_then(|p| p.expected)
        }),
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
    /// Digests of what else decides the numbers: `kpi.toml` and the KPI queries.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
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
            inputs: info.inputs.clone(),
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
    // The manifest first: every partition's run_id has one.
    let manifest = out.join(RUNS).join(format!("{}.json", review.info.run_id));
    let text = serde_json::to_string_pretty(&Manifest::of(&review.info))
        .map_err(|e| CatalogError::Render(e.to_string()))?;
    write_atomically(&manifest, text.as_bytes())?;
    let (staged, file) =
        StagedPartition::create(out, KPI_RESULTS, review.info.quarter, &review.info.run_id)?;
    let written = parquet_writer(file, batch.schema()).and_then(|mut writer| {
        writer.write(&batch).map_err(io_error)?;
        writer.close().map(|_| ()).map_err(io_error)
    });
    let partition = match written {
        Ok(()) => staged.commit()?,
        Err(e) => return Err(staged.abandon(e)),
    };
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
    let (context, plan) = crate::catalog::run::plan_period(ctx, DETAIL, period.start, evaluated_at)
        .await
        .map_err(failed)?;
    let df = context.execute_logical_plan(plan).await.map_err(failed)?;
    let schema: SchemaRef = df.schema().inner().clone();
    let mut stream = df.execute_stream().await.map_err(failed)?;
    let (staged, file) =
        StagedPartition::create(out, SLA_DETAIL, review.info.quarter, &review.info.run_id)?;
    let mut writer = match parquet_writer(file, schema) {
        Ok(writer) => writer,
        Err(e) => return Err(staged.abandon(e)),
    };
    // Batches are written as they come; the hidden file keeps a failure invisible.
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                let _ = staged.abandon(io_error(&e));
                return Err(failed(e));
            }
        };
        if let Err(e) = writer.write(&batch) {
            return Err(staged.abandon(io_error(e)));
        }
    }
    if let Err(e) = writer.close() {
        return Err(staged.abandon(io_error(e)));
    }
    staged.commit()
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

/// `<out>/<table>/quarter=Q/part-0.parquet` being written: rows go to a hidden temporary
/// file in the partition folder (readers skip names starting with `.`), which one rename
/// makes the partition's file — atomically replacing the previous one.
struct StagedPartition {
    tmp: PathBuf,
    target: PathBuf,
}

impl StagedPartition {
    fn create(
        out: &Path,
        table: &str,
        quarter: Quarter,
        run_id: &str,
    ) -> Result<(StagedPartition, File), CatalogError> {
        let dir = out.join(table).join(format!("quarter={quarter}"));
        std::fs::create_dir_all(&dir).map_err(|source| CatalogError::Write {
            path: dir.clone(),
            source,
        })?;
        let staged = StagedPartition {
            tmp: dir.join(format!(".part-0.parquet.{run_id}.tmp")),
            target: dir.join("part-0.parquet"),
        };
        let file = File::create(&staged.tmp).map_err(|source| CatalogError::Write {
            path: staged.tmp.clone(),
            source,
        })?;
        Ok((staged, file))
    }

    /// Make the written file the partition's.
    fn commit(self) -> Result<PathBuf, CatalogError> {
        let failed = |source| CatalogError::Write {
            path: self.target.clone(),
            source,
        };
        File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(failed)?;
        std::fs::rename(&self.tmp, &self.target).map_err(failed)?;
        Ok(self.target.clone())
    }

    fn abandon(self, source: std::io::Error) -> CatalogError {
        let _ = std::fs::remove_file(&self.tmp);
        CatalogError::Write {
            path: self.target,
            source,
        }
    }
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
