//! ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
//! Attribution Methods", 2022), as pytorch-grad-cam's `metrics.road` computes it.

use burn::config::Config;
use gradcam_explain::{Map, SettingError, noise};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::Result;

/// Which pixels ROAD removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoadOrder {
    /// MoRF: pixels whose relevance is at or above the percentile are imputed (a faithful map
    /// makes the score drop: lower is better).
    MostRelevantFirst,
    /// LeRF: pixels whose relevance is at or below the percentile are imputed — exactly,
    /// pixels whose `1 − relevance` is at or above the `1 − relevance` percentile (a faithful
    /// map keeps the score: higher is better).
    LeastRelevantFirst,
}

/// Settings of [`road`] and [`road_combined`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct RoadConfig {
    /// Standard deviation of the Gaussian noise added to each imputed value (pytorch-grad-cam's
    /// `NoisyLinearImputer(noise=0.01)`); 0 gives the plain linear imputation.
    #[config(default = 0.01)]
    pub noise: f32,
    /// Seed of that noise.
    #[config(default = 0)]
    pub seed: u64,
}

/// pytorch-grad-cam's default percentiles, 10 to 90.
pub const ROAD_PERCENTILES: [f32; 9] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];

/// ROAD over several percentiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoadScores {
    /// The percentiles, in order.
    pub percentiles: Vec<f32>,
    /// `[percentile][image]`: MoRF score change (imputed − original).
    pub most_relevant_first: Vec<Vec<f32>>,
    /// `[percentile][image]`: LeRF score change.
    pub least_relevant_first: Vec<Vec<f32>>,
    /// Per image, `(mean LeRF − mean MoRF) / 2` (pytorch-grad-cam's `ROADCombined`: higher is
    /// better).
    pub combined: Vec<f32>,
}

/// ROAD at one percentile: the change of each image's score (the batch's, e.g.
/// [`gradcam_explain::Score::Probability`] for pytorch-grad-cam's
/// `ClassifierOutputSoftmaxTarget`) when the pixels `order` selects are replaced by the noisy
/// linear imputation of their neighbours.
///
/// The maps are summed over channels; the threshold is NumPy's linear-interpolation
/// percentile; pixels strictly below it are kept. Where nothing is kept (ties at the minimum
/// fill the percentile) the imputation has no data and the image becomes 0 everywhere (the data
/// mean, for normalised inputs), as pytorch-grad-cam's solver returns.
pub fn road(
    batch: &Batch<'_>,
    maps: &[Map],
    order: RoadOrder,
    percentile: f32,
    config: &RoadConfig,
) -> Result<Vec<f32>> {
    check_noise(config)?;
    let relevance = batch.pixel_relevance(maps)?;
    road_changes(batch, &relevance, order, percentile, config)
}

/// ROAD at every percentile, both orders, and their combination (pytorch-grad-cam's
/// `ROADCombined`; use [`ROAD_PERCENTILES`] for its defaults).
pub fn road_combined(
    batch: &Batch<'_>,
    maps: &[Map],
    percentiles: &[f32],
    config: &RoadConfig,
) -> Result<RoadScores> {
    SettingError::check(
        !percentiles.is_empty(),
        "road_combined",
        "percentiles",
        "[]",
        "at least one percentile",
    )?;
    check_noise(config)?;
    let relevance = batch.pixel_relevance(maps)?;
    let mut most = Vec::with_capacity(percentiles.len());
    let mut least = Vec::with_capacity(percentiles.len());
    for &percentile in percentiles {
        for (order, out) in [
            (RoadOrder::MostRelevantFirst, &mut most),
            (RoadOrder::LeastRelevantFirst, &mut least),
        ] {
            out.push(road_changes(batch, &relevance, order, percentile, config)?);
        }
    }
    let mean = |rows: &[Vec<f32>], image: usize| {
        rows.iter().map(|row| row[image]).sum::<f32>() / rows.len() as f32
    };
    let combined = (0..batch.len())
        .map(|image| (mean(&least, image) - mean(&most, image)) / 2.0)
        .collect();
    Ok(RoadScores {
        percentiles: percentiles.to_vec(),
        most_relevant_first: most,
        least_relevant_first: least,
        combined,
    })
}

