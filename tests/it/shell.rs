//! The interactive shell, driven as a person would: the real binary in a pseudo-terminal,
//! keys typed, the screen's bytes read back.

use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use kpi::workspace::BUNDLED;
use rexpect::reader::ReadUntil;
use rexpect::session::PtySession;

/// The terminal's question "where is the cursor?", which the line editor asks before it
/// draws a prompt; a terminal answers it, and so must the test.
const CURSOR_QUERY: &str = "\x1b[6n";

const PROMPT: &str = "kpi:sample_data> ";

/// A shell in a pseudo-terminal of 120 × 50, with its own home and working directory.
struct Pty {
    pty: PtySession,
    /// Everything the shell printed so far.
    seen: String,
}

impl Pty {
    fn start(home: &Path, cwd: &Path, env: &[(&str, &str)]) -> Pty {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "stty cols 120 rows 50 && exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_kpi"),
            "--workspace",
            BUNDLED,
            "sql",
        ])
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("KPI_WORKSPACE")
        .env("PAGER", "cat")
        .env_remove("VISUAL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let pty = rexpect::session::spawn_command(cmd, Some(30_000)).expect("the shell starts");
        let mut pty = Pty {
            pty,
            seen: String::new(),
        };
        pty.expect("\\? for help");
        pty.next_prompt();
        pty
    }

    /// Read until `needle`, answering cursor queries on the way; what came before it.
    fn expect(&mut self, needle: &str) -> String {
        // The reader hands each byte over as one char: compare and decode in those terms.
        let bytes_as_chars = |text: &str| text.bytes().map(char::from).collect::<String>();
        let decode = |text: &str| {
            let bytes: Vec<u8> = text.chars().map(|c| c as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let mut before = String::new();
        loop {
            let found = self.pty.exp_any(vec![
                ReadUntil::String(CURSOR_QUERY.into()),
                ReadUntil::String(bytes_as_chars(needle)),
            ]);
            match found {
                Ok((text, matched)) => {
                    let text = decode(&text);
                    before.push_str(&text);
                    self.seen.push_str(&text);
                    self.seen.push_str(&decode(&matched));
                    if matched == CURSOR_QUERY && needle != CURSOR_QUERY {
                        self.pty.send("\x1b[1;1R").unwrap();
                        self.pty.flush().unwrap();
                        continue;
                    }
                    return before;
                }
                Err(e) => panic!(
                    "waiting for {needle:?}: {e}\n--- the shell printed ---\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Type `text` (no Enter).
    fn keys(&mut self, text: &str) {
        self.pty.send(text).unwrap();
        self.pty.flush().unwrap();
    }

    /// Type a line and press Enter.
    fn line(&mut self, text: &str) {
        self.keys(text);
        self.keys("\r");
    }

    /// Type a line and wait for the next prompt; what was printed in between. (The editor
    /// asks where the cursor is before each new prompt, not while a line is edited.)
    fn run(&mut self, text: &str) -> String {
        self.line(text);
        self.next_prompt()
    }

    /// Wait for the editor to start a new prompt; what was printed before.
    fn next_prompt(&mut self) -> String {
        let out = self.expect(CURSOR_QUERY);
        self.pty.send("\x1b[1;1R").unwrap();
        self.pty.flush().unwrap();
        self.expect(PROMPT);
        out
    }

    fn quit(mut self) {
        self.line("\\q");
        self.pty.exp_eof().expect("the shell exits");
    }
}

fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (home, cwd) = (dir.path().join("home"), dir.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    (dir, home, cwd)
}

#[test]
fn statements_span_lines_and_names_complete() {
    let (_dir, home, cwd) = dirs();
    let mut sh = Pty::start(&home, &cwd, &[]);
    // An unfinished statement continues on the next line.
    sh.line("SELECT 40 +");
    sh.expect("…> ");
    let out = sh.run("2 AS answer;");
    assert!(out.contains("│ answer │"), "{out:?}");
    assert!(out.contains("│     42 │"), "{out:?}");
    assert!(out.contains("1 row"), "{out:?}");
    // A table name: the only table starting so.
    sh.keys("SELECT count(*) AS events FROM ticket_ev\t");
    let out = sh.run(";");
    assert!(out.contains("│ events │"), "{out:?}");
    assert!(!out.contains("error"), "{out:?}");
    // A column of a table the statement names.
    sh.keys("SELECT tickets.creat\t");
    let out = sh.run("FROM tickets ORDER BY 1 LIMIT 1;");
    assert!(out.contains("│ created_at"), "{out:?}");
    assert!(out.contains("1 row"), "{out:?}");
    // A function: completed with its parenthesis.
    sh.keys("SELECT business_ho\t");
    let out =
        sh.run("TIMESTAMP '2026-03-03T12:00:00Z', TIMESTAMP '2026-03-03T14:00:00Z') AS worked;");
    assert!(out.contains("│ worked"), "{out:?}");
    assert!(!out.contains("error"), "{out:?}");
    // Several functions: the menu shows their signatures.
    sh.keys("SELECT business_\t");
    sh.expect("business_add(");
    sh.expect("business_seconds(");
    // Ctrl-C drops the line; on the empty prompt it does nothing.
    sh.keys("\x03");
    sh.next_prompt();
    sh.keys("\x03");
    sh.next_prompt();
    let out = sh.run("SELECT 'still here' AS status;");
    assert!(out.contains("still here"), "{out:?}");
    sh.quit();
}

#[test]
fn meta_commands_describe_the_workspace() {
    let (_dir, home, cwd) = dirs();
    let mut sh = Pty::start(&home, &cwd, &[("EDITOR", "sed -i s/41/42/")]);
    let out = sh.run("\\pager off");
    assert!(out.contains("the pager is off"), "{out:?}");
    let out = sh.run("\\?");
    for command in [
        "\\d [NAME]",
        "\\df [PATTERN]",
        "\\kpi",
        "\\cal",
        "\\sla",
        "\\o [FILE]",
    ] {
        assert!(out.contains(command), "{command}: {out:?}");
    }
    let out = sh.run("\\d");
    assert!(out.contains("│ tickets "), "{out:?}");
    assert!(out.contains("Delta table"), "{out:?}");
    assert!(out.contains("ticket_sla"), "{out:?}");
    let out = sh.run("\\d tickets");
    assert!(
        out.contains("Delta table tickets · Delta version"),
        "{out:?}"
    );
    assert!(out.contains("│ created_at "), "{out:?}");
    assert!(out.contains("Timestamp(µs, \"UTC\")"), "{out:?}");
    let out = sh.run("\\df business");
    assert!(out.contains("business_hours("), "{out:?}");
    assert!(out.contains("business_add("), "{out:?}");
    assert!(out.contains("5 functions"), "{out:?}");
    let out = sh.run("\\kpi");
    assert!(out.contains("first_response_compliance"), "{out:?}");
    let out = sh.run("\\kpi backlog 2026-Q2");
    assert!(out.contains("backlog · 2026-Q2"), "{out:?}");
    let out = sh.run("\\cal br-sp 2026-12-24 2026-12-25");
    assert!(out.contains("08:00-12:00"), "{out:?}");
    assert!(out.contains("Natal"), "{out:?}");
    let out = sh.run("\\dd");
    assert!(
        out.contains("unknown command \\dd; did you mean \\d?"),
        "{out:?}"
    );
    // \i runs a file's commands and statements; \e edits the last statement, then runs it.
    std::fs::write(
        cwd.join("script.sql"),
        "\\timing on\nSELECT 3\n  AS three;\n",
    )
    .unwrap();
    let out = sh.run("\\i script.sql");
    assert!(out.contains("timing is on"), "{out:?}");
    assert!(out.contains("│     3 │"), "{out:?}");
    sh.run("SELECT 41 AS n;");
    let out = sh.run("\\e");
    assert!(out.contains("SELECT 42 AS n;"), "{out:?}");
    assert!(out.contains("│ 42 │"), "{out:?}");
    sh.quit();
}

#[test]
fn the_readme_lists_every_meta_command() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for c in kpi::shell::repl::COMMANDS {
        let usage = format!("{} {}", c.name, c.args);
        let row = format!("| `{}` | {} |", usage.trim().replace('|', "\\|"), c.help);
        assert!(readme.contains(&row), "README.md lacks the row\n{row}");
    }
}

#[test]
fn results_go_to_files_are_timed_cut_and_errors_point_at_the_mistake() {
    let (_dir, home, cwd) = dirs();
    let mut sh = Pty::start(&home, &cwd, &[]);
    let out = sh.run("\\o firsts.parquet");
    assert!(out.contains("results go to firsts.parquet"), "{out:?}");
    let out = sh.run("SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 5;");
    assert!(out.contains("wrote 5 rows to firsts.parquet"), "{out:?}");
    let out = sh.run("\\o");
    assert!(out.contains("results go to the screen"), "{out:?}");
    let file = std::fs::File::open(cwd.join("firsts.parquet")).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    let ids = batches[0].column_by_name("ticket_id").unwrap();
    assert!(ids.as_string_view_opt().is_some() || ids.as_string_opt::<i32>().is_some());
    assert_eq!(ids.null_count(), 0);

    let out = sh.run("\\timing on");
    assert!(out.contains("timing is on"), "{out:?}");
    let out = sh.run("SELECT 1 AS x;");
    assert!(out.contains("1 row in "), "{out:?}");
    assert!(out.contains(" ms"), "{out:?}");

    // Without a pager, long results are cut where \maxrows says, and the rest counted.
    sh.run("\\pager off");
    sh.run("\\maxrows 3");
    let out = sh.run("SELECT value FROM range(10);");
    assert!(out.contains("… 7 more rows"), "{out:?}");
    assert!(out.contains("10 rows"), "{out:?}");

    // An error shows the place and the closest name, and the shell goes on.
    let out = sh.run("SELECT creatd_at FROM tickets;");
    assert!(
        out.contains("unknown column 'creatd_at' in tickets; did you mean 'created_at'?"),
        "{out:?}"
    );
    assert!(
        out.contains("LINE 1: SELECT creatd_at FROM tickets;"),
        "{out:?}"
    );
    assert!(out.contains("               ^^^^^^^^^"), "{out:?}");
    let out = sh.run("SELEC 1;");
    assert!(out.contains("LINE 1: SELEC 1;"), "{out:?}");
    assert!(out.contains("\n        ^^^^^"), "{out:?}");
    let out = sh.run("SELECT 2 AS good;");
    assert!(out.contains("│    2 │"), "{out:?}");
    sh.quit();
}

#[test]
fn ctrl_c_cancels_a_long_query_and_keeps_the_session() {
    let (_dir, home, cwd) = dirs();
    let mut sh = Pty::start(&home, &cwd, &[]);
    sh.run("\\set kpi.as_of 2026-06-30T00:00:00Z");
    sh.run("CREATE VIEW mine AS SELECT 7 AS seven;");
    // A join whose operator does not yield between its (long) batches: the hardest case.
    sh.line(
        "SELECT count(*) FROM ticket_events a JOIN ticket_events b ON a.ticket_id < b.ticket_id;",
    );
    // The spinner shows after about a second, with what the scans have read.
    sh.expect("scanned");
    sh.expect("Ctrl-C cancels");
    sh.keys("\x03");
    let out = sh.next_prompt();
    assert!(out.contains("cancelled after"), "{out:?}");
    // The session, its settings and the view it created are still there.
    let out = sh.run("SELECT seven FROM mine;");
    assert!(out.contains("│     7 │"), "{out:?}");
    let out = sh.run("\\set");
    assert!(out.contains("2026-06-30"), "{out:?}");
    // Ctrl-D leaves.
    sh.keys("\x04");
    sh.pty.exp_eof().expect("Ctrl-D ends the shell");
}

#[test]
fn history_is_kept_in_the_data_folder_across_runs() {
    let (_dir, home, cwd) = dirs();
    let mut sh = Pty::start(&home, &cwd, &[]);
    sh.run("SELECT 'remembered' AS word;");
    sh.quit();
    let history = home.join("data/kpi/history");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("SELECT 'remembered' AS word;"), "{saved}");
    assert!(!cwd.join(".history").exists());

    let mut sh = Pty::start(&home, &cwd, &[]);
    // Up brings the earlier inputs back (the last one was \q); Enter runs one again.
    sh.keys("\x1b[A\x1b[A");
    let out = sh.run("");
    assert!(out.contains("│ remembered │"), "{out:?}");
    // Ctrl-R searches the history.
    sh.keys("\x12rememb");
    sh.expect("search: rememb");
    sh.keys("\r");
    let out = sh.run("");
    assert!(out.contains("│ remembered │"), "{out:?}");
    sh.quit();
}
