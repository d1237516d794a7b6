use std::path::Path;

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn dates(hs: &[FileHoliday]) -> Vec<NaiveDate> {
    hs.iter().map(|h| h.date).collect()
}

// --- built-ins -----------------------------------------------------------

#[test]
fn easter_known_years() {
    for (y, m, day) in [
        (2024, 3, 31),
        (2025, 4, 20),
        (2026, 4, 5),
        (2027, 3, 28),
        (2038, 4, 25),
        (2000, 4, 23),
        (1990, 4, 15),
        (2008, 3, 23),
        (2285, 3, 22),
    ] {
        assert_eq!(easter_sunday(y), Some(d(y, m, day)), "year {y}");
    }
}

#[test]
fn easter_is_a_sunday_in_range() {
    for y in 1583..=4099 {
        let e = easter_sunday(y).unwrap();
        assert_eq!(e.weekday(), Weekday::Sun, "year {y}");
        assert!(e >= d(y, 3, 22) && e <= d(y, 4, 25), "year {y}: {e}");
    }
}

#[test]
fn easter_out_of_range_is_none_not_panic() {
    assert_eq!(easter_sunday(i32::MAX), None);
    assert_eq!(easter_sunday(i32::MIN), None);
    assert!(easter_sunday(-100).is_some());
}

#[test]
fn names_round_trip() {
    for (name, set) in BuiltinSet::ALL {
        assert_eq!(BuiltinSet::from_name(name), Some(set));
        assert_eq!(set.name(), name);
    }
    assert_eq!(BuiltinSet::from_name("br"), None);
    assert_eq!(BuiltinSet::from_name("US"), None);
}

#[test]
fn br_2026() {
    let expected = [
        (d(2026, 1, 1), "Confraternização Universal"),
        (d(2026, 4, 3), "Paixão de Cristo"),
        (d(2026, 4, 21), "Tiradentes"),
        (d(2026, 5, 1), "Dia do Trabalho"),
        (d(2026, 9, 7), "Independência do Brasil"),
        (d(2026, 10, 12), "Nossa Senhora Aparecida"),
        (d(2026, 11, 2), "Finados"),
        (d(2026, 11, 15), "Proclamação da República"),
        (
            d(2026, 11, 20),
            "Dia Nacional de Zumbi e da Consciência Negra",
        ),
        (d(2026, 12, 25), "Natal"),
    ];
    for (date, name) in expected {
        assert_eq!(BuiltinSet::Br.holiday(date), Some(name), "{date}");
        assert_eq!(BuiltinSet::BrOptional.holiday(date), None, "{date}");
    }
    // Exactly these ten days in the year.
    assert_eq!(days_of(BuiltinSet::Br, 2026), expected.len());
}

#[test]
fn br_optional_2026() {
    let expected = [
        (d(2026, 2, 16), "Carnaval (segunda-feira)"),
        (d(2026, 2, 17), "Carnaval (terça-feira)"),
        (d(2026, 6, 4), "Corpus Christi"),
    ];
    for (date, name) in expected {
        assert_eq!(BuiltinSet::BrOptional.holiday(date), Some(name), "{date}");
        assert_eq!(BuiltinSet::Br.holiday(date), None, "{date}");
    }
    assert_eq!(days_of(BuiltinSet::BrOptional, 2026), expected.len());
}

/// How many days of `year` are holidays of `set`.
fn days_of(set: BuiltinSet, year: i32) -> usize {
    let mut count = 0;
    let mut day = d(year, 1, 1);
    while day.year() == year {
        if set.holiday(day).is_some() {
            count += 1;
        }
        day = day.succ_opt().unwrap();
    }
    count
}

#[test]
fn br_history() {
    assert!(BuiltinSet::Br.holiday(d(2024, 11, 20)).is_some());
    assert_eq!(BuiltinSet::Br.holiday(d(2023, 11, 20)), None);
    assert_eq!(BuiltinSet::Br.holiday(d(1979, 10, 12)), None);
    assert!(BuiltinSet::Br.holiday(d(1980, 10, 12)).is_some());
    // Good Friday on Tiradentes (2000): still a holiday.
    assert_eq!(BuiltinSet::Br.holiday(d(2000, 4, 21)), Some("Tiradentes"));
}

