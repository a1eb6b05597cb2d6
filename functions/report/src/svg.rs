//! The report's pictures as inline SVG: the timeline (hand-written: a few marks and labels,
//! each in a `<g>` with a class the tests and the stylesheet use) and the metric charts (drawn
//! with plotters' SVG backend; no font feature, so no system font is read: the backend writes
//! `<text>` elements the browser lays out).
//!
//! Every chart shares the report's time axis ([`Report::span`]), labelled in UTC wall-clock
//! time.

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};
use faultline_core::spec::{Comparison, Phase};
use faultline_core::verdict::{Measure, Series};
use plotters::prelude::*;

use crate::html::escape;
use crate::model::{Charted, EventKind, Report};

/// Chart size, pixels (the page scales them to its width).
const W: u32 = 960;
const H: u32 = 300;

const LINE: RGBColor = RGBColor(37, 99, 235);
const THRESHOLD: RGBColor = RGBColor(220, 38, 38);
const INJECTION: RGBColor = RGBColor(194, 65, 12);
const RECOVERY: RGBColor = RGBColor(22, 163, 74);
const GROUPS: [RGBColor; 5] = [
    RGBColor(37, 99, 235),
    RGBColor(147, 51, 234),
    RGBColor(13, 148, 136),
    RGBColor(202, 138, 4),
    RGBColor(219, 39, 119),
];

/// A phase's shade (hex for the timeline, RGB for plotters).
fn phase_color(p: Phase) -> (RGBColor, &'static str) {
    match p {
        Phase::Before => (RGBColor(100, 116, 139), "#64748b"),
        Phase::During => (RGBColor(245, 158, 11), "#f59e0b"),
        Phase::After => (RGBColor(34, 197, 94), "#22c55e"),
    }
}

/// Minutes from the injection (so plotters' round ticks fall on whole minutes).
fn x_of(r: &Report, t: DateTime<Utc>) -> f64 {
    (t - r.injection.at).num_milliseconds() as f64 / 60_000.0
}

/// `10:03:00` for an x value.
fn clock(r: &Report, x: f64) -> String {
    (r.injection.at + Duration::milliseconds((x * 60_000.0).round() as i64))
        .format("%H:%M")
        .to_string()
}

/// The timeline: the phases' windows as bands, each event as a mark with its label
/// (`<g class="event event-injection" data-event="injection">`), breaches in red.
pub fn timeline(r: &Report) -> String {
    let (from, to) = r.span();
    let (left, right, w, h, axis) = (20.0, 1180.0, 1200, 190, 95.0);
    let span = (to - from).num_milliseconds().max(1) as f64;
    let px = |t: DateTime<Utc>| left + (right - left) * (t - from).num_milliseconds() as f64 / span;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="timeline" class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="timeline">"#
    );
    for win in r.windows() {
        let (_, hex) = phase_color(win.phase);
        let (x0, x1) = (px(win.from), px(win.to));
        let _ = write!(
            s,
            r#"<g class="window window-{p}" data-phase="{p}"><rect x="{x0:.1}" y="{y:.1}" width="{wd:.1}" height="24" fill="{hex}" fill-opacity="0.25"/><text x="{tx:.1}" y="{ty:.1}" class="phase">{p}</text></g>"#,
            p = win.phase.name(),
            y = axis - 12.0,
            wd = (x1 - x0).max(1.0),
            tx = (x0 + 4.0),
            ty = axis + 26.0,
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#334155" stroke-width="2"/>"##
    );
    for (i, e) in r.events().iter().enumerate() {
        let x = px(e.at);
        let up = i % 2 == 0;
        let (y_text, y_tick) = if up {
            (axis - 48.0, axis - 36.0)
        } else {
            (axis + 56.0, axis + 36.0)
        };
        let color = match e.kind {
            EventKind::Injection => "#c2410c",
            EventKind::Restore | EventKind::FaultEnd => "#0d9488",
            EventKind::Recovery => "#16a34a",
            EventKind::Close => "#334155",
            EventKind::Abort => "#d97706",
            EventKind::Breach => "#dc2626",
        };
        let mark = match e.kind {
            EventKind::Breach => format!(
                r#"<path d="M{x:.1} {a0:.1} L{x1:.1} {axis} L{x:.1} {a1:.1} L{x2:.1} {axis} Z" fill="{color}"/>"#,
                a0 = axis - 7.0,
                a1 = axis + 7.0,
                x1 = x + 7.0,
                x2 = x - 7.0,
            ),
            EventKind::Injection
            | EventKind::Restore
            | EventKind::FaultEnd
            | EventKind::Recovery
            | EventKind::Close
            | EventKind::Abort => {
                format!(r#"<circle cx="{x:.1}" cy="{axis}" r="6" fill="{color}"/>"#)
            }
        };
        let anchor = if x < 150.0 {
            "start"
        } else if x > f64::from(w) - 150.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            r#"<g class="event event-{k}" data-event="{k}"><line x1="{x:.1}" y1="{axis}" x2="{x:.1}" y2="{y_tick:.1}" stroke="{color}" stroke-width="1.5"/>{mark}<text x="{x:.1}" y="{y_text:.1}" text-anchor="{anchor}" fill="{color}">{label}</text><text x="{x:.1}" y="{y2:.1}" text-anchor="{anchor}" class="time">{t}</text></g>"#,
            k = e.kind.name(),
            label = escape(&e.label),
            y2 = y_text + 15.0,
            t = e.at.format("%H:%M:%S"),
        );
    }
    s.push_str("</svg>");
    s
}

