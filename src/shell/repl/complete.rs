//! Completion that knows the session: SQL keywords, the tables and views, the columns of the
//! tables a statement names (and of `alias.`), functions with their signature, calendar names
//! inside the calendar argument of the business-time functions, KPI names after `\kpi`, file
//! paths inside quotes, and the meta commands with their arguments.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::logical_expr::Documentation;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::{Keyword, ALL_KEYWORDS};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use parking_lot::{Mutex, RwLock};
use reedline::{Completer, Span, Suggestion};

use super::meta::{self, COMMANDS};
use super::syntax::open_quote;
use crate::calendar::Quarter;
use crate::session::Session;

/// A function as completion and `\df` show it.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// `scalar`, `aggregate`, `window` or `table`.
    pub kind: &'static str,
    /// One of the business-time functions of this engine.
    pub ours: bool,
    /// Its documentation, when it has one.
    pub doc: Option<Documentation>,
}

impl Function {
    /// `name(arguments)`, from the documentation's syntax example when there is one.
    pub fn signature(&self) -> String {
        self.doc
            .as_ref()
            .map(|d| d.syntax_example.clone())
            .filter(|s| s.contains('('))
            .unwrap_or_else(|| format!("{}(…)", self.name))
    }

    /// The description on one line (empty without documentation).
    pub fn description(&self) -> String {
        self.doc.as_ref().map_or(String::new(), |d| {
            d.description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// The first sentence of the description.
    pub fn summary(&self) -> String {
        let text = self.description();
        match text.find(". ") {
            Some(end) => text[..=end].to_string(),
            None => text,
        }
    }
}

/// What the session knows that completion offers; tables and columns are refreshed after
/// each statement (one may have created a view).
pub struct Vocabulary {
    session: Session,
    tables: RwLock<Vec<String>>,
    columns: Mutex<HashMap<String, Vec<String>>>,
    /// Every function, the business-time ones first.
    pub functions: Vec<Function>,
    /// The workspace's calendar names.
    pub calendars: Vec<String>,
    /// The KPI catalog's names.
    pub kpis: Vec<String>,
    /// Each business-time function and the position of its calendar argument.
    calendar_arguments: Vec<(&'static str, usize)>,
    /// The time zone of quarters.
    zone: chrono_tz::Tz,
}

impl Vocabulary {
    /// What `session` knows, with the workspace's calendar names and the time zone its
    /// quarters are read in.
    pub fn new(session: &Session, calendars: Vec<String>, zone: chrono_tz::Tz) -> Vocabulary {
        let state = session.context().state();
        let ours: Vec<(&'static str, usize)> = crate::functions::calendar_arguments().to_vec();
        let mut functions: Vec<Function> = Vec::new();
        let mut add = |name: &str, kind: &'static str, doc: Option<&Documentation>| {
            functions.push(Function {
                name: name.to_string(),
                kind,
                ours: ours.iter().any(|(n, _)| *n == name),
                doc: doc.cloned(),
            })
        };
        for (name, f) in state.scalar_functions() {
            add(name, "scalar", f.documentation());
        }
        for (name, f) in state.aggregate_functions() {
            add(name, "aggregate", f.documentation());
        }
        for (name, f) in state.window_functions() {
            add(name, "window", f.documentation());
        }
        for name in state.table_functions().keys() {
            add(name, "table", None);
        }
        functions.sort_by(|a, b| (!a.ours, &a.name).cmp(&(!b.ours, &b.name)));
        functions.dedup_by(|a, b| a.name == b.name);
        let kpis = session
            .catalog()
            .map(|c| c.names().map(str::to_string).collect())
            .unwrap_or_default();
        let vocabulary = Vocabulary {
            session: session.clone(),
            tables: RwLock::new(Vec::new()),
            columns: Mutex::new(HashMap::new()),
            functions,
            calendars,
            kpis,
            calendar_arguments: ours,
            zone,
        };
        vocabulary.refresh();
        vocabulary
    }

    /// Read the table names again and forget the columns (after a statement).
    pub fn refresh(&self) {
        *self.tables.write() = self.session.table_names();
        self.columns.lock().clear();
    }

    /// The table and view names, sorted.
    pub fn tables(&self) -> Vec<String> {
        self.tables.read().clone()
    }

    /// Every function name.
    pub fn function_names(&self) -> Vec<String> {
        self.functions.iter().map(|f| f.name.clone()).collect()
    }

    /// The column names of `table`, read from its schema once and kept until the next
    /// refresh. Unknown tables have none.
    fn columns(&self, table: &str) -> Vec<String> {
        if let Some(found) = self.columns.lock().get(table) {
            return found.clone();
        }
        let session = self.session.clone();
        let name = table.to_string();
        // The editor runs on a thread outside the runtime's workers (see `Shell::read`).
        let found = tokio::runtime::Handle::try_current()
            .ok()
            .and_then(|runtime| {
                runtime
                    .block_on(async move {
                        session
                            .context()
                            .table_provider(TableReference::bare(name))
                            .await
                    })
                    .ok()
            })
            .map(|t| {
                t.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        self.columns
            .lock()
            .insert(table.to_string(), Vec::clone(&found));
        found
    }

    /// Suggestions for the text `line` with the cursor at byte `pos`.
    pub fn suggest(&self, line: &str, pos: usize) -> Vec<Suggestion> {
        let before = &line[..pos.min(line.len())];
        if before.trim_start().starts_with('\\') {
            return self.meta(before, pos);
        }
        if let Some((quote, closer)) = open_quote(before) {
            if closer != "'" {
                return Vec::new();
            }
            let partial = &before[quote + 1..];
            let span = Span::new(quote + 1, pos);
            return match self.enclosing_call(&before[..quote]) {
                Some((function, argument))
                    if self
                        .calendar_arguments
                        .iter()
                        .any(|(f, a)| f.eq_ignore_ascii_case(&function) && *a == argument) =>
                {
                    matching(partial, self.calendars.iter().map(String::as_str))
                        .map(|c| suggestion(format!("{c}'"), Some("calendar".into()), span, false))
                        .collect()
                }
                _ => paths(partial, span),
            };
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[start..];
        if let Some((qualifier, partial)) = word.rsplit_once('.') {
            let qualifier = qualifier.rsplit('.').next().unwrap_or(qualifier);
            let table = self
                .aliases(line)
                .get(&qualifier.to_lowercase())
                .cloned()
                .unwrap_or_else(|| qualifier.to_string());
            let span = Span::new(pos - partial.len(), pos);
            return matching(partial, self.columns(&table).iter().map(String::as_str))
                .map(|c| suggestion(quoted(c), Some(format!("column of {table}")), span, true))
                .collect();
        }
        let span = Span::new(start, pos);
        let tables = self.tables();
        let table_suggestions = || {
            matching(word, tables.iter().map(String::as_str))
                .map(|t| suggestion(quoted(t), Some("table".into()), span, true))
                .collect::<Vec<_>>()
        };
        if self.after_relation_keyword(&before[..start]) {
            return table_suggestions();
        }
        let mut out = Vec::new();
        let mut named: Vec<String> = self.aliases(line).into_values().collect();
        named.sort();
        named.dedup();
        for table in &named {
            out.extend(
                matching(word, self.columns(table).iter().map(String::as_str))
                    .map(|c| suggestion(quoted(c), Some(format!("column of {table}")), span, true)),
            );
        }
        if word.is_empty() {
            return out;
        }
        out.extend(
            self.functions
                .iter()
                .filter(|f| starts_with(&f.name, word))
                .map(|f| {
                    let value = match f.kind {
                        "table" => f.name.clone(),
                        _ => format!("{}(", f.name),
                    };
                    let summary = f.summary();
                    let description = match summary.is_empty() {
                        true => f.signature(),
                        false => format!("{} — {summary}", f.signature()),
                    };
                    suggestion(value, Some(description), span, false)
                }),
        );
        let upper = word.chars().any(char::is_uppercase);
        out.extend(matching(word, ALL_KEYWORDS.iter().copied()).map(|k| {
            let k = if upper {
                k.to_string()
            } else {
                k.to_lowercase()
            };
            suggestion(k, None, span, true)
        }));
        out.extend(table_suggestions());
        out
    }

    /// Completion of a meta command line.
    fn meta(&self, before: &str, pos: usize) -> Vec<Suggestion> {
        let words: Vec<&str> = before.split_whitespace().collect();
        let typing_new = before.ends_with(char::is_whitespace);
        let current = if typing_new {
            ""
        } else {
            words.last().copied().unwrap_or("")
        };
        let span = Span::new(pos - current.len(), pos);
        let argument = words.len() - usize::from(!typing_new);
        if argument == 0 {
            return COMMANDS
                .iter()
                .filter(|c| starts_with(c.name, current))
                .map(|c| suggestion(c.name.to_string(), Some(c.help.into()), span, true))
                .collect();
        }
        let options: Vec<String> = match (words[0], argument) {
            ("\\d", 1) => self.tables(),
            ("\\df", 1) => self.function_names(),
            ("\\kpi", 1) => self.kpis.clone(),
            ("\\kpi", 2) => {
                let as_of = self
                    .session
                    .options()
                    .as_of
                    .unwrap_or_else(chrono::Utc::now);
                let this = Quarter::at(as_of, &self.zone);
                (0..5).map(|n| this.offset(-n).to_string()).collect()
            }
            ("\\cal", 1) => self.calendars.clone(),
            ("\\o" | "\\i", 1) => return paths(current, span),
            ("\\format", 1) => meta::FORMATS.iter().map(|f| f.to_string()).collect(),
            ("\\x", 1) => ["on", "off", "auto"].map(String::from).to_vec(),
            ("\\timing" | "\\pager", 1) => ["on", "off"].map(String::from).to_vec(),
            ("\\set", 1) => meta::settings(&self.session)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            _ => Vec::new(),
        };
        matching(current, options.iter().map(String::as_str))
            .map(|o| suggestion(o.to_string(), None, span, true))
            .collect()
    }

    /// The tables a statement names, by lower-cased name and alias (`FROM tickets t`).
    fn aliases(&self, line: &str) -> HashMap<String, String> {
        let tables = self.tables();
        let words = words(line);
        let mut found = HashMap::new();
        for (i, word) in words.iter().enumerate() {
            let Some(table) = tables.iter().find(|t| t.eq_ignore_ascii_case(&word.0)) else {
                continue;
            };
            found.insert(table.to_lowercase(), table.clone());
            let mut next = words.get(i + 1);
            if next.is_some_and(|w| w.1 == Keyword::AS) {
                next = words.get(i + 2);
            }
            if let Some((alias, Keyword::NoKeyword)) = next {
                found.insert(alias.to_lowercase(), table.clone());
            }
        }
        found
    }

    /// Whether the last word before the cursor's word asks for a table.
    fn after_relation_keyword(&self, before: &str) -> bool {
        words(before).last().is_some_and(|w| {
            matches!(
                w.1,
                Keyword::FROM
                    | Keyword::JOIN
                    | Keyword::INTO
                    | Keyword::TABLE
                    | Keyword::UPDATE
                    | Keyword::DESCRIBE
            )
        })
    }

    /// The function call the end of `before` is inside, and which argument (0-based).
    fn enclosing_call(&self, before: &str) -> Option<(String, usize)> {
        let tokens = Tokenizer::new(&GenericDialect {}, before).tokenize().ok()?;
        let mut stack: Vec<(Option<String>, usize)> = Vec::new();
        let mut previous: Option<&Token> = None;
        for token in &tokens {
            match token {
                Token::Whitespace(_) => continue,
                Token::LParen => stack.push((
                    match previous {
                        Some(Token::Word(w)) => Some(w.value.clone()),
                        _ => None,
                    },
                    0,
                )),
                Token::RParen => {
                    stack.pop();
                }
                Token::Comma => {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                }
                _ => {}
            }
            previous = Some(token);
        }
        let (name, argument) = stack.pop()?;
        Some((name?, argument))
    }
}

/// The words (names and keywords) of `text`, in order.
fn words(text: &str) -> Vec<(String, Keyword)> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .unwrap_or_default();
    tokens
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some((w.value, w.keyword)),
            _ => None,
        })
        .collect()
}

/// `name` as SQL must write it: as it is when it reads the same unquoted (lower case letters,
/// digits and `_`, not starting with a digit), else in double quotes.
fn quoted(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn starts_with(candidate: &str, prefix: &str) -> bool {
    candidate.len() >= prefix.len()
        && candidate.is_char_boundary(prefix.len())
        && candidate[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn matching<'a>(
    prefix: &'a str,
    candidates: impl Iterator<Item = &'a str> + 'a,
) -> impl Iterator<Item = &'a str> + 'a {
    candidates.filter(move |c| starts_with(c, prefix))
}

fn suggestion(
    value: String,
    description: Option<String>,
    span: Span,
    append_whitespace: bool,
) -> Suggestion {
    Suggestion {
        value,
        description,
        span,
        append_whitespace,
        ..Suggestion::default()
    }
}

/// Files and folders whose path starts with `partial` (relative to the working directory);
/// folders end with `/`.
fn paths(partial: &str, span: Span) -> Vec<Suggestion> {
    let (dir, prefix) = match partial.rfind('/') {
        Some(i) => (&partial[..=i], &partial[i + 1..]),
        None => ("", partial),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() {
        Path::new(".")
    } else {
        Path::new(dir)
    }) else {
        return Vec::new();
    };
    let mut found: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let hidden = name.starts_with('.') && !prefix.starts_with('.');
            (name.starts_with(prefix) && !hidden)
                .then(|| (name, e.file_type().is_ok_and(|t| t.is_dir())))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(name, is_dir)| {
            let value = format!("{dir}{name}{}", if is_dir { "/" } else { "" });
            suggestion(value, None, span, false)
        })
        .collect()
}

/// The editor's completer: the vocabulary, shared with the shell that refreshes it.
pub struct SessionCompleter(pub Arc<Vocabulary>);

impl Completer for SessionCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> Vec<Suggestion> {
        self.0.suggest(line, pos)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workspace::{Origin, Workspace, BUNDLED};

    fn vocabulary() -> Vocabulary {
        let ws = Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap();
        let session = Session::builder(&ws).build().unwrap();
        let calendars = ws.calendars.names().map(str::to_string).collect();
        Vocabulary::new(&session, calendars, ws.quarter_zone())
    }

    /// The values suggested with the cursor at the `|` of `line`, or at its end (asked as the
    /// editor's thread asks: outside the runtime's workers).
    fn values(v: &Vocabulary, line: &str) -> Vec<String> {
        let pos = line.find('|').unwrap_or(line.len());
        let line = line.replacen('|', "", 1);
        tokio::task::block_in_place(|| v.suggest(&line, pos))
            .into_iter()
            .map(|s| s.value)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn completion_follows_the_statement() {
        let v = vocabulary();
        // After FROM: tables only.
        assert_eq!(
            values(&v, "SELECT * FROM ticket_st"),
            ["ticket_status_intervals"]
        );
        // Columns of the tables the statement names, through an alias too.
        assert!(!values(&v, "SELECT creat").contains(&"created_at".to_string()));
        assert_eq!(values(&v, "SELECT creat| FROM tickets")[0], "created_at");
        assert_eq!(
            values(&v, "SELECT t.first_r| FROM tickets t"),
            ["first_response_at"]
        );
        // Functions with their signature; keywords in the case typed.
        let f = tokio::task::block_in_place(|| v.suggest("SELECT business_ad", 18));
        assert_eq!(f[0].value, "business_add(");
        assert!(f[0]
            .description
            .as_deref()
            .unwrap()
            .starts_with("business_add("));
        assert!(values(&v, "sel").contains(&"select".to_string()));
        assert!(values(&v, "SEL").contains(&"SELECT".to_string()));
        // Calendar names in the calendar argument only; file paths in other strings.
        assert_eq!(values(&v, "SELECT business_hours(a, b, 'br"), ["br-sp'"]);
        assert_eq!(
            values(&v, "SELECT is_business_time(ts, 'ni"),
            ["night-ops'"]
        );
        assert!(!values(&v, "SELECT business_hours('br").contains(&"br-sp'".to_string()));
        assert!(values(&v, &format!("SELECT * FROM '{BUNDLED}/kpi.t"))
            .iter()
            .any(|p| p.ends_with("kpi.toml")));
        // Meta commands and their arguments.
        assert!(values(&v, "\\d").contains(&"\\df".to_string()));
        assert_eq!(values(&v, "\\d ticket_e"), ["ticket_events"]);
        assert_eq!(values(&v, "\\kpi reopen"), ["reopen_rate"]);
        assert_eq!(values(&v, "\\cal ni"), ["night-ops"]);
        assert_eq!(values(&v, "\\x a"), ["auto"]);
    }
}
