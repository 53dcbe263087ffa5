//! Lime: a sparse linear surrogate fitted to the scores of random subsets of features, each
//! weighted by its closeness to the image.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::{Result, SettingError};
use crate::host::Read;
use crate::lasso::{LassoSettings, weighted_lasso};
use crate::model::Explainable;
use crate::noise;
use crate::perturb::{
    FeatureIds, FeatureMask, Perturbation, PerturbationBaseline, check_subsets,
};
use crate::pixel::feature_ablation::BATCH_SIZE;
use crate::target::Targets;

/// How Lime measures a perturbed image's distance to the image (Captum's
/// `get_exp_kernel_similarity_function(distance_mode, kernel_width)`): the sample's weight is
/// `exp(−d² / (2 · width²))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimeDistance {
    /// `1 − cos(x, x')` over all pixels (Captum's default).
    Cosine,
    /// `‖x − x'‖₂`.
    Euclidean,
}

/// Lime (Ribeiro et al., 2016, as Captum's `Lime` with its defaults): `samples` random subsets
/// of the features of [`Lime::mask`] are drawn (each feature kept with probability ½,
/// [`noise::bernoulli`]), each image is scored with the other features set to the baseline,
/// each sample is weighted by an exponential kernel of its distance to the image, and a Lasso
/// (scikit-learn's `Lasso(alpha)` with an intercept, as Captum's `SkLearnLasso`) is fitted to
/// the scores; each feature's coefficient is its pixels' attribution.
///
/// The perturbed images are scored on the device in passes of at most
/// [`Lime::batch_size`]; the Lasso, whose answer is not linear in the scores, is solved on the
/// host: the scores and the per-feature sums the distances need come back in one read, and the
/// coefficients go back to the device. The solver is scikit-learn's coordinate descent with its
/// stopping rule ([`Lime::tol`], [`Lime::max_iter`]), in float64.
///
/// The draws come from `seed` and every image of a batch gets the same samples (so an image
/// gets the same map alone or in a batch); [`Lime::attribute_with_samples`] takes them from the
/// caller (Captum draws each image's own, which the parity tests feed).
///
/// ```
/// use gradcam_explain::{Attribution, FeatureMask, Lime};
/// let lime = Lime::new().with_mask(FeatureMask::grid(4, 4)).with_samples(200);
/// assert_eq!(lime.label(), "Lime");
/// assert_eq!(lime.alpha, 0.01);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lime {
    /// The features (default: a 7 × 7 grid).
    pub mask: FeatureMask,
    /// What a pixel of a feature left out is (default: 0).
    pub baseline: PerturbationBaseline,
    /// Samples drawn (Captum's `n_samples`; default 25, Captum's).
    pub samples: usize,
    /// The Lasso's L1 strength (scikit-learn's `alpha`; default 0.01, Captum's).
    pub alpha: f64,
    /// The distance the similarity kernel takes (default cosine).
    pub distance: LimeDistance,
    /// The kernel's width (default 1.0).
    pub kernel_width: f64,
    /// The solver's tolerance (scikit-learn's `tol`, default 1e-4).
    pub tol: f64,
    /// The solver's passes at most (scikit-learn's `max_iter`, default 1000).
    pub max_iter: usize,
    /// Seed of the draws (default 0).
    pub seed: u64,
    /// Perturbed images per forward pass (default 256): bounds the memory.
    pub batch_size: usize,
}

impl Default for Lime {
    fn default() -> Self {
        Self::new()
    }
}

impl Lime {
    /// Lime as Captum's defaults: a 7 × 7 grid from 0, 25 samples, Lasso alpha 0.01, cosine
    /// kernel of width 1, scikit-learn's solver settings; seed 0.
    pub fn new() -> Self {
        Self {
            mask: FeatureMask::default(),
            baseline: PerturbationBaseline::default(),
            samples: 25,
            alpha: 0.01,
            distance: LimeDistance::Cosine,
            kernel_width: 1.0,
            tol: 1e-4,
            max_iter: 1000,
            seed: 0,
            batch_size: BATCH_SIZE,
        }
    }

    /// Sets [`Lime::mask`].
    pub fn with_mask(self, mask: FeatureMask) -> Self {
        Self { mask, ..self }
    }

    /// Sets [`Lime::baseline`].
    pub fn with_baseline(self, baseline: PerturbationBaseline) -> Self {
        Self { baseline, ..self }
    }

    /// Sets [`Lime::samples`].
    pub fn with_samples(self, samples: usize) -> Self {
        Self { samples, ..self }
    }

    /// Sets [`Lime::alpha`].
    pub fn with_alpha(self, alpha: f64) -> Self {
        Self { alpha, ..self }
    }

    /// Sets [`Lime::distance`] and [`Lime::kernel_width`].
    pub fn with_kernel(self, distance: LimeDistance, kernel_width: f64) -> Self {
        Self {
            distance,
            kernel_width,
            ..self
        }
    }

    /// Sets [`Lime::tol`] and [`Lime::max_iter`].
    pub fn with_solver(self, tol: f64, max_iter: usize) -> Self {
        Self {
            tol,
            max_iter,
            ..self
        }
    }

