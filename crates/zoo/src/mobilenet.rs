//! MobileNetV2 (Sandler et al., 2018) in torchvision's layout: inverted residual blocks of
//! depthwise convolutions between pointwise ones, ReLU6 activations.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{Explainable, Reinitialize, ReluMode, UnknownName, reinitialize_layers};
use gradcam_ops::{SquareConv2d, capped_relu};
use serde::{Deserialize, Serialize};

use crate::FEATURE_NAMES;
use crate::checkpoint::{GroupedConv2d, conv, fold, fold_grouped, grouped_conv, norm};
use crate::resnet::routed_conv;

/// torchvision's `inverted_residual_setting`: expansion `t`, output channels `c`, blocks `n`,
/// first stride `s`.
const SETTING: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];
const STEM: usize = 32;
const LAST: usize = 1280;

/// The shape of a MobileNetV2 (torchvision's `mobilenet_v2()` at width 1.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MobileNetV2Config {
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what [`Explainable::input_shape`] asks for.
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

    /// Each inverted residual block's `(inputs, expansion, outputs, stride)`, `features.1` to
    /// `features.17`.
    fn blocks(&self) -> Vec<[usize; 4]> {
        let mut blocks = Vec::new();
        let mut inputs = STEM;
        for [t, c, n, s] in SETTING {
            for i in 0..n {
                blocks.push([inputs, t, c, if i == 0 { s } else { 1 }]);
                inputs = c;
            }
        }
        blocks
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let mut conv_bn = |prefix: &str, bn: &str, shape: Vec<usize>| {
            let channels = shape[0];
            keys.push((format!("{prefix}.weight"), shape));
            for part in ["weight", "bias", "running_mean", "running_var"] {
                keys.push((format!("{bn}.{part}"), vec![channels]));
            }
        };
        conv_bn(
            "features.0.0",
            "features.0.1",
            vec![STEM, self.in_channels, 3, 3],
        );
        for (b, [inputs, t, outputs, _]) in self.blocks().into_iter().enumerate() {
            let f = format!("features.{}.conv", b + 1);
            let hidden = inputs * t;
            // Without expansion (t = 1) the depthwise convolution is `conv.0`.
            let mut at = 0;
            if t != 1 {
                conv_bn(
                    &format!("{f}.0.0"),
                    &format!("{f}.0.1"),
                    vec![hidden, inputs, 1, 1],
                );
                at = 1;
            }
            conv_bn(
                &format!("{f}.{at}.0"),
                &format!("{f}.{at}.1"),
                vec![hidden, 1, 3, 3],
            );
            conv_bn(
                &format!("{f}.{}", at + 1),
                &format!("{f}.{}", at + 2),
                vec![outputs, hidden, 1, 1],
            );
        }
        let last_inputs = SETTING[SETTING.len() - 1][1];
        conv_bn(
            "features.18.0",
            "features.18.1",
            vec![LAST, last_inputs, 1, 1],
        );
        keys.push(("classifier.1.weight".into(), vec![self.classes, LAST]));
        keys.push(("classifier.1.bias".into(), vec![self.classes]));
        keys
    }
}

/// A convolution and its BatchNorm, as torchvision stores them (remapped to these names).
#[derive(Module, Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

/// torchvision's `InvertedResidual`.
#[derive(Module, Debug)]
struct TorchInverted {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
}

/// torchvision's `MobileNetV2`: the module its `state_dict` keys name.
#[derive(Module, Debug)]
struct TorchMobileNetV2 {
    stem: ConvBn,
    blocks: Vec<TorchInverted>,
    head: ConvBn,
    fc: Linear,
}

