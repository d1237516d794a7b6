//! NDJSON lines, one JSON object each, read line by line: a line that is not an object, or not
//! valid UTF-8, is reported with its line number and the rest of the file goes on. Only the
//! mapped keys are decoded (strings borrowed where they have no escapes); every other key is
//! skipped without building a value.
//!
//! A mapped value arrives as text: a string as it is, a number as written (a whole number
//! written with a zero fraction, `1.0`, as `1`, so that a key means one thing), `true`/`false`,
//! and JSON null as absent. An object or an array where a value is expected is an error of that
//! value, not text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One line: its 1-based number, its offset from the input's start, and its bytes without the
/// line end.
pub(super) struct Line<'a> {
    pub number: u64,
    pub start: u64,
    pub bytes: &'a [u8],
}

/// Bytes of a mapped file read before the pages behind them are given back (see
/// [`Lines::mapped`]).
const RELEASE_BYTES: usize = 32 << 20;

/// Where the lines come from.
enum Source<R> {
    /// A file mapped in memory, read in place from `at`; the pages before `released` are given
    /// back once `release` bytes were read after them.
    Mapped {
        map: Mmap,
        at: usize,
        released: usize,
        release: usize,
        counter: Arc<AtomicU64>,
    },
    /// Any reader, each line copied into `buf`.
    Read { input: BufReader<R>, buf: Vec<u8> },
}

/// The non-blank lines of an input.
pub(super) struct Lines<R> {
    source: Source<R>,
    number: u64,
    offset: u64,
    first: bool,
}

impl<R: Read> Lines<R> {
    /// Lines of `input`, whose first byte is at line `lines_before + 1` of the file and at
    /// offset `offset`.
    pub fn new(input: R, lines_before: u64, offset: u64) -> Lines<R> {
        Lines {
            source: Source::Read {
                input: BufReader::with_capacity(1 << 20, input),
                buf: Vec::new(),
            },
            number: lines_before,
            offset,
            first: offset == 0,
        }
    }

    /// Lines of `file` from offset `offset` (at line `lines_before + 1`) to its end, read in
    /// place from a memory map rather than copied (twice) through a buffer; the bytes read are
    /// added to `counter`. `None` when the file cannot be mapped (a pipe, say), to be read as a
    /// stream instead.
    ///
    /// The pages already read are given back every [`RELEASE_BYTES`], so that the process holds
    /// only a window of a large file. A file cut short while it is read ends the process (as
    /// with any memory-mapped reader): exports are not written while they are ingested.
    pub fn mapped(
        file: &File,
        lines_before: u64,
        offset: u64,
        counter: Arc<AtomicU64>,
    ) -> Option<Lines<R>> {
        // SAFETY: the map is only read, through slices that do not outlive `Lines::next`'s
        // borrow; the export is not written while it is read (see above).
        let map = unsafe { MmapOptions::new().offset(offset).map(file) }.ok()?;
        let _ = map.advise(Advice::Sequential);
        Some(Lines {
            source: Source::Mapped {
                map,
                at: 0,
                released: 0,
                release: RELEASE_BYTES,
                counter,
            },
            number: lines_before,
            offset,
            first: offset == 0,
        })
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next line with content (blank lines are skipped), or `None` at the end.
    pub fn next(&mut self) -> std::io::Result<Option<Line<'_>>> {
        let (start, from, to) = loop {
            let start = self.offset;
            // Where the line is, in the buffer or in the map.
            let (at, len) = match &mut self.source {
                Source::Read { input, buf } => {
                    buf.clear();
                    if input.read_until(b'\n', buf)? == 0 {
                        return Ok(None);
                    }
                    (0, buf.len())
                }
                Source::Mapped {
                    map,
                    at,
                    released,
                    release,
                    counter,
                } => {
                    let rest = &map[*at..];
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
                    if *at - *released >= *release {
                        // SAFETY: the pages before `at` are not read again (a page shared with
                        // this line is read back from the file).
                        let _ = unsafe {
                            map.unchecked_advise_range(
                                UncheckedAdvice::DontNeed,
                                *released,
                                *at - *released,
                            )
                        };
                        *released = *at;
                    }
                    *at += n;
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    (*at - n, n)
                }
            };
            let line = &self.source.bytes()[at..at + len];
            self.offset += line.len() as u64;
            self.number += 1;
            let mut bytes = line;
            if std::mem::take(&mut self.first) {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let bytes = bytes.trim_ascii();
            if !bytes.is_empty() {
                let from = bytes.as_ptr() as usize - self.source.bytes().as_ptr() as usize;
                break (start, from, from + bytes.len());
            }
        };
        Ok(Some(Line {
            number: self.number,
            start,
            bytes: &self.source.bytes()[from..to],
        }))
    }
}

impl<R> Source<R> {
    /// The bytes lines are read from: the buffer, or the map.
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Read { buf, .. } => buf,
            Source::Mapped { map, .. } => map,
        }
    }
}

