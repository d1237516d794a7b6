//! Long-lived sessions: tables are resolved when a query plans, so a session sees what an
//! ingest commits after it was built, while a query keeps the versions it planned with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use kpi::ingest::load::{self, Options, Quiet};
use kpi::session::Session;
use kpi::tables::delta;
use kpi::workspace::Workspace;

use crate::support::sample_config_workspace;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mappings")
}

async fn ingest(ws: &Workspace, source: &str, file: &str) {
    let mapping = ws.config.sources.iter().find(|s| s.name == source).unwrap();
    load::ingest(
        &ws.config.data_dir,
        mapping,
        &[examples().join(file)],
        &Options::default(),
        &Quiet,
    )
    .await
    .unwrap();
}

async fn count(session: &Session, sql: &str) -> i64 {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn a_session_sees_later_ingests_and_a_query_keeps_its_versions() {
    let (_dir, ws) = sample_config_workspace();
    let session = Session::builder(&ws).build().unwrap();

    // Nothing ingested yet: the table does not exist, and the error says so.
    let err = session
        .sql("SELECT count(*) FROM tickets")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tickets"), "{err}");

    ingest(&ws, "helpdesk_tickets", "tickets.csv").await;
    let tickets = count(&session, "SELECT count(*) FROM tickets").await;
    assert_eq!(tickets, 10);
    let listed = session
        .sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let names = datafusion::arrow::util::pretty::pretty_format_batches(&listed)
        .unwrap()
        .to_string();
    assert!(
        names.contains("tickets") && names.contains("quarantine"),
        "{names}"
    );

    // A query planned now reads the version it planned with, even if an ingest commits
    // before it runs.
    let planned = session
        .sql("SELECT count(*) FROM ticket_events")
        .await
        .unwrap();
    ingest(&ws, "helpdesk_events", "events.ndjson").await;
    let before = planned.collect().await.unwrap();
    assert_eq!(before[0].column(0).as_primitive::<Int64Type>().value(0), 0);
    // The same session, not rebuilt, sees the new commit in its next query.
    let events = count(&session, "SELECT count(*) FROM ticket_events").await;
    assert!(events > 50, "{events}");

    // Time travel: the versions of the table, and the table as it was at one of them.
    let path = ws.config.data_dir.join("ticket_events");
    let versions = delta::versions(&path).await.unwrap();
    let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 0], "{versions:?}");
    assert_eq!(versions[1].operation.as_deref(), Some("CREATE TABLE"));
    assert!(versions.iter().all(|v| v.timestamp_ms.is_some()));
    let created = delta::open_at(&path, 0).await.unwrap();
    assert_eq!(delta::file_count(&created), 0);
    assert!(delta::file_count(&delta::open(&path).await.unwrap()) > 0);
    let provider = delta::provider(Arc::new(session.context().state()), &created, &path)
        .await
        .unwrap();
    session
        .context()
        .register_table("events_at_0", provider)
        .unwrap();
    assert_eq!(count(&session, "SELECT count(*) FROM events_at_0").await, 0);
    let err = delta::open_at(&path, 7).await.unwrap_err().to_string();
    assert!(err.contains("ticket_events"), "{err}");
}

