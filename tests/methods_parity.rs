//! The CAM family equals pytorch-grad-cam, and the pixel methods equal Captum, on the committed
//! weights and the 29 reference images, every image compared. Fixtures:
//! `tools/reference/methods.py`.
//!
//! Every fixture explains the logit (a model wrapper returning logits): a confident prediction's
//! log-probability gradient is rounding noise in float32 (`stability.rs` checks it in float64).
//! Errors are relative to each image's reference map's largest magnitude; each tolerance is the
//! 1-2-5 step at or above four times the worst error measured on flex, ndarray and wgpu, never
//! below 2e-6 (the figures, per check, in `SUITE`).

use crate::common;

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use burn_gradcam::explain::{
    AnyCam, Attribution, BinaryOutput, CamSettings, ClassSum, Combination, Deconvolution, EigenCam,
    ExplainError, Explainable, FullGrad, InputXGradient, IntegratedGradients, Integration, KpcaCam,
    KpcaKernel, MultiLayerCam, NoiseAggregation, Occlusion, OutputLayer, Preset, RawScores, ReSt,
    ReluMode, Saliency, Score, ScoreGradient, SmoothGrad, Target, TargetFn, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Check, Fixture, Suite, devices, explain, net, relative_errors};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "methods_parity",
    fixture: "tests/fixtures/methods.safetensors",
    checks: &[
        // The CAM family; OpenCV resizes pytorch-grad-cam's maps (bilinear, as here).
        Check::new("pgc_gradcam", 5e-6), // 1.0e-6 / 1.2e-6 / 7.2e-7
        Check::new("pgc_gradcam_plusplus", 1e-4), // 5.2e-6 / 7.5e-6 / 1.9e-5: G³ in a denominator
        Check::new("pgc_xgradcam", 5e-5), // 6.6e-6 / 6.1e-6 / 9.8e-6
        Check::new("pgc_hirescam", 5e-6), // 8.3e-7 / 8.3e-7 / 8.3e-7
        Check::new("pgc_layercam", 5e-6), // 1.1e-6 / 8.3e-7 / 9.5e-7
        Check::new("pgc_scorecam", 2e-5), // 3.3e-6 / 2.2e-6 / 2.9e-6
        Check::new("pgc_eigencam", 1e-5), // 1.1e-6 / 1.3e-6 / 7.5e-7
        Check::new("pgc_eigengradcam", 2e-5), // 1.9e-6 / 4.8e-6 / 4.5e-6
        Check::new("pgc_gradcam_elementwise", 5e-6), // 1.0e-6 / 8.3e-7 / 9.5e-7
        Check::new("pgc_ablationcam", 1e-5), // 2.3e-6 / 2.2e-6 / 2.3e-6
        Check::new("pgc_fem", 5e-6),     // 9.2e-7 / 8.9e-7 / 6.9e-7
        Check::new("pgc_fullgrad", 1e-5), // 1.3e-6 / 1.4e-6 / 1.4e-6
        // KPCA-CAM per kernel (the zero-variance images aside: see its test).
        Check::new("pgc_kpcacam", 1e-5), // 1.3e-6 / 1.5e-6 / 1.6e-6
        Check::new("pgc_kpcacam_linear", 1e-5), // 1.1e-6 / 1.4e-6 / 7.2e-7
        Check::new("pgc_kpcacam_poly", 2e-5), // 2.1e-6 / 2.9e-6 / 1.2e-6
        // One image's centred RBF kernel has its two largest eigenvalues 1.1 % apart: float32's
        // rounding turns the component on either side (2.9e-5 / 2.8e-5 / 3.0e-5).
        Check::new("pgc_kpcacam_rbf", 2e-4),
        Check::new("pgc_kpcacam_cosine", 5e-5), // 4.6e-6 / 6.7e-6 / 4.2e-6
        // Smoothings and several layers.
        Check::new("pgc_gradcam_eigen_smooth", 5e-6), // 7.2e-7 / 8.9e-7 / 8.3e-7
        Check::new("pgc_gradcam_elementwise_eigen_smooth", 5e-5), // 2.1e-6 / 5.9e-6 / 5.7e-6
        Check::new("pgc_gradcam_aug_smooth", 5e-6),   // 7.2e-7 / 7.5e-7 / 6.0e-7
        Check::new("pgc_gradcam_conv1_conv2", 5e-6),  // 8.9e-7 / 8.9e-7 / 7.7e-7
        Check::new("pgc_hirescam_conv1_conv2", 1e-5), // 1.3e-6 / 1.3e-6 / 1.3e-6
        Check::new("pgc_scorecam_conv1_conv2", 1e-5), // 2.3e-6 / 1.9e-6 / 1.6e-6
        // Other targets.
        Check::new("pgc_gradcam_target_sum_3_8", 5e-6), // 9.5e-7 / 8.9e-7 / 6.6e-7
        Check::new("pgc_scorecam_target_sum_3_8", 2e-5), // 3.3e-6 / 1.8e-6 / 2.0e-6
        Check::new("pgc_gradcam_target_rest", 5e-6),    // 9.5e-7 / 8.9e-7 / 8.9e-7
        Check::new("pgc_gradcam_target_binary_0", 5e-6), // 7.7e-7 / 9.5e-7 / 7.2e-7
        Check::new("pgc_gradcam_target_raw_scores", 5e-6), // 7.7e-7 / 8.3e-7 / 6.6e-7
        // Eigen-CAM's projection before any ReLU (the blank image aside: see its test).
        Check::new("eigencam_projection", 1e-5), // 1.1e-6 / 1.3e-6 / 7.5e-7
        // Captum's pixel methods.
        Check::new("captum_saliency", 2e-6), // 3.9e-7 / 3.9e-7 / 3.4e-7
        Check::new("captum_saliency_signed", 2e-6), // 3.9e-7 / 3.9e-7 / 3.4e-7
        Check::new("captum_input_x_gradient", 2e-6), // 4.2e-7 / 4.8e-7 / 3.4e-7
        Check::new("captum_deconvolution", 2e-6), // 3.7e-7 / 4.5e-7 / 3.5e-7
        Check::new("captum_occlusion_3x3_s2", 2e-5), // 3.2e-6 / 3.2e-6 / 4.2e-6
        Check::new("captum_occlusion_4x4_black", 1e-5), // 1.7e-6 / 1.7e-6 / 1.9e-6
        // Integrated Gradients with 50 Gauss–Legendre points from the zero baseline: the first
        // points pass max-pool windows through near-ties, where torch's kernels and these round a
        // tie the other way on one image (the inverted digit): 1.8e-4 / 1.8e-4 / 2.6e-4. Held to
        // 5e-4, twice the worst, below the 1e-3 that a moved pixel must exceed.
        Check::new("captum_ig_gausslegendre", 5e-4),
        Check::new("captum_ig_trapezoid_black", 2e-6), // 3.0e-7 / 3.0e-7 / 3.0e-7
        Check::new("captum_smoothgrad_saliency", 2e-6), // 1.8e-7 / 2.0e-7 / 2.1e-7
        Check::new("captum_vargrad_saliency", 2e-5),   // 4.9e-6 / 3.3e-6 / 4.2e-6
    ],
};

