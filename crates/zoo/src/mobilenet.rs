//! MobileNetV2 (Sandler et al., 2018) and MobileNetV3 (Howard et al., 2019) in torchvision's
//! layout: inverted residual blocks of depthwise convolutions between pointwise ones ([`crate::InvertedResidualNet`]);
//! ReLU6 in V2; ReLU, hard-swish and squeeze-and-excitation gates in V3.

use serde::{Deserialize, Serialize};

use crate::inverted::family::Family;
use crate::inverted::{Activation, BlockLayout, BlockShape, Squeeze, TrunkShape, state_dict_keys};

/// torchvision's `_make_divisible(v, 8)`: `v` rounded to the nearest multiple of 8, at least 8,
/// never more than 10 % below `v`.
pub(crate) fn make_divisible(v: f64) -> usize {
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

/// torchvision's MobileNetV2 `inverted_residual_setting`: expansion `t`, output channels `c`,
/// blocks `n`, first stride `s`.
const V2_SETTING: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

/// The shape of a MobileNetV2 (torchvision's `mobilenet_v2()` at width 1.0).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{MobileNetV2, MobileNetV2Config};
///
/// let device = Device::default();
/// let config = MobileNetV2Config::mobilenet_v2().with_input_size([64, 64]).with_classes(10);
/// let net = MobileNetV2::init(config, &device).explained_at("features.13")?;
/// let input = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// assert_eq!(result.layer_cam().unwrap().dims(), [1, 1, 4, 4]);
/// # Ok::<(), gradcam_explain::UnknownName>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MobileNetV2Config {
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what `Explainable::input_shape` asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
}

impl MobileNetV2Config {
    /// torchvision's `mobilenet_v2()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn mobilenet_v2() -> Self {
        Self {
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
}

impl Family for MobileNetV2Config {
    fn layer_kind(&self) -> &'static str {
        "MobileNetV2 layer"
    }

    fn name(&self) -> String {
        "mobilenet_v2".into()
    }

    /// One block per `features.<i>`.
    fn trunk(&self) -> TrunkShape {
        let mut stages = Vec::new();
        let mut inputs = 32;
        for [t, c, n, s] in V2_SETTING {
            for i in 0..n {
                stages.push(vec![BlockShape {
                    inputs,
                    expanded: inputs * t,
                    outputs: c,
                    kernel: 3,
                    stride: if i == 0 { s } else { 1 },
                    dilation: 1,
                    activation: Activation::Relu6,
                    squeeze: None,
                }]);
                inputs = c;
            }
        }
        TrunkShape {
            in_channels: self.in_channels,
            stem: 32,
            activation: Activation::Relu6,
            stages,
            head: 1280,
            epsilon: 1e-5,
        }
    }

    fn block_path(&self, stage: usize, _: usize) -> String {
        format!("features.{}.conv", stage + 1)
    }

    fn block_layout(&self) -> BlockLayout {
        BlockLayout::Flat
    }

    fn classifier(&self) -> (Vec<(&'static str, usize, usize)>, Activation) {
        (vec![("classifier.1", 1280, self.classes)], Activation::Relu)
    }

    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.input_size;
        [self.in_channels, h, w]
    }

    fn variants() -> Vec<Self> {
        vec![Self::mobilenet_v2()]
    }
}

/// MobileNetV3's two sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MobileNetV3Size {
    /// `mobilenet_v3_small`: 11 blocks, 576-wide head.
    Small,
    /// `mobilenet_v3_large`: 15 blocks, 960-wide head.
    Large,
}

/// One of torchvision's MobileNetV3 `bneck_conf` rows: inputs, kernel, expanded, outputs,
/// squeeze-and-excitation, hard-swish, stride, and whether the block is in the (dilatable) last
/// stage.
type V3Row = (usize, usize, usize, usize, bool, bool, usize, bool);

