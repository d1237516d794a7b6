//! The execution plan behind the SLA views: it reads `tickets` and their events, both
//! hash-partitioned by ticket and sorted (DataFusion's planner provides both, spilling within
//! the session's memory limit), walks them side by side one ticket at a time, and turns each
//! ticket into rows with the rules of [`super::clock`]. Every partition runs on its own core.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringViewArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef, TimestampMicrosecondType};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{
    EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalExpr,
    PhysicalSortRequirement,
};
use datafusion::physical_plan::distribution_requirements::InputDistributionRequirements;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::col;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, FilterDescription, FilterPushdownPhase,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::{
    RecordBatchReceiverStreamBuilder, RecordBatchStreamAdapter,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use futures::StreamExt;
use tokio::sync::mpsc::Sender;

use super::clock::{measure, Terms, TicketRow, Timeline};
use super::rows::Rows;
use crate::calendar::{BusinessIndex, CalendarError, CalendarRegistry};
use crate::config::SlaPolicy;
use crate::history::Event;
use crate::tables::{ActorRole, EventType, SlaMetric, Status, Vocabulary};

/// Rows per output batch.
const BATCH_ROWS: usize = 8192;

/// Which view a plan computes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Output {
    /// `ticket_status_intervals`.
    Intervals,
    /// `ticket_sla`, for these metrics only.
    Sla { metrics: Vec<SlaMetric> },
}

/// What a plan needs besides its inputs.
#[derive(Debug)]
pub(super) struct Setup {
    pub output: Output,
    /// The configured policies, in file order (a ticket's `_policy` is a 1-based position).
    pub policies: Vec<SlaPolicy>,
    pub at_risk_share: f64,
    pub calendars: Arc<CalendarRegistry>,
    /// The instant everything is evaluated at, UTC µs.
    pub as_of: i64,
    /// The view's full schema, and the columns the query reads.
    pub schema: SchemaRef,
    pub projection: Option<Vec<usize>>,
}

/// Tickets (`ticket_id`, `source_system`, timestamps, `status`, `_policy`) and their events
/// (`ticket_id`, `source_system`, `ts`, `event_id`, `event_type`, `actor_role`, `to_status`)
/// in, one view's rows out.
#[derive(Debug)]
pub(super) struct TicketClockExec {
    setup: Arc<Setup>,
    tickets: Arc<dyn ExecutionPlan>,
    events: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

/// The key both inputs are partitioned and sorted by.
const KEY: [&str; 2] = ["source_system", "ticket_id"];

impl TicketClockExec {
    pub(super) fn new(
        setup: Arc<Setup>,
        tickets: Arc<dyn ExecutionPlan>,
        events: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let schema = match &setup.projection {
            Some(p) => Arc::new(
                setup
                    .schema
                    .project(p)
                    .unwrap_or_else(|_| (*setup.schema).clone()),
            ),
            None => Arc::clone(&setup.schema),
        };
        let partitions = tickets.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        TicketClockExec {
            setup,
            tickets,
            events,
            properties: Arc::new(properties),
        }
    }

    fn key_exprs(plan: &Arc<dyn ExecutionPlan>) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let schema = plan.schema();
        KEY.iter().map(|name| col(name, &schema)).collect()
    }

    fn ordering(plan: &Arc<dyn ExecutionPlan>, columns: &[&str]) -> Option<OrderingRequirements> {
        let schema = plan.schema();
        let reqs = columns
            .iter()
            .map(|name| {
                col(name, &schema)
                    .map(|e| PhysicalSortRequirement::new(e, Some(Default::default())))
            })
            .collect::<Result<Vec<_>>>()
            .ok()?;
        LexRequirement::new(reqs).map(OrderingRequirements::new)
    }
}

impl DisplayAs for TicketClockExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.setup.output {
            Output::Intervals => write!(f, "TicketClockExec: ticket_status_intervals"),
            Output::Sla { metrics } => {
                let names: Vec<&str> = metrics.iter().map(|m| m.as_str()).collect();
                write!(
                    f,
                    "TicketClockExec: ticket_sla metrics=[{}]",
                    names.join(", ")
                )
            }
        }
    }
}

