//! FEM, the Feature Explanation Method (Fuad et al., 2020; pytorch-grad-cam's `FEM`).

use burn::config::Config;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// FEM (pytorch-grad-cam's `FEM`): gradient-free; each channel weighted by the share of its
/// cells that stand out, `α_k = mean_ij 1[A_k[i, j] > μ_k + k·σ_k]` (the mean and the
/// population standard deviation of the channel over its cells: the "k-sigma rule"), then the
/// weighted activations combined as every CAM's.
///
/// ```
/// use gradcam_explain::{AnyCam, Attribution, Fem};
/// assert_eq!(Fem::new().k, 2.0);
/// assert_eq!(Fem::new().label(), "FEM");
/// assert_eq!(AnyCam::from_name("fem").unwrap(), AnyCam::Fem(Fem::new()));
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct Fem {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
    /// Standard deviations above the channel's mean a cell must stand to count (the peer's
    /// `k`).
    #[config(default = 2.0)]
    pub k: f32,
}

impl Default for Fem {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for Fem {
    fn label(&self) -> String {
        "FEM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn needs_gradients(&self) -> bool {
        false
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        let activations = layer.activations();
        let dims = activations.dims();
        let mean = activations.clone().mean_dims(&[2, 3]);
        let spread = (activations.clone() - mean.clone())
            .powi_scalar(2)
            .mean_dims(&[2, 3])
            .sqrt();
        let threshold = (mean + spread * self.k).expand(dims);
        let standing_out = activations.clone().greater(threshold).float();
        Ok(CamWeights::PerChannel(standing_out.mean_dims(&[2, 3])))
    }
}
