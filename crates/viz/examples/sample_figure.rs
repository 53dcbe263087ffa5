//! Renders a sample figure from synthetic maps and writes it as PNG (and SVG
//! next to it).
//!
//! ```text
//! cargo run -p gradcam-viz --example sample_figure -- /tmp/viz_sample.png
//! ```

use std::error::Error;
use std::path::PathBuf;

use gradcam_viz::{Column, Figure, MapRef, SignedStyle};

const SIDE: usize = 28;

/// `(x, y)` in map cells.
type Point = (f32, f32);

/// Distance from point `p` to the segment `a`-`b`.
fn segment_distance(p: Point, a: Point, b: Point) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// A soft-edged polyline drawing in `[0, 1]`, like an MNIST digit.
fn strokes(segments: &[(Point, Point)]) -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let p = ((i % SIDE) as f32, (i / SIDE) as f32);
            let d = segments
                .iter()
                .map(|&(a, b)| segment_distance(p, a, b))
                .fold(f32::INFINITY, f32::min);
            (1.5 - d).clamp(0.0, 1.0)
        })
        .collect()
}

/// A Gaussian blob in `[0, 1]` centred at `c`.
fn blob(c: Point, spread: f32) -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = ((i % SIDE) as f32 - c.0, (i / SIDE) as f32 - c.1);
            (-(x * x + y * y) / (2.0 * spread * spread)).exp()
        })
        .collect()
}

/// Signed "gradient" that is positive on the stroke and negative beside it.
fn guided(digit: &[f32]) -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = (i % SIDE, i / SIDE);
            let left = if x > 1 { digit[i - 2] } else { 0.0 };
            let below = if y + 2 < SIDE {
                digit[i + 2 * SIDE]
            } else {
                0.0
            };
            digit[i] - 0.6 * left.max(below)
        })
        .collect()
}

fn map(values: &[f32]) -> Result<MapRef<'_>, gradcam_viz::VizError> {
    MapRef::new(values, SIDE, SIDE)
}

fn main() -> Result<(), Box<dyn Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("viz_sample.png"), PathBuf::from);

    let seven = strokes(&[((6.0, 6.0), (21.0, 6.0)), ((21.0, 6.0), (11.0, 23.0))]);
    let one = strokes(&[((14.0, 4.0), (14.0, 24.0)), ((14.0, 4.0), (10.0, 8.0))]);
    let four = strokes(&[
        ((8.0, 4.0), (6.0, 15.0)),
        ((6.0, 15.0), (21.0, 15.0)),
        ((17.0, 5.0), (17.0, 24.0)),
    ]);
    let samples = [
        (seven, blob((16.0, 9.0), 5.0), 7, 0.998, 7),
        (one, blob((14.0, 12.0), 6.0), 1, 0.971, 1),
        (four, blob((10.0, 12.0), 4.5), 9, 0.604, 4),
    ];
    let guided: Vec<Vec<f32>> = samples.iter().map(|s| guided(&s.0)).collect();
    let guided_cam: Vec<Vec<f32>> = samples
        .iter()
        .zip(&guided)
        .map(|(s, g)| g.iter().zip(&s.1).map(|(g, c)| g * c).collect())
        .collect();

    let mut figure =
        Figure::new("Sample figure (synthetic maps)").signed_style(SignedStyle::Diverging);
    for (i, (digit, cam, predicted, probability, truth)) in samples.iter().enumerate() {
        let column = Column::new(
            map(digit)?,
            map(cam)?,
            map(&guided[i])?,
            map(&guided_cam[i])?,
        )?
        .prediction(predicted, *probability)
        .truth(truth);
        figure.push_column(column);
    }

    std::fs::write(&out, figure.render_png()?)?;
    std::fs::write(out.with_extension("svg"), figure.render_svg()?)?;
    println!("wrote {} and its .svg", out.display());
    Ok(())
}
