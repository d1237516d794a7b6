//! The DataFusion session of a workspace, built once and kept for as long as its user needs it
//! (a command, a shell, a server): business-time functions registered, the `data/` folder's
//! tables resolved when a query plans ([`data_folder`]), `kpi.*` settings ([`options`]),
//! files queryable by path when asked, `SHOW FUNCTIONS` / `information_schema` enabled, and a
//! memory limit beyond which sorts and joins spill to disk.
//!
//! Every entry point (`kpi sql`, tests, later the review, the shell and the server) builds its
//! session here, with [`Session::builder`].

mod data_folder;
pub mod options;
mod stored;
pub mod unwind;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;

use crate::catalog::quarterly::TargetsTable;
use crate::catalog::review::results::{results_schema, KPI_RESULTS};
use crate::catalog::{Catalog, CatalogError, KPI_CATALOG, KPI_TARGETS};
use crate::functions;
use crate::workspace::Workspace;
use stored::StoredTable;

pub use data_folder::DataFolder;
pub use options::KpiOptions;

/// The catalog and schema the workspace's tables live in (DataFusion's defaults, so that
/// `tickets`, `public.tickets` and `datafusion.public.tickets` all name the same table).
const CATALOG: &str = "datafusion";
const SCHEMA: &str = "public";

/// Errors in preparing a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// DataFusion refused the session's configuration.
    #[error("cannot prepare the session: {0}")]
    Setup(Box<DataFusionError>),
    /// The workspace's KPI queries could not be read.
    #[error(transparent)]
    Catalog(Arc<CatalogError>),
}

/// How to build a [`Session`]: start from [`Session::builder`].
#[derive(Debug, Clone)]
pub struct SessionBuilder<'a> {
    workspace: &'a Workspace,
    as_of: Option<DateTime<Utc>>,
    read_only: bool,
    url_tables: bool,
    memory_limit: Option<usize>,
    pinned: BTreeMap<String, u64>,
}

impl SessionBuilder<'_> {
    /// Read the named Delta tables at these versions (time travel) instead of their latest:
    /// how a review is re-run on the data it first read.
    pub fn table_versions(mut self, versions: BTreeMap<String, u64>) -> Self {
        self.pinned = versions;
        self
    }

    /// Evaluate everything as of `instant` (the `kpi.as_of` setting) instead of "now".
    pub fn as_of(mut self, instant: Option<DateTime<Utc>>) -> Self {
        self.as_of = instant;
        self
    }

    /// Refuse statements that create, change or write anything (DDL, DML, `COPY`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Let queries read files by path: `SELECT * FROM 'exports/x.parquet'`.
    pub fn url_tables(mut self, enabled: bool) -> Self {
        self.url_tables = enabled;
        self
    }

    /// Bound the memory of queries to `bytes`; beyond it, sorts, joins and aggregations spill
    /// to temporary files, and what cannot spill fails with a clear error.
    pub fn memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = bytes;
        self
    }

    pub fn build(self) -> Result<Session, SessionError> {
        let setup = |e: DataFusionError| SessionError::Setup(Box::new(e));
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_option_extension(KpiOptions { as_of: self.as_of });
        // Spans let plan errors point at a line and column of the SQL.
        config.options_mut().sql_parser.collect_spans = true;
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = self.memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
        }
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime.build_arc().map_err(setup)?)
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        if self.url_tables {
            ctx = ctx.enable_url_table();
        }
        functions::register(&ctx, &self.workspace.calendars);
        let folder = DataFolder::new(self.workspace.config.data_dir.clone(), ctx.state_weak_ref())
            .pinned(self.pinned);
        let catalog = ctx
            .catalog(CATALOG)
            .ok_or_else(|| setup(DataFusionError::Internal("no default catalog".into())))?;
        catalog
            .register_schema(SCHEMA, Arc::new(folder))
            .map_err(setup)?;
        // The configured SLA policies, read-only like the stored tables.
        let batch = crate::sla::policies_batch(&self.workspace.config)
            .map_err(|e| setup(DataFusionError::from(e)))?;
        let policies = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(setup)?;
        ctx.register_table(
            crate::sla::SLA_POLICIES,
            Arc::new(StoredTable::changed_by(
                crate::sla::SLA_POLICIES,
                Arc::new(policies),
                "the [[sla.policies]] of kpi.toml",
            )),
        )
        .map_err(setup)?;
        let as_of: crate::sla::AsOf =
            |options| options.extensions.get::<KpiOptions>().and_then(|o| o.as_of);
        let views = crate::sla::views(&self.workspace.config, &self.workspace.calendars, as_of)
            .map_err(|e| setup(DataFusionError::Configuration(e.to_string())))?;
        for (name, view) in views {
            ctx.register_table(name, view).map_err(setup)?;
        }
        register_results(&ctx, self.workspace).map_err(setup)?;
        // A broken KPI file stops the commands that run KPIs, not the whole session: SQL
        // still works, without the catalog's tables.
        let catalog = Catalog::load(&self.workspace.config.queries_dir).map(Arc::new);
        if let Ok(catalog) = &catalog {
            register_catalog(&ctx, self.workspace, catalog, as_of).map_err(setup)?;
        }
        Ok(Session {
            ctx,
            data_dir: self.workspace.config.data_dir.clone(),
            catalog: catalog.map_err(Arc::new),
            read_only: self.read_only,
            memory_limit: self.memory_limit,
        })
    }
}

