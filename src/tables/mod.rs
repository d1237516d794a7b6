//! The canonical table model: the tables every export lands in, as data.
//!
//! - [`columns`]: each table's columns (name, Arrow type, nullability, documentation), key and
//!   partition columns; the README's table reference is generated from them.
//! - [`vocab`]: the canonical vocabularies (statuses, priorities, actor roles, event types) and
//!   the sets the rules use, with their SQL spelling.
//! - [`delta`]: opening, creating, registering and time-travelling the stored Delta tables.
//!
//! This is the bottom layer beside [`crate::calendar`]: it imports nothing else of the crate.
//! Ingest, the generator, configuration and sessions import from here.

pub mod columns;
pub mod delta;
pub mod vocab;

pub use columns::{
    Column, Kind, Table, QUARANTINE, STORED, TICKETS, TICKET_EVENTS, TICKET_SLA,
    TICKET_STATUS_INTERVALS, VIEWS,
};
pub use delta::StoreError;
pub use vocab::{ActorRole, EventType, Priority, SlaMetric, SlaStage, Status, Vocabulary};
