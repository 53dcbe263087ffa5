//! The stable score gradient is exact where float32 rounds the peers to noise: every map of the
//! log-probability score, on every reference image — the 13 the model is sure of (1 − p < 1e-4)
//! included — is within its tolerance of a float64 computation of the same map, relative to that
//! map's largest magnitude. `ScoreGradient::Naive` (autodiff of the log-softmax, as torch
//! computes it) is printed beside it. Fixture: `tools/reference/float64.py`; each tolerance is the
//! 1-2-5 step at or above four times the worst error measured on flex, ndarray and wgpu.

use crate::common;

use burn::tensor::{Tensor, TensorData};
use burn_gradcam::explain::{
    Attribution, Combination, GradCamPlusPlus, GuidedGradCam, HiResCam, ImageAttribution,
    InputXGradient, IntegratedGradients, Integration, LayerCam, Map, Preset, Saliency,
    ScoreGradient, SmoothGrad, Targets, XGradCam,
};
use burn_gradcam::mnist::{MnistNet, preprocess};
use common::{Check, Fixture, Suite, devices, net, reference};

/// The suite's checks (worst error relative to the float64 map, measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "stability",
    fixture: "tests/fixtures/float64.safetensors",
    checks: &[
        Check::new("seed_gradcam_layer", 5e-5), // 6.3e-6 / 7.5e-6 / 7.9e-6
        Check::new("seed_gradcam", 5e-5),       // 6.2e-6 / 7.5e-6 / 7.6e-6
        Check::new("seed_guided_gradcam", 1e-4), // 1.2e-5 / 1.5e-5 / 1.4e-5
        Check::new("captum_layer_gradcam", 5e-5), // 6.9e-6 / 7.4e-6 / 7.8e-6
        Check::new("captum_guided_backprop", 5e-5), // 5.7e-6 / 7.3e-6 / 7.2e-6
        Check::new("captum_guided_gradcam", 1e-4), // 1.3e-5 / 1.5e-5 / 1.5e-5
        Check::new("captum_saliency", 5e-5),    // 5.8e-6 / 7.9e-6 / 7.3e-6
        Check::new("captum_input_x_gradient", 5e-5), // 5.7e-6 / 8.0e-6 / 6.6e-6
        Check::new("captum_ig", 5e-6),          // 5.2e-7 / 5.7e-7 / 4.6e-7
        // Grad-CAM++'s `a_ij = G² / (2G² + (Σ A)·G³ + 1e-6)`: where `G < 0` the denominator
        // passes near zero, so float32 moves the map on an image the model is *not* sure of
        // (image 12): the method's conditioning, not the score's. 3.1e-4 / 9.9e-5 / 2.4e-4, held
        // to 5e-4 (below the 1e-3 a moved pixel must exceed).
        Check::new("grad_cam_plus_plus_layer", 5e-4),
        Check::new("xgrad_cam_layer", 1e-4), // 2.3e-5 / 2.1e-5 / 8.5e-6
        Check::new("hires_cam_layer", 5e-5), // 5.8e-6 / 7.5e-6 / 8.4e-6
        Check::new("layer_cam_layer", 5e-5), // 5.8e-6 / 7.8e-6 / 8.3e-6
        Check::new("smoothgrad_saliency", 2e-5), // 2.4e-6 / 2.6e-6 / 2.8e-6
    ],
};

fn float64() -> Fixture {
    SUITE.fixture()
}

/// Which map of a result is compared.
#[derive(Clone, Copy)]
enum Part {
    Map,
    LayerCam,
    Cam,
    Pixel,
}

fn part(image: &ImageAttribution, part: Part) -> &Map {
    match part {
        Part::Map => Some(&image.map),
        Part::LayerCam => image.layer_cam.as_ref(),
        Part::Cam => image.cam.as_ref(),
        Part::Pixel => image.pixel.as_ref(),
    }
    .expect("the method computes this map")
}

/// Per image, the error relative to the float64 map's largest magnitude.
fn relative_errors(actual: &[Map], expected: &[f32]) -> Vec<f32> {
    let values: Vec<f32> = actual.iter().flat_map(|m| m.values.clone()).collect();
    common::relative_errors(&values, expected, actual.len())
        .into_iter()
        .map(|(error, _)| error)
        .collect()
}

/// Runs `method` with both gradients and checks the stable one against the float64 maps.
fn check(
    what: &str,
    method: &dyn Attribution,
    checks: &[(Part, &str)],
    net: &MnistNet,
    input: &Tensor<4>,
    backend: &str,
) {
    let fixture = float64();
    let targets = Targets::classes(fixture.classes("target")[..input.dims()[0]].to_vec());
    let sure: Vec<bool> = fixture_confidence(&fixture)
        .into_iter()
        .map(|c| c < 1e-4)
        .collect();
    let run = |gradient| {
        method
            .attribute(net, input.clone(), &targets.clone().with_gradient(gradient))
            .and_then(|a| a.to_host())
            .expect("explains")
    };
    let stable = run(ScoreGradient::Stable);
    let naive = run(ScoreGradient::Naive);
    for &(which, key) in checks {
        let tolerance = SUITE.tolerance(key);
        let (_, expected) = fixture.f32(key);
        let maps = |images: &[ImageAttribution]| -> Vec<Map> {
            images.iter().map(|i| part(i, which).clone()).collect()
        };
        let stable_errors = relative_errors(&maps(&stable), &expected);
        let naive_errors = relative_errors(&maps(&naive), &expected);
        let worst = |errors: &[f32], confident: bool| {
            errors
                .iter()
                .zip(&sure)
                .filter(|(_, s)| **s == confident)
                .fold(0.0_f32, |m, (e, _)| m.max(*e))
        };
        println!(
            "{backend}: {what} {key}: vs float64, stable {:.1e} (confident images) / {:.1e} (others); \
             naive {:.1e} / {:.1e}",
            worst(&stable_errors, true),
            worst(&stable_errors, false),
            worst(&naive_errors, true),
            worst(&naive_errors, false),
        );
        for (i, error) in stable_errors.iter().enumerate() {
            if std::env::var_os("GRADCAM_PARITY_MEASURE").is_some() {
                if *error > tolerance {
                    println!(
                        "MEASURE FAIL {backend}: {what} {key}: image {i} is {error:e} from float64 (tolerance {tolerance:e})"
                    );
                }
                continue;
            }
            assert!(
                *error <= tolerance,
                "{backend}: {what} {key}: image {i} is {error:e} from float64 (tolerance {tolerance:e})"
            );
        }
    }
}

