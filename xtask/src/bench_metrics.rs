//! `cargo xtask bench-metrics`: images/second of the faithfulness metrics on the evaluation
//! digits, beside their Python peers (`tools/reference/bench_metrics.py`) when the venv exists.
//!
//! Both sides score the same first N digits with the same settings: Grad-CAM maps (and guided
//! backprop attributions for infidelity) are computed once, untimed; a pass is one metric over
//! all N images; the median of `--repeats` passes after a warm-up is reported.

use std::path::PathBuf;

use burn_gradcam::Backend;
use burn_gradcam::explain::{CamMethod, Explainer, Map, Method, PixelMethod, Preset, Score};
use burn_gradcam::metrics::{
    Baseline, CurveConfig, InfidelityConfig, ROAD_PERCENTILES, RoadConfig, SensitivityConfig,
    confidence_change, deletion_curves, infidelity, insertion_curves, method_maps, road_combined,
    sensitivity_max,
};
use burn_gradcam::model::{Digits, MNIST_MEAN, MNIST_STD, load_weights, preprocess};
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
    let device = args.backend.device();
    let (net, _) = load_weights("data/mnist_model.pth", &device)?;
    let digits = Digits::from_packed_file("data/eval_digits.bin.gz")?;
    let digits = digits
        .slice(0..args.images.min(digits.len()))
        .ok_or("no digits")?;
    let n = digits.len();
    let input = preprocess(&digits, &device);

    let mut log_probability = Preset::PytorchGradCam.config();
    log_probability.score = Score::ModelOutput;
    let mut probability = log_probability;
    probability.score = Score::Probability;
    let explainer = Explainer::new(&net, log_probability);
    let scorer = Explainer::new(&net, probability);
    let targets = predicted_classes(&explainer, &input)?;
    let cams = method_maps(
        &explainer,
        input.clone(),
        &targets,
        &Method::Cam(CamMethod::GradCam),
        256,
    )?;
    let guided = method_maps(
        &explainer,
        input.clone(),
        &targets,
        &Method::Pixel(PixelMethod::GuidedBackprop),
        256,
    )?;
    let curves = CurveConfig {
        baseline: Baseline::Constant((0.0 - MNIST_MEAN) / MNIST_STD),
        ..CurveConfig::default()
    };
    let normalized: Vec<Map> = cams.iter().map(Map::normalized).collect();

    let mut rust = Vec::new();
    for (metric, _) in METRICS {
        if !args.metrics.is_empty() && !args.metrics.iter().any(|m| m == metric) {
            continue;
        }
        let pass = || -> Result {
            let x = input.clone();
            match metric {
                "road_combined" => drop(road_combined(
                    &scorer,
                    x,
                    &targets,
                    &cams,
                    &ROAD_PERCENTILES,
                    &RoadConfig::default(),
                )?),
                "drop_in_confidence" => {
                    drop(confidence_change(&scorer, x, &targets, &normalized, 1024)?)
                }
                "infidelity" => drop(infidelity(
                    &explainer,
                    x,
                    &targets,
                    &guided,
                    &InfidelityConfig::default(),
                )?),
                "sensitivity_max_saliency" => drop(sensitivity_max(
                    &explainer,
                    x,
                    &targets,
                    &Method::Pixel(PixelMethod::Saliency { absolute: true }),
                    &SensitivityConfig::default(),
                )?),
                "deletion_insertion" => {
                    drop(deletion_curves(
                        &scorer,
                        x.clone(),
                        &targets,
                        &cams,
                        &curves,
                    )?);
                    drop(insertion_curves(&scorer, x, &targets, &cams, &curves)?);
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
