//! `kpi serve`: the workspace's session over the PostgreSQL wire protocol, for BI tools and
//! SQL clients — authenticated, role-based, read-only, and failing closed.
//!
//! This folder owns the server: its users and their SCRAM verifiers ([`users`], [`scram`]),
//! the start of a connection ([`auth`]), the access rules ([`access`]) and how each role sees
//! the catalog ([`catalog`]), one connection's session and limits ([`connection`],
//! [`limits`]), and here the listener: TLS, the connection limit, cancel requests and a
//! graceful shutdown. It starts only when everything it needs is right: at least one user,
//! a TLS configuration that loads (when one is given), TLS or an explicit `allow_plaintext`
//! beyond loopback, and `viewer_tables` that exist.

pub mod access;
mod auth;
mod catalog;
mod connection;
pub mod limits;
mod pg_compat;
pub mod scram;
pub mod users;

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use futures::Sink;
use parking_lot::Mutex;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::{format_duration, format_size, ServerConfig, TlsFiles};
use crate::session::Session;
use access::{Grant, DATABASE};
use catalog::ServedCatalogs;
use connection::{ConnectionState, Service};
use users::Users;

/// How long a connection may take to authenticate before it is closed.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a refused connection (over the limit) is given to read why.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The memory all queries share when the workspace sets no `memory_limit`.
pub const DEFAULT_POOL: usize = 4 << 30;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "no users in {}: the server does not start without one; add one with \
         `kpi user add NAME --role admin`", .0.display()
    )]
    NoUsers(PathBuf),
    #[error(transparent)]
    Users(#[from] users::UsersError),
    #[error("TLS ([server] tls_cert / tls_key): {}: {message}; the server does not start without the TLS it was configured with", path.display())]
    Tls { path: PathBuf, message: String },
    #[error(
        "listening on {0} (not loopback) without TLS sends passwords' proofs and results in \
         the clear: configure [server] tls_cert and tls_key, or set allow_plaintext = true"
    )]
    Plaintext(SocketAddr),
    #[error("[server] viewer_tables: no table or view '{0}' in the workspace")]
    ViewerTable(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot prepare the server's session: {0}")]
    Setup(String),
}

/// A server ready to accept connections: everything was checked, the address is bound.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// What all connections share.
pub(crate) struct Shared {
    config: ServerConfig,
    users: Users,
    /// The workspace's session, whose tables every connection reads.
    base: SessionContext,
    /// The memory all queries draw from, and what one query may hold.
    pool: Arc<dyn MemoryPool>,
    query_memory: usize,
    /// The workspace's tables when the server started.
    tables: Vec<String>,
    /// Salts the decoy challenges of unknown users.
    decoy_secret: [u8; 32],
    keys: RandomPidSecretKeyGenerator,
    /// Authenticated connections by their cancel key.
    cancels: Mutex<HashMap<(i32, Bytes), Weak<ConnectionState>>>,
    /// Every open connection, to cancel their queries at shutdown.
    live: Mutex<Vec<Weak<ConnectionState>>>,
    log: Box<dyn Fn(&str) + Send + Sync>,
}

impl Shared {
    fn log(&self, line: &str) {
        (self.log)(line)
    }

    fn register(&self, pid: i32, key: &SecretKey, conn: &Arc<ConnectionState>) {
        self.cancels
            .lock()
            .insert((pid, key.to_bytes()), Arc::downgrade(conn));
    }

    fn cancel(&self, pid: i32, key: &SecretKey) {
        let found = self.cancels.lock().get(&(pid, key.to_bytes())).cloned();
        if let Some(conn) = found.and_then(|c| c.upgrade()) {
            conn.cancel();
        }
    }

    /// A connection's session: the workspace's tables as database `kpi`, listed as `grant`
    /// allows, with `pg_catalog` for clients' catalog queries.
    fn connection_context(&self, grant: Arc<Grant>) -> PgWireResult<SessionContext> {
        let setup = |e: String| connection::error("XX000", format!("cannot open a session: {e}"));
        let state = self.base.state();
        let workspace = state
            .catalog_list()
            .catalog(&state.config().options().catalog.default_catalog)
            .ok_or_else(|| setup("the workspace has no catalog".into()))?;
        let mut config = state.config().clone();
        config.options_mut().catalog.default_catalog = DATABASE.to_string();
        let state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(Arc::new(ServedCatalogs::new(workspace, grant)))
            .with_config(config)
            .with_session_id(format!("{:032x}", rand::random::<u128>()))
            .build();
        let ctx = SessionContext::new_with_state(state);
        setup_pg_catalog(&ctx, DATABASE, EmptyContextProvider).map_err(|e| setup(e.to_string()))?;
        pg_compat::register(&ctx);
        Ok(ctx)
    }
}

