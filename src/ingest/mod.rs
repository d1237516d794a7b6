//! Ingest: help-desk exports (CSV, NDJSON, Parquet) into the canonical `tickets` and
//! `ticket_events` tables, through the source mappings of `kpi.toml`.
//!
//! - [`reader`]: export files as streams of rows, with line numbers; header resolution.
//! - [`timestamp`]: timestamps in the source's formats and time zone.
//! - [`mapper`]: one row's raw values into canonical values, or rejections with reasons.
//! - [`records`]: canonical tickets and events, their checks, and Arrow batches of them.
//! - [`stream`]: one file through its mapping into batches of records and quarantined rows.
//! - [`load`]: one ingest run: staging, reconciliation with the stored tables, commits.
//!
//! The mappings themselves are validated in [`crate::config::sources`]; the tables and their
//! vocabularies are [`crate::tables`]; the rules that derive tickets from their events are
//! [`crate::history`].

mod bucket;
pub mod load;
pub mod mapper;
pub mod reader;
pub mod records;
pub mod stream;
pub mod timestamp;

/// The mapping of a `[sources.NAME]` table with the given body, for tests.
#[cfg(test)]
pub(crate) fn test_mapping(name: &str, body: &str) -> crate::config::SourceMapping {
    let text = format!("[sources.{name}]\n{body}");
    crate::config::Config::parse(std::path::Path::new("kpi.toml"), &text)
        .unwrap()
        .sources
        .remove(0)
}
