//! Reading export files row by row, in bounded memory: CSV in any of the supported encodings
//! (a UTF-8 or UTF-16 byte-order mark is skipped, CRLF line ends are accepted), NDJSON, and
//! Parquet. Each row carries its line number (the record number for Parquet) so that a
//! rejected value can be traced back to the file.
//!
//! The mapping's columns are resolved against the file's header once: a missing header fails
//! fast with the list of headers the file does have.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::config::{ColumnRef, CsvOptions, InputFormat, SourceMapping};

/// Why an export cannot be read at all (as opposed to a bad row, which is quarantined).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error(
        "{}: missing header(s) {} required by source '{source_name}'; the file's headers are: {}{hint}",
        path.display(),
        missing.join(", "),
        quoted(found)
    )]
    MissingHeaders {
        path: PathBuf,
        source_name: String,
        missing: Vec<String>,
        found: Vec<String>,
        hint: String,
    },
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of an export: its line in the file and the mapped columns' raw values, in the order
/// of the mapping's columns (`None` where the value is absent, e.g. a short CSV row or a JSON
/// key that is missing or null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub values: Vec<Option<String>>,
    /// A line that is not a row at all (an NDJSON line that is not a JSON object): the raw
    /// text (shortened) and why. Such a row is quarantined, not fatal.
    pub malformed: Option<(String, String)>,
}

/// A stream of rows from one file.
pub struct RowReader {
    path: PathBuf,
    inner: Inner,
    /// For each mapped column, its position in the file's columns.
    positions: Vec<usize>,
    /// Bytes consumed so far, for progress (approximate for Parquet).
    bytes: ByteCounter,
}

enum Inner {
    Csv {
        reader: Box<csv::Reader<LineEnds<Box<dyn Read + Send>>>>,
        record: csv::StringRecord,
        lines: Arc<Mutex<LineState>>,
    },
    Ndjson {
        lines: Box<dyn BufRead + Send>,
        line: u64,
        keys: Vec<String>,
    },
    Parquet {
        batches: ParquetRecordBatchReader,
        /// The mapped columns of the current batch as text, and the next row in it.
        batch: Option<(Vec<StringArray>, usize)>,
        record: u64,
    },
}

