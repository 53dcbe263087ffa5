//! torchvision's semantic segmentation networks on a dilated ResNet backbone: FCN (Long et al.,
//! 2015) and DeepLabV3 (Chen et al., 2017), `fcn_resnet50` and `deeplabv3_resnet50` and any
//! width or class count of the same shape; their output is a map of class scores per pixel,
//! which the methods explain through a region target ([`gradcam_explain::Region`]).

use std::path::Path;

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Explainable, OutputLayer, Reinitialize, ReluMode, UnknownName, bilinear, pooled_scores,
};
use gradcam_ops::SquareConv2d;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    DilatedConv2d, TorchResNet, conv, dilated_conv, fold, fold_dilated, norm, push_norm_keys,
    unfolded,
};
use crate::resnet::{
    ConvInput, LAYERS, ResNetConfig, Trunk, reinitialize_table, routed_conv, table_names,
};

/// The head that turns the backbone's `layer4` into class scores per pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentationHead {
    /// torchvision's `FCNHead`: a 3×3 convolution to a quarter of the channels, BatchNorm,
    /// ReLU, dropout, a 1×1 convolution to the classes.
    Fcn,
    /// torchvision's `DeepLabHead`: atrous spatial pyramid pooling (a 1×1 convolution, three
    /// 3×3 convolutions dilated 12, 24 and 36, and the image's mean, each to `head_channels`
    /// with BatchNorm and ReLU, concatenated and projected), a 3×3 convolution, a 1×1 one to
    /// the classes.
    DeepLabV3,
}

/// The shape of a segmentation network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentationConfig {
    /// The head.
    pub head: SegmentationHead,
    /// The backbone (its `classes` unused: it stops at `layer4`); torchvision's is ResNet-50
    /// with `replace_stride_with_dilation = [false, true, true]`.
    pub backbone: ResNetConfig,
    /// Output classes (torchvision's: 21, Pascal VOC's 20 and the background).
    pub classes: usize,
    /// DeepLabV3's pyramid width (torchvision's: 256); FCN's head width is always a quarter
    /// of the backbone's output.
    pub head_channels: usize,
}

/// DeepLabV3's atrous rates (torchvision's `DeepLabHead`).
const ATROUS_RATES: [usize; 3] = [12, 24, 36];

impl SegmentationConfig {
    fn resnet50(head: SegmentationHead) -> Self {
        Self {
            head,
            backbone: ResNetConfig::resnet50().with_dilation([false, true, true]),
            classes: 21,
            head_channels: 256,
        }
    }

    /// torchvision's `fcn_resnet50()`: 21 classes, 224×224 RGB inputs.
    pub fn fcn_resnet50() -> Self {
        Self::resnet50(SegmentationHead::Fcn)
    }

    /// torchvision's `deeplabv3_resnet50()`.
    pub fn deeplabv3_resnet50() -> Self {
        Self::resnet50(SegmentationHead::DeepLabV3)
    }

    /// The same network with another number of classes.
    pub fn with_classes(self, classes: usize) -> Self {
        Self { classes, ..self }
    }

    /// The same network for inputs of another size (the output map has the input's size).
    pub fn with_input_size(self, input_size: [usize; 2]) -> Self {
        Self {
            backbone: self.backbone.with_input_size(input_size),
            ..self
        }
    }

    /// The same shape with every width divided by `divisor` (the backbone's stages and
    /// DeepLabV3's pyramid): the parity tests' reduced networks.
    pub fn narrowed(self, divisor: usize) -> Self {
        let divisor = divisor.max(1);
        Self {
            backbone: ResNetConfig {
                widths: self.backbone.widths.map(|w| (w / divisor).max(1)),
                ..self.backbone
            },
            head_channels: (self.head_channels / divisor).max(1),
            ..self
        }
    }

