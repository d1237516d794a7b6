//! One export file through its mapping, in bounded memory: rows are read, mapped and checked,
//! and handed on in Arrow batches of canonical records, with every rejected row as a
//! quarantine record (file, line, column, raw value, reason). With `strict`, the first
//! rejected row stops the file with an error that names all of these.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::config::{Shape, SourceMapping};

use super::mapper::{Mapper, Rejection};
use super::reader::{ReadError, Row, RowReader};
use super::records::{events_batch, tickets_batch, EventRecord, TicketRecord};

/// What a file yields, batch by batch.
#[derive(Debug)]
pub enum Output {
    Tickets(RecordBatch),
    Events(RecordBatch),
    Quarantine(RecordBatch),
}

/// Counts for one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    pub rows: u64,
    pub tickets: u64,
    pub events: u64,
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

/// The schema of quarantined rows.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("column", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
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
            quarantine_schema(),
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
    if mapping.shape == Shape::Snapshots {
        return Err(StreamError::Mapping {
            source_name: mapping.name.clone(),
            reason: "snapshot exports are derived into events by diffing consecutive \
                     snapshots, which this version does not do yet"
                .into(),
        });
    }
    let mut reader = RowReader::open(path, mapping)?;
    let file = path.display().to_string();
    let mut stats = FileStats::default();
    let mut quarantine = Quarantine {
        source: mapping.name.clone(),
        file: file.clone(),
        rows: Vec::new(),
    };
    let mut tickets: Vec<TicketRecord> = Vec::new();
    let mut events: Vec<EventRecord> = Vec::new();
    let mut row = Row::default();
    let emit = |out: Output, sink: &mut dyn FnMut(Output) -> Result<(), String>| {
        sink(out).map_err(StreamError::Sink)
    };
    while reader.next_row(&mut row)? {
        stats.rows += 1;
        let record = mapper.map(&row).and_then(|fields| match mapping.shape {
            Shape::Tickets => TicketRecord::from_fields(&fields)
                .map(|t| tickets.push(t))
                .map_err(|r| vec![r]),
            Shape::Events | Shape::Snapshots => EventRecord::from_fields(&fields)
                .map(|e| events.push(e))
                .map_err(|r| vec![r]),
        });
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
        if tickets.len() >= batch_rows {
            stats.tickets += tickets.len() as u64;
            emit(Output::Tickets(tickets_batch(&tickets)?), sink)?;
            tickets.clear();
        }
        if events.len() >= batch_rows {
            stats.events += events.len() as u64;
            emit(Output::Events(events_batch(&events)?), sink)?;
            events.clear();
        }
        if quarantine.rows.len() >= batch_rows {
            emit(Output::Quarantine(quarantine.batch()?), sink)?;
        }
    }
    if !tickets.is_empty() {
        stats.tickets += tickets.len() as u64;
        emit(Output::Tickets(tickets_batch(&tickets)?), sink)?;
    }
    if !events.is_empty() {
        stats.events += events.len() as u64;
        emit(Output::Events(events_batch(&events)?), sink)?;
    }
    if !quarantine.rows.is_empty() {
        emit(Output::Quarantine(quarantine.batch()?), sink)?;
    }
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
                tickets: 2,
                events: 0,
                quarantined: 4
            }
        );
        let tickets: usize = outputs
            .iter()
            .map(|o| match o {
                Output::Tickets(b) => b.num_rows(),
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
    fn snapshot_exports_are_refused_until_they_are_supported() {
        let m = mapping("shape = \"snapshots\"\ncolumns = { ticket_id = \"Id\", status = \"S\", sequence = \"N\" }\n");
        let err = ingest_file(Path::new("any.csv"), &m, 10, false, &mut |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("source 'hd': snapshot exports are derived"),
            "{err}"
        );
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
