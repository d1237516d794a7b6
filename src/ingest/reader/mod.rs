//! Reading export files in batches of text columns, in bounded memory: CSV in any of the
//! supported encodings (a UTF-8 or UTF-16 byte-order mark is honoured, CRLF line ends are
//! accepted), NDJSON, and Parquet. Each row carries its line number (the record number for
//! Parquet) so that a rejected value can be traced back to the file, and a line that is not a
//! row (a CSV line with another number of fields than the header, text that is not valid UTF-8,
//! an NDJSON line that is not an object) is reported with its line instead of failing the file.
//!
//! The mapping's columns are resolved against the file's header once: a missing header fails
//! fast with the list of headers the file does have. A large UTF-8 file can be read in byte
//! ranges, each by its own reader ([`split`]).

mod csv;
mod ndjson;
mod parquet;
pub mod split;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{StringArray, StringBuilder};
use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::config::{CsvOptions, InputFormat, SourceMapping};

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

/// A line of an export that is not a row, with its raw text (shortened) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub raw: String,
    pub reason: String,
}

/// A batch of rows: the raw values of the mapped columns, in the order of the mapping's
/// columns (null where the value is absent: a JSON key that is missing or null, a Parquet null).
#[derive(Debug, Clone)]
pub struct TextBatch {
    /// The line of each row.
    pub lines: Vec<u64>,
    pub columns: Vec<StringArray>,
    /// Lines among these rows' lines that are not rows.
    pub malformed: Vec<Malformed>,
}

impl TextBatch {
    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }
}

/// The longest raw text a malformed line is reported with.
const RAW_CHARS: usize = 200;

/// Builds a [`TextBatch`] row by row.
struct BatchBuilder {
    lines: Vec<u64>,
    columns: Vec<StringBuilder>,
    malformed: Vec<Malformed>,
}

impl BatchBuilder {
    fn new(columns: usize, rows: usize) -> BatchBuilder {
        BatchBuilder {
            lines: Vec::with_capacity(rows),
            columns: (0..columns)
                .map(|_| StringBuilder::with_capacity(rows, rows * 16))
                .collect(),
            malformed: Vec::new(),
        }
    }

    /// Rows and malformed lines so far.
    fn len(&self) -> usize {
        self.lines.len() + self.malformed.len()
    }

    fn finish(&mut self) -> TextBatch {
        TextBatch {
            lines: std::mem::take(&mut self.lines),
            columns: self.columns.iter_mut().map(|c| c.finish()).collect(),
            malformed: std::mem::take(&mut self.malformed),
        }
    }
}

/// Counts bytes read through it, for progress reports.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Input = Counting<Box<dyn Read + Send>>;

enum Inner {
    Csv {
        records: Box<csv::Records<Input>>,
        delimiter: u8,
        /// Fields in the header: a row with another number is malformed.
        width: usize,
    },
    Ndjson {
        lines: ndjson::Lines<Input>,
        keys: ndjson::Keys,
    },
    Parquet(parquet::Batches),
}

/// Where a reader stops: the records (lines) that start before `end` are its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
    /// Line ends before `start`.
    pub lines_before: u64,
}

/// Where each mapped column's value comes from: the positions of its parts among the file's
/// columns (or the NDJSON keys read), and what joins the non-empty parts of a combined column.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    columns: Vec<(Vec<usize>, String)>,
}

impl Layout {
    fn len(&self) -> usize {
        self.columns.len()
    }

    /// The value of a combined column from its parts' values: the non-empty ones (trimmed),
    /// joined; `None` when every part is absent.
    fn combine<'a>(parts: impl Iterator<Item = Option<&'a str>>, join: &str) -> Option<String> {
        let mut text: Option<String> = None;
        for part in parts.flatten() {
            let text = text.get_or_insert_with(String::new);
            let part = part.trim();
            if !part.is_empty() {
                if !text.is_empty() {
                    text.push_str(join);
                }
                text.push_str(part);
            }
        }
        text
    }
}

/// A file's header, resolved against a mapping: what a reader of one of its ranges needs.
#[derive(Debug, Clone)]
pub struct Header {
    layout: Layout,
    /// The number of columns of a CSV header.
    width: usize,
    /// Where the first row starts, and the line ends before it.
    pub data: Range,
    /// Whether the file can be read in byte ranges (UTF-8 CSV, NDJSON).
    pub splittable: bool,
}

