//! The main job: explain images with Grad-CAM, Guided Backprop and Guided Grad-CAM, and draw the
//! seed report's four-row figure.
//!
//! `cargo run --release --example guided_gradcam` loads `data/mnist_model.pth` and
//! `data/test_images.json`, runs the `seed` preset and writes `output/guided_gradcam.png` (and
//! the same figure as `.svg`) and `output/maps.json`. `--model fashion-resnet` explains the
//! bundled Fashion-MNIST ResNet on `data/fashion/`; `--model resnet18|resnet34|resnet50` a
//! torchvision checkpoint (`--weights`) on a directory of RGB images. `--help` lists the flags.

#[path = "common/network.rs"]
mod network;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use burn_gradcam::Backend;
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, Cam, CamSettings, CamTimes, Combination,
    DeepFeatureFactorization, Explainable, ImageAttribution, Input, Interpolation, Map,
    MultiLayerCam, Objective, OutputLayer, Preset, Score, ScoreGradient, Targets, normalize,
};
use burn_gradcam::maps_file::{MapsFile, Provenance};
use burn_gradcam::networks::LabelledImages;
use burn_gradcam::output::{ensure_dir, exit_code, write_atomic};
use burn_gradcam::viz::{
    Colormap, Column, FactorizationFigure, Figure, MapRef, SignedStyle, heatmap, panel_png, signed,
};
use clap::Parser;
use network::NetworkArgs;

#[derive(Parser)]
#[command(about = "Explain images with Grad-CAM, Guided Backprop and Guided Grad-CAM")]
struct Args {
    #[command(flatten)]
    network: NetworkArgs,
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
    /// CAM method of the Grad-CAM row, by its registry name (grad-cam, grad-cam-plus-plus,
    /// xgrad-cam, hires-cam, layer-cam, score-cam, eigen-cam, eigen-grad-cam,
    /// grad-cam-element-wise, ablation-cam, fem, kpca-cam, shapley-cam).
    #[arg(long, default_value = "grad-cam")]
    cam_method: AnyCam,
    /// Pixel method of the third row (the fourth is its product with the CAM), by its registry
    /// name (guided-backprop, saliency, input-x-gradient, integrated-gradients, deconvolution,
    /// occlusion, gradient-shap, deep-lift, deep-lift-shap, lrp, feature-ablation,
    /// shapley-value-sampling, kernel-shap, rise, lime, full-grad).
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
    /// (the peers' float32 arithmetic).
    #[arg(long, default_value = "stable")]
    score_gradient: ScoreGradient,
    /// `predicted`, one class for every image (e.g. `3`), or one class per image separated by
    /// commas (e.g. `3,1,4`).
    #[arg(long, default_value = "predicted")]
    target: Targets,
    /// Explain another score than the target class's: `sum:3,8` (multi-label: the --score of
    /// each listed class, summed), `binary:positive` or `binary:negative` (a one-output model's
    /// output or its negation), `raw-scores` (the sum of the outputs), `rest` (logit plus
    /// log-probability), `finer:3,5,8` (Finer-CAM against those classes, alpha 1) or `region`
    /// (a segmentation network's class over the pixels it predicts as that class: the default
    /// for those networks).
    #[arg(long)]
    objective: Option<Objective>,
    /// Images per forward/backward pass.
    #[arg(long, default_value = "256")]
    batch_size: NonZeroUsize,
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
    /// Also factorise the explained layer's activations of all the images into this many
    /// concepts (Deep Feature Factorisation, as pytorch-grad-cam's) and draw where each lies,
    /// with its likeliest classes: `<out>/factorization.png` and `.svg`.
    #[arg(long)]
    factorize: Option<NonZeroUsize>,
    /// Backend to run on.
    #[arg(long, default_value_t = Backend::default())]
    backend: Backend,
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    exit_code(run(&Args::parse()))
}

/// The figure's method: the pixel method (smoothed if asked) times the CAM, with the preset's
/// settings and the overrides given.
fn method(args: &Args) -> CamTimes<AnyCam, AnyPixel> {
    let mut settings: CamSettings = args.preset.cam_settings();
    settings.combination = args.relu.unwrap_or(settings.combination);
    settings.upsampling.pad = args.pad.unwrap_or(settings.upsampling.pad);
    let interpolation = args.interpolation;
    settings.upsampling.interpolation = interpolation.unwrap_or(settings.upsampling.interpolation);
    settings.eigen_smooth = args.eigen_smooth;
    settings.aug_smooth = args.aug_smooth;
    let mut cam = args.cam_method.clone().with_settings(settings);
    if !args.extra_layers.is_empty() {
        cam = AnyCam::MultiLayer(Box::new(MultiLayerCam::new(cam, args.extra_layers.clone())));
    }
    let pixel = args.pixel_method.clone();
    CamTimes::new(
        cam,
        if args.smooth_grad {
            pixel.smoothed()
        } else {
            pixel
        },
    )
}

