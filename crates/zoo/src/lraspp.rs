//! torchvision's Lite R-ASPP (Howard et al., "Searching for MobileNetV3", 2019):
//! `lraspp_mobilenet_v3_large`, a dilated MobileNetV3-Large whose head joins the backbone's last
//! output ("high", `backbone.16`) with an earlier one ("low", `backbone.4`): a skip connection
//! around any split after the low layer, which the explained features carry
//! ([`gradcam_explain::WithSkips`]).

use std::path::Path;

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Explainable, LayerView, OutputLayer, Reinitialize, ReluMode, UnknownName, WithSkips, bilinear,
    pooled_scores, reinitialize_layers,
};
use gradcam_ops::SquareConv2d;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{conv, fold, norm, push_norm_keys, unfolded};
use crate::inverted::{Activation, TorchTrunk, backbone_keys, backbone_remaps, family::Family};
use crate::resnet::{ConvInput, routed_conv};
use crate::staged::{self, Staged};
use crate::{MobileNetV3, MobileNetV3Config};

/// The shape of an LR-ASPP network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LrAsppConfig {
    /// The backbone (its `classes` unused: it stops at its head convolution); torchvision's is
    /// MobileNetV3-Large with `dilated=True`.
    pub backbone: MobileNetV3Config,
    /// Output classes (torchvision's: 21, Pascal VOC's 20 and the background).
    pub classes: usize,
    /// The head's width (torchvision's `inter_channels`: 128).
    pub head_channels: usize,
}

impl LrAsppConfig {
    /// torchvision's `lraspp_mobilenet_v3_large()`: 21 classes, 224×224 RGB inputs.
    pub fn lraspp_mobilenet_v3_large() -> Self {
        Self {
            backbone: MobileNetV3Config::mobilenet_v3_large().dilated(),
            classes: 21,
            head_channels: 128,
        }
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

    /// torchvision's name for the network.
    pub fn name(&self) -> String {
        format!("lraspp_{}", self.backbone.name())
    }

    /// The index in `backbone` of the low-level features the head reads: torchvision's
    /// `stage_indices[-4]`, where the stage indices are the stem, each block that reduces the
    /// resolution (or would, before dilation) and the last module (4 in MobileNetV3-Large).
    pub fn low_layer(&self) -> usize {
        let trunk = self.backbone.trunk();
        let mut indices = vec![0];
        let mut dilation = 1;
        for (i, stage) in trunk.stages.iter().enumerate() {
            let first = stage[0];
            if first.stride > 1 || first.dilation > dilation {
                indices.push(i + 1);
            }
            dilation = first.dilation;
        }
        indices.push(trunk.stages.len() + 1);
        indices[indices.len().saturating_sub(4)]
    }

    /// `[channels, height, width]` of each `backbone.<i>`'s output for the configured input
    /// size (a stride-2 convolution of padding `(k − 1) / 2` halves a size, rounding up).
    fn layer_shapes(&self) -> Vec<[usize; 3]> {
        let trunk = self.backbone.trunk();
        let half = |[h, w]: [usize; 2]| [h.div_ceil(2), w.div_ceil(2)];
        let mut size = half(self.backbone.input_size);
        let mut shapes = vec![[trunk.stem, size[0], size[1]]];
        for stage in &trunk.stages {
            for block in stage {
                if block.stride > 1 {
                    size = half(size);
                }
            }
            let outputs = stage.last().map_or(trunk.stem, |b| b.outputs);
            shapes.push([outputs, size[0], size[1]]);
        }
        shapes.push([trunk.head, size[0], size[1]]);
        shapes
    }

    /// Every state-dict key torchvision gives this network (`backbone.<i>.*`, `classifier.*`),
    /// with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = backbone_keys(&self.backbone, "backbone.");
        let shapes = self.layer_shapes();
        let low = shapes[self.low_layer()][0];
        let high = shapes[shapes.len() - 1][0];
        let (inter, k) = (self.head_channels, self.classes);
        keys.push(("classifier.cbr.0.weight".into(), vec![inter, high, 1, 1]));
        push_norm_keys(&mut keys, "classifier.cbr.1", inter);
        keys.push(("classifier.scale.1.weight".into(), vec![inter, high, 1, 1]));
        for (name, inputs) in [("low_classifier", low), ("high_classifier", inter)] {
            keys.push((format!("classifier.{name}.weight"), vec![k, inputs, 1, 1]));
            keys.push((format!("classifier.{name}.bias"), vec![k]));
        }
        keys
    }
}

/// torchvision's `LRASPPHead` as stored.
#[derive(Module, Debug)]
struct TorchHead {
    cbr: Conv2d,
    cbr_bn: BatchNorm,
    scale: Conv2d,
    low_classifier: Conv2d,
    high_classifier: Conv2d,
}