/// Batches of rows from one file, or from one range of it.
pub struct BatchReader {
    path: PathBuf,
    /// How rows name the file: its canonical path, so that a file given once as a relative and
    /// once as an absolute path is one file (in quarantine, and in the staged rows).
    name: String,
    inner: Inner,
    layout: Layout,
    /// Bytes of the file read so far (approximate for Parquet).
    bytes: Arc<AtomicU64>,
    /// Where this reader stops, for a range: and where the next record starts once it stopped.
    end: Option<u64>,
    stopped_at: Option<u64>,
    /// Where the first record this reader saw starts (its own or not).
    first_start: Option<u64>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `path` made absolute and free of links and `..`, as text (as given when that fails).
fn canonical_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The first bytes of `path`, to recognise a byte-order mark.
fn sniff(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut head = Vec::with_capacity(3);
    File::open(path)
        .map_err(io_error(path))?
        .take(3)
        .read_to_end(&mut head)
        .map_err(io_error(path))?;
    Ok(head)
}

/// The encoding CSV text is decoded from, or `None` when it is read as UTF-8 as it is.
fn csv_encoding(path: &Path, options: &CsvOptions) -> Result<Option<&'static Encoding>, ReadError> {
    let configured =
        Encoding::for_label(options.encoding.as_bytes()).ok_or_else(|| ReadError::Format {
            path: path.to_path_buf(),
            message: format!("unknown encoding '{}'", options.encoding),
        })?;
    // A byte-order mark overrides the configured encoding.
    let head = sniff(path)?;
    Ok(match Encoding::for_bom(&head) {
        Some((encoding, _)) if encoding == encoding_rs::UTF_8 => None,
        Some((encoding, _)) => Some(encoding),
        None if configured == encoding_rs::UTF_8 => None,
        None => Some(configured),
    })
}

impl BatchReader {
    /// Open `path` as the mapping says, and resolve the mapping's columns against its header.
    pub fn open(path: &Path, mapping: &SourceMapping) -> Result<(BatchReader, Header), ReadError> {
        let bytes = Arc::new(AtomicU64::new(0));
        let file = File::open(path).map_err(io_error(path))?;
        let counted = |inner: Box<dyn Read + Send>| Counting {
            inner,
            counter: Arc::clone(&bytes),
        };
        let (inner, headers, data, splittable) = match &mapping.format {
            InputFormat::Csv(options) => {
                let encoding = csv_encoding(path, options)?;
                let input: Box<dyn Read + Send> = match encoding {
                    None => Box::new(file),
                    Some(encoding) => Box::new(
                        DecodeReaderBytesBuilder::new()
                            .encoding(Some(encoding))
                            .bom_override(true)
                            .build(BufReader::with_capacity(1 << 20, file)),
                    ),
                };
                let mut records = csv::Records::new(counted(input), options, 0, 0);
                let headers: Vec<String> = match records.next().map_err(io_error(path))? {
                    Some(header) => (0..header.len())
                        .map(|i| {
                            String::from_utf8_lossy(header.field(i).unwrap_or_default())
                                .trim()
                                .to_string()
                        })
                        .collect(),
                    None => Vec::new(),
                };
                let data = Range {
                    start: records.offset(),
                    end: u64::MAX,
                    lines_before: records.lines(),
                };
                let width = headers.len();
                let inner = Inner::Csv {
                    records: Box::new(records),
                    delimiter: options.delimiter,
                    width,
                };
                (inner, headers, data, encoding.is_none())
            }
            InputFormat::Ndjson => {
                let keys = ndjson_keys(path, mapping)?;
                let inner = Inner::Ndjson {
                    lines: ndjson_lines(file, 0, 0, &bytes),
                    keys: ndjson::Keys::new(&keys),
                };
                let data = Range {
                    start: 0,
                    end: u64::MAX,
                    lines_before: 0,
                };
                (inner, keys, data, true)
            }
            InputFormat::Parquet => {
                let (batches, headers) = parquet::Batches::open(path, Arc::clone(&bytes))?;
                let data = Range {
                    start: 0,
                    end: u64::MAX,
                    lines_before: 0,
                };
                (Inner::Parquet(batches), headers, data, false)
            }
        };
        let layout = match &inner {
            // The keys read are the mapped columns' parts, in order.
            Inner::Ndjson { .. } => {
                let mut next = 0;
                Layout {
                    columns: mapping
                        .columns
                        .iter()
                        .map(|(_, r)| {
                            let parts: Vec<usize> = (next..next + r.parts().count()).collect();
                            next += parts.len();
                            (parts, r.join.clone())
                        })
                        .collect(),
                }
            }
            _ => resolve(path, mapping, &headers)?,
        };
        let header = Header {
            layout: layout.clone(),
            width: headers.len(),
            data,
            splittable,
        };
        let reader = BatchReader {
            path: path.to_path_buf(),
            name: canonical_name(path),
            inner,
            layout,
            bytes,
            end: None,
            stopped_at: None,
            first_start: None,
        };
        Ok((reader, header))
    }

