//! The inverted residual network shared by MobileNetV2, MobileNetV3 and EfficientNet: a stem
//! convolution, stages of inverted residual blocks (a 1×1 expansion, a depthwise convolution,
//! an optional squeeze-and-excitation gate, a 1×1 projection, a residual sum), a 1×1 head
//! convolution, global average pooling and a classifier. What differs between the families —
//! the block shapes, the activations, the classifier and torchvision's key names — is each
//! family's [`InvertedFamily`] configuration.

use std::fmt::Debug;
use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor, activation};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{Explainable, Reinitialize, ReluMode, UnknownName, reinitialize_layers};
use gradcam_ops::{SquareConv2d, capped_relu, silu};

use crate::FEATURE_NAMES;
use crate::checkpoint::{
    GroupedConv2d, conv, fold, fold_grouped, grouped_conv, norm_eps, unfolded,
};
use crate::resnet::{ConvInput, routed_conv};
use crate::staged::{self, Staged};

/// An activation of the family, routed through the pass ([`ReluMode`]): guided backpropagation
/// and deconvolution reach every one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `nn.ReLU`: the pass's own ReLU ([`ReluMode::apply`]).
    Relu,
    /// `nn.ReLU6`, one fused operation ([`capped_relu`]).
    Relu6,
    /// `nn.Hardswish`: `x · relu6(x + 3) / 6`.
    HardSwish,
    /// `nn.SiLU`: `x · σ(x)`, one fused operation ([`silu`]).
    Silu,
    /// `nn.Hardsigmoid`: `relu6(x + 3) / 6` (MobileNetV3's gate).
    HardSigmoid,
    /// `nn.Sigmoid` (EfficientNet's gate).
    Sigmoid,
}

fn hard_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    capped_relu(x + 3.0, 6.0) / 6.0
}

impl Activation {
    /// The activation under the pass's rule ([`ReluMode::activation`] for all but the ReLU).
    pub(crate) fn apply<const D: usize>(self, relu: ReluMode, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => relu.apply(x),
            Self::Relu6 => relu.activation(x, |x| capped_relu(x, 6.0)),
            Self::HardSwish => relu.activation(x, |x| x.clone() * hard_sigmoid(x)),
            Self::Silu => relu.activation(x, silu),
            Self::HardSigmoid => relu.activation(x, hard_sigmoid),
            Self::Sigmoid => relu.activation(x, activation::sigmoid),
        }
    }
}

/// A squeeze-and-excitation gate (torchvision's `SqueezeExcitation`): the channels' means through
/// `fc1`, `activation`, `fc2` and `gate` scale the channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Squeeze {
    pub channels: usize,
    pub activation: Activation,
    pub gate: Activation,
}

/// One inverted residual block's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockShape {
    pub inputs: usize,
    /// The depthwise convolution's width (no expansion when it equals `inputs`).
    pub expanded: usize,
    pub outputs: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub activation: Activation,
    pub squeeze: Option<Squeeze>,
}

impl BlockShape {
    fn residual(&self) -> bool {
        self.stride == 1 && self.inputs == self.outputs
    }
}

/// Where a family's torchvision module tree puts a block's parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockLayout {
    /// MobileNetV2's `conv`: `conv.0` (expansion, `Conv2dNormActivation`), `conv.1`
    /// (depthwise), then the projection as a bare `conv.2` / BatchNorm `conv.3`.
    Flat,
    /// MobileNetV3's and EfficientNet's `block`: one `Conv2dNormActivation` (or the
    /// `SqueezeExcitation`) per index, the projection's convolution and BatchNorm as `.0`/`.1`.
    Nested,
}

/// The whole trunk's shape: stem, stages, head.
#[derive(Clone, Debug, PartialEq)]
pub struct TrunkShape {
    pub in_channels: usize,
    pub stem: usize,
    /// The stem's and the head's activation.
    pub activation: Activation,
    pub stages: Vec<Vec<BlockShape>>,
    pub head: usize,
    /// BatchNorm's epsilon (torchvision: 1e-5, MobileNetV3 and EfficientNet-B5…B7 1e-3).
    pub epsilon: f64,
}