fn run(args: &Args) -> Result {
    let method = method(args);
    let score = args.score.unwrap_or(args.preset.score());
    let device = args.backend.device()?;
    let (network, report) = args.network.load(&device)?;
    for (key, dtype) in &report.converted {
        eprintln!(
            "note: {key} was {dtype} in {}, converted to f32",
            network.weights().display()
        );
    }
    let inputs = network.read_images(args.images.as_deref(), args.resize)?;
    let count = inputs.images.len();
    let mut targets = args
        .target
        .clone()
        .with_score(score)
        .with_gradient(args.score_gradient);
    if let Some(classes) = targets.given().filter(|c| c.len() != 1 && c.len() != count) {
        let images = if count == 1 {
            "1 image".to_owned()
        } else {
            format!("{count} images")
        };
        let given = classes.len();
        return Err(format!(
            "--target gives {given} classes for {images}: give one class, or one per image"
        )
        .into());
    }
    // A segmentation network explains a class where it sees it (pytorch-grad-cam's tutorial)
    // unless another objective is asked for.
    let objective = args.objective.clone().or_else(|| {
        args.network
            .model
            .is_segmentation()
            .then_some(Objective::PredictedRegion)
    });
    if let Some(objective) = &objective {
        targets = targets.with_shared_target(objective.target(score));
    }
    // Check the output location before computing anything.
    ensure_dir(&args.out)?;

    // Explain in batches: every map of a batch stays on the device until it is read, once.
    let normalization = args.normalize.unwrap_or(args.network.model.normalization());
    let net = network.explainable();
    let batch_size = args.batch_size.get();
    let progress = (count > batch_size).then(|| indicatif::ProgressBar::new(count as u64));
    let (mut results, mut shown_cams) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let mut labels = Vec::new();
    for start in (0..count).step_by(batch_size) {
        let batch = inputs
            .images
            .slice(start..start + batch_size)
            .ok_or("empty batch")?;
        let input = batch.to_tensor(normalization, &device);
        let attributions = method.attribute(net, input, &targets.narrow(start, batch.len()))?;
        let cams = attributions.cam().ok_or("a product has a CAM")?.clone();
        shown_cams.extend(Map::from_batch(normalize(cams))?);
        results.extend(attributions.to_host()?);
        if let Some(map) = attributions.predictions().map() {
            labels.extend(predicted_labels(map)?);
        }
        if let Some(bar) = &progress {
            bar.inc(batch.len() as u64);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let label = method.label();
    for (i, result) in results.iter().enumerate() {
        let p = &result.prediction;
        let truth = inputs
            .labels
            .as_ref()
            .map(|l| format!(", label {}", l[i]))
            .unwrap_or_default();
        let largest = result.map.max_abs();
        println!(
            "image {i}: predicted {} (p = {:.4}), target {}{truth}, max |{label}| = {largest:.3e}",
            p.predicted, p.probabilities[p.predicted], p.target,
        );
    }

    // Render everything before writing anything.
    let cam = match &method.cam {
        AnyCam::MultiLayer(multi) => &multi.cam,
        cam => cam,
    };
    let settings = cam.settings();
    // The score as the reader knows it: the model output of the MNIST net is its log-probability.
    let score_name = match (targets.target().label().as_str(), net.output_layer()) {
        ("output", OutputLayer::LogSoftmax) => "log-prob".to_owned(),
        ("output", OutputLayer::Identity) => "logit".to_owned(),
        ("output", OutputLayer::Softmax) => "probability".to_owned(),
        (other, _) => other.to_owned(),
    };
    let title = format!(
        "{label} — preset {} ({cam} at {}: {}, pad {}, {}, {score_name})",
        args.preset,
        network.layer(),
        settings.combination.formula(),
        settings.upsampling.pad,
        settings.upsampling.interpolation,
    );
    let style = args
        .signed_style
        .unwrap_or(if inputs.images.shape()[1] == 3 {
            SignedStyle::Deprocess
        } else {
            SignedStyle::Diverging
        });
    let figure = figure(&inputs, &results, &shown_cams, &method, &title, args, style)?;
    let (png, svg) = (figure.render_png()?, figure.render_svg()?);
    let provenance = Provenance {
        network: &network,
        images: &inputs,
        normalization,
        preset: args.preset,
        score,
        targets: &targets,
        backend: args.backend,
    };
    let maps = MapsFile::new(&method, &results, provenance).ok_or("a product has every map")?;
    let panels = if args.panels {
        panels(&results, &shown_cams, args, style)?
    } else {
        Vec::new()
    };
    let factorization = match args.factorize {
        Some(components) => {
            let input = Input::new(net, inputs.images.to_tensor(normalization, &device))?;
            factorization(
                net,
                &input,
                &inputs,
                components.get(),
                network.layer(),
                args,
            )?
        }
        None => Vec::new(),
    };

    let segmentation = if labels.is_empty() {
        Vec::new()
    } else {
        segmentation_figure(&inputs, &labels, args)?
    };

    let written = [
        ("guided_gradcam.png", png),
        ("guided_gradcam.svg", svg.into_bytes()),
    ];
    for (name, bytes) in written.iter().chain(&factorization).chain(&segmentation) {
        let path = args.out.join(name);
        write_atomic(&path, bytes)?;
        println!("wrote {}", path.display());
    }
    let maps_path = args.out.join("maps.json");
    maps.write(&maps_path)?;
    println!("wrote {}", maps_path.display());
    if !panels.is_empty() {
        let dir = args.out.join("panels");
        ensure_dir(&dir)?;
        for (name, bytes) in &panels {
            write_atomic(&dir.join(name), bytes)?;
        }
        println!("wrote {} panels to {}", panels.len(), dir.display());
    }
    Ok(())
}

fn map_ref(map: &Map) -> Result<MapRef<'_>> {
    Ok(MapRef::planar(
        &map.values,
        map.shape[0],
        map.width(),
        map.height(),
    )?)
}

/// The pixel factor of a product (always present).
fn pixel(image: &ImageAttribution) -> Result<&Map> {
    Ok(image.pixel.as_ref().ok_or("a product has a pixel factor")?)
}

/// The four-row figure of the first `--figure-columns` images.
fn figure<'a>(
    inputs: &'a LabelledImages,
    results: &'a [ImageAttribution],
    shown_cams: &'a [Map],
    method: &CamTimes<AnyCam, AnyPixel>,
    title: &str,
    args: &Args,
    style: SignedStyle,
) -> Result<Figure<'a>> {
    let rows = [
        "Raw image".to_owned(),
        Attribution::label(&method.cam),
        method.pixel.label(),
        method.label(),
    ];
    let mut figure = Figure::new(title)
        .row_titles(rows)
        .colormap(args.colormap)
        .signed_style(style)
        .scale(figure_scale(inputs));
    let class = |c: usize| class_name(args, c);
    let shown = results.len().min(args.figure_columns.max(1));
    for (i, (result, cam)) in results.iter().zip(shown_cams).take(shown).enumerate() {
        let raw = raw_image(inputs, i)?;
        let p = &result.prediction;
        let mut column = Column::new(
            raw,
            map_ref(cam)?,
            map_ref(pixel(result)?)?,
            map_ref(&result.map)?,
        )?
        .prediction(class(p.predicted), p.probabilities[p.predicted]);
        // Name the class the maps explain wherever it is not the prediction.
        if p.target != p.predicted {
            column = column.target(class(p.target));
        }
        if let Some(labels) = &inputs.labels {
            column = column.truth(labels[i]);
        }
        figure.push_column(column);
    }
    Ok(figure)
}