#[test]
fn regular_day_is_none() {
    assert_eq!(BuiltinSet::Br.holiday(d(2026, 3, 10)), None);
    assert_eq!(BuiltinSet::BrOptional.holiday(d(2026, 3, 10)), None);
    // Extremes of chrono's range do not panic.
    assert_eq!(BuiltinSet::Br.holiday(NaiveDate::MAX), None);
    let _ = BuiltinSet::BrOptional.holiday(NaiveDate::MIN);
    let _ = BuiltinSet::Br.holiday(NaiveDate::MIN);
}

// --- CSV -----------------------------------------------------------------

fn csv(text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
    parse_holiday_csv(Path::new("holidays/sp.csv"), text)
}

#[test]
fn csv_with_header() {
    let hs = csv("Date,Name\n2026-01-25,Aniversário de São Paulo\n2026-07-09, Revolução Constitucionalista \n").unwrap();
    assert_eq!(
        hs,
        vec![
            FileHoliday {
                date: d(2026, 1, 25),
                name: Some("Aniversário de São Paulo".into()),
                line: 2
            },
            FileHoliday {
                date: d(2026, 7, 9),
                name: Some("Revolução Constitucionalista".into()),
                line: 3
            },
        ]
    );
}

#[test]
fn csv_without_header_and_optional_names() {
    let hs = csv("2026-01-25\n2026-07-09,\n2026-11-20,\"Consciência Negra, SP\"").unwrap();
    assert_eq!(
        dates(&hs),
        vec![d(2026, 1, 25), d(2026, 7, 9), d(2026, 11, 20)]
    );
    assert_eq!(hs[0].name, None);
    assert_eq!(hs[1].name, None);
    assert_eq!(hs[2].name.as_deref(), Some("Consciência Negra, SP"));
    assert_eq!(hs[2].line, 3);
}

#[test]
fn csv_bom_crlf() {
    let hs =
        csv("\u{feff}date,name\r\n2026-01-25,Aniversário\r\n2026-07-09,Revolução\r\n").unwrap();
    assert_eq!(dates(&hs), vec![d(2026, 1, 25), d(2026, 7, 9)]);
    assert_eq!(hs[1].name.as_deref(), Some("Revolução"));
    assert_eq!(hs[1].line, 3);
}

#[test]
fn csv_comments_and_blank_lines() {
    let text = "# São Paulo city holidays\n\ndate,name\n# a comment, with \"quotes\n\n   \n  # indented comment\n2026-01-25,Aniversário\n\n2026-07-09\n";
    let hs = csv(text).unwrap();
    assert_eq!(dates(&hs), vec![d(2026, 1, 25), d(2026, 7, 9)]);
    assert_eq!(hs[0].line, 8);
    assert_eq!(hs[1].line, 10);
}

#[test]
fn csv_empty_is_ok() {
    assert_eq!(csv("").unwrap(), vec![]);
    assert_eq!(csv("date,name\n").unwrap(), vec![]);
}

#[test]
fn csv_bad_date() {
    let err = csv("date,name\n2026-01-25,ok\n2026-13-01,bad\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "holidays/sp.csv:3: invalid date '2026-13-01' (expected YYYY-MM-DD)"
    );
    for bad in [
        "26-01-01",
        "2026/01/01",
        "2026-1-01",
        "01/02/2026",
        "2026-02-30",
        "+2026-01-01",
    ] {
        let err = csv(&format!("{bad},x\n")).unwrap_err();
        assert!(
            matches!(&err, HolidayFileError::CsvInvalidDate { line: 1, value, .. } if value == bad),
            "{bad}: {err}"
        );
    }
    // A header row that is not first is just a bad date.
    let err = csv("2026-01-01\ndate,name\n").unwrap_err();
    assert!(err.to_string().contains(":2: invalid date 'date'"), "{err}");
}

