//! `cargo xtask bench`: images/second of the Rust methods at batch 1 and large batches, per
//! backend, beside the Python peers when their venv exists (on the CPU, or with
//! `--peer-device cuda` on the GPU, where each row also reports device memory on both sides):
//! the MNIST CNN on the committed evaluation digits (`--model mnist`, batch 1000), or ResNet-18
//! (or -50, or another torchvision family) at 224×224 on the committed RGB images
//! (`--model resnet18`, batch 16), or the tests' small ViT on generated 32×32 images
//! (`--model vit`, batch 1000; Grad-CAM through its token grid).
//!
//! Both sides time the same work: the same images, the same weights (ResNet-18's and the ViT's
//! inputs from the generator the reference scripts share, `tests/common/seeded.rs`), the same
//! settings, and targets resolved alike. A plain row explains the predicted class and counts
//! the prediction on both sides (the Rust methods take it from their own forward pass, Captum
//! from a separate one, pytorch-grad-cam from its own); a row suffixed `@given` explains
//! classes known in advance (the predictions, computed before the clock starts) on both sides.
//!
//! Each figure is the median of repeated passes (the machine is shared and noisy). At batch 1 a
//! pass explains `--batch1-images` images one at a time; at batch B a pass is one call on B
//! images. Every map is copied to the host. Peak RSS is measured in a fresh process per backend
//! that runs only the large-batch Guided Grad-CAM.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::Explainable;
use burn_gradcam::explain::{
    AblationCam, AnyCam, AnyPixel, Attribution, DeepFeatureFactorization, DeepLift, GradCam,
    GradientShap, GuidedGradCam, Input, IntegratedGradients, KpcaCam, LayerConductance,
    LayerDeepLift, LayerGradientShap, Map, MultiLayerCam, Occlusion, Preset, Region, Rise, Score,
    ShapleyCam, ShapleyValueSampling, Targets, pooled_scores,
};
use burn_gradcam::mnist::{Digits, MnistNet, load_weights, preprocess};
use burn_gradcam::zoo::{
    ConvNext, ConvNextConfig, DenseNet, DenseNetConfig, EfficientNetConfig, InvertedFamily,
    InvertedResidualNet, LrAspp, LrAsppConfig, MobileNetV2Config, MobileNetV3Config, ResNet,
    ResNetConfig, Segmentation, SegmentationConfig, Swin, SwinConfig, Vgg, VggConfig,
    VisionTransformer, VitConfig, VitLayout,
};
use serde::{Deserialize, Serialize};

use crate::Result;

/// The generator the Python reference scripts share (`tools/reference/zoo.py`).
#[path = "../../tests/common/seeded.rs"]
pub(crate) mod seeded;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The network: mnist (the seed's CNN), resnet18, resnet50, vgg16, mobilenet_v2,
    /// mobilenet_v3_large, efficientnet_b0, densenet121 or convnext_tiny (224×224 RGB), the
    /// segmentation networks fcn_resnet50, deeplabv3_resnet50 and lraspp_mobilenet_v3_large
    /// (each image's class over its predicted pixels), torchvision's vit_b_16 (at its last
    /// block's ln_1) and swin_t (at its last block's norm1), or vit (the tests' small ViT).
    #[arg(long, value_enum, default_value = "mnist")]
    model: BenchModel,
    /// Timed passes per measurement (after one warm-up pass); the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Images explained one at a time in a batch-1 pass (default: 200 digits, 8 ResNet images;
    /// 0 skips the batch-1 rows).
    #[arg(long)]
    batch1_images: Option<usize>,
    /// Large batch sizes, comma-separated (default: 1000 digits, 16 ResNet images).
    #[arg(long, value_delimiter = ',')]
    batch: Vec<usize>,
    /// Only these backends (default: every one compiled in).
    #[arg(long, value_delimiter = ',')]
    backends: Vec<Backend>,
    /// Only these rows (default: all): forward, every registered method by its name
    /// (grad-cam, score-cam, guided-backprop, …), the compositions guided-grad-cam,
    /// pgc-grad-cam, grad-cam-eigen-smooth, grad-cam-aug-smooth, multi-layer-grad-cam, and the
    /// given-class rows grad-cam@given, guided-backprop@given, guided-grad-cam@given,
    /// pgc-grad-cam@given; only their peers run.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Skip the Python peers even when their venv exists.
    #[arg(long)]
    no_peers: bool,
    /// The torch device the peers run on: `cpu`, or `cuda` (each row then also reports
    /// `torch.cuda.max_memory_allocated`).
    #[arg(long, default_value = "cpu")]
    peer_device: String,
    /// The thread counts the peers are timed with (the best is compared).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    peer_threads: Vec<usize>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchModel {
    Mnist,
    Resnet18,
    Resnet50,
    Vgg16,
    // torchvision's name, as the peer script and `bench-rss` take it.
    #[value(name = "mobilenet_v2")]
    MobilenetV2,
    #[value(name = "mobilenet_v3_large")]
    MobilenetV3Large,
    #[value(name = "efficientnet_b0")]
    EfficientnetB0,
    Densenet121,
    #[value(name = "convnext_tiny")]
    ConvnextTiny,
    #[value(name = "fcn_resnet50")]
    FcnResnet50,
    #[value(name = "deeplabv3_resnet50")]
    Deeplabv3Resnet50,
    #[value(name = "lraspp_mobilenet_v3_large")]
    LrasppMobilenetV3Large,
    #[value(name = "vit_b_16")]
    VitB16,
    #[value(name = "swin_t")]
    SwinT,
    Vit,
}

