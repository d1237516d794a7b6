//! Results on a terminal: boxed tables that fit its width (long values cut with `…`, numbers
//! right-aligned, NULL shown as NULL, timestamps readable), expanded rows (one `name │ value`
//! line per column) when asked or when a table would be too wide, and the "… N more rows" line.

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// `\x`: how rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    /// Always a table (cut to the width).
    Off,
    /// Always one `column │ value` block per row.
    On,
    /// Expanded when the table would not fit the terminal's width.
    Auto,
}

/// The rows of a result kept for display, as text.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub headers: Vec<String>,
    /// Whether each column holds numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Cell text; `None` is NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Narrowest a column is cut to before the table gives up fitting (and overflows).
const MIN_WIDTH: usize = 5;

/// Under `\x auto`, narrowest a column may be cut to before rows are expanded instead.
const AUTO_MIN_WIDTH: usize = 12;

impl Grid {
    /// An empty grid for results of `schema`.
    pub fn new(schema: &SchemaRef) -> Grid {
        Grid {
            headers: schema.fields().iter().map(|f| clean(f.name())).collect(),
            numeric: schema
                .fields()
                .iter()
                .map(|f| is_numeric(f.data_type()))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Add the first `limit` rows of `batch`.
    pub fn push(&mut self, batch: &RecordBatch, limit: usize) -> Result<(), ArrowError> {
        let options = FormatOptions::default()
            .with_display_error(true)
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows().min(limit) {
            self.rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(row)).then(|| clean(&f.value(row).to_string())))
                    .collect(),
            );
        }
        Ok(())
    }

    fn cell(&self, row: usize, column: usize) -> &str {
        self.rows[row][column].as_deref().unwrap_or("NULL")
    }

    /// The width each column needs to show every value whole.
    fn natural_widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|c| {
                (0..self.rows.len())
                    .map(|r| self.cell(r, c).width())
                    .chain(std::iter::once(self.headers[c].width()))
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Lay the grid out for a terminal `width` columns wide, followed by the `more` rows
    /// that were not kept.
    pub fn render(&self, width: usize, expanded: Expanded, more: usize) -> String {
        if self.headers.is_empty() {
            return String::new();
        }
        let natural = self.natural_widths();
        let widths = fit(&natural, width);
        // Auto keeps the table while cutting leaves every column readable.
        let readable = table_width(&widths) <= width
            && widths
                .iter()
                .zip(&natural)
                .all(|(w, n)| *w >= (*n).min(AUTO_MIN_WIDTH));
        let mut text = match expanded {
            Expanded::On => self.expanded(width),
            Expanded::Auto if !readable => self.expanded(width),
            _ => self.boxed(&widths),
        };
        if more > 0 {
            text.push_str(&more_rows(more));
        }
        text
    }

    fn boxed(&self, widths: &[usize]) -> String {
        let rule = |left: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |cells: Vec<String>| format!("│ {} │\n", cells.join(" │ "));
        let mut out = rule("┌", "┬", "┐");
        out.push_str(&line(
            self.headers
                .iter()
                .zip(widths)
                .map(|(h, w)| pad(&cut(h, *w), *w, false))
                .collect(),
        ));
        out.push_str(&rule("├", "┼", "┤"));
        for r in 0..self.rows.len() {
            out.push_str(&line(
                widths
                    .iter()
                    .enumerate()
                    .map(|(c, w)| pad(&cut(self.cell(r, c), *w), *w, self.numeric[c]))
                    .collect(),
            ));
        }
        out.push_str(&rule("└", "┴", "┘"));
        out
    }

    fn expanded(&self, width: usize) -> String {
        let label = self.headers.iter().map(|h| h.width()).max().unwrap_or(0);
        let value = width.saturating_sub(label + 3).max(MIN_WIDTH);
        let mut out = String::new();
        for r in 0..self.rows.len() {
            let title = format!("─[ row {} ]", r + 1);
            let fill = (label + 3 + value.min(40)).saturating_sub(title.width());
            out.push_str(&format!("{title}{}\n", "─".repeat(fill)));
            for (c, header) in self.headers.iter().enumerate() {
                out.push_str(&format!(
                    "{} │ {}\n",
                    pad(header, label, false),
                    cut(self.cell(r, c), value)
                ));
            }
        }
        out
    }
}

/// The line under a result cut at `\maxrows`.
pub fn more_rows(more: usize) -> String {
    format!(
        "… {more} more row{} (\\maxrows sets how many are shown)\n",
        if more == 1 { "" } else { "s" }
    )
}

/// The printed width of a boxed table with these column widths.
fn table_width(widths: &[usize]) -> usize {
    widths.iter().map(|w| w + 3).sum::<usize>() + 1
}

