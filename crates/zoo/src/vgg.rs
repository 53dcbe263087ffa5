//! The VGG family (Simonyan & Zisserman, 2015; the Grad-CAM paper's own network) in
//! torchvision's layout: `vgg11` … `vgg19`, with or without BatchNorm, and any width, class count
//! or input size of the same shape.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{Explainable, Reinitialize, ReluMode, UnknownName, reinitialize_layers};
use gradcam_ops::{SquareConv2d, max_pool2d};
use serde::{Deserialize, Serialize};

use crate::FEATURE_NAMES;
use crate::checkpoint::{conv, fold, norm, unfolded};
use crate::resnet::{ConvInput, routed_conv};

/// The side of torchvision's `avgpool = AdaptiveAvgPool2d((7, 7))`, before the classifier.
const POOLED: usize = 7;

/// The shape of a VGG.
///
/// `features`: five blocks of 3×3 convolutions (padding 1, with bias; each followed by a
/// BatchNorm when `batch_norm`, then a ReLU), each block ending in a 2×2 stride-2 max-pool; then
/// `AdaptiveAvgPool2d((7, 7))` and the classifier `Linear → ReLU → Dropout → Linear → ReLU →
/// Dropout → Linear` (dropout is the identity in eval mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VggConfig {
    /// Convolutions in each of the five blocks (vgg16: 2, 2, 3, 3, 3).
    pub convs: [usize; 5],
    /// Each block's width (torchvision: 64, 128, 256, 512, 512).
    pub widths: [usize; 5],
    /// A BatchNorm after every convolution (`vgg16_bn`), folded into it at load.
    pub batch_norm: bool,
    /// The classifier's hidden width (torchvision: 4096).
    pub hidden: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what [`Explainable::input_shape`] asks for.
    pub input_size: [usize; 2],
    /// Classes of the final linear layer.
    pub classes: usize,
}

impl VggConfig {
    const VGG16: Self = Self {
        convs: [2, 2, 3, 3, 3],
        widths: [64, 128, 256, 512, 512],
        batch_norm: false,
        hidden: 4096,
        in_channels: 3,
        input_size: [224, 224],
        classes: 1000,
    };

    /// torchvision's `vgg11()` (configuration "A").
    pub fn vgg11() -> Self {
        Self {
            convs: [1, 1, 2, 2, 2],
            ..Self::VGG16
        }
    }

    /// torchvision's `vgg13()` (configuration "B").
    pub fn vgg13() -> Self {
        Self {
            convs: [2, 2, 2, 2, 2],
            ..Self::VGG16
        }
    }

    /// torchvision's `vgg16()` (configuration "D"): ImageNet, 1000 classes, 224×224 RGB.
    pub fn vgg16() -> Self {
        Self::VGG16
    }

    /// torchvision's `vgg19()` (configuration "E").
    pub fn vgg19() -> Self {
        Self {
            convs: [2, 2, 4, 4, 4],
            ..Self::VGG16
        }
    }

    /// torchvision's `vgg16_bn()`.
    pub fn vgg16_bn() -> Self {
        Self::VGG16.with_batch_norm()
    }

    /// The same depth with a BatchNorm after every convolution (`vgg11_bn` … `vgg19_bn`).
    pub fn with_batch_norm(self) -> Self {
        Self {
            batch_norm: true,
            ..self
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

    /// The same depth with every width (the classifier's too) divided by `divisor`: the cheap
    /// twin the parity tests run in CI.
    pub fn narrowed(self, divisor: usize) -> Self {
        let divisor = divisor.max(1);
        Self {
            widths: self.widths.map(|w| (w / divisor).max(1)),
            hidden: (self.hidden / divisor).max(1),
            ..self
        }
    }

    /// The torchvision name of a standard depth (`vgg11` … `vgg19_bn`), if it is one.
    pub fn depth_name(convs: usize, batch_norm: bool) -> Option<&'static str> {
        Some(match (convs, batch_norm) {
            (8, false) => "vgg11",
            (10, false) => "vgg13",
            (13, false) => "vgg16",
            (16, false) => "vgg19",
            (8, true) => "vgg11_bn",
            (10, true) => "vgg13_bn",
            (13, true) => "vgg16_bn",
            (16, true) => "vgg19_bn",
            _ => return None,
        })
    }

    /// The name of `features[-1]`, the last max-pool (`"features.30"` for vgg16): the layer
    /// pytorch-grad-cam's README recommends, and the one a [`Vgg`] is explained at unless
    /// another is chosen.
    pub fn last_layer(&self) -> &'static str {
        FEATURE_NAMES[self.layout().len() - 1]
    }

