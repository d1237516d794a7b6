//! Every bundled KPI against values computed by hand on a small fixture: seven urgent chat
//! tickets over one week, in the SQL test workspace (`tests/sql/kpi.toml`).
//!
//! Policy `urgent`: calendar utc-weekdays (Mon–Fri 09:00–17:00 UTC), first response 30 min
//! (1800 s), resolution 8 h (28800 s), pending pauses. The period is the week
//! [Mon 2026-03-02 00:00Z, Mon 2026-03-09 00:00Z), evaluated at its end.
//!
//! | ticket | team | agent | created | first response | resolution (first / last) | at the end |
//! |---|---|---|---|---|---|---|
//! | T1 | a | ann | Mon 09:00 | 09:10 reply (600 s, met) | Mon 11:00 (7200 s, met), 1 reply | resolved, CSAT 5 |
//! | T2 | a | ann | Tue 09:00 | 10:00 reply (3600 s, breached) | Tue 15:00: 6 h − 2 h pending = 14400 s, met; 2 replies | resolved, CSAT 3 |
//! | T3 | b | bob | Wed 09:00 | 09:20 reply (1200 s, met) | first Wed 10:00, reopened Thu 09:00, last Thu 12:00: 8 h + 3 h = 39600 s, breached | resolved, CSAT 4 |
//! | T4 | b | bob | Thu 09:00 | none: running, 16 h > 30 min, breached | running, 57600 s, breached | new |
//! | T5 | a | ann | Fri 16:00 | 16:10 reply (600 s, met) | running, 3600 s within target | open |
//! | T6 | b | bob | Fri 02-27 09:00 (before) | 09:05 (before the period) | Mon 10:00: 8 h + 1 h = 32400 s, breached; 1 reply | resolved, CSAT 2 |
//! | T8 | a | carl | Wed 09:00 | 09:15 move to open (900 s, met) | Wed 09:30 (1800 s, met), no reply; closed Thu | closed |

use std::path::Path;
use std::sync::Arc;

use kpi::catalog::{run_kpi, Catalog, KpiResult, Period};
use kpi::session::Session;
use kpi::workspace::Workspace;

const FIXTURE: &str = "
CREATE VIEW tickets AS SELECT
    column1 AS ticket_id, 'hd' AS source_system,
    CAST(column2 AS TIMESTAMP) AS created_at, CAST(column3 AS TIMESTAMP) AS first_response_at,
    CAST(column4 AS TIMESTAMP) AS resolved_at, CAST(column5 AS TIMESTAMP) AS closed_at,
    column6 AS status, 'urgent' AS priority, 'chat' AS channel, 'live' AS inbox,
    column7 AS team, column8 AS assignee, CAST(column9 AS INT) AS csat_score
FROM (VALUES
    ('T1', '2026-03-02T09:00:00Z', '2026-03-02T09:10:00Z', '2026-03-02T11:00:00Z', NULL, 'resolved', 'a', 'ann', 5),
    ('T2', '2026-03-03T09:00:00Z', '2026-03-03T10:00:00Z', '2026-03-03T15:00:00Z', NULL, 'resolved', 'a', 'ann', 3),
    ('T3', '2026-03-04T09:00:00Z', '2026-03-04T09:20:00Z', '2026-03-04T10:00:00Z', NULL, 'resolved', 'b', 'bob', 4),
    ('T4', '2026-03-05T09:00:00Z', NULL, NULL, NULL, 'new', 'b', 'bob', NULL),
    ('T5', '2026-03-06T16:00:00Z', '2026-03-06T16:10:00Z', NULL, NULL, 'open', 'a', 'ann', NULL),
    ('T6', '2026-02-27T09:00:00Z', '2026-02-27T09:05:00Z', '2026-03-02T10:00:00Z', NULL, 'resolved', 'b', 'bob', 2),
    ('T8', '2026-03-04T09:00:00Z', '2026-03-04T09:15:00Z', '2026-03-04T09:30:00Z', '2026-03-05T09:00:00Z', 'closed', 'a', 'carl', NULL)
);
CREATE VIEW ticket_events AS SELECT
    column1 AS event_id, column2 AS ticket_id, 'hd' AS source_system,
    CAST(column3 AS TIMESTAMP) AS ts, column4 AS event_type, column5 AS actor_role,
    column6 AS to_status
