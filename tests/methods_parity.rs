//! The CAM family equals pytorch-grad-cam, and the gradient pixel methods equal Captum, on the
//! committed weights and the 29 reference images. Fixtures: `tools/reference/methods.py`.
//!
//! The CAM fixtures use the logit score (a model wrapper returning logits): pytorch-grad-cam
//! min-max normalises its maps, which would magnify the rounding noise of a confident
//! prediction's log-probability gradient. Tolerances (relative to max(1, the map's largest
//! magnitude)): 1e-4 for the CAMs, which OpenCV resizes with its own arithmetic (measured ≤ 1e-5),
//! 1e-5 for the pixel methods.

mod common;

use burn_gradcam::explain::{
    CamCombination, CamMethod, ExplainConfig, Explainer, IntegratedGradientsConfig, Integration,
    NoiseAggregation, PixelExplanation, PixelMethod, Preset, Score, SmoothGradConfig, Targets,
};
use burn_gradcam::model::preprocess;
use common::{Fixture, assert_close_per_image, devices, net};

fn methods() -> Fixture {
    Fixture::load("tests/fixtures/methods.safetensors")
}

#[test]
fn cam_family_equals_pytorch_grad_cam() {
    let fixture = methods();
    let digits = common::reference().digits();
    for (backend, device) in devices() {
        let net = net(&device);
        for (method, key) in [
            (CamMethod::GradCam, "pgc_gradcam"),
            (CamMethod::GradCamPlusPlus, "pgc_gradcam_plusplus"),
            (CamMethod::XGradCam, "pgc_xgradcam"),
            (CamMethod::HiResCam, "pgc_hirescam"),
            (CamMethod::LayerCam, "pgc_layercam"),
            (CamMethod::ScoreCam, "pgc_scorecam"),
            (CamMethod::EigenCam, "pgc_eigencam"),
        ] {
            let config = ExplainConfig {
                method,
                score: Score::Logit,
                ..Preset::PytorchGradCam.config()
            };
            let cams = Explainer::new(&net, config)
                .grad_cam(preprocess(&digits, &device), &Targets::Predicted)
                .expect("explains");
            let targets: Vec<usize> = cams.iter().map(|c| c.prediction.target).collect();
            assert_eq!(targets, fixture.classes("target"));
            fixture.check_maps(
                &format!("{backend}: {method}"),
                cams.iter().map(|c| &c.cam),
                key,
                1e-4,
            );
        }
    }
}

#[test]
fn pixel_methods_equal_captum() {
    let fixture = methods();
    let digits = common::reference().digits();
    type Method = fn(
        &Explainer<'_, burn_gradcam::model::MnistNet>,
        burn::tensor::Tensor<4>,
    ) -> Vec<PixelExplanation>;
    let cases: [(&str, Method); 3] = [
        ("captum_saliency", |e, x| {
            e.saliency(x, &Targets::Predicted, true).expect("explains")
        }),
        ("captum_saliency_signed", |e, x| {
            e.saliency(x, &Targets::Predicted, false).expect("explains")
        }),
        ("captum_input_x_gradient", |e, x| {
            e.input_x_gradient(x, &Targets::Predicted)
                .expect("explains")
        }),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        let explainer = Explainer::new(&net, Preset::Captum.config());
        for (key, method) in cases {
            let result = method(&explainer, preprocess(&digits, &device));
            fixture.check_maps(
                backend.name(),
                result.iter().map(|p| &p.attribution),
                key,
                1e-5,
            );
        }
    }
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
        let config = ExplainConfig {
            method: CamMethod::EigenCam,
            combination: CamCombination::Signed,
            ..Preset::PytorchGradCam.config()
        };
        let cams = Explainer::new(&net, config)
            .grad_cam(preprocess(&digits, &device), &Targets::Predicted)
            .expect("explains");
        let actual: Vec<f32> = cams
            .iter()
            .flat_map(|c| c.cam_layer.values.iter().copied())
            .collect();
        let worst = assert_close_per_image(
            &format!("{backend}: Eigen-CAM projection"),
            &actual,
            &expected,
            cams.len(),
            1e-4,
        );
        let agreeing = lapack_sign.iter().filter(|s| **s > 0.0).count();
        println!(
            "{backend}: Eigen-CAM projection: worst relative error {worst:.2e}; LAPACK's sign agrees on {agreeing} of {}",
            cams.len()
        );
    }
}

