//! The SLA screens: the board of open clocks (`kpi sla board`) and one ticket's timeline
//! (`kpi sla show`). Both are queries over a session's SLA views, printed for people (coloured
//! on a terminal, plain on a pipe) or, for the board, as CSV/JSON for programs.

use std::io::Write;

use comfy_table::{presets, Cell, CellAlignment, Color, Table};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{col, lit};

use super::format::{Format, OutputError, Printer};
use crate::session::Session;
use crate::tables::vocab::sql_list;
use crate::tables::Status;

/// What the board groups open tickets by: a column of `tickets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BoardGroup {
    #[default]
    Team,
    Assignee,
    Inbox,
    Priority,
}

impl BoardGroup {
    fn column(self) -> &'static str {
        match self {
            BoardGroup::Team => "team",
            BoardGroup::Assignee => "assignee",
            BoardGroup::Inbox => "inbox",
            BoardGroup::Priority => "priority",
        }
    }
}

/// Errors of the SLA screens.
#[derive(Debug, thiserror::Error)]
pub enum SlaScreenError {
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error("cannot write: {0}")]
    Output(#[from] OutputError),
    /// `kpi sla show` of a ticket the tables do not have.
    #[error("no ticket '{ticket}'{} in tickets{}", source_note(.source_system), as_of_note(.as_of))]
    NoTicket {
        ticket: String,
        source_system: Option<String>,
        as_of: Option<String>,
    },
}

fn source_note(source: &Option<String>) -> String {
    source
        .as_ref()
        .map(|s| format!(" from source '{s}'"))
        .unwrap_or_default()
}

fn as_of_note(as_of: &Option<String>) -> String {
    as_of
        .as_ref()
        .map(|t| format!(" created by {t}"))
        .unwrap_or_default()
}

impl From<std::io::Error> for SlaScreenError {
    fn from(e: std::io::Error) -> Self {
        SlaScreenError::Output(OutputError::Io(e))
    }
}

/// The board's rows: every open ticket's (not resolved or closed as of the session's instant)
/// most urgent running or paused clock, grouped by `by`, least remaining business time first.
/// Columns: the group column, `ticket_id`, `source_system`, `priority` (unless grouped by it),
/// `status`, `metric`, `occurrence`, `due_at`, `remaining_seconds`, `state` (`overdue`,
/// `at risk`, `paused`, `on track`).
pub async fn board_rows(session: &Session, by: BoardGroup) -> Result<Vec<RecordBatch>> {
    let group = by.column();
    // `group` is one of four fixed column names, never user text.
    // The ticket's priority, unless the board is grouped by it.
    let priority = if by == BoardGroup::Priority {
        ""
    } else {
        " t.priority,"
    };
    let done = sql_list(Status::RESOLVED);
    let sql = format!(
        "SELECT t.{group} AS {group}, c.ticket_id, c.source_system,{priority} now.status, c.metric,
            c.occurrence, c.due_at, c.remaining_seconds,
            CASE WHEN c.breached THEN 'overdue' WHEN c.at_risk THEN 'at risk'
                 WHEN c.stage = 'paused' THEN 'paused' ELSE 'on track' END AS state
        FROM (
            SELECT ticket_id, source_system, metric, occurrence, due_at, remaining_seconds,
                breached, at_risk, stage,
                row_number() OVER (PARTITION BY ticket_id, source_system
                                   ORDER BY remaining_seconds, metric, occurrence) AS _rank
            FROM ticket_sla WHERE stopped_at IS NULL
        ) c
        JOIN tickets t ON t.ticket_id = c.ticket_id AND t.source_system = c.source_system
        JOIN ticket_status_intervals now ON now.ticket_id = c.ticket_id
            AND now.source_system = c.source_system AND now.left_at IS NULL
        WHERE c._rank = 1 AND now.status NOT IN {done}
        ORDER BY t.{group} NULLS LAST, c.remaining_seconds, c.ticket_id, c.source_system"
    );
    session.sql(&sql).await?.collect().await
}

