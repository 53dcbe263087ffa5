//! Anti-aliased strokes and fills for the scene's vector items.
//!
//! A pixel's coverage is estimated from the distance between its centre and
//! the shape's edge, ramping linearly over one pixel. That is exact for
//! straight edges far from corners and close enough for marker-sized shapes.
//! Each shape is painted with one blend per pixel, so overlapping pieces of
//! the same stroke (joins, dashes that turn a corner) do not darken.

use image::RgbImage;

/// A point in pixel coordinates; `(0, 0)` is the top-left corner of the
/// top-left pixel, whose centre is `(0.5, 0.5)`.
pub(crate) type Point = [f64; 2];

/// Coverage in `[0, 1]` of each pixel of a window of the canvas.
struct Coverage {
    x0: i64,
    y0: i64,
    width: i64,
    height: i64,
    values: Vec<f32>,
}

impl Coverage {
    /// A window over the pixels touching `[min, max]` widened by `pad`,
    /// clipped to a `canvas_width` by `canvas_height` canvas.
    fn new(canvas: (u32, u32), min: Point, max: Point, pad: f64) -> Self {
        // `as` saturates (and maps NaN to 0), so the clamps below keep every
        // index inside the canvas whatever the coordinates.
        let lo = |v: f64, limit: u32| ((v - pad).floor() as i64 - 1).clamp(0, i64::from(limit));
        let hi = |v: f64, limit: u32| ((v + pad).ceil() as i64 + 1).clamp(0, i64::from(limit));
        let (x0, x1) = (lo(min[0], canvas.0), hi(max[0], canvas.0));
        let (y0, y1) = (lo(min[1], canvas.1), hi(max[1], canvas.1));
        let (width, height) = ((x1 - x0).max(0), (y1 - y0).max(0));
        Self {
            x0,
            y0,
            width,
            height,
            values: vec![0.0; (width * height) as usize],
        }
    }

    /// Raises the coverage of the pixels near `[min, max]` (widened by
    /// `pad`) to `f(centre)` where that is larger.
    fn add(&mut self, min: Point, max: Point, pad: f64, f: impl Fn(Point) -> f64) {
        let range = |lo: f64, hi: f64, start: i64, len: i64| {
            let a = ((lo - pad).floor() as i64 - 1).clamp(start, start + len);
            let b = ((hi + pad).ceil() as i64 + 1).clamp(start, start + len);
            a..b
        };
        for y in range(min[1], max[1], self.y0, self.height) {
            for x in range(min[0], max[0], self.x0, self.width) {
                let c = f([x as f64 + 0.5, y as f64 + 0.5]).clamp(0.0, 1.0) as f32;
                let i = ((y - self.y0) * self.width + (x - self.x0)) as usize;
                self.values[i] = self.values[i].max(c);
            }
        }
    }

    fn blend(&self, canvas: &mut RgbImage, color: [u8; 3]) {
        for (i, &c) in self.values.iter().enumerate() {
            if c <= 0.0 {
                continue;
            }
            let i = i as i64;
            let (x, y) = (self.x0 + i % self.width, self.y0 + i / self.width);
            let pixel = canvas.get_pixel_mut(x as u32, y as u32);
            for (channel, ink) in pixel.0.iter_mut().zip(color) {
                let mixed = f32::from(*channel) * (1.0 - c) + f32::from(ink) * c;
                *channel = mixed.round() as u8;
            }
        }
    }
}

fn bounds(points: &[Point]) -> (Point, Point) {
    points.iter().fold(
        ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
        |(lo, hi), p| {
            (
                [lo[0].min(p[0]), lo[1].min(p[1])],
                [hi[0].max(p[0]), hi[1].max(p[1])],
            )
        },
    )
}

/// Distance from `p` to the segment `a`-`b` (a point when they coincide).
fn segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    (ex * ex + ey * ey).sqrt()
}

/// Splits a polyline into the pieces drawn by a dash pattern of alternating
/// on/off lengths that runs on across the vertices, as SVG's
/// `stroke-dasharray` does. An empty pattern (or one with no length) is solid.
pub(crate) fn dash_pieces(points: &[Point], dash: &[f64]) -> Vec<[Point; 2]> {
    let segments = points.windows(2).map(|w| [w[0], w[1]]);
    let period: f64 = dash.iter().map(|d| d.max(0.0)).sum();
    if dash.is_empty() || !period.is_finite() || period <= 0.0 {
        return segments.collect();
    }
    let mut pieces = Vec::new();
    let mut index = 0;
    let mut left = dash[0].max(0.0);
    for [a, b] in segments {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        let at = |t: f64| {
            if len > 0.0 {
                [a[0] + dx * t / len, a[1] + dy * t / len]
            } else {
                a
            }
        };
        let mut t = 0.0;
        loop {
            let step = left.min(len - t);
            if index % 2 == 0 {
                pieces.push([at(t), at(t + step)]);
            }
            t += step;
            left -= step;
            if left > 0.0 {
                break; // the segment ended inside this dash or gap
            }
            index = (index + 1) % dash.len();
            left = dash[index].max(0.0);
            if t >= len && left > 0.0 {
                break;
            }
        }
    }
    pieces
}

/// Strokes a polyline `width` pixels wide with round caps and joins.
pub(crate) fn stroke(
    canvas: &mut RgbImage,
    points: &[Point],
    width: f64,
    dash: &[f64],
    color: [u8; 3],
) {
    if points.is_empty() {
        return;
    }
    let half = width / 2.0;
    let (min, max) = bounds(points);
    let mut coverage = Coverage::new(canvas.dimensions(), min, max, half);
    let pieces = if points.len() == 1 {
        vec![[points[0], points[0]]]
    } else {
        dash_pieces(points, dash)
    };
    for [a, b] in pieces {
        let (lo, hi) = bounds(&[a, b]);
        coverage.add(lo, hi, half, |p| half + 0.5 - segment_distance(p, a, b));
    }
    coverage.blend(canvas, color);
}

