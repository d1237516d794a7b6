//! CSV records straight from the file's bytes into text columns: `csv_core` finds the fields,
//! and each mapped field is copied once, into its column, after a check that it is UTF-8.
//!
//! Line numbers are counted from the line ends the parser consumes: a record's line is that of
//! its first byte, so blank lines and quoted fields with line breaks are accounted for. A range
//! of a file starts after a line end and owns the records that start before its end; the record
//! where it stops tells whether the next range started at a record boundary (see
//! [`super::split`]).

use std::io::Read;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::config::CsvOptions;

/// The bytes read from the file at once.
const READ_BYTES: usize = 1 << 20;

/// One record's fields, valid until the next call to [`Records::next`].
pub(super) struct Record<'a> {
    /// The 1-based line of the record's first byte.
    pub line: u64,
    /// The offset of the record's first byte from the start of the input.
    pub start: u64,
    fields: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of field `i`, or `None` past the record's last field.
    pub fn field(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.fields[start..end])
    }

    /// The record as one line of text (fields joined by `delimiter`), at most `max` characters.
    pub fn text(&self, delimiter: u8, max: usize) -> String {
        let mut text = String::new();
        for i in 0..self.len() {
            if i > 0 {
                text.push(delimiter as char);
            }
            text.push_str(&String::from_utf8_lossy(self.field(i).unwrap_or_default()));
            if text.chars().count() > max {
                return text.chars().take(max).collect();
            }
        }
        text
    }
}

/// The records of a CSV input (UTF-8 text), one at a time.
pub(super) struct Records<R> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Offset (from the input's start) of `buf[pos]`.
    offset: u64,
    parser: Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nend: usize,
    /// `\n` bytes consumed so far, including the lines before the input (see [`Records::new`]).
    newlines: u64,
    /// Where the record being read starts: its line and offset.
    start: Option<(u64, u64)>,
}

impl<R: Read> Records<R> {
    /// Records of `input`, whose first byte is at line `lines_before + 1` of the file and at
    /// offset `offset`.
    pub fn new(input: R, options: &CsvOptions, lines_before: u64, offset: u64) -> Records<R> {
        let parser = ReaderBuilder::new()
            .delimiter(options.delimiter)
            .quote(options.quote)
            .build();
        Records {
            input,
            buf: vec![0; READ_BYTES],
            pos: 0,
            len: 0,
            eof: false,
            offset,
            parser,
            out: vec![0; 4096],
            ends: vec![0; 64],
            nout: 0,
            nend: 0,
            newlines: lines_before,
            start: None,
        }
    }

    /// Bytes consumed so far, counted from the input's start (not the file's).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Line ends consumed so far, including those before the input.
    pub fn lines(&self) -> u64 {
        self.newlines
    }

    /// The next record, or `None` at the end of the input.
    pub fn next(&mut self) -> std::io::Result<Option<Record<'_>>> {
        self.nout = 0;
        self.nend = 0;
        self.start = None;
        loop {
            if self.pos == self.len && !self.eof {
                self.fill()?;
            }
            let (result, nin, nout, nend) = self.parser.read_record(
                &self.buf[self.pos..self.len],
                &mut self.out[self.nout..],
                &mut self.ends[self.nend..],
            );
            self.track(nin);
            self.nout += nout;
            self.nend += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => {
                    let (line, start) = self.start.unwrap_or((self.newlines + 1, self.offset));
                    return Ok(Some(Record {
                        line,
                        start,
                        fields: &self.out[..self.nout],
                        ends: &self.ends[..self.nend],
                    }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Note the line ends of the next `n` bytes, and where the current record starts.
    fn track(&mut self, n: usize) {
        let consumed = &self.buf[self.pos..self.pos + n];
        if self.start.is_none() {
            if let Some(i) = consumed.iter().position(|&b| b != b'\n' && b != b'\r') {
                let before = memchr::memchr_iter(b'\n', &consumed[..i]).count() as u64;
                self.start = Some((self.newlines + before + 1, self.offset + i as u64));
            }
        }
        self.newlines += memchr::memchr_iter(b'\n', consumed).count() as u64;
        self.pos += n;
        self.offset += n as u64;
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.pos = 0;
        self.len = 0;
        while self.len < self.buf.len() {
            match self.input.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.len += n;
                    // A full buffer is not needed: parse what arrived.
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<(u64, u64, Vec<String>)> {
        let options = CsvOptions {
            delimiter: b',',
            quote: b'"',
            encoding: "utf-8".into(),
        };
        let mut r = Records::new(text.as_bytes(), &options, 0, 0);
        let mut out = Vec::new();
        while let Some(rec) = r.next().unwrap() {
            let fields = (0..rec.len())
                .map(|i| String::from_utf8(rec.field(i).unwrap().to_vec()).unwrap())
                .collect();
            out.push((rec.line, rec.start, fields));
        }
        out
    }

    #[test]
    fn lines_and_offsets_of_records() {
        let got = records("a,b\n\n\"x\ny\",2\r\n3,\"\"\"q\"\"\"\n\r\nlast");
        assert_eq!(
            got,
            [
                (1, 0, vec!["a".into(), "b".into()]),
                (3, 5, vec!["x\ny".into(), "2".into()]),
                (5, 14, vec!["3".into(), "\"q\"".into()]),
                (7, 26, vec!["last".into()]),
            ]
        );
    }
}
