//! What the index says of each map: where its peak is and how much of its mass lies in the
//! image's centre or in a given box — enough to sort and filter a dataset's explanations
//! without reading the maps.

use serde::{Deserialize, Serialize};

/// A box of the image in fractions of its height and width, `[y0, y1) × [x0, x1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Top edge, in `[0, 1]`.
    pub y0: f32,
    /// Left edge, in `[0, 1]`.
    pub x0: f32,
    /// Bottom edge (exclusive), in `[0, 1]`.
    pub y1: f32,
    /// Right edge (exclusive), in `[0, 1]`.
    pub x1: f32,
}

impl Region {
    /// The middle half of the image both ways: the "centre" of [`MapStats::centre_share`].
    pub const CENTRE: Region = Region {
        y0: 0.25,
        x0: 0.25,
        y1: 0.75,
        x1: 0.75,
    };

    /// The box, checked: `0 ≤ y0 < y1 ≤ 1` and the same for x.
    pub fn new(y0: f32, x0: f32, y1: f32, x1: f32) -> Option<Self> {
        let valid = |a: f32, b: f32| (0.0..1.0).contains(&a) && a < b && b <= 1.0;
        (valid(y0, y1) && valid(x0, x1)).then_some(Self { y0, x0, y1, x1 })
    }

    /// The rows and columns it covers in a `height × width` map (at least one of each).
    fn pixels(&self, height: usize, width: usize) -> ([usize; 2], [usize; 2]) {
        let span = |a: f32, b: f32, n: usize| {
            let start = ((a * n as f32).round() as usize).min(n.saturating_sub(1));
            let end = ((b * n as f32).round() as usize).clamp(start + 1, n);
            [start, end]
        };
        (
            span(self.y0, self.y1, height),
            span(self.x0, self.x1, width),
        )
    }
}

impl std::str::FromStr for Region {
    type Err = String;

    /// `y0,x0,y1,x1` in fractions of the image, e.g. `0.25,0.25,0.75,0.75`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let values: Vec<f32> = s
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("`{s}`: {e}"))?;
        match values[..] {
            [y0, x0, y1, x1] => Self::new(y0, x0, y1, x1)
                .ok_or_else(|| format!("`{s}`: expected 0 ≤ y0 < y1 ≤ 1 and 0 ≤ x0 < x1 ≤ 1")),
            _ => Err(format!("`{s}`: expected four fractions y0,x0,y1,x1")),
        }
    }
}

/// The summary of one map `[C, H, W]`, taken on its relevance `r(y, x) = Σ_c |map(c, y, x)|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapStats {
    /// Row of the largest relevance (the first in row-major order on a tie).
    pub peak_y: usize,
    /// Column of the largest relevance.
    pub peak_x: usize,
    /// The largest relevance.
    pub max: f32,
    /// `Σ r` over the image.
    pub total: f32,
    /// Share of `Σ r` in [`Region::CENTRE`]; `None` for an all-zero map.
    pub centre_share: Option<f32>,
    /// Share of `Σ r` in the region asked for; `None` without one or for an all-zero map.
    pub region_share: Option<f32>,
}

impl MapStats {
    /// The statistics of `values`, a `[channels, height, width]` map in row-major order.
    ///
    /// ```
    /// use gradcam_audit::{MapStats, Region};
    /// // A 4×4 map with all its mass at row 1, column 2.
    /// let mut map = vec![0.0; 16];
    /// map[4 + 2] = -3.0;
    /// let stats = MapStats::of(&map, [1, 4, 4], Region::new(0.0, 0.5, 0.5, 1.0));
    /// assert_eq!((stats.peak_y, stats.peak_x, stats.max), (1, 2, 3.0));
    /// assert_eq!(stats.centre_share, Some(1.0));
    /// assert_eq!(stats.region_share, Some(1.0));
    /// ```
    pub fn of(
        values: &[f32],
        [channels, height, width]: [usize; 3],
        region: Option<Region>,
    ) -> Self {
        let plane = height * width;
        let mut relevance = vec![0.0_f64; plane];
        for channel in values.chunks_exact(plane.max(1)).take(channels) {
            for (r, v) in relevance.iter_mut().zip(channel) {
                *r += f64::from(v.abs());
            }
        }
        let (mut peak, mut max) = (0, f64::NEG_INFINITY);
        for (i, &r) in relevance.iter().enumerate() {
            if r > max {
                (peak, max) = (i, r);
            }
        }
        let total: f64 = relevance.iter().sum();
        let share = |region: Region| {
            let ([y0, y1], [x0, x1]) = region.pixels(height, width);
            let inside: f64 = (y0..y1)
                .map(|y| {
                    relevance[y * width + x0..y * width + x1]
                        .iter()
                        .sum::<f64>()
                })
                .sum();
            (total > 0.0).then(|| (inside / total) as f32)
        };
        Self {
            peak_y: peak / width.max(1),
            peak_x: peak % width.max(1),
            max: max.max(0.0) as f32,
            total: total as f32,
            centre_share: share(Region::CENTRE),
            region_share: region.and_then(share),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_the_mass_and_ignore_its_sign() {
        // Two channels of a 4×8 map: mass 1 at (0, 0) and 3 (negative) at (2, 5).
        let mut map = vec![0.0; 2 * 32];
        map[0] = 1.0;
        map[32 + 2 * 8 + 5] = -3.0;
        let right = Region::new(0.0, 0.5, 1.0, 1.0).unwrap();
        let stats = MapStats::of(&map, [2, 4, 8], Some(right));
        assert_eq!((stats.peak_y, stats.peak_x), (2, 5));
        assert_eq!((stats.max, stats.total), (3.0, 4.0));
        assert_eq!(stats.region_share, Some(0.75));
        assert_eq!(stats.centre_share, Some(0.75));
        // Moved one column left, the peak moves with it; a zero map has no shares.
        map[32 + 2 * 8 + 5] = 0.0;
        map[32 + 2 * 8 + 4] = -3.0;
        assert_eq!(MapStats::of(&map, [2, 4, 8], None).peak_x, 4);
        let zero = MapStats::of(&[0.0; 32], [1, 4, 8], Some(right));
        assert_eq!((zero.centre_share, zero.region_share), (None, None));
    }

    #[test]
    fn regions_parse_and_are_checked() {
        assert_eq!(
            "0.1, 0.2, 0.5, 0.9".parse::<Region>(),
            Ok(Region::new(0.1, 0.2, 0.5, 0.9).unwrap())
        );
        for bad in ["0.5,0,0.5,1", "0,0,1", "0,0,1,1.5", "a,b,c,d"] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }
}
