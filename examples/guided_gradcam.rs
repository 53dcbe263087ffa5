//! The main job: explain digits with Grad-CAM, Guided Backprop and Guided Grad-CAM, and draw the
//! seed report's four-row figure.
//!
//! `cargo run --release --example guided_gradcam` loads `data/mnist_model.pth` and
//! `data/test_images.json`, runs the `seed` preset and writes `output/guided_gradcam.png` (and
//! the same figure as `.svg`) and `output/maps.json`. `--help` lists the flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn_gradcam::Backend;
use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, CamSettings, CamTimes, Combination, ImageAttribution,
    Interpolation, Map, Preset, Score, ScoreGradient, Targets, normalize,
};
use burn_gradcam::model::{Digits, IMAGE_SIDE, load_weights, preprocess};
use burn_gradcam::output::{ensure_dir, write_atomic};
use burn_gradcam::viz::{
    Colormap, Column, Figure, MapRef, SignedStyle, heatmap, panel_png, signed,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Explain MNIST digits with Grad-CAM, Guided Backprop and Guided Grad-CAM")]
struct Args {
    /// PyTorch state dict of the MNIST network.
    #[arg(long, default_value = "data/mnist_model.pth")]
    weights: PathBuf,
    /// Images: an image-JSON file, or a directory of PNG/JPEG files (colour is converted to grey).
    #[arg(long, default_value = "data/test_images.json")]
    images: PathBuf,
    /// Resize image files that are not 28×28 instead of refusing them.
    #[arg(long)]
    resize: bool,
    /// Output directory (created if missing).
    #[arg(long, default_value = "output")]
    out: PathBuf,
    /// Named settings: seed, paper, captum or pytorch-grad-cam.
    #[arg(long, default_value = "seed")]
    preset: Preset,
    /// CAM method of the Grad-CAM row: grad-cam, grad-cam-plus-plus, xgrad-cam, hires-cam,
    /// layer-cam, score-cam or eigen-cam.
    #[arg(long, default_value = "grad-cam")]
    cam_method: AnyCam,
    /// Pixel method of the third row (the fourth is its product with the CAM): guided-backprop
    /// (Guided Grad-CAM), saliency, input-x-gradient or integrated-gradients.
    #[arg(long, default_value = "guided-backprop")]
    pixel_method: AnyPixel,
    /// Wrap the pixel method in SmoothGrad (5 noisy copies, noise stdev 1.0, seed 0).
    #[arg(long)]
    smooth_grad: bool,
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
    /// Images per forward/backward pass.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Colour map of the Grad-CAM row: jet, viridis, magma or gray.
    #[arg(long, default_value = "jet")]
    colormap: Colormap,
    /// Rendering of the signed rows: diverging, positive, abs or abs:<percentile>.
    #[arg(long, default_value = "diverging")]
    signed_style: SignedStyle,
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

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

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
    settings
}

/// The figure's method: the pixel method (smoothed if asked) times the CAM.
fn method(args: &Args) -> CamTimes<AnyCam, AnyPixel> {
    let pixel = if args.smooth_grad {
        args.pixel_method.clone().smoothed()
    } else {
        args.pixel_method.clone()
    };
    CamTimes::new(
        args.cam_method.clone().with_settings(cam_settings(args)),
        pixel,
    )
}

fn read_images(args: &Args) -> Result<Digits> {
    Ok(if args.images.is_dir() {
        Digits::from_image_dir(&args.images, args.resize)?
    } else {
        Digits::from_json_file(&args.images)?
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
    let device = args.backend.device();
    let (net, report) = load_weights(&args.weights, &device)?;
    for (key, dtype) in &report.converted {
        eprintln!(
            "note: {key} was {dtype} in {}, converted to f32",
            args.weights.display()
        );
    }
    let digits = read_images(args)?;
    let targets =
        parse_targets(&args.target, digits.len(), score)?.with_gradient(args.score_gradient);
    // Check the output location before computing anything.
    ensure_dir(&args.out)?;

    let progress =
        (digits.len() > args.batch_size).then(|| indicatif::ProgressBar::new(digits.len() as u64));
    let mut images = Vec::with_capacity(digits.len());
    for start in (0..digits.len()).step_by(args.batch_size) {
        let batch = digits
            .slice(start..start + args.batch_size)
            .ok_or("empty batch")?;
        let input = preprocess(&batch, &device);
        // One forward pass serves all maps when the pixel method allows it.
        let attributions = method.attribute(&net, input, &targets.narrow(start, batch.len()))?;
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
        let label = digits
            .labels()
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
        describe(&method.cam, &settings, score)
    );
    let (figure, svg) = render_figure(&digits, &images, &method, &title, args)?;
    let maps = serde_json::to_vec(&MapsFile::new(args, &method, score, &digits, &images)?)?;
    let panels = if args.panels {
        render_panels(&images, args)?
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

fn describe(cam: &AnyCam, settings: &CamSettings, score: Score) -> String {
    let combination = match settings.combination {
        Combination::PerChannelRelu => "Σ ReLU(αA)",
        Combination::ReluAfterSum => "ReLU(Σ αA)",
        Combination::Signed => "Σ αA",
    };
    let score = match score {
        Score::ModelOutput => "log-prob",
        Score::Logit => "logit",
        Score::Probability => "probability",
    };
    format!(
        "{cam}: {combination}, pad {}, {}, {score}",
        settings.upsampling.pad, settings.upsampling.interpolation
    )
}

fn map_ref(map: &Map) -> Result<MapRef<'_>> {
    Ok(MapRef::new(
        &map.values,
        map.width(),
        map.height() * map.shape[0],
    )?)
}

/// The pixel factor of a product (always present).
fn pixel(image: &ImageAttribution) -> Result<&Map> {
    Ok(image.pixel.as_ref().ok_or("a product has a pixel factor")?)
}

/// The figure as PNG and SVG.
fn render_figure(
    digits: &Digits,
    images: &[Explained],
    method: &CamTimes<AnyCam, AnyPixel>,
    title: &str,
    args: &Args,
) -> Result<(Vec<u8>, String)> {
    let shown = images.len().min(args.figure_columns.max(1));
    let mut figure = Figure::new(title)
        .row_titles([
            "Raw image".to_string(),
            Attribution::label(&method.cam),
            method.pixel.label(),
            method.label(),
        ])
        .colormap(args.colormap)
        .signed_style(args.signed_style);
    for (i, explained) in images[..shown].iter().enumerate() {
        let raw = MapRef::new(
            digits.image(i).ok_or("image index")?,
            IMAGE_SIDE,
            IMAGE_SIDE,
        )?;
        let image = &explained.image;
        let p = &image.prediction;
        let mut column = Column::new(
            raw,
            map_ref(&explained.shown_cam)?,
            map_ref(pixel(image)?)?,
            map_ref(&image.map)?,
        )?
        .prediction(p.predicted, p.probabilities[p.predicted]);
        if let Some(labels) = digits.labels() {
            column = column.truth(labels[i]);
        }
        figure.push_column(column);
    }
    Ok((figure.render_png()?, figure.render_svg()?))
}

fn render_panels(images: &[Explained], args: &Args) -> Result<Vec<(String, Vec<u8>)>> {
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
            panel_png(&signed(map_ref(pixel(image)?)?, args.signed_style, scale)?)?,
        ));
        panels.push((
            format!("image_{i}_attribution_cam.png"),
            panel_png(&signed(map_ref(&image.map)?, args.signed_style, scale)?)?,
        ));
    }
    Ok(panels)
}

/// `maps.json`: every raw map of every image, with what produced it.
#[derive(serde::Serialize)]
struct MapsFile<'a> {
    preset: String,
    method: String,
    cam: &'a AnyCam,
    pixel: &'a AnyPixel,
    score: Score,
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
        method: &'a CamTimes<AnyCam, AnyPixel>,
        score: Score,
        digits: &Digits,
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
                    label: digits.labels().map(|l| l[index]),
                    prediction: &image.prediction,
                    cam_layer: image.layer_cam.as_ref().ok_or(missing)?,
                    cam: image.cam.as_ref().ok_or(missing)?,
                    attribution: pixel(image)?,
                    attribution_cam: &image.map,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            preset: args.preset.to_string(),
            method: method.label(),
            cam: &method.cam,
            pixel: &method.pixel,
            score,
            score_gradient: args.score_gradient,
            backend: args.backend.to_string(),
            weights: &args.weights,
            images_source: &args.images,
            images,
        })
    }
}
