//! The ticket-history rules: how a ticket's events make its status, first response,
//! resolution, closing, reopen count and rating. One owner, in two forms that a property test
//! keeps equal:
//!
//! - [`Replay`]: the rules applied event by event in Rust — the generator's simulated truth
//!   and the test oracles use it;
//! - [`sql::ticket_facts`]: the same rules as one SQL query over an event relation — the
//!   ingest derives `tickets` with it (and the SLA views will build on it).
//!
//! The rules (the README's "Tickets derived from events" table is their documentation):
//!
//! | fact | rule |
//! |---|---|
//! | `created_at` | the first `created` event's time, else the first event's time |
//! | `updated_at` | the last event's time |
//! | `status` | the `to_status` of the last event that has one; `new` when none has |
//! | `first_response_at` | the earlier of the first `public_reply` by an `agent` and the first move out of the initial status (the `to_status` of the first event that has one) |
//! | `resolved_at` | the first entry into a resolved status (`resolved`, `closed`) |
//! | `closed_at` | the last entry into `closed`, when the ticket is closed now |
//! | `reopen_count` | moves from a resolved status to an unresolved one, plus `reopened` events without a status |
//! | `csat_score` | the last `csat_rated` event's value when it is a whole number from 1 to 5 |
//! | `assigned` | the last `assigned` event's value |
//!
//! A ticket's **status stays** ([`stays`], [`sql::status_stays`]) run from each event with a
//! `to_status` to the next one (the last stay has no end yet); zero-length stays are kept.
//!
//! Events are taken in `(ts, event_id)` order. This module knows the table model
//! ([`crate::tables`]) and nothing above it.

mod replay;
pub mod sql;

pub use replay::{stays, Event, Facts, Replay, Stay};

#[cfg(test)]
mod tests;
