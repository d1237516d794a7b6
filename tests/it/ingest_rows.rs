//! `kpi ingest`, what real exports need: combined columns, values that mark rows to skip,
//! `--check`, `--replace-source`, snapshot milestones from the status history, un-assignment,
//! malformed lines, NDJSON read line by line, timestamps outside their range, quarantine keyed
//! by the canonical path, the summary's words, a closed pipe; and the same tables and
//! quarantine whatever the number of threads and the size of the ranges read.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;

use kpi::ingest::load::{self, Commit};

use super::ingest::{counts, kpi, Ws, EVENTS, SNAPSHOTS, TICKETS_A};

const ITSM: &str = r#"
[sources.itsm]
shape = "tickets"
timestamp_formats = ["%Y-%m-%d %H:%M"]
columns = { ticket_id = "Id", created_at = "Created", status = { headers = ["Status", "Sub Status"], join = "-" } }
values.status = { "Open" = "open", "Closed-Resolved" = "resolved", "Closed-Duplicate" = "skip", "-100" = "skip" }
"#;

const ITSM_EXPORT: &str = "Id,Created,Status,Sub Status\n\
    1,2026-03-02 08:00,Open,\n\
    2,2026-03-02 08:00,Closed,Resolved\n\
    3,2026-03-02 08:00,Closed,Duplicate\n\
    4,2026-03-02 08:00,-100,\n\
    5,2026-03-02 08:00,Closed,Weird\n";

/// Quarantine rows as `line|column|value|reason`.
fn quarantine(ws: &Ws) -> String {
    ws.sql(
        "SELECT concat_ws('|', line, \"column\", value, reason) AS row FROM quarantine \
         ORDER BY line, \"column\"",
    )
}

fn options(commit: Commit) -> load::Options {
    load::Options {
        commit,
        ..Default::default()
    }
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_status_from_two_columns_and_values_that_mark_rows_to_skip() {
    let ws = Ws::with_sources(ITSM);
    let export = ws.export("itsm.csv", ITSM_EXPORT);
    let out = kpi(&ws)
        .args(["ingest", "-s", "itsm"])
        .arg(&export)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("itsm.csv: 5 rows, 1 quarantined, 2 skipped by the mapping"),
        "{text}"
    );
    assert!(
        text.contains(
            "tickets: 5 read, 2 inserted, 0 updated, 0 unchanged, 1 quarantined, 2 skipped"
        ),
        "{text}"
    );
    assert_eq!(
        ws.sql("SELECT ticket_id, status FROM tickets ORDER BY ticket_id"),
        "+-----------+----------+\n\
         | ticket_id | status   |\n\
         +-----------+----------+\n\
         | 1         | open     |\n\
         | 2         | resolved |\n\
         +-----------+----------+"
    );
    let q = quarantine(&ws);
    for row in [
        "4|Status+Sub Status|Closed-Duplicate|skipped by mapping",
        "5|Status+Sub Status|-100|skipped by mapping",
        "6|Status+Sub Status|Closed-Weird|unknown status",
    ] {
        assert!(q.contains(row), "{row} in {q}");
    }
    // Skipped rows are not errors for --strict: the first bad row is line 6.
    let fresh = Ws::with_sources(ITSM);
    let export = fresh.export("itsm.csv", ITSM_EXPORT);
    let err = fresh
        .try_ingest("itsm", &[export], true)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "itsm.csv:6: column 'Status+Sub Status', value 'Closed-Weird': unknown status with \
             no mapping (add it under [sources.NAME.values.status] or use one of new, open, \
             pending, on_hold, resolved, closed)"
        ),
        "{err}"
    );
}

