//! Long results through a pager: `$PAGER`, or `less -SRFX` (quits at once when the text fits
//! one screen, keeps colours, scrolls wide lines sideways instead of wrapping them).

use std::io::Write;
use std::process::{Command, Stdio};

/// The pager used when `\pager` is on: `$PAGER`, else `less -SRFX`.
pub fn default_command() -> String {
    std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -SRFX".to_string())
}

/// Whether `text` needs a pager on a terminal of `rows` lines and `columns` columns.
pub fn needed(text: &str, rows: usize, columns: usize) -> bool {
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        if lines + 1 >= rows || unicode_width::UnicodeWidthStr::width(line) > columns {
            return true;
        }
    }
    false
}

/// Show `text` through `command` (run by `sh -c`), waiting for it to exit.
pub fn show(command: &str, text: &str) -> std::io::Result<()> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // The reader may quit before reading everything (`q` in less): not an error.
        match stdin.write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    child.wait()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_does_not_fit_is_paged() {
        assert!(!needed("a\nb\n", 24, 80));
        assert!(needed(&"row\n".repeat(30), 24, 80));
        assert!(needed(&"x".repeat(100), 24, 80));
    }
}