/// Fills a polygon (closed implicitly; nonzero winding rule).
pub(crate) fn fill_polygon(canvas: &mut RgbImage, points: &[Point], color: [u8; 3]) {
    if points.len() < 3 {
        return;
    }
    let (min, max) = bounds(points);
    let mut coverage = Coverage::new(canvas.dimensions(), min, max, 0.0);
    let edges = || (0..points.len()).map(|i| (points[i], points[(i + 1) % points.len()]));
    coverage.add(min, max, 0.0, |p| {
        let mut winding = 0;
        let mut distance = f64::INFINITY;
        for (a, b) in edges() {
            distance = distance.min(segment_distance(p, a, b));
            let cross = (b[0] - a[0]) * (p[1] - a[1]) - (p[0] - a[0]) * (b[1] - a[1]);
            if a[1] <= p[1] && b[1] > p[1] && cross > 0.0 {
                winding += 1;
            } else if a[1] > p[1] && b[1] <= p[1] && cross < 0.0 {
                winding -= 1;
            }
        }
        if winding != 0 {
            0.5 + distance
        } else {
            0.5 - distance
        }
    });
    coverage.blend(canvas, color);
}

/// Fills a circle.
pub(crate) fn fill_circle(canvas: &mut RgbImage, center: Point, radius: f64, color: [u8; 3]) {
    let mut coverage = Coverage::new(canvas.dimensions(), center, center, radius);
    coverage.add(center, center, radius, |p| {
        let (dx, dy) = (p[0] - center[0], p[1] - center[1]);
        radius + 0.5 - (dx * dx + dy * dy).sqrt()
    });
    coverage.blend(canvas, color);
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const WHITE: [u8; 3] = [255; 3];
    const INK: [u8; 3] = [200, 0, 0];

    fn canvas() -> RgbImage {
        RgbImage::from_pixel(20, 20, Rgb(WHITE))
    }

    #[test]
    fn horizontal_stroke_on_a_pixel_boundary_is_crisp() {
        let mut img = canvas();
        stroke(&mut img, &[[2.0, 10.0], [18.0, 10.0]], 2.0, &[], INK);
        for x in 2..18 {
            assert_eq!(img.get_pixel(x, 9).0, INK, "x={x}");
            assert_eq!(img.get_pixel(x, 10).0, INK, "x={x}");
            assert_eq!(img.get_pixel(x, 8).0, WHITE, "x={x}");
            assert_eq!(img.get_pixel(x, 11).0, WHITE, "x={x}");
        }
        // Round caps reach one pixel past the ends, partially covered.
        assert_ne!(img.get_pixel(1, 9).0, WHITE);
        assert_eq!(img.get_pixel(0, 9).0, WHITE);
    }

    #[test]
    fn dashes_run_on_across_vertices() {
        let pieces = dash_pieces(&[[0.0, 0.0], [3.0, 0.0], [3.0, 10.0]], &[4.0, 2.0]);
        assert_eq!(
            pieces,
            [
                [[0.0, 0.0], [3.0, 0.0]],
                [[3.0, 0.0], [3.0, 1.0]],
                [[3.0, 3.0], [3.0, 7.0]],
                [[3.0, 9.0], [3.0, 10.0]],
            ]
        );
        // Zero-length dashes are dots.
        let dots = dash_pieces(&[[0.0, 0.0], [10.0, 0.0]], &[0.0, 5.0]);
        assert_eq!(
            dots,
            [
                [[0.0, 0.0], [0.0, 0.0]],
                [[5.0, 0.0], [5.0, 0.0]],
                [[10.0, 0.0], [10.0, 0.0]]
            ]
        );
        // No usable pattern: solid.
        assert_eq!(dash_pieces(&[[0.0, 0.0], [1.0, 0.0]], &[0.0, 0.0]).len(), 1);
    }

    #[test]
    fn polygons_and_circles_cover_their_inside() {
        let mut img = canvas();
        fill_polygon(
            &mut img,
            &[[2.0, 2.0], [8.0, 2.0], [8.0, 8.0], [2.0, 8.0]],
            INK,
        );
        for y in 0..20 {
            for x in 0..20 {
                let inside = (2..8).contains(&x) && (2..8).contains(&y);
                let expect = if inside { INK } else { WHITE };
                assert_eq!(img.get_pixel(x, y).0, expect, "({x}, {y})");
            }
        }
        let mut img = canvas();
        fill_circle(&mut img, [10.0, 10.0], 4.0, INK);
        assert_eq!(img.get_pixel(10, 10).0, INK);
        assert_eq!(img.get_pixel(7, 9).0, INK);
        assert_eq!(img.get_pixel(4, 10).0, WHITE);
        assert_eq!(img.get_pixel(13, 13).0, WHITE); // corner of the bounding square
        let edge = img.get_pixel(13, 10).0; // partly covered
        assert!(edge != WHITE && edge != INK, "{edge:?}");
    }

    #[test]
    fn shapes_off_the_canvas_are_clipped() {
        let mut img = canvas();
        stroke(
            &mut img,
            &[[-50.0, -50.0], [70.0, 70.0]],
            3.0,
            &[5.0, 5.0],
            INK,
        );
        fill_circle(&mut img, [1e12, -1e12], 5.0, INK);
        fill_polygon(&mut img, &[[-5.0, -5.0], [5.0, -5.0], [f64::NAN, 5.0]], INK);
        stroke(&mut img, &[[5.0, 5.0]], 2.0, &[], INK);
        assert_eq!(img.get_pixel(10, 10).0, INK);
    }
}
