//! The simulated help desk: its teams, channels, inboxes, priorities, agents and customers,
//! in canonical terms. The export writers translate these into each source system's words;
//! nothing here knows about files.

use super::random::Rand;

pub use crate::tables::{Priority, Status};

/// How the simulated desk treats each priority.
pub trait PriorityModel: Sized {
    /// One step up or down, staying within the scale.
    fn shifted(self, up: bool) -> Self;
    /// A different priority, one step up (or down at the top of the scale) when `up`, else
    /// one step down (or up at the bottom).
    fn changed(self, up: bool) -> Self;
    /// Business minutes the desk aims to answer within (shapes first-response delays).
    fn first_response_target(self) -> f64;
    /// Median business minutes between two agent actions on a ticket.
    fn work_time(self) -> f64;
}

impl PriorityModel for Priority {
    fn shifted(self, up: bool) -> Priority {
        let i = self as usize;
        let j = if up {
            (i + 1).min(3)
        } else {
            i.saturating_sub(1)
        };
        <Priority as crate::tables::Vocabulary>::ALL[j]
    }

    fn changed(self, up: bool) -> Priority {
        let up = match self {
            Priority::Urgent => false,
            Priority::Low => true,
            _ => up,
        };
        self.shifted(up)
    }

    fn first_response_target(self) -> f64 {
        match self {
            Priority::Urgent => 30.0,
            Priority::High => 120.0,
            Priority::Normal => 240.0,
            Priority::Low => 480.0,
        }
    }

    fn work_time(self) -> f64 {
        match self {
            Priority::Urgent => 45.0,
            Priority::High => 150.0,
            Priority::Normal => 330.0,
            Priority::Low => 600.0,
        }
    }
}

/// Canonical channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Phone,
    Chat,
    Portal,
}

impl Channel {
    /// Live channels reach an agent at once; they only arrive while the team is open.
    pub fn is_live(self) -> bool {
        matches!(self, Channel::Phone | Channel::Chat)
    }
}

/// Channels of tickets that arrive while the team is closed.
pub const OFF_HOURS_CHANNELS: &[(Channel, f64)] = &[(Channel::Email, 0.7), (Channel::Portal, 0.3)];

/// Which calendar a team works by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// The workspace's default calendar.
    Day,
    /// The first other calendar of the workspace (the default one if there is no other).
    Night,
}

/// One team of the desk.
#[derive(Debug)]
pub struct Team {
    pub name: &'static str,
    /// Share of all tickets.
    pub share: f64,
    pub shift: Shift,
    /// Channel mix of tickets that arrive during business hours.
    pub channels: [(Channel, f64); 4],
    /// The team's email inboxes (the first takes most mail).
    pub mailboxes: &'static [(&'static str, f64)],
    /// Priority mix.
    pub priorities: [(Priority, f64); 4],
    /// Chance that an agent's action puts the ticket on hold (waiting on a third party).
    pub hold: f64,
    pub subjects: &'static [&'static str],
}

