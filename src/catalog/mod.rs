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

/// A Markdown table of `(column, type, nullable, meaning)` rows, as the README shows them.
pub fn columns_markdown<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, bool, &'a str)>,
) -> String {
    let mut out = String::from("| column | type | null | meaning |\n|---|---|---|---|\n");
    for (name, kind, nullable, doc) in rows {
        out.push_str(&format!(
            "| `{name}` | {kind} | {} | {doc} |\n",
            if nullable { "yes" } else { "no" }
        ));
    }
    out
}

/// The README's table of the bundled KPIs: name, unit, direction and formula.
pub fn bundled_markdown(catalog: &Catalog) -> String {
    let mut out = String::from("| KPI | unit | better | formula |\n|---|---|---|---|\n");
    for kpi in catalog.iter() {
        let h = &kpi.header;
        let better = match h.direction {
            Direction::HigherIsBetter => "higher",
            Direction::LowerIsBetter => "lower",
        };
        out.push_str(&format!(
            "| `{}` | {} | {better} | {} |\n",
            h.name, h.unit, h.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's reference tables are these, word for word.
    #[test]
    fn the_readme_documents_the_catalog_tables() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let tables = [
            bundled_markdown(&Catalog::bundled().unwrap()),
            columns_markdown(
                kpis::CATALOG_COLUMNS
                    .iter()
                    .map(|(n, nullable, doc)| (*n, "VARCHAR", *nullable, *doc)),
            ),
            columns_markdown(targets::TARGET_COLUMNS.iter().map(|(n, kind, doc)| {
                let required = matches!(*n, "kpi" | "quarter" | "focus" | "planned");
                (*n, *kind, !required, *doc)
            })),
            columns_markdown(review::results::RESULT_COLUMNS.iter().copied()),
        ];
        let missing: Vec<&String> = tables
            .iter()
            .filter(|t| !readme.contains(t.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md should contain these tables:\n{}",
            missing
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
