//! The business-time index of one calendar: its business intervals over a window of years as
//! UTC instants, with cumulative sums, and a bucket table that finds the interval around any
//! instant in O(1). `business_seconds` is two look-ups and a subtraction; `business_add` is a
//! look-up and a binary search over the cumulative sums. Instants outside the window are
//! answered exactly by walking days ([`super::walk`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::NaiveDate;

use super::definition::Calendar;
use super::kernel::{CompactTable, Unit};
use super::time::local_to_utc;
use super::walk::{self, local_date, Direction};
use super::CalendarError;

/// log2 of the bucket width in µs: 2^31 µs ≈ 36 minutes, shorter than a lunch break, so in
/// usual calendars a bucket holds at most one interval boundary and the cumulative business
/// time at any instant is a few arithmetic operations on one bucket, without a branch.
const BUCKET_SHIFT: u32 = 31;
const BUCKET_WIDTH: i64 = 1 << BUCKET_SHIFT;

/// `Bucket::len` of a bucket with more than one business piece: answered from the spans.
const SEVERAL_PIECES: u32 = u32::MAX;

/// One bucket of `BUCKET_WIDTH` µs of the window. When its business time is one piece
/// `[start + from, start + from + len)` (or none), the cumulative business time at offset `x`
/// is `cum + clamp(x - from, 0, len)`: a few instructions and no branch.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Business µs from `lo` to the bucket's start.
    cum: i64,
    /// Offset of the business piece from the bucket's start.
    from: u32,
    /// Length of the piece (0 for none), or `SEVERAL_PIECES`.
    len: u32,
}

/// One business interval `[start, end)` in UTC µs and the business time before it (`cum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: i64,
    end: i64,
    cum: i64,
}

/// A calendar's business intervals between local midnight of 1 January `first_year` and local
/// midnight of 1 January `end_year`, indexed for constant-time look-ups.
#[derive(Debug)]
pub struct BusinessIndex {
    calendar: Arc<Calendar>,
    first_year: i32,
    end_year: i32,
    /// The window `[lo, hi]` in UTC µs.
    lo: i64,
    hi: i64,
    /// Disjoint, sorted intervals clipped to the window, then a sentinel at `i64::MAX`.
    spans: Vec<Span>,
    /// Per bucket of `BUCKET_WIDTH` µs from `lo`: its cumulative business time and piece.
    buckets: Vec<Bucket>,
    /// Per bucket: the first span that ends after the bucket's start.
    first_span: Vec<u32>,
    /// The vectorised kernel's copy of the index, for calendars it fits.
    compact: Option<CompactTable>,
}

impl BusinessIndex {
    /// Index `calendar` over the local years `first_year..end_year`.
    pub fn build(
        calendar: Arc<Calendar>,
        first_year: i32,
        end_year: i32,
    ) -> Result<BusinessIndex, CalendarError> {
        let tz = calendar.timezone();
        let jan1 = |year: i32| {
            NaiveDate::from_ymd_opt(year, 1, 1).ok_or(CalendarError::OutOfRange { micros: 0 })
        };
        let (first, end) = (jan1(first_year)?, jan1(end_year.max(first_year + 1))?);
        let lo = local_to_utc(&tz, first, 0).ok_or(CalendarError::OutOfRange { micros: 0 })?;
        let hi = local_to_utc(&tz, end, 0).ok_or(CalendarError::OutOfRange { micros: 0 })?;

        let mut intervals: Vec<(i64, i64)> =
            Vec::with_capacity(((end_year - first_year).max(1) as usize) * 366 * 2);
        let first_day = first.pred_opt().unwrap_or(first);
        let last_day = end;
        let _ = walk::walk_days(
            &calendar,
            first_day,
            last_day,
            Direction::Forward,
            |s, e| {
                let (s, e) = (s.max(lo), e.min(hi));
                if s < e {
                    intervals.push((s, e));
                }
                ControlFlow::Continue(())
            },
        );

        let compact = CompactTable::build(lo, hi, &intervals);
        let mut spans = Vec::with_capacity(intervals.len() + 1);
        let mut cum = 0i64;
        for (start, end) in intervals {
            spans.push(Span { start, end, cum });
            cum += end - start;
        }
        spans.push(Span {
            start: i64::MAX,
            end: i64::MAX,
            cum,
        });

        let n_buckets = (((hi - lo) as u64) >> BUCKET_SHIFT) as usize + 1;
        let mut buckets = Vec::with_capacity(n_buckets);
        let mut first_span = Vec::with_capacity(n_buckets);
        let mut i = 0usize;
        for k in 0..n_buckets {
            let start = lo + ((k as i64) << BUCKET_SHIFT);
            let end = start + BUCKET_WIDTH;
            while spans[i].end <= start {
                i += 1;
            }
            // The business pieces inside the bucket, as offsets from its start.
            let mut pieces = spans[i..]
                .iter()
                .take_while(|s| s.start < end)
                .map(|s| (s.start.max(start) - start, s.end.min(end) - start));
            let (from, len) = match (pieces.next(), pieces.next()) {
                (None, _) => (0, 0),
                (Some((from, to)), None) => (from as u32, (to - from) as u32),
                (Some(_), Some(_)) => (0, SEVERAL_PIECES),
            };
            let first = spans[i];
            buckets.push(Bucket {
                cum: first.cum + (start - first.start).max(0),
                from,
                len,
            });
            first_span
                .push(u32::try_from(i).map_err(|_| CalendarError::OutOfRange { micros: start })?);
        }
        Ok(BusinessIndex {
            calendar,
            first_year,
            end_year,
            lo,
            hi,
            spans,
            buckets,
            first_span,
            compact,
        })
    }

