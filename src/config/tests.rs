use std::path::Path;

use chrono::NaiveDate;

use super::*;
use crate::tables::{SlaMetric, Status};

const EXAMPLE: &str = r#"
default_calendar = "br-sp"

[calendars.br-sp]
timezone = "America/Sao_Paulo"
hours = { mon = ["08:00-12:00", "13:00-18:00"], tue = ["08:00-12:00", "13:00-18:00"],
          wed = ["08:00-12:00", "13:00-18:00"], thu = ["08:00-12:00", "13:00-18:00"],
          fri = ["08:00-12:00", "13:00-17:00"] }
holiday_sets = ["BR"]                         # built-in rule sets
holidays = ["2026-01-25"]                     # extra full-day closures (local dates)
closures = ["2026-12-24 12:00-24:00"]         # partial-day closures

[calendars.night-ops]
timezone = "Europe/Berlin"
hours = { mon = ["22:00-06:00"], tue = ["22:00-06:00"], sat = ["00:00-24:00"] }
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("ws/kpi.toml"), text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_documented_example_parses() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.default_calendar.as_deref(), Some("br-sp"));
    let names: Vec<&str> = config.calendars.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["br-sp", "night-ops"]);
    assert_eq!(config.data_dir, Path::new("ws/data"));
}

#[test]
fn unknown_keys_name_the_file_line_and_key() {
    let err = error("default_calender = \"x\"\n");
    assert!(
        err.starts_with("ws/kpi.toml:1:1: unknown field `default_calender`"),
        "{err}"
    );
    let err = error(
        "[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\nholydays = []\n",
    );
    assert!(
        err.starts_with("ws/kpi.toml:4:1: calendars.a: unknown field `holydays`"),
        "{err}"
    );
    let err = error(
        "[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"], mond = [] }\n",
    );
    assert!(err.contains("ws/kpi.toml:3:"), "{err}");
    assert!(err.contains("unknown field `mond`"), "{err}");
}

#[test]
fn bad_values_name_the_key_and_value() {
    let cal = |body: &str| {
        format!(
            "[calendars.a]\ntimezone = \"UTC\"\nhours = {{ mon = [\"09:00-17:00\"] }}\n{body}\n"
        )
    };
    let err = error(
        "[calendars.a]\ntimezone = \"America/Sao_Pablo\"\nhours = { mon = [\"09:00-17:00\"] }\n",
    );
    assert!(
        err.starts_with(
            "ws/kpi.toml:2:12: calendars.a.timezone: unknown time zone 'America/Sao_Pablo'"
        ),
        "{err}"
    );
    let err = error(
        "[calendars.a]\ntimezone = \"america/sao_paulo\"\nhours = { mon = [\"09:00-17:00\"] }\n",
    );
    assert!(err.contains("did you mean 'America/Sao_Paulo'?"), "{err}");
    let err = error("[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-25:00\"] }\n");
    assert!(
        err.starts_with("ws/kpi.toml:3:18: calendars.a.hours.mon: invalid time '25:00'"),
        "{err}"
    );
    let err = error(
        "[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-13:00\", \"12:00-17:00\"] }\n",
    );
    assert!(
        err.contains("calendars.a.hours: '09:00-13:00' and '12:00-17:00' overlap on mon"),
        "{err}"
    );
    let err = error("[calendars.a]\ntimezone = \"UTC\"\nhours = {}\n");
    assert!(
        err.contains("calendar 'a' has no working hours on any day"),
        "{err}"
    );
    let err = error(&cal("holiday_sets = [\"BR\", \"US\"]"));
    assert!(err.starts_with("ws/kpi.toml:4:23: calendars.a.holiday_sets: unknown holiday set 'US'; known: BR, BR-optional"), "{err}");
    let err = error(&cal("holidays = [\"2026-02-30\"]"));
    assert!(
        err.contains("calendars.a.holidays: invalid date '2026-02-30'"),
        "{err}"
    );
    let err = error(&cal("closures = [\"2026-12-24 12:00\"]"));
    assert!(
        err.contains("calendars.a.closures: invalid time range '2026-12-24 12:00'"),
        "{err}"
    );
    let err = error(&cal(
        "closures = [\"2026-12-24 12:00-18:00\", \"2026-12-24 17:00-24:00\"]",
    ));
    assert!(err.contains("overlap on 2026-12-24"), "{err}");
    let err = error(&cal("holiday_files = [\"missing.csv\"]"));
    assert!(
        err.contains("calendars.a.holiday_files: cannot read holiday file"),
        "{err}"
    );
    assert!(err.contains("missing.csv"), "{err}");
    let err = error(&cal("timezone = \"UTC\""));
    assert!(err.contains("duplicate key"), "{err}");
    let err = error("default_calendar = \"b\"\n[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\n");
    assert!(
        err.starts_with("ws/kpi.toml:1:20: default_calendar: unknown calendar 'b'; known: a"),
        "{err}"
    );
    let err = error("[calendars.a]\nhours = { mon = [\"09:00-17:00\"] }\n");
    assert!(err.contains("missing field `timezone`"), "{err}");
    let err = error("data_dir = 3\n");
    assert!(err.starts_with("ws/kpi.toml:1:12: "), "{err}");
}

