//! A progress bar on standard error for long commands, shown only on a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps labelled `what`; hidden when standard error is not a terminal.
pub fn bar(len: u64, what: &str) -> Bar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ({{elapsed}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Bar(bar)
}

pub struct Bar(ProgressBar);

impl Bar {
    pub fn update(&self, done: u64, message: &str) {
        if done > self.0.length().unwrap_or(0) {
            self.0.set_length(done);
        }
        self.0.set_position(done);
        self.0.set_message(message.to_string());
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
