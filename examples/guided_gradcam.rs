//! The main job: explain images with Grad-CAM, Guided Backprop and Guided Grad-CAM, and draw the
//! seed report's four-row figure.
//!
//! `cargo run --release --example guided_gradcam` loads `data/mnist_model.pth` and
//! `data/test_images.json`, runs the `seed` preset and writes `output/guided_gradcam.png` (and
//! the same figure as `.svg`) and `output/maps.json`. `--model fashion-resnet` explains the
//! bundled Fashion-MNIST ResNet on `data/fashion/`; `--model resnet18|resnet34|resnet50` a
//! torchvision checkpoint (`--weights`) on a directory of RGB images. `--help` lists the flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use burn_gradcam::Backend;
use burn_gradcam::explain::Explainable;
use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, BinaryOutput, CamSettings, CamTimes, ClassSum, Combination,
    FinerWeighted, ImageAttribution, Interpolation, Map, MultiLayerCam, Preset, RawScores, ReSt,
    Score, ScoreGradient, Target, Targets, normalize,
};
use burn_gradcam::model::{Digits, Images, MnistNet, Normalization, load_weights};
use burn_gradcam::output::{ensure_dir, write_atomic};
use burn_gradcam::viz::{
    Colormap, Column, Figure, MapRef, SignedStyle, heatmap, panel_png, signed,
};
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Explain images with Grad-CAM, Guided Backprop and Guided Grad-CAM")]
struct Args {
    /// The network: mnist (the seed's CNN), fashion-resnet (the bundled Fashion-MNIST ResNet),
    /// or a torchvision resnet18, resnet34 or resnet50 (give its `--weights`).
    #[arg(long, value_enum, default_value = "mnist")]
    model: ModelArg,
    /// PyTorch state dict (`.pth`, or the same tensors as `.safetensors`); default: the bundled
    /// weights of mnist and fashion-resnet.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Classes of a torchvision ResNet's final layer.
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// The ResNet stage the CAM is taken at: layer1, layer2, layer3 or layer4.
    #[arg(long, default_value = "layer4")]
    layer: String,
    /// Images: for mnist an image-JSON file or a directory of PNG/JPEG files (grey); for a
    /// ResNet a directory of PNG/JPEG files (RGB kept as RGB). Default: the bundled ones.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Resize image files to the model's input (bilinear) instead of refusing other sizes.
    #[arg(long)]
    resize: bool,
    /// Input normalisation: imagenet, mnist, fashion-mnist or none (default: the model's).
    #[arg(long)]
    normalize: Option<Normalization>,
    /// Output directory (created if missing).
    #[arg(long, default_value = "output")]
    out: PathBuf,
    /// Named settings: seed, paper, captum or pytorch-grad-cam.
    #[arg(long, default_value = "seed")]
    preset: Preset,
    /// CAM method of the Grad-CAM row: grad-cam, grad-cam-plus-plus, xgrad-cam, hires-cam,
    /// layer-cam, score-cam, eigen-cam, eigen-grad-cam, grad-cam-element-wise or ablation-cam.
    #[arg(long, default_value = "grad-cam")]
    cam_method: AnyCam,
    /// Pixel method of the third row (the fourth is its product with the CAM): guided-backprop
    /// (Guided Grad-CAM), saliency, input-x-gradient, integrated-gradients or deconvolution.
    #[arg(long, default_value = "guided-backprop")]
    pixel_method: AnyPixel,
    /// Wrap the pixel method in SmoothGrad (5 noisy copies, noise stdev 1.0, seed 0).
    #[arg(long)]
    smooth_grad: bool,
    /// Also take the CAM at these earlier layers and average the maps, as pytorch-grad-cam does
    /// with several target_layers (comma-separated: layer1…layer3 of a ResNet explained at
    /// layer4; conv1 of the MNIST net).
    #[arg(long, value_delimiter = ',')]
    extra_layers: Vec<String>,
    /// pytorch-grad-cam's eigen_smooth: project the CAM's weighted activations on their first
    /// principal component instead of summing them.
    #[arg(long)]
    eigen_smooth: bool,
    /// pytorch-grad-cam's aug_smooth: average the CAM over left–right flips × intensity
    /// factors 0.9, 1, 1.1 (six times the work).
    #[arg(long)]
    aug_smooth: bool,
    /// Override the preset's channel combination: per-channel, after-sum or signed.
    #[arg(long)]
    relu: Option<Combination>,
    /// Override the preset's zero padding (cells per side) before resizing.
    #[arg(long)]
    pad: Option<usize>,
    /// Override the preset's resampling filter: bilinear or nearest.
    #[arg(long)]
    interpolation: Option<Interpolation>,
    /// Override the preset's score: the model output (log-probability), the logit or the
    /// softmax probability (output, logit, probability).
    #[arg(long)]
    score: Option<Score>,
    /// How the score's gradient is computed: stable (exact however sure the model is) or naive
    /// (the peers' float32 arithmetic, bit for bit).
    #[arg(long, default_value = "stable")]
    score_gradient: ScoreGradient,
    /// `predicted`, one class for every image (e.g. `3`), or one class per image separated by
    /// commas (e.g. `3,1,4`).
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Explain another score than the target class's: `sum:3,8` (multi-label: the --score of
    /// each listed class, summed), `binary:positive` or `binary:negative` (a one-output model's
    /// output or its negation), `raw-scores` (the sum of the outputs), `rest` (logit plus
    /// log-probability) or `finer:3,5,8` (Finer-CAM against those classes, alpha 1).
    #[arg(long)]
    objective: Option<String>,
    /// Images per forward/backward pass.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Colour map of the Grad-CAM row: jet, viridis, magma or gray.
    #[arg(long, default_value = "jet")]
    colormap: Colormap,
    /// Rendering of the signed rows: diverging, positive, deprocess (pytorch-grad-cam's, RGB),
    /// abs or abs:<percentile> (default: deprocess for RGB images, diverging for grey).
    #[arg(long)]
    signed_style: Option<SignedStyle>,
    /// At most this many images (the first ones) are drawn in the figure; maps.json has all.
    #[arg(long, default_value_t = 16)]
    figure_columns: usize,
    /// Also write one PNG per image and map under `<out>/panels/`.
    #[arg(long)]
    panels: bool,
    /// Backend to run on.
    #[arg(long, default_value_t = Backend::default())]
    backend: Backend,
}

