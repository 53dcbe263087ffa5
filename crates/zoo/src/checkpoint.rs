//! The ResNet exactly as torchvision stores it (convolutions, BatchNorms, `downsample.0/.1`),
//! loaded from its state dict and folded into the network that runs.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use gradcam_explain::ReluMode;

use gradcam_ops::SquareConv2d;

use crate::resnet::{
    Block, BlockConv, BlockKind, ConvInput, ResNet, ResNetConfig, Stem, Trunk, routed_conv,
};

/// A square convolution padded to keep its input's size at stride 1 (torchvision's `conv3x3` /
/// `conv1x1` / stem: no bias; VGG's: with one).
pub(crate) fn conv(
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([inputs, outputs], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// A 3×3 convolution without bias dilated by `dilation`, padded to keep its input's size at
/// stride 1 (torchvision's `conv3x3(…, dilation)`).
pub(crate) fn dilated_conv(
    inputs: usize,
    outputs: usize,
    stride: usize,
    dilation: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([inputs, outputs], [3, 3])
        .with_stride([stride, stride])
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(
            dilation, dilation, dilation, dilation,
        ))
        .with_bias(false)
        .init(device)
}

/// The state-dict keys of a BatchNorm of `channels` stored at `name`.
pub(crate) fn push_norm_keys(keys: &mut Vec<(String, Vec<usize>)>, name: &str, channels: usize) {
    for part in ["weight", "bias", "running_mean", "running_var"] {
        keys.push((format!("{name}.{part}"), vec![channels]));
    }
}

pub(crate) fn norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// A BatchNorm of another epsilon than PyTorch's default 1e-5 (MobileNetV3's 1e-3).
pub(crate) fn norm_eps(channels: usize, epsilon: f64, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(epsilon)
        .init(device)
}

/// `downsample = Sequential(conv1x1, BatchNorm2d)`: stored as `downsample.0` / `downsample.1`,
/// remapped to these field names when loading.
#[derive(Module, Debug)]
pub(crate) struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// torchvision's `BasicBlock` (`conv3` absent) or `Bottleneck`.
#[derive(Module, Debug)]
pub(crate) struct TorchBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Option<Conv2d>,
    bn3: Option<BatchNorm>,
    downsample: Option<Downsample>,
}

/// torchvision's `ResNet`: the module its `state_dict` keys name.
#[derive(Module, Debug)]
pub(crate) struct TorchResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<TorchBlock>,
    layer2: Vec<TorchBlock>,
    layer3: Vec<TorchBlock>,
    layer4: Vec<TorchBlock>,
    /// Absent in a segmentation network's backbone.
    fc: Option<Linear>,
}

impl TorchResNet {
    /// A freshly initialised network of `config`'s shape (its parameters are then loaded).
    pub fn init(config: &ResNetConfig, device: &Device) -> Self {
        let mut net = Self::backbone(config, device);
        net.fc = Some(LinearConfig::new(config.out_channels(), config.classes).init(device));
        net
    }

