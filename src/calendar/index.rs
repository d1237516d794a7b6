//! The business-time index of one calendar: its business intervals over a window of years as
//! UTC instants, with cumulative sums, and a bucket table that finds the interval around any
//! instant in O(1). `business_seconds` is two look-ups and a subtraction; `business_add` is a
//! look-up and a binary search over the cumulative sums. Instants outside the window are
//! answered exactly by walking days ([`super::walk`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::NaiveDate;

use super::definition::Calendar;
use super::time::local_to_utc;
use super::walk::{self, local_date, Direction};
use super::CalendarError;

/// The bucket width: 2048 s ≈ 34 minutes, shorter than a lunch break, so in usual calendars a
/// bucket holds at most one business piece and the cumulative business time at any instant is
/// a few arithmetic operations on one 8-byte bucket, without a branch. Whole seconds, because
/// business intervals start and end on whole seconds (wall times are `HH:MM[:SS]` and zone
/// offsets whole seconds), so cumulative times at bucket starts are whole seconds too.
const BUCKET_SECONDS: i64 = 2048;
const BUCKET_WIDTH: i64 = BUCKET_SECONDS * MICROS_PER_SECOND;
const MICROS_PER_SECOND: i64 = 1_000_000;
/// Buckets per block; a block's buckets count their cumulative time from the block's base.
const BLOCK_SHIFT: u32 = 8;
/// `Bucket::len` of a bucket answered from the spans: more than one business piece, or
/// boundaries off whole seconds.
const FROM_SPANS: u16 = u16::MAX;

/// One bucket of `BUCKET_WIDTH` µs of the window. When its business time is one piece
/// `[start + from, start + from + len)` (or none), the cumulative business time at offset `x`
/// is `cum + clamp(x - from, 0, len)`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Business seconds from the block's base to the bucket's start.
    rel: u32,
    /// Offset of the business piece from the bucket's start, in seconds.
    from: u16,
    /// Length of the piece in seconds (0 for none), or `FROM_SPANS`.
    len: u16,
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
    /// Per block of `2^BLOCK_SHIFT` buckets: business seconds from `lo` to its start.
    bases: Vec<i64>,
    /// Per bucket: the first span that ends after the bucket's start.
    first_span: Vec<u32>,
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

        let n_buckets = ((hi - lo) / BUCKET_WIDTH) as usize + 1;
        let mut buckets = Vec::with_capacity(n_buckets);
        let mut bases = Vec::with_capacity((n_buckets >> BLOCK_SHIFT) + 1);
        let mut first_span = Vec::with_capacity(n_buckets);
        let mut i = 0usize;
        for k in 0..n_buckets {
            let start = lo + k as i64 * BUCKET_WIDTH;
            let end = start + BUCKET_WIDTH;
            while spans[i].end <= start {
                i += 1;
            }
            let first = spans[i];
            let cum = first.cum + (start - first.start).max(0);
            if k & ((1 << BLOCK_SHIFT) - 1) == 0 {
                bases.push(cum.div_euclid(MICROS_PER_SECOND));
            }
            let base = bases[bases.len() - 1];
            // The business pieces inside the bucket, as offsets from its start.
            let mut pieces = spans[i..]
                .iter()
                .take_while(|s| s.start < end)
                .map(|s| (s.start.max(start) - start, s.end.min(end) - start));
            let whole = |v: i64| v % MICROS_PER_SECOND == 0;
            let piece = match (pieces.next(), pieces.next()) {
                (None, _) => Some((0, 0)),
                (Some((from, to)), None) if whole(from) && whole(to) => Some((
                    (from / MICROS_PER_SECOND) as u16,
                    ((to - from) / MICROS_PER_SECOND) as u16,
                )),
                _ => None,
            };
            let bucket = match piece {
                Some((from, len)) if whole(cum) => Bucket {
                    rel: u32::try_from(cum / MICROS_PER_SECOND - base)
                        .map_err(|_| CalendarError::OutOfRange { micros: start })?,
                    from,
                    len,
                },
                _ => Bucket {
                    rel: 0,
                    from: 0,
                    len: FROM_SPANS,
                },
            };
            buckets.push(bucket);
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
            bases,
            first_span,
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
        let k = ((t - self.lo) / BUCKET_WIDTH) as usize;
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
        let k = (offset / BUCKET_WIDTH as u64) as usize;
        let bucket = self.buckets[k];
        if bucket.len == FROM_SPANS {
            let t = self.lo + offset as i64;
            let span = self.spans[self.locate_from(t, self.first_span[k] as usize)];
            return span.cum + (t - span.start).max(0);
        }
        let x = (offset - k as u64 * BUCKET_WIDTH as u64) as i64;
        let seconds = self.bases[k >> BLOCK_SHIFT] + i64::from(bucket.rel);
        seconds * MICROS_PER_SECOND
            + (x - i64::from(bucket.from) * MICROS_PER_SECOND)
                .clamp(0, i64::from(bucket.len) * MICROS_PER_SECOND)
    }

    /// Whether `t` is inside the window, where [`BusinessIndex::micros_in_window`] applies.
    #[inline(always)]
    pub fn in_window(&self, t: i64) -> bool {
        // Wrapping: any instant outside `[lo, hi]` maps above the window's width.
        t.wrapping_sub(self.lo) as u64 <= (self.hi - self.lo) as u64
    }

    /// Business µs from `a` to `b` (negative when `b < a`) for instants inside the window
    /// ([`BusinessIndex::in_window`]); instants outside give a meaningless amount (never a
    /// panic). The kernel of `business_seconds` over columns, which checks the window first.
    #[inline(always)]
    pub fn micros_in_window(&self, a: i64, b: i64) -> i64 {
        let width = (self.hi - self.lo) as u64;
        let oa = (a.wrapping_sub(self.lo) as u64).min(width);
        let ob = (b.wrapping_sub(self.lo) as u64).min(width);
        self.cum_at_offset(ob) - self.cum_at_offset(oa)
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
