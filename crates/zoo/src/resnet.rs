//! The ResNet family (He et al., 2016) in torchvision's layout: ResNet-18, -34 and -50 and any
//! other depth, width, stem or class count of the same shape.

use std::path::Path;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Affine, AffineKind, Explainable, OutputLayer, Reinitialize, ReluMode, UnknownName,
    reinitialize_layers,
};
use gradcam_ops::{SquareConv2d, square_conv2d_with};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{DilatedConv2d, TorchResNet, push_norm_keys};

/// torchvision's two residual blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Two 3×3 convolutions (ResNet-18, -34).
    Basic,
    /// 1×1, 3×3 (carrying the stride, torchvision's "v1.5"), 1×1 ×4 (ResNet-50 and deeper).
    Bottleneck,
}

impl BlockKind {
    /// Output channels per stage width.
    pub fn expansion(self) -> usize {
        match self {
            Self::Basic => 1,
            Self::Bottleneck => 4,
        }
    }
}

/// The first layers, before `layer1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// torchvision's: a 7×7 stride-2 convolution, then a 3×3 stride-2 max-pool (224×224 inputs).
    ImageNet,
    /// A 3×3 stride-1 convolution and no max-pool, for small inputs (28×28, 32×32).
    Small,
}

/// The shape of a ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// The residual block.
    pub kind: BlockKind,
    /// Blocks in `layer1`…`layer4`.
    pub blocks: [usize; 4],
    /// Stage widths (torchvision: 64, 128, 256, 512; ×4 at a bottleneck's output).
    pub widths: [usize; 4],
    /// The stem.
    pub stem: Stem,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what [`Explainable::input_shape`] asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
    /// torchvision's `replace_stride_with_dilation` for `layer2`…`layer4`: a stage marked
    /// keeps its input's resolution and dilates its 3×3 convolutions instead of striding (the
    /// segmentation networks' backbones: `[false, true, true]`, output stride 8).
    #[serde(default)]
    pub replace_stride_with_dilation: [bool; 3],
}

impl ResNetConfig {
    const IMAGENET: Self = Self {
        kind: BlockKind::Basic,
        blocks: [2, 2, 2, 2],
        widths: [64, 128, 256, 512],
        stem: Stem::ImageNet,
        in_channels: 3,
        input_size: [224, 224],
        classes: 1000,
        replace_stride_with_dilation: [false; 3],
    };

    /// torchvision's `resnet18()`: ImageNet, 1000 classes, 224×224 RGB.
    pub fn resnet18() -> Self {
        Self::IMAGENET
    }

    /// torchvision's `resnet34()`.
    pub fn resnet34() -> Self {
        Self {
            blocks: [3, 4, 6, 3],
            ..Self::IMAGENET
        }
    }

    /// torchvision's `resnet50()`.
    pub fn resnet50() -> Self {
        Self {
            kind: BlockKind::Bottleneck,
            blocks: [3, 4, 6, 3],
            ..Self::IMAGENET
        }
    }

