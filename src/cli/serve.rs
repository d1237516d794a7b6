//! `kpi serve`: the PostgreSQL-wire endpoint, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;

use kpi::config::server::parse_listen;
use kpi::server::users::Users;
use kpi::server::Server;
use kpi::session::Session;
use kpi::workspace::Workspace;

use super::sql::{as_of, memory_size};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, IP:PORT (port 0 picks a free one). Default: `[server] listen` in
    /// kpi.toml, else 127.0.0.1:5433.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// Evaluate as of this instant (RFC 3339) instead of now, for every connection: the
    /// `kpi.as_of` setting, which a client may still change for its own session.
    #[arg(long, value_name = "INSTANT", value_parser = as_of)]
    as_of: Option<DateTime<Utc>>,
    /// The memory all queries share, beyond which they spill to disk: bytes, or with a unit
    /// (512M, 4G). Default: `memory_limit` in kpi.toml, else 4G.
    #[arg(long, env = "KPI_MEMORY_LIMIT", value_name = "SIZE", value_parser = memory_size)]
    memory_limit: Option<usize>,
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run(ws: &Workspace, args: ServeArgs) -> Result<ExitCode> {
    let session = Session::builder(ws)
        .read_only(true)
        .as_of(args.as_of)
        .memory_limit(args.memory_limit.or(ws.config.memory_limit))
        .build()?;
    if let Err(e) = session.catalog() {
        eprintln!("warning: {e}; kpi_catalog and kpi_targets are not served until it is fixed");
    }
    let log = Box::new(|line: &str| {
        eprintln!("{} {line}", Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
    });
    let server = Server::bind(
        &session,
        &ws.config.server,
        &Users::file(ws.root()),
        args.listen,
        log,
    )
    .await?;
    let addr = server.local_addr();
    eprintln!("kpi serve: {}", server.describe());
    eprintln!(
        "connect with: psql \"host={} port={} dbname=kpi user=NAME\"; Ctrl-C or SIGTERM stops",
        addr.ip(),
        addr.port()
    );
    server.run(shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}