/// The figure's method: a pixel method times a CAM (over one or several layers).
type Method = CamTimes<MultiLayerCam<AnyCam>, AnyPixel>;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModelArg {
    Mnist,
    FashionResnet,
    Resnet18,
    Resnet34,
    Resnet50,
}

/// Fashion-MNIST's classes, for the captions.
const FASHION_CLASSES: [&str; 10] = [
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
];

/// The network explained, and what its inputs need.
enum Network {
    Mnist(Box<MnistNet>),
    ResNet(Box<ResNet>),
}

impl Network {
    fn explainable(&self) -> &dyn Explainable {
        match self {
            Self::Mnist(net) => net.as_ref(),
            Self::ResNet(net) => net.as_ref(),
        }
    }

    fn load(args: &Args, device: &burn::tensor::Device) -> Result<(Self, PathBuf)> {
        let bundled = match args.model {
            ModelArg::Mnist => Some("data/mnist_model.pth"),
            ModelArg::FashionResnet => Some("data/fashion_resnet.pth"),
            _ => None,
        };
        let weights = match (&args.weights, bundled) {
            (Some(path), _) => path.clone(),
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => return Err("--weights: give the torchvision checkpoint to load".into()),
        };
        let config = match args.model {
            ModelArg::Mnist => {
                let (net, report) = load_weights(&weights, device)?;
                note_conversions(&report, &weights);
                return Ok((Self::Mnist(Box::new(net)), weights));
            }
            ModelArg::FashionResnet => ResNetConfig::fashion(),
            ModelArg::Resnet18 => ResNetConfig::resnet18().with_classes(args.classes),
            ModelArg::Resnet34 => ResNetConfig::resnet34().with_classes(args.classes),
            ModelArg::Resnet50 => ResNetConfig::resnet50().with_classes(args.classes),
        };
        let (net, report) = ResNet::load(config, &weights, device)?;
        note_conversions(&report, &weights);
        Ok((
            Self::ResNet(Box::new(net.explained_at(&args.layer)?)),
            weights,
        ))
    }

