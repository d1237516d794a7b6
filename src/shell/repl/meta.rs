//! The shell's meta commands (`\d`, `\df`, `\kpi`, `\cal`, `\sla`, `\o`, …): their list, as
//! `\?` prints it and completion offers it, and what each does.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::config::ConfigOptions;

use super::display::Expanded;
use super::{Flow, Ran, Shell};
use crate::calendar::Quarter;
use crate::catalog::locale::Lang;
use crate::catalog::{run_kpi, Period};
use crate::names;
use crate::session::{Session, TableInfo};
use crate::shell::Format;

/// A meta command: its name, arguments and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// `\d`
    pub name: &'static str,
    /// `[NAME]`
    pub args: &'static str,
    /// What it does, one line.
    pub help: &'static str,
}

const fn command(name: &'static str, args: &'static str, help: &'static str) -> Command {
    Command { name, args, help }
}

/// Every meta command, in the order `\?` lists them.
pub const COMMANDS: &[Command] = &[
    command("\\?", "", "list these commands"),
    command("\\d", "[NAME]", "tables and views with row counts; with NAME, its columns (and a Delta table's version and files)"),
    command("\\df", "[PATTERN]", "functions whose name contains PATTERN, with documentation and an example; ours first"),
    command("\\kpi", "[NAME [QUARTER]]", "the KPI catalog; with NAME, run that KPI for QUARTER (default: the current quarter, to date)"),
    command("\\cal", "[NAME [FROM TO]]", "a calendar's business hours and holidays by day (default: the default calendar, this week and next)"),
    command("\\sla", "TICKET [SOURCE]", "one ticket's SLA timeline: status stays, pauses, clocks and due times (SOURCE: its source system, when ids repeat across sources)"),
    command("\\timing", "[on|off]", "show the rows and elapsed time of each statement"),
    command("\\format", "FMT", "result format: table, csv, json or ndjson"),
    command("\\x", "[on|off|auto]", "expanded rows, one line per column (auto: when a table is too wide)"),
    command("\\o", "[FILE]", "write each result to FILE (csv, json, ndjson or parquet by extension; replaced by each result); alone: back to the screen"),
    command("\\i", "FILE", "run the statements and commands of FILE"),
    command("\\set", "[NAME VALUE]", "change a session setting such as kpi.as_of; alone: list the settings"),
    command("\\e", "", "edit the last statement in $EDITOR, then run it"),
    command("\\pager", "[on|off|COMMAND]", "page long results through $PAGER (default: less -SRFX)"),
    command("\\maxrows", "N", "show at most N rows of a result; the rest are counted"),
    command("\\q", "", "quit (also Ctrl-D, exit or quit)"),
];

/// The formats `\format` accepts.
pub const FORMATS: &[&str] = &["table", "csv", "json", "ndjson"];

/// The session's settings: the `kpi.*` ones first, then DataFusion's.
pub fn settings(session: &Session) -> Vec<(String, String)> {
    let state = session.context().state();
    let mut entries: Vec<(String, String)> = state
        .config()
        .options()
        .entries()
        .into_iter()
        .map(|e| (e.key, e.value.unwrap_or_else(|| "(unset)".into())))
        .collect();
    entries.sort_by_key(|(k, _)| (!k.starts_with("kpi."), k.clone()));
    entries
}

/// The settings `\set` lists: the `kpi.*` ones, and DataFusion's that differ from its
/// defaults (`SHOW ALL` lists every one).
fn changed_settings(session: &Session) -> Vec<(String, String)> {
    let defaults: std::collections::HashMap<String, Option<String>> = ConfigOptions::default()
        .entries()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
    settings(session)
        .into_iter()
        .filter(|(k, v)| {
            k.starts_with("kpi.")
                || defaults
                    .get(k)
                    .is_some_and(|d| d.as_deref().unwrap_or("(unset)") != v)
        })
        .collect()
}

/// `\cmd arg …`: the command and its arguments (single quotes keep spaces in one argument).
fn split(line: &str) -> (String, Vec<String>) {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.trim().chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(current);
    }
    let name = if words.is_empty() {
        String::new()
    } else {
        words.remove(0)
    };
    (name, words)
}

fn on_off(args: &[String], current: bool) -> Result<bool, String> {
    match args.first().map(String::as_str) {
        None => Ok(!current),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(format!("expected on or off, got '{other}'")),
    }
}