    /// Sets [`Lime::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`Lime::batch_size`].
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self { batch_size, ..self }
    }

    /// Lime on the caller's samples (`samples` and `seed` are not used): one list per image, or
    /// one list for every image; each sample has one value per feature, 1 for a feature kept
    /// and 0 otherwise, and every list the same length. How the parity tests feed Captum's
    /// draws.
    pub fn attribute_with_samples(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        samples: &[Vec<Vec<f32>>],
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        self.run(model, &input, targets, |_| Ok(samples.to_vec()))
    }

    fn check(&self) -> Result<()> {
        let owner = "Lime";
        SettingError::check(
            self.alpha.is_finite() && self.alpha > 0.0,
            owner,
            "alpha",
            self.alpha,
            "finite and above 0",
        )?;
        SettingError::check(
            self.kernel_width.is_finite() && self.kernel_width > 0.0,
            owner,
            "kernel_width",
            self.kernel_width,
            "finite and above 0",
        )?;
        SettingError::check(
            self.tol.is_finite() && self.tol >= 0.0,
            owner,
            "tol",
            self.tol,
            "finite and at least 0",
        )?;
        SettingError::check(
            self.max_iter > 0,
            owner,
            "max_iter",
            self.max_iter,
            "at least 1",
        )?;
        Ok(())
    }

    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        draws: impl FnOnce(usize) -> Result<Vec<Vec<Vec<f32>>>>,
    ) -> Result<Attributions> {
        let owner = "Lime";
        self.check()?;
        let ids = FeatureIds::new(owner, &self.mask, input)?;
        let features = ids.count();
        let dims = input.tensor().dims();
        let n = dims[0];
        let lists = draws(features)?;
        let samples = check_subsets(owner, "samples", &lists, n, features)?;
        let baseline = self.baseline.images(owner, input)?;
        let run = Perturbation::new(owner, model, input, targets, baseline.clone(), self.batch_size)?;
        let scores = run.subset_scores(&ids, &lists)?;
        // The distances need x·x, x·b and b·b per feature: every perturbed image is the image
        // on some features and the baseline on the rest.
        let [_, c, h, w] = dims;
        let x = input.tensor().clone().reshape([n, c * h * w]);
        let b = baseline.reshape([n, c * h * w]);
        let mut values = Read::default()
            .float(scores)
            .float(ids.sum(x.clone() * x.clone()))
            .float(ids.sum(x * b.clone()))
            .float(ids.sum(b.clone() * b))
            .execute()?;
        let scores = values.floats()?;
        let sums: Vec<Vec<f32>> = (0..3).map(|_| values.floats()).collect::<Result<_>>()?;
        let settings = LassoSettings {
            alpha: self.alpha,
            max_iter: self.max_iter,
            tol: self.tol,
        };
        let coefficients: Vec<f32> = (0..n)
            .flat_map(|i| {
                let per = |k: usize| &sums[k][i * features..(i + 1) * features];
                let kept = &lists[i % lists.len()];
                let weights: Vec<f64> = kept
                    .iter()
                    .map(|keep| self.similarity(keep, per(0), per(1), per(2)))
                    .collect();
                let design: Vec<f64> = kept.iter().flatten().map(|&v| f64::from(v)).collect();
                let y: Vec<f64> = (0..samples).map(|s| f64::from(scores[s * n + i])).collect();
                weighted_lasso(&design, &y, &weights, settings)
                    .coefficients
                    .into_iter()
                    .map(|v| v as f32)
            })
            .collect();
        let coefficients = Tensor::<2>::from_data(
            TensorData::new(coefficients, [n, features]),
            &input.tensor().device(),
        );
        let map = ids.spread(coefficients, dims);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }

    /// The kernel of a sample that keeps `keep` (per feature 0 or 1), from the per-feature sums
    /// of x·x, x·b and b·b.
    fn similarity(&self, keep: &[f32], xx: &[f32], xb: &[f32], bb: &[f32]) -> f64 {
        let (mut norm, mut dot, mut perturbed, mut apart) = (0.0, 0.0, 0.0, 0.0);
        for f in 0..keep.len() {
            let (xx, xb, bb) = (f64::from(xx[f]), f64::from(xb[f]), f64::from(bb[f]));
            norm += xx;
            if keep[f] == 1.0 {
                dot += xx;
                perturbed += xx;
            } else {
                dot += xb;
                perturbed += bb;
                apart += xx - 2.0 * xb + bb;
            }
        }
        let distance = match self.distance {
            // torch's cosine similarity: each vector divided by its norm, at least 1e-8.
            LimeDistance::Cosine => {
                1.0 - dot / (norm.sqrt().max(1e-8) * perturbed.max(0.0).sqrt().max(1e-8))
            }
            LimeDistance::Euclidean => apart.max(0.0).sqrt(),
        };
        (-distance * distance / (2.0 * self.kernel_width * self.kernel_width)).exp()
    }
}

impl Attribution for Lime {
    fn label(&self) -> String {
        "Lime".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        SettingError::check(self.samples > 0, "Lime", "samples", self.samples, "at least 1")?;
        self.run(model, input, targets, |features| {
            Ok(vec![noise::bernoulli(self.samples, features, self.seed)])
        })
    }
}