#[tokio::test]
async fn a_read_only_session_refuses_writes_and_settings_start_from_the_builder() {
    let (dir, ws) = sample_config_workspace();
    let as_of = chrono::DateTime::parse_from_rfc3339("2026-06-30T23:00:00Z")
        .unwrap()
        .to_utc();
    let session = Session::builder(&ws)
        .read_only(true)
        .as_of(Some(as_of))
        .memory_limit(Some(256 << 20))
        .build()
        .unwrap();
    assert_eq!(session.options().as_of, Some(as_of));
    let target = dir.path().join("out.csv");
    for sql in [
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
    ] {
        let err = session.sql(&sql).await.unwrap_err().to_string();
        assert!(
            err.contains("not supported") || err.contains("not allowed"),
            "{sql}: {err}"
        );
    }
    assert!(!target.exists());
    // The stored tables change only through ingest, whatever the session allows.
    ingest(&ws, "helpdesk_tickets", "tickets.csv").await;
    let writable = Session::builder(&ws).build().unwrap();
    for sql in [
        "INSERT INTO tickets SELECT * FROM tickets",
        "DELETE FROM tickets",
        "UPDATE tickets SET team = 'x'",
        "TRUNCATE TABLE tickets",
    ] {
        let result = match writable.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("'tickets'") && err.contains("kpi ingest"),
            "{sql}: {err}"
        );
    }
    assert_eq!(count(&writable, "SELECT count(*) FROM tickets").await, 10);
    // Tables of the session's own are writable.
    writable
        .sql("CREATE TABLE mine AS SELECT ticket_id FROM tickets")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    writable
        .sql("INSERT INTO mine VALUES ('x')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(count(&writable, "SELECT count(*) FROM mine").await, 11);
    // Files by path are off unless asked for.
    let err = session
        .sql(&format!(
            "SELECT * FROM '{}'",
            examples().join("tickets.csv").display()
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found"), "{err}");
    // Reading and settings still work.
    session
        .sql("SET kpi.as_of = 'now'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(session.options().as_of, None);
}

#[tokio::test]
async fn files_in_the_data_folder_are_tables_and_name_clashes_are_errors() {
    let (_dir, ws) = sample_config_workspace();
    let data = &ws.config.data_dir;
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(
        data.join("targets.csv"),
        "team,goal\nbilling,0.9\ntech,0.8\n",
    )
    .unwrap();
    let session = Session::builder(&ws).build().unwrap();
    assert_eq!(count(&session, "SELECT count(*) FROM targets").await, 2);
    // A second table of the same name is an error that names both, not a silent choice.
    std::fs::write(data.join("targets.json"), "{\"team\": \"x\"}\n").unwrap();
    let err = session
        .sql("SELECT * FROM targets")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("two tables are named 'targets'")
            && err.contains("targets.csv")
            && err.contains("targets.json"),
        "{err}"
    );
    // Listed once, even when another table's entry sorts between the two (`targets/`,
    // `targets-old.csv`, `targets.csv`).
    std::fs::remove_file(data.join("targets.json")).unwrap();
    std::fs::create_dir(data.join("targets")).unwrap();
    std::fs::write(data.join("targets-old.csv"), "team\nx\n").unwrap();
    let listed = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'targets'";
    assert_eq!(count(&session, listed).await, 1);
}

#[tokio::test]
async fn the_sla_views_follow_ingests_and_the_as_of_setting() {
    let (_dir, ws) = sample_config_workspace();
    let session = Session::builder(&ws).build().unwrap();
    let sla = "SELECT count(*) FROM ticket_sla";
    let intervals = "SELECT count(*) FROM ticket_status_intervals";

    // No tables yet: the views are empty, not an error.
    assert_eq!(count(&session, sla).await, 0);
    assert_eq!(count(&session, intervals).await, 0);

    // A tickets-only source: one interval per ticket, clocks from the tickets' timestamps.
    ingest(&ws, "helpdesk_tickets", "tickets.csv").await;
    let tickets = count(&session, "SELECT count(*) FROM tickets").await;
    assert_eq!(count(&session, intervals).await, tickets);
    let from_tickets = count(&session, sla).await;
    assert!(from_tickets > 0);

    // The same session sees the event log once it is ingested.
    ingest(&ws, "helpdesk_events", "events.ndjson").await;
    let with_events = count(&session, sla).await;
    assert!(
        with_events > from_tickets,
        "{with_events} vs {from_tickets}"
    );
    assert!(count(&session, intervals).await > tickets);

    // As of an instant before every ticket, nothing existed.
    session
        .sql("SET kpi.as_of = '2000-01-01T00:00:00Z'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(count(&session, sla).await, 0);
    assert_eq!(count(&session, intervals).await, 0);
}
