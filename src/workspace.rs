//! Finding and creating workspaces: a folder with a `kpi.toml`.
//!
//! Resolution order: an explicit folder (`--workspace` or `KPI_WORKSPACE`), the current
//! directory when it holds a `kpi.toml`, else the sample workspace bundled with the sources.
//! The bundled workspace is for reading only: commands that write need a workspace that was
//! given or found ([`Workspace::require_writable`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::calendar::CalendarRegistry;
use crate::config::{Config, ConfigError, CONFIG_FILE};

/// The sample workspace shipped with the sources.
pub const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_data");

/// Where the workspace in use came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--workspace DIR` or `KPI_WORKSPACE`.
    Explicit,
    /// The current directory holds a `kpi.toml`.
    CurrentDir,
    /// The bundled sample workspace.
    Bundled,
}

/// Errors in finding or creating a workspace.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The folder named by `--workspace` / `KPI_WORKSPACE` has no `kpi.toml`.
    #[error("{} is not a workspace: it has no {CONFIG_FILE} (create one with `kpi init {}`)", dir.display(), dir.display())]
    NotAWorkspace { dir: PathBuf },
    /// No workspace given, none in the current directory, and the bundled one is missing.
    #[error("no workspace: pass --workspace DIR, set KPI_WORKSPACE, or run in a folder with a {CONFIG_FILE}; the bundled sample workspace is missing (expected at {}: this binary was moved away from its sources), and `kpi init DIR` creates a workspace", bundled.display())]
    NoneFound { bundled: PathBuf },
    /// A command that writes was about to use the bundled sample workspace.
    #[error("{command} writes into a workspace, and none was given or found (no --workspace, no KPI_WORKSPACE, no {CONFIG_FILE} in the current directory); the bundled sample workspace is read-only. Create one with `kpi init DIR`, then run `kpi --workspace DIR {}…` or run it inside DIR", command.trim_start_matches("kpi ").to_string() + " ")]
    ReadOnlySample { command: String },
    /// `kpi init` would overwrite an existing configuration.
    #[error("{} already exists; kpi init never overwrites a workspace", path.display())]
    AlreadyExists { path: PathBuf },
    /// A file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The calendars are inconsistent.
    #[error("{}: {source}", path.display())]
    Calendars {
        path: PathBuf,
        source: crate::calendar::CalendarError,
    },
}

/// A loaded workspace: its validated configuration and its calendars, ready to share.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub config: Config,
    pub origin: Origin,
    pub calendars: Arc<CalendarRegistry>,
}

impl Workspace {
    /// The time zone quarters and dates of KPIs are read in: the default calendar's, else UTC.
    pub fn quarter_zone(&self) -> chrono_tz::Tz {
        self.calendars
            .default_name()
            .and_then(|name| self.calendars.calendar(name).ok())
            .map_or(chrono_tz::UTC, |c| c.timezone())
    }

    /// Find the workspace to use (see the module documentation) and load it.
    pub fn discover(explicit: Option<&Path>) -> Result<Workspace, WorkspaceError> {
        let cwd = std::env::current_dir().ok();
        Workspace::discover_from(explicit, cwd.as_deref(), Path::new(BUNDLED))
    }

    /// [`Workspace::discover`] with the current directory and the bundled workspace given.
    fn discover_from(
        explicit: Option<&Path>,
        cwd: Option<&Path>,
        bundled: &Path,
    ) -> Result<Workspace, WorkspaceError> {
        if let Some(dir) = explicit {
            return Workspace::open(dir, Origin::Explicit);
        }
        if let Some(cwd) = cwd.filter(|cwd| cwd.join(CONFIG_FILE).is_file()) {
            return Workspace::open(cwd, Origin::CurrentDir);
        }
        if bundled.join(CONFIG_FILE).is_file() {
            return Workspace::open(bundled, Origin::Bundled);
        }
        Err(WorkspaceError::NoneFound {
            bundled: bundled.to_path_buf(),
        })
    }