    fn normalization(&self, args: &Args) -> Normalization {
        args.normalize.unwrap_or(match args.model {
            ModelArg::Mnist => Normalization::Mnist,
            ModelArg::FashionResnet => Normalization::FashionMnist,
            _ => Normalization::ImageNet,
        })
    }

    /// The explained layer's name, for the title.
    fn layer(&self) -> &'static str {
        match self {
            Self::Mnist(_) => "conv2",
            Self::ResNet(net) => net.explained_layer(),
        }
    }
}

fn note_conversions(report: &burn_gradcam::model::WeightsReport, weights: &Path) {
    for (key, dtype) in &report.converted {
        eprintln!(
            "note: {key} was {dtype} in {}, converted to f32",
            weights.display()
        );
    }
}

/// The images to explain, with their labels when known.
struct Inputs {
    images: Images,
    labels: Option<Vec<u8>>,
    source: PathBuf,
}

fn main() -> ExitCode {
    burn_gradcam::cli::exit_code(run(&Args::parse()))
}

/// The preset's CAM settings with the overrides given.
fn cam_settings(args: &Args) -> CamSettings {
    let mut settings = args.preset.cam_settings();
    if let Some(combination) = args.relu {
        settings.combination = combination;
    }
    if let Some(pad) = args.pad {
        settings.upsampling.pad = pad;
    }
    if let Some(interpolation) = args.interpolation {
        settings.upsampling.interpolation = interpolation;
    }
    settings.eigen_smooth = args.eigen_smooth;
    settings.aug_smooth = args.aug_smooth;
    settings
}

/// The figure's method: the pixel method (smoothed if asked) times the CAM.
fn method(args: &Args) -> Method {
    let pixel = if args.smooth_grad {
        args.pixel_method.clone().smoothed()
    } else {
        args.pixel_method.clone()
    };
    let cam = args.cam_method.clone().with_settings(cam_settings(args));
    CamTimes::new(MultiLayerCam::new(cam, args.extra_layers.clone()), pixel)
}

fn read_images(args: &Args, network: &Network) -> Result<Inputs> {
    let [channels, height, width] = network.explainable().input_shape();
    let default = match args.model {
        ModelArg::Mnist => "data/test_images.json",
        ModelArg::FashionResnet => "data/fashion",
        _ => "data/images",
    };
    let source = args
        .images
        .clone()
        .unwrap_or_else(|| PathBuf::from(default));
    if let Network::Mnist(_) = network {
        let digits = if source.is_dir() {
            Digits::from_image_dir(&source, args.resize)?
        } else {
            Digits::from_json_file(&source)?
        };
        let shape = [digits.len(), channels, height, width];
        return Ok(Inputs {
            images: Images::new(shape, digits.pixels().to_vec())?,
            labels: digits.labels().map(<[u8]>::to_vec),
            source,
        });
    }
    Ok(Inputs {
        images: Images::from_dir(&source, channels, [height, width], args.resize)?,
        labels: None,
        source,
    })
}

