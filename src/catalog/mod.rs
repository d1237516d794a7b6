//! The KPI catalog, progressive targets and the quarterly review (README, "KPIs, targets and
//! the review").
//!
//! - [`header`]: the comment header of a KPI file; [`kpis`]: the catalog of bundled and
//!   workspace queries, and the `kpi_catalog` table;
//! - [`run`]: one KPI over one period, with its output contract checked;
//! - [`targets`]: the focus and target ladder rules; [`quarterly`]: KPIs run by quarter and
//!   the ladder planned from their actuals;
//! - [`locale`]: values, numbers and dates in English or Brazilian Portuguese.
//!
//! This module runs SQL through a DataFusion [`SessionContext`](datafusion::prelude::SessionContext)
//! it is given; it knows nothing of how the session was built, of the shell or of the server.

pub mod header;
pub mod kpis;
pub mod locale;
pub mod quarterly;
pub mod review;
pub mod run;
pub mod targets;

use std::path::PathBuf;

use datafusion::error::DataFusionError;

pub use header::{Direction, Header, Unit};
pub use kpis::{Catalog, Kpi, Origin};
pub use run::{run_kpi, KpiResult, KpiRow, Period};

/// The SQL name of the catalog table.
pub const KPI_CATALOG: &str = "kpi_catalog";
/// The SQL name of the target ladder.
pub const KPI_TARGETS: &str = "kpi_targets";

/// Errors of the catalog, the targets and the review.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A query file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A KPI file's header is malformed.
    #[error("{location}:{line}: {message}")]
    Header {
        location: String,
        line: usize,
        message: String,
    },
    /// A KPI query uses a parameter other than `$period_start` and `$period_end`.
    #[error("{location}:{line}: unknown parameter {name}{hint}")]
    Parameter {
        location: String,
        line: usize,
        name: String,
        hint: String,
    },
    /// Two workspace files define the same KPI.
    #[error("KPI '{name}' is defined twice: in {first} and in {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    /// No KPI has this name.
    #[error("unknown KPI '{name}'{hint} (kpi run --list shows the catalog)")]
    Unknown { name: String, hint: String },
    /// A KPI query does not plan.
    #[error("{location}:{line}: the query does not plan: {message}")]
    Plan {
        location: String,
        line: usize,
        message: String,
    },
    /// A KPI query's output breaks the contract.
    #[error("{location}:{line}: {message}")]
    Contract {
        location: String,
        line: usize,
        message: String,
    },
    /// A KPI query failed while running.
    #[error("KPI '{kpi}' failed for {period}: {source}")]
    Run {
        kpi: String,
        period: String,
        source: Box<DataFusionError>,
    },
    /// `[targets]` names a KPI the catalog lacks.
    #[error("{}:{line}: {message}", path.display())]
    Targets {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An output file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A report could not be rendered.
    #[error("cannot render the report: {0}")]
    Render(String),
    /// A period that cannot be computed.
    #[error("{0}")]
    Period(String),
}
