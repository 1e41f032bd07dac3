//! PNG plots of a report, drawn with `plotters`' bitmap backend. Text is rendered with an
//! embedded DejaVu Sans (`testnet/assets/`, Bitstream Vera licence), so no system font is
//! needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{SegmentValue, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::{Report, TestnetError};

const FONT: &[u8] = include_bytes!("../../../testnet/assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (900, 560);
const HEALTHY: RGBColor = RGBColor(46, 139, 87);
const FLAKY: RGBColor = RGBColor(205, 55, 55);

fn register_font() -> Result<(), TestnetError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| TestnetError::Plot("the embedded font does not load".into()));
    });
    result
}

fn err(path: &Path) -> impl Fn(String) -> TestnetError + '_ {
    move |e| TestnetError::Plot(format!("{}: {e}", path.display()))
}

/// The grid and axes of a chart of fractions (0 to 1) against a quantity.
fn mesh<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
    e: &impl Fn(String) -> TestnetError,
) -> Result<(), TestnetError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .light_line_style(RGBColor(238, 238, 238))
        .y_desc(y_desc)
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 16))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(|x| e(x.to_string()))
}

/// The series' labels, boxed in the lower right corner.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    e: &impl Fn(String) -> TestnetError,
) -> Result<(), TestnetError>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(x.to_string()))
}

/// The CDF of propagation latency, log-scaled latency axis.
pub(crate) fn propagation_cdf(path: &Path, report: &Report) -> Result<(), TestnetError> {
    register_font()?;
    let e = err(path);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let points: Vec<(f64, f64)> = report
        .propagation
        .cdf
        .iter()
        .map(|[ms, q]| (ms.max(1.0), *q))
        .collect();
    let max = points.iter().map(|p| p.0).fold(10.0_f64, f64::max) * 1.2;
    let p = &report.propagation;
    let caption = format!(
        "Propagation to each node's listing ({} objects, {} samples)",
        p.objects, p.samples
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0_f64..max).log_scale(), 0.0_f64..1.0)
        .map_err(|x| e(x.to_string()))?;
    mesh(
        &mut chart,
        "latency from publish, ms (log scale)",
        "fraction of (object, node) pairs",
        &e,
    )?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(3)))
        .map_err(|x| e(x.to_string()))?;
    for (q, value, color) in [
        (0.5, p.p50_ms, GREEN),
        (0.95, p.p95_ms, MAGENTA),
        (0.99, p.p99_ms, RED),
    ] {
        let x = value.max(1.0);
        chart
            .draw_series(std::iter::once(Circle::new((x, q), 5, color.filled())))
            .map_err(|x| e(x.to_string()))?
            .label(format!("p{:.0} = {value:.0} ms", q * 100.0))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    legend(&mut chart, &e)?;
    root.present().map_err(|x| e(x.to_string()))
}

/// Reputation score per provider, flaky providers in red (no bar for an unrated one).
pub(crate) fn reputation(path: &Path, report: &Report) -> Result<(), TestnetError> {
    register_font()?;
    let e = err(path);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let rows = &report.reputation;
    let n = i32::try_from(rows.len().max(1)).unwrap_or(i32::MAX);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Reputation per provider (red: flaky data plane)",
            (FAMILY, 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(60)
        // `0..n - 1` segmented gives exactly n bars.
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0_f64..1.0)
        .map_err(|x| e(x.to_string()))?;
    let names: Vec<String> = rows.iter().map(|r| r.node.clone()).collect();
    let label = move |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i).cloned())
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("provider node")
        .y_desc("score")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .x_labels(rows.len().max(1))
        .x_label_formatter(&label)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let flaky: Vec<bool> = rows.iter().map(|r| r.flaky).collect();
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .margin(12)
                .style_func(move |x, _| {
                    let i = match x {
                        SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => *i,
                        SegmentValue::Last => 0,
                    };
                    let is_flaky = usize::try_from(i)
                        .ok()
                        .and_then(|i| flaky.get(i).copied())
                        .unwrap_or(false);
                    if is_flaky { FLAKY } else { HEALTHY }.filled()
                })
                .data(
                    // An unrated provider has no score, so no bar.
                    rows.iter()
                        .enumerate()
                        .filter_map(|(i, r)| Some((i32::try_from(i).unwrap_or(0), r.score?))),
                ),
        )
        .map_err(|x| e(x.to_string()))?;
    root.present().map_err(|x| e(x.to_string()))
}

