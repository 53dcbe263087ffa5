//! Layer-wise relevance propagation (Bach et al. 2015) under a composite of rules, as zennit
//! computes it.

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{ExplainError, Result, SettingError, Stage};
use crate::forward::{checked_features, checked_logits, differentiable, gradient_of};
use crate::lrp::LrpComposite;
use crate::model::{Explainable, ReluMode};
use crate::predictions::Predictions;
use crate::target::Targets;

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
        let logits = checked_logits(model, features, mode, n)?;
        let predictions = Predictions::from_logits(model, logits.clone(), targets)?;
        let classes = predictions.classes().clone();
        // The relevance at the logits: their values times the score's gradient there (zero in
        // the forward, that product in the backward).
        let plain = logits.clone().detach();
        let scaled = plain.clone() + (logits - plain.clone()) * plain.clone();
        let total = predictions
            .targets()
            .total(model.output_layer(), scaled, &classes)?;
        let relevance = gradient_of(&leaf, total);
        // The same at a leaf of the logits: the relevance the output starts with.
        let at_logits = plain.clone().autodiff().require_grad();
        let total = predictions
            .targets()
            .total(model.output_layer(), at_logits.clone(), &classes)?;
        let gradient = at_logits
            .grad(&total.backward())
            .unwrap_or_else(|| plain.zeros_like().without_autodiff());
        let start = (gradient * plain.without_autodiff()).sum_dim(1).reshape([n]);
        let checks = checks.and(Checks::finite(Stage::Gradient, &relevance, 1));
        let delta = relevance.clone().sum_dims(&[1, 2, 3]).reshape([n]) - start;
        Ok(
            Attributions::new(relevance, predictions.with_checks(checks), input)
                .with_convergence_delta(delta),
        )
    }
}