impl TorchMobileNetV2 {
    fn init(config: &MobileNetV2Config, device: &Device) -> Self {
        let conv_bn = |inputs, outputs, kernel, stride| ConvBn {
            conv: conv(inputs, outputs, kernel, stride, false, device),
            bn: norm(outputs, device),
        };
        let blocks = config
            .blocks()
            .into_iter()
            .map(|[inputs, t, outputs, stride]| {
                let hidden = inputs * t;
                TorchInverted {
                    expand: (t != 1).then(|| conv_bn(inputs, hidden, 1, 1)),
                    depthwise: ConvBn {
                        conv: grouped_conv(hidden, stride, device),
                        bn: norm(hidden, device),
                    },
                    project: conv_bn(hidden, outputs, 1, 1),
                }
            })
            .collect();
        let last_inputs = SETTING[SETTING.len() - 1][1];
        Self {
            stem: conv_bn(config.in_channels, STEM, 3, 2),
            blocks,
            head: conv_bn(last_inputs, LAST, 1, 1),
            fc: LinearConfig::new(LAST, config.classes).init(device),
        }
    }

    fn fold(self, config: MobileNetV2Config) -> MobileNetV2 {
        let blocks = self
            .blocks
            .into_iter()
            .zip(config.blocks())
            .map(|(b, [inputs, _, outputs, stride])| Inverted {
                expand: b.expand.map(|e| fold(e.conv, &e.bn)),
                depthwise: fold_grouped(b.depthwise.conv, &b.depthwise.bn),
                project: fold(b.project.conv, &b.project.bn),
                residual: stride == 1 && inputs == outputs,
            })
            .collect();
        MobileNetV2 {
            config,
            stem: fold(self.stem.conv, &self.stem.bn),
            blocks,
            head: fold(self.head.conv, &self.head.bn),
            fc: self.fc,
            explained: 18,
        }
    }
}

/// One inverted residual block, its BatchNorms folded.
#[derive(Module, Debug)]
struct Inverted {
    expand: Option<SquareConv2d>,
    depthwise: GroupedConv2d,
    project: SquareConv2d,
    residual: bool,
}

/// `min(max(x, 0), 6)` through the pass: guided backprop and deconvolution reach it as they
/// reach a ReLU ([`ReluMode::activation`]). One fused operation ([`capped_relu`]): Burn's
/// `clamp` and its gradient go through masks, several passes over the largest tensors.
fn relu6(relu: ReluMode, x: Tensor<4>) -> Tensor<4> {
    relu.activation(x, |x| capped_relu(x, 6.0))
}

impl Inverted {
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let mut h = x.clone();
        if let Some(expand) = &self.expand {
            h = relu6(relu, routed_conv(relu, expand, h, false));
        }
        h = relu6(relu, self.depthwise.routed(relu, h));
        h = routed_conv(relu, &self.project, h, false);
        if self.residual { relu.add(x, h) } else { h }
    }
}

/// A MobileNetV2 in eval mode (BatchNorm folded into the convolutions), explained at one of
/// torchvision's `features.<i>` (`features.0`, the stem, to `features.18`, the last 1×1
/// convolution; `features[-1]` unless chosen).
///
/// Every ReLU6 goes through [`ReluMode::activation`]: guided backpropagation guides it, where
/// Captum's `GuidedBackprop` and pytorch-grad-cam's `GuidedBackpropReLUModel` override
/// `nn.ReLU` modules only and leave torchvision's `nn.ReLU6` its plain gradient.
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
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    #[module(skip)]
    config: MobileNetV2Config,
    stem: SquareConv2d,
    blocks: Vec<Inverted>,
    head: SquareConv2d,
    fc: Linear,
    /// torchvision's index in `features` of the explained module.
    explained: usize,
}