/// Image `i` as the figures draw it.
fn raw_image(inputs: &LabelledImages, i: usize) -> Result<MapRef<'_>> {
    let [_, channels, height, width] = inputs.images.shape();
    Ok(MapRef::planar(
        inputs.images.image(i).ok_or("image index")?,
        channels,
        width,
        height,
    )?)
}

/// The figures' magnification: cells of about 168 pixels (a 28×28 digit six times, a 224×224
/// image once).
fn figure_scale(inputs: &LabelledImages) -> u32 {
    let [_, _, height, width] = inputs.images.shape();
    (168 / height.max(width).max(1)).max(1) as u32
}

/// The name of class `c` (its index where the network has no names).
fn class_name(args: &Args, c: usize) -> String {
    match args.network.model.class_names() {
        Some(names) => names[c % names.len()].to_owned(),
        None => c.to_string(),
    }
}

/// Deep Feature Factorisation of every image at the explained layer, drawn as
/// pytorch-grad-cam's `show_factorization_on_image` with each concept's two likeliest classes:
/// `factorization.png` and `factorization.svg`.
fn factorization(
    net: &dyn Explainable,
    input: &Input,
    inputs: &LabelledImages,
    components: usize,
    layer: &str,
    args: &Args,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let found = DeepFeatureFactorization::new()
        .with_components(components)
        .factorize(net, input)?;
    let legend: Vec<String> = match found.concept_logits {
        Some(logits) => {
            let classes = logits.dims()[1];
            let probabilities = burn::tensor::activation::softmax(logits, 1);
            Map::from_batch(probabilities.reshape([components, 1, 1, classes]))?
                .iter()
                .enumerate()
                .map(|(i, concept)| {
                    let mut order: Vec<usize> = (0..classes).collect();
                    order.sort_by(|&a, &b| concept.values[b].total_cmp(&concept.values[a]));
                    let top: Vec<String> = order
                        .iter()
                        .take(2)
                        .map(|&c| format!("{} {:.2}", class_name(args, c), concept.values[c]))
                        .collect();
                    format!("concept {i}: {}", top.join(", "))
                })
                .collect()
        }
        None => (0..components).map(|i| format!("concept {i}")).collect(),
    };
    let maps = Map::from_batch(found.maps)?;
    let [_, _, height, width] = inputs.images.shape();
    let title = format!("Deep Feature Factorisation at {layer}: {components} concepts");
    let plane = height * width;
    let mut figure = FactorizationFigure::new(title, legend).scale(figure_scale(inputs));
    for (i, map) in maps.iter().enumerate().take(args.figure_columns.max(1)) {
        let raw = raw_image(inputs, i)?;
        let concepts = map
            .values
            .chunks_exact(plane)
            .map(|concept| MapRef::new(concept, width, height))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        figure = figure.image(raw, concepts, format!("image {i}"));
    }
    Ok(vec![
        ("factorization.png", figure.render_png()?),
        ("factorization.svg", figure.render_svg()?.into_bytes()),
    ])
}

