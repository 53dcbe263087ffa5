//! The layer attributions equal Captum's `LayerActivation`, `LayerGradientXActivation`,
//! `LayerIntegratedGradients` and `LayerConductance` at the MNIST net's conv2 (the layer its CAMs explain), on the 29
//! reference images, at the trained Fashion ResNet's layer3, on its ten bundled images, and at
//! ResNet-18's layer3 (224×224, seeded weights), explaining the logit. Fixture: `tools/reference/layer.py`.

use crate::common;
use crate::zoo_parity::{every_fourth_channel, first_images, images, resnet18};

use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    Attribution, IntegratedGradients, Integration, LayerActivation, LayerConductance,
    LayerGradientXActivation, LayerIntegratedGradients, Score, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Check, Fixture, Suite, devices, explain, net, repo_path};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "layer_parity",
    fixture: "tests/fixtures/layer.safetensors",
    checks: &[
        Check::new("captum_layer_activation", 5e-6), // 7.0e-7 / 7.8e-7 / 3.0e-7
        Check::new("captum_layer_gradient_x_activation", 5e-6), // 5.7e-7 / 5.7e-7 / 3.2e-7
        Check::new("captum_layer_gradient", 2e-6),   // 0 / 0 / 1.6e-7
        Check::new("captum_layer_ig_trapezoid_black", 5e-6), // 5.2e-7 / 5.2e-7 / 3.9e-7
        Check::new("captum_layer_ig_gausslegendre_black", 5e-6), // 6.6e-7 / 6.6e-7 / 3.3e-7
        Check::new("fashion_captum_layer_activation", 5e-6), // 4.7e-7 / 9.2e-7 / 6.9e-7
        Check::new("fashion_captum_layer_gradient_x_activation", 5e-6), // 5.2e-7 / 7.9e-7 / 6.1e-7
        Check::new("fashion_captum_layer_ig_trapezoid_black", 5e-6), // 6.1e-7 / 9.4e-7 / 1.1e-6
        Check::new("captum_layer_conductance_trapezoid_black", 5e-6), // 8.4e-7 / 8.4e-7 / 3.6e-7
        Check::new("captum_layer_conductance_gausslegendre_black", 5e-6), // 8.6e-7 / 7.8e-7 / 3.6e-7
        Check::new("fashion_captum_layer_conductance_trapezoid_black", 5e-6), // 7.8e-7 / 9.8e-7 / 1.0e-6
        Check::new("r18_captum_layer_activation", 5e-6),                      // measured below
        Check::new("r18_captum_layer_gradient_x_activation", 5e-6),
        Check::new("r18_captum_layer_ig_trapezoid_zero", 5e-6),
        Check::new("r18_captum_layer_conductance_trapezoid_zero", 1e-5), // 2.2e-6, flex
        Check::new(FLOAT64_CONDUCTANCE, 1e-5), // 1.3e-6 / 2.3e-6 / 2.3e-6 (torch's float32: 8.3e-4)
    ],
};

#[test]
fn layer_attributions_equal_captum() {
    let fixture = SUITE.fixture();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    let black = (0.0 - burn_gradcam::mnist::MNIST_MEAN) / burn_gradcam::mnist::MNIST_STD;
    let integrated = |steps, integration, internal_batch_size| {
        LayerIntegratedGradients(
            IntegratedGradients::new()
                .with_steps(steps)
                .with_integration(integration)
                .with_baseline(black)
                .with_internal_batch_size(internal_batch_size),
        )
    };
    let methods: [(&str, Box<dyn Attribution>); 7] = [
        ("captum_layer_activation", Box::new(LayerActivation)),
        (
            "captum_layer_gradient_x_activation",
            Box::new(LayerGradientXActivation::new()),
        ),
        (
            "captum_layer_gradient",
            Box::new(LayerGradientXActivation::new().with_multiply_by_inputs(false)),
        ),
        (
            "captum_layer_ig_trapezoid_black",
            Box::new(integrated(20, Integration::RiemannTrapezoid, Some(100))),
        ),
        (
            "captum_layer_ig_gausslegendre_black",
            Box::new(integrated(50, Integration::GaussLegendre, None)),
        ),
        // Passes of 7 images: the points run over several passes (a pass boundary mid-path).
        (
            "captum_layer_conductance_trapezoid_black",
            Box::new(LayerConductance(
                integrated(20, Integration::RiemannTrapezoid, Some(7 * 29)).0,
            )),
        ),
        (
            "captum_layer_conductance_gausslegendre_black",
            Box::new(LayerConductance(
                integrated(50, Integration::GaussLegendre, None).0,
            )),
        ),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        for (key, method) in &methods {
            let result = explain(method.as_ref(), &net, preprocess(&digits, &device), &logits);
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
            if key.starts_with("captum_layer_ig") || key.starts_with("captum_layer_conductance") {
                check_deltas(&fixture, &backend.to_string(), key, &result);
            }
        }
    }
}

