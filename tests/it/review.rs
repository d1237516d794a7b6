//! `kpi review` end to end on a copy of the sample workspace: the review table, the
//! `kpi_results` Parquet read back with its documented schema, both report languages,
//! `--fail-on`, a running quarter's pace, `--rerun` after a new ingest, `kpi_results` in SQL,
//! and the outputs read by real tools when they are installed (Chromium for the HTML report;
//! DuckDB, pyarrow and Polars through `KPI_PYTHON`). With `KPI_REQUIRE_EXTERNAL=1` (CI) a
//! missing tool fails the test instead of skipping it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use kpi::catalog::review::results::results_schema;

use super::support::{kpi, run, sample_copy, skip};

/// As of mid-October 2026: 2026-Q3 is finished, 2026-Q4 runs.
const AS_OF: &str = "2026-10-15T00:00:00Z";

fn review(ws: &Path, args: &[&str]) -> (i32, String, String) {
    run(kpi().arg("--workspace").arg(ws).arg("review").args(args))
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// (kpi, dimension, dimension_value, value, target, status) of every row, sorted.
fn values(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str, i: usize| {
            let c = b.column_by_name(name).unwrap().as_string::<i32>();
            if c.is_valid(i) {
                c.value(i).to_string()
            } else {
                String::new()
            }
        };
        let float = |name: &str, i: usize| {
            let c = b
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>();
            c.is_valid(i).then(|| c.value(i))
        };
        for i in 0..b.num_rows() {
            out.push((
                text("kpi", i),
                text("dimension", i),
                text("dimension_value", i),
                float("value", i),
                float("target", i),
                text("status", i),
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    out
}

/// What a results row says, for comparisons.
type Row = (String, String, String, Option<f64>, Option<f64>, String);

fn run_id(stderr: &str) -> String {
    stderr
        .split_whitespace()
        .nth(1)
        .expect("review RUN_ID of …")
        .to_string()
}

#[test]
fn a_review_writes_results_and_reports_and_reruns_to_identical_numbers() {
    let ws = sample_copy();
    // The default output folder: out/ in the current directory.
    let out = ws.path().join("out");
    let out_arg = out.to_str().unwrap();
    let (code, table, err) = run(kpi().current_dir(ws.path()).args([
        "review",
        "--quarter",
        "2026-Q3",
        "--as-of",
        AS_OF,
    ]));
    assert_eq!(code, 0, "{err}");
    for status in ["met", "at risk", "missed", "●"] {
        assert!(table.contains(status), "{status} missing from\n{table}");
    }
    let partition = out.join("kpi_results/quarter=2026-Q3/part-0.parquet");
    let first = read_parquet(&partition);
    assert_eq!(first[0].schema(), results_schema(), "the documented schema");
    let rows = values(&first);
    assert!(
        rows.iter().any(|r| r.0 == "csat" && r.1 == "team"),
        "breakdown rows"
    );
    assert!(
        rows.iter().any(|r| r.0 == "backlog" && r.1.is_empty()),
        "overall rows"
    );
    for report in ["review-2026-Q3.md", "review-2026-Q3.html"] {
        assert!(out.join(report).is_file(), "{report}");
    }
    let id = run_id(&err);
    assert!(out.join(format!("runs/{id}.json")).is_file());
    let staging: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !staging.iter().any(|n| n.to_string_lossy().starts_with('.')),
        "no staging left: {staging:?}"
    );

    // A new ticket in 2026-Q3, never answered: the backlog and compliance change...
    let export = ws.path().join("late.ndjson");
    std::fs::write(
        &export,
        r#"{"id":"late-1","ticket_id":"999001","created_at":"2026-08-03T10:00:00.000-03:00","type":"Create","author":"x@example.com","author_role":"end-user","previous_status":null,"status":"new","value":null,"via":"email","inbox":"Billing","group":"billing","priority":"normal","requester":"x@example.com","assignee":null,"satisfaction_score":null}
"#,
    )
    .unwrap();
    let (code, _, err) = run(kpi()
        .arg("--workspace")
        .arg(ws.path())
        .args(["ingest", "--source", "helpdesk_events"])
        .arg(&export));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = review(
        ws.path(),
        &["--quarter", "2026-Q3", "--as-of", AS_OF, "--out", out_arg],
    );
    assert_eq!(code, 0, "{err}");
    let changed = values(&read_parquet(&partition));
    assert_ne!(changed, rows, "a new ingest changes a new review");

    // ... but the first run, re-run, reads the table versions it read and finds its numbers.
    // The rerun writes beside the live outputs, which keep the latest numbers.
    let (code, _, err) = review(ws.path(), &["--rerun", &id, "--out", out_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("warning"),
        "nothing but the tables changed: {err}"
    );
    let rerun_out = out.join("reruns").join(&id);
    let again = read_parquet(&rerun_out.join("kpi_results/quarter=2026-Q3/part-0.parquet"));
    assert_eq!(values(&again), rows, "rerun of {id}");
    assert_eq!(values(&read_parquet(&partition)), changed);
    let rerun = run_id(&err);
    let manifest = std::fs::read_to_string(rerun_out.join(format!("runs/{rerun}.json"))).unwrap();
    assert!(
        manifest.contains(&format!("\"rerun_of\": \"{id}\"")),
        "{manifest}"
    );

    // kpi_results is a table in SQL sessions of the workspace.
    let (code, sql_out, err) = run(kpi().current_dir(ws.path()).args([
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT quarter, count(*) > 0 AS rows FROM kpi_results GROUP BY quarter",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(sql_out, "quarter,rows\n2026-Q3,true\n");

    readable_by_python_tools(&out);
    html_renders_in_chromium(&out.join("review-2026-Q3.html"));
}

#[test]
fn reports_in_brazilian_portuguese_and_exit_codes_for_schedulers() {
    let ws = sample_copy();
    let out = ws.path().join("out");
    let out_arg = out.to_str().unwrap();
    let (code, table, err) = review(
        ws.path(),
        &[
            "--quarter",
            "2026-Q3",
            "--as-of",
            AS_OF,
            "--out",
            out_arg,
            "--lang",
            "pt-BR",
            "--fail-on",
            "missed",
        ],
    );
    assert_eq!(code, 2, "a missed target fails the run when asked: {err}");
    assert!(
        table.contains("não atingida") && table.contains("Realizado"),
        "{table}"
    );
    let md = std::fs::read_to_string(out.join("review-2026-Q3.pt-BR.md")).unwrap();
    assert!(md.starts_with("# Revisão trimestral — 2026-Q3"), "{md}");
    // 2026-10-15T00:00Z is the evening of the 14th in São Paulo, the quarters' zone.
    assert!(md.contains("Posição em 14/10/2026"), "{md}");
    let percent = regex_like_percent(&md);
    assert!(percent, "numbers like 95,2 % in\n{md}");
    let html = std::fs::read_to_string(out.join("review-2026-Q3.pt-BR.html")).unwrap();
    assert!(
        html.contains("<html lang=\"pt-BR\">") && html.contains("Foco ao longo dos trimestres")
    );
    html_renders_in_chromium(&out.join("review-2026-Q3.pt-BR.html"));

    let (code, _, err) = review(
        ws.path(),
        &[
            "--quarter",
            "2026-Q3",
            "--as-of",
            AS_OF,
            "--out",
            out_arg,
            "--fail-on",
            "at_risk",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = review(
        ws.path(),
        &["--quarter", "2026-Q3", "--as-of", AS_OF, "--out", out_arg],
    );
    assert_eq!(
        code, 0,
        "without --fail-on a missed target is not a failure: {err}"
    );

    // Without targets nothing can miss: --fail-on passes.
    let config = ws.path().join("kpi.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("[targets]").unwrap();
    let end = text.find("# Mappings of the three exports").unwrap();
    std::fs::write(&config, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let (code, _, err) = review(
        ws.path(),
        &[
            "--quarter",
            "2026-Q3",
            "--as-of",
            AS_OF,
            "--out",
            out_arg,
            "--fail-on",
            "at_risk",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

/// `95,2 %`: digits, a comma, one digit, a space and a percent sign.
fn regex_like_percent(text: &str) -> bool {
    text.split('|').any(|cell| {
        let cell = cell.trim();
        cell.ends_with(" %")
            && cell
                .trim_end_matches(" %")
                .split_once(',')
                .is_some_and(|(a, b)| {
                    !a.is_empty()
                        && a.chars().all(|c| c.is_ascii_digit() || c == '.')
                        && b.len() == 1
                })
    })
}

#[test]
fn a_running_quarter_shows_its_pace_and_projection() {
    let ws = sample_copy();
    let out = ws.path().join("out");
    let (code, table, err) = review(
        ws.path(),
        &[
            "--quarter",
            "2026-Q3",
            "--as-of",
            "2026-09-01T00:00:00Z",
            "--out",
            out.to_str().unwrap(),
            "--detail",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("Expected now") && table.contains("Projection"),
        "{table}"
    );
    assert!(table.contains("(to date)"), "{table}");
    let batches = read_parquet(&out.join("kpi_results/quarter=2026-Q3/part-0.parquet"));
    let b = &batches[0];
    let to_date = b.column_by_name("to_date").unwrap().as_boolean();
    assert!((0..b.num_rows()).all(|i| to_date.value(i)));
    let kpis = b.column_by_name("kpi").unwrap().as_string::<i32>();
    let dimension = b.column_by_name("dimension").unwrap();
    let projected = b
        .column_by_name("projected_value")
        .unwrap()
        .as_primitive::<Float64Type>();
    let expected = b
        .column_by_name("expected_value")
        .unwrap()
        .as_primitive::<Float64Type>();
    let row = (0..b.num_rows())
        .find(|&i| kpis.value(i) == "csat" && dimension.is_null(i))
        .unwrap();
    assert!(projected.is_valid(row) && expected.is_valid(row));
    let md = std::fs::read_to_string(out.join("review-2026-Q3.md")).unwrap();
    assert!(md.contains("still running"), "{md}");
    // --detail: the SLA clocks started in the quarter to date, with the ticket's attributes.
    let detail = read_parquet(&out.join("sla_detail/quarter=2026-Q3/part-0.parquet"));
    let rows: usize = detail.iter().map(|b| b.num_rows()).sum();
    assert!(rows > 0);
    let schema = detail[0].schema();
    for column in ["ticket_id", "metric", "stage", "team", "assignee"] {
        assert!(schema.field_with_name(column).is_ok(), "{column}");
    }
    let started = detail[0]
        .column_by_name("started_at")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
        .value(0);
    let q3 = chrono::DateTime::parse_from_rfc3339("2026-07-01T03:00:00Z").unwrap();
    assert!(
        started >= q3.timestamp_micros(),
        "clocks of the quarter only"
    );
}

#[test]
fn bad_review_requests_are_clear_errors() {
    let ws = sample_copy();
    let (code, _, err) = review(ws.path(), &["--quarter", "2027-Q1", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(err.contains("2027-Q1 has not started"), "{err}");
    let (code, _, err) = review(
        ws.path(),
        &["--rerun", "nope", "--out", ws.path().to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(err.contains("nope.json"), "{err}");
    let (code, _, err) = review(ws.path(), &["--quarter", "2026-Q5"]);
    assert_eq!(code, 1, "a usage error: {err}");
    assert!(err.contains("invalid quarter '2026-Q5'"), "{err}");
}

/// DuckDB, pyarrow and Polars read the hive-partitioned results as they are.
fn readable_by_python_tools(out: &Path) {
    let Some(python) = std::env::var_os("KPI_PYTHON").map(PathBuf::from) else {
        return skip("KPI_PYTHON (a Python with duckdb, pyarrow and polars)");
    };
    let script = r#"
import sys, duckdb, pyarrow.dataset as ds, polars as pl
root = sys.argv[1] + "/kpi_results"
con = duckdb.connect()
n, quarters = con.execute(
    f"SELECT count(*), count(DISTINCT quarter) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
).fetchone()
assert n > 0 and quarters == 1, (n, quarters)
t = ds.dataset(root, format="parquet", partitioning="hive").to_table()
assert t.num_rows == n and "quarter" in t.column_names and "value" in t.column_names
df = pl.read_parquet(root + "/**/*.parquet", hive_partitioning=True)
assert df.height == n and df["quarter"][0] == "2026-Q3", df
print("ok", n)
"#;
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(out)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The report loads in headless Chromium with no console error, and every chart has a
/// rendered size.
fn html_renders_in_chromium(report: &Path) {
    let chromium = std::env::var_os("KPI_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(|b| PathBuf::from("/usr/bin").join(b))
                .find(|p| p.exists())
        });
    let Some(chromium) = chromium else {
        return skip("Chromium");
    };
    // The report with a probe at its end: it records every SVG's rendered size and any
    // error into the page, which --dump-dom prints.
    let html = std::fs::read_to_string(report).unwrap();
    let probe = r#"<script>
      const sizes = [...document.querySelectorAll('svg')].map(s => {
        const r = s.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height);
      });
      const out = document.createElement('pre');
      out.id = 'probe';
      out.textContent = 'charts=' + sizes.length + ' sizes=' + sizes.join(',');
      document.body.appendChild(out);
    </script></body>"#;
    let probed = report.with_file_name("probed.html");
    std::fs::write(&probed, html.replace("</body>", probe)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", probed.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    let line = dom
        .lines()
        .find(|l| l.contains("<pre id=\"probe\">"))
        .unwrap_or_else(|| panic!("no probe output; chromium said:\n{log}"));
    let sizes: Vec<&str> = line
        .split("sizes=")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches("</pre>")
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    let charts = html.matches("<svg").count();
    assert!(charts > 0, "the report has charts");
    assert_eq!(sizes.len(), charts, "{line}");
    for size in &sizes {
        let (w, h) = size.split_once('x').unwrap();
        assert!(
            w.parse::<u32>().unwrap() > 0 && h.parse::<u32>().unwrap() > 0,
            "{line}"
        );
    }
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
}
