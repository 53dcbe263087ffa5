//! Deletion and insertion curves (Petsiuk et al., "RISE", 2018).

use burn::config::Config;
use gradcam_explain::{Map, SettingError};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::Result;

/// What replaces a pixel that is not (yet) shown.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// One value for every element, in the model's input space (e.g. a black pixel after
    /// normalisation).
    Constant(f32),
    /// The image blurred by a Gaussian of this standard deviation (in pixels; kernel radius
    /// `⌈3σ⌉`, zero padding as RISE's `conv2d` blur): RISE's insertion canvas.
    Blur {
        /// Standard deviation in pixels.
        sigma: f32,
    },
}

/// Settings of [`deletion_curves`] and [`insertion_curves`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct CurveConfig {
    /// Steps from no pixel to all pixels; step `k` changes the `⌊k·P/steps⌋` most relevant of
    /// the `P` pixels (28 steps of 28 pixels on a 28×28 image).
    #[config(default = 28)]
    pub steps: usize,
    /// The replacement of removed (deletion) or not yet inserted (insertion) pixels.
    #[config(default = "Baseline::Constant(0.0)")]
    pub baseline: Baseline,
}

/// Which way a curve goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CurveKind {
    /// Start from the image, replace the most relevant pixels first by the baseline (a faithful
    /// map makes the score fall fast: lower area is better).
    Deletion,
    /// Start from the baseline, restore the most relevant pixels first (a faithful map makes the
    /// score rise fast: higher area is better).
    Insertion,
}

/// The score of one image after each step, and the area under it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// `steps + 1` scores, from step 0 (nothing changed) to the last step (every pixel changed).
    pub scores: Vec<f32>,
    /// Area under the curve over `x = k / steps ∈ [0, 1]`, by the trapezoid rule.
    pub auc: f32,
}

/// Deletion curves: the batch's score (e.g. [`gradcam_explain::Score::Probability`]) as the
/// pixels are replaced by the baseline in decreasing order of the map (summed over channels;
/// ties in raster order). One map per image, `[C, H, W]` or `[1, H, W]`.
pub fn deletion_curves(
    batch: &Batch<'_>,
    maps: &[Map],
    config: &CurveConfig,
) -> Result<Vec<Curve>> {
    curves(batch, maps, config, CurveKind::Deletion)
}

/// Insertion curves: the score as the pixels are restored onto the baseline in decreasing
/// order of the map. See [`deletion_curves`].
pub fn insertion_curves(
    batch: &Batch<'_>,
    maps: &[Map],
    config: &CurveConfig,
) -> Result<Vec<Curve>> {
    curves(batch, maps, config, CurveKind::Insertion)
}

/// Deletion or insertion curves, by `kind`.
pub fn curves(
    batch: &Batch<'_>,
    maps: &[Map],
    config: &CurveConfig,
    kind: CurveKind,
) -> Result<Vec<Curve>> {
    let owner = "CurveConfig";
    SettingError::check(config.steps > 0, owner, "steps", config.steps, "at least 1")?;
    match config.baseline {
        Baseline::Blur { sigma } => SettingError::check(
            sigma.is_finite() && sigma > 0.0,
            owner,
            "baseline",
            format!("Blur {{ sigma: {sigma} }}"),
            "a finite sigma > 0",
        )?,
        Baseline::Constant(value) => SettingError::check(
            value.is_finite(),
            owner,
            "baseline",
            format!("Constant({value})"),
            "a finite value",
        )?,
    }
    let relevance = batch.pixel_relevance(maps)?;
    SettingError::check(
        config.steps <= batch.pixels(),
        owner,
        "steps",
        config.steps,
        "at most the number of pixels of an image",
    )?;
    let points = config.steps + 1;
    // Whole images per pass, so each image's curve is built and scored in one go, and the
    // perturbed images in memory stay bounded.
    let images_per_pass = (batch.scorer().batch_size() / points).max(1);
    let mut result = Vec::with_capacity(batch.len());
    for start in (0..batch.len()).step_by(images_per_pass) {
        let end = (start + images_per_pass).min(batch.len());
        let mut values = Vec::with_capacity((end - start) * points * batch.per_image());
        let mut classes = Vec::with_capacity((end - start) * points);
        for (index, relevance) in relevance.iter().enumerate().take(end).skip(start) {
            values.extend(curve_images(batch, index, relevance, config, kind));
            classes.extend(std::iter::repeat_n(batch.classes()[index], points));
        }
        let scored = batch.scores(&values, &classes)?;
        result.extend(scored.chunks(points).map(|curve| Curve {
            scores: curve.to_vec(),
            auc: trapezoid_auc(curve),
        }));
    }
    Ok(result)
}

