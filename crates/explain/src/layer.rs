//! Layer attributions (Captum's `LayerActivation`, `LayerGradientXActivation`,
//! `LayerIntegratedGradients`, `LayerConductance`, `LayerGradientShap`, `LayerDeepLift` and
//! `LayerDeepLiftShap`): maps of the explained layer's output `[N, K, h, w]` — one value
//! per channel and cell of the layer the model's [`Explainable::features`] returns — rather
//! than of the input.

use burn::config::Config;
use burn::tensor::Tensor;

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::forward::{Scoring, checked_features, checked_outputs, gradient_of, head};
use crate::model::{Explainable, ReluMode};
use crate::pixel::{
    DeepLift, DeepLiftShap, GradientShap, GradientShapDraws, IntegratedGradients, Leaf, PathEnds,
    weighted_steps,
};
use crate::predictions::Predictions;
use crate::target::Targets;

/// The layer's output itself (Captum's `LayerActivation`): no gradient, one forward pass.
///
/// ```
/// use gradcam_explain::{Attribution, LayerActivation};
/// assert_eq!(LayerActivation.label(), "Layer activation");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerActivation;

impl Attribution for LayerActivation {
    fn label(&self) -> String {
        "Layer activation".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let features = checked_features(model, input.tensor().clone(), ReluMode::Standard)?;
        let outputs = checked_outputs(model, features.clone(), ReluMode::Standard, input.len())?;
        let predictions = Predictions::from_outputs(model, &outputs, targets)?;
        Ok(Attributions::new(features, predictions, input))
    }
}

/// The layer's output times the gradient of the score with respect to it (Captum's
/// `LayerGradientXActivation`; the gradient alone without `multiply_by_inputs`).
///
/// ```
/// use gradcam_explain::LayerGradientXActivation;
/// let gradients = LayerGradientXActivation::new().with_multiply_by_inputs(false);
/// assert!(!gradients.multiply_by_inputs);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct LayerGradientXActivation {
    /// Multiply the gradient by the activation (Captum's `multiply_by_inputs`).
    #[config(default = true)]
    pub multiply_by_inputs: bool,
}

impl Default for LayerGradientXActivation {
    fn default() -> Self {
        Self::new()
    }
}

impl Attribution for LayerGradientXActivation {
    fn label(&self) -> String {
        if self.multiply_by_inputs {
            "Layer gradient × activation".to_owned()
        } else {
            "Layer gradient".to_owned()
        }
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let features = checked_features(model, input.tensor().clone(), ReluMode::Standard)?;
        let (predictions, gradient) = layer_gradient(model, features.clone(), targets)?;
        let map = if self.multiply_by_inputs {
            features * gradient
        } else {
            gradient
        };
        Ok(Attributions::new(map, predictions, input))
    }
}

/// Integrated Gradients in the layer's output space (Captum's `LayerIntegratedGradients`),
/// with [`IntegratedGradients`]' settings (steps, quadrature, constant baseline image, passes of
/// at most `internal_batch_size` images): the straight path from the layer's output for the
/// baseline image to its output for the input, the score's gradients along it integrated, times
/// the difference of the two outputs; with Captum's convergence delta,
/// `Σ attribution − (score(input) − score(baseline))`.
///
/// ```
/// use gradcam_explain::{Integration, IntegratedGradients, LayerIntegratedGradients};
/// let ig = LayerIntegratedGradients(
///     IntegratedGradients::new()
///         .with_steps(20)
///         .with_integration(Integration::RiemannTrapezoid),
/// );
/// assert_eq!(ig.0.steps, 20);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerIntegratedGradients(pub IntegratedGradients);

