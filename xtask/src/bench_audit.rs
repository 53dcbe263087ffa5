//! `cargo xtask bench-audit`: the dataset audit streaming from disk (decode and resize
//! included) beside the same method on the same images already on the device, in one process.
//!
//! The images are made once under `target/bench-audit/`: the committed photos (or digits),
//! cropped, flipped and brightened differently each, saved as JPEG (or PNG) a little larger
//! than the network's input, so that every image is decoded and resized.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Tensor;
use burn_gradcam::Backend;
use burn_gradcam::audit::{AuditConfig, MethodSpec, Records, audit};
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{Attribution, Explainable, Targets};
use burn_gradcam::mnist::{Digits, load_weights};
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use clap::{Args, ValueEnum};
use image::imageops::FilterType;

use crate::Result;
use crate::bench::{cpu_model, median, peak_rss_mib, seeded};

/// Flags of `cargo xtask bench-audit`.
#[derive(Args)]
pub struct BenchAuditArgs {
    /// The network: resnet18 (seeded weights, 224×224 RGB from 256×256 JPEGs) or mnist (the
    /// seed's CNN, 28×28 grey from 32×32 PNGs).
    #[arg(long, value_enum, default_value = "resnet18")]
    model: AuditModel,
    /// Images in the dataset.
    #[arg(long, default_value_t = 2000)]
    images: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// The method, by its audit name.
    #[arg(long, default_value = "guided-grad-cam")]
    method: MethodSpec,
    /// Backend to run on.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Timed passes of each (in memory, streaming), alternated; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Threads decoding images in the audit (default: every core).
    #[arg(long)]
    workers: Option<usize>,
    /// Only the streaming audit, then this process's peak RSS: run it at two dataset sizes to
    /// see that memory does not grow with the dataset.
    #[arg(long)]
    stream_only: bool,
}

/// The networks of the audit benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditModel {
    /// The seed's MNIST CNN.
    Mnist,
    /// torchvision's ResNet-18 with the benchmark's seeded weights.
    Resnet18,
}

impl AuditModel {
    fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Resnet18 => "resnet18",
        }
    }
}

/// Writes (once) `count` image files for `model` and returns their directory.
pub fn dataset(model: AuditModel, count: usize) -> Result<PathBuf> {
    let dir = PathBuf::from(format!("target/bench-audit/{}-{count}", model.name()));
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    let sources: Vec<image::DynamicImage> = match model {
        AuditModel::Resnet18 => ["astronaut", "chelsea", "coffee"]
            .iter()
            .map(|name| image::open(format!("data/images/{name}.png")))
            .collect::<std::result::Result<_, _>>()?,
        AuditModel::Mnist => {
            let digits = Digits::from_packed_file("data/eval_digits.bin.gz")?;
            (0..digits.len())
                .filter_map(|i| digits.to_grey_image(i).map(image::DynamicImage::from))
                .collect()
        }
    };
    let (grown, side) = match model {
        AuditModel::Resnet18 => (288, 256),
        AuditModel::Mnist => (36, 32),
    };
    for i in 0..count {
        let source = &sources[i % sources.len()];
        // A different crop, flip and brightness per image, from its number.
        let mixed = (i as u32).wrapping_mul(2_654_435_761);
        let (x, y) = (mixed % (grown - side), (mixed >> 8) % (grown - side));
        let mut image = source
            .resize_exact(grown, grown, FilterType::Triangle)
            .crop_imm(x, y, side, side);
        if mixed & 1 == 1 {
            image = image.fliph();
        }
        let image = image.brighten((mixed >> 16) as i32 % 41 - 20);
        match model {
            AuditModel::Resnet18 => image.to_rgb8().save_with_format(
                dir.join(format!("img_{i:06}.jpg")),
                image::ImageFormat::Jpeg,
            )?,
            AuditModel::Mnist => image
                .to_luma8()
                .save_with_format(dir.join(format!("img_{i:06}.png")), image::ImageFormat::Png)?,
        }
    }
    std::fs::write(&done, b"")?;
    Ok(dir)
}

