//! `kpi sla board` and `kpi sla show` through the binary, on the bundled sample workspace:
//! what they print agrees with the SLA views queried in SQL.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{kpi, run};

const AS_OF: &str = "2026-03-01T12:00:00Z";

fn sample(args: &[&str]) -> (i32, String, String) {
    run(kpi()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--workspace", "sample_data"])
        .args(args))
}

/// CSV output as rows of fields (no field of these results holds a comma).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn the_board_lists_every_open_clock_by_team_least_time_left_first() {
    let (code, out, err) = sample(&["sla", "board", "--as-of", AS_OF, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "team,ticket_id,source_system,priority,status,metric,occurrence,due_at,remaining_seconds,state\n"
        ),
        "{out}"
    );
    let rows = csv_rows(&out);
    assert!(rows.len() > 10, "{out}");
    // Grouped by team, least remaining business time first within a team.
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a[0] == b[0] {
            let (ra, rb): (i64, i64) = (a[8].parse().unwrap(), b[8].parse().unwrap());
            assert!(ra <= rb, "{a:?} before {b:?}");
        }
    }
    // One row per open ticket (not resolved or closed) with a running or paused clock, as SQL
    // counts them.
    let (_, counted, _) = sample(&[
        "sql",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "-c",
        "SELECT count(DISTINCT s.ticket_id || s.source_system) AS n FROM ticket_sla s \
         JOIN ticket_status_intervals i USING (ticket_id, source_system) \
         WHERE s.stopped_at IS NULL AND i.left_at IS NULL \
         AND i.status NOT IN ('resolved', 'closed')",
    ]);
    let counts = csv_rows(&counted);
    assert_eq!(rows.len().to_string(), counts[0][0]);
    // Every state is one of the four, and overdue means negative time left.
    for row in &rows {
        let left: i64 = row[8].parse().unwrap();
        assert!(
            !["resolved", "closed"].contains(&row[4].as_str()),
            "{row:?}"
        );
        match row[9].as_str() {
            "overdue" => assert!(left < 0, "{row:?}"),
            "at risk" | "on track" | "paused" => assert!(left >= 0, "{row:?}"),
            other => panic!("state {other}"),
        }
    }
}

#[test]
fn the_board_as_a_table_groups_and_is_plain_on_a_pipe() {
    let (code, out, err) = sample(&["sla", "board", "--as-of", AS_OF, "--by", "priority"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("priority: high — "), "{out}");
    assert!(out.contains("┆ remaining ┆"), "{out}");
    assert!(!out.contains("┆ priority ┆"), "grouped by priority: {out}");
    assert!(!out.contains('\x1b'), "no colours on a pipe: {out}");
    let (code, out, _) = sample(&["sla", "board", "--as-of", AS_OF, "--format", "json"]);
    assert_eq!(code, 0);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(rows.as_array().is_some_and(|r| !r.is_empty()));
    // Before any ticket existed there is nothing to show.
    let (code, out, _) = sample(&["sla", "board", "--as-of", "2020-01-01T00:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(out, "no open SLA clocks\n");
}

#[test]
fn the_board_is_coloured_on_a_terminal() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to make a pseudo-terminal");
        return;
    }
    let command = format!(
        "{} --workspace sample_data sla board --as-of {AS_OF}",
        env!("CARGO_BIN_EXE_kpi")
    );
    let (code, out, err) = run(Command::new("script")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .args(["-qec", &command, "/dev/null"]));
    assert_eq!(code, 0, "{err}");
    // Red for overdue, yellow for at risk.
    assert!(out.contains("\x1b[38;5;9m overdue"), "{out:?}");
    assert!(out.contains("\x1b[38;5;10m on track"), "{out:?}");
}

#[test]
fn watch_refreshes_the_board() {
    let mut child = kpi()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--workspace", "sample_data", "sla", "board", "--watch", "1"])
        .args(["--as-of", AS_OF])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read until the board has been printed twice (or a minute has passed), then stop it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let header = "SLA board as of 2026-03-01T12:00:00Z";
        let (mut text, mut buf) = (String::new(), [0u8; 4096]);
        let started = std::time::Instant::now();
        while text.matches(header).count() < 2 && started.elapsed() < Duration::from_secs(60) {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        text
    });
    let out = reader.join().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        out.matches("SLA board as of 2026-03-01T12:00:00Z").count() >= 2,
        "{out}"
    );
    assert!(out.contains("team: "), "{out}");
    let (code, _, err) = sample(&["sla", "board", "--watch", "0"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'0' is not a number of seconds from 1 to 86400"),
        "{err}"
    );
}

#[test]
fn show_prints_a_tickets_timeline() {
    // The ticket with the least resolution time left at AS_OF, as SQL finds it.
    let (_, found, _) = sample(&[
        "sql",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "-c",
        "SELECT ticket_id, policy, business_elapsed_seconds FROM ticket_sla \
         WHERE metric = 'resolution' AND stopped_at IS NULL AND business_paused_seconds > 0 \
         ORDER BY remaining_seconds, ticket_id LIMIT 1",
    ]);
    let row = &csv_rows(&found)[0];
    let (code, out, err) = sample(&["sla", "show", &row[0], "--as-of", AS_OF]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "ticket {} (helpdesk_events), as of {}",
            row[0], "2026-03-01T12:00:00+00:00"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("policy {} · calendar", row[1])),
        "{out}"
    );
    for part in [
        "status stays",
        "SLA clocks (business time)",
        "first_response",
        "resolution",
        "(current)",
        "paused",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    let elapsed: i64 = row[2].parse().unwrap();
    let shown = format!("{}h {:02}m", elapsed / 3600, elapsed % 3600 / 60);
    assert!(out.contains(&shown), "{shown}: {out}");

    let (code, _, err) = sample(&["sla", "show", "NO-SUCH", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no ticket 'NO-SUCH' in tickets created by 2026-03-01T12:00:00+00:00"),
        "{err}"
    );
}
