//! The comment header of a KPI query file:
//!
//! ```sql
//! -- name: first_response_compliance
//! -- title: First-response SLA compliance
//! -- title.pt-BR: Cumprimento do SLA de primeira resposta
//! -- unit: percent
//! -- direction: higher_is_better
//! -- description: Share of first-response clocks started in the period that met their
//! --   target: met ÷ (met + breached).
//! SELECT …
//! ```
//!
//! The header is the file's leading `--` lines. Each is `key: value`; a line indented by two
//! or more spaces after `--` continues the previous value; an empty `--` line is skipped.

use std::fmt;

/// What a KPI's value measures, which decides how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A share between 0 and 1, printed as a percentage (0.952 → 95.2 %).
    Percent,
    Hours,
    Count,
    /// A rating, e.g. a mean CSAT score from 1 to 5.
    Score,
    Ratio,
}

/// Whether a KPI improves upwards or downwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Unit {
    pub const ALL: [(Unit, &'static str); 5] = [
        (Unit::Percent, "percent"),
        (Unit::Hours, "hours"),
        (Unit::Count, "count"),
        (Unit::Score, "score"),
        (Unit::Ratio, "ratio"),
    ];

    pub fn name(self) -> &'static str {
        Unit::ALL
            .iter()
            .find(|(u, _)| *u == self)
            .map_or("", |(_, name)| name)
    }
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
        }
    }

    /// +1 when higher is better, -1 when lower is better: `(a - b) * sign > 0` means a is
    /// better than b.
    pub fn sign(self) -> f64 {
        match self {
            Direction::HigherIsBetter => 1.0,
            Direction::LowerIsBetter => -1.0,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: String,
    pub title: String,
    /// `title.pt-BR`, when given.
    pub title_pt_br: Option<String>,
    pub unit: Unit,
    pub direction: Direction,
    pub description: String,
    /// `description.pt-BR`, when given.
    pub description_pt_br: Option<String>,
    /// `accumulates: true`: the value grows with the length of the period (a count of things
    /// that happened in it), so a running quarter projects by extrapolation; otherwise
    /// (rates, medians, levels such as a backlog) the value to date is the projection.
    pub accumulates: bool,
    /// The 1-based line the SQL starts on (after the header).
    pub sql_line: usize,
}

/// A header mistake: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub line: usize,
    pub message: String,
}

const KEYS: [&str; 8] = [
    "name",
    "title",
    "title.pt-BR",
    "unit",
    "direction",
    "description",
    "description.pt-BR",
    "accumulates",
];
const REQUIRED: [&str; 5] = ["name", "title", "unit", "direction", "description"];