#[test]
fn csv_missing_date() {
    let err = csv("2026-01-01\n,Natal\n").unwrap_err();
    assert!(
        matches!(err, HolidayFileError::CsvMissingDate { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn csv_too_many_cells() {
    let err = csv("date,name\n2026-01-25,São Paulo,extra\n").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        err,
        HolidayFileError::CsvTooManyCells {
            line: 2,
            count: 3,
            ..
        }
    ));
    assert!(msg.starts_with("holidays/sp.csv:2: "), "{msg}");
}

// --- ICS -----------------------------------------------------------------

fn ics(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
}

fn parse_ics(text: &str) -> Result<Vec<FileHoliday>, HolidayFileError> {
    parse_holiday_ics(Path::new("holidays/feriados.ics"), text)
}

#[test]
fn ics_single_all_day_events() {
    let text = ics(concat!(
        "BEGIN:VEVENT\r\n",
        "UID:1\r\n",
        "SUMMARY:Aniversário de São Paulo\r\n",
        "DTSTART;VALUE=DATE:20260125\r\n", // line 7
        "DTEND;VALUE=DATE:20260126\r\n",
        "END:VEVENT\r\n",
        "BEGIN:VEVENT\r\n",
        "DTSTART:20260709\r\n", // line 11, bare 8-digit value, no DTEND
        "SUMMARY:Revolu\\, ção\r\n",
        "END:VEVENT\r\n",
    ));
    let hs = parse_ics(&text).unwrap();
    assert_eq!(
        hs,
        vec![
            FileHoliday {
                date: d(2026, 1, 25),
                name: Some("Aniversário de São Paulo".into()),
                line: 7
            },
            FileHoliday {
                date: d(2026, 7, 9),
                name: Some("Revolu, ção".into()),
                line: 11
            },
        ]
    );
}

#[test]
fn ics_multi_day_events() {
    let text = ics(concat!(
        "BEGIN:VEVENT\n",
        "DTSTART;VALUE=DATE:20261224\n",
        "DTEND;VALUE=DATE:20270102\n",
        "SUMMARY:Recesso\n",
        "END:VEVENT\n",
        "BEGIN:VEVENT\n",
        "DTSTART;VALUE=DATE:20260216\n",
        "DURATION:P2D\n",
        "END:VEVENT\n",
        "BEGIN:VEVENT\n",
        "DTSTART;VALUE=DATE:20260301\n",
        "DURATION:P1W\n",
        "SUMMARY:\n",
        "END:VEVENT\n",
    ));
    let hs = parse_ics(&text).unwrap();
    let got = dates(&hs);
    assert_eq!(got.len(), 9 + 2 + 7);
    assert_eq!(got[0], d(2026, 12, 24));
    assert_eq!(got[8], d(2027, 1, 1));
    assert_eq!(got[9..11], [d(2026, 2, 16), d(2026, 2, 17)]);
    assert_eq!(got[11], d(2026, 3, 1));
    assert_eq!(got[17], d(2026, 3, 7));
    assert!(hs[..9]
        .iter()
        .all(|h| h.name.as_deref() == Some("Recesso") && h.line == 5));
    assert!(hs[9..].iter().all(|h| h.name.is_none()));
}

#[test]
fn ics_folded_lines_and_nesting() {
    // Folded SUMMARY and DTSTART; a VTIMEZONE with timed DTSTART and RRULE
    // and a VALARM inside the event must be ignored.
    let text = concat!(
        "\u{feff}BEGIN:VCALENDAR\r\n", // 1
        "VERSION:2.0\r\n",
        "BEGIN:VTIMEZONE\r\n",
        "TZID:America/Sao_Paulo\r\n",
        "BEGIN:STANDARD\r\n", // 5
        "DTSTART:19700101T000000\r\n",
        "RRULE:FREQ=YEARLY\r\n",
        "END:STANDARD\r\n",
        "END:VTIMEZONE\r\n",
        "BEGIN:VEVENT\r\n", // 10
        "SUMMARY;LANGUAGE=pt-BR:Dia Nacional de Zumbi e da Con\r\n",
        " sciência Negra\r\n",
        "DTSTART;VALUE=DATE:2026\r\n", // 13
        "\t1120\r\n",
        "BEGIN:VALARM\r\n",
        "TRIGGER:-PT15M\r\n",
        "DTSTART:20261119T090000\r\n",
        "END:VALARM\r\n",
        "END:VEVENT\r\n",
        "END:VCALENDAR\r\n",
    );
    let hs = parse_ics(text).unwrap();
    assert_eq!(
        hs,
        vec![FileHoliday {
            date: d(2026, 11, 20),
            name: Some("Dia Nacional de Zumbi e da Consciência Negra".into()),
            line: 13
        }]
    );
}

#[test]
fn ics_timed_dtstart_is_error() {
    let text = ics(concat!(
        "BEGIN:VEVENT\r\n",
        "SUMMARY:Véspera de Natal\r\n",
        "DTSTART;TZID=America/Sao_Paulo:20261224T120000\r\n", // line 6
        "DTEND;TZID=America/Sao_Paulo:20261224T180000\r\n",
        "END:VEVENT\r\n",
    ));
    let err = parse_ics(&text).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, HolidayFileError::IcsTimedEvent { line: 6, .. }),
        "{msg}"
    );
    assert!(
        msg.starts_with("holidays/feriados.ics:6: event 'Véspera de Natal'"),
        "{msg}"
    );
    assert!(msg.contains("'20261224T120000'"), "{msg}");
    assert!(msg.contains("closures"), "{msg}");

    // A date DTSTART with a timed DTEND is also rejected.
    let text =
        ics("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261224\nDTEND:20261224T180000Z\nEND:VEVENT\n");
    let err = parse_ics(&text).unwrap_err();
    assert!(
        matches!(
            err,
            HolidayFileError::IcsTimedEvent {
                line: 6,
                property: "DTEND",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn ics_rrule_is_error() {
    let text = ics(concat!(
        "BEGIN:VEVENT\r\n",
        "SUMMARY:Natal\r\n",
        "DTSTART;VALUE=DATE:20261225\r\n",
        "RRULE:FREQ=YEARLY\r\n", // line 7
        "END:VEVENT\r\n",
    ));
    let err = parse_ics(&text).unwrap_err();
    assert_eq!(
            err.to_string(),
            "holidays/feriados.ics:7: event 'Natal' has a recurrence rule (RRULE); recurring events are not supported in holiday files, list each date"
        );
}

#[test]
fn ics_bad_date_is_error() {
    let text = ics(concat!(
        "BEGIN:VEVENT\n",
        "SUMMARY:x\n",
        "DTSTART;VALUE=DATE:20261301\n", // line 6
        "END:VEVENT\n",
    ));
    let err = parse_ics(&text).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("holidays/feriados.ics:6: invalid date '20261301' in DTSTART"),
        "{msg}"
    );
    for bad in ["2026-12-25", "2026125", "", "abcdefgh"] {
        let text = ics(&format!(
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:{bad}\nEND:VEVENT\n"
        ));
        let err = parse_ics(&text).unwrap_err();
        assert!(
            matches!(&err, HolidayFileError::IcsInvalidDate { line: 5, value, .. } if value == bad),
            "{bad}: {err}"
        );
    }
}

#[test]
fn ics_other_errors() {
    let cases: [(&str, usize); 5] = [
        // DTEND before DTSTART
        (
            "BEGIN:VEVENT\nDTSTART:20261225\nDTEND:20261220\nEND:VEVENT\n",
            6,
        ),
        // unsupported duration
        (
            "BEGIN:VEVENT\nDTSTART:20261225\nDURATION:PT4H\nEND:VEVENT\n",
            6,
        ),
        // absurd span
        (
            "BEGIN:VEVENT\nDTSTART:20260101\nDTEND:30260101\nEND:VEVENT\n",
            6,
        ),
        // unclosed event, reported at the mismatching END:VCALENDAR
        ("BEGIN:VEVENT\nDTSTART:20261225\n", 6),
        // line without a colon
        ("BEGIN:VEVENT\nDTSTART 20261225\nEND:VEVENT\n", 5),
    ];
    for (body, line) in cases {
        let err = parse_ics(&ics(body)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("holidays/feriados.ics:{line}: ")),
            "{msg}"
        );
    }
    let err = parse_ics("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261225\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("holidays/feriados.ics:2: BEGIN:VEVENT is never closed"),
        "{err}"
    );
    let err = parse_ics("date,name\n2026-01-01,x\n").unwrap_err();
    assert_eq!(
            err.to_string(),
            "holidays/feriados.ics:1: expected BEGIN:VCALENDAR, found 'date,name'; is this an iCalendar file?"
        );
    let err = parse_ics(&format!("{}X-TRAILING:1\n", ics(""))).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("holidays/feriados.ics:5: expected BEGIN:VCALENDAR"),
        "{err}"
    );
    assert!(parse_ics("").is_err());
    assert!(parse_ics(" leading continuation\n").is_err());
}

#[test]
fn ics_skips_cancelled_and_dateless_events() {
    let text = ics(concat!(
        "BEGIN:VEVENT\nSUMMARY:no date\nEND:VEVENT\n",
        "BEGIN:VEVENT\nDTSTART:20261225\nSTATUS:CANCELLED\nEND:VEVENT\n",
        "BEGIN:VEVENT\nDTSTART:20261226\nDTEND:20261226\nEND:VEVENT\n",
        "BEGIN:VEVENT\nDTSTART:20261228\nDURATION:P0D\nEND:VEVENT\n",
    ));
    let hs = parse_ics(&text).unwrap();
    // A zero-length all-day event is its one day, whether by DTEND or by DURATION.
    assert_eq!(dates(&hs), vec![d(2026, 12, 26), d(2026, 12, 28)]);
    assert_eq!(parse_ics(&ics("")).unwrap(), vec![]);
}

// --- dispatch --------------------------------------------------------------

#[test]
fn unknown_extension() {
    let err = load_holiday_file(Path::new("holidays/feriados.xlsx")).unwrap_err();
    assert_eq!(
            err.to_string(),
            "unsupported holiday file 'holidays/feriados.xlsx': the extension must be one of .csv, .ics"
        );
    assert!(matches!(
        parse_holiday_file(Path::new("holidays/noext"), ""),
        Err(HolidayFileError::UnsupportedExtension { .. })
    ));
    assert!(parse_holiday_file(Path::new("x.CSV"), "2026-01-01\n").is_ok());
}

#[test]
fn load_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv_path = dir.join("sp.CSV");
    std::fs::write(&csv_path, "date,name\n2026-01-25,Aniversário\n").unwrap();
    let ics_path = dir.join("br.Ics");
    std::fs::write(
        &ics_path,
        ics("BEGIN:VEVENT\nDTSTART:20261225\nSUMMARY:Natal\nEND:VEVENT\n"),
    )
    .unwrap();
    let bad_path = dir.join("latin1.csv");
    std::fs::write(&bad_path, b"2026-01-01,ok\n2026-01-25,Anivers\xe1rio\n").unwrap();

    assert_eq!(
        dates(&load_holiday_file(&csv_path).unwrap()),
        vec![d(2026, 1, 25)]
    );
    assert_eq!(
        dates(&load_holiday_file(&ics_path).unwrap()),
        vec![d(2026, 12, 25)]
    );
    let err = load_holiday_file(&bad_path).unwrap_err();
    assert!(
        matches!(err, HolidayFileError::NotUtf8 { line: 2, .. }),
        "{err}"
    );

    let missing = dir.join("missing.csv");
    let err = load_holiday_file(&missing).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot read holiday file '{}': ",
            missing.display()
        )),
        "{msg}"
    );
}
