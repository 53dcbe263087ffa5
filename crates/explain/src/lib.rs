//! Grad-CAM, Guided Backpropagation and Guided Grad-CAM for any Burn CNN.
//!
//! A model implements [`Explainable`] (its forward split at the explained layer, with its ReLUs
//! routed through [`ReluMode`]); an [`Explainer`] configured by an [`ExplainConfig`] (or a
//! [`Preset`]) then explains a batch in one forward and one backward per method.

mod config;
mod error;
mod explainer;
pub mod guided;
mod integrated;
mod maps;
mod method;
mod model;
mod noise;
mod pipeline;
mod pool;
mod smooth;

pub use config::{
    CamCombination, CamMethod, ExplainConfig, Interpolation, Preset, Score, Upsampling, parse_name,
};
pub use error::{ExplainError, Result};
pub use explainer::{Explainer, SCORE_CAM_BATCH, Targets};
pub use integrated::{IntegratedGradientsConfig, Integration};
pub use maps::{
    CamExplanation, Explanation, ImageExplanation, IntegratedGradientsExplanation, Map,
    PixelCamExplanation, PixelExplanation, Prediction,
};
pub use method::Method;
pub use model::{Explainable, OutputLayer, Reinitialize, ReluMode};
pub use noise::{gaussian_noise, uniform_noise};
pub use pipeline::{
    DISPLAY_EPSILON, PYTORCH_GRAD_CAM_EPSILON, cam_weights, combine, eigen_projection,
    min_max_normalize, upsample,
};
pub use pool::max_pool2d;
pub use smooth::{NoiseAggregation, PixelMethod, SmoothGradConfig};

#[cfg(test)]
mod tests;
