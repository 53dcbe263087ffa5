//! `cargo xtask bench-metrics`: images/second of the faithfulness metrics on the evaluation
//! digits, beside their Python peers (`tools/reference/bench_metrics.py`) when the venv exists.
//!
//! Both sides score the same first N digits with the same settings: Grad-CAM maps (and guided
//! backprop attributions for infidelity) are computed once, untimed; a pass is one metric over
//! all N images; the median of `--repeats` passes after a warm-up is reported.

use std::path::PathBuf;

use burn_gradcam::Backend;
use burn_gradcam::explain::{GradCam, GuidedBackprop, Map, Preset, Saliency, Score, normalize};
use burn_gradcam::metrics::{
    Baseline, CurveConfig, InfidelityConfig, ROAD_PERCENTILES, RoadConfig, Scorer,
    SensitivityConfig, confidence_change, deletion_curves, infidelity, insertion_curves,
    method_maps, road_combined, sensitivity_max,
};
use burn_gradcam::mnist::{Digits, MNIST_MEAN, MNIST_STD, load_weights, preprocess};
use serde::Serialize;

use crate::Result;
use crate::bench::{cpu_model, run_python_json, time_passes};
use crate::faithfulness::predicted_classes;

#[derive(clap::Args)]
pub struct BenchMetricsArgs {
    /// Evaluation digits per pass.
    #[arg(long, default_value_t = 200)]
    images: usize,
    /// Timed passes per metric (after one warm-up pass); the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Backend to run on.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Only these metrics (default: all): road_combined, drop_in_confidence, infidelity,
    /// sensitivity_max_saliency, deletion_insertion.
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
    /// Skip the Python peers even when their venv exists.
    #[arg(long)]
    no_peers: bool,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/bench/metrics.json")]
    json: PathBuf,
}

/// The metrics, named as `bench_metrics.py` names its peers.
const METRICS: [(&str, &str); 5] = [
    ("road_combined", "pytorch-grad-cam ROADCombined"),
    ("drop_in_confidence", "pytorch-grad-cam DropInConfidence"),
    ("infidelity", "Captum infidelity"),
    (
        "sensitivity_max_saliency",
        "Captum sensitivity_max(Saliency)",
    ),
    ("deletion_insertion", "torch transcription of RISE's curves"),
];

#[derive(Serialize)]
struct Measurement {
    metric: String,
    images_per_s: f64,
    runs: Vec<f64>,
}

#[derive(Serialize)]
struct Report {
    cpu: String,
    backend: String,
    images: usize,
    rust: Vec<Measurement>,
    peers: Option<serde_json::Value>,
}