    /// The same without its final linear layer (torchvision's `IntermediateLayerGetter` of a
    /// segmentation network keeps everything up to `layer4`).
    pub fn backbone(config: &ResNetConfig, device: &Device) -> Self {
        let widths = config.widths;
        let (stem_kernel, stem_stride) = match config.stem {
            Stem::ImageNet => (7, 2),
            Stem::Small => (3, 1),
        };
        let mut inplanes = widths[0];
        let strides = config.strides_and_dilations();
        let [layer1, layer2, layer3, layer4] = std::array::from_fn(|stage| {
            let (blocks, planes) = (config.blocks[stage], widths[stage]);
            let (stride, dilations) = &strides[stage];
            let stride = *stride;
            let out = planes * config.kind.expansion();
            let mut layer = Vec::with_capacity(blocks);
            for (index, &dilation) in dilations.iter().enumerate() {
                let stride = if index == 0 { stride } else { 1 };
                let downsample =
                    (index == 0 && (stride != 1 || inplanes != out)).then(|| Downsample {
                        conv: conv(inplanes, out, 1, stride, false, device),
                        bn: norm(out, device),
                    });
                layer.push(match config.kind {
                    BlockKind::Basic => TorchBlock {
                        conv1: conv(inplanes, planes, 3, stride, false, device),
                        bn1: norm(planes, device),
                        conv2: conv(planes, planes, 3, 1, false, device),
                        bn2: norm(planes, device),
                        conv3: None,
                        bn3: None,
                        downsample,
                    },
                    BlockKind::Bottleneck => TorchBlock {
                        conv1: conv(inplanes, planes, 1, 1, false, device),
                        bn1: norm(planes, device),
                        conv2: dilated_conv(planes, planes, stride, dilation, device),
                        bn2: norm(planes, device),
                        conv3: Some(conv(planes, out, 1, 1, false, device)),
                        bn3: Some(norm(out, device)),
                        downsample,
                    },
                });
                inplanes = out;
            }
            layer
        });
        Self {
            conv1: conv(
                config.in_channels,
                widths[0],
                stem_kernel,
                stem_stride,
                false,
                device,
            ),
            bn1: norm(widths[0], device),
            layer1,
            layer2,
            layer3,
            layer4,
            fc: None,
        }
    }

    /// The network that runs: every BatchNorm (eval mode, running statistics) folded into the
    /// convolution before it — `w' = w·γ/√(σ² + ε)`, `b' = β − μ·γ/√(σ² + ε)` — exact up to
    /// float rounding, and one operation fewer per convolution.
    pub fn fold(self, config: ResNetConfig) -> ResNet {
        let (trunk, fc) = self.fold_trunk(&config);
        ResNet::from_parts(config, trunk, fc.expect("a classifier's linear layer"))
    }

    /// The folded stem and stages, and the linear layer if there is one.
    pub fn fold_trunk(self, config: &ResNetConfig) -> (Trunk, Option<Linear>) {
        let stages = [self.layer1, self.layer2, self.layer3, self.layer4].map(|layer| {
            layer
                .into_iter()
                .map(|b| Block {
                    conv1: fold(b.conv1, &b.bn1),
                    conv2: if b.conv2.dilation[0] > 1 {
                        BlockConv::Dilated(fold_dilated(b.conv2, &b.bn2))
                    } else {
                        BlockConv::Square(fold(b.conv2, &b.bn2))
                    },
                    conv3: b.conv3.zip(b.bn3).map(|(c, n)| fold(c, &n)),
                    downsample: b.downsample.map(|d| fold(d.conv, &d.bn)),
                })
                .collect()
        });
        let stem = fold(self.conv1, &self.bn1);
        (Trunk::new(config.stem, stem, stages), self.fc)
    }
}

/// `conv` followed by the eval-mode `bn`, as one convolution with a bias.
pub(crate) fn fold(conv: Conv2d, bn: &BatchNorm) -> SquareConv2d {
    let (weight, bias) = folded(&conv, bn);
    square(&conv, weight, bias)
}

/// A grouped `conv` (a depthwise one) followed by the eval-mode `bn`, as one convolution.
pub(crate) fn fold_grouped(conv: Conv2d, bn: &BatchNorm) -> GroupedConv2d {
    let (weight, bias) = folded(&conv, bn);
    grouped(&conv, weight, bias)
}

/// A dilated 3×3 `conv` (stride 1, padded by its dilation) followed by the eval-mode `bn`.
pub(crate) fn fold_dilated(conv: Conv2d, bn: &BatchNorm) -> DilatedConv2d {
    let (weight, bias) = folded(&conv, bn);
    DilatedConv2d {
        conv: SquareConv2d::new(weight, bias, 1, 1),
        dilation: conv.dilation[0],
    }
}

/// A grouped `conv` as it is (ConvNeXt's depthwise convolution, with its own bias).
pub(crate) fn unfolded_grouped(conv: Conv2d) -> GroupedConv2d {
    let (weight, bias) = weight_and_bias(&conv);
    grouped(&conv, weight, bias)
}

