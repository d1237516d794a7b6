//! The integration tests: one binary, one module per area.

mod cli;
mod fuzz;
mod generate;
mod ingest;
mod ingest_property;
mod ingest_rows;
mod kpis;
mod layers;
mod review;
mod server;
mod session;
mod shell;
mod sla;
mod slt;
mod support;
mod workspace;