    /// torchvision's `features` modules in order: `(index, what it is)`.
    fn layout(&self) -> Vec<(usize, Step)> {
        let mut steps = Vec::new();
        let mut conv = 0;
        for &count in &self.convs {
            for _ in 0..count {
                steps.push(Step::Conv(conv));
                if self.batch_norm {
                    steps.push(Step::Norm(conv));
                }
                steps.push(Step::Relu);
                conv += 1;
            }
            steps.push(Step::Pool);
        }
        steps.into_iter().enumerate().collect()
    }

    /// Output channels of each convolution, in order.
    fn conv_widths(&self) -> Vec<usize> {
        self.convs
            .iter()
            .zip(&self.widths)
            .flat_map(|(&count, &width)| std::iter::repeat_n(width, count))
            .collect()
    }

    /// Every state-dict key torchvision gives this network, with its shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let mut keys = Vec::new();
        let widths = self.conv_widths();
        let mut inputs = self.in_channels;
        for (index, step) in self.layout() {
            match step {
                Step::Conv(k) => {
                    let shape = vec![widths[k], inputs, 3, 3];
                    keys.push((format!("features.{index}.weight"), shape));
                    keys.push((format!("features.{index}.bias"), vec![widths[k]]));
                    inputs = widths[k];
                }
                Step::Norm(k) => {
                    for part in ["weight", "bias", "running_mean", "running_var"] {
                        keys.push((format!("features.{index}.{part}"), vec![widths[k]]));
                    }
                }
                Step::Relu | Step::Pool => {}
            }
        }
        let flat = inputs * POOLED * POOLED;
        for (index, (outputs, inputs)) in [
            (self.hidden, flat),
            (self.hidden, self.hidden),
            (self.classes, self.hidden),
        ]
        .into_iter()
        .enumerate()
        {
            keys.push((
                format!("classifier.{}.weight", index * 3),
                vec![outputs, inputs],
            ));
            keys.push((format!("classifier.{}.bias", index * 3), vec![outputs]));
        }
        keys
    }
}

/// One module of torchvision's `features`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The `k`th convolution (with a BatchNorm after it, folded in, when the network has them).
    Conv(usize),
    /// The BatchNorm of the `k`th convolution.
    Norm(usize),
    Relu,
    Pool,
}

/// torchvision's `VGG`: the module its `state_dict` keys name (`features.<i>` remapped to
/// `convs.<k>` / `norms.<k>`, `classifier.0/3/6` to `fc1`/`fc2`/`fc3`).
#[derive(Module, Debug)]
struct TorchVgg {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl TorchVgg {
    fn init(config: &VggConfig, device: &Device) -> Self {
        let widths = config.conv_widths();
        let mut inputs = config.in_channels;
        let convs = widths
            .iter()
            .map(|&w| {
                let layer = conv(inputs, w, 3, 1, true, device);
                inputs = w;
                layer
            })
            .collect();
        let norms = if config.batch_norm {
            widths.iter().map(|&w| norm(w, device)).collect()
        } else {
            Vec::new()
        };
        let flat = inputs * POOLED * POOLED;
        Self {
            convs,
            norms,
            fc1: LinearConfig::new(flat, config.hidden).init(device),
            fc2: LinearConfig::new(config.hidden, config.hidden).init(device),
            fc3: LinearConfig::new(config.hidden, config.classes).init(device),
        }
    }

    fn fold(self, config: VggConfig) -> Vgg {
        let convs = if config.batch_norm {
            self.convs
                .into_iter()
                .zip(&self.norms)
                .map(|(c, n)| fold(c, n))
                .collect()
        } else {
            self.convs.into_iter().map(unfolded).collect()
        };
        Vgg {
            config,
            convs,
            classifier: [self.fc1, self.fc2, self.fc3],
            explained: config.layout().len() - 1,
        }
    }
}

/// A VGG in eval mode (BatchNorm folded into the convolutions), explained at one of
/// torchvision's `features` modules ([`Vgg::explained_at`]; `features[-1]`, the last max-pool,
/// unless chosen: pytorch-grad-cam's recommendation).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{Vgg, VggConfig};
///
/// let device = Device::default();
/// let config = VggConfig::vgg11().narrowed(16).with_input_size([32, 32]).with_classes(10);
/// // The last ReLU: 2×2 at a 32×32 input.
/// let net = Vgg::init(config, &device).explained_at("features.19")?;
/// let input = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted()).unwrap();
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 2, 2]);
/// # Ok::<(), gradcam_explain::UnknownName>(())
/// ```
#[derive(Module, Debug)]
pub struct Vgg {
    #[module(skip)]
    config: VggConfig,
    convs: Vec<SquareConv2d>,
    classifier: [Linear; 3],
    /// torchvision's index in `features` of the explained module.
    explained: usize,
}

