//! `kpi`: a SQL analytics engine for backoffice KPIs, built on Apache DataFusion.
//!
//! The library holds every capability; the `kpi` binary is a thin command-line layer over it.
//! - [`calendar`]: business calendars and the business-time index (no DataFusion).
//! - [`tables`]: the canonical table model: columns, keys, vocabularies, Delta access.
//! - [`config`]: `kpi.toml`, parsed strictly and validated.
//! - [`workspace`]: finding, loading and creating workspaces.
//! - [`functions`]: the business-time SQL functions.
//! - [`history`]: the ticket-history rules (status, first response, resolution, reopens).
//! - [`generate`]: deterministic synthetic help-desk exports in three shapes.
//! - [`ingest`]: help-desk exports into the canonical ticket and event tables.
//! - [`sla`]: SLA policies as the engine uses them (conditions planned, the policies table).
//! - [`catalog`]: the KPI catalog (saved queries), progressive targets and the review.
//! - [`names`]: "did you mean" suggestions for error messages.
//! - [`session`]: the DataFusion session of a workspace.
//! - [`shell`]: running SQL and printing results.
//! - [`server`]: `kpi serve`, the PostgreSQL-wire endpoint, and its users.

pub mod calendar;
pub mod catalog;
pub mod config;
pub mod functions;
pub mod generate;
pub mod history;
pub mod ingest;
pub mod names;
pub mod server;
pub mod session;
pub mod shell;
pub mod sla;
pub mod tables;
pub mod workspace;