/// The peers' targets: the predicted classes' logits (the fixtures' model returns logits).
fn peers() -> Targets {
    Targets::predicted().with_score(Score::Logit)
}

pub(crate) fn methods() -> Fixture {
    SUITE.fixture()
}

#[test]
fn cam_family_equals_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    for (backend, device) in devices() {
        let net = net(&device);
        for (name, key) in [
            ("grad-cam", "pgc_gradcam"),
            ("grad-cam-plus-plus", "pgc_gradcam_plusplus"),
            ("xgrad-cam", "pgc_xgradcam"),
            ("hires-cam", "pgc_hirescam"),
            ("layer-cam", "pgc_layercam"),
            ("score-cam", "pgc_scorecam"),
            ("eigen-cam", "pgc_eigencam"),
            ("eigen-grad-cam", "pgc_eigengradcam"),
            ("grad-cam-element-wise", "pgc_gradcam_elementwise"),
            ("ablation-cam", "pgc_ablationcam"),
            ("fem", "pgc_fem"),
        ] {
            let method = AnyCam::from_name(name)
                .expect("a CAM")
                .with_settings(Preset::PytorchGradCam.cam_settings());
            let cams = explain(&method, &net, preprocess(&digits, &device), &logits);
            let targets: Vec<usize> = cams.iter().map(|c| c.prediction.target).collect();
            assert_eq!(targets, fixture.classes("target"));
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {name}"),
                cams.iter().map(|c| &c.map),
                key,
            );
        }
    }
}