    pub fn calendar(&self) -> &Arc<Calendar> {
        &self.calendar
    }

    /// The indexed local years, `first..end`.
    pub fn years(&self) -> (i32, i32) {
        (self.first_year, self.end_year)
    }

    /// The indexed window `[lo, hi]` in UTC µs.
    pub fn window(&self) -> (i64, i64) {
        (self.lo, self.hi)
    }

    /// Number of business intervals indexed.
    pub fn len(&self) -> usize {
        self.spans.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    fn contains(&self, t: i64) -> bool {
        t >= self.lo && t <= self.hi
    }

    /// The first span that ends after `t`, for `t` inside the window.
    #[inline(always)]
    fn locate(&self, t: i64) -> usize {
        let k = ((t - self.lo) as u64 >> BUCKET_SHIFT) as usize;
        self.locate_from(t, self.first_span[k] as usize)
    }

    #[inline(always)]
    fn locate_from(&self, t: i64, mut i: usize) -> usize {
        while self.spans[i].end <= t {
            i += 1;
        }
        i
    }

    /// Business µs from `lo` to `t`, for `t` inside the window.
    #[inline(always)]
    fn cum_at(&self, t: i64) -> i64 {
        self.cum_at_offset((t - self.lo) as u64)
    }

    /// Business µs from `lo` to `lo + offset`, for `offset <= hi - lo`.
    #[inline(always)]
    fn cum_at_offset(&self, offset: u64) -> i64 {
        let k = (offset >> BUCKET_SHIFT) as usize;
        let bucket = self.buckets[k];
        if bucket.len == SEVERAL_PIECES {
            let t = self.lo + offset as i64;
            let span = self.spans[self.locate_from(t, self.first_span[k] as usize)];
            return span.cum + (t - span.start).max(0);
        }
        let x = (offset & (BUCKET_WIDTH as u64 - 1)) as i64;
        bucket.cum + (x - bucket.from as i64).clamp(0, bucket.len as i64)
    }

    /// Business µs from `a` to `b` (negative when `b < a`) and whether either instant lies
    /// outside the window, in which case the amount is meaningless. Branch-free for calendars
    /// whose buckets hold at most one business piece: the kernel of `business_seconds` over
    /// columns, which recomputes the rare outside rows exactly.
    #[inline(always)]
    pub fn micros_or_outside(&self, a: i64, b: i64) -> (i64, bool) {
        let width = (self.hi - self.lo) as u64;
        // Wrapping: any instant outside `[lo, hi]` maps above `width`.
        let (oa, ob) = (
            a.wrapping_sub(self.lo) as u64,
            b.wrapping_sub(self.lo) as u64,
        );
        let outside = (oa > width) | (ob > width);
        let (oa, ob) = (oa.min(width), ob.min(width));
        (self.cum_at_offset(ob) - self.cum_at_offset(oa), outside)
    }

    /// Business time from `a[i]` to `b[i]` into `out[i]` for every row, in `unit` (negative
    /// when `b[i] < a[i]`), and whether any instant lies outside the window: such a row's
    /// value is meaningless, and [`Self::business_micros`] answers it exactly. The kernel of
    /// `business_seconds` over columns, vectorised where the CPU allows ([`super::kernel`]).
    ///
    /// # Panics
    /// When the three slices differ in length.
    pub fn spans_into(&self, a: &[i64], b: &[i64], unit: Unit, out: &mut [i64]) -> bool {
        assert!(a.len() == out.len() && b.len() == out.len());
        if let Some(outside) = self.compact.as_ref().and_then(|c| c.spans(a, b, unit, out)) {
            return outside;
        }
        let mut outside = false;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            let (micros, out) = self.micros_or_outside(x, y);
            outside |= out;
            *o = match unit {
                Unit::Micros => micros,
                Unit::Seconds => micros / super::MICROS,
            };
        }
        outside
    }

    /// [`Self::spans_into`] through the vectorised kernel's code compiled without vector
    /// instructions, when its table exists: for tests on any CPU.
    #[cfg(test)]
    pub(super) fn compact_spans_plain(
        &self,
        a: &[i64],
        b: &[i64],
        unit: Unit,
        out: &mut [i64],
    ) -> Option<bool> {
        let compact = self.compact.as_ref()?;
        Some(compact.spans_plain(a, b, unit, out))
    }

