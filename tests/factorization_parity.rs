//! Deep Feature Factorisation equals pytorch-grad-cam's `DeepFeatureFactorization` (fixtures:
//! `tools/reference/factorization.py`): scikit-learn's NMF from numpy's random start, on the
//! MNIST net at `conv2` (29 images, 5 and 3 concepts) and the seeded ResNet-18 at `layer4` (three
//! 224×224 images, 5 concepts; its maps compared at every 4th row and column).
//!
//! Errors are relative to each concept's (each image's, for the maps) largest magnitude; each
//! tolerance is the 1-2-5 step at or above four times the worst measured on flex, ndarray and
//! wgpu (figures in `SUITE`). The factorisation runs its 200 sweeps of coordinate descent in
//! float32 on both sides without reaching scikit-learn's tolerance (on the MNIST net each sweep
//! still moves the factors by 5.6e-4), yet stays within float32's reach of the peer:
//! scikit-learn's own float32 and float64 results differ by 6.5e-6 of the largest value, and a
//! 1e-6 change of the activations moves its result by 4e-6 to 7.5e-6. On the MNIST net, whose
//! conv2 output is mostly negative, every concept is negative after the ReLU that follows, so
//! the head scores all of them alike (its biases): equal, but a weak check of the head there. On the MNIST net the maps of the
//! blank and the saturated image are left out (see the test).

use crate::common;

use burn::tensor::{Device, Tensor};
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{DeepFeatureFactorization, Factorization, Input, Map};
use burn_gradcam::mnist::preprocess;
use common::{Check, Fixture, Suite, devices, net};

use crate::methods_parity::{methods, varying_activation_images};
use crate::zoo_parity::{images, resnet18, sampled};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "factorization_parity",
    fixture: "tests/fixtures/factorization.safetensors",
    checks: &[
        Check::new("mnist_dff5_concepts", 1e-5), // 1.7e-6 / 1.7e-6 / 1.2e-6
        Check::new("mnist_dff5_maps", 5e-5),     // 4.0e-6 / 5.1e-6 / 4.0e-6
        Check::new("mnist_dff5_concept_logits", 2e-6), // 0 / 0 / 3.7e-8
        Check::new("mnist_dff3_concepts", 5e-6), // 5.4e-7 / 7.7e-7 / 5.4e-7
        Check::new("mnist_dff3_maps", 5e-5),     // 4.1e-6 / 5.1e-6 / 3.9e-6
        Check::new("mnist_dff3_concept_logits", 2e-6), // 0 / 0 / 3.7e-8
        Check::new("r18_dff_concepts", 5e-5),    // 6.2e-6 / 6.6e-6 / 4.4e-6
        Check::new("r18_dff_maps", 5e-5),        // 5.0e-6 / 5.7e-6 / 3.4e-6
        Check::new("r18_dff_concept_logits", 5e-5), // 8.1e-6 / 8.6e-6 / 5.1e-6
    ],
};

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().expect("f32 values")
}

/// The concepts one per row, as the fixture holds them.
fn concepts(found: &Factorization) -> Vec<f32> {
    values(found.concepts.clone().transpose())
}

fn logits(found: &Factorization) -> Vec<f32> {
    values(
        found
            .concept_logits
            .clone()
            .expect("a CNN's head scores the concepts"),
    )
}

/// The concepts and their logits, and the maps of the images `images` lists (all when `None`).
fn check_all(
    fixture: &Fixture,
    what: &str,
    found: &Factorization,
    prefix: &str,
    maps: Vec<f32>,
    images: Option<&[usize]>,
) {
    SUITE.check(
        fixture,
        what,
        &concepts(found),
        &format!("{prefix}_concepts"),
    );
    SUITE.check(
        fixture,
        what,
        &logits(found),
        &format!("{prefix}_concept_logits"),
    );
    let key = format!("{prefix}_maps");
    let (shape, expected) = fixture.f32(&key);
    let images: Vec<usize> = images.map_or_else(|| (0..shape[0]).collect(), <[usize]>::to_vec);
    let per_image = expected.len() / shape[0];
    let pick = |values: &[f32]| -> Vec<f32> {
        images
            .iter()
            .flat_map(|&i| values[i * per_image..(i + 1) * per_image].iter().copied())
            .collect()
    };
    common::assert_close_per_image(
        &format!("{what} vs {key}"),
        &pick(&maps),
        &pick(&expected),
        images.len(),
        SUITE.tolerance(&key),
    );
}

#[test]
fn deep_feature_factorization_equals_pytorch_grad_cam_on_the_mnist_net() {
    let fixture = SUITE.fixture();
    let digits = common::reference().digits();
    // The blank and the saturated image's activations are the same in every cell: their maps
    // are float32 rounding, which the per-map normalisation stretches to noise on both sides.
    let varying = varying_activation_images(&methods());
    for (backend, device) in devices() {
        let net = net(&device);
        let input = Input::new(&net, preprocess(&digits, &device)).expect("digits");
        for components in [5, 3] {
            let dff = DeepFeatureFactorization::new().with_components(components);
            let found = dff.factorize(&net, &input).expect("factorised");
            let prefix = format!("mnist_dff{components}");
            check_all(
                &fixture,
                &format!("{backend}: {prefix}"),
                &found,
                &prefix,
                values(found.maps.clone()),
                Some(&varying),
            );
        }
    }
}

#[test]
fn deep_feature_factorization_equals_pytorch_grad_cam_on_resnet18() {
    let fixture = SUITE.fixture();
    let images = images();
    for (backend, device) in devices() {
        let net = resnet18(&device);
        let input =
            Input::new(&net, images.to_tensor(Normalization::ImageNet, &device)).expect("images");
        let found = DeepFeatureFactorization::new()
            .factorize(&net, &input)
            .expect("factorised");
        let maps = Map::from_batch(found.maps.clone()).expect("maps");
        let maps: Vec<&Map> = maps.iter().collect();
        check_all(
            &fixture,
            &format!("{backend}: resnet18"),
            &found,
            "r18_dff",
            sampled(&maps),
            None,
        );
    }
}

/// Bad settings are typed errors; the same batch factorises to the same concepts every time.
#[test]
fn settings_are_checked_and_reruns_are_identical() {
    let device = Device::default();
    let net = net(&device);
    let digits = common::reference().digits();
    let input = Input::new(&net, preprocess(&digits, &device)).expect("digits");
    let error = DeepFeatureFactorization::new()
        .with_components(0)
        .factorize(&net, &input)
        .unwrap_err();
    assert!(error.to_string().contains("components"), "{error}");
    let dff = DeepFeatureFactorization::new();
    let first = concepts(&dff.factorize(&net, &input).expect("factorised"));
    let second = concepts(&dff.factorize(&net, &input).expect("factorised"));
    assert_eq!(first, second);
}
