//! Grad-CAM (Selvaraju et al., 2017).

use burn::config::Config;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// Grad-CAM: each channel weighted by its mean gradient, `α_k = mean_ij ∂y/∂A_k[i, j]`
/// (Captum's `LayerGradCam`, pytorch-grad-cam's `GradCAM`).
///
/// ```
/// use gradcam_explain::{CamSettings, GradCam, Preset};
/// let paper = GradCam::new(); // the paper's and the peers': ReLU after the sum, bilinear
/// assert_eq!(paper.settings, CamSettings::default());
/// let captum = GradCam::new().with_settings(Preset::Captum.cam_settings());
/// let seed = GradCam::new().with_settings(Preset::Seed.cam_settings());
/// # let _ = (captum, seed);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct GradCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for GradCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for GradCam {
    fn label(&self) -> String {
        "Grad-CAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::PerChannel(layer.gradients().mean_dims(&[2, 3])))
    }
}