/// Load the TLS certificate chain and key; any problem is an error naming the file.
fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fail = |path: &Path, message: String| ServeError::Tls {
        path: path.to_path_buf(),
        message,
    };
    let open = |path: &Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| fail(path, e.to_string()))
    };
    let certs = rustls_pemfile::certs(&mut open(&files.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&files.cert, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(fail(&files.cert, "no certificate in the file".into()));
    }
    let key = rustls_pemfile::private_key(&mut open(&files.key)?)
        .map_err(|e| fail(&files.key, format!("not a PEM key file ({e})")))?
        .ok_or_else(|| fail(&files.key, "no private key in the file".into()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            fail(
                &files.key,
                format!("the key does not fit the certificate ({e})"),
            )
        })?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Server {
    /// Check everything the server needs and bind its address; `listen` overrides
    /// `[server] listen`; `log` receives one line per event (start, connections, refusals).
    pub async fn bind(
        session: &Session,
        config: &ServerConfig,
        users_file: &Path,
        listen: Option<SocketAddr>,
        log: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Server, ServeError> {
        let users = Users::load(users_file)?;
        if users.is_empty() {
            return Err(ServeError::NoUsers(users_file.to_path_buf()));
        }
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let addr = listen.unwrap_or(config.listen);
        if tls.is_none() && !addr.ip().is_loopback() && !config.allow_plaintext {
            return Err(ServeError::Plaintext(addr));
        }
        let tables = session.table_names();
        if let Some(missing) = config.viewer_tables.iter().find(|t| !tables.contains(t)) {
            return Err(ServeError::ViewerTable(missing.clone()));
        }
        let pool_size = session.memory_limit().unwrap_or(DEFAULT_POOL);
        let query_memory = config.query_memory_limit.unwrap_or(pool_size / 4);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let shared = Shared {
            config: ServerConfig {
                listen: listener.local_addr().unwrap_or(addr),
                ..config.clone()
            },
            users,
            base: session.context().clone(),
            pool: Arc::new(FairSpillPool::new(pool_size)),
            query_memory,
            tables,
            decoy_secret: rand::random(),
            keys: RandomPidSecretKeyGenerator::default(),
            cancels: Mutex::new(HashMap::new()),
            live: Mutex::new(Vec::new()),
            log,
        };
        // A first session proves the catalog can be served before any client arrives.
        shared
            .connection_context(Arc::new(Grant::default()))
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        Ok(Server {
            shared: Arc::new(shared),
            listener,
            tls,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.config.listen
    }

    /// One line on how the server runs: address, TLS, users, limits.
    pub fn describe(&self) -> String {
        let config = &self.shared.config;
        let transport = match (&self.tls, config.require_tls) {
            (Some(_), true) => "TLS required".to_string(),
            (Some(_), false) => "TLS offered, plaintext allowed".to_string(),
            (None, _) if config.listen.ip().is_loopback() => "plaintext, loopback only".to_string(),
            (None, _) => "PLAINTEXT beyond loopback (allow_plaintext = true)".to_string(),
        };
        format!(
            "listening on {} (database {DATABASE}; {transport}); {} users; statement timeout {}, \
             {} per query, {} connections at most",
            config.listen,
            self.shared.users.iter().count(),
            format_duration(config.statement_timeout),
            format_size(self.shared.query_memory),
            config.max_connections,
        )
    }

    /// Serve until `shutdown` resolves; then stop accepting, let running queries finish for
    /// up to `[server] shutdown_grace`, cancel what still runs and close every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            shared,
            listener,
            tls,
        } = self;
        let limiter = Arc::new(Semaphore::new(shared.config.max_connections));
        // Refusals answered at once; beyond these, a connection over the limit is just closed.
        let refusals = Arc::new(Semaphore::new(shared.config.max_connections.clamp(4, 64)));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, addr)) => {
                        let _ = socket.set_nodelay(true);
                        match Arc::clone(&limiter).try_acquire_owned() {
                            Ok(permit) => {
                                tasks.spawn(serve(Arc::clone(&shared), socket, tls.clone(), permit));
                            }
                            Err(_) => {
                                shared.log(&format!(
                                    "refused a connection from {addr}: {} connections already",
                                    shared.config.max_connections
                                ));
                                if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                                    tasks.spawn(refuse(Arc::clone(&shared), socket, tls.clone(), permit));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors, typically: wait rather than spin.
                        shared.log(&format!("cannot accept a connection: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        let grace = shared.config.shutdown_grace;
        let live: Vec<Arc<ConnectionState>> = shared
            .live
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let running = live.iter().filter(|c| c.is_busy()).count();
        shared.log(&format!(
            "shutting down: {} connections, {running} running queries (given up to {})",
            live.len(),
            format_duration(grace)
        ));
        let deadline = tokio::time::Instant::now() + grace;
        while live.iter().any(|c| c.is_busy()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for conn in &live {
            conn.cancel();
        }
        // Cancelled queries send their error; then every connection is closed.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        shared.log("stopped");
    }
}

/// The handlers of one connection.
struct Handlers {
    service: Arc<Service>,
    startup: Arc<auth::Startup>,
    shared: Arc<Shared>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.service)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.service)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Canceller(Arc::clone(&self.shared)))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Audit(Arc::clone(&self.shared)))
    }
}

/// Cancel requests, which arrive on a connection of their own.
struct Canceller(Arc<Shared>);

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.0.cancel(request.pid, &request.secret_key);
    }
}