/// The reference images whose conv2 activations vary over the cells: all but the blank and the
/// saturated image, whose Eigen-CAM projection is float32 rounding only (a method that
/// normalises each map stretches that rounding to noise, with nothing to compare).
pub(crate) fn varying_activation_images(fixture: &Fixture) -> Vec<usize> {
    let (shape, projection) = fixture.f32("eigencam_projection");
    let (_, activation_scale) = fixture.f32("eigencam_activation_scale");
    let per_projection = projection.len() / shape[0];
    let varying: Vec<usize> = (0..shape[0])
        .filter(|&i| {
            let p = &projection[i * per_projection..(i + 1) * per_projection];
            p.iter().fold(0.0_f32, |m, v| m.max(v.abs())) >= 1e-5 * activation_scale[i]
        })
        .collect();
    assert_eq!(
        varying.len(),
        shape[0] - 2,
        "the blank and saturated images aside"
    );
    varying
}

/// KPCA-CAM equals pytorch-grad-cam's `KPCA_CAM` with each kernel (`γ = 1/K`, its default) on
/// every image whose activations vary over the cells. The blank and the saturated images'
/// do not (Eigen-CAM's test says so): their centred kernel matrix is float32 rounding on both
/// sides, which pytorch-grad-cam's min-max scaling stretches to a map of noise, with nothing to
/// compare.
#[test]
fn kpca_cam_equals_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    let shape = fixture.f32("pgc_kpcacam").0;
    let varying = varying_activation_images(&fixture);
    let per_image = shape[1] * shape[2];
    let pick = |values: &[f32]| -> Vec<f32> {
        varying
            .iter()
            .flat_map(|&i| values[i * per_image..(i + 1) * per_image].iter().copied())
            .collect()
    };
    let logits = Targets::predicted().with_score(Score::Logit);
    for (backend, device) in devices() {
        let net = net(&device);
        for (kernel, key) in [
            (KpcaKernel::Sigmoid, "pgc_kpcacam"),
            (KpcaKernel::Linear, "pgc_kpcacam_linear"),
            (KpcaKernel::Poly, "pgc_kpcacam_poly"),
            (KpcaKernel::Rbf, "pgc_kpcacam_rbf"),
            (KpcaKernel::Cosine, "pgc_kpcacam_cosine"),
        ] {
            let method = KpcaCam::new()
                .with_kernel(kernel)
                .with_settings(Preset::PytorchGradCam.cam_settings());
            let cams = explain(&method, &net, preprocess(&digits, &device), &logits);
            let actual: Vec<f32> = cams.iter().flat_map(|c| c.map.values.clone()).collect();
            common::assert_close_per_image(
                &format!(
                    "{backend}: kpca-cam ({kernel}) vs {key} (images with varying activations)"
                ),
                &pick(&actual),
                &pick(&fixture.f32(key).1),
                varying.len(),
                SUITE.tolerance(key),
            );
        }
    }
}

