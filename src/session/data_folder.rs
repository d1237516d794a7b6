//! The workspace's `data/` folder as a DataFusion schema: its tables are listed when asked and
//! opened when a query plans — a Delta table at its latest version, a file or folder of files
//! by its format — so a long-lived session sees new ingests without being rebuilt, and each
//! query sees one version of each table for its whole run (DataFusion resolves every table a
//! statement names once, before planning it). The stored tables are read-only in SQL
//! ([`super::stored`]). Tables the session creates (`CREATE EXTERNAL TABLE`, `CREATE VIEW`)
//! live beside them in memory and take precedence; a view keeps the table versions it was
//! created with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use parking_lot::RwLock;

use crate::tables::delta;

use super::stored::StoredTable;

/// One table of the data folder: where it is and how it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Delta(PathBuf),
    Files { path: PathBuf, format: Format },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
    Json,
}

/// The schema of a workspace's `data/` folder.
#[derive(Debug)]
pub struct DataFolder {
    dir: PathBuf,
    /// The session the tables are opened for (their scan settings, object stores).
    state: Weak<RwLock<SessionState>>,
    /// Tables created in the session.
    created: MemorySchemaProvider,
    /// Delta tables read at a fixed version instead of their latest (time travel).
    pinned: BTreeMap<String, u64>,
}

impl DataFolder {
    pub fn new(dir: PathBuf, state: Weak<RwLock<SessionState>>) -> DataFolder {
        DataFolder {
            dir,
            state,
            created: MemorySchemaProvider::new(),
            pinned: BTreeMap::new(),
        }
    }

    /// Read these Delta tables at these versions instead of their latest.
    pub fn pinned(mut self, versions: BTreeMap<String, u64>) -> DataFolder {
        self.pinned = versions;
        self
    }

    /// The latest version of each Delta table of `dir`, by name.
    pub async fn delta_versions(dir: &Path) -> Result<BTreeMap<String, u64>> {
        let folder = DataFolder::new(dir.to_path_buf(), Weak::new());
        let mut versions = BTreeMap::new();
        for (name, entry) in folder.entries() {
            if let Entry::Delta(path) = entry {
                let table = delta::open(&path)
                    .await
                    .map_err(|e| DataFusionError::Plan(e.to_string()))?;
                if let Some(version) = table.version() {
                    versions.insert(name, version);
                }
            }
        }
        Ok(versions)
    }

    /// The version, file count and row count (from the log's statistics) of the Delta table
    /// `name` of `dir`; `None` when `name` is not a Delta table there.
    pub async fn delta_info(dir: &Path, name: &str) -> Option<(u64, usize, Option<usize>)> {
        let folder = DataFolder::new(dir.to_path_buf(), Weak::new());
        let Ok(Some(Entry::Delta(path))) = folder.find(name) else {
            return None;
        };
        let table = delta::open(&path).await.ok()?;
        Some((
            table.version()?,
            delta::file_count(&table),
            delta::row_count(&table),
        ))
    }

