//! DeepLIFT and DeepLiftShap equal Captum's `DeepLift` and `DeepLiftShap` (the Rescale rule, its
//! max-pool rule) on the MNIST net's 29 reference images, the trained Fashion ResNet's ten
//! bundled images and ResNet-18 at 224×224 (seeded weights, the three committed images),
//! explaining the logit, with the convergence deltas Captum reports; their layer versions equal
//! Captum's `LayerDeepLift` and `LayerDeepLiftShap` at the MNIST net's conv2 and the Fashion
//! ResNet's layer3, and `LayerDeepLift` at ResNet-18's layer4. Fixture:
//! `tools/reference/deeplift.py` (Captum 0.9 with its three DeepLIFT bugs worked around, the
//! script says how).

use crate::common;
use crate::zoo_parity::{first_images, images, resnet18, sampled};

use burn::tensor::{Device, Tensor, TensorData};
use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    Attribution, Attributions, DeepLift, DeepLiftShap, ImageAttribution, LayerDeepLift,
    LayerDeepLiftShap, Map, Score, Targets,
};
use burn_gradcam::mnist::{MNIST_MEAN, MNIST_STD, preprocess};
use common::{Check, Fixture, Suite, devices, explain, net, repo_path};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "deeplift_parity",
    fixture: "tests/fixtures/deeplift.safetensors",
    checks: &[
        Check::new("deep_lift_zero", 5e-5),  // 7.3e-6 / 8.3e-6 / 3.4e-6
        Check::new("deep_lift_black", 5e-6), // 5.0e-7 / 8.4e-7 / 1.0e-6
        Check::new("deep_lift_black_multipliers", 5e-6), // 4.9e-7 / 7.5e-7 / 1.0e-6
        Check::new("deep_lift_shap", 1e-5),  // 1.1e-6 / 9.4e-7 / 1.7e-6
        Check::new("layer_deep_lift_black", 5e-6), // 6.3e-7 / 8.0e-7 / 5.3e-7
        Check::new("layer_deep_lift_shap", 1e-5), // 1.4e-6 / 1.5e-6 / 8.2e-7
        Check::new("fashion_layer_deep_lift_black", 2e-5), // 2.0e-6 / 1.3e-6 / 3.2e-6
        // Float32 itself: torch's own map of image 9 lies 3.4e-5 from float64's (a ReLU's
        // secant slope where input and reference nearly coincide).
        Check::new("fashion_deep_lift_black", 2e-4), // 1.9e-5 / 5.6e-5 / 4.2e-5
        Check::new("fashion_deep_lift_shap", 2e-5),  // 3.0e-6 / 2.0e-6 / 3.7e-6
        Check::new("r18_deep_lift_zero", 1e-4),      // 1.2e-5 / 2.0e-5 / 1.2e-5
        Check::new("r18_deep_lift_black", 2e-4),     // 9.2e-6 / 1.9e-5 / 3.8e-5
        Check::new("r18_deep_lift_shap", 5e-5),      // 5.6e-6 / 5.0e-6 / 4.7e-6
        Check::new("r18_layer_deep_lift_zero", 2e-5), // 1.8e-6 / 2.2e-6 / 2.1e-6
    ],
};

/// The bound on a convergence delta's distance from Captum's, absolute (in logits).
const DELTA: f32 = 5e-5;

/// Asserts that the convergence deltas of `result` equal the fixture's `{key}_delta` (its first
/// images, as many as `result` holds).
fn check_deltas(fixture: &Fixture, what: &str, key: &str, result: &[ImageAttribution]) {
    let deltas: Vec<f32> = result
        .iter()
        .map(|r| r.convergence_delta.expect("a delta"))
        .collect();
    let (_, expected) = fixture.f32(&format!("{key}_delta"));
    assert!(deltas.len() <= expected.len(), "{what}: {key}: deltas");
    let error = deltas
        .iter()
        .zip(&expected)
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
    println!("{what}: {key}: convergence delta within {error:.1e} of Captum's");
    assert!(error <= DELTA, "{what}: {key} delta differs by {error:e}");
}