/// `eigen_smooth` and `aug_smooth` equal pytorch-grad-cam's (the projection's sign pinned by its
/// sign correction, as for Eigen-CAM): around Grad-CAM (per-channel weights) and element-wise
/// Grad-CAM (per-cell products).
#[test]
fn cam_smoothing_equals_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    let peer = Preset::PytorchGradCam.cam_settings();
    let eigen: fn(CamSettings, bool) -> CamSettings = CamSettings::with_eigen_smooth;
    let aug: fn(CamSettings, bool) -> CamSettings = CamSettings::with_aug_smooth;
    for (backend, device) in devices() {
        let net = net(&device);
        for (name, smoothing, key) in [
            ("grad-cam", eigen, "pgc_gradcam_eigen_smooth"),
            (
                "grad-cam-element-wise",
                eigen,
                "pgc_gradcam_elementwise_eigen_smooth",
            ),
            ("grad-cam", aug, "pgc_gradcam_aug_smooth"),
        ] {
            let method = AnyCam::from_name(name)
                .expect("a CAM")
                .with_settings(smoothing(peer, true));
            let cams = explain(&method, &net, preprocess(&digits, &device), &logits);
            let targets: Vec<usize> = cams.iter().map(|c| c.prediction.target).collect();
            assert_eq!(targets, fixture.classes("target"));
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {}", method.label()),
                cams.iter().map(|c| &c.map),
                key,
            );
        }
    }
}

/// A CAM over conv1 and conv2 equals pytorch-grad-cam's with `target_layers=[conv1, conv2]`:
/// for a gradient CAM (the backward reaches conv1 through conv2's segment), a per-cell one and a
/// gradient-free one. A layer the model does not tap is a typed error naming the ones it does.
#[test]
fn cams_over_several_layers_equal_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    let peer = Preset::PytorchGradCam.cam_settings();
    for (backend, device) in devices() {
        let net = net(&device);
        for (name, key) in [
            ("grad-cam", "pgc_gradcam_conv1_conv2"),
            ("hires-cam", "pgc_hirescam_conv1_conv2"),
            ("score-cam", "pgc_scorecam_conv1_conv2"),
        ] {
            let cam = AnyCam::from_name(name).expect("a CAM").with_settings(peer);
            let method = MultiLayerCam::new(cam, ["conv1"]);
            let cams = explain(&method, &net, preprocess(&digits, &device), &logits);
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {}", method.label()),
                cams.iter().map(|c| &c.map),
                key,
            );
        }
        let unknown = MultiLayerCam::new(AnyCam::from_name("grad-cam").expect("a CAM"), ["fc1"]);
        let error = unknown
            .attribute(&net, preprocess(&digits, &device), &logits)
            .expect_err("no such layer");
        assert_eq!(
            error.to_string(),
            "the model has no layer \"fc1\" before its explained layer; it taps conv1"
        );
        // Ablation runs the head from the layer: only the explained layer has one.
        let ablation =
            MultiLayerCam::new(AnyCam::from_name("ablation-cam").expect("a CAM"), ["conv1"]);
        match ablation.attribute(&net, preprocess(&digits, &device), &logits) {
            Err(ExplainError::NoHead { layer }) => assert_eq!(layer, "conv1"),
            other => panic!("expected NoHead, got {:?}", other.err()),
        }
    }
}

/// A one-output (binary) model over the MNIST net: logit 3 minus logit 8, `[N, 1]` (the
/// fixture's `ThreeVersusEight`).
struct ThreeVersusEight<'a>(&'a dyn Explainable);

impl Explainable for ThreeVersusEight<'_> {
    fn input_shape(&self) -> [usize; 3] {
        self.0.input_shape()
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.0.features(input, relu)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let z = self.0.logits(features, relu);
        z.clone().narrow(1, 3, 1) - z.narrow(1, 8, 1)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        self.0.device()
    }
}

/// A CAM's name, the target it explains and the fixture key of the peer's maps.
type TargetCase = (&'static str, Arc<dyn Target>, &'static str);