    /// torchvision's name for this head on a ResNet-50 backbone.
    pub fn name(&self) -> &'static str {
        match self.head {
            SegmentationHead::Fcn => "fcn_resnet50",
            SegmentationHead::DeepLabV3 => "deeplabv3_resnet50",
        }
    }

    /// Every state-dict key torchvision gives this network (`backbone.*`, `classifier.*`),
    /// with its shape; the auxiliary classifier's keys ([`Self::aux_state_dict_keys`]) are
    /// accepted and not used.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys: Vec<(String, Vec<usize>)> = self
            .backbone
            .state_dict_keys()
            .into_iter()
            .filter(|(key, _)| !key.starts_with("fc."))
            .map(|(key, shape)| (format!("backbone.{key}"), shape))
            .collect();
        let bn = push_norm_keys;
        let inputs = self.backbone.out_channels();
        let k = self.classes;
        match self.head {
            SegmentationHead::Fcn => fcn_head_keys(&mut keys, "classifier", inputs, k),
            SegmentationHead::DeepLabV3 => {
                let a = self.head_channels;
                let p = "classifier.0";
                keys.push((format!("{p}.convs.0.0.weight"), vec![a, inputs, 1, 1]));
                bn(&mut keys, &format!("{p}.convs.0.1"), a);
                for branch in 1..=ATROUS_RATES.len() {
                    keys.push((
                        format!("{p}.convs.{branch}.0.weight"),
                        vec![a, inputs, 3, 3],
                    ));
                    bn(&mut keys, &format!("{p}.convs.{branch}.1"), a);
                }
                keys.push((format!("{p}.convs.4.1.weight"), vec![a, inputs, 1, 1]));
                bn(&mut keys, &format!("{p}.convs.4.2"), a);
                keys.push((format!("{p}.project.0.weight"), vec![a, 5 * a, 1, 1]));
                bn(&mut keys, &format!("{p}.project.1"), a);
                keys.push(("classifier.1.weight".into(), vec![a, a, 3, 3]));
                bn(&mut keys, "classifier.2", a);
                keys.push(("classifier.4.weight".into(), vec![k, a, 1, 1]));
                keys.push(("classifier.4.bias".into(), vec![k]));
            }
        }
        keys
    }

    /// The keys of the auxiliary classifier torchvision's released weights carry beside the
    /// network (`aux_classifier.*`: an `FCNHead` on `layer3`, a training head), with their shapes.
    pub fn aux_state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let inputs = self.backbone.out_channels() / 2;
        fcn_head_keys(&mut keys, "aux_classifier", inputs, self.classes);
        keys
    }

    /// From the file's keys to the loading module's paths.
    fn remaps(&self) -> Vec<(String, String)> {
        let pairs: &[(&str, &str)] = match self.head {
            SegmentationHead::Fcn => &[
                (r"^classifier\.0\.", "fcn.conv."),
                (r"^classifier\.1\.", "fcn.bn."),
                (r"^classifier\.4\.", "fcn.out."),
            ],
            SegmentationHead::DeepLabV3 => &[
                (
                    r"^classifier\.0\.convs\.([0-3])\.0\.",
                    "deeplab.branches.$1.conv.",
                ),
                (
                    r"^classifier\.0\.convs\.([0-3])\.1\.",
                    "deeplab.branches.$1.bn.",
                ),
                (r"^classifier\.0\.convs\.4\.1\.", "deeplab.pool.conv."),
                (r"^classifier\.0\.convs\.4\.2\.", "deeplab.pool.bn."),
                (r"^classifier\.0\.project\.0\.", "deeplab.project.conv."),
                (r"^classifier\.0\.project\.1\.", "deeplab.project.bn."),
                (r"^classifier\.1\.", "deeplab.conv.conv."),
                (r"^classifier\.2\.", "deeplab.conv.bn."),
                (r"^classifier\.4\.", "deeplab.out."),
            ],
        };
        [
            (r"\.downsample\.0\.", ".downsample.conv."),
            (r"\.downsample\.1\.", ".downsample.bn."),
        ]
        .iter()
        .chain(pairs)
        .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
        .collect()
    }
}