impl Attribution for LayerIntegratedGradients {
    fn label(&self) -> String {
        "Layer Integrated Gradients".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let settings = self.0;
        let n = input.len();
        let PathEnds {
            features,
            predictions,
            start,
            ..
        } = settings.ends("LayerIntegratedGradients", model, input, targets)?;
        let end = features.clone().narrow(0, 0, n);
        let begin = features.narrow(0, n, n);
        let difference = end - begin.clone();
        let (attribution, delta) = settings.integrate(
            begin,
            difference,
            &predictions,
            &start,
            |points, targets| Ok(layer_gradient(model, points, targets)?.1),
        )?;
        // A non-finite gradient anywhere on the path reaches the map, which is checked.
        Ok(Attributions::new(attribution, predictions, input).with_convergence_delta(delta))
    }
}

/// DeepLIFT at the explained layer (Captum's `LayerDeepLift`), with [`DeepLift`]'s settings:
/// each input and its constant reference image run in one pass to the layer, the head under
/// [`ReluMode::Rescale`] gives the multipliers at the layer's output, and the attribution is
/// them times the difference of the layer's two outputs, with Captum's convergence delta.
///
/// ```
/// use gradcam_explain::{Attribution, DeepLift, LayerDeepLift};
/// let deep_lift = LayerDeepLift(DeepLift::new().with_baseline(-0.4242));
/// assert_eq!(deep_lift.label(), "Layer DeepLIFT");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerDeepLift(pub DeepLift);

impl Attribution for LayerDeepLift {
    fn label(&self) -> String {
        "Layer DeepLIFT".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let references = self.0.references("LayerDeepLift", input)?;
        self.0.run(model, input, targets, references, Leaf::Layer)
    }
}

/// DeepLiftShap at the explained layer (Captum's `LayerDeepLiftShap`), with [`DeepLiftShap`]'s
/// settings: [`LayerDeepLift`] against every reference of the distribution, averaged.
///
/// ```
/// use gradcam_explain::{Attribution, DeepLiftShap, LayerDeepLiftShap};
/// let shap = LayerDeepLiftShap(DeepLiftShap::new().with_baselines(vec![-0.4242, 2.8215]));
/// assert_eq!(shap.label(), "Layer DeepLiftShap");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerDeepLiftShap(pub DeepLiftShap);

impl LayerDeepLiftShap {
    /// [`LayerDeepLiftShap`] against the reference distribution `baselines` `[B, C, H, W]` (any
    /// images of the input's shape).
    pub fn attribute_with_baselines(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
    ) -> Result<Attributions> {
        self.0
            .attribute_with_baselines_at(model, input, targets, baselines, Leaf::Layer)
    }
}

impl Attribution for LayerDeepLiftShap {
    fn label(&self) -> String {
        "Layer DeepLiftShap".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.0
            .attribute_input_at(model, input, targets, Leaf::Layer)
    }
}

/// GradientSHAP at the explained layer (Captum's `LayerGradientShap`), with [`GradientShap`]'s
/// settings and draws: for each draw, the layer's gradient at the point `α·x' + (1 − α)·b`
/// times the difference of the layer's outputs for the noisy image `x'` and the baseline `b`
/// (the gradient alone without `multiply_by_inputs`), averaged over the draws.
///
/// ```
/// use gradcam_explain::{Attribution, GradientShap, LayerGradientShap};
/// let shap = LayerGradientShap(GradientShap::new().with_samples(20));
/// assert_eq!(shap.label(), "Layer GradientSHAP");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerGradientShap(pub GradientShap);

impl LayerGradientShap {
    /// [`LayerGradientShap`] with the baseline distribution `baselines` `[B, C, H, W]` (any
    /// images of the input's shape); the draws come from the seed.
    pub fn attribute_with_baselines(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
    ) -> Result<Attributions> {
        self.0
            .attribute_with_baselines_at(model, input, targets, baselines, Leaf::Layer)
    }

    /// [`LayerGradientShap`] with the caller's baseline distribution and draws, as
    /// [`GradientShap::attribute_with_draws`].
    pub fn attribute_with_draws(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
        draws: GradientShapDraws,
    ) -> Result<Attributions> {
        self.0
            .attribute_with_draws_at(model, input, targets, baselines, draws, Leaf::Layer)
    }
}

impl Attribution for LayerGradientShap {
    fn label(&self) -> String {
        "Layer GradientSHAP".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.0
            .attribute_input_at(model, input, targets, Leaf::Layer)
    }
}

