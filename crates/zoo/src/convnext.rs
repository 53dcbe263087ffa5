//! ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022) in torchvision's layout:
//! `convnext_tiny`, `convnext_small`, `convnext_base`, `convnext_large`, and any widths, depths,
//! class count or input size of the same shape.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Explainable, Reinitialize, ReluMode, UnknownName, gelu, reinitialize_layers,
};
use gradcam_ops::SquareConv2d;
use serde::{Deserialize, Serialize};

use crate::FEATURE_NAMES;
use crate::checkpoint::{GroupedConv2d, describe_depths, unfolded, unfolded_grouped};
use crate::resnet::{ConvInput, routed_conv};
use crate::staged::{self, Staged};

/// torchvision's LayerNorm epsilon for ConvNeXt (`partial(nn.LayerNorm, eps=1e-6)`).
const EPSILON: f64 = 1e-6;

/// The shape of a ConvNeXt.
///
/// `features`: a 4×4 stride-4 "patchify" convolution and a LayerNorm over channels; four stages
/// of blocks (a 7×7 depthwise convolution, a LayerNorm over channels, a pointwise linear layer to
/// four times the width, the exact GELU, one back, a learnt per-channel layer scale, the
/// residual sum), each stage but the last followed by a LayerNorm and a 2×2 stride-2
/// convolution to the next width. Then global average pooling, a LayerNorm and the classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvNextConfig {
    /// Each stage's width (convnext_tiny: 96, 192, 384, 768).
    pub widths: [usize; 4],
    /// Blocks in each stage (convnext_tiny: 3, 3, 9, 3).
    pub depths: [usize; 4],
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what [`Explainable::input_shape`] asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
}

/// torchvision's builders: `(name, widths, depths)`.
const STANDARD: [(&str, [usize; 4], [usize; 4]); 4] = [
    ("convnext_tiny", [96, 192, 384, 768], [3, 3, 9, 3]),
    ("convnext_small", [96, 192, 384, 768], [3, 3, 27, 3]),
    ("convnext_base", [128, 256, 512, 1024], [3, 3, 27, 3]),
    ("convnext_large", [192, 384, 768, 1536], [3, 3, 27, 3]),
];

impl ConvNextConfig {
    fn standard(index: usize) -> Self {
        let (_, widths, depths) = STANDARD[index];
        Self {
            widths,
            depths,
            in_channels: 3,
            input_size: [224, 224],
            classes: 1000,
        }
    }

    /// torchvision's `convnext_tiny()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn convnext_tiny() -> Self {
        Self::standard(0)
    }

    /// torchvision's `convnext_small()`.
    pub fn convnext_small() -> Self {
        Self::standard(1)
    }

    /// torchvision's `convnext_base()`.
    pub fn convnext_base() -> Self {
        Self::standard(2)
    }

    /// torchvision's `convnext_large()`.
    pub fn convnext_large() -> Self {
        Self::standard(3)
    }

    /// The same network with another number of classes.
    pub fn with_classes(self, classes: usize) -> Self {
        Self { classes, ..self }
    }

    /// The same network for inputs of another size.
    pub fn with_input_size(self, input_size: [usize; 2]) -> Self {
        Self { input_size, ..self }
    }

    /// The same depths with every width divided by `divisor`: the cheap twin of a test.
    pub fn narrowed(self, divisor: usize) -> Self {
        let divisor = divisor.max(1);
        Self {
            widths: self.widths.map(|w| (w / divisor).max(1)),
            ..self
        }
    }

    /// torchvision's name of a standard configuration (`"convnext_tiny"`), if it is one (any
    /// class count or input size).
    pub fn name(&self) -> Option<&'static str> {
        STANDARD
            .iter()
            .find(|(_, widths, depths)| (*widths, *depths) == (self.widths, self.depths))
            .map(|(name, ..)| *name)
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let mut push = |key: String, shape: Vec<usize>| keys.push((key, shape));
        let w = self.widths;
        push(
            "features.0.0.weight".into(),
            vec![w[0], self.in_channels, 4, 4],
        );
        push("features.0.0.bias".into(), vec![w[0]]);
        push("features.0.1.weight".into(), vec![w[0]]);
        push("features.0.1.bias".into(), vec![w[0]]);
        for stage in 0..4 {
            let (width, index) = (w[stage], 2 * stage + 1);
            for block in 0..self.depths[stage] {
                let path = format!("features.{index}.{block}");
                push(format!("{path}.layer_scale"), vec![width, 1, 1]);
                push(format!("{path}.block.0.weight"), vec![width, 1, 7, 7]);
                push(format!("{path}.block.0.bias"), vec![width]);
                push(format!("{path}.block.2.weight"), vec![width]);
                push(format!("{path}.block.2.bias"), vec![width]);
                push(format!("{path}.block.3.weight"), vec![4 * width, width]);
                push(format!("{path}.block.3.bias"), vec![4 * width]);
                push(format!("{path}.block.5.weight"), vec![width, 4 * width]);
                push(format!("{path}.block.5.bias"), vec![width]);
            }
            if stage < 3 {
                let path = format!("features.{}", index + 1);
                push(format!("{path}.0.weight"), vec![width]);
                push(format!("{path}.0.bias"), vec![width]);
                push(format!("{path}.1.weight"), vec![w[stage + 1], width, 2, 2]);
                push(format!("{path}.1.bias"), vec![w[stage + 1]]);
            }
        }
        push("classifier.0.weight".into(), vec![w[3]]);
        push("classifier.0.bias".into(), vec![w[3]]);
        push("classifier.2.weight".into(), vec![self.classes, w[3]]);
        push("classifier.2.bias".into(), vec![self.classes]);
        keys
    }
}

