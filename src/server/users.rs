//! The server's users: `users.toml` in the workspace, one `[users.NAME]` table per user with
//! its role and its SCRAM-SHA-256 verifier (never the password). `kpi user` edits it; the
//! server reads it when it starts. The file is written whole to a temporary file and renamed
//! over the old one, readable by its owner only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::scram::Verifier;

/// The users file of a workspace.
pub const USERS_FILE: &str = "users.toml";

/// The shortest password `kpi user` accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

/// What a user may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything; the role of the people responsible for the service.
    Admin,
    /// Reads everything.
    Analyst,
    /// Reads only the aggregate tables (and `[server] viewer_tables`).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Analyst, Role::Viewer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role '{s}': use admin, analyst or viewer"))
    }
}

/// One user of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub verifier: Verifier,
}

/// Why the users file could not be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("invalid user name '{0}': use 1 to 63 letters, digits, '_', '-' or '.'")]
    BadName(String),
    #[error("user '{0}' already exists (kpi user passwd changes a password)")]
    Exists(String),
    #[error("no user '{name}' in {}", path.display())]
    Unknown { name: String, path: PathBuf },
    #[error("the password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    ShortPassword,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    users: BTreeMap<String, RawUser>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    role: Role,
    verifier: String,
}

/// The users of a workspace, as read from (and written to) its users file.
#[derive(Debug, Clone)]
pub struct Users {
    path: PathBuf,
    users: BTreeMap<String, User>,
}

fn check_name(name: &str) -> Result<(), UsersError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(UsersError::BadName(name.to_string()))
    }
}

fn check_password(password: &str) -> Result<(), UsersError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(UsersError::ShortPassword);
    }
    Ok(())
}

impl Users {
    /// The users file of the workspace folder `root`.
    pub fn file(root: &Path) -> PathBuf {
        root.join(USERS_FILE)
    }

    /// Read the users file at `path`; a missing file has no users.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(UsersError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let invalid = |message: String| UsersError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut users = BTreeMap::new();
        for (name, user) in raw.users {
            check_name(&name).map_err(|e| invalid(e.to_string()))?;
            let verifier = Verifier::parse(&user.verifier)
                .map_err(|e| invalid(format!("users.{name}.verifier: {e}")))?;
            users.insert(
                name.clone(),
                User {
                    name,
                    role: user.role,
                    verifier,
                },
            );
        }
        Ok(Users {
            path: path.to_path_buf(),
            users,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The users, by name.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Add a user; an existing name is an error.
    pub fn add(&mut self, name: &str, role: Role, password: &str) -> Result<(), UsersError> {
        check_name(name)?;
        check_password(password)?;
        if self.users.contains_key(name) {
            return Err(UsersError::Exists(name.to_string()));
        }
        self.users.insert(
            name.to_string(),
            User {
                name: name.to_string(),
                role,
                verifier: Verifier::new(password),
            },
        );
        Ok(())
    }

    fn existing(&mut self, name: &str) -> Result<&mut User, UsersError> {
        let path = self.path.clone();
        self.users.get_mut(name).ok_or(UsersError::Unknown {
            name: name.to_string(),
            path,
        })
    }

    /// Give an existing user a new password.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), UsersError> {
        check_password(password)?;
        self.existing(name)?.verifier = Verifier::new(password);
        Ok(())
    }

    /// Give an existing user another role.
    pub fn set_role(&mut self, name: &str, role: Role) -> Result<(), UsersError> {
        self.existing(name)?.role = role;
        Ok(())
    }

    /// Remove a user.
    pub fn remove(&mut self, name: &str) -> Result<(), UsersError> {
        self.existing(name)?;
        self.users.remove(name);
        Ok(())
    }

    /// Write the file: a temporary file beside it, readable by its owner only, renamed over it.
    pub fn save(&self) -> Result<(), UsersError> {
        let write = |source| UsersError::Write {
            path: self.path.clone(),
            source,
        };
        let raw = RawFile {
            users: self
                .users
                .values()
                .map(|u| {
                    (
                        u.name.clone(),
                        RawUser {
                            role: u.role,
                            verifier: u.verifier.to_string(),
                        },
                    )
                })
                .collect(),
        };
        let body = toml::to_string(&raw).map_err(|e| write(std::io::Error::other(e)))?;
        let text = format!(
            "# The users of `kpi serve`, managed with `kpi user`. Passwords are kept only as\n\
             # SCRAM-SHA-256 verifiers; roles are admin, analyst and viewer.\n\n{body}"
        );
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(write)?;
        }
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(write)?;
        file.as_file().sync_all().map_err(write)?;
        file.persist(&self.path).map_err(|e| write(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_round_trip_through_the_file_without_their_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = Users::file(dir.path());
        let mut users = Users::load(&path).unwrap();
        assert!(users.is_empty());
        users.add("ana", Role::Analyst, "password-1").unwrap();
        users.add("dash", Role::Viewer, "password-2").unwrap();
        users.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("password-1") && text.contains("SCRAM-SHA-256$4096:"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut read = Users::load(&path).unwrap();
        assert_eq!(read.get("dash").unwrap().role, Role::Viewer);
        assert!(read.get("ana").unwrap().verifier.matches("password-1"));

        read.set_password("ana", "password-3").unwrap();
        read.set_role("dash", Role::Admin).unwrap();
        read.remove("dash").unwrap();
        read.save().unwrap();
        let read = Users::load(&path).unwrap();
        assert!(read.get("ana").unwrap().verifier.matches("password-3"));
        assert!(read.get("dash").is_none());
    }

    #[test]
    fn bad_names_passwords_and_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = Users::file(dir.path());
        let mut users = Users::load(&path).unwrap();
        assert!(matches!(
            users.add("a b", Role::Admin, "password-1"),
            Err(UsersError::BadName(_))
        ));
        assert!(matches!(
            users.add("ana", Role::Admin, "short"),
            Err(UsersError::ShortPassword)
        ));
        users.add("ana", Role::Admin, "password-1").unwrap();
        assert!(matches!(
            users.add("ana", Role::Admin, "password-1"),
            Err(UsersError::Exists(_))
        ));
        assert!(matches!(
            users.remove("bob"),
            Err(UsersError::Unknown { .. })
        ));
        std::fs::write(&path, "[users.ana]\nrole = \"root\"\nverifier = \"x\"\n").unwrap();
        let err = Users::load(&path).unwrap_err().to_string();
        assert!(err.contains("users.toml") && err.contains("root"), "{err}");
        std::fs::write(
            &path,
            "[users.ana]\nrole = \"admin\"\nverifier = \"plain\"\n",
        )
        .unwrap();
        let err = Users::load(&path).unwrap_err().to_string();
        assert!(err.contains("users.ana.verifier"), "{err}");
        assert_eq!("viewer".parse::<Role>(), Ok(Role::Viewer));
        assert!("postgres".parse::<Role>().is_err());
    }
}
