//! Pixel methods: attributions at the input's resolution. A gradient method is its
//! [`GradientRule`]: which ReLU rule the backward takes, and what is done with the gradient.
//!
//! Adding one is a file of this directory and its line in the registry below.

pub(crate) use deep_lift::Leaf;
pub(crate) use full_grad::probe as full_grad_probe;
pub use gradient_shap::GradientShapDraws;
pub use integrated_gradients::Integration;
pub(crate) use integrated_gradients::{PathEnds, pair_predictions, weighted_steps};
pub use lime::LimeDistance;
pub use rise::RiseDraws;

mod references;

use burn::tensor::Tensor;

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{Result, Stage};
use crate::forward::{Scoring, checked_features, differentiable, gradient_of, head};
use crate::model::{Explainable, ReluMode};
use crate::smooth::SmoothGrad;
use crate::target::Targets;

registry! {
    /// Any built-in pixel method, by value (and SmoothGrad around any of them), for code that
    /// picks methods at run time; parsed from its name with its default settings.
    pub enum AnyPixel: dyn Attribution, "pixel method" {
        guided_backprop::GuidedBackprop => "guided-backprop",
        saliency::Saliency => "saliency",
        input_x_gradient::InputXGradient => "input-x-gradient",
        integrated_gradients::IntegratedGradients => "integrated-gradients",
        deconvolution::Deconvolution => "deconvolution",
        occlusion::Occlusion => "occlusion",
        gradient_shap::GradientShap => "gradient-shap",
        deep_lift::DeepLift => "deep-lift",
        deep_lift_shap::DeepLiftShap => "deep-lift-shap",
        lrp::Lrp => "lrp",
        feature_ablation::FeatureAblation => "feature-ablation",
        shapley_value_sampling::ShapleyValueSampling => "shapley-value-sampling",
        kernel_shap::KernelShap => "kernel-shap",
        rise::Rise => "rise",
        lime::Lime => "lime",
        full_grad::FullGrad => "full-grad",
    }
    /// [`SmoothGrad`] around another pixel method.
    wrapper SmoothGrad(SmoothGrad<AnyPixel>) => "smooth-grad";
}

/// What a gradient rule makes of the plain input `[N, C, H, W]` and its gradient.
pub type Finish = fn(&Tensor<4>, Tensor<4>) -> Tensor<4>;

/// One forward and one backward pass from the score to the input with a given ReLU rule, and
/// what becomes of the gradient: guided backprop, deconvolution, saliency and input × gradient
/// are each one rule. A [`crate::CamTimes`] whose pixel method has a rule
/// ([`Attribution::gradient_rule`]) computes its CAM from the same forward pass — so a pixel
/// method written elsewhere shares it too:
///
/// ```
/// use burn::tensor::Tensor;
/// use gradcam_explain::{
///     Attribution, Attributions, CamTimes, Explainable, GradCam, GradientRule, Input,
///     ReluMode, Result, Targets,
/// };
///
/// /// The squared input gradient, a method of one's own.
/// struct SquaredGradient;
/// const RULE: GradientRule = GradientRule::new(ReluMode::Standard, |_, g| g.powf_scalar(2.0));
///
/// impl Attribution for SquaredGradient {
///     fn label(&self) -> String { "Squared gradient".into() }
///     fn attribute_input(&self, model: &dyn Explainable, input: &Input, targets: &Targets)
///         -> Result<Attributions> {
///         RULE.attribute(model, input, targets)
///     }
///     fn gradient_rule(&self) -> Option<GradientRule> { Some(RULE) }
/// }
///
/// // One forward pass for both factors.
/// let product = CamTimes::new(GradCam::new(), SquaredGradient);
/// assert_eq!(product.label(), "Squared gradient ⊙ Grad-CAM");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GradientRule {
    relu: ReluMode,
    finish: Finish,
}

