//! `kpi generate`: byte-identical output for a seed; the three exports, read through the
//! example mappings by the ingest's own reader and mapper, agree ticket by ticket with the
//! derivation rules; bad records are exactly the ones reported; the example mappings and
//! exports are in sync with the generator and the sample workspace; CLI errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type, TimestampMicrosecondType};

use kpi::config::{Config, SourceMapping};
use kpi::generate::{BadKind, Generate, Summary, BAD_ID_OFFSET};
use kpi::history::{Event, Replay};
use kpi::ingest::stream::{ingest_file, FileStats, Output};
use kpi::ingest::timestamp::{TimestampParser, Window};
use kpi::tables::{ActorRole, Status, Vocabulary};
use kpi::workspace::{Origin, Workspace, BUNDLED};

const SHAPES: [(&str, &str, &str); 3] = [
    ("tickets", "helpdesk_tickets", "tickets.csv"),
    ("events", "helpdesk_events", "events.ndjson"),
    ("snapshots", "servicenow_audit", "snapshots.csv"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> PathBuf {
    root().join("examples/mappings")
}

/// The mapping of `examples/mappings/{shape}.toml`.
fn example(shape: &str) -> SourceMapping {
    let path = examples().join(format!("{shape}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config = Config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.sources.len(), 1, "{}", path.display());
    config.sources.remove(0)
}

fn sample() -> Workspace {
    Workspace::open(Path::new(BUNDLED), Origin::Bundled).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn generate(out: &Path, tickets: u64, seed: u64, bad_rows: f64) -> Summary {
    Generate::new(tickets)
        .seed(seed)
        .from(date("2026-03-02"))
        .days(10)
        .bad_rows(bad_rows)
        .run(&sample().calendars, out, &())
        .unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A ticket as the ingest stages it (without its source system).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ticket {
    ticket_id: String,
    created_at: i64,
    updated_at: Option<i64>,
    channel: Option<String>,
    inbox: Option<String>,
    team: Option<String>,
    priority: Option<String>,
    requester: Option<String>,
    assignee: Option<String>,
    status: String,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    reopen_count: i32,
    csat_score: Option<i32>,
}

impl Ticket {
    /// The checks the ingest makes of every ticket: milestones not before creation, a CSAT
    /// between 1 and 5.
    fn consistent(&self) -> bool {
        [self.first_response_at, self.resolved_at, self.closed_at]
            .iter()
            .all(|at| at.is_none_or(|at| at >= self.created_at))
            && self.csat_score.is_none_or(|s| (1..=5).contains(&s))
    }
}

/// An event as the ingest stages it, with its line.
#[derive(Debug, Clone)]
struct StagedEvent {
    line: u64,
    event_id: String,
    ticket_id: String,
    ts: i64,
    event_type: String,
    actor_role: Option<String>,
    to_status: Option<String>,
    value: Option<String>,
}

/// Every row of `file` through `mapping` by the ingest's own reader, mapper and checks: what
/// would be staged, and the number of rows rejected.
fn staged(file: &Path, mapping: &SourceMapping) -> (Vec<Output>, FileStats) {
    let mut outputs = Vec::new();
    let stats = ingest_file(file, mapping, 1000, false, &mut |o| {
        outputs.push(o);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (outputs, stats)
}

fn texts(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let c = batch.column_by_name(column).unwrap().as_string::<i32>();
    c.is_valid(row).then(|| c.value(row).to_string())
}

fn times(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let c = batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    c.is_valid(row).then(|| c.value(row))
}

fn int32s(batch: &RecordBatch, column: &str, row: usize) -> Option<i32> {
    let c = batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Int32Type>();
    c.is_valid(row).then(|| c.value(row))
}

fn ticket(batch: &RecordBatch, row: usize) -> Ticket {
    Ticket {
        ticket_id: texts(batch, "ticket_id", row).unwrap(),
        created_at: times(batch, "created_at", row).unwrap(),
        updated_at: times(batch, "updated_at", row),
        channel: texts(batch, "channel", row),
        inbox: texts(batch, "inbox", row),
        team: texts(batch, "team", row),
        priority: texts(batch, "priority", row),
        requester: texts(batch, "requester", row),
        assignee: texts(batch, "assignee", row),
        status: texts(batch, "status", row).unwrap(),
        first_response_at: times(batch, "first_response_at", row),
        resolved_at: times(batch, "resolved_at", row),
        closed_at: times(batch, "closed_at", row),
        reopen_count: int32s(batch, "reopen_count", row).unwrap(),
        csat_score: int32s(batch, "csat_score", row),
    }
}

/// Tickets by id from the tickets export, and the number of rejected rows.
fn from_tickets(dir: &Path) -> (BTreeMap<String, Ticket>, usize) {
    let mut good = BTreeMap::new();
    let (outputs, stats) = staged(&dir.join("tickets.csv"), &example("tickets"));
    for out in outputs {
        if let Output::Tickets(batch, _) = out {
            for row in 0..batch.num_rows() {
                let t = ticket(&batch, row);
                assert!(good.insert(t.ticket_id.clone(), t).is_none());
            }
        }
    }
    (good, stats.quarantined as usize)
}

/// Tickets by id from the audit export (each ticket's last version), and the rejected rows.
fn from_snapshots(dir: &Path) -> (BTreeMap<String, Ticket>, usize) {
    let mut versions: BTreeMap<String, Vec<(i64, Ticket)>> = BTreeMap::new();
    let (outputs, stats) = staged(&dir.join("snapshots.csv"), &example("snapshots"));
    for out in outputs {
        if let Output::Snapshots(batch, _) = out {
            let seq = batch
                .column_by_name("_seq")
                .unwrap()
                .as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let t = ticket(&batch, row);
                versions
                    .entry(t.ticket_id.clone())
                    .or_default()
                    .push((seq.value(row), t));
            }
        }
    }
    let rejected = stats.quarantined as usize;
    let mut last = BTreeMap::new();
    for (id, mut v) in versions {
        v.sort_by_key(|(seq, _)| *seq);
        let seqs: Vec<i64> = v.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..v.len() as i64).collect::<Vec<_>>(), "{id}");
        // The record's own fields follow the derivation rules over its versions.
        let first_resolved = v
            .iter()
            .find(|(_, t)| t.status == "resolved" || t.status == "closed")
            .and_then(|(_, t)| t.updated_at);
        let reopens = v
            .windows(2)
            .filter(|w| {
                ["resolved", "closed"].contains(&w[0].1.status.as_str())
                    && !["resolved", "closed"].contains(&w[1].1.status.as_str())
            })
            .count();
        assert!(v.windows(2).all(|w| w[0].1.updated_at <= w[1].1.updated_at));
        let (_, t) = v.pop().unwrap();
        assert_eq!(t.resolved_at, first_resolved, "{id}");
        assert_eq!(t.reopen_count as usize, reopens, "{id}");
        last.insert(id, t);
    }
    (last, rejected)
}

/// Tickets by id derived from the event log by the history rules, the rejected rows, and the
/// ids of derived tickets that fail the ticket checks; `triaged` counts the tickets whose first
/// response is a move out of the initial status before any agent reply.
fn from_events(dir: &Path, triaged: &mut usize) -> (BTreeMap<String, Ticket>, usize, Vec<String>) {
    let mut by_ticket: BTreeMap<String, Vec<StagedEvent>> = BTreeMap::new();
    let mut attributes: BTreeMap<u64, (RecordBatch, usize)> = BTreeMap::new();
    let (outputs, stats) = staged(&dir.join("events.ndjson"), &example("events"));
    for out in outputs {
        match out {
            Output::Events(batch, lines) => {
                for (row, line) in lines.into_iter().enumerate() {
                    let e = StagedEvent {
                        line,
                        event_id: texts(&batch, "event_id", row).unwrap(),
                        ticket_id: texts(&batch, "ticket_id", row).unwrap(),
                        ts: times(&batch, "ts", row).unwrap(),
                        event_type: texts(&batch, "event_type", row).unwrap(),
                        actor_role: texts(&batch, "actor_role", row),
                        to_status: texts(&batch, "to_status", row),
                        value: texts(&batch, "value", row),
                    };
                    by_ticket.entry(e.ticket_id.clone()).or_default().push(e);
                }
            }
            Output::Attributes(batch, lines) => {
                for (row, line) in lines.into_iter().enumerate() {
                    attributes.insert(line, (batch.clone(), row));
                }
            }
            _ => {}
        }
    }
    let rejected = stats.quarantined as usize;
    let mut good = BTreeMap::new();
    let mut inconsistent = Vec::new();
    for (id, events) in by_ticket {
        // The ticket's attributes on its last line.
        let last = events.iter().map(|e| e.line).max().unwrap();
        let attribute = |column: &str| {
            attributes
                .get(&last)
                .and_then(|(batch, row)| texts(batch, column, *row))
        };
        // The events in `ticket_events` order, through the one owner of the rules.
        let mut ordered: Vec<&StagedEvent> = events.iter().collect();
        ordered.sort_by(|a, b| (a.ts, &a.event_id).cmp(&(b.ts, &b.event_id)));
        let history: Vec<Event> = ordered
            .iter()
            .map(|e| Event {
                ts: e.ts,
                event_type: &e.event_type,
                actor_role: e.actor_role.as_deref().and_then(ActorRole::parse),
                to_status: e.to_status.as_deref().and_then(Status::parse),
                value: e.value.as_deref(),
            })
            .collect();
        let facts = Replay::of(&history);
        let t = Ticket {
            ticket_id: id.clone(),
            created_at: facts.created_at.unwrap(),
            updated_at: facts.updated_at,
            channel: attribute("channel"),
            inbox: attribute("inbox"),
            team: attribute("team"),
            priority: attribute("priority"),
            requester: attribute("requester"),
            assignee: attribute("assignee"),
            first_response_at: facts.first_response_at,
            resolved_at: facts.resolved_at,
            closed_at: facts.closed_at,
            reopen_count: facts.reopen_count as i32,
            csat_score: attributes
                .get(&last)
                .and_then(|(batch, row)| int32s(batch, "csat_score", *row)),
            status: facts.status.unwrap().as_str().to_string(),
        };
        let first_reply = ordered
            .iter()
            .find(|e| e.event_type == "public_reply" && e.actor_role.as_deref() == Some("agent"))
            .map(|e| e.ts);
        if t.first_response_at.is_some() && t.first_response_at < first_reply.or(Some(i64::MAX)) {
            *triaged += 1;
        }
        // The rating event and the attribute agree.
        let rated = events
            .iter()
            .rev()
            .find(|e| e.event_type == "csat_rated")
            .and_then(|e| e.value.as_deref()?.parse::<i32>().ok());
        assert_eq!(rated, t.csat_score, "{id}");
        if t.consistent() {
            good.insert(id, t);
        } else {
            inconsistent.push(id);
        }
    }
    (good, rejected, inconsistent)
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let sa = generate(a.path(), 150, 11, 0.05);
    let sb = generate(b.path(), 150, 11, 0.05);
    generate(c.path(), 150, 12, 0.05);
    assert_eq!(
        sa.files.map(|f| (f.rows, f.bad)),
        sb.files.map(|f| (f.rows, f.bad))
    );
    for (_, _, file) in SHAPES {
        assert!(
            read(&a.path().join(file)) == read(&b.path().join(file)),
            "{file}"
        );
        assert!(
            read(&a.path().join(file)) != read(&c.path().join(file)),
            "{file}"
        );
    }
}

#[test]
fn good_rows_do_not_depend_on_the_bad_row_rate() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(a.path(), 120, 5, 0.0);
    let summary = generate(b.path(), 120, 5, 0.2);
    assert!(
        summary.files.iter().all(|f| f.bad_records() > 5),
        "{summary:?}"
    );
    let good = |dir: &Path| -> Vec<String> {
        String::from_utf8(read(&dir.join("tickets.csv")))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("10") && l.len() > 7 && l.as_bytes()[6] == b',')
            .map(str::to_string)
            .collect()
    };
    assert_eq!(good(a.path()).len(), 120);
    assert_eq!(good(a.path()), good(b.path()));
}

#[test]
fn the_three_exports_agree_with_the_derivation_rules() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let summary = generate(dir.path(), n, 3, 0.03);
    let bad = |file: usize, kind: BadKind| summary.files[file].bad[kind.position()] as usize;

    let (tickets, rejected) = from_tickets(dir.path());
    assert_eq!(rejected as u64, summary.files[0].bad_records());
    let (snapshots, rejected) = from_snapshots(dir.path());
    assert_eq!(rejected as u64, summary.files[2].bad_records());
    let mut triaged = 0;
    let (events, rejected, inconsistent) = from_events(dir.path(), &mut triaged);
    assert_eq!(
        rejected,
        bad(1, BadKind::UnparseableTimestamp)
            + bad(1, BadKind::MissingTicketId)
            + bad(1, BadKind::UnknownStatus)
    );
    assert_eq!(inconsistent.len(), bad(1, BadKind::ResolvedBeforeCreated));
    assert!(inconsistent
        .iter()
        .all(|id| id.parse::<u64>().unwrap() > BAD_ID_OFFSET));

    // Every good ticket once in each export, and the same ticket in all three.
    let ids: Vec<String> = (0..n).map(|k| (100_001 + k).to_string()).collect();
    for (name, found) in [
        ("tickets", &tickets),
        ("events", &events),
        ("snapshots", &snapshots),
    ] {
        let good: Vec<&String> = found
            .keys()
            .filter(|id| id.parse::<u64>().unwrap() < BAD_ID_OFFSET)
            .collect();
        assert_eq!(good.len() as u64, n, "{name}");
        assert!(ids.iter().all(|id| found.contains_key(id)), "{name}");
    }
    for id in &ids {
        assert_eq!(tickets[id], events[id], "tickets vs events, ticket {id}");
        assert_eq!(
            tickets[id], snapshots[id],
            "tickets vs snapshots, ticket {id}"
        );
    }

    // The sample is realistic enough to exercise every rule.
    let all: Vec<&Ticket> = ids.iter().map(|id| &tickets[id]).collect();
    let count = |f: &dyn Fn(&Ticket) -> bool| all.iter().filter(|t| f(t)).count();
    assert!(count(&|t| t.reopen_count > 0) > 0);
    assert!(count(&|t| t.csat_score.is_some()) > 40);
    assert!(count(&|t| t.closed_at.is_some()) > 100);
    assert!(count(&|t| t.resolved_at.is_some() && t.closed_at.is_none()) > 10);
    for status in ["new", "open", "pending", "resolved", "closed"] {
        assert!(count(&|t| t.status == status) > 0, "{status}");
    }
    assert!(all
        .iter()
        .all(|t| t.first_response_at.is_none_or(|f| f > t.created_at)));
    // Tickets triaged before their first reply, whose first response is the triage.
    assert!(triaged > 10, "{triaged}");
    for team in ["billing", "onboarding", "tech", "infra"] {
        assert!(count(&|t| t.team.as_deref() == Some(team)) > 20, "{team}");
    }
}

#[test]
fn without_bad_rows_every_row_maps_and_every_ticket_timestamp_parses() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), 200, 8, 0.0);
    assert!(summary.files.iter().all(|f| f.bad_records() == 0));
    for (i, (shape, _, file)) in SHAPES.into_iter().enumerate() {
        let (outputs, stats) = staged(&dir.path().join(file), &example(shape));
        assert_eq!(stats.rows, summary.files[i].rows, "{file}");
        let rejected: Vec<&Output> = outputs
            .iter()
            .filter(|o| matches!(o, Output::Quarantine(_)))
            .collect();
        assert!(rejected.is_empty(), "{file}: {rejected:?}");
    }

    // The ticket export's timestamp cells, read with the mapping's formats and zone.
    let mapping = example("tickets");
    let parser = TimestampParser::new(
        mapping.timestamp_formats.clone(),
        mapping.timezone,
        Window::default(),
    );
    let bytes = read(&dir.path().join("tickets.csv"));
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches("\r\n").count(), text.matches('\n').count());
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().filter(|h| *h == "Name").count(), 2);
    let columns: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ends_with("date"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(columns.len(), 5);
    let mut cells = 0;
    for record in reader.records() {
        let record = record.unwrap();
        for &i in &columns {
            let cell = &record[i];
            if !cell.is_empty() {
                parser.parse(cell).unwrap_or_else(|e| panic!("{cell}: {e}"));
                cells += 1;
            }
        }
    }
    assert!(cells > 600, "{cells}");

    // Each event line is a flat JSON object.
    let events = String::from_utf8(read(&dir.path().join("events.ndjson"))).unwrap();
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.as_object().unwrap().values().all(|x| !x.is_object()));
    }
}

