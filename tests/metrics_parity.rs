//! The faithfulness metrics equal their peers on the committed weights and 12 reference images:
//! pytorch-grad-cam's ROAD and confidence change, Captum's infidelity and max-sensitivity,
//! SciPy's Spearman and scikit-image's SSIM, and a plain transcription of RISE's deletion and
//! insertion curves. Fixture: `tools/reference/metrics.py`.
//!
//! The maps are the fixture's (pytorch-grad-cam Grad-CAM, Captum guided backprop of the logit), so
//! only the metric is under test. Every metric is compared where it does not vanish: Captum's
//! infidelity and max-sensitivity on the logit (a sure prediction's log-probability hardly moves:
//! its infidelity was 1e-13 in float32), and the images include one whose confidence the CAM
//! raises. Errors are relative to each value's (each curve's, each percentile's) largest
//! magnitude; each tolerance is the 1-2-5 step at or above four times the worst error measured on
//! flex, ndarray and wgpu, never below 2e-6 (the figures in `SUITE`).

use crate::common;

use burn_gradcam::explain::{GuidedBackprop, Map, Saliency, Score, Targets};
use burn_gradcam::metrics::{
    Baseline, CurveConfig, ROAD_PERCENTILES, RoadConfig, RoadOrder, Scorer, confidence_change,
    deletion_curves, infidelity_with_perturbations, insertion_curves, road, road_combined,
    sensitivity_max_with_perturbations,
};
use common::{Check, Fixture, Suite, devices, net};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "metrics_parity",
    fixture: "tests/fixtures/metrics.safetensors",
    checks: &[
        Check::new("road_morf", 2e-5),               // 2.0e-6 / 1.4e-6 / 3.0e-6
        Check::new("road_lerf", 5e-6),               // 9.0e-7 / 7.4e-7 / 9.3e-7
        Check::new("road_combined", 2e-5),           // 2.0e-6 / 3.2e-6 / 1.2e-6
        Check::new("confidence_change_prob", 2e-4), // 3.2e-5 / 3.2e-5 / 7.9e-6 (the noisy image's small change)
        Check::new("drop_in_confidence_prob", 1e-4), // 1.3e-6 / 2.2e-5 / 9.2e-7
        Check::new("confidence_change_logprob", 2e-4), // 3.1e-5 / 3.1e-5 / 7.0e-6
        Check::new("confidence_change_logit", 1e-5), // 1.3e-6 / 1.5e-6 / 4.2e-7
        Check::new("infidelity", 5e-4), // 6.4e-5 / 6.6e-5 / 3.2e-5: squared differences of scores
        Check::new("infidelity_normalized", 5e-4), // 6.9e-5 / 7.1e-5 / 5.2e-5
        Check::new("sensitivity_saliency", 2e-6), // 2.1e-7 / 2.1e-7 / 2.1e-7
        Check::new("sensitivity_guided_backprop", 2e-6), // 1.3e-7 / 1.3e-7 / 9.8e-8
        Check::new("deletion_curve", 1e-5), // 8.4e-7 / 1.5e-6 / 7.9e-7
        Check::new("insertion_curve", 5e-6), // 8.3e-7 / 7.5e-7 / 7.5e-7
        Check::new("deletion_auc", 2e-6), // 4.8e-7 / 4.8e-7 / 3.5e-7
        Check::new("insertion_auc", 5e-6), // 4.2e-7 / 5.6e-7 / 3.5e-7
    ],
};

fn fixture() -> Fixture {
    SUITE.fixture()
}

/// One `[1, H, W]` map per image of an `[N, (1,) H, W]` fixture tensor.
fn maps(fixture: &Fixture, key: &str) -> Vec<Map> {
    let (shape, values) = fixture.f32(key);
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    values
        .chunks(h * w)
        .map(|chunk| Map::new([1, h, w], chunk.to_vec()).expect("map"))
        .collect()
}

#[test]
fn road_equals_pytorch_grad_cam() {
    let fixture = fixture();
    let classes = Targets::classes(fixture.classes("target"));
    let cams = maps(&fixture, "cam");
    let config = RoadConfig::new().with_noise(0.0);
    for (backend, device) in devices() {
        let net = net(&device);
        let batch = Scorer::new(&net, Score::Probability)
            .prepare(fixture.tensor("input", &device), &classes)
            .expect("prepares");
        let scores = road_combined(&batch, &cams, &ROAD_PERCENTILES, &config).expect("ROAD runs");
        // Percentile-major, as the fixture: `[9, M]`, compared per percentile.
        let morf: Vec<f32> = scores.most_relevant_first.concat();
        let lerf: Vec<f32> = scores.least_relevant_first.concat();
        SUITE.check(&fixture, &format!("{backend}: MoRF"), &morf, "road_morf");
        SUITE.check(&fixture, &format!("{backend}: LeRF"), &lerf, "road_lerf");
        SUITE.check(
            &fixture,
            &format!("{backend}: ROAD combined"),
            &scores.combined,
            "road_combined",
        );
        // The single-percentile entry point agrees with the combined run.
        let single =
            road(&batch, &cams, RoadOrder::MostRelevantFirst, 50.0, &config).expect("ROAD runs");
        assert_eq!(single, scores.most_relevant_first[4]);
    }
}