/// torchvision's `LRASPP`: the module its `state_dict` keys name.
#[derive(Module, Debug)]
struct TorchLrAspp {
    backbone: TorchTrunk,
    head: TorchHead,
}

impl TorchLrAspp {
    fn init(config: &LrAsppConfig, device: &Device) -> Self {
        let shapes = config.layer_shapes();
        let low = shapes[config.low_layer()][0];
        let high = shapes[shapes.len() - 1][0];
        let (inter, k) = (config.head_channels, config.classes);
        Self {
            backbone: TorchTrunk::init(&config.backbone, device).without_classifier(),
            head: TorchHead {
                cbr: conv(high, inter, 1, 1, false, device),
                cbr_bn: norm(inter, device),
                scale: conv(high, inter, 1, 1, false, device),
                low_classifier: conv(low, k, 1, 1, true, device),
                high_classifier: conv(inter, k, 1, 1, true, device),
            },
        }
    }

    fn fold(self, config: LrAsppConfig) -> LrAspp {
        let h = self.head;
        let shapes = config.layer_shapes();
        LrAspp {
            config,
            backbone: self.backbone.fold(config.backbone),
            head: Head {
                cbr: fold(h.cbr, &h.cbr_bn),
                scale: unfolded(h.scale),
                low_classifier: unfolded(h.low_classifier),
                high_classifier: unfolded(h.high_classifier),
            },
            low: config.low_layer(),
            explained: shapes.len() - 1,
            view: None,
        }
        .with_view()
    }
}

/// LR-ASPP's head, its BatchNorm folded.
#[derive(Module, Debug)]
struct Head {
    cbr: SquareConv2d,
    scale: SquareConv2d,
    low_classifier: SquareConv2d,
    high_classifier: SquareConv2d,
}

impl Head {
    /// The low and high features → class scores `[N, classes, h, w]` at the low features' size:
    /// the high ones through a 1×1 convolution and ReLU, scaled by a sigmoid gate of their
    /// means, resized to the low ones' size and classified, plus the low ones classified.
    fn forward(&self, low: Tensor<4>, high: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let conv = |layer: &SquareConv2d, x| routed_conv(relu, layer, x, ConvInput::Any);
        let x = relu.apply(conv(&self.cbr, high.clone()));
        let pooled = relu.avg_pool(high, |x| adaptive_avg_pool2d(x, [1, 1]));
        let scale = Activation::Sigmoid.apply(relu, conv(&self.scale, pooled));
        let x = relu.gate(x, scale);
        let [_, _, h, w] = low.dims();
        let x = bilinear(x, [h, w]);
        relu.add(
            conv(&self.low_classifier, low),
            conv(&self.high_classifier, x),
        )
    }
}

/// torchvision's LR-ASPP (`lraspp_mobilenet_v3_large`) in eval mode (BatchNorm folded at load),
/// explained at one of its backbone's modules `backbone.0` … `backbone.16` (`backbone.16`, the
/// head reads as "high", unless chosen).
///
/// Its output is a map of class scores per pixel, `[N, classes, H, W]` at the input's size
/// (torchvision's `model(x)["out"]`): [`Explainable::output_map`]; its `[N, classes]` scores are
/// the map's means, and a method explains a class inside a region with
/// [`gradcam_explain::Region`]. Explained after `backbone.4` (the "low" features), its
/// features carry the low ones beside the explained map ([`WithSkips`], its
/// [`Explainable::layer_view`]): a CAM weighs the map alone, as pytorch-grad-cam does at that
/// layer.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Region, Targets};
/// use gradcam_zoo::{LrAspp, LrAsppConfig};
///
/// let device = Device::default();
/// let config = LrAsppConfig::lraspp_mobilenet_v3_large().with_input_size([64, 64]);
/// let net = LrAspp::init(config, &device);
/// assert_eq!(net.explained_layer(), "backbone.16");
/// let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// let targets = Targets::class(15).with_target(Region::predicted());
/// let cam = GradCam::new().attribute(&net, x, &targets)?;
/// assert_eq!(cam.layer_cam().unwrap().dims(), [1, 1, 4, 4]);
/// # Ok::<(), gradcam_explain::ExplainError>(())
/// ```
#[derive(Module, Debug)]
pub struct LrAspp {
    #[module(skip)]
    config: LrAsppConfig,
    backbone: MobileNetV3,
    head: Head,
    /// The index of the low features in `backbone`.
    low: usize,
    /// The index of the explained module in `backbone`.
    explained: usize,
    /// How the explained features are seen when they carry the low ones.
    #[module(skip)]
    view: Option<WithSkips>,
}

