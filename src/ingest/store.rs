//! The workspace's stored tables: Delta Lake tables under `data/` (`tickets`, `ticket_events`
//! partitioned by month, and `quarantine`), created on first use with conservative table
//! features (protocol 1/2: no deletion vectors, no column mapping) so that DuckDB, Spark,
//! Trino and Polars read them too. Every commit is atomic: readers see a table at its previous
//! version or its new one, never in between.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::StructType;
use deltalake::{DeltaTable, DeltaTableError};
use url::Url;

use super::schema::{events_schema, tickets_schema, TICKETS, TICKET_EVENTS};
use super::stream::quarantine_schema;

/// The table of rejected rows.
pub const QUARANTINE: &str = "quarantine";

/// The name of the log folder that makes a folder a Delta table.
const DELTA_LOG: &str = "_delta_log";

/// One stored table: its SQL name, schema and partition columns.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: &'static str,
    pub schema: SchemaRef,
    pub partition_by: &'static [&'static str],
}

impl TableSpec {
    pub fn tickets() -> TableSpec {
        TableSpec {
            name: TICKETS,
            schema: tickets_schema(),
            partition_by: &[],
        }
    }

    pub fn events() -> TableSpec {
        TableSpec {
            name: TICKET_EVENTS,
            schema: events_schema(),
            partition_by: &["month"],
        }
    }

    pub fn quarantine() -> TableSpec {
        TableSpec {
            name: QUARANTINE,
            schema: quarantine_schema(),
            partition_by: &[],
        }
    }

    /// Where the table lives in the data folder `data_dir`.
    pub fn path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.name)
    }
}

/// Errors of the stored tables.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the table folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Delta table {}: {source}", path.display())]
    Delta {
        path: PathBuf,
        source: Box<DeltaTableError>,
    },
}

fn delta_err(path: &Path) -> impl FnOnce(DeltaTableError) -> StoreError + '_ {
    move |source| StoreError::Delta {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}

/// Whether `dir` holds a Delta table.
pub fn is_delta_table(dir: &Path) -> bool {
    dir.join(DELTA_LOG).is_dir()
}

fn table_url(path: &Path) -> Result<Url, StoreError> {
    let absolute = std::path::absolute(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Url::from_directory_path(&absolute).map_err(|()| StoreError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("not an absolute path"),
    })
}

/// Open the Delta table at `path`, which must exist.
pub async fn open(path: &Path) -> Result<DeltaTable, StoreError> {
    deltalake::open_table(table_url(path)?)
        .await
        .map_err(delta_err(path))
}

/// Open `spec`'s table in `data_dir`, creating it (empty) when it does not exist yet.
pub async fn open_or_create(data_dir: &Path, spec: &TableSpec) -> Result<DeltaTable, StoreError> {
    let path = spec.path(data_dir);
    if is_delta_table(&path) {
        return open(&path).await;
    }
    std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })?;
    let table = DeltaTable::try_from_url(table_url(&path)?)
        .await
        .map_err(delta_err(&path))?;
    let schema: StructType = spec
        .schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| delta_err(&path)(DeltaTableError::from(e)))?;
    table
        .create()
        .with_table_name(spec.name)
        .with_columns(schema.fields().cloned())
        .with_partition_columns(spec.partition_by.iter().copied())
        .await
        .map_err(delta_err(&path))
}

/// The table's current version.
pub fn version(table: &DeltaTable) -> i64 {
    table
        .version()
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(-1)
}

/// A DataFusion table provider for `table`, with its object store registered in `ctx`.
pub async fn provider(
    ctx: &SessionContext,
    table: &DeltaTable,
    path: &Path,
) -> Result<Arc<dyn TableProvider>, StoreError> {
    table
        .update_datafusion_session(&ctx.state())
        .map_err(delta_err(path))?;
    // The session's scan settings (the ingest session reads strings as `Utf8`, not views that
    // keep whole buffers of the table alive and make sorts reserve for them).
    table
        .table_provider()
        .with_session(Arc::new(ctx.state()))
        .await
        .map_err(|e| delta_err(path)(DeltaTableError::from(e)))
}

/// Register the Delta table at `path` in `ctx` as `name`.
pub async fn register(ctx: &SessionContext, name: &str, path: &Path) -> Result<(), StoreError> {
    let table = open(path).await?;
    let provider = provider(ctx, &table, path).await?;
    ctx.register_table(name, provider)
        .map_err(|e| delta_err(path)(DeltaTableError::from(e)))?;
    Ok(())
}
