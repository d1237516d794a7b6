//! The review for people: the summary rows (the terminal table and both reports share them),
//! the Markdown summary for e-mail or chat, and the self-contained HTML report (inline CSS
//! and SVG: it opens with no network), in English or Brazilian Portuguese. The page layouts
//! are minijinja templates beside this file.

use minijinja::{context, Environment};
use serde::Serialize;

use super::{charts, KpiReview, Review};
use crate::calendar::format_utc;
use crate::catalog::kpis::Kpi;
use crate::catalog::locale::Lang;
use crate::catalog::targets::Status;
use crate::catalog::CatalogError;

/// The words of the reports and the review table, per language.
#[derive(Debug, Clone, Serialize)]
pub struct Words {
    pub heading: &'static str,
    pub kpi: &'static str,
    pub actual: &'static str,
    pub target: &'static str,
    pub status: &'static str,
    pub focus: &'static str,
    pub change: &'static str,
    pub trend: &'static str,
    pub expected: &'static str,
    pub projection: &'static str,
    pub met: &'static str,
    pub at_risk: &'static str,
    pub missed: &'static str,
    pub no_target: &'static str,
    pub to_date: &'static str,
    pub as_of: &'static str,
    pub run: &'static str,
    pub versions: &'static str,
    pub focus_of: &'static str,
    pub focus_rotation: &'static str,
    pub breakdown_by: &'static str,
    pub by_quarter: &'static str,
    pub by_quarter_plain: &'static str,
    pub pace_note: &'static str,
    pub none: &'static str,
    pub summary: &'static str,
    pub details: &'static str,
}

impl Words {
    pub fn of(lang: Lang) -> Words {
        match lang {
            Lang::En => Words {
                heading: "Quarterly review",
                kpi: "KPI",
                actual: "Actual",
                target: "Target",
                status: "Status",
                focus: "Focus",
                change: "Change",
                trend: "Trend",
                expected: "Expected now",
                projection: "Projection",
                met: "met",
                at_risk: "at risk",
                missed: "missed",
                no_target: "no target",
                to_date: "to date",
                as_of: "As of",
                run: "Run",
                versions: "Table versions",
                focus_of: "Focus this quarter",
                focus_rotation: "Focus over the quarters",
                breakdown_by: "by",
                by_quarter: "by quarter, against the target ladder and its tolerance band",
                by_quarter_plain: "by quarter",
                pace_note: "The quarter is still running: its status comes from the projection of the quarter-to-date pace.",
                none: "none",
                summary: "Summary",
                details: "KPIs",
            },
            Lang::PtBr => Words {
                heading: "Revisão trimestral",
                kpi: "Indicador",
                actual: "Realizado",
                target: "Meta",
                status: "Situação",
                focus: "Foco",
                change: "Variação",
                trend: "Tendência",
                expected: "Esperado agora",
                projection: "Projeção",
                met: "atingida",
                at_risk: "em risco",
                missed: "não atingida",
                no_target: "sem meta",
                to_date: "até agora",
                as_of: "Posição em",
                run: "Execução",
                versions: "Versões das tabelas",
                focus_of: "Foco do trimestre",
                focus_rotation: "Foco ao longo dos trimestres",
                breakdown_by: "por",
                by_quarter: "por trimestre, contra a escada de metas e sua faixa de tolerância",
                by_quarter_plain: "por trimestre",
                pace_note: "O trimestre ainda está em andamento: a situação vem da projeção do ritmo até agora.",
                none: "nenhum",
                summary: "Resumo",
                details: "Indicadores",
            },
        }
    }

    pub fn status(&self, status: Option<Status>) -> &'static str {
        match status {
            Some(Status::Met) => self.met,
            Some(Status::AtRisk) => self.at_risk,
            Some(Status::Missed) => self.missed,
            None => self.no_target,
        }
    }
}

/// A KPI's title in `lang` (the English one when it has no translation).
pub fn title(kpi: &Kpi, lang: Lang) -> &str {
    match lang {
        Lang::PtBr => kpi
            .header
            .title_pt_br
            .as_deref()
            .unwrap_or(&kpi.header.title),
        Lang::En => &kpi.header.title,
    }
}

fn description(kpi: &Kpi, lang: Lang) -> &str {
    match lang {
        Lang::PtBr => kpi
            .header
            .description_pt_br
            .as_deref()
            .unwrap_or(&kpi.header.description),
        Lang::En => &kpi.header.description,
    }
}

/// One line of the review table.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub name: String,
    pub title: String,
    pub actual: String,
    pub target: String,
    /// `met`, `at_risk`, `missed` or empty: for styling.
    pub status_key: String,
    pub status: String,
    pub focus: bool,
    pub change: String,
    pub sparkline: String,
    pub expected: String,
    pub projection: String,
}

/// `▁▂▃▅▇`: the values scaled between their minimum and maximum (a space where missing).
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let present = values.iter().flatten();
    let lo = present.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = present.copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| match v {
            Some(v) if hi > lo => BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize],
            Some(_) => BARS[3],
            None => ' ',
        })
        .collect()
}

