//! Grad-CAM, Guided Backpropagation and Guided Grad-CAM for any Burn CNN.
//!
//! A model implements [`Explainable`] (its forward split at the explained layer, with its ReLUs
//! routed through [`ReluMode`]); an [`Explainer`] configured by an [`ExplainConfig`] (or a
//! [`Preset`]) then explains a batch in one forward and one backward per method.

mod config;
mod error;
mod explainer;
pub mod guided;
mod maps;
mod model;
mod pipeline;

pub use config::{
    CamCombination, CamMethod, ExplainConfig, Interpolation, Preset, Score, Upsampling,
};
pub use error::{ExplainError, Result};
pub use explainer::{Explainer, Targets};
pub use maps::{CamExplanation, Explanation, ImageExplanation, Map, PixelExplanation, Prediction};
pub use model::{Explainable, OutputLayer, ReluMode};
pub use pipeline::{
    DISPLAY_EPSILON, PYTORCH_GRAD_CAM_EPSILON, cam_weights, combine, min_max_normalize, upsample,
};

#[cfg(test)]
mod tests;
