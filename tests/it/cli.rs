//! The `kpi` binary as users run it: commands, formats, exit codes and error messages.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{kpi, run, run_with_input};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kpi sql -c SQL` in the bundled sample workspace, from the repository root.
fn sql(args: &[&str]) -> (i32, String, String) {
    run(kpi().current_dir(root()).arg("sql").args(args))
}

#[test]
fn the_readme_main_job_runs_on_the_sample_workspace() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let query = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("cargo run --release -- sql -c \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("README quick start has a `cargo run --release -- sql -c \"…\"` line");
    let (code, out, err) = sql(&["-c", query]);
    assert_eq!(code, 0, "{err}");
    for team in ["billing", "onboarding", "tech"] {
        assert!(out.contains(team), "{out}");
    }
}

#[test]
fn formats() {
    let q = "SELECT business_seconds(TIMESTAMP '2026-03-02 11:00:00', TIMESTAMP '2026-03-02 16:30:00') AS s, \
             business_add(TIMESTAMP '2026-03-06 19:00:00', 7200) AS due";
    let (code, out, _) = sql(&["-c", q]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "+-------+----------------------+\n\
         | s     | due                  |\n\
         +-------+----------------------+\n\
         | 16200 | 2026-03-09T12:00:00Z |\n\
         +-------+----------------------+\n"
    );
    let (_, out, _) = sql(&["--format", "csv", "-c", q]);
    assert_eq!(out, "s,due\n16200,2026-03-09T12:00:00Z\n");
    let (_, out, _) = sql(&["--format", "json", "-c", q]);
    assert_eq!(out, "[{\"s\":16200,\"due\":\"2026-03-09T12:00:00Z\"}]\n");
    let (_, out, _) = sql(&["--format", "ndjson", "-c", &format!("{q} UNION ALL {q}")]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // An empty result still has its header.
    let (_, out, _) = sql(&["--format", "csv", "-c", "SELECT 1 AS x WHERE false"]);
    assert_eq!(out, "x\n");
}

#[test]
fn several_statements_files_and_standard_input() {
    let (code, out, err) = sql(&["--format", "csv", "-c", "SELECT 1 AS a; SELECT 2 AS b;"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a\n1\nb\n2\n");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(&file, "-- a comment\nSELECT count(*) AS n FROM tickets;\n").unwrap();
    let (code, out, _) = sql(&["--format", "csv", "-f", file.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "n\n5001\n"));

    let (_, out, _) = run_with_input(
        kpi().current_dir(root()).args(["sql", "--format", "csv"]),
        "SELECT is_business_time(TIMESTAMP '2026-03-02 11:00:00') AS open;",
    );
    assert_eq!(out, "open\ntrue\n");
}

#[test]
fn files_are_queryable_by_path_and_external_tables_work() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("spans.csv");
    std::fs::write(&csv, "a,b\n2026-03-02T11:00:00Z,2026-03-03T11:00:00Z\n").unwrap();
    let parquet = dir.path().join("tickets.parquet");
    let q = format!(
        "COPY (SELECT * FROM tickets) TO '{}'; \
         SELECT count(*) AS n FROM '{}'; \
         SELECT business_hours(CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP)) AS h FROM '{}'; \
         CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); \
         SELECT business_seconds(CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP), 'br-sp') AS s FROM s",
        parquet.display(),
        parquet.display(),
        csv.display(),
        csv.display()
    );
    let (code, out, err) = sql(&["--format", "csv", "-c", &q]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "count\n5001\nn\n5001\nh\n9.0\ns\n32400\n");
}

#[test]
fn sql_errors_go_to_stderr_with_status_1() {
    let (code, out, err) = sql(&["-c", "SELEC 1"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("SELEC"), "{err}");

    let (code, _, err) = sql(&["-c", "SELECT business_hours(now(), now(), 'br-rj')"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown calendar 'br-rj'; known: br-sp, night-ops"),
        "{err}"
    );

    let (code, _, err) = sql(&["-c", "SELECT 1; SELECT nope FROM tickets"]);
    assert_eq!(code, 1);
    assert!(err.contains("statement 2 of 2"), "{err}");
    assert!(err.contains("nope"), "{err}");

    let (code, _, err) = sql(&["-c", "SELECT business_seconds(1, 2)"]);
    assert_eq!(code, 1);
    assert!(err.contains("argument 1 must be a timestamp"), "{err}");

    let (code, _, err) = sql(&["-f", "no/such/file.sql"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot read SQL file no/such/file.sql"),
        "{err}"
    );
}

fn write_workspace(dir: &Path, config: &str) {
    std::fs::write(dir.join("kpi.toml"), config).unwrap();
}

#[test]
fn workspace_resolution_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    // An explicit folder without kpi.toml.
    let (code, _, err) = run(kpi().args([
        "--workspace",
        dir.path().to_str().unwrap(),
        "sql",
        "-c",
        "SELECT 1",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("is not a workspace"), "{err}");

    // The current directory's kpi.toml wins over the bundled workspace; the env var over both.
    write_workspace(
        dir.path(),
        "default_calendar = \"utc\"\n[calendars.utc]\ntimezone = \"UTC\"\nhours = { mon = [\"00:00-24:00\"] }\n",
    );
    let q = ["sql", "--format", "csv", "-c", "SELECT business_hours(TIMESTAMP '2026-03-02 00:00:00', TIMESTAMP '2026-03-03 00:00:00') AS h"];
    let (code, out, err) = run(kpi().current_dir(dir.path()).args(q));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "h\n24.0\n");
    let (_, out, _) = run(kpi()
        .current_dir(dir.path())
        .env("KPI_WORKSPACE", root().join("sample_data"))
        .args(q));
    assert_eq!(out, "h\n9.0\n");

    // Unknown keys and bad values name the file, line and key.
    write_workspace(
        dir.path(),
        "[calendars.utc]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\nholydays = []\n",
    );
    let (code, _, err) = run(kpi().current_dir(dir.path()).args(["calendar", "list"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("kpi.toml:4:1: calendars.utc: unknown field `holydays`"),
        "{err}"
    );
    write_workspace(
        dir.path(),
        "[calendars.utc]\ntimezone = \"Mars/Olympus\"\nhours = { mon = [\"09:00-17:00\"] }\n",
    );
    let (code, _, err) = run(kpi().current_dir(dir.path()).args(["calendar", "list"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("kpi.toml:2:12: calendars.utc.timezone: unknown time zone 'Mars/Olympus'"),
        "{err}"
    );

    // A function without a calendar argument needs a default calendar.
    write_workspace(
        dir.path(),
        "[calendars.utc]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\n",
    );
    let (code, _, err) = run(kpi().current_dir(dir.path()).args([
        "sql",
        "-c",
        "SELECT business_hours(now(), now())",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("no default_calendar set in kpi.toml"), "{err}");
}

#[test]
fn init_scaffolds_a_workspace_once() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("new");
    let (code, out, err) = run(kpi().args(["init", ws.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created"), "{out}");
    let (code, out, _) = run(kpi().args(["--workspace", ws.to_str().unwrap(), "calendar", "list"]));
    assert_eq!(code, 0);
    assert!(out.contains("office"), "{out}");
    let (code, _, err) = run(kpi().args(["init", ws.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn calendar_show_and_between() {
    let (code, out, err) = run(kpi().current_dir(root()).args([
        "calendar",
        "show",
        "br-sp",
        "--from",
        "2026-12-23",
        "--to",
        "2026-12-25",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "calendar br-sp (America/Sao_Paulo)\n\
         | date       | day | business hours (local)   | hours | holiday |\n\
         |------------|-----|--------------------------|-------|---------|\n\
         | 2026-12-23 | Wed | 08:00-12:00, 13:00-18:00 | 9.00  |         |\n\
         | 2026-12-24 | Thu | 08:00-12:00              | 4.00  |         |\n\
         | 2026-12-25 | Fri | -                        | 0.00  | Natal   |\n\
         total: 13.00 business hours\n"
    );
    let (code, out, _) = run(kpi().current_dir(root()).args([
        "calendar",
        "between",
        "br-sp",
        "2026-03-02 08:00",
        "2026-03-03T13:30:00Z",
    ]));
    assert_eq!(code, 0);
    assert!(
        out.contains("start:            2026-03-02T11:00:00Z (2026-03-02 08:00 local)"),
        "{out}"
    );
    assert!(out.contains("business seconds: 41400"), "{out}");
    assert!(out.contains("business hours:   11.5000"), "{out}");
    // A leap second is the first instant of the next minute.
    let (code, out, _) = run(kpi().current_dir(root()).args([
        "calendar",
        "between",
        "br-sp",
        "2026-03-02 08:00:60",
        "2026-03-02 08:02",
    ]));
    assert_eq!(code, 0);
    assert!(
        out.contains("start:            2026-03-02T11:01:00Z (2026-03-02 08:01 local)"),
        "{out}"
    );
    assert!(out.contains("business seconds: 60"), "{out}");

    let (code, _, err) = run(kpi().current_dir(root()).args([
        "calendar",
        "show",
        "--from",
        "2026-02-30",
        "--to",
        "2026-03-01",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("--from: invalid date '2026-02-30'"), "{err}");
    let (code, _, err) = run(kpi().current_dir(root()).args([
        "calendar",
        "between",
        "nope",
        "2026-03-02",
        "2026-03-03",
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown calendar 'nope'; known: br-sp, night-ops"),
        "{err}"
    );
    let (code, _, err) = run(kpi().current_dir(root()).args([
        "calendar",
        "between",
        "br-sp",
        "yesterday",
        "2026-03-03",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("invalid START 'yesterday'"), "{err}");
}

#[test]
fn show_functions_lists_the_business_time_functions() {
    let (code, out, err) = sql(&["--format", "csv", "-c", "SHOW FUNCTIONS LIKE '%business%'"]);
    assert_eq!(code, 0, "{err}");
    for f in [
        "business_seconds",
        "business_hours",
        "business_add",
        "is_business_time",
        "next_business_open",
    ] {
        assert!(out.contains(f), "{f} missing from {out}");
    }
    assert!(
        out.contains("Business seconds between two instants"),
        "{out}"
    );
    assert!(
        out.contains("business_add(ts, seconds [, calendar])"),
        "{out}"
    );
}

/// Every bundled KPI runs on the bundled sample workspace, with an overall value.
#[test]
fn bundled_kpis_run_on_the_sample_workspace() {
    let (code, out, err) = run(kpi().current_dir(root()).args([
        "run",
        "--all",
        "--quarter",
        "2026-Q2",
        "--format",
        "csv",
    ]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    let catalog = std::fs::read_dir(root().join("queries")).unwrap().count();
    assert_eq!(lines.len(), catalog, "one overall row per KPI:\n{out}");
    for line in lines {
        let value = line.split(',').nth(9).unwrap();
        assert!(value.parse::<f64>().is_ok(), "no value: {line}");
    }
}

/// Results stream: the first rows of a result far too large to hold arrive while the rest is
/// still being computed. (A liveness check with a generous bound, not a speed measurement: a
/// `kpi sql` that collected first would need hours and about 80 GB before printing a row.)
#[test]
fn the_first_rows_of_a_huge_result_print_before_the_rest_is_computed() {
    use std::io::{BufRead, BufReader};
    let mut child = kpi()
        .current_dir(root())
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT value FROM generate_series(1, 10000000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(3)
            .map(Result::unwrap)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(std::time::Duration::from_secs(120));
    // Gone already if it saw its reader leave; killed otherwise.
    let _ = child.kill();
    child.wait().unwrap();
    assert_eq!(lines.unwrap(), ["value", "1", "2"]);
}

#[test]
fn running_out_of_memory_is_an_error_naming_the_limit() {
    // A hash join's build side cannot spill: 3 million rows do not fit in 16 MiB.
    let (code, out, err) = sql(&[
        "--memory-limit",
        "16M",
        "-c",
        "SELECT count(*) FROM generate_series(1, 3000000) a \
         JOIN generate_series(1, 3000000) b ON a.value = b.value",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("the query needs more memory than the limit of 16.0 MiB"),
        "{err}"
    );
    assert!(err.contains("Resources exhausted"), "{err}");
}

/// A value that makes the query engine panic fails its statement with exit status 1, never a
/// crash (status 101); the statements before it ran.
#[test]
fn a_panic_in_the_query_engine_is_an_error_of_its_statement() {
    let (code, out, err) = run(kpi()
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .args(["sql", "--format", "csv", "-c"])
        .arg("SELECT 1 AS before; SELECT arrow_cast(-9223372036854775808, 'Date64')"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("before\n1\n"), "{out}");
    assert!(err.contains("statement 2 of 2"), "{err}");
    assert!(
        err.contains("the query engine failed on this statement"),
        "{err}"
    );
    assert!(!err.contains("panicked at"), "{err}");
}