/// Each image's predicted class per pixel, from a segmentation network's output map
/// `[N, classes, H, W]`.
fn predicted_labels(map: &burn::tensor::Tensor<4>) -> Result<Vec<Vec<usize>>> {
    let [n, _, height, width] = map.dims();
    let labels = map
        .clone()
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| format!("predicted labels: {e:?}"))?;
    Ok(labels
        .chunks_exact(height * width)
        .take(n)
        .map(|image| image.iter().map(|&c| c as usize).collect())
        .collect())
}

/// A segmentation network's predicted labels over the first `--figure-columns` images, one
/// colour per class present (the legend names them and their share of the pixels):
/// `segmentation.png` and `segmentation.svg`.
fn segmentation_figure(
    inputs: &LabelledImages,
    labels: &[Vec<usize>],
    args: &Args,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let shown = &labels[..labels.len().min(args.figure_columns.max(1))];
    let mut counts = std::collections::BTreeMap::<usize, usize>::new();
    for &class in shown.iter().flatten() {
        *counts.entry(class).or_default() += 1;
    }
    let mut present: Vec<(usize, usize)> = counts.into_iter().collect();
    present.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: usize = shown.iter().map(Vec::len).sum();
    let legend = present
        .iter()
        .map(|&(class, pixels)| {
            let share = 100.0 * pixels as f64 / total.max(1) as f64;
            format!("{} ({share:.1} % of the pixels)", class_name(args, class))
        })
        .collect();
    // One plane per class present, 1 where the image is labelled with it.
    let planes: Vec<Vec<Vec<f32>>> = shown
        .iter()
        .map(|image| {
            present
                .iter()
                .map(|&(class, _)| {
                    image
                        .iter()
                        .map(|&c| f32::from(u8::from(c == class)))
                        .collect()
                })
                .collect()
        })
        .collect();
    let [_, _, height, width] = inputs.images.shape();
    let title = format!("Predicted classes ({})", args.network.model);
    let mut figure = FactorizationFigure::new(title, legend).scale(figure_scale(inputs));
    for (i, image) in planes.iter().enumerate() {
        let raw = raw_image(inputs, i)?;
        let classes = image
            .iter()
            .map(|plane| MapRef::new(plane, width, height))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        figure = figure.image(raw, classes, format!("image {i}"));
    }
    Ok(vec![
        ("segmentation.png", figure.render_png()?),
        ("segmentation.svg", figure.render_svg()?.into_bytes()),
    ])
}

/// One PNG per image and map, named `image_<i>_<map>.png`.
fn panels(
    results: &[ImageAttribution],
    shown_cams: &[Map],
    args: &Args,
    style: SignedStyle,
) -> Result<Vec<(String, Vec<u8>)>> {
    let scale = Figure::DEFAULT_SCALE;
    let mut panels = Vec::new();
    for (i, (result, cam)) in results.iter().zip(shown_cams).enumerate() {
        panels.push((
            format!("image_{i}_grad_cam.png"),
            panel_png(&heatmap(map_ref(cam)?, args.colormap, scale)?)?,
        ));
        panels.push((
            format!("image_{i}_attribution.png"),
            panel_png(&signed(map_ref(pixel(result)?)?, style, scale)?)?,
        ));
        panels.push((
            format!("image_{i}_attribution_cam.png"),
            panel_png(&signed(map_ref(&result.map)?, style, scale)?)?,
        ));
    }
    Ok(panels)
}
