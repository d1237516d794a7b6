//! What the editor needs to know of SQL while it is typed: whether the input is a finished
//! statement (decided by DataFusion's own SQL tokenizer, not by counting quotes), how to
//! colour it, and what would close it.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

/// How a piece of the input is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Plain,
    Keyword,
    /// A business-time function of this engine.
    OurFunction,
    String,
    Number,
    Comment,
    /// A meta command (`\d`).
    Meta,
}

/// The tokens of `text` with their byte ranges, or the tokenizer's complaint.
fn tokens(text: &str) -> Result<Vec<TokenWithSpan>, String> {
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| e.message)
}

/// Whether the tokenizer stopped because the text ends inside a string, a quoted name or a
/// comment: the statement goes on.
fn unterminated(message: &str) -> bool {
    message.starts_with("Unterminated") || message.contains("EOF")
}

/// Whether `input` is ready to run: a meta command (a line starting with `\`), `exit` or
/// `quit`, or SQL whose last token is `;`. SQL that ends inside a string or comment, or
/// without `;`, continues on the next line.
pub fn is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('\\') || is_exit(trimmed) {
        return true;
    }
    match tokens(input) {
        Ok(tokens) => tokens
            .iter()
            .rev()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .is_some_and(|t| t.token == Token::SemiColon),
        // Anything else the tokenizer rejects is for the parser to report.
        Err(message) => !unterminated(&message),
    }
}

/// `exit` and `quit` (as psql accepts), with an optional `;`.
pub fn is_exit(input: &str) -> bool {
    matches!(
        input.trim().trim_end_matches(';').trim(),
        "exit" | "quit" | "EXIT" | "QUIT"
    )
}

/// Where an unterminated string, quoted name or block comment of `text` starts, and what
/// ends it: `(byte offset, closer)`. A light scan of quotes and comments, used to place the
/// cursor's context; [`is_complete`] decides with the real tokenizer.
pub fn open_quote(text: &str) -> Option<(usize, &'static str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (closer, skip): (&'static str, usize) = match bytes[i] {
            b'\'' => ("'", 1),
            b'"' => ("\"", 1),
            b'`' => ("`", 1),
            b'-' if bytes.get(i + 1) == Some(&b'-') => ("\n", 2),
            b'/' if bytes.get(i + 1) == Some(&b'*') => ("*/", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i;
        let mut j = i + skip;
        loop {
            match text[j..].find(closer) {
                None if closer == "\n" => return None,
                None => return Some((start, closer)),
                // A doubled quote inside a string is an escaped quote.
                Some(at)
                    if closer.len() == 1
                        && bytes.get(j + at + 1) == Some(&closer.as_bytes()[0])
                        && closer != "\n" =>
                {
                    j += at + 2;
                }
                Some(at) => {
                    i = j + at + closer.len();
                    break;
                }
            }
        }
    }
    None
}

/// What would finish `input`: the closing quote or comment, the `)` of every open
/// parenthesis, and `;`. Empty when the input is complete or a meta command.
pub fn closing(input: &str) -> String {
    if is_complete(input) || ends_in_line_comment(input) {
        return String::new();
    }
    let (body, quote) = match open_quote(input) {
        Some((at, closer)) => (&input[..at], closer.to_string()),
        None => (input, String::new()),
    };
    let depth = tokens(body).map_or(0, |tokens| {
        tokens.iter().fold(0usize, |depth, t| match t.token {
            Token::LParen => depth + 1,
            Token::RParen => depth.saturating_sub(1),
            _ => depth,
        })
    });
    format!("{quote}{};", ")".repeat(depth))
}

/// Whether the last line of `input` ends inside a `--` comment (where a hint would be
/// commented out).
fn ends_in_line_comment(input: &str) -> bool {
    tokens(input).is_ok_and(|tokens| {
        tokens.last().is_some_and(|t| {
            matches!(
                t.token,
                Token::Whitespace(Whitespace::SingleLineComment { .. })
            ) && !input.ends_with('\n')
        })
    })
}

/// `input` cut into classified pieces that together are exactly `input`.
pub fn classify(input: &str, ours: &[String]) -> Vec<(Class, String)> {
    if input.trim_start().starts_with('\\') {
        return vec![(Class::Meta, input.to_string())];
    }
    // The part the tokenizer can read, and an unterminated tail shown as what it is.
    let (body, tail) = match open_quote(input) {
        Some((at, closer)) => (
            &input[..at],
            Some((
                if closer == "*/" {
                    Class::Comment
                } else {
                    Class::String
                },
                &input[at..],
            )),
        ),
        None => (input, None),
    };
    let mut pieces = Vec::new();
    match tokens(body) {
        Ok(tokens) => {
            let offsets = LineOffsets::new(body);
            let mut at = 0;
            for t in &tokens {
                let start = offsets.byte(t.span.start.line, t.span.start.column);
                let end = offsets.byte(t.span.end.line, t.span.end.column);
                if start < at || end < start || end > body.len() {
                    continue;
                }
                if start > at {
                    pieces.push((Class::Plain, body[at..start].to_string()));
                }
                pieces.push((class(&t.token, ours), body[start..end].to_string()));
                at = end;
            }
            if at < body.len() {
                pieces.push((Class::Plain, body[at..].to_string()));
            }
        }
        Err(_) => pieces.push((Class::Plain, body.to_string())),
    }
    if let Some((class, tail)) = tail {
        pieces.push((class, tail.to_string()));
    }
    pieces
}