fn network(model: AuditModel, backend: Backend) -> Result<(Box<dyn Explainable>, Normalization)> {
    let device = backend.device()?;
    Ok(match model {
        AuditModel::Mnist => {
            let (net, _) = load_weights("data/mnist_model.pth", &device)?;
            (Box::new(net), Normalization::Mnist)
        }
        AuditModel::Resnet18 => {
            // The `bench` command's weights: the generator's, seed 18.
            let config = ResNetConfig::resnet18();
            let weights = seeded::seeded_safetensors(&config.state_dict_keys(), 18);
            let (net, _) = ResNet::load(config, weights.path(), &device)?;
            (Box::new(net), Normalization::ImageNet)
        }
    })
}

/// The body of `cargo xtask bench-audit`.
pub fn run(args: &BenchAuditArgs) -> Result {
    let dir = dataset(args.model, args.images)?;
    let (net, normalization) = network(args.model, args.backend)?;
    let records = Records::flat_folder(&dir)?;
    let [channels, height, width] = net.input_shape();

    if args.stream_only {
        let rate = stream_pass(args, net.as_ref(), &records, normalization)?;
        println!(
            "{} {} batch {}, {} images streamed: {rate:.1} images/s, peak RSS {:.1} MiB",
            args.model.name(),
            args.method.name(),
            args.batch,
            args.images,
            peak_rss_mib().ok_or("no VmHWM in /proc/self/status")?
        );
        return Ok(());
    }

    // In memory: the images decoded and normalised beforehand, on the device, as `bench` has
    // them; each batch explained and read to the host.
    let paths: Vec<PathBuf> = records.records().iter().map(|r| r.path.clone()).collect();
    let images = Images::from_files(&paths, channels, [height, width], true)?;
    let input = images.to_tensor(normalization, &net.device());
    let method = args.method.method().clone();
    let in_memory = || -> Result<f64> {
        let start = Instant::now();
        for first in (0..args.images).step_by(args.batch) {
            let count = args.batch.min(args.images - first);
            let batch: Tensor<4> = input.clone().narrow(0, first, count);
            drop(
                method
                    .attribute(net.as_ref(), batch, &Targets::predicted())?
                    .to_host()?,
            );
        }
        Ok(args.images as f64 / start.elapsed().as_secs_f64())
    };

    let streaming = || stream_pass(args, net.as_ref(), &records, normalization);

    // A warm-up batch, then the passes alternated so that drift hits both alike.
    drop(
        method
            .attribute(
                net.as_ref(),
                input.clone().narrow(0, 0, args.batch.min(args.images)),
                &Targets::predicted(),
            )?
            .to_host()?,
    );
    let (mut memory_runs, mut stream_runs) = (Vec::new(), Vec::new());
    for _ in 0..args.repeats.max(1) {
        memory_runs.push(in_memory()?);
        stream_runs.push(streaming()?);
    }
    let (memory, stream) = (median(&memory_runs), median(&stream_runs));
    println!(
        "{} {} batch {} on {} ({}, {} threads), {} images from {}:",
        args.model.name(),
        args.method.name(),
        args.batch,
        args.backend,
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.images,
        dir.display()
    );
    println!("| | images/s (median) | passes |");
    println!("|---|---|---|");
    println!(
        "| in memory (on the device) | {memory:.1} | {} |",
        runs(&memory_runs)
    );
    println!(
        "| streaming from disk (audit) | {stream:.1} | {} |",
        runs(&stream_runs)
    );
    println!("streaming / in memory: {:.1} %", 100.0 * stream / memory);
    Ok(())
}

fn runs(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One streaming audit of the dataset into a fresh directory: its images/s.
fn stream_pass(
    args: &BenchAuditArgs,
    net: &dyn Explainable,
    records: &Records,
    normalization: Normalization,
) -> Result<f64> {
    let mut config = AuditConfig::new(args.model.name(), vec![args.method.clone()]);
    config.normalization = normalization;
    config.resize = true;
    config.batch_size = args.batch;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    let out = tempfile::tempdir_in("target")?;
    let summary = audit(
        net,
        records,
        None,
        &config,
        &out.path().join("run"),
        &mut |_| {},
    )?;
    if summary.failed() > 0 {
        return Err(format!("{} images failed: {:?}", summary.failed(), summary.failures).into());
    }
    Ok(summary.images_per_second())
}