/// A price distribution: the share of offers at or below each unit price (a step CDF), with
/// vertical lines at the marked prices (the suggestion, the median, a price asked about). Used
/// by the pricing advisor (`flashback price suggest --plot`); prices in minor units.
pub fn price_distribution(
    path: &Path,
    title: &str,
    x_desc: &str,
    prices: &[u64],
    marks: &[(String, u64)],
) -> Result<(), TestnetError> {
    register_font()?;
    let e = err(path);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut sorted = prices.to_vec();
    sorted.sort_unstable();
    let top = sorted
        .iter()
        .chain(marks.iter().map(|(_, p)| p))
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0_f64..top, 0.0_f64..1.0)
        .map_err(|x| e(x.to_string()))?;
    mesh(
        &mut chart,
        x_desc,
        "share of comparable offers at or below",
        &e,
    )?;
    let n = sorted.len().max(1) as f64;
    let mut steps = vec![(0.0, 0.0)];
    for (i, p) in sorted.iter().enumerate() {
        steps.push((*p as f64, i as f64 / n));
        steps.push((*p as f64, (i + 1) as f64 / n));
    }
    steps.push((top, if sorted.is_empty() { 0.0 } else { 1.0 }));
    chart
        .draw_series(LineSeries::new(steps, BLUE.stroke_width(3)))
        .map_err(|x| e(x.to_string()))?;
    let colors = [HEALTHY, FLAKY, MAGENTA, BLACK];
    for (i, (label, price)) in marks.iter().enumerate() {
        let color = colors[i % colors.len()];
        let x = *price as f64;
        chart
            .draw_series(LineSeries::new([(x, 0.0), (x, 1.0)], color.stroke_width(2)))
            .map_err(|x| e(x.to_string()))?
            .label(format!("{label}: {price}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if !marks.is_empty() {
        legend(&mut chart, &e)?;
    }
    root.present().map_err(|x| e(x.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::report::{ReputationRow, cdf};

    #[test]
    fn both_plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = Report::default();
        let lat: Vec<f64> = (0..500).map(|i| f64::from(i % 97) * 3.0 + 5.0).collect();
        let mut sorted = lat.clone();
        sorted.sort_by(f64::total_cmp);
        report.propagation.cdf = cdf(&sorted);
        report.propagation.p50_ms = 150.0;
        report.propagation.p95_ms = 280.0;
        report.propagation.p99_ms = 290.0;
        for (i, score) in [0.92, 0.88, 0.41].into_iter().enumerate() {
            report.reputation.push(ReputationRow {
                node: format!("n{i:02}"),
                score: Some(score),
                flaky: score < 0.5,
                ..ReputationRow::default()
            });
        }
        for (name, f) in [
            (
                "cdf.png",
                propagation_cdf as fn(&Path, &Report) -> Result<(), TestnetError>,
            ),
            ("rep.png", reputation),
        ] {
            let path = dir.path().join(name);
            f(&path, &report).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
        let path = dir.path().join("prices.png");
        price_distribution(
            &path,
            "prices",
            "minor units",
            &[120, 100, 130, 100],
            &[("suggestion".into(), 110)],
        )
        .unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[1..4], b"PNG");
        // An empty report still draws (no data yet).
        propagation_cdf(&dir.path().join("empty.png"), &Report::default()).unwrap();
        reputation(&dir.path().join("empty2.png"), &Report::default()).unwrap();
    }
}