impl ExecutionPlan for TicketClockExec {
    fn name(&self) -> &str {
        "TicketClockExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.tickets, &self.events]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        let hashed = |plan| {
            Self::key_exprs(plan)
                .map(Distribution::KeyPartitioned)
                .unwrap_or(Distribution::SinglePartition)
        };
        InputDistributionRequirements::co_partitioned(vec![
            hashed(&self.tickets),
            hashed(&self.events),
        ])
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![
            Self::ordering(&self.tickets, &KEY),
            Self::ordering(
                &self.events,
                &["source_system", "ticket_id", "ts", "event_id"],
            ),
        ]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false, false]
    }

    /// Filters on the ticket key (a hash join's dynamic filter above all) go to both inputs,
    /// where [`super::key_filter::KeyFilterExec`] applies them before the rows are sorted.
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        let schema = self.schema();
        let keys: HashSet<usize> = KEY
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .collect();
        let mut description = FilterDescription::new();
        for child in [&self.tickets, &self.events] {
            description =
                description.with_child(ChildFilterDescription::from_child_with_allowed_indices(
                    &parent_filters,
                    keys.clone(),
                    child,
                )?);
        }
        Ok(description)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        match partition {
            None => vec![ChildStats::At(None), ChildStats::Skip],
            Some(_) => vec![ChildStats::Skip, ChildStats::Skip],
        }
    }

    /// A rough size for the planner (which side of a join to build): the tickets read times
    /// the rows each makes.
    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let schema = self.schema();
        let mut stats = Statistics::new_unknown(&schema);
        let tickets = input_stats.first().and_then(|s| s.num_rows.get_value());
        if let (None, Some(n)) = (args.partition(), tickets) {
            let per_ticket = match &self.setup.output {
                Output::Intervals => 4,
                Output::Sla { metrics } => metrics.len().max(1),
            };
            let rows = n.saturating_mul(per_ticket);
            stats.num_rows = Precision::Inexact(rows);
            stats.total_byte_size =
                Precision::Inexact(rows.saturating_mul(8 * schema.fields().len()));
        }
        Ok(Arc::new(stats))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [tickets, events]: [Arc<dyn ExecutionPlan>; 2] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("TicketClockExec has two inputs".into()))?;
        Ok(Arc::new(TicketClockExec::new(
            Arc::clone(&self.setup),
            tickets,
            events,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (tickets, events) = (
            self.tickets.output_partitioning().partition_count(),
            self.events.output_partitioning().partition_count(),
        );
        if tickets != events {
            return Err(DataFusionError::Internal(format!(
                "TicketClockExec: its inputs are not partitioned alike ({tickets} and {events} \
                 partitions)"
            )));
        }
        let tickets = self.tickets.execute(partition, Arc::clone(&context))?;
        let events = self.events.execute(partition, context)?;
        let schema = self.schema();
        let setup = Arc::clone(&self.setup);
        // Nothing is read until the first batch is asked for: a hash join that this view
        // probes has built its side by then, and its filter on the ticket key is complete.
        let start = {
            let schema = Arc::clone(&schema);
            async move {
                let mut builder = RecordBatchReceiverStreamBuilder::new(schema, 2);
                let tx = builder.tx();
                builder.spawn(async move { run(setup, tickets, events, tx).await });
                builder.build()
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(start).flatten(),
        )))
    }
}