/// Print the board: grouped tables with coloured states (`colour`) for [`Format::Table`], the
/// rows as they are otherwise.
pub fn print_board(
    batches: &[RecordBatch],
    by: BoardGroup,
    format: Format,
    colour: bool,
    out: &mut dyn Write,
) -> Result<(), SlaScreenError> {
    if format != Format::Table {
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => return Ok(()),
        };
        let mut printer = Printer::new(schema, format, out);
        for batch in batches {
            printer.batch(batch)?;
        }
        printer.finish()?;
        return Ok(());
    }
    let rows = text_rows(batches)?;
    let schema = match batches.first() {
        Some(batch) if !rows.is_empty() => batch.schema(),
        _ => {
            writeln!(out, "no open SLA clocks")?;
            return Ok(());
        }
    };
    let at = |name: &str| schema.index_of(name).map_err(DataFusionError::from);
    let (ticket, source, status, metric, occurrence, due, left, state) = (
        at("ticket_id")?,
        at("source_system")?,
        at("status")?,
        at("metric")?,
        at("occurrence")?,
        at("due_at")?,
        at("remaining_seconds")?,
        at("state")?,
    );
    let priority = schema.index_of("priority").ok().filter(|&i| i != 0);
    let mut start = 0;
    while start < rows.len() {
        let group = &rows[start][0];
        let end = start + rows[start..].iter().take_while(|r| &r[0] == group).count();
        let count = |word: &str| rows[start..end].iter().filter(|r| r[state] == word).count();
        let name = if group == "NULL" { "(none)" } else { group };
        writeln!(
            out,
            "{}: {name} — {} open, {} overdue, {} at risk",
            by.column(),
            end - start,
            count("overdue"),
            count("at risk")
        )?;
        let mut table = new_table(colour);
        let mut header = vec!["ticket", "source"];
        if priority.is_some() {
            header.push("priority");
        }
        header.extend(["status", "clock", "due", "remaining", "state"]);
        table.set_header(header);
        for row in &rows[start..end] {
            let clock = if row[metric] == "next_reply" {
                format!("{} #{}", row[metric], row[occurrence])
            } else {
                row[metric].clone()
            };
            let cell = Cell::new(&row[state]);
            let cell = match (colour, row[state].as_str()) {
                (false, _) => cell,
                (true, "overdue") => cell.fg(Color::Red),
                (true, "at risk") => cell.fg(Color::Yellow),
                (true, "paused") => cell.fg(Color::Blue),
                (true, _) => cell.fg(Color::Green),
            };
            let mut cells = vec![Cell::new(&row[ticket]), Cell::new(&row[source])];
            if let Some(p) = priority {
                cells.push(Cell::new(&row[p]));
            }
            cells.extend([
                Cell::new(&row[status]),
                Cell::new(clock),
                Cell::new(if row[due] == "NULL" {
                    "(paused)"
                } else {
                    &row[due]
                }),
                Cell::new(seconds_text(&row[left])).set_alignment(CellAlignment::Right),
                cell,
            ]);
            table.add_row(cells);
        }
        writeln!(out, "{table}")?;
        start = end;
    }
    Ok(())
}

/// A signed amount of business seconds for people: `2h 05m`, `-0h 20m`, `26h 00m`.
pub fn duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    format!("{sign}{}h {:02}m", s / 3600, s % 3600 / 60)
}

/// Every cell as text, as Arrow displays it (`NULL` for nulls).
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok(rows)
}

