//! The workspace's stored tables as Delta Lake tables under `data/`: created on first use with
//! conservative table features (protocol 1/2: no deletion vectors, no column mapping) so that
//! DuckDB, Spark, Trino and Polars read them too; opened at their latest version or at any
//! earlier one (time travel); their versions listed. Every commit is atomic: readers see a
//! table at its previous version or its new one, never in between.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::{Session, TableProvider};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::StructType;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt as _;
use url::Url;

use super::columns::Table;

/// The name of the log folder that makes a folder a Delta table.
const DELTA_LOG: &str = "_delta_log";

/// Errors of the stored tables.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The table folder could not be read or created.
    #[error("cannot use the table folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The Delta library refused the table or the operation.
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

/// Open the Delta table at `path` as it was at `version` (time travel).
pub async fn open_at(path: &Path, version: u64) -> Result<DeltaTable, StoreError> {
    deltalake::open_table_with_version(table_url(path)?, version)
        .await
        .map_err(delta_err(path))
}

/// One commit of a table, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVersion {
    pub version: u64,
    /// Commit time, milliseconds since 1970-01-01 UTC.
    pub timestamp_ms: Option<i64>,
    /// What made it: `CREATE TABLE`, `WRITE`, `MERGE`, …
    pub operation: Option<String>,
}

/// The versions of the Delta table at `path`, newest first.
pub async fn versions(path: &Path) -> Result<Vec<TableVersion>, StoreError> {
    let table = open(path).await?;
    let Some(latest) = table.version() else {
        return Ok(Vec::new());
    };
    let infos: Vec<_> = table
        .history(None)
        .try_collect()
        .await
        .map_err(delta_err(path))?;
    Ok(infos
        .into_iter()
        .zip((0..=latest).rev())
        .map(|(info, version)| TableVersion {
            version,
            timestamp_ms: info.timestamp,
            operation: info.operation,
        })
        .collect())
}

/// The number of data files in the table's current version.
pub fn file_count(table: &DeltaTable) -> usize {
    table
        .snapshot()
        .map(|s| s.log_data().num_files())
        .unwrap_or(0)
}

/// The number of rows in the table's current version, from the files' statistics in the log
/// (nothing is read); `None` when a file has no row count.
pub fn row_count(table: &DeltaTable) -> Option<usize> {
    let snapshot = table.snapshot().ok()?;
    snapshot
        .log_data()
        .iter()
        .map(|file| file.num_records())
        .sum::<Option<usize>>()
}

/// Where `table` lives in the data folder `data_dir`.
pub fn table_path(data_dir: &Path, table: &Table) -> PathBuf {
    data_dir.join(table.name)
}

/// Open `spec`'s table in `data_dir`, creating it (empty) when it does not exist yet.
pub async fn open_or_create(data_dir: &Path, spec: &Table) -> Result<DeltaTable, StoreError> {
    let path = table_path(data_dir, spec);
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
        .schema()
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

/// A DataFusion table provider for `table` at its loaded version, reading with `session`'s
/// scan settings (the ingest session reads strings as `Utf8`, not views that keep whole
/// buffers of the table alive and make sorts reserve for them), with the table's object store
/// registered in `session`.
pub async fn provider<S: Session + 'static>(
    session: Arc<S>,
    table: &DeltaTable,
    path: &Path,
) -> Result<Arc<dyn TableProvider>, StoreError> {
    table
        .update_datafusion_session(session.as_ref())
        .map_err(delta_err(path))?;
    table
        .table_provider()
        .with_session(session)
        .await
        .map_err(|e| delta_err(path)(DeltaTableError::from(e)))
}
