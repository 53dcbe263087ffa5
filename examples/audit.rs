//! Explain a whole dataset: `cargo run --release --example audit -- run --out runs/digits`
//! explains the 2,500 bundled evaluation digits with the MNIST net; `--model resnet18 --weights
//! resnet18.pth --images val/ --resize` an ImageNet-style folder. Outputs: `run.json`,
//! `maps/chunk-*.safetensors`, `index/chunk-*.parquet`; `merge <out>` joins the index into one
//! `index.parquet` once every shard is done; `report <out>` (or `run --report`) the HTML report
//! `report.html`, with `--overlays` one PNG per map. `--help` lists the flags.

#[path = "common/network.rs"]
mod network;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use burn_gradcam::Backend;
use burn_gradcam::audit::{
    AuditConfig, Boxes, MapDtype, MethodSpec, Progress, Records, Region, Shard, Summary,
    TargetClass, audit, merge,
};
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{Preset, Score, Targets};
use burn_gradcam::mnist::Digits;
use burn_gradcam::networks::NetworkName;
use burn_gradcam::output::exit_code;
use burn_gradcam::report::{ReportConfig, write_overlays, write_report};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use network::NetworkArgs;

#[derive(Parser)]
#[command(about = "Explain a whole image dataset: streaming, resumable, sharded")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain a dataset (or this process's shard of it) into an output directory.
    Run(Box<RunArgs>),
    /// Check that every shard of a run has finished and write its whole index as
    /// `<dir>/index.parquet`.
    Merge {
        /// The run's directory.
        dir: PathBuf,
    },
    /// Write a run's HTML report (`<dir>/report.html`: classes, galleries, misclassified
    /// images, the index as a sortable table) and, with --overlays, one PNG per map.
    Report(ReportArgs),
}

/// Where a run's images are: the images of `run` again for `report`.
#[derive(clap::Args)]
struct DatasetArgs {
    /// The images: a directory or a list file (see --layout). Default for mnist: the 2,500
    /// bundled evaluation digits; fashion-resnet: data/fashion; fashion-canvas:
    /// data/fashion_canvas/labels.txt.
    #[arg(long)]
    images: Option<PathBuf>,
    /// How --images is laid out.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    layout: Layout,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// The run's directory.
    dir: PathBuf,
    /// The network the run explained (for its bundled images).
    #[arg(long, default_value = "mnist")]
    model: NetworkName,
    #[command(flatten)]
    dataset: DatasetArgs,
    #[command(flatten)]
    pictures: PictureArgs,
}

/// What the report shows.
#[derive(clap::Args)]
struct PictureArgs {
    /// Images per class in the report's class grids.
    #[arg(long, default_value = "8")]
    per_class: usize,
    /// Misclassified images in the report.
    #[arg(long, default_value = "24")]
    misclassified: usize,
    /// The largest side of a picture, in pixels.
    #[arg(long, default_value = "112")]
    side: u32,
    /// Also write one overlay PNG per image and method to <dir>/overlays.
    #[arg(long)]
    overlays: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Layout {
    /// A list file is a list, a directory with class subdirectories a class-per-folder
    /// dataset, any other directory a flat folder; for mnist, `.bin.gz` packed digits and
    /// `.json` image JSON.
    Auto,
    /// Class-per-folder (torchvision's `ImageFolder`): labels from the subdirectories.
    Folder,
    /// Every image below the directory, unlabelled.
    Flat,
    /// A list file: `path` or `path,label` per line.
    List,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Ground-truth boxes, a CSV `path,y0,x0,y1,x1` (pixels of the image file, half-open;
    /// paths relative to the CSV): the index then records each map's pointing game, energy
    /// pointing game, relevance mass and rank accuracy and box IoU. Default for
    /// fashion-canvas on its bundled images: data/fashion_canvas/boxes.csv.
    #[arg(long)]
    boxes: Option<PathBuf>,
    /// Methods, comma-separated: CAMs, pixel methods, guided-grad-cam or <cam>*<pixel>. A CAM
    /// or pixel method that a product also computes costs nothing more.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "guided-grad-cam,grad-cam,guided-backprop"
    )]
    methods: Vec<MethodSpec>,
    /// Named CAM settings and score: seed, paper, captum or pytorch-grad-cam.
    #[arg(long, default_value = "pytorch-grad-cam")]
    preset: Preset,
    /// Override the preset's score: output, logit or probability.
    #[arg(long)]
    score: Option<Score>,
    /// The class explained: predicted, label (each image's label) or a class number.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Input normalisation (default: the model's).
    #[arg(long)]
    normalize: Option<Normalization>,
    /// Resize images of another size to the model's input instead of failing them.
    #[arg(long)]
    resize: bool,
    /// Images per forward/backward pass.
    #[arg(long, default_value = "16")]
    batch_size: NonZeroUsize,
    /// Images per output chunk, the unit of resuming (default: at most 64 MiB of maps and 512
    /// images).
    #[arg(long)]
    chunk_images: Option<NonZeroUsize>,
    /// Map storage: f32 or f16.
    #[arg(long, default_value = "f32")]
    dtype: MapDtype,
    /// A box `y0,x0,y1,x1` (fractions of the image) whose share of each map the index records.
    #[arg(long)]
    region: Option<Region>,
    /// This process's share, `K/N` (from 0). Default: the job array's (SLURM_ARRAY_TASK_ID,
    /// JOB_COMPLETION_INDEX with --shards), else the whole dataset.
    #[arg(long)]
    shard: Option<Shard>,
    /// Shards in all, for a Kubernetes Indexed Job (its completions).
    #[arg(long)]
    shards: Option<usize>,
    /// Threads decoding images (default: every core).
    #[arg(long)]
    workers: Option<NonZeroUsize>,
    /// Continue the run in --out where it stopped.
    #[arg(long)]
    resume: bool,
    /// Stop at the first image that cannot be read or explained.
    #[arg(long)]
    strict: bool,
    /// Backend to run on.
    #[arg(long, default_value_t = Backend::default())]
    backend: Backend,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Write the HTML report when the run is done (see `report`).
    #[arg(long)]
    report: bool,
    #[command(flatten)]
    pictures: PictureArgs,
}