fn check_noise(config: &RoadConfig) -> Result<()> {
    Ok(SettingError::check(
        config.noise.is_finite() && config.noise >= 0.0,
        "RoadConfig",
        "noise",
        config.noise,
        "a finite value ≥ 0",
    )?)
}

fn road_changes(
    batch: &Batch<'_>,
    relevance: &[Vec<f32>],
    order: RoadOrder,
    percentile: f32,
    config: &RoadConfig,
) -> Result<Vec<f32>> {
    SettingError::check(
        (0.0..=100.0).contains(&percentile),
        "road",
        "percentile",
        percentile,
        "a value in [0, 100]",
    )?;
    let [channels, height, width] = batch.image_shape();
    // The images alone cross to the worker threads (the model need not be `Sync`).
    let (images, size) = (batch.images(), batch.per_image());
    let imputed = parallel_map(batch.len(), |index| {
        let keep = kept_pixels(&relevance[index], order, percentile);
        let original = &images[index * size..(index + 1) * size];
        let mut image = impute(original, [channels, height, width], &keep);
        if config.noise > 0.0 {
            let missing: Vec<usize> = (0..keep.len()).filter(|&p| !keep[p]).collect();
            let seed = noise_seed(config.seed, index, order, percentile);
            let noise = noise::gaussian(missing.len() * channels, config.noise, seed);
            for (c, noise) in noise.chunks(missing.len().max(1)).enumerate() {
                for (&pixel, n) in missing.iter().zip(noise) {
                    image[c * height * width + pixel] += n;
                }
            }
        }
        image
    });
    let values: Vec<f32> = imputed.into_iter().flatten().collect();
    let after = batch.scores(&values, batch.classes())?;
    Ok(after
        .iter()
        .zip(batch.clean_scores())
        .map(|(a, b)| a - b)
        .collect())
}

/// Distinct noise per image, order and percentile, reproducible from one seed.
fn noise_seed(seed: u64, index: usize, order: RoadOrder, percentile: f32) -> u64 {
    let order = match order {
        RoadOrder::MostRelevantFirst => 0,
        RoadOrder::LeastRelevantFirst => 1,
    };
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (index as u64) << 20
        ^ (order << 16)
        ^ u64::from(percentile.to_bits())
}

/// Which pixels ROAD keeps: relevance strictly below the percentile (MoRF), or `1 − relevance`
/// strictly below its percentile (LeRF), as pytorch-grad-cam computes them in `float32`.
pub(crate) fn kept_pixels(relevance: &[f32], order: RoadOrder, percentile: f32) -> Vec<bool> {
    let values: Vec<f32> = match order {
        RoadOrder::MostRelevantFirst => relevance.to_vec(),
        RoadOrder::LeastRelevantFirst => relevance.iter().map(|r| 1.0 - r).collect(),
    };
    let threshold = percentile_linear(&values, percentile);
    values.iter().map(|&v| v < threshold).collect()
}

/// NumPy's default (`"linear"`) percentile of `values` (`percentile` in `[0, 100]`; NaN for no
/// values).
pub(crate) fn percentile_linear(values: &[f32], percentile: f32) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    // NumPy's arithmetic: the rank in f64, the interpolation in the data's f32, exact at both
    // ends.
    let rank = f64::from(percentile.clamp(0.0, 100.0)) / 100.0 * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let t = rank - below as f64;
    let (a, b) = (sorted[below], sorted[above]);
    let difference = b - a;
    if t >= 0.5 {
        b - difference * (1.0 - t) as f32
    } else {
        a + difference * t as f32
    }
}

/// The eight neighbours and their weights in ROAD's linear imputation (Rong et al.: 1/6 for
/// the four edge neighbours, 1/12 for the diagonals).
const NEIGHBOURS: [((isize, isize), f64); 8] = [
    ((1, 1), 1.0 / 12.0),
    ((0, 1), 1.0 / 6.0),
    ((-1, 1), 1.0 / 12.0),
    ((1, -1), 1.0 / 12.0),
    ((0, -1), 1.0 / 6.0),
    ((-1, -1), 1.0 / 12.0),
    ((1, 0), 1.0 / 6.0),
    ((-1, 0), 1.0 / 6.0),
];

