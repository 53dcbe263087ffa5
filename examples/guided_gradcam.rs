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
    CamCombination, CamMethod, ExplainConfig, Explainer, IntegratedGradientsConfig, Interpolation,
    Map, Method, PixelCamExplanation, PixelMethod, Preset, Score, SmoothGradConfig, Targets,
};
use burn_gradcam::model::{Digits, IMAGE_SIDE, load_weights, preprocess};
use burn_gradcam::output::{ensure_dir, write_atomic};
use burn_gradcam::viz::{
    Colormap, Column, Figure, MapRef, SignedStyle, heatmap, panel_png, signed,
};
use clap::{Parser, ValueEnum};

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
    cam_method: CamMethod,
    /// Pixel method of the third row (the fourth is its product with the CAM): guided-backprop
    /// (Guided Grad-CAM), saliency, input-x-gradient or integrated-gradients.
    #[arg(long, value_enum, default_value = "guided-backprop")]
    pixel_method: PixelArg,
    /// Wrap the pixel method in SmoothGrad (5 noisy copies, noise stdev 1.0, seed 0).
    #[arg(long)]
    smooth_grad: bool,
    /// Override the preset's channel combination.
    #[arg(long, value_enum)]
    relu: Option<ReluArg>,
    /// Override the preset's zero padding (cells per side) before resizing.
    #[arg(long)]
    pad: Option<usize>,
    /// Override the preset's resampling filter.
    #[arg(long, value_enum)]
    interpolation: Option<InterpolationArg>,
    /// Override the preset's score: the model output (log-probability), the logit or the
    /// softmax probability.
    #[arg(long, value_enum)]
    score: Option<ScoreArg>,
    /// `predicted`, or one class per image separated by commas (e.g. `3,1,4`).
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
    /// CPU backend to run on.
    #[arg(long, default_value_t = Backend::default())]
    backend: Backend,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PixelArg {
    GuidedBackprop,
    Saliency,
    InputXGradient,
    IntegratedGradients,
}

impl PixelArg {
    fn method(self) -> PixelMethod {
        match self {
            Self::GuidedBackprop => PixelMethod::GuidedBackprop,
            Self::Saliency => PixelMethod::Saliency { absolute: true },
            Self::InputXGradient => PixelMethod::InputXGradient,
            Self::IntegratedGradients => {
                PixelMethod::IntegratedGradients(IntegratedGradientsConfig::default())
            }
        }
    }

