//! Errors as the shell shows them: the message first, with the closest existing name for an
//! unknown table, column or function (`unknown column 'creatd_at' in tickets; did you mean
//! 'created_at'?`), then the line of the statement with a caret under the place, as psql does.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::syntax::LineOffsets;
use crate::names;

/// The names an error may suggest.
pub struct Known<'a> {
    /// The session's table and view names.
    pub tables: &'a [String],
    /// Every function name.
    pub functions: &'a [String],
}

/// What went wrong, and where in the statement: a byte range of `sql`.
#[derive(Debug, PartialEq, Eq)]
pub struct Explained {
    /// What went wrong, with the closest name when one was unknown.
    pub message: String,
    /// Where: a byte range of the statement, when known.
    pub at: Option<(usize, usize)>,
}

/// Explain `err`, raised while running `sql`.
pub fn explain(err: &DataFusionError, sql: &str, known: &Known<'_>) -> Explained {
    let offsets = LineOffsets::new(sql);
    let span_at = err.diagnostic().and_then(|d| d.span).map(|s| {
        (
            offsets.byte(s.start.line, s.start.column),
            offsets.byte(s.end.line, s.end.column),
        )
    });
    let root = err.find_root();
    let unknown = |what: &str, name: &str, hint: Option<&str>, context: &str| Explained {
        message: format!(
            "unknown {what} '{name}'{context}{}",
            hint.map(|h| format!("; did you mean '{h}'?"))
                .unwrap_or_default()
        ),
        at: span_at.or_else(|| find_word(sql, name)),
    };
    let not_found = match root {
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => Some((field, valid_fields)),
            _ => None,
        },
        _ => None,
    };
    if let Some((field, valid_fields)) = not_found {
        let mut tables: Vec<String> = valid_fields
            .iter()
            .filter_map(|c| c.relation.as_ref().map(|r| r.table().to_string()))
            .collect();
        tables.dedup();
        let context = match tables.is_empty() {
            true => String::new(),
            false => format!(" in {}", tables.join(", ")),
        };
        let hint = names::closest(&field.name, valid_fields.iter().map(|c| c.name.as_str()));
        return unknown("column", &field.flat_name(), hint, &context);
    }
    let text = root.message().to_string();
    if let Some(name) = quoted_after(&text, "table '").filter(|_| text.ends_with("not found")) {
        let name = name.rsplit('.').next().unwrap_or(name);
        let hint = names::closest(name, known.tables.iter().map(String::as_str));
        return unknown("table", name, hint, "");
    }
    if let Some(name) = quoted_after(&text, "Invalid function '") {
        let hint = names::closest(name, known.functions.iter().map(String::as_str));
        return unknown("function", name, hint, "");
    }
    if let DataFusionError::SQL(parse, _) = root {
        // sqlparser ends its messages with the place: "… at Line: 1, Column: 10".
        let text = parse.to_string();
        let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
        if let Some((message, place)) = text.rsplit_once(" at Line: ") {
            let at = place.split_once(", Column: ").and_then(|(line, column)| {
                let byte = offsets.byte(line.trim().parse().ok()?, column.trim().parse().ok()?);
                // The word there, or at least its first character.
                let word = sql[byte..]
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(sql.len() - byte);
                let first = sql[byte..].chars().next().map_or(0, char::len_utf8);
                let end = byte + word.max(first);
                Some((byte, end))
            });
            return Explained {
                message: message.to_string(),
                at,
            };
        }
        return Explained {
            message: text.to_string(),
            at: span_at,
        };
    }
    Explained {
        message: err.strip_backtrace(),
        at: span_at,
    }
}

/// The text between `prefix` and the next `'` in `text`.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    let len = text[start..].find('\'')?;
    Some(&text[start..start + len])
}

/// Where `word` first stands alone in `sql` (case-insensitive, character by character): a
/// byte range.
fn find_word(sql: &str, word: &str) -> Option<(usize, usize)> {
    let wanted: Vec<char> = word.chars().collect();
    if wanted.is_empty() {
        return None;
    }
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    (0..chars.len().saturating_sub(wanted.len() - 1)).find_map(|i| {
        let here = &chars[i..i + wanted.len()];
        let matches = here.iter().zip(&wanted).all(|((_, a), b)| same(*a, *b));
        let before = i.checked_sub(1).map(|b| chars[b].1);
        let after = chars.get(i + wanted.len()).map(|(_, c)| *c);
        (matches && !before.is_some_and(is_name) && !after.is_some_and(is_name)).then(|| {
            let end = after.map_or(sql.len(), |_| chars[i + wanted.len()].0);
            (chars[i].0, end)
        })
    })
}

/// The statement's line holding `at` with a caret under it, psql's way:
/// ```text
/// LINE 1: SELECT creatd_at FROM tickets;
///                ^^^^^^^^^
/// ```
pub fn caret(sql: &str, at: (usize, usize)) -> String {
    let start = at.0.min(sql.len());
    let line_start = sql[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = sql[start..].find('\n').map_or(sql.len(), |i| start + i);
    let line_number = sql[..start].matches('\n').count() + 1;
    let prefix = format!("LINE {line_number}: ");
    let end = at.1.clamp(start, line_end);
    // Tabs before the place stay tabs, so that the caret lines up under them.
    let pad: String = sql[line_start..start]
        .chars()
        .map(|c| match c {
            '\t' => "\t".to_string(),
            c => " ".repeat(UnicodeWidthChar::width(c).unwrap_or(0)),
        })
        .collect();
    let marks = sql[start..end].width().max(1);
    format!(
        "{prefix}{}\n{}{pad}{}",
        &sql[line_start..line_end],
        " ".repeat(prefix.len()),
        "^".repeat(marks)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> (Vec<String>, Vec<String>) {
        (
            vec!["tickets".into(), "ticket_events".into()],
            vec!["business_hours".into(), "count".into()],
        )
    }

    #[test]
    fn carets_sit_under_the_place() {
        let sql = "SELECT a,\n       creatd_at FROM tickets;";
        let at = find_word(sql, "creatd_at").unwrap();
        assert_eq!(
            caret(sql, at),
            "LINE 2:        creatd_at FROM tickets;\n               ^^^^^^^^^"
        );
        assert_eq!(find_word("SELECT xa, a FROM t", "a"), Some((11, 12)));
        assert_eq!(find_word("SELECT é, CRÉÉ FROM t", "créé"), Some((11, 17)));
        assert_eq!(find_word("SELECT Ⱥb FROM t", "ⱥb"), Some((7, 10)));
        assert_eq!(
            caret("\tSELECT x", (8, 9)),
            "LINE 1: \tSELECT x\n        \t       ^"
        );
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let (tables, functions) = known();
        let known = Known {
            tables: &tables,
            functions: &functions,
        };
        let err = DataFusionError::Plan("table 'datafusion.public.tikets' not found".into());
        let e = explain(&err, "SELECT * FROM tikets;", &known);
        assert_eq!(e.message, "unknown table 'tikets'; did you mean 'tickets'?");
        assert_eq!(e.at, Some((14, 20)));
        let err = DataFusionError::Plan(
            "Invalid function 'busines_hours'.\nDid you mean 'business_hours'?".into(),
        );
        let e = explain(&err, "SELECT busines_hours(a, b);", &known);
        assert_eq!(
            e.message,
            "unknown function 'busines_hours'; did you mean 'business_hours'?"
        );
    }
}