impl BenchModel {
    fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Resnet18 => "resnet18",
            Self::Resnet50 => "resnet50",
            Self::Vgg16 => "vgg16",
            Self::MobilenetV2 => "mobilenet_v2",
            Self::MobilenetV3Large => "mobilenet_v3_large",
            Self::EfficientnetB0 => "efficientnet_b0",
            Self::Densenet121 => "densenet121",
            Self::ConvnextTiny => "convnext_tiny",
            Self::FcnResnet50 => "fcn_resnet50",
            Self::Deeplabv3Resnet50 => "deeplabv3_resnet50",
            Self::LrasppMobilenetV3Large => "lraspp_mobilenet_v3_large",
            Self::VitB16 => "vit_b_16",
            Self::SwinT => "swin_t",
            Self::Vit => "vit",
        }
    }

    /// `(batch-1 images, large batches)` unless given.
    fn sizes(self, args: &BenchArgs) -> (usize, Vec<usize>) {
        let (one, large) = match self {
            Self::Mnist => (200, 1000),
            Self::Vit => (200, 1000),
            _ => (8, 16),
        };
        let large = if args.batch.is_empty() {
            vec![large]
        } else {
            args.batch.clone()
        };
        (args.batch1_images.unwrap_or(one), large)
    }

    /// The measured rows, each with its peer in `tools/reference/bench_peers.py`: on the MNIST
    /// net every registered method and the compositions with peers; on the ResNet the Grad-CAM
    /// family's, DeepLIFT's, GradientSHAP's, the layer attributions' and LRP's; on the ViT Grad-CAM through its token grid; on each the given-class twins of
    /// its rows that have them.
    fn rows(self) -> Vec<Row> {
        let names: Vec<&str> = match self {
            Self::Mnist => ["forward"]
                .into_iter()
                .chain(AnyCam::NAMES.iter().copied())
                .chain(AnyPixel::NAMES.iter().copied())
                .chain(COMPOSITIONS)
                .collect(),
            Self::Resnet18 => vec![
                "forward",
                "grad-cam",
                "guided-backprop",
                "guided-grad-cam",
                "deep-lift",
                "deep-lift-shap",
                "gradient-shap",
                "layer-deep-lift",
                "layer-gradient-shap",
                "layer-conductance",
                "lrp",
                "feature-ablation",
                "shapley-value-sampling",
                "kernel-shap",
                "lime",
                "rise",
                "full-grad",
                "shapley-cam",
                "deep-feature-factorization",
            ],
            Self::Vgg16
            | Self::Resnet50
            | Self::MobilenetV2
            | Self::MobilenetV3Large
            | Self::EfficientnetB0
            | Self::Densenet121
            | Self::ConvnextTiny
            | Self::FcnResnet50
            | Self::Deeplabv3Resnet50
            | Self::LrasppMobilenetV3Large
            | Self::VitB16
            | Self::SwinT => {
                vec![
                    "forward",
                    "grad-cam",
                    "pgc-grad-cam",
                    "guided-backprop",
                    "guided-grad-cam",
                ]
            }
            Self::Vit => vec!["forward", "pgc-grad-cam"],
        };
        let predicted = names.iter().map(|&name| Row::new(name, false));
        let given = names
            .iter()
            .filter(|name| GIVEN.contains(name))
            .map(|&name| Row::new(name, true));
        predicted.chain(given).collect()
    }
}

/// One benchmark row: a method, its peer, and whether the classes are given in advance.
#[derive(Clone)]
struct Row {
    /// The method's name (see [`method_of`]).
    method: &'static str,
    /// Explains classes given in advance rather than the predicted ones.
    given: bool,
}

impl Row {
    fn new(method: &'static str, given: bool) -> Self {
        Self { method, given }
    }

    /// The row's name: the method's, suffixed `@given` for given classes.
    fn name(&self) -> String {
        if self.given {
            format!("{}@given", self.method)
        } else {
            self.method.to_owned()
        }
    }

    /// The peer's name in `bench_peers.py` (`None`: measured on the Rust side only).
    fn peer(&self) -> Option<String> {
        let peer = peer_of(self.method)?;
        Some(if self.given {
            format!("{peer}_given")
        } else {
            peer.to_owned()
        })
    }
}

