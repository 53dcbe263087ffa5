//! `cargo xtask faithfulness`: every metric for every method over the evaluation digits, and the
//! model-randomisation sanity check, written as a Markdown and a JSON report with the sanity
//! plot (PNG and SVG).
//!
//! Maps come from the pytorch-grad-cam preset (CAMs min-max normalised to `[0, 1]`) with the
//! model-output (log-probability) score, as the peers' defaults. Scores: the target's softmax
//! probability for the curves, ROAD and the confidence change (pytorch-grad-cam's
//! `ClassifierOutputSoftmaxTarget`, RISE); the log-probability for infidelity (Captum's
//! `forward_func = model`). A random map (uniform noise) is the floor every method should beat.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Tensor;
use burn_gradcam::Backend;
use burn_gradcam::explain::{
    AnyPixel, Attribution, CamSettings, Explainable, Map, Method, Predictions, Preset, Score,
    Targets, noise, normalize,
};
use burn_gradcam::metrics::{
    Baseline, Batch, CurveConfig, InfidelityConfig, ROAD_PERCENTILES, Randomization, RoadConfig,
    SanityConfig, SanityCurve, Scorer, SensitivityConfig, confidence_change, deletion_curves,
    infidelity, insertion_curves, method_maps, model_randomization, road_combined, sensitivity_max,
};
use burn_gradcam::mnist::{Digits, MNIST_MEAN, MNIST_STD, load_weights, preprocess};
use burn_gradcam::output::{ensure_dir, write_atomic};
use burn_gradcam::viz::{ChartFigure, LineChart, Series};
use serde::Serialize;

use crate::Result;

#[derive(clap::Args)]
pub struct FaithfulnessArgs {
    /// Evaluation digits to score (the first N of `data/eval_digits.bin.gz`, up to 2,500).
    #[arg(long, default_value_t = 2500)]
    limit: usize,
    /// Digits in the model-randomisation sanity check (the first N of those scored).
    #[arg(long, default_value_t = 500)]
    sanity_limit: usize,
    /// Seed of every perturbation, of the random baseline and of the re-initialised layers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Backend to run on.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Directory for report.md, report.json and the sanity figures (sanity_check*.png, .svg).
    #[arg(long, default_value = "output/faithfulness")]
    out_dir: PathBuf,
    /// PyTorch state dict of the network.
    #[arg(long, default_value = "data/mnist_model.pth")]
    weights: PathBuf,
    /// Packed digits to score.
    #[arg(long, default_value = "data/eval_digits.bin.gz")]
    digits: PathBuf,
    /// Only these methods, by registry name (`grad-cam,deep-lift`; `guided-grad-cam` for the
    /// product); default: every one. The random map is always scored.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
}

/// The CAM settings of every map: pytorch-grad-cam's (CAMs min-max normalised to `[0, 1]`).
fn cam_settings() -> CamSettings {
    Preset::PytorchGradCam.cam_settings()
}

/// The evaluated methods, in report order: every registered CAM, every registered pixel method,
/// Guided Grad-CAM (the registry's, [`Method::all`]).
fn methods() -> Vec<Method> {
    Method::all(cam_settings())
        .into_iter()
        .map(|method| match method {
            // Bounded memory: 4096 path points per pass.
            Method::Pixel(AnyPixel::IntegratedGradients(integrated)) => Method::Pixel(
                AnyPixel::IntegratedGradients(integrated.with_internal_batch_size(Some(4096))),
            ),
            other => other,
        })
        .collect()
}

/// A method's registry name (`guided-grad-cam` for the product).
fn name_of(method: &Method) -> &'static str {
    match method {
        Method::Cam(cam) => cam.name(),
        Method::Pixel(pixel) => pixel.name(),
        Method::Product(_) => "guided-grad-cam",
    }
}

/// The methods `names` selects (all when it is empty), refusing a name no method has.
fn selected(names: &[String]) -> Result<Vec<Method>> {
    let all = methods();
    if let Some(unknown) = names
        .iter()
        .find(|name| !all.iter().any(|m| name_of(m) == name.as_str()))
    {
        let known: Vec<&str> = all.iter().map(name_of).collect();
        return Err(format!(
            "--methods: no method {unknown} (known: {})",
            known.join(", ")
        )
        .into());
    }
    Ok(all
        .into_iter()
        .filter(|m| names.is_empty() || names.iter().any(|name| name == name_of(m)))
        .collect())
}