/// Walk the tickets and their events side by side and send the view's rows.
async fn run(
    setup: Arc<Setup>,
    mut tickets: SendableRecordBatchStream,
    events: SendableRecordBatchStream,
    tx: Sender<Result<RecordBatch>>,
) -> Result<()> {
    let mut events = EventCursor::new(events);
    let mut rows = Rows::new(&setup);
    let mut clocks = Clocks::new(&setup);
    let mut buffer: Vec<Event<'static>> = Vec::new();
    // The previous ticket's key, kept in reused buffers (no allocation per ticket).
    let (mut last_source, mut last_id, mut first) = (String::new(), String::new(), true);
    while let Some(batch) = tickets.next().await {
        let batch = batch?;
        let t = TicketColumns::new(&batch)?;
        for row in 0..batch.num_rows() {
            let key = (t.source.value(row), t.id.value(row));
            if !first && (last_source.as_str(), last_id.as_str()) == key {
                return Err(DataFusionError::Execution(format!(
                    "tickets has two rows for ticket {} of {}: its key (ticket_id, \
                     source_system) must be unique",
                    key.1, key.0
                )));
            }
            first = false;
            last_source.clear();
            last_id.clear();
            last_source.push_str(key.0);
            last_id.push_str(key.1);
            events.take(key, &mut buffer).await?;
            let Some(created_at) = instant_at(&t.created, row) else {
                continue;
            };
            let ticket = TicketRow {
                created_at,
                first_response_at: instant_at(&t.first_response, row),
                resolved_at: instant_at(&t.resolved, row),
                closed_at: instant_at(&t.closed, row),
                status: t
                    .status
                    .is_valid(row)
                    .then(|| Status::parse(t.status.value(row)))
                    .flatten(),
            };
            let timeline = Timeline::new(&ticket, &buffer, setup.as_of);
            let policy = t
                .policy
                .is_valid(row)
                .then(|| {
                    setup
                        .policies
                        .iter()
                        .find(|p| p.position as i32 == t.policy.value(row))
                })
                .flatten();
            let fail = |e: CalendarError| {
                DataFusionError::Execution(format!("ticket {} of {}: {e}", key.1, key.0))
            };
            match &setup.output {
                Output::Intervals => {
                    let clock = clocks.get(policy, created_at).map_err(fail)?;
                    rows.intervals(key, &timeline, policy, clock.as_ref())
                        .map_err(fail)?;
                }
                Output::Sla { metrics } => {
                    let Some(policy) = policy else { continue };
                    let clock = clocks.get(Some(policy), created_at).map_err(fail)?;
                    let Some((name, clock)) = clock.as_ref() else {
                        continue;
                    };
                    let terms = Terms {
                        policy,
                        at_risk_share: setup.at_risk_share,
                    };
                    let measures =
                        measure(&timeline, &terms, metrics, clock.as_ref()).map_err(fail)?;
                    rows.sla(key, &policy.name, name, &measures);
                }
            }
            if rows.len() >= BATCH_ROWS && tx.send(rows.finish()).await.is_err() {
                return Ok(());
            }
        }
    }
    if rows.len() > 0 {
        let _ = tx.send(rows.finish()).await;
    }
    Ok(())
}

/// Each policy's calendar index, kept for the whole partition and grown when a ticket is older
/// than its window.
struct Clocks {
    calendars: Arc<CalendarRegistry>,
    as_of: i64,
    /// By calendar name: the index in use.
    indexes: Vec<(String, Arc<BusinessIndex>)>,
}

type NamedClock = Option<(String, Arc<BusinessIndex>)>;

impl Clocks {
    fn new(setup: &Setup) -> Clocks {
        Clocks {
            calendars: Arc::clone(&setup.calendars),
            as_of: setup.as_of,
            indexes: Vec::new(),
        }
    }

    /// The calendar of `policy` (else the default) with its index covering `from`..as-of;
    /// `None` when there is no calendar at all.
    fn get(&mut self, policy: Option<&SlaPolicy>, from: i64) -> Result<NamedClock, CalendarError> {
        let wanted = policy.and_then(|p| p.calendar.as_deref());
        let Ok(name) = self.calendars.resolve(wanted) else {
            return Ok(None);
        };
        if let Some((n, index)) = self.indexes.iter().find(|(n, _)| n == name) {
            if index.window().0 <= from {
                return Ok(Some((n.clone(), Arc::clone(index))));
            }
        }
        let index = self
            .calendars
            .index(name, Some((from.min(self.as_of), self.as_of)))?;
        self.indexes.retain(|(n, _)| n != name);
        self.indexes.push((name.to_string(), Arc::clone(&index)));
        Ok(Some((name.to_string(), index)))
    }
}

/// The instant in row `row` of `array`, if any.
fn instant_at(array: &TimestampMicrosecondArray, row: usize) -> Option<i64> {
    array.is_valid(row).then(|| array.value(row))
}