/// Print the timeline of ticket `ticket` (of source `source_system`, or every source that
/// has that id): its attributes and policy, its status stays with business time and pauses,
/// and each SLA clock with its due time and stage.
pub async fn show<W: Write>(
    session: &Session,
    ticket: &str,
    source_system: Option<&str>,
    colour: bool,
    out: &mut W,
) -> Result<(), SlaScreenError> {
    let ctx = session.context();
    let mut key = col("ticket_id").eq(lit(ticket));
    if let Some(source) = source_system {
        key = key.and(col("source_system").eq(lit(source)));
    }
    let as_of = session.options().as_of;
    let tickets = ctx.table("tickets").await?.filter(key)?;
    let tickets = tickets
        .select_columns(&[
            "source_system",
            "team",
            "priority",
            "channel",
            "inbox",
            "assignee",
            "created_at",
        ])?
        .sort(vec![col("source_system").sort(true, true)])?
        .collect()
        .await?;
    let tickets = text_rows(&tickets)?;
    let mut shown = 0;
    let when = as_of.map_or_else(|| "now".to_string(), |t| t.to_rfc3339());
    for t in &tickets {
        let source = &t[0];
        let key = col("ticket_id")
            .eq(lit(ticket))
            .and(col("source_system").eq(lit(source.as_str())));
        let stays = ctx
            .table("ticket_status_intervals")
            .await?
            .filter(key.clone())?
            .select_columns(&[
                "stay",
                "status",
                "entered_at",
                "left_at",
                "seconds",
                "business_seconds",
                "pauses",
                "calendar",
            ])?
            .sort(vec![col("stay").sort(true, true)])?
            .collect()
            .await?;
        let clocks = ctx
            .table("ticket_sla")
            .await?
            .filter(key)?
            .select_columns(&[
                "metric",
                "occurrence",
                "policy",
                "started_at",
                "stopped_at",
                "due_at",
                "target_seconds",
                "business_elapsed_seconds",
                "business_paused_seconds",
                "remaining_seconds",
                "stage",
                "at_risk",
            ])?
            .sort(vec![
                col("started_at").sort(true, true),
                col("metric").sort(true, true),
                col("occurrence").sort(true, true),
            ])?
            .collect()
            .await?;
        let stays = text_rows(&stays)?;
        let clocks = text_rows(&clocks)?;
        // A ticket created after the as-of instant did not exist yet: it has no stays.
        if stays.is_empty() {
            continue;
        }
        if shown > 0 {
            writeln!(out)?;
        }
        shown += 1;
        let policy = clocks.first().map_or("none", |c| c[2].as_str());
        let calendar = stays.first().map_or("none", |s| s[7].as_str());
        writeln!(out, "ticket {ticket} ({source}), as of {when}")?;
        writeln!(
            out,
            "policy {policy} · calendar {calendar} · team {} · priority {} · channel {} · inbox {} · assignee {} · created {}",
            t[1], t[2], t[3], t[4], t[5], t[6]
        )?;
        writeln!(out, "\nstatus stays")?;
        let mut table = new_table(colour);
        table.set_header([
            "#", "status", "entered", "left", "elapsed", "business", "pauses",
        ]);
        for s in &stays {
            table.add_row(vec![
                Cell::new(&s[0]),
                Cell::new(&s[1]),
                Cell::new(&s[2]),
                Cell::new(if s[3] == "NULL" { "(current)" } else { &s[3] }),
                Cell::new(seconds_text(&s[4])).set_alignment(CellAlignment::Right),
                Cell::new(seconds_text(&s[5])).set_alignment(CellAlignment::Right),
                Cell::new(if s[6] == "true" { "paused" } else { "" }),
            ]);
        }
        writeln!(out, "{table}")?;
        writeln!(out, "\nSLA clocks (business time)")?;
        if clocks.is_empty() {
            writeln!(out, "none: no SLA policy applies to this ticket")?;
            continue;
        }
        let mut table = new_table(colour);
        table.set_header([
            "clock",
            "started",
            "stopped",
            "due",
            "target",
            "elapsed",
            "paused",
            "remaining",
            "stage",
        ]);
        for c in &clocks {
            let clock = if c[0] == "next_reply" {
                format!("{} #{}", c[0], c[1])
            } else {
                c[0].clone()
            };
            let stage = if c[11] == "true" {
                format!("{} (at risk)", c[10])
            } else {
                c[10].clone()
            };
            let cell = Cell::new(&stage);
            let cell = match (colour, c[10].as_str(), c[11].as_str()) {
                (false, _, _) => cell,
                (true, "breached", _) => cell.fg(Color::Red),
                (true, _, "true") => cell.fg(Color::Yellow),
                (true, "met", _) => cell.fg(Color::Green),
                (true, _, _) => cell.fg(Color::Blue),
            };
            table.add_row(vec![
                Cell::new(clock),
                Cell::new(&c[3]),
                Cell::new(if c[4] == "NULL" { "(running)" } else { &c[4] }),
                Cell::new(if c[5] == "NULL" { "(paused)" } else { &c[5] }),
                Cell::new(seconds_text(&c[6])).set_alignment(CellAlignment::Right),
                Cell::new(seconds_text(&c[7])).set_alignment(CellAlignment::Right),
                Cell::new(seconds_text(&c[8])).set_alignment(CellAlignment::Right),
                Cell::new(seconds_text(&c[9])).set_alignment(CellAlignment::Right),
                cell,
            ]);
        }
        writeln!(out, "{table}")?;
    }
    if shown == 0 {
        return Err(SlaScreenError::NoTicket {
            ticket: ticket.to_string(),
            source_system: source_system.map(str::to_string),
            as_of: as_of.map(|t| t.to_rfc3339()),
        });
    }
    Ok(())
}

fn new_table(colour: bool) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// A number of seconds as shown by Arrow, as a [`duration`]; other text as it is.
fn seconds_text(text: &str) -> String {
    text.parse::<i64>()
        .map_or_else(|_| text.to_string(), duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0h 00m");
        assert_eq!(duration(7500), "2h 05m");
        assert_eq!(duration(-1200), "-0h 20m");
        assert_eq!(duration(97_200), "27h 00m");
        assert_eq!(seconds_text("NULL"), "NULL");
    }
}
