//! DeepLIFT (Shrikumar et al., 2017) with the Rescale rule, as Captum's `DeepLift` computes it.

use burn::config::Config;
use burn::tensor::Tensor;

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{Result, SettingError, Stage};
use crate::forward::{check_features, checked_features, checked_outputs, differentiable, gradient_of};
use crate::model::{Explainable, ReluMode};
use crate::pixel::pair_predictions;
use crate::target::Targets;

/// DeepLIFT (Captum's `DeepLift`, the Rescale rule): each input and its reference run in one
/// pass ([`ReluMode::Rescale`]), every ReLU's backward multiplied by its secant slope between
/// the two, every max pooling the model routes through [`ReluMode::max_pool`] under Captum's
/// rule for it; the attribution is the multiplier times `input − reference` (the multiplier
/// alone without `multiply_by_inputs`), with Captum's convergence delta
/// `Σ attribution − (score(input) − score(reference))` ([`Attributions::convergence_delta`]),
/// which vanishes when every nonlinearity of the model is routed.
///
/// The reference is a constant image of `baseline` (Captum's scalar `baselines`), or any image
/// ([`DeepLift::attribute_with_baselines`]).
///
/// ```
/// use gradcam_explain::{Attribution, DeepLift};
/// // The black MNIST digit (normalised) as the reference; the multipliers alone.
/// let deep_lift = DeepLift::new().with_baseline(-0.4242).with_multiply_by_inputs(false);
/// assert_eq!(deep_lift.label(), "DeepLIFT");
/// ```
#[derive(Config, Debug, Copy, PartialEq)]
pub struct DeepLift {
    /// The reference: every input element set to this value (Captum's scalar `baselines`).
    #[config(default = 0.0)]
    pub baseline: f32,
    /// Multiply the multipliers by `input − reference` (Captum's `multiply_by_inputs`).
    #[config(default = true)]
    pub multiply_by_inputs: bool,
}

/// Where DeepLIFT's multipliers are taken: at the input (the pixel method) or at the explained
/// layer's output (the layer method).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaf {
    Input,
    Layer,
}

impl Default for DeepLift {
    fn default() -> Self {
        Self::new()
    }
}

impl DeepLift {
    /// DeepLIFT against the caller's references `[N, C, H, W]` (one per image) or `[1, C, H, W]`
    /// (one for all), in place of the constant [`DeepLift::baseline`].
    pub fn attribute_with_baselines(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        let dims = input.tensor().dims();
        let found = baselines.dims();
        SettingError::check(
            (found[0] == dims[0] || found[0] == 1) && found[1..] == dims[1..],
            "DeepLift",
            "baselines",
            format!("{found:?} for a batch {dims:?}"),
            "one image per input, or one for all, of the input's shape",
        )?;
        let references = baselines
            .detach()
            .without_autodiff()
            .to_device(&input.tensor().device())
            .expand(dims);
        self.run(model, &input, targets, references, Leaf::Input)
    }

    /// The constant reference image of [`DeepLift::baseline`] for each input, refused unless
    /// the baseline is finite.
    pub(crate) fn references(&self, owner: &'static str, input: &Input) -> Result<Tensor<4>> {
        SettingError::check(
            self.baseline.is_finite(),
            owner,
            "baseline",
            self.baseline,
            "a finite value",
        )?;
        let x = input.tensor();
        Ok(Tensor::full(x.dims(), self.baseline, &x.device()))
    }

    /// The pass of the inputs beside their references `[N, C, H, W]`: the attribution at `at`
    /// with its convergence delta `[N]`.
    pub(crate) fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        references: Tensor<4>,
        at: Leaf,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let n = input.len();
        let pairs = Tensor::cat(vec![x.clone(), references.clone()], 0);
        let input_checks = Checks::finite(Stage::Input, &references, 1);
        let features_checks =
            |features: &Tensor<4>| Checks::finite(Stage::Features, &features.clone().narrow(0, 0, n), 1);
        match at {
            Leaf::Input => {
                let leaf = differentiable(&pairs, ReluMode::Rescale)?;
                let features =
                    check_features(2 * n, model.features(leaf.clone(), ReluMode::Rescale))?;
                let checks = input_checks.and(features_checks(&features));
                self.attribute_pairs(model, input, targets, &leaf, features, checks)
            }
            Leaf::Layer => {
                // Below the layer only the forward values count.
                let features = checked_features(model, pairs, ReluMode::Standard)?;
                let checks = input_checks.and(features_checks(&features));
                let leaf = features.autodiff().require_grad();
                self.attribute_pairs(model, input, targets, &leaf, leaf.clone(), checks)
            }
        }
    }

    /// DeepLIFT of the pair batch's differentiable `leaf` — the inputs and then their
    /// references, at the input or at the explained layer — whose explained layer's output is
    /// `features`: the head under [`ReluMode::Rescale`], scored on each input's class (Captum's
    /// repeated target), the multipliers at the leaf times its two halves' difference, and the
    /// convergence delta.
    pub(crate) fn attribute_pairs(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        leaf: &Tensor<4>,
        features: Tensor<4>,
        checks: Checks,
    ) -> Result<Attributions> {
        let n = input.len();
        let outputs = checked_outputs(model, features, ReluMode::Rescale, 2 * n)?;
        let (predictions, start) = pair_predictions(model, &outputs, targets)?;
        let total = predictions
            .targets()
            .tile(2)
            .total(&outputs, &predictions.classes().clone().repeat_dim(0, 2))?;
        let multipliers = gradient_of(leaf, total).narrow(0, 0, n);
        let checks = checks.and(Checks::finite(Stage::Gradient, &multipliers, 1));
        let map = if self.multiply_by_inputs {
            let plain = leaf.clone().detach().without_autodiff();
            (plain.clone().narrow(0, 0, n) - plain.narrow(0, n, n)) * multipliers
        } else {
            multipliers
        };
        let delta = map.clone().sum_dims(&[1, 2, 3]).reshape([n])
            - (predictions.scores() - start.scores());
        Ok(
            Attributions::new(map, predictions.with_checks(checks), input)
                .with_convergence_delta(delta),
        )
    }
}

impl Attribution for DeepLift {
    fn label(&self) -> String {
        "DeepLIFT".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let references = self.references("DeepLift", input)?;
        self.run(model, input, targets, references, Leaf::Input)
    }
}