/// Parse the header of a KPI file's `text`.
pub fn parse(text: &str) -> Result<Header, HeaderError> {
    // (key, value, line) in file order.
    let mut entries: Vec<(&'static str, String, usize)> = Vec::new();
    let mut sql_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some(comment) = trimmed.strip_prefix("--") else {
            sql_line = Some(line);
            break;
        };
        if comment.trim().is_empty() {
            continue;
        }
        if comment.starts_with("  ") || comment.starts_with('\t') {
            let Some((_, value, _)) = entries.last_mut() else {
                return Err(error(line, "a continuation line before any `key: value`"));
            };
            value.push(' ');
            value.push_str(comment.trim());
            continue;
        }
        let Some((key, value)) = comment.split_once(':') else {
            return Err(error(
                line,
                format!(
                    "expected `-- key: value` in the header, found '{trimmed}' (keys: {}; \
                     indent a line by two spaces to continue a value)",
                    KEYS.join(", ")
                ),
            ));
        };
        let key = key.trim();
        let Some(known) = KEYS.iter().find(|k| **k == key) else {
            return Err(error(
                line,
                format!(
                    "unknown header key '{key}'{}",
                    crate::names::hint(key, KEYS.iter().copied())
                ),
            ));
        };
        if let Some((_, _, first)) = entries.iter().find(|(k, _, _)| k == known) {
            return Err(error(
                line,
                format!("'{key}' is given twice (first on line {first})"),
            ));
        }
        entries.push((known, value.trim().to_string(), line));
    }
    let Some(sql_line) = sql_line else {
        return Err(error(
            text.lines().count().max(1),
            "the file has a header but no SQL after it",
        ));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, line)| (v.clone(), *line))
    };
    // The values given are checked first (their lines are known), then what is missing.
    for (key, line) in entries.iter().map(|(k, v, line)| (*k, (v, *line))) {
        if line.0.is_empty() {
            return Err(error(line.1, format!("'{key}' is empty")));
        }
    }
    if let Some((name, line)) = get("name") {
        if !is_identifier(&name) {
            return Err(error(
                line,
                format!(
                    "invalid KPI name '{name}': use lowercase letters, digits and '_', \
                     starting with a letter"
                ),
            ));
        }
    }
    let unit = get("unit")
        .map(|(text, line)| {
            Unit::ALL
                .iter()
                .find(|(_, n)| *n == text)
                .map(|(u, _)| *u)
                .ok_or_else(|| {
                    error(
                        line,
                        format!(
                            "unknown unit '{text}' (one of: {})",
                            Unit::ALL.map(|(_, n)| n).join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    let direction = get("direction")
        .map(|(text, line)| match text.as_str() {
            "higher_is_better" => Ok(Direction::HigherIsBetter),
            "lower_is_better" => Ok(Direction::LowerIsBetter),
            other => Err(error(
                line,
                format!("unknown direction '{other}' (higher_is_better or lower_is_better)"),
            )),
        })
        .transpose()?;
    let accumulates = match get("accumulates") {
        None => false,
        Some((text, _)) if text == "true" => true,
        Some((text, _)) if text == "false" => false,
        Some((text, line)) => {
            return Err(error(
                line,
                format!("accumulates: '{text}' is neither true nor false"),
            ))
        }
    };
    let missing = |key: &str| {
        error(
            1,
            format!(
                "the header lacks '{key}' (required: {}): start the file with `-- {key}: …`",
                REQUIRED.join(", ")
            ),
        )
    };
    let required = |key: &str| get(key).map(|(v, _)| v).ok_or_else(|| missing(key));
    let name = required("name")?;
    let title = required("title")?;
    let unit = unit.ok_or_else(|| missing("unit"))?;
    let direction = direction.ok_or_else(|| missing("direction"))?;
    let description = required("description")?;
    Ok(Header {
        name,
        title,
        title_pt_br: get("title.pt-BR").map(|(v, _)| v),
        unit,
        direction,
        description,
        description_pt_br: get("description.pt-BR").map(|(v, _)| v),
        accumulates,
        sql_line,
    })
}

fn error(line: usize, message: impl Into<String>) -> HeaderError {
    HeaderError {
        line,
        message: message.into(),
    }
}

/// KPI names are SQL-friendly identifiers: `[a-z][a-z0-9_]*`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
-- name: reopen_rate
-- title: Reopen rate
-- title.pt-BR: Taxa de reabertura
-- unit: percent
--
-- direction: lower_is_better
-- description: Share of tickets resolved in the period
--   that were reopened.
SELECT 1 AS value
";

    #[test]
    fn reads_every_key() {
        let h = parse(GOOD).unwrap();
        assert_eq!(h.name, "reopen_rate");
        assert_eq!(h.title_pt_br.as_deref(), Some("Taxa de reabertura"));
        assert_eq!(h.unit, Unit::Percent);
        assert_eq!(h.direction, Direction::LowerIsBetter);
        assert_eq!(
            h.description,
            "Share of tickets resolved in the period that were reopened."
        );
        assert_eq!(h.sql_line, 9);
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases = [
            (
                GOOD.replace("unit: percent", "unit: percents"),
                4,
                "unknown unit 'percents'",
            ),
            (
                GOOD.replace("-- title:", "-- titel:"),
                2,
                "did you mean 'title'?",
            ),
            (
                GOOD.replace("-- unit: percent", "-- unit percent"),
                4,
                "expected `-- key: value`",
            ),
            (
                GOOD.replace("reopen_rate\n", "Reopen Rate\n"),
                1,
                "invalid KPI name",
            ),
            (
                GOOD.replace("-- title: Reopen rate\n", ""),
                1,
                "lacks 'title'",
            ),
            (
                GOOD.replace("lower_is_better", "down"),
                6,
                "unknown direction 'down'",
            ),
            (
                GOOD.replace("-- unit: percent", "-- name: x"),
                4,
                "given twice (first on line 1)",
            ),
            (GOOD.replace("SELECT 1 AS value\n", ""), 8, "no SQL"),
        ];
        for (text, line, message) in cases {
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{err:?}");
            assert!(err.message.contains(message), "{err:?}");
        }
    }
}
