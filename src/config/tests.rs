use std::path::Path;

use super::*;

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