#[test]
fn holiday_files_load_relative_to_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sp.csv"),
        "date,name\n2026-01-25,Aniversário de São Paulo\n",
    )
    .unwrap();
    let text = "[calendars.a]\ntimezone = \"America/Sao_Paulo\"\nhours = { sun = [\"09:00-17:00\"] }\nholiday_files = [\"sp.csv\"]\n";
    let config = Config::parse(&dir.path().join("kpi.toml"), text).unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 25).unwrap();
    assert_eq!(
        config.calendars[0].holiday(date),
        Some("Aniversário de São Paulo")
    );
    std::fs::write(dir.path().join("sp.csv"), "date,name\n2026-01-32,Bad\n").unwrap();
    let err = Config::parse(&dir.path().join("kpi.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sp.csv:2"), "{err}");
    assert!(err.contains("2026-01-32"), "{err}");
}

const SOURCE: &str = r#"
[sources.helpdesk]
shape = "tickets"
delimiter = ";"
encoding = "windows-1252"
timezone = "America/Sao_Paulo"
timestamp_formats = ["%d/%m/%Y %H:%M", "rfc3339"]
null_values = ["", "?", "NULL"]

[sources.helpdesk.columns]
ticket_id = "Ticket ID"
created_at = "Create date"
status = "Status"
assignee = { header = "Name", occurrence = 2 }

[sources.helpdesk.values.status]
"Waiting on contact" = "pending"

[sources.helpdesk.constants]
channel = "email"

[sources.audit]
shape = "snapshots"
format = "ndjson"
source_system = "servicenow"
columns = { ticket_id = "number", created_at = "opened_at", status = "state", updated_at = "sys_updated_on", sequence = "sys_mod_count" }
"#;

#[test]
fn source_mappings_parse() {
    let config = parse(SOURCE).unwrap();
    let names: Vec<_> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["helpdesk", "audit"]);
    let helpdesk = &config.sources[0];
    assert_eq!(helpdesk.shape, Shape::Tickets);
    assert_eq!(
        helpdesk.format,
        InputFormat::Csv(CsvOptions {
            delimiter: b';',
            quote: b'"',
            encoding: "windows-1252".into()
        })
    );
    assert_eq!(helpdesk.source_system, "helpdesk");
    assert_eq!(helpdesk.null_values, ["", "?", "NULL"]);
    let columns: Vec<_> = helpdesk.columns.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(columns, ["ticket_id", "created_at", "status", "assignee"]);
    assert_eq!(
        helpdesk.columns[3].1,
        ColumnRef {
            occurrence: 2,
            ..ColumnRef::single("Name")
        }
    );
    assert_eq!(helpdesk.values["status"]["Waiting on contact"], "pending");
    assert_eq!(helpdesk.constants["channel"], "email");
    let audit = &config.sources[1];
    assert_eq!(
        (audit.shape, &audit.format, audit.source_system.as_str()),
        (Shape::Snapshots, &InputFormat::Ndjson, "servicenow")
    );
}

