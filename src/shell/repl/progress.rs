//! The indicator of a long query: after about a second, a spinner on standard error with the
//! elapsed time and what the scans have read so far (rows and bytes, from the running plan's
//! metrics), cleared before the result prints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;

/// How long a query runs before the spinner shows.
const DELAY: Duration = Duration::from_secs(1);

/// How often the spinner turns.
const TICK: Duration = Duration::from_millis(120);

/// The spinner of one running statement. It ticks on a thread of its own, so that a query
/// keeping every core busy still shows its progress; [`Progress::stop`] clears it for good,
/// whether the statement ended or was cancelled while a thread still runs it.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    bar: ProgressBar,
    /// Set when the statement ends; held while the spinner draws, so that it never draws
    /// again once cleared.
    stopped: Mutex<bool>,
    /// Result rows produced so far.
    rows: AtomicUsize,
}

impl Progress {
    /// A spinner not yet shown.
    pub fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        Progress {
            inner: Arc::new(Inner {
                bar,
                stopped: Mutex::new(false),
                rows: AtomicUsize::new(0),
            }),
        }
    }

    /// Watch `plan` run: from about a second after `started`, show the spinner.
    pub fn watch(&self, plan: Arc<dyn ExecutionPlan>, started: Instant) {
        let inner = Arc::clone(&self.inner);
        // Without a thread there is no spinner; the query runs all the same.
        let _ = std::thread::Builder::new()
            .name("kpi-progress".into())
            .spawn(move || {
                let mut shown = false;
                loop {
                    std::thread::sleep(TICK);
                    let stopped = inner.stopped.lock();
                    if *stopped {
                        return;
                    }
                    if started.elapsed() < DELAY {
                        continue;
                    }
                    if !shown {
                        inner.bar.set_draw_target(ProgressDrawTarget::stderr());
                        shown = true;
                    }
                    let rows = inner.rows.load(Ordering::Relaxed);
                    inner.bar.set_message(message(&plan, started, rows));
                    inner.bar.tick();
                }
            });
    }

    /// Count result rows.
    pub fn add_rows(&self, rows: usize) {
        self.inner.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Clear the spinner for good (before printing).
    pub fn stop(&self) {
        let mut stopped = self.inner.stopped.lock();
        if !*stopped {
            *stopped = true;
            self.inner.bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

fn message(plan: &Arc<dyn ExecutionPlan>, started: Instant, rows: usize) -> String {
    let mut text = format!("{:.1} s", started.elapsed().as_secs_f64());
    let (scanned, bytes) = scanned(plan);
    if let Some(scanned) = scanned {
        text.push_str(&format!(" · scanned {} rows", thousands(scanned)));
    }
    if bytes > 0 {
        text.push_str(&format!(", {}", crate::config::format_size(bytes)));
    }
    if rows > 0 {
        text.push_str(&format!(" · {} result rows", thousands(rows)));
    }
    text.push_str(" · Ctrl-C cancels");
    text
}

/// Rows and bytes read by the plan's scans so far: the deepest operators that report rows
/// (the leaves, or their nearest measured parents).
fn scanned(plan: &Arc<dyn ExecutionPlan>) -> (Option<usize>, usize) {
    let mut rows: Option<usize> = None;
    let mut bytes = 0;
    for child in plan.children() {
        let (r, b) = scanned(child);
        if let Some(r) = r {
            rows = Some(rows.unwrap_or(0) + r);
        }
        bytes += b;
    }
    if rows.is_none() {
        if let Some(metrics) = plan.metrics() {
            rows = metrics.output_rows();
            bytes = metrics
                .sum_by_name("bytes_scanned")
                .map_or(0, |v| v.as_usize());
        }
    }
    (rows, bytes)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
