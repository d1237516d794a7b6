//! The workspace configuration file, `kpi.toml`: parsed strictly (unknown keys are errors) and
//! validated into typed values before anything else runs. Every error names the file, the line
//! and column, the key and the offending value.
//!
//! This module turns text into [`Config`]; it knows the calendar model but not DataFusion.

mod calendars;
mod error;
mod formats;
pub mod server;
pub mod sla;
pub mod sources;
pub mod targets;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::calendar::Calendar;

pub use error::ConfigError;
pub use formats::{format_duration, format_size, parse_duration, parse_size, TimestampFormat};
pub use server::{ServerConfig, TlsFiles};
pub use sla::{ResolutionStop, SlaConfig, SlaPolicy};
pub use sources::{ColumnRef, CsvOptions, InputFormat, Shape, SourceMapping, TimestampRange};
pub use targets::{Baseline, KpiTarget, Ramp, ReviewConfig, TargetsConfig};

/// The configuration file name that marks a folder as a workspace.
pub const CONFIG_FILE: &str = "kpi.toml";

/// A validated workspace configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `kpi.toml` this was read from.
    pub path: PathBuf,
    /// The workspace folder; relative paths in the file are relative to it.
    pub root: PathBuf,
    /// The calendar used when a business-time function gets no calendar argument.
    pub default_calendar: Option<String>,
    /// Folder of the ingested tables.
    pub data_dir: PathBuf,
    /// Folder of the saved KPI queries.
    pub queries_dir: PathBuf,
    /// The calendars, in file order.
    pub calendars: Vec<Calendar>,
    /// The export mappings (`[sources.NAME]`), in file order.
    pub sources: Vec<SourceMapping>,
    /// The SLA policies (`[sla]`, `[[sla.policies]]`).
    pub sla: SlaConfig,
    /// The memory queries may use before they spill to disk (`memory_limit = "2G"`), in bytes;
    /// `None`: unlimited. `--memory-limit` and `KPI_MEMORY_LIMIT` override it.
    pub memory_limit: Option<usize>,
    /// The progressive targets (`[targets]`).
    pub targets: TargetsConfig,
    /// Where the review writes (`[review]`).
    pub review: ReviewConfig,
    /// How `kpi serve` listens and limits its clients (`[server]`).
    pub server: ServerConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_calendar: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
    queries_dir: Option<Spanned<String>>,
    memory_limit: Option<Spanned<toml::Value>>,
    #[serde(default)]
    calendars: BTreeMap<String, Spanned<calendars::RawCalendar>>,
    #[serde(default)]
    sources: BTreeMap<String, Spanned<sources::RawSource>>,
    sla: Option<Spanned<sla::RawSla>>,
    targets: Option<Spanned<targets::RawTargets>>,
    review: Option<Spanned<targets::RawReview>>,
    server: Option<Spanned<server::RawServer>>,
}

impl Config {
    /// Read and validate a `kpi.toml`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Validate the text of a `kpi.toml` located at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let ctx = Source { path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;

        let mut calendars = Vec::with_capacity(raw.calendars.len());
        // File order reads better in listings than alphabetical order.
        let mut ordered: Vec<_> = raw.calendars.iter().collect();
        ordered.sort_by_key(|(_, c)| c.span().start);
        for (name, raw_calendar) in ordered {
            calendars.push(calendars::build(&ctx, &root, name, raw_calendar)?);
        }

        let mut ordered: Vec<_> = raw.sources.iter().collect();
        ordered.sort_by_key(|(_, s)| s.span().start);
        let sources = ordered
            .into_iter()
            .map(|(name, raw_source)| sources::build(&ctx, name, raw_source))
            .collect::<Result<Vec<_>, _>>()?;

        let default_calendar = match raw.default_calendar {
            Some(name) => {
                if !calendars.iter().any(|c| c.name() == name.get_ref()) {
                    let known: Vec<&str> = calendars.iter().map(Calendar::name).collect();
                    return Err(ctx.invalid(
                        name.span(),
                        "default_calendar",
                        unknown_calendar(name.get_ref(), &known),
                    ));
                }
                Some(name.into_inner())
            }
            None => None,
        };
        let names: Vec<&str> = calendars.iter().map(Calendar::name).collect();
        let sla = sla::build(&ctx, raw.sla.as_ref(), &names, default_calendar.as_deref())?;
        let memory_limit = match &raw.memory_limit {
            Some(value) => {
                let text = match value.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    other => other.to_string(),
                };
                Some(parse_size(&text).map_err(|e| ctx.invalid(value.span(), "memory_limit", e))?)
            }
            None => None,
        };
        let targets = targets::build(&ctx, raw.targets.as_ref())?;
        let review = targets::build_review(raw.review.as_ref(), &root);
        let server = server::build(&ctx, raw.server.as_ref(), &root, memory_limit)?;
        let dir = |value: Option<Spanned<String>>, default: &str| {
            root.join(value.map_or_else(|| default.to_string(), Spanned::into_inner))
        };
        Ok(Config {
            path: path.to_path_buf(),
            data_dir: dir(raw.data_dir, "data"),
            queries_dir: dir(raw.queries_dir, "queries"),
            root,
            default_calendar,
            calendars,
            sources,
            sla,
            memory_limit,
            targets,
            review,
            server,
        })
    }
}

/// The message for a calendar name that `known` lacks.
fn unknown_calendar(name: &str, known: &[&str]) -> String {
    format!(
        "unknown calendar '{name}'; known: {}",
        if known.is_empty() {
            "none (define [calendars.NAME])".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// The file being validated, to turn byte spans into `file:line:column` errors.
pub(crate) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, column)
    }

    pub(crate) fn invalid(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Names of calendars and sources: letters, digits, `-`, `_` and `.`, so that they can be
    /// written in SQL strings and on the command line without quoting.
    pub(crate) fn check_name(
        &self,
        span: Range<usize>,
        table: &str,
        what: &str,
        name: &str,
    ) -> Result<(), ConfigError> {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            return Ok(());
        }
        Err(self.invalid(
            span,
            &format!("{table}.{name}"),
            format!("invalid {what} name '{name}' (use letters, digits, '-', '_' or '.')"),
        ))
    }

    fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let key = self.table_at(span.start);
        self.invalid(span, &key, err.message().trim())
    }

    /// The `[table]` header in force at a byte offset ("" at the top level).
    fn table_at(&self, offset: usize) -> String {
        self.text[..offset.min(self.text.len())]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
