//! XGrad-CAM (Fu et al., 2020).

use burn::config::Config;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// XGrad-CAM's epsilon in the denominator `Σ_ij A_k` (pytorch-grad-cam's value).
const EPSILON: f32 = 1e-7;

/// XGrad-CAM (pytorch-grad-cam's `XGradCAM`): `α_k = Σ_ij G·A / (Σ_ij A_k + 1e-7)`.
#[derive(Config, Debug, PartialEq)]
pub struct XGradCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for XGradCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for XGradCam {
    fn label(&self) -> String {
        "XGrad-CAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        let spatial = [2, 3];
        let a = layer.activations().clone();
        let sum_a = a.clone().sum_dims(&spatial) + EPSILON;
        Ok(CamWeights::PerChannel(
            (layer.gradients() * a / sum_a).sum_dims(&spatial),
        ))
    }
}