/// The shape of a MobileNetV3 (torchvision's `mobilenet_v3_small()` / `mobilenet_v3_large()`
/// at width 1.0): `features.0` a 3×3 stem with hard-swish, `features.1` … the inverted residual
/// blocks (ReLU or hard-swish, some with a squeeze-and-excitation gate whose scale is a hard
/// sigmoid), then a 1×1 head convolution with hard-swish, the average pooling, and the classifier
/// `Linear → Hardswish → Dropout → Linear` (`classifier.0`, `classifier.3`). BatchNorm's epsilon
/// is 1e-3, as torchvision builds it.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{MobileNetV3, MobileNetV3Config};
///
/// let device = Device::default();
/// let config = MobileNetV3Config::mobilenet_v3_small().with_input_size([64, 64]).with_classes(10);
/// let net = MobileNetV3::init(config, &device);
/// assert_eq!(net.explained_layer(), "features.12");
/// let input = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// assert_eq!(result.layer_cam().unwrap().dims(), [1, 1, 2, 2]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MobileNetV3Config {
    /// Small or large.
    pub size: MobileNetV3Size,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what `Explainable::input_shape` asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
    /// torchvision's `dilated=True` (the segmentation backbones): the last stage's blocks at
    /// stride 1 with dilation 2 (output stride 16 instead of 32).
    pub dilated: bool,
}

impl MobileNetV3Config {
    /// torchvision's `mobilenet_v3_small()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn mobilenet_v3_small() -> Self {
        Self {
            size: MobileNetV3Size::Small,
            in_channels: 3,
            input_size: [224, 224],
            classes: 1000,
            dilated: false,
        }
    }

    /// torchvision's `mobilenet_v3_large()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn mobilenet_v3_large() -> Self {
        Self {
            size: MobileNetV3Size::Large,
            ..Self::mobilenet_v3_small()
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

    /// The same network with its last stage dilated (torchvision's `dilated=True`).
    pub fn dilated(self) -> Self {
        Self {
            dilated: true,
            ..self
        }
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        state_dict_keys(self)
    }

    /// torchvision's `bneck_conf` rows.
    #[rustfmt::skip]
    fn setting(&self) -> &'static [V3Row] {
        match self.size {
            MobileNetV3Size::Large => &[
                (16, 3, 16, 16, false, false, 1, false),
                (16, 3, 64, 24, false, false, 2, false),
                (24, 3, 72, 24, false, false, 1, false),
                (24, 5, 72, 40, true, false, 2, false),
                (40, 5, 120, 40, true, false, 1, false),
                (40, 5, 120, 40, true, false, 1, false),
                (40, 3, 240, 80, false, true, 2, false),
                (80, 3, 200, 80, false, true, 1, false),
                (80, 3, 184, 80, false, true, 1, false),
                (80, 3, 184, 80, false, true, 1, false),
                (80, 3, 480, 112, true, true, 1, false),
                (112, 3, 672, 112, true, true, 1, false),
                (112, 5, 672, 160, true, true, 2, true),
                (160, 5, 960, 160, true, true, 1, true),
                (160, 5, 960, 160, true, true, 1, true),
            ],
            MobileNetV3Size::Small => &[
                (16, 3, 16, 16, true, false, 2, false),
                (16, 3, 72, 24, false, false, 2, false),
                (24, 3, 88, 24, false, false, 1, false),
                (24, 5, 96, 40, true, true, 2, false),
                (40, 5, 240, 40, true, true, 1, false),
                (40, 5, 240, 40, true, true, 1, false),
                (40, 5, 120, 48, true, true, 1, false),
                (48, 5, 144, 48, true, true, 1, false),
                (48, 5, 288, 96, true, true, 2, true),
                (96, 5, 576, 96, true, true, 1, true),
                (96, 5, 576, 96, true, true, 1, true),
            ],
        }
    }

    /// The classifier's hidden width (torchvision's `last_channel`).
    fn last_channel(&self) -> usize {
        match self.size {
            MobileNetV3Size::Large => 1280,
            MobileNetV3Size::Small => 1024,
        }
    }
}