/// ROAD's linear imputation of one image `[C, H, W]`: every pixel not in `keep` (row-major
/// `H × W`) becomes the weighted mean of its in-image neighbours (edge neighbours 1/6, diagonal
/// 1/12, renormalised at the border), the imputed pixels solved jointly per channel. The system
/// is banded (bandwidth `W + 1` in raster order) and diagonally dominant, so it is solved by
/// banded Gaussian elimination in `f64` — the numbers of pytorch-grad-cam's sparse `spsolve`.
/// With no pixel kept there is nothing to interpolate from: the image becomes zeros (what the
/// reference's solver returns for that singular, zero right-hand-side system). The caller
/// gives `C × H × W` values and one flag per pixel.
fn impute(image: &[f32], [channels, height, width]: [usize; 3], keep: &[bool]) -> Vec<f32> {
    let pixels = height * width;
    let mut out = image.to_vec();
    let missing: Vec<usize> = (0..pixels).filter(|&p| !keep[p]).collect();
    if missing.is_empty() {
        return out;
    }
    if missing.len() == pixels {
        out.iter_mut().for_each(|v| *v = 0.0);
        return out;
    }
    let mut unknown = vec![usize::MAX; pixels];
    for (i, &p) in missing.iter().enumerate() {
        unknown[p] = i;
    }
    let m = missing.len();
    let band = width + 1;
    let row_width = 2 * band + 1;
    // Row i holds columns i - band ..= i + band.
    let mut matrix = vec![0.0_f64; m * row_width];
    let mut rhs = vec![0.0_f64; m * channels];
    for (i, &p) in missing.iter().enumerate() {
        let (y, x) = ((p / width) as isize, (p % width) as isize);
        // The arithmetic of the reference: weights start from 1 and lose the outside
        // neighbours'; a known neighbour's weighted value is rounded to f32 before it is summed.
        let mut weight_sum = 1.0;
        for ((dy, dx), weight) in NEIGHBOURS {
            let (ny, nx) = (y + dy, x + dx);
            if ny < 0 || nx < 0 || ny >= height as isize || nx >= width as isize {
                weight_sum -= weight;
                continue;
            }
            let q = ny as usize * width + nx as usize;
            if keep[q] {
                for c in 0..channels {
                    let term = weight as f32 * image[c * pixels + q];
                    rhs[i * channels + c] -= f64::from(term);
                }
            } else {
                let j = unknown[q];
                matrix[i * row_width + (j + band - i)] = weight;
            }
        }
        matrix[i * row_width + band] = -weight_sum;
    }
    solve_banded(&mut matrix, &mut rhs, m, band, channels);
    for (i, &p) in missing.iter().enumerate() {
        for c in 0..channels {
            out[c * pixels + p] = rhs[i * channels + c] as f32;
        }
    }
    out
}

/// Solves the banded system in place (no pivoting: the matrix is diagonally dominant); the
/// solution replaces `rhs` (`m × channels`).
fn solve_banded(matrix: &mut [f64], rhs: &mut [f64], m: usize, band: usize, channels: usize) {
    let row_width = 2 * band + 1;
    let at = |row: usize, col: usize| row * row_width + (col + band - row);
    for k in 0..m {
        let pivot = matrix[at(k, k)];
        let last = (k + band).min(m - 1);
        for i in k + 1..=last {
            let factor = matrix[at(i, k)] / pivot;
            if factor == 0.0 {
                continue;
            }
            for j in k..=last {
                matrix[at(i, j)] -= factor * matrix[at(k, j)];
            }
            for c in 0..channels {
                rhs[i * channels + c] -= factor * rhs[k * channels + c];
            }
        }
    }
    for k in (0..m).rev() {
        let last = (k + band).min(m - 1);
        for c in 0..channels {
            let mut value = rhs[k * channels + c];
            for j in k + 1..=last {
                value -= matrix[at(k, j)] * rhs[j * channels + c];
            }
            rhs[k * channels + c] = value / matrix[at(k, k)];
        }
    }
}

