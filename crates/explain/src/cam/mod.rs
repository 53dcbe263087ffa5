//! The CAM family: a CAM method is its weighting of the explained layer's activations (and the
//! score's gradients at them); capture, combination, upsampling and checks are shared here
//! (pytorch-grad-cam's `BaseCAM`).

mod eigen_cam;
mod eigen_grad_cam;
mod grad_cam;
mod grad_cam_element_wise;
mod grad_cam_plus_plus;
mod hires_cam;
mod layer_cam;
mod score_cam;
mod xgrad_cam;

pub use eigen_cam::EigenCam;
pub use eigen_grad_cam::EigenGradCam;
pub use grad_cam::GradCam;
pub use grad_cam_element_wise::GradCamElementWise;
pub use grad_cam_plus_plus::GradCamPlusPlus;
pub use hires_cam::HiResCam;
pub use layer_cam::LayerCam;
pub use score_cam::ScoreCam;
pub use xgrad_cam::XGradCam;

use burn::tensor::{Int, Tensor, activation};

use crate::attribution::{Attribution, Attributions, Input, Predictions};
use crate::checks::Checks;
use crate::error::{Result, Stage};
use crate::forward::{checked_features, checked_logits};
use crate::model::{Explainable, ReluMode};
use crate::resize::upsample;
use crate::settings::{CamSettings, Combination};
use crate::targets::{Score, Targets};

/// A CAM method: how the explained layer's activations `A` (and the score's gradients
/// `G = ∂y/∂A`) become per-channel or per-cell weights, or directly a map.
///
/// Everything else — the forward split at the layer, one backward from the score to the layer,
/// the [`Combination`], the upsampling, the predictions — is shared, and every `Cam` is an
/// [`Attribution`]:
///
/// ```
/// use burn::tensor::Tensor;
/// use gradcam_explain::{Cam, CamSettings, CamWeights, Layer, Result};
///
/// /// Weighs each channel by its mean gradient's sign only.
/// struct SignCam(CamSettings);
///
/// impl Cam for SignCam {
///     fn label(&self) -> String { "Sign-CAM".into() }
///     fn settings(&self) -> &CamSettings { &self.0 }
///     fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
///         Ok(CamWeights::PerChannel(layer.gradients().mean_dims(&[2, 3]).sign()))
///     }
/// }
/// ```
pub trait Cam {
    /// A short human-readable name ("Grad-CAM++").
    fn label(&self) -> String;

    /// The shared settings: combination and upsampling.
    fn settings(&self) -> &CamSettings;

    /// Whether [`Cam::weights`] reads [`Layer::gradients`] (one backward from the score to the
    /// layer is skipped otherwise).
    fn needs_gradients(&self) -> bool {
        true
    }

    /// The method's weighting.
    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights>;
}

/// What a [`Cam`] returns.
#[derive(Clone, Debug)]
pub enum CamWeights {
    /// Weights `α` `[N, K, 1, 1]` (one per channel) or `[N, K, h, w]` (one per cell), combined
    /// with the activations by the settings' [`Combination`].
    PerChannel(Tensor<4>),
    /// A finished one-channel map `[N, 1, h, w]` (Eigen-CAM's projection); the combination's
    /// ReLU, if any, still applies.
    Map(Tensor<4>),
}

/// The explained layer of one batch, as a [`Cam`] sees it.
pub struct Layer<'a> {
    activations: Tensor<4>,
    gradients: Option<Tensor<4>>,
    model: &'a dyn Explainable,
    input: &'a Tensor<4>,
    classes: &'a Tensor<1, Int>,
    score: Score,
}

impl Layer<'_> {
    /// The layer's activations `A`, `[N, K, h, w]` (plain tensors).
    pub fn activations(&self) -> &Tensor<4> {
        &self.activations
    }

    /// The score's gradients `∂y/∂A`, `[N, K, h, w]`; zeros when the method declared that it
    /// needs none.
    pub fn gradients(&self) -> Tensor<4> {
        self.gradients
            .clone()
            .unwrap_or_else(|| self.activations.zeros_like())
    }

    /// The explained images `[N, C, H, W]` (for perturbation methods such as Score-CAM).
    pub fn input(&self) -> &Tensor<4> {
        self.input
    }

    /// The class explained for each image, `[N]`.
    pub fn classes(&self) -> &Tensor<1, Int> {
        self.classes
    }

    /// Each image's target score for a batch of (perturbed) images `[M, C, H, W]`, without
    /// gradients, in forward passes of at most `batch_size` images: `[M]`, image `i` scored at
    /// `classes[i]` (`[M]`).
    pub fn scores(
        &self,
        images: Tensor<4>,
        classes: Tensor<1, Int>,
        batch_size: usize,
    ) -> Result<Tensor<1>> {
        let m = images.dims()[0];
        let per_pass = batch_size.max(1);
        let mut scores = Vec::with_capacity(m.div_ceil(per_pass));
        for start in (0..m).step_by(per_pass) {
            let len = per_pass.min(m - start);
            let features = checked_features(
                self.model,
                images.clone().narrow(0, start, len),
                ReluMode::Standard,
            )?;
            let logits = checked_logits(self.model, features, ReluMode::Standard, len)?;
            let classes = classes.clone().narrow(0, start, len);
            scores.push(self.score.of(self.model.output_layer(), logits, &classes));
        }
        Ok(Tensor::cat(scores, 0))
    }
}

