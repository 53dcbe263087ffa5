//! LayerCAM (Jiang et al., 2021).

use burn::config::Config;
use burn::tensor::activation;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// LayerCAM (pytorch-grad-cam's `LayerCAM`): per-cell weights `ReLU(G)`.
#[derive(Config, Debug, PartialEq)]
pub struct LayerCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for LayerCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for LayerCam {
    fn label(&self) -> String {
        "LayerCAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::PerChannel(activation::relu(layer.gradients())))
    }
}