/// The review table: one row per KPI, focus KPIs first.
pub fn summary(review: &Review, lang: Lang) -> Vec<SummaryRow> {
    let words = Words::of(lang);
    let mut rows: Vec<(bool, SummaryRow)> = review
        .kpis
        .iter()
        .map(|k| {
            let unit = k.unit();
            let current = k.current();
            let value = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| lang.value(unit, x));
            let mut actual = value(current.and_then(|c| c.value));
            if current.is_some_and(|c| c.partial) {
                actual = format!("{actual} ({})", words.to_date);
            }
            let change = match (
                current.and_then(|c| c.value),
                k.previous().and_then(|p| p.value),
            ) {
                (Some(a), Some(b)) => lang.change(unit, a - b),
                _ => String::new(),
            };
            let status = current.and_then(|c| c.status);
            let focus = current.is_some_and(|c| c.focus);
            let history: Vec<Option<f64>> = k.history.iter().map(|h| h.value).collect();
            (
                focus,
                SummaryRow {
                    name: k.kpi.name().to_string(),
                    title: title(&k.kpi, lang).to_string(),
                    actual,
                    target: current
                        .and_then(|c| c.target)
                        .map_or_else(String::new, |t| lang.value(unit, t)),
                    status_key: status.map_or("", Status::name).to_string(),
                    status: if k.spec.is_some() {
                        words.status(status).to_string()
                    } else {
                        String::new()
                    },
                    focus,
                    change,
                    sparkline: sparkline(&history),
                    expected: k
                        .pace
                        .and_then(|p| p.expected)
                        .map_or_else(String::new, |e| lang.value(unit, e)),
                    projection: k
                        .pace
                        .map_or_else(String::new, |p| lang.value(unit, p.projection)),
                },
            )
        })
        .collect();
    // Focus first, then the other KPIs with targets, then the rest; by name within each.
    rows.sort_by_key(|(focus, r)| (!focus, r.status_key.is_empty(), r.name.clone()));
    rows.into_iter().map(|(_, r)| r).collect()
}

/// One KPI's section of the HTML report.
#[derive(Debug, Serialize)]
struct Section {
    name: String,
    title: String,
    description: String,
    focus: bool,
    status_key: String,
    status: String,
    /// Whether the KPI has targets (the trend chart shows them).
    targeted: bool,
    trend_svg: String,
    breakdowns: Vec<(String, String)>,
}

fn section(k: &KpiReview, lang: Lang, words: &Words) -> Result<Section, CatalogError> {
    let current = k.current();
    let focus = current.is_some_and(|c| c.focus);
    let mut breakdowns = Vec::new();
    if focus {
        for dimension in &k.dimensions {
            let svg = charts::breakdown(k, dimension, lang)?;
            if !svg.is_empty() {
                breakdowns.push((dimension.clone(), svg));
            }
        }
    }
    let status = current.and_then(|c| c.status);
    Ok(Section {
        name: k.kpi.name().to_string(),
        title: title(&k.kpi, lang).to_string(),
        description: description(&k.kpi, lang).to_string(),
        focus,
        status_key: status.map_or("", Status::name).to_string(),
        status: if k.spec.is_some() {
            words.status(status).to_string()
        } else {
            String::new()
        },
        targeted: k.spec.is_some(),
        trend_svg: charts::trend(k, lang, words)?,
        breakdowns,
    })
}

fn environment() -> Result<Environment<'static>, CatalogError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_template("review.html", include_str!("templates/review.html.j2"))
        .map_err(|e| CatalogError::Render(e.to_string()))?;
    env.add_template("review.md", include_str!("templates/review.md.j2"))
        .map_err(|e| CatalogError::Render(e.to_string()))?;
    Ok(env)
}

/// The facts both reports start with.
fn header(review: &Review, lang: Lang) -> minijinja::Value {
    // Dates as the people of the workspace read them: in the quarters' time zone.
    let date = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .map(|t| lang.date(t.with_timezone(&review.zone).date_naive()))
            .unwrap_or_default()
    };
    let versions: Vec<String> = review
        .info
        .versions
        .iter()
        .map(|(t, v)| format!("{t} v{v}"))
        .collect();
    let focus: Vec<String> = review
        .focus()
        .iter()
        .map(|name| {
            review
                .kpis
                .iter()
                .find(|k| k.kpi.name() == *name)
                .map_or_else(|| name.to_string(), |k| title(&k.kpi, lang).to_string())
        })
        .collect();
    context! {
        quarter => review.info.quarter.to_string(),
        as_of_date => date(review.info.as_of),
        as_of => format_utc(review.info.as_of),
        run_id => review.info.run_id.clone(),
        versions => versions.join(", "),
        focus => focus,
        running => review.kpis.iter().any(|k| k.pace.is_some()),
    }
}

/// The Markdown summary.
pub fn markdown(review: &Review, lang: Lang) -> Result<String, CatalogError> {
    let env = environment()?;
    let template = env
        .get_template("review.md")
        .map_err(|e| CatalogError::Render(e.to_string()))?;
    template
        .render(context! {
            lang => lang.tag(),
            w => Words::of(lang),
            h => header(review, lang),
            rows => summary(review, lang),
        })
        .map_err(|e| CatalogError::Render(e.to_string()))
}

/// The self-contained HTML report.
pub fn html(review: &Review, lang: Lang) -> Result<String, CatalogError> {
    let words = Words::of(lang);
    // In the order of the summary: focus first, then the KPIs with targets, then the rest.
    let order = summary(review, lang);
    let mut kpis: Vec<&KpiReview> = review.kpis.iter().collect();
    kpis.sort_by_key(|k| order.iter().position(|r| r.name == k.kpi.name()));
    let sections = kpis
        .into_iter()
        .map(|k| section(k, lang, &words))
        .collect::<Result<Vec<_>, _>>()?;
    let env = environment()?;
    let template = env
        .get_template("review.html")
        .map_err(|e| CatalogError::Render(e.to_string()))?;
    template
        .render(context! {
            lang => lang.tag(),
            w => words,
            h => header(review, lang),
            rows => summary(review, lang),
            sections => sections,
            focus_svg => charts::focus(review)?,
        })
        .map_err(|e| CatalogError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline(&[Some(1.0), Some(2.0), None, Some(3.0)]), "▁▅ █");
        assert_eq!(sparkline(&[Some(2.0), Some(2.0)]), "▄▄");
        assert_eq!(sparkline(&[None]), " ");
    }
}
