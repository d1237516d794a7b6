//! Byte ranges of a large file, read by readers of their own in parallel with the same result
//! as one reader of the whole file.
//!
//! Cuts are placed just after a line end, and each range owns the records (lines) that start
//! before its end. An NDJSON line always starts after a line end, so its cuts are record
//! boundaries. A CSV line end may be inside a quoted field: a range that started there would
//! read garbage. So a CSV range's reading is only trusted when the previous range, read from a
//! trusted start, stopped exactly where this range's first record starts
//! ([`BatchReader::stopped_at`](super::BatchReader::stopped_at) and
//! [`BatchReader::first_start`](super::BatchReader::first_start)); otherwise it is read again
//! from where the previous range stopped. Files without quoted line breaks are thus read in
//! parallel, and the others still correctly.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Header, Range};

/// Bytes read at once when counting lines.
const BLOCK: usize = 4 << 20;

/// The ranges of `path` for ranges of about `target` bytes (one range when the file is small
/// or cannot be split), counting line ends with `threads` threads.
pub fn ranges(
    path: &Path,
    header: &Header,
    target: u64,
    threads: usize,
) -> std::io::Result<Vec<Range>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let data = header.data;
    let whole = vec![Range {
        end: u64::MAX,
        ..data
    }];
    if !header.splittable || target == 0 || size.saturating_sub(data.start) < 2 * target {
        return Ok(whole);
    }
    // Just after the first line end at or after each nominal cut.
    let mut cuts = Vec::new();
    let mut at = data.start + target;
    while at < size {
        match next_line_start(&file, at, size)? {
            Some(cut) if cut < size => {
                cuts.push(cut);
                at = cut.max(at) + target;
            }
            _ => break,
        }
    }
    if cuts.is_empty() {
        return Ok(whole);
    }
    let mut bounds = vec![data.start];
    bounds.extend(&cuts);
    bounds.push(size);
    let counts = count_lines(&file, &bounds, threads)?;
    let mut lines = data.lines_before;
    let mut ranges = Vec::with_capacity(counts.len());
    for (i, count) in counts.iter().enumerate() {
        ranges.push(Range {
            start: bounds[i],
            end: if i + 2 == bounds.len() {
                u64::MAX
            } else {
                bounds[i + 1]
            },
            lines_before: lines,
        });
        lines += count;
    }
    Ok(ranges)
}

/// The offset just after the first `\n` at or after `at`, if any.
fn next_line_start(file: &File, mut at: u64, size: u64) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0; 64 << 10];
    while at < size {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(Some(at + i as u64 + 1));
        }
        at += n as u64;
    }
    Ok(None)
}

/// The `\n` bytes between consecutive `bounds`, counted by up to `threads` threads.
fn count_lines(file: &File, bounds: &[u64], threads: usize) -> std::io::Result<Vec<u64>> {
    let spans: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let threads = threads.clamp(1, spans.len());
    let per = spans.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = spans
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut buf = vec![0; BLOCK];
                    chunk
                        .iter()
                        .map(|&(from, to)| count_span(file, from, to, &mut buf))
                        .collect::<std::io::Result<Vec<u64>>>()
                })
            })
            .collect();
        let mut counts = Vec::with_capacity(spans.len());
        for h in handles {
            counts.extend(
                h.join()
                    .map_err(|_| std::io::Error::other("a line count panicked"))??,
            );
        }
        Ok(counts)
    })
}

fn count_span(file: &File, from: u64, to: u64, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut count = 0;
    let mut at = from;
    while at < to {
        let want = buf.len().min((to - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        // A plain loop the compiler vectorises.
        count += buf[..n].iter().map(|&b| u64::from(b == b'\n')).sum::<u64>();
        at += n as u64;
    }
    Ok(count)
}

/// About how many lines `path` holds after its header: counted in its first 4 MiB, and
/// scaled to its size when it is larger.
pub fn lines_estimate(path: &Path, header: &Header) -> std::io::Result<u64> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let start = header.data.start.min(size);
    let sample = (size - start).min(BLOCK as u64);
    let mut buf = vec![0; sample as usize];
    let lines = count_span(&file, start, start + sample, &mut buf)?.max(1);
    if sample == size - start {
        return Ok(lines);
    }
    Ok((u128::from(lines) * u128::from(size - start)).div_ceil(u128::from(sample)) as u64)
}

/// The `\n` bytes in `[from, to)` of `path`.
pub fn lines_between(path: &Path, from: u64, to: u64) -> std::io::Result<u64> {
    let file = File::open(path)?;
    let mut buf = vec![0; BLOCK];
    count_span(&file, from, to, &mut buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of a file without one, read from its start, that can be split.
    fn whole_file() -> Header {
        Header {
            layout: Default::default(),
            width: 1,
            data: Range {
                start: 0,
                end: u64::MAX,
                lines_before: 0,
            },
            splittable: true,
        }
    }

    #[test]
    fn cuts_follow_line_ends_and_count_the_lines_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ndjson");
        let text: String = (0..1000).map(|i| format!("{{\"n\": {i}}}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let header = whole_file();
        let got = ranges(&path, &header, 1000, 2).unwrap();
        assert!(got.len() > 5, "{got:?}");
        let bytes = text.as_bytes();
        for (i, r) in got.iter().enumerate() {
            assert!(r.start == 0 || bytes[r.start as usize - 1] == b'\n');
            let before = bytes[..r.start as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            assert_eq!(r.lines_before, before);
            if i + 1 < got.len() {
                assert_eq!(r.end, got[i + 1].start);
            } else {
                assert_eq!(r.end, u64::MAX);
            }
        }
        let mut small = header.clone();
        small.splittable = false;
        assert_eq!(ranges(&path, &small, 1000, 2).unwrap().len(), 1);
    }

    #[test]
    fn lines_are_counted_in_a_small_file_and_estimated_in_a_large_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ndjson");
        let line = |i: usize| format!("{{\"n\": {i}, \"pad\": \"{}\"}}\n", "x".repeat(i % 40));
        std::fs::write(&path, (0..1000).map(line).collect::<String>()).unwrap();
        let header = whole_file();
        assert_eq!(lines_estimate(&path, &header).unwrap(), 1000);
        let lines = 300_000;
        std::fs::write(&path, (0..lines).map(line).collect::<String>()).unwrap();
        let estimate = lines_estimate(&path, &header).unwrap();
        assert!(
            estimate.abs_diff(lines as u64) < lines as u64 / 50,
            "{estimate} for {lines} lines"
        );
    }
}