FROM (VALUES
    ('t1a', 'T1', '2026-03-02T09:00:00Z', 'created', 'customer', 'new'),
    ('t1b', 'T1', '2026-03-02T09:10:00Z', 'public_reply', 'agent', NULL),
    ('t1c', 'T1', '2026-03-02T09:10:00Z', 'status_changed', 'agent', 'open'),
    ('t1d', 'T1', '2026-03-02T11:00:00Z', 'status_changed', 'agent', 'resolved'),
    ('t2a', 'T2', '2026-03-03T09:00:00Z', 'created', 'customer', 'new'),
    ('t2b', 'T2', '2026-03-03T10:00:00Z', 'public_reply', 'agent', NULL),
    ('t2c', 'T2', '2026-03-03T10:00:00Z', 'status_changed', 'agent', 'open'),
    ('t2d', 'T2', '2026-03-03T11:00:00Z', 'status_changed', 'agent', 'pending'),
    ('t2e', 'T2', '2026-03-03T13:00:00Z', 'status_changed', 'customer', 'open'),
    ('t2f', 'T2', '2026-03-03T14:00:00Z', 'public_reply', 'agent', NULL),
    ('t2g', 'T2', '2026-03-03T15:00:00Z', 'status_changed', 'agent', 'resolved'),
    ('t3a', 'T3', '2026-03-04T09:00:00Z', 'created', 'customer', 'new'),
    ('t3b', 'T3', '2026-03-04T09:20:00Z', 'public_reply', 'agent', NULL),
    ('t3c', 'T3', '2026-03-04T09:20:00Z', 'status_changed', 'agent', 'open'),
    ('t3d', 'T3', '2026-03-04T10:00:00Z', 'status_changed', 'agent', 'resolved'),
    ('t3e', 'T3', '2026-03-05T09:00:00Z', 'reopened', 'customer', 'open'),
    ('t3f', 'T3', '2026-03-05T12:00:00Z', 'status_changed', 'agent', 'resolved'),
    ('t4a', 'T4', '2026-03-05T09:00:00Z', 'created', 'customer', 'new'),
    ('t5a', 'T5', '2026-03-06T16:00:00Z', 'created', 'customer', 'new'),
    ('t5b', 'T5', '2026-03-06T16:10:00Z', 'public_reply', 'agent', NULL),
    ('t5c', 'T5', '2026-03-06T16:10:00Z', 'status_changed', 'agent', 'open'),
    ('t6a', 'T6', '2026-02-27T09:00:00Z', 'created', 'customer', 'new'),
    ('t6b', 'T6', '2026-02-27T09:05:00Z', 'public_reply', 'agent', NULL),
    ('t6c', 'T6', '2026-02-27T09:05:00Z', 'status_changed', 'agent', 'open'),
    ('t6d', 'T6', '2026-03-02T10:00:00Z', 'status_changed', 'agent', 'resolved'),
    ('t8a', 'T8', '2026-03-04T09:00:00Z', 'created', 'customer', 'new'),
    ('t8b', 'T8', '2026-03-04T09:15:00Z', 'status_changed', 'agent', 'open'),
    ('t8c', 'T8', '2026-03-04T09:30:00Z', 'status_changed', 'agent', 'resolved'),
    ('t8d', 'T8', '2026-03-05T09:00:00Z', 'status_changed', 'system', 'closed')
);
";

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