/// The bundled localisation set's list and boxes.
const FASHION_CANVAS_LIST: &str = "data/fashion_canvas/labels.txt";
const FASHION_CANVAS_BOXES: &str = "data/fashion_canvas/boxes.csv";

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    exit_code(match Cli::parse().command {
        Command::Run(args) => run(&args),
        Command::Merge { dir } => merge(&dir)
            .map(|merged| {
                println!(
                    "{} rows from {} chunks in {}",
                    merged.rows,
                    merged.chunks,
                    merged.index.display()
                );
            })
            .map_err(Into::into),
        Command::Report(args) => records(args.model, &args.dataset)
            .and_then(|records| write_pictures(&args.dir, &records, &args.pictures)),
    })
}

/// The report of the run in `dir`, and its overlays if asked for.
fn write_pictures(dir: &Path, records: &Records, args: &PictureArgs) -> Result {
    let config = ReportConfig {
        per_class: args.per_class,
        misclassified: args.misclassified,
        side: args.side,
        ..ReportConfig::default()
    };
    let report = write_report(dir, records, &config)?;
    println!(
        "report: {} ({} rows, {} pictures, {:.1} MB)",
        report.path.display(),
        report.rows,
        report.pictures,
        report.bytes as f64 / 1e6
    );
    if args.overlays {
        let out = dir.join("overlays");
        let written = write_overlays(dir, records, &out, args.side)?;
        println!("overlays: {written} PNG files in {}", out.display());
    }
    Ok(())
}

/// The dataset at `--images` as `--layout` says.
fn records(model: NetworkName, args: &DatasetArgs) -> Result<Records> {
    let default = match model {
        NetworkName::Mnist => Some("data/eval_digits.bin.gz"),
        NetworkName::FashionResnet => Some("data/fashion"),
        NetworkName::FashionCanvas => Some(FASHION_CANVAS_LIST),
        _ => None,
    };
    let path = match (&args.images, default) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => PathBuf::from(path),
        (None, None) => return Err(format!("--images is needed for {model}").into()),
    };
    let name = path.to_string_lossy();
    let layout = match args.layout {
        Layout::Auto if path.is_file() => {
            if model == NetworkName::Mnist && (name.ends_with(".gz") || name.ends_with(".json")) {
                return digits(&path);
            }
            Layout::List
        }
        Layout::Auto if has_subdirectories(&path) => Layout::Folder,
        Layout::Auto => Layout::Flat,
        layout => layout,
    };
    Ok(match layout {
        Layout::Folder => Records::image_folder(&path)?,
        Layout::List => Records::list_file(&path)?,
        Layout::Flat | Layout::Auto => Records::flat_folder(&path)?,
    })
}