    /// The tables of the folder, by name, sorted. A missing or unreadable folder has none.
    fn entries(&self) -> Vec<(String, Entry)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| Some((table_name(&path)?, entry(path)?)))
            .collect()
    }

    /// Whether the folder holds a table `name` (without opening it).
    fn has(&self, name: &str) -> bool {
        self.entries().iter().any(|(n, _)| n == name)
    }

    /// The entry of table `name`; two entries with one name (`tickets/` and `tickets.parquet`)
    /// are an error naming both, rather than a silent choice.
    fn find(&self, name: &str) -> Result<Option<Entry>> {
        let mut found = self.entries().into_iter().filter(|(n, _)| n == name);
        let first = found.next().map(|(_, e)| e);
        if let Some((_, second)) = found.next() {
            let path = |e: &Entry| match e {
                Entry::Delta(p) | Entry::Files { path: p, .. } => p.display().to_string(),
            };
            return Err(DataFusionError::Plan(format!(
                "two tables are named '{name}' in {}: {} and {}; rename one of them",
                self.dir.display(),
                first.as_ref().map(path).unwrap_or_default(),
                path(&second)
            )));
        }
        Ok(first)
    }

    fn session(&self) -> Result<SessionState> {
        let state = self.state.upgrade().ok_or_else(|| {
            DataFusionError::Internal("the session of the data folder has ended".into())
        })?;
        let state = state.read().clone();
        Ok(state)
    }

    /// Open the table `name` stored at `entry`, read-only in SQL.
    async fn open(&self, name: &str, entry: Entry) -> Result<Arc<dyn TableProvider>> {
        let table = self.open_stored(name, entry).await?;
        Ok(Arc::new(StoredTable::new(name, table)))
    }

    async fn open_stored(&self, name: &str, entry: Entry) -> Result<Arc<dyn TableProvider>> {
        let state = self.session()?;
        let context = |e: String| {
            DataFusionError::Plan(format!(
                "cannot open table '{name}' of {}: {e}",
                self.dir.display()
            ))
        };
        match entry {
            Entry::Delta(path) => {
                let table = match self.pinned.get(name) {
                    Some(&version) => delta::open_at(&path, version).await,
                    None => delta::open(&path).await,
                }
                .map_err(|e| context(e.to_string()))?;
                delta::provider(Arc::new(state), &table, &path)
                    .await
                    .map_err(|e| context(e.to_string()))
            }
            Entry::Files { path, format } => {
                let location = path.to_string_lossy();
                let url = ListingTableUrl::parse(location.as_ref())?;
                let (format, extension): (Arc<dyn FileFormat>, String) = match format {
                    Format::Parquet => (Arc::new(ParquetFormat::default()), ".parquet".into()),
                    Format::Csv => (
                        Arc::new(CsvFormat::default().with_has_header(true)),
                        ".csv".into(),
                    ),
                    Format::Json => (
                        Arc::new(JsonFormat::default()),
                        path.extension()
                            .map(|e| format!(".{}", e.to_string_lossy()))
                            .unwrap_or_default(),
                    ),
                };
                let options = ListingOptions::new(format).with_file_extension(extension);
                let schema = options
                    .infer_schema(&state, &url)
                    .await
                    .map_err(|e| context(e.to_string()))?;
                let config = ListingTableConfig::new(url)
                    .with_listing_options(options)
                    .with_schema(schema);
                Ok(Arc::new(ListingTable::try_new(config)?))
            }
        }
    }
}

/// The SQL name of a data folder entry: its file stem, unless it starts with `_` or `.`.
fn table_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    (!stem.starts_with('.') && !stem.starts_with('_')).then(|| stem.to_string())
}

/// How the entry at `path` is stored, if it is a table at all.
fn entry(path: PathBuf) -> Option<Entry> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("parquet") => Format::Parquet,
        Some("csv") => Format::Csv,
        Some("json" | "ndjson") => Format::Json,
        None if delta::is_delta_table(&path) => return Some(Entry::Delta(path)),
        None if path.is_dir() => Format::Parquet,
        _ => return None,
    };
    Some(Entry::Files { path, format })
}

#[async_trait]
impl SchemaProvider for DataFolder {
    fn table_names(&self) -> Vec<String> {
        // Entries are sorted by path: `a/`, `a-b.csv`, `a.csv` put a name's entries apart.
        let mut names: Vec<String> = self.entries().into_iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        for name in self.created.table_names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.created.table(name).await? {
            return Ok(Some(table));
        }
        match self.find(name)? {
            Some(entry) => self.open(name, entry).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every stored table is a base table: listing them (`information_schema.tables`,
    /// `SHOW TABLES`) opens none of them.
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if self.created.table_exist(name) {
            return self.created.table_type(name).await;
        }
        Ok(self.has(name).then_some(TableType::Base))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.created.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.created.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.created.table_exist(name) || self.has(name)
    }
}
