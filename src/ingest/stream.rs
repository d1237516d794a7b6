//! One export file through its mapping, in bounded memory: rows are read, mapped and checked,
//! and handed on in Arrow batches of canonical records, with every rejected row as a
//! quarantine record (file, line, column, raw value, reason). With `strict`, the first
//! rejected row stops the file with an error that names all of these.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt64Builder};
use datafusion::arrow::error::ArrowError;

use crate::config::{Shape, SourceMapping};
use crate::tables::QUARANTINE;

use super::mapper::{Mapper, Rejection};
use super::reader::{ReadError, Row, RowReader};
use super::records::{
    attributes_batch, events_batch, snapshots_batch, tickets_batch, AttributeRecord, EventRecord,
    SnapshotRecord, TicketRecord,
};

/// What a file yields, batch by batch. Record batches come with the line of each row.
#[derive(Debug)]
pub enum Output {
    /// Rows of `tickets` (a tickets export).
    Tickets(RecordBatch, Vec<u64>),
    /// Rows of `ticket_events` (an events export).
    Events(RecordBatch, Vec<u64>),
    /// The ticket attributes carried by event rows ([`attributes_schema`](super::records::attributes_schema)).
    Attributes(RecordBatch, Vec<u64>),
    /// Rows of a snapshot export ([`snapshots_schema`](super::records::snapshots_schema)).
    Snapshots(RecordBatch, Vec<u64>),
    Quarantine(RecordBatch),
    /// Rows and bytes of the file read so far (every few thousand rows, and at the end).
    Progress {
        rows: u64,
        bytes: u64,
    },
}

/// Records of one kind waiting to be handed on, with their lines.
struct Buffer<T> {
    rows: Vec<T>,
    lines: Vec<u64>,
    to_batch: fn(&[T]) -> Result<RecordBatch, ArrowError>,
    to_output: fn(RecordBatch, Vec<u64>) -> Output,
}

impl<T> Buffer<T> {
    fn new(
        to_batch: fn(&[T]) -> Result<RecordBatch, ArrowError>,
        to_output: fn(RecordBatch, Vec<u64>) -> Output,
    ) -> Buffer<T> {
        Buffer {
            rows: Vec::new(),
            lines: Vec::new(),
            to_batch,
            to_output,
        }
    }

    fn push(&mut self, row: T, line: u64) {
        self.rows.push(row);
        self.lines.push(line);
    }

    /// The buffered rows as an output, when there are at least `min` (and at least one).
    fn take(&mut self, min: usize) -> Result<Option<Output>, ArrowError> {
        if self.rows.is_empty() || self.rows.len() < min {
            return Ok(None);
        }
        let batch = (self.to_batch)(&self.rows)?;
        self.rows.clear();
        Ok(Some((self.to_output)(
            batch,
            std::mem::take(&mut self.lines),
        )))
    }
}

/// Rows between two progress reports.
const PROGRESS_ROWS: u64 = 16_384;

/// Counts for one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    pub rows: u64,
    /// Rows that became records.
    pub records: u64,
    pub quarantined: u64,
}

/// Why a file could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{file}:{line}: column '{column}', value '{value}': {reason}")]
    Strict {
        file: String,
        line: u64,
        column: String,
        value: String,
        reason: String,
    },
    #[error("source '{source_name}': {reason}")]
    Mapping { source_name: String, reason: String },
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("{0}")]
    Sink(String),
}

/// Rejected rows waiting to be written.
struct Quarantine {
    source: String,
    file: String,
    rows: Vec<Rejection>,
}

impl Quarantine {
    fn batch(&mut self) -> Result<RecordBatch, ArrowError> {
        let n = self.rows.len();
        let mut column = StringBuilder::new();
        let mut value = StringBuilder::new();
        let mut reason = StringBuilder::new();
        let mut line = UInt64Builder::with_capacity(n);
        for r in self.rows.drain(..) {
            line.append_value(r.line);
            column.append_value(r.column);
            value.append_value(r.value);
            reason.append_value(r.reason);
        }
        let repeat = |s: &str| -> ArrayRef {
            Arc::new(datafusion::arrow::array::StringArray::from(vec![s; n]))
        };
        RecordBatch::try_new(
            QUARANTINE.schema(),
            vec![
                repeat(&self.source),
                repeat(&self.file),
                Arc::new(line.finish()),
                Arc::new(column.finish()),
                Arc::new(value.finish()),
                Arc::new(reason.finish()),
            ],
        )
    }
}

