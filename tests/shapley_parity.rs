//! ShapleyCAM equals pytorch-grad-cam's on the MNIST net and ResNet-18, and refuses what its
//! Hessian-vector product cannot take exactly. Fixture: `tools/reference/shapley_cam.py`.
//!
//! pytorch-grad-cam differentiates the layer's gradient a second time; here the product comes
//! from one pass of the rest linearised at the activations, the target's own Hessian and one
//! backward (`Layer::hessian_product`). Errors are relative to each image's reference map's
//! largest magnitude; tolerances are the 1-2-5 step at or above four times the worst error
//! measured on flex, ndarray and wgpu.

use crate::common;

use std::sync::Arc;

use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor, activation};
use burn_gradcam::Backend;
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{
    Attribution, ExplainError, Explainable, FinerWeighted, GradCam, Map, Preset, ReSt, ReluMode,
    ScoreGradient, ShapleyCam, Stage, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Check, Suite, devices, explain, net, relative_errors};

use crate::zoo_parity::{images, resnet18, sampled};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "shapley_parity",
    fixture: "tests/fixtures/shapley_cam.safetensors",
    checks: &[
        Check::new("mnist_pgc_shapleycam_rest", 5e-6), // 9.5e-7 / 1.2e-6 / 7.2e-7
        Check::new("r18_pgc_shapleycam_rest", 2e-5),   // 2.4e-6 / 2.9e-6 / 3.8e-6
        Check::new("r18_pgc_shapleycam_logit", 2e-5),  // 2.7e-6 / 2.1e-6 / 3.2e-6
    ],
};

/// The peer's targets: each image's class under ReST, its gradient as torch computes it.
fn rest(targets: Targets) -> Targets {
    targets
        .with_shared_target(Arc::new(ReSt))
        .with_gradient(ScoreGradient::Naive)
}

/// The fixture's ShapleyCAM differs from its Grad-CAM by far more than the tolerance on some
/// image, so a product that came out zero (ShapleyCAM = Grad-CAM) fails the check.
fn assert_the_hessian_matters(shapley: &str, grad_cam: &str) {
    let fixture = SUITE.fixture();
    let (shape, expected) = fixture.f32(shapley);
    let (_, other) = fixture.f32(grad_cam);
    let largest = relative_errors(&other, &expected, shape[0])
        .iter()
        .map(|&(error, _)| error)
        .fold(0.0, f32::max);
    assert!(
        largest > 100.0 * SUITE.tolerance(shapley),
        "{shapley}: Grad-CAM's map is within {largest:e} of it"
    );
}

#[test]
fn shapley_cam_equals_pytorch_grad_cam_on_the_mnist_net() {
    assert_the_hessian_matters("mnist_pgc_shapleycam_rest", "mnist_pgc_gradcam_rest");
    let fixture = SUITE.fixture();
    let digits = common::reference().digits();
    let targets = rest(Targets::classes(fixture.classes("mnist_target")));
    let cam = ShapleyCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
    for (backend, device) in devices() {
        let result = explain(&cam, &net(&device), preprocess(&digits, &device), &targets);
        SUITE.check_maps(
            &fixture,
            &format!("{backend}: ShapleyCAM (ReST) at conv2"),
            result.iter().map(|r| &r.map),
            "mnist_pgc_shapleycam_rest",
        );
    }
}