impl TrunkShape {
    fn last_width(&self) -> usize {
        let last = self.stages.last().and_then(|s| s.last());
        last.map_or(self.stem, |b| b.outputs)
    }
}

/// One part of the torchvision module tree: its path there, its path in [`TorchTrunk`], what
/// it is.
struct Part {
    torch: String,
    field: String,
    kind: PartKind,
}

enum PartKind {
    /// A convolution without bias: `[outputs, inputs / groups, k, k]`.
    Conv([usize; 4]),
    /// A 1×1 convolution with a bias (the squeeze-and-excitation's).
    Fc([usize; 2]),
    Norm(usize),
}

pub(crate) mod family {
    use super::{BlockLayout, TrunkShape};

    /// What a family of inverted residual networks says about itself (the crate's side of
    /// [`super::InvertedFamily`]).
    pub trait Family {
        /// torchvision's builder name (`"mobilenet_v2"`).
        fn name(&self) -> String;
        /// What an unknown layer name is not (`"MobileNetV2 layer"`).
        fn layer_kind(&self) -> &'static str;
        /// The trunk.
        fn trunk(&self) -> TrunkShape;
        /// torchvision's path of block `block` of stage `stage` (`"features.3.block"`).
        fn block_path(&self, stage: usize, block: usize) -> String;
        fn block_layout(&self) -> BlockLayout;
        /// The classifier's linear layers after the pooling, each `(torchvision name, inputs,
        /// outputs)`, and the activation between two of them.
        fn classifier(&self) -> (Vec<(&'static str, usize, usize)>, super::Activation);
        /// Input `[channels, height, width]`.
        fn input_shape(&self) -> [usize; 3];
        /// Every configuration of the family torchvision names (to say which one a file holds).
        fn variants() -> Vec<Self>
        where
            Self: Sized;
    }
}

/// A configuration of a network built of inverted residual blocks: [`crate::MobileNetV2Config`],
/// [`crate::MobileNetV3Config`], [`crate::EfficientNetConfig`]. Sealed: the crate implements it
/// for its families.
pub trait InvertedFamily: family::Family + Clone + Copy + Debug + Send + Sync + 'static {
    /// Every state-dict key torchvision gives this configuration, with its shape (what generic
    /// code calls; each configuration also has it as an inherent method).
    fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        state_dict_keys(self)
    }
}

impl<F: family::Family + Clone + Copy + Debug + Send + Sync + 'static> InvertedFamily for F {}

/// A `Conv2dNormActivation`'s convolution `<torch>.0` and BatchNorm `<torch>.1`.
fn conv_bn(parts: &mut Vec<Part>, torch: &str, field: &str, weight: [usize; 4]) {
    conv_then_norm(
        parts,
        [format!("{torch}.0"), format!("{torch}.1")],
        field,
        weight,
    );
}

fn conv_then_norm(parts: &mut Vec<Part>, torch: [String; 2], field: &str, weight: [usize; 4]) {
    let [conv, norm] = torch;
    parts.push(Part {
        torch: conv,
        field: format!("{field}.conv"),
        kind: PartKind::Conv(weight),
    });
    parts.push(Part {
        torch: norm,
        field: format!("{field}.bn"),
        kind: PartKind::Norm(weight[0]),
    });
}

