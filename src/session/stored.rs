//! The workspace's stored tables as SQL sees them: readable like any table, but not writable.
//! Their rows change only through `kpi ingest`, which takes the workspace's lock, reconciles
//! versions and quarantines bad rows; an `INSERT`, `DELETE`, `UPDATE` or `TRUNCATE` in SQL
//! would bypass all of that (and, on the bundled sample, write into the sources).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{plan_err, Constraints, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// A table of the workspace (the `data/` folder, the configured policies), read-only in SQL.
#[derive(Debug)]
pub struct StoredTable {
    name: String,
    inner: Arc<dyn TableProvider>,
    /// How its rows do change, for the error message.
    changed_by: &'static str,
}

impl StoredTable {
    /// A table of the `data/` folder, changed by `kpi ingest`.
    pub fn new(name: &str, inner: Arc<dyn TableProvider>) -> StoredTable {
        StoredTable::changed_by(name, inner, "`kpi ingest`")
    }

    /// A table whose rows change only through `changed_by`.
    pub fn changed_by(
        name: &str,
        inner: Arc<dyn TableProvider>,
        changed_by: &'static str,
    ) -> StoredTable {
        StoredTable {
            name: name.to_string(),
            inner,
            changed_by,
        }
    }

    fn refuse<T>(&self, what: &str) -> Result<T> {
        plan_err!(
            "{what} is not allowed on '{}': it changes only through {} (copy the rows into a \
             table of your own with CREATE TABLE … AS SELECT)",
            self.name,
            self.changed_by
        )
    }
}

#[async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("INSERT")
    }

    async fn delete_from(
        &self,
        _state: &dyn Session,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("DELETE")
    }

    async fn update(
        &self,
        _state: &dyn Session,
        _assignments: Vec<(String, Expr)>,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("UPDATE")
    }

    async fn truncate(&self, _state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("TRUNCATE")
    }
}