#[test]
fn check_reports_what_a_run_would_do_and_commits_nothing() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    ws.ingest("desk", &[a]);
    let before = ws.contents();
    let b = ws.export("b.csv", super::ingest::TICKETS_B);
    let out = kpi(&ws)
        .args(["ingest", "-s", "desk", "--check"])
        .arg(&b)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(
            "tickets: 3 read, 1 inserted, 1 updated, 1 unchanged, 0 quarantined (version 1)"
        ),
        "{text}"
    );
    assert!(text.contains("check only: nothing was committed"), "{text}");
    assert_eq!(ws.contents(), before);
    assert!(!ws.root().join("data/_staging").exists());

    // Derived tickets are counted against the events the run would add.
    let fresh = Ws::new();
    let events = fresh.export("events.csv", EVENTS);
    let report = fresh
        .ingest_with("log", &[events], &options(Commit::Check))
        .unwrap();
    assert_eq!(counts(&report, "ticket_events").1, 8);
    assert_eq!(counts(&report, "tickets"), (2, 2, 0, 0, 0));
    assert!(report.tables["tickets"].derived);
    assert!(fresh
        .sql("SELECT count(*) AS n FROM ticket_events")
        .contains("| 0 |"));
}

#[test]
fn replace_source_rebuilds_a_source_after_its_mapping_changed() {
    let ws = Ws::new();
    let events = ws.export("events.csv", EVENTS);
    ws.ingest("log", std::slice::from_ref(&events));
    let kinds = || {
        ws.sql(
            "SELECT event_type, count(*) AS n FROM ticket_events \
             GROUP BY event_type ORDER BY event_type",
        )
    };
    assert!(kinds().contains("| reply "), "{}", kinds());
    // The mapping learns the log's word for a public reply.
    let config = ws.root().join("kpi.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "values.status = { \"Done\" = \"resolved\" }\n\n[sources.audit]",
        "values.status = { \"Done\" = \"resolved\" }\nvalues.event_type = { \"reply\" = \"public_reply\" }\n\n[sources.audit]",
    );
    std::fs::write(&config, text).unwrap();
    // A plain run keeps the old events beside the new ones…
    ws.ingest("log", std::slice::from_ref(&events));
    assert!(kinds().contains("| reply "), "{}", kinds());
    assert!(kinds().contains("| public_reply "), "{}", kinds());
    // …a replacing run leaves only what the new mapping makes.
    let report = ws
        .ingest_with(
            "log",
            std::slice::from_ref(&events),
            &options(Commit::Replace),
        )
        .unwrap();
    assert_eq!(counts(&report, "ticket_events").1, 8);
    assert!(!kinds().contains("| reply "), "{}", kinds());
    assert!(ws
        .sql("SELECT count(*) AS n FROM ticket_events")
        .contains("| 8 |"));
    let fresh = Ws::new();
    std::fs::copy(&config, fresh.root().join("kpi.toml")).unwrap();
    fresh.ingest("log", &[fresh.export("events.csv", EVENTS)]);
    let tables = |ws: &Ws| {
        ws.sql("SELECT * FROM tickets ORDER BY ticket_id")
            + &ws.sql("SELECT * FROM ticket_events ORDER BY event_id")
    };
    assert_eq!(tables(&ws), tables(&fresh));

    // Other sources are left alone, and an export with no good row removes the source's rows.
    let a = ws.export("a.csv", TICKETS_A);
    ws.ingest("desk", &[a]);
    let header_only = ws.export("none.csv", "Ticket,At,Kind,Role,From,To,Team,Channel\n");
    ws.ingest_with("log", &[header_only], &options(Commit::Replace))
        .unwrap();
    assert!(ws
        .sql("SELECT count(*) AS n FROM ticket_events")
        .contains("| 0 |"));
    assert_eq!(
        ws.sql("SELECT source_system, count(*) AS n FROM tickets GROUP BY source_system"),
        "+---------------+---+\n\
         | source_system | n |\n\
         +---------------+---+\n\
         | desk          | 3 |\n\
         +---------------+---+"
    );
}

#[test]
fn snapshots_fill_blank_milestones_from_their_status_history() {
    let ws = Ws::new();
    let audit = ws.export("audit.csv", SNAPSHOTS);
    let report = ws.ingest("audit", &[audit]);
    // Older snapshots of a new ticket are superseded, not unchanged.
    assert_eq!(counts(&report, "tickets"), (5, 2, 0, 0, 0));
    assert_eq!(report.tables["tickets"].superseded, 3);
    assert_eq!(
        ws.sql("SELECT ticket_id, status, resolved_at, closed_at FROM tickets ORDER BY ticket_id"),
        "+-----------+----------+----------------------+-----------+\n\
         | ticket_id | status   | resolved_at          | closed_at |\n\
         +-----------+----------+----------------------+-----------+\n\
         | INC1      | resolved | 2026-03-02T09:00:00Z |           |\n\
         | INC2      | new      |                      |           |\n\
         +-----------+----------+----------------------+-----------+"
    );

    // A value of the export wins; a closed ticket's blank closed_at is its last entry into
    // closed; an assignee that goes away is an `assigned` event with an empty value.
    let ws = Ws::with_sources(
        r#"
[sources.itil]
shape = "snapshots"
timestamp_formats = ["%Y-%m-%d %H:%M"]
columns = { ticket_id = "number", created_at = "opened", updated_at = "updated", sequence = "n", status = "state", assignee = "owner", resolved_at = "resolved", closed_at = "closed" }
values.status = { "1" = "new", "2" = "open", "6" = "resolved", "7" = "closed" }
"#,
    );
    let export = ws.export(
        "itil.csv",
        "number,opened,updated,n,state,owner,resolved,closed\n\
         A,2026-03-02 08:00,2026-03-02 08:00,0,1,,,\n\
         A,2026-03-02 08:00,2026-03-02 09:00,1,6,ana,2026-03-02 08:55,\n\
         A,2026-03-02 08:00,2026-03-02 10:00,2,7,ana,,\n\
         B,2026-03-02 08:00,2026-03-02 08:00,0,2,bo,,\n\
         B,2026-03-02 08:00,2026-03-02 08:30,1,2,,,\n",
    );
    ws.ingest("itil", &[export]);
    assert_eq!(
        ws.sql(
            "SELECT ticket_id, status, assignee, resolved_at, closed_at FROM tickets ORDER BY 1"
        ),
        "+-----------+--------+----------+----------------------+----------------------+\n\
         | ticket_id | status | assignee | resolved_at          | closed_at            |\n\
         +-----------+--------+----------+----------------------+----------------------+\n\
         | A         | closed | ana      | 2026-03-02T09:00:00Z | 2026-03-02T10:00:00Z |\n\
         | B         | open   |          |                      |                      |\n\
         +-----------+--------+----------+----------------------+----------------------+"
    );
    assert_eq!(
        ws.sql(
            "SELECT ticket_id, ts, value FROM ticket_events WHERE event_type = 'assigned' \
             ORDER BY ticket_id, ts"
        ),
        "+-----------+----------------------+-------+\n\
         | ticket_id | ts                   | value |\n\
         +-----------+----------------------+-------+\n\
         | A         | 2026-03-02T09:00:00Z | ana   |\n\
         | B         | 2026-03-02T08:30:00Z |       |\n\
         +-----------+----------------------+-------+"
    );
}

#[test]
fn malformed_lines_name_their_field_counts_and_text() {
    let ws = Ws::new();
    let export = ws.export(
        "short.csv",
        "Id,Created,Updated,Status,Team,Resolved\n\
         1,2026-03-02 08:00,2026-03-02 08:00,Open,billing,\n\
         2,2026-03-02 08:00\n\
         3,2026-03-02 08:00,2026-03-02 08:00,Open,billing,,extra\n",
    );
    let report = ws.ingest("desk", &[export]);
    assert_eq!(counts(&report, "tickets"), (3, 1, 0, 0, 2));
    let q = quarantine(&ws);
    assert!(
        q.contains("3|(line)|2,2026-03-02 08:00|malformed line: 2 fields, header has 6"),
        "{q}"
    );
    assert!(
        q.contains(
            "4|(line)|3,2026-03-02 08:00,2026-03-02 08:00,Open,billing,,extra|malformed line: \
             7 fields, header has 6"
        ),
        "{q}"
    );
}

#[test]
fn ndjson_is_read_line_by_line_as_strictly_as_csv() {
    let ws = Ws::new();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        b"{\"id\": \"e1\", \"ticket\": 1, \"at\": \"2026-03-02T08:00:00Z\", \"type\": \"created\"}\n\
          {\"id\": \"e2\", \"ticket\": 1.0, \"at\": \"2026-03-02T08:10:00Z\", \"type\": \"internal_note\"}\n\
          {\"id\": \"e3\", \"ticket\": \"1\", \"at\": \"2026-03-02T08:20:00Z\", \"type\": \"caf\xE9\"}\n\
          {\"id\": \"e4\", \"ticket\": 1, \"at\": \"2026-03-02T08:30:00Z\", \"type\": {\"name\": \"x\"}}\n\
          {\"id\": \"e5\", \"ticket\": 1, \"at\": \"2026-03-02T08:40:00Z\", \"type\": \"csat_rated\", \"csat\": 1e2}\n\
          {\"id\": \"e6\", \"ticket\": 1, \"at\": \"2026-03-02T08:50:00Z\", \"type\": \"internal_note\"}\n",
    );
    let path = ws.root().join("feed.ndjson");
    std::fs::write(&path, bytes).unwrap();
    let report = ws.ingest("feed", &[path]);
    assert_eq!(counts(&report, "ticket_events"), (6, 3, 0, 0, 3));
    // The byte-order mark is skipped and `1.0` is the ticket `1`.
    assert_eq!(
        ws.sql("SELECT DISTINCT ticket_id FROM ticket_events"),
        "+-----------+\n\
         | ticket_id |\n\
         +-----------+\n\
         | 1         |\n\
         +-----------+"
    );
    let q = quarantine(&ws);
    assert!(q.contains("|not a JSON object"), "{q}");
    assert!(q.contains("3|(line)|"), "{q}");
    assert!(
        q.contains("|key 'type': an object where a value is expected"),
        "{q}"
    );
    assert!(
        q.contains("5|csat|1e2|not an integer (csat_score expects a whole number)"),
        "{q}"
    );
}

