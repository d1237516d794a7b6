//! The interactive `kpi sql` shell on a terminal: a line editor that knows the session
//! ([`editor`], [`complete`]), meta commands ([`meta`]), results laid out for the terminal
//! ([`display`], [`pager`]), a spinner and Ctrl-C for long queries ([`progress`]), and errors
//! that point at the statement ([`errors`]).
//!
//! Statements run on the session this shell is given, which keeps its settings and the
//! tables it created for the whole run; a failing or cancelled statement leaves it as it was.

mod complete;
mod display;
mod editor;
mod errors;
mod meta;
mod pager;
mod progress;
mod run;
mod syntax;
pub mod terminal;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono_tz::Tz;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use reedline::Signal;

use crate::calendar::CalendarRegistry;
use crate::session::Session;
use crate::shell::Format;

pub use display::Expanded;
pub use editor::history_path;
pub use meta::{Command, COMMANDS};

/// What the shell does after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// How the statements of one input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Done,
    Failed,
    /// Ctrl-C stopped one.
    Cancelled,
}

/// The shell's own settings, changed by meta commands.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `\timing`: the elapsed time after each result.
    pub timing: bool,
    /// `\format`
    pub format: Format,
    /// `\x`
    pub expanded: Expanded,
    /// The pager command; `None`: off.
    pub pager: Option<String>,
    /// `\maxrows`: rows of a result kept for the screen.
    pub max_rows: usize,
    /// Where results go instead of the screen.
    pub out: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timing: false,
            format: Format::Table,
            expanded: Expanded::Auto,
            pager: Some(pager::default_command()),
            max_rows: 1_000,
            out: None,
        }
    }
}

/// Errors that end the shell (not those of statements, which it reports and survives).
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    /// The terminal could not be read.
    #[error("cannot read the terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// Ctrl-C could not be taken over from the default (which ends the process).
    #[error("cannot handle Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// An interactive shell over a session.
pub struct Shell {
    session: Session,
    workspace: String,
    calendars: Arc<CalendarRegistry>,
    /// The time zone of quarters (`\kpi NAME QUARTER`).
    zone: Tz,
    vocabulary: Arc<complete::Vocabulary>,
    settings: Settings,
    /// The last SQL input, for `\e`.
    last: Option<String>,
    /// The `\i` files being run, outermost first (to refuse a file that includes itself).
    including: Vec<PathBuf>,
    colour: bool,
    /// Whether errors (on standard error) are coloured.
    error_colour: bool,
    /// The runtime statements run on (see [`Shell::cancellable`]); none if it could not be
    /// started, and then statements run on the caller's.
    queries: Option<tokio::runtime::Runtime>,
}

impl Drop for Shell {
    fn drop(&mut self) {
        // A runtime cannot be dropped where blocking is not allowed (inside the caller's).
        if let Some(queries) = self.queries.take() {
            queries.shutdown_background();
        }
    }
}

impl Shell {
    /// A shell over `session`; `workspace` names it in the banner and the prompt.
    pub fn new(
        session: Session,
        workspace: &str,
        calendars: Arc<CalendarRegistry>,
        zone: Tz,
    ) -> Shell {
        let names = calendars.names().map(str::to_string).collect();
        let vocabulary = Arc::new(complete::Vocabulary::new(&session, names, zone));
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let error_colour =
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Shell {
            session,
            workspace: workspace.to_string(),
            calendars,
            zone,
            vocabulary,
            settings: Settings::default(),
            last: None,
            including: Vec::new(),
            colour,
            error_colour,
            queries: query_runtime(),
        }
    }

    /// The shell's settings, to start from other than the defaults.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The one-line banner: the workspace, its tables, how to get help.
    pub fn banner(&self) -> String {
        let mut tables = self.vocabulary.tables();
        // What most questions start from first.
        const FIRST: [&str; 4] = ["tickets", "ticket_sla", "ticket_events", "kpi_results"];
        tables.sort_by_key(|t| {
            (
                FIRST.iter().position(|f| f == t).unwrap_or(FIRST.len()),
                t.clone(),
            )
        });
        let (width, _) = self.terminal_size();
        let head = format!(
            "kpi {} · workspace {} · tables: ",
            env!("CARGO_PKG_VERSION"),
            self.workspace
        );
        let tail = " · \\? for help, \\q to quit";
        // As many table names as fit one line, then how many more there are.
        let mut shown = tables.len();
        let line = |shown: usize| {
            let more = match tables.len() - shown {
                0 => String::new(),
                n if shown == 0 => format!("{n} (\\d lists them)"),
                n => format!(", +{n} more"),
            };
            format!("{head}{}{more}{tail}", tables[..shown].join(", "))
        };
        while shown > 0 && line(shown).chars().count() > width {
            shown -= 1;
        }
        line(shown)
    }

