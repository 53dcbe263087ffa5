//! Properties of the faithfulness metrics that hold whatever the peers do: a batch equals its
//! images one by one, seeds reproduce, bad input gets a typed error naming what is wrong, the
//! curves start and end where they must, and the sanity check sees which layers a method reads.

mod common;

use burn::tensor::Tensor;
use burn_gradcam::explain::{
    CamMethod, ExplainConfig, ExplainError, Explainer, Map, Method, PixelMethod, Preset,
    Reinitialize, Score, Targets, uniform_noise,
};
use burn_gradcam::metrics::{
    Baseline, CurveConfig, InfidelityConfig, MetricError, Randomization, RoadConfig, RoadOrder,
    SanityConfig, SensitivityConfig, confidence_change, deletion_curves, infidelity,
    insertion_curves, method_maps, model_randomization, road, sensitivity_max,
};
use burn_gradcam::model::{Digits, MNIST_MEAN, MNIST_STD, MnistNet, preprocess};
use common::{net, repo_path};

const BLACK: f32 = (0.0 - MNIST_MEAN) / MNIST_STD;

fn eval_input(count: usize) -> Tensor<4> {
    let digits = Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("digits");
    let digits = digits.slice(0..count).expect("enough digits");
    preprocess(&digits, &burn_gradcam::Backend::default().device())
}

fn setup() -> MnistNet {
    net(&burn_gradcam::Backend::default().device())
}

fn config(score: Score) -> ExplainConfig {
    ExplainConfig {
        score,
        ..Preset::PytorchGradCam.config()
    }
}

fn maps(net: &MnistNet, input: Tensor<4>, method: &Method) -> Vec<Map> {
    Explainer::new(net, config(Score::ModelOutput))
        .attribution(input, &Targets::Predicted, method)
        .expect("explains")
        .into_iter()
        .map(|e| e.attribution)
        .collect()
}

fn random_maps(count: usize) -> Vec<Map> {
    (0..count)
        .map(|i| Map::new([1, 28, 28], uniform_noise(784, 1.0, i as u64)).expect("map"))
        .collect()
}

#[test]
fn a_batch_scores_as_its_images_one_by_one() {
    let net = setup();
    let input = eval_input(4);
    let cams = maps(&net, input.clone(), &Method::Cam(CamMethod::GradCam));
    let explainer = Explainer::new(&net, config(Score::Probability));
    let curve_config = CurveConfig {
        baseline: Baseline::Blur { sigma: 2.0 },
        batch_size: 70,
        ..CurveConfig::default()
    };
    let road_config = RoadConfig {
        noise: 0.0,
        ..RoadConfig::default()
    };
    let batch_curves = deletion_curves(
        &explainer,
        input.clone(),
        &Targets::Predicted,
        &cams,
        &curve_config,
    )
    .expect("curves");
    let batch_road = road(
        &explainer,
        input.clone(),
        &Targets::Predicted,
        &cams,
        RoadOrder::LeastRelevantFirst,
        30.0,
        &road_config,
    )
    .expect("ROAD");
    for (i, cam) in cams.iter().enumerate() {
        let one = input.clone().narrow(0, i, 1);
        let single = std::slice::from_ref(cam);
        let curve = deletion_curves(
            &explainer,
            one.clone(),
            &Targets::Predicted,
            single,
            &curve_config,
        )
        .expect("curve");
        for (a, b) in curve[0].scores.iter().zip(&batch_curves[i].scores) {
            assert!((a - b).abs() < 1e-6, "image {i}: {a} vs {b}");
        }
        let value = road(
            &explainer,
            one,
            &Targets::Predicted,
            single,
            RoadOrder::LeastRelevantFirst,
            30.0,
            &road_config,
        )
        .expect("ROAD")[0];
        assert!((value - batch_road[i]).abs() < 1e-6);
    }
}

