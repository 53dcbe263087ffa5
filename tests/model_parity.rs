//! The Burn network computes what PyTorch computes on the same weights and inputs.

use crate::common;

use burn_gradcam::mnist::{Digits, preprocess};
use common::{Check, Suite, devices, net, repo_path};

/// The forward pass against torch's on the reference images (worst relative error measured:
/// flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "model_parity",
    fixture: "tests/fixtures/reference.safetensors",
    checks: &[
        Check::new("input", 2e-6),     // the same float32 arithmetic: 0 / 0 / 0
        Check::new("features", 5e-6),  // 7.0e-7 / 7.8e-7 / 3.0e-7
        Check::new("log_probs", 2e-6), // 3.1e-7 / 3.5e-7 / 2.9e-7
        Check::new("logits", 2e-6),    // 3.5e-7 / 4.9e-7 / 3.1e-7
    ],
};

/// The forward pass against torch's on the first 64 evaluation digits.
pub(crate) const EVAL: Suite = Suite {
    name: "model_parity (evaluation set)",
    fixture: "tests/fixtures/eval_predictions.safetensors",
    checks: &[Check::new("log_probs_head", 5e-6)], // 4.8e-7 / 5.2e-7 / 3.3e-7
};

#[test]
fn preprocessing_equals_torch() {
    let fixture = SUITE.fixture();
    for (backend, device) in devices() {
        let input = preprocess(&fixture.digits(), &device)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        SUITE.check(
            &fixture,
            &format!("{backend}: preprocessing"),
            &input,
            "input",
        );
    }
}

#[test]
fn forward_equals_torch() {
    let fixture = SUITE.fixture();
    for (backend, device) in devices() {
        let net = net(&device);
        let input = preprocess(&fixture.digits(), &device);
        let features = net.features(input.clone());
        let log_probs = net.head(features.clone());
        let logits = net.logits(input.clone());
        for (name, actual, key) in [
            (
                "features",
                features.into_data().try_to_vec::<f32>().expect("f32"),
                "features",
            ),
            (
                "log-probabilities",
                log_probs.into_data().try_to_vec::<f32>().expect("f32"),
                "log_probs",
            ),
            (
                "logits",
                logits.into_data().try_to_vec::<f32>().expect("f32"),
                "logits",
            ),
        ] {
            SUITE.check(&fixture, &format!("{backend}: {name}"), &actual, key);
        }
        let forward = net
            .forward(input)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let what = format!("{backend}: forward = head ∘ features");
        SUITE.check(&fixture, &what, &forward, "log_probs");
    }
}

#[test]
fn predictions_on_the_evaluation_set_equal_torch() {
    let eval =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let fixture = EVAL.fixture();
    let expected = fixture.classes("predictions");
    let labels = eval.labels().expect("labelled");
    assert_eq!(expected.len(), eval.len());
    for (backend, device) in devices() {
        let net = net(&device);
        let mut predicted = Vec::with_capacity(eval.len());
        for start in (0..eval.len()).step_by(500) {
            let batch = eval.slice(start..start + 500).expect("non-empty batch");
            let log_probs = net.forward(preprocess(&batch, &device));
            predicted.extend(
                log_probs
                    .argmax(1)
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .expect("i64")
                    .into_iter()
                    .map(|c| c as usize),
            );
            if start == 0 {
                let actual = net
                    .forward(preprocess(&eval.slice(0..64).expect("64"), &device))
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32");
                let what = format!("{backend}: evaluation log-probabilities");
                EVAL.check(&fixture, &what, &actual, "log_probs_head");
            }
        }
        let mismatches = predicted
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            mismatches, 0,
            "{backend}: {mismatches} predictions differ from PyTorch"
        );
        let correct = predicted
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == usize::from(**l))
            .count();
        let accuracy = correct as f64 / eval.len() as f64;
        println!(
            "{backend}: accuracy on {} held-out digits: {:.2}%",
            eval.len(),
            accuracy * 100.0
        );
        assert!(accuracy >= 0.97, "{backend}: accuracy {accuracy}");
    }
}
