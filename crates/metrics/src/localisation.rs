//! Localisation: does a map point at the object? On the host, for one image's `[H, W]` map
//! (row-major `&[f32]`) and its ground-truth mask (`&[bool]`, same layout):
//!
//! - [`pointing_game`], [`relevance_mass_accuracy`], [`relevance_rank_accuracy`]: Quantus 0.6's
//!   `PointingGame`, `RelevanceMassAccuracy` and `RelevanceRankAccuracy` with their defaults
//!   (below); the pointing game also with TorchRay's pixel tolerance;
//! - [`energy_pointing_game`]: Score-CAM's energy-based pointing game (Wang et al. 2020);
//! - [`wsol_box`] and [`iou`]: the weakly supervised localisation of the Grad-CAM paper
//!   (Selvaraju et al. 2017, after Zhou et al.'s CAM): a box from the map, a hit when its IoU
//!   with a ground-truth box reaches [`WSOL_IOU_HIT`];
//! - [`PixelBox`] and [`box_mask`]: boxes as half-open pixel ranges, and the mask of a box.
//!
//! # Quantus's defaults, matched
//!
//! The three Quantus metrics run with `abs=False, normalise=True,
//! normalise_func=normalise_by_max`, Quantus's defaults for all three:
//!
//! - no absolute value: a signed map is scored signed;
//! - the map is divided by its largest magnitude (unless it is all zero) in `f32`, before
//!   anything else. The three metrics are scale-invariant, but the division can round two
//!   neighbouring values onto one, and a tie at the maximum makes a pointing-game hit: it is
//!   done as Quantus does it. Quantus divides by the largest magnitude of the whole *batch*;
//!   these functions take one map, so they equal Quantus called on a batch of that one map
//!   (on a larger batch, up to that rounding);
//! - Quantus refuses (an `AssertionError`) a map whose values are all equal
//!   ([`LocalisationError::ConstantMap`]) or all negative ([`LocalisationError::AllNegative`]):
//!   so do these functions. (Quantus checks the batch as a whole, these the one map.)
//! - a channel axis is not reduced: Quantus expands a `[N, H, W]` attribution to `[N, 1, H, W]`
//!   and flattens it beside the `[N, 1, H, W]` mask, so a `[N, C, H, W]` attribution with `C > 1`
//!   fails to broadcast in all three metrics. Reduce the channels first (Quantus's examples sum
//!   them); these functions take the 2-D map.
//!
//! Where Quantus returns no number these return an error: an empty mask
//! ([`LocalisationError::EmptyMask`]; Quantus's mass and rank accuracies give NaN there, and its
//! pointing game a hit, its NaN cast into a boolean array) and a map whose values sum to zero
//! (mass accuracy, [`LocalisationError::ZeroTotal`]). Quantus's `PointingGame(weighted=True)`
//! raises a `TypeError` on every batch in 0.6.0 (it assigns a `keepdims` column into a boolean
//! array), so it has no output to equal; [`energy_pointing_game`] is the energy-based variant of
//! the literature instead. No function panics on user data: a shape that does not fit, a NaN or
//! an infinity in the map is an error too.
//!
//! `tests/localisation_parity.rs` checks every function against Quantus 0.6.0, a NumPy
//! transcription of TorchRay's tolerance and SciPy's `ndimage.label` on the fixture of
//! `tools/reference/localisation.py`.

use gradcam_explain::SettingError;
use serde::{Deserialize, Serialize};

/// The Grad-CAM paper's threshold for [`wsol_box`]: 15 % of the map's maximum.
pub const WSOL_THRESHOLD: f32 = 0.15;

/// The IoU at which a localisation box counts as correct (ILSVRC's criterion, used by the
/// Grad-CAM paper): `iou(predicted, ground_truth) >= WSOL_IOU_HIT`.
pub const WSOL_IOU_HIT: f32 = 0.5;

