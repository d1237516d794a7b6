//! The `[server]` section of `kpi.toml`: where `kpi serve` listens, its TLS files, the limits
//! of each connection and query, and which tables viewers may read besides the aggregate ones.
//! Values are checked here; what depends on the command line (the address `--listen` gives)
//! or on the workspace's tables is checked when the server starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::formats::{parse_duration, parse_size};
use super::{ConfigError, Source};

/// The address `kpi serve` listens on by default: loopback, one port above PostgreSQL's.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";

/// The validated `[server]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The address to listen on (`--listen` overrides it).
    pub listen: SocketAddr,
    /// PEM certificate chain and private key; TLS is on when both are given.
    pub tls: Option<TlsFiles>,
    /// Refuse clients that do not use TLS.
    pub require_tls: bool,
    /// Allow listening on a non-loopback address without TLS.
    pub allow_plaintext: bool,
    /// The longest a statement may run; clients may lower it for their session, never raise it.
    pub statement_timeout: Duration,
    /// Connections served at once; the next one is refused (SQLSTATE 53300).
    pub max_connections: usize,
    /// The memory one query may hold, drawn from the workspace's `memory_limit` pool.
    pub query_memory_limit: Option<usize>,
    /// How long running queries may go on after a shutdown signal before they are cancelled.
    pub shutdown_grace: Duration,
    /// Views (or tables) viewers may read besides the aggregate tables.
    pub viewer_tables: Vec<String>,
}

/// Where the TLS certificate chain and key are (absolute, or relative to the workspace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("a valid default address"),
            tls: None,
            require_tls: false,
            allow_plaintext: false,
            statement_timeout: Duration::from_secs(60),
            max_connections: 64,
            query_memory_limit: None,
            shutdown_grace: Duration::from_secs(10),
            viewer_tables: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    require_tls: Option<bool>,
    allow_plaintext: Option<bool>,
    statement_timeout: Option<Spanned<toml::Value>>,
    max_connections: Option<Spanned<i64>>,
    query_memory_limit: Option<Spanned<toml::Value>>,
    shutdown_grace: Option<Spanned<toml::Value>>,
    viewer_tables: Option<Vec<Spanned<String>>>,
}

/// A TOML value as the text a duration or size parser reads.
fn text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parse an address as `--listen` and `listen` take it: `HOST:PORT` with an IP address, or
/// `localhost:PORT`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    if let Some(port) = value.strip_prefix("localhost:") {
        return format!("127.0.0.1:{port}")
            .parse()
            .map_err(|_| format!("invalid port in '{value}'"));
    }
    value.parse().map_err(|_| {
        format!("invalid address '{value}': use IP:PORT, such as 127.0.0.1:5433 or 0.0.0.0:5433")
    })
}