#[test]
fn combined_columns_skipped_values_and_timestamp_ranges() {
    let text = SOURCE
        .replace(
            "status = \"Status\"",
            "status = { headers = [\"Status\", \"Sub Status\"], join = \" / \" }",
        )
        .replace("= \"pending\"", "= \"pending\"\n\"-100\" = \"skip\"")
        .replace(
            "null_values",
            "timestamp_range = [\"2000-01-01\", \"2030-12-31\"]\nnull_values",
        );
    let config = parse(&text).unwrap();
    let helpdesk = &config.sources[0];
    let status = &helpdesk.columns[2].1;
    assert_eq!(
        status.parts().collect::<Vec<_>>(),
        [("Status", 1), ("Sub Status", 1)]
    );
    assert_eq!(
        (status.join.as_str(), status.label()),
        (" / ", "Status+Sub Status".into())
    );
    assert_eq!(helpdesk.values["status"]["-100"], "skip");
    assert_eq!(
        helpdesk.timestamp_range,
        crate::config::TimestampRange {
            from: 946_684_800_000_000,
            until: 1_924_992_000_000_000
        }
    );
    assert_eq!(config.sources[1].timestamp_range, Default::default());
}

#[test]
fn bad_source_mappings_name_the_key_and_value() {
    let cases = [
        (
            SOURCE.replace("shape = \"tickets\"", "shape = \"rows\""),
            "ws/kpi.toml:3:9: sources.helpdesk.shape: unknown shape 'rows' (use tickets, events or snapshots)",
        ),
        (
            SOURCE.replace("delimiter = \";\"", "delimiter = \";;\""),
            "sources.helpdesk.delimiter: ';;' is not a single ASCII character",
        ),
        (
            SOURCE.replace("\"windows-1252\"", "\"ebcdic\""),
            "sources.helpdesk.encoding: unknown encoding 'ebcdic'",
        ),
        (
            SOURCE.replace("\"%d/%m/%Y %H:%M\"", "\"dd/mm/yyyy\""),
            "sources.helpdesk.timestamp_formats: unknown timestamp format 'dd/mm/yyyy'",
        ),
        (
            SOURCE.replace("ticket_id = \"Ticket ID\"", "ticket = \"Ticket ID\""),
            "sources.helpdesk.columns.ticket: unknown column 'ticket' for a tickets source; known: ticket_id,",
        ),
        (
            SOURCE.replace("= \"pending\"", "= \"waiting\""),
            "sources.helpdesk.values.status: 'Waiting on contact' maps to 'waiting', which is not a canonical status",
        ),
        (
            SOURCE.replace("[sources.helpdesk.values.status]", "[sources.helpdesk.values.team]"),
            "sources.helpdesk.values.team: values can be mapped for status, priority,",
        ),
        (
            SOURCE.replace("channel = \"email\"", "status = \"open\""),
            "sources.helpdesk.constants.status: 'status' is both mapped to a column and given a constant",
        ),
        (
            SOURCE.replace("created_at = \"Create date\"\n", ""),
            "ws/kpi.toml:2:1: sources.helpdesk: a tickets source needs 'created_at'",
        ),
        (
            SOURCE.replace("updated_at = \"sys_updated_on\"", "actor = \"sys_updated_by\""),
            "sources.audit: a snapshots source needs 'updated_at'",
        ),
        (
            SOURCE.replace("format = \"ndjson\"", "format = \"ndjson\"\nquote = \"'\""),
            "sources.audit.quote: 'quote' applies to csv sources only, this one is ndjson",
        ),
        (
            SOURCE.replace("format = \"ndjson\"", "format = \"xlsx\""),
            "sources.audit.format: unknown format 'xlsx' (use csv, ndjson or parquet)",
        ),
        (
            SOURCE.replace("format = \"ndjson\"", "format = \"ndjson\"\nderive_tickets = false"),
            "sources.audit.derive_tickets: 'derive_tickets' applies to events sources only, this one is snapshots",
        ),
        (
            SOURCE.replace("null_values", "nulls"),
            "unknown field `nulls`",
        ),
        (
            SOURCE.replace("status = \"Status\"", "status = { headers = [\"Status\"] }"),
            "sources.helpdesk.columns.status: 'headers' combines two or more headers",
        ),
        (
            SOURCE.replace("occurrence = 2 }", "occurrence = 2, join = \"-\" }"),
            "sources.helpdesk.columns.assignee: expected { header = \"…\", occurrence = N } or",
        ),
        (
            SOURCE.replace("null_values", "timestamp_range = [\"2026-01-01\"]\nnull_values"),
            "sources.helpdesk.timestamp_range: expected [\"first day\", \"last day\"]",
        ),
        (
            SOURCE.replace(
                "null_values",
                "timestamp_range = [\"2026-02-01\", \"2026-01-31\"]\nnull_values",
            ),
            "sources.helpdesk.timestamp_range: the last day 2026-01-31 is before the first day",
        ),
        (
            SOURCE.replace("null_values", "timestamp_range = [\"1990\", \"2030-01-01\"]\nnull_values"),
            "sources.helpdesk.timestamp_range: '1990' is not a date (YYYY-MM-DD)",
        ),
    ];
    for (text, expected) in cases {
        let err = error(&text);
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}

/// The policies of the SLA issue, as written there.
const POLICIES: &str = r#"
[sla]
at_risk_share = 0.25

[[sla.policies]]
name = "urgent"
when = "priority = 'urgent'"
calendar = "br-sp"
pause_statuses = ["pending", "on_hold"]
targets = { first_response = "30m", next_reply = "2h", resolution = "8h" }
valid_from = "2026-01-01"

[[sla.policies]]
name = "standard"
when = "channel IN ('email', 'portal')"
targets = { first_response = "4h", resolution = "3bd" }
business_day = "9h"
"#;

fn with_policies(policies: &str) -> Result<Config, ConfigError> {
    parse(&format!("{EXAMPLE}{policies}"))
}

#[test]
fn sla_policies_parse_in_file_order_with_targets_in_seconds() {
    let config = with_policies(POLICIES).unwrap();
    let sla = &config.sla;
    assert_eq!(sla.at_risk_share, 0.25);
    let urgent = &sla.policies[0];
    assert_eq!((urgent.name.as_str(), urgent.position), ("urgent", 1));
    assert_eq!(urgent.calendar.as_deref(), Some("br-sp"));
    assert_eq!(urgent.pause_statuses, [Status::Pending, Status::OnHold]);
    assert_eq!(urgent.targets[&SlaMetric::FirstResponse], 1800);
    assert_eq!(urgent.targets[&SlaMetric::NextReply], 7200);
    assert_eq!(urgent.targets[&SlaMetric::Resolution], 8 * 3600);
    assert_eq!(urgent.valid_from, NaiveDate::from_ymd_opt(2026, 1, 1));
    let when = urgent.when.as_ref().unwrap();
    assert_eq!((when.sql.as_str(), when.line), ("priority = 'urgent'", 22));
    let standard = &sla.policies[1];
    assert_eq!(standard.calendar, None, "the default calendar");
    assert_eq!(standard.targets[&SlaMetric::Resolution], 3 * 9 * 3600);
    assert!(!standard.targets.contains_key(&SlaMetric::NextReply));
    assert_eq!(standard.resolution_stop, ResolutionStop::Resolved);
    // No [sla] table: no policies.
    assert!(parse(EXAMPLE).unwrap().sla.policies.is_empty());
}

#[test]
fn sla_policy_errors_name_the_line_key_and_value() {
    let policy = |body: &str| format!("\n[[sla.policies]]\nname = \"p\"\n{body}\n");
    let cases: &[(&str, &str)] = &[
        (
            "targets = { first_response = \"4x\" }",
            "sla.policies.p.targets.first_response: invalid duration '4x'",
        ),
        (
            "targets = { first_reply = \"4h\" }",
            "unknown metric 'first_reply'; known: first_response, next_reply, resolution, first_resolution",
        ),
        (
            "targets = { resolution = \"3bd\" }",
            "needs the policy's business_day",
        ),
        ("targets = {}", "sla.policies.p.targets: no targets"),
        (
            "calendar = \"br-rj\"\ntargets = { resolution = \"8h\" }",
            "sla.policies.p.calendar: unknown calendar 'br-rj'; known: br-sp, night-ops",
        ),
        (
            "pause_statuses = [\"waiting\"]\ntargets = { resolution = \"8h\" }",
            "unknown status 'waiting'; the canonical statuses are new, open, pending",
        ),
        (
            "pause_statuses = [\"resolved\"]\ntargets = { resolution = \"8h\" }",
            "'resolved' is a resolved status",
        ),
        (
            "valid_from = \"2026-07-01\"\nvalid_until = \"2026-01-01\"\ntargets = { resolution = \"8h\" }",
            "valid_until 2026-01-01 is not after valid_from 2026-07-01",
        ),
        (
            "valid_from = \"2026-02-30\"\ntargets = { resolution = \"8h\" }",
            "invalid date '2026-02-30'",
        ),
        (
            "resolution_stop = \"done\"\ntargets = { resolution = \"8h\" }",
            "unknown resolution_stop 'done'",
        ),
        (
            "when = \" \"\ntargets = { resolution = \"8h\" }",
            "an empty condition",
        ),
        (
            "business_day = \"25h\"\ntargets = { resolution = \"1bd\" }",
            "at most 24h",
        ),
        (
            "targets = { resolution = \"8h\" }\nwhen_not = \"x\"",
            "unknown field `when_not`",
        ),
    ];
    for (body, expected) in cases {
        let err = with_policies(&policy(body)).unwrap_err().to_string();
        assert!(err.starts_with("ws/kpi.toml:"), "{body}: {err}");
        assert!(
            err.contains(expected),
            "{body}:\n{err}\nexpected: {expected}"
        );
    }
    let err = with_policies("[sla]\nat_risk_share = 1.5\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sla.at_risk_share: 1.5 is not a share"),
        "{err}"
    );
}

