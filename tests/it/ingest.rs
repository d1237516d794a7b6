//! `kpi ingest`: exports of the three shapes into the stored Delta tables, quarantine,
//! `--strict`, idempotence and order independence, through the library and the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::util::pretty::pretty_format_batches;
use kpi::ingest::load::{self, IngestReport, Quiet, TableCounts};
use kpi::workspace::{Origin, Workspace};

pub(crate) const CONFIG: &str = r#"
[calendars.utc]
timezone = "UTC"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"],
          thu = ["09:00-17:00"], fri = ["09:00-17:00"] }

[sources.desk]
shape = "tickets"
timestamp_formats = ["%Y-%m-%d %H:%M"]
null_values = ["", "?"]
columns = { ticket_id = "Id", created_at = "Created", updated_at = "Updated", status = "Status", team = "Team", resolved_at = "Resolved" }
values.status = { "Done" = "resolved", "Waiting" = "pending" }

[sources.log]
shape = "events"
timestamp_formats = ["%Y-%m-%d %H:%M"]
columns = { ticket_id = "Ticket", ts = "At", event_type = "Kind", actor_role = "Role", from_status = "From", to_status = "To", team = "Team", channel = "Channel" }
values.status = { "Done" = "resolved" }

[sources.audit]
shape = "snapshots"
timestamp_formats = ["%Y-%m-%d %H:%M"]
columns = { ticket_id = "number", created_at = "opened_at", updated_at = "sys_updated_on", sequence = "sys_mod_count", status = "state", assignee = "assigned_to", actor = "sys_updated_by" }
values.status = { "1" = "new", "2" = "open", "6" = "resolved" }

[sources.feed]
shape = "events"
format = "ndjson"
derive_tickets = false
columns = { event_id = "id", ticket_id = "ticket", ts = "at", event_type = "type", csat_score = "csat" }
"#;

