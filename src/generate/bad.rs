//! Deliberately bad rows, so that quarantine and error reporting can be exercised at scale.
//!
//! After each ticket, each export independently draws (on the ticket's own bad-row stream, so
//! the good rows never change with the rate) whether to add a bad record, and which kind:
//!
//! - `unparseable_timestamp`: a timestamp in a form the mapping does not read (an ISO wall
//!   time in the ticket export, a day-first time in the event log, a US-style time in the
//!   audit export);
//! - `missing_ticket_id`: the ticket id is empty (or `null`);
//! - `resolved_before_created`: resolved hours before it was created (in the event log: a
//!   `Create` event and a later-listed status change to solved that is earlier in time, two
//!   rows);
//! - `unknown_status`: the status `Escalated` (`escalated` in the event log), which no value
//!   map covers.
//!
//! A bad record is a copy of the ticket it follows under its own ticket id, the good one plus
//! [`BAD_ID_OFFSET`], so it never collides with a good ticket, whatever an ingest does with it.

use super::random::Rand;

/// Ticket ids of bad records are their good neighbour's plus this.
pub const BAD_ID_OFFSET: u64 = 1_000_000_000;

/// The kinds of bad records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    UnparseableTimestamp,
    MissingTicketId,
    ResolvedBeforeCreated,
    UnknownStatus,
}

impl BadKind {
    pub const ALL: [BadKind; 4] = [
        BadKind::UnparseableTimestamp,
        BadKind::MissingTicketId,
        BadKind::ResolvedBeforeCreated,
        BadKind::UnknownStatus,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BadKind::UnparseableTimestamp => "unparseable_timestamp",
            BadKind::MissingTicketId => "missing_ticket_id",
            BadKind::ResolvedBeforeCreated => "resolved_before_created",
            BadKind::UnknownStatus => "unknown_status",
        }
    }

    /// Whether to add a bad record after a ticket, and which: with probability `rate`, a
    /// kind drawn uniformly.
    pub fn draw(rng: &mut Rand, rate: f64) -> Option<BadKind> {
        let hit = rng.chance(rate);
        let kind = BadKind::ALL[rng.below(4) as usize];
        hit.then_some(kind)
    }

    /// Position in [`BadKind::ALL`].
    pub fn position(self) -> usize {
        self as usize
    }
}

/// The unknown status word of bad records.
pub const UNKNOWN_STATUS: &str = "Escalated";

/// How many hours before its creation a `resolved_before_created` record claims to be
/// resolved: 1 to 48, from the ticket id.
pub fn hours_early(id: u64) -> i64 {
    1 + (id % 48) as i64
}

#[cfg(test)]
mod tests {
    use super::super::random::{Purpose, Streams};
    use super::*;

    #[test]
    fn the_rate_is_respected_and_zero_means_none() {
        let streams = Streams::new(9);
        let mut hits = [0u32; 4];
        for j in 0..20_000 {
            let mut rng = streams.stream(Purpose::Bad, 1, 0, j);
            assert_eq!(BadKind::draw(&mut rng.clone(), 0.0), None);
            if let Some(kind) = BadKind::draw(&mut rng, 0.1) {
                hits[kind.position()] += 1;
            }
        }
        let total: u32 = hits.iter().sum();
        assert!((1800..2200).contains(&total), "{hits:?}");
        assert!(hits.iter().all(|&h| h > 350), "{hits:?}");
        assert_eq!(BadKind::ALL.map(BadKind::position), [0, 1, 2, 3]);
    }
}