#[test]
fn confidence_change_equals_pytorch_grad_cam() {
    let fixture = fixture();
    let classes = Targets::classes(fixture.classes("target"));
    let cams = maps(&fixture, "cam");
    for (backend, device) in devices() {
        let net = net(&device);
        let input = fixture.tensor("input", &device);
        let probability = Scorer::new(&net, Score::Probability)
            .with_batch_size(64)
            .prepare(input, &classes)
            .expect("prepares");
        let changes = confidence_change(&probability, &cams).expect("confidence change runs");
        let change: Vec<f32> = changes.iter().map(|c| c.change).collect();
        let drop: Vec<f32> = changes.iter().map(|c| c.drop()).collect();
        let increase: Vec<f32> = changes.iter().map(|c| c.increase()).collect();
        SUITE.check(
            &fixture,
            &format!("{backend}: change"),
            &change,
            "confidence_change_prob",
        );
        SUITE.check(
            &fixture,
            &format!("{backend}: drop"),
            &drop,
            "drop_in_confidence_prob",
        );
        // 0 or 1 per image: the noisy image's confidence rises (its 1), the others' falls.
        let expected_increase = fixture.f32("increase_in_confidence_prob").1;
        assert_eq!(increase, expected_increase, "{backend}: increase");
        assert!(expected_increase.contains(&1.0) && expected_increase.contains(&0.0));
        // The same clean pass, scored by the log-probability, in passes of 5 images.
        let log_probability = Scorer::new(&net, Score::ModelOutput)
            .with_batch_size(5)
            .prepare(probability.input(), &classes)
            .expect("prepares");
        let changes = confidence_change(&log_probability, &cams).expect("confidence change runs");
        let rescored = probability
            .with_score(Score::ModelOutput)
            .expect("rescores");
        assert_eq!(rescored.clean_scores(), log_probability.clean_scores());
        let change: Vec<f32> = changes.iter().map(|c| c.change).collect();
        let what = format!("{backend}: log-prob change");
        SUITE.check(&fixture, &what, &change, "confidence_change_logprob");
        // And the logit's.
        let logit = probability.with_score(Score::Logit).expect("rescores");
        let changes = confidence_change(&logit, &cams).expect("confidence change runs");
        let change: Vec<f32> = changes.iter().map(|c| c.change).collect();
        let what = format!("{backend}: logit change");
        SUITE.check(&fixture, &what, &change, "confidence_change_logit");
    }
}

#[test]
fn infidelity_equals_captum() {
    let fixture = fixture();
    let classes = Targets::classes(&fixture.classes("target")[..6]);
    let attributions = maps(&fixture, "attribution")[..6].to_vec();
    for (backend, device) in devices() {
        let net = net(&device);
        let batch = Scorer::new(&net, Score::Logit)
            .with_batch_size(20)
            .prepare(fixture.tensor("input", &device).narrow(0, 0, 6), &classes)
            .expect("prepares");
        for (normalize, key) in [(false, "infidelity"), (true, "infidelity_normalized")] {
            let values = infidelity_with_perturbations(
                &batch,
                &attributions,
                fixture.tensor("infidelity_noise", &device),
                normalize,
            )
            .expect("infidelity runs");
            SUITE.check(&fixture, &format!("{backend}: {key}"), &values, key);
        }
    }
}

#[test]
fn sensitivity_max_equals_captum() {
    let fixture = fixture();
    let classes = Targets::classes(&fixture.classes("target")[..6]);
    for (backend, device) in devices() {
        let net = net(&device);
        let batch = Scorer::new(&net, Score::Logit)
            .prepare(fixture.tensor("input", &device).narrow(0, 0, 6), &classes)
            .expect("prepares");
        let saliency = Saliency::new();
        let methods: [(&dyn burn_gradcam::explain::Attribution, &str); 2] = [
            (&saliency, "sensitivity_saliency"),
            (&GuidedBackprop, "sensitivity_guided_backprop"),
        ];
        for (method, key) in methods {
            let values = sensitivity_max_with_perturbations(
                &batch,
                method,
                fixture.tensor("sensitivity_noise", &device),
                16,
            )
            .expect("sensitivity runs");
            SUITE.check(&fixture, &format!("{backend}: {key}"), &values, key);
        }
    }
}

#[test]
fn deletion_and_insertion_equal_the_reference_transcription() {
    let fixture = fixture();
    let classes = Targets::classes(fixture.classes("target"));
    let cams = maps(&fixture, "cam");
    // A black pixel after normalisation, in f32 as the reference computes it.
    let black = (0.0_f32 - 0.1307) / 0.3081;
    for (backend, device) in devices() {
        let net = net(&device);
        // A batch size that splits the images' curves across passes.
        let batch = Scorer::new(&net, Score::Probability)
            .with_batch_size(100)
            .prepare(fixture.tensor("input", &device), &classes)
            .expect("prepares");
        let config = CurveConfig::new()
            .with_steps(28)
            .with_baseline(Baseline::Constant(black));
        let deletion = deletion_curves(&batch, &cams, &config).expect("deletion runs");
        let insertion = insertion_curves(&batch, &cams, &config).expect("insertion runs");
        for (kind, curves) in [("deletion", &deletion), ("insertion", &insertion)] {
            let scores: Vec<f32> = curves
                .iter()
                .flat_map(|c| c.scores.iter().copied())
                .collect();
            let auc: Vec<f32> = curves.iter().map(|c| c.auc).collect();
            let (curve, area) = (format!("{kind}_curve"), format!("{kind}_auc"));
            SUITE.check(
                &fixture,
                &format!("{backend}: {kind} curve"),
                &scores,
                &curve,
            );
            SUITE.check(&fixture, &format!("{backend}: {kind} AUC"), &auc, &area);
        }
    }
}
