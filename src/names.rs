//! "Did you mean …?": the closest known name to a mistyped one, for error messages.

use datafusion::common::utils::datafusion_strsim::levenshtein;

/// The known name closest to `wanted` (case-insensitive edit distance), when it is close
/// enough to be a plausible typo: at most a third of the name's length, and at least 2.
pub fn closest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    known
        .into_iter()
        .map(|name| (levenshtein(&wanted_lower, &name.to_lowercase()), name))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, name)| name)
}

/// `; did you mean 'x'?` when a close name exists, else `; known: a, b, c` (or nothing when
/// none are known).
pub fn hint<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match closest(wanted, known.clone()) {
        Some(name) => format!("; did you mean '{name}'?"),
        None => {
            let all: Vec<&str> = known.into_iter().collect();
            if all.is_empty() {
                String::new()
            } else {
                format!("; known: {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["created_at", "closed_at", "team"];
        assert_eq!(closest("creatd_at", known), Some("created_at"));
        assert_eq!(closest("TEAM", known), Some("team"));
        assert_eq!(closest("priority", known), None);
        assert_eq!(hint("tema", known), "; did you mean 'team'?");
        assert_eq!(hint("xyz", known), "; known: created_at, closed_at, team");
        assert_eq!(hint("xyz", []), "");
    }
}
