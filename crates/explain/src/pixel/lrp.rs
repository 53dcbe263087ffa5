//! Layer-wise relevance propagation (Bach et al. 2015) under a composite of rules, as zennit
//! computes it.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{ExplainError, Result, SettingError, Stage};
use crate::forward::{checked_features, checked_outputs, differentiable, gradient_of};
use crate::lrp::{LrpComposite, promise_checks};
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
        let (pass, promises) = promise_checks(|| {
            let features = checked_features(model, leaf.clone(), mode)?;
            let checks = Checks::finite(Stage::Features, &features, 1);
            Ok::<_, ExplainError>((checks, checked_outputs(model, features, mode, n)?))
        });
        let (checks, outputs) = pass?;
        let checks = checks.and(promises);
        let predictions = Predictions::from_outputs(model, &outputs, targets)?;
        let classes = predictions.classes().clone();
        let layer = model.output_layer();
        let targets = predictions.targets();
        // The relevance starts at the output (a dense model's map, else the logits).
        let (scaled, start) = match outputs.map() {
            Some(map) => {
                output_relevance(map, |m| Outputs::of_map(m, layer), &targets, &classes, n)?
            }
            None => output_relevance(
                outputs.logits(),
                |l| Outputs::new(l, layer),
                &targets,
                &classes,
                n,
            )?,
        };
        let relevance = gradient_of(&leaf, targets.total(&scaled, &classes)?);
        let checks = checks.and(Checks::finite(Stage::Relevance, &relevance, 1));
        let delta = relevance.clone().sum_dims(&[1, 2, 3]).reshape([n]) - start;
        Ok(
            Attributions::new(relevance, predictions.with_checks(checks), input)
                .with_convergence_delta(delta),
        )
    }
}

/// The relevance at a model's output `output` (`wrap` makes it the model's outputs): the
/// output that is itself in the forward and its gradient times its value in the backward, and
/// each image's starting relevance `Σ value · ∂score/∂value`, from a leaf of its values.
fn output_relevance<const D: usize>(
    output: Tensor<D>,
    wrap: impl Fn(Tensor<D>) -> Outputs,
    targets: &Targets,
    classes: &burn::tensor::Tensor<1, burn::tensor::Int>,
    n: usize,
) -> crate::error::Result<(Outputs, Tensor<1>)> {
    let plain = output.clone().detach();
    let scaled = plain.clone() + (output - plain.clone()) * plain.clone();
    let values = plain.without_autodiff();
    let leaf = values.clone().autodiff().require_grad();
    let gradients = targets.total(&wrap(leaf.clone()), classes)?.backward();
    let gradient = leaf
        .grad(&gradients)
        .unwrap_or_else(|| values.zeros_like());
    let start = (gradient * values).reshape([n as i64, -1]).sum_dim(1).reshape([n]);
    Ok((wrap(scaled), start))
}
