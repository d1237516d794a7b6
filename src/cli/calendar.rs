//! `kpi calendar`: list calendars, show their days, measure business time between instants.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use clap::Subcommand;
use comfy_table::{presets, Table};

use kpi::calendar::{format_utc, local_to_utc, utc_to_local, MICROS};
use kpi::shell::calendar::{days, wall, DaysError, MAX_DAYS};
use kpi::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// List the workspace's calendars with their time zones.
    List,
    /// Print each day's business intervals (local wall time), business hours and holidays.
    Show {
        /// Calendar name (default: the workspace's default_calendar).
        name: Option<String>,
        /// First local date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last local date (inclusive), YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        to: String,
    },
    /// Business seconds and hours between two instants. Instants without an offset
    /// ("2026-03-02 08:00") are wall-clock times in the calendar's zone.
    Between {
        /// Calendar name.
        name: String,
        /// Start: RFC 3339 ("2026-03-02T11:00:00Z"), or local "YYYY-MM-DD[ HH:MM[:SS]]".
        start: String,
        /// End, in the same forms as START.
        end: String,
    },
}

pub fn run(ws: &Workspace, command: CalendarCommand) -> Result<ExitCode> {
    let mut out = super::output::stdout();
    let calendars = &ws.calendars;
    match command {
        CalendarCommand::List => {
            let mut table = Table::new();
            table.load_preset(presets::ASCII_MARKDOWN);
            table.set_header(["calendar", "timezone", "default"]);
            for name in calendars.names() {
                let cal = calendars.calendar(name)?;
                let default = if calendars.default_name() == Some(name) {
                    "yes"
                } else {
                    ""
                };
                table.add_row([name, cal.timezone().name(), default]);
            }
            writeln!(out, "{table}")?;
        }
        CalendarCommand::Show { name, from, to } => {
            let name = calendars.resolve(name.as_deref())?;
            let cal = calendars.calendar(name)?;
            let (from, to) = (parse_date(&from, "--from")?, parse_date(&to, "--to")?);
            let days = days(cal, from, to).map_err(|e| match e {
                DaysError::Backwards { from, to } => anyhow!("--to {to} is before --from {from}"),
                DaysError::TooLong { from, to } => anyhow!(
                    "--from {from} --to {to} spans more than {MAX_DAYS} days; show a shorter period"
                ),
            })?;
            writeln!(out, "calendar {name} ({})", cal.timezone().name())?;
            let mut table = Table::new();
            table.load_preset(presets::ASCII_MARKDOWN);
            table.set_header(["date", "day", "business hours (local)", "hours", "holiday"]);
            for day in &days {
                table.add_row([
                    day.date.to_string(),
                    day.date.format("%a").to_string(),
                    day.intervals.clone(),
                    format!("{:.2}", day.hours),
                    day.holiday.clone().unwrap_or_default(),
                ]);
            }
            writeln!(out, "{table}")?;
            let total: f64 = days.iter().map(|d| d.hours).sum();
            writeln!(out, "total: {total:.2} business hours")?;
        }
        CalendarCommand::Between { name, start, end } => {
            let cal = calendars.calendar(&name)?;
            let tz = cal.timezone();
            let a =
                parse_instant(&start, &tz).with_context(|| format!("invalid START '{start}'"))?;
            let b = parse_instant(&end, &tz).with_context(|| format!("invalid END '{end}'"))?;
            let index = calendars.index(&name, Some((a.min(b), a.max(b))))?;
            let micros = index.business_micros(a, b)?;
            let local = |t: i64| {
                utc_to_local(&tz, t)
                    .map(|(d, s)| format!("{d} {}", wall(s)))
                    .unwrap_or_default()
            };
            writeln!(out, "calendar:         {name} ({})", tz.name())?;
            writeln!(
                out,
                "start:            {} ({} local)",
                format_utc(a),
                local(a)
            )?;
            writeln!(
                out,
                "end:              {} ({} local)",
                format_utc(b),
                local(b)
            )?;
            writeln!(out, "business seconds: {}", micros / MICROS)?;
            writeln!(out, "business hours:   {:.4}", micros as f64 / 3.6e9)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn parse_date(text: &str, flag: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| anyhow!("{flag}: invalid date '{text}' (expected YYYY-MM-DD)"))
}

/// RFC 3339 with an offset, or a local wall time / date in `tz` (DST rules as everywhere).
fn parse_instant(text: &str, tz: &chrono_tz::Tz) -> Result<i64> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp_micros());
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(|| {
        anyhow!("expected RFC 3339 (2026-03-02T11:00:00Z) or local YYYY-MM-DD[ HH:MM[:SS]]")
    })?;
    // A second of 60 (a leap second) is the first instant of the next minute: its fraction
    // of a second starts at one whole second.
    let time = naive.time();
    let micros = local_to_utc(tz, naive.date(), time.num_seconds_from_midnight())
        .ok_or_else(|| anyhow!("outside the supported range of dates"))?;
    Ok(micros + i64::from(time.nanosecond() / 1000))
}