/// Integrated Gradients' tolerance: 1e-4. Along the path, max-pool windows pass through
/// near-ties, where a one-ulp difference in the convolution (seen on ndarray) sends one step's
/// gradient to the neighbouring pixel; flex, which sums like torch, measures about 1e-7.
const INTEGRATED_GRADIENTS: f32 = 1e-4;

#[test]
fn integrated_gradients_equal_captum() {
    let fixture = methods();
    let digits = common::reference().digits();
    let black = (0.0 - burn_gradcam::model::MNIST_MEAN) / burn_gradcam::model::MNIST_STD;
    let cases = [
        (
            "captum_ig_gausslegendre",
            IntegratedGradientsConfig::default(),
        ),
        (
            "captum_ig_trapezoid_black",
            IntegratedGradientsConfig {
                steps: 20,
                integration: Integration::RiemannTrapezoid,
                baseline: black,
                internal_batch_size: Some(100),
            },
        ),
    ];
    for (backend, device) in devices() {
        let net = net(&device);
        let explainer = Explainer::new(&net, Preset::Captum.config());
        for (key, config) in &cases {
            let result = explainer
                .integrated_gradients(preprocess(&digits, &device), &Targets::Predicted, config)
                .expect("explains");
            fixture.check_maps(
                backend.name(),
                result.iter().map(|r| &r.attribution),
                key,
                INTEGRATED_GRADIENTS,
            );
            let deltas: Vec<f32> = result.iter().map(|r| r.convergence_delta).collect();
            let (_, expected_deltas) = fixture.f32(&format!("{key}_delta"));
            let delta_error = deltas
                .iter()
                .zip(&expected_deltas)
                .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                delta_error <= 1e-4,
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
    let method = PixelMethod::Saliency { absolute: true };
    for (backend, device) in devices() {
        let net = net(&device);
        let explainer = Explainer::new(&net, Preset::Captum.config());
        let noise_shape: [usize; 4] = noise_shape.clone().try_into().expect("4-d noise");
        for (aggregation, key) in [
            (NoiseAggregation::SmoothGrad, "captum_smoothgrad_saliency"),
            (NoiseAggregation::VarGrad, "captum_vargrad_saliency"),
        ] {
            let noise = burn::tensor::Tensor::<4>::from_data(
                burn::tensor::TensorData::new(noise.clone(), noise_shape),
                &device,
            );
            let result = explainer
                .smooth_grad_with_noise(
                    preprocess(&digits, &device),
                    &Targets::Predicted,
                    &method,
                    noise,
                    aggregation,
                )
                .expect("explains");
            fixture.check_maps(
                backend.name(),
                result.iter().map(|r| &r.attribution),
                key,
                1e-5,
            );
        }
        let config = SmoothGradConfig {
            samples: 4,
            stdev: 0.3,
            seed: 11,
            aggregation: NoiseAggregation::SmoothGrad,
        };
        let input = || preprocess(&digits, &device);
        let first = explainer
            .smooth_grad(input(), &Targets::Predicted, &method, &config)
            .expect("explains");
        let again = explainer
            .smooth_grad(input(), &Targets::Predicted, &method, &config)
            .expect("explains");
        assert_eq!(first, again, "same seed, same result");
        let other = explainer
            .smooth_grad(
                input(),
                &Targets::Predicted,
                &method,
                &SmoothGradConfig { seed: 12, ..config },
            )
            .expect("explains");
        assert_ne!(first, other, "another seed, other noise");
        // A setting that would need more noise than memory holds is refused, not attempted.
        let huge = SmoothGradConfig {
            samples: usize::MAX / 2,
            ..config
        };
        assert!(matches!(
            explainer.smooth_grad(input(), &Targets::Predicted, &method, &huge),
            Err(burn_gradcam::explain::ExplainError::InvalidSetting { .. })
        ));
    }
}