/// Why a localisation metric could not be computed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalisationError {
    /// The map or the mask does not hold `height × width` values.
    #[error("the {what} has {found} values, not {}×{}", shape[0], shape[1])]
    Shape {
        /// `"map"` or `"mask"`.
        what: &'static str,
        /// Values given.
        found: usize,
        /// `[height, width]`.
        shape: [usize; 2],
    },
    /// The map and the mask differ in length.
    #[error("the map has {map} values and the mask {mask}")]
    Lengths {
        /// Values of the map.
        map: usize,
        /// Values of the mask.
        mask: usize,
    },
    /// The map has no pixels.
    #[error("the map has no pixels")]
    EmptyMap,
    /// The map holds NaN or an infinity.
    #[error("the map holds a non-finite value at element {element}")]
    NonFinite {
        /// Row-major index of the first bad value.
        element: usize,
    },
    /// The mask selects no pixel, where the metric is undefined.
    #[error("the mask selects no pixel: the metric is undefined")]
    EmptyMask,
    /// Every value of the map is the same: nothing to rank or point at (Quantus refuses it).
    #[error("every value of the map is the same: it ranks no pixel above another")]
    ConstantMap,
    /// Every value of the map is negative (Quantus refuses it).
    #[error("every value of the map is negative")]
    AllNegative,
    /// The map's values sum to zero, so the share inside the mask is undefined.
    #[error("the map's values sum to zero: the share inside the mask is undefined")]
    ZeroTotal,
    /// The map has no positive value: no energy, no object region.
    #[error("the map has no positive value")]
    NoPositiveValue,
    /// The box covers no pixel.
    #[error("the box {bbox:?} covers no pixel")]
    EmptyBox {
        /// The box.
        bbox: PixelBox,
    },
    /// The box reaches outside the image.
    #[error("the box {bbox:?} reaches outside a {}×{} image", shape[0], shape[1])]
    BoxOutside {
        /// The box.
        bbox: PixelBox,
        /// `[height, width]` of the image.
        shape: [usize; 2],
    },
    /// A setting is out of its range.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// A box of pixels: rows `y0..y1` and columns `x0..x1`, half-open, as Rust ranges and NumPy
/// slices (`mask[y0:y1, x0:x1]`). An inclusive box `(ymin, xmin, ymax, xmax)` (ILSVRC's, the
/// PASCAL devkit's) is `PixelBox::new(ymin, xmin, ymax + 1, xmax + 1)`: its pixel area is the
/// devkit's `(xmax − xmin + 1)(ymax − ymin + 1)`.
///
/// ```
/// use gradcam_metrics::PixelBox;
/// let b = PixelBox::new(2, 3, 5, 7);
/// assert_eq!((b.height(), b.width(), b.area()), (3, 4, 12));
/// assert!(PixelBox::new(4, 4, 4, 9).is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PixelBox {
    /// First row.
    pub y0: usize,
    /// First column.
    pub x0: usize,
    /// One past the last row.
    pub y1: usize,
    /// One past the last column.
    pub x1: usize,
}

impl PixelBox {
    /// The box of rows `y0..y1` and columns `x0..x1`.
    pub const fn new(y0: usize, x0: usize, y1: usize, x1: usize) -> Self {
        Self { y0, x0, y1, x1 }
    }

    /// Rows covered (0 when `y1 <= y0`).
    pub const fn height(&self) -> usize {
        self.y1.saturating_sub(self.y0)
    }

    /// Columns covered (0 when `x1 <= x0`).
    pub const fn width(&self) -> usize {
        self.x1.saturating_sub(self.x0)
    }

    /// Pixels covered.
    pub const fn area(&self) -> usize {
        self.height().saturating_mul(self.width())
    }

    /// Whether the box covers no pixel.
    pub const fn is_empty(&self) -> bool {
        self.height() == 0 || self.width() == 0
    }
}