fn grouped(conv: &Conv2d, weight: Tensor<4>, bias: Tensor<1>) -> GroupedConv2d {
    GroupedConv2d {
        weight: Param::from_tensor(weight),
        bias: Param::from_tensor(bias),
        stride: conv.stride[0],
        padding: padding_of(conv),
        dilation: conv.dilation[0],
        groups: conv.groups,
    }
}

/// The weight and bias of `conv` followed by the eval-mode `bn`: `w' = w·γ/√(σ² + ε)`,
/// `b' = β − μ·γ/√(σ² + ε)` (plus the convolution's own bias, scaled).
fn folded(conv: &Conv2d, bn: &BatchNorm) -> (Tensor<4>, Tensor<1>) {
    let outputs = conv.weight.dims()[0];
    let (scale, shift) = scale_shift(bn);
    let weight = conv.weight.val() * scale.clone().reshape([outputs, 1, 1, 1]);
    let bias = match &conv.bias {
        Some(bias) => bias.val() * scale + shift,
        None => shift,
    };
    (weight, bias)
}

/// The eval-mode `bn` as `x·scale + shift` per channel: `scale = γ/√(σ² + ε)`,
/// `shift = β − μ·scale`.
fn scale_shift(bn: &BatchNorm) -> (Tensor<1>, Tensor<1>) {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    (scale, shift)
}

/// An eval-mode BatchNorm that no convolution before it can absorb (DenseNet's, applied to a
/// concatenation and followed by a ReLU): one multiply-add per value.
#[derive(Module, Debug)]
pub(crate) struct ChannelAffine {
    scale: Param<Tensor<1>>,
    shift: Param<Tensor<1>>,
}

impl ChannelAffine {
    pub fn of(bn: &BatchNorm) -> Self {
        let (scale, shift) = scale_shift(bn);
        Self {
            scale: Param::from_tensor(scale),
            shift: Param::from_tensor(shift),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [channels] = self.scale.dims();
        let per_channel = |p: &Param<Tensor<1>>| p.val().reshape([1, channels, 1, 1]);
        x * per_channel(&self.scale) + per_channel(&self.shift)
    }
}

/// `conv` as it is (no BatchNorm after it), its missing bias zero.
pub(crate) fn unfolded(conv: Conv2d) -> SquareConv2d {
    let (weight, bias) = weight_and_bias(&conv);
    square(&conv, weight, bias)
}

/// `conv`'s weight and bias, a missing bias zero.
fn weight_and_bias(conv: &Conv2d) -> (Tensor<4>, Tensor<1>) {
    let outputs = conv.weight.dims()[0];
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([outputs], &conv.weight.device()),
    };
    (conv.weight.val(), bias)
}

fn square(conv: &Conv2d, weight: Tensor<4>, bias: Tensor<1>) -> SquareConv2d {
    SquareConv2d::new(weight, bias, conv.stride[0], padding_of(conv))
}

/// Every convolution here is square with symmetric padding (`conv` above builds them).
fn padding_of(conv: &Conv2d) -> usize {
    match conv.padding {
        PaddingConfig2d::Explicit(top, ..) => top,
        _ => conv.kernel_size[0] / 2,
    }
}

/// A depthwise convolution (torchvision's `groups = channels`) with a square kernel, a bias,
/// a symmetric stride, padding and dilation, through Burn's grouped `conv2d` on every backend (the
/// crate's CPU kernels are for dense convolutions).
#[derive(Module, Debug)]
pub(crate) struct GroupedConv2d {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
}

impl GroupedConv2d {
    /// The convolution through the pass ([`ReluMode::affine`]).
    pub fn routed(&self, relu: ReluMode, x: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new(
            [self.stride, self.stride],
            [self.padding, self.padding],
            [self.dilation, self.dilation],
            self.groups,
        );
        let apply = |x, weight, bias| conv2d(x, weight, bias, options.clone());
        relu.affine(
            x,
            ConvInput::Any.affine(
                self.weight.val(),
                Some(self.bias.val()),
                &|x| apply(x, self.weight.val(), Some(self.bias.val())),
                &apply,
            ),
        )
    }
}