#[test]
fn shapley_cam_equals_pytorch_grad_cam_on_resnet18() {
    assert_the_hessian_matters("r18_pgc_shapleycam_rest", "r18_pgc_gradcam_rest");
    let fixture = SUITE.fixture();
    let images = images();
    let classes = fixture.classes("r18_target");
    let cam = ShapleyCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
    for (backend, device) in devices() {
        // Off flex, the second image: the Hessian moves its map most (its ReST map has many
        // cells; the first image's has one).
        let shown = if backend == Backend::Flex { 0..3 } else { 1..2 };
        let n = shown.len();
        let net = resnet18(&device);
        let input = images
            .slice(shown.clone())
            .expect("committed images")
            .to_tensor(Normalization::ImageNet, &device);
        let classes =
            Targets::classes(classes[shown.clone()].to_vec()).with_gradient(ScoreGradient::Naive);
        for (targets, key) in [
            (rest(classes.clone()), "r18_pgc_shapleycam_rest"),
            (classes, "r18_pgc_shapleycam_logit"),
        ] {
            let result = explain(&cam, &net, input.clone(), &targets);
            let maps: Vec<&Map> = result.iter().map(|r| &r.map).collect();
            let expected = fixture.f32(key).1;
            let per_image = expected.len() / images.len();
            common::assert_close_per_image(
                &format!("{backend}: resnet18 {key}"),
                &sampled(&maps),
                &expected[shown.start * per_image..shown.end * per_image],
                n,
                SUITE.tolerance(key),
            );
        }
        // With a logit score the head after layer4 adds no curvature: Grad-CAM's map.
        if backend == Backend::Flex {
            let targets = Targets::classes(fixture.classes("r18_target"));
            let grad_cam = GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
            let [ours, theirs] = [&cam as &dyn Attribution, &grad_cam]
                .map(|m| explain(m, &net, input.clone(), &targets));
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(
                    a.map.values, b.map.values,
                    "ShapleyCAM of a logit = Grad-CAM"
                );
            }
        }
    }
}

/// A two-channel model whose head is `relu`-free but curved where asked: `curved` routes a GELU
/// through the pass after the layer, `routed` says whether the model claims to route.
struct Head {
    curved: bool,
    routed: bool,
}

impl Explainable for Head {
    fn input_shape(&self) -> [usize; 3] {
        [2, 3, 3]
    }

    fn features(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        relu.apply(x)
    }

    fn logits(&self, a: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let pooled = a.mean_dims(&[2, 3]).flatten::<2>(1, 3);
        let pooled = if self.curved {
            relu.activation(pooled, activation::gelu)
        } else {
            relu.apply(pooled)
        };
        let weight = Tensor::<2>::from_floats([[1.0, -2.0], [0.5, 3.0]], &pooled.device());
        linear(pooled, weight, None)
    }

    fn routes_head_nonlinearities(&self) -> bool {
        self.routed
    }

    fn device(&self) -> Device {
        Device::default()
    }
}

/// What the product cannot take exactly is a typed error naming why, never a wrong map.
#[test]
fn shapley_cam_refuses_what_it_cannot_take_exactly() {
    let device = Device::default();
    let input = Tensor::<4>::from_floats(
        [[
            [[1.0, -2.0, 3.0], [0.5, 0.0, -1.0], [2.0, 1.0, 0.0]],
            [[-1.0, 2.0, 0.5], [1.5, -0.5, 2.0], [0.0, 1.0, 3.0]],
        ]],
        &device,
    );
    let targets = rest(Targets::predicted());
    let refusal = |model: &Head, targets: &Targets| match ShapleyCam::new()
        .attribute(model, input.clone(), targets)
        .and_then(|a| a.to_host())
    {
        Err(ExplainError::NoHessian { reason, .. }) => reason,
        other => panic!("expected NoHessian, got {other:?}"),
    };
    let piecewise = Head {
        curved: false,
        routed: true,
    };
    let explained = explain(&ShapleyCam::new(), &piecewise, input.clone(), &targets);
    assert!(explained[0].map.values.iter().all(|v| v.is_finite()));
    let unrouted = Head {
        curved: false,
        routed: false,
    };
    assert!(refusal(&unrouted, &targets).contains("routes_head_nonlinearities"));
    // Found on the device, so reported with the first read, at its own stage.
    let curved = Head {
        curved: true,
        routed: true,
    };
    let found = ShapleyCam::new()
        .attribute(&curved, input.clone(), &targets)
        .and_then(|a| a.to_host());
    assert!(
        matches!(
            found,
            Err(ExplainError::NonFinite {
                stage: Stage::Hessian,
                ..
            })
        ),
        "{found:?}"
    );
    let message = found.unwrap_err().to_string();
    assert!(message.contains("not piecewise linear"), "{message}");
    let finer = Targets::predicted().with_shared_target(Arc::new(FinerWeighted::new(vec![1], 0.6)));
    assert!(refusal(&piecewise, &finer).contains("no second derivative"));
}
