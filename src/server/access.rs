//! Who may run what over the server: the one place its access rules live.
//!
//! Every statement is read-only for every role: only queries, `EXPLAIN` of a query, listings,
//! transaction statements (which change nothing) and `SET` of harmless session variables get
//! through. What a query reads is checked on its resolved logical plan, before any rewriting:
//! each table scan — inside views' callers, CTEs, subqueries in any expression, joins,
//! `UNION`s and table functions — must be readable by the user's role. Viewers read the
//! aggregate tables and the tables and views `[server] viewer_tables` lists; a view computed
//! when it is scanned (the SLA views, `kpi_targets`) is read whole, whatever it reads itself,
//! while a view DataFusion expands into its query when planning is checked table by table. Listings (`information_schema`, `pg_catalog`) are readable
//! by all and show each role only its tables ([`super::catalog`]).

use std::collections::BTreeSet;
use std::time::Duration;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::TableReference;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Set, Statement};

use super::users::Role;

/// The catalog (database) clients connect to.
pub const DATABASE: &str = "kpi";
/// The schema of the workspace's tables.
pub const SCHEMA: &str = "public";

/// The tables of aggregate numbers every role may read.
pub const AGGREGATE_TABLES: [&str; 6] = [
    "kpi_results",
    "kpi_targets",
    "kpi_catalog",
    "sla_policies",
    "calendars",
    "holidays",
];

/// Table functions that read nothing stored, which every role may call.
const HARMLESS_FUNCTIONS: [&str; 2] = ["generate_series", "range"];

/// The schemas of catalog listings, readable by all (each sees its own tables only).
const LISTING_SCHEMAS: [&str; 2] = ["information_schema", "pg_catalog"];

/// Session variables a client may set: formatting and the evaluation instant.
const HARMLESS_VARIABLES: [&str; 10] = [
    "kpi.as_of",
    "datestyle",
    "search_path",
    "application_name",
    "extra_float_digits",
    "bytea_output",
    "intervalstyle",
    "client_encoding",
    "client_min_messages",
    "timezone",
];

/// A refusal, with the SQLSTATE PostgreSQL would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// 25006 read_only_sql_transaction
    #[error("cannot execute {0} on this server: it is read-only")]
    ReadOnly(String),
    /// 42501 insufficient_privilege
    #[error("permission denied for table {table}: {why}")]
    Table { table: String, why: String },
    /// 42501 insufficient_privilege
    #[error("permission denied to set parameter \"{name}\": {why}")]
    Setting { name: String, why: String },
    /// 0A000 feature_not_supported
    #[error("{0} is not supported on this server")]
    Unsupported(String),
}

impl Denied {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Denied::ReadOnly(_) => "25006",
            Denied::Table { .. } | Denied::Setting { .. } => "42501",
            Denied::Unsupported(_) => "0A000",
        }
    }
}

/// What a statement is, for the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Planned, checked on its plan, then run.
    Query,
    /// `DESCRIBE table` / `SHOW COLUMNS FROM table`: the named table is checked.
    Describe(String),
    /// `SET statement_timeout`, lowered (or reset to the server's limit).
    StatementTimeout(Option<Duration>),
    /// `SET kpi.as_of = …`: applied to the connection's session.
    AsOf,
    /// `SHOW …`, harmless `SET`, `BEGIN`, `COMMIT`, `ROLLBACK`: answered without reading data.
    Session,
    /// Statements with nothing to do on a read-only server, answered with their tag:
    /// `SAVEPOINT`, `RELEASE`, `ROLLBACK TO SAVEPOINT`.
    Acknowledge(&'static str),
    /// `DISCARD …`: the connection back to how it started (settings, prepared statements),
    /// as a connection pooler expects before handing it to another client.
    Discard,
}

impl Kind {
    /// Whether the server answers the statement itself, without planning a query: the `SET`s
    /// it keeps per connection and the statements it acknowledges or resets with.
    pub fn answered_by_server(&self) -> bool {
        matches!(
            self,
            Kind::StatementTimeout(_) | Kind::AsOf | Kind::Acknowledge(_) | Kind::Discard
        )
    }
}

