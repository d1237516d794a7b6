//! `ticket_status_intervals` and `ticket_sla` as table providers. Each query plans them afresh
//! (so they follow new ingests and the session's `kpi.as_of`): the current `tickets` and
//! `ticket_events` are read with the as-of instant and the query's pushable filters applied,
//! and [`super::exec::TicketClockExec`] computes the rows.
//!
//! Filters pushed into the computation (the rule the README states): on `ticket_id` and
//! `source_system` (only those tickets and their events are read), on `metric` (only those
//! metrics are measured, and `first_response` alone reads no events), and on `policy` (only
//! the tickets that policy applies to). Other filters apply to the computed rows.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{cast, col, lit, Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, JoinType, SessionContext};

use super::exec::{Output, Setup, TicketClockExec};
use super::key_filter::KeyFilterExec;
use crate::calendar::CalendarRegistry;
use crate::config::{Config, ConfigError, SlaPolicy};
use crate::tables::{
    EventType, SlaMetric, Table, Vocabulary, TICKETS, TICKET_EVENTS, TICKET_SLA,
    TICKET_STATUS_INTERVALS,
};

/// Reads the session's as-of instant from its settings (`None`: now). The session layer owns
/// the `kpi.*` settings; this layer only asks.
pub type AsOf = fn(&ConfigOptions) -> Option<DateTime<Utc>>;

/// What both views share: the policies and how a ticket picks one, the calendars, the
/// as-of setting.
#[derive(Debug)]
struct Shared {
    policies: Vec<SlaPolicy>,
    at_risk_share: f64,
    calendars: Arc<CalendarRegistry>,
    /// The position of the policy that applies to a ticket, over the `tickets` columns.
    position: Expr,
    as_of: AsOf,
}

/// A view's SQL name and its provider.
pub type NamedView = (&'static str, Arc<dyn TableProvider>);

/// The SLA views of a workspace, by SQL name.
pub fn views(
    config: &Config,
    calendars: &Arc<CalendarRegistry>,
    as_of: AsOf,
) -> Result<Vec<NamedView>, ConfigError> {
    let shared = Arc::new(Shared {
        policies: config.sla.policies.clone(),
        at_risk_share: config.sla.at_risk_share,
        calendars: Arc::clone(calendars),
        position: super::policy_position(config, calendars)?,
        as_of,
    });
    Ok([View::Intervals, View::Sla]
        .into_iter()
        .map(|view| {
            let provider: Arc<dyn TableProvider> = Arc::new(SlaView {
                view,
                shared: Arc::clone(&shared),
            });
            (view.table().name, provider)
        })
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Intervals,
    Sla,
}

impl View {
    fn table(self) -> &'static Table {
        match self {
            View::Intervals => &TICKET_STATUS_INTERVALS,
            View::Sla => &TICKET_SLA,
        }
    }
}

#[derive(Debug)]
struct SlaView {
    view: View,
    shared: Arc<Shared>,
}

/// What a filter on the view can do before the rows are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pushed {
    /// Only `ticket_id` / `source_system`: applied to the inputs.
    Key,
    /// Only `metric`: decides which metrics are measured.
    Metric,
    /// Only `policy`: decides which tickets are read.
    Policy,
}

impl SlaView {
    fn pushed(&self, filter: &Expr) -> Option<Pushed> {
        if filter.is_volatile() {
            return None;
        }
        let names: BTreeSet<&str> = filter
            .column_refs()
            .into_iter()
            .map(|c| c.name.as_str())
            .collect();
        let only =
            |allowed: &[&str]| !names.is_empty() && names.iter().all(|n| allowed.contains(n));
        if only(&["ticket_id", "source_system"]) {
            Some(Pushed::Key)
        } else if self.view == View::Sla && only(&["metric"]) {
            Some(Pushed::Metric)
        } else if self.view == View::Sla && only(&["policy"]) {
            Some(Pushed::Policy)
        } else {
            None
        }
    }
}

/// `filter` with its columns unqualified (they name the view's columns, which the inputs share).
fn unqualified(filter: &Expr) -> Result<Expr> {
    filter
        .clone()
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}

/// Which of `names` pass every filter, tried on a one-column table `column` of those names.
async fn passing(
    ctx: &SessionContext,
    column: &str,
    names: Vec<String>,
    filters: &[Expr],
) -> Result<BTreeSet<usize>> {
    let index: ArrayRef = Arc::new(Int32Array::from_iter_values(0..names.len() as i32));
    let batch = RecordBatch::try_from_iter(vec![
        (column, Arc::new(StringArray::from(names)) as ArrayRef),
        ("_index", index),
    ])?;
    let mut df = ctx.read_batch(batch)?;
    for filter in filters {
        df = df.filter(unqualified(filter)?)?;
    }
    let mut out = BTreeSet::new();
    for batch in df.collect().await? {
        let index = batch.column(1).as_primitive::<Int32Type>();
        out.extend(index.values().iter().map(|&i| i as usize));
    }
    Ok(out)
}

fn instant(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(micros),
        Some("UTC".into()),
    ))
}

/// The column `name` as the plan reads it: text as `Utf8View`, instants as UTC µs (so tables
/// of files or views with other types work too).
fn text(name: &str) -> Expr {
    cast(col(name), DataType::Utf8View).alias(name)
}

/// A key column, in the type of the views' own key columns (so that filters on the views'
/// keys apply to the inputs as they are).
fn key(name: &str) -> Expr {
    cast(col(name), DataType::Utf8).alias(name)
}

fn time(name: &str) -> Expr {
    cast(col(name), instant_type()).alias(name)
}