/// Every part of the trunk, stem to head, in torchvision's order.
fn parts<F: InvertedFamily>(config: &F) -> Vec<Part> {
    let shape = config.trunk();
    let mut parts = Vec::new();
    let stem = [shape.stem, shape.in_channels, 3, 3];
    conv_bn(&mut parts, "features.0", "stem", stem);
    for (s, stage) in shape.stages.iter().enumerate() {
        for (b, block) in stage.iter().enumerate() {
            let torch = config.block_path(s, b);
            let field = format!("stages.{s}.{b}");
            let mut at = 0;
            if block.expanded != block.inputs {
                let expand = [block.expanded, block.inputs, 1, 1];
                conv_bn(
                    &mut parts,
                    &format!("{torch}.{at}"),
                    &format!("{field}.expand"),
                    expand,
                );
                at += 1;
            }
            let depthwise = [block.expanded, 1, block.kernel, block.kernel];
            let path = format!("{torch}.{at}");
            conv_bn(&mut parts, &path, &format!("{field}.depthwise"), depthwise);
            at += 1;
            if let Some(squeeze) = block.squeeze {
                for (fc, shape) in [
                    ("fc1", [squeeze.channels, block.expanded]),
                    ("fc2", [block.expanded, squeeze.channels]),
                ] {
                    parts.push(Part {
                        torch: format!("{torch}.{at}.{fc}"),
                        field: format!("{field}.squeeze.{fc}"),
                        kind: PartKind::Fc(shape),
                    });
                }
                at += 1;
            }
            let project = [block.outputs, block.expanded, 1, 1];
            let names = match config.block_layout() {
                BlockLayout::Nested => [format!("{torch}.{at}.0"), format!("{torch}.{at}.1")],
                // A bare convolution `conv.{at}`, its BatchNorm `conv.{at + 1}`.
                BlockLayout::Flat => [format!("{torch}.{at}"), format!("{torch}.{}", at + 1)],
            };
            conv_then_norm(&mut parts, names, &format!("{field}.project"), project);
        }
    }
    let head = [shape.head, shape.last_width(), 1, 1];
    let last = format!("features.{}", shape.stages.len() + 1);
    conv_bn(&mut parts, &last, "head", head);
    parts
}

/// Every state-dict key torchvision gives the network, with its shape.
pub(crate) fn state_dict_keys<F: InvertedFamily>(config: &F) -> Vec<(String, Vec<usize>)> {
    let mut keys = backbone_keys(config, "features.");
    for (name, inputs, outputs) in config.classifier().0 {
        keys.push((format!("{name}.weight"), vec![outputs, inputs]));
        keys.push((format!("{name}.bias"), vec![outputs]));
    }
    keys
}

/// The keys of the trunk alone (`features.<i>`, the stem to the head convolution), each
/// `features.` renamed `prefix` (a segmentation network's `backbone.`), with their shapes.
pub(crate) fn backbone_keys<F: InvertedFamily>(
    config: &F,
    prefix: &str,
) -> Vec<(String, Vec<usize>)> {
    let mut keys = Vec::new();
    for part in parts(config) {
        let torch = part.torch.replacen("features.", prefix, 1);
        let key = |name: &str| format!("{torch}.{name}");
        match part.kind {
            PartKind::Conv(shape) => keys.push((key("weight"), shape.to_vec())),
            PartKind::Fc([outputs, inputs]) => {
                keys.push((key("weight"), vec![outputs, inputs, 1, 1]));
                keys.push((key("bias"), vec![outputs]));
            }
            PartKind::Norm(channels) => {
                for name in ["weight", "bias", "running_mean", "running_var"] {
                    keys.push((key(name), vec![channels]));
                }
            }
        }
    }
    keys
}

/// From the trunk's keys, each `features.` renamed `prefix`, to the paths of a [`TorchTrunk`]
/// at module path `field` (`""` for the network itself).
pub(crate) fn backbone_remaps<F: InvertedFamily>(
    config: &F,
    prefix: &str,
    field: &str,
) -> Vec<(String, String)> {
    let escape = |path: &str| path.replace('.', r"\.");
    parts(config)
        .into_iter()
        .map(|p| {
            let torch = p.torch.replacen("features.", prefix, 1);
            (
                format!("^{}\\.", escape(&torch)),
                format!("{field}{}.", p.field),
            )
        })
        .collect()
}

/// A convolution and its BatchNorm, as torchvision stores them (remapped to these names).
#[derive(Module, Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

