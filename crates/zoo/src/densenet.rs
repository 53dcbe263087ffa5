//! DenseNet (Huang et al., "Densely Connected Convolutional Networks", 2017) in torchvision's
//! layout: `densenet121`, `densenet161`, `densenet169`, `densenet201`, and any growth rate,
//! block depths, width, class count or input size of the same shape.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{Explainable, Reinitialize, ReluMode, UnknownName, reinitialize_layers};
use gradcam_ops::SquareConv2d;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{ChannelAffine, conv, describe_depths, fold, norm, unfolded};
use crate::resnet::{ConvInput, routed_conv};
use crate::staged::{self, Staged};

/// The shape of a DenseNet.
///
/// `features`: a 7×7 stride-2 convolution (`conv0`), BatchNorm, ReLU and a 3×3 stride-2 max-pool;
/// four dense blocks, each layer of which sees the concatenation of every earlier output of its
/// block (`norm1 → relu1 → conv1` 1×1 to `bn_size · growth_rate` channels, `norm2 → relu2 →
/// conv2` 3×3 to `growth_rate`), a transition between two blocks (`norm → relu → conv` 1×1 to
/// half the channels, a 2×2 average pool); `norm5`. Then a ReLU, global average pooling and the
/// classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DenseNetConfig {
    /// Channels each dense layer adds (densenet121: 32).
    pub growth_rate: usize,
    /// Dense layers in each of the four blocks (densenet121: 6, 12, 24, 16).
    pub blocks: [usize; 4],
    /// The stem convolution's width (densenet121: 64).
    pub init_features: usize,
    /// The bottleneck's width as a multiple of the growth rate (torchvision: 4).
    pub bn_size: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what [`Explainable::input_shape`] asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
}

/// torchvision's builders: `(name, growth rate, blocks, stem width)`.
const STANDARD: [(&str, usize, [usize; 4], usize); 4] = [
    ("densenet121", 32, [6, 12, 24, 16], 64),
    ("densenet161", 48, [6, 12, 36, 24], 96),
    ("densenet169", 32, [6, 12, 32, 32], 64),
    ("densenet201", 32, [6, 12, 48, 32], 64),
];

impl DenseNetConfig {
    fn standard(index: usize) -> Self {
        let (_, growth_rate, blocks, init_features) = STANDARD[index];
        Self {
            growth_rate,
            blocks,
            init_features,
            bn_size: 4,
            in_channels: 3,
            input_size: [224, 224],
            classes: 1000,
        }
    }