/// Targets other than one class's logit equal pytorch-grad-cam's `model_targets` (and a
/// multi-label lambda): through a gradient CAM, and through Score-CAM, which scores perturbed
/// images by the same target. A closure equals the ready target it spells out. (The targets that
/// differentiate probabilities, the class probability and Finer's weighting, are checked on the
/// ViT, `tests/vit_parity.rs`: this net's confident predictions put `p(1 − p)` at float32's
/// rounding floor, in the peer too.)
#[test]
fn targets_equal_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    let peer = Preset::PytorchGradCam.cam_settings();
    let predicted = Targets::predicted().with_gradient(ScoreGradient::Naive);
    let sum = ClassSum::new([3, 8], Score::Logit);
    let spelled_out = TargetFn::new("logit 3 + logit 8", |outputs, _| {
        let [n, _] = outputs.dims();
        let z = outputs.logits();
        (z.clone().narrow(1, 3, 1) + z.narrow(1, 8, 1)).reshape([n])
    });
    let on_classes: [TargetCase; 4] = [
        (
            "grad-cam",
            Arc::new(sum.clone()),
            "pgc_gradcam_target_sum_3_8",
        ),
        (
            "grad-cam",
            Arc::new(spelled_out),
            "pgc_gradcam_target_sum_3_8",
        ),
        ("score-cam", Arc::new(sum), "pgc_scorecam_target_sum_3_8"),
        ("grad-cam", Arc::new(ReSt), "pgc_gradcam_target_rest"),
    ];
    let binary: [TargetCase; 2] = [
        (
            "grad-cam",
            Arc::new(BinaryOutput { positive: false }),
            "pgc_gradcam_target_binary_0",
        ),
        (
            "grad-cam",
            Arc::new(RawScores),
            "pgc_gradcam_target_raw_scores",
        ),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        let three_versus_eight = ThreeVersusEight(&net);
        let models: [(&dyn Explainable, &[TargetCase]); 2] =
            [(&net, &on_classes), (&three_versus_eight, &binary)];
        for (model, cases) in models {
            for (name, target, key) in cases {
                let method = AnyCam::from_name(name).expect("a CAM").with_settings(peer);
                let targets = predicted.clone().with_shared_target(target.clone());
                let cams = explain(&method, model, preprocess(&digits, &device), &targets);
                SUITE.check_maps(
                    &fixture,
                    &format!("{backend}: {name} for {}", target.label()),
                    cams.iter().map(|c| &c.map),
                    key,
                );
            }
        }
    }
}

/// A target that reads a class the model lacks, or scores the wrong number of images, is a
/// typed error before any map is made.
#[test]
fn bad_targets_are_typed_errors() {
    let digits = common::reference().digits();
    let device = burn_gradcam::Backend::Flex.device().expect("flex");
    let net = net(&device);
    let method = AnyCam::from_name("grad-cam").expect("a CAM");
    let input = || preprocess(&digits, &device);
    let too_far = Targets::predicted().with_target(ClassSum::new([3, 10], Score::Logit));
    match method.attribute(&net, input(), &too_far) {
        Err(ExplainError::TargetOutput {
            output: 10,
            outputs: 10,
            ..
        }) => {}
        other => panic!("expected TargetOutput, got {:?}", other.err()),
    }
    let one_score = TargetFn::new("one score", |outputs, _| outputs.logits().sum());
    let wrong = Targets::predicted().with_target(one_score);
    match method.attribute(&net, input(), &wrong) {
        Err(ExplainError::TargetShape { batch, found, .. }) => {
            assert_eq!((batch, found), (digits.len(), vec![1]));
        }
        other => panic!("expected TargetShape, got {:?}", other.err()),
    }
}

#[test]
fn pixel_methods_equal_captum() {
    let fixture = methods();
    let digits = common::reference().digits();
    let cases: [(&str, &dyn Attribution); 4] = [
        ("captum_saliency", &Saliency::new()),
        (
            "captum_saliency_signed",
            &Saliency::new().with_absolute(false),
        ),
        ("captum_input_x_gradient", &InputXGradient),
        ("captum_deconvolution", &Deconvolution),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        for (key, method) in cases {
            let result = explain(method, &net, preprocess(&digits, &device), &peers());
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|p| &p.map), key);
        }
    }
}

/// FullGrad equals pytorch-grad-cam's `FullGrad` (the input gradient and the bias gradients of
/// conv1 and conv2, every channel normalised on its own).
#[test]
fn full_grad_equals_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    for (backend, device) in devices() {
        let net = net(&device);
        let result = explain(&FullGrad, &net, preprocess(&digits, &device), &peers());
        let targets: Vec<usize> = result.iter().map(|r| r.prediction.target).collect();
        assert_eq!(targets, fixture.classes("target"));
        SUITE.check_maps(
            &fixture,
            backend.name(),
            result.iter().map(|r| &r.map),
            "pgc_fullgrad",
        );
    }
}

