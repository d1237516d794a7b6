//! One export file (or one byte range of it) through its mapping, in bounded memory: batches of
//! rows are read, mapped and checked a column at a time, and handed on as Arrow batches of
//! canonical records, with every rejected row as a quarantine record (file, line, column, raw
//! value, reason). With `strict`, the first rejected row stops the file with an error that
//! names all of these.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::error::ArrowError;

use crate::config::{Shape, SourceMapping};
use crate::tables::QUARANTINE;

use super::mapper::{Mapper, Rejection, SKIPPED};
use super::reader::{BatchReader, ReadError, TextBatch};
use super::records;

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
    /// Rows and bytes of the file read so far (after every batch, and at the end).
    Progress {
        rows: u64,
        bytes: u64,
    },
}

/// Counts for one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    pub rows: u64,
    /// Rows that became records.
    pub records: u64,
    /// Rows rejected (kept in quarantine).
    pub quarantined: u64,
    /// Rows the mapping marks as not real rows (kept in quarantine too).
    pub skipped: u64,
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

/// The mapper of a source, or why its constants cannot be used.
pub fn mapper(mapping: &SourceMapping) -> Result<Mapper, StreamError> {
    Mapper::new(mapping).map_err(|r| StreamError::Mapping {
        source_name: mapping.name.clone(),
        reason: format!("constant {}: {}", r.column, r.reason),
    })
}

/// Rejected rows as a batch of `quarantine`.
fn quarantine_batch(
    source: &str,
    file: &str,
    rows: &[Rejection],
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let repeat = |s: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, n)))
    };
    let text = |f: fn(&Rejection) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    RecordBatch::try_new(
        QUARANTINE.schema(),
        vec![
            repeat(source),
            repeat(file),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.line))),
            text(|r| &r.column),
            text(|r| &r.value),
            text(|r| &r.reason),
        ],
    )
}

/// Read every batch of `reader` through `mapper`, handing on batches of at most `batch_rows`
/// rows to `sink`.
pub fn ingest_reader(
    reader: &mut BatchReader,
    mapper: &mut Mapper,
    mapping: &SourceMapping,
    batch_rows: usize,
    strict: bool,
    sink: &mut dyn FnMut(Output) -> Result<(), String>,
) -> Result<FileStats, StreamError> {
    let file = reader.name().to_string();
    let mut stats = FileStats::default();
    let emit = |out: Output, sink: &mut dyn FnMut(Output) -> Result<(), String>| {
        sink(out).map_err(StreamError::Sink)
    };
    while let Some(batch) = reader.next_batch(batch_rows)? {
        let TextBatch {
            ref malformed,
            ref lines,
            ..
        } = batch;
        stats.rows += (lines.len() + malformed.len()) as u64;
        let mut mapped = mapper.map(&batch);
        let outputs = match mapping.shape {
            Shape::Tickets => {
                let rows = records::tickets(&mut mapped)?;
                vec![Output::Tickets(rows.batch, rows.lines)]
            }
            Shape::Snapshots => {
                let rows = records::snapshots(&mut mapped)?;
                vec![Output::Snapshots(rows.batch, rows.lines)]
            }
            Shape::Events => {
                let (events, attributes) = records::events(&mut mapped)?;
                vec![
                    Output::Events(events.batch, events.lines),
                    Output::Attributes(attributes.batch, attributes.lines),
                ]
            }
        };
        let mut rejections = mapped.rejections;
        rejections.extend(malformed.iter().map(|m| Rejection {
            line: m.line,
            column: "(line)".into(),
            value: m.raw.clone(),
            reason: m.reason.clone(),
        }));
        // In line order; a row's values keep their column order.
        rejections.sort_by_key(|r| r.line);
        if strict {
            if let Some(first) = rejections.iter().find(|r| r.reason != SKIPPED) {
                return Err(StreamError::Strict {
                    file,
                    line: first.line,
                    column: first.column.clone(),
                    value: first.value.clone(),
                    reason: first.reason.clone(),
                });
            }
        }
        let rejected = mapped.rejected.iter().filter(|r| **r).count();
        let skipped = mapped.skipped.iter().filter(|s| **s).count();
        stats.skipped += skipped as u64;
        stats.quarantined += (rejected - skipped + malformed.len()) as u64;
        stats.records += (lines.len() - rejected) as u64;
        for out in outputs {
            let empty = match &out {
                Output::Tickets(b, _)
                | Output::Events(b, _)
                | Output::Attributes(b, _)
                | Output::Snapshots(b, _) => b.num_rows() == 0,
                _ => false,
            };
            if !empty {
                emit(out, sink)?;
            }
        }
        if !rejections.is_empty() {
            emit(
                Output::Quarantine(quarantine_batch(&mapping.name, &file, &rejections)?),
                sink,
            )?;
        }
        emit(
            Output::Progress {
                rows: stats.rows,
                bytes: reader.bytes_read(),
            },
            sink,
        )?;
    }
    Ok(stats)
}

/// Read `path` through `mapping`, handing batches of at most `batch_rows` records to `sink`.
pub fn ingest_file(
    path: &Path,
    mapping: &SourceMapping,
    batch_rows: usize,
    strict: bool,
    sink: &mut dyn FnMut(Output) -> Result<(), String>,
) -> Result<FileStats, StreamError> {
    let mut mapper = mapper(mapping)?;
    let (mut reader, _) = BatchReader::open(path, mapping)?;
    ingest_reader(&mut reader, &mut mapper, mapping, batch_rows, strict, sink)
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
                quarantined: 4,
                skipped: 0
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