/// A 3×3 convolution dilated by `dilation` at stride 1, padded by the dilation (torchvision's
/// atrous convolutions: a dilated ResNet stage, DeepLabV3's pyramid), run on the crate's square
/// kernel. A `d`-dilated convolution of an `H × W` map is `d²` plain 3×3 convolutions of its
/// subgrids (every `d`th row and column, from each of the `d²` offsets: space to batch), so where
/// the map divides into subgrids without much padding they run as one batch through the kernel
/// (Winograd's on Flex where it fits); where the dilation reaches past the map on every side each
/// off-centre tap reads only padding and the centre tap alone is a 1×1 convolution; in between,
/// and for FullGrad's bias probes (which must sit on the output as it is laid out), Burn's
/// dilated `conv2d`. The three give the same values.
#[derive(Module, Debug)]
pub(crate) struct DilatedConv2d {
    /// The same kernel undilated (padding 1): what each subgrid runs.
    conv: SquareConv2d,
    dilation: usize,
}

impl DilatedConv2d {
    /// The convolution of `input` through the pass ([`ReluMode::affine`]).
    pub fn routed(&self, relu: ReluMode, x: Tensor<4>, input: ConvInput) -> Tensor<4> {
        let d = self.dilation;
        let [n, c, h, w] = x.dims();
        let (rows, cols) = (h.div_ceil(d), w.div_ceil(d));
        if rows == 1 && cols == 1 {
            return self.centre(relu, x, input);
        }
        // Padding the map up to whole subgrids costs work: beyond a quarter more, run it dilated.
        let (height, width) = (rows * d, cols * d);
        if height * width * 4 > h * w * 5 || matches!(relu, ReluMode::BiasProbes) {
            return self.dilated(relu, x, input);
        }
        let x = if (height, width) == (h, w) {
            x
        } else {
            x.pad((0, width - w, 0, height - h), PadMode::Constant(0.0))
        };
        let subgrids = x
            .reshape([n, c, rows, d, cols, d])
            .permute([0, 3, 5, 1, 2, 4])
            .reshape([n * d * d, c, rows, cols]);
        let y = routed_conv(relu, &self.conv, subgrids, input);
        let k = y.dims()[1];
        let y = y
            .reshape([n, d, d, k, rows, cols])
            .permute([0, 3, 4, 1, 5, 2])
            .reshape([n, k, height, width]);
        if (height, width) == (h, w) {
            y
        } else {
            y.slice([0..n, 0..k, 0..h, 0..w])
        }
    }

    /// The centre tap alone, a 1×1 convolution (every other tap reads padding).
    fn centre(&self, relu: ReluMode, x: Tensor<4>, input: ConvInput) -> Tensor<4> {
        let [outputs, inputs, _, _] = self.conv.weight().dims();
        let weight = self
            .conv
            .weight()
            .slice([0..outputs, 0..inputs, 1..2, 1..2]);
        self.through(relu, x, input, weight, [1, 0, 1])
    }

    /// Burn's dilated `conv2d`.
    fn dilated(&self, relu: ReluMode, x: Tensor<4>, input: ConvInput) -> Tensor<4> {
        let d = self.dilation;
        self.through(relu, x, input, self.conv.weight(), [d, d, 1])
    }

    /// `x` through `weight` (the bias is the layer's) at `[dilation, padding, groups]`, routed.
    fn through(
        &self,
        relu: ReluMode,
        x: Tensor<4>,
        input: ConvInput,
        weight: Tensor<4>,
        [dilation, padding, groups]: [usize; 3],
    ) -> Tensor<4> {
        let options = ConvOptions::new([1, 1], [padding, padding], [dilation, dilation], groups);
        let apply = |x, weight, bias| conv2d(x, weight, bias, options.clone());
        let bias = self.conv.bias();
        relu.affine(
            x,
            input.affine(
                weight.clone(),
                Some(bias.clone()),
                &|x| apply(x, weight.clone(), Some(bias.clone())),
                &apply,
            ),
        )
    }
}

