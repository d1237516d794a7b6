//! Numbers, dates and KPI values as people read them, in English or Brazilian Portuguese
//! (`95.2%` / `95,2 %`, `2026-06-30` / `30/06/2026`).

use chrono::NaiveDate;

use super::header::Unit;

/// The language of printed values and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    #[default]
    #[value(name = "en")]
    En,
    #[value(name = "pt-BR")]
    PtBr,
}

impl Lang {
    /// The BCP 47 tag (`en`, `pt-BR`), as in the HTML `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::PtBr => "pt-BR",
        }
    }

    /// `x` with `decimals` digits after the separator, and thousands grouped.
    pub fn number(self, x: f64, decimals: usize) -> String {
        let (group, point) = match self {
            Lang::En => (',', '.'),
            Lang::PtBr => ('.', ','),
        };
        let text = format!("{:.*}", decimals, x.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let mut out = String::new();
        if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
            out.push('-');
        }
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(group);
            }
            out.push(c);
        }
        if !frac.is_empty() {
            out.push(point);
            out.push_str(frac);
        }
        out
    }

    /// A KPI value in its unit: percent as a percentage, hours with `h`, counts whole.
    pub fn value(self, unit: Unit, x: f64) -> String {
        match unit {
            Unit::Percent => self.percent(x * 100.0),
            Unit::Hours => format!("{} h", self.number(x, 1)),
            Unit::Count => self.number(x, 0),
            Unit::Score => self.number(x, 2),
            Unit::Ratio => self.number(x, 3),
        }
    }

    /// A change between two values of a unit: percentage points for percentages.
    pub fn change(self, unit: Unit, delta: f64) -> String {
        let sign = if delta > 0.0 { "+" } else { "" };
        let body = match unit {
            Unit::Percent => format!("{} pp", self.number(delta * 100.0, 1)),
            Unit::Hours => format!("{} h", self.number(delta, 1)),
            Unit::Count => self.number(delta, 0),
            Unit::Score => self.number(delta, 2),
            Unit::Ratio => self.number(delta, 3),
        };
        format!("{sign}{body}")
    }

    fn percent(self, x: f64) -> String {
        match self {
            Lang::En => format!("{}%", self.number(x, 1)),
            Lang::PtBr => format!("{} %", self.number(x, 1)),
        }
    }

    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::En => date.format("%Y-%m-%d").to_string(),
            Lang::PtBr => date.format("%d/%m/%Y").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_both_languages() {
        assert_eq!(Lang::En.value(Unit::Percent, 0.9523), "95.2%");
        assert_eq!(Lang::PtBr.value(Unit::Percent, 0.9523), "95,2 %");
        assert_eq!(Lang::En.value(Unit::Count, 12345.0), "12,345");
        assert_eq!(Lang::PtBr.value(Unit::Count, 1234567.0), "1.234.567");
        assert_eq!(Lang::PtBr.value(Unit::Hours, 3.26), "3,3 h");
        assert_eq!(Lang::En.value(Unit::Ratio, 0.1234), "0.123");
        assert_eq!(Lang::En.change(Unit::Percent, 0.021), "+2.1 pp");
        assert_eq!(Lang::PtBr.change(Unit::Hours, -1.26), "-1,3 h");
        assert_eq!(Lang::En.number(-0.01, 1), "0.0");
        let day = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        assert_eq!(Lang::PtBr.date(day), "30/06/2026");
        assert_eq!(Lang::En.date(day), "2026-06-30");
    }
}