#[test]
fn two_versions_of_a_policy_must_not_overlap() {
    let version = |from: &str, until: &str| {
        format!(
            "\n[[sla.policies]]\nname = \"std\"\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\ntargets = {{ resolution = \"8h\" }}\n"
        )
    };
    let ok = format!(
        "{}{}",
        version("2025-01-01", "2026-01-01"),
        version("2026-01-01", "2027-01-01")
    );
    let sla = with_policies(&ok).unwrap().sla;
    assert_eq!(sla.policies.len(), 2);
    let overlapping = format!(
        "{}{}",
        version("2025-01-01", "2026-02-01"),
        version("2026-01-01", "2027-01-01")
    );
    let err = with_policies(&overlapping).unwrap_err().to_string();
    assert!(
        err.contains("two versions of policy 'std' apply on the same days"),
        "{err}"
    );
    assert!(err.contains("the other is at line 17"), "{err}");
    // Without a default calendar, a policy must name one.
    let err = parse(
        "[calendars.a]\ntimezone = \"UTC\"\nhours = { mon = [\"09:00-17:00\"] }\n\
         [[sla.policies]]\nname = \"p\"\ntargets = { resolution = \"8h\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sla.policies.p.calendar: no calendar"),
        "{err}"
    );
}

#[test]
fn the_memory_limit_is_a_size() {
    assert_eq!(parse(EXAMPLE).unwrap().memory_limit, None);
    let config = parse(&format!("memory_limit = \"2G\"\n{EXAMPLE}")).unwrap();
    assert_eq!(config.memory_limit, Some(2 << 30));
    let config = parse(&format!("memory_limit = 67108864\n{EXAMPLE}")).unwrap();
    assert_eq!(config.memory_limit, Some(64 << 20));
    assert_eq!(
        error(&format!("memory_limit = \"2Q\"\n{EXAMPLE}")),
        "ws/kpi.toml:1:16: memory_limit: unknown unit in '2Q': use K, M, G or T"
    );
    assert!(error(&format!("memory_limit = \"1K\"\n{EXAMPLE}")).contains("too small"));
}

