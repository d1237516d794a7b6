//! The rows of the SLA views as they are built, one ticket at a time, in Arrow builders; a
//! batch (projected to the columns the query reads) is cut every few thousand rows.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;

use super::clock::{BusinessClock, Measure, Timeline};
use super::exec::{Output, Setup};
use crate::calendar::{BusinessIndex, CalendarError, MICROS};
use crate::config::SlaPolicy;
use crate::tables::Vocabulary;

/// The view's rows being built, in the view's full schema; projected when a batch is sent.
pub(super) struct Rows {
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    len: usize,
    ticket_id: StringBuilder,
    source_system: StringBuilder,
    columns: Columns,
}

// One value per partition: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Columns {
    Intervals {
        stay: Int64Builder,
        status: StringBuilder,
        entered_at: TimestampMicrosecondBuilder,
        left_at: TimestampMicrosecondBuilder,
        calendar: StringBuilder,
        pauses: BooleanBuilder,
        seconds: Int64Builder,
        business_seconds: Int64Builder,
    },
    Sla {
        metric: StringBuilder,
        occurrence: Int64Builder,
        policy: StringBuilder,
        calendar: StringBuilder,
        started_at: TimestampMicrosecondBuilder,
        stopped_at: TimestampMicrosecondBuilder,
        target: Int64Builder,
        elapsed: Int64Builder,
        paused: Int64Builder,
        due_at: TimestampMicrosecondBuilder,
        stage: StringBuilder,
        breached: BooleanBuilder,
        remaining: Int64Builder,
        at_risk: BooleanBuilder,
    },
}

fn instant_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// Whole seconds of an amount of µs, truncated toward zero (as `business_seconds` does).
fn seconds(micros: i64) -> i64 {
    micros / MICROS
}

impl Rows {
    pub(super) fn new(setup: &Setup) -> Self {
        let columns = match setup.output {
            Output::Intervals => Columns::Intervals {
                stay: Int64Builder::new(),
                status: StringBuilder::new(),
                entered_at: instant_builder(),
                left_at: instant_builder(),
                calendar: StringBuilder::new(),
                pauses: BooleanBuilder::new(),
                seconds: Int64Builder::new(),
                business_seconds: Int64Builder::new(),
            },
            Output::Sla { .. } => Columns::Sla {
                metric: StringBuilder::new(),
                occurrence: Int64Builder::new(),
                policy: StringBuilder::new(),
                calendar: StringBuilder::new(),
                started_at: instant_builder(),
                stopped_at: instant_builder(),
                target: Int64Builder::new(),
                elapsed: Int64Builder::new(),
                paused: Int64Builder::new(),
                due_at: instant_builder(),
                stage: StringBuilder::new(),
                breached: BooleanBuilder::new(),
                remaining: Int64Builder::new(),
                at_risk: BooleanBuilder::new(),
            },
        };
        Rows {
            schema: Arc::clone(&setup.schema),
            projection: setup.projection.clone(),
            len: 0,
            ticket_id: StringBuilder::new(),
            source_system: StringBuilder::new(),
            columns,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn key(&mut self, (source, id): (&str, &str)) {
        self.ticket_id.append_value(id);
        self.source_system.append_value(source);
        self.len += 1;
    }

    /// The status stays of one ticket under `policy`, measured in `clock` (the ticket's calendar) if any.
    pub(super) fn intervals(
        &mut self,
        key: (&str, &str),
        timeline: &Timeline,
        policy: Option<&SlaPolicy>,
        clock: Option<&(String, Arc<BusinessIndex>)>,
    ) -> Result<(), CalendarError> {
        for stay in &timeline.stays {
            let end = stay.left_at.unwrap_or(timeline.as_of).max(stay.entered_at);
            let business = match clock {
                Some((_, index)) => Some(seconds(index.micros(stay.entered_at, end)?)),
                None => None,
            };
            self.key(key);
            let Columns::Intervals {
                stay: number,
                status,
                entered_at,
                left_at,
                calendar,
                pauses,
                seconds: real,
                business_seconds,
            } = &mut self.columns
            else {
                continue;
            };
            number.append_value(i64::from(stay.number));
            status.append_value(stay.status.as_str());
            entered_at.append_value(stay.entered_at);
            left_at.append_option(stay.left_at);
            calendar.append_option(clock.map(|(name, _)| name));
            pauses.append_value(
                timeline.from_events && policy.is_some_and(|p| p.pauses(stay.status)),
            );
            real.append_value(seconds(end - stay.entered_at));
            business_seconds.append_option(business);
        }
        Ok(())
    }

    /// The measured metrics of one ticket.
    pub(super) fn sla(
        &mut self,
        key: (&str, &str),
        policy_name: &str,
        calendar_name: &str,
        measures: &[Measure],
    ) {
        for m in measures {
            self.key(key);
            let Columns::Sla {
                metric,
                occurrence,
                policy,
                calendar,
                started_at,
                stopped_at,
                target,
                elapsed,
                paused,
                due_at,
                stage,
                breached,
                remaining,
                at_risk,
            } = &mut self.columns
            else {
                continue;
            };
            metric.append_value(m.metric.as_str());
            occurrence.append_value(i64::from(m.occurrence));
            policy.append_value(policy_name);
            calendar.append_value(calendar_name);
            started_at.append_value(m.started_at);
            stopped_at.append_option(m.stopped_at);
            target.append_value(seconds(m.target));
            elapsed.append_value(seconds(m.elapsed));
            paused.append_value(seconds(m.paused));
            due_at.append_option(m.due_at);
            stage.append_value(m.stage.as_str());
            breached.append_value(m.breached);
            // target − elapsed in the seconds shown, so the columns add up.
            remaining.append_value(seconds(m.target) - seconds(m.elapsed));
            at_risk.append_value(m.at_risk);
        }
    }

    /// The rows so far as one batch of the plan's (projected) schema; the builders start over.
    pub(super) fn finish(&mut self) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.ticket_id.finish()),
            Arc::new(self.source_system.finish()),
        ];
        match &mut self.columns {
            Columns::Intervals {
                stay,
                status,
                entered_at,
                left_at,
                calendar,
                pauses,
                seconds,
                business_seconds,
            } => arrays.extend([
                Arc::new(stay.finish()) as ArrayRef,
                Arc::new(status.finish()),
                Arc::new(entered_at.finish()),
                Arc::new(left_at.finish()),
                Arc::new(calendar.finish()),
                Arc::new(pauses.finish()),
                Arc::new(seconds.finish()),
                Arc::new(business_seconds.finish()),
            ]),
            Columns::Sla {
                metric,
                occurrence,
                policy,
                calendar,
                started_at,
                stopped_at,
                target,
                elapsed,
                paused,
                due_at,
                stage,
                breached,
                remaining,
                at_risk,
            } => arrays.extend([
                Arc::new(metric.finish()) as ArrayRef,
                Arc::new(occurrence.finish()),
                Arc::new(policy.finish()),
                Arc::new(calendar.finish()),
                Arc::new(started_at.finish()),
                Arc::new(stopped_at.finish()),
                Arc::new(target.finish()),
                Arc::new(elapsed.finish()),
                Arc::new(paused.finish()),
                Arc::new(due_at.finish()),
                Arc::new(stage.finish()),
                Arc::new(breached.finish()),
                Arc::new(remaining.finish()),
                Arc::new(at_risk.finish()),
            ]),
        }
        self.len = 0;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)?;
        Ok(match &self.projection {
            Some(p) => batch.project(p)?,
            None => batch,
        })
    }
}
