//! The indicator of a long query: after about a second, a spinner on standard error with the
//! elapsed time and what the scans have read so far (rows and bytes, from the running plan's
//! metrics), cleared before the result prints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a query runs before the spinner shows.
const DELAY: Duration = Duration::from_secs(1);

/// The spinner of one running statement; it disappears when dropped (finished or cancelled).
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
    /// Result rows produced so far.
    pub rows: Arc<AtomicUsize>,
}

impl Progress {
    pub fn start(plan: Arc<dyn ExecutionPlan>, started: Instant) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        let rows = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (bar, rows) = (bar.clone(), Arc::clone(&rows));
            async move {
                tokio::time::sleep(DELAY.saturating_sub(started.elapsed())).await;
                bar.set_draw_target(ProgressDrawTarget::stderr());
                loop {
                    bar.set_message(message(&plan, started, rows.load(Ordering::Relaxed)));
                    bar.tick();
                    tokio::time::sleep(Duration::from_millis(120)).await;
                }
            }
        });
        Progress { bar, task, rows }
    }

    /// Clear the spinner (before printing).
    pub fn stop(&self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
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