/// A mapped value of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Text<'a> {
    Value(Cow<'a, str>),
    /// An object or an array: not a value of a column.
    Nested(&'static str),
}

/// The keys a source maps, each with its column.
pub(super) struct Keys {
    index: HashMap<String, usize>,
    names: Vec<String>,
    /// The keys of the last object, in order, each with its column (none when not mapped):
    /// the objects of a file mostly repeat their keys in one order, so a key is first compared
    /// with the one at its place in the last object before it is looked up.
    last: Vec<(String, Option<usize>)>,
}

impl Keys {
    pub fn new(keys: &[String]) -> Keys {
        let mut index = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            index.entry(k.clone()).or_insert(i);
        }
        Keys {
            index,
            names: keys.to_vec(),
            last: Vec::new(),
        }
    }

    /// The column of the key `key`, the `place`-th of its object (none when not mapped).
    fn column(&mut self, place: usize, key: &str) -> Option<usize> {
        if let Some((last, column)) = self.last.get(place) {
            if last == key {
                return *column;
            }
        }
        let column = self.index.get(key).copied();
        if place < self.last.len() {
            self.last[place] = (key.to_string(), column);
        } else if place == self.last.len() {
            self.last.push((key.to_string(), column));
        }
        column
    }

    /// The name of key `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The mapped values of `line` (a JSON object), in the order of the keys; `Err` with the
    /// reason when the line is not one JSON object.
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Vec<Option<Text<'a>>>, String> {
        let mut values = vec![None; self.names.len()];
        let mut de = serde_json::Deserializer::from_slice(line);
        ObjectSeed {
            keys: self,
            values: &mut values,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("not a JSON object: {e}"))?;
        Ok(values)
    }
}

struct ObjectSeed<'s, 'a> {
    keys: &'s mut Keys,
    values: &'s mut Vec<Option<Text<'a>>>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut place = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let column = self.keys.column(place, &key);
            place += 1;
            match column {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.values[i] = text(raw.get()).map_err(serde::de::Error::custom)?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// The text of one raw JSON value (already validated by the parser); `None` for null.
fn text(raw: &str) -> Result<Option<Text<'_>>, serde_json::Error> {
    Ok(match raw.as_bytes().first() {
        // Without escapes, the string is its raw text between the quotes (the parser checked it).
        Some(b'"') if !raw.contains('\\') => {
            Some(Text::Value(Cow::Borrowed(&raw[1..raw.len() - 1])))
        }
        Some(b'"') => Some(Text::Value(Cow::Owned(serde_json::from_str::<String>(
            raw,
        )?))),
        Some(b'n') => None,
        Some(b'{') => Some(Text::Nested("an object")),
        Some(b'[') => Some(Text::Nested("an array")),
        Some(_) => Some(Text::Value(Cow::Borrowed(number_text(raw)))),
        None => None,
    })
}

/// A number as written, or, for a whole number written with a zero fraction (`12.00`), without
/// it; `true` and `false` pass through.
fn number_text(raw: &str) -> &str {
    match raw.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Vec<Option<Text<'_>>>, String> {
        Keys::new(&["id".into(), "s".into(), "n".into()]).parse(line.as_bytes())
    }

