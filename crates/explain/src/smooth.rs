//! Pixel methods behind one `attribute` call, and SmoothGrad around any of them.

use serde::{Deserialize, Serialize};

use crate::integrated::IntegratedGradientsConfig;

/// A method that attributes the score to input elements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelMethod {
    /// Guided backpropagation (every ReLU guided).
    GuidedBackprop,
    /// The input gradient, or its absolute value (Captum's `Saliency`, `abs=True` by default).
    Saliency {
        /// Take the absolute value.
        absolute: bool,
    },
    /// Input × gradient (Captum's `InputXGradient`).
    InputXGradient,
    /// Integrated Gradients (Captum's `IntegratedGradients`).
    IntegratedGradients(IntegratedGradientsConfig),
}

/// How SmoothGrad aggregates the attributions of the noisy copies (Captum's `nt_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseAggregation {
    /// Their mean (SmoothGrad, Smilkov et al. 2017).
    #[default]
    SmoothGrad,
    /// The mean of their squares.
    SmoothGradSquared,
    /// Their variance (VarGrad, Adebayo et al. 2018).
    VarGrad,
}

/// Settings of [`crate::Explainer::smooth_grad`] (Captum's `NoiseTunnel`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothGradConfig {
    /// Noisy copies per image (Captum's `nt_samples`, default 5).
    pub samples: usize,
    /// Standard deviation of the Gaussian noise added to the (normalised) input (Captum's
    /// `stdevs`, default 1.0).
    pub stdev: f32,
    /// Seed of the noise: the same seed gives the same noise and the same result.
    pub seed: u64,
    /// The aggregation.
    pub aggregation: NoiseAggregation,
}

impl Default for SmoothGradConfig {
    fn default() -> Self {
        Self {
            samples: 5,
            stdev: 1.0,
            seed: 0,
            aggregation: NoiseAggregation::SmoothGrad,
        }
    }
}