    /// torchvision's `densenet121()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn densenet121() -> Self {
        Self::standard(0)
    }

    /// torchvision's `densenet161()`.
    pub fn densenet161() -> Self {
        Self::standard(1)
    }

    /// torchvision's `densenet169()`.
    pub fn densenet169() -> Self {
        Self::standard(2)
    }

    /// torchvision's `densenet201()`.
    pub fn densenet201() -> Self {
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

    /// The same depth with the growth rate and the stem's width divided by `divisor` (every
    /// width with them): the cheap twin the parity tests run in CI.
    pub fn narrowed(self, divisor: usize) -> Self {
        let divisor = divisor.max(1);
        Self {
            growth_rate: (self.growth_rate / divisor).max(1),
            init_features: (self.init_features / divisor).max(1),
            ..self
        }
    }

    /// torchvision's name of a standard configuration (`"densenet121"`), if it is one (any
    /// class count or input size).
    pub fn name(&self) -> Option<&'static str> {
        STANDARD
            .iter()
            .find(|(_, growth, blocks, init)| {
                (*growth, *blocks, *init, self.bn_size)
                    == (self.growth_rate, self.blocks, self.init_features, 4)
            })
            .map(|(name, ..)| *name)
    }

    /// The channels entering each block, and those leaving the last one.
    fn block_inputs(&self) -> ([usize; 4], usize) {
        let mut channels = self.init_features;
        let inputs = std::array::from_fn(|b| {
            let input = channels;
            channels += self.blocks[b] * self.growth_rate;
            if b < 3 {
                channels /= 2;
            }
            input
        });
        (inputs, channels)
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let norm = |keys: &mut Vec<(String, Vec<usize>)>, path: &str, channels: usize| {
            for part in ["weight", "bias", "running_mean", "running_var"] {
                keys.push((format!("{path}.{part}"), vec![channels]));
            }
        };
        let init = self.init_features;
        keys.push((
            "features.conv0.weight".to_owned(),
            vec![init, self.in_channels, 7, 7],
        ));
        norm(&mut keys, "features.norm0", init);
        let (inputs, last) = self.block_inputs();
        let bottleneck = self.bn_size * self.growth_rate;
        for (b, &layers) in self.blocks.iter().enumerate() {
            for l in 0..layers {
                let path = layer_path(b, l);
                let width = inputs[b] + l * self.growth_rate;
                norm(&mut keys, &format!("{path}.norm1"), width);
                keys.push((
                    format!("{path}.conv1.weight"),
                    vec![bottleneck, width, 1, 1],
                ));
                norm(&mut keys, &format!("{path}.norm2"), bottleneck);
                keys.push((
                    format!("{path}.conv2.weight"),
                    vec![self.growth_rate, bottleneck, 3, 3],
                ));
            }
            if b < 3 {
                let width = inputs[b] + layers * self.growth_rate;
                let path = format!("features.transition{}", b + 1);
                norm(&mut keys, &format!("{path}.norm"), width);
                keys.push((format!("{path}.conv.weight"), vec![width / 2, width, 1, 1]));
            }
        }
        norm(&mut keys, "features.norm5", last);
        keys.push(("classifier.weight".to_owned(), vec![self.classes, last]));
        keys.push(("classifier.bias".to_owned(), vec![self.classes]));
        keys
    }
}

/// torchvision's path of layer `l` of block `b` (both from 0): `features.denseblock1.denselayer1`.
fn layer_path(b: usize, l: usize) -> String {
    format!("features.denseblock{}.denselayer{}", b + 1, l + 1)
}

/// The modules of torchvision's `features` a DenseNet is explained at, in order. `conv0`'s own
/// output is not among them: `norm0` is folded into it.
const STAGES: [&str; 11] = [
    "features.norm0",
    "features.relu0",
    "features.pool0",
    "features.denseblock1",
    "features.transition1",
    "features.denseblock2",
    "features.transition2",
    "features.denseblock3",
    "features.transition3",
    "features.denseblock4",
    "features.norm5",
];

/// torchvision's `_DenseLayer` (remapped to these names).
#[derive(Module, Debug)]
struct TorchLayer {
    norm1: BatchNorm,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
}

/// torchvision's `_Transition`.
#[derive(Module, Debug)]
struct TorchTransition {
    norm: BatchNorm,
    conv: Conv2d,
}

/// torchvision's `DenseNet`: the module its keys name.
#[derive(Module, Debug)]
struct TorchDenseNet {
    conv0: Conv2d,
    norm0: BatchNorm,
    blocks: Vec<Vec<TorchLayer>>,
    transitions: Vec<TorchTransition>,
    norm5: BatchNorm,
    classifier: Linear,
}

