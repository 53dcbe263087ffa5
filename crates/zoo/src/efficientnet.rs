//! EfficientNet-B0 … B7 (Tan and Le, 2019) in torchvision's layout: stages of `MBConv` blocks
//! (inverted residuals with SiLU and squeeze-and-excitation gates), widths and depths scaled per
//! variant ([`crate::InvertedResidualNet`]).

use serde::{Deserialize, Serialize};

use crate::inverted::family::Family;
use crate::inverted::{Activation, BlockLayout, BlockShape, Squeeze, TrunkShape, state_dict_keys};
use crate::mobilenet::make_divisible;

/// torchvision's `_efficientnet_conf` rows: expansion, kernel, first stride, inputs, outputs,
/// blocks (before the variant's width and depth multipliers).
const SETTING: [[usize; 6]; 7] = [
    [1, 3, 1, 32, 16, 1],
    [6, 3, 2, 16, 24, 2],
    [6, 5, 2, 24, 40, 2],
    [6, 3, 2, 40, 80, 3],
    [6, 5, 1, 80, 112, 3],
    [6, 5, 2, 112, 192, 4],
    [6, 3, 1, 192, 320, 1],
];

/// Per variant B0 … B7: width multiplier, depth multiplier, torchvision's evaluation crop size.
const VARIANTS: [(f64, f64, usize); 8] = [
    (1.0, 1.0, 224),
    (1.0, 1.1, 240),
    (1.1, 1.2, 288),
    (1.2, 1.4, 300),
    (1.4, 1.8, 380),
    (1.6, 2.2, 456),
    (1.8, 2.6, 528),
    (2.0, 3.1, 600),
];

/// The shape of an EfficientNet (torchvision's `efficientnet_b0()` … `efficientnet_b7()`):
/// `features.0` a 3×3 stem with SiLU, `features.1` … `features.7` the seven stages of `MBConv`
/// blocks, `features.8` the 1×1 head convolution with SiLU, then the average pooling and
/// `classifier.1` (dropout and stochastic depth are the identity in eval mode). B5 … B7 use
/// BatchNorm's epsilon 1e-3, as torchvision builds them.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{EfficientNet, EfficientNetConfig};
///
/// let device = Device::default();
/// let config = EfficientNetConfig::efficientnet_b0().with_input_size([64, 64]).with_classes(10);
/// let net = EfficientNet::init(config, &device).explained_at("features.6")?;
/// let input = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// assert_eq!(result.layer_cam().unwrap().dims(), [1, 1, 2, 2]);
/// # Ok::<(), gradcam_explain::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EfficientNetConfig {
    /// The variant: 0 for B0 … 7 for B7.
    pub variant: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what `Explainable::input_shape` asks for (torchvision's
    /// evaluation crop by default: 224 for B0 … 600 for B7).
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
}

impl EfficientNetConfig {
    /// torchvision's `efficientnet_b<variant>()` (`variant` 0 … 7): ImageNet, 1000 classes, its
    /// evaluation crop size; `None` for another variant.
    pub fn variant(variant: usize) -> Option<Self> {
        let &(_, _, crop) = VARIANTS.get(variant)?;
        Some(Self {
            variant,
            input_size: [crop, crop],
            ..Self::efficientnet_b0()
        })
    }

    /// torchvision's `efficientnet_b0()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn efficientnet_b0() -> Self {
        Self {
            variant: 0,
            in_channels: 3,
            input_size: [224, 224],
            classes: 1000,
        }
    }

    /// The same network with another number of classes.
    pub fn with_classes(self, classes: usize) -> Self {
        Self { classes, ..self }
    }

    /// The same network for inputs of another size.
    pub fn with_input_size(self, input_size: [usize; 2]) -> Self {
        Self { input_size, ..self }
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        state_dict_keys(self)
    }

    fn multipliers(&self) -> (f64, f64) {
        let (width, depth, _) = VARIANTS[self.variant.min(VARIANTS.len() - 1)];
        (width, depth)
    }

    /// torchvision's `adjust_channels`: `channels · width` made divisible by 8.
    fn width(&self, channels: usize) -> usize {
        make_divisible(channels as f64 * self.multipliers().0)
    }
}

impl Family for EfficientNetConfig {
    fn layer_kind(&self) -> &'static str {
        "EfficientNet layer"
    }

    fn name(&self) -> String {
        format!("efficientnet_b{}", self.variant)
    }

    fn trunk(&self) -> TrunkShape {
        let (_, depth) = self.multipliers();
        let stages: Vec<Vec<BlockShape>> = SETTING
            .iter()
            .map(|&[t, kernel, stride, inputs, outputs, blocks]| {
                let (inputs, outputs) = (self.width(inputs), self.width(outputs));
                let blocks = (blocks as f64 * depth).ceil() as usize;
                (0..blocks)
                    .map(|i| {
                        let inputs = if i == 0 { inputs } else { outputs };
                        BlockShape {
                            inputs,
                            expanded: make_divisible((inputs * t) as f64),
                            outputs,
                            kernel,
                            stride: if i == 0 { stride } else { 1 },
                            dilation: 1,
                            activation: Activation::Silu,
                            squeeze: Some(Squeeze {
                                channels: (inputs / 4).max(1),
                                activation: Activation::Silu,
                                gate: Activation::Sigmoid,
                            }),
                        }
                    })
                    .collect()
            })
            .collect();
        let last = self.width(SETTING[SETTING.len() - 1][4]);
        TrunkShape {
            in_channels: self.in_channels,
            stem: self.width(SETTING[0][3]),
            activation: Activation::Silu,
            stages,
            head: 4 * last,
            epsilon: if self.variant >= 5 { 1e-3 } else { 1e-5 },
        }
    }

    fn block_path(&self, stage: usize, block: usize) -> String {
        format!("features.{}.{block}.block", stage + 1)
    }

    fn block_layout(&self) -> BlockLayout {
        BlockLayout::Nested
    }

    fn classifier(&self) -> (Vec<(&'static str, usize, usize)>, Activation) {
        let head = 4 * self.width(SETTING[SETTING.len() - 1][4]);
        (vec![("classifier.1", head, self.classes)], Activation::Silu)
    }

    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.input_size;
        [self.in_channels, h, w]
    }

    fn variants() -> Vec<Self> {
        (0..VARIANTS.len()).filter_map(Self::variant).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::EfficientNetConfig;

    /// torchvision's parameter counts of efficientnet_b0 … b7.
    #[test]
    fn the_keys_are_torchvision_s() {
        let counts = [
            5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704,
            66_347_960,
        ];
        for (variant, count) in counts.into_iter().enumerate() {
            let keys = EfficientNetConfig::variant(variant)
                .unwrap()
                .state_dict_keys();
            let parameters: usize = keys
                .iter()
                .filter(|(k, _)| !k.contains("running_"))
                .map(|(_, s)| s.iter().product::<usize>())
                .sum();
            assert_eq!(parameters, count, "efficientnet_b{variant}");
        }
        let keys = EfficientNetConfig::efficientnet_b0().state_dict_keys();
        assert_eq!(keys[5].0, "features.1.0.block.0.0.weight");
        assert_eq!(keys[10].0, "features.1.0.block.1.fc1.weight");
        assert_eq!(keys[10].1, vec![8, 32, 1, 1]);
    }
}