    /// Whether the vectorised kernel's table exists for this index (see [`super::kernel`]).
    pub fn has_compact_table(&self) -> bool {
        self.compact.is_some()
    }

    /// Business µs from `a` to `b` when both are inside the window (negative when `b < a`);
    /// `None` otherwise. The hot path of `business_seconds`.
    #[inline(always)]
    pub fn fast_micros(&self, a: i64, b: i64) -> Option<i64> {
        if self.contains(a) && self.contains(b) {
            Some(self.cum_at(b) - self.cum_at(a))
        } else {
            None
        }
    }

    /// Business µs in `[a, b)`; negative when `b < a`. Exact for any instant.
    pub fn business_micros(&self, a: i64, b: i64) -> Result<i64, CalendarError> {
        if let Some(v) = self.fast_micros(a, b) {
            return Ok(v);
        }
        if b < a {
            return self.business_micros(b, a).map(|v| -v);
        }
        let cal = &self.calendar;
        let mut total = 0;
        // Before the window, inside it, after it.
        if a < self.lo {
            total += walk::measure(cal, a, b.min(self.lo))?;
        }
        let (ia, ib) = (a.max(self.lo), b.min(self.hi));
        if ia < ib {
            total += self.cum_at(ib) - self.cum_at(ia);
        }
        if b > self.hi {
            total += walk::measure(cal, a.max(self.hi), b)?;
        }
        Ok(total)
    }

    /// Whether `t` is business time (inside some `[start, end)`).
    pub fn is_business(&self, t: i64) -> Result<bool, CalendarError> {
        if self.contains(t) {
            return Ok(self.spans[self.locate(t)].start <= t);
        }
        let mut business = false;
        let date = local_date(&self.calendar, t)?;
        let _ = walk::walk_days(
            &self.calendar,
            date.pred_opt().unwrap_or(date),
            date.succ_opt().unwrap_or(date),
            Direction::Forward,
            |s, e| {
                if s <= t && t < e {
                    business = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        );
        Ok(business)
    }

    /// The first instant at or after `t` that is business time.
    pub fn next_open(&self, t: i64) -> Result<i64, CalendarError> {
        if self.contains(t) {
            let span = self.spans[self.locate(t)];
            if span.start != i64::MAX {
                return Ok(span.start.max(t));
            }
        }
        // Past the window: the smallest amount of business time reached from `t` starts at
        // the next opening.
        walk::advance(&self.calendar, t, 1, Direction::Forward).map(|end| end - 1)
    }

    /// The instant reached by adding `micros` of business time to `t`: forward for positive
    /// amounts (the first instant at which the amount is complete), backward for negative ones
    /// (the last instant from which it remains). Adding 0 gives the next opening.
    pub fn add(&self, t: i64, micros: i64) -> Result<i64, CalendarError> {
        if micros == 0 {
            return self.next_open(t);
        }
        let cal = &self.calendar;
        let total = self.spans[self.spans.len() - 1].cum;
        if micros > 0 {
            // Business time already behind `lo` (when `t` is before the window) reduces the
            // amount left to find inside it.
            let (base, remaining) = if t < self.lo {
                let before = walk::measure(cal, t, self.lo)?;
                if before >= micros {
                    return walk::advance(cal, t, micros, Direction::Forward);
                }
                (0, micros - before)
            } else if t > self.hi {
                return walk::advance(cal, t, micros, Direction::Forward);
            } else {
                (self.cum_at(t), micros)
            };
            let target = base.saturating_add(remaining);
            if target > total {
                return walk::advance(cal, self.hi, target - total, Direction::Forward);
            }
            let i = self
                .spans
                .partition_point(|s| s.cum + (s.end - s.start) < target);
            let span = self.spans[i];
            Ok(span.start + (target - span.cum))
        } else {
            let amount = micros.checked_neg().ok_or(CalendarError::Overflow {
                from: super::time::format_utc(t),
                seconds: micros.to_string(),
            })?;
            let (base, remaining) = if t > self.hi {
                let after = walk::measure(cal, self.hi, t)?;
                if after >= amount {
                    return walk::advance(cal, t, amount, Direction::Backward);
                }
                (total, amount - after)
            } else if t < self.lo {
                return walk::advance(cal, t, amount, Direction::Backward);
            } else {
                (self.cum_at(t), amount)
            };
            let target = base - remaining;
            if target < 0 {
                return walk::advance(cal, self.lo, -target, Direction::Backward);
            }
            // The last span that starts at or before the target; the sentinel never matches.
            let i = self.spans[..self.spans.len() - 1].partition_point(|s| s.cum <= target) - 1;
            let span = self.spans[i];
            Ok(span.start + (target - span.cum))
        }
    }
}