fn host(attributions: burn_gradcam::explain::Result<Attributions>) -> Vec<ImageAttribution> {
    attributions.and_then(|a| a.to_host()).expect("explains")
}

#[test]
fn deep_lift_on_the_mnist_net_equals_captum() {
    let fixture = SUITE.fixture();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    let black = (0.0 - MNIST_MEAN) / MNIST_STD;
    for (backend, device) in devices() {
        let net = net(&device);
        let input = || preprocess(&digits, &device);
        let methods = [
            ("deep_lift_zero", DeepLift::new()),
            ("deep_lift_black", DeepLift::new().with_baseline(black)),
            (
                "deep_lift_black_multipliers",
                DeepLift::new()
                    .with_baseline(black)
                    .with_multiply_by_inputs(false),
            ),
        ];
        for (key, method) in methods {
            let result = explain(&method, &net, input(), &logits);
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
            if method.multiply_by_inputs {
                check_deltas(&fixture, backend.name(), key, &result);
            }
        }
        let baselines = || fixture.tensor("shap_baselines", &device);
        let runs = [
            (
                "deep_lift_shap",
                DeepLiftShap::new().attribute_with_baselines(&net, input(), &logits, baselines()),
            ),
            (
                "layer_deep_lift_black",
                LayerDeepLift(DeepLift::new().with_baseline(black)).attribute(
                    &net,
                    input(),
                    &logits,
                ),
            ),
            (
                "layer_deep_lift_shap",
                LayerDeepLiftShap(DeepLiftShap::new()).attribute_with_baselines(
                    &net,
                    input(),
                    &logits,
                    baselines(),
                ),
            ),
        ];
        for (key, run) in runs {
            let result = host(run);
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
            check_deltas(&fixture, backend.name(), key, &result);
        }
    }
}

#[test]
fn deep_lift_on_the_fashion_resnet_equals_captum() {
    let fixture = SUITE.fixture();
    let images =
        Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false).expect("bundled images");
    let (mean, std) = Normalization::FashionMnist.mean_std(1);
    let black = (0.0 - mean[0]) / std[0];
    for (backend, device) in devices() {
        let net = common::fashion_resnet(&device);
        let input = || images.to_tensor(Normalization::FashionMnist, &device);
        let what = format!("{backend}: Fashion ResNet");
        let key = "fashion_deep_lift_black";
        let result = host(DeepLift::new().with_baseline(black).attribute(
            &net,
            input(),
            &Targets::predicted(),
        ));
        let classes: Vec<usize> = result.iter().map(|r| r.prediction.target).collect();
        assert_eq!(classes, fixture.classes("fashion_target"), "{what}");
        SUITE.check_maps(&fixture, &what, result.iter().map(|r| &r.map), key);
        check_deltas(&fixture, &what, key, &result);
        let key = "fashion_deep_lift_shap";
        let result = host(DeepLiftShap::new().attribute_with_baselines(
            &net,
            input(),
            &Targets::predicted(),
            fixture.tensor("fashion_shap_baselines", &device),
        ));
        SUITE.check_maps(&fixture, &what, result.iter().map(|r| &r.map), key);
        check_deltas(&fixture, &what, key, &result);
        let key = "fashion_layer_deep_lift_black";
        let at_layer3 = net.explained_at("layer3").expect("a stage");
        let result = host(
            LayerDeepLift(DeepLift::new().with_baseline(black)).attribute(
                &at_layer3,
                input(),
                &Targets::predicted(),
            ),
        );
        SUITE.check_maps(&fixture, &what, result.iter().map(|r| &r.map), key);
        check_deltas(&fixture, &what, key, &result);
    }
}

