//! The ingest against a simple reference mapping: for random small CSV exports (valid and
//! invalid cells, quoted line breaks, malformed lines, values the mapping skips), split into
//! random files and read with random batch sizes, chunk sizes, threads and byte ranges, the
//! stored `tickets` and `quarantine` are exactly what a row-by-row reading of the same files
//! says they should be.
//!
//! The reference reads each file with the `csv` crate (its own line numbers) and applies the
//! mapping's rules one value at a time, in the plainest way: no batches, no memo, no fast paths.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use proptest::prelude::*;

use kpi::ingest::load;

use super::ingest::Ws;

const SOURCE: &str = r#"
[sources.prop]
shape = "tickets"
timestamp_formats = ["%Y-%m-%d %H:%M", "unix"]
null_values = ["", "?"]
columns = { ticket_id = "Id", created_at = "Created", updated_at = "Updated", status = "Status", team = "Team", csat_score = "Score", resolved_at = "Resolved" }
values.status = { "Done" = "resolved", "Waiting" = "pending", "junk" = "skip" }
"#;

const HEADER: [&str; 7] = [
    "Id", "Created", "Updated", "Status", "Team", "Score", "Resolved",
];
const STATUSES: &[&str] = &["new", "open", "pending", "on_hold", "resolved", "closed"];
const FORMATS: &str = "'%Y-%m-%d %H:%M', unix";
/// 2101-01-01T00:00:00Z in µs: the end of the default timestamp range.
const UNTIL: i64 = 4_133_980_800_000_000;

fn iso(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.fZ")
        .to_string()
}

/// A timestamp cell as the mapping reads it: µs, or the reason it is rejected.
fn timestamp(text: &str) -> Result<i64, String> {
    let mut outside = None;
    let pattern = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .ok()
        .map(|t| t.and_utc().timestamp_micros());
    let unix = (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<i64>().ok()?.checked_mul(1_000_000))
        .flatten();
    for t in [pattern, unix].into_iter().flatten() {
        if (0..UNTIL).contains(&t) {
            return Ok(t);
        }
        outside.get_or_insert(t);
    }
    Err(match outside {
        Some(t) => format!(
            "timestamp outside 1970-01-01 to 2100-12-31 (read as {})",
            kpi::calendar::format_utc(t)
        ),
        None => format!("unparseable timestamp (tried {FORMATS})"),
    })
}

/// A cell's canonical value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Text(String),
    Time(i64),
    Int(i64),
    Skip,
}

/// One value of `column` (a header) through the mapping.
fn convert(column: &str, raw: &str) -> Result<Value, String> {
    let text = raw.trim();
    if text.is_empty() || text == "?" {
        return Ok(Value::Null);
    }
    match column {
        "Status" => {
            let map = [
                ("Done", "resolved"),
                ("Waiting", "pending"),
                ("junk", "skip"),
            ];
            let mapped = map
                .iter()
                .find(|(k, _)| *k == text)
                .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(text)))
                .map_or(text, |(_, v)| *v);
            if mapped == "skip" {
                return Ok(Value::Skip);
            }
            STATUSES
                .iter()
                .find(|s| s.eq_ignore_ascii_case(mapped))
                .map(|s| Value::Text(s.to_string()))
                .ok_or_else(|| {
                    format!(
                        "unknown status with no mapping (add it under \
                         [sources.NAME.values.status] or use one of {})",
                        STATUSES.join(", ")
                    )
                })
        }
        "Created" | "Updated" | "Resolved" => timestamp(text).map(Value::Time),
        "Score" => {
            let whole = match text.split_once('.') {
                Some((w, f)) if !f.is_empty() && f.bytes().all(|b| b == b'0') => w,
                Some(_) => "",
                None => text,
            };
            whole
                .parse::<i64>()
                .ok()
                .filter(|_| whole.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
                .map(Value::Int)
                .ok_or_else(|| "not an integer (csat_score expects a whole number)".into())
        }
        _ => Ok(Value::Text(text.to_string())),
    }
}

/// What the reference expects: ticket rows and quarantine rows, as text.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    tickets: BTreeSet<String>,
    quarantine: BTreeSet<String>,
}

