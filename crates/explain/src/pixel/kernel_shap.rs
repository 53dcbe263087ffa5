//! KernelSHAP: a weighted linear fit of the scores of random coalitions of features.

use burn::tensor::{Tensor, TensorData};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::{Result, SettingError};
use crate::model::Explainable;
use crate::noise;
use crate::perturb::{
    FeatureIds, FeatureMask, Perturbation, PerturbationBaseline, check_subsets,
};
use crate::pixel::feature_ablation::BATCH_SIZE;
use crate::target::Targets;

/// The weight Captum's `KernelShap` gives the full and the empty coalition (their Shapley kernel
/// weight is infinite); every other coalition weighs 1, its size having been drawn from the
/// kernel.
const ENDPOINT_WEIGHT: f64 = 1_000_000.0;

/// KernelSHAP (Lundberg and Lee, 2017, as Captum's `KernelShap`): `samples` coalitions of the
/// features of [`KernelShap::mask`] are drawn ([`noise::coalitions`]: the full and the empty one
/// first), each image is scored with the features outside the coalition set to the baseline,
/// and a linear model with an intercept is fitted to the scores by weighted least squares; each
/// feature's coefficient is its pixels' attribution.
///
/// The fit is scikit-learn's `LinearRegression` with sample weights, as Captum calls it: the
/// coalitions and scores centred on their weighted means, the minimum-norm solution where the
/// coalitions do not determine it (fewer samples than features), singular values below
/// `max(samples, F) · ε₃₂` of the largest dropped as LAPACK's `gelsd` does for Captum's float32
/// data. The coalitions are known before the model runs, so the fit is a matrix computed on the
/// host in float64 and applied to the scores on the device: nothing is read back.
///
/// The draws come from `seed` and every image of a batch gets the same coalitions (so an image
/// gets the same map alone or in a batch); [`KernelShap::attribute_with_coalitions`] takes
/// them from the caller (Captum draws each image's own, which the parity tests feed).
///
/// ```
/// use gradcam_explain::{Attribution, FeatureMask, KernelShap};
/// let shap = KernelShap::new().with_mask(FeatureMask::grid(4, 4)).with_samples(200);
/// assert_eq!(shap.label(), "KernelSHAP");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelShap {
    /// The features (default: a 7 × 7 grid).
    pub mask: FeatureMask,
    /// What a pixel of a feature outside the coalition is (default: 0).
    pub baseline: PerturbationBaseline,
    /// Coalitions drawn (Captum's `n_samples`, the full and empty ones included; default 25).
    pub samples: usize,
    /// Seed of the draws (default 0).
    pub seed: u64,
    /// Perturbed images per forward pass (default 256): bounds the memory.
    pub batch_size: usize,
}

impl Default for KernelShap {
    fn default() -> Self {
        Self::new()
    }
}

impl KernelShap {
    /// KernelSHAP of a 7 × 7 grid from 0, 25 coalitions (Captum's default), seed 0.
    pub fn new() -> Self {
        Self {
            mask: FeatureMask::default(),
            baseline: PerturbationBaseline::default(),
            samples: 25,
            seed: 0,
            batch_size: BATCH_SIZE,
        }
    }

    /// Sets [`KernelShap::mask`].
    pub fn with_mask(self, mask: FeatureMask) -> Self {
        Self { mask, ..self }
    }

    /// Sets [`KernelShap::baseline`].
    pub fn with_baseline(self, baseline: PerturbationBaseline) -> Self {
        Self { baseline, ..self }
    }

    /// Sets [`KernelShap::samples`].
    pub fn with_samples(self, samples: usize) -> Self {
        Self { samples, ..self }
    }