const TARGETS: &str = r#"
[targets]
focus_count = 2

[targets.kpis.csat]
baseline = "2026-Q1"
goal = 0.9
by = "2027-Q2"
ramp = { geometric = 0.5 }
tolerance = 0.02

[targets.kpis.reopen_rate]
baseline = 0.05
start = "2026-Q3"
goal = 0.03
by = "2027-Q2"
weight = 2

[targets.focus_override]
"2026-Q4" = ["csat"]

[review]
out_dir = "reports"
"#;

#[test]
fn targets_parse_with_their_defaults() {
    let text = format!("{EXAMPLE}{TARGETS}");
    let config = parse(&text).unwrap();
    let csat_line = text[..text.find("[targets.kpis.csat]").unwrap()]
        .matches('\n')
        .count()
        + 1;
    let t = &config.targets;
    assert_eq!(t.focus_count, 2);
    let csat = t.get("csat").unwrap();
    let q = |s: &str| crate::calendar::Quarter::parse(s).unwrap();
    assert_eq!(csat.baseline, Baseline::Quarter(q("2026-Q1")));
    assert_eq!((csat.start, csat.by), (q("2026-Q2"), q("2027-Q2")));
    assert_eq!(csat.ramp, Ramp::Geometric(0.5));
    assert_eq!((csat.tolerance, csat.weight), (0.02, 1.0));
    assert_eq!(csat.line, csat_line, "the line of [targets.kpis.csat]");
    let reopen = t.get("reopen_rate").unwrap();
    assert_eq!(
        (reopen.baseline, reopen.start),
        (Baseline::Value(0.05), q("2026-Q3"))
    );
    assert_eq!(
        (reopen.ramp, reopen.weight, reopen.tolerance),
        (Ramp::Linear, 2.0, 0.0)
    );
    assert_eq!(t.focus_override[&q("2026-Q4")].0, ["csat"]);
    assert_eq!(
        config.review.out_dir,
        Some(Path::new("ws/reports").to_path_buf())
    );
    assert_eq!(
        parse(EXAMPLE).unwrap().targets.focus_count,
        targets::FOCUS_COUNT
    );
}