/// What [`Session::table_info`] knows of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    /// `table`, `view`, `Delta table`, …
    pub kind: &'static str,
    /// The number of rows, when known without reading the table.
    pub rows: Option<usize>,
    /// A Delta table's version and number of data files.
    pub version: Option<u64>,
    /// A Delta table's number of data files.
    pub files: Option<usize>,
}

/// A long-lived session over a workspace.
#[derive(Clone)]
pub struct Session {
    ctx: SessionContext,
    data_dir: PathBuf,
    catalog: Result<Arc<Catalog>, Arc<CatalogError>>,
    read_only: bool,
    memory_limit: Option<usize>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.ctx.session_id())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Session {
    /// A builder for a session over `workspace`: read-write, no file URLs, no memory limit,
    /// evaluated as of now.
    pub fn builder(workspace: &Workspace) -> SessionBuilder<'_> {
        SessionBuilder {
            workspace,
            as_of: None,
            read_only: false,
            url_tables: false,
            memory_limit: workspace.config.memory_limit,
            pinned: BTreeMap::new(),
        }
    }

    /// The KPI catalog: the bundled KPIs and the workspace's own; the error that stopped
    /// loading it (a workspace query file that is malformed or unreadable).
    pub fn catalog(&self) -> Result<Arc<Catalog>, SessionError> {
        self.catalog.clone().map_err(SessionError::Catalog)
    }

    /// The DataFusion context, for registering more and for DataFrame work.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// What statements this session accepts.
    pub fn sql_options(&self) -> SQLOptions {
        SQLOptions::new()
            .with_allow_ddl(!self.read_only)
            .with_allow_dml(!self.read_only)
    }

    /// Plan one parsed statement, refusing what the session does not allow.
    pub async fn plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        self.sql_options().verify_plan(&plan)?;
        Ok(plan)
    }

    /// Plan and start one SQL statement (as [`SessionContext::sql`], within the session's rules).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.ctx.sql_with_options(sql, self.sql_options()).await
    }

    /// The memory limit of queries, in bytes (`None`: unlimited).
    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// `err` with the memory limit named when the query ran out of memory under it.
    pub fn explain_error(&self, err: DataFusionError) -> DataFusionError {
        match (self.memory_limit, err.find_root()) {
            (Some(limit), DataFusionError::ResourcesExhausted(_)) => err.context(format!(
                "the query needs more memory than the limit of {} (memory_limit in kpi.toml, \
                 --memory-limit or KPI_MEMORY_LIMIT): raise the limit or narrow the query",
                crate::config::format_size(limit)
            )),
            _ => err,
        }
    }

    /// The names of the tables and views of the workspace's schema: the data folder's tables,
    /// the SLA views, the catalog's tables and what the session created.
    pub fn table_names(&self) -> Vec<String> {
        let mut names = self
            .ctx
            .catalog(CATALOG)
            .and_then(|c| c.schema(SCHEMA))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    }

    /// What kind of table `name` is, and what is known of its size without reading it.
    pub async fn table_info(&self, name: &str) -> TableInfo {
        let mut info = TableInfo::default();
        let Ok(provider) = self.ctx.table_provider(TableReference::bare(name)).await else {
            return info;
        };
        info.kind = match provider.table_type() {
            TableType::View => "view",
            TableType::Temporary => "temporary table",
            TableType::Base => "table",
        };
        if let Some(stats) = provider.statistics() {
            info.rows = stats.num_rows.get_value().copied();
        }
        // A view the session created may shadow a stored table of the same name.
        if info.kind != "table" {
            return info;
        }
        if let Some((version, files, rows)) = DataFolder::delta_info(&self.data_dir, name).await {
            info.kind = "Delta table";
            info.version = Some(version);
            info.files = Some(files);
            info.rows = rows.or(info.rows);
        }
        info
    }

    /// The current `kpi.*` settings.
    pub fn options(&self) -> KpiOptions {
        self.ctx
            .state()
            .config()
            .options()
            .extensions
            .get::<KpiOptions>()
            .cloned()
            .unwrap_or_default()
    }
}

/// `kpi_results`: the Parquet files `kpi review` writes, partitioned by quarter, in the
/// review's output folder (`[review] out_dir`, else `out/` in the current directory) — when
/// a review has written there.
fn register_results(ctx: &SessionContext, workspace: &Workspace) -> Result<()> {
    let dir = workspace.config.review.folder().join(KPI_RESULTS);
    if !dir.is_dir() {
        return Ok(());
    }
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("quarter".to_string(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(results_schema());
    ctx.register_table(
        KPI_RESULTS,
        Arc::new(StoredTable::changed_by(
            KPI_RESULTS,
            Arc::new(ListingTable::try_new(config)?),
            "`kpi review`",
        )),
    )?;
    Ok(())
}

/// `kpi_catalog` (the headers) and `kpi_targets` (the ladder, computed when scanned).
fn register_catalog(
    ctx: &SessionContext,
    workspace: &Workspace,
    catalog: &Arc<Catalog>,
    as_of: crate::sla::AsOf,
) -> Result<()> {
    let batch = catalog.batch();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(
        KPI_CATALOG,
        Arc::new(StoredTable::changed_by(
            KPI_CATALOG,
            Arc::new(table),
            "the KPI query files (queries/*.sql)",
        )),
    )?;
    ctx.register_table(
        KPI_TARGETS,
        Arc::new(StoredTable::changed_by(
            KPI_TARGETS,
            Arc::new(TargetsTable {
                config: workspace.config.targets.clone(),
                catalog: catalog.clone(),
                config_path: workspace.config.path.clone(),
                zone: workspace.quarter_zone(),
                as_of,
            }),
            "[targets] in kpi.toml",
        )),
    )?;
    Ok(())
}