/// One row of the metrics table.
#[derive(Serialize)]
struct MethodScores {
    method: String,
    deletion_auc: f32,
    insertion_auc: f32,
    road_combined: f32,
    road_morf: f32,
    road_lerf: f32,
    drop_in_confidence: f32,
    increase_in_confidence: f32,
    infidelity: f32,
    /// `None` for the random baseline, which has no explanation to perturb.
    max_sensitivity: Option<f32>,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    images: usize,
    sanity_images: usize,
    backend: String,
    seed: u64,
    settings: Settings,
    methods: Vec<MethodScores>,
    /// The methods that gave no maps, with the reason (the run goes on without them).
    not_scored: Vec<NotScored>,
    sanity: Vec<SanityCurve>,
}

/// A method the report could not score.
#[derive(Serialize)]
struct NotScored {
    method: String,
    reason: String,
}

#[derive(Serialize)]
struct Settings {
    cam: CamSettings,
    score: Score,
    curves: CurveConfig,
    road: RoadConfig,
    road_percentiles: Vec<f32>,
    infidelity: InfidelityConfig,
    sensitivity: SensitivityConfig,
    sanity: SanityConfig,
}

pub fn run(args: &FaithfulnessArgs) -> Result {
    let started = Instant::now();
    let device = args.backend.device()?;
    let (net, _) = load_weights(&args.weights, &device)?;
    let digits = Digits::from_packed_file(&args.digits)?;
    let count = args.limit.clamp(1, digits.len());
    let digits = digits
        .slice(0..count)
        .ok_or("the evaluation digits could not be sliced")?;
    let input = preprocess(&digits, &device);
    let sanity_count = args.sanity_limit.clamp(1, count);

    let black = (0.0 - MNIST_MEAN) / MNIST_STD;
    let settings = Settings {
        cam: cam_settings(),
        score: Score::ModelOutput,
        curves: CurveConfig::new().with_baseline(Baseline::Constant(black)),
        road: RoadConfig::new().with_seed(args.seed),
        road_percentiles: ROAD_PERCENTILES.to_vec(),
        infidelity: InfidelityConfig::new().with_seed(args.seed),
        sensitivity: SensitivityConfig::new().with_seed(args.seed),
        sanity: SanityConfig::new().with_seed(args.seed),
    };

    // The model-output score explains; the clean images run once, and each metric scores the
    // prepared batch with the peers' score (the probability, or the log-probability for
    // Captum's infidelity and max-sensitivity).
    let targets = predicted_classes(&net, &input)?.with_score(settings.score);
    let by_probability = Scorer::new(&net, Score::Probability).prepare(input.clone(), &targets)?;
    let by_log_probability = by_probability.with_score(Score::ModelOutput)?;

    let mut rows = Vec::new();
    let mut not_scored = Vec::new();
    let mut methods = selected(&args.methods)?;
    // A method that cannot explain this score (Ablation-CAM divides by the clean score, 0 for a
    // certain prediction's log-probability) is reported with its reason; the others go on.
    let mut scored = Vec::new();
    for method in methods.drain(..) {
        let clock = Instant::now();
        let maps = match method_maps(&net, &method, input.clone(), &targets, 250) {
            Ok(maps) => maps,
            Err(error) => {
                println!("{:<22} not scored: {error}", method.label());
                not_scored.push(NotScored {
                    method: method.label(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let mut row = score_maps(
            &by_probability,
            &by_log_probability,
            &settings,
            &maps,
            &method.label(),
        )?;
        row.max_sensitivity = Some(mean(&sensitivity_max(
            &by_log_probability,
            &method,
            &settings.sensitivity,
        )?));
        row.seconds = clock.elapsed().as_secs_f64();
        println!("{:<22} {:>6.1} s", row.method, row.seconds);
        rows.push(row);
        scored.push(method);
    }
    let methods = scored;
    let clock = Instant::now();
    let random: Vec<Map> = (0..count)
        .map(|i| {
            Map::new(
                [1, 28, 28],
                noise::uniform(784, 1.0, args.seed ^ (i as u64 + 1) << 8),
            )
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut row = score_maps(
        &by_probability,
        &by_log_probability,
        &settings,
        &random,
        "Random map",
    )?;
    row.seconds = clock.elapsed().as_secs_f64();
    rows.push(row);

    let clock = Instant::now();
    let sanity = model_randomization(
        &net,
        input.narrow(0, 0, sanity_count),
        &Targets::predicted().with_score(settings.score),
        &methods,
        &settings.sanity,
    )?;
    println!(
        "sanity check           {:>6.1} s",
        clock.elapsed().as_secs_f64()
    );

    let report = Report {
        images: count,
        sanity_images: sanity_count,
        backend: args.backend.name().to_owned(),
        seed: args.seed,
        settings,
        methods: rows,
        not_scored,
        sanity,
    };
    ensure_dir(&args.out_dir)?;
    // One figure per family: a legend holds at most `MAX_SERIES` methods.
    let family_of = |label: &str| match methods.iter().find(|m| m.label() == label) {
        Some(Method::Cam(_)) => 0,
        Some(Method::Pixel(pixel)) if pixel.is_perturbation() => 2,
        _ => 1,
    };
    let mut families: [Vec<SanityCurve>; 3] = Default::default();
    for curve in &report.sanity {
        families[family_of(&curve.label)].push(curve.clone());
    }
    let [cam_curves, pixel_curves, perturbation_curves] = families;
    let mut figures = Vec::new();
    for (name, curves, family) in [
        ("sanity_check", cam_curves, "CAMs"),
        (
            "sanity_check_pixel",
            pixel_curves,
            "gradient pixel methods and Guided Grad-CAM",
        ),
        (
            "sanity_check_perturbation",
            perturbation_curves,
            "perturbation methods",
        ),
    ] {
        // A family `--methods` left out has no figure.
        if curves.is_empty() {
            continue;
        }
        figures.push((name, family));
        let figure = sanity_figure(&curves, sanity_count, family);
        let path = |extension: &str| args.out_dir.join(format!("{name}.{extension}"));
        write_atomic(&path("png"), &figure.render_png()?)?;
        write_atomic(&path("svg"), figure.render_svg()?.as_bytes())?;
    }
    write_atomic(
        &args.out_dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_atomic(
        &args.out_dir.join("report.md"),
        markdown(&report, &figures, started.elapsed().as_secs_f64()).as_bytes(),
    )?;
    println!(
        "wrote {}/report.md, report.json and the sanity figures ({:.0} s)",
        args.out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The model's predicted classes, resolved once so that every method and metric explains and
/// scores the same class.
pub(crate) fn predicted_classes(model: &dyn Explainable, input: &Tensor<4>) -> Result<Targets> {
    let input = burn_gradcam::explain::Input::new(model, input.clone())?;
    let predictions = Predictions::of(model, &input, &Targets::predicted())?.to_host()?;
    Ok(Targets::classes(
        predictions.iter().map(|p| p.predicted).collect::<Vec<_>>(),
    ))
}

/// Every map-based metric of one method (max-sensitivity, which re-explains, is the caller's),
/// on the batch prepared once for all methods.
fn score_maps(
    by_probability: &Batch<'_>,
    by_log_probability: &Batch<'_>,
    settings: &Settings,
    maps: &[Map],
    label: &str,
) -> Result<MethodScores> {
    let deletion = deletion_curves(by_probability, maps, &settings.curves)?;
    let insertion = insertion_curves(by_probability, maps, &settings.curves)?;
    let road = road_combined(
        by_probability,
        maps,
        &settings.road_percentiles,
        &settings.road,
    )?;
    // pytorch-grad-cam multiplies the image by a map in [0, 1].
    let device = by_probability.scorer().model().device();
    let normalized = Map::from_batch(normalize(crate::bench_metrics::map_batch(maps, &device)?))?;
    let confidence = confidence_change(by_probability, &normalized)?;
    let infidelity = infidelity(by_log_probability, maps, &settings.infidelity)?;
    let mean_of_rows =
        |rows: &[Vec<f32>]| rows.iter().map(|r| mean(r)).sum::<f32>() / rows.len() as f32;
    Ok(MethodScores {
        method: label.to_owned(),
        deletion_auc: mean(&deletion.iter().map(|c| c.auc).collect::<Vec<_>>()),
        insertion_auc: mean(&insertion.iter().map(|c| c.auc).collect::<Vec<_>>()),
        road_combined: mean(&road.combined),
        road_morf: mean_of_rows(&road.most_relevant_first),
        road_lerf: mean_of_rows(&road.least_relevant_first),
        drop_in_confidence: mean(&confidence.iter().map(|c| c.drop()).collect::<Vec<_>>()),
        increase_in_confidence: mean(&confidence.iter().map(|c| c.increase()).collect::<Vec<_>>()),
        infidelity: mean(&infidelity),
        max_sensitivity: None,
        seconds: 0.0,
    })
}

fn mean(values: &[f32]) -> f32 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() as f32 / values.len().max(1) as f32
}

/// 2 × 2 panels: Spearman (absolute maps) and SSIM, cascading and independent.
fn sanity_figure(curves: &[SanityCurve], images: usize, family: &str) -> ChartFigure {
    let mut charts = Vec::new();
    for (measure, y_title, y_range) in [
        (
            "Spearman rank correlation (|map|)",
            "Spearman ρ",
            [-0.5, 1.0],
        ),
        ("SSIM (normalised |map|)", "SSIM", [-0.25, 1.0]),
    ] {
        for randomization in [Randomization::Cascading, Randomization::Independent] {
            let chosen: Vec<&SanityCurve> = curves
                .iter()
                .filter(|c| c.randomization == randomization)
                .collect();
            let x_labels = chosen
                .first()
                .map(|c| c.steps.iter().map(|s| s.label.clone()).collect())
                .unwrap_or_default();
            let series = chosen
                .iter()
                .map(|c| Series {
                    label: c.label.clone(),
                    values: c
                        .steps
                        .iter()
                        .map(|s| {
                            if y_title == "SSIM" {
                                s.similarity.ssim
                            } else {
                                s.similarity.spearman_abs
                            }
                        })
                        .collect(),
                })
                .collect();
            let how = match randomization {
                Randomization::Cascading => "cascading (output → input)",
                Randomization::Independent => "independent (one layer)",
            };
            charts.push(LineChart {
                title: format!("{measure}, {how}"),
                x_labels,
                x_title: "re-initialised layer".to_owned(),
                y_title: y_title.to_owned(),
                y_range,
                series,
            });
        }
    }
    ChartFigure {
        title: format!(
            "Model-randomisation sanity check of the {family}: similarity to the trained model's maps ({images} digits)"
        ),
        charts,
        columns: 2,
    }
}

fn markdown(report: &Report, figures: &[(&str, &str)], seconds: f64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Faithfulness of the explanations\n\n{} evaluation digits (`data/eval_digits.bin.gz`), \
         backend {}, seed {}; sanity check on the first {}. Written by `cargo xtask faithfulness \
         --limit {} --sanity-limit {} --seed {}` in {:.0} s.\n",
        report.images,
        report.backend,
        report.seed,
        report.sanity_images,
        report.images,
        report.sanity_images,
        report.seed,
        seconds
    );
    md.push_str(&metrics_table(&report.methods));
    for missing in &report.not_scored {
        let _ = writeln!(md, "\nNot scored: {} ({}).", missing.method, missing.reason);
    }
    md.push_str(
        "\nDeletion/insertion: area under the target probability as pixels are blacked out \
         (inserted onto black) in map order, 28 steps of 28 pixels (Petsiuk et al. 2018). ROAD: \
         pytorch-grad-cam's `ROADCombined` (percentiles 10–90, noisy linear imputation, noise \
         0.01), `(LeRF − MoRF) / 2`. Confidence: pytorch-grad-cam's `DropInConfidence` / \
         `IncreaseInConfidence` on the image times the min-max normalised map. Infidelity: \
         Captum's `infidelity` (10 Gaussian perturbations, σ = 0.1, normalised, log-probability \
         score). Max-sensitivity: Captum's `sensitivity_max` (10 uniform perturbations, radius \
         0.02).\n",
    );
    let _ = writeln!(
        md,
        "\n## Model-randomisation sanity check\n\nMean Spearman rank correlation of the absolute \
         maps / SSIM between the trained model's maps and the maps after re-initialising layers \
         (Adebayo et al. 2018). A method that explains the model should fall towards 0 as \
         layers are randomised.\n"
    );
    md.push_str(&sanity_table(&report.sanity));
    for (name, family) in figures {
        let _ = writeln!(md, "\n![sanity check of the {family}]({name}.png)");
    }
    md
}

/// The headline table (also in the README).
fn metrics_table(rows: &[MethodScores]) -> String {
    let mut md = String::from(
        "| method | deletion AUC ↓ | insertion AUC ↑ | ROAD ↑ | drop in confidence ↓ | increase in confidence ↑ | infidelity ↓ | max-sensitivity ↓ |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let sensitivity = row
            .max_sensitivity
            .map_or_else(|| "—".to_owned(), |s| format!("{s:.3}"));
        let _ = writeln!(
            md,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2e} | {} |",
            row.method,
            row.deletion_auc,
            row.insertion_auc,
            row.road_combined,
            row.drop_in_confidence,
            row.increase_in_confidence,
            row.infidelity,
            sensitivity
        );
    }
    md
}

fn sanity_table(curves: &[SanityCurve]) -> String {
    let mut md = String::new();
    for randomization in [Randomization::Cascading, Randomization::Independent] {
        let chosen: Vec<&SanityCurve> = curves
            .iter()
            .filter(|c| c.randomization == randomization)
            .collect();
        let Some(first) = chosen.first() else {
            continue;
        };
        let name = match randomization {
            Randomization::Cascading => {
                "Cascading (layers re-initialised from the output down to the named one)"
            }
            Randomization::Independent => "Independent (only the named layer re-initialised)",
        };
        let _ = writeln!(md, "{name}: Spearman |map| / SSIM\n");
        let labels: Vec<&str> = first
            .steps
            .iter()
            .skip(1)
            .map(|s| s.label.as_str())
            .collect();
        let _ = writeln!(md, "| method | {} |", labels.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(labels.len()));
        for curve in &chosen {
            let cells: Vec<String> = curve
                .steps
                .iter()
                .skip(1)
                .map(|s| {
                    format!(
                        "{:.2} / {:.2}",
                        s.similarity.spearman_abs, s.similarity.ssim
                    )
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", curve.label, cells.join(" | "));
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FaithfulnessArgs,
    }

    #[test]
    fn writes_the_report_the_table_and_the_plot() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = tempfile::tempdir().expect("temporary directory");
        let weights = root.join("data/mnist_model.pth");
        let digits = root.join("data/eval_digits.bin.gz");
        let cli = Cli::parse_from([
            "faithfulness".as_ref(),
            "--limit".as_ref(),
            "6".as_ref(),
            "--sanity-limit".as_ref(),
            "3".as_ref(),
            "--out-dir".as_ref(),
            out.path().as_os_str(),
            "--weights".as_ref(),
            weights.as_os_str(),
            "--digits".as_ref(),
            digits.as_os_str(),
        ]);
        run(&cli.args).expect("the report is written");
        let markdown = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
        assert!(markdown.contains("| method | deletion AUC ↓ |"));
        for method in methods() {
            assert!(
                markdown.contains(&format!("| {} |", method.label())),
                "{}",
                method.label()
            );
        }
        assert!(markdown.contains("| Random map |"));
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join("report.json")).expect("report.json"),
        )
        .expect("valid JSON");
        assert_eq!(json["images"], 6);
        assert_eq!(
            json["sanity"].as_array().map(Vec::len),
            Some(2 * methods().len())
        );
        for name in [
            "sanity_check",
            "sanity_check_pixel",
            "sanity_check_perturbation",
        ] {
            let png = image::open(out.path().join(format!("{name}.png"))).expect("a PNG");
            assert!(png.width() > 800 && png.height() > 400);
        }
        let svg = std::fs::read_to_string(out.path().join("sanity_check_pixel.svg")).expect("svg");
        assert!(svg.contains("Guided Backprop"));
        let svg = std::fs::read_to_string(out.path().join("sanity_check.svg")).expect("svg");
        assert!(svg.contains("FEM"));
        let svg =
            std::fs::read_to_string(out.path().join("sanity_check_perturbation.svg")).expect("svg");
        assert!(svg.contains("RISE") && !svg.contains("Saliency"));
    }
}