async fn results() -> Vec<KpiResult> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let ws = Workspace::discover(Some(&dir)).unwrap();
    let session = Session::builder(&ws).build().unwrap();
    for statement in FIXTURE.split(';').filter(|s| !s.trim().is_empty()) {
        session
            .sql(statement)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
    }
    let period = Period {
        label: "week 10".into(),
        start: micros("2026-03-02T00:00:00Z"),
        end: micros("2026-03-09T00:00:00Z"),
    };
    let catalog = Catalog::bundled().unwrap();
    let mut out = Vec::new();
    for kpi in catalog.iter() {
        let kpi: Arc<_> = kpi.clone();
        out.push(
            run_kpi(
                session.context(),
                &kpi,
                &period,
                micros("2026-12-01T00:00:00Z"),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", kpi.name())),
        );
    }
    out
}

/// The value of `kpi` on its overall row (`None`) or on one breakdown row.
fn value(results: &[KpiResult], kpi: &str, breakdown: Option<(&str, &str)>) -> Option<f64> {
    let result = results.iter().find(|r| r.kpi.name() == kpi).unwrap();
    result
        .rows
        .iter()
        .find(|r| match breakdown {
            None => r.dimension.is_none(),
            Some((d, v)) => {
                r.dimension.as_deref() == Some(d) && r.dimension_value.as_deref() == Some(v)
            }
        })
        .and_then(|r| r.value)
}