/// MNIST digits held in a packed or image-JSON file, with their labels.
fn digits(path: &Path) -> Result<Records> {
    let digits = if path.extension().is_some_and(|e| e == "json") {
        Digits::from_json_file(path)?
    } else {
        Digits::from_packed_file(path)?
    };
    let labels = digits.labels().map(<[u8]>::to_vec);
    let images = (0..digits.len()).map(|i| {
        (
            digits.image(i).unwrap_or_default().to_vec(),
            labels.as_ref().map(|l| usize::from(l[i])),
        )
    });
    Ok(Records::in_memory(&path.to_string_lossy(), images, None))
}

fn has_subdirectories(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().any(|e| e.path().is_dir()))
}

fn run(args: &RunArgs) -> Result {
    let device = args.backend.device()?;
    let (network, _) = args.network.load(&device)?;
    let records = records(args.network.model, &args.dataset)?;
    let boxes = match (&args.boxes, args.network.model, &args.dataset.images) {
        (Some(path), _, _) => Some(Boxes::from_csv(path)?),
        (None, NetworkName::FashionCanvas, None) => {
            Some(Boxes::from_csv(FASHION_CANVAS_BOXES.as_ref())?)
        }
        _ => None,
    };
    let classes: Option<Vec<String>> = records.classes().map(<[String]>::to_vec).or_else(|| {
        args.network
            .model
            .class_names()
            .map(|names| names.iter().map(|n| (*n).to_owned()).collect())
    });
    let shard = match args.shard {
        Some(shard) => shard,
        None => Shard::from_env(args.shards)?.unwrap_or_default(),
    };
    let model = format!(
        "{} ({}, {})",
        args.network.model,
        network.weights().display(),
        network.layer()
    );
    let mut config = AuditConfig::new(model, args.methods.clone());
    config.cam_settings = args.preset.cam_settings();
    config.score = Targets::predicted().with_score(args.score.unwrap_or(args.preset.score()));
    config.target = match args.target.as_str() {
        "predicted" => TargetClass::Predicted,
        "label" => TargetClass::Label,
        class => TargetClass::Class(class.parse().map_err(|_| {
            format!("--target `{class}`: expected predicted, label or a class number")
        })?),
    };
    config.normalization = args.normalize.unwrap_or(args.network.model.normalization());
    config.resize = args.resize;
    config.batch_size = args.batch_size.get();
    config.chunk_images = args.chunk_images.map(NonZeroUsize::get);
    config.dtype = args.dtype;
    config.region = args.region;
    config.boxes = boxes;
    config.shard = shard;
    if let Some(workers) = args.workers {
        config.workers = workers.get();
    }
    config.strict = args.strict;
    config.resume = args.resume;

    let bar = ProgressBar::hidden();
    let mut on_progress = |event: &Progress| match *event {
        Progress::Started {
            images,
            done,
            chunks,
        } => {
            println!(
                "shard {shard}: {images} images in {} chunks, {done} already done ({} chunks)",
                chunks.0, chunks.1
            );
            bar.set_length((images - done) as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} images, {per_sec}, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(500));
        }
        Progress::Batch { images, failed } => {
            bar.inc(images as u64);
            if failed > 0 {
                bar.set_message(format!("({failed} failed in the last batch)"));
            }
        }
        Progress::Chunk { .. } => {}
    };
    let summary = audit(
        network.explainable(),
        &records,
        classes.as_deref(),
        &config,
        &args.out,
        &mut on_progress,
    )?;
    bar.finish_and_clear();
    report(&summary);
    if args.report {
        write_pictures(&args.out, &records, &args.pictures)?;
    }
    Ok(())
}

fn report(summary: &Summary) {
    println!(
        "{} images ({} explained, {} failed) in {:.1} s: {:.1} images/s; {} chunks written to {}{}",
        summary.images,
        summary.explained,
        summary.failed(),
        summary.wall.as_secs_f64(),
        summary.images_per_second(),
        summary.chunks_written,
        summary.dir.display(),
        if summary.resumed > 0 {
            format!(" ({} images done before)", summary.resumed)
        } else {
            String::new()
        }
    );
    if summary.localised > 0 {
        println!("  with a ground-truth box: {}", summary.localised);
    }
    for (reason, count) in &summary.failures {
        println!("  failed ({reason}): {count}");
    }
}