/// Asserts that the convergence deltas of `result` equal the fixture's `{key}_delta`. They are
/// compared absolutely, as Integrated Gradients' (measured: MNIST 4.8e-6 / 3.8e-6 / 5.7e-6,
/// Fashion ResNet 5.7e-6 / 3.8e-6 / 4.8e-6).
fn check_deltas(
    fixture: &Fixture,
    what: &str,
    key: &str,
    result: &[burn_gradcam::explain::ImageAttribution],
) {
    let deltas: Vec<f32> = result
        .iter()
        .map(|r| r.convergence_delta.expect("a delta"))
        .collect();
    let (_, expected) = fixture.f32(&format!("{key}_delta"));
    let error = deltas
        .iter()
        .zip(&expected)
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
    println!("{what}: {key}: convergence delta within {error:.1e}");
    assert!(error <= 5e-5, "{what}: {key} delta differs by {error:e}");
}

#[test]
fn layer_attributions_at_the_fashion_resnets_layer3_equal_captum() {
    let fixture = SUITE.fixture();
    let images =
        Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false).expect("bundled images");
    let logits = Targets::predicted().with_score(Score::Logit);
    let (mean, std) = Normalization::FashionMnist.mean_std(1);
    let black = (0.0 - mean[0]) / std[0];
    let trapezoid_black = IntegratedGradients::new()
        .with_steps(20)
        .with_integration(Integration::RiemannTrapezoid)
        .with_baseline(black);
    let methods: [(&str, Box<dyn Attribution>); 4] = [
        ("fashion_captum_layer_activation", Box::new(LayerActivation)),
        (
            "fashion_captum_layer_gradient_x_activation",
            Box::new(LayerGradientXActivation::new()),
        ),
        (
            "fashion_captum_layer_ig_trapezoid_black",
            Box::new(LayerIntegratedGradients(trapezoid_black)),
        ),
        (
            "fashion_captum_layer_conductance_trapezoid_black",
            Box::new(LayerConductance(trapezoid_black)),
        ),
    ];
    for (backend, device) in devices() {
        let net = common::fashion_resnet(&device);
        let net = net.explained_at("layer3").expect("a stage");
        let input = || images.to_tensor(Normalization::FashionMnist, &device);
        for (key, method) in &methods {
            let result = explain(method.as_ref(), &net, input(), &logits);
            let classes: Vec<usize> = result.iter().map(|r| r.prediction.target).collect();
            assert_eq!(
                classes,
                fixture.classes("fashion_target"),
                "{backend}: predictions"
            );
            let what = format!("{backend}: Fashion ResNet layer3");
            SUITE.check_maps(&fixture, &what, result.iter().map(|r| &r.map), key);
            if key.contains("_ig_") || key.contains("_conductance_") {
                check_deltas(&fixture, &what, key, &result);
            }
        }
    }
}

/// The same at ResNet-18's layer3 (224×224, seeded weights; every 4th channel compared), from the
/// zero image with 5 trapezoid steps; off flex the first image (a software GPU's pass at 224×224
/// is long). Not layer4: only a linear head follows it. Conductance's first image is compared with
/// torch's float64 map (Captum's float32 one is 8.3e-4 of its maximum away from it).
/// torch's float64 conductance at ResNet-18's layer3 (`tools/reference/layer.py`).
const FLOAT64_CONDUCTANCE: &str = "r18_float64_layer_conductance_trapezoid_zero";