impl TorchDenseNet {
    fn init(config: &DenseNetConfig, device: &Device) -> Self {
        let (inputs, last) = config.block_inputs();
        let (growth, bottleneck) = (config.growth_rate, config.bn_size * config.growth_rate);
        let blocks = (0..4)
            .map(|b| {
                (0..config.blocks[b])
                    .map(|l| {
                        let width = inputs[b] + l * growth;
                        TorchLayer {
                            norm1: norm(width, device),
                            conv1: conv(width, bottleneck, 1, 1, false, device),
                            norm2: norm(bottleneck, device),
                            conv2: conv(bottleneck, growth, 3, 1, false, device),
                        }
                    })
                    .collect()
            })
            .collect();
        let transitions = (0..3)
            .map(|b| {
                let width = inputs[b] + config.blocks[b] * growth;
                TorchTransition {
                    norm: norm(width, device),
                    conv: conv(width, width / 2, 1, 1, false, device),
                }
            })
            .collect();
        let init = config.init_features;
        Self {
            conv0: conv(config.in_channels, init, 7, 2, false, device),
            norm0: norm(init, device),
            blocks,
            transitions,
            norm5: norm(last, device),
            classifier: LinearConfig::new(last, config.classes).init(device),
        }
    }

    /// `norm0` and each layer's `norm2` folded into the convolution before them; the BatchNorms
    /// before a ReLU on a concatenation (`norm1`, the transitions', `norm5`) kept as one
    /// multiply-add per channel.
    fn fold(self, config: DenseNetConfig) -> DenseNet {
        let blocks = self
            .blocks
            .into_iter()
            .map(|block| {
                block
                    .into_iter()
                    .map(|l| DenseLayer {
                        norm1: ChannelAffine::of(&l.norm1),
                        conv1: fold(l.conv1, &l.norm2),
                        conv2: unfolded(l.conv2),
                    })
                    .collect()
            })
            .collect();
        let transitions = self
            .transitions
            .into_iter()
            .map(|t| Transition {
                norm: ChannelAffine::of(&t.norm),
                conv: unfolded(t.conv),
            })
            .collect();
        DenseNet {
            config,
            stem: fold(self.conv0, &self.norm0),
            blocks,
            transitions,
            norm5: ChannelAffine::of(&self.norm5),
            classifier: self.classifier,
            explained: STAGES.len() - 1,
        }
    }
}

/// One dense layer, `norm2` folded into `conv1`.
#[derive(Module, Debug)]
struct DenseLayer {
    norm1: ChannelAffine,
    conv1: SquareConv2d,
    conv2: SquareConv2d,
}

impl DenseLayer {
    /// The `growth_rate` new channels from the block's concatenation so far.
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let h = relu.apply(self.norm1.forward(x));
        let h = relu.apply(routed_conv(relu, &self.conv1, h, ConvInput::Rectified));
        routed_conv(relu, &self.conv2, h, ConvInput::Rectified)
    }
}

/// A transition between two blocks.
#[derive(Module, Debug)]
struct Transition {
    norm: ChannelAffine,
    conv: SquareConv2d,
}

impl Transition {
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let h = relu.apply(self.norm.forward(x));
        // The 1×1 convolution and the average pool are both linear and commute: pooling first
        // is the same map at a quarter of the convolution's cost.
        let pool = |x| avg_pool2d(x, AvgPoolOptions::new([2, 2]));
        let h = relu.avg_pool(h, pool);
        routed_conv(relu, &self.conv, h, ConvInput::Rectified)
    }
}

/// A DenseNet in eval mode, explained at one of torchvision's `features` modules
/// ([`DenseNet::explained_at`]; `features.norm5`, `features[-1]`, unless chosen:
/// pytorch-grad-cam's recommendation).
///
/// `norm0` and each dense layer's `norm2` are folded into the convolution before them; the
/// BatchNorms that precede a ReLU (`norm1` of each layer, the transitions', `norm5`) run as one
/// multiply-add per channel. Every ReLU, the final functional one included, goes through
/// [`ReluMode`], and the max-pool through [`ReluMode::max_pool`]; the network does not route its
/// unfoldable BatchNorms as affine layers, so LRP refuses it
/// ([`gradcam_explain::ExplainError::Unrouted`]).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{DenseNet, DenseNetConfig};
///
/// let device = Device::default();
/// let config = DenseNetConfig::densenet121().narrowed(8).with_input_size([64, 64]).with_classes(10);
/// let net = DenseNet::init(config, &device).explained_at("features.denseblock3")?;
/// let input = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// // 64 → 16 after the stem, halved by two transitions.
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 4, 4]);
/// # Ok::<(), gradcam_explain::UnknownName>(())
/// ```
#[derive(Module, Debug)]
pub struct DenseNet {
    #[module(skip)]
    config: DenseNetConfig,
    /// `conv0` with `norm0` folded in.
    stem: SquareConv2d,
    blocks: Vec<Vec<DenseLayer>>,
    transitions: Vec<Transition>,
    norm5: ChannelAffine,
    classifier: Linear,
    /// The explained module's index in [`STAGES`].
    explained: usize,
}