/// The four teams, by index. `infra` works by the night calendar.
pub const TEAMS: [Team; 4] = [
    Team {
        name: "billing",
        share: 0.25,
        shift: Shift::Day,
        channels: [
            (Channel::Email, 0.50),
            (Channel::Portal, 0.25),
            (Channel::Chat, 0.15),
            (Channel::Phone, 0.10),
        ],
        mailboxes: &[("billing@help.acme.example", 1.0)],
        priorities: [
            (Priority::Low, 0.25),
            (Priority::Normal, 0.55),
            (Priority::High, 0.15),
            (Priority::Urgent, 0.05),
        ],
        hold: 0.05,
        subjects: &[
            "Invoice {n} shows the wrong amount",
            "Refund request for order {n}",
            "Charged twice, please check payment {n}",
            "Change billing address on account {n}",
            "\"Overdue\" notice although invoice {n} is paid",
            "VAT number missing on invoice {n}",
        ],
    },
    Team {
        name: "onboarding",
        share: 0.20,
        shift: Shift::Day,
        channels: [
            (Channel::Email, 0.35),
            (Channel::Portal, 0.20),
            (Channel::Chat, 0.30),
            (Channel::Phone, 0.15),
        ],
        mailboxes: &[("welcome@help.acme.example", 1.0)],
        priorities: [
            (Priority::Low, 0.20),
            (Priority::Normal, 0.60),
            (Priority::High, 0.15),
            (Priority::Urgent, 0.05),
        ],
        hold: 0.06,
        subjects: &[
            "Activation link for workspace {n} expired",
            "How do I invite my team, roles and permissions?",
            "Importing contacts from CSV fails at row {n}",
            "Schedule a training session for account {n}",
            "Single sign-on setup, step {d} unclear",
        ],
    },
    Team {
        name: "tech",
        share: 0.40,
        shift: Shift::Day,
        channels: [
            (Channel::Email, 0.45),
            (Channel::Portal, 0.30),
            (Channel::Chat, 0.15),
            (Channel::Phone, 0.10),
        ],
        mailboxes: &[
            ("support@help.acme.example", 0.8),
            ("api@help.acme.example", 0.2),
        ],
        priorities: [
            (Priority::Low, 0.20),
            (Priority::Normal, 0.48),
            (Priority::High, 0.24),
            (Priority::Urgent, 0.08),
        ],
        hold: 0.12,
        subjects: &[
            "Error 500 when saving report {n}",
            "API returns 429, rate limit too low?",
            "Login loop after password reset",
            "Export to Excel cuts rows after {n}",
            "Webhook {n} not delivered, timeouts",
            "Dashboard slow: 30s to load, sometimes more",
        ],
    },
    Team {
        name: "infra",
        share: 0.15,
        shift: Shift::Night,
        channels: [
            (Channel::Email, 0.45),
            (Channel::Portal, 0.10),
            (Channel::Chat, 0.10),
            (Channel::Phone, 0.35),
        ],
        mailboxes: &[("noc@help.acme.example", 1.0)],
        priorities: [
            (Priority::Low, 0.10),
            (Priority::Normal, 0.40),
            (Priority::High, 0.32),
            (Priority::Urgent, 0.18),
        ],
        hold: 0.15,
        subjects: &[
            "Backup job {n} failed overnight",
            "Disk usage alert on node {n}",
            "Certificate expires in {d} days",
            "VPN tunnel down, site {n}",
            "Maintenance window request, change {n}",
        ],
    },
];

/// The inbox of tickets that arrive through the help-center form.
pub const PORTAL_INBOX: &str = "Help Center";
/// The inbox of chats.
pub const CHAT_INBOX: &str = "Live Chat";
/// The inbox of phone calls.
pub const PHONE_INBOX: &str = "Phone";

impl Team {
    /// The inbox a ticket of `channel` lands in.
    pub fn inbox(&self, channel: Channel, rng: &mut Rand) -> &'static str {
        match channel {
            Channel::Email => rng.pick(self.mailboxes),
            Channel::Portal => PORTAL_INBOX,
            Channel::Chat => CHAT_INBOX,
            Channel::Phone => PHONE_INBOX,
        }
    }
}

const FIRST_NAMES: [&str; 48] = [
    "Ana", "Bruno", "Carla", "Diego", "Elisa", "Felipe", "Gabriela", "Heitor", "Isabela", "João",
    "Karina", "Lucas", "Mariana", "Nicolas", "Otávio", "Paula", "Rafael", "Sofia", "Thaís",
    "Vitor", "Yasmin", "André", "Beatriz", "Caio", "Débora", "Enzo", "Fernanda", "Gustavo",
    "Helena", "Igor", "Júlia", "Leonardo", "Anna", "Jonas", "Katrin", "Lukas", "Marie", "Niklas",
    "Petra", "Stefan", "Tobias", "Ute", "Jürgen", "Lena", "Moritz", "Sabine", "Felix", "Greta",
];

const LAST_NAMES: [&str; 48] = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Araújo",
    "Moreira",
    "Cavalcanti",
    "Mendes",
    "Freitas",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Braun",
    "Zimmermann",
    "Krüger",
    "Hartmann",
];

const COMPANIES: [&str; 24] = [
    "acmecorp",
    "bluefin",
    "cafeteria-sol",
    "dataplex",
    "ecovila",
    "farmacia-boa",
    "globex",
    "hansa-logistik",
    "initech",
    "jardim-verde",
    "kaffeehaus",
    "lumen-energia",
    "metalurgica-sp",
    "nordwind",
    "orbita",
    "padaria-pao",
    "quantico",
    "rheinwerk",
    "solaris",
    "tecnoforte",
    "umbrella",
    "vortex",
    "wellenreiter",
    "zentrum-med",
];

/// Distinct name pairs; indexes are spread over them by a bijection so that neighbours do
/// not share a name.
const NAME_PAIRS: u64 = 48 * 48;

fn name_of(k: u64) -> (&'static str, &'static str) {
    // 1237 is coprime with 48·48 = 2^8·9: k ↦ k·1237 + 101 permutes the pairs.
    let p = (k % NAME_PAIRS * 1237 + 101) % NAME_PAIRS;
    (
        FIRST_NAMES[(p % 48) as usize],
        LAST_NAMES[(p / 48) as usize],
    )
}