#[test]
fn example_mappings_parse_and_are_in_the_sample_workspace() {
    let sample = sample();
    for (shape, name, _) in SHAPES {
        let mapping = example(shape);
        assert_eq!(mapping.name, name);
        assert_eq!(mapping.shape.name(), shape);
        let bundled = sample
            .config
            .sources
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("sample_data/kpi.toml has no [sources.{name}]"));
        assert_eq!(format!("{bundled:?}"), format!("{mapping:?}"), "{name}");
    }
    let tickets = example("tickets");
    let assignee = tickets
        .columns
        .iter()
        .find(|(c, _)| c == "assignee")
        .unwrap();
    assert_eq!(
        (assignee.1.header.as_str(), assignee.1.occurrence),
        ("Name", 2)
    );
}

#[test]
fn example_exports_are_the_generators_output() {
    let dir = tempfile::tempdir().unwrap();
    // The command in examples/mappings/README.md.
    let readme = std::fs::read_to_string(examples().join("README.md")).unwrap();
    assert!(readme.contains(
        "kpi generate --tickets 10 --seed 275 --from 2026-03-02 --days 7 --bad-rows 0.1 --out examples/mappings"
    ));
    let summary = Generate::new(10)
        .seed(275)
        .from(date("2026-03-02"))
        .days(7)
        .bad_rows(0.1)
        .run(&sample().calendars, dir.path(), &())
        .unwrap();
    for (_, _, file) in SHAPES {
        assert!(
            read(&dir.path().join(file)) == read(&examples().join(file)),
            "examples/mappings/{file} is stale: regenerate it with the command in the README"
        );
    }
    // The bad records the README lists.
    assert_eq!(
        summary.files.clone().map(|f| f.bad),
        [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    );
}

fn kpi() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kpi"));
    cmd.env_remove("KPI_WORKSPACE");
    cmd
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = kpi().current_dir(root()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_writes_three_files_and_reports_errors_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new/exports");
    let out_arg = out.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "generate",
        "--tickets",
        "30",
        "--seed",
        "4",
        "--days",
        "5",
        "--out",
        out_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "no progress bar when stderr is not a terminal");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("generated 30 tickets into "), "{stdout}");
    assert!(stdout.contains("tickets.csv 3"), "{stdout}");
    for (_, _, file) in SHAPES {
        assert!(out.join(file).is_file(), "{file}");
    }

    let error = |args: &[&str]| {
        let (code, stdout, stderr) = run(args);
        assert_eq!((code, stdout.as_str()), (1, ""), "{args:?}: {stderr}");
        stderr
    };
    let err = error(&["generate", "--tickets", "0", "--out", out_arg]);
    assert!(
        err.contains("--tickets: the number of tickets must be between 1 and 100000000 (got 0)"),
        "{err}"
    );
    let err = error(&[
        "generate",
        "-n",
        "5",
        "--from",
        "2026-02-30",
        "--out",
        out_arg,
    ]);
    assert!(
        err.contains("--from: invalid date '2026-02-30' (expected YYYY-MM-DD)"),
        "{err}"
    );
    let err = error(&["generate", "-n", "5", "--days", "0", "--out", out_arg]);
    assert!(
        err.contains("--days: the period must be between 1 and 3660 days (got 0)"),
        "{err}"
    );
    let err = error(&["generate", "-n", "5", "--bad-rows", "2", "--out", out_arg]);
    assert!(
        err.contains("--bad-rows: the bad-row rate must be between 0 and 1 (got 2)"),
        "{err}"
    );
    let err = error(&["generate", "-n", "five", "--out", out_arg]);
    assert!(err.contains("invalid value 'five'"), "{err}");
    let err = error(&["generate", "-n", "5"]);
    assert!(err.contains("--out"), "{err}");
    // A file where the folder should be.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("sub");
    let err = error(&["generate", "-n", "5", "--out", under_file.to_str().unwrap()]);
    assert!(err.contains("cannot create the output folder"), "{err}");
    assert!(err.contains(under_file.to_str().unwrap()), "{err}");
    // A workspace without calendars.
    let ws = dir.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("kpi.toml"), "").unwrap();
    let err = error(&[
        "-w",
        ws.to_str().unwrap(),
        "generate",
        "-n",
        "5",
        "--out",
        out_arg,
    ]);
    assert!(err.contains("defines no calendars"), "{err}");

    let (code, help, _) = run(&["generate", "--help"]);
    assert_eq!(code, 0);
    for text in [
        "--tickets <N>",
        "--bad-rows <RATE>",
        "The simulation:",
        "snapshots.csv",
    ] {
        assert!(help.contains(text), "{text}: {help}");
    }
}