/// Counts bytes read through it, shared with the reader for progress reports.
#[derive(Clone, Default)]
struct ByteCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter
            .0
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl RowReader {
    /// Open `path` as the mapping says, and resolve the mapping's columns against its header.
    pub fn open(path: &Path, mapping: &SourceMapping) -> Result<RowReader, ReadError> {
        let io = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let bytes = ByteCounter::default();
        let counted = Counting {
            inner: file,
            counter: bytes.clone(),
        };
        let (inner, headers) = match &mapping.format {
            InputFormat::Csv(options) => open_csv(path, counted, options)?,
            InputFormat::Ndjson => open_ndjson(path, counted, mapping)?,
            InputFormat::Parquet => open_parquet(path)?,
        };
        let positions = resolve(path, mapping, &headers)?;
        Ok(RowReader {
            path: path.to_path_buf(),
            inner,
            positions,
            bytes,
        })
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next row into `row` (reusing its buffers); `false` at the end of the file.
    pub fn next_row(&mut self, row: &mut Row) -> Result<bool, ReadError> {
        let format_error = |message: String| ReadError::Format {
            path: self.path.clone(),
            message,
        };
        row.values.clear();
        row.malformed = None;
        match &mut self.inner {
            Inner::Csv {
                reader,
                record,
                lines,
            } => {
                match reader.read_record(record) {
                    Ok(false) => return Ok(false),
                    Ok(true) => {}
                    Err(e) => {
                        return Err(match e.kind() {
                            csv::ErrorKind::Utf8 { pos, .. } => format_error(format!(
                                "line {}: not valid text in the configured encoding",
                                pos.as_ref().map_or(0, |p| p.line())
                            )),
                            _ => format_error(e.to_string()),
                        })
                    }
                }
                let start = record.position().map_or(0, |p| p.byte());
                row.line = lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .line_at(start);
                for &i in &self.positions {
                    row.values.push(record.get(i).map(str::to_string));
                }
                Ok(true)
            }
            Inner::Ndjson { lines, line, keys } => {
                let mut text = String::new();
                loop {
                    text.clear();
                    let n = lines.read_line(&mut text).map_err(|source| ReadError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
                    if n == 0 {
                        return Ok(false);
                    }
                    *line += 1;
                    if !text.trim().is_empty() {
                        break;
                    }
                }
                row.line = *line;
                let object: serde_json::Map<String, serde_json::Value> =
                    match serde_json::from_str(text.trim_end()) {
                        Ok(object) => object,
                        Err(e) => {
                            let raw: String = text.trim_end().chars().take(200).collect();
                            row.malformed = Some((raw, format!("not a JSON object: {e}")));
                            return Ok(true);
                        }
                    };
                for &i in &self.positions {
                    row.values.push(object.get(&keys[i]).and_then(json_text));
                }
                Ok(true)
            }
            Inner::Parquet {
                batches,
                batch,
                record,
            } => loop {
                if let Some((columns, at)) = batch {
                    if *at < columns.first().map_or(0, |c| c.len()) {
                        *record += 1;
                        row.line = *record;
                        for column in columns.iter() {
                            row.values.push(
                                (!column.is_null(*at)).then(|| column.value(*at).to_string()),
                            );
                        }
                        *at += 1;
                        return Ok(true);
                    }
                }
                match batches.next() {
                    None => return Ok(false),
                    Some(Err(e)) => return Err(format_error(e.to_string())),
                    Some(Ok(next)) => {
                        let columns =
                            parquet_as_text(&next, &self.positions).map_err(format_error)?;
                        *batch = Some((columns, 0));
                    }
                }
            },
        }
    }
}

/// Line numbers of CSV records. The CSV parser reports where it started parsing a record,
/// which may be before blank lines or the `\n` of a CRLF it skips; the line is that of the
/// record's first byte of content, counted from the line ends seen in the decoded text.
#[derive(Debug, Default)]
struct LineState {
    /// Offsets of `\r` and `\n` bytes not yet passed (`true` for `\n`), in order.
    ends: VecDeque<(u64, bool)>,
    /// `\n` bytes passed so far.
    passed: u64,
}

impl LineState {
    /// The 1-based line of the first content byte at or after `start`.
    fn line_at(&mut self, mut start: u64) -> u64 {
        while let Some(&(at, newline)) = self.ends.front() {
            if at > start {
                break;
            }
            if at == start {
                // A line end where the record's parsing starts: skipped, not content.
                start += 1;
            }
            self.passed += u64::from(newline);
            self.ends.pop_front();
        }
        self.passed + 1
    }
}

/// Passes the decoded text through, noting where its line ends are.
struct LineEnds<R> {
    inner: R,
    state: Arc<Mutex<LineState>>,
    offset: u64,
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for i in memchr::memchr2_iter(b'\r', b'\n', &buf[..n]) {
            state
                .ends
                .push_back((self.offset + i as u64, buf[i] == b'\n'));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn open_csv(
    path: &Path,
    input: impl Read + Send + 'static,
    options: &CsvOptions,
) -> Result<(Inner, Vec<String>), ReadError> {
    let encoding =
        Encoding::for_label(options.encoding.as_bytes()).ok_or_else(|| ReadError::Format {
            path: path.to_path_buf(),
            message: format!("unknown encoding '{}'", options.encoding),
        })?;
    // UTF-8 passes through unchanged (only a byte-order mark is removed); other encodings are
    // transcoded to UTF-8 as they stream.
    let decoded: Box<dyn Read + Send> = Box::new(
        DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .build(BufReader::with_capacity(1 << 20, input)),
    );
    let lines = Arc::new(Mutex::new(LineState::default()));
    let decoded = LineEnds {
        inner: decoded,
        state: Arc::clone(&lines),
        offset: 0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .quote(options.quote)
        .flexible(true)
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(decoded);
    let headers = reader
        .headers()
        .map_err(|e| ReadError::Format {
            path: path.to_path_buf(),
            message: format!("cannot read the header row: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let inner = Inner::Csv {
        reader: Box::new(reader),
        record: csv::StringRecord::new(),
        lines,
    };
    Ok((inner, headers))
}

fn open_ndjson(
    path: &Path,
    input: impl Read + Send + 'static,
    mapping: &SourceMapping,
) -> Result<(Inner, Vec<String>), ReadError> {
    // JSON objects have no header row: the mapped keys are the columns, each looked up by
    // name in every object.
    let keys: Vec<String> = mapping
        .columns
        .iter()
        .map(|(_, r)| r.header.clone())
        .collect();
    if let Some((column, r)) = mapping.columns.iter().find(|(_, r)| r.occurrence != 1) {
        return Err(ReadError::Format {
            path: path.to_path_buf(),
            message: format!(
                "column '{column}': a JSON object has one '{}' key, occurrence {} does not apply",
                r.header, r.occurrence
            ),
        });
    }
    let inner = Inner::Ndjson {
        lines: Box::new(BufReader::with_capacity(1 << 20, input)),
        line: 0,
        keys: keys.clone(),
    };
    Ok((inner, keys))
}

fn open_parquet(path: &Path) -> Result<(Inner, Vec<String>), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format_error = |e: &dyn std::fmt::Display| ReadError::Format {
        path: path.to_path_buf(),
        message: format!("not a readable Parquet file: {e}"),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format_error(&e))?;
    let headers = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let batches = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| format_error(&e))?;
    Ok((
        Inner::Parquet {
            batches,
            batch: None,
            record: 0,
        },
        headers,
    ))
}

/// The mapped Parquet columns as text, the way the other formats arrive: timestamps with a
/// zone in RFC 3339, naive ones as wall times (read with the source's zone), numbers in decimal.
fn parquet_as_text(batch: &RecordBatch, positions: &[usize]) -> Result<Vec<StringArray>, String> {
    positions
        .iter()
        .map(|&i| {
            let text = cast(batch.column(i), &DataType::Utf8).map_err(|e| e.to_string())?;
            Ok(text.as_string::<i32>().clone())
        })
        .collect()
}

/// The position in `headers` of every mapped column, or the list of what is missing.
fn resolve(
    path: &Path,
    mapping: &SourceMapping,
    headers: &[String],
) -> Result<Vec<usize>, ReadError> {
    let mut positions = Vec::with_capacity(mapping.columns.len());
    let mut missing = Vec::new();
    for (_, ColumnRef { header, occurrence }) in &mapping.columns {
        let find = |same: &dyn Fn(&str) -> bool| {
            headers
                .iter()
                .enumerate()
                .filter(|(_, h)| same(h))
                .nth(occurrence - 1)
                .map(|(i, _)| i)
        };
        match find(&|h| h == header).or_else(|| find(&|h| h.eq_ignore_ascii_case(header))) {
            Some(i) => positions.push(i),
            None if *occurrence > 1 => {
                missing.push(format!("'{header}' (occurrence {occurrence})"))
            }
            None => missing.push(format!("'{header}'")),
        }
    }
    if missing.is_empty() {
        return Ok(positions);
    }
    let hint = match &mapping.format {
        InputFormat::Csv(options) if headers.len() == 1 => {
            let found = ['\t', ';', ',', '|']
                .into_iter()
                .find(|d| headers[0].contains(*d) && *d as u8 != options.delimiter);
            match found {
                Some(d) => format!(
                    " (one header only: is the delimiter {:?} rather than {:?}?)",
                    d, options.delimiter as char
                ),
                None => String::new(),
            }
        }
        _ => String::new(),
    };
    Err(ReadError::MissingHeaders {
        path: path.to_path_buf(),
        source_name: mapping.name.clone(),
        missing,
        found: headers.to_vec(),
        hint,
    })
}

#[cfg(test)]
mod tests;
