//! Grad-CAM, Guided Backpropagation, Guided Grad-CAM and their families for any Burn CNN, with
//! the numbers of Captum and pytorch-grad-cam.
//!
//! A model implements [`Explainable`] (its forward split at the explained layer, with its ReLUs
//! routed through [`ReluMode`]). Every method is a small settings struct implementing one trait,
//! [`Attribution`]: `method.attribute(&model, input, &targets)` returns [`Attributions`] —
//! maps and predictions as tensors on the model's device, read to the host only when asked
//! ([`Attributions::to_host`]).
//!
//! - CAMs ([`Cam`]: a CAM is its weighting): [`GradCam`], [`GradCamPlusPlus`], [`XGradCam`],
//!   [`HiResCam`], [`LayerCam`], [`ScoreCam`], [`EigenCam`], [`EigenGradCam`],
//!   [`GradCamElementWise`], [`AblationCam`], [`Fem`], [`KpcaCam`], sharing [`CamSettings`] (with
//!   pytorch-grad-cam's `eigen_smooth` and `aug_smooth`; [`Preset`]s reproduce the seed report,
//!   the paper, Captum and pytorch-grad-cam);
//! - pixel methods: [`GuidedBackprop`], [`Deconvolution`], [`Saliency`], [`InputXGradient`],
//!   [`IntegratedGradients`], [`Occlusion`], [`GradientShap`], [`FullGrad`] (input and bias
//!   gradients of every convolution);
//! - layer attributions at the explained layer's output: [`LayerActivation`],
//!   [`LayerGradientXActivation`], [`LayerIntegratedGradients`];
//! - compositions: [`SmoothGrad`] around any method (Captum's `NoiseTunnel`), [`CamTimes`] of
//!   any CAM and any pixel method ([`GuidedGradCam`]), one forward pass where possible;
//! - [`DeepFeatureFactorization`]: the explained layer's activations factorised into concepts,
//!   where each lies in each image and what the model's head makes of it;
//! - [`AnyCam`], [`AnyPixel`] and [`Method`]: every built-in method as a value, by name.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use gradcam_explain::{Attribution, Explainable, GuidedGradCam, Preset, ReluMode, Targets};
//!
//! /// A toy model: the features are the input, the logits their per-channel sums.
//! struct Sums;
//! impl Explainable for Sums {
//!     fn input_shape(&self) -> [usize; 3] { [2, 4, 4] }
//!     fn features(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> { relu.apply(x) }
//!     fn logits(&self, a: Tensor<4>, _: ReluMode) -> Tensor<2> { a.sum_dims_squeeze::<2, _>(&[2, 3]) }
//!     fn device(&self) -> Device { Device::default() }
//! }
//!
//! let input = Tensor::<4>::random([3, 2, 4, 4], Distribution::Default, &Device::default());
//! let method = GuidedGradCam::guided(Preset::Captum.cam_settings());
//! let result = method.attribute(&Sums, input, &Targets::predicted())?;
//! assert_eq!(result.map().dims(), [3, 2, 4, 4]); // still on the device
//! let images = result.to_host()?; // one read: maps, CAMs, predictions
//! assert_eq!(images[0].layer_cam.as_ref().unwrap().shape, [1, 4, 4]);
//! # Ok::<(), gradcam_explain::ExplainError>(())
//! ```

#![warn(missing_docs)]

/// `Display`, `FromStr` and serde by the one name of every named setting (the command line's,
/// serde's and the docs' alike).
macro_rules! named {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::UnknownName::find(s, &Self::ALL, |v| v.name(), $what)
            }
        }
    )*};
}

// The registry's macro, before the modules that register methods.
#[macro_use]
mod registry;

mod attribution;
mod cam;
mod checks;
mod error;
mod factorization;
mod forward;
mod host;
mod lasso;
mod layer;
mod linearise;
mod lrp;
mod maps;
mod method;
mod model;
mod nmf;
pub mod noise;
mod perturb;
mod pixel;
mod predictions;
mod product;
mod rescale;
mod resize;
mod settings;
mod smooth;
mod target;
mod view;

pub use attribution::{Attribution, Attributions, Input};
/// The exact GELU with its exact gradient on every backend, for models that are explained
/// (`relu.activation(x, gelu)`).
pub use gradcam_ops::gelu;
// Every CAM method of `cam` (so that adding one touches only that module).
pub use cam::*;
pub use error::{
    ExplainError, ModelPart, ParseTargetError, Result, SettingError, Stage, UnknownName,
};
pub use factorization::{DeepFeatureFactorization, Factorization};
#[doc(hidden)]
pub use host::device_reads;
pub use layer::{
    LayerActivation, LayerConductance, LayerDeepLift, LayerDeepLiftShap, LayerGradientShap,
    LayerGradientXActivation, LayerIntegratedGradients,
};
pub use lrp::{Affine, AffineKind, Bound, LrpComposite, LrpRule, STABILIZER};
pub use maps::{ImageAttribution, Map, Prediction};
pub use method::Method;
pub use model::{
    Explainable, OutputLayer, Reinitialize, ReluMode, pooled_scores, reinitialize_layers,
};
pub use perturb::{FeatureMask, PerturbationBaseline};
pub use pixel::*;
pub use predictions::Predictions;
pub use product::{CamTimes, GuidedGradCam};
pub use resize::{bilinear, normalize};
pub use settings::{CamSettings, Combination, Interpolation, Preset, Upsampling};
pub use smooth::{NoiseAggregation, SmoothGrad};
pub use target::{
    BinaryOutput, ClassSum, FinerWeighted, Objective, Outputs, RawScores, ReSt, Region, Score,
    ScoreGradient, Target, TargetFn, Targets,
};
pub use view::{ChannelsLast, LayerView, Nested, TokenGrid, WithSkips};

#[cfg(test)]
mod tests;