/// Logs refusals: who was denied what.
struct Audit(Arc<Shared>);

impl ErrorHandler for Audit {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        if let PgWireError::UserError(info) = error {
            if ["42501", "25006"].contains(&info.code.as_str()) {
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                self.0.log(&format!("{user}: {}", info.message));
            }
        }
    }
}

async fn serve(
    shared: Arc<Shared>,
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    _permit: OwnedSemaphorePermit,
) {
    let conn = Arc::new(ConnectionState::new());
    {
        let mut live = shared.live.lock();
        live.retain(|c| c.strong_count() > 0);
        live.push(Arc::downgrade(&conn));
    }
    let service = match Service::new(&shared, &conn) {
        Ok(service) => Arc::new(service),
        Err(e) => {
            shared.log(&format!("cannot serve a connection: {e}"));
            return;
        }
    };
    let handlers = Handlers {
        service,
        startup: Arc::new(auth::Startup::new(Arc::clone(&shared), Arc::clone(&conn))),
        shared: Arc::clone(&shared),
    };
    // A client that has not authenticated within LOGIN_TIMEOUT (or that stays after a
    // failed login) is closed, so that it cannot hold a connection slot.
    let grant = Arc::clone(&conn.grant);
    let unauthenticated = async move {
        tokio::time::sleep(LOGIN_TIMEOUT).await;
        if grant.get().is_some() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = pgwire::tokio::process_socket(socket, tls, handlers) => {}
        _ = unauthenticated => {}
    }
    shared
        .cancels
        .lock()
        .retain(|_, c| c.strong_count() > 0 && !Weak::ptr_eq(c, &Arc::downgrade(&conn)));
}

/// Answers a connection over the limit, after TLS negotiation, with SQLSTATE 53300; cancel
/// requests still get through.
async fn refuse(
    shared: Arc<Shared>,
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    _permit: OwnedSemaphorePermit,
) {
    let refusal = pgwire::tokio::process_socket(socket, tls, Refusal(shared));
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refusal).await;
}

struct Refusal(Arc<Shared>);

impl PgWireServerHandlers for Refusal {
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(Full(self.0.config.max_connections))
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Canceller(Arc::clone(&self.0)))
    }
}

struct Full(usize);

#[async_trait]
impl StartupHandler for Full {
    async fn on_startup<C>(
        &self,
        _client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(_) => Err(auth::fatal(
                "53300",
                format!(
                    "sorry, too many clients already ({} connections; [server] max_connections)",
                    self.0
                ),
            )),
            _ => Ok(()),
        }
    }
}