/// Combines activations `A` `[N, K, h, w]` with weights `α` (`[N, K, 1, 1]` or `[N, K, h, w]`)
/// into one map per image, `[N, 1, h, w]`.
fn combine(alpha: Tensor<4>, activations: Tensor<4>, combination: Combination) -> Tensor<4> {
    let weighted = activations * alpha;
    match combination {
        Combination::PerChannelRelu => activation::relu(weighted).sum_dim(1),
        Combination::ReluAfterSum => activation::relu(weighted.sum_dim(1)),
        Combination::Signed => weighted.sum_dim(1),
    }
}

/// The combination's ReLU on a map that is already one channel.
fn relu_of(combination: Combination, map: Tensor<4>) -> Tensor<4> {
    match combination {
        Combination::Signed => map,
        Combination::PerChannelRelu | Combination::ReluAfterSum => activation::relu(map),
    }
}

/// The layer-resolution CAM `[N, 1, h, w]` and the predictions, from the explained layer's
/// output `features` (any graph it belongs to is left intact); `input` is the plain batch.
pub(crate) fn layer_cam<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    input: &Tensor<4>,
    features: Tensor<4>,
    targets: &Targets,
) -> Result<(Predictions, Tensor<4>)> {
    let batch = features.dims()[0];
    // A fresh leaf: the head's backward stops here.
    let activations = features.detach().autodiff().require_grad();
    let logits = checked_logits(model, activations.clone(), ReluMode::Standard, batch)?;
    let predictions = Predictions::from_logits(model, logits.clone(), targets)?;
    let gradients = cam.needs_gradients().then(|| {
        let total = targets.total(model.output_layer(), logits, predictions.classes());
        let gradients = total.backward();
        activations
            .grad(&gradients)
            .unwrap_or_else(|| activations.zeros_like().without_autodiff())
    });
    let activations = activations.detach().without_autodiff();
    let mut checks = Checks::finite(Stage::Features, &activations, 1);
    if let Some(gradients) = &gradients {
        checks = checks.and(Checks::finite(Stage::Gradient, gradients, 1));
    }
    let predictions = predictions.with_checks(checks);
    let layer = Layer {
        activations,
        gradients,
        model,
        input,
        classes: predictions.classes(),
        score: targets.score(),
    };
    let combination = cam.settings().combination;
    let map = match cam.weights(&layer)? {
        CamWeights::PerChannel(alpha) => combine(alpha, layer.activations, combination),
        CamWeights::Map(map) => relu_of(combination, map),
    };
    Ok((predictions, map))
}

impl<C: Cam> Attribution for C {
    fn label(&self) -> String {
        Cam::label(self)
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let [_, _, height, width] = x.dims();
        let features = checked_features(model, x.clone(), ReluMode::Standard)?;
        let (predictions, layer) = layer_cam(self, model, x, features, targets)?;
        let map = upsample(layer.clone(), [height, width], &self.settings().upsampling);
        Ok(Attributions::new(map, predictions, input).with_layer_cam(layer))
    }
}

/// Every built-in CAM method, chosen by name at run time (the command line, reports).
///
/// Registering a method is one line of the macro call below.
macro_rules! any_cam {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Any built-in CAM method, by value; parsed from its command-line name with its
        /// default settings.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum AnyCam {
            $(
                #[doc = concat!("[`", stringify!($variant), "`].")]
                $variant($variant),
            )*
        }

        impl AnyCam {
            /// Every method's command-line name, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The method's command-line name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)*
                }
            }

            /// The method named `name`, with default settings.
            pub fn from_name(name: &str) -> Result<Self, crate::UnknownName> {
                let all = [$(Self::$variant($variant::new())),*];
                crate::UnknownName::find(name, &all, |m| m.name(), "CAM method")
            }

            /// The same method with other shared settings.
            pub fn with_settings(self, settings: CamSettings) -> Self {
                match self {
                    $(Self::$variant(mut method) => {
                        method.settings = settings;
                        Self::$variant(method)
                    })*
                }
            }

            fn inner(&self) -> &dyn Cam {
                match self {
                    $(Self::$variant(method) => method,)*
                }
            }
        }

        $(
            impl From<$variant> for AnyCam {
                fn from(method: $variant) -> Self {
                    Self::$variant(method)
                }
            }
        )*
    };
}

any_cam! {
    GradCam => "grad-cam",
    GradCamPlusPlus => "grad-cam-plus-plus",
    XGradCam => "xgrad-cam",
    HiResCam => "hires-cam",
    LayerCam => "layer-cam",
    ScoreCam => "score-cam",
    EigenCam => "eigen-cam",
    EigenGradCam => "eigen-grad-cam",
    GradCamElementWise => "grad-cam-element-wise",
}

impl Cam for AnyCam {
    fn label(&self) -> String {
        self.inner().label()
    }

    fn settings(&self) -> &CamSettings {
        self.inner().settings()
    }

    fn needs_gradients(&self) -> bool {
        self.inner().needs_gradients()
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        self.inner().weights(layer)
    }
}

impl std::fmt::Display for AnyCam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for AnyCam {
    type Err = crate::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}
