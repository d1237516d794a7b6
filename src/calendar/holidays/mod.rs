//! Holiday sources for business calendars: the built-in, rule-based holiday
//! sets (`BR`, `BR-optional`) and user-supplied holiday files (`.csv`, `.ics`).
//!
//! This module only answers "which calendar dates are holidays, and what are
//! they called". It knows nothing of time zones, business hours or SQL: a
//! holiday here is a whole civil date, and it is up to the calendar code to
//! turn it into closed intervals in some time zone.

mod files;
mod ics;

pub use files::*;
pub use ics::parse_holiday_ics;

use chrono::{Datelike, NaiveDate, Weekday};

// ---------------------------------------------------------------------------
// Built-in rule sets
// ---------------------------------------------------------------------------

/// A built-in, rule-based holiday set, computed for any year (no hard-coded
/// table of dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinSet {
    /// Brazil's national public holidays (feriados nacionais), including the
    /// movable Good Friday.
    Br,
    /// Brazil's nationwide optional days off (pontos facultativos) that most
    /// businesses observe: Carnaval Monday and Tuesday, and Corpus Christi.
    BrOptional,
}

impl BuiltinSet {
    /// All sets with their config names.
    pub const ALL: [(&'static str, BuiltinSet); 2] = [
        ("BR", BuiltinSet::Br),
        ("BR-optional", BuiltinSet::BrOptional),
    ];

    /// Parse a config name, exact match, e.g. `"BR"`, `"BR-optional"`.
    /// `None` if unknown.
    pub fn from_name(name: &str) -> Option<BuiltinSet> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, set)| *set)
    }

    /// The config name of this set.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinSet::Br => "BR",
            BuiltinSet::BrOptional => "BR-optional",
        }
    }

    /// The holiday's name if `date` is a holiday of this set.
    ///
    /// Cheap enough to call once per day over decades: no allocation, and
    /// Easter is only computed when the month and weekday could match a
    /// movable holiday. When a movable and a fixed holiday fall on the same
    /// date (e.g. Good Friday on 21 April 2000), the fixed one's name wins.
    pub fn holiday(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            BuiltinSet::Br => br_holiday(date),
            BuiltinSet::BrOptional => br_optional_holiday(date),
        }
    }
}

/// Days from Easter Sunday to `date`, or `None` if Easter cannot be computed.
fn days_from_easter(date: NaiveDate) -> Option<i64> {
    let easter = easter_sunday(date.year())?;
    Some(date.signed_duration_since(easter).num_days())
}

fn br_holiday(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some("Confraternização Universal"),
        (4, 21) => Some("Tiradentes"),
        (5, 1) => Some("Dia do Trabalho"),
        (9, 7) => Some("Independência do Brasil"),
        // Lei 6.802/1980.
        (10, 12) if year >= 1980 => Some("Nossa Senhora Aparecida"),
        (11, 2) => Some("Finados"),
        (11, 15) => Some("Proclamação da República"),
        // Lei 14.759/2023, national from 2024 on.
        (11, 20) if year >= 2024 => Some("Dia Nacional de Zumbi e da Consciência Negra"),
        (12, 25) => Some("Natal"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Good Friday (Easter - 2) falls between 20 March and 23 April.
    if matches!(date.month(), 3 | 4)
        && date.weekday() == Weekday::Fri
        && days_from_easter(date) == Some(-2)
    {
        return Some("Paixão de Cristo");
    }
    None
}

fn br_optional_holiday(date: NaiveDate) -> Option<&'static str> {
    // Carnaval (Easter - 48 / - 47) falls between 2 February and 9 March;
    // Corpus Christi (Easter + 60) between 21 May and 24 June.
    let candidate = match date.month() {
        2 | 3 => matches!(date.weekday(), Weekday::Mon | Weekday::Tue),
        5 | 6 => date.weekday() == Weekday::Thu,
        _ => false,
    };
    if !candidate {
        return None;
    }
    match days_from_easter(date)? {
        -48 => Some("Carnaval (segunda-feira)"),
        -47 => Some("Carnaval (terça-feira)"),
        60 => Some("Corpus Christi"),
        _ => None,
    }
}

/// Easter Sunday (Gregorian, anonymous Gregorian / Meeus-Jones-Butcher
/// algorithm). `None` only if the date is out of chrono's range.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    // i64 and Euclidean division: no overflow and well-defined for any i32
    // (including proleptic negative years).
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).ok()?;
    let day = u32::try_from(n.rem_euclid(31) + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests;