/// torchvision's `SqueezeExcitation`.
#[derive(Module, Debug)]
struct TorchSqueeze {
    fc1: Conv2d,
    fc2: Conv2d,
}

/// torchvision's `InvertedResidual` / `MBConv`.
#[derive(Module, Debug)]
struct TorchInverted {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    squeeze: Option<TorchSqueeze>,
    project: ConvBn,
}

/// The trunk and classifier as torchvision stores them: the module its keys name.
#[derive(Module, Debug)]
pub(crate) struct TorchTrunk {
    stem: ConvBn,
    stages: Vec<Vec<TorchInverted>>,
    head: ConvBn,
    classifier: Vec<Linear>,
}

impl TorchTrunk {
    pub(crate) fn init<F: InvertedFamily>(config: &F, device: &Device) -> Self {
        let shape = config.trunk();
        let conv_bn = |conv: Conv2d| ConvBn {
            bn: norm_eps(conv.weight.dims()[0], shape.epsilon, device),
            conv,
        };
        let stages = shape
            .stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|b| TorchInverted {
                        expand: (b.expanded != b.inputs)
                            .then(|| conv_bn(conv(b.inputs, b.expanded, 1, 1, false, device))),
                        depthwise: conv_bn(grouped_conv(
                            b.expanded, b.kernel, b.stride, b.dilation, device,
                        )),
                        squeeze: b.squeeze.map(|s| TorchSqueeze {
                            fc1: conv(b.expanded, s.channels, 1, 1, true, device),
                            fc2: conv(s.channels, b.expanded, 1, 1, true, device),
                        }),
                        project: conv_bn(conv(b.expanded, b.outputs, 1, 1, false, device)),
                    })
                    .collect()
            })
            .collect();
        Self {
            stem: conv_bn(conv(shape.in_channels, shape.stem, 3, 2, false, device)),
            stages,
            head: conv_bn(conv(shape.last_width(), shape.head, 1, 1, false, device)),
            classifier: config
                .classifier()
                .0
                .into_iter()
                .map(|(_, inputs, outputs)| LinearConfig::new(inputs, outputs).init(device))
                .collect(),
        }
    }

    /// The trunk alone, as a segmentation network's backbone ([`backbone_keys`]).
    pub(crate) fn without_classifier(self) -> Self {
        Self {
            classifier: Vec::new(),
            ..self
        }
    }

    pub(crate) fn fold<F: InvertedFamily>(self, config: F) -> InvertedResidualNet<F> {
        let shape = config.trunk();
        let stages = self
            .stages
            .into_iter()
            .zip(&shape.stages)
            .map(|(stage, shapes)| {
                stage
                    .into_iter()
                    .zip(shapes)
                    .map(|(b, &shape)| Inverted {
                        expand: b.expand.map(|e| fold(e.conv, &e.bn)),
                        depthwise: fold_grouped(b.depthwise.conv, &b.depthwise.bn),
                        squeeze: b.squeeze.map(|s| Excitation {
                            fc1: unfolded(s.fc1),
                            fc2: unfolded(s.fc2),
                        }),
                        project: fold(b.project.conv, &b.project.bn),
                        shape,
                    })
                    .collect()
            })
            .collect();
        let explained = shape.stages.len() + 1;
        InvertedResidualNet {
            activations: [shape.activation, config.classifier().1],
            config,
            stem: fold(self.stem.conv, &self.stem.bn),
            stages,
            head: fold(self.head.conv, &self.head.bn),
            classifier: self.classifier,
            explained,
        }
    }
}

/// A squeeze-and-excitation gate's two 1×1 convolutions.
#[derive(Module, Debug)]
struct Excitation {
    fc1: SquareConv2d,
    fc2: SquareConv2d,
}

/// One inverted residual block, its BatchNorms folded.
#[derive(Module, Debug)]
struct Inverted {
    expand: Option<SquareConv2d>,
    depthwise: GroupedConv2d,
    squeeze: Option<Excitation>,
    project: SquareConv2d,
    #[module(skip)]
    shape: BlockShape,
}