impl GradientRule {
    /// The rule: every ReLU of the pass under `relu`, the attribution `finish(input, gradient)`.
    pub const fn new(relu: ReluMode, finish: Finish) -> Self {
        Self { relu, finish }
    }

    /// Guided backpropagation: every ReLU guided, the gradient itself.
    pub const GUIDED: Self = Self::new(ReluMode::Guided, |_, gradient| gradient);

    /// Deconvolution: every ReLU's backward `relu(grad)`, the gradient itself.
    pub const DECONVOLUTION: Self = Self::new(ReluMode::Deconvolution, |_, gradient| gradient);

    /// The plain gradient (signed saliency; Integrated Gradients' path points).
    pub const GRADIENT: Self = Self::new(ReluMode::Standard, |_, gradient| gradient);

    /// The gradient's absolute value (Captum's `Saliency`).
    pub const ABSOLUTE_GRADIENT: Self = Self::new(ReluMode::Standard, |_, gradient| gradient.abs());

    /// The input times its gradient (Captum's `InputXGradient`).
    pub const INPUT_X_GRADIENT: Self = Self::new(ReluMode::Standard, |input, gradient| {
        input.clone() * gradient
    });

    /// The ReLU rule of the pass.
    pub fn relu(&self) -> ReluMode {
        self.relu
    }

    /// The attribution from the plain input and its gradient.
    pub fn finish(&self, input: &Tensor<4>, gradient: Tensor<4>) -> Tensor<4> {
        (self.finish)(input, gradient)
    }

    /// The pass on a checked batch: what a method with this rule does in
    /// [`Attribution::attribute_input`].
    pub fn attribute(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let leaf = differentiable(input.tensor(), self.relu)?;
        let features = checked_features(model, leaf.clone(), self.relu)?;
        let feature_checks = Checks::finite(Stage::Features, &features, 1);
        let (predictions, total) = head(model, features, self.relu, Scoring::Resolve(targets))?;
        let gradient = gradient_of(&leaf, total);
        let checks = feature_checks.and(Checks::finite(Stage::Gradient, &gradient, 1));
        let map = self.finish(input.tensor(), gradient);
        Ok(Attributions::new(
            map,
            predictions.with_checks(checks),
            input,
        ))
    }
}

impl AnyPixel {
    /// This method wrapped in SmoothGrad with its default settings.
    pub fn smoothed(self) -> Self {
        Self::SmoothGrad(Box::new(SmoothGrad::new(self)))
    }

    /// Whether the method only scores perturbed copies of the input (forward passes, no
    /// gradient), so that it explains a model that is not differentiable: occlusion, feature
    /// ablation, Shapley value sampling, KernelSHAP, RISE and Lime (and SmoothGrad around one).
    ///
    /// ```
    /// use gradcam_explain::AnyPixel;
    ///
    /// assert!(AnyPixel::from_name("rise").unwrap().is_perturbation());
    /// assert!(!AnyPixel::from_name("saliency").unwrap().is_perturbation());
    /// ```
    pub fn is_perturbation(&self) -> bool {
        match self {
            Self::Occlusion(_)
            | Self::FeatureAblation(_)
            | Self::ShapleyValueSampling(_)
            | Self::KernelShap(_)
            | Self::Rise(_)
            | Self::Lime(_) => true,
            Self::SmoothGrad(smooth) => smooth.method.is_perturbation(),
            Self::GuidedBackprop(_)
            | Self::Saliency(_)
            | Self::InputXGradient(_)
            | Self::IntegratedGradients(_)
            | Self::Deconvolution(_)
            | Self::GradientShap(_)
            | Self::DeepLift(_)
            | Self::DeepLiftShap(_)
            | Self::Lrp(_)
            | Self::FullGrad(_) => false,
        }
    }
}

impl Attribution for AnyPixel {
    fn label(&self) -> String {
        self.inner().label()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.inner().attribute_input(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        self.inner().gradient_rule()
    }
}