impl Vgg {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: VggConfig, device: &Device) -> Self {
        TorchVgg::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`torch.save(model.state_dict(), path)`, or the same
    /// tensors in a `.safetensors` file) strictly: a missing, extra or misshaped key is a
    /// [`LoadError`] naming it (and saying which VGG the file holds when it is another depth
    /// or has BatchNorm where this has none); float64/float16 weights are converted; non-finite
    /// values refused.
    pub fn load(
        config: VggConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let mut remaps = Vec::new();
        for (index, step) in config.layout() {
            let to = match step {
                Step::Conv(k) => format!("convs.{k}."),
                Step::Norm(k) => format!("norms.{k}."),
                Step::Relu | Step::Pool => continue,
            };
            remaps.push((format!(r"^features\.{index}\."), to));
        }
        for (index, field) in [(0, "fc1"), (3, "fc2"), (6, "fc3")] {
            remaps.push((format!(r"^classifier\.{index}\."), format!("{field}.")));
        }
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".num_batches_tracked"),
            remaps,
            explain_mismatch: describe_file,
        };
        let module = TorchVgg::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &VggConfig {
        &self.config
    }

    /// The names of the modules the network can be explained at, input to output:
    /// torchvision's `features.<i>` for every convolution (with BatchNorm, its BatchNorm
    /// instead: the convolution's own output is folded away), ReLU and max-pool.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.explainable()
            .map(|(index, _)| FEATURE_NAMES[index])
            .collect()
    }

    fn explainable(&self) -> impl Iterator<Item = (usize, Step)> {
        let batch_norm = self.config.batch_norm;
        self.config
            .layout()
            .into_iter()
            .filter(move |(_, step)| !(batch_norm && matches!(step, Step::Conv(_))))
    }

    /// The same network, explained at torchvision's `features.<i>` (one of
    /// [`Vgg::explainable_layers`]; `features.30` is vgg16's last max-pool, `features.29` its last
    /// ReLU).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        let indices: Vec<usize> = self.explainable().map(|(index, _)| index).collect();
        self.explained = UnknownName::find(layer, &indices, |&i| FEATURE_NAMES[i], "VGG layer")?;
        Ok(self)
    }

    /// The name of the explained module (`"features.30"`).
    pub fn explained_layer(&self) -> &'static str {
        FEATURE_NAMES[self.explained]
    }

    /// Runs torchvision's `features[range]`.
    fn run(&self, mut x: Tensor<4>, steps: &[(usize, Step)], relu: ReluMode) -> Tensor<4> {
        for &(_, step) in steps {
            x = self.step(x, step, relu);
        }
        x
    }

    fn step(&self, x: Tensor<4>, step: Step, relu: ReluMode) -> Tensor<4> {
        // With BatchNorm, the folded convolution runs at its BatchNorm's index.
        // Every convolution but the first takes a ReLU's (or its max-pool's) output.
        let input = |k: usize| match k {
            0 => ConvInput::Image,
            _ => ConvInput::Rectified,
        };
        let conv = |k: usize| routed_conv(relu, &self.convs[k], x.clone(), input(k));
        match step {
            Step::Conv(k) if !self.config.batch_norm => conv(k),
            Step::Norm(k) => conv(k),
            Step::Conv(_) => x,
            Step::Relu => relu.apply(x),
            // Each window's gradient to its first maximum, as PyTorch (flat image regions tie).
            Step::Pool => relu.max_pool(x, |x| max_pool2d(x, [2, 2])),
        }
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }
}