    /// Titles of the figure's third and fourth rows.
    fn row_titles(self, smooth: bool) -> [String; 2] {
        let name = Method::Pixel(self.method()).label();
        let name = if smooth {
            format!("SmoothGrad({name})")
        } else {
            name
        };
        let product = if self == Self::GuidedBackprop && !smooth {
            "Guided Grad-CAM".to_string()
        } else {
            format!("{name} ⊙ CAM")
        };
        [name, product]
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ReluArg {
    /// Σ_k ReLU(α_k·A_k), the seed's.
    PerChannel,
    /// ReLU(Σ_k α_k·A_k), the paper's.
    AfterSum,
    /// Σ_k α_k·A_k.
    Signed,
}

#[derive(Clone, Copy, ValueEnum)]
enum InterpolationArg {
    Bilinear,
    Nearest,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScoreArg {
    Output,
    Logit,
    Probability,
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    burn_gradcam::cli::exit_code(run(&Args::parse()))
}

fn config(args: &Args) -> ExplainConfig {
    let mut config = args.preset.config();
    config.method = args.cam_method;
    if let Some(relu) = args.relu {
        config.combination = match relu {
            ReluArg::PerChannel => CamCombination::PerChannelRelu,
            ReluArg::AfterSum => CamCombination::ReluAfterSum,
            ReluArg::Signed => CamCombination::Signed,
        };
    }
    if let Some(pad) = args.pad {
        config.upsampling.pad = pad;
    }
    if let Some(interpolation) = args.interpolation {
        config.upsampling.interpolation = match interpolation {
            InterpolationArg::Bilinear => Interpolation::Bilinear,
            InterpolationArg::Nearest => Interpolation::Nearest,
        };
    }
    if let Some(score) = args.score {
        config.score = match score {
            ScoreArg::Output => Score::ModelOutput,
            ScoreArg::Logit => Score::Logit,
            ScoreArg::Probability => Score::Probability,
        };
    }
    config
}

fn read_images(args: &Args) -> Result<Digits> {
    Ok(if args.images.is_dir() {
        Digits::from_image_dir(&args.images, args.resize)?
    } else {
        Digits::from_json_file(&args.images)?
    })
}

fn parse_targets(text: &str, count: usize) -> Result<Option<Vec<usize>>> {
    if text == "predicted" {
        return Ok(None);
    }
    let classes = text
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .map_err(|e| format!("--target: {c:?} is not a class number ({e})"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if classes.len() != count {
        return Err(format!(
            "--target gives {} classes for {count} images",
            classes.len()
        )
        .into());
    }
    Ok(Some(classes))
}

fn run(args: &Args) -> Result {
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    let config = config(args);
    let device = args.backend.device();
    let (net, report) = load_weights(&args.weights, &device)?;
    for (key, dtype) in &report.converted {
        eprintln!(
            "note: {key} was {dtype} in {}, converted to f32",
            args.weights.display()
        );
    }
    let digits = read_images(args)?;
    let targets = parse_targets(&args.target, digits.len())?;
    // Check the output location before computing anything.
    ensure_dir(&args.out)?;

    let explainer = Explainer::new(&net, config);
    let progress =
        (digits.len() > args.batch_size).then(|| indicatif::ProgressBar::new(digits.len() as u64));
    let mut images = Vec::with_capacity(digits.len());
    for start in (0..digits.len()).step_by(args.batch_size) {
        let batch = digits
            .slice(start..start + args.batch_size)
            .ok_or("empty batch")?;
        let batch_targets = match &targets {
            None => Targets::Predicted,
            Some(all) => Targets::Classes(all[start..start + batch.len()].to_vec()),
        };
        let input = preprocess(&batch, &device);
        if args.pixel_method == PixelArg::GuidedBackprop && !args.smooth_grad {
            // One forward pass serves all maps.
            let explanation = explainer.explain(input, &batch_targets)?;
            images.extend(
                explanation
                    .images
                    .into_iter()
                    .map(PixelCamExplanation::from),
            );
        } else {
            let smooth = args.smooth_grad.then(SmoothGradConfig::default);
            images.extend(explainer.explain_pixels(
                input,
                &batch_targets,
                &args.pixel_method.method(),
                smooth.as_ref(),
            )?);
        }
        if let Some(bar) = &progress {
            bar.inc(batch.len() as u64);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    for (i, image) in images.iter().enumerate() {
        let p = &image.prediction;
        let label = digits
            .labels()
            .map(|l| format!(", label {}", l[i]))
            .unwrap_or_default();
        println!(
            "image {i}: predicted {} (p = {:.4}), target {}{label}, max |{}| = {:.3e}",
            p.predicted,
            p.probabilities[p.predicted],
            p.target,
            args.pixel_method.row_titles(args.smooth_grad)[1],
            image.attribution_cam.max_abs()
        );
    }

    // Render everything before writing anything.
    let title = format!(
        "{} — preset {} ({})",
        args.pixel_method.row_titles(args.smooth_grad)[1],
        args.preset,
        describe(&config)
    );
    let (figure, svg) = render_figure(&digits, &images, &title, args)?;
    let maps = serde_json::to_vec(&MapsFile::new(args, config, &digits, &images))?;
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

fn describe(config: &ExplainConfig) -> String {
    let combination = match config.combination {
        CamCombination::PerChannelRelu => "Σ ReLU(αA)",
        CamCombination::ReluAfterSum => "ReLU(Σ αA)",
        CamCombination::Signed => "Σ αA",
    };
    let interpolation = match config.upsampling.interpolation {
        Interpolation::Bilinear => "bilinear",
        Interpolation::Nearest => "nearest",
    };
    let score = match config.score {
        Score::ModelOutput => "log-prob",
        Score::Logit => "logit",
        Score::Probability => "probability",
    };
    format!(
        "{}: {combination}, pad {}, {interpolation}, {score}",
        config.method, config.upsampling.pad
    )
}

fn map_ref(map: &Map) -> Result<MapRef<'_>> {
    Ok(MapRef::new(
        &map.values,
        map.width(),
        map.height() * map.shape[0],
    )?)
}

/// The figure as PNG and SVG.
fn render_figure(
    digits: &Digits,
    images: &[PixelCamExplanation],
    title: &str,
    args: &Args,
) -> Result<(Vec<u8>, String)> {
    let shown = images.len().min(args.figure_columns.max(1));
    let cams: Vec<Map> = images[..shown].iter().map(|i| i.cam.normalized()).collect();
    let [third, fourth] = args.pixel_method.row_titles(args.smooth_grad);
    let mut figure = Figure::new(title)
        .row_titles([
            "Raw image".to_string(),
            Method::Cam(args.cam_method).label(),
            third,
            fourth,
        ])
        .colormap(args.colormap)
        .signed_style(args.signed_style);
    for (i, (image, cam)) in images[..shown].iter().zip(&cams).enumerate() {
        let raw = MapRef::new(
            digits.image(i).ok_or("image index")?,
            IMAGE_SIDE,
            IMAGE_SIDE,
        )?;
        let p = &image.prediction;
        let mut column = Column::new(
            raw,
            map_ref(cam)?,
            map_ref(&image.attribution)?,
            map_ref(&image.attribution_cam)?,
        )?
        .prediction(p.predicted, p.probabilities[p.predicted]);
        if let Some(labels) = digits.labels() {
            column = column.truth(labels[i]);
        }
        figure.push_column(column);
    }
    Ok((figure.render_png()?, figure.render_svg()?))
}

fn render_panels(images: &[PixelCamExplanation], args: &Args) -> Result<Vec<(String, Vec<u8>)>> {
    let scale = Figure::DEFAULT_SCALE;
    let mut panels = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let cam = image.cam.normalized();
        panels.push((
            format!("image_{i}_grad_cam.png"),
            panel_png(&heatmap(map_ref(&cam)?, args.colormap, scale)?)?,
        ));
        panels.push((
            format!("image_{i}_attribution.png"),
            panel_png(&signed(
                map_ref(&image.attribution)?,
                args.signed_style,
                scale,
            )?)?,
        ));
        panels.push((
            format!("image_{i}_attribution_cam.png"),
            panel_png(&signed(
                map_ref(&image.attribution_cam)?,
                args.signed_style,
                scale,
            )?)?,
        ));
    }
    Ok(panels)
}

/// `maps.json`: every raw map of every image, with what produced it.
#[derive(serde::Serialize)]
struct MapsFile<'a> {
    preset: String,
    pixel_method: PixelMethod,
    smooth_grad: Option<SmoothGradConfig>,
    config: ExplainConfig,
    backend: String,
    weights: &'a Path,
    images_source: &'a Path,
    images: Vec<MapsEntry<'a>>,
}

#[derive(serde::Serialize)]
struct MapsEntry<'a> {
    index: usize,
    label: Option<u8>,
    #[serde(flatten)]
    explanation: &'a PixelCamExplanation,
}

impl<'a> MapsFile<'a> {
    fn new(
        args: &'a Args,
        config: ExplainConfig,
        digits: &Digits,
        images: &'a [PixelCamExplanation],
    ) -> Self {
        Self {
            preset: args.preset.to_string(),
            pixel_method: args.pixel_method.method(),
            smooth_grad: args.smooth_grad.then(SmoothGradConfig::default),
            config,
            backend: args.backend.to_string(),
            weights: &args.weights,
            images_source: &args.images,
            images: images
                .iter()
                .enumerate()
                .map(|(index, explanation)| MapsEntry {
                    index,
                    label: digits.labels().map(|l| l[index]),
                    explanation,
                })
                .collect(),
        }
    }
}
