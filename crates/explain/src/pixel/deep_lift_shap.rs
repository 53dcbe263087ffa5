//! DeepLiftShap: DeepLIFT averaged over a distribution of references, as Captum's
//! `DeepLiftShap` computes it.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::DeepLift;
use crate::pixel::Leaf;
use crate::pixel::references::{checked_images, constant_images};
use crate::predictions::Predictions;
use crate::target::Targets;

/// DeepLiftShap (Captum's `DeepLiftShap`): SHAP values approximated by [`DeepLift`] against
/// every reference of a distribution, averaged. Each image runs beside each of the `B`
/// references (`N · B` pairs in one pass, image-major as Captum lays them out) on the class
/// resolved for the image; the map is the mean of the `B` attributions, and the convergence
/// delta the mean of the `B` deltas.
///
/// The distribution is `baselines`, each value a constant image, or any images
/// ([`DeepLiftShap::attribute_with_baselines`]: a background sample of the data, as SHAP
/// intends).
///
/// ```
/// use gradcam_explain::{Attribution, DeepLiftShap};
/// // Black and white MNIST digits (normalised) as the references.
/// let shap = DeepLiftShap::new().with_baselines(vec![-0.4242, 2.8215]);
/// assert_eq!(shap.label(), "DeepLiftShap");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepLiftShap {
    /// The references: each value a constant image of it (default `[−1, 0, 1]`: in a
    /// normalised input space, the data's mean and one standard deviation either side).
    pub baselines: Vec<f32>,
    /// Multiply the multipliers by `input − reference` (Captum's `multiply_by_inputs`;
    /// default true).
    pub multiply_by_inputs: bool,
}

impl Default for DeepLiftShap {
    fn default() -> Self {
        Self::new()
    }
}

impl DeepLiftShap {
    /// DeepLiftShap against the constant references −1, 0 and 1, multiplied by the inputs.
    pub fn new() -> Self {
        Self {
            baselines: vec![-1.0, 0.0, 1.0],
            multiply_by_inputs: true,
        }
    }

    /// Sets [`DeepLiftShap::baselines`].
    pub fn with_baselines(self, baselines: Vec<f32>) -> Self {
        Self { baselines, ..self }
    }

    /// Sets [`DeepLiftShap::multiply_by_inputs`].
    pub fn with_multiply_by_inputs(self, multiply_by_inputs: bool) -> Self {
        Self {
            multiply_by_inputs,
            ..self
        }
    }

    /// DeepLiftShap against the reference distribution `baselines` `[B, C, H, W]` (any images
    /// of the input's shape) in place of [`DeepLiftShap::baselines`].
    pub fn attribute_with_baselines(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
    ) -> Result<Attributions> {
        self.attribute_with_baselines_at(model, input, targets, baselines, Leaf::Input)
    }

    /// [`DeepLiftShap::attribute_with_baselines`] at `at`.
    pub(crate) fn attribute_with_baselines_at(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
        at: Leaf,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        let baselines = checked_images("DeepLiftShap", &input, baselines)?;
        self.run(model, &input, targets, baselines, at)
    }

    /// [`Attribution::attribute_input`] at `at`: against the constant references.
    pub(crate) fn attribute_input_at(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        at: Leaf,
    ) -> Result<Attributions> {
        let distribution = constant_images("DeepLiftShap", &self.baselines, input)?;
        self.run(model, input, targets, distribution, at)
    }

    /// Every image beside every reference of `distribution` `[B, C, H, W]`, the attributions
    /// at `at` averaged.
    pub(crate) fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        distribution: Tensor<4>,
        at: Leaf,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let [n, c, h, w] = x.dims();
        let b = distribution.dims()[0];
        // The clean images' predictions fix each image's class for all of its pairs.
        let predictions = Predictions::of(model, input, targets)?;
        let images = x
            .clone()
            .reshape([n, 1, c, h, w])
            .expand([n, b, c, h, w])
            .reshape([n * b, c, h, w]);
        let pairs = DeepLift::new()
            .with_multiply_by_inputs(self.multiply_by_inputs)
            .run(
                model,
                &Input::derived(images),
                &predictions.targets().repeat_each(b),
                distribution.repeat_dim(0, n),
                at,
            )?;
        let checks = pairs.checks().clone().per_image(b);
        let delta = pairs
            .convergence_delta()
            .cloned()
            .map(|delta| delta.reshape([n, b]).mean_dim(1).reshape([n]));
        // The map's own shape: the input's, or the layer's.
        let map = pairs.into_map();
        let [_, k, mh, mw] = map.dims();
        let map = map
            .reshape([n, b, k, mh, mw])
            .mean_dim(1)
            .reshape([n, k, mh, mw]);
        let attributions = Attributions::new(map, predictions.with_checks(checks), input);
        Ok(match delta {
            Some(delta) => attributions.with_convergence_delta(delta),
            None => attributions,
        })
    }
}

impl Attribution for DeepLiftShap {
    fn label(&self) -> String {
        "DeepLiftShap".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.attribute_input_at(model, input, targets, Leaf::Input)
    }
}