#[test]
fn layer_attributions_at_resnet18s_layer3_equal_captum() {
    let fixture = SUITE.fixture();
    let images = images();
    let classes = [7, 281, 504];
    let trapezoid_zero = IntegratedGradients::new()
        .with_steps(5)
        .with_integration(Integration::RiemannTrapezoid);
    let methods: [(&str, Box<dyn Attribution>); 4] = [
        ("r18_captum_layer_activation", Box::new(LayerActivation)),
        (
            "r18_captum_layer_gradient_x_activation",
            Box::new(LayerGradientXActivation::new()),
        ),
        (
            "r18_captum_layer_ig_trapezoid_zero",
            Box::new(LayerIntegratedGradients(trapezoid_zero)),
        ),
        (
            "r18_captum_layer_conductance_trapezoid_zero",
            Box::new(LayerConductance(trapezoid_zero)),
        ),
    ];
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex {
            images.len()
        } else {
            1
        };
        let net = resnet18(&device).explained_at("layer3").expect("a stage");
        let input = images
            .slice(0..n)
            .expect("committed images")
            .to_tensor(Normalization::ImageNet, &device);
        let targets = Targets::classes(classes[..n].to_vec());
        for (key, method) in &methods {
            let result = explain(method.as_ref(), &net, input.clone(), &targets);
            let ours: Vec<f32> = result
                .iter()
                .flat_map(|r| every_fourth_channel(&r.map))
                .collect();
            let what = format!("{backend}: resnet18 layer3 {key}");
            let expected = first_images(&fixture, key, images.len(), n);
            if key.contains("_conductance_") {
                // The first image's conductance is ill-conditioned in float32 (Captum's own map
                // lies 8.3e-4 of its maximum from float64's): it is held to torch's float64 map,
                // the others to Captum's.
                let exact = first_images(&fixture, FLOAT64_CONDUCTANCE, images.len(), n);
                let per = ours.len() / n;
                let (first, rest) = ours.split_at(per);
                let tolerance = SUITE.tolerance(FLOAT64_CONDUCTANCE);
                let exact_what = format!("{what} vs float64");
                common::assert_close_per_image(&exact_what, first, &exact[..per], 1, tolerance);
                if n > 1 {
                    let rest_expected = &expected[per..];
                    common::assert_close_per_image(
                        &what,
                        rest,
                        rest_expected,
                        n - 1,
                        SUITE.tolerance(key),
                    );
                }
            } else {
                common::assert_close_per_image(&what, &ours, &expected, n, SUITE.tolerance(key));
            }
            if key.contains("_ig_") || key.contains("_conductance_") {
                check_deltas(&fixture, &what, key, &result);
            }
        }
    }
}

/// Layer Integrated Gradients refuses settings it cannot run, naming the field.
#[test]
fn layer_integrated_gradients_refuses_bad_settings() {
    let digits = common::reference().digits().slice(0..2).expect("2 images");
    let device = burn::tensor::Device::default();
    let net = net(&device);
    let error = |method: LayerIntegratedGradients| {
        method
            .attribute(&net, preprocess(&digits, &device), &Targets::predicted())
            .expect_err("refused")
            .to_string()
    };
    assert!(
        error(LayerIntegratedGradients(
            IntegratedGradients::new().with_steps(0)
        ))
        .contains("steps")
    );
    assert!(
        error(LayerIntegratedGradients(
            IntegratedGradients::new().with_baseline(f32::NAN)
        ))
        .contains("baseline")
    );
    assert!(
        error(LayerIntegratedGradients(
            IntegratedGradients::new().with_internal_batch_size(Some(0))
        ))
        .contains("internal_batch_size")
    );
    let conductance = LayerConductance(IntegratedGradients::new().with_steps(0))
        .attribute(&net, preprocess(&digits, &device), &Targets::predicted())
        .expect_err("refused")
        .to_string();
    assert!(conductance.contains("LayerConductance") && conductance.contains("steps"));
}