    fn v(s: &str) -> Option<Text<'_>> {
        Some(Text::Value(Cow::Borrowed(s)))
    }

    #[test]
    fn mapped_keys_as_text() {
        assert_eq!(
            parse(r#"{"id": 1.0, "x": {"deep": [1, 2]}, "s": "a\"b", "n": null}"#).unwrap(),
            [v("1"), Some(Text::Value("a\"b".into())), None]
        );
        assert_eq!(
            parse(r#"{"id": 1e2, "s": true, "n": -0.50}"#).unwrap(),
            [v("1e2"), v("true"), v("-0.50")]
        );
        assert_eq!(
            parse(r#"{"id": {"a": 1}, "s": [], "id": "later"}"#).unwrap(),
            [v("later"), Some(Text::Nested("an array")), None]
        );
        assert!(parse("[1, 2]")
            .unwrap_err()
            .starts_with("not a JSON object"));
        assert!(parse(r#"{"id": 1} {"id": 2}"#).is_err());
        let bad = b"{\"s\": \"\xff\"}";
        let mut keys = Keys::new(&["s".into()]);
        assert!(keys
            .parse(bad)
            .unwrap_err()
            .starts_with("not a JSON object"));
    }

    #[test]
    fn keys_in_any_order_from_object_to_object() {
        let mut keys = Keys::new(&["id".into(), "s".into()]);
        let lines = [
            r#"{"id": 1, "s": "a"}"#,
            r#"{"s": "b", "id": 2}"#,
            r#"{"x": 0, "id": 3, "s": "c", "y": 1}"#,
            r#"{"id": 4}"#,
            r#"{"x": "d", "y": 5, "id": 5}"#,
            r#"{"id": 6, "s": "e"}"#,
        ];
        let got: Vec<_> = lines
            .iter()
            .map(|l| keys.parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                vec![v("1"), v("a")],
                vec![v("2"), v("b")],
                vec![v("3"), v("c")],
                vec![v("4"), None],
                vec![v("5"), None],
                vec![v("6"), v("e")],
            ]
        );
    }

    /// The lines of `lines`: number, start, bytes.
    fn all<R: Read>(mut lines: Lines<R>) -> Vec<(u64, u64, Vec<u8>)> {
        let mut got = Vec::new();
        while let Some(line) = lines.next().unwrap() {
            got.push((line.number, line.start, line.bytes.to_vec()));
        }
        got
    }

    #[test]
    fn a_mapped_file_has_the_lines_of_a_stream_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.ndjson");
        let mut text = String::from("\u{feff}{\"id\": 0}\r\n\n");
        for i in 1..400 {
            text.push_str(&format!(
                "{{\"id\": {i}, \"pad\": \"{}\"}}\n",
                "x".repeat(i % 37)
            ));
            if i % 50 == 0 {
                text.push_str("  \r\n");
            }
        }
        text.push_str("{\"id\": \"last, no line end\"}");
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).unwrap();
        // From the start, and from the start of a later line (as a range reader is).
        let later = text.find("{\"id\": 100,").unwrap() as u64;
        let before = text[..later as usize].matches('\n').count() as u64;
        for (offset, lines_before) in [(0, 0), (later, before)] {
            let stream = all(Lines::new(
                &text.as_bytes()[offset as usize..],
                lines_before,
                offset,
            ));
            let counter = Arc::new(AtomicU64::new(0));
            let mut mapped =
                Lines::<&[u8]>::mapped(&file, lines_before, offset, Arc::clone(&counter)).unwrap();
            // Pages given back every few lines: the lines read later are whole all the same.
            if let Source::Mapped { release, .. } = &mut mapped.source {
                *release = 1000;
            }
            assert_eq!(all(mapped), stream, "from offset {offset}");
            assert_eq!(counter.load(Ordering::Relaxed), text.len() as u64 - offset);
        }
        assert_eq!(all(Lines::new(text.as_bytes(), 0, 0))[0].2, b"{\"id\": 0}");
    }

    #[test]
    fn lines_with_a_byte_order_mark_blank_lines_and_crlf() {
        let text = "\u{feff}{\"id\": 1}\r\n\r\n  \n{\"id\": 2}";
        let mut lines = Lines::new(text.as_bytes(), 0, 0);
        let mut got = Vec::new();
        while let Some(line) = lines.next().unwrap() {
            got.push((line.number, line.start, line.bytes.to_vec()));
        }
        assert_eq!(
            got,
            [
                (1, 0, b"{\"id\": 1}".to_vec()),
                (4, 19, b"{\"id\": 2}".to_vec())
            ]
        );
    }
}
