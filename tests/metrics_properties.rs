//! Properties of the faithfulness metrics that hold whatever the peers do: a batch equals its
//! images one by one, seeds reproduce, bad input gets a typed error naming what is wrong, the
//! curves start and end where they must, and the sanity check sees which layers a method reads.

use crate::common;

use burn::tensor::Tensor;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, CamSettings, ExplainError, GradCam, GuidedBackprop,
    GuidedGradCam, Map, Method, Preset, Reinitialize, Saliency, Score, ScoreCam, SettingError,
    Targets, noise,
};
use burn_gradcam::metrics::{
    Baseline, Batch, CurveConfig, InfidelityConfig, MetricError, Randomization, RoadConfig,
    RoadOrder, SanityConfig, Scorer, SensitivityConfig, confidence_change, deletion_curves,
    infidelity, insertion_curves, method_maps, model_randomization, road, sensitivity_max,
};
use burn_gradcam::mnist::{Digits, MNIST_MEAN, MNIST_STD, MnistNet, preprocess};
use common::{net, repo_path};

const BLACK: f32 = (0.0 - MNIST_MEAN) / MNIST_STD;

fn eval_input(count: usize) -> Tensor<4> {
    let digits = Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("digits");
    let digits = digits.slice(0..count).expect("enough digits");
    preprocess(
        &digits,
        &burn_gradcam::Backend::default()
            .device()
            .expect("CPU device"),
    )
}

fn setup() -> MnistNet {
    net(&burn_gradcam::Backend::default()
        .device()
        .expect("CPU device"))
}

/// The CAM settings the metrics' maps use.
fn settings() -> CamSettings {
    Preset::PytorchGradCam.cam_settings()
}

fn maps(net: &MnistNet, input: Tensor<4>, method: &dyn Attribution) -> Vec<Map> {
    method
        .attribute(net, input, &Targets::predicted())
        .and_then(|a| a.to_maps())
        .expect("explains")
}

fn grad_cam() -> GradCam {
    GradCam::new().with_settings(settings())
}

fn random_maps(count: usize) -> Vec<Map> {
    (0..count)
        .map(|i| Map::new([1, 28, 28], noise::uniform(784, 1.0, i as u64)).expect("map"))
        .collect()
}

fn prepare<'m>(net: &'m MnistNet, score: Score, input: Tensor<4>, targets: &Targets) -> Batch<'m> {
    Scorer::new(net, score)
        .prepare(input, targets)
        .expect("prepares")
}