/// A KPI, a breakdown row (None: overall) and its value.
type Case = (&'static str, Option<(&'static str, &'static str)>, f64);

#[tokio::test]
async fn every_bundled_kpi_matches_its_hand_computed_value() {
    let results = results().await;
    let hours = |seconds: f64| seconds / 3600.0;
    // (kpi, breakdown, expected): the derivations are in the module documentation.
    let expected: &[Case] = &[
        // Started in the week: met T1 T3 T5 T8, breached T2 T4.
        ("first_response_compliance", None, 4.0 / 6.0),
        ("first_response_compliance", Some(("team", "a")), 3.0 / 4.0),
        ("first_response_compliance", Some(("team", "b")), 1.0 / 2.0),
        // ann: T1 and T5 met, T2 breached.
        (
            "first_response_compliance",
            Some(("agent", "ann")),
            2.0 / 3.0,
        ),
        // Started in the week: met T1 T2 T8, breached T3 T4; T5 runs within target.
        ("resolution_compliance", None, 3.0 / 5.0),
        ("resolution_compliance", Some(("team", "a")), 1.0),
        ("resolution_compliance", Some(("team", "b")), 0.0),
        // Created in the week: T1 T2 T3 T8 resolved or closed at the end, T4 T5 open.
        ("problem_resolution_rate", None, 4.0 / 6.0),
        // First resolved in the week: T1 T2 T3 T6 T8; T2 had two replies, T3 was reopened.
        ("first_contact_resolution", None, 3.0 / 5.0),
        (
            "first_contact_resolution",
            Some(("agent", "bob")),
            1.0 / 2.0,
        ),
        ("reopen_rate", None, 1.0 / 5.0),
        // Scores of T1 T2 T3 T6: 5, 3, 4, 2.
        ("csat", None, 2.0 / 4.0),
        ("csat_score", None, 3.5),
        ("csat_score", Some(("agent", "ann")), 4.0),
        // First responses stopped in the week: 600, 3600, 1200, 600, 900 s.
        ("first_response_hours_median", None, hours(900.0)),
        // Linear interpolation at 0.9 × 4 = 3.6 between 1200 and 3600 s.
        (
            "first_response_hours_p90",
            None,
            hours(1200.0 + 0.6 * 2400.0),
        ),
        // Resolutions stopped in the week: T8 0.5 h, T1 2 h, T2 4 h, T6 9 h, T3 11 h.
        ("resolution_hours_median", None, 4.0),
        ("resolution_hours_p90", None, 9.0 + 0.6 * 2.0),
        ("resolution_hours_median", Some(("team", "b")), 10.0),
        ("resolution_hours_median", Some(("agent", "carl")), 0.5),
        // Open at the end: T4 (b) and T5 (a).
        ("backlog", None, 2.0),
        ("backlog", Some(("team", "a")), 1.0),
        ("backlog", Some(("agent", "bob")), 1.0),
        // 5 tickets first resolved by 3 agents; br-sp has 44 business hours that week
        // (Mon–Thu 9 h, Fri 8 h).
        ("productivity", None, 5.0 / (3.0 * 44.0)),
        ("productivity", Some(("agent", "ann")), 2.0 / 44.0),
    ];
    let mut wrong = Vec::new();
    for (kpi, breakdown, want) in expected {
        let got = value(&results, kpi, *breakdown);
        if !got.is_some_and(|g| (g - want).abs() < 1e-9) {
            wrong.push(format!("{kpi} {breakdown:?}: expected {want}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let catalog = Catalog::bundled().unwrap();
    for kpi in catalog.names() {
        assert!(
            expected.iter().any(|(k, _, _)| *k == kpi),
            "{kpi} has no hand-computed case"
        );
    }
}

/// A workspace's own KPI files: mistakes name the file and line; a file may override a
/// bundled KPI by name; `kpi_catalog` lists both.
#[test]
fn workspace_queries_are_checked_and_override_bundled_ones() {
    let ws = super::support::sample_copy();
    let queries = ws.path().join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    let header = |name: &str| {
        format!("-- name: {name}\n-- title: T\n-- unit: count\n-- direction: lower_is_better\n-- description: d\n")
    };
    let kpi_run = |args: &[&str]| {
        super::support::run(
            super::support::kpi()
                .arg("--workspace")
                .arg(ws.path())
                .args(["run", "--quarter", "2026-Q2"])
                .args(args),
        )
    };
    std::fs::write(
        queries.join("typo.sql"),
        header("typo") + "SELECT\n    team,\n    count(creatd_at) AS value\nFROM tickets\nGROUP BY GROUPING SETS ((), (team))\n",
    )
    .unwrap();
    let (code, _, err) = kpi_run(&["typo"]);
    assert_eq!(code, 1);
    assert!(err.contains("typo.sql:8: the query does not plan"), "{err}");
    assert!(err.contains("Did you mean 'tickets.created_at'?"), "{err}");
    std::fs::remove_file(queries.join("typo.sql")).unwrap();

    std::fs::write(
        queries.join("total.sql"),
        header("total") + "SELECT count(*) AS total FROM tickets\n",
    )
    .unwrap();
    let (code, _, err) = kpi_run(&["total"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("total.sql:6: the query has no `value` column (its columns: total)"),
        "{err}"
    );
    std::fs::remove_file(queries.join("total.sql")).unwrap();

    // An override of a bundled KPI, by name, from any file name.
    std::fs::write(
        queries.join("my_backlog.sql"),
        header("backlog") + "SELECT 42 AS value\n",
    )
    .unwrap();
    let (code, out, err) = kpi_run(&["backlog", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().nth(1).unwrap().contains(",42.0,"), "{out}");
    let (code, out, err) = super::support::run(
        super::support::kpi()
            .arg("--workspace")
            .arg(ws.path())
            .args([
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT name, source FROM kpi_catalog WHERE name IN ('backlog', 'csat') ORDER BY name",
        ]),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].starts_with("backlog,") && lines[1].ends_with("my_backlog.sql"),
        "{out}"
    );
    assert_eq!(lines[2], "csat,queries/csat.sql (bundled)");

    // A mistake in a header stops every command that loads the catalog.
    std::fs::write(
        queries.join("broken.sql"),
        "-- name: broken\n-- unit: percents\nSELECT 1 AS value\n",
    )
    .unwrap();
    let (code, _, err) = kpi_run(&["--all"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("broken.sql:2: unknown unit 'percents'"),
        "{err}"
    );
}