/// A `k`×`k` stride-`k` convolution with a bias, no padding (the stem's 4×4, the
/// downsamplings' 2×2).
fn patchify(inputs: usize, outputs: usize, kernel: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([inputs, outputs], [kernel, kernel])
        .with_stride([kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(0, 0, 0, 0))
        .init(device)
}

fn layer_norm(channels: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(channels)
        .with_epsilon(EPSILON)
        .init(device)
}

/// torchvision's `LayerNorm2d`: a LayerNorm over the channels of `[N, C, H, W]`.
fn channel_norm(norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

/// torchvision's `CNBlock`, as stored and as run (nothing folds: LayerNorm normalises per
/// position).
#[derive(Module, Debug)]
struct Block {
    depthwise: GroupedConv2d,
    norm: LayerNorm,
    expand: Linear,
    project: Linear,
    /// `[C, 1, 1]`.
    layer_scale: Param<Tensor<3>>,
}

impl Block {
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let [channels, ..] = self.layer_scale.dims();
        // Channels last for the LayerNorm and the pointwise layers, as torchvision permutes.
        let h = self.depthwise.routed(relu, x.clone()).permute([0, 2, 3, 1]);
        let h = relu.linear(&self.expand, self.norm.forward(h), false);
        let h = relu.linear(&self.project, relu.activation(h, gelu), false);
        let scale = self.layer_scale.val().reshape([1, channels, 1, 1]);
        // Stochastic depth is the identity in eval mode.
        relu.add(x, h.permute([0, 3, 1, 2]) * scale)
    }
}

/// A LayerNorm over channels and a 2×2 stride-2 convolution between two stages.
#[derive(Module, Debug)]
struct Downsample {
    norm: LayerNorm,
    conv: SquareConv2d,
}

/// torchvision's `ConvNeXt` as stored (the convolutions get their runtime form on load).
#[derive(Module, Debug)]
struct TorchConvNext {
    stem: Conv2d,
    stem_norm: LayerNorm,
    blocks: Vec<Vec<TorchBlock>>,
    downsamples: Vec<TorchDownsample>,
    head_norm: LayerNorm,
    classifier: Linear,
}

#[derive(Module, Debug)]
struct TorchBlock {
    depthwise: Conv2d,
    norm: LayerNorm,
    expand: Linear,
    project: Linear,
    layer_scale: Param<Tensor<3>>,
}

#[derive(Module, Debug)]
struct TorchDownsample {
    norm: LayerNorm,
    conv: Conv2d,
}

impl TorchConvNext {
    fn init(config: &ConvNextConfig, device: &Device) -> Self {
        let w = config.widths;
        let blocks = (0..4)
            .map(|s| {
                (0..config.depths[s])
                    .map(|_| TorchBlock {
                        depthwise: Conv2dConfig::new([w[s], w[s]], [7, 7])
                            .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                            .with_groups(w[s])
                            .init(device),
                        norm: layer_norm(w[s], device),
                        expand: LinearConfig::new(w[s], 4 * w[s]).init(device),
                        project: LinearConfig::new(4 * w[s], w[s]).init(device),
                        // torchvision's initial layer scale.
                        layer_scale: Param::from_tensor(Tensor::full([w[s], 1, 1], 1e-6, device)),
                    })
                    .collect()
            })
            .collect();
        let downsamples = (0..3)
            .map(|s| TorchDownsample {
                norm: layer_norm(w[s], device),
                conv: patchify(w[s], w[s + 1], 2, device),
            })
            .collect();
        Self {
            stem: patchify(config.in_channels, w[0], 4, device),
            stem_norm: layer_norm(w[0], device),
            blocks,
            downsamples,
            head_norm: layer_norm(w[3], device),
            classifier: LinearConfig::new(w[3], config.classes).init(device),
        }
    }

    fn into_runtime(self, config: ConvNextConfig) -> ConvNext {
        let blocks = self
            .blocks
            .into_iter()
            .map(|stage| {
                stage
                    .into_iter()
                    .map(|b| Block {
                        depthwise: unfolded_grouped(b.depthwise),
                        norm: b.norm,
                        expand: b.expand,
                        project: b.project,
                        layer_scale: b.layer_scale,
                    })
                    .collect()
            })
            .collect();
        let downsamples = self
            .downsamples
            .into_iter()
            .map(|d| Downsample {
                norm: d.norm,
                conv: unfolded(d.conv),
            })
            .collect();
        ConvNext {
            config,
            stem: unfolded(self.stem),
            stem_norm: self.stem_norm,
            blocks,
            downsamples,
            head_norm: self.head_norm,
            classifier: self.classifier,
            explained: 7,
        }
    }
}

/// A ConvNeXt in eval mode, explained at one of torchvision's `features.<i>` (`features.0`, the
/// stem, to `features.7`, the last stage; `features[-1]` unless chosen).
///
/// Every GELU goes through [`ReluMode::activation`] (guided backpropagation guides it), the
/// residual sums through [`ReluMode::add`], the convolutions and pointwise layers through the
/// pass; the LayerNorms are not affine layers LRP has a rule for, so LRP refuses the network
/// ([`gradcam_explain::ExplainError::Unrouted`]).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{ConvNext, ConvNextConfig};
///
/// let device = Device::default();
/// let config = ConvNextConfig::convnext_tiny().narrowed(16).with_input_size([64, 64]).with_classes(10);
/// let net = ConvNext::init(config, &device).explained_at("features.5")?;
/// let input = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// // 64 / 4 after the stem, halved twice.
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 4, 4]);
/// # Ok::<(), gradcam_explain::UnknownName>(())
/// ```
#[derive(Module, Debug)]
pub struct ConvNext {
    #[module(skip)]
    config: ConvNextConfig,
    stem: SquareConv2d,
    stem_norm: LayerNorm,
    blocks: Vec<Vec<Block>>,
    downsamples: Vec<Downsample>,
    head_norm: LayerNorm,
    classifier: Linear,
    /// torchvision's index in `features` of the explained module.
    explained: usize,
}

