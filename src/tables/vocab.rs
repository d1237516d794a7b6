//! The canonical vocabularies: statuses, priorities, actor roles and event types, each an enum
//! with its SQL spelling, and the sets the rules use ("resolved statuses"). Exports are mapped
//! into these words at ingest; SQL that names them is built from here, never spelled out.

use std::fmt;

/// An enum of canonical words: its values, their SQL spelling, and parsing.
pub trait Vocabulary: Copy + Sized + 'static {
    /// Every value, in the vocabulary's usual order.
    const ALL: &'static [Self];
    /// The SQL spelling of every value, in the same order.
    const NAMES: &'static [&'static str];
    /// The SQL spelling of this value.
    fn as_str(self) -> &'static str;
    /// The value spelt `word`, if any.
    fn parse(word: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == word)
    }
}

/// Defines a vocabulary enum: one line per value with its SQL spelling.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl Vocabulary for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($word),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Canonical ticket statuses, in their usual order.
    Status {
        /// Created, nobody has acted on it yet.
        New = "new",
        /// Being worked on.
        Open = "open",
        /// Waiting on the customer.
        Pending = "pending",
        /// Waiting on a third party or another team.
        OnHold = "on_hold",
        /// Solved; the customer may still reopen it.
        Resolved = "resolved",
        /// Solved for good.
        Closed = "closed",
    }
}

impl Status {
    /// Statuses in which a ticket counts as resolved.
    pub const RESOLVED: &'static [Status] = &[Status::Resolved, Status::Closed];
    /// Statuses that wait on the customer or a third party (the usual SLA pause statuses).
    pub const WAITING: &'static [Status] = &[Status::Pending, Status::OnHold];

    /// Whether the ticket counts as resolved in this status.
    pub fn is_resolved(self) -> bool {
        Status::RESOLVED.contains(&self)
    }
}

vocabulary! {
    /// Canonical priorities, lowest first.
    Priority {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

vocabulary! {
    /// Who acts on a ticket.
    ActorRole {
        Agent = "agent",
        Customer = "customer",
        System = "system",
    }
}

vocabulary! {
    /// The event types the engine understands; sources may add their own words.
    EventType {
        Created = "created",
        StatusChanged = "status_changed",
        PublicReply = "public_reply",
        InternalNote = "internal_note",
        Assigned = "assigned",
        PriorityChanged = "priority_changed",
        CsatRated = "csat_rated",
        Reopened = "reopened",
    }
}

vocabulary! {
    /// The SLA metrics a policy can measure (the `metric` column of `ticket_sla`).
    SlaMetric {
        /// From creation to the first response.
        FirstResponse = "first_response",
        /// From each customer reply waiting for an answer to the next agent reply.
        NextReply = "next_reply",
        /// From creation to the last entry into a resolved status.
        Resolution = "resolution",
        /// From creation to the first entry into a resolved status.
        FirstResolution = "first_resolution",
    }
}

vocabulary! {
    /// Where an SLA clock stands (the `stage` column of `ticket_sla`).
    SlaStage {
        /// Still counting, within its target.
        Running = "running",
        /// Stopped for now by a pause status, within its target.
        Paused = "paused",
        /// Stopped within its target.
        Met = "met",
        /// Past its target, stopped or not.
        Breached = "breached",
    }
}

/// `('a', 'b')`: the SQL list of `values`, for `x IN …`.
pub fn sql_list<V: Vocabulary>(values: &[V]) -> String {
    let words: Vec<String> = values.iter().map(|v| format!("'{}'", v.as_str())).collect();
    format!("({})", words.join(", "))
}

/// `'word'`: the SQL literal of `value`.
pub fn sql_literal<V: Vocabulary>(value: V) -> String {
    format!("'{}'", value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<V: Vocabulary + PartialEq + fmt::Debug>() {
        assert_eq!(V::ALL.len(), V::NAMES.len());
        for (value, name) in V::ALL.iter().zip(V::NAMES) {
            assert_eq!(value.as_str(), *name);
            assert_eq!(V::parse(name), Some(*value));
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(V::parse("nonsense"), None);
    }

    #[test]
    fn every_vocabulary_round_trips() {
        round_trips::<Status>();
        round_trips::<Priority>();
        round_trips::<ActorRole>();
        round_trips::<EventType>();
        round_trips::<SlaMetric>();
        round_trips::<SlaStage>();
    }

    #[test]
    fn sets_and_sql_spelling() {
        assert_eq!(sql_list(Status::RESOLVED), "('resolved', 'closed')");
        assert_eq!(sql_literal(Status::OnHold), "'on_hold'");
        assert!(Status::Closed.is_resolved() && !Status::Pending.is_resolved());
        assert!(Priority::Low < Priority::Urgent);
        assert_eq!(Status::OnHold.to_string(), "on_hold");
    }
}
