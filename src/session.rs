//! The DataFusion session of a workspace: business-time functions registered, the workspace's
//! tables registered, files queryable by path, and `SHOW FUNCTIONS` / `information_schema`
//! enabled. Every entry point (`kpi sql`, tests, later the server) builds its session here.

use std::path::{Path, PathBuf};

use datafusion::error::DataFusionError;
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};

use crate::functions;
use crate::workspace::Workspace;

/// Errors in preparing a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A Delta table of the data folder could not be opened.
    #[error("cannot open table '{table}': {source}")]
    Delta {
        table: String,
        source: crate::ingest::store::StoreError,
    },
    /// The data folder could not be listed.
    #[error("cannot list the data folder {}: {source}", path.display())]
    ListData {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A table file could not be registered.
    #[error("cannot register table '{table}' from {}: {source}", path.display())]
    Register {
        table: String,
        path: PathBuf,
        source: Box<DataFusionError>,
    },
}

/// A session for `workspace`.
pub async fn session(workspace: &Workspace) -> Result<SessionContext, SessionError> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(true);
    let ctx = SessionContext::new_with_config(config).enable_url_table();
    functions::register(&ctx, &workspace.calendars);
    register_data_folder(&ctx, &workspace.config.data_dir).await?;
    Ok(ctx)
}

/// Register every table in `dir` under its file stem: Delta tables (folders with a
/// `_delta_log`, such as the ingested `tickets` and `ticket_events`), Parquet, CSV and JSON
/// files, and folders of Parquet files: `data/extra.parquet` becomes `extra`. A missing folder
/// registers nothing.
pub async fn register_data_folder(ctx: &SessionContext, dir: &Path) -> Result<(), SessionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SessionError::ListData {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if stem.starts_with('.') || stem.starts_with('_') {
            continue;
        }
        let table = stem.to_string();
        let location = path.to_string_lossy().to_string();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let result = match ext.as_deref() {
            Some("parquet") => {
                ctx.register_parquet(&table, &location, ParquetReadOptions::default())
                    .await
            }
            Some("csv") => {
                ctx.register_csv(&table, &location, CsvReadOptions::default())
                    .await
            }
            Some("json" | "ndjson") => {
                let options = JsonReadOptions::default().file_extension(match ext.as_deref() {
                    Some("json") => ".json",
                    _ => ".ndjson",
                });
                ctx.register_json(&table, &location, options).await
            }
            None if crate::ingest::store::is_delta_table(&path) => {
                crate::ingest::store::register(ctx, &table, &path)
                    .await
                    .map_err(|source| SessionError::Delta {
                        table: table.clone(),
                        source,
                    })?;
                continue;
            }
            None if path.is_dir() => {
                ctx.register_parquet(&table, &location, ParquetReadOptions::default())
                    .await
            }
            _ => continue,
        };
        result.map_err(|source| SessionError::Register {
            table,
            path: path.clone(),
            source: Box::new(source),
        })?;
    }
    Ok(())
}