/// Read `path`, whose records start on `lines` (counted as the file was written), row by row
/// into `expected`.
fn reference(path: &Path, lines: &[u64], expected: &mut Expected) {
    let file = std::fs::canonicalize(path).unwrap().display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut quarantine = |line: u64, column: &str, value: &str, reason: &str| {
        expected
            .quarantine
            .insert(format!("{file}|{line}|{column}|{value}|{reason}"));
    };
    let mut rows = Vec::new();
    for (record, &line) in reader.records().zip(lines) {
        let record = record.unwrap();
        if record.len() != HEADER.len() {
            let text: Vec<&str> = record.iter().collect();
            let n = record.len();
            let reason = format!(
                "malformed line: {n} field{}, header has {}",
                if n == 1 { "" } else { "s" },
                HEADER.len()
            );
            quarantine(line, "(line)", &text.join(","), &reason);
            continue;
        }
        let mut values = Vec::new();
        let mut rejected = Vec::new();
        for (column, raw) in HEADER.iter().zip(record.iter()) {
            match convert(column, raw) {
                Ok(v) => values.push(v),
                Err(reason) => {
                    rejected.push((column.to_string(), raw.to_string(), reason));
                    values.push(Value::Null);
                }
            }
        }
        if values.contains(&Value::Skip) {
            quarantine(line, "Status", &record[3], "skipped by mapping");
            continue;
        }
        if !rejected.is_empty() {
            for (column, raw, reason) in rejected {
                quarantine(line, &column, &raw, &reason);
            }
            continue;
        }
        let time = |i: usize| match values[i] {
            Value::Time(t) => Some(t),
            _ => None,
        };
        let text = |i: usize| match &values[i] {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        };
        let score = match values[5] {
            Value::Int(v) => Some(v),
            _ => None,
        };
        let missing = |column: &str| format!("missing required field {column}");
        let check = if text(0).is_none() {
            Some(("ticket_id".to_string(), String::new(), missing("ticket_id")))
        } else if time(1).is_none() {
            Some(("created_at".into(), String::new(), missing("created_at")))
        } else if text(3).is_none() {
            Some(("status".into(), String::new(), missing("status")))
        } else if time(6).is_some_and(|r| r < time(1).unwrap()) {
            let created = iso(time(1).unwrap());
            Some((
                "resolved_at".into(),
                iso(time(6).unwrap()),
                format!("resolved before created ({created})"),
            ))
        } else if score.is_some_and(|s| !(1..=5).contains(&s)) {
            Some((
                "csat_score".into(),
                score.unwrap().to_string(),
                "csat_score must be between 1 and 5".into(),
            ))
        } else {
            None
        };
        if let Some((column, value, reason)) = check {
            quarantine(line, &column, &value, &reason);
            continue;
        }
        let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}",
            text(0).unwrap(),
            show(time(1)),
            show(time(2)),
            text(3).unwrap(),
            text(4).unwrap_or_else(|| "-".into()),
            show(score),
            show(time(6)),
        ));
    }
    expected.tickets.extend(rows);
}