#[test]
fn curves_start_and_end_at_the_image_and_the_baseline() {
    let net = setup();
    let input = eval_input(3);
    let explainer = Explainer::new(&net, config(Score::Probability));
    let clean = explainer
        .predict(input.clone(), &Targets::Predicted)
        .expect("predicts");
    let classes = Targets::Classes(clean.iter().map(|p| p.target).collect());
    let black = explainer
        .predict(
            Tensor::full([3, 1, 28, 28], BLACK, &input.device()),
            &classes,
        )
        .expect("predicts");
    let config = CurveConfig {
        baseline: Baseline::Constant(BLACK),
        steps: 7,
        ..CurveConfig::default()
    };
    let cams = random_maps(3);
    let deletion =
        deletion_curves(&explainer, input.clone(), &classes, &cams, &config).expect("curves");
    let insertion = insertion_curves(&explainer, input, &classes, &cams, &config).expect("curves");
    for i in 0..3 {
        assert_eq!(deletion[i].scores.len(), 8);
        assert!((deletion[i].scores[0] - clean[i].score).abs() < 1e-6);
        assert!((deletion[i].scores[7] - black[i].score).abs() < 1e-6);
        assert!((insertion[i].scores[0] - black[i].score).abs() < 1e-6);
        assert!((insertion[i].scores[7] - clean[i].score).abs() < 1e-6);
    }
}

#[test]
fn gradient_maps_delete_faster_than_random_maps() {
    let net = setup();
    let input = eval_input(40);
    let explainer = Explainer::new(&net, config(Score::Probability));
    let config = CurveConfig {
        baseline: Baseline::Constant(BLACK),
        ..CurveConfig::default()
    };
    let mean_auc = |maps: &[Map]| {
        let curves = deletion_curves(
            &explainer,
            input.clone(),
            &Targets::Predicted,
            maps,
            &config,
        )
        .expect("curves");
        curves.iter().map(|c| c.auc).sum::<f32>() / curves.len() as f32
    };
    let guided = mean_auc(&maps(
        &net,
        input.clone(),
        &Method::Pixel(PixelMethod::GuidedBackprop),
    ));
    let random = mean_auc(&random_maps(40));
    println!("deletion AUC: guided backprop {guided:.3}, random {random:.3}");
    assert!(guided < random / 2.0, "guided {guided} vs random {random}");
}

#[test]
fn seeds_reproduce_and_differ() {
    let net = setup();
    let input = eval_input(3);
    let cams = maps(&net, input.clone(), &Method::Cam(CamMethod::GradCam));
    let probability = Explainer::new(&net, config(Score::Probability));
    let run_road = |seed| {
        road(
            &probability,
            input.clone(),
            &Targets::Predicted,
            &cams,
            RoadOrder::MostRelevantFirst,
            70.0,
            &RoadConfig {
                seed,
                noise: 0.5,
                ..RoadConfig::default()
            },
        )
        .expect("ROAD")
    };
    assert_eq!(run_road(1), run_road(1));
    assert_ne!(run_road(1), run_road(2));
    let explainer = Explainer::new(&net, config(Score::ModelOutput));
    let run_sensitivity = |seed| {
        sensitivity_max(
            &explainer,
            input.clone(),
            &Targets::Predicted,
            &Method::Pixel(PixelMethod::Saliency { absolute: true }),
            &SensitivityConfig {
                seed,
                ..SensitivityConfig::default()
            },
        )
        .expect("sensitivity")
    };
    assert_eq!(run_sensitivity(3), run_sensitivity(3));
    assert_ne!(run_sensitivity(3), run_sensitivity(4));
}

#[test]
fn normalised_infidelity_ignores_the_attribution_scale() {
    let net = setup();
    let input = eval_input(4);
    let attributions = maps(
        &net,
        input.clone(),
        &Method::Pixel(PixelMethod::GuidedBackprop),
    );
    let scaled: Vec<Map> = attributions
        .iter()
        .map(|m| Map::new(m.shape, m.values.iter().map(|v| v * 10.0).collect()).expect("map"))
        .collect();
    let explainer = Explainer::new(&net, config(Score::ModelOutput));
    for normalize in [true, false] {
        let settings = InfidelityConfig {
            normalize,
            ..InfidelityConfig::default()
        };
        let plain = infidelity(
            &explainer,
            input.clone(),
            &Targets::Predicted,
            &attributions,
            &settings,
        )
        .expect("infidelity");
        let tenfold = infidelity(
            &explainer,
            input.clone(),
            &Targets::Predicted,
            &scaled,
            &settings,
        )
        .expect("infidelity");
        for (a, b) in plain.iter().zip(&tenfold) {
            if normalize {
                assert!((a - b).abs() <= 1e-4 * a.abs().max(1e-12), "{a} vs {b}");
            } else {
                assert!(b > a, "a tenfold attribution is less faithful: {a} vs {b}");
            }
        }
    }
}

