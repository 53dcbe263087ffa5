//! Score-CAM (Wang et al., 2020).

use burn::config::Config;
use burn::tensor::activation;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::{Result, SettingError};
use crate::resize::{Kernel, resample};
use crate::settings::CamSettings;

/// Score-CAM's epsilon in the mask normalisation (pytorch-grad-cam's value).
const EPSILON: f32 = 1e-8;

/// Score-CAM (pytorch-grad-cam's `ScoreCAM`): no gradients. Each activation channel, bilinearly
/// upsampled (corners aligned, as pytorch-grad-cam's `UpsamplingBilinear2d`) and min-max
/// normalised, masks the input; the channel's weight is the softmax over channels of the masked
/// input's score. Everything stays on the device.
#[derive(Config, Debug, PartialEq)]
pub struct ScoreCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
    /// Masked inputs per forward pass: bounds the memory to this many input images.
    #[config(default = 256)]
    pub batch_size: usize,
}

impl Default for ScoreCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for ScoreCam {
    fn label(&self) -> String {
        "Score-CAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn needs_gradients(&self) -> bool {
        false
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        SettingError::check(
            self.batch_size > 0,
            "ScoreCam",
            "batch_size",
            self.batch_size,
            "at least 1",
        )?;
        let input = layer.input();
        let [n, c, height, width] = input.dims();
        let activations = layer.activations();
        let k = activations.dims()[1];
        let upsampled = resample(
            activations.clone(),
            [height, width],
            Kernel::Bilinear {
                align_corners: true,
            },
        );
        let mins = upsampled.clone().min_dims(&[2, 3]);
        let maxs = upsampled.clone().max_dims(&[2, 3]);
        let masks = (upsampled - mins.clone()) / (maxs - mins + EPSILON);
        let masked = input.clone().reshape([n, 1, c, height, width])
            * masks.reshape([n, k, 1, height, width]);
        let classes = layer
            .classes()
            .clone()
            .reshape([n, 1])
            .repeat_dim(1, k)
            .reshape([n * k]);
        let scores = layer.scores(
            masked.reshape([n * k, c, height, width]),
            classes,
            self.batch_size,
        )?;
        Ok(CamWeights::PerChannel(
            activation::softmax(scores.reshape([n, k]), 1).reshape([n, k, 1, 1]),
        ))
    }
}