    /// A reader of the rows of `path` that start in `range`, for a file whose header is
    /// `header` (see [`Header::splittable`]).
    pub fn open_range(
        path: &Path,
        mapping: &SourceMapping,
        header: &Header,
        range: Range,
    ) -> Result<BatchReader, ReadError> {
        let bytes = Arc::new(AtomicU64::new(0));
        let mut file = File::open(path).map_err(io_error(path))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(io_error(path))?;
        let inner = match &mapping.format {
            InputFormat::Csv(options) => Inner::Csv {
                records: Box::new(csv::Records::new(
                    Counting {
                        inner: Box::new(file) as Box<dyn Read + Send>,
                        counter: Arc::clone(&bytes),
                    },
                    options,
                    range.lines_before,
                    range.start,
                )),
                delimiter: options.delimiter,
                width: header.width,
            },
            InputFormat::Ndjson => Inner::Ndjson {
                lines: ndjson_lines(file, range.lines_before, range.start, &bytes),
                keys: ndjson::Keys::new(&ndjson_keys(path, mapping)?),
            },
            InputFormat::Parquet => {
                return Err(ReadError::Format {
                    path: path.to_path_buf(),
                    message: "a Parquet file is not read in byte ranges".into(),
                })
            }
        };
        Ok(BatchReader {
            path: path.to_path_buf(),
            name: canonical_name(path),
            inner,
            layout: header.layout.clone(),
            bytes,
            end: Some(range.end),
            stopped_at: None,
            first_start: None,
        })
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's name in the rows read from it: its canonical path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the first record this reader met starts, once it read one (or the end of the input
    /// when there was none).
    pub fn first_start(&self) -> Option<u64> {
        self.first_start
    }

    /// For a range reader that reached its end: where the first record it did not read starts
    /// (the end of the file when there is none).
    pub fn stopped_at(&self) -> Option<u64> {
        self.stopped_at
    }

    /// The next batch of at most `rows` rows (malformed lines count as rows), or `None` at the
    /// end of the file (or of the range).
    pub fn next_batch(&mut self, rows: usize) -> Result<Option<TextBatch>, ReadError> {
        if self.stopped_at.is_some() {
            return Ok(None);
        }
        let mut batch = BatchBuilder::new(self.layout.len(), rows);
        let path = &self.path;
        let end = self.end.unwrap_or(u64::MAX);
        match &mut self.inner {
            Inner::Parquet(batches) => {
                return batches
                    .next(&self.layout)
                    .map_err(|message| ReadError::Format {
                        path: path.clone(),
                        message,
                    })
            }
            Inner::Csv {
                records,
                delimiter,
                width,
            } => {
                while batch.len() < rows {
                    let Some(record) = records.next().map_err(io_error(path))? else {
                        self.stopped_at = Some(records.offset());
                        self.first_start.get_or_insert(records.offset());
                        break;
                    };
                    self.first_start.get_or_insert(record.start);
                    if record.start >= end {
                        self.stopped_at = Some(record.start);
                        break;
                    }
                    csv_row(&record, &self.layout, *width, *delimiter, &mut batch);
                }
            }
            Inner::Ndjson { lines, keys } => {
                while batch.len() < rows {
                    let Some(line) = lines.next().map_err(io_error(path))? else {
                        self.stopped_at = Some(lines.offset());
                        self.first_start.get_or_insert(lines.offset());
                        break;
                    };
                    self.first_start.get_or_insert(line.start);
                    if line.start >= end {
                        self.stopped_at = Some(line.start);
                        break;
                    }
                    json_row(&line, keys, &self.layout, &mut batch);
                }
            }
        }
        Ok((batch.len() > 0).then(|| batch.finish()))
    }
}

/// Append one CSV record to `batch`: a row, or a malformed line.
fn csv_row(
    record: &csv::Record<'_>,
    layout: &Layout,
    width: usize,
    delimiter: u8,
    batch: &mut BatchBuilder,
) {
    let malformed = |reason: String| Malformed {
        line: record.line,
        raw: record.text(delimiter, RAW_CHARS),
        reason,
    };
    if record.len() != width {
        batch.malformed.push(malformed(format!(
            "malformed line: {} field{}, header has {width}",
            record.len(),
            if record.len() == 1 { "" } else { "s" }
        )));
        return;
    }
    // Every mapped field is checked before any is appended, so that a rejected line leaves no
    // partial row behind.
    let text = |i: usize| std::str::from_utf8(record.field(i).unwrap_or_default());
    for (parts, _) in &layout.columns {
        for &i in parts {
            if let Err(e) = text(i) {
                batch.malformed.push(malformed(format!(
                    "not valid UTF-8 text (byte {} of field {})",
                    e.valid_up_to() + 1,
                    i + 1
                )));
                return;
            }
        }
    }
    for (column, (parts, join)) in batch.columns.iter_mut().zip(&layout.columns) {
        match parts.as_slice() {
            [i] => column.append_value(text(*i).unwrap_or_default()),
            _ => column.append_option(Layout::combine(parts.iter().map(|&i| text(i).ok()), join)),
        }
    }
    batch.lines.push(record.line);
}

/// Append one NDJSON line to `batch`: a row, or a malformed line.
fn json_row(
    line: &ndjson::Line<'_>,
    keys: &mut ndjson::Keys,
    layout: &Layout,
    batch: &mut BatchBuilder,
) {
    let malformed = |reason: String| Malformed {
        line: line.number,
        raw: String::from_utf8_lossy(line.bytes)
            .chars()
            .take(RAW_CHARS)
            .collect(),
        reason,
    };
    let values = match keys.parse(line.bytes) {
        Ok(values) => values,
        Err(reason) => {
            batch.malformed.push(malformed(reason));
            return;
        }
    };
    if let Some((i, kind)) = values.iter().enumerate().find_map(|(i, v)| match v {
        Some(ndjson::Text::Nested(kind)) => Some((i, *kind)),
        _ => None,
    }) {
        batch.malformed.push(malformed(format!(
            "key '{}': {kind} where a value is expected",
            keys.name(i)
        )));
        return;
    }
    let value = |i: usize| match &values[i] {
        Some(ndjson::Text::Value(text)) => Some(text.as_ref()),
        _ => None,
    };
    for (column, (parts, join)) in batch.columns.iter_mut().zip(&layout.columns) {
        match parts.as_slice() {
            [i] => column.append_option(value(*i)),
            _ => column.append_option(Layout::combine(parts.iter().map(|&i| value(i)), join)),
        }
    }
    batch.lines.push(line.number);
}

/// The keys an NDJSON source reads: JSON objects have no header row, so the mapped keys (each
/// part of a combined column) are the columns, each looked up by name in every object.
/// The NDJSON lines of `file` (positioned at `offset`, at line `lines_before + 1`): read in
/// place from a memory map, or as a stream when the file cannot be mapped; the bytes read are
/// counted in `bytes`.
fn ndjson_lines(
    file: File,
    lines_before: u64,
    offset: u64,
    bytes: &Arc<AtomicU64>,
) -> ndjson::Lines<Input> {
    ndjson::Lines::mapped(&file, lines_before, offset, Arc::clone(bytes)).unwrap_or_else(|| {
        let input = Counting {
            inner: Box::new(file) as Box<dyn Read + Send>,
            counter: Arc::clone(bytes),
        };
        ndjson::Lines::new(input, lines_before, offset)
    })
}

fn ndjson_keys(path: &Path, mapping: &SourceMapping) -> Result<Vec<String>, ReadError> {
    if let Some((column, r)) = mapping.columns.iter().find(|(_, r)| r.occurrence != 1) {
        return Err(ReadError::Format {
            path: path.to_path_buf(),
            message: format!(
                "column '{column}': a JSON object has one '{}' key, occurrence {} does not apply",
                r.header, r.occurrence
            ),
        });
    }
    Ok(mapping
        .columns
        .iter()
        .flat_map(|(_, r)| r.parts().map(|(h, _)| h.to_string()))
        .collect())
}

/// The position in `headers` of every part of every mapped column, or the list of what is
/// missing.
fn resolve(path: &Path, mapping: &SourceMapping, headers: &[String]) -> Result<Layout, ReadError> {
    let mut layout = Layout::default();
    let mut missing = Vec::new();
    for (_, column) in &mapping.columns {
        let mut positions = Vec::new();
        for (header, occurrence) in column.parts() {
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
                None if occurrence > 1 => {
                    missing.push(format!("'{header}' (occurrence {occurrence})"))
                }
                None => missing.push(format!("'{header}'")),
            }
        }
        layout.columns.push((positions, column.join.clone()));
    }
    if missing.is_empty() {
        return Ok(layout);
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