impl Inverted {
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let act = self.shape.activation;
        let mut h = x.clone();
        if let Some(expand) = &self.expand {
            h = act.apply(relu, routed_conv(relu, expand, h, ConvInput::Any));
        }
        h = act.apply(relu, self.depthwise.routed(relu, h));
        if let (Some(fcs), Some(squeeze)) = (&self.squeeze, self.shape.squeeze) {
            let s = relu.avg_pool(h.clone(), |x| adaptive_avg_pool2d(x, [1, 1]));
            let s = squeeze
                .activation
                .apply(relu, routed_conv(relu, &fcs.fc1, s, ConvInput::Any));
            let s = squeeze
                .gate
                .apply(relu, routed_conv(relu, &fcs.fc2, s, ConvInput::Any));
            h = relu.gate(h, s);
        }
        h = routed_conv(relu, &self.project, h, ConvInput::Any);
        if self.shape.residual() {
            relu.add(x, h)
        } else {
            h
        }
    }
}

/// A network of inverted residual blocks in torchvision's layout, in eval mode (BatchNorm folded
/// into the convolutions), explained at one of torchvision's `features.<i>` (`features.0`, the
/// stem, to the last, the 1×1 head convolution; `features[-1]` unless chosen): [`MobileNetV2`],
/// [`MobileNetV3`], [`EfficientNet`].
///
/// Every activation (ReLU, ReLU6, hard-swish, SiLU, and the squeeze-and-excitation gates' sigmoid
/// and hard sigmoid) goes through [`ReluMode`]: guided backpropagation guides each one, where
/// Captum's `GuidedBackprop` and pytorch-grad-cam's `GuidedBackpropReLUModel` override `nn.ReLU`
/// modules only. Every convolution, the residual sums, the gates' products and the poolings go
/// through the pass too (LRP and DeepLIFT reach them).
#[derive(Module, Debug)]
pub struct InvertedResidualNet<F: InvertedFamily> {
    #[module(skip)]
    config: F,
    stem: SquareConv2d,
    stages: Vec<Vec<Inverted>>,
    head: SquareConv2d,
    classifier: Vec<Linear>,
    /// The stem's and head's activation, and the one between the classifier's linear layers.
    #[module(skip)]
    activations: [Activation; 2],
    /// torchvision's index in `features` of the explained module.
    explained: usize,
}

/// MobileNetV2 (Sandler et al., 2018): inverted residual blocks of depthwise convolutions,
/// ReLU6 activations. See [`crate::MobileNetV2Config`].
pub type MobileNetV2 = InvertedResidualNet<crate::MobileNetV2Config>;
/// MobileNetV3 (Howard et al., 2019), small or large: hard-swish activations,
/// squeeze-and-excitation gates. See [`crate::MobileNetV3Config`].
pub type MobileNetV3 = InvertedResidualNet<crate::MobileNetV3Config>;
/// EfficientNet-B0 … B7 (Tan and Le, 2019): SiLU activations, squeeze-and-excitation gates,
/// stages of blocks. See [`crate::EfficientNetConfig`].
pub type EfficientNet = InvertedResidualNet<crate::EfficientNetConfig>;