/// The y range of a chart: its values and threshold, with room above and below.
fn y_range(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.1).max(if hi.abs() > 1.0 { hi.abs() * 0.02 } else { 0.1 });
    (
        if floor_zero && lo >= 0.0 {
            lo
        } else {
            lo - pad
        },
        hi + pad,
    )
}

/// Draws the phase windows and the injection and recovery lines of `r` on a chart.
fn backdrop<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    r: &Report,
    (y0, y1): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for w in r.windows() {
        let (c, _) = phase_color(w.phase);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x_of(r, w.from), y0), (x_of(r, w.to), y1)],
            c.mix(0.12).filled(),
        )))?;
    }
    let mut marks = vec![(0.0, INJECTION, "injection")];
    if let Some(t) = r.recovery.recovered_at {
        marks.push((x_of(r, t), RECOVERY, "recovered"));
    }
    for (x, color, label) in marks {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y0), (x, y1)],
                color.stroke_width(2),
            )))?
            .label(label)
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 16, ly)], color.stroke_width(2))
            });
    }
    Ok(())
}

/// One hypothesis condition's chart: its points as a line, the threshold dashed, the phases
/// shaded, injection and recovery marked. `Err` holds plotters' error, for the page to say.
pub fn condition_chart(r: &Report, c: &Charted<'_>) -> Result<String, String> {
    let points: Vec<(f64, f64)> = c
        .series
        .map(|s| s.points.iter().map(|p| (x_of(r, p.at), p.value)).collect())
        .unwrap_or_default();
    let threshold = c.threshold.map(|(_, t)| t);
    let (y0, y1) = y_range(points.iter().map(|p| p.1).chain(threshold), false);
    let (from, to) = r.span();
    let (x0, x1) = (x_of(r, from), x_of(r, to));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let draw = || -> Result<(), DrawingAreaErrorKind<_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            chart
                .configure_mesh()
                .x_labels(8)
                .y_labels(6)
                .x_label_formatter(&|x| clock(r, *x))
                .y_label_formatter(&|y| number(*y))
                .light_line_style(RGBColor(241, 245, 249))
                .bold_line_style(RGBColor(226, 232, 240))
                .label_style(("sans-serif", 13))
                .draw()?;
            backdrop(&mut chart, r, (y0, y1))?;
            if let Some((cmp, t)) = c.threshold {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, t), (x1, t)],
                        8,
                        5,
                        THRESHOLD.stroke_width(2),
                    ))?
                    .label(format!("threshold {} {}", cmp.symbol(), number(t)))
                    .legend(|(lx, ly)| {
                        PathElement::new(vec![(lx, ly), (lx + 16, ly)], THRESHOLD.stroke_width(2))
                    });
            }
            let label = c
                .series
                .map(|s| s.label.clone())
                .unwrap_or_else(|| c.name.to_owned());
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    LINE.stroke_width(2),
                ))?
                .label(label)
                .legend(|(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 16, ly)], LINE.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, LINE.filled())))?;
            let breaches = r.breaches().iter().filter(|b| b.condition == c.name);
            chart.draw_series(breaches.filter_map(|b| {
                Some(Circle::new(
                    (x_of(r, b.at?), b.observed?),
                    6,
                    THRESHOLD.stroke_width(2),
                ))
            }))?;
            if points.is_empty() {
                root.draw(&Text::new(
                    "no data points were read for this condition",
                    (W as i32 / 2 - 160, H as i32 / 2),
                    ("sans-serif", 15)
                        .into_font()
                        .color(&RGBColor(100, 116, 139)),
                ))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(203, 213, 225))
                .label_font(("sans-serif", 13))
                .draw()?;
            root.present()
        };
        draw().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A group, its desired capacity and its healthy-capacity points.
