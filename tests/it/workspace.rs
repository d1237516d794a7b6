//! Workspace rules as users meet them: commands that write refuse the bundled sample, a closed
//! standard output ends every command quietly, and tuning values are checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kpi::workspace::BUNDLED;

use crate::support::{kpi, sample_config_workspace};

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/mappings")
        .join(file)
}

/// Every file under `dir` with its size, sorted.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let size = path.metadata().unwrap().len();
                out.push((path, size));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn ingest_outside_a_workspace_is_refused_and_writes_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let sample = Path::new(BUNDLED).join("data");
    let before = listing(&sample);
    let out = kpi()
        .current_dir(empty.path())
        .args(["ingest", "--source", "helpdesk_tickets"])
        .arg(example("tickets.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("kpi ingest writes into a workspace"), "{err}");
    assert!(
        err.contains("read-only") && err.contains("kpi init DIR"),
        "{err}"
    );
    assert_eq!(listing(&sample), before, "the bundled sample changed");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

    // Reading commands still fall back to the sample.
    let out = kpi()
        .current_dir(empty.path())
        .args(["sql", "-c", "SELECT count(*) > 0 AS some FROM tickets"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("true"));
}

/// Run `cmd` with its standard output a pipe whose reader is already gone.
fn with_closed_stdout(cmd: &mut Command) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = cmd
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_standard_output_ends_every_command_quietly() {
    let ws = tempfile::tempdir().unwrap();
    kpi().arg("init").arg(ws.path()).output().unwrap();
    let big = "SELECT value, value * 2 AS twice FROM generate_series(1, 3000000)";
    let commands: Vec<Vec<String>> = vec![
        vec!["sql".into(), "-c".into(), big.into()],
        vec![
            "sql".into(),
            "--format".into(),
            "csv".into(),
            "-c".into(),
            big.into(),
        ],
        vec![
            "sql".into(),
            "--format".into(),
            "json".into(),
            "-c".into(),
            big.into(),
        ],
        vec![
            "calendar".into(),
            "show".into(),
            "br-sp".into(),
            "--from".into(),
            "2026-01-01".into(),
            "--to".into(),
            "2026-12-31".into(),
        ],
        vec!["calendar".into(), "list".into()],
    ];
    for args in commands {
        let (code, err) = with_closed_stdout(kpi().current_dir(Path::new(BUNDLED)).args(&args));
        assert_eq!(code, Some(0), "kpi {}: {err}", args.join(" "));
        assert!(err.is_empty(), "kpi {}: {err}", args.join(" "));
    }
    let (code, err) = with_closed_stdout(
        kpi()
            .arg("--workspace")
            .arg(ws.path())
            .args(["init"])
            .arg(ws.path().join("other")),
    );
    assert_eq!((code, err.as_str()), (Some(0), ""));
    let exports = tempfile::tempdir().unwrap();
    let (code, err) = with_closed_stdout(
        kpi()
            .current_dir(Path::new(BUNDLED))
            .args(["generate", "--tickets", "20", "--out"])
            .arg(exports.path()),
    );
    assert_eq!((code, err.as_str()), (Some(0), ""));
    let (sample, _) = sample_config_workspace();
    for json in [true, false] {
        let mut cmd = kpi();
        cmd.arg("--workspace")
            .arg(sample.path())
            .args(["ingest", "--source", "helpdesk_tickets"])
            .arg(example("tickets.csv"));
        if json {
            cmd.arg("--json");
        }
        let (code, err) = with_closed_stdout(&mut cmd);
        assert_eq!((code, err.as_str()), (Some(0), ""), "--json {json}");
    }
}

#[test]
fn bad_tuning_values_are_rejected_before_anything_runs() {
    let (ws, _) = sample_config_workspace();
    let ingest = |flags: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = kpi();
        cmd.arg("--workspace")
            .arg(ws.path())
            .args(["ingest", "--source", "helpdesk_tickets"])
            .args(flags)
            .arg(example("tickets.csv"));
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (flags, env, named) in [
        (&["--chunk-rows", "0"][..], None, "'0'"),
        (&["--memory-mb", "12"][..], None, "'12'"),
        (&[][..], Some(("KPI_INGEST_CHUNK_ROWS", "lots")), "'lots'"),
        (&[][..], Some(("KPI_INGEST_MEMORY_MB", "8")), "'8'"),
    ] {
        let (code, err) = ingest(flags, env);
        assert_eq!(code, Some(1), "{flags:?} {env:?}: {err}");
        assert!(err.contains(named), "{flags:?} {env:?}: {err}");
    }
    assert!(
        !ws.path().join("data").exists(),
        "a rejected run wrote data"
    );
    // Good values run.
    let (code, err) = ingest(&["--chunk-rows", "3", "--memory-mb", "128"], None);
    assert_eq!(code, Some(0), "{err}");

    // The session's memory limit and as-of instant are checked as well.
    for (flag, value) in [("--memory-limit", "lots"), ("--as-of", "2026-06-31")] {
        let out = kpi()
            .current_dir(Path::new(BUNDLED))
            .args(["sql", flag, value, "-c", "SELECT 1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("'{value}'")), "{err}");
    }
    let out = kpi()
        .current_dir(Path::new(BUNDLED))
        .args([
            "sql",
            "--as-of",
            "2026-06-30T20:00:00-03:00",
            "--memory-limit",
            "512M",
        ])
        .args(["-c", "SHOW kpi.as_of"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2026-06-30T23:00:00Z"), "{text}");
}

#[test]
fn a_bad_policy_condition_stops_every_command_at_its_place_in_kpi_toml() {
    let (ws, _) = sample_config_workspace();
    let config = ws.path().join("kpi.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "when = \"priority = 'urgent'\"",
        "when = \"prio = 'urgent'\"",
    );
    std::fs::write(&config, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("when = \"prio"))
        .unwrap()
        + 1;
    let out = kpi()
        .arg("--workspace")
        .arg(ws.path())
        .args(["sql", "-c", "SELECT 1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "kpi.toml:{line}:8: sla.policies.urgent.when: 'prio = 'urgent''"
        )),
        "{err}"
    );
    assert!(err.contains("prio"), "{err}");
}