#[test]
fn no_perturbation_means_no_sensitivity_beyond_rounding() {
    let net = setup();
    let input = eval_input(3);
    let explainer = Explainer::new(&net, config(Score::ModelOutput));
    let values = sensitivity_max(
        &explainer,
        input,
        &Targets::Predicted,
        &Method::GUIDED_GRAD_CAM,
        &SensitivityConfig {
            radius: 0.0,
            ..SensitivityConfig::default()
        },
    )
    .expect("sensitivity");
    // Only the batch's arithmetic differs (the perturbed copies run as a larger batch).
    assert!(values.iter().all(|v| *v < 1e-5), "{values:?}");
}

#[test]
fn bad_input_gets_a_typed_error() {
    let net = setup();
    let input = eval_input(3);
    let explainer = Explainer::new(&net, config(Score::Probability));
    let good = random_maps(3);
    let curves = CurveConfig::default();
    let run = |maps: &[Map], targets: &Targets, config: &CurveConfig| {
        deletion_curves(&explainer, input.clone(), targets, maps, config)
    };
    assert_eq!(
        run(&good[..2], &Targets::Predicted, &curves).unwrap_err(),
        MetricError::MapCount { found: 2, batch: 3 }
    );
    let mut wrong = good.clone();
    wrong[1] = Map::new([1, 27, 28], vec![0.0; 27 * 28]).expect("map");
    assert_eq!(
        run(&wrong, &Targets::Predicted, &curves).unwrap_err(),
        MetricError::MapShape {
            index: 1,
            expected: [1, 28, 28],
            found: [1, 27, 28]
        }
    );
    let mut nan = good.clone();
    nan[2].values[5] = f32::NAN;
    assert_eq!(
        run(&nan, &Targets::Predicted, &curves).unwrap_err(),
        MetricError::NonFiniteMap {
            index: 2,
            element: 5
        }
    );
    // The image at fault is named within the whole batch, whatever the pass size.
    let small_passes = CurveConfig {
        batch_size: 1,
        ..curves
    };
    assert_eq!(
        run(&good, &Targets::Classes(vec![1, 2, 10]), &small_passes).unwrap_err(),
        MetricError::Explain(ExplainError::TargetOutOfRange {
            index: 2,
            target: 10,
            classes: 10
        })
    );
    let zero_steps = CurveConfig { steps: 0, ..curves };
    assert!(matches!(
        run(&good, &Targets::Predicted, &zero_steps),
        Err(MetricError::InvalidSetting { .. })
    ));
    assert!(matches!(
        road(
            &explainer,
            input.clone(),
            &Targets::Predicted,
            &good,
            RoadOrder::MostRelevantFirst,
            150.0,
            &RoadConfig::default()
        ),
        Err(MetricError::InvalidSetting { .. })
    ));
    assert!(matches!(
        confidence_change(
            &explainer,
            Tensor::<4>::zeros([0, 1, 28, 28], &input.device()),
            &Targets::Predicted,
            &[],
            8
        ),
        Err(MetricError::Explain(ExplainError::EmptyBatch))
    ));
    let bad_noise = Tensor::<4>::zeros([4, 1, 28, 28], &input.device());
    assert!(matches!(
        burn_gradcam::metrics::infidelity_with_perturbations(
            &explainer,
            input,
            &Targets::Predicted,
            &good,
            bad_noise,
            true,
            8
        ),
        Err(MetricError::PerturbationShape { .. })
    ));
}