impl DenseNet {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: DenseNetConfig, device: &Device) -> Self {
        TorchDenseNet::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or the same tensors in a `.safetensors` file)
    /// strictly: a missing, extra or misshaped key is a [`LoadError`] naming it (and, when the
    /// file holds blocks of other depths, which DenseNet it is); float64/float16 weights are
    /// converted; non-finite values refused.
    pub fn load(
        config: DenseNetConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let mut remaps = vec![
            (r"^features\.conv0\.".to_owned(), "conv0.".to_owned()),
            (r"^features\.norm0\.".to_owned(), "norm0.".to_owned()),
            (r"^features\.norm5\.".to_owned(), "norm5.".to_owned()),
        ];
        for (b, &layers) in config.blocks.iter().enumerate() {
            for l in 0..layers {
                let from = format!("^{}\\.", layer_path(b, l).replace('.', r"\."));
                remaps.push((from, format!("blocks.{b}.{l}.")));
            }
            if b < 3 {
                let from = format!(r"^features\.transition{}\.", b + 1);
                remaps.push((from, format!("transitions.{b}.")));
            }
        }
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps,
            explain_mismatch: describe_file,
        };
        let module = TorchDenseNet::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &DenseNetConfig {
        &self.config
    }

    /// The names of the modules the network can be explained at, input to output:
    /// `features.norm0` (the stem convolution with its BatchNorm), `relu0`, `pool0`, each
    /// `denseblock<i>` and `transition<i>`, `norm5`.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.stage_names().to_vec()
    }

    /// The same network, explained at one of [`DenseNet::explainable_layers`].
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = staged::find(&self, layer, "DenseNet layer")?;
        Ok(self)
    }

    /// The name of the explained module (`"features.norm5"`).
    pub fn explained_layer(&self) -> &'static str {
        STAGES[self.explained]
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl Staged for DenseNet {
    fn stage_names(&self) -> &[&'static str] {
        &STAGES
    }

    fn explained_stage(&self) -> usize {
        self.explained
    }

    fn run_stage(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        match index {
            0 => routed_conv(relu, &self.stem, x, ConvInput::Image),
            1 => relu.apply(x),
            2 => relu.max_pool(x, |x| {
                max_pool2d(
                    x,
                    MaxPoolOptions::new([3, 3])
                        .with_stride([2, 2])
                        .with_padding([1, 1]),
                )
            }),
            10 => self.norm5.forward(x),
            // Blocks at 3, 5, 7, 9; transitions between them.
            i if i % 2 == 1 => self.blocks[(i - 3) / 2].iter().fold(x, |x, layer| {
                let new = layer.forward(x.clone(), relu);
                Tensor::cat(vec![x, new], 1)
            }),
            i => self.transitions[(i - 4) / 2].forward(x, relu),
        }
    }
}

impl Explainable for DenseNet {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        staged::features_tapped(self, input, relu, &mut |_, x| x)
    }

    /// The output of every earlier module a layer can be chosen at is tapped by its name.
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        staged::features_tapped(self, input, relu, tap)
    }

    /// The rest of `features`, then torchvision's functional ReLU (routed like the others),
    /// global average pooling and the classifier.
    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = staged::after_explained(self, features, relu);
        let pooled = adaptive_avg_pool2d(relu.apply(x), [1, 1]);
        relu.linear(&self.classifier, pooled.flatten::<2>(1, 3), false)
    }

    /// Every ReLU goes through the pass; the unfolded BatchNorms are per-channel affine maps.
    fn routes_head_nonlinearities(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.classifier.weight.device()
    }
}