/// The keys of torchvision's `FCNHead(inputs, classes)` at `prefix`: a 3×3 convolution to a
/// quarter of the channels (`.0`), its BatchNorm (`.1`), the 1×1 classifier (`.4`).
fn fcn_head_keys(
    keys: &mut Vec<(String, Vec<usize>)>,
    prefix: &str,
    inputs: usize,
    classes: usize,
) {
    let inter = inputs / 4;
    keys.push((format!("{prefix}.0.weight"), vec![inter, inputs, 3, 3]));
    push_norm_keys(keys, &format!("{prefix}.1"), inter);
    keys.push((format!("{prefix}.4.weight"), vec![classes, inter, 1, 1]));
    keys.push((format!("{prefix}.4.bias"), vec![classes]));
}

/// A convolution and the BatchNorm after it, as torchvision stores them.
#[derive(Module, Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(conv: Conv2d, device: &Device) -> Self {
        let channels = conv.weight.dims()[0];
        Self {
            conv,
            bn: norm(channels, device),
        }
    }
}

/// torchvision's `FCNHead` as stored.
#[derive(Module, Debug)]
struct TorchFcnHead {
    conv: Conv2d,
    bn: BatchNorm,
    out: Conv2d,
}

/// torchvision's `DeepLabHead` (its `ASPP` flattened) as stored.
#[derive(Module, Debug)]
struct TorchDeepLabHead {
    /// The 1×1 branch, then the dilated ones.
    branches: Vec<ConvBn>,
    pool: ConvBn,
    project: ConvBn,
    conv: ConvBn,
    out: Conv2d,
}

/// torchvision's segmentation model: the module its `state_dict` keys name.
#[derive(Module, Debug)]
struct TorchSegmentation {
    backbone: TorchResNet,
    fcn: Option<TorchFcnHead>,
    deeplab: Option<TorchDeepLabHead>,
}

impl TorchSegmentation {
    fn init(config: &SegmentationConfig, device: &Device) -> Self {
        let inputs = config.backbone.out_channels();
        let k = config.classes;
        let (mut fcn, mut deeplab) = (None, None);
        match config.head {
            SegmentationHead::Fcn => {
                let inter = inputs / 4;
                fcn = Some(TorchFcnHead {
                    conv: conv(inputs, inter, 3, 1, false, device),
                    bn: norm(inter, device),
                    out: conv(inter, k, 1, 1, true, device),
                });
            }
            SegmentationHead::DeepLabV3 => {
                let a = config.head_channels;
                let mut branches = vec![ConvBn::new(conv(inputs, a, 1, 1, false, device), device)];
                for rate in ATROUS_RATES {
                    let dilated = dilated_conv(inputs, a, 1, rate, device);
                    branches.push(ConvBn::new(dilated, device));
                }
                deeplab = Some(TorchDeepLabHead {
                    branches,
                    pool: ConvBn::new(conv(inputs, a, 1, 1, false, device), device),
                    project: ConvBn::new(conv(5 * a, a, 1, 1, false, device), device),
                    conv: ConvBn::new(conv(a, a, 3, 1, false, device), device),
                    out: conv(a, k, 1, 1, true, device),
                });
            }
        }
        Self {
            backbone: TorchResNet::backbone(&config.backbone, device),
            fcn,
            deeplab,
        }
    }

    /// The network that runs, every BatchNorm folded into the convolution before it.
    fn fold(self, config: SegmentationConfig) -> Segmentation {
        let (trunk, _) = self.backbone.fold_trunk(&config.backbone);
        let fold_pair = |p: ConvBn| fold(p.conv, &p.bn);
        let head = match (self.fcn, self.deeplab) {
            (Some(h), _) => Head::Fcn(FcnHead {
                conv: fold(h.conv, &h.bn),
                out: unfolded(h.out),
            }),
            (None, Some(h)) => {
                let mut branches = h.branches.into_iter();
                let first = branches.next().map(fold_pair).expect("the 1×1 branch");
                Head::DeepLab(DeepLabHead {
                    first,
                    dilated: branches.map(|p| fold_dilated(p.conv, &p.bn)).collect(),
                    pool: fold_pair(h.pool),
                    project: fold_pair(h.project),
                    conv: fold_pair(h.conv),
                    out: unfolded(h.out),
                })
            }
            (None, None) => unreachable!("init builds one head"),
        };
        Segmentation {
            config,
            trunk,
            head,
            explained: LAYERS.len() - 1,
        }
    }
}