impl ConvNext {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: ConvNextConfig, device: &Device) -> Self {
        TorchConvNext::init(&config, device).into_runtime(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or the same tensors in a `.safetensors` file)
    /// strictly: a missing, extra or misshaped key is a [`LoadError`] naming it (and, when the
    /// file holds stages of other depths, which ConvNeXt it is); float64/float16 weights are
    /// converted; non-finite values refused.
    pub fn load(
        config: ConvNextConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let mut remaps: Vec<(String, String)> = [
            (r"^features\.0\.0\.", "stem."),
            (r"^features\.0\.1\.", "stem_norm."),
            (r"^classifier\.0\.", "head_norm."),
            (r"^classifier\.2\.", "classifier."),
        ]
        .map(|(from, to)| (from.to_owned(), to.to_owned()))
        .to_vec();
        for stage in 0..4 {
            let index = 2 * stage + 1;
            let block = format!(r"^features\.{index}\.(\d+)\.");
            for (part, field) in [
                (r"block\.0\.", "depthwise."),
                (r"block\.2\.", "norm."),
                (r"block\.3\.", "expand."),
                (r"block\.5\.", "project."),
                ("layer_scale$", "layer_scale"),
            ] {
                remaps.push((
                    format!("{block}{part}"),
                    format!("blocks.{stage}.${{1}}.{field}"),
                ));
            }
            if stage < 3 {
                for (part, field) in [("0", "norm"), ("1", "conv")] {
                    remaps.push((
                        format!(r"^features\.{}\.{part}\.", index + 1),
                        format!("downsamples.{stage}.{field}."),
                    ));
                }
            }
        }
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |_| false,
            remaps,
            explain_mismatch: describe_file,
        };
        let module = TorchConvNext::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.into_runtime(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &ConvNextConfig {
        &self.config
    }

    /// The names of the modules the network can be explained at, input to output:
    /// `features.0` (the stem) … `features.7` (the last stage); the odd ones are the stages, the
    /// even ones after the stem the downsamplings.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.stage_names().to_vec()
    }

