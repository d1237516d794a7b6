//! Which policy version applies to a ticket: the first, in file order, whose `when` matches the
//! ticket's current attributes and whose validity contains its creation (local dates of the
//! policy's calendar). Built as one DataFusion expression over the `tickets` columns, so the
//! user's conditions are planned, never pasted into SQL text.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{case, col, lit, Expr};

use crate::calendar::{local_to_utc, CalendarRegistry};
use crate::config::{Config, ConfigError};

/// `CASE WHEN <policy 1 applies> THEN 1 WHEN … END`: the `position` of the policy version
/// that applies to each ticket (as in `sla_policies`), NULL when none does.
pub fn policy_position(config: &Config, calendars: &CalendarRegistry) -> Result<Expr, ConfigError> {
    let mut branches: Vec<(Expr, Expr)> = Vec::new();
    for (policy, when) in config.sla.policies.iter().zip(super::conditions(config)?) {
        let key = format!("sla.policies.{}", policy.name);
        // A condition that is NULL for a ticket (a missing column value) does not match.
        let mut applies = when.map_or(lit(true), Expr::is_true);
        let calendar = calendars
            .resolve(policy.calendar.as_deref())
            .and_then(|name| calendars.calendar(name))
            .map_err(|e| super::invalid(config, 1, 1, &key, e.to_string()))?;
        let tz = calendar.timezone();
        let midnight = |date| {
            local_to_utc(&tz, date, 0).ok_or_else(|| {
                super::invalid(config, 1, 1, &key, format!("{date} is out of range"))
            })
        };
        let instant = |micros| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(micros),
                Some("UTC".into()),
            ))
        };
        if let Some(from) = policy.valid_from {
            applies = applies.and(col("created_at").gt_eq(instant(midnight(from)?)));
        }
        if let Some(until) = policy.valid_until {
            applies = applies.and(col("created_at").lt(instant(midnight(until)?)));
        }
        branches.push((applies, lit(policy.position as i32)));
    }
    if branches.is_empty() {
        return Ok(lit(ScalarValue::Int32(None)));
    }
    let mut builder = case(lit(true));
    for (applies, position) in branches {
        builder = builder.when(applies, position);
    }
    builder
        .otherwise(lit(ScalarValue::Int32(None)))
        .map_err(|e| super::invalid(config, 1, 1, "sla", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
    use datafusion::arrow::array::{ArrayRef, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::prelude::SessionContext;

    use super::*;

    const CONFIG: &str = r#"
default_calendar = "sp"
[calendars.sp]
timezone = "America/Sao_Paulo"
hours = { mon = ["09:00-17:00"] }
[calendars.utc]
timezone = "UTC"
hours = { mon = ["09:00-17:00"] }

[[sla.policies]]
name = "urgent"
when = "priority = 'urgent'"
calendar = "utc"
valid_from = "2026-03-01"
targets = { resolution = "4h" }

[[sla.policies]]
name = "standard"
when = "channel IN ('email', 'portal')"
valid_until = "2026-07-01"
targets = { resolution = "8h" }

[[sla.policies]]
name = "standard"
when = "channel IN ('email', 'portal')"
valid_from = "2026-07-01"
targets = { resolution = "6h" }
"#;

    /// A ticket: id, created_at in UTC, priority, channel, and the expected policy position.
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<i32>,
    );

    const TICKETS_AND_POLICIES: &[Case] = &[
        // Urgent, but created before the urgent policy existed: the standard one.
        (
            "a",
            "2026-02-28T23:59:59Z",
            Some("urgent"),
            Some("email"),
            Some(2),
        ),
        (
            "b",
            "2026-03-01T00:00:00Z",
            Some("urgent"),
            Some("email"),
            Some(1),
        ),
        // 2026-07-01 00:00 in São Paulo is 03:00 UTC: still the first standard version.
        (
            "c",
            "2026-07-01T02:59:59Z",
            Some("normal"),
            Some("portal"),
            Some(2),
        ),
        (
            "d",
            "2026-07-01T03:00:00Z",
            Some("normal"),
            Some("portal"),
            Some(3),
        ),
        // No policy matches a phone ticket of normal priority.
        (
            "e",
            "2026-05-01T12:00:00Z",
            Some("normal"),
            Some("phone"),
            None,
        ),
        // A missing priority does not match `priority = 'urgent'`.
        ("f", "2026-05-01T12:00:00Z", None, Some("email"), Some(2)),
        ("g", "2026-05-01T12:00:00Z", None, None, None),
    ];

    fn micros(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[tokio::test]
    async fn the_first_matching_version_applies() {
        let config = Config::parse(Path::new("kpi.toml"), CONFIG).unwrap();
        let calendars =
            CalendarRegistry::new(config.calendars.clone(), config.default_calendar.clone())
                .unwrap();
        let expr = policy_position(&config, &calendars).unwrap();
        let rows = TICKETS_AND_POLICIES;
        let text = |f: &dyn Fn(usize) -> Option<&'static str>| -> ArrayRef {
            Arc::new((0..rows.len()).map(f).collect::<StringArray>())
        };
        let created: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.1)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        );
        let batch = RecordBatch::try_from_iter(vec![
            ("ticket_id", text(&|i| Some(rows[i].0))),
            ("created_at", created),
            ("priority", text(&|i| rows[i].2)),
            ("channel", text(&|i| rows[i].3)),
        ])
        .unwrap();
        let ctx = SessionContext::new();
        let got = ctx
            .read_batch(batch)
            .unwrap()
            .select(vec![col("ticket_id"), expr.alias("position")])
            .unwrap()
            .collect()
            .await
            .unwrap();
        let positions = got[0].column(1).as_primitive::<Int32Type>();
        for (i, row) in rows.iter().enumerate() {
            let position = positions.is_valid(i).then(|| positions.value(i));
            assert_eq!(position, row.4, "ticket {}", row.0);
        }
    }
}