/// The `steps + 1` images of one image's curve, concatenated.
fn curve_images(
    batch: &Batch<'_>,
    index: usize,
    relevance: &[f32],
    config: &CurveConfig,
    kind: CurveKind,
) -> Vec<f32> {
    let image = batch.image(index);
    let [channels, height, width] = batch.image_shape();
    let baseline = match config.baseline {
        Baseline::Constant(value) => vec![value; image.len()],
        Baseline::Blur { sigma } => gaussian_blur(image, channels, height, width, sigma),
    };
    let (first, second) = match kind {
        CurveKind::Deletion => (image, baseline.as_slice()),
        CurveKind::Insertion => (baseline.as_slice(), image),
    };
    let order = descending_order(relevance);
    let pixels = order.len();
    let mut current = first.to_vec();
    let mut shown = 0;
    let mut out = Vec::with_capacity((config.steps + 1) * image.len());
    for step in 0..=config.steps {
        let target = step * pixels / config.steps;
        for &pixel in &order[shown..target] {
            for channel in 0..channels {
                let at = channel * pixels + pixel;
                current[at] = second[at];
            }
        }
        shown = target;
        out.extend_from_slice(&current);
    }
    out
}

/// Pixel indices by decreasing value, ties in index order.
pub(crate) fn descending_order(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order
}

/// Area under `y` sampled at `x = k / (len − 1)`, by the trapezoid rule (0 for fewer than two
/// points).
///
/// ```
/// use gradcam_metrics::trapezoid_auc;
/// assert_eq!(trapezoid_auc(&[1.0, 1.0, 1.0]), 1.0);
/// assert_eq!(trapezoid_auc(&[0.0, 1.0]), 0.5);
/// ```
pub fn trapezoid_auc(y: &[f32]) -> f32 {
    if y.len() < 2 {
        return 0.0;
    }
    let sum: f64 = y
        .windows(2)
        .map(|w| (w[0] as f64 + w[1] as f64) / 2.0)
        .sum();
    (sum / (y.len() - 1) as f64) as f32
}

/// A separable Gaussian blur of each channel, zero padding, kernel radius `⌈3σ⌉`.
fn gaussian_blur(
    image: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    sigma: f32,
) -> Vec<f32> {
    // Beyond the image the kernel only meets zero padding.
    let radius = ((3.0 * sigma).ceil() as usize).min(height.max(width)) as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-((d * d) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut dst = vec![0.0; src.len()];
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let mut acc = 0.0;
                    for (i, k) in kernel.iter().enumerate() {
                        let d = i as isize - radius;
                        let (sx, sy) = if horizontal {
                            (x as isize + d, y as isize)
                        } else {
                            (x as isize, y as isize + d)
                        };
                        if sx >= 0 && sy >= 0 && (sx as usize) < width && (sy as usize) < height {
                            acc += k * src[(c * height + sy as usize) * width + sx as usize];
                        }
                    }
                    dst[(c * height + y) * width + x] = acc;
                }
            }
        }
        dst
    };
    pass(&pass(image, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_descending_and_stable() {
        assert_eq!(descending_order(&[0.5, 1.0, 0.5, 2.0]), vec![3, 1, 0, 2]);
    }

    #[test]
    fn blur_keeps_a_constant_interior_and_mass() {
        let image = vec![1.0; 15 * 15];
        let blurred = gaussian_blur(&image, 1, 15, 15, 1.0);
        assert!((blurred[7 * 15 + 7] - 1.0).abs() < 1e-5);
        // Zero padding darkens the corners.
        assert!(blurred[0] < 0.5);
    }
}