    /// The same network, explained at one of [`ConvNext::explainable_layers`].
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = staged::find(&self, layer, "ConvNeXt layer")?;
        Ok(self)
    }

    /// The name of the explained module (`"features.7"`).
    pub fn explained_layer(&self) -> &'static str {
        FEATURE_NAMES[self.explained]
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl Staged for ConvNext {
    fn stage_names(&self) -> &[&'static str] {
        &FEATURE_NAMES[..8]
    }

    fn explained_stage(&self) -> usize {
        self.explained
    }

    /// Runs torchvision's `features[index]`.
    fn run_stage(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        match index {
            0 => channel_norm(
                &self.stem_norm,
                routed_conv(relu, &self.stem, x, ConvInput::Image),
            ),
            i if i % 2 == 1 => self.blocks[i / 2]
                .iter()
                .fold(x, |x, block| block.forward(x, relu)),
            i => {
                let down = &self.downsamples[i / 2 - 1];
                routed_conv(
                    relu,
                    &down.conv,
                    channel_norm(&down.norm, x),
                    ConvInput::Any,
                )
            }
        }
    }
}

impl Explainable for ConvNext {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        staged::features_tapped(self, input, relu, &mut |_, x| x)
    }

    /// The output of every earlier `features.<i>` is tapped by its name.
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        staged::features_tapped(self, input, relu, tap)
    }

    /// The rest of `features`, global average pooling, the LayerNorm and the classifier.
    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = staged::after_explained(self, features, relu);
        let pooled = relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
        let normed = self.head_norm.forward(pooled.flatten::<2>(1, 3));
        relu.linear(&self.classifier, normed, false)
    }

    fn device(&self) -> Device {
        self.classifier.weight.device()
    }
}

impl Reinitialize for ConvNext {
    /// torchvision's names: `features.0` … `features.7`, then `classifier` (its LayerNorm and
    /// linear layer). LayerNorms are drawn like any vector (uniform in `±1/√channels`), not reset
    /// to PyTorch's `γ = 1, β = 0`.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = FEATURE_NAMES[..8].iter().map(|&n| n.to_owned()).collect();
        names.push("classifier".to_owned());
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let paths: Vec<String> = layers
            .iter()
            .flat_map(|&i| match i {
                0 => vec!["stem".to_owned(), "stem_norm".to_owned()],
                i @ 1..=7 if i % 2 == 1 => vec![format!("blocks.{}", i / 2)],
                i @ 1..=7 => vec![format!("downsamples.{}", i / 2 - 1)],
                8 => vec!["head_norm".to_owned(), "classifier".to_owned()],
                _ => Vec::new(),
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

/// Which ConvNeXt a state dict's keys describe: "the file holds a convnext_small (stages of 3,
/// 3, 27, 3 blocks)", or nothing when its keys are not a ConvNeXt's.
fn describe_file(keys: &[&str]) -> String {
    let standard = STANDARD.map(|(name, _, depths)| (name, depths));
    describe_depths(
        keys,
        |stage| format!("features.{}.", 2 * stage + 1),
        ".layer_scale",
        ("ConvNeXt", "stages", "blocks"),
        &standard,
    )
}

#[cfg(test)]
mod tests {
    use super::{ConvNextConfig, describe_file};

    /// Parameter counts equal torchvision's (`sum(p.numel() for p in m.parameters())`).
    #[test]
    fn parameters_equal_torchvision() {
        let count = |config: ConvNextConfig| -> usize {
            config
                .state_dict_keys()
                .iter()
                .map(|(_, shape)| shape.iter().product::<usize>())
                .sum()
        };
        assert_eq!(count(ConvNextConfig::convnext_tiny()), 28_589_128);
        assert_eq!(count(ConvNextConfig::convnext_small()), 50_223_688);
        assert_eq!(count(ConvNextConfig::convnext_base()), 88_591_464);
        assert_eq!(count(ConvNextConfig::convnext_large()), 197_767_336);
        assert_eq!(
            ConvNextConfig::convnext_base().name(),
            Some("convnext_base")
        );
        let keys = ConvNextConfig::convnext_base().state_dict_keys();
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            describe_file(&names),
            "the file holds one of convnext_small, convnext_base, convnext_large (stages of 3, 3, 27, 3 blocks)"
        );
    }
}