/// ResNet-18's stem max-pool has overlapping 3×3 windows, which the rule's backward adds up.
#[test]
fn deep_lift_on_resnet18_equals_captum() {
    let fixture = SUITE.fixture();
    let images = images();
    let classes = [7, 281, 504];
    let (mean, std) = Normalization::ImageNet.mean_std(3);
    for (backend, device) in devices() {
        // Off flex, the first image.
        let n = if backend == Backend::Flex {
            images.len()
        } else {
            1
        };
        let net = resnet18(&device);
        let input = images
            .slice(0..n)
            .expect("committed images")
            .to_tensor(Normalization::ImageNet, &device);
        let targets = Targets::classes(classes[..n].to_vec());
        let black: Vec<f32> = (0..3)
            .flat_map(|c| std::iter::repeat_n((0.0 - mean[c]) / std[c], 224 * 224))
            .collect();
        let black = Tensor::<4>::from_data(TensorData::new(black, [1, 3, 224, 224]), &device);
        // Off flex (ndarray and a software GPU take over a minute for the four), the black
        // reference alone: the overlapping max-pool windows and a reference that is not zero.
        // Every DeepLIFT variant runs on every backend on the Fashion ResNet above.
        let flex = backend == Backend::Flex;
        for key in [
            "r18_deep_lift_zero",
            "r18_deep_lift_black",
            "r18_deep_lift_shap",
        ] {
            if !flex && key != "r18_deep_lift_black" {
                continue;
            }
            let run = match key {
                "r18_deep_lift_zero" => DeepLift::new().attribute(&net, input.clone(), &targets),
                "r18_deep_lift_black" => DeepLift::new().attribute_with_baselines(
                    &net,
                    input.clone(),
                    &targets,
                    black.clone(),
                ),
                _ => DeepLiftShap::new().attribute(&net, input.clone(), &targets),
            };
            let result = host(run);
            let maps: Vec<&Map> = result.iter().map(|r| &r.map).collect();
            let what = format!("{backend}: resnet18 {key}");
            let expected = first_images(&fixture, key, images.len(), n);
            common::assert_close_per_image(
                &what,
                &sampled(&maps),
                &expected,
                n,
                SUITE.tolerance(key),
            );
            check_deltas(&fixture, &what, key, &result);
        }
        if !flex {
            continue;
        }
        // At layer4, the network's explained stage, from the zero image.
        let key = "r18_layer_deep_lift_zero";
        let result = host(LayerDeepLift(DeepLift::new()).attribute(&net, input, &targets));
        let ours: Vec<f32> = result.iter().flat_map(|r| r.map.values.clone()).collect();
        let what = format!("{backend}: resnet18 {key}");
        let expected = first_images(&fixture, key, images.len(), n);
        common::assert_close_per_image(&what, &ours, &expected, n, SUITE.tolerance(key));
        check_deltas(&fixture, &what, key, &result);
    }
}

/// A batch gives each image what it gets alone (Captum 0.9's max-pool rule does not: where an
/// input equals its reference it takes the batch's first image's gradient).
#[test]
fn deep_lift_of_a_batch_equals_deep_lift_of_each_image() {
    let device = Device::default();
    let net = net(&device);
    let digits = common::reference().digits().slice(0..6).expect("6 images");
    let black = (0.0 - MNIST_MEAN) / MNIST_STD;
    let method = DeepLift::new().with_baseline(black);
    let batch = explain(
        &method,
        &net,
        preprocess(&digits, &device),
        &Targets::predicted(),
    );
    for (i, whole) in batch.iter().enumerate() {
        let one = digits.slice(i..i + 1).expect("an image");
        let alone = explain(
            &method,
            &net,
            preprocess(&one, &device),
            &Targets::predicted(),
        );
        let error = common::max_abs_diff(&whole.map.values, &alone[0].map.values);
        let scale = whole.map.values.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(error <= 1e-6 * scale, "image {i}: {error:e} of {scale:e}");
    }
}