    /// Refuse to let `command` write into the bundled sample workspace.
    pub fn require_writable(&self, command: &str) -> Result<(), WorkspaceError> {
        match self.origin {
            Origin::Bundled => Err(WorkspaceError::ReadOnlySample {
                command: command.to_string(),
            }),
            Origin::Explicit | Origin::CurrentDir => Ok(()),
        }
    }

    /// Load the workspace in `dir`.
    pub fn open(dir: &Path, origin: Origin) -> Result<Workspace, WorkspaceError> {
        let path = dir.join(CONFIG_FILE);
        if !path.is_file() {
            return Err(WorkspaceError::NotAWorkspace {
                dir: dir.to_path_buf(),
            });
        }
        let config = Config::load(&path)?;
        crate::sla::check_conditions(&config)?;
        let calendars =
            CalendarRegistry::new(config.calendars.clone(), config.default_calendar.clone())
                .map_err(|source| WorkspaceError::Calendars {
                    path: path.clone(),
                    source,
                })?;
        Ok(Workspace {
            config,
            origin,
            calendars: Arc::new(calendars),
        })
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        &self.config.root
    }
}

/// The commented starter configuration written by `kpi init`.
pub const STARTER_CONFIG: &str = include_str!("starter_kpi.toml");

/// Create a new workspace in `dir`: a commented `kpi.toml`, and empty `data/`, `queries/` and
/// `holidays/` folders. Never overwrites an existing `kpi.toml`.
pub fn init(dir: &Path) -> Result<PathBuf, WorkspaceError> {
    let path = dir.join(CONFIG_FILE);
    if path.exists() {
        return Err(WorkspaceError::AlreadyExists { path });
    }
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkspaceError::Write { path, source }
    };
    for sub in ["data", "queries", "holidays"] {
        let folder = dir.join(sub);
        std::fs::create_dir_all(&folder).map_err(write_err(&folder))?;
    }
    std::fs::write(&path, STARTER_CONFIG).map_err(write_err(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_valid_starter_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = init(dir.path()).unwrap();
        let ws = Workspace::open(dir.path(), Origin::Explicit).unwrap();
        assert_eq!(ws.config.default_calendar.as_deref(), Some("office"));
        assert!(dir.path().join("queries").is_dir());
        let err = init(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn the_starter_sources_example_is_a_valid_mapping_once_uncommented() {
        let start = STARTER_CONFIG.find("# [sources.desk]").unwrap();
        let block: String = STARTER_CONFIG[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let config = crate::config::Config::parse(Path::new("kpi.toml"), &block)
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        let desk = &config.sources[0];
        assert_eq!(desk.columns.len(), 6, "{block}");
        assert_eq!(desk.values["status"]["Closed-Duplicate"], "skip");
    }

    #[test]
    fn a_folder_without_config_is_not_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let err = Workspace::discover(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a workspace"), "{err}");
    }

    #[test]
    fn a_missing_bundled_workspace_is_named_and_the_sample_is_read_only() {
        let empty = tempfile::tempdir().unwrap();
        let gone = empty.path().join("sample_data");
        let err = Workspace::discover_from(None, Some(empty.path()), &gone)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bundled sample workspace is missing"), "{err}");
        assert!(err.contains(&gone.display().to_string()), "{err}");
        assert!(err.contains("kpi init"), "{err}");

        let ws = Workspace::discover_from(None, Some(empty.path()), Path::new(BUNDLED)).unwrap();
        assert_eq!(ws.origin, Origin::Bundled);
        let err = ws.require_writable("kpi ingest").unwrap_err().to_string();
        assert!(
            err.contains("read-only") && err.contains("kpi init DIR"),
            "{err}"
        );
        assert!(err.contains("kpi --workspace DIR ingest"), "{err}");
        let explicit = Workspace::discover_from(Some(Path::new(BUNDLED)), None, &gone).unwrap();
        assert!(explicit.require_writable("kpi ingest").is_ok());
    }

    #[test]
    fn the_bundled_sample_workspace_loads() {
        let ws = Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap();
        assert!(ws.calendars.names().count() >= 2);
    }
}