/// FCN's head, BatchNorm folded.
#[derive(Module, Debug)]
struct FcnHead {
    conv: SquareConv2d,
    out: SquareConv2d,
}

/// DeepLabV3's head, BatchNorms folded.
#[derive(Module, Debug)]
struct DeepLabHead {
    first: SquareConv2d,
    dilated: Vec<DilatedConv2d>,
    pool: SquareConv2d,
    project: SquareConv2d,
    conv: SquareConv2d,
    out: SquareConv2d,
}

/// A segmentation head.
// One per network, built once: boxing buys nothing (and Burn's `Module` has no impl for `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
enum Head {
    Fcn(FcnHead),
    DeepLab(DeepLabHead),
}

impl Head {
    /// `layer4`'s output `[N, C, h, w]` → class scores `[N, classes, h, w]` (dropout is the
    /// identity in eval mode).
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let conv = |layer: &SquareConv2d, x| routed_conv(relu, layer, x, ConvInput::Any);
        match self {
            Self::Fcn(h) => conv(&h.out, relu.apply(conv(&h.conv, x))),
            Self::DeepLab(h) => {
                let [n, _, height, width] = x.dims();
                let mut branches = vec![relu.apply(conv(&h.first, x.clone()))];
                branches.extend(
                    h.dilated
                        .iter()
                        .map(|d| relu.apply(d.routed(relu, x.clone(), ConvInput::Any))),
                );
                // The image-level branch: bilinear resizing of a 1×1 map is its broadcast.
                let pooled = relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
                let pooled = relu.apply(conv(&h.pool, pooled));
                let channels = pooled.dims()[1];
                branches.push(pooled.expand([n, channels, height, width]));
                let projected = relu.apply(conv(&h.project, Tensor::cat(branches, 1)));
                conv(&h.out, relu.apply(conv(&h.conv, projected)))
            }
        }
    }
}

/// The layers a segmentation network is explained at: its backbone's stages, as
/// pytorch-grad-cam's tutorial names them (`model.backbone.layer4`).
pub const SEGMENTATION_LAYERS: [&str; 4] = [
    "backbone.layer1",
    "backbone.layer2",
    "backbone.layer3",
    "backbone.layer4",
];

/// A torchvision segmentation network (FCN or DeepLabV3 on a dilated ResNet), in eval mode
/// (BatchNorm folded at load), explained at one of its backbone's stages
/// ([`SEGMENTATION_LAYERS`]; `backbone.layer4` unless chosen).
///
/// Its output is a map of class scores per pixel, `[N, classes, H, W]` at the input's size
/// (torchvision's `model(x)["out"]`): [`Explainable::output_map`]. Its `[N, classes]` scores
/// are the map's means; a method explains a class inside a region with
/// [`gradcam_explain::Region`] (pytorch-grad-cam's `SemanticSegmentationTarget`).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Region, Targets};
/// use gradcam_zoo::{Segmentation, SegmentationConfig};
///
/// let device = Device::default();
/// let config = SegmentationConfig::fcn_resnet50().narrowed(16).with_input_size([64, 64]);
/// let net = Segmentation::init(config, &device);
/// let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// // Class 15 (a person) over the pixels the network labels as one.
/// let targets = Targets::class(15).with_target(Region::predicted());
/// let cam = GradCam::new().attribute(&net, x, &targets)?;
/// assert_eq!(cam.map().dims(), [1, 1, 64, 64]);
/// # Ok::<(), gradcam_explain::ExplainError>(())
/// ```
#[derive(Module, Debug)]
pub struct Segmentation {
    #[module(skip)]
    config: SegmentationConfig,
    trunk: Trunk,
    head: Head,
    /// Index into [`SEGMENTATION_LAYERS`] of the explained stage.
    explained: usize,
}