/// The rules of a connection, granted once its user has authenticated; until then nothing is
/// readable.
#[derive(Debug, Default)]
pub struct Grant(std::sync::OnceLock<Access>);

impl Grant {
    /// Grant `access`; a connection is granted once, so a second grant is ignored.
    pub fn set(&self, access: Access) {
        let _ = self.0.set(access);
    }

    pub fn get(&self) -> Option<&Access> {
        self.0.get()
    }

    /// Whether the table `name` is readable (and listed): never before authentication.
    pub fn may_read(&self, name: &str) -> bool {
        self.get().is_some_and(|a| a.may_read(name))
    }
}

/// The rules for one connection's user.
#[derive(Debug, Clone)]
pub struct Access {
    role: Role,
    viewer_tables: BTreeSet<String>,
    statement_timeout: Duration,
    /// The tables viewers may read that exist, for messages.
    shown: Vec<String>,
}

impl Access {
    /// `viewer_tables`: the views viewers may read besides the aggregate tables;
    /// `statement_timeout`: the server's limit, which clients may only lower.
    pub fn new(role: Role, viewer_tables: &[String], statement_timeout: Duration) -> Access {
        let mut shown: Vec<String> = AGGREGATE_TABLES.iter().map(|t| t.to_string()).collect();
        shown.extend(viewer_tables.iter().cloned());
        Access {
            role,
            viewer_tables: viewer_tables.iter().cloned().collect(),
            statement_timeout,
            shown,
        }
    }

    /// Name only the tables of `existing` in messages.
    pub fn existing(mut self, existing: &[String]) -> Access {
        self.shown.retain(|t| existing.contains(t));
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the role reads every table.
    fn reads_everything(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Analyst)
    }

    /// Whether the role may see and read the workspace table `name`.
    pub fn may_read(&self, name: &str) -> bool {
        self.reads_everything()
            || AGGREGATE_TABLES.contains(&name)
            || self.viewer_tables.contains(name)
    }