impl MobileNetV2 {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: MobileNetV2Config, device: &Device) -> Self {
        TorchMobileNetV2::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or the same tensors in a `.safetensors` file)
    /// strictly: a missing, extra or misshaped key is a [`LoadError`] naming it;
    /// float64/float16 weights are converted; non-finite values refused.
    pub fn load(
        config: MobileNetV2Config,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let mut remaps: Vec<(String, String)> = vec![
            (r"^features\.0\.0\.".into(), "stem.conv.".into()),
            (r"^features\.0\.1\.".into(), "stem.bn.".into()),
            (r"^features\.18\.0\.".into(), "head.conv.".into()),
            (r"^features\.18\.1\.".into(), "head.bn.".into()),
            (r"^classifier\.1\.".into(), "fc.".into()),
        ];
        for (b, [_, t, _, _]) in config.blocks().into_iter().enumerate() {
            let from = |part: &str| format!(r"^features\.{}\.conv\.{part}\.", b + 1);
            let to = |part: &str| format!("blocks.{b}.{part}.");
            let names: &[(&str, &str)] = if t == 1 {
                &[
                    (r"0\.0", "depthwise.conv"),
                    (r"0\.1", "depthwise.bn"),
                    ("1", "project.conv"),
                    ("2", "project.bn"),
                ]
            } else {
                &[
                    (r"0\.0", "expand.conv"),
                    (r"0\.1", "expand.bn"),
                    (r"1\.0", "depthwise.conv"),
                    (r"1\.1", "depthwise.bn"),
                    ("2", "project.conv"),
                    ("3", "project.bn"),
                ]
            };
            remaps.extend(names.iter().map(|(f, t)| (from(f), to(t))));
        }
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps,
            explain_mismatch: |_| String::new(),
        };
        let module = TorchMobileNetV2::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &MobileNetV2Config {
        &self.config
    }

    /// The same network, explained at torchvision's `features.<i>` (`features.0` …
    /// `features.18`).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        let indices: Vec<usize> = (0..=self.blocks.len() + 1).collect();
        self.explained =
            UnknownName::find(layer, &indices, |&i| FEATURE_NAMES[i], "MobileNetV2 layer")?;
        Ok(self)
    }

    /// The name of the explained module (`"features.18"`).
    pub fn explained_layer(&self) -> &'static str {
        FEATURE_NAMES[self.explained]
    }

    /// Runs torchvision's `features[index]`.
    fn module(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let last = self.blocks.len() + 1;
        match index {
            0 => relu6(relu, routed_conv(relu, &self.stem, x, true)),
            i if i == last => relu6(relu, routed_conv(relu, &self.head, x, false)),
            i => self.blocks[i - 1].forward(x, relu),
        }
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl Explainable for MobileNetV2 {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_tapped(input, relu, &mut |_, x| x)
    }

    /// The output of every earlier `features.<i>` is tapped by its name.
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let mut x = input;
        for (index, name) in FEATURE_NAMES.iter().enumerate().take(self.explained) {
            x = tap(name, self.module(index, x, relu));
        }
        self.module(self.explained, x, relu)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let mut x = features;
        for index in self.explained + 1..=self.blocks.len() + 1 {
            x = self.module(index, x, relu);
        }
        let pooled = relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
        relu.linear(&self.fc, pooled.flatten::<2>(1, 3), false)
    }

    /// Every convolution (BatchNorm folded in, the depthwise ones too), the residual sums, the
    /// pooling and the classifier go through the pass.
    fn routes_affine_layers(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.fc.weight.device()
    }
}

impl Reinitialize for MobileNetV2 {
    /// torchvision's names: `features.0` … `features.18`, then `classifier.1`.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..=self.blocks.len() + 1)
            .map(|i| FEATURE_NAMES[i].to_owned())
            .collect();
        names.push("classifier.1".to_owned());
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let last = self.blocks.len() + 1;
        let paths: Vec<String> = layers
            .iter()
            .filter_map(|&i| match i {
                0 => Some("stem".to_owned()),
                i if i < last => Some(format!("blocks.{}", i - 1)),
                i if i == last => Some("head".to_owned()),
                i if i == last + 1 => Some("fc".to_owned()),
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::MobileNetV2Config;

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
        let total: usize = keys.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        // torchvision's parameter count (3,504,872) plus the BatchNorms' running statistics.
        assert_eq!(total, 3_504_872 + 2 * 17_056);
    }
}