fn instant_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The input columns of the events side, for when there are no events to read.
fn events_schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8View, true);
    Arc::new(Schema::new(vec![
        Field::new("ticket_id", DataType::Utf8, true),
        Field::new("source_system", DataType::Utf8, true),
        Field::new("ts", instant_type(), true),
        text("event_id"),
        text("event_type"),
        text("actor_role"),
        text("to_status"),
    ]))
}

#[async_trait]
impl TableProvider for SlaView {
    fn schema(&self) -> SchemaRef {
        self.view.table().schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.pushed(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let shared = &self.shared;
        // Without a kpi.as_of setting, "now" is when the query started: every view of one
        // query is measured at the same instant.
        let as_of = (shared.as_of)(state.config_options())
            .or(state.execution_props().query_execution_start_time)
            .unwrap_or_else(Utc::now)
            .timestamp_micros();
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("the SLA views need a SessionState".into()))?;
        let ctx = SessionContext::new_with_state(state.clone());
        let schema = self.schema();
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => Arc::clone(&schema),
        };
        let of_kind = |kind| -> Vec<Expr> {
            filters
                .iter()
                .filter(|f| self.pushed(f) == Some(kind))
                .cloned()
                .collect()
        };

        let output = match self.view {
            View::Intervals => Output::Intervals,
            View::Sla => {
                let names = SlaMetric::NAMES.iter().map(|n| n.to_string()).collect();
                let wanted = passing(&ctx, "metric", names, &of_kind(Pushed::Metric)).await?;
                Output::Sla {
                    metrics: wanted.into_iter().map(|i| SlaMetric::ALL[i]).collect(),
                }
            }
        };
        let empty = || -> Result<Arc<dyn ExecutionPlan>> {
            Ok(Arc::new(EmptyExec::new(Arc::clone(&projected))))
        };
        if !ctx.table_exist(TICKETS.name)? {
            return empty();
        }

        // The tickets that existed at as-of, with the policy that applies to each.
        let mut tickets = ctx
            .table(TICKETS.name)
            .await?
            .filter(col("created_at").lt_eq(instant(as_of)))?
            .select(vec![
                key("ticket_id"),
                key("source_system"),
                time("created_at"),
                time("first_response_at"),
                time("resolved_at"),
                time("closed_at"),
                text("status"),
                shared.position.clone().alias("_policy"),
            ])?;
        let keys = of_kind(Pushed::Key);
        for filter in &keys {
            tickets = tickets.filter(unqualified(filter)?)?;
        }
        let (mut needs_events, mut replies, mut narrowed) = (true, false, false);
        if let Output::Sla { metrics } = &output {
            if metrics.is_empty() {
                return empty();
            }
            tickets = tickets.filter(col("_policy").is_not_null())?;
            let policy_filters = of_kind(Pushed::Policy);
            if !policy_filters.is_empty() {
                let names = shared.policies.iter().map(|p| p.name.clone()).collect();
                let positions: Vec<Expr> = passing(&ctx, "policy", names, &policy_filters)
                    .await?
                    .into_iter()
                    .map(|i| lit(shared.policies[i].position as i32))
                    .collect();
                tickets = tickets.filter(col("_policy").in_list(positions, false))?;
                narrowed = true;
            }
            needs_events = metrics.iter().any(|m| *m != SlaMetric::FirstResponse);
            replies = metrics.contains(&SlaMetric::NextReply);
        }

        // Their status changes (and public replies when next_reply is measured) up to as-of.
        let events: Arc<dyn ExecutionPlan> =
            if needs_events && ctx.table_exist(TICKET_EVENTS.name)? {
                // Every status change (those after as-of tell whether a ticket has any), and
                // the public replies up to as-of when next_reply is measured.
                let mut wanted = col("to_status").is_not_null();
                if replies {
                    wanted = wanted.or(col("event_type")
                        .eq(lit(EventType::PublicReply.as_str()))
                        .and(col("ts").lt_eq(instant(as_of))));
                }
                let mut events = ctx
                    .table(TICKET_EVENTS.name)
                    .await?
                    .filter(wanted)?
                    .select(vec![
                        key("ticket_id"),
                        key("source_system"),
                        time("ts"),
                        text("event_id"),
                        text("event_type"),
                        text("actor_role"),
                        text("to_status"),
                    ])?;
                for filter in &keys {
                    events = events.filter(unqualified(filter)?)?;
                }
                if narrowed {
                    // Only the events of the selected tickets (a semi join on their keys).
                    let selected = tickets.clone().select(vec![
                        col("ticket_id").alias("_ticket_id"),
                        col("source_system").alias("_source_system"),
                    ])?;
                    events = events.join(
                        selected,
                        JoinType::LeftSemi,
                        &["ticket_id", "source_system"],
                        &["_ticket_id", "_source_system"],
                        None,
                    )?;
                }
                Arc::new(KeyFilterExec::new(physical(events).await?))
            } else {
                Arc::new(EmptyExec::new(events_schema()))
            };
        let setup = Setup {
            output,
            policies: shared.policies.clone(),
            at_risk_share: shared.at_risk_share,
            calendars: Arc::clone(&shared.calendars),
            as_of,
            schema,
            projection: projection.cloned(),
        };
        Ok(Arc::new(TicketClockExec::new(
            Arc::new(setup),
            Arc::new(KeyFilterExec::new(physical(tickets).await?)),
            events,
        )))
    }
}

async fn physical(df: DataFrame) -> Result<Arc<dyn ExecutionPlan>> {
    df.create_physical_plan().await
}