    /// The repository's Fashion-MNIST model (`data/fashion_resnet.pth`): ResNet-18's blocks,
    /// widths 16–128, a 1-channel small stem, 28×28 inputs, 10 classes.
    pub fn fashion() -> Self {
        Self {
            widths: [16, 32, 64, 128],
            stem: Stem::Small,
            in_channels: 1,
            input_size: [28, 28],
            classes: 10,
            ..Self::IMAGENET
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

    /// The same network with `layer2`…`layer4`'s strides replaced by dilation where marked
    /// (torchvision's `replace_stride_with_dilation`).
    pub fn with_dilation(self, replace_stride_with_dilation: [bool; 3]) -> Self {
        Self {
            replace_stride_with_dilation,
            ..self
        }
    }

    /// Each stage's first-block stride, and the dilation of each block's 3×3 convolution, as
    /// torchvision's `_make_layer` sets them: a dilated stage's first block keeps the previous
    /// dilation, its later blocks take the new one.
    pub(crate) fn strides_and_dilations(&self) -> [(usize, Vec<usize>); 4] {
        let mut dilation = 1;
        std::array::from_fn(|stage| {
            let previous = dilation;
            let mut stride = if stage == 0 { 1 } else { 2 };
            if stage > 0 && self.replace_stride_with_dilation[stage - 1] {
                dilation *= stride;
                stride = 1;
            }
            let blocks = (0..self.blocks[stage])
                .map(|i| if i == 0 { previous } else { dilation })
                .collect();
            (stride, blocks)
        })
    }

    /// The torchvision name of a standard depth (`resnet18`…`resnet152`), if it is one.
    pub fn depth_name(kind: BlockKind, blocks: [usize; 4]) -> Option<&'static str> {
        Some(match (kind, blocks) {
            (BlockKind::Basic, [2, 2, 2, 2]) => "resnet18",
            (BlockKind::Basic, [3, 4, 6, 3]) => "resnet34",
            (BlockKind::Bottleneck, [3, 4, 6, 3]) => "resnet50",
            (BlockKind::Bottleneck, [3, 4, 23, 3]) => "resnet101",
            (BlockKind::Bottleneck, [3, 8, 36, 3]) => "resnet152",
            _ => return None,
        })
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let bn = push_norm_keys;
        let stem_kernel = match self.stem {
            Stem::ImageNet => 7,
            Stem::Small => 3,
        };
        let w = self.widths;
        keys.push((
            "conv1.weight".into(),
            vec![w[0], self.in_channels, stem_kernel, stem_kernel],
        ));
        bn(&mut keys, "bn1", w[0]);
        let mut inplanes = w[0];
        let strides = self.strides_and_dilations();
        for (stage, (&planes, &blocks)) in w.iter().zip(&self.blocks).enumerate() {
            let out = planes * self.kind.expansion();
            for index in 0..blocks {
                let prefix = format!("layer{}.{index}", stage + 1);
                let shapes: Vec<(&str, Vec<usize>)> = match self.kind {
                    BlockKind::Basic => vec![
                        ("conv1", vec![planes, inplanes, 3, 3]),
                        ("conv2", vec![planes, planes, 3, 3]),
                    ],
                    BlockKind::Bottleneck => vec![
                        ("conv1", vec![planes, inplanes, 1, 1]),
                        ("conv2", vec![planes, planes, 3, 3]),
                        ("conv3", vec![out, planes, 1, 1]),
                    ],
                };
                for (n, (conv, shape)) in shapes.into_iter().enumerate() {
                    let channels = shape[0];
                    keys.push((format!("{prefix}.{conv}.weight"), shape));
                    bn(&mut keys, &format!("{prefix}.bn{}", n + 1), channels);
                }
                let stride = if index == 0 { strides[stage].0 } else { 1 };
                if index == 0 && (stride != 1 || inplanes != out) {
                    keys.push((
                        format!("{prefix}.downsample.0.weight"),
                        vec![out, inplanes, 1, 1],
                    ));
                    bn(&mut keys, &format!("{prefix}.downsample.1"), out);
                }
                inplanes = out;
            }
        }
        keys.push(("fc.weight".into(), vec![self.classes, inplanes]));
        keys.push(("fc.bias".into(), vec![self.classes]));
        keys
    }

    /// Output channels of `layer4`.
    pub fn out_channels(&self) -> usize {
        self.widths[3] * self.kind.expansion()
    }
}

/// The ResNet stages a CAM can be taken at, input to output.
pub const LAYERS: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

/// A block's 3×3 convolution, plain or dilated.
// One per block, built once and never moved on a hot path: boxing buys nothing (and Burn's
// `Module` has no impl for `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub(crate) enum BlockConv {
    Square(SquareConv2d),
    Dilated(DilatedConv2d),
}

impl BlockConv {
    #[cfg(test)]
    fn is_winograd(&self) -> bool {
        matches!(self, Self::Square(conv) if conv.is_winograd())
    }

    fn routed(&self, relu: ReluMode, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Square(conv) => routed_conv(relu, conv, x, ConvInput::Rectified),
            Self::Dilated(conv) => conv.routed(relu, x, ConvInput::Rectified),
        }
    }
}

/// One residual block, its BatchNorms folded into its convolutions.
#[derive(Module, Debug)]
pub(crate) struct Block {
    pub conv1: SquareConv2d,
    pub conv2: BlockConv,
    pub conv3: Option<SquareConv2d>,
    pub downsample: Option<SquareConv2d>,
}