impl Reinitialize for DenseNet {
    /// torchvision's names of the modules with parameters: `features.conv0` (with `norm0`),
    /// each `denseblock<i>` and `transition<i>`, `features.norm5`, `classifier`. The BatchNorms
    /// that stay unfolded are drawn like any vector (uniform in `±1/√channels`), not reset to
    /// PyTorch's `γ = 1, β = 0`.
    fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["features.conv0".to_owned()];
        for b in 1..=4 {
            names.push(format!("features.denseblock{b}"));
            if b < 4 {
                names.push(format!("features.transition{b}"));
            }
        }
        names.extend(["features.norm5".to_owned(), "classifier".to_owned()]);
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let paths: Vec<String> = layers
            .iter()
            .filter_map(|&i| match i {
                0 => Some("stem".to_owned()),
                i @ 1..=7 if i % 2 == 1 => Some(format!("blocks.{}", (i - 1) / 2)),
                i @ 1..=7 => Some(format!("transitions.{}", (i - 2) / 2)),
                8 => Some("norm5".to_owned()),
                9 => Some("classifier".to_owned()),
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

/// Which DenseNet a state dict's keys describe: "the file holds a densenet169 (blocks of 6, 12,
/// 32, 32 layers)", or nothing when its keys are not a DenseNet's.
fn describe_file(keys: &[&str]) -> String {
    let standard = STANDARD.map(|(name, _, blocks, _)| (name, blocks));
    describe_depths(
        keys,
        |b| format!("features.denseblock{}.denselayer", b + 1),
        ".conv1.weight",
        ("DenseNet", "blocks", "layers"),
        &standard,
    )
}

#[cfg(test)]
mod tests {
    use super::{DenseNet, DenseNetConfig, describe_file};

    /// Parameter counts equal torchvision's (`sum(p.numel() for p in m.parameters())`), and the
    /// widths chain: each transition halves, the classifier takes the last block's output.
    #[test]
    fn parameters_equal_torchvision() {
        let count = |config: DenseNetConfig| -> usize {
            config
                .state_dict_keys()
                .iter()
                .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
                .map(|(_, shape)| shape.iter().product::<usize>())
                .sum()
        };
        assert_eq!(count(DenseNetConfig::densenet121()), 7_978_856);
        assert_eq!(count(DenseNetConfig::densenet161()), 28_681_000);
        assert_eq!(count(DenseNetConfig::densenet169()), 14_149_480);
        assert_eq!(count(DenseNetConfig::densenet201()), 20_013_928);
        let keys = DenseNetConfig::densenet121().state_dict_keys();
        let classifier = keys.iter().find(|(k, _)| k == "classifier.weight");
        assert_eq!(classifier.map(|(_, s)| s.clone()), Some(vec![1000, 1024]));
        assert_eq!(
            DenseNetConfig::densenet201().narrowed(4).name(),
            None,
            "a narrowed network is no standard one"
        );
        assert_eq!(DenseNetConfig::densenet169().name(), Some("densenet169"));
    }

    #[test]
    fn layers_are_named_as_torchvision_names_them() {
        let device = Default::default();
        let net = DenseNet::init(DenseNetConfig::densenet121().narrowed(16), &device);
        assert_eq!(net.explained_layer(), "features.norm5");
        let error = net.explained_at("features.conv0").unwrap_err();
        assert!(error.expected.contains(&"features.transition3"));
        let keys: Vec<(String, Vec<usize>)> = DenseNetConfig::densenet169().state_dict_keys();
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            describe_file(&names),
            "the file holds a densenet169 (blocks of 6, 12, 32, 32 layers)"
        );
    }
}