#[test]
fn timestamps_outside_their_range_are_bad_rows_not_failed_runs() {
    let ws = Ws::with_sources(
        r#"
[sources.epoch]
shape = "tickets"
timestamp_formats = ["unix"]
columns = { ticket_id = "Id", created_at = "Created", status = "Status" }

[sources.recent]
shape = "tickets"
timestamp_formats = ["%d/%m/%Y", "%d/%m/%y"]
timestamp_range = ["2020-01-01", "2030-12-31"]
columns = { ticket_id = "Id", created_at = "Created", status = "Status" }
"#,
    );
    let export = ws.export(
        "epoch.csv",
        "Id,Created,Status\n1,1772438400,open\n2,8210298412800,open\n3,1772438400.5,open\n",
    );
    let report = ws.ingest("epoch", std::slice::from_ref(&export));
    assert_eq!(counts(&report, "tickets"), (3, 2, 0, 0, 1));
    let q = quarantine(&ws);
    assert!(
        q.contains("3|Created|8210298412800|timestamp outside 1970-01-01 to 2100-12-31 (read as"),
        "{q}"
    );
    assert!(ws
        .sql("SELECT created_at FROM tickets WHERE ticket_id = '3'")
        .contains("2026-03-02T08:00:00.500Z"));
    let err = Ws::with_sources(
        "[sources.epoch]\nshape = \"tickets\"\ntimestamp_formats = [\"unix\"]\n\
         columns = { ticket_id = \"Id\", created_at = \"Created\", status = \"Status\" }\n",
    )
    .try_ingest("epoch", &[export], true)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("epoch.csv:3: column 'Created', value '8210298412800': timestamp outside"),
        "{err}"
    );

    let export = ws.export(
        "recent.csv",
        "Id,Created,Status\n1,02/03/26,open\n2,02/03/2026,open\n3,02/03/1999,open\n",
    );
    let report = ws.ingest("recent", &[export]);
    assert_eq!(counts(&report, "tickets"), (3, 2, 0, 0, 1));
    assert!(ws
        .sql(
            "SELECT count(*) AS n FROM tickets WHERE created_at = TIMESTAMP '2026-03-02T00:00:00Z'"
        )
        .contains("| 2 |"));
}

