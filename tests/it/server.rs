//! `kpi serve` end to end: the real binary on a loopback port, reached by real clients —
//! tokio-postgres here, psql, psycopg 3, SQLAlchemy and the PostgreSQL JDBC driver through
//! their own programs (skipped when absent, unless `KPI_REQUIRE_EXTERNAL=1`) — and by a
//! hand-made client for what no driver does on purpose (a tampered SCRAM proof).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use super::support::{kpi, run, run_with_input, sample_copy, skip};

const USERS: [(&str, &str, &str); 3] = [
    ("adm", "admin", "adm-password"),
    ("ana", "analyst", "ana-password"),
    ("dash", "viewer", "dash-password"),
];

fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _, _)| *u == user)
        .map_or("", |u| u.2)
}

/// A workspace (a copy of the sample) with the three users and `config` added to kpi.toml.
fn workspace(config: &str) -> tempfile::TempDir {
    let dir = sample_copy();
    for (user, role, password) in USERS {
        add_user(dir.path(), user, role, password);
    }
    let toml = dir.path().join("kpi.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(config);
    std::fs::write(&toml, text).unwrap();
    dir
}

fn add_user(dir: &Path, user: &str, role: &str, password: &str) {
    let (code, _, err) = run_with_input(
        kpi()
            .arg("-w")
            .arg(dir)
            .args(["user", "add", user, "--role", role, "--password-stdin"]),
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{err}");
}

/// A running `kpi serve`; stopped with SIGTERM when dropped.
struct Served {
    _dir: tempfile::TempDir,
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Served {
    fn start(config: &str) -> Served {
        Served::start_in(workspace(config), &[])
    }

    fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Served {
        let mut child = kpi()
            .arg("-w")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().unwrap());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("the server did not start:\n{}", log.lock().unwrap());
            });
        Served {
            _dir: dir,
            child,
            port,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn url(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname=kpi user={user} password={}",
            self.port,
            password(user)
        )
    }

    async fn connect(&self, user: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url(user), NoTls)
            .await
            .unwrap_or_else(|e| panic!("{user} cannot connect: {e}\n{}", self.log()));
        tokio::spawn(connection);
        client
    }

    /// Send SIGTERM; the exit code, and how long the server took to stop.
    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let start = Instant::now();
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("the server did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The SQLSTATE of a failed statement or connection.
fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}

fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| err.to_string())
}

/// A client that keeps querying while a test does its worst; counts its answers and failures.
struct Bystander {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Bystander {
    async fn start(server: &Served) -> Bystander {
        let client = server.connect("dash").await;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let (s, n, f) = (Arc::clone(&stop), Arc::clone(&served), Arc::clone(&failed));
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                match client
                    .query_one("SELECT count(*) FROM kpi_catalog", &[])
                    .await
                {
                    Ok(row) if row.get::<_, i64>(0) > 0 => {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => f.lock().unwrap().push("no KPIs".into()),
                    Err(e) => f.lock().unwrap().push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Bystander {
            stop,
            served,
            failed,
            task,
        }
    }

    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let failed = self.failed.lock().unwrap();
        assert!(
            failed.is_empty(),
            "the well-behaved client failed: {failed:?}"
        );
        assert!(self.served.load(Ordering::Relaxed) > 0);
    }
}

/// Run `kpi serve` in `dir` to its end (it ends at once when it refuses to start).
fn serve_once(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(kpi().arg("-w").arg(dir).arg("serve").args(args))
}

#[test]
fn the_server_does_not_start_without_users_or_with_bad_settings() {
    let loopback = ["--listen", "127.0.0.1:0"];
    let dir = sample_copy();
    let (code, _, err) = serve_once(dir.path(), &loopback);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no users in") && err.contains("kpi user add"),
        "{err}"
    );