/// The text values of a query's one column.
fn strings(ws: &Ws, sql: &str) -> BTreeSet<String> {
    let workspace = ws.workspace();
    super::ingest::runtime().block_on(async {
        let ctx = kpi::session::Session::builder(&workspace).build().unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let c = cast(b.column(0), &DataType::Utf8).unwrap();
                let c = c.as_string::<i32>();
                (0..c.len())
                    .map(|i| c.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// What the workspace stores, as the reference writes it.
fn stored(ws: &Ws) -> Expected {
    let micros = |c: &str| format!("coalesce(CAST(CAST({c} AS BIGINT) AS VARCHAR), '-')");
    Expected {
        tickets: strings(
            ws,
            &format!(
                "SELECT concat_ws('|', ticket_id, {}, {}, status, coalesce(team, '-'), \
                 coalesce(CAST(csat_score AS VARCHAR), '-'), {}) FROM tickets",
                micros("created_at"),
                micros("updated_at"),
                micros("resolved_at")
            ),
        ),
        quarantine: strings(
            ws,
            "SELECT concat_ws('|', file, line, \"column\", value, reason) FROM quarantine",
        ),
    }
}

fn cell() -> impl Strategy<Value = [String; 7]> {
    let created = prop_oneof![
        6 => (1u32..28, 0u32..24).prop_map(|(d, h)| format!("2026-03-{d:02} {h:02}:15")),
        2 => (0u32..100_000).prop_map(|s| (1_772_400_000 + s).to_string()),
        1 => Just("8210298412800".to_string()),
        1 => Just("2026-13-01 00:00".to_string()),
        1 => Just("garbage".to_string()),
        1 => Just(String::new()),
        1 => Just("?".to_string()),
    ];
    let updated = prop_oneof![
        3 => (1u32..28).prop_map(|d| format!("2026-04-{d:02} 10:00")),
        1 => Just(String::new()),
    ];
    let status = prop_oneof![
        Just("Open"),
        Just("open"),
        Just(" OPEN "),
        Just("Done"),
        Just("done"),
        Just("Waiting"),
        Just("junk"),
        Just("Escalated"),
        Just(""),
        Just("closed"),
    ]
    .prop_map(str::to_string);
    let team = prop_oneof![
        4 => "[a-z]{0,6}",
        1 => Just("a \"quoted\", team".to_string()),
        1 => Just("two\nlines".to_string()),
        1 => Just("crlf\r\nline".to_string()),
    ];
    let score = prop_oneof![
        Just(""),
        Just("3"),
        Just("3.0"),
        Just("9"),
        Just("x"),
        Just("1e2"),
        Just("-1"),
    ]
    .prop_map(str::to_string);
    let resolved = prop_oneof![
        4 => Just(String::new()),
        1 => (1u32..28).prop_map(|d| format!("2026-03-{d:02} 12:00")),
    ];
    (created, updated, status, team, score, resolved).prop_map(
        |(created, updated, status, team, score, resolved)| {
            [
                String::new(),
                created,
                updated,
                status,
                team,
                score,
                resolved,
            ]
        },
    )
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_ingest_stores_what_a_row_by_row_reading_says(
        rows in prop::collection::vec((cell(), 0u8..20), 1..60),
        files in 1usize..4,
        batch_rows in 1usize..12,
        chunk_rows in 1u64..40,
        threads in 1usize..4,
        range_bytes in 40u64..1500,
        crlf in any::<bool>(),
    ) {
        let ws = Ws::with_sources(SOURCE);
        let end = if crlf { "\r\n" } else { "\n" };
        let per_file = rows.len().div_ceil(files);
        let mut paths = Vec::new();
        for (f, chunk) in rows.chunks(per_file).enumerate() {
            let mut text = format!("{}{end}", HEADER.join(","));
            let mut lines = Vec::new();
            let mut line = 2;
            for (i, (cells, shape)) in chunk.iter().enumerate() {
                let mut cells = cells.clone();
                cells[0] = match shape {
                    0 => String::new(),
                    1 => "?".into(),
                    _ => format!("T{f}-{i}"),
                };
                let fields: Vec<String> = cells.iter().map(|c| quote(c)).collect();
                let row = match shape {
                    // A short line and a long one: malformed.
                    2 => fields[..2].join(","),
                    3 => format!("{},extra", fields.join(",")),
                    _ => fields.join(","),
                };
                lines.push(line);
                line += 1 + row.matches('\n').count() as u64;
                text.push_str(&row);
                text.push_str(end);
            }
            paths.push((ws.export(&format!("export-{f}.csv"), &text), lines));
        }
        let mut expected = Expected::default();
        for (path, lines) in &paths {
            reference(path, lines, &mut expected);
        }
        let paths: Vec<_> = paths.into_iter().map(|(p, _)| p).collect();
        let options = load::Options {
            batch_rows,
            chunk_rows,
            threads,
            range_bytes,
            ..Default::default()
        };
        ws.ingest_with("prop", &paths, &options).unwrap();
        let got = stored(&ws);
        prop_assert_eq!(&got.tickets, &expected.tickets);
        prop_assert_eq!(&got.quarantine, &expected.quarantine);
    }
}
