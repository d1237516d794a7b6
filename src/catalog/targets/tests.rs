//! Target ladders and focus rotation against hand-computed values.

use super::*;

fn q(text: &str) -> Quarter {
    Quarter::parse(text).unwrap()
}

fn spec(kpi: &str, baseline: Baseline, goal: f64, start: &str, by: &str, ramp: Ramp) -> TargetSpec {
    let direction = if goal >= 1.0 && kpi.ends_with("hours") {
        Direction::LowerIsBetter
    } else {
        Direction::HigherIsBetter
    };
    TargetSpec {
        target: KpiTarget {
            kpi: kpi.to_string(),
            baseline,
            goal,
            by: q(by),
            ramp,
            tolerance: 0.02,
            weight: 1.0,
            start: q(start),
            line: 1,
        },
        direction,
    }
}

fn config(focus_count: usize) -> TargetsConfig {
    TargetsConfig {
        focus_count,
        ..TargetsConfig::default()
    }
}

fn targets(ladder: &Ladder, kpi: &str) -> Vec<f64> {
    ladder
        .steps
        .iter()
        .filter(|s| s.kpi == kpi)
        .map(|s| (s.target.unwrap() * 1e6).round() / 1e6)
        .collect()
}

#[test]
fn linear_ramp_reaches_the_goal_by_its_quarter_then_holds() {
    let specs = [spec(
        "fr",
        Baseline::Value(0.80),
        0.95,
        "2026-Q1",
        "2026-Q3",
        Ramp::Linear,
    )];
    let ladder = Ladder::plan(&config(1), &specs, &Actuals::default(), None, q("2026-Q4"));
    // 0.80 + 0.15/3, then + 0.10/2, then + 0.05/1; at the goal, maintained.
    assert_eq!(targets(&ladder, "fr"), [0.85, 0.90, 0.95, 0.95]);
    let last = ladder.step("fr", q("2026-Q4")).unwrap();
    assert_eq!(
        (last.focus, last.why, last.planned),
        (false, Why::NoGap, true)
    );
    assert_eq!(last.basis, Some((0.95, Basis::AssumedTarget)));
}

#[test]
fn geometric_ramp_closes_a_share_of_the_remaining_gap() {
    let specs = [spec(
        "csat",
        Baseline::Value(0.8),
        1.0,
        "2026-Q1",
        "2027-Q4",
        Ramp::Geometric(0.5),
    )];
    let ladder = Ladder::plan(&config(1), &specs, &Actuals::default(), None, q("2026-Q3"));
    assert_eq!(targets(&ladder, "csat"), [0.9, 0.95, 0.975]);
}

#[test]
fn lower_is_better_ladders_go_down_and_statuses_follow_the_direction() {
    let specs = [spec(
        "resolution_hours",
        Baseline::Value(10.0),
        4.0,
        "2026-Q1",
        "2026-Q2",
        Ramp::Linear,
    )];
    let ladder = Ladder::plan(&config(1), &specs, &Actuals::default(), None, q("2026-Q2"));
    assert_eq!(targets(&ladder, "resolution_hours"), [7.0, 4.0]);
    let lower = Direction::LowerIsBetter;
    assert_eq!(Status::of(6.0, 7.0, 1.0, lower), Status::Met);
    assert_eq!(Status::of(7.5, 7.0, 1.0, lower), Status::AtRisk);
    assert_eq!(Status::of(8.5, 7.0, 1.0, lower), Status::Missed);
    let higher = Direction::HigherIsBetter;
    assert_eq!(Status::of(0.94, 0.95, 0.02, higher), Status::AtRisk);
    assert_eq!(Status::of(0.92, 0.95, 0.02, higher), Status::Missed);
    assert_eq!(Status::of(0.95, 0.95, 0.0, higher), Status::Met);
}

#[test]
fn a_goal_already_met_is_held_and_never_in_focus() {
    let specs = [spec(
        "fcr",
        Baseline::Quarter(q("2026-Q1")),
        0.95,
        "2026-Q2",
        "2027-Q1",
        Ramp::Linear,
    )];
    let mut actuals = Actuals::default();
    actuals.insert("fcr", q("2026-Q1"), 0.97);
    let ladder = Ladder::plan(
        &config(3),
        &specs,
        &actuals,
        Some(q("2026-Q1")),
        q("2026-Q3"),
    );
    assert_eq!(targets(&ladder, "fcr"), [0.97, 0.97]);
    assert!(ladder.steps.iter().all(|s| !s.focus && s.why == Why::NoGap));
}