/// The columns of a tickets batch.
struct TicketColumns {
    id: StringViewArray,
    source: StringViewArray,
    created: TimestampMicrosecondArray,
    first_response: TimestampMicrosecondArray,
    resolved: TimestampMicrosecondArray,
    closed: TimestampMicrosecondArray,
    status: StringViewArray,
    policy: Int32Array,
}

fn text(batch: &RecordBatch, name: &str) -> Result<StringViewArray> {
    let column = column(batch, name)?;
    Ok(cast(column, &DataType::Utf8View)?.as_string_view().clone())
}

fn instants(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray> {
    let column = column(batch, name)?;
    Ok(column
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| DataFusionError::Internal(format!("{name} is not a timestamp")))?
        .clone())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("TicketClockExec: no column {name}")))
}

impl TicketColumns {
    fn new(batch: &RecordBatch) -> Result<Self> {
        Ok(TicketColumns {
            id: text(batch, "ticket_id")?,
            source: text(batch, "source_system")?,
            created: instants(batch, "created_at")?,
            first_response: instants(batch, "first_response_at")?,
            resolved: instants(batch, "resolved_at")?,
            closed: instants(batch, "closed_at")?,
            status: text(batch, "status")?,
            policy: column(batch, "_policy")?
                .as_primitive_opt::<Int32Type>()
                .ok_or_else(|| DataFusionError::Internal("_policy is not INT".into()))?
                .clone(),
        })
    }
}

/// The events stream, read in step with the tickets.
struct EventCursor {
    stream: SendableRecordBatchStream,
    batch: Option<EventColumns>,
    row: usize,
    done: bool,
}

struct EventColumns {
    id: StringViewArray,
    source: StringViewArray,
    ts: TimestampMicrosecondArray,
    event_type: StringViewArray,
    actor_role: StringViewArray,
    to_status: StringViewArray,
    len: usize,
}

impl EventCursor {
    fn new(stream: SendableRecordBatchStream) -> Self {
        EventCursor {
            stream,
            batch: None,
            row: 0,
            done: false,
        }
    }

    /// Replace `out` with the events of the ticket `key`, skipping events of tickets before it
    /// (tickets created after the as-of instant, or events without a ticket).
    async fn take(&mut self, key: (&str, &str), out: &mut Vec<Event<'static>>) -> Result<()> {
        out.clear();
        loop {
            if self.batch.as_ref().is_none_or(|b| self.row >= b.len) {
                if self.done {
                    return Ok(());
                }
                match self.stream.next().await {
                    Some(batch) => {
                        let batch = batch?;
                        self.batch = Some(EventColumns {
                            id: text(&batch, "ticket_id")?,
                            source: text(&batch, "source_system")?,
                            ts: instants(&batch, "ts")?,
                            event_type: text(&batch, "event_type")?,
                            actor_role: text(&batch, "actor_role")?,
                            to_status: text(&batch, "to_status")?,
                            len: batch.num_rows(),
                        });
                        self.row = 0;
                        continue;
                    }
                    None => {
                        self.done = true;
                        return Ok(());
                    }
                }
            }
            let Some(b) = self.batch.as_ref() else {
                return Ok(());
            };
            let row = self.row;
            match (b.source.value(row), b.id.value(row)).cmp(&key) {
                std::cmp::Ordering::Less => self.row += 1,
                std::cmp::Ordering::Greater => return Ok(()),
                std::cmp::Ordering::Equal => {
                    fn word(a: &StringViewArray, row: usize) -> Option<&str> {
                        a.is_valid(row).then(|| a.value(row))
                    }
                    let event_type = match word(&b.event_type, row) {
                        Some(w) if w == EventType::PublicReply.as_str() => {
                            EventType::PublicReply.as_str()
                        }
                        _ => "",
                    };
                    out.push(Event {
                        ts: b.ts.value(row),
                        event_type,
                        actor_role: word(&b.actor_role, row).and_then(ActorRole::parse),
                        to_status: word(&b.to_status, row).and_then(Status::parse),
                        value: None,
                    });
                    self.row += 1;
                }
            }
        }
    }
}
