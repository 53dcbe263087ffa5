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
    CamMethod, ExplainConfig, Explainer, PixelExplanation, Preset, Score, Targets,
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
            let actual: Vec<f32> = cams
                .iter()
                .flat_map(|c| c.cam.values.iter().copied())
                .collect();
            let (shape, expected) = fixture.f32(key);
            let worst = assert_close_per_image(
                &format!("{backend}: {method} vs {key}"),
                &actual,
                &expected,
                shape[0],
                1e-4,
            );
            println!("{backend}: {method} vs {key}: worst error {worst:.2e}");
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
            let actual: Vec<f32> = result
                .iter()
                .flat_map(|p| p.attribution.values.iter().copied())
                .collect();
            let (shape, expected) = fixture.f32(key);
            let worst = assert_close_per_image(
                &format!("{backend}: {key}"),
                &actual,
                &expected,
                shape[0],
                1e-5,
            );
            println!("{backend}: {key}: worst relative error {worst:.2e}");
        }
    }
}
