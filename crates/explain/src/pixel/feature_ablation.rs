//! Feature ablation: each feature in turn set to the baseline.

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::perturb::{FeatureIds, FeatureMask, Perturbation, PerturbationBaseline};
use crate::target::Targets;

/// Feature ablation (Captum's `FeatureAblation`): each feature of [`FeatureAblation::mask`] in
/// turn is set to the baseline, and the drop of the score, `y − y_ablated`, is every pixel of that
/// feature's attribution. One forward pass per feature, at most `batch_size` images each; no
/// gradients, so it explains any model.
///
/// ```
/// use gradcam_explain::{Attribution, FeatureAblation, FeatureMask, PerturbationBaseline};
/// let ablation = FeatureAblation::new()
///     .with_mask(FeatureMask::grid(4, 4))
///     .with_baseline(PerturbationBaseline::ChannelMean);
/// assert_eq!(ablation.label(), "Feature ablation");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureAblation {
    /// The features (default: a 7 × 7 grid).
    pub mask: FeatureMask,
    /// What an ablated pixel becomes (default: 0).
    pub baseline: PerturbationBaseline,
    /// Ablated images per forward pass (Captum's `perturbations_per_eval`, counted in images;
    /// default 256): bounds the memory.
    pub batch_size: usize,
}

/// Perturbed images per forward pass, by default, of every perturbation method.
pub(crate) const BATCH_SIZE: usize = 256;

impl Default for FeatureAblation {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureAblation {
    /// Feature ablation of a 7 × 7 grid to 0, 256 images per pass.
    pub fn new() -> Self {
        Self {
            mask: FeatureMask::default(),
            baseline: PerturbationBaseline::default(),
            batch_size: BATCH_SIZE,
        }
    }

    /// Sets [`FeatureAblation::mask`].
    pub fn with_mask(self, mask: FeatureMask) -> Self {
        Self { mask, ..self }
    }

    /// Sets [`FeatureAblation::baseline`].
    pub fn with_baseline(self, baseline: PerturbationBaseline) -> Self {
        Self { baseline, ..self }
    }

    /// Sets [`FeatureAblation::batch_size`].
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self { batch_size, ..self }
    }
}

impl Attribution for FeatureAblation {
    fn label(&self) -> String {
        "Feature ablation".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let owner = "FeatureAblation";
        let ids = FeatureIds::new(owner, &self.mask, input)?;
        let baseline = self.baseline.images(owner, input)?;
        let run = Perturbation::new(owner, model, input, targets, baseline, self.batch_size)?;
        let dims = input.tensor().dims();
        let (n, features) = (dims[0], ids.count());
        // Selection p keeps every feature but p.
        let scores = run.feature_scores(&ids, features, |start, len| {
            (start..start + len)
                .flat_map(|p| (0..n).flat_map(move |_| (0..features).map(move |f| f32::from(f != p))))
                .collect()
        })?;
        let initial = run.predictions().scores().reshape([1, n]);
        let drops = (initial - scores).swap_dims(0, 1);
        let map = ids.spread(drops, dims);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }
}