impl Block {
    /// `relu(branch(x) + shortcut(x))`, every ReLU through `relu` (torchvision reuses one ReLU
    /// module twice per block: both uses are routed). Every convolution of a block takes a
    /// ReLU's output: the block's input is the previous block's (or the stem's pooled) ReLU.
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(layer) => routed_conv(relu, layer, x.clone(), ConvInput::Rectified),
            None => x.clone(),
        };
        let out = relu.apply(routed_conv(relu, &self.conv1, x, ConvInput::Rectified));
        let out = self.conv2.routed(relu, out);
        let out = match &self.conv3 {
            None => out,
            Some(conv3) => routed_conv(relu, conv3, relu.apply(out), ConvInput::Rectified),
        };
        relu.apply(relu.add(shortcut, out))
    }
}

/// What a convolution's input is, as LRP's rules take it ([`Affine::first`],
/// [`Affine::nonnegative_input`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvInput {
    /// The network's input (the first layer).
    Image,
    /// A ReLU's output, or pooled or concatenated from such outputs: never negative.
    Rectified,
    /// Anything else.
    Any,
}

impl ConvInput {
    /// The affine layer `layer` of the pass with this input.
    pub(crate) fn affine<'a, const D: usize, const W: usize>(
        self,
        weight: Tensor<W>,
        bias: Option<Tensor<1>>,
        forward: &'a dyn Fn(Tensor<D>) -> Tensor<D>,
        apply: &'a dyn Fn(Tensor<D>, Tensor<W>, Option<Tensor<1>>) -> Tensor<D>,
    ) -> Affine<'a, D, W> {
        Affine {
            kind: AffineKind::Convolution,
            first: self == Self::Image,
            nonnegative_input: self == Self::Rectified,
            weight,
            bias,
            forward,
            apply,
        }
    }
}

/// A convolution through the pass.
pub(crate) fn routed_conv(
    relu: ReluMode,
    layer: &SquareConv2d,
    x: Tensor<4>,
    input: ConvInput,
) -> Tensor<4> {
    let [stride, padding] = layer.stride_padding();
    relu.affine(
        x,
        input.affine(
            layer.weight(),
            Some(layer.bias()),
            &|x| layer.forward(x),
            &|x, weight, bias| square_conv2d_with(x, weight, bias, stride, padding),
        ),
    )
}

/// A ResNet in eval mode (BatchNorm folded into the convolutions at load time), explained at
/// one of its stages ([`ResNet::explained_at`]; `layer4` unless chosen).
///
/// A Burn `Module`: its record (the folded convolutions' weights and biases, the final linear
/// layer) saves and loads, it moves with `to_device`/`fork`, and [`Reinitialize`] draws any of
/// its stages afresh (the model-randomisation sanity check).
///
/// ```no_run
/// use burn::tensor::Device;
/// use gradcam_zoo::{ResNet, ResNetConfig};
/// let (net, _) = ResNet::load(ResNetConfig::resnet18(), "resnet18.pth", &Device::default())?;
/// let net = net.explained_at("layer3").expect("a stage");
/// # Ok::<(), gradcam_data::LoadError>(())
/// ```
#[derive(Module, Debug)]
pub struct ResNet {
    #[module(skip)]
    config: ResNetConfig,
    trunk: Trunk,
    fc: Linear,
    /// Index into [`LAYERS`] of the explained stage.
    explained: usize,
}

/// A ResNet's convolutional part, the stem and the four stages (a classifier's, or a
/// segmentation network's backbone).
#[derive(Module, Debug)]
pub(crate) struct Trunk {
    #[module(skip)]
    stem_kind: Stem,
    stem: SquareConv2d,
    stages: [Vec<Block>; 4],
}

impl Trunk {
    pub(crate) fn new(stem_kind: Stem, stem: SquareConv2d, stages: [Vec<Block>; 4]) -> Self {
        Self {
            stem_kind,
            stem,
            stages,
        }
    }

    fn stem(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let x = relu.apply(routed_conv(relu, &self.stem, x, ConvInput::Image));
        match self.stem_kind {
            Stem::ImageNet => relu.max_pool(x, |x| {
                max_pool2d(
                    x,
                    MaxPoolOptions::new([3, 3])
                        .with_stride([2, 2])
                        .with_padding([1, 1]),
                )
            }),
            Stem::Small => x,
        }
    }