type GroupLine = (String, u32, Vec<(f64, f64)>);

/// The groups' healthy capacity, one line per group with its desired capacity dashed in the
/// same colour.
pub fn capacity_chart(r: &Report, series: &[&Series]) -> Result<String, String> {
    let lines: Vec<GroupLine> = series
        .iter()
        .filter_map(|s| match &s.measure {
            Measure::Capacity { group, desired } => Some((
                group.clone(),
                *desired,
                s.points.iter().map(|p| (x_of(r, p.at), p.value)).collect(),
            )),
            Measure::Condition { .. } => None,
        })
        .collect();
    let (y0, y1) = y_range(
        lines
            .iter()
            .flat_map(|(_, d, pts)| pts.iter().map(|p| p.1).chain([f64::from(*d)])),
        true,
    );
    let y1 = y1.max(1.0).ceil();
    let (from, to) = r.span();
    let (x0, x1) = (x_of(r, from), x_of(r, to));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let draw = || -> Result<(), DrawingAreaErrorKind<_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            chart
                .configure_mesh()
                .x_labels(8)
                .y_labels(6)
                .x_label_formatter(&|x| clock(r, *x))
                .y_label_formatter(&|y| number(*y))
                .light_line_style(RGBColor(241, 245, 249))
                .bold_line_style(RGBColor(226, 232, 240))
                .label_style(("sans-serif", 13))
                .y_desc("healthy InService")
                .draw()?;
            backdrop(&mut chart, r, (y0, y1))?;
            for (i, (group, desired, pts)) in lines.iter().enumerate() {
                let color = GROUPS[i % GROUPS.len()];
                let d = f64::from(*desired);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, d), (x1, d)],
                        8,
                        5,
                        color.stroke_width(1),
                    ))?
                    .label(format!("{group} desired {desired}"))
                    .legend(move |(lx, ly)| {
                        PathElement::new(vec![(lx, ly), (lx + 16, ly)], color.stroke_width(1))
                    });
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                    .label(group.clone())
                    .legend(move |(lx, ly)| {
                        PathElement::new(vec![(lx, ly), (lx + 16, ly)], color.stroke_width(2))
                    });
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(203, 213, 225))
                .label_font(("sans-serif", 13))
                .draw()?;
            root.present()
        };
        draw().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A value for an axis or a label: `99`, `99.5`, `0.25`.
pub fn number(v: f64) -> String {
    if v == v.round() && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `>= 99`.
pub fn rule(threshold: Option<(Comparison, f64)>) -> String {
    match threshold {
        Some((c, t)) => format!("{} {}", c.symbol(), number(t)),
        None => String::new(),
    }
}
