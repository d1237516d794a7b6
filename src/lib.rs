//! `kpi`: a SQL analytics engine for backoffice KPIs, built on Apache DataFusion.
//!
//! The library holds every capability; the `kpi` binary is a thin command-line layer over it.

pub mod calendar;
pub mod config;
pub mod functions;
