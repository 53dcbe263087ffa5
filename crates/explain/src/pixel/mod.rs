//! Pixel methods: attributions at the input's resolution, from the score's input gradient.
//! A gradient method is its [`GradientRule`]: which ReLU rule the backward takes, and what is
//! done with the gradient.

mod deconvolution;
mod guided_backprop;
mod input_x_gradient;
mod integrated_gradients;
mod occlusion;
mod saliency;

pub use deconvolution::Deconvolution;
pub use guided_backprop::GuidedBackprop;
pub use input_x_gradient::InputXGradient;
pub use integrated_gradients::{IntegratedGradients, Integration};
pub use occlusion::Occlusion;
pub use saliency::Saliency;

use burn::tensor::Tensor;

use crate::attribution::{Attribution, Attributions, Input, Predictions};
use crate::checks::Checks;
use crate::error::{Result, Stage};
use crate::forward::{checked_features, checked_logits, differentiable, gradient_of};
use crate::model::{Explainable, ReluMode};
use crate::smooth::SmoothGrad;
use crate::targets::Targets;

/// One forward and one backward pass from the score to the input with a given ReLU rule, and
/// what becomes of the gradient: guided backprop, saliency and input × gradient are each one
/// rule. A [`crate::CamTimes`] whose pixel method has a rule computes its CAM from the same
/// forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GradientRule {
    relu: ReluMode,
    finish: Finish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Finish {
    Gradient,
    Absolute,
    TimesInput,
}

impl GradientRule {
    /// Guided backpropagation: every ReLU guided, the gradient itself.
    pub(crate) const GUIDED: Self = Self {
        relu: ReluMode::Guided,
        finish: Finish::Gradient,
    };

    /// Deconvolution: every ReLU's backward `relu(grad)`, the gradient itself.
    pub(crate) const DECONVOLUTION: Self = Self {
        relu: ReluMode::Deconvolution,
        finish: Finish::Gradient,
    };

    /// The ReLU rule of the pass.
    pub fn relu(&self) -> ReluMode {
        self.relu
    }

    pub(crate) const fn standard(finish: Finish) -> Self {
        Self {
            relu: ReluMode::Standard,
            finish,
        }
    }

    /// The attribution from the plain input and its gradient.
    pub(crate) fn finish(&self, input: &Tensor<4>, gradient: Tensor<4>) -> Tensor<4> {
        match self.finish {
            Finish::Gradient => gradient,
            Finish::Absolute => gradient.abs(),
            Finish::TimesInput => input.clone() * gradient,
        }
    }

    /// The pass on a checked batch.
    pub(crate) fn attribute(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let leaf = differentiable(input.tensor(), self.relu)?;
        let features = checked_features(model, leaf.clone(), self.relu)?;
        let (predictions, gradient) = head_gradient(model, &leaf, features, self.relu, targets)?;
        let map = self.finish(input.tensor(), gradient);
        Ok(Attributions::new(map, predictions, input))
    }
}

/// The rest of an input-gradient pass once the explained layer's output is known: the head,
/// the predictions, and the gradient of the summed target scores w.r.t. the leaf `leaf` (one
/// backward gives every image the gradient of its own score).
pub(crate) fn head_gradient(
    model: &dyn Explainable,
    leaf: &Tensor<4>,
    features: Tensor<4>,
    relu: ReluMode,
    targets: &Targets,
) -> Result<(Predictions, Tensor<4>)> {
    let feature_checks = Checks::finite(Stage::Features, &features, 1);
    let logits = checked_logits(model, features, relu, leaf.dims()[0])?;
    let (predictions, total) = Predictions::with_total(model, logits, targets)?;
    let gradient = gradient_of(leaf, total);
    let checks = feature_checks.and(Checks::finite(Stage::Gradient, &gradient, 1));
    Ok((predictions.with_checks(checks), gradient))
}

/// The input gradient of a pass whose predictions (and checks of the feature maps and logits)
/// another pass of the same forward already has: only the head runs again, with `relu`, and the
/// targets those predictions resolved are differentiated.
pub(crate) fn head_gradient_of(
    model: &dyn Explainable,
    leaf: &Tensor<4>,
    features: Tensor<4>,
    relu: ReluMode,
    predictions: &Predictions,
) -> Result<(Tensor<4>, Checks)> {
    let logits = checked_logits(model, features, relu, leaf.dims()[0])?;
    let total = predictions
        .targets()
        .total(model.output_layer(), logits, predictions.classes())?;
    let gradient = gradient_of(leaf, total);
    let checks = Checks::finite(Stage::Gradient, &gradient, 1);
    Ok((gradient, checks))
}

/// Any built-in pixel method, by value (and SmoothGrad around any of them), for code that
/// picks methods at run time.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnyPixel {
    /// [`GuidedBackprop`].
    GuidedBackprop(GuidedBackprop),
    /// [`Saliency`].
    Saliency(Saliency),
    /// [`InputXGradient`].
    InputXGradient(InputXGradient),
    /// [`IntegratedGradients`].
    IntegratedGradients(IntegratedGradients),
    /// [`Deconvolution`].
    Deconvolution(Deconvolution),
    /// [`Occlusion`].
    Occlusion(Occlusion),
    /// [`SmoothGrad`] around another pixel method.
    SmoothGrad(Box<SmoothGrad<AnyPixel>>),
}

impl AnyPixel {
    /// The command-line names of the methods [`AnyPixel::from_name`] knows.
    pub const NAMES: &'static [&'static str] = &[
        "guided-backprop",
        "saliency",
        "input-x-gradient",
        "integrated-gradients",
        "deconvolution",
        "occlusion",
    ];

    /// The method named `name` (one of [`AnyPixel::NAMES`]) with default settings.
    pub fn from_name(name: &str) -> Result<Self, crate::UnknownName> {
        let all = [
            Self::GuidedBackprop(GuidedBackprop),
            Self::Saliency(Saliency::new()),
            Self::InputXGradient(InputXGradient),
            Self::IntegratedGradients(IntegratedGradients::new()),
            Self::Deconvolution(Deconvolution),
            Self::Occlusion(Occlusion::new()),
        ];
        crate::UnknownName::find(name, &all, Self::name, "pixel method")
    }

    /// The method's command-line name (`"smooth-grad"` for SmoothGrad).
    pub fn name(&self) -> &'static str {
        match self {
            Self::GuidedBackprop(_) => Self::NAMES[0],
            Self::Saliency(_) => Self::NAMES[1],
            Self::InputXGradient(_) => Self::NAMES[2],
            Self::IntegratedGradients(_) => Self::NAMES[3],
            Self::Deconvolution(_) => Self::NAMES[4],
            Self::Occlusion(_) => Self::NAMES[5],
            Self::SmoothGrad(_) => "smooth-grad",
        }
    }

    /// This method wrapped in SmoothGrad with its default settings.
    pub fn smoothed(self) -> Self {
        Self::SmoothGrad(Box::new(SmoothGrad::new(self)))
    }

    fn inner(&self) -> &dyn Attribution {
        match self {
            Self::GuidedBackprop(m) => m,
            Self::Saliency(m) => m,
            Self::InputXGradient(m) => m,
            Self::IntegratedGradients(m) => m,
            Self::Deconvolution(m) => m,
            Self::Occlusion(m) => m,
            Self::SmoothGrad(m) => m.as_ref(),
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

impl std::str::FromStr for AnyPixel {
    type Err = crate::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

impl std::fmt::Display for AnyPixel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
