//! Ingest: help-desk exports (CSV, NDJSON, Parquet) into the canonical `tickets` and
//! `ticket_events` tables, through the source mappings of `kpi.toml`.
//!
//! - [`reader`]: export files as batches of text columns, with line numbers; header
//!   resolution; byte ranges of large files.
//! - [`timestamp`]: timestamps in the source's formats, time zone and window.
//! - [`mapper`]: batches of raw values into canonical columns, or rejections with reasons.
//! - [`records`]: the checks of canonical tickets and events, and Arrow batches of them.
//! - [`stream`]: one file (or range) through its mapping into batches of records and
//!   quarantined rows.
//! - [`load`]: one ingest run: staging (in parallel), reconciliation with the stored tables,
//!   derivation, Delta writes.
//!
//! The mappings themselves are validated in [`crate::config::sources`]; the tables and their
//! vocabularies are [`crate::tables`]; the rules that derive tickets from their events are
//! [`crate::history`].

pub(crate) mod bucket;
pub mod load;
pub mod mapper;
pub mod reader;
pub mod records;
pub(crate) mod row_hash;
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