pub fn run(args: &BenchMetricsArgs) -> Result {
    if args.repeats == 0 || args.images == 0 {
        return Err("--repeats and --images must be positive".into());
    }
    let device = args.backend.device()?;
    let (net, _) = load_weights("data/mnist_model.pth", &device)?;
    let digits = Digits::from_packed_file("data/eval_digits.bin.gz")?;
    let digits = digits
        .slice(0..args.images.min(digits.len()))
        .ok_or("no digits")?;
    let n = digits.len();
    let input = preprocess(&digits, &device);

    let log_probability = Scorer::new(&net, Score::ModelOutput);
    let probability = Scorer::new(&net, Score::Probability);
    let targets = predicted_classes(&net, &input)?;
    let grad_cam = GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
    let cams = method_maps(&net, &grad_cam, input.clone(), &targets, 256)?;
    let guided = method_maps(&net, &GuidedBackprop, input.clone(), &targets, 256)?;
    let curves =
        CurveConfig::new().with_baseline(Baseline::Constant((0.0 - MNIST_MEAN) / MNIST_STD));
    // pytorch-grad-cam multiplies the image by a map in [0, 1].
    let normalized = Map::from_batch(normalize(map_batch(&cams, &device)?))?;

    let mut rust = Vec::new();
    for (metric, _) in METRICS {
        if !args.metrics.is_empty() && !args.metrics.iter().any(|m| m == metric) {
            continue;
        }
        // A pass includes the metric's clean forward pass, as the peers' do.
        let pass = || -> Result {
            let x = input.clone();
            match metric {
                "road_combined" => drop(road_combined(
                    &probability.prepare(x, &targets)?,
                    &cams,
                    &ROAD_PERCENTILES,
                    &RoadConfig::new(),
                )?),
                "drop_in_confidence" => drop(confidence_change(
                    &probability.prepare(x, &targets)?,
                    &normalized,
                )?),
                "infidelity" => drop(infidelity(
                    &log_probability.prepare(x, &targets)?,
                    &guided,
                    &InfidelityConfig::new(),
                )?),
                "sensitivity_max_saliency" => drop(sensitivity_max(
                    &log_probability.prepare(x, &targets)?,
                    &Saliency::new(),
                    &SensitivityConfig::new(),
                )?),
                "deletion_insertion" => {
                    let batch = probability.prepare(x, &targets)?;
                    drop(deletion_curves(&batch, &cams, &curves)?);
                    drop(insertion_curves(&batch, &cams, &curves)?);
                }
                other => return Err(format!("unknown metric {other}").into()),
            }
            Ok(())
        };
        let (images_per_s, runs) = time_passes(args.repeats, n, pass)?;
        let m = Measurement {
            metric: metric.to_owned(),
            images_per_s,
            runs,
        };
        eprintln!("{:26} {:10.1} images/s", m.metric, m.images_per_s);
        rust.push(m);
    }

    let peers = if args.no_peers {
        None
    } else {
        run_python_json(
            "tools/reference/bench_metrics.py",
            &[
                "--images".to_owned(),
                n.to_string(),
                "--repeats".to_owned(),
                args.repeats.to_string(),
                "--metrics".to_owned(),
                rust.iter()
                    .map(|m| m.metric.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ],
        )?
    };
    print_table(&rust, peers.as_ref(), args.backend, n);
    let report = Report {
        cpu: cpu_model(),
        backend: args.backend.name().to_owned(),
        images: n,
        rust,
        peers,
    };
    if let Some(dir) = args.json.parent() {
        burn_gradcam::output::ensure_dir(dir)?;
    }
    burn_gradcam::output::write_atomic(&args.json, &serde_json::to_vec_pretty(&report)?)?;
    println!("\nwrote {}", args.json.display());
    Ok(())
}

/// The peer's best thread setting for one metric: images/s and threads.
fn best_peer(peers: &serde_json::Value, metric: &str) -> Option<(f64, u64)> {
    peers["results"]
        .as_array()?
        .iter()
        .filter(|r| r["metric"] == metric)
        .filter_map(|r| Some((r["images_per_s"].as_f64()?, r["threads"].as_u64()?)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

fn print_table(
    rust: &[Measurement],
    peers: Option<&serde_json::Value>,
    backend: Backend,
    n: usize,
) {
    println!("\n{n} digits per pass, {backend}; peers: best of 1 and 2 threads.\n");
    println!("| metric | burn-gradcam (img/s) | peer | peer (img/s) | ratio |");
    println!("|---|---|---|---|---|");
    for m in rust {
        let peer = METRICS
            .iter()
            .find(|(name, _)| *name == m.metric)
            .map_or("", |(_, peer)| peer);
        match peers.and_then(|p| best_peer(p, &m.metric)) {
            Some((speed, threads)) => println!(
                "| {} | {:.0} | {peer} ({threads} thr) | {speed:.1} | {:.2}× |",
                m.metric,
                m.images_per_s,
                m.images_per_s / speed
            ),
            None => println!("| {} | {:.0} | {peer} | – | – |", m.metric, m.images_per_s),
        }
    }
}

/// Host maps of one shape as a batch `[N, C, H, W]` on `device`.
pub(crate) fn map_batch(
    maps: &[Map],
    device: &burn::tensor::Device,
) -> Result<burn::tensor::Tensor<4>> {
    let [c, h, w] = maps.first().ok_or("no maps")?.shape;
    let values: Vec<f32> = maps.iter().flat_map(|m| m.values.iter().copied()).collect();
    Ok(burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values, [maps.len(), c, h, w]),
        device,
    ))
}