    /// Stages `range` (0 is `layer1`) from their input.
    pub(crate) fn stages(
        &self,
        mut x: Tensor<4>,
        range: std::ops::Range<usize>,
        relu: ReluMode,
    ) -> Tensor<4> {
        for stage in &self.stages[range] {
            for block in stage {
                x = block.forward(x, relu);
            }
        }
        x
    }

    /// The input through the stem and the stages up to `explained` (included), each earlier
    /// stage's output tapped by its name in [`LAYERS`] with `prefix` before it.
    pub(crate) fn tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        explained: usize,
        prefix: &str,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let mut x = self.stem(input, relu);
        for (stage, name) in LAYERS.iter().enumerate().take(explained) {
            x = tap(
                &format!("{prefix}{name}"),
                self.stages(x, stage..stage + 1, relu),
            );
        }
        self.stages(x, explained..explained + 1, relu)
    }
}

impl ResNet {
    pub(crate) fn from_parts(config: ResNetConfig, trunk: Trunk, fc: Linear) -> Self {
        Self {
            config,
            trunk,
            fc,
            explained: 3,
        }
    }

    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: ResNetConfig, device: &Device) -> Self {
        TorchResNet::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`torch.save(model.state_dict(), path)`, or the same
    /// tensors in a `.safetensors` file) strictly: a missing, extra or misshaped key is a
    /// [`LoadError`] naming it (and saying which ResNet the file holds when it is another
    /// depth); float64/float16 weights are converted; non-finite values refused.
    pub fn load(
        config: ResNetConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps: [
                (r"\.downsample\.0\.", ".downsample.conv."),
                (r"\.downsample\.1\.", ".downsample.bn."),
            ]
            .map(|(from, to)| (from.to_owned(), to.to_owned()))
            .into(),
            explain_mismatch: describe_file,
        };
        let module = TorchResNet::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// The same network, explained at stage `layer` (`"layer1"`…`"layer4"`).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = UnknownName::find(layer, &[0, 1, 2, 3], |&i| LAYERS[i], "ResNet stage")?;
        Ok(self)
    }

    /// The name of the explained stage.
    pub fn explained_layer(&self) -> &'static str {
        LAYERS[self.explained]
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl Explainable for ResNet {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_tapped(input, relu, &mut |_, x| x)
    }

    /// The output of each stage before the explained one is tapped by its name (`"layer1"`…).
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        self.trunk.tapped(input, relu, self.explained, "", tap)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = self.trunk.stages(features, self.explained + 1..4, relu);
        let pooled = relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
        relu.linear(&self.fc, pooled.flatten::<2>(1, 3), false)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    /// Every convolution (BatchNorm folded in), the residual sums, the average pooling and the
    /// fully connected layer go through the pass: the network zennit's ResNet canonizer makes.
    fn routes_affine_layers(&self) -> bool {
        true
    }

    /// Every ReLU after any stage goes through the pass (the rest is piecewise linear).
    fn routes_head_nonlinearities(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.fc.weight.device()
    }
}

/// The layers [`Reinitialize`] names, input to output (torchvision's names), and their paths in
/// the module.
const PARAMETER_LAYERS: [(&str, &str); 6] = [
    ("conv1", "trunk.stem"),
    ("layer1", "trunk.stages.0"),
    ("layer2", "trunk.stages.1"),
    ("layer3", "trunk.stages.2"),
    ("layer4", "trunk.stages.3"),
    ("fc", "fc"),
];

impl Reinitialize for ResNet {
    /// The stem, the four stages and the final linear layer, as torchvision names them.
    fn layer_names(&self) -> Vec<String> {
        table_names(&PARAMETER_LAYERS)
    }

    /// Fresh parameters, uniform in `±1/√fan_in`, for every convolution (BatchNorm folded) of
    /// the chosen layers ([`reinitialize_layers`]).
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        reinitialize_table(self.clone(), &PARAMETER_LAYERS, layers, seed)
    }
}

/// The names of a table of `(torchvision name, module path)` layers, in its order.
pub(crate) fn table_names(table: &[(&str, &str)]) -> Vec<String> {
    table.iter().map(|(name, _)| (*name).to_owned()).collect()
}

/// `module` with the table's layers at `layers` drawn afresh ([`reinitialize_layers`]); an
/// index past the table names nothing.
pub(crate) fn reinitialize_table<M: Module>(
    module: M,
    table: &[(&str, &str)],
    layers: &[usize],
    seed: u64,
) -> M {
    let paths: Vec<&str> = layers
        .iter()
        .filter_map(|&i| table.get(i).map(|(_, path)| *path))
        .collect();
    reinitialize_layers(module, &paths, seed)
}

