//! Drawing the bins as stacked bars into a PNG (plotters into an RGB
//! buffer, the png crate to encode it), with the font shipped in
//! `assets/fonts`, so no system font is needed.

use std::sync::OnceLock;

use plotters::coord::ranged1d::SegmentValue;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::bins::{BINS, Bins, KINDS, LABELS};
use crate::policy::ReasonKind;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 675;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

/// A chart, encoded.
#[derive(Debug, Clone)]
pub struct Png {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// Okabe and Ito's palette: told apart with any of the common kinds of
/// colour blindness.
fn colour(kind: ReasonKind) -> RGBColor {
    match kind {
        ReasonKind::Inactive => RGBColor(0xE6, 0x9F, 0x00),
        ReasonKind::Abandoned => RGBColor(0xD5, 0x5E, 0x00),
        ReasonKind::Active => RGBColor(0x00, 0x9E, 0x73),
        ReasonKind::Protected => RGBColor(0x00, 0x72, 0xB2),
        ReasonKind::Unknown => RGBColor(0x99, 0x99, 0x99),
    }
}

fn legend(kind: ReasonKind, n: u64) -> String {
    let what = match kind {
        ReasonKind::Inactive => "inactive (delete)",
        ReasonKind::Abandoned => "abandoned (delete)",
        ReasonKind::Active => "active (keep)",
        ReasonKind::Protected => "protected (keep)",
        ReasonKind::Unknown => "unknown (keep)",
    };
    format!("{what}: {}", thousands(n))
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn font_ready() -> Result<(), ChartError> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY
        .get_or_init(|| plotters::style::register_font(SANS, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError("the embedded font could not be read".into()))
    }
}

/// Draws `bins` under `title`, with the threshold at x = `threshold` (in
/// bin units, see `bins::position`) labelled `threshold_label`.
pub fn render(
    bins: &Bins,
    title: &str,
    threshold: f64,
    threshold_label: &str,
) -> Result<Png, ChartError> {
    font_ready()?;
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = (0..BINS).map(|b| bins.bar(b)).max().unwrap_or(0).max(1);
        // Headroom above the tallest bar for its total and the legend.
        let y_max = top + top * 2 / 5 + 1;
        // A segmented range has a segment for each end: 0..=BINS-1.
        let last = BINS as i32 - 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (SANS, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d((0..last).into_segmented(), 0u64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .x_labels(BINS)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => LABELS.get(*i as usize).copied().unwrap_or("").into(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| thousands(*v))
            .x_desc("time since the last event that is not a membership change")
            .y_desc("rooms")
            .label_style((SANS, 14))
            .axis_desc_style((SANS, 15))
            .draw()
            .map_err(err)?;

        let mut base = [0u64; BINS];
        for kind in KINDS {
            let colour = colour(kind);
            let bars: Vec<_> = (0..BINS)
                .filter(|&b| bins.count(b, kind) > 0)
                .map(|b| {
                    let (lo, hi) = (base[b], base[b] + bins.count(b, kind));
                    base[b] = hi;
                    let i = b as i32;
                    let corners = [
                        (SegmentValue::Exact(i), lo),
                        (SegmentValue::Exact(i + 1), hi),
                    ];
                    let mut bar = Rectangle::new(corners, colour.filled());
                    bar.set_margin(0, 0, 3, 3);
                    bar.into_dyn()
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(legend(kind, bins.of_kind(kind)))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled())
                });
        }
        let totals = (0..BINS).filter(|&b| bins.bar(b) > 0).map(|b| {
            let style =
                TextStyle::from((SANS, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(
                thousands(bins.bar(b)),
                (SegmentValue::CenterOf(b as i32), bins.bar(b)),
                style,
            )
        });
        chart.draw_series(totals).map_err(err)?;

        // The threshold may fall inside a bin: place it in pixels between
        // the bin's edges.
        let whole = threshold.floor().clamp(0.0, f64::from(last - 1));
        let i = whole as i32;
        let left = chart.backend_coord(&(SegmentValue::Exact(i), 0));
        let right = chart.backend_coord(&(SegmentValue::Exact(i + 1), 0));
        let top_px = chart.backend_coord(&(SegmentValue::Exact(i), y_max)).1;
        let x = left.0 + ((right.0 - left.0) as f64 * (threshold - whole)) as i32;
        let line =
            DashedPathElement::new(vec![(x, left.1), (x, top_px)], 8, 5, BLACK.stroke_width(2));
        root.draw(&line).map_err(err)?;
        let label_style =
            TextStyle::from((SANS, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(
            threshold_label.to_owned(),
            (x + 6, top_px + 4),
            label_style,
        ))
        .map_err(err)?;

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(12)
            .label_font((SANS, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Png {
        bytes: encode(&rgb)?,
        width: WIDTH,
        height: HEIGHT,
    })
}

fn encode(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}