/// A network and its input, ready to be timed.
struct Workload {
    net: Box<dyn Explainable>,
    forward: Box<dyn Fn(Tensor<4>) -> Tensor<2>>,
    /// `count` preprocessed images on the device, `[count, C, H, W]`.
    input: Tensor<4>,
    /// The predicted class of each image (the given-class rows' targets).
    predictions: Vec<usize>,
    /// A segmentation network: each image's class is explained over its predicted pixels.
    segmentation: bool,
    device: Device,
}

impl Workload {
    fn new(model: BenchModel, backend: Backend, count: usize) -> Result<Self> {
        let device = backend.device()?;
        let (net, forward, input): Parts = match model {
            BenchModel::Mnist => {
                let (net, _) = load_weights("data/mnist_model.pth", &device)?;
                let digits = Digits::from_packed_file("data/eval_digits.bin.gz")?;
                let digits = digits.slice(0..count).ok_or("not enough digits")?;
                let input = preprocess(&digits, &device);
                let forward_net = net.clone();
                (
                    Box::new(net),
                    Box::new(move |x| MnistNet::forward(&forward_net, x)),
                    input,
                )
            }
            BenchModel::Resnet18 => {
                // The weights the peer draws from the same generator, seed 18.
                let config = ResNetConfig::resnet18();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = ResNet::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::Resnet50 => {
                // The weights the peer draws from the same generator, seed 18.
                let config = ResNetConfig::resnet50();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = ResNet::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::Vgg16 => {
                // The weights the peer draws: seed 18, He's bound (as the parity tests').
                let config = VggConfig::vgg16();
                let weights = seeded::seeded_safetensors_with(&config.state_dict_keys(), 18, 6.0);
                let (net, _) = Vgg::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::MobilenetV2 => inverted(MobileNetV2Config::mobilenet_v2(), count, &device)?,
            BenchModel::MobilenetV3Large => {
                inverted(MobileNetV3Config::mobilenet_v3_large(), count, &device)?
            }
            BenchModel::EfficientnetB0 => {
                inverted(EfficientNetConfig::efficientnet_b0(), count, &device)?
            }
            BenchModel::Densenet121 => {
                let config = DenseNetConfig::densenet121();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = DenseNet::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::ConvnextTiny => {
                let config = ConvNextConfig::convnext_tiny();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = ConvNext::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::FcnResnet50 => {
                segmentation(SegmentationConfig::fcn_resnet50(), count, &device)?
            }
            BenchModel::Deeplabv3Resnet50 => {
                segmentation(SegmentationConfig::deeplabv3_resnet50(), count, &device)?
            }
            BenchModel::LrasppMobilenetV3Large => {
                let config = LrAsppConfig::lraspp_mobilenet_v3_large();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = LrAspp::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| pooled_scores(net.forward(x)))?
            }
            BenchModel::VitB16 => {
                let config = VitConfig::vit_b_16();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = VisionTransformer::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::SwinT => {
                let config = SwinConfig::swin_t();
                let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
                let (net, _) = Swin::load(config, weights.path(), &device)?;
                on_committed_images(net, count, &device, |net, x| net.forward(x))?
            }
            BenchModel::Vit => {
                let (net, _) = VisionTransformer::load(
                    VIT,
                    "tests/fixtures/vit_weights.safetensors",
                    &device,
                )?;
                let net = net.explained_at(0).ok_or("the ViT has no block 0")?;
                let shape = [count, 3, VIT.image_size, VIT.image_size];
                let values =
                    seeded::seeded_uniform(7, VIT_IMAGES, shape.iter().product(), -2.0, 2.0);
                let input = Tensor::<4>::from_data(TensorData::new(values, shape), &device);
                let forward_net = net.clone();
                (
                    Box::new(net),
                    Box::new(move |x| forward_net.forward(x)),
                    input,
                )
            }
        };
        let predictions = forward(input.clone()).argmax(1).flatten::<1>(0, 1);
        let predictions = Tensor::<1, Int>::into_data(predictions)
            .try_into_vec_as::<i64>()
            .map_err(|e| format!("reading the predictions: {e:?}"))?
            .into_iter()
            .map(|class| class as usize)
            .collect();
        Ok(Self {
            net,
            forward,
            input,
            predictions,
            segmentation: matches!(
                model,
                BenchModel::FcnResnet50
                    | BenchModel::Deeplabv3Resnet50
                    | BenchModel::LrasppMobilenetV3Large
            ),
            device,
        })
    }

    /// `targets` as this network's rows explain them.
    fn targets(&self, targets: Targets) -> Targets {
        if self.segmentation {
            targets.with_target(Region::predicted())
        } else {
            targets
        }
    }
}

/// A network, its forward, and its input.
type Parts = (
    Box<dyn Explainable>,
    Box<dyn Fn(Tensor<4>) -> Tensor<2>>,
    Tensor<4>,
);

/// An inverted residual network of `config`'s shape with the weights the peer draws (seed 18, as
/// the parity tests'), on `count` committed images.
fn inverted<F: InvertedFamily>(config: F, count: usize, device: &Device) -> Result<Parts> {
    let keys = config.state_dict_keys();
    let weights = seeded::seeded_safetensors(&keys, 18);
    let (net, _) = InvertedResidualNet::load(config, weights.path(), device)?;
    on_committed_images(net, count, device, |net, x| net.forward(x))
}

/// A segmentation network with the generator's seed-18 weights (the peer draws the same), its
/// forward the output map's pixel means.
fn segmentation(config: SegmentationConfig, count: usize, device: &Device) -> Result<Parts> {
    let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
    let (net, _) = Segmentation::load(config, weights.path(), device)?;
    on_committed_images(net, count, device, |net, x| pooled_scores(net.forward(x)))
}

/// `net`, its `forward`, and `count` committed images.
fn on_committed_images<N: Explainable + Clone + 'static>(
    net: N,
    count: usize,
    device: &Device,
    forward: fn(&N, Tensor<4>) -> Tensor<2>,
) -> Result<Parts> {
    let input = committed_images(count, device)?;
    let forward_net = net.clone();
    Ok((
        Box::new(net),
        Box::new(move |x| forward(&forward_net, x)),
        input,
    ))
}

/// The committed 224×224 images, ImageNet-normalised, repeated to `count`.
fn committed_images(count: usize, device: &Device) -> Result<Tensor<4>> {
    let images = Images::from_dir("data/images", 3, [224, 224], false)?;
    let one = images.to_tensor(Normalization::ImageNet, device);
    let copies = count.div_ceil(images.len());
    Ok(one.repeat_dim(0, copies).narrow(0, 0, count))
}

/// The generator's key for the ViT's inputs (`bench_peers.py` draws the same).
const VIT_IMAGES: &str = "bench_vit_images";

/// The tests' small ViT (`tools/reference/vit.py`).
const VIT: VitConfig = VitConfig {
    channels: 3,
    image_size: 32,
    patch_size: 8,
    width: 32,
    heads: 4,
    mlp_width: 64,
    blocks: 2,
    classes: 10,
    layout: VitLayout::Twin,
};

/// The rows that also run with classes given in advance.
const GIVEN: [&str; 4] = [
    "grad-cam",
    "guided-backprop",
    "guided-grad-cam",
    "pgc-grad-cam",
];

/// Rows beyond the registry's methods: compositions and other settings that have a peer.
const COMPOSITIONS: [&str; 9] = [
    "guided-grad-cam",
    // pytorch-grad-cam's GradCAM plain and with each smoothing (min-max, bilinear: its preset).
    "pgc-grad-cam",
    "grad-cam-eigen-smooth",
    "grad-cam-aug-smooth",
    // Grad-CAM over conv1 and conv2, pytorch-grad-cam's `target_layers=[conv1, conv2]`.
    "multi-layer-grad-cam",
    // Layer attributions at the explained layer (conv2), with Captum's layer methods.
    "layer-deep-lift",
    "layer-gradient-shap",
    "layer-conductance",
    // Deep Feature Factorisation of the explained layer (5 concepts), one per call.
    "deep-feature-factorization",
];

/// The peer of a method in `tools/reference/bench_peers.py` (`None`: measured on the Rust side
/// only).
fn peer_of(method: &str) -> Option<&'static str> {
    Some(match method {
        "forward" => "forward",
        "grad-cam" => "captum_layer_gradcam",
        "guided-backprop" => "captum_guided_backprop",
        "guided-grad-cam" => "captum_guided_gradcam",
        "deconvolution" => "captum_deconvolution",
        "occlusion" => "captum_occlusion",
        "gradient-shap" => "captum_gradient_shap",
        "deep-lift" => "captum_deep_lift",
        "deep-lift-shap" => "captum_deep_lift_shap",
        "lrp" => "zennit_lrp",
        "feature-ablation" => "captum_feature_ablation",
        "shapley-value-sampling" => "captum_shapley_value_sampling",
        "kernel-shap" => "captum_kernel_shap",
        "rise" => "torch_rise",
        "lime" => "captum_lime",
        "layer-deep-lift" => "captum_layer_deep_lift",
        "layer-gradient-shap" => "captum_layer_gradient_shap",
        "layer-conductance" => "captum_layer_conductance",
        "ablation-cam" => "pgc_ablationcam",
        "kpca-cam" => "pgc_kpcacam",
        "full-grad" => "pgc_fullgrad",
        "shapley-cam" => "pgc_shapleycam",
        "deep-feature-factorization" => "pgc_dff",
        "pgc-grad-cam" => "pgc_gradcam",
        "grad-cam-eigen-smooth" => "pgc_gradcam_eigen_smooth",
        "grad-cam-aug-smooth" => "pgc_gradcam_aug_smooth",
        "multi-layer-grad-cam" => "pgc_gradcam_conv1_conv2",
        _ => return None,
    })
}

/// What a row times.
enum Timed {
    /// The forward pass.
    Forward,
    /// A method, with its peer's settings.
    Method(Box<dyn Attribution>),
    /// Deep Feature Factorisation (not an attribution: concepts and their maps).
    Factorization(DeepFeatureFactorization),
}

/// What a row times, with its peer's settings: the Captum preset for the CAMs,
/// pytorch-grad-cam's for its rows.
fn timed(name: &str, model: BenchModel) -> Result<Timed> {
    Ok(match name {
        "forward" => Timed::Forward,
        "deep-feature-factorization" => Timed::Factorization(DeepFeatureFactorization::new()),
        name => Timed::Method(method_of(name, model)?),
    })
}

/// The most path points an integrated-gradients pass (and layer conductance's) holds at once,
/// as the peer's `internal_batch_size`: a thousand digits, or one 224×224 image's fifty (a
/// thousand ResNet-18 activations with their backward would take tens of GiB on either side).
fn path_points_per_pass(model: BenchModel) -> usize {
    match model {
        // The 224×224 networks; the small ones take 28×28 digits or the tests' small ViT images.
        BenchModel::Mnist | BenchModel::Vit => 1000,
        _ => 50,
    }
}

/// The method a row times, with its peer's settings.
fn method_of(name: &str, model: BenchModel) -> Result<Box<dyn Attribution>> {
    let path_points = Some(path_points_per_pass(model));
    let captum = Preset::Captum.cam_settings();
    let pgc = Preset::PytorchGradCam.cam_settings();
    Ok(match name {
        "guided-grad-cam" => Box::new(GuidedGradCam::guided(captum)),
        "pgc-grad-cam" => Box::new(GradCam::new().with_settings(pgc)),
        "grad-cam-eigen-smooth" => {
            Box::new(GradCam::new().with_settings(pgc.with_eigen_smooth(true)))
        }
        "grad-cam-aug-smooth" => Box::new(GradCam::new().with_settings(pgc.with_aug_smooth(true))),
        "multi-layer-grad-cam" => Box::new(MultiLayerCam::new(
            GradCam::new().with_settings(pgc),
            ["conv1"],
        )),
        // pytorch-grad-cam's settings and ablation batch, as the peer.
        "ablation-cam" => Box::new(AblationCam::new().with_settings(pgc)),
        "kpca-cam" => Box::new(KpcaCam::new().with_settings(pgc)),
        "shapley-cam" => Box::new(ShapleyCam::new().with_settings(pgc)),
        // 49 windows of 4×4, at most 256 occluded images per pass (the peer's bound too).
        "occlusion" => Box::new(
            Occlusion::new()
                .with_window([1, 4, 4])
                .with_strides([1, 4, 4]),
        ),
        // Two orders (98 passes of each image), as the peer: 25 made the batch-1000 row hours.
        "shapley-value-sampling" => Box::new(ShapleyValueSampling::new().with_samples(2)),
        // 250 masks, as the peer: the default thousand made the batch-1000 row long.
        "rise" => Box::new(Rise::new().with_masks(250)),
        // Captum runs all path points at once by default; here a bounded number per pass.
        "integrated-gradients" => {
            Box::new(IntegratedGradients::new().with_internal_batch_size(path_points))
        }
        "layer-deep-lift" => Box::new(LayerDeepLift(DeepLift::new())),
        "layer-gradient-shap" => Box::new(LayerGradientShap(GradientShap::new())),
        "layer-conductance" => Box::new(LayerConductance(
            IntegratedGradients::new().with_internal_batch_size(path_points),
        )),
        // Any other registered method, CAMs with the Captum preset.
        name => match AnyCam::from_name(name) {
            Ok(cam) => Box::new(cam.with_settings(captum)),
            Err(_) => Box::new(AnyPixel::from_name(name)?),
        },
    })
}

#[derive(Serialize, Deserialize, Clone)]
struct Measurement {
    backend: String,
    method: String,
    batch: usize,
    images_per_s: f64,
    runs: Vec<f64>,
    /// What the device's memory pools hold after the row (a GPU backend's; they keep the pages
    /// of the row's high-water mark, freed ones having been returned before it started).
    #[serde(skip_serializing_if = "Option::is_none")]
    device_memory_mib: Option<f64>,
    /// The row's peer in `bench_peers.py`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
}

#[derive(Deserialize)]
struct PeerReport {
    torch: String,
    captum: String,
    grad_cam: String,
    /// The class the peers' network predicts for each image.
    predictions: Vec<usize>,
    results: Vec<PeerResult>,
}

#[derive(Deserialize)]
struct PeerResult {
    peer: String,
    batch: usize,
    threads: usize,
    images_per_s: f64,
    /// `torch.cuda.max_memory_allocated` over the row, on a GPU.
    #[serde(default)]
    max_memory_mib: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    date: String,
    cpu: String,
    cores: usize,
    /// Each GPU backend's adapter, as its runtime names it.
    adapters: Vec<(String, String)>,
    rust: Vec<Measurement>,
    peak_rss_mib: Vec<(String, f64)>,
    peers: Option<serde_json::Value>,
}

impl BenchArgs {
    /// The model's rows that `--methods` selects (all of them when it is not given).
    fn selected_rows(&self) -> Vec<Row> {
        self.model
            .rows()
            .into_iter()
            .filter(|row| self.methods.is_empty() || self.methods.contains(&row.name()))
            .collect()
    }
}

pub fn run(args: &BenchArgs) -> Result {
    if args.repeats == 0 || args.batch.contains(&0) || args.peer_threads.contains(&0) {
        return Err("--repeats, --batch and --peer-threads must be positive".into());
    }
    let backends: Vec<Backend> = if args.backends.is_empty() {
        Backend::ALL.to_vec()
    } else {
        args.backends.clone()
    };
    let (batch1_images, large) = args.model.sizes(args);
    // Batch 1 stands for the batch-1 pass over `batch1_images` images.
    let batches: Vec<usize> = (batch1_images > 0)
        .then_some(1)
        .into_iter()
        .chain(large.iter().copied().filter(|&b| b > 1))
        .collect();
    let largest = batches.iter().copied().max().ok_or("no batch to measure")?;
    let mut rust = Vec::new();
    let mut predictions = Vec::new();
    let mut adapters = Vec::new();
    for &backend in &backends {
        let workload = Workload::new(args.model, backend, batch1_images.max(largest))?;
        predictions.push((backend, workload.predictions.clone()));
        if let Some(adapter) = backend.adapter() {
            eprintln!("{backend}: {adapter}");
            adapters.push((backend.to_string(), adapter));
        }
        for row in args.selected_rows() {
            for &batch in &batches {
                let m = measure(&workload, backend, &row, batch, batch1_images, args)?;
                let memory = m
                    .device_memory_mib
                    .map(|mib| format!(", {mib:.0} MiB on the device"))
                    .unwrap_or_default();
                eprintln!(
                    "{:8} {:24} batch {:5}: {:9.1} images/s{memory}",
                    m.backend, m.method, m.batch, m.images_per_s
                );
                rust.push(m);
            }
        }
    }
    let mut peak_rss_mib = Vec::new();
    for &backend in &backends {
        peak_rss_mib.push((
            backend.to_string(),
            peak_rss_of_child(args.model, backend, largest)?,
        ));
    }
    let peers = if args.no_peers {
        None
    } else {
        run_peers(args, batch1_images, &batches)?
    };
    print_table(
        args.model,
        &rust,
        &peak_rss_mib,
        peers.as_ref().map(|(report, _)| report),
        &batches,
    );
    if let Some((report, _)) = &peers {
        same_predictions(report, &predictions)?;
    }

    let report = Report {
        model: args.model.name().to_owned(),
        date: command_output("date", &["-u", "+%Y-%m-%d"]).unwrap_or_default(),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        adapters,
        rust,
        peak_rss_mib,
        peers: peers.map(|(_, raw)| raw),
    };
    if let Some(dir) = args.json.parent() {
        burn_gradcam::output::ensure_dir(dir)?;
    }
    burn_gradcam::output::write_atomic(&args.json, &serde_json::to_vec_pretty(&report)?)?;
    println!("\nwrote {}", args.json.display());
    Ok(())
}

/// Times one row: a warm-up pass, then `repeats` passes; images/s of each pass.
fn measure(
    workload: &Workload,
    backend: Backend,
    row: &Row,
    batch: usize,
    batch1_images: usize,
    args: &BenchArgs,
) -> Result<Measurement> {
    let starts: Vec<usize> = if batch == 1 {
        (0..batch1_images).collect()
    } else {
        vec![0]
    };
    let timed = timed(row.method, args.model)?;
    // Ablation-CAM divides by the clean score: the logit's (the log-probability of a certain
    // prediction is 0, and its map not finite), as the peer's row.
    let predicted = match row.method {
        "ablation-cam" => Targets::predicted().with_score(Score::Logit),
        _ => Targets::predicted(),
    };
    // Each call's input and targets, made before the clock starts.
    let calls: Vec<(Tensor<4>, Targets)> = starts
        .iter()
        .map(|&start| {
            let targets = workload.targets(if row.given {
                Targets::classes(&workload.predictions[start..start + batch])
            } else {
                predicted.clone()
            });
            (workload.input.clone().narrow(0, start, batch), targets)
        })
        .collect();
    let images = calls.len() * batch;
    // The pools' free pages go back first, so that what they hold after the row is its own.
    let gpu = backend.is_gpu();
    if gpu {
        workload.device.memory_cleanup();
    }
    let pass = || -> Result {
        for (input, targets) in &calls {
            // Every map is copied to the host, as the peers' are.
            match &timed {
                Timed::Forward => drop(Map::from_batch(
                    (workload.forward)(input.clone()).unsqueeze_dims::<4>(&[2, 3]),
                )?),
                Timed::Method(method) => drop(
                    method
                        .attribute(workload.net.as_ref(), input.clone(), targets)?
                        .to_host()?,
                ),
                Timed::Factorization(dff) => {
                    let net = workload.net.as_ref();
                    let found = dff.factorize(net, &Input::new(net, input.clone())?)?;
                    drop(Map::from_batch(found.maps)?);
                }
            }
        }
        Ok(())
    };
    let (images_per_s, runs) = time_passes(args.repeats, images, pass)?;
    let device_memory_mib = gpu
        .then(|| workload.device.memory_pool_usage())
        .flatten()
        .map(|usage| usage.bytes_reserved as f64 / (1024.0 * 1024.0));
    Ok(Measurement {
        backend: backend.to_string(),
        method: row.name(),
        batch,
        images_per_s,
        runs,
        device_memory_mib,
        peer: row.peer(),
    })
}

/// A warm-up pass, then `repeats` timed passes of `images` images each: the median images/s and
/// every pass's.
pub(crate) fn time_passes(
    repeats: usize,
    images: usize,
    pass: impl Fn() -> Result,
) -> Result<(f64, Vec<f64>)> {
    pass()?;
    let mut runs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        pass()?;
        runs.push(images as f64 / start.elapsed().as_secs_f64());
    }
    Ok((median(&runs), runs))
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Runs the batch Guided Grad-CAM in a fresh process and reads its peak RSS (MiB).
fn peak_rss_of_child(model: BenchModel, backend: Backend, batch: usize) -> Result<f64> {
    let output = Command::new(std::env::current_exe()?)
        .args([
            "bench-rss",
            "--model",
            model.name(),
            "--backend",
            backend.name(),
            "--batch",
            &batch.to_string(),
        ])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "bench-rss failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}

/// The body of `xtask bench-rss`: one batch Guided Grad-CAM, then this process's peak RSS.
pub fn rss_child(model: BenchModel, backend: Backend, batch: usize) -> Result {
    let workload = Workload::new(model, backend, batch)?;
    let targets = workload.targets(Targets::predicted());
    let images = GuidedGradCam::guided(Preset::Captum.cam_settings())
        .attribute(workload.net.as_ref(), workload.input, &targets)?
        .to_host()?;
    assert_eq!(images.len(), batch);
    println!(
        "{:.1}",
        peak_rss_mib().ok_or("no VmHWM in /proc/self/status")?
    );
    Ok(())
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run_peers(
    args: &BenchArgs,
    batch1_images: usize,
    batches: &[usize],
) -> Result<Option<(PeerReport, serde_json::Value)>> {
    let mut peers: Vec<String> = args.selected_rows().iter().filter_map(Row::peer).collect();
    // Guided Grad-CAM is also compared with pytorch-grad-cam's composition.
    if peers.iter().any(|peer| peer == "captum_guided_gradcam") {
        peers.push("pgc_gradcam_guided".to_owned());
    }
    if peers.is_empty() {
        return Ok(None);
    }
    let arguments = [
        "--peers".to_owned(),
        peers.join(","),
        "--model".to_owned(),
        args.model.name().to_owned(),
        "--batches".to_owned(),
        join(batches),
        "--repeats".to_owned(),
        args.repeats.to_string(),
        "--batch1-images".to_owned(),
        batch1_images.to_string(),
        "--device".to_owned(),
        args.peer_device.clone(),
        "--threads".to_owned(),
        join(&args.peer_threads),
    ];
    let Some(raw) = run_python_json("tools/reference/bench_peers.py", &arguments)? else {
        return Ok(None);
    };
    let report: PeerReport = serde_json::from_value(raw.clone())?;
    Ok(Some((report, raw)))
}

/// `values` comma-separated, as the peer script takes lists.
fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The Python the peers run with: the interpreter `GRADCAM_PYTHON` names (a machine with the
/// peers installed otherwise, as the GPU machine), else the reference venv's; `None` when
/// neither is there.
pub(crate) fn peer_python() -> Option<PathBuf> {
    match std::env::var_os("GRADCAM_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            let venv = PathBuf::from("tools/reference/.venv/bin/python");
            venv.exists().then_some(venv)
        }
    }
}

/// Runs a reference script with [`peer_python`] and parses the JSON it prints; `None` when
/// there is no such Python.
pub(crate) fn run_python_json(
    script: &str,
    arguments: &[String],
) -> Result<Option<serde_json::Value>> {
    let Some(python) = peer_python() else {
        eprintln!(
            "(Python peers skipped: create tools/reference/.venv as tools/reference/README.md says)"
        );
        return Ok(None);
    };
    eprintln!("running {script} (a few minutes) …");
    let output = Command::new(python).arg(script).args(arguments).output()?;
    if !output.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(Some(serde_json::from_slice(&output.stdout)?))
}

/// Confirms that both sides ran the same network on the same images: the peers' network
/// predicts the class each backend predicts for every image (a near-tie may rarely differ in
/// float rounding; more than 1 % differing is an error).
fn same_predictions(report: &PeerReport, rust: &[(Backend, Vec<usize>)]) -> Result {
    for (backend, classes) in rust {
        let same = classes
            .iter()
            .zip(&report.predictions)
            .filter(|(a, b)| a == b)
            .count();
        let total = classes.len().min(report.predictions.len());
        println!("same inputs: the peers predict {backend}'s class for {same} of {total} images");
        if total == 0 || (total - same) * 100 > total {
            return Err(format!(
                "the peers' network predicts another class than {backend} for {} of {total} \
                 images: the two sides do not run the same network on the same images",
                total - same
            )
            .into());
        }
    }
    Ok(())
}

/// The peer's best thread setting for one method and batch.
fn best_peer(report: &PeerReport, peer: &str, batch: usize) -> Option<(f64, usize)> {
    report
        .results
        .iter()
        .filter(|r| r.peer == peer && r.batch == batch)
        .map(|r| (r.images_per_s, r.threads))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

fn print_table(
    model: BenchModel,
    rust: &[Measurement],
    rss: &[(String, f64)],
    peers: Option<&PeerReport>,
    batches: &[usize],
) {
    let backends: Vec<String> = rss.iter().map(|(b, _)| b.clone()).collect();
    println!();
    if let Some(p) = peers {
        println!(
            "Python peers: torch {}, captum {}, grad-cam {}; best of 1 and 2 threads.",
            p.torch, p.captum, p.grad_cam
        );
    }
    let mut header = String::from("| method | batch |");
    for b in &backends {
        header += &format!(" {b} (img/s) |");
    }
    if peers.is_some() {
        header += " peer | peer (img/s) | ratio |";
    }
    println!("{header}");
    println!("|{}", "---|".repeat(header.matches('|').count() - 1));
    for row in model.rows() {
        let (method, peer) = (row.name(), row.peer());
        for &batch in batches {
            if !rust.iter().any(|m| m.method == method && m.batch == batch) {
                continue;
            }
            let mut line = format!("| {method} | {batch} |");
            let mut first = None;
            for b in &backends {
                let m = rust
                    .iter()
                    .find(|m| &m.backend == b && m.method == method && m.batch == batch);
                if let Some(m) = m {
                    first.get_or_insert(m.images_per_s);
                    line += &format!(" {:.0} |", m.images_per_s);
                }
            }
            if let Some(report) = peers {
                let best = peer
                    .as_deref()
                    .and_then(|peer| best_peer(report, peer, batch));
                match (best, first) {
                    (Some((speed, threads)), Some(ours)) => {
                        line += &format!(
                            " {} ({threads} thr) | {speed:.0} | {:.2}× |",
                            peer.as_deref().unwrap_or_default(),
                            ours / speed
                        );
                    }
                    _ => line += " – | – | – |",
                }
            }
            println!("{line}");
        }
    }
    if let Some(report) = peers {
        for &batch in batches {
            if let Some((speed, threads)) = best_peer(report, "pgc_gradcam_guided", batch) {
                let ours = rust
                    .iter()
                    .find(|m| m.method == "guided-grad-cam" && m.batch == batch)
                    .map(|m| m.images_per_s)
                    .unwrap_or(0.0);
                println!(
                    "| guided-grad-cam vs pytorch-grad-cam | {batch} | {ours:.0} | pgc GradCAM + GuidedBackpropReLUModel ({threads} thr): {speed:.0} img/s | ratio {:.2}× |",
                    ours / speed
                );
            }
        }
    }
    let largest = batches.iter().max().copied().unwrap_or(1);
    for (backend, mib) in rss {
        println!("peak RSS, {backend}, Guided Grad-CAM at batch {largest}: {mib:.1} MiB");
    }
    print_device_memory(rust, peers);
}

/// The device memory of each GPU row beside its peer's, where either side reports one.
fn print_device_memory(rust: &[Measurement], peers: Option<&PeerReport>) {
    for m in rust {
        let Some(ours) = m.device_memory_mib else {
            continue;
        };
        let peer = peers.zip(m.peer.as_deref()).and_then(|(report, name)| {
            report
                .results
                .iter()
                .find(|r| r.peer == name && r.batch == m.batch)
                .and_then(|r| r.max_memory_mib.map(|mib| (name, mib)))
        });
        let peer = peer
            .map(|(name, mib)| format!("; {name}: {mib:.0} MiB allocated at most"))
            .unwrap_or_default();
        println!(
            "device memory, {} {} batch {}: {ours:.0} MiB held by the pools{peer}",
            m.backend, m.method, m.batch
        );
    }
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