#[test]
fn attribution_is_each_method_s_own_map() {
    let net = setup();
    let input = eval_input(3);
    let explainer = Explainer::new(&net, config(Score::ModelOutput));
    let cams = explainer
        .grad_cam(input.clone(), &Targets::Predicted)
        .expect("cams");
    let as_method = maps(&net, input.clone(), &Method::Cam(CamMethod::GradCam));
    for (cam, map) in cams.iter().zip(&as_method) {
        assert_eq!(&cam.cam, map);
    }
    let explanation = explainer
        .explain(input.clone(), &Targets::Predicted)
        .expect("explains");
    let guided = maps(&net, input, &Method::GUIDED_GRAD_CAM);
    for (image, map) in explanation.images.iter().zip(&guided) {
        let worst = image
            .guided_grad_cam
            .values
            .iter()
            .zip(&map.values)
            .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-6, "Guided Grad-CAM differs by {worst}");
    }
}

#[test]
fn maps_in_passes_equal_one_call() {
    let net = setup();
    let input = eval_input(5);
    let explainer = Explainer::new(&net, config(Score::ModelOutput));
    let method = Method::Cam(CamMethod::ScoreCam);
    let whole = maps(&net, input.clone(), &method);
    let passes =
        method_maps(&explainer, input.clone(), &Targets::Predicted, &method, 2).expect("explains");
    for (a, b) in whole.iter().zip(&passes) {
        let worst = a
            .values
            .iter()
            .zip(&b.values)
            .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst < 1e-6, "{worst}");
    }
    assert_eq!(
        method_maps(
            &explainer,
            input,
            &Targets::Classes(vec![0, 1, 2, 3, 11]),
            &method,
            2
        )
        .unwrap_err(),
        MetricError::Explain(ExplainError::TargetOutOfRange {
            index: 4,
            target: 11,
            classes: 10
        })
    );
}

#[test]
fn the_sanity_check_sees_which_layers_a_method_reads() {
    let net = setup();
    let input = eval_input(12);
    let methods = [
        Method::Cam(CamMethod::GradCam),
        Method::Cam(CamMethod::EigenCam),
        Method::Pixel(PixelMethod::GuidedBackprop),
    ];
    let sanity = SanityConfig {
        seed: 5,
        batch_size: 5,
    };
    let curves = model_randomization(
        &net,
        config(Score::ModelOutput),
        input.clone(),
        &Targets::Predicted,
        &methods,
        &sanity,
    )
    .expect("sanity check");
    assert_eq!(curves.len(), 6);
    for curve in &curves {
        let labels: Vec<&str> = curve.steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["original", "fc2", "fc1", "conv2", "conv1"]);
        let original = curve.steps[0].similarity;
        assert!((original.spearman - 1.0).abs() < 1e-6 && (original.ssim - 1.0).abs() < 1e-6);
        let last = curve.steps.last().expect("steps");
        match curve.randomization {
            Randomization::Cascading => {
                assert_eq!(last.randomized, ["fc2", "fc1", "conv2", "conv1"])
            }
            Randomization::Independent => assert_eq!(last.randomized, ["conv1"]),
        }
    }
    let find = |method: &Method, randomization| {
        curves
            .iter()
            .find(|c| c.method == *method && c.randomization == randomization)
            .expect("curve")
    };
    // Eigen-CAM reads only the layers up to conv2: re-initialising the head changes nothing.
    let eigen = find(&methods[1], Randomization::Cascading);
    assert_eq!(eigen.steps[1].similarity.spearman, 1.0);
    assert_eq!(eigen.steps[2].similarity.spearman, 1.0);
    assert!(eigen.steps[3].similarity.spearman_abs < 0.9);
    // Grad-CAM depends on the class score: a random output layer scrambles it.
    let grad_cam = find(&methods[0], Randomization::Cascading);
    assert!(grad_cam.steps[1].similarity.spearman_abs < 0.9);
    // The same seed gives the same check.
    let again = model_randomization(
        &net,
        config(Score::ModelOutput),
        input,
        &Targets::Predicted,
        &methods[..1],
        &sanity,
    )
    .expect("sanity check");
    assert_eq!(again[0], curves[0]);
}