/// `f(0..count)` on the available cores, in order.
fn parallel_map<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(count))
                        .map(f)
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // A panicking worker is a bug: re-raise it rather than lose its images.
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imputation_of_a_smooth_ramp_is_exact_inside() {
        // A linear ramp is harmonic for the symmetric stencil: interior holes are filled exactly.
        let (h, w) = (6, 7);
        let image: Vec<f32> = (0..h * w).map(|p| (p % w) as f32 * 0.5).collect();
        let mut keep = vec![true; h * w];
        for p in [2 * w + 2, 2 * w + 3, 3 * w + 3, 3 * w + 4] {
            keep[p] = false;
        }
        let out = impute(&image, [1, h, w], &keep);
        for (a, b) in out.iter().zip(&image) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn an_isolated_hole_is_its_neighbours_weighted_mean() {
        let mut image = vec![0.0_f32; 9];
        image[1] = 6.0; // edge neighbour of the centre, weight 1/6
        image[0] = 12.0; // diagonal neighbour, weight 1/12
        let mut keep = vec![true; 9];
        keep[4] = false;
        let out = impute(&image, [1, 3, 3], &keep);
        assert!((out[4] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn nothing_kept_gives_zeros() {
        let out = impute(&[1.0; 4], [1, 2, 2], &[false; 4]);
        assert_eq!(out, vec![0.0; 4]);
    }

    #[test]
    fn percentile_matches_numpy() {
        // np.percentile([0, 1, 2, 10], 30) == 0.9
        assert!((percentile_linear(&[10.0, 0.0, 2.0, 1.0], 30.0) - 0.9).abs() < 1e-6);
        assert_eq!(percentile_linear(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile_linear(&[3.0, 1.0, 2.0], 100.0), 3.0);
    }

    /// pytorch-grad-cam's `NoisyLinearImputer` (noise 0) on the first fixture image, at the
    /// 50th percentile both ways (`tools/reference/metrics.py`).
    #[test]
    fn linear_imputation_equals_pytorch_grad_cam() {
        use crate::fixture::f32 as fixture;
        let input = fixture("input");
        let cam = fixture("cam");
        let expected = fixture("road_imputed");
        for (k, order) in [RoadOrder::MostRelevantFirst, RoadOrder::LeastRelevantFirst]
            .into_iter()
            .enumerate()
        {
            let keep = kept_pixels(&cam[..784], order, 50.0);
            let imputed = impute(&input[..784], [1, 28, 28], &keep);
            let expected = &expected[k * 784..(k + 1) * 784];
            for (i, (a, e)) in imputed.iter().zip(expected).enumerate() {
                assert!((a - e).abs() <= 1e-5, "{order:?} pixel {i}: {a} vs {e}");
            }
        }
    }

    mod never_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any relevance (NaN included), percentile and image: the imputation of the pixels
            /// kept is finite.
            #[test]
            fn keeping_and_imputing_any_map_gives_finite_pixels(
                (relevance, image) in (1usize..7).prop_flat_map(|side| (
                    prop::collection::vec(prop_oneof![Just(f32::NAN), -1.0f32..1.0], side * side),
                    prop::collection::vec(-1.0f32..1.0, side * side),
                )),
                percentile in -20.0f32..120.0,
            ) {
                let side = (image.len() as f64).sqrt() as usize;
                let keep = kept_pixels(&relevance, RoadOrder::LeastRelevantFirst, percentile);
                let imputed = impute(&image, [1, side, side], &keep);
                prop_assert!(imputed.iter().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn ties_at_the_minimum_keep_nothing_in_morf() {
        let keep = kept_pixels(&[0.0, 0.0, 0.0, 1.0], RoadOrder::MostRelevantFirst, 50.0);
        assert_eq!(keep, vec![false; 4]);
        let keep = kept_pixels(&[0.0, 0.0, 0.0, 1.0], RoadOrder::LeastRelevantFirst, 50.0);
        assert_eq!(keep, vec![false, false, false, true]);
    }
}