/// A table of text columns from its rows.
fn text_batch(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Result<RecordBatch, String> {
    let by_column =
        (0..columns.len()).map(|i| rows.iter().map(|r| r.get(i).cloned().flatten()).collect());
    crate::shell::kpi::text_batch(columns, by_column).map_err(|e| e.to_string())
}

impl Shell {
    /// Run one meta command line.
    pub(super) async fn meta(&mut self, line: &str) -> Flow {
        let (name, args) = split(line);
        let result = match name.as_str() {
            "\\q" => return Flow::Quit,
            "\\?" => {
                self.help();
                Ok(())
            }
            "\\d" => self.describe(args.first().map(String::as_str)).await,
            "\\df" => {
                self.functions(args.first().map(String::as_str));
                Ok(())
            }
            "\\kpi" => self.kpi(&args).await,
            "\\cal" => self.calendar(&args),
            "\\sla" => self.sla(&args).await,
            "\\timing" => on_off(&args, self.settings.timing).map(|on| {
                self.settings.timing = on;
                self.note(&format!("timing is {}", if on { "on" } else { "off" }));
            }),
            "\\format" => self.format(&args),
            "\\x" => self.expanded(&args),
            "\\o" => {
                self.settings.out = args.first().map(PathBuf::from);
                match &self.settings.out {
                    Some(file) => self.note(&format!("results go to {}", file.display())),
                    None => self.note("results go to the screen"),
                }
                Ok(())
            }
            "\\i" => match args.first() {
                Some(file) => Box::pin(self.include(file)).await,
                None => Err("\\i needs a FILE".into()),
            },
            "\\set" => self.set(&args),
            "\\e" => Box::pin(self.edit()).await,
            "\\pager" => self.pager(&args),
            "\\maxrows" => match args.first().map(|n| n.parse::<usize>()) {
                Some(Ok(n)) if n > 0 => {
                    self.settings.max_rows = n;
                    self.note(&format!("at most {n} rows are shown"));
                    Ok(())
                }
                Some(_) => Err(format!(
                    "\\maxrows needs a number of rows above 0, got '{}'",
                    args[0]
                )),
                None => {
                    self.note(&format!(
                        "at most {} rows are shown",
                        self.settings.max_rows
                    ));
                    Ok(())
                }
            },
            other => Err(format!(
                "unknown command {other}{} (\\? lists them)",
                names::closest(other, COMMANDS.iter().map(|c| c.name))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default()
            )),
        };
        if let Err(message) = result {
            self.error(&message, None);
        }
        Flow::Continue
    }

    fn help(&mut self) {
        let width = COMMANDS
            .iter()
            .map(|c| c.name.len() + c.args.len() + 1)
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for c in COMMANDS {
            let usage = format!("{} {}", c.name, c.args);
            text.push_str(&format!("  {usage:width$}  {}\n", c.help));
        }
        text.push_str(
            "\nSQL statements end with ';' and may span lines. Tab completes tables, columns, \
             functions, calendars and files; Ctrl-R searches the history; Ctrl-C cancels a \
             running query; Ctrl-D quits.\n",
        );
        self.page(&text);
    }

    async fn describe(&mut self, name: Option<&str>) -> Result<(), String> {
        let Some(name) = name else {
            let mut rows = Vec::new();
            let mut counts = Vec::new();
            for table in self.vocabulary.tables() {
                let info = self.session.table_info(&table).await;
                counts.push(info.rows.and_then(|r| u64::try_from(r).ok()));
                rows.push(vec![Some(table), Some(info.kind.to_string())]);
            }
            let names = text_batch(&["name", "kind"], rows)?;
            let mut fields = names.schema().fields().to_vec();
            fields.push(Arc::new(Field::new("rows", DataType::UInt64, true)));
            let mut columns = names.columns().to_vec();
            columns.push(Arc::new(UInt64Array::from(counts)));
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| e.to_string())?;
            self.show_batch(&batch)?;
            self.print("rows: from the Delta log's statistics; views and computed tables are counted only when queried\n");
            return Ok(());
        };
        let provider = self
            .session
            .context()
            .table_provider(TableReference::bare(name))
            .await
            .map_err(|e| {
                match names::closest(name, self.vocabulary.tables().iter().map(String::as_str)) {
                    Some(t) => format!("no table or view '{name}'; did you mean '{t}'?"),
                    None => format!("no table or view '{name}': {}", e.strip_backtrace()),
                }
            })?;
        let info: TableInfo = self.session.table_info(name).await;
        let mut title = format!("{} {name}", info.kind);
        if let Some(version) = info.version {
            title.push_str(&format!(
                " · Delta version {version} · {} file{}",
                info.files.unwrap_or(0),
                if info.files == Some(1) { "" } else { "s" }
            ));
        }
        if let Some(rows) = info.rows {
            title.push_str(&format!(" · {rows} rows"));
        }
        self.print(&format!("{title}\n"));
        let rows = provider
            .schema()
            .fields()
            .iter()
            .map(|f| {
                vec![
                    Some(f.name().clone()),
                    Some(f.data_type().to_string()),
                    Some(if f.is_nullable() { "yes" } else { "no" }.to_string()),
                ]
            })
            .collect();
        self.show_batch(&text_batch(&["column", "type", "nullable"], rows)?)
    }

    fn functions(&mut self, pattern: Option<&str>) {
        let pattern = pattern.map(str::to_lowercase);
        let mut text = String::new();
        let mut shown = 0;
        for f in &self.vocabulary.functions {
            if pattern
                .as_ref()
                .is_some_and(|p| !f.name.to_lowercase().contains(p))
            {
                continue;
            }
            shown += 1;
            text.push_str(&format!(
                "{}  ({}{})\n",
                f.signature(),
                f.kind,
                if f.ours { ", business time" } else { "" }
            ));
            if let Some(doc) = &f.doc {
                let description = f.description();
                text.push_str(&format!("    {description}\n"));
                if let Some(example) = &doc.sql_example {
                    for line in example.trim_matches('\n').lines() {
                        let line = line.trim_start_matches("```sql").trim_start_matches("```");
                        if !line.trim().is_empty() {
                            text.push_str(&format!("    {line}\n"));
                        }
                    }
                }
            }
            text.push('\n');
        }
        if shown == 0 {
            self.error(
                &format!(
                    "no function's name contains '{}'",
                    pattern.unwrap_or_default()
                ),
                None,
            );
            return;
        }
        text.push_str(&format!(
            "{shown} function{}\n",
            if shown == 1 { "" } else { "s" }
        ));
        self.page(&text);
    }

    async fn kpi(&mut self, args: &[String]) -> Result<(), String> {
        let catalog = self.session.catalog().map_err(|e| e.to_string())?;
        let Some(name) = args.first() else {
            let batch = crate::shell::kpi::catalog_batch(&catalog).map_err(|e| e.to_string())?;
            return self.show_batch(&batch);
        };
        let kpi = catalog.get(name).map_err(|e| e.to_string())?;
        let as_of = self.session.options().as_of.unwrap_or_else(Utc::now);
        let quarter = match args.get(1) {
            Some(q) => Quarter::parse(q).map_err(|e| e.to_string())?,
            None => Quarter::at(as_of, &self.zone),
        };
        let period = Period::quarter(quarter, &self.zone);
        let started = std::time::Instant::now();
        let (session, running) = (self.session.clone(), Arc::clone(kpi));
        let result = self
            .cancellable(async move {
                run_kpi(
                    session.context(),
                    &running,
                    &period,
                    as_of.timestamp_micros(),
                )
                .await
            })
            .await
            .ok_or("cancelled (Ctrl-C)")??
            .map_err(|e| e.to_string())?;
        let batch = crate::shell::kpi::display_batch(std::slice::from_ref(&result), None, Lang::En)
            .map_err(|e| e.to_string())?;
        self.print(&format!("{} · {quarter}\n", kpi.name()));
        self.show_batch(&batch)?;
        self.footer(batch.num_rows(), started);
        Ok(())
    }

    fn calendar(&mut self, args: &[String]) -> Result<(), String> {
        let registry = Arc::clone(&self.calendars);
        let name = registry
            .resolve(args.first().map(String::as_str))
            .map_err(|e| e.to_string())?;
        let calendar = registry.calendar(name).map_err(|e| e.to_string())?;
        let date = |text: &String| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("invalid date '{text}' (expected YYYY-MM-DD)"))
        };
        let (from, to) = match (args.get(1), args.get(2)) {
            (Some(from), Some(to)) => (date(from)?, date(to)?),
            (Some(_), None) => return Err("give both FROM and TO, or neither".into()),
            _ => {
                let now = self.session.options().as_of.unwrap_or_else(Utc::now);
                let today = now.with_timezone(&calendar.timezone()).date_naive();
                let monday =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (monday, monday + Duration::days(13))
            }
        };
        let days = crate::shell::calendar::days(calendar, from, to).map_err(|e| e.to_string())?;
        let total: f64 = days.iter().map(|d| d.hours).sum();
        let rows = days
            .into_iter()
            .map(|d| {
                vec![
                    Some(d.date.to_string()),
                    Some(d.date.format("%a").to_string()),
                    Some(d.intervals),
                    Some(format!("{:.2}", d.hours)),
                    d.holiday,
                ]
            })
            .collect();
        self.print(&format!(
            "calendar {name} ({})\n",
            calendar.timezone().name()
        ));
        self.show_batch(&text_batch(
            &["date", "day", "business hours (local)", "hours", "holiday"],
            rows,
        )?)?;
        self.print(&format!("total: {total:.2} business hours\n"));
        Ok(())
    }

    async fn sla(&mut self, args: &[String]) -> Result<(), String> {
        let Some(ticket) = args.first() else {
            return Err("\\sla needs a TICKET id".into());
        };
        let (session, ticket) = (self.session.clone(), ticket.clone());
        let (source, colour) = (args.get(1).cloned(), self.colour);
        let out = self
            .cancellable(async move {
                let mut out = Vec::new();
                crate::shell::sla::show(&session, &ticket, source.as_deref(), colour, &mut out)
                    .await
                    .map(|()| out)
            })
            .await
            .ok_or("cancelled (Ctrl-C)")??
            .map_err(|e| e.to_string())?;
        self.page(&String::from_utf8_lossy(&out));
        Ok(())
    }

    fn format(&mut self, args: &[String]) -> Result<(), String> {
        let Some(name) = args.first() else {
            return Err(format!("\\format needs one of: {}", FORMATS.join(", ")));
        };
        self.settings.format = match name.as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            other => {
                return Err(format!(
                    "unknown format '{other}'{}",
                    names::hint(other, FORMATS.iter().copied())
                ))
            }
        };
        self.note(&format!("results are shown as {name}"));
        Ok(())
    }

    fn expanded(&mut self, args: &[String]) -> Result<(), String> {
        self.settings.expanded = match args.first().map(String::as_str) {
            None if self.settings.expanded == Expanded::Off => Expanded::On,
            None => Expanded::Off,
            Some("on") => Expanded::On,
            Some("off") => Expanded::Off,
            Some("auto") => Expanded::Auto,
            Some(other) => return Err(format!("expected on, off or auto, got '{other}'")),
        };
        self.note(&format!(
            "expanded rows are {}",
            match self.settings.expanded {
                Expanded::On => "on",
                Expanded::Off => "off",
                Expanded::Auto => "auto (when a table is too wide)",
            }
        ));
        Ok(())
    }

    fn pager(&mut self, args: &[String]) -> Result<(), String> {
        match args.first().map(String::as_str) {
            Some("off") => self.settings.pager = None,
            Some("on") | None => self.settings.pager = Some(super::pager::default_command()),
            Some(_) => self.settings.pager = Some(args.join(" ")),
        }
        match &self.settings.pager {
            Some(command) => self.note(&format!("long results go through {command}")),
            None => self.note("the pager is off"),
        }
        Ok(())
    }

    fn set(&mut self, args: &[String]) -> Result<(), String> {
        if args.is_empty() {
            let mut rows: Vec<Vec<Option<String>>> = vec![
                vec![Some("\\timing".into()), Some(on(self.settings.timing))],
                vec![
                    Some("\\x".into()),
                    Some(format!("{:?}", self.settings.expanded).to_lowercase()),
                ],
                vec![
                    Some("\\pager".into()),
                    Some(self.settings.pager.clone().unwrap_or_else(|| "off".into())),
                ],
                vec![
                    Some("\\maxrows".into()),
                    Some(self.settings.max_rows.to_string()),
                ],
                vec![
                    Some("\\o".into()),
                    Some(
                        self.settings
                            .out
                            .as_ref()
                            .map_or("the screen".into(), |p| p.display().to_string()),
                    ),
                ],
            ];
            rows.extend(
                changed_settings(&self.session)
                    .into_iter()
                    .map(|(k, v)| vec![Some(k), Some(v)]),
            );
            self.show_batch(&text_batch(&["setting", "value"], rows)?)?;
            self.print("SHOW ALL lists every DataFusion setting.\n");
            return Ok(());
        }
        let [name, value] = args else {
            return Err("\\set takes a NAME and a VALUE (quote a value with spaces)".into());
        };
        let known: Vec<String> = ConfigOptions::default()
            .entries()
            .into_iter()
            .map(|e| e.key)
            .chain(settings(&self.session).into_iter().map(|(k, _)| k))
            .collect();
        let state = self.session.context().state_ref();
        // Not while anything else reads the state: the lock is not re-entrant.
        let changed = state.write().config_mut().options_mut().set(name, value);
        changed.map_err(|e| {
            let hint = names::closest(name, known.iter().map(String::as_str))
                .map(|k| format!("; did you mean '{k}'?"))
                .unwrap_or_default();
            format!(
                "cannot set {name} to '{value}': {}{hint}",
                e.strip_backtrace()
            )
        })?;
        self.note(&format!("{name} = {value}"));
        Ok(())
    }

    /// `\e`: the last statement in `$EDITOR`, run when the editor exits successfully.
    async fn edit(&mut self) -> Result<(), String> {
        let text = self.last.clone().unwrap_or_default();
        let temporary = tempfile::Builder::new()
            .prefix("kpi-edit-")
            .suffix(".sql")
            .tempfile()
            .map_err(|e| format!("cannot create a file to edit: {e}"))?;
        let file = temporary.path().to_path_buf();
        std::fs::write(&file, &text)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&file)
            .status()
            .map_err(|e| format!("cannot start the editor '{editor}': {e}"))?;
        let edited = std::fs::read_to_string(&file).unwrap_or_default();
        drop(temporary);
        if !status.success() {
            return Err(format!(
                "the editor '{editor}' failed ({status}); nothing was run"
            ));
        }
        if edited.trim().is_empty() {
            return Ok(());
        }
        self.print(&format!("{}\n", edited.trim_end()));
        self.input(&edited).await;
        Ok(())
    }

    /// `\i FILE`: each line that starts with `\` is a command; everything else is SQL run
    /// statement by statement.
    async fn include(&mut self, file: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
        let path = std::fs::canonicalize(file).unwrap_or_else(|_| PathBuf::from(file));
        if self.including.contains(&path) {
            return Err(format!(
                "\\i {file}: the file includes itself (through {})",
                self.including
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" → ")
            ));
        }
        if self.including.len() >= MAX_INCLUDE_DEPTH {
            return Err(format!(
                "\\i {file}: files include each other more than {MAX_INCLUDE_DEPTH} deep"
            ));
        }
        self.including.push(path);
        let ran = self.include_text(&text).await;
        self.including.pop();
        ran
    }

    async fn include_text(&mut self, text: &str) -> Result<(), String> {
        let mut sql = String::new();
        for line in text.lines() {
            if sql.trim().is_empty() && line.trim_start().starts_with('\\') {
                if self.meta(line).await == Flow::Quit {
                    break;
                }
                continue;
            }
            sql.push_str(line);
            sql.push('\n');
            // Ctrl-C stops the whole file, not only its running statement.
            if super::syntax::is_complete(&sql)
                && self.run_sql(&std::mem::take(&mut sql)).await == Ran::Cancelled
            {
                return Ok(());
            }
        }
        if !sql.trim().is_empty() {
            self.run_sql(&sql).await;
        }
        Ok(())
    }
}

/// How deep `\i` files may include one another.
const MAX_INCLUDE_DEPTH: usize = 16;

fn on(value: bool) -> String {
    if value { "on" } else { "off" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_on_spaces_outside_quotes() {
        assert_eq!(
            split("\\d tickets"),
            ("\\d".into(), vec!["tickets".to_string()])
        );
        assert_eq!(
            split("  \\o 'my results.parquet' "),
            ("\\o".into(), vec!["my results.parquet".to_string()])
        );
        assert_eq!(split("\\q"), ("\\q".into(), vec![]));
    }

    #[test]
    fn every_command_is_documented_once() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
        assert!(COMMANDS.iter().all(|c| !c.help.is_empty()));
        assert_eq!(
            names::closest("\\tming", names.iter().copied()),
            Some("\\timing")
        );
    }
}
