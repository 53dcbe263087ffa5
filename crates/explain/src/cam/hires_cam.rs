//! HiResCAM (Draelos and Carin, 2020).

use burn::config::Config;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// HiResCAM (pytorch-grad-cam's `HiResCAM`): per-cell weights `G`, so the map is
/// `Σ_k G_k ⊙ A_k`.
#[derive(Config, Debug, PartialEq)]
pub struct HiResCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for HiResCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for HiResCam {
    fn label(&self) -> String {
        "HiResCAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::PerChannel(layer.gradients()))
    }
}
