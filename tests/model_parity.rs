//! The Burn network computes what PyTorch computes on the same weights and inputs.

use crate::common;

use burn_gradcam::mnist::{Digits, preprocess};
use common::{Fixture, assert_close_per_image, devices, max_abs_diff, net, reference, repo_path};

#[test]
fn preprocessing_equals_torch() {
    let fixture = reference();
    let (_, expected) = fixture.f32("input");
    for (backend, device) in devices() {
        let input = preprocess(&fixture.digits(), &device)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let error = max_abs_diff(&input, &expected);
        assert!(
            error <= 1e-6,
            "{backend}: preprocessing differs by {error:e}"
        );
    }
}

#[test]
fn forward_equals_torch() {
    let fixture = reference();
    for (backend, device) in devices() {
        let net = net(&device);
        let input = preprocess(&fixture.digits(), &device);
        let features = net.features(input.clone());
        let log_probs = net.head(features.clone());
        let logits = net.logits(input.clone());
        let n = fixture.digits().len();
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
            let (_, expected) = fixture.f32(key);
            let worst =
                assert_close_per_image(&format!("{backend}: {name}"), &actual, &expected, n, 1e-5);
            println!("{backend}: {name}: worst relative error {worst:.2e}");
        }
        let forward = net
            .forward(input)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert!(
            max_abs_diff(&forward, &fixture.f32("log_probs").1) <= 1e-5,
            "{backend}: forward = head ∘ features"
        );
    }
}

#[test]
fn predictions_on_the_evaluation_set_equal_torch() {
    let eval =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let fixture = Fixture::load("tests/fixtures/eval_predictions.safetensors");
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
                let (_, head) = fixture.f32("log_probs_head");
                let actual = net
                    .forward(preprocess(&eval.slice(0..64).expect("64"), &device))
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32");
                let worst = assert_close_per_image(
                    &format!("{backend}: evaluation log-probabilities"),
                    &actual,
                    &head,
                    64,
                    1e-5,
                );
                println!(
                    "{backend}: evaluation log-probabilities: worst relative error {worst:.2e}"
                );
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
