//! One client connection: its own DataFusion session over the shared, read-only tables (so a
//! `SET` in one connection never changes what another sees), the access rules of its user
//! applied to every statement before it runs, and each query run within the connection's
//! statement timeout, its share of memory and its cancel key.
//!
//! datafusion-postgres parses statements and answers the protocol's session chatter (`SET`
//! of formatting variables, `SHOW`, transaction statements, parameter descriptions);
//! [`Gate`], the first of its query hooks, sees every statement first and runs every query
//! itself, so nothing reaches DataFusion without the checks of [`super::access`].

use std::fmt::Debug;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{visit_relations, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, Stream, StreamExt};
use parking_lot::Mutex;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use tokio_util::sync::CancellationToken;

use super::access::{Access, Denied, Grant, Kind};
use super::limits::QueryPool;
use super::Shared;

use crate::session::unwind::{catching, catching_stream};

/// An error for the client, with its SQLSTATE.
pub(super) fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

fn denied(d: Denied) -> PgWireError {
    error(d.sqlstate(), d.to_string())
}

fn timed_out() -> PgWireError {
    error("57014", "canceling statement due to statement timeout")
}

fn cancelled() -> PgWireError {
    error("57014", "canceling statement due to user request")
}

/// A DataFusion error as PostgreSQL would classify it.
fn query_error(e: DataFusionError, query_limit: usize) -> PgWireError {
    let root = e.find_root();
    let text = root.to_string();
    let code = match root {
        DataFusionError::ResourcesExhausted(_) => {
            return error(
                "53200",
                format!(
                    "out of memory: {} (each query may use {} of the server's pool; raise \
                     [server] query_memory_limit or narrow the query)",
                    text.trim_start_matches("Resources exhausted: "),
                    crate::config::format_size(query_limit)
                ),
            )
        }
        DataFusionError::SQL(..) => "42601",
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
            if text.contains("not found") && text.contains("table") {
                "42P01"
            } else if text.contains("No field named") || text.contains("Schema error") {
                "42703"
            } else if text.contains("function") {
                "42883"
            } else {
                "42000"
            }
        }
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => "22000",
        _ => "XX000",
    };
    error(code, e.strip_backtrace())
}

/// What one connection shares between its startup handler and its query handlers.
#[derive(Debug)]
pub(super) struct ConnectionState {
    /// The user's rules, once authenticated.
    pub grant: Arc<Grant>,
    /// The connection's statement timeout (`SET statement_timeout`), when lowered.
    timeout: Mutex<Option<Duration>>,
    /// The parent of the tokens of the queries running now: a cancel request cancels them all
    /// (a simple query may run several statements, an open portal may hold another) and puts
    /// a fresh parent in its place for the queries that come next.
    running: Mutex<CancellationToken>,
    /// Queries whose results are still being produced.
    busy: AtomicUsize,
}

impl ConnectionState {
    pub fn new() -> ConnectionState {
        ConnectionState {
            grant: Arc::new(Grant::default()),
            timeout: Mutex::new(None),
            running: Mutex::new(CancellationToken::new()),
            busy: AtomicUsize::new(0),
        }
    }

    /// Cancel the running query (a cancel request, or the server shutting down).
    pub fn cancel(&self) {
        let running = std::mem::replace(&mut *self.running.lock(), CancellationToken::new());
        running.cancel();
    }

    /// Whether a query is producing results.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }
}

/// Marks the connection busy for as long as it lives.
struct Busy(Arc<ConnectionState>);