/// Column widths that fit `width`: the widest columns are narrowed first, none below
/// [`MIN_WIDTH`] (or its natural width when that is less). A table that still does not fit
/// overflows, for the pager to scroll sideways.
fn fit(natural: &[usize], width: usize) -> Vec<usize> {
    let mut widths = natural.to_vec();
    while table_width(&widths) > width {
        let Some((widest, w)) = widths
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, w)| *w > MIN_WIDTH)
            .max_by_key(|(i, w)| (*w, std::cmp::Reverse(*i)))
        else {
            break;
        };
        let excess = table_width(&widths) - width;
        // Narrow it to the next-widest column at most, so widths shrink together.
        let next = widths
            .iter()
            .copied()
            .filter(|x| *x < w)
            .max()
            .unwrap_or(MIN_WIDTH)
            .max(MIN_WIDTH);
        widths[widest] = (w - excess.min(w - next).max(1)).max(MIN_WIDTH);
    }
    widths
}

/// `text` cut to `width` display columns, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// Control characters inside a value would break the table's lines or reach the terminal
/// as commands: line breaks show as `↵`, the others as `�`.
fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' | '\r' => '↵',
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric() || matches!(data_type, DataType::Dictionary(_, v) if v.is_numeric())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray,
    };

    use super::*;

    fn grid() -> Grid {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "ticket",
                Arc::new(StringArray::from(vec![
                    Some("T-1"),
                    None,
                    Some("a rather long subject line\nwith a break"),
                ])) as ArrayRef,
            ),
            (
                "hours",
                Arc::new(Float64Array::from(vec![Some(3.5), Some(12.25), None])) as ArrayRef,
            ),
            (
                "at",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_772_442_000_000_000, 0, 1])
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut grid = Grid::new(&batch.schema());
        grid.push(&batch, 10).unwrap();
        grid
    }

    #[test]
    fn tables_are_boxed_with_numbers_right_and_nulls_named() {
        let text = grid().render(200, Expanded::Off, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("┌─"), "{text}");
        assert!(lines[1].starts_with("│ ticket"), "{text}");
        assert!(
            text.contains("│  3.5 │") || text.contains("│   3.5 │"),
            "{text}"
        );
        assert!(text.contains("│ NULL "), "{text}");
        assert!(text.contains("2026-03-02 09:00:00+00:00"), "{text}");
        assert!(text.contains("1970-01-01 00:00:00.000001+00:00"), "{text}");
        assert!(text.contains("subject line↵with"), "{text}");
        // Every line of the box is as wide as the first.
        let width = lines[0].width();
        assert!(lines.iter().all(|l| l.width() == width), "{text}");
    }

    #[test]
    fn wide_tables_are_cut_to_the_terminal() {
        let text = grid().render(50, Expanded::Off, 0);
        assert!(text.lines().all(|l| l.width() <= 50), "{text}");
        assert!(text.contains('…'), "{text}");
        assert!(text.contains("T-1"), "{text}");
    }

    #[test]
    fn auto_expands_only_what_does_not_fit() {
        assert!(grid().render(200, Expanded::Auto, 0).starts_with('┌'));
        // Cut, but every column still readable: a table.
        let cut = grid().render(70, Expanded::Auto, 0);
        assert!(cut.starts_with('┌') && cut.contains('…'), "{cut}");
        assert!(cut.lines().all(|l| l.width() <= 70), "{cut}");
        // Too narrow for that: a block per row.
        let expanded = grid().render(30, Expanded::Auto, 0);
        assert!(expanded.starts_with("─[ row 1 ]"), "{expanded}");
        assert!(expanded.contains("ticket │ T-1"), "{expanded}");
        assert!(expanded.contains("hours  │ NULL"), "{expanded}");
        assert!(expanded.lines().all(|l| l.width() <= 30), "{expanded}");
    }

    #[test]
    fn rows_left_out_are_counted() {
        let text = grid().render(200, Expanded::Off, 7);
        assert!(text.ends_with("… 7 more rows (\\maxrows sets how many are shown)\n"));
    }

    #[test]
    fn fitting_narrows_the_widest_first() {
        assert_eq!(fit(&[3, 40, 10], 200), vec![3, 40, 10]);
        let widths = fit(&[3, 40, 10], 40);
        assert_eq!(table_width(&widths), 40);
        assert_eq!(widths[0], 3);
        assert!(widths[1] >= widths[2], "{widths:?}");
        // Too many columns to fit: each at the minimum, overflowing.
        assert!(fit(&[20; 30], 40).iter().all(|w| *w == MIN_WIDTH));
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
