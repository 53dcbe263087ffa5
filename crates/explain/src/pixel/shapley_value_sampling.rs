//! Shapley value sampling: features added one by one in random orders.

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::{Result, SettingError};
use crate::model::Explainable;
use crate::noise;
use crate::perturb::{FeatureIds, FeatureMask, Perturbation, PerturbationBaseline};
use crate::pixel::feature_ablation::BATCH_SIZE;
use crate::target::Targets;

/// Shapley value sampling (Captum's `ShapleyValueSampling`; Castro et al., 2009): in each of
/// `samples` random orders of the features of [`ShapleyValueSampling::mask`], the features are
/// added one by one to the baseline image, and each is credited with the change of the score its
/// addition made. A feature's attribution is the mean of its credits; along any order they sum
/// to `y − y_baseline`, so the map does too.
///
/// `samples · F` forward passes of each image (and one of the baseline), at most `batch_size`
/// images each. The orders come from `seed` (portable ChaCha12);
/// [`ShapleyValueSampling::attribute_with_orders`] takes them from the caller (Captum's own
/// `torch.randperm` draws, in the parity tests).
///
/// ```
/// use gradcam_explain::{Attribution, FeatureMask, ShapleyValueSampling};
/// let shapley = ShapleyValueSampling::new().with_mask(FeatureMask::grid(4, 4)).with_samples(10);
/// assert_eq!(shapley.label(), "Shapley value sampling");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShapleyValueSampling {
    /// The features (default: a 7 × 7 grid).
    pub mask: FeatureMask,
    /// What a pixel of a feature not yet added is (default: 0).
    pub baseline: PerturbationBaseline,
    /// Random orders (Captum's `n_samples`; default 25).
    pub samples: usize,
    /// Seed of the orders (default 0).
    pub seed: u64,
    /// Perturbed images per forward pass (default 256): bounds the memory.
    pub batch_size: usize,
}

impl Default for ShapleyValueSampling {
    fn default() -> Self {
        Self::new()
    }
}

impl ShapleyValueSampling {
    /// Shapley value sampling of a 7 × 7 grid from 0, 25 orders (Captum's default), seed 0.
    pub fn new() -> Self {
        Self {
            mask: FeatureMask::default(),
            baseline: PerturbationBaseline::default(),
            samples: 25,
            seed: 0,
            batch_size: BATCH_SIZE,
        }
    }

    /// Sets [`ShapleyValueSampling::mask`].
    pub fn with_mask(self, mask: FeatureMask) -> Self {
        Self { mask, ..self }
    }

    /// Sets [`ShapleyValueSampling::baseline`].
    pub fn with_baseline(self, baseline: PerturbationBaseline) -> Self {
        Self { baseline, ..self }
    }

    /// Sets [`ShapleyValueSampling::samples`].
    pub fn with_samples(self, samples: usize) -> Self {
        Self { samples, ..self }
    }

    /// Sets [`ShapleyValueSampling::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`ShapleyValueSampling::batch_size`].
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self { batch_size, ..self }
    }

    /// Shapley value sampling along the caller's orders, each a permutation of the mask's
    /// features `0..F` (`samples` and `seed` are not used): how the parity tests feed Captum's.
    pub fn attribute_with_orders(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        orders: &[Vec<usize>],
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        self.run(model, &input, targets, |_| Ok(orders.to_vec()))
    }

    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        orders: impl FnOnce(usize) -> Result<Vec<Vec<usize>>>,
    ) -> Result<Attributions> {
        let owner = "ShapleyValueSampling";
        let ids = FeatureIds::new(owner, &self.mask, input)?;
        let features = ids.count();
        let orders = orders(features)?;
        SettingError::check(
            !orders.is_empty()
                && orders.iter().all(|order| {
                    let mut sorted = order.clone();
                    sorted.sort_unstable();
                    sorted.iter().copied().eq(0..features)
                }),
            owner,
            "orders",
            format!("{} orders for {features} features", orders.len()),
            "at least one order, each a permutation of the features",
        )?;
        let baseline = self.baseline.images(owner, input)?;
        let run = Perturbation::new(owner, model, input, targets, baseline, self.batch_size)?;
        let dims = input.tensor().dims();
        let n = dims[0];
        let device = input.tensor().device();
        let empty = run.feature_scores(&ids, 1, |_, _| vec![0.0; n * features])?;
        // Step q = s·F + k of order s keeps its first k + 1 features.
        let rank: Vec<Vec<usize>> = orders
            .iter()
            .map(|order| {
                let mut rank = vec![0; features];
                for (k, &f) in order.iter().enumerate() {
                    rank[f] = k;
                }
                rank
            })
            .collect();
        let steps = orders.len() * features;
        let scores = run.feature_scores(&ids, steps, |start, len| {
            (start..start + len)
                .flat_map(|q| {
                    let (rank, k) = (&rank[q / features], q % features);
                    (0..n).flat_map(move |_| rank.iter().map(move |&r| f32::from(r <= k)))
                })
                .collect()
        })?;
        let samples = orders.len();
        let scores = scores.reshape([samples, features, n]);
        // The score before each step: the baseline's, then the previous step's.
        let mut before = vec![empty.reshape([1, 1, n]).expand([samples, 1, n])];
        if features > 1 {
            before.push(scores.clone().narrow(1, 0, features - 1));
        }
        let before = Tensor::cat(before, 1);
        // Each step's credit, moved from its place in the order to its feature's.
        let credits = scores - before;
        let rank: Vec<i64> = rank
            .iter()
            .flat_map(|rank| rank.iter().flat_map(|&r| std::iter::repeat_n(r as i64, n)))
            .collect();
        let rank = Tensor::<3, Int>::from_data(TensorData::new(rank, [samples, features, n]), &device);
        let mean = credits.gather(1, rank).mean_dim(0).reshape([features, n]);
        let map = ids.spread(mean.swap_dims(0, 1), dims);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }
}

impl Attribution for ShapleyValueSampling {
    fn label(&self) -> String {
        "Shapley value sampling".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        SettingError::check(
            self.samples > 0,
            "ShapleyValueSampling",
            "samples",
            self.samples,
            "at least 1",
        )?;
        self.run(model, input, targets, |features| {
            Ok(noise::permutations(self.samples, features, self.seed))
        })
    }
}
