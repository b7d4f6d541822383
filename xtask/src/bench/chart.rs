//! The bench's two charts, as SVG (plotters' SVG backend, no fonts
//! needed: the text is left to the browser): start-up on a log scale,
//! from a process to a Linux boot, and the cost per container against
//! how many containers ran.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::scale::ScalePoint;

/// plotters' errors carry the backend's error type; one line is enough.
fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("draw the chart: {e}")
}

/// "12.3 ms", "2.6 s": the value written at the end of a bar.
fn ms_text(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

// ANCHOR: bars
/// A horizontal bar per (label, milliseconds), top to bottom in the order
/// given, on a logarithmic axis: a process and a Linux boot differ by
/// three orders of magnitude, and on a linear axis every runtime would be
/// a sliver.
pub fn startup_bars(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<()> {
    let bars: Vec<&(String, f64)> = bars.iter().filter(|(_, v)| *v > 0.0).collect();
    let n = bars.len().max(1);
    let lo = bars
        .iter()
        .map(|b| b.1)
        .fold(f64::INFINITY, f64::min)
        .min(1.0)
        / 2.0;
    let hi = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 4.0;
    let height = 90 + 30 * u32::try_from(n).unwrap_or(40);
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n - 1).into_segmented())
        .map_err(err)?;
    // Row k is drawn at n-1-k: the first row on top.
    let at = |k: usize| n - 1 - k;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => (n - 1)
                .checked_sub(*i)
                .and_then(|k| labels.get(k).cloned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| ms_text(*v))
        .x_desc("median start-up time, log scale")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (k, (label, ms)) in bars.iter().map(|b| (&b.0, b.1)).enumerate() {
        let colour = if label.starts_with("tincan") || label.contains("runtime tincan") {
            RGBColor(0xd9, 0x5f, 0x02)
        } else {
            RGBColor(0x1b, 0x9e, 0x77)
        };
        let (lower, upper) = (SegmentValue::Exact(at(k)), SegmentValue::Exact(at(k) + 1));
        chart
            .draw_series([{
                let mut bar = Rectangle::new([(lo, lower), (ms, upper)], colour.mix(0.85).filled());
                bar.set_margin(4, 4, 0, 0);
                bar
            }])
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                format!(" {}", ms_text(ms)),
                (ms, SegmentValue::CenterOf(at(k))),
                ("sans-serif", 13),
            )])
            .map_err(err)?;
    }
    root.present().map_err(err)
}
// ANCHOR_END: bars

// ANCHOR: lines
/// One line per runtime and width (one at a time, or several at once):
/// the wall time divided by the containers, against how many ran. A flat
/// line is a runtime whose containers cost the same however many there
/// are; failed points are left out.
pub fn scale_lines(path: &Path, title: &str, points: &[ScalePoint]) -> Result<()> {
    let ok: Vec<&ScalePoint> = points.iter().filter(|p| p.runs.failures() == 0).collect();
    let max_count = ok.iter().map(|p| p.count).max().unwrap_or(1).max(2);
    let max_ms = ok
        .iter()
        .map(|p| p.per_container().as_secs_f64() * 1e3)
        .fold(1.0, f64::max)
        * 2.0;
    let root = SVGBackend::new(path, (960, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0..max_count as f64 * 1.1).log_scale(), 0.0..max_ms)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("containers started (log scale)")
        .y_desc("wall time per container, ms")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let mut series: Vec<(&str, usize)> = ok.iter().map(|p| (p.runtime.as_str(), p.width)).collect();
    series.sort_unstable();
    series.dedup();
    for (runtime, width) in series {
        // tincan in the bar chart's colour; the peers in two others.
        let colour = match runtime {
            "tincan" => RGBColor(0xd9, 0x5f, 0x02),
            "crun" => RGBColor(0x1b, 0x9e, 0x77),
            _ => RGBColor(0x75, 0x70, 0xb3),
        };
        let style = colour.stroke_width(if width == 1 { 3 } else { 1 });
        let line: Vec<(f64, f64)> = ok
            .iter()
            .filter(|p| p.runtime == runtime && p.width == width)
            .map(|p| (p.count as f64, p.per_container().as_secs_f64() * 1e3))
            .collect();
        let label = if width == 1 {
            format!("{runtime}, one at a time")
        } else {
            format!("{runtime}, {width} at a time")
        };
        chart
            .draw_series(LineSeries::new(line.clone(), style))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        chart
            .draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
// ANCHOR_END: lines