    /// Sort a parsed statement; refuse what is never allowed.
    pub fn classify(&self, statement: &Statement) -> Result<Kind, Denied> {
        match statement {
            Statement::Query(_) => Ok(Kind::Query),
            Statement::Explain { statement, .. } => match statement.as_ref() {
                Statement::Query(_) => Ok(Kind::Query),
                other => Err(Denied::ReadOnly(format!("EXPLAIN {}", verb(other)))),
            },
            Statement::ExplainTable { table_name, .. } => {
                Ok(Kind::Describe(table_name.to_string()))
            }
            Statement::ShowColumns { show_options, .. } => {
                match show_options
                    .show_in
                    .as_ref()
                    .and_then(|i| i.parent_name.as_ref())
                {
                    Some(name) => Ok(Kind::Describe(name.to_string())),
                    None => Ok(Kind::Query),
                }
            }
            Statement::ShowTables { .. } | Statement::ShowFunctions { .. } => Ok(Kind::Query),
            // `PREPARE name AS query` is checked on the query's plan; `EXECUTE name` runs a
            // plan that was checked when it was prepared (and is checked again).
            Statement::Prepare { statement, .. } => match statement.as_ref() {
                Statement::Query(_) => Ok(Kind::Query),
                other => Err(Denied::ReadOnly(format!("PREPARE of {}", verb(other)))),
            },
            Statement::Execute { .. } => Ok(Kind::Query),
            Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. } => Ok(Kind::Session),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Ok(Kind::Acknowledge("ROLLBACK")),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. } => Ok(Kind::Session),
            Statement::Savepoint { .. } => Ok(Kind::Acknowledge("SAVEPOINT")),
            Statement::ReleaseSavepoint { .. } => Ok(Kind::Acknowledge("RELEASE")),
            Statement::Discard { .. } => Ok(Kind::Discard),
            Statement::Deallocate { name, .. } if name.value.eq_ignore_ascii_case("all") => {
                Ok(Kind::Discard)
            }
            Statement::Deallocate { .. } => Ok(Kind::Query),
            Statement::Set(set) => self.classify_set(set),
            Statement::Declare { .. } | Statement::Fetch { .. } | Statement::Close { .. } => Err(
                Denied::Unsupported("a cursor (DECLARE, FETCH, CLOSE)".into()),
            ),
            other => Err(Denied::ReadOnly(verb(other))),
        }
    }

    fn classify_set(&self, set: &Set) -> Result<Kind, Denied> {
        let (name, values) = match set {
            Set::SingleAssignment {
                variable, values, ..
            } => (variable.to_string().to_lowercase(), values),
            Set::SetTimeZone { .. } => return Ok(Kind::Session),
            Set::SetNames { .. } | Set::SetNamesDefault {} => return Ok(Kind::Session),
            other => {
                return Err(Denied::ReadOnly(format!(
                    "SET {}",
                    other.to_string().trim_start_matches("SET ")
                )))
            }
        };
        if name == "statement_timeout" {
            let limit = self.statement_timeout;
            let text = values
                .first()
                .map(|v| v.to_string().trim_matches('\'').to_string())
                .unwrap_or_default();
            if text.eq_ignore_ascii_case("default") {
                return Ok(Kind::StatementTimeout(None));
            }
            let why = format!(
                "it can only be lowered below the server's limit of {}",
                crate::config::format_duration(limit)
            );
            let asked = crate::config::parse_duration(&text).map_err(|_| Denied::Setting {
                name: name.clone(),
                why: why.clone(),
            })?;
            if asked > limit {
                return Err(Denied::Setting { name, why });
            }
            return Ok(Kind::StatementTimeout(Some(asked)));
        }
        if name == "kpi.as_of" {
            return Ok(Kind::AsOf);
        }
        if HARMLESS_VARIABLES.contains(&name.as_str()) {
            return Ok(Kind::Session);
        }
        Err(Denied::Setting {
            name,
            why: format!(
                "clients may set only {} and lower statement_timeout",
                HARMLESS_VARIABLES.join(", ")
            ),
        })
    }

    /// Check a plan: nothing it does writes, and every table it scans is readable.
    pub fn check_plan(&self, plan: &LogicalPlan) -> Result<(), Denied> {
        let mut denied = None;
        let walk = plan.apply_with_subqueries(|node| {
            let verdict = match node {
                LogicalPlan::Ddl(ddl) => Err(Denied::ReadOnly(ddl.name().to_string())),
                LogicalPlan::Dml(dml) => Err(Denied::ReadOnly(dml.op.to_string())),
                LogicalPlan::Copy(_) => Err(Denied::ReadOnly("COPY".into())),
                // Preparing a query, running a prepared one: the query's own plan is checked.
                LogicalPlan::Statement(
                    datafusion::logical_expr::Statement::Prepare(_)
                    | datafusion::logical_expr::Statement::Execute(_)
                    | datafusion::logical_expr::Statement::Deallocate(_),
                ) => Ok(()),
                LogicalPlan::Statement(s) => Err(Denied::ReadOnly(s.name().to_string())),
                LogicalPlan::TableScan(scan) => self.check_scan(&scan.table_name),
                _ => Ok(()),
            };
            match verdict {
                Ok(()) => Ok(TreeNodeRecursion::Continue),
                Err(e) => {
                    denied = Some(e);
                    Ok(TreeNodeRecursion::Stop)
                }
            }
        });
        match (denied, walk) {
            (Some(denied), _) => Err(denied),
            (None, Ok(_)) => Ok(()),
            // The walk itself cannot fail; if it ever did, refuse rather than let it through.
            (None, Err(e)) => Err(Denied::Unsupported(format!("this plan ({e})"))),
        }
    }

    /// Check a table named in SQL (`DESCRIBE name`).
    pub fn check_name(&self, name: &str) -> Result<(), Denied> {
        self.check_scan(&TableReference::from(name.trim_matches('"')))
    }

    fn check_scan(&self, table: &TableReference) -> Result<(), Denied> {
        let deny = |why: &str| {
            Err(Denied::Table {
                table: table.to_string(),
                why: why.to_string(),
            })
        };
        if let Some(catalog) = table.catalog() {
            if catalog != DATABASE {
                return deny("only the database kpi is served");
            }
        }
        let name = table.table();
        match table.schema() {
            Some(schema) if LISTING_SCHEMAS.contains(&schema) => return Ok(()),
            Some(schema) if schema != SCHEMA => return deny("no such schema is served"),
            _ => {}
        }
        if let Some(function) = name.strip_suffix("()") {
            if self.reads_everything() || HARMLESS_FUNCTIONS.contains(&function) {
                return Ok(());
            }
            return deny("viewers may call only generate_series and range");
        }
        if self.may_read(name) {
            return Ok(());
        }
        deny(&format!(
            "the {} role reads only {}",
            self.role,
            self.shown.join(", ")
        ))
    }
}