impl Explainable for Vgg {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.run(input, &self.config.layout()[..=self.explained], relu)
    }

    /// The output of every earlier module a layer can be chosen at is tapped by its name
    /// (`"features.<i>"`).
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let mut x = input;
        let batch_norm = self.config.batch_norm;
        for &(index, step) in &self.config.layout()[..=self.explained] {
            x = self.step(x, step, relu);
            let hidden = batch_norm && matches!(step, Step::Conv(_));
            if index < self.explained && !hidden {
                x = tap(FEATURE_NAMES[index], x);
            }
        }
        x
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = self.run(features, &self.config.layout()[self.explained + 1..], relu);
        let [_, _, h, w] = x.dims();
        // At 224×224 the feature map is already 7×7 and torchvision's pooling is the identity.
        let x = if [h, w] == [POOLED, POOLED] {
            x
        } else {
            relu.avg_pool(x, |x| adaptive_avg_pool2d(x, [POOLED, POOLED]))
        };
        let [fc1, fc2, fc3] = &self.classifier;
        let x = relu.apply(relu.linear(fc1, x.flatten::<2>(1, 3), false));
        let x = relu.apply(relu.linear(fc2, x, false));
        relu.linear(fc3, x, false)
    }

    /// Every convolution (BatchNorm folded in), the pooling and the classifier's linear layers
    /// go through the pass.
    fn routes_affine_layers(&self) -> bool {
        true
    }

    /// Every ReLU and max pooling (2×2, stride 2: windows that do not overlap) goes through
    /// the pass.
    fn routes_head_nonlinearities(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.classifier[0].weight.device()
    }
}

impl Reinitialize for Vgg {
    /// torchvision's names of the layers with parameters: each convolution's `features.<i>`
    /// (its BatchNorm folded in), then `classifier.0`, `classifier.3`, `classifier.6`.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .config
            .layout()
            .into_iter()
            .filter(|(_, step)| matches!(step, Step::Conv(_)))
            .map(|(index, _)| FEATURE_NAMES[index].to_owned())
            .collect();
        names.extend(["classifier.0", "classifier.3", "classifier.6"].map(str::to_owned));
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let convs = self.convs.len();
        let paths: Vec<String> = layers
            .iter()
            .filter_map(|&i| match i {
                i if i < convs => Some(format!("convs.{i}")),
                i if i < convs + 3 => Some(format!("classifier.{}", i - convs)),
                _ => None,
            })
            .collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

/// Which VGG a state dict's keys describe: "the file holds a vgg16_bn (13 convolutions,
/// BatchNorm)", or nothing when its keys are not a VGG's.
fn describe_file(keys: &[&str]) -> String {
    let index = |key: &str, part: &str| {
        key.strip_prefix("features.")
            .and_then(|rest| rest.strip_suffix(part))
            .and_then(|i| i.parse::<usize>().ok())
    };
    let norms = keys
        .iter()
        .filter_map(|k| index(k, ".running_mean"))
        .count();
    let weighted = keys.iter().filter_map(|k| index(k, ".weight")).count();
    let convs = weighted - norms;
    if convs == 0 {
        return String::new();
    }
    let batch_norm = norms > 0;
    let shape = format!(
        "{convs} convolutions{}",
        if batch_norm { ", BatchNorm" } else { "" }
    );
    match VggConfig::depth_name(convs, batch_norm) {
        Some(name) => format!("the file holds a {name} ({shape})"),
        None => format!("the file holds a VGG with {shape}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Vgg, VggConfig};

    /// vgg16's modules as torchvision numbers them: 13 convolutions, ReLUs and 5 max-pools
    /// (31); with BatchNorm, 44, the convolutions' own names hidden.
    #[test]
    fn layers_are_named_as_torchvision_numbers_them() {
        let device = Default::default();
        let net = Vgg::init(VggConfig::vgg16().narrowed(16), &device);
        assert_eq!(net.explainable_layers().len(), 31);
        assert_eq!(net.explained_layer(), "features.30");
        let bn = Vgg::init(VggConfig::vgg16_bn().narrowed(16), &device);
        assert_eq!(bn.explainable_layers().len(), 44 - 13);
        assert_eq!(bn.explained_layer(), "features.43");
        let error = bn.explained_at("features.0").unwrap_err();
        assert_eq!(error.name, "features.0");
        assert!(error.expected.contains(&"features.1"));
        let keys = VggConfig::vgg16().state_dict_keys();
        assert_eq!(keys.len(), 13 * 2 + 6);
        assert_eq!(keys[26].0, "classifier.0.weight");
        assert_eq!(keys[26].1, vec![4096, 512 * 7 * 7]);
        assert_eq!(keys[24].0, "features.28.weight");
    }
}