/// Which ResNet a state dict's keys describe: "the file holds a resnet34 ([3, 4, 6, 3] basic
/// blocks)", or nothing when its keys are not a ResNet's.
fn describe_file(keys: &[&str]) -> String {
    let mut blocks = [0_usize; 4];
    let mut bottleneck = false;
    for key in keys {
        let mut parts = key.split('.');
        let (Some(layer), Some(index)) = (parts.next(), parts.next()) else {
            continue;
        };
        let stage = LAYERS.iter().position(|l| *l == layer);
        if let (Some(stage), Ok(index)) = (stage, index.parse::<usize>()) {
            blocks[stage] = blocks[stage].max(index + 1);
            bottleneck |= parts.next() == Some("conv3");
        }
    }
    if blocks.contains(&0) {
        return String::new();
    }
    let kind = if bottleneck {
        BlockKind::Bottleneck
    } else {
        BlockKind::Basic
    };
    let shape = format!(
        "{blocks:?} {} blocks",
        if bottleneck { "bottleneck" } else { "basic" }
    );
    match ResNetConfig::depth_name(kind, blocks) {
        Some(name) => format!("the file holds a {name} ({shape})"),
        None => format!("the file holds a ResNet with {shape}"),
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::{ResNet, ResNetConfig};

    fn logits(net: &ResNet, x: &Tensor<4>) -> Vec<f32> {
        net.forward(x.clone())
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 logits")
    }

    /// A ResNet is a Burn module: its record (the folded convolutions and the linear layer)
    /// loads into another network of its shape, in memory and through a file, and its
    /// parameters are counted.
    #[test]
    fn a_resnet_s_record_saves_and_loads() {
        let device = Device::default();
        let config = ResNetConfig::fashion();
        let net = ResNet::init(config, &device);
        let other = ResNet::init(config, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        assert_ne!(logits(&net, &x), logits(&other, &x), "two initialisations");
        let loaded = other.load_record(net.clone().into_record());
        assert_eq!(logits(&loaded, &x), logits(&net, &x));

        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("fashion.bpk");
        net.clone().save_file(&path).expect("saves");
        let from_file = ResNet::init(config, &device).load_file(&path);
        assert_eq!(logits(&from_file, &x), logits(&net, &x));

        // Every folded convolution's weight and bias, and the linear layer: the state dict's
        // convolutions and `fc`, BatchNorm gone.
        let expected: usize = config
            .state_dict_keys()
            .iter()
            .map(|(key, shape)| match (shape.len(), key.starts_with("fc.")) {
                // A convolution's weight, and the bias folding gives it.
                (4, _) => shape.iter().product::<usize>() + shape[0],
                (_, true) => shape.iter().product(),
                _ => 0,
            })
            .sum();
        assert_eq!(net.num_params(), expected);
    }

    /// The derived kernels (flipped weights, Winograd's transforms) follow the parameters: a
    /// network moved to another backend runs that backend's operations and gives the same
    /// logits.
    #[cfg(all(feature = "flex", feature = "ndarray"))]
    #[test]
    #[allow(deprecated)] // burn-ndarray, kept as the comparison backend
    fn a_resnet_moves_between_backends_with_its_kernels() {
        let config = ResNetConfig::fashion();
        let flex = ResNet::init(config, &Device::flex());
        assert!(
            flex.trunk.stages[1][1].conv2.is_winograd(),
            "32 channels: Winograd on flex"
        );
        let ndarray = flex.clone().to_device(&Device::ndarray());
        assert!(
            !ndarray.trunk.stages[1][1].conv2.is_winograd(),
            "Burn's conv2d elsewhere"
        );
        let back = ndarray.clone().to_device(&Device::flex());
        assert!(back.trunk.stages[1][1].conv2.is_winograd());
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &Device::flex());
        let (ours, theirs) = (
            logits(&flex, &x),
            logits(&ndarray, &x.to_device(&Device::ndarray())),
        );
        let scale = theirs.iter().fold(1e-30_f32, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(&theirs)
            .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-5 * scale, "{worst:e} of {scale}");
    }
}