#[test]
fn a_batch_scores_as_its_images_one_by_one() {
    let net = setup();
    let input = eval_input(4);
    let cams = maps(&net, input.clone(), &grad_cam());
    let scorer = Scorer::new(&net, Score::Probability).with_batch_size(70);
    let curve_config = CurveConfig::new().with_baseline(Baseline::Blur { sigma: 2.0 });
    let road_config = RoadConfig::new().with_noise(0.0);
    let batch = scorer
        .prepare(input.clone(), &Targets::predicted())
        .expect("prepares");
    let batch_curves = deletion_curves(&batch, &cams, &curve_config).expect("curves");
    let batch_road = road(
        &batch,
        &cams,
        RoadOrder::LeastRelevantFirst,
        30.0,
        &road_config,
    )
    .expect("ROAD");
    for (i, cam) in cams.iter().enumerate() {
        let one = scorer
            .prepare(input.clone().narrow(0, i, 1), &Targets::predicted())
            .expect("prepares");
        let single = std::slice::from_ref(cam);
        let curve = deletion_curves(&one, single, &curve_config).expect("curve");
        for (a, b) in curve[0].scores.iter().zip(&batch_curves[i].scores) {
            assert!((a - b).abs() < 1e-6, "image {i}: {a} vs {b}");
        }
        let value = road(
            &one,
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
    let clean = prepare(
        &net,
        Score::Probability,
        input.clone(),
        &Targets::predicted(),
    );
    let classes = Targets::classes(clean.classes());
    let black = prepare(
        &net,
        Score::Probability,
        Tensor::full([3, 1, 28, 28], BLACK, &input.device()),
        &classes,
    );
    let config = CurveConfig::new()
        .with_baseline(Baseline::Constant(BLACK))
        .with_steps(7);
    let cams = random_maps(3);
    let deletion = deletion_curves(&clean, &cams, &config).expect("curves");
    let insertion = insertion_curves(&clean, &cams, &config).expect("curves");
    for i in 0..3 {
        assert_eq!(deletion[i].scores.len(), 8);
        assert!((deletion[i].scores[0] - clean.clean_scores()[i]).abs() < 1e-6);
        assert!((deletion[i].scores[7] - black.clean_scores()[i]).abs() < 1e-6);
        assert!((insertion[i].scores[0] - black.clean_scores()[i]).abs() < 1e-6);
        assert!((insertion[i].scores[7] - clean.clean_scores()[i]).abs() < 1e-6);
    }
}

#[test]
fn gradient_maps_delete_faster_than_random_maps() {
    let net = setup();
    let input = eval_input(40);
    let batch = prepare(
        &net,
        Score::Probability,
        input.clone(),
        &Targets::predicted(),
    );
    let config = CurveConfig::new().with_baseline(Baseline::Constant(BLACK));
    let mean_auc = |maps: &[Map]| {
        let curves = deletion_curves(&batch, maps, &config).expect("curves");
        curves.iter().map(|c| c.auc).sum::<f32>() / curves.len() as f32
    };
    let guided = mean_auc(&maps(&net, input, &GuidedBackprop));
    let random = mean_auc(&random_maps(40));
    println!("deletion AUC: guided backprop {guided:.3}, random {random:.3}");
    assert!(guided < random / 2.0, "guided {guided} vs random {random}");
}

#[test]
fn seeds_reproduce_and_differ() {
    let net = setup();
    let input = eval_input(3);
    let cams = maps(&net, input.clone(), &grad_cam());
    let probability = prepare(
        &net,
        Score::Probability,
        input.clone(),
        &Targets::predicted(),
    );
    let run_road = |seed| {
        road(
            &probability,
            &cams,
            RoadOrder::MostRelevantFirst,
            70.0,
            &RoadConfig::new().with_seed(seed).with_noise(0.5),
        )
        .expect("ROAD")
    };
    assert_eq!(run_road(1), run_road(1));
    assert_ne!(run_road(1), run_road(2));
    let log_probability = prepare(&net, Score::ModelOutput, input, &Targets::predicted());
    let run_sensitivity = |seed| {
        sensitivity_max(
            &log_probability,
            &Saliency::new(),
            &SensitivityConfig::new().with_seed(seed),
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
    let attributions = maps(&net, input.clone(), &GuidedBackprop);
    let scaled: Vec<Map> = attributions
        .iter()
        .map(|m| Map::new(m.shape, m.values.iter().map(|v| v * 10.0).collect()).expect("map"))
        .collect();
    let batch = prepare(&net, Score::ModelOutput, input, &Targets::predicted());
    for normalize in [true, false] {
        let settings = InfidelityConfig::new().with_normalize(normalize);
        let plain = infidelity(&batch, &attributions, &settings).expect("infidelity");
        let tenfold = infidelity(&batch, &scaled, &settings).expect("infidelity");
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
    let batch = prepare(
        &net,
        Score::ModelOutput,
        eval_input(3),
        &Targets::predicted(),
    );
    let values = sensitivity_max(
        &batch,
        &GuidedGradCam::guided(settings()),
        &SensitivityConfig::new().with_radius(0.0),
    )
    .expect("sensitivity");
    // Only the batch's arithmetic differs (the perturbed copies run as a larger batch).
    assert!(values.iter().all(|v| *v < 1e-5), "{values:?}");
}

#[test]
fn bad_input_gets_a_typed_error() {
    let net = setup();
    let input = eval_input(3);
    let batch = prepare(
        &net,
        Score::Probability,
        input.clone(),
        &Targets::predicted(),
    );
    let good = random_maps(3);
    let curves = CurveConfig::new();
    let run = |maps: &[Map], config: &CurveConfig| deletion_curves(&batch, maps, config);
    assert_eq!(
        run(&good[..2], &curves).unwrap_err(),
        MetricError::MapCount { found: 2, batch: 3 }
    );
    let mut wrong = good.clone();
    wrong[1] = Map::new([1, 27, 28], vec![0.0; 27 * 28]).expect("map");
    assert_eq!(
        run(&wrong, &curves).unwrap_err(),
        MetricError::MapShape {
            index: 1,
            expected: [1, 28, 28],
            found: [1, 27, 28]
        }
    );
    let mut nan = good.clone();
    nan[2].values[5] = f32::NAN;
    assert_eq!(
        run(&nan, &curves).unwrap_err(),
        MetricError::NonFiniteMap {
            index: 2,
            element: 5
        }
    );
    // The image at fault is named within the whole batch, whatever the pass size.
    let small_passes = Scorer::new(&net, Score::Probability).with_batch_size(1);
    assert_eq!(
        small_passes
            .prepare(input.clone(), &Targets::classes([1, 2, 10]))
            .err()
            .expect("refused"),
        MetricError::Explain(ExplainError::TargetOutOfRange {
            index: 2,
            target: 10,
            classes: 10
        })
    );
    let mut bad_image = Map::from_batch(input.clone()).expect("images");
    bad_image[1].values[7] = f32::INFINITY;
    let bad_images: Vec<f32> = bad_image.into_iter().flat_map(|m| m.values).collect();
    let bad_input = Tensor::<4>::from_data(
        burn::tensor::TensorData::new(bad_images, [3, 1, 28, 28]),
        &input.device(),
    );
    assert_eq!(
        small_passes
            .prepare(bad_input, &Targets::predicted())
            .err()
            .expect("refused"),
        MetricError::Explain(ExplainError::NonFinite {
            stage: burn_gradcam::explain::Stage::Input,
            index: 1,
            element: 7
        })
    );
    assert_eq!(
        run(&good, &CurveConfig::new().with_steps(0)).unwrap_err(),
        MetricError::Setting(SettingError::new("CurveConfig", "steps", 0, "at least 1"))
    );
    assert!(matches!(
        road(
            &batch,
            &good,
            RoadOrder::MostRelevantFirst,
            150.0,
            &RoadConfig::new()
        ),
        Err(MetricError::Setting(SettingError {
            field: "percentile",
            ..
        }))
    ));
    assert!(matches!(
        Scorer::new(&net, Score::Probability).prepare(
            Tensor::<4>::zeros([0, 1, 28, 28], &input.device()),
            &Targets::predicted()
        ),
        Err(MetricError::Explain(ExplainError::EmptyBatch))
    ));
    assert!(confidence_change(&batch, &[]).is_err());
    let bad_noise = Tensor::<4>::zeros([4, 1, 28, 28], &input.device());
    assert!(matches!(
        burn_gradcam::metrics::infidelity_with_perturbations(&batch, &good, bad_noise, true),
        Err(MetricError::PerturbationShape { .. })
    ));
}

#[test]
fn attribution_is_each_method_s_own_map() {
    let net = setup();
    let input = eval_input(3);
    let cams = grad_cam()
        .attribute(&net, input.clone(), &Targets::predicted())
        .and_then(|a| a.to_maps())
        .expect("cams");
    let as_method = maps(
        &net,
        input.clone(),
        &Method::Cam(AnyCam::GradCam(grad_cam())),
    );
    assert_eq!(cams, as_method);
    let explanation = GuidedGradCam::guided(settings())
        .attribute(&net, input.clone(), &Targets::predicted())
        .and_then(|a| a.to_host())
        .expect("explains");
    let guided = maps(
        &net,
        input,
        &Method::guided_grad_cam().with_cam_settings(settings()),
    );
    for (image, map) in explanation.iter().zip(&guided) {
        let worst = image
            .map
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
    let method = ScoreCam::new().with_settings(settings());
    let whole = maps(&net, input.clone(), &method);
    let passes =
        method_maps(&net, &method, input.clone(), &Targets::predicted(), 2).expect("explains");
    for (a, b) in whole.iter().zip(&passes) {
        let worst = a
            .values
            .iter()
            .zip(&b.values)
            .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst < 1e-6, "{worst}");
    }
    assert_eq!(
        method_maps(&net, &method, input, &Targets::classes([0, 1, 2, 3, 11]), 2).unwrap_err(),
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
        Method::Cam(AnyCam::GradCam(grad_cam())),
        Method::Cam(
            AnyCam::from_name("eigen-cam")
                .expect("a CAM")
                .with_settings(settings()),
        ),
        Method::Pixel(AnyPixel::GuidedBackprop(GuidedBackprop)),
    ];
    let sanity = SanityConfig::new().with_seed(5).with_batch_size(5);
    let curves = model_randomization(
        &net,
        input.clone(),
        &Targets::predicted(),
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
    let again = model_randomization(&net, input, &Targets::predicted(), &methods[..1], &sanity)
        .expect("sanity check");
    assert_eq!(again[0], curves[0]);
}

/// The sanity check runs on a real network too: the bundled Fashion ResNet, a Burn module whose
/// stages `Reinitialize` draws afresh. Grad-CAM at `layer3` reads every stage after it: a fresh
/// `fc` or `layer4` scrambles it, while re-initialising `layer1` alone (independent) still
/// changes it (its input changes), and the original step is the map itself.
#[test]
fn the_sanity_check_runs_on_a_resnet() {
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = common::fashion_resnet(&device);
    let net = net.explained_at("layer3").expect("a stage");
    assert_eq!(
        net.layer_names(),
        ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
    );
    let images = Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false)
        .expect("bundled images")
        .slice(0..4)
        .expect("four images");
    let input = images.to_tensor(Normalization::FashionMnist, &device);
    let methods = [
        Method::Cam(AnyCam::GradCam(grad_cam())),
        Method::Pixel(AnyPixel::GuidedBackprop(GuidedBackprop)),
    ];
    let sanity = SanityConfig::new().with_seed(3);
    let curves = model_randomization(&net, input, &Targets::predicted(), &methods, &sanity)
        .expect("sanity check");
    assert_eq!(curves.len(), 4);
    for curve in &curves {
        let labels: Vec<&str> = curve.steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "original", "fc", "layer4", "layer3", "layer2", "layer1", "conv1"
            ]
        );
        let original = curve.steps[0].similarity;
        assert!((original.spearman - 1.0).abs() < 1e-6 && (original.ssim - 1.0).abs() < 1e-6);
        for step in &curve.steps[1..] {
            assert!(
                step.similarity.spearman_abs < 0.99,
                "{} {:?}, {}: {:?}",
                curve.label,
                curve.randomization,
                step.label,
                step.similarity
            );
        }
    }
    // The same seed draws the same networks.
    let fresh = net.reinitialized(&[5], 3);
    let again = net.reinitialized(&[5], 3);
    let x = Tensor::<4>::ones([1, 1, 28, 28], &device);
    assert!(
        fresh
            .forward(x.clone())
            .equal(again.forward(x.clone()))
            .all()
            .into_scalar::<bool>()
    );
    assert!(
        !fresh
            .forward(x.clone())
            .equal(net.forward(x))
            .all()
            .into_scalar::<bool>()
    );
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
    use burn_gradcam::metrics::{spearman, ssim};
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
            let batch = Scorer::new(&net, Score::Probability)
                .with_batch_size(batch_size)
                .prepare(eval_input(2), &Targets::predicted())
                .expect("prepares");
            let curves = CurveConfig::new()
                .with_steps(steps)
                .with_baseline(if blur { Baseline::Blur { sigma: baseline } } else { Baseline::Constant(baseline) });
            let _ = deletion_curves(&batch, &maps, &curves);
            let road_config = RoadConfig::new().with_noise(noise).with_seed(1);
            let _ = road(&batch, &maps, RoadOrder::MostRelevantFirst, percentile, &road_config);
            let _ = confidence_change(&batch, &maps);
            let infidelity_config = InfidelityConfig::new()
                .with_samples(samples)
                .with_stdev(noise)
                .with_seed(2)
                .with_normalize(blur);
            let _ = infidelity(&batch, &maps, &infidelity_config);
            let sensitivity = SensitivityConfig::new()
                .with_samples(samples)
                .with_radius(radius)
                .with_seed(3)
                .with_batch_size(batch_size);
            let _ = sensitivity_max(&batch, &Saliency::new(), &sensitivity);
            if let (Some(a), Some(b)) = (maps.first(), maps.last()) {
                let _ = spearman(&a.values, &b.values);
                let _ = ssim(&a.values, &b.values, a.shape[2], a.shape[1], baseline);
            }
        }
    }
}
