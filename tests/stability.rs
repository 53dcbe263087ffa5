//! The stable score gradient is exact where float32 rounds the peers to noise: every map, on
//! every reference image — the 13 the model is sure of (1 − p < 1e-4) included — is within 1e-4
//! of a float64 computation of the same map, relative to that map's largest magnitude.
//! `ScoreGradient::Naive` (the peers' arithmetic, bit for bit: see the parity tests) is printed
//! beside it. Fixture: `tools/reference/float64.py`.

use crate::common;

use burn::tensor::{Tensor, TensorData};
use burn_gradcam::explain::{
    Attribution, Combination, GradCamPlusPlus, GuidedGradCam, HiResCam, ImageAttribution,
    InputXGradient, IntegratedGradients, LayerCam, Map, Preset, Saliency, ScoreGradient,
    SmoothGrad, Targets, XGradCam,
};
use burn_gradcam::mnist::{MnistNet, preprocess};
use common::{Fixture, devices, net, reference};

/// Error allowed relative to the float64 map's largest magnitude.
const TOLERANCE: f32 = 1e-4;
/// Integrated Gradients' path starts at the zero baseline, where the activations are tiny: at two
/// of its 50 points on one confident image (held-out digit 14) float32 breaks a ReLU or max-pool
/// near-tie the other way than float64, which moves 2e-3 of the map. torch's float32 Captum
/// differs from float64 by the same 2e-3 there, with the stable score or without: it is the
/// path's arithmetic, not the score's gradient (every other image: 4e-7).
const INTEGRATED_GRADIENTS: f32 = 3e-3;
/// Grad-CAM++'s `a_ij = G² / (2G² + (Σ A)·G³ + 1e-6)`: where `G < 0` the denominator passes near
/// zero, so float32 moves the map by up to 6e-4 on an image the model is *not* sure of (image
/// 12; the peers' float32 by 1.8e-3 there): the method's conditioning, not the score's.
const GRAD_CAM_PLUS_PLUS: f32 = 1e-3;

fn float64() -> Fixture {
    Fixture::load("tests/fixtures/float64.safetensors")
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

/// Per image, `max |actual − expected| / max |expected|` (0 for two all-zero maps).
fn relative_errors(actual: &[Map], expected: &[f32]) -> Vec<f32> {
    let per_image = expected.len() / actual.len();
    actual
        .iter()
        .zip(expected.chunks(per_image))
        .map(|(a, e)| {
            assert_eq!(a.values.len(), e.len(), "map sizes");
            let scale = e.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            let error = a
                .values
                .iter()
                .zip(e)
                .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
            if scale > 0.0 {
                error / scale
            } else if error == 0.0 {
                0.0
            } else {
                f32::INFINITY
            }
        })
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
    check_within(what, method, checks, net, input, backend, TOLERANCE);
}

fn check_within(
    what: &str,
    method: &dyn Attribution,
    checks: &[(Part, &str)],
    net: &MnistNet,
    input: &Tensor<4>,
    backend: &str,
    tolerance: f32,
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
        check_within(
            "integrated gradients",
            &IntegratedGradients::new(),
            &[(Part::Map, "captum_ig")],
            &net,
            &input,
            backend,
            INTEGRATED_GRADIENTS,
        );
        check_within(
            "Grad-CAM++",
            &GradCamPlusPlus::new().with_settings(relu_after_sum),
            &[(Part::LayerCam, "grad_cam_plus_plus_layer")],
            &net,
            &input,
            backend,
            GRAD_CAM_PLUS_PLUS,
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
        assert!(max(&stable) <= TOLERANCE, "{backend}: {stable:?}");
    }
}