/// The `--target` flag: `predicted`, one class, or one class per image.
fn parse_targets(text: &str, count: usize, score: Score) -> Result<Targets> {
    if text == "predicted" {
        return Ok(Targets::predicted().with_score(score));
    }
    let classes = text
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .map_err(|e| format!("--target: {c:?} is not a class number ({e})"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let targets = match classes.as_slice() {
        [class] => Targets::class(*class),
        _ if classes.len() == count => Targets::classes(classes),
        _ => {
            // More than one class here; one image or several.
            let images = if count == 1 {
                "1 image".to_owned()
            } else {
                format!("{count} images")
            };
            return Err(format!(
                "--target gives {} classes for {images}: give one class, or one per image",
                classes.len()
            )
            .into());
        }
    };
    Ok(targets.with_score(score))
}

/// The `--objective` flag: a target other than the class's score.
fn parse_objective(text: &str, score: Score) -> Result<Arc<dyn Target>> {
    let classes = |list: &str| {
        list.split(',')
            .map(|c| {
                c.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("--objective: {c:?} is not a class number ({e})"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
    };
    let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
    Ok(match (kind, rest) {
        ("sum", list) => Arc::new(ClassSum::new(classes(list)?, score)),
        ("finer", list) => Arc::new(FinerWeighted::new(classes(list)?, 1.0)),
        ("binary", "positive") => Arc::new(BinaryOutput { positive: true }),
        ("binary", "negative") => Arc::new(BinaryOutput { positive: false }),
        ("raw-scores", "") => Arc::new(RawScores),
        ("rest", "") => Arc::new(ReSt),
        _ => {
            return Err(format!(
                "--objective {text:?}: expected sum:<classes>, finer:<classes>, \
                 binary:positive, binary:negative, raw-scores or rest"
            )
            .into());
        }
    })
}

/// What is explained and drawn for each image.
struct Explained {
    image: ImageAttribution,
    /// The upsampled CAM display-normalised to `[0, 1]`, for the figure.
    shown_cam: Map,
}

fn run(args: &Args) -> Result {
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    let method = method(args);
    let score = args.score.unwrap_or(args.preset.score());
    let device = args.backend.device()?;
    let (network, weights) = Network::load(args, &device)?;
    let net = network.explainable();
    let inputs = read_images(args, &network)?;
    let normalization = network.normalization(args);
    let mut targets =
        parse_targets(&args.target, inputs.images.len(), score)?.with_gradient(args.score_gradient);
    if let Some(objective) = &args.objective {
        targets = targets.with_shared_target(parse_objective(objective, score)?);
    }
    // Check the output location before computing anything.
    ensure_dir(&args.out)?;

    let count = inputs.images.len();
    let progress = (count > args.batch_size).then(|| indicatif::ProgressBar::new(count as u64));
    let mut images = Vec::with_capacity(count);
    for start in (0..count).step_by(args.batch_size) {
        let batch = inputs
            .images
            .slice(start..start + args.batch_size)
            .ok_or("empty batch")?;
        let input = batch.to_tensor(normalization, &device);
        // One forward pass serves all maps when the pixel method allows it.
        let attributions = method.attribute(net, input, &targets.narrow(start, batch.len()))?;
        let cams = attributions.cam().ok_or("a product has a CAM")?.clone();
        let shown = Map::from_batch(normalize(cams))?;
        images.extend(
            attributions
                .to_host()?
                .into_iter()
                .zip(shown)
                .map(|(image, shown_cam)| Explained { image, shown_cam }),
        );
        if let Some(bar) = &progress {
            bar.inc(batch.len() as u64);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let product = method.label();
    for (i, explained) in images.iter().enumerate() {
        let p = &explained.image.prediction;
        let label = inputs
            .labels
            .as_ref()
            .map(|l| format!(", label {}", l[i]))
            .unwrap_or_default();
        println!(
            "image {i}: predicted {} (p = {:.4}), target {}{label}, max |{product}| = {:.3e}",
            p.predicted,
            p.probabilities[p.predicted],
            p.target,
            explained.image.map.max_abs()
        );
    }

    // Render everything before writing anything.
    let settings = cam_settings(args);
    let title = format!(
        "{product} — preset {} ({})",
        args.preset,
        describe(
            &method.cam.cam,
            network.layer(),
            &settings,
            targets.target().as_ref(),
            net.output_layer()
        )
    );
    let style = signed_style(args, &inputs);
    let (figure, svg) = render_figure(&inputs, &images, &method, &title, args, style)?;
    let file = MapsFile::new(
        args, &network, &weights, &method, &targets, &inputs, &images,
    )?;
    let maps = serde_json::to_vec(&file)?;
    let panels = if args.panels {
        render_panels(&images, args, style)?
    } else {
        Vec::new()
    };

    let figure_path = args.out.join("guided_gradcam.png");
    write_atomic(&figure_path, &figure)?;
    let svg_path = args.out.join("guided_gradcam.svg");
    write_atomic(&svg_path, svg.as_bytes())?;
    let maps_path = args.out.join("maps.json");
    write_atomic(&maps_path, &maps)?;
    if !panels.is_empty() {
        let dir = args.out.join("panels");
        ensure_dir(&dir)?;
        for (name, bytes) in &panels {
            write_atomic(&dir.join(name), bytes)?;
        }
        println!("wrote {} panels to {}", panels.len(), dir.display());
    }
    println!("wrote {}", figure_path.display());
    println!("wrote {}", svg_path.display());
    println!("wrote {}", maps_path.display());
    Ok(())
}

fn describe(
    cam: &AnyCam,
    layer: &str,
    settings: &CamSettings,
    target: &dyn Target,
    output: burn_gradcam::explain::OutputLayer,
) -> String {
    use burn_gradcam::explain::OutputLayer;
    let combination = match settings.combination {
        Combination::PerChannelRelu => "Σ ReLU(αA)",
        Combination::ReluAfterSum => "ReLU(Σ αA)",
        Combination::Signed => "Σ αA",
    };
    let name = target.label();
    let score = match (name.as_str(), output) {
        ("output", OutputLayer::LogSoftmax) => "log-prob",
        ("output", OutputLayer::Identity) => "logit",
        ("output", OutputLayer::Softmax) => "probability",
        _ => name.as_str(),
    };
    format!(
        "{cam} at {layer}: {combination}, pad {}, {}, {score}",
        settings.upsampling.pad, settings.upsampling.interpolation
    )
}

fn map_ref(map: &Map) -> Result<MapRef<'_>> {
    Ok(MapRef::planar(
        &map.values,
        map.shape[0],
        map.width(),
        map.height(),
    )?)
}

/// The signed rows' style: as asked, else pytorch-grad-cam's colour rendering of RGB images.
fn signed_style(args: &Args, inputs: &Inputs) -> SignedStyle {
    args.signed_style
        .unwrap_or(if inputs.images.shape()[1] == 3 {
            SignedStyle::Deprocess
        } else {
            SignedStyle::Diverging
        })
}

/// The pixel factor of a product (always present).
fn pixel(image: &ImageAttribution) -> Result<&Map> {
    Ok(image.pixel.as_ref().ok_or("a product has a pixel factor")?)
}

/// The figure as PNG and SVG.
fn render_figure(
    inputs: &Inputs,
    images: &[Explained],
    method: &Method,
    title: &str,
    args: &Args,
    style: SignedStyle,
) -> Result<(Vec<u8>, String)> {
    let shown = images.len().min(args.figure_columns.max(1));
    let [_, channels, height, width] = inputs.images.shape();
    // Cells of about 168 pixels: a 28×28 digit six times, a 224×224 image once.
    let scale = (168 / height.max(width).max(1)).max(1) as u32;
    let mut figure = Figure::new(title)
        .row_titles([
            "Raw image".to_string(),
            Attribution::label(&method.cam),
            method.pixel.label(),
            method.label(),
        ])
        .colormap(args.colormap)
        .signed_style(style)
        .scale(scale);
    for (i, explained) in images[..shown].iter().enumerate() {
        let pixels = inputs.images.image(i).ok_or("image index")?;
        let raw = MapRef::planar(pixels, channels, width, height)?;
        let image = &explained.image;
        let p = &image.prediction;
        let mut column = Column::new(
            raw,
            map_ref(&explained.shown_cam)?,
            map_ref(pixel(image)?)?,
            map_ref(&image.map)?,
        )?;
        column = match args.model {
            ModelArg::FashionResnet => column.prediction(
                FASHION_CLASSES[p.predicted % 10],
                p.probabilities[p.predicted],
            ),
            _ => column.prediction(p.predicted, p.probabilities[p.predicted]),
        };
        if let Some(labels) = &inputs.labels {
            column = column.truth(labels[i]);
        }
        figure.push_column(column);
    }
    Ok((figure.render_png()?, figure.render_svg()?))
}

fn render_panels(
    images: &[Explained],
    args: &Args,
    style: SignedStyle,
) -> Result<Vec<(String, Vec<u8>)>> {
    let scale = Figure::DEFAULT_SCALE;
    let mut panels = Vec::new();
    for (i, explained) in images.iter().enumerate() {
        let image = &explained.image;
        panels.push((
            format!("image_{i}_grad_cam.png"),
            panel_png(&heatmap(
                map_ref(&explained.shown_cam)?,
                args.colormap,
                scale,
            )?)?,
        ));
        panels.push((
            format!("image_{i}_attribution.png"),
            panel_png(&signed(map_ref(pixel(image)?)?, style, scale)?)?,
        ));
        panels.push((
            format!("image_{i}_attribution_cam.png"),
            panel_png(&signed(map_ref(&image.map)?, style, scale)?)?,
        ));
    }
    Ok(panels)
}

/// `maps.json`: every raw map of every image, with what produced it.
#[derive(serde::Serialize)]
struct MapsFile<'a> {
    model: String,
    layer: &'static str,
    normalization: String,
    preset: String,
    method: String,
    cam: &'a AnyCam,
    /// The earlier layers whose CAMs are averaged with the explained layer's.
    cam_layers: &'a [String],
    pixel: &'a AnyPixel,
    score: Score,
    /// What was differentiated: the score of the target class, or the `--objective`.
    objective: String,
    score_gradient: ScoreGradient,
    backend: String,
    weights: &'a Path,
    images_source: &'a Path,
    images: Vec<MapsEntry<'a>>,
}

/// One image in `maps.json`.
#[derive(serde::Serialize)]
struct MapsEntry<'a> {
    index: usize,
    label: Option<u8>,
    prediction: &'a burn_gradcam::explain::Prediction,
    /// The CAM at the explained layer's resolution.
    cam_layer: &'a Map,
    /// The upsampled CAM.
    cam: &'a Map,
    /// The pixel attribution.
    attribution: &'a Map,
    /// Their product.
    attribution_cam: &'a Map,
}

impl<'a> MapsFile<'a> {
    fn new(
        args: &'a Args,
        network: &Network,
        weights: &'a Path,
        method: &'a Method,
        targets: &Targets,
        inputs: &'a Inputs,
        images: &'a [Explained],
    ) -> Result<Self> {
        let missing = "a product has every map";
        let images = images
            .iter()
            .enumerate()
            .map(|(index, explained)| {
                let image = &explained.image;
                Ok(MapsEntry {
                    index,
                    label: inputs.labels.as_ref().map(|l| l[index]),
                    prediction: &image.prediction,
                    cam_layer: image.layer_cam.as_ref().ok_or(missing)?,
                    cam: image.cam.as_ref().ok_or(missing)?,
                    attribution: pixel(image)?,
                    attribution_cam: &image.map,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            model: network_name(args.model).to_owned(),
            layer: network.layer(),
            normalization: network.normalization(args).to_string(),
            preset: args.preset.to_string(),
            method: method.label(),
            cam: &method.cam.cam,
            cam_layers: &method.cam.layers,
            pixel: &method.pixel,
            score: args.score.unwrap_or(args.preset.score()),
            objective: targets.target().label(),
            score_gradient: args.score_gradient,
            backend: args.backend.to_string(),
            weights,
            images_source: &inputs.source,
            images,
        })
    }
}

fn network_name(model: ModelArg) -> &'static str {
    match model {
        ModelArg::Mnist => "mnist",
        ModelArg::FashionResnet => "fashion-resnet",
        ModelArg::Resnet18 => "resnet18",
        ModelArg::Resnet34 => "resnet34",
        ModelArg::Resnet50 => "resnet50",
    }
}
