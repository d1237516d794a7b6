//! The column kernel: business time between many pairs of instants in one pass, from a compact
//! copy of the index that a CPU with AVX-512 evaluates eight rows at a time.
//!
//! The compact table cuts the index window into buckets of 2048 seconds and packs each into
//! 8 bytes: the whole business seconds before the bucket (32 bits) and its one business piece,
//! as an offset and a length in seconds (16 bits each). It is half the size of the index's own
//! buckets, so more of it stays in cache while the other cores decode Parquet, and a look-up is
//! one 8-byte load: with AVX-512, one gather serves eight rows.
//!
//! The table exists only for calendars it describes exactly: every business interval starts
//! and ends on a whole second from the window's start, no bucket holds more than one business
//! piece (no break shorter than about 34 minutes), and the window holds fewer than 2^32
//! business seconds and 2^53 µs. The last bound makes every offset an exact `f64`, which is how
//! the vector code divides: a quotient rounded to the nearest `f64` is never off by more than
//! one, and one correction step makes it exact (see [`CompactTable::cum`]). Without the table,
//! or without AVX-512, [`super::BusinessIndex::spans_into`] takes its scalar loop.

use super::time::MICROS;

/// Bucket width in seconds and in µs. A whole number of seconds, so that bucket boundaries
/// and business-interval boundaries are all whole seconds from the window's start.
const WIDTH_SECONDS: i64 = 2048;
const WIDTH: i64 = WIDTH_SECONDS * MICROS;

/// The unit of [`super::BusinessIndex::spans_into`]'s results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Business µs.
    Micros,
    /// Whole business seconds, truncated toward zero.
    Seconds,
}

/// The index window `[lo, lo + width]` in 2048-second buckets of 8 bytes each.
#[derive(Debug)]
pub(super) struct CompactTable {
    lo: i64,
    width: u64,
    /// Per bucket: business seconds before it (bits 0–31), then the offset (bits 32–47) and
    /// length (bits 48–63) in seconds of its business piece (length 0 for none).
    entries: Vec<u64>,
}

impl CompactTable {
    /// The table of the window `[lo, hi]` whose business intervals are `spans` (sorted,
    /// disjoint, inside the window); `None` when the calendar does not fit the format.
    pub(super) fn build(lo: i64, hi: i64, spans: &[(i64, i64)]) -> Option<CompactTable> {
        let width = u64::try_from(hi - lo).ok().filter(|&w| w < 1 << 53)?;
        let whole = |t: i64| (t - lo) % MICROS == 0;
        if !spans.iter().all(|&(s, e)| whole(s) && whole(e)) {
            return None;
        }
        // Intervals that touch (a shift across midnight, say) are one piece.
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for &(s, e) in spans {
            match merged.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => merged.push((s, e)),
            }
        }
        let spans = merged;
        let n = width / WIDTH as u64 + 1;
        let mut entries = Vec::with_capacity(usize::try_from(n).ok()?);
        // Business µs before span `i`, for the spans passed so far.
        let (mut i, mut before) = (0usize, 0i64);
        for k in 0..n as i64 {
            let start = lo + k * WIDTH;
            let end = start + WIDTH;
            while i < spans.len() && spans[i].1 <= start {
                before += spans[i].1 - spans[i].0;
                i += 1;
            }
            let mut pieces = spans[i..]
                .iter()
                .take_while(|s| s.0 < end)
                .map(|&(s, e)| (s.max(start) - start, e.min(end) - start));
            let (from, to) = match (pieces.next(), pieces.next()) {
                (None, _) => (0, 0),
                (Some(piece), None) => piece,
                (Some(_), Some(_)) => return None,
            };
            let cum = before + spans.get(i).map_or(0, |s| (start - s.0).max(0));
            let cum = u32::try_from(cum / MICROS).ok()? as u64;
            let (from, len) = ((from / MICROS) as u64, ((to - from) / MICROS) as u64);
            entries.push(cum | from << 32 | len << 48);
        }
        Some(CompactTable { lo, width, entries })
    }

    /// Business µs from the window's start to `lo + off`, for `off <= width`.
    #[inline(always)]
    fn cum(&self, off: u64) -> i64 {
        let off = off as i64;
        // SAFETY: `off < 2^53`, so `off` and the quotient are exact enough to convert: the
        // quotient is finite and far inside the range of i64.
        let mut k: i64 = unsafe { (off as f64 * (1.0 / WIDTH as f64)).to_int_unchecked() };
        // The rounded quotient is at most one away from `off / WIDTH`: correct it.
        let rest = off - k * WIDTH;
        k += (rest >= WIDTH) as i64 - (rest < 0) as i64;
        let x = off - k * WIDTH;
        // `k <= width / WIDTH`, the last bucket; the `min` only lets the compiler see it.
        let e = self.entries[(k as usize).min(self.entries.len() - 1)];
        let (cum, from, len) = (e & 0xffff_ffff, (e >> 32) & 0xffff, e >> 48);
        cum as i64 * MICROS + (x - from as i64 * MICROS).max(0).min(len as i64 * MICROS)
    }

    /// The kernel's loop over rows, inlined into the vectorised and the plain entry point.
    #[inline(always)]
    fn spans_loop(&self, a: &[i64], b: &[i64], unit: Unit, out: &mut [i64]) -> bool {
        assert!(!self.entries.is_empty() && a.len() == out.len() && b.len() == out.len());
        let (lo, width) = (self.lo, self.width);
        let mut outside = false;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            // Wrapping: any instant outside the window maps above `width`.
            let (ox, oy) = (x.wrapping_sub(lo) as u64, y.wrapping_sub(lo) as u64);
            outside |= (ox > width) | (oy > width);
            let micros = self.cum(oy.min(width)) - self.cum(ox.min(width));
            *o = match unit {
                Unit::Micros => micros,
                // |micros| < 2^32 s: the correctly rounded quotient of an integer by 10^6
                // stays on the same side of every integer, so truncating it is exact.
                // SAFETY: finite and far inside the range of i64.
                Unit::Seconds => unsafe { (micros as f64 / MICROS as f64).to_int_unchecked() },
            };
        }
        outside
    }

    /// Business time from `a[i]` to `b[i]` into `out[i]`, and whether any instant lies
    /// outside the window (its row is then meaningless). `None` when this CPU has no AVX-512,
    /// where the index's scalar loop is faster than this one.
    pub(super) fn spans(&self, a: &[i64], b: &[i64], unit: Unit, out: &mut [i64]) -> Option<bool> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            return Some(unsafe { self.spans_avx512(a, b, unit, out) });
        }
        let _ = (a, b, unit, out);
        None
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    unsafe fn spans_avx512(&self, a: &[i64], b: &[i64], unit: Unit, out: &mut [i64]) -> bool {
        self.spans_loop(a, b, unit, out)
    }

    /// [`Self::spans`] without vector instructions, for tests on any CPU.
    #[cfg(test)]
    pub(super) fn spans_plain(&self, a: &[i64], b: &[i64], unit: Unit, out: &mut [i64]) -> bool {
        self.spans_loop(a, b, unit, out)
    }
}