#[test]
fn a_baseline_quarter_without_data_gives_no_ladder() {
    let specs = [spec(
        "csat",
        Baseline::Quarter(q("2025-Q4")),
        0.9,
        "2026-Q1",
        "2026-Q4",
        Ramp::Linear,
    )];
    let ladder = Ladder::plan(
        &config(3),
        &specs,
        &Actuals::default(),
        Some(q("2026-Q1")),
        q("2026-Q2"),
    );
    for step in &ladder.steps {
        assert_eq!((step.target, step.focus), (None, false));
        assert_eq!(step.why, Why::NoBaseline(q("2025-Q4")));
    }
}

#[test]
fn focus_override_pins_a_quarter() {
    let specs = [
        spec(
            "a",
            Baseline::Value(0.5),
            1.0,
            "2026-Q1",
            "2026-Q4",
            Ramp::Linear,
        ),
        spec(
            "b",
            Baseline::Value(0.9),
            1.0,
            "2026-Q1",
            "2026-Q4",
            Ramp::Linear,
        ),
    ];
    let mut cfg = config(1);
    cfg.focus_override
        .insert(q("2026-Q1"), (vec!["b".to_string()], 1));
    let ladder = Ladder::plan(&cfg, &specs, &Actuals::default(), None, q("2026-Q2"));
    assert_eq!(ladder.focus(q("2026-Q1")), ["b"]);
    assert_eq!(ladder.step("a", q("2026-Q1")).unwrap().why, Why::NotPinned);
    // b: 0.9 + 0.1/4; a keeps its baseline, then leads the next quarter by its gap.
    assert_eq!(targets(&ladder, "b"), [0.925, 0.925]);
    assert_eq!(targets(&ladder, "a"), [0.5, 0.666667]);
    assert_eq!(ladder.focus(q("2026-Q2")), ["a"]);
}

#[test]
fn the_focus_rotates_as_the_gaps_move() {
    // Three KPIs from a 2025-Q4 baseline, one pushed per quarter. Gaps (goal − actual of the
    // previous quarter) / (goal − baseline):
    //   2026-Q1 (from 2025-Q4): a 1.0, b 1.0, c 1.0 → a (ties by name)
    //   2026-Q2 (from 2026-Q1): a 0.2, b 0.8, c 1.0 → c
    //   2026-Q3 (from 2026-Q2): a 0.4, b 0.9, c 0.1 → b
    let specs = [
        spec(
            "a",
            Baseline::Quarter(q("2025-Q4")),
            1.0,
            "2026-Q1",
            "2026-Q4",
            Ramp::Linear,
        ),
        spec(
            "b",
            Baseline::Quarter(q("2025-Q4")),
            1.0,
            "2026-Q1",
            "2026-Q4",
            Ramp::Linear,
        ),
        spec(
            "c",
            Baseline::Quarter(q("2025-Q4")),
            1.0,
            "2026-Q1",
            "2026-Q4",
            Ramp::Linear,
        ),
    ];
    let mut actuals = Actuals::default();
    for (kpi, values) in [
        ("a", [0.0, 0.8, 0.6]),
        ("b", [0.0, 0.2, 0.1]),
        ("c", [0.0, 0.0, 0.9]),
    ] {
        for (i, v) in values.into_iter().enumerate() {
            actuals.insert(kpi, q("2025-Q4").offset(i as i32), v);
        }
    }
    let ladder = Ladder::plan(
        &config(1),
        &specs,
        &actuals,
        Some(q("2026-Q2")),
        q("2026-Q3"),
    );
    assert_eq!(ladder.focus(q("2026-Q1")), ["a"]);
    assert_eq!(ladder.focus(q("2026-Q2")), ["c"]);
    assert_eq!(ladder.focus(q("2026-Q3")), ["b"]);
    // a: 0 + 1/4 in Q1, then held; c: 0 + 1/3 in Q2; b: 0 + 1/2 in Q3.
    assert_eq!(targets(&ladder, "a"), [0.25, 0.25, 0.25]);
    assert_eq!(targets(&ladder, "c"), [0.0, 0.333333, 0.333333]);
    assert_eq!(targets(&ladder, "b"), [0.0, 0.0, 0.5]);
    let b = ladder.step("b", q("2026-Q2")).unwrap();
    assert_eq!(b.why, Why::Outranked { rank: 2 });
    assert_eq!(ladder.step("a", q("2026-Q1")).unwrap().actual, Some(0.8));
    assert!(ladder.step("b", q("2026-Q3")).unwrap().planned);
    let text = b.explain(&specs[1], Unit::Percent, 1, Lang::En);
    assert_eq!(
        text,
        "maintain: gap 0.80 from 2026-Q1's actual 20.0% ranks 2, after the 1 in focus"
    );
}
