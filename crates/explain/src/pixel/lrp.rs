//! Layer-wise relevance propagation (Bach et al. 2015) under a composite of rules, as zennit
//! computes it.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{ExplainError, Result, SettingError, Stage};
use crate::forward::{checked_features, checked_outputs, differentiable, gradient_of};
use crate::lrp::LrpComposite;
use crate::model::{Explainable, ReluMode};
use crate::predictions::Predictions;
use crate::target::{Outputs, Targets};

/// Layer-wise relevance propagation (zennit's composites): the
/// relevance starts at the logits as `logits ⊙ ∂score/∂logits` — for the logit score, the
/// target's logit at the target (zennit's `output * one_hot`) — and each affine layer passes it
/// down by its rule ([`LrpComposite`]), activations pass it unchanged, max poolings route it to
/// each window's maximum. The map is the input's relevance; its conservation,
/// `Σ relevance(input) − Σ relevance(logits)`, is the convergence delta
/// ([`Attributions::convergence_delta`]): what the biases and the stabilisers absorbed.
///
/// The model must route its convolutions and fully connected layers through
/// [`ReluMode::affine`] ([`Explainable::routes_affine_layers`]); others are refused with
/// [`ExplainError::Unrouted`].
///
/// ```
/// use gradcam_explain::{Attribution, Lrp, LrpComposite};
/// let lrp = Lrp::new(LrpComposite::epsilon_plus_flat());
/// assert_eq!(lrp.label(), "LRP");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lrp {
    /// The rules (default zennit's `EpsilonPlus`).
    pub composite: LrpComposite,
}

impl Lrp {
    /// LRP under `composite`.
    pub fn new(composite: LrpComposite) -> Self {
        Self { composite }
    }
}

impl Attribution for Lrp {
    fn label(&self) -> String {
        "LRP".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        if !model.routes_affine_layers() {
            return Err(ExplainError::Unrouted { method: "LRP" });
        }
        if let Some(channels) = self.composite.bound_channels() {
            let dims = input.tensor().dims();
            SettingError::check(
                dims[1] == channels,
                "LRP",
                "z^B bounds",
                format!("{channels} values for {} input channels", dims[1]),
                "one value per input channel",
            )?;
        }
        let mode = ReluMode::Lrp(self.composite);
        let n = input.len();
        let leaf = differentiable(input.tensor(), mode)?;
        let features = checked_features(model, leaf.clone(), mode)?;
        let checks = Checks::finite(Stage::Features, &features, 1);
        let outputs = checked_outputs(model, features, mode, n)?;
        let predictions = Predictions::from_outputs(model, &outputs, targets)?;
        let classes = predictions.classes().clone();
        let layer = model.output_layer();
        // The relevance at the output (a dense model's map, else the logits): its values times
        // the score's gradient there — zero in the forward, that product in the backward.
        let (scaled, at_output, start) = match outputs.map() {
            Some(map) => {
                let (plain, leaf) = output_leaf(map.clone());
                let scaled = Outputs::of_map(scaled_by_value(map, plain.clone()), layer);
                let at_output = Outputs::of_map(leaf.clone(), layer);
                (scaled, at_output, Start::Map(plain, leaf))
            }
            None => {
                let logits = outputs.logits();
                let (plain, leaf) = output_leaf(logits.clone());
                let scaled = Outputs::new(scaled_by_value(logits, plain.clone()), layer);
                let at_output = Outputs::new(leaf.clone(), layer);
                (scaled, at_output, Start::Logits(plain, leaf))
            }
        };
        let relevance = gradient_of(&leaf, predictions.targets().total(&scaled, &classes)?);
        // The same at a leaf of the output: the relevance the output starts with.
        let gradients = predictions
            .targets()
            .total(&at_output, &classes)?
            .backward();
        let start = match start {
            Start::Map(plain, leaf) => relevance_at(&leaf, plain, &gradients, n),
            Start::Logits(plain, leaf) => relevance_at(&leaf, plain, &gradients, n),
        };
        let checks = checks.and(Checks::finite(Stage::Gradient, &relevance, 1));
        let delta = relevance.clone().sum_dims(&[1, 2, 3]).reshape([n]) - start;
        Ok(
            Attributions::new(relevance, predictions.with_checks(checks), input)
                .with_convergence_delta(delta),
        )
    }
}

/// The output LRP starts from, as a plain tensor and a fresh leaf of it.
enum Start {
    Map(Tensor<4>, Tensor<4>),
    Logits(Tensor<2>, Tensor<2>),
}

/// An output's detached values and a differentiable leaf holding them.
fn output_leaf<const D: usize>(output: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let plain = output.detach();
    let leaf = plain.clone().without_autodiff().autodiff().require_grad();
    (plain, leaf)
}

/// `output` in the forward, its gradient times its value in the backward.
fn scaled_by_value<const D: usize>(output: Tensor<D>, plain: Tensor<D>) -> Tensor<D> {
    plain.clone() + (output - plain.clone()) * plain
}

/// `Σ value · ∂score/∂value` per image, the output's own relevance.
fn relevance_at<const D: usize>(
    leaf: &Tensor<D>,
    plain: Tensor<D>,
    gradients: &burn::tensor::Gradients,
    n: usize,
) -> Tensor<1> {
    let plain = plain.without_autodiff();
    let gradient = leaf
        .grad(gradients)
        .unwrap_or_else(|| plain.zeros_like());
    (gradient * plain).reshape([n as i64, -1]).sum_dim(1).reshape([n])
}