fn class(token: &Token, ours: &[String]) -> Class {
    match token {
        Token::Word(w) if w.quote_style.is_none() => {
            if ours.iter().any(|f| f.eq_ignore_ascii_case(&w.value)) {
                Class::OurFunction
            } else if w.keyword != Keyword::NoKeyword {
                Class::Keyword
            } else {
                Class::Plain
            }
        }
        Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::EscapedStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::DollarQuotedString(_) => Class::String,
        Token::Number(..) => Class::Number,
        Token::Whitespace(
            Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
        ) => Class::Comment,
        _ => Class::Plain,
    }
}

/// Byte offsets of the tokenizer's 1-based line and column (in characters) positions, each
/// found in constant time (the highlighter asks for every token at every keystroke).
pub struct LineOffsets {
    /// The index (in characters) of the first character of each line.
    line_starts: Vec<usize>,
    /// The byte offset of each character.
    bytes: Vec<usize>,
    len: usize,
}

impl LineOffsets {
    /// The offsets of `text`.
    pub fn new(text: &str) -> LineOffsets {
        let mut line_starts = vec![0];
        let mut bytes = Vec::with_capacity(text.len());
        for (n, (i, c)) in text.char_indices().enumerate() {
            bytes.push(i);
            if c == '\n' {
                line_starts.push(n + 1);
            }
        }
        LineOffsets {
            line_starts,
            bytes,
            len: text.len(),
        }
    }

    /// The byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn byte(&self, line: u64, column: u64) -> usize {
        let index = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1);
        self.line_starts
            .get(index(line))
            .and_then(|first| self.bytes.get(first.saturating_add(index(column))))
            .copied()
            .unwrap_or(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_semicolon_outside_strings_and_comments() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done"));
        assert!(is_complete("SELECT 1; SELECT 2;"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(!is_complete("SELECT 'a;"));
        assert!(!is_complete("SELECT 'it''s;"));
        assert!(is_complete("SELECT 'it''s';"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT \"odd;name"));
        assert!(is_complete("SELECT ';' AS semi;"));
        assert!(is_complete("\\d tickets"));
        assert!(is_complete(""));
        assert!(is_complete("exit"));
        assert!(is_complete("quit;"));
    }

    #[test]
    fn the_hint_closes_quotes_then_parentheses() {
        assert_eq!(closing("SELECT count(*"), ");");
        assert_eq!(closing("SELECT business_hours(a, b, 'br-"), "');");
        assert_eq!(closing("SELECT (1 + (2"), "));");
        assert_eq!(closing("SELECT 1"), ";");
        assert_eq!(closing("SELECT 1;"), "");
        assert_eq!(closing("SELECT 1 /* note"), "*/;");
        assert_eq!(closing("\\d"), "");
        assert_eq!(closing("SELECT count(* -- why"), "");
        assert_eq!(closing("SELECT count(* -- why\n"), ");");
    }

    #[test]
    fn open_quotes_know_escapes_and_comments() {
        assert_eq!(open_quote("SELECT 'it''s"), Some((7, "'")));
        assert_eq!(open_quote("SELECT 'a' || 'b"), Some((14, "'")));
        assert_eq!(open_quote("SELECT 1 -- it's\nFROM t"), None);
        assert_eq!(open_quote("SELECT 'done'"), None);
    }

    #[test]
    fn pieces_cover_the_input_exactly() {
        let ours = vec!["business_hours".to_string()];
        for input in [
            "SELECT business_hours(a, b, 'us') FROM t -- note\nWHERE x > 1.5;",
            "select 'unterminated",
            "SELECT \n  é, 'ü' FROM t",
            "\\d tickets",
        ] {
            let pieces = classify(input, &ours);
            assert_eq!(
                pieces.iter().map(|p| p.1.as_str()).collect::<String>(),
                input
            );
        }
        let pieces = classify("SELECT business_hours(a, b, 'us') -- c", &ours);
        let of = |text: &str| pieces.iter().find(|p| p.1 == text).map(|p| p.0);
        assert_eq!(of("SELECT"), Some(Class::Keyword));
        assert_eq!(of("business_hours"), Some(Class::OurFunction));
        assert_eq!(of("'us'"), Some(Class::String));
        assert_eq!(of("-- c"), Some(Class::Comment));
        assert_eq!(of("a"), Some(Class::Plain));
    }
}