/// ASCII for an e-mail address: accents dropped, lower case.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// Agents of one team: at most this many.
pub const MAX_AGENTS: usize = 500;

/// The people of the desk.
#[derive(Debug)]
pub struct People {
    /// Per team, its agents' display names (unique across the desk).
    pub agents: Vec<Vec<String>>,
    /// Per team, its agents' e-mail addresses.
    pub agent_emails: Vec<Vec<String>>,
    /// How many distinct customers raise tickets.
    pub customers: u64,
}

impl People {
    /// Enough agents for each team's daily volume, and a customer base that grows with the
    /// number of tickets.
    pub fn new(tickets: u64, days: u32) -> People {
        let per_day = tickets as f64 / f64::from(days.max(1));
        let mut agents = Vec::new();
        let mut agent_emails = Vec::new();
        for (t, team) in TEAMS.iter().enumerate() {
            let n = ((per_day * team.share / 15.0).round() as usize).clamp(3, MAX_AGENTS);
            let names: Vec<(&str, &str)> = (0..n)
                .map(|i| name_of((t * MAX_AGENTS + i) as u64))
                .collect();
            agent_emails.push(
                names
                    .iter()
                    .map(|(f, l)| format!("{}.{}@help.acme.example", ascii(f), ascii(l)))
                    .collect(),
            );
            agents.push(names.iter().map(|(f, l)| format!("{f} {l}")).collect());
        }
        People {
            agents,
            agent_emails,
            customers: (tickets / 3).max(50),
        }
    }

    /// A customer, drawn so that a few customers raise many tickets.
    pub fn customer(&self, rng: &mut Rand) -> u64 {
        let u = rng.unit();
        ((u * u * self.customers as f64) as u64).min(self.customers - 1)
    }
}

/// A customer's display name and e-mail address.
pub fn customer_contact(k: u64) -> (String, String) {
    let (first, last) = name_of(k.wrapping_mul(7) + 3);
    let company = COMPANIES[(k % COMPANIES.len() as u64) as usize];
    (
        format!("{first} {last}"),
        format!("{}.{}{k}@{company}.example", ascii(first), ascii(last)),
    )
}

/// A subject line for a ticket of `team` (`{n}` in a template is a reference number, `{d}`
/// a small count).
pub fn subject(team: &Team, rng: &mut Rand) -> String {
    let template = team.subjects[rng.below(team.subjects.len() as u64) as usize];
    let number = rng.between(1000, 99_999);
    let small = rng.between(2, 30);
    template
        .replace("{n}", &number.to_string())
        .replace("{d}", &small.to_string())
}

/// A canonical priority drawn from a team's mix; phone calls skew towards high and urgent.
pub fn priority(team: &Team, channel: Channel, rng: &mut Rand) -> Priority {
    let p = rng.pick(&team.priorities);
    if channel == Channel::Phone && p < Priority::Urgent && rng.chance(0.25) {
        p.shifted(true)
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn agent_names_are_unique_across_the_desk() {
        let people = People::new(100_000_000, 1);
        let all: Vec<&String> = people.agents.iter().flatten().collect();
        assert_eq!(all.len(), 4 * MAX_AGENTS);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
        let emails: BTreeSet<&String> = people.agent_emails.iter().flatten().collect();
        assert_eq!(emails.len(), all.len());
        assert!(emails.iter().all(|e| e.is_ascii()));
    }

    #[test]
    fn team_mixes_sum_to_one() {
        let sum = |w: &[f64]| w.iter().sum::<f64>();
        assert!((TEAMS.iter().map(|t| t.share).sum::<f64>() - 1.0).abs() < 1e-9);
        for team in &TEAMS {
            assert!((sum(&team.channels.map(|c| c.1)) - 1.0).abs() < 1e-9);
            assert!((sum(&team.priorities.map(|c| c.1)) - 1.0).abs() < 1e-9);
        }
        assert_eq!(Priority::Urgent.shifted(true), Priority::Urgent);
        assert_eq!(Priority::Low.shifted(false), Priority::Low);
        for &p in <Priority as crate::tables::Vocabulary>::ALL {
            assert_ne!(p.changed(true), p);
            assert_ne!(p.changed(false), p);
        }
        let (name, email) = customer_contact(12);
        assert!(email.ends_with(".example") && email.is_ascii(), "{email}");
        assert!(name.contains(' '));
    }
}