/// The `[H, W]` mask of a box, row-major: `true` inside.
///
/// Errors: [`LocalisationError::EmptyBox`], [`LocalisationError::BoxOutside`] (a box is not
/// clipped).
///
/// ```
/// use gradcam_metrics::{PixelBox, box_mask};
/// let mask = box_mask(PixelBox::new(1, 0, 2, 2), [3, 3])?;
/// assert_eq!(mask, [false, false, false, true, true, false, false, false, false]);
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn box_mask(bbox: PixelBox, shape: [usize; 2]) -> Result<Vec<bool>, LocalisationError> {
    if bbox.is_empty() {
        return Err(LocalisationError::EmptyBox { bbox });
    }
    let [height, width] = shape;
    if bbox.y1 > height || bbox.x1 > width {
        return Err(LocalisationError::BoxOutside { bbox, shape });
    }
    // A mask longer than `isize::MAX` bytes cannot be allocated.
    let len = pixels(shape)
        .filter(|&n| isize::try_from(n).is_ok())
        .ok_or(LocalisationError::Shape {
            what: "mask",
            found: 0,
            shape,
        })?;
    let mut mask = vec![false; len];
    for row in mask.chunks_exact_mut(width).take(bbox.y1).skip(bbox.y0) {
        row[bbox.x0..bbox.x1].fill(true);
    }
    Ok(mask)
}

/// Quantus 0.6's `PointingGame` (Zhang et al. 2018): whether the map's maximum lies in the mask.
/// Every pixel that equals the maximum counts (Quantus's `a == a.max()`): a tie with one
/// maximum inside the mask is a hit. Quantus's defaults (module docs): no absolute value, the map
/// divided by its largest magnitude first (which can make a tie), constant and all-negative maps
/// refused.
///
/// `tolerance_px` widens the mask as TorchRay's `PointingGame` (the EBP benchmark's 15 pixels):
/// a maximum hits when a mask pixel lies at a Euclidean distance *below* `tolerance_px` (its
/// `dy² + dx² < tolerance²`). `0` (and `1`, the same) is Quantus: the maximum itself must be in
/// the mask. TorchRay takes one point; here any maximum within the tolerance hits.
///
/// Errors: shapes ([`LocalisationError::Shape`]), an empty or non-finite map, a constant or
/// all-negative map, an empty mask ([`LocalisationError::EmptyMask`]: Quantus reports a hit
/// there).
///
/// ```
/// use gradcam_metrics::{PixelBox, box_mask, pointing_game};
/// let mut map = vec![0.0f32; 16];
/// map[3 * 4 + 3] = 1.0; // the peak at (3, 3)
/// let mask = box_mask(PixelBox::new(0, 0, 2, 2), [4, 4])?;
/// assert!(!pointing_game(&map, &mask, [4, 4], 0)?);
/// assert!(pointing_game(&map, &mask, [4, 4], 3)?); // (1, 1) is 2√2 < 3 away
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn pointing_game(
    map: &[f32],
    mask: &[bool],
    shape: [usize; 2],
    tolerance_px: u32,
) -> Result<bool, LocalisationError> {
    check_shape("map", map.len(), shape)?;
    check_shape("mask", mask.len(), shape)?;
    let values = quantus_map(map)?;
    check_mask(mask)?;
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut maxima = values
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v == max)
        .map(|(i, _)| i);
    if tolerance_px <= 1 {
        return Ok(maxima.any(|i| mask[i]));
    }
    let [height, width] = shape;
    // Mask pixels per row prefix: row y, columns a..b hold prefix[y][b] − prefix[y][a].
    let mut prefix = vec![0u32; height * (width + 1)];
    for (y, row) in mask.chunks_exact(width).enumerate() {
        let counts = &mut prefix[y * (width + 1)..(y + 1) * (width + 1)];
        for (x, &m) in row.iter().enumerate() {
            counts[x + 1] = counts[x] + u32::from(m);
        }
    }
    // Beyond the image's extent a larger tolerance accepts nothing more.
    let t = i64::from(tolerance_px).min((height + width) as i64);
    let within = |i: usize| {
        let (py, px) = ((i / width) as i64, (i % width) as i64);
        let rows = (py - (t - 1)).max(0)..(py + t).min(height as i64);
        rows.into_iter().any(|y| {
            let dy = y - py;
            // The widest dx with dx² + dy² < t².
            let reach = ((t * t - dy * dy - 1) as u64).isqrt() as i64;
            let (a, b) = ((px - reach).max(0), (px + reach + 1).min(width as i64));
            let row = &prefix[y as usize * (width + 1)..];
            row[b as usize] > row[a as usize]
        })
    };
    Ok(maxima.any(within))
}

