//! The line editor (reedline): history in the user's data folder, Ctrl-R search, statements
//! that continue until they end with `;` ([`syntax::is_complete`]), highlighting, the hint of
//! what closes an unbalanced statement, and the completion menu on Tab.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use nu_ansi_term::{Color, Style};
use reedline::{
    default_emacs_keybindings, DescriptionMode, Emacs, FileBackedHistory, Hinter, History, IdeMenu,
    KeyCode, KeyModifiers, MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch,
    PromptHistorySearchStatus, Reedline, ReedlineEvent, ReedlineMenu, StyledText, ValidationResult,
    Validator,
};

use super::complete::{SessionCompleter, Vocabulary};
use super::syntax::{self, Class};

/// Statements kept in the history file.
const HISTORY_SIZE: usize = 10_000;

/// Where the history is kept: `$XDG_DATA_HOME/kpi/history`, else
/// `$HOME/.local/share/kpi/history` — never the working directory.
pub fn history_path() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
        })?;
    Some(data.join("kpi").join("history"))
}

/// The editor, and a warning when the history cannot be kept in its file.
pub fn build(vocabulary: Arc<Vocabulary>, colour: bool) -> (Reedline, Option<String>) {
    let mut warning = None;
    let history: Box<dyn History> = match history_path() {
        Some(path) => {
            let file = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    FileBackedHistory::with_file(HISTORY_SIZE, path.clone())
                        .map_err(|e| e.to_string())
                });
            match file {
                Ok(history) => Box::new(history),
                Err(e) => {
                    warning = Some(format!(
                        "history is not saved: cannot use {}: {e}",
                        path.display()
                    ));
                    memory_history()
                }
            }
        }
        None => {
            warning = Some("history is not saved: neither XDG_DATA_HOME nor HOME is set".into());
            memory_history()
        }
    };
    let mut keybindings = default_emacs_keybindings();
    keybindings.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let menu = IdeMenu::default()
        .with_name("completion_menu")
        .with_max_completion_height(12)
        .with_description_mode(DescriptionMode::PreferRight)
        .with_max_description_width(60);
    let ours = vocabulary
        .functions
        .iter()
        .filter(|f| f.ours)
        .map(|f| f.name.clone())
        .collect();
    let editor = Reedline::create()
        .with_history(history)
        .with_completer(Box::new(SessionCompleter(vocabulary)))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_edit_mode(Box::new(Emacs::new(keybindings)))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_highlighter(Box::new(SqlHighlighter { ours }))
        .with_hinter(Box::new(ClosingHinter::default()))
        .with_validator(Box::new(StatementValidator))
        .with_ansi_colors(colour);
    (editor, warning)
}

fn memory_history() -> Box<dyn History> {
    Box::new(FileBackedHistory::new(HISTORY_SIZE).unwrap_or_default())
}

/// `kpi:WORKSPACE> `, and `…> ` under it while a statement continues.
pub struct ShellPrompt {
    /// The workspace's name.
    pub workspace: String,
}

impl Prompt for ShellPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Owned(format!("kpi:{}", self.workspace))
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("> ")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        let width = self.workspace.chars().count() + 4;
        Cow::Owned(format!("{}…> ", " ".repeat(width.saturating_sub(1))))
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let state = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({state}search: {}) ", search.term))
    }
}

/// Whether the input is ready to run.
struct StatementValidator;

impl Validator for StatementValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        if syntax::is_complete(line) {
            ValidationResult::Complete
        } else {
            ValidationResult::Incomplete
        }
    }
}

/// Keywords, strings, numbers, comments and the business-time functions in colour.
struct SqlHighlighter {
    ours: Vec<String>,
}

impl reedline::Highlighter for SqlHighlighter {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        let mut text = StyledText::new();
        for (class, piece) in syntax::classify(line, &self.ours) {
            let style = match class {
                Class::Plain => Style::new(),
                Class::Keyword => Color::Blue.bold(),
                Class::OurFunction => Color::Magenta.bold(),
                Class::String => Style::new().fg(Color::Green),
                Class::Number => Style::new().fg(Color::Yellow),
                Class::Comment => Style::new().fg(Color::DarkGray),
                Class::Meta => Style::new().fg(Color::Cyan),
            };
            text.push((style, piece));
        }
        text
    }
}

/// The closing quote and parentheses of an unbalanced statement, shown dimmed after the
/// cursor; → accepts it.
#[derive(Default)]
struct ClosingHinter {
    hint: String,
}

impl Hinter for ClosingHinter {
    fn handle(
        &mut self,
        line: &str,
        pos: usize,
        _history: &dyn History,
        use_ansi_coloring: bool,
        _cwd: &str,
    ) -> String {
        let closing = syntax::closing(line);
        self.hint = if pos == line.len() && closing.len() > 1 {
            closing
        } else {
            String::new()
        };
        if use_ansi_coloring && !self.hint.is_empty() {
            Color::DarkGray.paint(&self.hint).to_string()
        } else {
            self.hint.clone()
        }
    }

    fn complete_hint(&self) -> String {
        self.hint.clone()
    }

    fn next_hint_token(&self) -> String {
        self.hint.clone()
    }
}