/// The tickets the ingest derives (in SQL) from the generated event log equal the generator's
/// simulated truth (written to the tickets export), triaged tickets included: the two use the
/// one owner of the history rules.
#[test]
fn tickets_derived_at_ingest_equal_the_simulated_truth() {
    let exports = tempfile::tempdir().unwrap();
    generate(exports.path(), 300, 21, 0.0);
    let (_ws_dir, ws) = crate::support::sample_config_workspace();
    let mapping = ws
        .config
        .sources
        .iter()
        .find(|s| s.name == "helpdesk_events")
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rows = runtime.block_on(async {
        kpi::ingest::load::ingest(
            &ws.config.data_dir,
            mapping,
            &[exports.path().join("events.ndjson")],
            &kpi::ingest::load::Options::default(),
            &kpi::ingest::load::Quiet,
        )
        .await
        .unwrap();
        let session = kpi::session::Session::builder(&ws).build().unwrap();
        session
            .sql(
                "SELECT ticket_id, CAST(created_at AS BIGINT), status, \
                 CAST(first_response_at AS BIGINT), CAST(resolved_at AS BIGINT), \
                 CAST(closed_at AS BIGINT), reopen_count FROM tickets ORDER BY ticket_id",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let (truth, _) = from_tickets(exports.path());
    let mut compared = 0;
    for batch in &rows {
        let text = |i: usize| {
            cast(batch.column(i), &DataType::Utf8)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        let int = |i: usize| batch.column(i).as_primitive::<Int64Type>().clone();
        let (ids, status) = (text(0), text(2));
        let (created, first, resolved, closed) = (int(1), int(3), int(4), int(5));
        let reopens = batch.column(6).as_primitive::<Int32Type>().clone();
        let opt = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            let t = &truth[ids.value(i)];
            let derived = (
                created.value(i),
                status.value(i).to_string(),
                opt(&first, i),
                opt(&resolved, i),
                opt(&closed, i),
                reopens.value(i),
            );
            let simulated = (
                t.created_at,
                t.status.clone(),
                t.first_response_at,
                t.resolved_at,
                t.closed_at,
                t.reopen_count,
            );
            assert_eq!(derived, simulated, "ticket {}", ids.value(i));
            compared += usize::from(t.first_response_at.is_some());
        }
    }
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 300);
    assert!(compared > 200, "{compared}");
    // Among them, tickets whose first response is a triage before any agent reply.
    let mut triaged = 0;
    from_events(exports.path(), &mut triaged);
    assert!(triaged > 5, "{triaged}");
}
