//! What one connection's catalog looks like: the workspace's schema as the database `kpi`,
//! listing only the tables the user's role may read, with `pg_catalog` beside it. Listings
//! (`information_schema`, `pg_catalog`, `\dt`, a BI tool's table picker) are built from these
//! lists, so a viewer never sees the detail tables' names or columns. Tables are still looked
//! up by name for every role, so that a query naming a hidden table is refused by the plan
//! check with "permission denied" rather than "not found".

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{exec_err, not_impl_err};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use parking_lot::RwLock;

use super::access::{Grant, DATABASE};

/// The catalogs of one connection: only `kpi`.
#[derive(Debug)]
pub struct ServedCatalogs {
    catalog: Arc<ServedCatalog>,
}

impl ServedCatalogs {
    /// `workspace`: the session's catalog of the workspace's tables.
    pub fn new(workspace: Arc<dyn CatalogProvider>, access: Arc<Grant>) -> ServedCatalogs {
        ServedCatalogs {
            catalog: Arc::new(ServedCatalog {
                workspace,
                access,
                added: RwLock::new(BTreeMap::new()),
            }),
        }
    }
}

impl CatalogProviderList for ServedCatalogs {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // The server serves one database; nothing adds another.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![DATABASE.to_string()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == DATABASE).then(|| Arc::clone(&self.catalog) as Arc<dyn CatalogProvider>)
    }
}

#[derive(Debug)]
struct ServedCatalog {
    workspace: Arc<dyn CatalogProvider>,
    access: Arc<Grant>,
    /// Schemas the server adds for this connection (`pg_catalog`).
    added: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl CatalogProvider for ServedCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.workspace.schema_names();
        names.extend(self.added.read().keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(schema) = self.added.read().get(name) {
            return Some(Arc::clone(schema));
        }
        let inner = self.workspace.schema(name)?;
        Some(Arc::new(ServedSchema {
            inner,
            access: Arc::clone(&self.access),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Ok(self.added.write().insert(name.to_string(), schema))
    }
}

/// The workspace's schema as one role sees it.
#[derive(Debug)]
struct ServedSchema {
    inner: Arc<dyn SchemaProvider>,
    access: Arc<Grant>,
}

#[async_trait]
impl SchemaProvider for ServedSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .table_names()
            .into_iter()
            .filter(|name| self.access.may_read(name))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.table(name).await
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        self.inner.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        not_impl_err!("cannot create table {name}: the server is read-only")
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        exec_err!("cannot drop table {name}: the server is read-only")
    }

    /// Every table exists for every role: what a viewer may read is decided on the plan, and
    /// the tables it may read (`kpi_targets`, the SLA views) look up the detail they are
    /// computed from through this schema.
    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}