#[test]
fn target_mistakes_name_the_line_key_and_value() {
    let cases = [
        (
            "baseline = \"2026-Q1\"",
            "baseline = \"2026Q1\"",
            "targets.kpis.csat.baseline: invalid quarter '2026Q1'",
        ),
        (
            "ramp = { geometric = 0.5 }",
            "ramp = { geometric = 1.5 }",
            "targets.kpis.csat.ramp: write { geometric = SHARE }",
        ),
        (
            "ramp = { geometric = 0.5 }",
            "ramp = \"steep\"",
            "\"steep\" is not a ramp",
        ),
        (
            "tolerance = 0.02",
            "tolerance = -1.0",
            "targets.kpis.csat.tolerance: must be 0 or more",
        ),
        (
            "weight = 2",
            "weight = 0",
            "targets.kpis.reopen_rate.weight: must be above 0",
        ),
        (
            "start = \"2026-Q3\"\n",
            "",
            "a numeric baseline needs the first quarter",
        ),
        (
            "by = \"2027-Q2\"\nramp",
            "by = \"2026-Q1\"\nramp",
            "targets.kpis.csat.by: 2026-Q1 is before the first target quarter 2026-Q2",
        ),
        (
            "focus_count = 2",
            "focus_count = 0",
            "targets.focus_count: 0 is not a number of KPIs",
        ),
        (
            "tolerance = 0.02",
            "tolerance = 0.02\ngoals = 1",
            "unknown field `goals`",
        ),
        (
            "\"2026-Q4\" = [\"csat\"]",
            "\"Q4\" = [\"csat\"]",
            "targets.focus_override.Q4: invalid quarter 'Q4'",
        ),
    ];
    for (from, to, message) in cases {
        let text = format!("{EXAMPLE}{}", TARGETS.replacen(from, to, 1));
        let err = error(&text);
        assert!(err.starts_with("ws/kpi.toml:"), "{err}");
        assert!(err.contains(message), "{to}: {err}");
    }
}
