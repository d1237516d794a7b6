//! What several test modules need: the binary with a clean environment, and workspaces.

use std::path::Path;
use std::process::{Command, Output};

use kpi::workspace::{Origin, Workspace, BUNDLED};

/// The `kpi` binary, with none of its environment variables set.
pub fn kpi() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kpi"));
    for var in [
        "KPI_WORKSPACE",
        "KPI_INGEST_CHUNK_ROWS",
        "KPI_INGEST_MEMORY_MB",
        "KPI_MEMORY_LIMIT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A new workspace with the sample's configuration (calendars, holidays and mappings) and no
/// data.
pub fn sample_config_workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    for file in ["kpi.toml", "holidays/sp.csv"] {
        let to = dir.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(BUNDLED).join(file), to).unwrap();
    }
    let ws = Workspace::open(dir.path(), Origin::Explicit).unwrap();
    (dir, ws)
}

/// Run a command to its end: exit code (-1 when killed), standard output and error.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the command runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Run a command with `input` on its standard input, to its end: as [`run`].
pub fn run_with_input(cmd: &mut Command, input: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the command ends");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A writable copy of the sample workspace: its configuration and its tables.
pub fn sample_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(BUNDLED), dir.path());
    dir
}

/// Whether tools the machine lacks fail the test (CI) rather than skip it.
pub fn required() -> bool {
    std::env::var_os("KPI_REQUIRE_EXTERNAL").is_some_and(|v| v == "1")
}

/// Skip a test for lack of a tool, unless tools are required.
pub fn skip(what: &str) {
    assert!(
        !required(),
        "{what} is required (KPI_REQUIRE_EXTERNAL=1) but missing"
    );
    eprintln!("skipped: {what} is not installed");
}