/// Occlusion equals Captum's `Occlusion`: a window cut at the border (3×3 by 2 over 28 pixels)
/// with the zero baseline, and a tiling (4×4 by 4) with the black baseline. Forward passes only;
/// the score drops reach 10 (log-probabilities), so the bound is relative to the map's scale.
#[test]
fn occlusion_equals_captum() {
    let fixture = methods();
    let digits = common::reference().digits();
    let black = (0.0 - burn_gradcam::mnist::MNIST_MEAN) / burn_gradcam::mnist::MNIST_STD;
    let cases = [
        (
            "captum_occlusion_3x3_s2",
            Occlusion::new()
                .with_strides([1, 2, 2])
                .with_batch_size(100),
        ),
        (
            "captum_occlusion_4x4_black",
            Occlusion::new()
                .with_window([1, 4, 4])
                .with_strides([1, 4, 4])
                .with_baseline(black),
        ),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        for (key, method) in &cases {
            let result = explain(method, &net, preprocess(&digits, &device), &peers());
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
        }
    }
    let error = Occlusion::new()
        .with_window([1, 3, 3])
        .with_strides([1, 4, 4])
        .attribute(
            &net(&burn::tensor::Device::default()),
            preprocess(&digits, &burn::tensor::Device::default()),
            &peers(),
        )
        .expect_err("a stride beyond the window");
    assert!(error.to_string().contains("Occlusion.strides"), "{error}");
}

/// Eigen-CAM's projection equals pytorch-grad-cam's `get_2d_projection_with_sign_correction`
/// (the SVD's sign pinned by its rule); the map above used it too. Where LAPACK's unpinned sign
/// happens to agree, plain pytorch-grad-cam `EigenCAM` gives the same map.
#[test]
fn eigen_cam_projection_and_its_sign_convention() {
    let fixture = methods();
    let digits = common::reference().digits();
    let (_, expected) = fixture.f32("eigencam_projection");
    let (_, lapack_sign) = fixture.f32("eigencam_lapack_sign");
    for (backend, device) in devices() {
        let net = net(&device);
        let method = EigenCam::new().with_settings(
            Preset::PytorchGradCam
                .cam_settings()
                .with_combination(Combination::Signed),
        );
        let cams = explain(
            &method,
            &net,
            preprocess(&digits, &device),
            &Targets::predicted(),
        );
        let actual: Vec<f32> = cams
            .iter()
            .flat_map(|c| {
                c.layer_cam
                    .as_ref()
                    .expect("a layer map")
                    .values
                    .iter()
                    .copied()
            })
            .collect();
        // The blank image's activations have no spatial variance: its centred activations, and
        // so its projection, are float32 rounding in the peer (5.5e-7 here) as in any float32
        // computation, with no sign or shape to compare. There the check is that the projection
        // is that small: below 1e-5 of the activations' largest magnitude.
        let (_, activation_scale) = fixture.f32("eigencam_activation_scale");
        let per_image = expected.len() / cams.len();
        let mut regular = (Vec::new(), Vec::new());
        for (i, scale) in activation_scale.iter().enumerate() {
            let range = i * per_image..(i + 1) * per_image;
            let reference = &expected[range.clone()];
            let largest = reference.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            if largest < 1e-5 * scale {
                let ours = actual[range].iter().fold(0.0_f32, |m, v| m.max(v.abs()));
                assert!(
                    ours < 1e-5 * scale,
                    "{backend}: image {i}: a zero-variance projection of {ours:e} (activations {scale})"
                );
            } else {
                regular.0.extend_from_slice(&actual[range.clone()]);
                regular.1.extend_from_slice(reference);
            }
        }
        let images = regular.1.len() / per_image;
        let errors = relative_errors(&regular.0, &regular.1, images);
        let worst = errors.iter().fold(0.0_f32, |m, (e, _)| m.max(*e));
        let tolerance = SUITE.tolerance("eigencam_projection");
        assert!(
            worst <= tolerance || std::env::var_os("GRADCAM_PARITY_MEASURE").is_some(),
            "{backend}: Eigen-CAM projection differs by {worst:e} (tolerance {tolerance:e})"
        );
        let agreeing = lapack_sign.iter().filter(|s| **s > 0.0).count();
        println!(
            "{backend}: Eigen-CAM projection: worst relative error {worst:.2e}; LAPACK's sign agrees on {agreeing} of {}",
            cams.len()
        );
    }
}