/// The conductance of the explained layer's units (Captum's `LayerConductance`; Dhamdhere et
/// al., "How Important Is a Neuron?", 2018), with [`IntegratedGradients`]' settings: the input
/// walks the straight path from the constant baseline image through `steps + 1` points of the
/// quadrature, and each unit's conductance is `Σ_k ∂score/∂unit(x_k) · (unit(x_{k+1}) −
/// unit(x_k))`, with Captum's convergence delta `Σ attribution − (score(input) −
/// score(baseline))`. Passes hold at most `internal_batch_size` path points.
///
/// ```
/// use gradcam_explain::{Attribution, IntegratedGradients, LayerConductance};
/// let conductance = LayerConductance(IntegratedGradients::new().with_steps(20));
/// assert_eq!(conductance.label(), "Layer conductance");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerConductance(pub IntegratedGradients);

impl Attribution for LayerConductance {
    fn label(&self) -> String {
        "Layer conductance".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let settings = self.0;
        let n = input.len();
        let PathEnds {
            baseline,
            predictions,
            start,
            ..
        } = settings.ends("LayerConductance", model, input, targets)?;
        let difference = input.tensor().clone() - baseline.clone();
        let (alphas, _) = settings.integration.points_and_weights(settings.steps + 1);
        let per_pass = settings
            .internal_batch_size
            .map_or(alphas.len(), |images| (images / n).max(1));
        let classes = predictions.targets();
        let mut total: Option<Tensor<4>> = None;
        // The last point of the previous pass: its gradient and its layer output.
        let mut previous: Option<(Tensor<4>, Tensor<4>)> = None;
        for first in (0..alphas.len()).step_by(per_pass) {
            let steps = first..(first + per_pass).min(alphas.len());
            let points: Vec<Tensor<4>> = steps
                .clone()
                .map(|k| baseline.clone() + difference.clone() * alphas[k] as f32)
                .collect();
            let outputs = checked_features(model, Tensor::cat(points, 0), ReluMode::Standard)?;
            let (_, gradients) =
                layer_gradient(model, outputs.clone(), &classes.tile(steps.len()))?;
            let (outputs, gradients) = match previous.take() {
                Some((gradient, output)) => (
                    Tensor::cat(vec![output, outputs], 0),
                    Tensor::cat(vec![gradient, gradients], 0),
                ),
                None => (outputs, gradients),
            };
            let count = outputs.dims()[0] / n;
            let last = (count - 1) * n;
            previous = Some((
                gradients.clone().narrow(0, last, n),
                outputs.clone().narrow(0, last, n),
            ));
            if count < 2 {
                continue;
            }
            let increments = outputs.clone().narrow(0, n, last) - outputs.narrow(0, 0, last);
            let pass = weighted_steps(
                increments * gradients.narrow(0, 0, last),
                &vec![1.0; count - 1],
                n,
            );
            total = Some(match total {
                Some(total) => total + pass,
                None => pass,
            });
        }
        let attribution = match total {
            Some(total) => total,
            // One point: no step to conduct through.
            None => previous.expect("at least one point").1.zeros_like(),
        };
        let delta = attribution.clone().sum_dims(&[1, 2, 3]).reshape([n])
            - (predictions.scores() - start.scores());
        Ok(Attributions::new(attribution, predictions, input).with_convergence_delta(delta))
    }
}

/// The predictions of the head from the layer's output `features`, and the score's gradient
/// with respect to that output (a fresh leaf: the backward stops at the layer).
pub(crate) fn layer_gradient(
    model: &dyn Explainable,
    features: Tensor<4>,
    targets: &Targets,
) -> Result<(Predictions, Tensor<4>)> {
    let leaf = features.detach().autodiff().require_grad();
    let (predictions, total) = head(
        model,
        leaf.clone(),
        ReluMode::Standard,
        Scoring::Resolve(targets),
    )?;
    Ok((predictions, gradient_of(&leaf, total)))
}
