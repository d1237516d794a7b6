//! SLA policies as the engine uses them: their `when` conditions planned against the
//! `tickets` schema when a workspace loads (so a bad condition is reported with its place in
//! `kpi.toml`, before any query runs), and the `sla_policies` table.
//!
//! - [`policy_position`]: which policy version applies to a ticket, as one expression.
//! - [`clock`]: the SLA rules for one ticket (its timeline as of an instant, each metric's
//!   clock), in plain Rust.
//! - [`views`]: `ticket_status_intervals` and `ticket_sla`, computed per query by the plan in
//!   `exec`.
//!
//! The policies themselves are parsed and validated in [`crate::config::sla`]. This layer sits
//! above the table model and the history rules, and below sessions.

mod assign;
pub mod clock;
mod exec;
mod key_filter;
mod policies;
mod rows;
mod views;

#[cfg(test)]
mod clock_tests;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionContext;

use crate::config::{Config, ConfigError};
use crate::tables::TICKETS;

pub use assign::policy_position;
pub use policies::{policies_batch, SLA_POLICIES};
pub use views::{views, AsOf};

/// Plan every policy's `when` against the `tickets` schema: an unknown column, a function
/// that does not exist, a syntax error or a condition that is not true/false is an error
/// naming the file, line, column, key and condition.
pub fn check_conditions(config: &Config) -> Result<(), ConfigError> {
    conditions(config).map(|_| ())
}

/// Each policy's planned `when` (`None`: every ticket), in file order; errors as
/// [`check_conditions`] says.
fn conditions(config: &Config) -> Result<Vec<Option<Expr>>, ConfigError> {
    let schema = DFSchema::try_from(TICKETS.schema().as_ref().clone())
        .map_err(|e| invalid(config, 1, 1, "sla", e.to_string()))?;
    let ctx = SessionContext::new();
    let mut planned = Vec::with_capacity(config.sla.policies.len());
    for policy in &config.sla.policies {
        let Some(when) = &policy.when else {
            planned.push(None);
            continue;
        };
        let fail = |message: String| {
            invalid(
                config,
                when.line,
                when.column,
                &format!("sla.policies.{}.when", policy.name),
                format!("'{}': {message}", when.sql),
            )
        };
        let expr = ctx
            .parse_sql_expr(&when.sql, &schema)
            .map_err(|e| fail(first_line(&e.to_string())))?;
        let data_type = expr
            .get_type(&schema)
            .map_err(|e| fail(first_line(&e.to_string())))?;
        if data_type != DataType::Boolean {
            return Err(fail(format!(
                "the condition is {data_type}, not true or false (compare a column, such as \
                 priority = 'urgent')"
            )));
        }
        planned.push(Some(expr));
    }
    Ok(planned)
}

fn invalid(config: &Config, line: usize, column: usize, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: config.path.clone(),
        line,
        column,
        key: key.to_string(),
        message,
    }
}

/// DataFusion's messages can run over several lines (with a backtrace hint): keep the first.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn check(when: &str) -> Result<(), String> {
        let text = format!(
            "default_calendar = \"c\"\n[calendars.c]\ntimezone = \"UTC\"\n\
             hours = {{ mon = [\"09:00-17:00\"] }}\n\n[[sla.policies]]\nname = \"p\"\n\
             when = \"{when}\"\ntargets = {{ resolution = \"8h\" }}\n"
        );
        let config = Config::parse(Path::new("kpi.toml"), &text).map_err(|e| e.to_string())?;
        check_conditions(&config).map_err(|e| e.to_string())
    }

    #[test]
    fn conditions_are_planned_against_the_tickets_schema() {
        assert_eq!(
            check("priority = 'urgent' AND channel IN ('email', 'portal')"),
            Ok(())
        );
        assert_eq!(check("team LIKE 'bill%' OR csat_score < 3"), Ok(()));
        for (when, expected) in [
            ("prio = 'urgent'", "prio"),
            ("priority = ", "priority = "),
            ("nosuch(team)", "nosuch"),
            ("team", "not true or false"),
        ] {
            let err = check(when).unwrap_err();
            assert!(
                err.starts_with("kpi.toml:8:8: sla.policies.p.when: '"),
                "{when}: {err}"
            );
            assert!(err.contains(expected), "{when}: {err}");
        }
    }
}