/// The energy-based pointing game of Score-CAM (Wang et al. 2020): the share of the map's energy
/// that falls inside the mask, `Σ_mask max(a, 0) / Σ max(a, 0)` — the map's positive part, as a
/// CAM after its ReLU (on a non-negative map this is [`relevance_mass_accuracy`]). Summed in
/// `f64`. Quantus 0.6 has no working counterpart (its `PointingGame(weighted=True)` raises, and
/// would have weighed a hit by the mask's area, not by energy).
///
/// Errors: an empty or non-finite map, lengths that differ, an empty mask,
/// [`LocalisationError::NoPositiveValue`].
///
/// ```
/// use gradcam_metrics::energy_pointing_game;
/// let map = [3.0, 1.0, -5.0, 0.0];
/// let mask = [true, false, true, false];
/// assert_eq!(energy_pointing_game(&map, &mask)?, 0.75);
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn energy_pointing_game(map: &[f32], mask: &[bool]) -> Result<f32, LocalisationError> {
    check_map(map)?;
    check_lengths(map, mask)?;
    check_mask(mask)?;
    let (mut inside, mut total) = (0.0f64, 0.0f64);
    for (&v, &m) in map.iter().zip(mask) {
        let e = f64::from(v.max(0.0));
        total += e;
        if m {
            inside += e;
        }
    }
    if total == 0.0 {
        return Err(LocalisationError::NoPositiveValue);
    }
    Ok((inside / total) as f32)
}

/// Quantus 0.6's `RelevanceMassAccuracy` (Arras et al. 2022): the share of the map's relevance
/// inside the mask, `Σ_mask a / Σ a`, signed values as they are (Quantus's `abs=False`; a signed
/// map can give a value outside [0, 1]). Quantus's defaults (module docs); summed in `f64` where
/// Quantus sums the `f32` map in `f32`.
///
/// Errors: an empty or non-finite map, lengths that differ, a constant or all-negative map, an
/// empty mask, [`LocalisationError::ZeroTotal`] (Quantus: NaN or an infinity).
///
/// ```
/// use gradcam_metrics::relevance_mass_accuracy;
/// let map = [3.0, 1.0, 0.0, 4.0];
/// let mask = [true, false, false, true];
/// assert_eq!(relevance_mass_accuracy(&map, &mask)?, 0.875);
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn relevance_mass_accuracy(map: &[f32], mask: &[bool]) -> Result<f32, LocalisationError> {
    check_lengths(map, mask)?;
    let values = quantus_map(map)?;
    check_mask(mask)?;
    let (mut inside, mut total) = (0.0f64, 0.0f64);
    for (&v, &m) in values.iter().zip(mask) {
        total += f64::from(v);
        if m {
            inside += f64::from(v);
        }
    }
    if total == 0.0 {
        return Err(LocalisationError::ZeroTotal);
    }
    Ok((inside / total) as f32)
}