    /// Sets [`KernelShap::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`KernelShap::batch_size`].
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self { batch_size, ..self }
    }

    /// KernelSHAP on the caller's coalitions (`samples` and `seed` are not used): one list per
    /// image, or one list for every image; each coalition has one value per feature, 1 for a
    /// member and 0 otherwise, and every list the same length. How the parity tests feed
    /// Captum's draws.
    pub fn attribute_with_coalitions(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        coalitions: &[Vec<Vec<f32>>],
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        self.run(model, &input, targets, |_| Ok(coalitions.to_vec()))
    }

    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        coalitions: impl FnOnce(usize) -> Result<Vec<Vec<Vec<f32>>>>,
    ) -> Result<Attributions> {
        let owner = "KernelShap";
        let ids = FeatureIds::new(owner, &self.mask, input)?;
        let features = ids.count();
        let dims = input.tensor().dims();
        let n = dims[0];
        let lists = coalitions(features)?;
        let samples = check_subsets(owner, "coalitions", &lists, n, features)?;
        let baseline = self.baseline.images(owner, input)?;
        let run = Perturbation::new(owner, model, input, targets, baseline, self.batch_size)?;
        let scores = run.subset_scores(&ids, &lists)?;
        // The fit's matrices [F, S], one per list, applied to each image's scores [S].
        let device = input.tensor().device();
        let fits: Vec<f32> = lists.iter().flat_map(|list| fit_matrix(list)).collect();
        let fits = Tensor::<3>::from_data(TensorData::new(fits, [lists.len(), features, samples]), &device);
        let fits = if lists.len() == n { fits } else { fits.expand([n, features, samples]) };
        let scores = scores.swap_dims(0, 1).reshape([n, samples, 1]);
        let coefficients = fits.matmul(scores).reshape([n, features]);
        let map = ids.spread(coefficients, dims);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }
}

/// The matrix `[F, S]` that takes the scores of `coalitions` (`S` of `F` features) to the
/// coefficients of their weighted least-squares fit with an intercept, row-major: the
/// pseudo-inverse of the centred, weight-scaled coalitions, times the scaling and centring of
/// the scores (scikit-learn's `LinearRegression` with `sample_weight`).
fn fit_matrix(coalitions: &[Vec<f32>]) -> Vec<f32> {
    let (samples, features) = (coalitions.len(), coalitions[0].len());
    let weights: Vec<f64> = coalitions
        .iter()
        .map(|c| {
            let members = c.iter().filter(|&&v| v == 1.0).count();
            if members == 0 || members == features {
                ENDPOINT_WEIGHT
            } else {
                1.0
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let means: Vec<f64> = (0..features)
        .map(|f| {
            let sum: f64 = coalitions
                .iter()
                .zip(&weights)
                .map(|(c, w)| w * f64::from(c[f]))
                .sum();
            sum / total
        })
        .collect();
    let root: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
    let design = DMatrix::from_fn(samples, features, |s, f| {
        (f64::from(coalitions[s][f]) - means[f]) * root[s]
    });
    let svd = design.svd(true, true);
    let largest = svd.singular_values.max();
    let cutoff = samples.max(features) as f64 * f64::from(f32::EPSILON) * largest;
    // A rank-deficient design is expected (fewer samples than features): the pseudo-inverse
    // is the minimum-norm solution, and the SVD's own failure is unreachable with both factors
    // computed.
    let pinv = svd
        .pseudo_inverse(cutoff)
        .unwrap_or_else(|_| DMatrix::zeros(features, samples));
    // Then y ↦ √w ⊙ (y − (wᵀy / Σw)·1), the scaled and centred scores: column t of the fit is
    // √w_t · pinv[:, t] − (pinv · √w) · w_t / Σw.
    let scaled = &pinv * DMatrix::from_column_slice(samples, 1, &root);
    (0..features)
        .flat_map(|f| (0..samples).map(move |t| (f, t)))
        .map(|(f, t)| (pinv[(f, t)] * root[t] - scaled[(f, 0)] * weights[t] / total) as f32)
        .collect()
}

impl Attribution for KernelShap {
    fn label(&self) -> String {
        "KernelSHAP".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        SettingError::check(
            self.samples > 0,
            "KernelShap",
            "samples",
            self.samples,
            "at least 1",
        )?;
        self.run(model, input, targets, |features| {
            Ok(vec![noise::coalitions(self.samples, features, self.seed)])
        })
    }
}
