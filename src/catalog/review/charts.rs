//! The report's charts as inline SVG (plotters' SVG backend): a KPI's actual by quarter
//! against its target ladder and tolerance band, a focus KPI's breakdown, and the focus
//! rotation over the quarters.

use plotters::prelude::*;

use super::{KpiReview, Review};
use crate::catalog::locale::Lang;
use crate::catalog::targets::Status;
use crate::catalog::CatalogError;

const ACTUAL: RGBColor = RGBColor(31, 94, 168);
const TARGET: RGBColor = RGBColor(120, 120, 120);
const BAND: RGBColor = RGBColor(240, 173, 78);
const FOCUS: RGBColor = RGBColor(31, 94, 168);
const MET: RGBColor = RGBColor(46, 139, 87);
const AT_RISK: RGBColor = RGBColor(230, 145, 30);
const MISSED: RGBColor = RGBColor(200, 50, 50);
const FONT: &str = "sans-serif";

fn failed(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Render(e.to_string())
}

pub fn status_colour(status: Option<Status>) -> RGBColor {
    match status {
        Some(Status::Met) => MET,
        Some(Status::AtRisk) => AT_RISK,
        Some(Status::Missed) => MISSED,
        None => ACTUAL,
    }
}

/// `[lo, hi]` padded by a tenth of the span (a flat series gets a band around it).
fn padded(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs().max(1e-3) * 0.05);
    Some((lo - pad, hi + pad))
}

/// A KPI's value by quarter (points joined, the last hollow while the quarter runs), its
/// target ladder (a step per quarter) and the tolerance band on the wrong side of it.
pub fn trend(
    kpi: &KpiReview,
    lang: Lang,
    words: &super::report::Words,
) -> Result<String, CatalogError> {
    let unit = kpi.unit();
    let n = kpi.history.len();
    let tolerance = kpi.spec.as_ref().map_or(0.0, |s| s.target.tolerance);
    let sign = kpi.spec.as_ref().map_or(1.0, |s| s.direction.sign());
    let values = kpi.history.iter().filter_map(|h| h.value);
    let targets = kpi.history.iter().filter_map(|h| h.target);
    let bands = targets.clone().map(|t| t - sign * tolerance);
    let Some((lo, hi)) = padded(values.chain(targets).chain(bands)) else {
        return Ok(String::new());
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
            .map_err(failed)?;
        let labels: Vec<String> = kpi.history.iter().map(|h| h.quarter.to_string()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .y_label_formatter(&|y| lang.value(unit, *y))
            .label_style((FONT, 14))
            .light_line_style(WHITE)
            .draw()
            .map_err(failed)?;
        for (i, h) in kpi.history.iter().enumerate() {
            let Some(t) = h.target else { continue };
            let (x0, x1) = (i as f64 - 0.45, i as f64 + 0.45);
            if tolerance > 0.0 {
                let edge = t - sign * tolerance;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, t), (x1, edge)],
                        BAND.mix(0.25).filled(),
                    )))
                    .map_err(failed)?;
            }
            let series = chart
                .draw_series(LineSeries::new(
                    vec![(x0, t), (x1, t)],
                    TARGET.stroke_width(2),
                ))
                .map_err(failed)?;
            if i == 0 || kpi.history[..i].iter().all(|p| p.target.is_none()) {
                series.label(words.target).legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], TARGET.stroke_width(2))
                });
            }
        }
        let points: Vec<(f64, f64)> = kpi
            .history
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i as f64, h.value?)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), ACTUAL.stroke_width(2)))
            .map_err(failed)?
            .label(words.actual)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], ACTUAL.stroke_width(2)));
        chart
            .draw_series(kpi.history.iter().enumerate().filter_map(|(i, h)| {
                let style = if h.partial {
                    status_colour(h.status).stroke_width(2)
                } else {
                    status_colour(h.status).filled()
                };
                Some(Circle::new((i as f64, h.value?), 5, style))
            }))
            .map_err(failed)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(220, 220, 220))
            .label_font((FONT, 14))
            .draw()
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A focus KPI's reviewed quarter broken down by `dimension`: a bar per value (the twelve
/// with the most items), coloured by status, with the target as a line.
pub fn breakdown(kpi: &KpiReview, dimension: &str, lang: Lang) -> Result<String, CatalogError> {
    let unit = kpi.unit();
    let mut rows: Vec<&super::ReviewRow> = kpi
        .rows
        .iter()
        .filter(|r| r.row.dimension.as_deref() == Some(dimension) && r.row.value.is_some())
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.row.n.unwrap_or(0)));
    rows.truncate(12);
    rows.sort_by(|a, b| a.row.dimension_value.cmp(&b.row.dimension_value));
    let target = kpi.current().and_then(|c| c.target);
    let values = rows.iter().filter_map(|r| r.row.value).chain(target);
    let Some((_, hi)) = padded(values.chain(std::iter::once(0.0))) else {
        return Ok(String::new());
    };
    let m = rows.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..(m as f64 - 0.5), 0f64..hi)
            .map_err(failed)?;
        let labels: Vec<String> = rows
            .iter()
            .map(|r| r.row.dimension_value.clone().unwrap_or_default())
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(m.max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .y_label_formatter(&|y| lang.value(unit, *y))
            .label_style((FONT, 14))
            .light_line_style(WHITE)
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                let v = r.row.value?;
                Some(Rectangle::new(
                    [(i as f64 - 0.35, 0.0), (i as f64 + 0.35, v)],
                    status_colour(r.status).filled(),
                ))
            }))
            .map_err(failed)?;
        if let Some(t) = target {
            chart
                .draw_series(LineSeries::new(
                    vec![(-0.5, t), (m as f64 - 0.5, t)],
                    TARGET.stroke_width(2),
                ))
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// The focus over the quarters: a row per KPI with targets, a filled cell per focus quarter.
pub fn focus(review: &Review) -> Result<String, CatalogError> {
    let kpis: Vec<&str> = review.specs.iter().map(|s| s.target.kpi.as_str()).collect();
    if kpis.is_empty() {
        return Ok(String::new());
    }
    let n = review.quarters.len();
    let k = kpis.len();
    let height = 60 + 28 * k as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(190)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), -0.5f64..(k as f64 - 0.5))
            .map_err(failed)?;
        let quarter_labels: Vec<String> = review.quarters.iter().map(|q| q.to_string()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n)
            .y_labels(k)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    quarter_labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 0.01 && i >= 0.0 {
                    // The first KPI at the top.
                    kpis.get(k - 1 - i as usize)
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 14))
            .draw()
            .map_err(failed)?;
        let mut cells = Vec::new();
        for (row, kpi) in kpis.iter().enumerate() {
            let y = (k - 1 - row) as f64;
            for (i, q) in review.quarters.iter().enumerate() {
                let focus = review.ladder.step(kpi, *q).is_some_and(|s| s.focus);
                let style = if focus {
                    FOCUS.filled()
                } else {
                    RGBColor(238, 238, 238).filled()
                };
                cells.push(Rectangle::new(
                    [(i as f64 - 0.45, y - 0.4), (i as f64 + 0.45, y + 0.4)],
                    style,
                ));
            }
        }
        chart.draw_series(cells).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}
