//! `curve.png`: committed throughput against offered rate, and latency against throughput.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (the `dejavu` crate), so the plot
//! renders the same on a machine without any system fonts.

use crate::bench::BenchResults;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn register() {
    FONT.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    v * 1.1
}

pub fn draw(results: &BenchResults, path: &Path) -> Result<(), String> {
    register();
    let root = BitMapBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title = format!(
        "runnet bench: {} payloads, {} validators",
        results.payload, results.validators
    );
    let root = root
        .titled(&title, ("sans-serif", 24))
        .map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(600);
    let points = &results.points;
    let max_rate = points
        .iter()
        .map(|p| p.input_rate as f64)
        .fold(0.0, f64::max);
    let max_tps = points.iter().map(|p| p.tps).fold(0.0, f64::max);
    let max_lat = points
        .iter()
        .map(|p| p.latency_ms.p99.max(p.latency_ms.p50))
        .fold(0.0, f64::max);
    let axis = nice_max(max_rate.max(max_tps));
    let tps_axis = nice_max(max_tps);
    // plotters clamps rather than clips points outside the chart: end the diagonal inside it.
    let diagonal = axis.min(tps_axis);
    let whole = |v: &f64| format!("{v:.0}");
    // Execution runs count executions completed, from the request to its completion.
    let (done, wait) = if results.payload == "execution" {
        ("completed", "request to completion (ms)")
    } else {
        ("committed", "latency (ms)")
    };

    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("{done} vs offered (per second)"),
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..axis, 0.0..tps_axis)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("offered rate")
        .y_desc(done)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (diagonal, diagonal)],
            ShapeStyle::from(&RGBColor(180, 180, 180)).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label(format!("{done} = offered"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(180, 180, 180)));
    let mut by_rate: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.input_rate as f64, p.tps))
        .collect();
    by_rate.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(by_rate.clone(), BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label(done)
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(
            by_rate
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 4, BLUE.filled())),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;

    let mut chart = ChartBuilder::on(&right)
        .caption(format!("latency vs {done} throughput"), ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..nice_max(max_tps), 0.0..nice_max(max_lat))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(format!("{done} per second"))
        .y_desc(wait)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut by_tps: Vec<&crate::bench::BenchPoint> = points.iter().collect();
    by_tps.sort_by_key(|p| p.input_rate);
    for (name, color, pick) in [("p50", GREEN, 0usize), ("p99", RED, 1usize)] {
        let series: Vec<(f64, f64)> = by_tps
            .iter()
            .map(|p| {
                (
                    p.tps,
                    if pick == 0 {
                        p.latency_ms.p50
                    } else {
                        p.latency_ms.p99
                    },
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