pub(super) fn build(
    ctx: &Source<'_>,
    raw: Option<&Spanned<RawServer>>,
    root: &Path,
    memory_limit: Option<usize>,
) -> Result<ServerConfig, ConfigError> {
    let mut config = ServerConfig::default();
    let Some(raw) = raw else {
        return Ok(config);
    };
    let section = raw.span();
    let raw = raw.get_ref();
    if let Some(listen) = &raw.listen {
        config.listen = parse_listen(listen.get_ref())
            .map_err(|e| ctx.invalid(listen.span(), "server.listen", e))?;
    }
    config.tls = match (&raw.tls_cert, &raw.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: root.join(cert.get_ref()),
            key: root.join(key.get_ref()),
        }),
        (None, None) => None,
        (Some(cert), None) => {
            return Err(ctx.invalid(
                cert.span(),
                "server.tls_key",
                "tls_cert is set but tls_key is not: give both, or neither",
            ))
        }
        (None, Some(key)) => {
            return Err(ctx.invalid(
                key.span(),
                "server.tls_cert",
                "tls_key is set but tls_cert is not: give both, or neither",
            ))
        }
    };
    config.require_tls = raw.require_tls.unwrap_or(false);
    if config.require_tls && config.tls.is_none() {
        return Err(ctx.invalid(
            section,
            "server.require_tls",
            "require_tls = true needs tls_cert and tls_key",
        ));
    }
    config.allow_plaintext = raw.allow_plaintext.unwrap_or(false);
    let duration = |value: &Spanned<toml::Value>, key: &str| {
        parse_duration(&text(value.get_ref())).map_err(|e| ctx.invalid(value.span(), key, e))
    };
    if let Some(value) = &raw.statement_timeout {
        config.statement_timeout = duration(value, "server.statement_timeout")?;
    }
    if let Some(value) = &raw.shutdown_grace {
        config.shutdown_grace = duration(value, "server.shutdown_grace")?;
    }
    if let Some(n) = &raw.max_connections {
        if !(1..=10_000).contains(n.get_ref()) {
            return Err(ctx.invalid(
                n.span(),
                "server.max_connections",
                format!(
                    "{} is not a number of connections from 1 to 10000",
                    n.get_ref()
                ),
            ));
        }
        config.max_connections = *n.get_ref() as usize;
    }
    if let Some(value) = &raw.query_memory_limit {
        let bytes = parse_size(&text(value.get_ref()))
            .map_err(|e| ctx.invalid(value.span(), "server.query_memory_limit", e))?;
        if let Some(pool) = memory_limit.filter(|pool| bytes > *pool) {
            return Err(ctx.invalid(
                value.span(),
                "server.query_memory_limit",
                format!(
                    "one query cannot have more than the whole pool (memory_limit = {})",
                    super::format_size(pool)
                ),
            ));
        }
        config.query_memory_limit = Some(bytes);
    }
    if let Some(tables) = &raw.viewer_tables {
        for table in tables {
            let name = table.get_ref();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(ctx.invalid(
                    table.span(),
                    "server.viewer_tables",
                    format!("'{name}' is not a table name (letters, digits and '_')"),
                ));
            }
            config.viewer_tables.push(name.clone());
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/ws/kpi.toml"), text)
    }

    #[test]
    fn defaults_listen_on_loopback_without_tls() {
        let config = parse("").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "memory_limit = \"4G\"\n[server]\nlisten = \"0.0.0.0:6000\"\ntls_cert = \"c.pem\"\n\
             tls_key = \"k.pem\"\nrequire_tls = true\nstatement_timeout = \"5s\"\n\
             max_connections = 3\nquery_memory_limit = \"1G\"\nshutdown_grace = \"2s\"\n\
             viewer_tables = [\"team_kpis\"]\n",
        )
        .unwrap();
        let server = config.server;
        assert_eq!(server.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(
            server.tls,
            Some(TlsFiles {
                cert: PathBuf::from("/ws/c.pem"),
                key: PathBuf::from("/ws/k.pem")
            })
        );
        assert!(server.require_tls);
        assert_eq!(server.statement_timeout, Duration::from_secs(5));
        assert_eq!(server.max_connections, 3);
        assert_eq!(server.query_memory_limit, Some(1 << 30));
        assert_eq!(server.shutdown_grace, Duration::from_secs(2));
        assert_eq!(server.viewer_tables, vec!["team_kpis"]);
    }

    #[test]
    fn bad_settings_are_errors_naming_the_key() {
        for (text, key, message) in [
            (
                "[server]\nlisten = \"nowhere\"\n",
                "server.listen",
                "invalid address",
            ),
            (
                "[server]\ntls_cert = \"c.pem\"\n",
                "server.tls_key",
                "give both",
            ),
            (
                "[server]\nrequire_tls = true\n",
                "server.require_tls",
                "needs tls_cert",
            ),
            (
                "[server]\nstatement_timeout = \"0\"\n",
                "server.statement_timeout",
                "positive",
            ),
            (
                "[server]\nmax_connections = 0\n",
                "server.max_connections",
                "from 1 to",
            ),
            (
                "memory_limit = \"1G\"\n[server]\nquery_memory_limit = \"2G\"\n",
                "server.query_memory_limit",
                "whole pool",
            ),
            (
                "[server]\nviewer_tables = [\"a;b\"]\n",
                "server.viewer_tables",
                "not a table",
            ),
            ("[server]\nport = 5\n", "server", "unknown field"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(message), "{text}: {err}");
        }
    }
}