#[test]
fn integrated_gradients_equal_captum() {
    let fixture = methods();
    let digits = common::reference().digits();
    let black = (0.0 - burn_gradcam::mnist::MNIST_MEAN) / burn_gradcam::mnist::MNIST_STD;
    let cases = [
        ("captum_ig_gausslegendre", IntegratedGradients::new()),
        (
            "captum_ig_trapezoid_black",
            IntegratedGradients::new()
                .with_steps(20)
                .with_integration(Integration::RiemannTrapezoid)
                .with_baseline(black)
                .with_internal_batch_size(Some(100)),
        ),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        for (key, method) in &cases {
            let result = explain(method, &net, preprocess(&digits, &device), &peers());
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
            // The convergence delta is the integral's own error, small by construction: it is
            // compared absolutely (measured 8.6e-6 / 9.1e-6 / 7.6e-6).
            let deltas: Vec<f32> = result
                .iter()
                .map(|r| r.convergence_delta.expect("a delta"))
                .collect();
            let (_, expected_deltas) = fixture.f32(&format!("{key}_delta"));
            let delta_error = deltas
                .iter()
                .zip(&expected_deltas)
                .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                delta_error <= 5e-5,
                "{backend}: {key} convergence delta differs by {delta_error:e}"
            );
            println!("{backend}: {key}: convergence delta within {delta_error:.1e}");
        }
    }
}

/// SmoothGrad and VarGrad around Saliency equal Captum's `NoiseTunnel` given the noise it drew;
/// with the library's own seeded noise the result is reproducible.
#[test]
fn smooth_grad_equals_captum_noise_tunnel() {
    let fixture = methods();
    let digits = common::reference().digits().slice(0..8).expect("8 images");
    let (noise_shape, noise) = fixture.f32("smoothgrad_noise");
    for (backend, device) in devices() {
        let net = net(&device);
        let noise_shape: [usize; 4] = noise_shape.clone().try_into().expect("4-d noise");
        for (aggregation, key) in [
            (NoiseAggregation::SmoothGrad, "captum_smoothgrad_saliency"),
            (NoiseAggregation::VarGrad, "captum_vargrad_saliency"),
        ] {
            let noise = burn::tensor::Tensor::<4>::from_data(
                burn::tensor::TensorData::new(noise.clone(), noise_shape),
                &device,
            );
            let result = SmoothGrad::new(Saliency::new())
                .with_aggregation(aggregation)
                .attribute_with_noise(&net, preprocess(&digits, &device), &peers(), noise)
                .and_then(|a| a.to_maps())
                .expect("explains");
            SUITE.check_maps(&fixture, backend.name(), &result, key);
        }
        let method = SmoothGrad::new(Saliency::new())
            .with_samples(4)
            .with_stdev(0.3)
            .with_seed(11);
        let input = || preprocess(&digits, &device);
        let run =
            |method: &SmoothGrad<Saliency>| explain(method, &net, input(), &Targets::predicted());
        let first = run(&method);
        assert_eq!(first, run(&method), "same seed, same result");
        assert_ne!(
            first,
            run(&method.clone().with_seed(12)),
            "another seed, other noise"
        );
        // A setting that would need more noise than memory holds is refused, not attempted.
        let huge = method.with_samples(usize::MAX / 2);
        assert!(matches!(
            huge.attribute(&net, input(), &Targets::predicted()),
            Err(ExplainError::Setting(_))
        ));
    }
}