impl Busy {
    fn new(conn: &Arc<ConnectionState>) -> Busy {
        conn.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(conn))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The names of files or URLs a statement reads (`FROM '/etc/passwd'`). The server's
/// session cannot open them anyway; this names the refusal.
fn file_reads(statement: &Statement) -> Option<String> {
    let mut found = None;
    let _ = visit_relations(statement, |name| {
        let last = name.0.last().map(|p| p.to_string()).unwrap_or_default();
        let bare = last.trim_matches(|c| c == '\'' || c == '"');
        if bare.contains('/') || bare.contains(':') || bare.contains('\\') {
            found = Some(bare.to_string());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Runs one connection's statements: the first query hook, and the executor of queries.
pub(super) struct Gate {
    shared: Arc<Shared>,
    conn: Arc<ConnectionState>,
    /// The session as the connection started, which `DISCARD` returns to.
    initial: datafusion::execution::SessionState,
}

impl Gate {
    fn access(&self) -> PgWireResult<&Access> {
        // Queries arrive only after authentication; if one ever did not, refuse it.
        self.conn
            .grant
            .get()
            .ok_or_else(|| error("28000", "the connection is not authenticated"))
    }

    /// Plan a statement the rules let through, and check what the plan reads.
    async fn plan(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
    ) -> PgWireResult<Option<(Kind, LogicalPlan)>> {
        let access = self.access()?;
        let kind = access.classify(statement).map_err(denied)?;
        if kind.answered_by_server() {
            return Ok(Some((kind, LogicalPlan::EmptyRelation(empty()))));
        }
        match &kind {
            Kind::Session => return Ok(None),
            Kind::Describe(name) => access.check_name(name).map_err(denied)?,
            _ => {}
        }
        if let Some(file) = file_reads(statement) {
            return Err(denied(Denied::Table {
                table: file,
                why: "queries cannot read files or URLs on this server".into(),
            }));
        }
        let state = ctx.state();
        let plan = |statement: Statement| {
            state.statement_to_plan(DfStatement::Statement(Box::new(statement)))
        };
        let error = |e| query_error(e, self.shared.query_memory);
        let mut planned = plan(statement.clone()).await.map_err(error)?;
        // A driver's catalog query may use correlated subqueries DataFusion cannot run.
        if let Some(rewritten) = super::pg_compat::without_catalog_subqueries(statement) {
            if let Err(e) = state.optimize(&planned) {
                if e.to_string().contains("Correlated scalar subquery") {
                    planned = plan(rewritten).await.map_err(error)?;
                }
            }
        }
        let plan = planned;
        access.check_plan(&plan).map_err(denied)?;
        Ok(Some((kind, plan)))
    }

    /// Apply a `SET` the server handles itself, or acknowledge a statement with nothing to do.
    async fn set(
        &self,
        kind: &Kind,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut (dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<Response> {
        match kind {
            // Back inside the transaction (out of a failed state, if it was in one).
            Kind::Acknowledge("ROLLBACK") => {
                return Ok(Response::TransactionStart(Tag::new("ROLLBACK")))
            }
            Kind::Acknowledge(tag) => return Ok(Response::Execution(Tag::new(tag))),
            Kind::Discard => {
                *self.conn.timeout.lock() = None;
                client.metadata_mut().remove("statement_timeout_ms");
                *ctx.state_ref().write() = self.initial.clone();
                return Ok(Response::Execution(Tag::new("DISCARD ALL")));
            }
            Kind::StatementTimeout(timeout) => {
                *self.conn.timeout.lock() = *timeout;
                let limit = timeout.unwrap_or(self.shared.config.statement_timeout);
                client.metadata_mut().insert(
                    "statement_timeout_ms".to_string(),
                    limit.as_millis().to_string(),
                );
            }
            _ => {
                let plan = ctx
                    .state()
                    .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
                    .await
                    .and_then(|plan| match plan {
                        LogicalPlan::Statement(_) => Ok(plan),
                        _ => Err(DataFusionError::Plan("not a SET statement".into())),
                    })
                    .map_err(|e| error("22023", e.strip_backtrace()))?;
                ctx.execute_logical_plan(plan)
                    .await
                    .map_err(|e| error("22023", e.strip_backtrace()))?;
            }
        }
        Ok(Response::Execution(Tag::new("SET")))
    }

    /// Run a checked plan within the connection's limits; rows are encoded in `format`.
    async fn run(
        &self,
        plan: LogicalPlan,
        ctx: &SessionContext,
        format: &Format,
        options: Arc<FormatOptions>,
    ) -> PgWireResult<Response> {
        use datafusion::logical_expr::Statement as Prepared;
        let limit = self.shared.query_memory;
        let plan = match plan {
            // PREPARE keeps the (checked) plan in the connection's session; DEALLOCATE drops it.
            LogicalPlan::Statement(Prepared::Prepare(_) | Prepared::Deallocate(_)) => {
                let tag = match &plan {
                    LogicalPlan::Statement(Prepared::Prepare(_)) => "PREPARE",
                    _ => "DEALLOCATE",
                };
                ctx.execute_logical_plan(plan)
                    .await
                    .map_err(|e| query_error(e, limit))?;
                return Ok(Response::Execution(Tag::new(tag)));
            }
            // EXECUTE: the prepared plan with its arguments, checked again.
            LogicalPlan::Statement(Prepared::Execute(_)) => {
                let df = ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(|e| query_error(e, limit))?;
                let plan = df.logical_plan().clone();
                self.access()?.check_plan(&plan).map_err(denied)?;
                plan
            }
            plan => plan,
        };
        let timeout = self
            .conn
            .timeout
            .lock()
            .unwrap_or(self.shared.config.statement_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let token = self.conn.running.lock().child_token();
        let busy = Busy::new(&self.conn);
        let start = async {
            let base = ctx.runtime_env();
            let runtime = RuntimeEnv {
                memory_pool: Arc::new(QueryPool::new(Arc::clone(&self.shared.pool), limit)),
                ..RuntimeEnv::clone(&base)
            };
            let state = SessionStateBuilder::new_from_existing(ctx.state())
                .with_runtime_env(Arc::new(runtime))
                .build();
            let physical = state.create_physical_plan(&plan).await?;
            execute_stream(physical, state.task_ctx()).map(catching_stream)
        };
        let start = catching(start);
        let stream = tokio::select! {
            stream = start => stream.map_err(|e| query_error(e, limit))?,
            _ = tokio::time::sleep_until(deadline) => return Err(timed_out()),
            _ = token.cancelled() => return Err(cancelled()),
        };
        let fields = Arc::new(arrow_schema_to_pg_fields(
            stream.schema().as_ref(),
            format,
            Some(options),
        )?);
        // Whoever reads the rows sees the deadline and a cancel as errors; and if nobody reads
        // (a suspended portal), the watchdog still ends the execution and frees its memory.
        let stream = Arc::new(Mutex::new(Some(stream)));
        let slot = Arc::clone(&stream);
        let stopped = token.clone();
        let watchdog = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stopped.cancelled() => {}
            }
            slot.lock().take();
        });
        let rows = Bounded {
            stream,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            cancel: Box::pin(token.clone().cancelled_owned()),
            token,
            limit,
            done: false,
            watchdog,
            _busy: busy,
        };
        let encoded = Arc::clone(&fields);
        let rows = rows
            .map(move |batch| {
                let rows: Box<dyn Iterator<Item = _> + Send + Sync> = match batch {
                    Ok(batch) => encode_recordbatch(Arc::clone(&encoded), batch),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
                futures::stream::iter(rows)
            })
            .flatten();
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }
}

/// The types of a plan's parameters `$1`, `$2`, … by position: as DataFusion infers them from
/// their use, else from a cast (`$1::text`), else unknown (the client's type is used).
fn parameter_types(plan: &LogicalPlan) -> datafusion::error::Result<Vec<Option<DataType>>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::prelude::Expr;
    let mut types = plan.get_parameter_types()?;
    plan.apply_with_subqueries(|node| {
        for expr in node.expressions() {
            expr.apply(|e| {
                if let Expr::Cast(cast) = e {
                    if let Expr::Placeholder(p) = cast.expr.as_ref() {
                        let slot = types.entry(p.id.clone()).or_insert(None);
                        if slot.is_none() {
                            *slot = Some(cast.field.data_type().clone());
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    // By position: `$3` is the third, even when `$2` no longer appears in the plan. The
    // protocol carries at most 65535 parameters: a placeholder beyond is an error, not an
    // allocation.
    let mut ordered: Vec<Option<DataType>> = Vec::new();
    for (id, ty) in types {
        if let Some(n) = id
            .trim_start_matches('$')
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
        {
            if n > u16::MAX as usize {
                return Err(DataFusionError::Plan(format!(
                    "there is no parameter {id}: at most $65535"
                )));
            }
            if ordered.len() < n {
                ordered.resize(n, None);
            }
            ordered[n - 1] = ty;
        }
    }
    Ok(ordered)
}

fn empty() -> datafusion::logical_expr::EmptyRelation {
    datafusion::logical_expr::EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(datafusion::common::DFSchema::empty()),
    }
}

/// A query's batches, ended by an error when its deadline passes or it is cancelled.
struct Bounded {
    /// The execution; taken (and so stopped) by the watchdog at the deadline or a cancel.
    stream: Arc<Mutex<Option<SendableRecordBatchStream>>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    cancel: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    token: CancellationToken,
    limit: usize,
    done: bool,
    watchdog: tokio::task::JoinHandle<()>,
    _busy: Busy,
}

impl Drop for Bounded {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}

impl Stream for Bounded {
    type Item = PgWireResult<datafusion::arrow::record_batch::RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.cancel.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Err(cancelled())));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Err(timed_out())));
        }
        let mut slot = this.stream.lock();
        let Some(stream) = slot.as_mut() else {
            // The watchdog stopped the execution before this read noticed why.
            this.done = true;
            let why = if this.token.is_cancelled() {
                cancelled()
            } else {
                timed_out()
            };
            return Poll::Ready(Some(Err(why)));
        };
        match stream.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => Poll::Ready(Some(Ok(batch))),
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(query_error(e, this.limit))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[async_trait]
impl QueryHook for Gate {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let (kind, plan) = match self.plan(statement, ctx).await {
            Ok(Some(planned)) => planned,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        if kind.answered_by_server() {
            return Some(self.set(&kind, statement, ctx, client).await);
        }
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Some(self.run(plan, ctx, &Format::UnifiedText, options).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match self.plan(statement, ctx).await {
            Ok(Some((_, plan))) => Some(Ok(plan)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // Queries are run by [`Service`], which knows the portal's result formats; here only
        // the `SET`s the server handles itself arrive.
        let kind = match self
            .access()
            .and_then(|a| a.classify(statement).map_err(denied))
        {
            Ok(kind) => kind,
            Err(e) => return Some(Err(e)),
        };
        if kind.answered_by_server() {
            return Some(self.set(&kind, statement, ctx, client).await);
        }
        match kind {
            Kind::Session => None,
            _ => Some(Err(error(
                "XX000",
                "a query reached the session hooks unchecked; it was refused",
            ))),
        }
    }
}

/// A statement the parser refused as SQLSTATE 42601 (syntax error), not a server failure.
fn syntax(err: PgWireError) -> PgWireError {
    match err {
        PgWireError::ApiError(e) if e.to_string().contains("sql parser error") => {
            error("42601", e.to_string())
        }
        other => other,
    }
}

/// datafusion-postgres' parser, with its syntax errors reported as such.
pub(super) struct Statements(Arc<Parser>);

#[async_trait]
impl QueryParser for Statements {
    type Statement = <Parser as QueryParser>::Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<pgwire::api::Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.0.parse_sql(client, sql, types).await.map_err(syntax)
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<pgwire::api::Type>> {
        self.0.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<pgwire::api::results::FieldInfo>> {
        self.0.get_result_schema(stmt, format)
    }
}

/// The query handlers of one connection.
pub(super) struct Service {
    inner: Arc<DfSessionService>,
    statements: Arc<Statements>,
    gate: Arc<Gate>,
    ctx: Arc<SessionContext>,
}

impl Service {
    /// The connection's session over `base`'s tables, as `grant` lets its user see them.
    pub(super) fn new(shared: &Arc<Shared>, conn: &Arc<ConnectionState>) -> PgWireResult<Service> {
        let ctx = Arc::new(shared.connection_context(Arc::clone(&conn.grant))?);
        let gate = Arc::new(Gate {
            shared: Arc::clone(shared),
            conn: Arc::clone(conn),
            initial: ctx.state(),
        });
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            gate.clone(),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let inner = Arc::new(DfSessionService::new_with_hooks(Arc::clone(&ctx), hooks));
        Ok(Service {
            statements: Arc::new(Statements(inner.query_parser())),
            inner,
            gate,
            ctx,
        })
    }
}

#[async_trait]
impl SimpleQueryHandler for Service {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        SimpleQueryHandler::do_query(self.inner.as_ref(), client, query)
            .await
            .map_err(syntax)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Service {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = Statements;

    fn query_parser(&self) -> Arc<Statements> {
        Arc::clone(&self.statements)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (_, Some((statement, plan))) = &portal.statement.statement else {
            return Ok(Response::EmptyQuery);
        };
        let access = self.gate.access()?;
        match access.classify(statement).map_err(denied)? {
            Kind::Query | Kind::Describe(_) => {}
            _ => {
                return ExtendedQueryHandler::do_query(
                    self.inner.as_ref(),
                    client,
                    portal,
                    max_rows,
                )
                .await
            }
        }
        // The plan was checked when it was parsed; check it again, as it runs.
        access.check_plan(plan).map_err(denied)?;
        let ordered =
            parameter_types(plan).map_err(|e| query_error(e, self.gate.shared.query_memory))?;
        let types: Vec<Option<&DataType>> = ordered.iter().map(Option::as_ref).collect();
        let params = deserialize_parameters(portal, &types)?;
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(|e| error("22023", e.strip_backtrace()))?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        self.gate
            .run(plan, &self.ctx, &portal.result_column_format, options)
            .await
    }
}