/// Quantus 0.6's `RelevanceRankAccuracy` (Arras et al. 2022): of the `K` highest-ranked pixels,
/// `K` the mask's size, the share inside the mask. Quantus's defaults (module docs).
///
/// Ties: the ranking is by descending value, tied values by position (row-major, the first
/// first), which is NumPy's `argsort(-a, kind="stable")`. Quantus ranks with NumPy's default
/// `argsort`, which is not stable: where tied values straddle the `K`-th place (a quantised or
/// clipped map), its result depends on NumPy's sorting kernel (AVX-512, AVX2 or the scalar
/// introsort) and so on the machine; anywhere else the two are equal.
///
/// Errors: an empty or non-finite map, lengths that differ, a constant or all-negative map, an
/// empty mask (Quantus: NaN).
///
/// ```
/// use gradcam_metrics::relevance_rank_accuracy;
/// let map = [0.9, 0.1, 0.8, 0.7];
/// let mask = [true, true, false, false];
/// assert_eq!(relevance_rank_accuracy(&map, &mask)?, 0.5); // the top two: 0.9 in, 0.8 out
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn relevance_rank_accuracy(map: &[f32], mask: &[bool]) -> Result<f32, LocalisationError> {
    check_lengths(map, mask)?;
    let values = quantus_map(map)?;
    let k = check_mask(mask)?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    // Stable: equal values (0.0 and −0.0 among them) keep their positions' order.
    order.sort_by(|&i, &j| {
        values[j]
            .partial_cmp(&values[i])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let hits = order[..k].iter().filter(|&&i| mask[i]).count();
    Ok((hits as f64 / k as f64) as f32)
}

/// The Grad-CAM paper's localisation box (Selvaraju et al. 2017, § 4.1, after Zhou et al.'s CAM):
/// the pixels at or above `threshold_fraction` of the map's maximum (`a >= t · max`, the product
/// in `f32`; the paper's 15 % is [`WSOL_THRESHOLD`]), their largest connected component, and its
/// bounding box.
///
/// Components are 8-connected (diagonal neighbours join), as MATLAB's `bwlabel`, SciPy's and
/// scikit-image's `label` with full connectivity, and the contours of OpenCV's `findContours` that
/// the CAM evaluation code draws boxes around. The largest is the one with the most pixels; of
/// equal ones, the first in row-major order (the lowest label of `scipy.ndimage.label`). The
/// map is taken as it is (no normalisation: the threshold is relative to the maximum).
///
/// Errors: shapes, an empty or non-finite map, [`LocalisationError::NoPositiveValue`] (a map whose
/// maximum is not above zero marks no region), a `threshold_fraction` outside [0, 1].
///
/// ```
/// use gradcam_metrics::{PixelBox, WSOL_THRESHOLD, iou, wsol_box};
/// #[rustfmt::skip]
/// let map = [
///     0.0, 0.9, 0.0, 0.0, 0.0,
///     0.0, 1.0, 0.0, 0.0, 0.5,
///     0.0, 0.0, 0.8, 0.0, 0.5,
///     0.0, 0.0, 0.0, 0.0, 0.0,
/// ];
/// // (0, 1), (1, 1) and (2, 2) are one 8-connected component of three pixels, larger than the
/// // column at x = 4.
/// let found = wsol_box(&map, [4, 5], WSOL_THRESHOLD)?;
/// assert_eq!(found, PixelBox::new(0, 1, 3, 3));
/// assert_eq!(iou(found, PixelBox::new(0, 1, 3, 2)), 0.5);
/// # Ok::<(), gradcam_metrics::LocalisationError>(())
/// ```
pub fn wsol_box(
    map: &[f32],
    shape: [usize; 2],
    threshold_fraction: f32,
) -> Result<PixelBox, LocalisationError> {
    SettingError::check(
        (0.0..=1.0).contains(&threshold_fraction),
        "wsol_box",
        "threshold_fraction",
        threshold_fraction,
        "a fraction of the maximum in [0, 1]",
    )?;
    check_shape("map", map.len(), shape)?;
    check_map(map)?;
    let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max <= 0.0 {
        return Err(LocalisationError::NoPositiveValue);
    }
    let threshold = threshold_fraction * max;
    let [height, width] = shape;
    let inside: Vec<bool> = map.iter().map(|&v| v >= threshold).collect();
    let mut seen = vec![false; map.len()];
    let mut stack = Vec::new();
    // (pixels, box) of the largest component so far.
    let mut best: Option<(usize, PixelBox)> = None;
    for start in 0..map.len() {
        if !inside[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut count, mut bbox) = (0, PixelBox::new(usize::MAX, usize::MAX, 0, 0));
        while let Some(i) = stack.pop() {
            let (y, x) = (i / width, i % width);
            count += 1;
            bbox = PixelBox::new(
                bbox.y0.min(y),
                bbox.x0.min(x),
                bbox.y1.max(y + 1),
                bbox.x1.max(x + 1),
            );
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    let j = ny * width + nx;
                    if inside[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if best.is_none_or(|(most, _)| count > most) {
            best = Some((count, bbox));
        }
    }
    // The maximum itself passes the threshold (t · max ≤ max for t ≤ 1, max > 0).
    best.map(|(_, bbox)| bbox)
        .ok_or(LocalisationError::NoPositiveValue)
}

/// Intersection over union of two boxes, by pixel areas: `|a ∩ b| / |a ∪ b|`, in [0, 1]; 0 when
/// both are empty. A localisation is correct when this reaches [`WSOL_IOU_HIT`] for a
/// ground-truth box of the class.
///
/// ```
/// use gradcam_metrics::{PixelBox, iou};
/// let a = PixelBox::new(0, 0, 2, 2);
/// assert_eq!(iou(a, a), 1.0);
/// assert_eq!(iou(a, PixelBox::new(1, 1, 3, 3)), 1.0 / 7.0);
/// assert_eq!(iou(a, PixelBox::new(2, 2, 4, 4)), 0.0);
/// ```
pub fn iou(a: PixelBox, b: PixelBox) -> f32 {
    let overlap = PixelBox::new(
        a.y0.max(b.y0),
        a.x0.max(b.x0),
        a.y1.min(b.y1),
        a.x1.min(b.x1),
    );
    let (inter, a, b) = (overlap.area() as f64, a.area() as f64, b.area() as f64);
    let union = a + b - inter;
    if union <= 0.0 {
        0.0
    } else {
        (inter / union) as f32
    }
}

/// `height × width`, or `None` when it overflows.
fn pixels(shape: [usize; 2]) -> Option<usize> {
    shape[0].checked_mul(shape[1])
}

fn check_shape(
    what: &'static str,
    found: usize,
    shape: [usize; 2],
) -> Result<(), LocalisationError> {
    if pixels(shape) == Some(found) {
        Ok(())
    } else {
        Err(LocalisationError::Shape { what, found, shape })
    }
}

fn check_lengths(map: &[f32], mask: &[bool]) -> Result<(), LocalisationError> {
    if map.len() == mask.len() {
        Ok(())
    } else {
        Err(LocalisationError::Lengths {
            map: map.len(),
            mask: mask.len(),
        })
    }
}

fn check_map(map: &[f32]) -> Result<(), LocalisationError> {
    if map.is_empty() {
        return Err(LocalisationError::EmptyMap);
    }
    match map.iter().position(|v| !v.is_finite()) {
        Some(element) => Err(LocalisationError::NonFinite { element }),
        None => Ok(()),
    }
}

/// The mask's size, refused when zero.
fn check_mask(mask: &[bool]) -> Result<usize, LocalisationError> {
    match mask.iter().filter(|&&m| m).count() {
        0 => Err(LocalisationError::EmptyMask),
        k => Ok(k),
    }
}

/// The map as Quantus's `general_preprocess` hands it to its localisation metrics with their
/// defaults: checked as `asserts.assert_attributions` does (not constant, not all negative), then
/// `normalise_by_max` (divided by its largest magnitude in `f32`, unless all zero); no `abs`.
fn quantus_map(map: &[f32]) -> Result<Vec<f32>, LocalisationError> {
    check_map(map)?;
    let first = map[0];
    if map.iter().all(|&v| v == first) {
        return Err(LocalisationError::ConstantMap);
    }
    if map.iter().all(|&v| v < 0.0) {
        return Err(LocalisationError::AllNegative);
    }
    // Not constant, so some value is non-zero and the largest magnitude is positive.
    let largest = map.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    Ok(map.iter().map(|&v| v / largest).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_a_strict_euclidean_disc() {
        // The peak at (0, 0); a single mask pixel at (3, 4): 5 pixels away.
        let mut map = vec![0.0f32; 36];
        map[0] = 1.0;
        let mut mask = vec![false; 36];
        mask[3 * 6 + 4] = true;
        for (tolerance, hit) in [(0, false), (1, false), (5, false), (6, true), (15, true)] {
            assert_eq!(
                pointing_game(&map, &mask, [6, 6], tolerance).unwrap(),
                hit,
                "tolerance {tolerance}"
            );
        }
    }

    #[test]
    fn a_huge_tolerance_accepts_any_mask_pixel() {
        let mut map = vec![0.0f32; 12];
        map[0] = 1.0;
        let mut mask = vec![false; 12];
        mask[11] = true;
        assert!(pointing_game(&map, &mask, [3, 4], u32::MAX).unwrap());
        assert!(!pointing_game(&map, &mask, [3, 4], 3).unwrap()); // (2, 3) is √13 away
        assert!(pointing_game(&map, &mask, [3, 4], 4).unwrap());
    }

    #[test]
    fn refusals_are_typed() {
        let mask = [true, false, false, false];
        assert_eq!(
            relevance_mass_accuracy(&[1.0; 4], &mask),
            Err(LocalisationError::ConstantMap)
        );
        assert_eq!(
            relevance_rank_accuracy(&[-1.0, -2.0, -3.0, -0.5], &mask),
            Err(LocalisationError::AllNegative)
        );
        assert_eq!(
            pointing_game(&[1.0, 0.0, 0.0, 0.0], &[false; 4], [2, 2], 0),
            Err(LocalisationError::EmptyMask)
        );
        assert_eq!(
            pointing_game(&[1.0, 0.0, 0.0], &mask, [2, 2], 0),
            Err(LocalisationError::Shape {
                what: "map",
                found: 3,
                shape: [2, 2]
            })
        );
        assert_eq!(
            relevance_mass_accuracy(&[1.0, -1.0, 0.5, -0.5], &mask),
            Err(LocalisationError::ZeroTotal)
        );
        assert_eq!(
            energy_pointing_game(&[0.0, -1.0, -0.5, 0.0], &mask),
            Err(LocalisationError::NoPositiveValue)
        );
        assert_eq!(
            relevance_mass_accuracy(&[1.0, f32::NAN, 0.5, 0.0], &mask),
            Err(LocalisationError::NonFinite { element: 1 })
        );
        assert_eq!(
            relevance_rank_accuracy(&[1.0, 0.0], &mask),
            Err(LocalisationError::Lengths { map: 2, mask: 4 })
        );
        assert_eq!(
            wsol_box(&[-1.0, 0.0, -2.0, 0.0], [2, 2], WSOL_THRESHOLD),
            Err(LocalisationError::NoPositiveValue)
        );
        assert!(matches!(
            wsol_box(&[1.0, 0.0, 0.0, 0.0], [2, 2], 1.5),
            Err(LocalisationError::Setting(_))
        ));
        assert!(matches!(
            wsol_box(&[1.0, 0.0, 0.0, 0.0], [2, 2], f32::NAN),
            Err(LocalisationError::Setting(_))
        ));
        assert_eq!(
            pointing_game(&[], &[], [0, 0], 0),
            Err(LocalisationError::EmptyMap)
        );
        assert!(matches!(
            pointing_game(&[1.0], &[true], [usize::MAX, 2], 0),
            Err(LocalisationError::Shape { .. })
        ));
    }

    #[test]
    fn boxes_outside_or_empty_are_refused() {
        assert_eq!(
            box_mask(PixelBox::new(0, 0, 3, 2), [2, 2]),
            Err(LocalisationError::BoxOutside {
                bbox: PixelBox::new(0, 0, 3, 2),
                shape: [2, 2]
            })
        );
        assert_eq!(
            box_mask(PixelBox::new(1, 1, 1, 2), [2, 2]),
            Err(LocalisationError::EmptyBox {
                bbox: PixelBox::new(1, 1, 1, 2)
            })
        );
        assert_eq!(
            box_mask(PixelBox::new(0, 1, 2, 2), [2, 2]).unwrap(),
            [false, true, false, true]
        );
        assert_eq!(
            iou(PixelBox::new(1, 1, 1, 1), PixelBox::new(2, 2, 2, 2)),
            0.0
        );
        // Inverted boxes are empty, not negative.
        assert_eq!(
            iou(PixelBox::new(3, 3, 1, 1), PixelBox::new(0, 0, 4, 4)),
            0.0
        );
    }

    #[test]
    fn signed_zero_ties_with_zero_in_the_ranking() {
        // 0.0 and −0.0 are one value: the stable order keeps (1) before (2).
        let map = [1.0, 0.0, -0.0, -1.0];
        assert_eq!(
            relevance_rank_accuracy(&map, &[true, true, false, false]),
            Ok(1.0)
        );
        assert_eq!(
            relevance_rank_accuracy(&map, &[true, false, true, false]),
            Ok(0.5)
        );
    }
}