    /// Read and run inputs until `\q`, `exit` or Ctrl-D.
    pub async fn run(mut self) -> Result<(), ReplError> {
        let (mut editor, warning) = editor::build(Arc::clone(&self.vocabulary), self.colour);
        let prompt = editor::ShellPrompt {
            workspace: self.workspace.clone(),
        };
        // From now on Ctrl-C outside the editor is the shell's to handle (it cancels what
        // runs; see `run_sql`), never the end of the process.
        let _interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(ReplError::Signal)?;
        println!("{}", self.banner());
        if let Some(warning) = warning {
            self.note(&format!("warning: {warning}"));
        }
        loop {
            // The editor blocks its thread; completion may wait on the runtime for a schema.
            let signal = tokio::task::block_in_place(|| editor.read_line(&prompt))?;
            let flow = match signal {
                Signal::Success(text) => self.input(&text).await,
                Signal::CtrlD => Flow::Quit,
                // Ctrl-C at the prompt drops the line being typed, as in psql.
                _ => Flow::Continue,
            };
            if flow == Flow::Quit {
                break;
            }
        }
        let _ = editor.sync_history();
        Ok(())
    }

    /// Run one input: a meta command, `exit`/`quit`, or SQL statements.
    pub async fn input(&mut self, text: &str) -> Flow {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Flow::Continue;
        }
        if syntax::is_exit(trimmed) {
            return Flow::Quit;
        }
        if trimmed.starts_with('\\') {
            return self.meta(trimmed).await;
        }
        self.last = Some(trimmed.to_string());
        self.run_sql(text).await;
        Flow::Continue
    }

    /// Run the statements of `sql` in order, stopping at the first that fails or is
    /// cancelled (Ctrl-C).
    async fn run_sql(&mut self, sql: &str) -> Ran {
        let statements = match DFParser::parse_sql_with_dialect(sql, &GenericDialect {}) {
            Ok(statements) => statements,
            Err(e) => {
                self.report(e, sql, None);
                return Ran::Failed;
            }
        };
        let of = statements.len();
        let mut ran = Ran::Done;
        for (i, statement) in statements.into_iter().enumerate() {
            let started = Instant::now();
            match self.statement(statement, started).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    self.report(e, sql, (of > 1).then_some((i + 1, of)));
                    ran = Ran::Failed;
                    break;
                }
                None => {
                    self.error(
                        &format!("cancelled after {:.1} s", started.elapsed().as_secs_f64()),
                        None,
                    );
                    ran = Ran::Cancelled;
                    break;
                }
            }
        }
        self.vocabulary.refresh();
        ran
    }

    /// Plan, run and show one statement; `None` when Ctrl-C cancelled it.
    async fn statement(
        &mut self,
        statement: Statement,
        started: Instant,
    ) -> Option<Result<(), DataFusionError>> {
        let wanted = run::Wanted {
            format: self.settings.format,
            expanded: self.settings.expanded,
            max_rows: self.settings.max_rows,
            width: self.terminal_size().0,
            out: self.settings.out.clone(),
        };
        let progress = progress::Progress::new();
        let work = run::execute(
            self.session.clone(),
            statement,
            wanted,
            started,
            progress.clone(),
        );
        let done = self.cancellable(work).await;
        progress.stop();
        let outcome = match done? {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => return Some(Err(e)),
            Err(panic) => return Some(Err(DataFusionError::Internal(panic))),
        };
        match outcome {
            run::Outcome::Done => {
                if self.settings.timing {
                    self.note(&format!("done in {}", elapsed(started)));
                }
            }
            run::Outcome::Written { rows, file } => {
                self.note(&format!("wrote {rows} rows to {}", file.display()));
                self.footer(rows, started);
            }
            run::Outcome::Text { text, rows } => {
                self.page(&text);
                self.footer(rows, started);
            }
        }
        Some(Ok(()))
    }

    /// Run `work` on the query runtime until it ends, panics (an error message) or Ctrl-C
    /// cancels it (`None`). The
    /// shell's own runtime stays free while a query keeps every core busy, so Ctrl-C and the
    /// spinner answer at once; a cancelled query is dropped at its next yield.
    pub(super) async fn cancellable<T: Send + 'static>(
        &mut self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Option<Result<T, String>> {
        let Some(queries) = &self.queries else {
            return Some(Ok(work.await));
        };
        let _quiet = terminal::Unechoed::new();
        let mut job = queries.spawn(work);
        tokio::select! {
            biased;
            done = &mut job => match done {
                Ok(value) => Some(Ok(value)),
                // A bug, not the user's doing: said, and the shell goes on.
                Err(e) if e.is_panic() => {
                    let panic = e.into_panic();
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Some(Err(format!("internal error (please report it): {what}")))
                }
                Err(_) => None,
            },
            _ = tokio::signal::ctrl_c() => {
                job.abort();
                // An operator that does not yield keeps its thread until it does: leave it
                // to finish on the old runtime, and run what comes next on a new one.
                if let Some(old) = std::mem::replace(&mut self.queries, query_runtime()) {
                    old.shutdown_background();
                }
                None
            }
        }
    }

    /// Show a small result (of a meta command) as the shell shows query results.
    fn show_batch(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let mut grid = display::Grid::new(&batch.schema());
        grid.push(batch, usize::MAX).map_err(|e| e.to_string())?;
        let (width, _) = self.terminal_size();
        let text = grid.render(width, self.settings.expanded, 0);
        self.page(&text);
        Ok(())
    }

    /// `3 rows`, with the elapsed time when `\timing` is on.
    fn footer(&mut self, rows: usize, started: Instant) {
        let mut line = format!(
            "{} row{}",
            progress::thousands(rows),
            if rows == 1 { "" } else { "s" }
        );
        if self.settings.timing {
            line.push_str(&format!(" in {}", elapsed(started)));
        }
        self.print(&format!("{line}\n"));
    }

    /// Print `text` on standard output, through the pager when it is on and `text` does not
    /// fit the terminal.
    fn page(&mut self, text: &str) {
        let (columns, rows) = self.terminal_size();
        if let Some(command) = &self.settings.pager {
            if std::io::stdout().is_terminal() && pager::needed(text, rows, columns) {
                match tokio::task::block_in_place(|| pager::show(command, text)) {
                    Ok(()) => return,
                    Err(e) => self.note(&format!(
                        "warning: cannot start the pager '{command}': {e}; \\pager off turns it off"
                    )),
                }
            }
        }
        self.print(text);
    }

    fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A message about the shell itself, on standard error.
    fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    /// An error on standard error, with a caret under `at` (a byte range of `sql`).
    fn error(&self, message: &str, at: Option<(&str, (usize, usize))>) {
        let label = if self.error_colour {
            "\x1b[1;31merror:\x1b[0m"
        } else {
            "error:"
        };
        eprintln!("{label} {message}");
        if let Some((sql, at)) = at {
            eprintln!("{}", errors::caret(sql, at));
        }
    }

    /// Report the error of running `sql` (statement `index` of `of` when several).
    fn report(&self, err: DataFusionError, sql: &str, index: Option<(usize, usize)>) {
        let tables = self.vocabulary.tables();
        let functions = self.vocabulary.function_names();
        let explained = errors::explain(
            &self.session.explain_error(err),
            sql,
            &errors::Known {
                tables: &tables,
                functions: &functions,
            },
        );
        let message = match index {
            Some((i, of)) => format!("statement {i} of {of}: {}", explained.message),
            None => explained.message,
        };
        self.error(&message, explained.at.map(|at| (sql, at)));
    }

    /// The terminal's width and height (of standard output); a wide default elsewhere.
    fn terminal_size(&self) -> (usize, usize) {
        match crossterm::terminal::size() {
            Ok((w, h)) if w > 0 && h > 0 && std::io::stdout().is_terminal() => {
                (usize::from(w), usize::from(h))
            }
            _ => (usize::MAX / 4, usize::MAX / 4),
        }
    }
}

/// The runtime statements run on.
fn query_runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("kpi-query")
        .enable_all()
        .build()
        .ok()
}

fn elapsed(started: Instant) -> String {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