impl Segmentation {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: SegmentationConfig, device: &Device) -> Self {
        TorchSegmentation::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or `.safetensors`) strictly: a missing, extra
    /// or misshaped key is a [`LoadError`] naming it (and saying which network the file holds
    /// when it has the other head); the auxiliary classifier's keys are accepted and unused.
    pub fn load(
        config: SegmentationConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| {
                key.ends_with(".num_batches_tracked") || key.starts_with("aux_classifier.")
            },
            remaps: config.remaps(),
            explain_mismatch: describe_file,
        };
        let module = TorchSegmentation::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &SegmentationConfig {
        &self.config
    }

    /// The same network, explained at `layer` (one of [`SEGMENTATION_LAYERS`]).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = UnknownName::find(
            layer,
            &[0, 1, 2, 3],
            |&i| SEGMENTATION_LAYERS[i],
            "segmentation backbone stage",
        )?;
        Ok(self)
    }

    /// The name of the explained stage.
    pub fn explained_layer(&self) -> &'static str {
        SEGMENTATION_LAYERS[self.explained]
    }

    /// Input → class scores per pixel `[N, classes, H, W]`, torchvision's `model(x)["out"]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        self.map(features, ReluMode::Standard)
    }

    fn map(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let x = self.trunk.stages(features, self.explained + 1..4, relu);
        bilinear(self.head.forward(x, relu), self.config.backbone.input_size)
    }
}

impl Explainable for Segmentation {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.backbone.input_size;
        [self.config.backbone.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_tapped(input, relu, &mut |_, x| x)
    }

    /// Each backbone stage before the explained one is tapped by its name
    /// (`"backbone.layer1"`…).
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        self.trunk
            .tapped(input, relu, self.explained, "backbone.", tap)
    }

    fn output_map(&self, features: Tensor<4>, relu: ReluMode) -> Option<Tensor<4>> {
        Some(self.map(features, relu))
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        pooled_scores(self.map(features, relu))
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        match &self.head {
            Head::Fcn(h) => h.out.weight().device(),
            Head::DeepLab(h) => h.out.weight().device(),
        }
    }
}

/// The layers [`Reinitialize`] names, input to output (torchvision's names), and their paths in
/// the module.
const PARAMETER_LAYERS: [(&str, &str); 6] = [
    ("backbone.conv1", "trunk.stem"),
    ("backbone.layer1", "trunk.stages.0"),
    ("backbone.layer2", "trunk.stages.1"),
    ("backbone.layer3", "trunk.stages.2"),
    ("backbone.layer4", "trunk.stages.3"),
    ("classifier", "head"),
];

impl Reinitialize for Segmentation {
    /// The backbone's stem and stages and the head, as torchvision names them.
    fn layer_names(&self) -> Vec<String> {
        table_names(&PARAMETER_LAYERS)
    }

    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        reinitialize_table(self.clone(), &PARAMETER_LAYERS, layers, seed)
    }
}

/// Which segmentation head a state dict's keys describe, when it is not the one asked for.
pub(crate) fn describe_file(keys: &[&str]) -> String {
    let aspp = keys.iter().any(|k| k.starts_with("classifier.0.convs."));
    let fcn = keys.contains(&"classifier.0.weight");
    match (aspp, fcn) {
        (true, _) => "the file holds a DeepLabV3 (its classifier is an ASPP)".to_owned(),
        (_, true) => "the file holds an FCN (its classifier is FCNHead)".to_owned(),
        _ if keys
            .iter()
            .any(|k| k.starts_with("classifier.low_classifier")) =>
        {
            "the file holds an LR-ASPP (lraspp_mobilenet_v3_large)".to_owned()
        }
        _ => String::new(),
    }
}
