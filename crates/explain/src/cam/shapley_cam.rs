//! ShapleyCAM (Cai et al., "CAMs as Shapley Value-based Explainers", 2025).

use burn::config::Config;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// ShapleyCAM: each channel weighted by the mean over its cells of the gradient minus half the
/// Hessian-vector product with the activations, `α_k = mean_ij (∂y/∂A − ½ H·A)_k[i, j]`, a
/// second-order estimate of each channel's Shapley value (pytorch-grad-cam's `ShapleyCAM`).
///
/// The Hessian-vector product is [`Layer::hessian_product`]: exact where the network after the
/// layer is piecewise linear (ReLUs, max pooling, affine layers, sums; the zoo's CNNs at their
/// last layers, the MNIST net), refused elsewhere. With a logit score the head adds no
/// curvature and ShapleyCAM is Grad-CAM; the method is meant for a score that curves, its
/// paper's ReST ([`crate::ReSt`], `--objective rest`) or a log-probability.
///
/// ```
/// use gradcam_explain::{CamSettings, ShapleyCam};
/// let cam = ShapleyCam::new();
/// assert_eq!(cam.settings, CamSettings::default());
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct ShapleyCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for ShapleyCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for ShapleyCam {
    fn label(&self) -> String {
        "ShapleyCAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        let curvature = layer.hessian_product(layer.activations().clone(), "ShapleyCAM")?;
        let weights = layer.gradients() - curvature.mul_scalar(0.5);
        Ok(CamWeights::PerChannel(weights.mean_dims(&[2, 3])))
    }
}
