//! Random streams of the generator and the few distributions it draws from.
//!
//! One ChaCha8 key comes from the seed; every draw happens on a *stream* of that key named by
//! what it is for (a team's load on a day, a day's arrivals, one ticket, one ticket's bad
//! rows). A ticket's story therefore depends only on the seed and on the ticket's own
//! coordinates, never on how many draws other tickets made or in which order they ran.
//!
//! The distributions use additions, multiplications and divisions only (no `ln`, `exp` or
//! `cos` from the platform's maths library), so the same seed gives the same bytes on every
//! platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is for: the top four bits of its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A team's volume factor on a day.
    Load = 1,
    /// A team's arrival times on a day.
    Arrivals = 2,
    /// One ticket's story.
    Ticket = 3,
    /// Whether (and how) a ticket is followed by bad rows.
    Bad = 4,
}

/// The streams of one seed.
#[derive(Debug, Clone)]
pub struct Streams {
    base: ChaCha8Rng,
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        Streams {
            base: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The stream of `purpose` for a team (< 16), a day (< 2^20) and an index (< 2^32).
    pub fn stream(&self, purpose: Purpose, team: usize, day: u32, index: u32) -> Rand {
        let mut rng = self.base.clone();
        rng.set_stream(
            (purpose as u64) << 60
                | ((team as u64) & 0xF) << 56
                | (u64::from(day) & 0xF_FFFF) << 32
                | u64::from(index),
        );
        Rand(rng)
    }
}

/// One stream of draws.
#[derive(Debug, Clone)]
pub struct Rand(ChaCha8Rng);

impl Rand {
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// Uniform in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n.max(1))
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        self.0.random_range(lo..=hi.max(lo))
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Approximately standard normal: the Irwin–Hall sum of twelve uniforms, minus six
    /// (within ±6, which keeps every delay finite). The uniforms are the 16-bit quarters of
    /// three 64-bit draws.
    pub fn normal(&mut self) -> f64 {
        let mut sum = 0.0;
        for _ in 0..3 {
            let bits: u64 = self.0.random();
            for k in 0..4 {
                sum += (((bits >> (16 * k)) & 0xFFFF) as f64 + 0.5) / 65536.0;
            }
        }
        sum - 6.0
    }

    /// Log-normal with the given median: `median · 2^(spread · N(0,1))`. A `spread` of 1
    /// doubles or halves the value one standard deviation out.
    pub fn log_normal(&mut self, median: f64, spread: f64) -> f64 {
        median * exp2(spread * self.normal())
    }

    /// One of `choices`, drawn with their weights (which need not sum to 1).
    pub fn pick<T: Copy>(&mut self, choices: &[(T, f64)]) -> T {
        let total: f64 = choices.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for &(value, weight) in choices {
            if x < weight {
                return value;
            }
            x -= weight;
        }
        choices[choices.len() - 1].0
    }
}

/// `2^x` from basic arithmetic only: an exact power of two times a Taylor polynomial of
/// `e^(f·ln 2)` for the fraction `f` (relative error below 1e-9). `x` is clamped to ±60.
pub fn exp2(x: f64) -> f64 {
    let x = x.clamp(-60.0, 60.0);
    let n = x.floor();
    let y = (x - n) * std::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..=12 {
        term = term * y / f64::from(k);
        sum += term;
    }
    // n is within ±60: the biased exponent is a valid normal number.
    let power = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    sum * power
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_is_accurate() {
        for x in [-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.75, 10.0] {
            let want = 2f64.powf(x);
            assert!((exp2(x) - want).abs() / want < 1e-9, "{x}");
        }
        assert_eq!(exp2(3.0), 8.0);
    }

    #[test]
    fn streams_are_independent_of_each_other_and_repeatable() {
        let s = Streams::new(7);
        let a: Vec<f64> = {
            let mut r = s.stream(Purpose::Ticket, 2, 10, 5);
            (0..4).map(|_| r.unit()).collect()
        };
        // Drawing from another stream first changes nothing.
        let mut other = s.stream(Purpose::Ticket, 2, 10, 4);
        let _ = other.unit();
        let mut r = s.stream(Purpose::Ticket, 2, 10, 5);
        let b: Vec<f64> = (0..4).map(|_| r.unit()).collect();
        assert_eq!(a, b);
        let mut c = Streams::new(8).stream(Purpose::Ticket, 2, 10, 5);
        assert_ne!(a[0], c.unit());
        let mut d = s.stream(Purpose::Bad, 2, 10, 5);
        assert_ne!(a[0], d.unit());
    }

    #[test]
    fn distributions_have_their_shape() {
        let mut r = Streams::new(1).stream(Purpose::Load, 0, 0, 0);
        let n = 20_000;
        let normals: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let mut logs: Vec<f64> = (0..n).map(|_| r.log_normal(10.0, 1.0)).collect();
        logs.sort_by(f64::total_cmp);
        let median = logs[n / 2];
        assert!((median - 10.0).abs() < 0.5, "{median}");
        let picks = (0..n)
            .filter(|_| r.pick(&[(true, 3.0), (false, 1.0)]))
            .count();
        assert!((picks as f64 / n as f64 - 0.75).abs() < 0.02, "{picks}");
        assert!((0..1000).all(|_| r.between(3, 5) >= 3 && r.below(4) < 4));
    }
}