impl<F: InvertedFamily> InvertedResidualNet<F> {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: F, device: &Device) -> Self {
        TorchTrunk::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or the same tensors in a `.safetensors` file)
    /// strictly: a missing, extra or misshaped key is a [`LoadError`] naming it (and, when the
    /// file is another configuration of the family, which); float64/float16 weights are
    /// converted; non-finite values refused.
    pub fn load(
        config: F,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let escape = |path: &str| path.replace('.', r"\.");
        let mut remaps = backbone_remaps(&config, "features.", "");
        let (linears, _) = config.classifier();
        for (i, (name, _, _)) in linears.iter().enumerate() {
            remaps.push((format!("^{}\\.", escape(name)), format!("classifier.{i}.")));
        }
        let spec = StateDictSpec {
            keys: state_dict_keys(&config),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps,
            explain_mismatch: describe_file::<F>,
        };
        let module = TorchTrunk::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &F {
        &self.config
    }

    /// The names of the modules the network can be explained at, input to output:
    /// `features.0` … `features[-1]`.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.stage_names().to_vec()
    }

    /// The same network, explained at torchvision's `features.<i>` (one of
    /// [`InvertedResidualNet::explainable_layers`]).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = staged::find(&self, layer, self.config.layer_kind())?;
        Ok(self)
    }

    /// The name of the explained module (`"features.18"` in a MobileNetV2).
    pub fn explained_layer(&self) -> &'static str {
        FEATURE_NAMES[self.explained]
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl<F: InvertedFamily> Staged for InvertedResidualNet<F> {
    fn stage_names(&self) -> &[&'static str] {
        &FEATURE_NAMES[..self.stages.len() + 2]
    }

    fn explained_stage(&self) -> usize {
        self.explained
    }

    /// Runs torchvision's `features[index]`.
    fn run_stage(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let act = self.activations[0];
        let last = self.stages.len() + 1;
        match index {
            0 => act.apply(relu, routed_conv(relu, &self.stem, x, ConvInput::Image)),
            i if i == last => act.apply(relu, routed_conv(relu, &self.head, x, ConvInput::Any)),
            i => self.stages[i - 1]
                .iter()
                .fold(x, |x, block| block.forward(x, relu)),
        }
    }
}

impl<F: InvertedFamily> Explainable for InvertedResidualNet<F> {
    fn input_shape(&self) -> [usize; 3] {
        self.config.input_shape()
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

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = staged::after_explained(self, features, relu);
        let pooled = relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
        let mut y = pooled.flatten::<2>(1, 3);
        let between = self.activations[1];
        let last = self.classifier.len() - 1;
        for (i, layer) in self.classifier.iter().enumerate() {
            y = relu.linear(layer, y, false);
            if i < last {
                y = between.apply(relu, y);
            }
        }
        y
    }

    /// Every convolution (BatchNorm folded in, the depthwise ones too), the residual sums, the
    /// gates, the poolings and the classifier go through the pass.
    fn routes_affine_layers(&self) -> bool {
        true
    }

    /// Every activation and gate goes through the pass (those other than a ReLU curve the
    /// rest, which ShapleyCAM then refuses; after the last stage the rest is affine).
    fn routes_head_nonlinearities(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.head.weight().device()
    }
}

impl<F: InvertedFamily> Reinitialize for InvertedResidualNet<F> {
    /// torchvision's names: `features.0` … `features[-1]`, then the classifier's linear layers.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .explainable_layers()
            .into_iter()
            .map(str::to_owned)
            .collect();
        names.extend(
            self.config
                .classifier()
                .0
                .into_iter()
                .map(|(name, ..)| name.to_owned()),
        );
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let last = self.stages.len() + 1;
        let paths: Vec<String> = layers
            .iter()
            .filter_map(|&i| match i {
                0 => Some("stem".to_owned()),
                i if i < last => Some(format!("stages.{}", i - 1)),
                i if i == last => Some("head".to_owned()),
                i if i <= last + self.classifier.len() => {
                    Some(format!("classifier.{}", i - last - 1))
                }
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

/// Which of the family's configurations a file with these keys holds ("the file holds a
/// mobilenet_v3_small"), when its key names are one's.
fn describe_file<F: InvertedFamily>(keys: &[&str]) -> String {
    let mut file: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !k.ends_with(".num_batches_tracked"))
        .collect();
    file.sort_unstable();
    let names: Vec<String> = F::variants()
        .into_iter()
        .filter(|variant| {
            let mut expected: Vec<String> = state_dict_keys(variant)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            expected.sort_unstable();
            expected == file
        })
        .map(|variant| variant.name())
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!("the file holds a {one}"),
        many => format!("the file holds one of {}", many.join(", ")),
    }
}