/// Read `path` through `mapping`, handing batches of at most `batch_rows` records to `sink`.
pub fn ingest_file(
    path: &Path,
    mapping: &SourceMapping,
    batch_rows: usize,
    strict: bool,
    sink: &mut dyn FnMut(Output) -> Result<(), String>,
) -> Result<FileStats, StreamError> {
    let mapper = Mapper::new(mapping).map_err(|r| StreamError::Mapping {
        source_name: mapping.name.clone(),
        reason: format!("constant {}: {}", r.column, r.reason),
    })?;
    let mut reader = RowReader::open(path, mapping)?;
    let file = path.display().to_string();
    let mut stats = FileStats::default();
    let mut quarantine = Quarantine {
        source: mapping.name.clone(),
        file: file.clone(),
        rows: Vec::new(),
    };
    let mut tickets = Buffer::new(tickets_batch, Output::Tickets);
    let mut events = Buffer::new(events_batch, Output::Events);
    let mut attributes = Buffer::new(attributes_batch, Output::Attributes);
    let mut snapshots = Buffer::new(snapshots_batch, Output::Snapshots);
    let mut row = Row::default();
    let emit = |out: Output, sink: &mut dyn FnMut(Output) -> Result<(), String>| {
        sink(out).map_err(StreamError::Sink)
    };
    while reader.next_row(&mut row)? {
        stats.rows += 1;
        let line = row.line;
        let record = match row.malformed.take() {
            Some((value, reason)) => Err(vec![Rejection {
                line,
                column: "(line)".into(),
                value,
                reason,
            }]),
            None => Ok(()),
        }
        .and_then(|()| mapper.map(&row))
        .and_then(|fields| {
            let mut accept = || -> Result<(), Rejection> {
                match mapping.shape {
                    Shape::Tickets => tickets.push(TicketRecord::from_fields(&fields)?, line),
                    Shape::Events => {
                        let event = EventRecord::from_fields(&fields)?;
                        if let Some(a) = AttributeRecord::from_fields(&fields, &event)? {
                            attributes.push(a, line);
                        }
                        events.push(event, line);
                    }
                    Shape::Snapshots => snapshots.push(SnapshotRecord::from_fields(&fields)?, line),
                }
                Ok(())
            };
            accept().map_err(|r| vec![r])
        });
        if record.is_ok() {
            stats.records += 1;
        }
        if let Err(rejections) = record {
            if strict {
                let first = rejections.into_iter().next().unwrap_or(Rejection {
                    line: row.line,
                    column: String::new(),
                    value: String::new(),
                    reason: "rejected".into(),
                });
                return Err(StreamError::Strict {
                    file,
                    line: first.line,
                    column: first.column,
                    value: first.value,
                    reason: first.reason,
                });
            }
            stats.quarantined += 1;
            quarantine.rows.extend(rejections);
        }
        for out in [
            tickets.take(batch_rows)?,
            events.take(batch_rows)?,
            attributes.take(batch_rows)?,
            snapshots.take(batch_rows)?,
        ]
        .into_iter()
        .flatten()
        {
            emit(out, sink)?;
        }
        if quarantine.rows.len() >= batch_rows {
            emit(Output::Quarantine(quarantine.batch()?), sink)?;
        }
        if stats.rows % PROGRESS_ROWS == 0 {
            let bytes = reader.bytes_read();
            emit(
                Output::Progress {
                    rows: stats.rows,
                    bytes,
                },
                sink,
            )?;
        }
    }
    for out in [
        tickets.take(1)?,
        events.take(1)?,
        attributes.take(1)?,
        snapshots.take(1)?,
    ]
    .into_iter()
    .flatten()
    {
        emit(out, sink)?;
    }
    if !quarantine.rows.is_empty() {
        emit(Output::Quarantine(quarantine.batch()?), sink)?;
    }
    let bytes = reader.bytes_read();
    emit(
        Output::Progress {
            rows: stats.rows,
            bytes,
        },
        sink,
    )?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, UInt64Array};

    use super::*;

    fn mapping(source: &str) -> SourceMapping {
        crate::ingest::test_mapping("hd", source)
    }

    const TICKETS: &str = r#"shape = "tickets"