#[test]
fn a_file_given_by_two_paths_is_one_file_in_quarantine() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    ws.ingest("desk", &[a]);
    let out = kpi(&ws)
        .current_dir(ws.root())
        .args(["ingest", "-s", "desk", "a.csv"])
        .output()
        .unwrap();
    stdout(&out);
    assert!(ws
        .sql("SELECT count(*) AS n FROM quarantine")
        .contains("| 1 |"));
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_a_crash() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    let mut child = kpi(&ws)
        .args(["ingest", "-s", "desk"])
        .arg(&a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -c 0`: the reader goes away before the summary is written.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(ws
        .sql("SELECT count(*) AS n FROM tickets")
        .contains("| 3 |"));
}

/// The same exports read by one thread in one piece, or by several in small byte ranges (CSV
/// with quoted line breaks that ranges start inside, and NDJSON), give the same tables, the
/// same quarantine and the same counts.
#[test]
fn the_tables_do_not_depend_on_threads_or_ranges() {
    let mut csv = String::from("Id,Created,Updated,Status,Team,Resolved\n");
    let mut events = String::new();
    for i in 0..3000 {
        let team = if i % 7 == 0 {
            format!("\"multi\nline {i}\"")
        } else {
            format!("team-{}", i % 5)
        };
        let created = if i % 97 == 0 {
            "garbage".to_string()
        } else {
            format!("2026-03-{:02} 08:00", 1 + i % 28)
        };
        csv.push_str(&format!(
            "{i},{created},2026-03-28 09:00,{},{team},\n",
            ["Open", "Waiting", "Done", "Escalated"][i % 4]
        ));
        events.push_str(&format!(
            "{{\"id\": \"e{i}\", \"ticket\": \"{}\", \"at\": \"2026-03-{:02}T08:00:00Z\", \"type\": \"{}\"}}\n",
            i % 300,
            1 + i % 28,
            if i % 89 == 0 { "" } else { "internal_note" }
        ));
        if i % 211 == 0 {
            events.push_str("{broken\n");
        }
    }
    let run = |threads: usize, range_bytes: u64| {
        let ws = Ws::new();
        let files: Vec<PathBuf> = vec![ws.export("t.csv", &csv)];
        let options = load::Options {
            threads,
            range_bytes,
            ..Default::default()
        };
        let a = ws.ingest_with("desk", &files, &options).unwrap();
        let feed = vec![ws.export("e.ndjson", &events)];
        let b = ws.ingest_with("feed", &feed, &options).unwrap();
        let contents = ws
            .contents()
            .replace(&ws.root().display().to_string(), "<ws>");
        (contents, format!("{:?}{:?}", a.tables, b.tables))
    };
    let one = run(1, load::Options::RANGE_BYTES);
    for (threads, range) in [(2, 4096), (3, 1000), (4, 333)] {
        assert_eq!(
            run(threads, range),
            one,
            "{threads} threads, ranges of {range} bytes"
        );
    }
}

/// Tickets derived from a first run of new events (read bucket by bucket from the staged
/// files) are those derived from the same events when the run has to weigh them (here, with a
/// few lines given twice, the derivation splits the planned rows anew), whatever the chunks.
#[test]
fn derived_tickets_do_not_depend_on_where_the_events_are_read() {
    let mut lines = vec![String::from("Ticket,At,Kind,Role,From,To,Team,Channel")];
    let statuses = ["new", "open", "Done", "pending", "open", "Done"];
    for i in 0..240 {
        let ticket = i % 37;
        // Ties of instant within a ticket, and attributes that change along the history.
        let minute = (i / 37) * 7 % 60;
        let at = format!("2026-03-{:02} 1{}:{minute:02}", 2 + ticket % 20, i / 100);
        let to = statuses[(i / 37) % statuses.len()];
        let (kind, role) = match i / 37 {
            0 => ("created", "customer"),
            n if n % 3 == 1 => ("reply", "agent"),
            _ => ("status", if i % 2 == 0 { "agent" } else { "customer" }),
        };
        let team = ["", "billing", "tech"][(i * 7) % 3];
        let channel = if i % 5 == 0 { "email" } else { "" };
        lines.push(format!(
            "{ticket},{at},{kind},{role},,{to},{team},{channel}"
        ));
    }
    let whole = lines.join("\n") + "\n";
    let mut again = lines.clone();
    again.extend(lines[1..].iter().step_by(17).cloned());
    let again = again.join("\n") + "\n";
    let run = |text: &str, chunk_rows: u64| {
        let ws = Ws::new();
        let options = load::Options {
            chunk_rows,
            threads: 2,
            ..Default::default()
        };
        let report = ws
            .ingest_with("log", &[ws.export("log.csv", text)], &options)
            .unwrap();
        let tickets = report.tables["tickets"].inserted;
        let contents = ws
            .contents()
            .replace(&ws.root().display().to_string(), "<ws>");
        (contents, tickets)
    };
    let expected = run(&whole, 1_000_000);
    assert_eq!(expected.1, 37);
    for chunk_rows in [4, 50] {
        assert_eq!(
            run(&whole, chunk_rows),
            expected,
            "chunks of {chunk_rows} rows"
        );
        assert_eq!(
            run(&again, chunk_rows),
            expected,
            "lines given twice, chunks of {chunk_rows} rows"
        );
    }
}

/// Snapshots read bucket by bucket from the staged files (a first run) give the tickets and
/// events they give when the stored tables are too large for the staged buckets and the
/// snapshots are split anew.
#[test]
fn snapshot_tickets_do_not_depend_on_where_the_snapshots_are_read() {
    let mut audit = String::from(
        "number,opened_at,sys_updated_on,sys_mod_count,state,assigned_to,sys_updated_by\n",
    );
    for ticket in 0..40 {
        let versions = 1 + ticket % 5;
        for seq in 0..versions {
            let state = ["1", "2", "6", "2", "6"][seq];
            let who = ["", "ana", "bo", "", "ana"][(seq + ticket) % 5];
            audit.push_str(&format!(
                "INC{ticket},2026-03-02 08:00,2026-03-{:02} 1{seq}:00,{seq},{state},{who},portal\n",
                2 + ticket % 9
            ));
        }
    }
    // Events of other tickets, more rows than the snapshots.
    let mut log = String::from("Ticket,At,Kind,Role,From,To,Team,Channel\n");
    for i in 0..400 {
        log.push_str(&format!(
            "X{},2026-03-02 08:{:02},status,agent,,open,,\n",
            i % 50,
            i % 60
        ));
    }
    let options = load::Options {
        chunk_rows: 4,
        threads: 2,
        ..Default::default()
    };
    let run = |ws: &Ws| {
        let report = ws
            .ingest_with("audit", &[ws.export("audit.csv", &audit)], &options)
            .unwrap();
        let rows = ["tickets", "ticket_events"].map(|t| {
            ws.sql(&format!(
                "SELECT * FROM {t} WHERE ticket_id LIKE 'INC%' ORDER BY 1, 2, 3, 4, 5"
            ))
        });
        let c = &report.tables["tickets"];
        (
            rows,
            (c.read, c.inserted, c.updated, c.unchanged, c.superseded),
        )
    };
    let first = Ws::new();
    let expected = run(&first);
    assert!(expected.0[0].contains("INC39"), "{}", expected.0[0]);
    let after_events = Ws::new();
    after_events
        .ingest_with("log", &[after_events.export("log.csv", &log)], &options)
        .unwrap();
    let got = run(&after_events);
    assert_eq!(got.1, expected.1);
    assert_eq!(got.0[0], expected.0[0]);
    assert_eq!(got.0[1], expected.0[1]);
}
