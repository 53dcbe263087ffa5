//! Ablation-CAM (Desai and Ramaswamy, 2020).

use burn::config::Config;
use burn::tensor::{Int, Tensor, TensorData};

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::{Result, SettingError};
use crate::settings::CamSettings;
use crate::target::one_hot_mask;

/// How far below the activations' minimum pytorch-grad-cam's `AblationLayer` sets an ablated
/// channel when the minimum is not 0 (activations that can be negative).
const BELOW_MINIMUM: f32 = 1e7;

/// Ablation-CAM (pytorch-grad-cam's `AblationCAM`): no gradients. Each channel `k` of the
/// explained layer is ablated in turn and only the rest of the network is re-run; its weight is
/// the relative drop of the score, `(y − y_k) / y`.
///
/// An ablated channel is set to 0 when the image's activations have their minimum at 0 (after
/// a ReLU), else to `min − 1e7`, as pytorch-grad-cam does. (pytorch-grad-cam lowers that value
/// by a further 1e7 for each earlier copy of its ablation batch; the scores are the same
/// whenever the network clips the ablated channel, as a ReLU or a max-pooling then a ReLU
/// does, and here they do not depend on the batch.) The ablations of all images run in passes
/// of at most `batch_size` copies of the layer.
///
/// ```
/// use gradcam_explain::{AblationCam, Attribution};
/// let method = AblationCam::new().with_batch_size(64);
/// assert_eq!(method.label(), "Ablation-CAM");
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct AblationCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
    /// Ablated copies of the layer per pass of the network's head (pytorch-grad-cam's
    /// `batch_size`).
    #[config(default = 32)]
    pub batch_size: usize,
}

impl Default for AblationCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for AblationCam {
    fn label(&self) -> String {
        "Ablation-CAM".to_owned()
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
            "AblationCam",
            "batch_size",
            self.batch_size,
            "at least 1",
        )?;
        let activations = layer.activations();
        let [n, k, h, w] = activations.dims();
        let device = activations.device();
        let classes = layer.classes();
        let own = Tensor::<1, Int>::arange(0..n as i64, &device);
        let original =
            layer.head_scores(activations.clone(), classes.clone(), own, self.batch_size)?;
        let minimum = activations.clone().min_dims(&[1, 2, 3]);
        let fill = minimum
            .clone()
            .sub_scalar(BELOW_MINIMUM)
            .mask_fill(minimum.equal_elem(0.0), 0.0);
        let index = |values: Vec<i64>| {
            let len = values.len();
            Tensor::<1, Int>::from_data(TensorData::new(values, [len]), &device)
        };
        // Ablation `j` of the `n · k` is channel `j % k` of image `j / k`.
        let total = n * k;
        let mut scores = Vec::with_capacity(total.div_ceil(self.batch_size));
        for start in (0..total).step_by(self.batch_size) {
            let len = self.batch_size.min(total - start);
            let ablations = start..start + len;
            let images = index(ablations.clone().map(|j| (j / k) as i64).collect());
            let channels = index(ablations.map(|j| (j % k) as i64).collect());
            let ablated_channel = one_hot_mask(channels, k)
                .reshape([len, k, 1, 1])
                .expand([len, k, h, w]);
            let copies = activations.clone().select(0, images.clone());
            let values = fill
                .clone()
                .select(0, images.clone())
                .expand([len, k, h, w]);
            scores.push(layer.head_scores(
                copies.mask_where(ablated_channel, values),
                classes.clone().select(0, images.clone()),
                images,
                len,
            )?);
        }
        let ablated = Tensor::cat(scores, 0).reshape([n, k]);
        let original = original.reshape([n, 1]);
        let weights = (original.clone() - ablated) / original;
        Ok(CamWeights::PerChannel(weights.reshape([n, k, 1, 1])))
    }
}