    let ws = workspace("");
    // Beyond loopback, plaintext needs an explicit allow_plaintext.
    let (code, _, err) = serve_once(ws.path(), &["--listen", "0.0.0.0:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("allow_plaintext = true"), "{err}");
    let (code, _, err) = serve_once(ws.path(), &["--listen", "nowhere"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid address"), "{err}");

    // A TLS configuration that does not load stops the server (no fall-back to plaintext);
    // so do unknown viewer tables and bad settings.
    let cases = [
        (
            "tls_cert = \"missing.pem\"\ntls_key = \"missing.key\"\n",
            &["missing.pem", "does not start"][..],
        ),
        (
            "tls_cert = \"kpi.toml\"\ntls_key = \"kpi.toml\"\n",
            &["no certificate", "does not start"][..],
        ),
        (
            "viewer_tables = [\"nope\"]\n",
            &["viewer_tables", "nope"][..],
        ),
        ("max_connections = 0\n", &["server.max_connections"][..]),
    ];
    for (config, expected) in cases {
        let ws = workspace(&format!("\n[server]\n{config}"));
        let (code, _, err) = serve_once(ws.path(), &loopback);
        assert_eq!(code, 1, "{err}");
        assert!(expected.iter().all(|e| err.contains(e)), "{config}: {err}");
    }
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = sample_copy();
    add_user(dir.path(), "ana", "analyst", "ana-password");
    let user = |args: &[&str], stdin: &str| {
        let (code, out, err) = run_with_input(
            kpi().arg("-w").arg(dir.path()).arg("user").args(args),
            stdin,
        );
        (code, out + &err)
    };
    let (code, out) = user(&["list"], "");
    assert_eq!((code, out.trim()), (0, "ana                      analyst"));
    let (code, out) = user(
        &["add", "ana", "--role", "viewer", "--password-stdin"],
        "x\n",
    );
    assert_eq!(code, 1);
    assert!(out.contains("already exists"), "{out}");
    let (code, out) = user(&["add", "bob", "--role", "root", "--password-stdin"], "");
    assert_eq!(code, 1);
    assert!(out.contains("unknown role 'root'"), "{out}");
    let (code, out) = user(
        &["add", "bob", "--role", "viewer", "--password-stdin"],
        "short\n",
    );
    assert_eq!(code, 1);
    assert!(out.contains("too short"), "{out}");
    // Without --password-stdin and without a terminal, no password is read from a pipe.
    let (code, out) = user(&["add", "bob", "--role", "viewer"], "password-1\n");
    assert_eq!(code, 1);
    assert!(out.contains("--password-stdin"), "{out}");
    let (code, _) = user(&["passwd", "ana", "--password-stdin"], "new-password\n");
    assert_eq!(code, 0);
    let (code, _) = user(&["role", "ana", "admin"], "");
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(dir.path().join("users.toml")).unwrap();
    assert!(
        text.contains("role = \"admin\"") && !text.contains("new-password"),
        "{text}"
    );
    let (code, _) = user(&["remove", "ana"], "");
    assert_eq!(code, 0);
    let (code, out) = user(&["remove", "ana"], "");
    assert_eq!(code, 1);
    assert!(out.contains("no user 'ana'"), "{out}");
}

/// A SCRAM-SHA-256 login by hand, with the proof's first byte flipped when `tamper` is set;
/// the server's answer: `Ok(())` when it accepted, else the SQLSTATE of its error.
fn hand_login(port: u16, user: &str, password: &str, tamper: bool) -> Result<(), String> {
    use base64::Engine;
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }
    fn read(stream: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).unwrap();
        let len = i32::from_be_bytes(head[1..5].try_into().unwrap()) as usize - 4;
        let mut body = vec![0; len];
        stream.read_exact(&mut body).unwrap();
        (head[0], body)
    }
    fn error_code(body: &[u8]) -> String {
        body.split(|b| *b == 0)
            .find_map(|f| f.strip_prefix(b"C"))
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default()
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut startup = 196608i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "kpi", ""] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    let mut packet = (startup.len() as i32 + 4).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    stream.write_all(&packet).unwrap();
    let (kind, body) = read(&mut stream);
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &10i32.to_be_bytes(), "SASL is asked for");
    assert!(String::from_utf8_lossy(&body).contains("SCRAM-SHA-256"));
    let first = kpi::server::scram::client::first("fyko+d2lbbFgONRv9qkxdawL");
    let mut initial = b"SCRAM-SHA-256\0".to_vec();
    initial.extend_from_slice(&(first.len() as i32).to_be_bytes());
    initial.extend_from_slice(first.as_bytes());
    stream.write_all(&message(b'p', &initial)).unwrap();
    let (kind, body) = read(&mut stream);
    if kind == b'E' {
        return Err(error_code(&body));
    }
    assert_eq!(&body[..4], &11i32.to_be_bytes(), "SASL continue");
    let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
    let (mut last, expected) = kpi::server::scram::client::last(password, &first, &server_first);
    if tamper {
        let (head, proof) = last.rsplit_once(",p=").unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(proof)
            .unwrap();
        bytes[0] ^= 1;
        last = format!(
            "{head},p={}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
    }
    stream.write_all(&message(b'p', last.as_bytes())).unwrap();
    let (kind, body) = read(&mut stream);
    if kind == b'E' {
        return Err(error_code(&body));
    }
    assert_eq!(&body[..4], &12i32.to_be_bytes(), "SASL final");
    assert_eq!(
        String::from_utf8_lossy(&body[4..]),
        expected,
        "the server proves itself"
    );
    let (kind, body) = read(&mut stream);
    assert_eq!(
        (kind, &body[..4]),
        (b'R', &0i32.to_be_bytes()[..]),
        "authenticated"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_correct_scram_proof_gets_in() {
    let server = Served::start("");
    let bystander = Bystander::start(&server).await;
    let port = server.port;
    let attempts = tokio::task::spawn_blocking(move || {
        (
            hand_login(port, "ana", "ana-password", false),
            hand_login(port, "ana", "ana-password", true),
            hand_login(port, "ana", "wrong-password", false),
            hand_login(port, "nobody", "whatever-password", false),
        )
    })
    .await
    .unwrap();
    assert_eq!(attempts.0, Ok(()));
    assert_eq!(attempts.1, Err("28P01".into()), "a tampered proof");
    assert_eq!(attempts.2, Err("28P01".into()), "a wrong password");
    assert_eq!(
        attempts.3,
        Err("28P01".into()),
        "an unknown user fails like a wrong password"
    );

    // The same through a driver, with PostgreSQL's message.
    let wrong = format!(
        "host=127.0.0.1 port={} dbname=kpi user=ana password=nope-nope",
        server.port
    );
    let err = tokio_postgres::connect(&wrong, NoTls).await.err().unwrap();
    assert_eq!(sqlstate(&err), "28P01");
    assert_eq!(
        message(&err),
        "password authentication failed for user \"ana\""
    );
    let other_db = format!(
        "host=127.0.0.1 port={} dbname=postgres user=ana password=ana-password",
        server.port
    );
    let err = tokio_postgres::connect(&other_db, NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(sqlstate(&err), "3D000");
    bystander.finish().await;
    let log = server.log();
    assert!(
        log.contains("authentication failed for user \"nobody\""),
        "{log}"
    );
}

/// Everything a viewer might try to read the detail tables through.
const VIEWER_DENIED: &[(&str, &str)] = &[
    ("SELECT * FROM tickets", "tickets"),
    ("SELECT count(*) FROM public.ticket_events", "ticket_events"),
    ("SELECT count(*) FROM kpi.public.tickets", "tickets"),
    ("SELECT * FROM ticket_sla", "ticket_sla"),
    (
        "WITH kpi_results AS (SELECT ticket_id FROM tickets) SELECT * FROM kpi_results",
        "tickets",
    ),
    ("SELECT * FROM (SELECT ticket_id FROM tickets) t", "tickets"),
    (
        "SELECT name FROM kpi_catalog WHERE name IN (SELECT ticket_id FROM tickets)",
        "tickets",
    ),
    (
        "SELECT name FROM kpi_catalog WHERE EXISTS (SELECT 1 FROM ticket_events)",
        "ticket_events",
    ),
    ("SELECT (SELECT count(*) FROM tickets) AS n", "tickets"),
    (
        "SELECT name FROM kpi_catalog UNION ALL SELECT ticket_id FROM tickets",
        "tickets",
    ),
    (
        "SELECT c.name FROM kpi_catalog c JOIN tickets t ON c.name = t.ticket_id",
        "tickets",
    ),
    ("EXPLAIN SELECT * FROM tickets", "tickets"),
    ("DESCRIBE tickets", "tickets"),
    ("SHOW COLUMNS FROM tickets", "tickets"),
    ("PREPARE p AS SELECT * FROM tickets", "tickets"),
    ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
];

/// Every value of every row of a query's result, as text.
async fn cells(client: &Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)))
        .into_iter()
        .flat_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => (0..row.len())
                .filter_map(|i| row.get(i).map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Catalog listings, which must not name the detail tables for a viewer.
const LISTINGS: &[&str] = &[
    "SELECT table_name FROM information_schema.tables",
    "SELECT table_name || '.' || column_name FROM information_schema.columns",
    "SELECT relname FROM pg_catalog.pg_class",
    "SELECT tablename FROM pg_catalog.pg_tables",
    "SHOW TABLES",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_only_the_aggregate_tables_by_every_path() {
    let server = Served::start("");
    let bystander = Bystander::start(&server).await;
    let viewer = server.connect("dash").await;
    let analyst = server.connect("ana").await;
    for (sql, table) in VIEWER_DENIED {
        // Both protocols: the simple one (batch_execute) and the extended one (query).
        let err = viewer.batch_execute(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{sql}: {}", message(&err));
        assert!(message(&err).contains(table), "{sql}: {}", message(&err));
        let err = viewer.query(*sql, &[]).await.unwrap_err();
        assert_eq!(
            sqlstate(&err),
            "42501",
            "{sql} (extended): {}",
            message(&err)
        );
    }
    // The same statements are fine for an analyst (but files, which nobody reads).
    for (sql, _) in &VIEWER_DENIED[..VIEWER_DENIED.len() - 1] {
        if !sql.starts_with("PREPARE") {
            analyst
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)));
        }
    }
    let err = analyst
        .batch_execute("SELECT * FROM '/etc/passwd'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{}", message(&err));
    for sql in LISTINGS {
        let names = cells(&viewer, sql).await;
        assert!(
            names.iter().any(|n| n.contains("kpi_catalog")),
            "{sql}: {names:?}"
        );
        for hidden in ["tickets", "ticket_events", "ticket_sla", "quarantine"] {
            assert!(
                !names.iter().any(|n| n.starts_with(hidden)),
                "{sql} shows {hidden} to a viewer: {names:?}"
            );
        }
        let all = cells(&analyst, sql).await;
        assert!(
            all.iter().any(|n| n.starts_with("tickets")),
            "{sql}: {all:?}"
        );
    }
    let n: i64 = viewer
        .query_one("SELECT count(*) FROM kpi_catalog", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n > 0);
    bystander.finish().await;
    assert!(server
        .log()
        .contains("dash: permission denied for table tickets"));
}

/// Every way to write, for every role.
const WRITES: &[&str] = &[
    "INSERT INTO tickets (ticket_id) VALUES ('x')",
    "UPDATE tickets SET status = 'closed'",
    "DELETE FROM tickets",
    "TRUNCATE tickets",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE VIEW v AS SELECT 1 AS a",
    "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
    "CREATE SCHEMA s",
    "DROP TABLE tickets",
    "DROP VIEW ticket_sla",
    "ALTER TABLE tickets ADD COLUMN x INT",
    "COPY tickets TO '/tmp/kpi-server-test.csv'",
    "COPY (SELECT 1) TO '/tmp/kpi-server-test.csv'",
    "COPY tickets FROM STDIN",
    "SET datafusion.execution.batch_size = 1",
    "SET statement_timeout = 0",
    "SET kpi.unknown = 1",
    "EXPLAIN ANALYZE INSERT INTO tickets (ticket_id) VALUES ('x')",
    "DECLARE c CURSOR FOR SELECT 1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_can_be_written_by_any_role() {
    let server = Served::start("");
    let bystander = Bystander::start(&server).await;
    let analyst = server.connect("ana").await;
    let count = "SELECT count(*) FROM tickets";
    let before: i64 = analyst.query_one(count, &[]).await.unwrap().get(0);
    for (user, _, _) in USERS {
        let client = server.connect(user).await;
        for sql in WRITES {
            for extended in [false, true] {
                let err = if extended {
                    client.query(*sql, &[]).await.err()
                } else {
                    client.batch_execute(sql).await.err()
                };
                let err = err.unwrap_or_else(|| panic!("{user} ran {sql}"));
                let code = sqlstate(&err);
                // DataFusion's own CREATE EXTERNAL TABLE is not even PostgreSQL syntax.
                let refused = if sql.starts_with("CREATE EXTERNAL") {
                    &["42601"][..]
                } else {
                    &["25006", "42501", "0A000"][..]
                };
                assert!(
                    refused.contains(&code.as_str()),
                    "{user}: {sql}: {code} {}",
                    message(&err)
                );
            }
        }
        // The connection is still usable.
        client.batch_execute("SELECT 1").await.unwrap();
    }
    let after: i64 = analyst.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(before, after);
    assert!(!Path::new("/tmp/kpi-server-test.csv").exists());
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_has_its_own_settings() {
    let server = Served::start("");
    let first = server.connect("ana").await;
    let second = server.connect("ana").await;
    let setting = "SELECT value FROM information_schema.df_settings WHERE name = 'kpi.as_of'";
    let as_of = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, Option<String>>(0);
    let before = as_of(second.query(setting, &[]).await.unwrap());
    first
        .batch_execute("SET kpi.as_of = '2026-03-31T23:59:59Z'")
        .await
        .unwrap();
    let changed = as_of(first.query(setting, &[]).await.unwrap());
    assert!(changed
        .unwrap_or_default()
        .starts_with("2026-03-31T23:59:59"));
    assert_eq!(as_of(second.query(setting, &[]).await.unwrap()), before);
    // A bad instant is an error, and changes nothing.
    let err = first
        .batch_execute("SET kpi.as_of = 'someday'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{}", message(&err));
    // Harmless settings pass; the timeout can be lowered, not raised.
    first
        .batch_execute("SET datestyle = 'ISO, MDY'")
        .await
        .unwrap();
    first
        .batch_execute("SET application_name = 'test'")
        .await
        .unwrap();
    first
        .batch_execute("SET statement_timeout = '5s'")
        .await
        .unwrap();
    let err = first
        .batch_execute("SET statement_timeout = '2h'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
    assert!(
        message(&err).contains("only be lowered"),
        "{}",
        message(&err)
    );
}

/// A query that runs for long, yielding as it goes.
const SLOW: &str = "SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_time_out_and_can_be_cancelled_without_harm() {
    let server = Served::start("\n[server]\nstatement_timeout = \"1500ms\"\n");
    let bystander = Bystander::start(&server).await;
    let client = server.connect("ana").await;
    let start = Instant::now();
    let err = client.query(SLOW, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{}", message(&err));
    assert!(
        message(&err).contains("statement timeout"),
        "{}",
        message(&err)
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    // The connection is still good; a lower timeout of its own applies.
    client
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let err = client.batch_execute(SLOW).await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014");

    // A cancel request, from another connection, stops the running query.
    let other = server.connect("ana").await;
    let token = other.cancel_token();
    let running = tokio::spawn(async move { other.query(SLOW, &[]).await.map(|_| other) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token.cancel_query(NoTls).await.unwrap();
    let err = running.await.unwrap().err().unwrap();
    assert_eq!(sqlstate(&err), "57014");
    assert!(message(&err).contains("user request"), "{}", message(&err));
    client.batch_execute("SELECT 1").await.unwrap();
    bystander.finish().await;
}

/// A value that makes the query engine panic is an error of that query only: the connection
/// and the server go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_query_engine_fails_only_its_query() {
    let server = Served::start("");
    let bystander = Bystander::start(&server).await;
    let client = server.connect("ana").await;
    for protocol in ["simple", "extended"] {
        let sql = "SELECT arrow_cast(-9223372036854775808, 'Date64')";
        let err = match protocol {
            "simple" => client.simple_query(sql).await.map(|_| ()).unwrap_err(),
            _ => client.query(sql, &[]).await.map(|_| ()).unwrap_err(),
        };
        assert!(
            message(&err).contains("the query engine failed on this statement"),
            "{protocol}: {}",
            message(&err)
        );
        assert_eq!(cells(&client, "SELECT 41 + 1").await, ["42"], "{protocol}");
    }
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_memory_fails_alone() {
    let server =
        Served::start("\nmemory_limit = \"64M\"\n[server]\nquery_memory_limit = \"16M\"\n");
    let bystander = Bystander::start(&server).await;
    let client = server.connect("ana").await;
    let err = client
        .query(
            "SELECT array_agg(x || '-some-padding-to-grow-the-array') \
             FROM (SELECT CAST(x AS VARCHAR) AS x FROM generate_series(1, 5000000) AS t(x))",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53200", "{}", message(&err));
    assert!(
        message(&err).contains("query_memory_limit"),
        "{}",
        message(&err)
    );
    client.batch_execute("SELECT 1").await.unwrap();
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused() {
    let server = Served::start("\n[server]\nmax_connections = 3\n");
    let bystander = Bystander::start(&server).await;
    let first = server.connect("ana").await;
    let _second = server.connect("adm").await;
    let err = tokio_postgres::connect(&server.url("ana"), NoTls)
        .await
        .err()
        .expect("a fourth connection is refused");
    assert_eq!(sqlstate(&err), "53300", "{}", message(&err));
    drop(first);
    // Once one leaves, the next gets in.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_postgres::connect(&server.url("ana"), NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client.batch_execute("SELECT 1").await.unwrap();
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(sqlstate(&e), "53300");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_within_its_grace() {
    let mut server = Served::start("\n[server]\nshutdown_grace = \"1s\"\n");
    let client = server.connect("ana").await;
    let running = tokio::spawn(async move { client.query(SLOW, &[]).await.err() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, took) = tokio::task::block_in_place(|| server.terminate());
    assert_eq!(code, Some(0), "{}", server.log());
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        running.await.unwrap().is_some(),
        "the running query ended with an error"
    );
    let log = server.log();
    assert!(
        log.contains("shutting down: ") && log.contains("stopped"),
        "{log}"
    );
}

/// A self-signed certificate and its key, written into `dir`.
fn certificate(dir: &Path) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), cert.signing_key.serialize_pem()).unwrap();
}

fn psql() -> Option<PathBuf> {
    let found = Command::new("psql").arg("--version").output().is_ok();
    if !found {
        skip("psql (postgresql-client)");
    }
    found.then(|| PathBuf::from("psql"))
}

/// Run psql with `commands` as `user`; exit code and output.
fn run_psql(server: &Served, conninfo: &str, user: &str, commands: &[&str]) -> (i32, String) {
    let mut cmd = Command::new("psql");
    cmd.arg("-X")
        .args(["-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "host=127.0.0.1 port={} dbname=kpi user={user} {conninfo}",
            server.port
        ))
        .env("PGPASSWORD", password(user))
        .env_remove("PGSSLMODE");
    for c in commands {
        cmd.args(["-c", c]);
    }
    let (code, out, err) = run(&mut cmd);
    (code, out + &err)
}

#[test]
fn tls_when_configured_and_required() {
    let dir = workspace(
        "\n[server]\ntls_cert = \"server.crt\"\ntls_key = \"server.key\"\nrequire_tls = true\n",
    );
    certificate(dir.path());
    let server = Served::start_in(dir, &[]);
    assert!(server.log().contains("TLS required"), "{}", server.log());
    // A plaintext client is refused, with the reason.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(tokio_postgres::connect(&server.url("ana"), NoTls))
        .err()
        .expect("plaintext is refused");
    assert_eq!(sqlstate(&err), "28000", "{}", message(&err));
    assert!(message(&err).contains("requires TLS"), "{}", message(&err));
    if psql().is_none() {
        return;
    }
    let (code, out) = run_psql(
        &server,
        "sslmode=require",
        "ana",
        &["SELECT count(*) FROM tickets"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("5001"), "{out}");
    let (code, out) = run_psql(&server, "sslmode=disable", "ana", &["SELECT 1"]);
    assert_ne!(code, 0);
    assert!(out.contains("requires TLS"), "{out}");
    assert!(server.log().contains("connected from 127.0.0.1") && server.log().contains("over TLS"));
}

#[test]
fn psql_lists_describes_and_binds() {
    if psql().is_none() {
        return;
    }
    let server = Served::start("");
    let (code, out) = run_psql(&server, "", "ana", &["\\dt"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("tickets") && out.contains("ticket_events"),
        "{out}"
    );
    let (code, out) = run_psql(&server, "", "ana", &["\\d tickets"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("created_at") && out.contains("timestamp with time zone"),
        "{out}"
    );
    // A bound parameter: PREPARE … $1, then EXECUTE with the value.
    let (code, out) = run_psql(
        &server,
        "",
        "ana",
        &[
            "PREPARE by_priority(text) AS SELECT count(*) AS n FROM tickets WHERE priority = $1; \
             EXECUTE by_priority('high');",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1166"), "{out}");
    let (code, out) = run_psql(&server, "", "dash", &["\\dt"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("kpi_catalog") && !out.contains("tickets"),
        "{out}"
    );
}

/// psycopg 3 and SQLAlchemy's inspector, through `KPI_PYTHON`.
#[test]
fn psycopg_and_sqlalchemy() {
    let python = std::env::var_os("KPI_PYTHON").map(PathBuf::from);
    let usable = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import psycopg, sqlalchemy"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !usable {
        return skip("KPI_PYTHON with psycopg and sqlalchemy");
    }
    let server = Served::start("");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_clients.py");
    let (code, out, err) = run(Command::new(python.unwrap())
        .arg(script)
        .arg(server.port.to_string()));
    assert_eq!(code, 0, "{out}{err}\n{}", server.log());
    assert!(out.contains("ok"), "{out}");
}

/// The PostgreSQL JDBC driver, as Metabase and DBeaver use it.
#[test]
fn jdbc() {
    let jar = std::env::var_os("KPI_JDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    let java = Command::new("java").arg("-version").output().is_ok();
    if !java || !jar.exists() {
        return skip("java and the PostgreSQL JDBC driver (KPI_JDBC_JAR)");
    }
    let server = Served::start("");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/JdbcClient.java");
    let (code, out, err) = run(Command::new("java")
        .arg("-cp")
        .arg(&jar)
        .arg(source)
        .arg(server.port.to_string()));
    assert_eq!(code, 0, "{out}{err}\n{}", server.log());
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_tables_let_viewers_read_chosen_aggregates() {
    let dir = workspace("\n[server]\nviewer_tables = [\"volume_by_team\"]\n");
    let (code, _, err) = run(kpi()
        .arg("-w")
        .arg(dir.path())
        .args([
            "sql",
            "-c",
            "SELECT team, count(*) AS n FROM tickets GROUP BY team",
            "--out",
        ])
        .arg(dir.path().join("data/volume_by_team.parquet")));
    assert_eq!(code, 0, "{err}");
    let server = Served::start_in(dir, &[]);
    let viewer = server.connect("dash").await;
    let rows = viewer
        .query("SELECT sum(n) FROM volume_by_team", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, Option<i64>>(0), Some(5001));
    let listed = cells(&viewer, "SELECT table_name FROM information_schema.tables").await;
    assert!(listed.contains(&"volume_by_team".to_string()), "{listed:?}");
    let err = viewer
        .query("SELECT * FROM tickets", &[])
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("volume_by_team"),
        "{}",
        message(&err)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_legal_client_input_never_hurts_the_server() {
    let server = Served::start("");
    let bystander = Bystander::start(&server).await;
    let client = server.connect("dash").await;
    // A placeholder number far beyond the protocol's 65535 parameters.
    let err = client
        .query("SELECT $99999999999999::text", &[&"x"])
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("$65535"),
        "{}\n{}",
        message(&err),
        server.log()
    );
    // Prepared statements come and go; DISCARD ALL puts the connection back as it started.
    client
        .batch_execute("PREPARE p AS SELECT count(*) FROM kpi_catalog")
        .await
        .unwrap();
    client.batch_execute("DEALLOCATE p").await.unwrap();
    client
        .batch_execute("PREPARE p AS SELECT count(*) FROM kpi_catalog")
        .await
        .unwrap();
    let setting = "SELECT value FROM information_schema.df_settings WHERE name = 'kpi.as_of'";
    let as_of = || async {
        client
            .query_one(setting, &[])
            .await
            .unwrap()
            .get::<_, Option<String>>(0)
    };
    let before = as_of().await;
    client
        .batch_execute("SET kpi.as_of = '2025-01-01T00:00:00Z'; SET statement_timeout = '1s'")
        .await
        .unwrap();
    assert_ne!(as_of().await, before);
    client.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(as_of().await, before);
    let err = client.batch_execute("EXECUTE p").await.unwrap_err();
    assert!(message(&err).contains('p'), "{}", message(&err));
    // Savepoints and transactions, as ORMs wrap every statement in them.
    client
        .batch_execute("BEGIN; SAVEPOINT s; SELECT 1; RELEASE SAVEPOINT s; COMMIT")
        .await
        .unwrap();
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_get_the_same_aggregates_as_analysts() {
    let server = Served::start("\n[server]\nviewer_tables = [\"ticket_sla\"]\n");
    let viewer = server.connect("dash").await;
    let analyst = server.connect("ana").await;
    // kpi_targets and a listed SLA view are computed from the detail tables the viewer may
    // not read directly: the numbers must not depend on who asks.
    for sql in [
        "SELECT * FROM kpi_targets ORDER BY 1, 2",
        "SELECT count(*) FROM ticket_sla",
    ] {
        let seen = cells(&viewer, sql).await;
        assert!(!seen.is_empty(), "{sql}");
        assert_eq!(seen, cells(&analyst, sql).await, "{sql}");
    }
    let err = viewer
        .query("SELECT * FROM tickets", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
}
