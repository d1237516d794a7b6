//! Finding and creating workspaces: a folder with a `kpi.toml`.
//!
//! Resolution order: an explicit folder (`--workspace` or `KPI_WORKSPACE`), the current
//! directory when it holds a `kpi.toml`, else the sample workspace bundled with the sources.

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
    #[error("no workspace: pass --workspace DIR, set KPI_WORKSPACE, or run in a folder with a {CONFIG_FILE} (the bundled sample workspace {BUNDLED} is missing)")]
    NoneFound,
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
    /// Find the workspace to use (see the module documentation) and load it.
    pub fn discover(explicit: Option<&Path>) -> Result<Workspace, WorkspaceError> {
        if let Some(dir) = explicit {
            return Workspace::open(dir, Origin::Explicit);
        }
        if let Ok(cwd) = std::env::current_dir() {
            if cwd.join(CONFIG_FILE).is_file() {
                return Workspace::open(&cwd, Origin::CurrentDir);
            }
        }
        let bundled = Path::new(BUNDLED);
        if bundled.join(CONFIG_FILE).is_file() {
            return Workspace::open(bundled, Origin::Bundled);
        }
        Err(WorkspaceError::NoneFound)
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
    fn a_folder_without_config_is_not_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let err = Workspace::discover(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a workspace"), "{err}");
    }

    #[test]
    fn the_bundled_sample_workspace_loads() {
        let ws = Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap();
        assert!(ws.calendars.names().count() >= 2);
    }
}