/// A temporary workspace with [`CONFIG`].
pub(crate) struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    pub(crate) fn new() -> Ws {
        Ws::with_sources("")
    }

    /// A workspace with [`CONFIG`] and `more` sources.
    pub(crate) fn with_sources(more: &str) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kpi.toml"), format!("{CONFIG}\n{more}")).unwrap();
        Ws { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn workspace(&self) -> Workspace {
        Workspace::open(self.root(), Origin::Explicit).unwrap()
    }

    /// Write an export file into the workspace folder.
    pub(crate) fn export(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub(crate) fn ingest(&self, source: &str, files: &[PathBuf]) -> IngestReport {
        self.try_ingest(source, files, false).unwrap()
    }

    pub(crate) fn try_ingest(
        &self,
        source: &str,
        files: &[PathBuf],
        strict: bool,
    ) -> Result<IngestReport, load::IngestError> {
        let options = load::Options {
            strict,
            ..Default::default()
        };
        self.ingest_with(source, files, &options)
    }

    pub(crate) fn ingest_with(
        &self,
        source: &str,
        files: &[PathBuf],
        options: &load::Options,
    ) -> Result<IngestReport, load::IngestError> {
        let ws = self.workspace();
        let mapping = ws
            .config
            .sources
            .iter()
            .find(|s| s.name == source)
            .unwrap()
            .clone();
        runtime().block_on(load::ingest(
            &ws.config.data_dir,
            &mapping,
            files,
            options,
            &Quiet,
        ))
    }

    /// A query's result as a text table.
    pub(crate) fn sql(&self, sql: &str) -> String {
        let ws = self.workspace();
        runtime().block_on(async {
            let ctx = kpi::session::Session::builder(&ws).build().unwrap();
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            pretty_format_batches(&batches).unwrap().to_string()
        })
    }

    /// Every stored table, sorted, as text: two workspaces hold the same data when equal.
    pub(crate) fn contents(&self) -> String {
        ["tickets", "ticket_events", "quarantine"]
            .iter()
            .map(|t| self.sql(&format!("SELECT * FROM {t} ORDER BY 1, 2, 3, 4, 5, 6")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn counts(report: &IngestReport, table: &str) -> (u64, u64, u64, u64, u64) {
    let TableCounts {
        read,
        inserted,
        updated,
        unchanged,
        quarantined,
        ..
    } = report.tables[table];
    (read, inserted, updated, unchanged, quarantined)
}

pub(crate) const TICKETS_A: &str = "Id,Created,Updated,Status,Team,Resolved\n\
    1,2026-03-02 08:00,2026-03-02 08:00,Open,billing,\n\
    2,2026-03-02 09:00,2026-03-02 10:00,Done,tech,2026-03-02 10:00\n\
    3,2026-03-02 09:30,2026-03-02 09:30,Waiting,tech,?\n\
    4,not a date,2026-03-02 09:30,Open,tech,\n";

/// A later export: ticket 1 resolved, 3 unchanged, 5 new.
pub(crate) const TICKETS_B: &str = "Id,Created,Updated,Status,Team,Resolved\n\
    1,2026-03-02 08:00,2026-03-03 12:00,Done,billing,2026-03-03 12:00\n\
    3,2026-03-02 09:30,2026-03-02 09:30,Waiting,tech,\n\
    5,2026-03-04 08:00,2026-03-04 08:00,Open,billing,\n";

#[test]
fn a_tickets_export_lands_in_tickets_and_bad_rows_in_quarantine() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    let report = ws.ingest("desk", std::slice::from_ref(&a));
    assert_eq!(counts(&report, "tickets"), (4, 3, 0, 0, 1));
    assert_eq!(report.files[0].rows, 4);
    assert_eq!(report.tables["tickets"].version, 1);
    let out = ws.sql(
        "SELECT ticket_id, source_system, status, team, resolved_at, reopen_count \
         FROM tickets ORDER BY ticket_id",
    );
    assert_eq!(
        out,
        "+-----------+---------------+----------+---------+----------------------+--------------+\n\
         | ticket_id | source_system | status   | team    | resolved_at          | reopen_count |\n\
         +-----------+---------------+----------+---------+----------------------+--------------+\n\
         | 1         | desk          | open     | billing |                      | 0            |\n\
         | 2         | desk          | resolved | tech    | 2026-03-02T10:00:00Z | 0            |\n\
         | 3         | desk          | pending  | tech    |                      | 0            |\n\
         +-----------+---------------+----------+---------+----------------------+--------------+"
    );
    let quarantine = ws.sql("SELECT file, line, \"column\", value, reason FROM quarantine");
    assert!(quarantine.contains("a.csv"), "{quarantine}");
    assert!(
        quarantine.contains("| 5    | Created | not a date | unparseable timestamp"),
        "{quarantine}"
    );
}

#[test]
fn ingesting_the_same_file_twice_changes_nothing() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    ws.ingest("desk", std::slice::from_ref(&a));
    let before = ws.contents();
    let again = ws.ingest("desk", std::slice::from_ref(&a));
    assert_eq!(counts(&again, "tickets"), (4, 0, 0, 3, 1));
    assert_eq!(again.tables["tickets"].version, 1, "no new commit");
    assert_eq!(ws.contents(), before);
}

/// A new workspace after ingesting `exports` (file name, text) one run each, in order; the
/// report of the last run.
fn after_runs(source: &str, exports: &[(&str, &str)]) -> (Ws, IngestReport) {
    let ws = Ws::new();
    let mut last = None;
    for (name, text) in exports {
        let path = ws.export(name, text);
        last = Some(ws.ingest(source, &[path]));
    }
    (ws, last.expect("at least one export"))
}

#[test]
fn overlapping_exports_give_the_tables_of_their_union_in_any_order() {
    let union = format!("{TICKETS_A}{}", TICKETS_B.split_once('\n').unwrap().1);
    let (in_order, later) = after_runs("desk", &[("a.csv", TICKETS_A), ("b.csv", TICKETS_B)]);
    assert_eq!(counts(&later, "tickets"), (3, 1, 1, 1, 0));
    let (reversed, older) = after_runs("desk", &[("b.csv", TICKETS_B), ("a.csv", TICKETS_A)]);
    // Ticket 1's older version is not applied; 2 is new.
    assert_eq!(counts(&older, "tickets"), (4, 1, 0, 2, 1));
    let (once, _) = after_runs("desk", &[("a.csv", &union)]);
    let tickets = |ws: &Ws| ws.sql("SELECT * FROM tickets ORDER BY ticket_id");
    assert_eq!(tickets(&in_order), tickets(&once));
    assert_eq!(tickets(&reversed), tickets(&once));
    assert!(tickets(&once).contains("2026-03-03T12:00:00Z"));
}

#[test]
fn conflicting_versions_keep_one_deterministically_and_quarantine_the_other() {
    let header = "Id,Created,Updated,Status,Team,Resolved\n";
    let x = format!("{header}7,2026-03-02 08:00,2026-03-02 09:00,Open,billing,\n");
    let y = format!("{header}7,2026-03-02 08:00,2026-03-02 09:00,Open,tech,\n");
    let mut kept = Vec::new();
    for order in [[&x, &y], [&y, &x]] {
        let (ws, report) = after_runs("desk", &[("first.csv", order[0]), ("second.csv", order[1])]);
        assert_eq!(report.tables["tickets"].read, 1);
        kept.push(ws.sql("SELECT team FROM tickets"));
        let reasons = ws.sql("SELECT reason FROM quarantine");
        assert!(
            reasons.contains("duplicate key with conflicting content"),
            "{reasons}"
        );
    }
    assert_eq!(kept[0], kept[1]);
}

#[test]
fn strict_aborts_on_the_first_bad_row_and_commits_nothing() {
    let ws = Ws::new();
    let b = ws.export("b.csv", TICKETS_B);
    ws.ingest("desk", &[b]);
    let before = ws.contents();
    let a = ws.export("a.csv", TICKETS_A);
    let err = ws.try_ingest("desk", &[a], true).unwrap_err().to_string();
    assert!(
        err.ends_with("a.csv:5: column 'Created', value 'not a date': unparseable timestamp (tried '%Y-%m-%d %H:%M')"),
        "{err}"
    );
    assert_eq!(ws.contents(), before);
    assert!(!ws.root().join("data/_staging").exists());
}

#[test]
fn a_file_that_is_not_what_the_mapping_says_fails_fast() {
    let ws = Ws::new();
    let semicolons = ws.export("semi.csv", &TICKETS_A.replace(',', ";"));
    let err = ws
        .try_ingest("desk", &[semicolons], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing header(s) 'Id'"), "{err}");
    let no_status = ws.export("cols.csv", "Id,Created,Updated,Team,Resolved\n");
    let err = ws
        .try_ingest("desk", &[no_status], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing header(s) 'Status'"), "{err}");
    assert!(!ws.root().join("data/tickets").exists(), "nothing created");
}

pub(crate) const EVENTS: &str = "Ticket,At,Kind,Role,From,To,Team,Channel\n\
    10,2026-03-02 08:00,created,customer,,new,billing,email\n\
    10,2026-03-02 08:30,reply,agent,,,,\n\
    10,2026-03-02 08:31,status,agent,new,open,,\n\
    10,2026-03-02 11:00,status,agent,open,Done,,\n\
    10,2026-03-03 09:00,status,customer,Done,open,tech,\n\
    10,2026-03-03 10:00,status,agent,open,Done,,\n\
    11,2026-03-02 12:00,created,customer,,new,billing,chat\n\
    11,2026-03-02 12:10,status,agent,new,pending,,\n";

#[test]
fn tickets_are_derived_from_an_events_export() {
    let ws = Ws::new();
    let mut text = EVENTS.replace(",reply,", ",public_reply,");
    text = text.replace(",status,", ",status_changed,");
    let log = ws.export("log.csv", &text);
    let report = ws.ingest("log", std::slice::from_ref(&log));
    assert_eq!(counts(&report, "ticket_events"), (8, 8, 0, 0, 0));
    assert_eq!(counts(&report, "tickets"), (2, 2, 0, 0, 0));
    let out = ws.sql(
        "SELECT ticket_id, created_at, first_response_at, resolved_at, status, reopen_count, \
         team, channel FROM tickets ORDER BY ticket_id",
    );
    assert_eq!(
        out,
        "+-----------+----------------------+----------------------+----------------------+----------+--------------+---------+---------+\n\
         | ticket_id | created_at           | first_response_at    | resolved_at          | status   | reopen_count | team    | channel |\n\
         +-----------+----------------------+----------------------+----------------------+----------+--------------+---------+---------+\n\
         | 10        | 2026-03-02T08:00:00Z | 2026-03-02T08:30:00Z | 2026-03-02T11:00:00Z | resolved | 1            | tech    | email   |\n\
         | 11        | 2026-03-02T12:00:00Z | 2026-03-02T12:10:00Z |                      | pending  | 0            | billing | chat    |\n\
         +-----------+----------------------+----------------------+----------------------+----------+--------------+---------+---------+"
    );
}

#[test]
fn events_without_ids_get_the_same_ids_from_overlapping_exports() {
    let text = EVENTS
        .replace(",reply,", ",public_reply,")
        .replace(",status,", ",status_changed,");
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    let first = format!("{header}\n{}\n", lines[..5].join("\n"));
    let second = format!("{header}\n{}\n", lines[3..].join("\n"));

    let split = Ws::new();
    let files = [
        split.export("1.csv", &first),
        split.export("2.csv", &second),
    ];
    split.ingest("log", &files[1..]);
    split.ingest("log", &files[..1]);
    let again = split.ingest("log", &files);
    assert_eq!(counts(&again, "ticket_events").1, 0, "nothing new");

    let once = Ws::new();
    let all = once.export("all.csv", &text);
    once.ingest("log", &[all]);
    assert_eq!(split.contents(), once.contents());
}

#[test]
fn a_stored_event_replaced_by_a_run_leaves_its_derived_ticket() {
    let source = r#"
[sources.ids]
shape = "events"
timestamp_formats = ["%Y-%m-%d %H:%M"]
columns = { event_id = "Id", ticket_id = "Ticket", ts = "At", event_type = "Kind", to_status = "To" }
"#;
    let header = "Id,Ticket,At,Kind,To\n";
    let early = format!(
        "{header}e1,T1,2026-03-02 08:00,created,new\n\
         e2,T1,2026-03-02 09:00,status_changed,resolved\n"
    );
    // e2 again with other content: a conflict, which the content hash settles the same way
    // in either order. In one of the two orders the run's row wins and replaces the stored
    // one, whose time the derived ticket must no longer see.
    let late = format!("{header}e2,T1,2026-03-02 11:00,status_changed,resolved\n");
    let check = load::Options {
        commit: load::Commit::Check,
        ..Default::default()
    };
    let mut results = Vec::new();
    for order in [[&early, &late], [&late, &early]] {
        let ws = Ws::with_sources(source);
        let files = [ws.export("1.csv", order[0]), ws.export("2.csv", order[1])];
        ws.ingest("ids", &files[..1]);
        let dry = ws.ingest_with("ids", &files[1..], &check).unwrap();
        let report = ws.ingest("ids", &files[1..]);
        for table in ["ticket_events", "tickets"] {
            assert_eq!(counts(&dry, table), counts(&report, table), "{table}");
        }
        // The ticket's last update is its last stored event, not the one replaced.
        let last = ws.sql("SELECT MAX(ts) AS updated_at FROM ticket_events");
        assert_eq!(last, ws.sql("SELECT updated_at FROM tickets"));
        results.push(
            ws.sql("SELECT * FROM tickets")
                + &ws.sql("SELECT * FROM ticket_events ORDER BY event_id"),
        );
    }
    // The same tables in either order (the quarantine says which file lost, so it differs).
    assert_eq!(results[0], results[1]);
}

pub(crate) const SNAPSHOTS: &str =
    "number,opened_at,sys_updated_on,sys_mod_count,state,assigned_to,sys_updated_by\n\
    INC1,2026-03-02 08:00,2026-03-02 08:00,0,1,,portal\n\
    INC1,2026-03-02 08:00,2026-03-02 08:20,1,1,ana,bo\n\
    INC1,2026-03-02 08:00,2026-03-02 09:00,2,2,ana,ana\n\
    INC1,2026-03-02 08:00,2026-03-02 09:00,3,6,ana,ana\n\
    INC2,2026-03-02 10:00,2026-03-02 10:00,0,1,,portal\n";

#[test]
fn snapshots_become_the_latest_ticket_and_events_from_their_differences() {
    let ws = Ws::new();
    let audit = ws.export("audit.csv", SNAPSHOTS);
    let report = ws.ingest("audit", std::slice::from_ref(&audit));
    // The older snapshots of the two new tickets are superseded, not unchanged.
    assert_eq!(counts(&report, "tickets"), (5, 2, 0, 0, 0));
    assert_eq!(report.tables["tickets"].superseded, 3);
    let tickets = ws.sql("SELECT ticket_id, status, assignee FROM tickets ORDER BY ticket_id");
    assert!(
        tickets.contains("| INC1      | resolved | ana      |"),
        "{tickets}"
    );
    let events = ws.sql(
        "SELECT ticket_id, ts, event_type, actor, from_status, to_status, value \
         FROM ticket_events ORDER BY ticket_id, ts, event_type, from_status",
    );
    assert_eq!(
        events,
        "+-----------+----------------------+----------------+-------+-------------+-----------+-------+\n\
         | ticket_id | ts                   | event_type     | actor | from_status | to_status | value |\n\
         +-----------+----------------------+----------------+-------+-------------+-----------+-------+\n\
         | INC1      | 2026-03-02T08:00:00Z | created        |       |             |           |       |\n\
         | INC1      | 2026-03-02T08:20:00Z | assigned       | bo    |             |           | ana   |\n\
         | INC1      | 2026-03-02T09:00:00Z | status_changed | ana   | new         | open      |       |\n\
         | INC1      | 2026-03-02T09:00:00Z | status_changed | ana   | open        | resolved  |       |\n\
         | INC2      | 2026-03-02T10:00:00Z | created        |       |             |           |       |\n\
         +-----------+----------------------+----------------+-------+-------------+-----------+-------+"
    );

    // The same history in two overlapping exports, in either order, gives the same tables.
    let mut lines: Vec<&str> = SNAPSHOTS.lines().collect();
    let header = lines.remove(0);
    let early = format!("{header}\n{}\n", lines[..2].join("\n"));
    let late = format!("{header}\n{}\n", lines[1..].join("\n"));
    for order in [[&early, &late], [&late, &early]] {
        let (split, _) = after_runs(
            "audit",
            &[("first.csv", order[0]), ("second.csv", order[1])],
        );
        assert_eq!(
            split.sql("SELECT * FROM tickets ORDER BY ticket_id"),
            ws.sql("SELECT * FROM tickets ORDER BY ticket_id")
        );
    }
    let (in_order, _) = after_runs("audit", &[("early.csv", &early), ("late.csv", &late)]);
    assert_eq!(in_order.contents(), ws.contents());
}

#[test]
fn tables_use_only_conservative_delta_features() {
    let ws = Ws::new();
    let a = ws.export("a.csv", TICKETS_A);
    ws.ingest("desk", &[a]);
    for table in ["tickets", "ticket_events", "quarantine"] {
        let log = ws
            .root()
            .join("data")
            .join(table)
            .join("_delta_log/00000000000000000000.json");
        let text = std::fs::read_to_string(&log).unwrap();
        let protocol = text
            .lines()
            .find(|l| l.starts_with("{\"protocol\""))
            .unwrap_or_else(|| panic!("{table}: no protocol in {text}"));
        assert!(
            protocol.contains("\"minReaderVersion\":1")
                && protocol.contains("\"minWriterVersion\":2"),
            "{table}: {protocol}"
        );
    }
    let partitions = ws
        .root()
        .join("data/ticket_events/_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(partitions).unwrap();
    assert!(text.contains("\"partitionColumns\":[\"month\"]"), "{text}");
}

pub(crate) fn kpi(ws: &Ws) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kpi"));
    cmd.env_remove("KPI_WORKSPACE")
        .arg("--workspace")
        .arg(ws.root());
    cmd
}

#[test]
fn the_ingest_command_prints_counts_and_json() {
    let ws = Ws::new();
    ws.export("a.csv", TICKETS_A);
    let out = kpi(&ws)
        .args(["ingest", "--source", "desk", "--json"])
        .arg(ws.root().join("*.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tables"]["tickets"]["inserted"], 3);
    assert_eq!(json["tables"]["tickets"]["quarantined"], 1);
    assert_eq!(json["files"][0]["rows"], 4);

    let out = kpi(&ws)
        .args(["ingest", "-s", "desk"])
        .arg(ws.root().join("a.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tickets: 4 read, 0 inserted, 0 updated, 3 unchanged, 1 quarantined"),
        "{text}"
    );

    let out = kpi(&ws)
        .args(["ingest", "-s", "nope", "x.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown source 'nope'; known: desk, log, audit, feed"),
        "{err}"
    );
    let out = kpi(&ws)
        .args(["ingest", "-s", "desk", "missing-*.csv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such file: missing-*.csv"), "{err}");
}

/// A tickets export of `n` tickets from `first`, all with the given status and update time.
fn big_export(first: usize, n: usize, status: &str, updated: &str) -> String {
    let mut text = String::from("Id,Created,Updated,Status,Team,Resolved\n");
    for id in first..first + n {
        let resolved = if status == "Done" { updated } else { "" };
        text.push_str(&format!(
            "{id},2026-03-02 08:00,{updated},{status},team-{},{resolved}\n",
            id % 7
        ));
    }
    text
}

/// SIGKILL at pseudo-random points of an ingest: the tables are always readable, each at its
/// previous version or its new one, and a re-run completes the ingest.
#[test]
fn a_killed_ingest_leaves_each_table_at_its_old_or_new_version() {
    const N: usize = 30_000;
    let ws = Ws::new();
    let old = ws.export("old.csv", &big_export(0, N, "Open", "2026-03-02 08:00"));
    // The new export updates every old ticket and adds as many new ones.
    let new = ws.export("new.csv", &big_export(0, 2 * N, "Done", "2026-03-05 10:00"));
    let started = std::time::Instant::now();
    let out = kpi(&ws)
        .args(["ingest", "-s", "desk"])
        .arg(&old)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = started.elapsed();
    let state = || {
        ws.sql(
            "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'resolved') AS resolved \
             FROM tickets",
        )
    };
    let before = state();
    assert!(before.contains(&format!("| {N} | 0 ")), "{before}");

    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    const KILLS: u32 = 6;
    for k in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A random point in the k-th sixth of the time the (smaller) old export took: the
        // new one takes longer, so every kill lands while it runs, from reading to committing.
        let at = (k as f64 + (seed % 1000) as f64 / 1000.0) / KILLS as f64;
        let delay = full.mul_f64(at);
        let mut child = kpi(&ws)
            .args(["ingest", "-s", "desk"])
            .arg(&new)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        let now = state();
        let old_state = now.contains(&format!("| {N} | 0 "));
        let new_state = now.contains(&format!("| {} | {} ", 2 * N, 2 * N));
        assert!(old_state || new_state, "after a kill at {delay:?}: {now}");
        if new_state {
            break;
        }
    }
    assert!(
        killed > 0,
        "no run was killed: the export is too small to test"
    );
    let out = kpi(&ws)
        .args(["ingest", "-s", "desk"])
        .arg(&new)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = state();
    assert!(
        after.contains(&format!("| {} | {} ", 2 * N, 2 * N)),
        "{after}"
    );
    assert!(!ws.root().join("data/_staging").exists());
}

#[test]
fn malformed_lines_and_bad_values_of_an_ndjson_export_are_quarantined() {
    let ws = Ws::new();
    let feed = ws.export(
        "feed.ndjson",
        "{\"id\": \"e1\", \"ticket\": \"9\", \"at\": \"2026-03-02T08:00:00Z\", \"type\": \"created\"}\n\
         {\"id\": \"e2\", \"ticket\": \"9\", \"at\": \"2026-03-02T09:00:00Z\", \"type\": \"csat_rated\", \"csat\": 9}\n\
         {\"id\": \"e3\", \"ticket\": \"9\", \"at\": \"2026-03-02T09:00:00Z\"\n\
         {\"id\": \"e4\", \"ticket\": \"9\", \"at\": \"2026-03-02T10:00:00Z\", \"type\": \"internal_note\"}\n",
    );
    let report = ws.ingest("feed", &[feed]);
    assert_eq!(counts(&report, "ticket_events"), (4, 2, 0, 0, 2));
    assert!(!report.tables.contains_key("tickets") || report.tables["tickets"].read == 0);
    let q = ws.sql("SELECT line, \"column\", value, reason FROM quarantine ORDER BY line");
    assert!(q.contains("| 2    | csat_score | 9"), "{q}");
    assert!(q.contains("| 3    | (line)     | {\"id\""), "{q}");
    assert!(q.contains("not a JSON object"), "{q}");
    assert!(ws
        .sql("SELECT count(*) AS n FROM tickets")
        .contains("| 0 |"));
}

/// A run split into chunks of keys (`KPI_INGEST_CHUNK_ROWS`, here two rows per chunk) gives
/// the same tables, counts and quarantine as a run in one piece, for every shape and for an
/// export that overlaps what is stored.
#[test]
fn chunked_runs_give_the_same_tables_as_whole_ones() {
    let (whole, chunked) = (Ws::new(), Ws::new());
    let runs: [(&str, &str, &str); 5] = [
        ("desk", "a.csv", TICKETS_A),
        ("desk", "b.csv", TICKETS_B),
        ("log", "events.csv", EVENTS),
        ("audit", "audit.csv", SNAPSHOTS),
        ("desk", "a.csv", TICKETS_A),
    ];
    for (source, file, text) in runs {
        let expected = whole.ingest(source, &[whole.export(file, text)]);
        let out = kpi(&chunked)
            .env("KPI_INGEST_CHUNK_ROWS", "2")
            .args(["ingest", "--json", "--source", source])
            .arg(chunked.export(file, text))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (table, counts) in &expected.tables {
            let got = &json["tables"][table];
            assert_eq!(
                (got["inserted"].as_u64(), got["updated"].as_u64()),
                (Some(counts.inserted), Some(counts.updated)),
                "{source} {file}: {table}"
            );
            assert_eq!(got["unchanged"].as_u64(), Some(counts.unchanged));
            assert_eq!(got["quarantined"].as_u64(), Some(counts.quarantined));
        }
        // Quarantine names the files, which are in each workspace's folder.
        let contents = |ws: &Ws| {
            let root = ws.root().display().to_string();
            ws.contents().replace(&root, "<workspace>")
        };
        assert_eq!(
            contents(&whole),
            contents(&chunked),
            "after {source} {file}"
        );
    }
}
