//! Grad-CAM++ (Chattopadhyay et al., 2018).

use burn::config::Config;
use burn::tensor::activation;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// Grad-CAM++'s epsilon in the denominator of `a_ij` (pytorch-grad-cam's value).
const EPSILON: f32 = 1e-6;

/// Grad-CAM++ (eq. 19, as pytorch-grad-cam's `GradCAMPlusPlus`): `α_k = Σ_ij ReLU(G) · a_ij`
/// with `a_ij = G² / (2G² + (Σ_ij A_k)·G³ + 1e-6)`, and `a_ij = 0` where `G = 0`.
#[derive(Config, Debug, PartialEq)]
pub struct GradCamPlusPlus {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for GradCamPlusPlus {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for GradCamPlusPlus {
    fn label(&self) -> String {
        "Grad-CAM++".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        let spatial = [2, 3];
        let g = layer.gradients();
        let g2 = g.clone() * g.clone();
        let g3 = g2.clone() * g.clone();
        let sum_a = layer.activations().clone().sum_dims(&spatial);
        let denominator = g2.clone() * 2.0 + sum_a * g3 + EPSILON;
        let a_ij = (g2 / denominator).mask_fill(g.clone().equal_elem(0.0), 0.0);
        Ok(CamWeights::PerChannel(
            (activation::relu(g) * a_ij).sum_dims(&spatial),
        ))
    }
}