fn fixture_confidence(fixture: &Fixture) -> Vec<f64> {
    fixture.f64("confidence")
}

#[test]
fn every_map_equals_float64_on_confident_images_too() {
    let digits = reference().digits();
    let captum = Preset::Captum.cam_settings();
    let relu_after_sum = Preset::Seed
        .cam_settings()
        .with_combination(Combination::ReluAfterSum);
    for (backend, device) in devices() {
        let net = net(&device);
        let input = preprocess(&digits, &device);
        let backend = backend.name();
        check(
            "seed Guided Grad-CAM",
            &GuidedGradCam::guided(Preset::Seed.cam_settings()),
            &[
                (Part::LayerCam, "seed_gradcam_layer"),
                (Part::Cam, "seed_gradcam"),
                (Part::Map, "seed_guided_gradcam"),
            ],
            &net,
            &input,
            backend,
        );
        check(
            "Captum Guided Grad-CAM",
            &GuidedGradCam::guided(captum),
            &[
                (Part::LayerCam, "captum_layer_gradcam"),
                (Part::Pixel, "captum_guided_backprop"),
                (Part::Map, "captum_guided_gradcam"),
            ],
            &net,
            &input,
            backend,
        );
        let pixel: [(&str, &dyn Attribution, &str); 2] = [
            ("saliency", &Saliency::new(), "captum_saliency"),
            (
                "input × gradient",
                &InputXGradient,
                "captum_input_x_gradient",
            ),
        ];
        for (what, method, key) in pixel {
            check(what, method, &[(Part::Map, key)], &net, &input, backend);
        }
        // From the black image (the blank image's own pixel), 20 trapezoid steps: see
        // float64.py for why not from the zero baseline.
        let black = (0.0 - burn_gradcam::mnist::MNIST_MEAN) / burn_gradcam::mnist::MNIST_STD;
        check(
            "integrated gradients",
            &IntegratedGradients::new()
                .with_steps(20)
                .with_integration(Integration::RiemannTrapezoid)
                .with_baseline(black),
            &[(Part::Map, "captum_ig")],
            &net,
            &input,
            backend,
        );
        check(
            "Grad-CAM++",
            &GradCamPlusPlus::new().with_settings(relu_after_sum),
            &[(Part::LayerCam, "grad_cam_plus_plus_layer")],
            &net,
            &input,
            backend,
        );
        let cams: [(&dyn Attribution, &str); 3] = [
            (
                &XGradCam::new().with_settings(relu_after_sum),
                "xgrad_cam_layer",
            ),
            (
                &HiResCam::new().with_settings(relu_after_sum),
                "hires_cam_layer",
            ),
            (
                &LayerCam::new().with_settings(relu_after_sum),
                "layer_cam_layer",
            ),
        ];
        for (method, key) in cams {
            check(
                &method.label(),
                method,
                &[(Part::LayerCam, key)],
                &net,
                &input,
                backend,
            );
        }
    }
}

#[test]
fn smooth_grad_equals_float64_given_the_same_noise() {
    let fixture = float64();
    let methods = Fixture::load("tests/fixtures/methods.safetensors");
    let digits = reference().digits().slice(0..8).expect("8 images");
    let (shape, noise) = methods.f32("smoothgrad_noise");
    let shape: [usize; 4] = shape.try_into().expect("4-d noise");
    let (_, expected) = fixture.f32("smoothgrad_saliency");
    let targets = Targets::classes(fixture.classes("target")[..8].to_vec());
    for (backend, device) in devices() {
        let net = net(&device);
        let run = |gradient| {
            let noise = Tensor::<4>::from_data(TensorData::new(noise.clone(), shape), &device);
            SmoothGrad::new(Saliency::new())
                .attribute_with_noise(
                    &net,
                    preprocess(&digits, &device),
                    &targets.clone().with_gradient(gradient),
                    noise,
                )
                .and_then(|a| a.to_maps())
                .expect("explains")
        };
        let stable = relative_errors(&run(ScoreGradient::Stable), &expected);
        let naive = relative_errors(&run(ScoreGradient::Naive), &expected);
        let max = |e: &[f32]| e.iter().fold(0.0_f32, |m, v| m.max(*v));
        println!(
            "{backend}: SmoothGrad(saliency) vs float64: stable {:.1e}, naive {:.1e}",
            max(&stable),
            max(&naive)
        );
        let tolerance = SUITE.tolerance("smoothgrad_saliency");
        assert!(max(&stable) <= tolerance, "{backend}: {stable:?}");
    }
}