/// The names of the backbone's modules, as torchvision's `IntermediateLayerGetter` keeps them.
const BACKBONE_NAMES: [&str; 21] =
    crate::numbered_names!("backbone."; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);

impl LrAspp {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: LrAsppConfig, device: &Device) -> Self {
        TorchLrAspp::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or `.safetensors`) strictly: a missing, extra
    /// or misshaped key is a [`LoadError`] naming it (and saying which network the file holds
    /// when it is another segmentation network).
    pub fn load(
        config: LrAsppConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let mut remaps = backbone_remaps(&config.backbone, "backbone.", "backbone.");
        for (from, to) in [
            (r"^classifier\.cbr\.0\.", "head.cbr."),
            (r"^classifier\.cbr\.1\.", "head.cbr_bn."),
            (r"^classifier\.scale\.1\.", "head.scale."),
            (r"^classifier\.low_classifier\.", "head.low_classifier."),
            (r"^classifier\.high_classifier\.", "head.high_classifier."),
        ] {
            remaps.push((from.to_owned(), to.to_owned()));
        }
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps,
            explain_mismatch: crate::segmentation::describe_file,
        };
        let module = TorchLrAspp::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &LrAsppConfig {
        &self.config
    }

    /// The names of the modules the network can be explained at, input to output:
    /// `backbone.0` … `backbone.16`.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.stage_names().to_vec()
    }

    /// The same network, explained at `layer` (one of [`LrAspp::explainable_layers`]).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        self.explained = staged::find(&self, layer, "LR-ASPP layer")?;
        Ok(self.with_view())
    }

    /// The name of the explained module.
    pub fn explained_layer(&self) -> &'static str {
        BACKBONE_NAMES[self.explained]
    }

    /// Input → class scores per pixel `[N, classes, H, W]`, torchvision's `model(x)["out"]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        self.map(features, ReluMode::Standard)
    }

    /// The view the explained layer needs: the map and the low features, when it is after them.
    fn with_view(self) -> Self {
        let shapes = self.config.layer_shapes();
        let view = (self.explained > self.low).then(|| WithSkips {
            map: shapes[self.explained],
        });
        Self { view, ..self }
    }

    fn map(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let (mut x, mut low) = match &self.view {
            Some(view) => {
                let shape = self.config.layer_shapes()[self.low];
                let (map, mut skips) = view.split(features, &[shape]);
                (map, skips.pop())
            }
            None => (features, None),
        };
        if self.explained == self.low {
            low = Some(x.clone());
        }
        for i in self.explained + 1..self.stage_names().len() {
            x = self.run_stage(i, x, relu);
            if i == self.low {
                low = Some(x.clone());
            }
        }
        let low = low.expect("the low features are before the last module");
        let scores = self.head.forward(low, x, relu);
        bilinear(scores, self.config.backbone.input_size)
    }
}

impl Staged for LrAspp {
    fn stage_names(&self) -> &[&'static str] {
        &BACKBONE_NAMES[..self.backbone.stage_names().len()]
    }

    fn explained_stage(&self) -> usize {
        self.explained
    }

    /// Runs the backbone's module `index` (the MobileNetV3's `features.<index>`).
    fn run_stage(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.backbone.run_stage(index, x, relu)
    }
}

impl Explainable for LrAspp {
    fn input_shape(&self) -> [usize; 3] {
        self.config.backbone.input_shape()
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_tapped(input, relu, &mut |_, x| x)
    }

    /// Each backbone module before the explained one is tapped by its name
    /// (`"backbone.0"`…).
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let mut x = input;
        let mut low = None;
        for (i, name) in self
            .stage_names()
            .iter()
            .enumerate()
            .take(self.explained + 1)
        {
            x = self.run_stage(i, x, relu);
            if i < self.explained {
                x = tap(name, x);
            }
            if i == self.low {
                low = Some(x.clone());
            }
        }
        match (self.view, low) {
            (Some(_), Some(low)) => WithSkips::carry(x, vec![low]),
            _ => x,
        }
    }

    fn layer_view(&self) -> Option<&dyn LayerView> {
        self.view.as_ref().map(|view| view as &dyn LayerView)
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
        self.head.cbr.weight().device()
    }
}

impl Reinitialize for LrAspp {
    /// The backbone's modules and the head, as torchvision names them.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .explainable_layers()
            .into_iter()
            .map(str::to_owned)
            .collect();
        names.push("classifier".to_owned());
        names
    }

    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let modules = self.stage_names().len();
        let last = modules - 1;
        let paths: Vec<String> = layers
            .iter()
            .filter_map(|&i| match i {
                0 => Some("backbone.stem".to_owned()),
                i if i < last => Some(format!("backbone.stages.{}", i - 1)),
                i if i == last => Some("backbone.head".to_owned()),
                i if i == modules => Some("head".to_owned()),
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}