/// The first words of a statement, for messages: `INSERT`, `CREATE TABLE`, `COPY`, ….
fn verb(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let keep = words
        .iter()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .count()
        .clamp(1, 2);
    words[..keep.min(words.len())].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn statement(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    fn access(role: Role) -> Access {
        Access::new(role, &["team_kpis".into()], Duration::from_secs(30))
    }

    #[test]
    fn every_write_is_refused_for_every_role() {
        for role in Role::ALL {
            let access = access(role);
            for sql in [
                "INSERT INTO tickets VALUES (1)",
                "UPDATE tickets SET status = 'x'",
                "DELETE FROM tickets",
                "CREATE TABLE t (a INT)",
                "CREATE VIEW v AS SELECT 1",
                "DROP TABLE tickets",
                "COPY tickets TO '/tmp/x.csv'",
                "TRUNCATE tickets",
                "ALTER TABLE tickets ADD COLUMN x INT",
                "EXPLAIN ANALYZE INSERT INTO tickets VALUES (1)",
            ] {
                let err = access.classify(&statement(sql)).unwrap_err();
                assert_eq!(err.sqlstate(), "25006", "{role}: {sql}: {err}");
            }
        }
    }

    #[test]
    fn settings_are_limited_to_harmless_ones() {
        let access = access(Role::Analyst);
        for sql in [
            "SET datestyle = 'ISO'",
            "SET search_path = public",
            "SET application_name = 'superset'",
            "SET TIME ZONE 'UTC'",
        ] {
            assert_eq!(access.classify(&statement(sql)), Ok(Kind::Session), "{sql}");
        }
        assert_eq!(
            access.classify(&statement("SET kpi.as_of = '2026-03-31'")),
            Ok(Kind::AsOf)
        );
        assert_eq!(
            access.classify(&statement("SET statement_timeout = '5s'")),
            Ok(Kind::StatementTimeout(Some(Duration::from_secs(5))))
        );
        for sql in [
            "SET statement_timeout = 0",
            "SET statement_timeout = '1h'",
            "SET datafusion.execution.target_partitions = 1",
            "SET kpi.something = 1",
        ] {
            let err = access.classify(&statement(sql)).unwrap_err();
            assert_eq!(err.sqlstate(), "42501", "{sql}: {err}");
        }
    }

    #[test]
    fn viewers_read_the_aggregate_tables_and_listed_views_only() {
        let viewer = access(Role::Viewer);
        let analyst = access(Role::Analyst);
        for name in [
            "kpi_results",
            "kpi_targets",
            "team_kpis",
            "kpi.public.kpi_catalog",
        ] {
            assert_eq!(viewer.check_name(name), Ok(()), "{name}");
        }
        for name in [
            "tickets",
            "public.ticket_events",
            "ticket_sla",
            "kpi.public.tickets",
        ] {
            let err = viewer.check_name(name).unwrap_err();
            assert_eq!(err.sqlstate(), "42501");
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(analyst.check_name(name), Ok(()));
        }
        assert_eq!(viewer.check_name("information_schema.tables"), Ok(()));
        assert!(analyst.check_name("other.public.tickets").is_err());
        assert!(viewer.check_name("generate_series()").is_ok());
        assert!(viewer.check_name("something_else()").is_err());
    }
}
