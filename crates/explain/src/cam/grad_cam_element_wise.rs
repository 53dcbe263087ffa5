//! Element-wise Grad-CAM (pytorch-grad-cam's `GradCAMElementWise`).

use burn::config::Config;
use burn::tensor::activation;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// Element-wise Grad-CAM (pytorch-grad-cam's `GradCAMElementWise`): the map is
/// `Σ_k ReLU(G_k ⊙ A_k)`, each cell's product clipped before the channels are summed (HiResCAM
/// with a ReLU per cell). The combination's ReLU, if any, then changes nothing.
#[derive(Config, Debug, PartialEq)]
pub struct GradCamElementWise {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for GradCamElementWise {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for GradCamElementWise {
    fn label(&self) -> String {
        "Grad-CAM element-wise".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        let products = activation::relu(layer.gradients() * layer.activations().clone());
        Ok(CamWeights::Weighted(products))
    }
}