timestamp_formats = ["%Y-%m-%d %H:%M"]
null_values = ["", "?"]
columns = { ticket_id = "Id", created_at = "Created", resolved_at = "Resolved", status = "Status" }
values.status = { "Done" = "resolved" }
"#;

    const EXPORT: &str = "Id,Created,Resolved,Status\n\
                          1,2026-03-02 08:00,2026-03-02 10:00,Done\n\
                          2,yesterday,,Open\n\
                          3,2026-03-02 08:00,2026-03-01 08:00,Done\n\
                          4,2026-03-02 09:00,?,Escalated\n\
                          ,2026-03-02 09:00,,Open\n\
                          6,2026-03-03 09:00,,Open\n";

    fn run(strict: bool) -> (Result<FileStats, StreamError>, Vec<Output>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(&path, EXPORT).unwrap();
        let mut outputs = Vec::new();
        let result = ingest_file(&path, &mapping(TICKETS), 2, strict, &mut |o| {
            outputs.push(o);
            Ok(())
        });
        (result, outputs)
    }

    #[test]
    fn bad_rows_are_quarantined_with_line_column_value_and_reason() {
        let (stats, outputs) = run(false);
        assert_eq!(
            stats.unwrap(),
            FileStats {
                rows: 6,
                records: 2,
                quarantined: 4
            }
        );
        let tickets: usize = outputs
            .iter()
            .map(|o| match o {
                Output::Tickets(b, lines) => {
                    assert_eq!(lines.len(), b.num_rows());
                    b.num_rows()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(tickets, 2);
        let quarantine: Vec<&RecordBatch> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Quarantine(b) => Some(b),
                _ => None,
            })
            .collect();
        let mut rows = Vec::new();
        for b in quarantine {
            let lines = b.column(2).as_any().downcast_ref::<UInt64Array>().unwrap();
            for i in 0..b.num_rows() {
                rows.push((
                    lines.value(i),
                    b.column(3).as_string::<i32>().value(i).to_string(),
                    b.column(4).as_string::<i32>().value(i).to_string(),
                    b.column(5).as_string::<i32>().value(i).to_string(),
                ));
            }
        }
        let summary: Vec<(u64, &str, &str)> = rows
            .iter()
            .map(|(l, c, v, _)| (*l, c.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (3, "Created", "yesterday"),
                (4, "resolved_at", "2026-03-01T08:00:00Z"),
                (5, "Status", "Escalated"),
                (6, "ticket_id", ""),
            ]
        );
        assert!(
            rows[0].3.starts_with("unparseable timestamp"),
            "{}",
            rows[0].3
        );
        assert!(
            rows[1].3.starts_with("resolved before created"),
            "{}",
            rows[1].3
        );
        assert!(
            rows[2].3.starts_with("unknown status with no mapping"),
            "{}",
            rows[2].3
        );
        assert_eq!(rows[3].3, "missing required field ticket_id");
    }

    #[test]
    fn snapshot_rows_carry_the_ticket_and_its_sequence() {
        let m = mapping(
            "shape = \"snapshots\"\ntimestamp_formats = [\"%Y-%m-%d %H:%M\"]\n\
             columns = { ticket_id = \"Id\", created_at = \"Opened\", status = \"S\", \
             updated_at = \"At\", sequence = \"N\", actor = \"By\" }\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.csv");
        std::fs::write(
            &path,
            "Id,Opened,S,At,N,By\n\
             7,2026-03-02 08:00,new,2026-03-02 08:00,0,ana\n\
             7,2026-03-02 08:00,open,,1,bo\n\
             7,2026-03-02 08:00,resolved,2026-03-02 09:30,2,bo\n",
        )
        .unwrap();
        let mut outputs = Vec::new();
        let stats = ingest_file(&path, &m, 10, false, &mut |o| {
            outputs.push(o);
            Ok(())
        })
        .unwrap();
        assert_eq!((stats.rows, stats.records, stats.quarantined), (3, 2, 1));
        let Some(Output::Snapshots(batch, lines)) = outputs.first() else {
            panic!("{outputs:?}")
        };
        assert_eq!(lines, &[2, 4]);
        let seq = batch.column_by_name("_seq").unwrap();
        let seq = seq.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(seq.values().to_vec(), [0, 2]);
        let actor = batch.column_by_name("_actor").unwrap().as_string::<i32>();
        assert_eq!(actor.value(1), "bo");
    }

    #[test]
    fn strict_stops_at_the_first_bad_row() {
        let (result, _) = run(true);
        let err = result.unwrap_err().to_string();
        assert!(
            err.ends_with(
                "export.csv:3: column 'Created', value 'yesterday': unparseable timestamp \
                 (tried '%Y-%m-%d %H:%M')"
            ),
            "{err}"
        );
    }
}