#[test]
fn reinitialised_layers_follow_pytorch_s_default_bounds() {
    let net = setup();
    let fresh = net.reinitialized(&[0, 1, 2, 3], 9);
    let input = eval_input(2);
    // Nothing re-initialised: the same network.
    let same = net.reinitialized(&[], 9);
    assert!(
        same.logits(input.clone())
            .equal(net.logits(input.clone()))
            .all()
            .into_scalar::<bool>()
    );
    // A fresh network is no longer the trained one, and the same seed gives the same one.
    assert!(
        !fresh
            .logits(input.clone())
            .equal(net.logits(input.clone()))
            .all()
            .into_scalar::<bool>()
    );
    assert!(
        fresh
            .logits(input.clone())
            .equal(net.reinitialized(&[0, 1, 2, 3], 9).logits(input))
            .all()
            .into_scalar::<bool>()
    );
    assert_eq!(fresh.layer_names(), ["conv1", "conv2", "fc1", "fc2"]);
}

mod never_panic {
    use super::*;
    use burn_gradcam::metrics::{kept_pixels, linear_imputation, spearman, ssim};
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    /// A map of any shape, with values that may not fit it and may not be finite.
    fn any_map() -> impl Strategy<Value = Map> {
        (
            prop_oneof![3 => Just(1usize), 1 => 0usize..3],
            prop_oneof![3 => Just(28usize), 1 => 26usize..30],
            prop_oneof![3 => Just(28usize), 1 => 26usize..30],
            prop::collection::vec(
                prop_oneof![
                    8 => -2.0f32..2.0,
                    1 => Just(f32::NAN),
                    1 => Just(f32::INFINITY)
                ],
                0..900,
            ),
        )
            .prop_map(|(c, h, w, mut values)| {
                // Mostly maps of a consistent size, so the metrics get past the checks.
                if values.len() > 700 {
                    values.resize(c * h * w, 0.5);
                }
                Map {
                    shape: [c, h, w],
                    values,
                }
            })
    }

    proptest! {
        #![proptest_config(Config { cases: 24, failure_persistence: None, ..Config::default() })]

        #[test]
        fn metrics_return_a_value_or_a_typed_error(
            maps in prop::collection::vec(any_map(), 0..4),
            steps in prop_oneof![0usize..6, Just(usize::MAX)],
            percentile in -20.0f32..120.0,
            noise in prop_oneof![Just(f32::NAN), -1.0f32..1.0],
            batch_size in 0usize..5,
            samples in prop_oneof![0usize..3, Just(usize::MAX / 2)],
            radius in prop_oneof![Just(f32::INFINITY), -0.1f32..0.1],
            baseline in prop_oneof![Just(f32::NAN), Just(1e30), -1.0f32..1.0, 0.0f32..3.0],
            blur in any::<bool>(),
        ) {
            let net = setup();
            let input = eval_input(2);
            let explainer = Explainer::new(&net, config(Score::Probability));
            let targets = Targets::Predicted;
            let curves = CurveConfig {
                steps,
                baseline: if blur { Baseline::Blur { sigma: baseline } } else { Baseline::Constant(baseline) },
                batch_size,
            };
            let _ = deletion_curves(&explainer, input.clone(), &targets, &maps, &curves);
            let road_config = RoadConfig { noise, seed: 1, batch_size };
            let _ = road(&explainer, input.clone(), &targets, &maps, RoadOrder::MostRelevantFirst, percentile, &road_config);
            let _ = confidence_change(&explainer, input.clone(), &targets, &maps, batch_size);
            let infidelity_config = InfidelityConfig { samples, stdev: noise, seed: 2, normalize: blur, batch_size };
            let _ = infidelity(&explainer, input.clone(), &targets, &maps, &infidelity_config);
            let sensitivity = SensitivityConfig { samples, radius, seed: 3, batch_size };
            let _ = sensitivity_max(&explainer, input, &targets, &Method::Pixel(PixelMethod::Saliency { absolute: true }), &sensitivity);
            if let (Some(a), Some(b)) = (maps.first(), maps.last()) {
                let _ = spearman(&a.values, &b.values);
                let _ = ssim(&a.values, &b.values, a.shape[2], a.shape[1], baseline);
                let keep = kept_pixels(&a.values, RoadOrder::LeastRelevantFirst, percentile);
                let _ = linear_imputation(&b.values, b.shape, &keep);
            }
        }
    }
}