impl Family for MobileNetV3Config {
    fn layer_kind(&self) -> &'static str {
        "MobileNetV3 layer"
    }

    fn name(&self) -> String {
        match self.size {
            MobileNetV3Size::Large => "mobilenet_v3_large".into(),
            MobileNetV3Size::Small => "mobilenet_v3_small".into(),
        }
    }

    /// One block per `features.<i>`.
    fn trunk(&self) -> TrunkShape {
        let stages: Vec<Vec<BlockShape>> = self
            .setting()
            .iter()
            .map(
                |&(inputs, kernel, expanded, outputs, se, hs, stride, last)| {
                    let dilation = if last && self.dilated { 2 } else { 1 };
                    vec![BlockShape {
                        inputs,
                        expanded,
                        outputs,
                        kernel,
                        stride: if dilation > 1 { 1 } else { stride },
                        dilation,
                        activation: if hs {
                            Activation::HardSwish
                        } else {
                            Activation::Relu
                        },
                        squeeze: se.then(|| Squeeze {
                            channels: make_divisible((expanded / 4) as f64),
                            activation: Activation::Relu,
                            gate: Activation::HardSigmoid,
                        }),
                    }]
                },
            )
            .collect();
        let last = stages.last().map_or(16, |s| s[0].outputs);
        TrunkShape {
            in_channels: self.in_channels,
            stem: 16,
            activation: Activation::HardSwish,
            stages,
            head: 6 * last,
            epsilon: 1e-3,
        }
    }

    fn block_path(&self, stage: usize, _: usize) -> String {
        format!("features.{}.block", stage + 1)
    }

    fn block_layout(&self) -> BlockLayout {
        BlockLayout::Nested
    }

    fn classifier(&self) -> (Vec<(&'static str, usize, usize)>, Activation) {
        let head = 6 * self.setting().last().map_or(16, |row| row.3);
        let hidden = self.last_channel();
        (
            vec![
                ("classifier.0", head, hidden),
                ("classifier.3", hidden, self.classes),
            ],
            Activation::HardSwish,
        )
    }

    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.input_size;
        [self.in_channels, h, w]
    }

    fn variants() -> Vec<Self> {
        vec![Self::mobilenet_v3_small(), Self::mobilenet_v3_large()]
    }
}

#[cfg(test)]
mod tests {
    use super::{MobileNetV2Config, MobileNetV3Config, make_divisible};

    fn parameters(keys: &[(String, Vec<usize>)]) -> usize {
        keys.iter()
            .filter(|(k, _)| !k.contains("running_"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// torchvision's mobilenet_v2 has 314 tensors in its state dict, 52 of them BatchNorm
    /// `num_batches_tracked` counters (not loaded): 262 here.
    #[test]
    fn the_keys_are_torchvision_s() {
        let keys = MobileNetV2Config::mobilenet_v2().state_dict_keys();
        assert_eq!(keys.len(), 314 - 52);
        assert_eq!(keys[5].0, "features.1.conv.0.0.weight");
        assert_eq!(keys[5].1, vec![32, 1, 3, 3]);
        assert_eq!(keys[15].0, "features.2.conv.0.0.weight");
        assert_eq!(keys[15].1, vec![96, 16, 1, 1]);
        // torchvision's parameter count.
        assert_eq!(parameters(&keys), 3_504_872);
    }

    /// torchvision's parameter counts: mobilenet_v3_small 2,542,856, mobilenet_v3_large
    /// 5,483,032; and the first squeeze-and-excitation's keys.
    #[test]
    fn mobilenet_v3_keys_are_torchvision_s() {
        let small = MobileNetV3Config::mobilenet_v3_small().state_dict_keys();
        assert_eq!(parameters(&small), 2_542_856);
        assert_eq!(small[10].0, "features.1.block.1.fc1.weight");
        assert_eq!(small[10].1, vec![8, 16, 1, 1]);
        let large = MobileNetV3Config::mobilenet_v3_large().state_dict_keys();
        assert_eq!(parameters(&large), 5_483_032);
        assert_eq!(large.last().unwrap().0, "classifier.3.bias");
        assert_eq!(make_divisible(72.0 / 4.0), 24);
    }
}
