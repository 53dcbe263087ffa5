//! Eigen-Grad-CAM (pytorch-grad-cam's `EigenGradCAM`).

use burn::config::Config;

use crate::cam::eigen_cam::projection;
use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// Eigen-Grad-CAM (pytorch-grad-cam's `EigenGradCAM`): Eigen-CAM's first-principal-component
/// projection, of the gradient-weighted activations `G ⊙ A` instead of `A`, so that the map is
/// class-specific. The projection's sign is pinned as in [`crate::EigenCam`]; the combination's
/// ReLU (if any) applies to it.
#[derive(Config, Debug, PartialEq)]
pub struct EigenGradCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for EigenGradCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for EigenGradCam {
    fn label(&self) -> String {
        "Eigen-Grad-CAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::Map(projection(
            layer.gradients() * layer.activations().clone(),
        )))
    }
}