/// A depthwise convolution of `channels` (`groups = channels`) without bias, padded as
/// torchvision's `Conv2dNormActivation` pads it: `(kernel − 1) / 2 · dilation`.
pub(crate) fn grouped_conv(
    channels: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    device: &Device,
) -> Conv2d {
    let pad = (kernel - 1) / 2 * dilation;
    Conv2dConfig::new([channels, channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(channels)
        .with_bias(false)
        .init(device)
}

/// What a state dict of a four-stage family holds, from its keys: stage `s` has as many layers
/// as keys start with `prefix(s)` and end with `suffix` (one key per layer). "the file holds a
/// densenet169 (blocks of 6, 12, 32, 32 layers)", "… one of a, b (…)" where several standard
/// configurations share those depths (`standard`: name and depths), "… a DenseNet with …" where
/// none does; nothing when no key matches.
pub(crate) fn describe_depths(
    keys: &[&str],
    prefix: impl Fn(usize) -> String,
    suffix: &str,
    (family, stages, layers): (&str, &str, &str),
    standard: &[(&str, [usize; 4])],
) -> String {
    let depths: [usize; 4] = std::array::from_fn(|stage| {
        let prefix = prefix(stage);
        keys.iter()
            .filter(|k| {
                k.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.ends_with(suffix))
            })
            .count()
    });
    if depths.iter().all(|&d| d == 0) {
        return String::new();
    }
    let shape = format!(
        "{stages} of {} {layers}",
        depths.map(|d| d.to_string()).join(", ")
    );
    let names: Vec<&str> = standard
        .iter()
        .filter(|(_, standard)| *standard == depths)
        .map(|(name, _)| *name)
        .collect();
    match names.as_slice() {
        [] => format!("the file holds a {family} with {shape}"),
        [one] => format!("the file holds a {one} ({shape})"),
        many => format!("the file holds one of {} ({shape})", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution, Tensor};
    use gradcam_explain::ReluMode;
    use gradcam_ops::SquareConv2d;

    use super::DilatedConv2d;

    /// Each way a dilated convolution runs — subgrids through the square kernel (whole, or
    /// padded up to whole subgrids), the centre tap alone, Burn's dilated `conv2d` — gives Burn's
    /// dilated `conv2d`'s values, and the same input gradient.
    #[test]
    fn a_dilated_convolution_equals_burn_s_every_way_it_runs() {
        let device = Device::default();
        // (dilation, side): whole subgrids, padded subgrids, dilated (too much padding), centre.
        for (d, side) in [(2, 28), (4, 12), (3, 11), (12, 28), (36, 28)] {
            let x = Tensor::<4>::random([2, 32, side, side], Distribution::Default, &device);
            let weight = Tensor::<4>::random([32, 32, 3, 3], Distribution::Default, &device);
            let bias = Tensor::<1>::random([32], Distribution::Default, &device);
            let conv = DilatedConv2d {
                conv: SquareConv2d::new(weight.clone(), bias.clone(), 1, 1),
                dilation: d,
            };
            let options = ConvOptions::new([1, 1], [d, d], [d, d], 1);
            let leaf = |x: &Tensor<4>| x.clone().autodiff().require_grad();
            let (ours, theirs) = (leaf(&x), leaf(&x));
            let y = conv.routed(
                ReluMode::Standard,
                ours.clone(),
                crate::resnet::ConvInput::Any,
            );
            let expected = conv2d(theirs.clone(), weight, Some(bias), options);
            let r = Tensor::<4>::random(expected.dims(), Distribution::Default, &device);
            let close = |a: Tensor<4>, b: Tensor<4>, what: &str| {
                let scale: f32 = b.clone().abs().max().into_scalar();
                let worst: f32 = (a - b).abs().max().into_scalar();
                assert!(
                    worst <= 1e-5 * scale,
                    "dilation {d}, side {side}: {what} {worst:e} of {scale:e}"
                );
            };
            close(
                y.clone().without_autodiff(),
                expected.clone().without_autodiff(),
                "output",
            );
            let g = ours
                .grad(&(y * r.clone()).sum().backward())
                .expect("a gradient");
            let h = theirs
                .grad(&(expected * r).sum().backward())
                .expect("a gradient");
            close(g, h, "input gradient");
        }
    }
}
