//! Every map equals its PyTorch-ecosystem peer (Captum 0.9, pytorch-grad-cam 1.5.7, and a
//! plain-torch transcription of the seed's Algorithm 1) on the committed weights and the 29
//! reference images, every image compared. Fixtures: `tools/reference/reference.py`. The cases are
//! a table: settings, method, and which map must equal which fixture tensor.
//!
//! Every map explains the class's logit: the log-probability's gradient of a prediction the model
//! is sure of is rounding noise in float32 (its target term `1 − p` rounds away), in the peers as
//! here, so it is checked against float64 instead (`stability.rs`). Errors are relative to each
//! image's reference map's largest magnitude; each tolerance is the 1-2-5 step at or above four
//! times the worst error measured on flex, ndarray and wgpu (lavapipe), never below 2e-6 (the
//! figures, per check, in `SUITE`).

use crate::common;

use burn_gradcam::explain::{
    Attribution, CamSettings, Combination, GradCam, GuidedBackprop, GuidedGradCam,
    ImageAttribution, Map, Preset, Score, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Check, Fixture, Suite, devices, net};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "explain_parity",
    fixture: "tests/fixtures/reference.safetensors",
    checks: &[
        // 8.8e-7 / 7.3e-7 / 4.6e-7
        Check::new("captum_layer_gradcam_relu", 5e-6),
        // 7.0e-7 / 7.0e-7 / 5.7e-7
        Check::new("captum_layer_gradcam_signed", 5e-6),
        // 3.4e-7 / 4.2e-7 / 4.3e-7
        Check::new("captum_guided_backprop", 2e-6),
        // 3.1e-6 / 3.3e-6 / 7.3e-7: the product of two maps, each within 1e-6
        Check::new("captum_guided_gradcam", 2e-5),
        // 1.8e-6 / 1.9e-6 / 7.7e-7
        Check::new("captum_guided_gradcam_alt", 1e-5),
        // 2.9e-7 / 3.4e-7 / 3.3e-7
        Check::new("pgc_guided_backprop", 2e-6),
        // 1.0e-6 / 1.2e-6 / 7.2e-7: OpenCV's bilinear resize and torch's agree to float32 rounding
        Check::new("pgc_gradcam", 5e-6),
        // 5.8e-7 / 6.3e-7 / 3.0e-7
        Check::new("seed_gradcam_layer", 5e-6),
        // 5.0e-7 / 5.0e-7 / 4.0e-7
        Check::new("seed_gradcam", 2e-6),
        // 6.6e-7 / 8.4e-7 / 6.0e-7
        Check::new("seed_guided_gradcam", 5e-6),
        // 8.6e-7 / 7.4e-7 / 5.3e-7
        Check::new("paper_gradcam", 5e-6),
    ],
};

#[derive(Clone, Copy)]
enum Method {
    GuidedGradCam,
    GradCam,
    GuidedBackprop,
}

#[derive(Clone, Copy, Debug)]
enum Field {
    CamLayer,
    Cam,
    GuidedBackprop,
    GuidedGradCam,
}

struct Case {
    settings: CamSettings,
    /// `None`: the predicted classes; `Some(key)`: the classes in that fixture tensor.
    targets: Option<&'static str>,
    method: Method,
    checks: &'static [(Field, &'static str)],
}

/// The map of `field` among what `method` returned for one image.
fn field(image: &ImageAttribution, method: Method, field: Field) -> &Map {
    let map = match (method, field) {
        (_, Field::CamLayer) => image.layer_cam.as_ref(),
        (Method::GradCam, Field::Cam)
        | (Method::GuidedBackprop, Field::GuidedBackprop)
        | (Method::GuidedGradCam, Field::GuidedGradCam) => Some(&image.map),
        (Method::GuidedGradCam, Field::Cam) => image.cam.as_ref(),
        (Method::GuidedGradCam, Field::GuidedBackprop) => image.pixel.as_ref(),
        _ => None,
    };
    map.unwrap_or_else(|| panic!("{field:?} is not computed by this method"))
}

fn compute(case: &Case, fixture: &Fixture) -> Vec<(String, Vec<ImageAttribution>)> {
    let targets = match case.targets {
        None => Targets::predicted(),
        Some(key) => Targets::classes(fixture.classes(key)),
    }
    .with_score(Score::Logit);
    devices()
        .into_iter()
        .map(|(backend, device)| {
            let net = net(&device);
            let input = preprocess(&fixture.digits(), &device);
            let method: Box<dyn Attribution> = match case.method {
                Method::GuidedGradCam => Box::new(GuidedGradCam::guided(case.settings)),
                Method::GradCam => Box::new(GradCam::new().with_settings(case.settings)),
                Method::GuidedBackprop => Box::new(GuidedBackprop),
            };
            let images = method
                .attribute(&net, input, &targets)
                .and_then(|a| a.to_host())
                .expect("explains");
            (backend.to_string(), images)
        })
        .collect()
}

fn run(case: Case) {
    let fixture = SUITE.fixture();
    let expected_targets = fixture.classes(case.targets.unwrap_or("target"));
    for (backend, images) in compute(&case, &fixture) {
        let targets: Vec<usize> = images.iter().map(|m| m.prediction.target).collect();
        assert_eq!(targets, expected_targets, "{backend}: targets");
        for &(wanted, key) in case.checks {
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {wanted:?}"),
                images.iter().map(|m| field(m, case.method, wanted)),
                key,
            );
        }
    }
}

/// A preset's CAM settings.
fn preset(preset: Preset) -> CamSettings {
    preset.cam_settings()
}

#[test]
fn captum_preset_equals_captum_guided_grad_cam() {
    let settings = preset(Preset::Captum);
    run(Case {
        settings,
        targets: None,
        method: Method::GuidedGradCam,
        checks: &[
            (Field::CamLayer, "captum_layer_gradcam_relu"),
            (Field::GuidedBackprop, "captum_guided_backprop"),
            (Field::GuidedGradCam, "captum_guided_gradcam"),
        ],
    });
}

#[test]
fn explicit_targets_equal_captum() {
    let settings = preset(Preset::Captum);
    run(Case {
        settings,
        targets: Some("alt_target"),
        method: Method::GuidedGradCam,
        checks: &[(Field::GuidedGradCam, "captum_guided_gradcam_alt")],
    });
}

#[test]
fn signed_layer_cam_equals_captum_default() {
    let settings = preset(Preset::Captum);
    run(Case {
        settings: settings.with_combination(Combination::Signed),
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::CamLayer, "captum_layer_gradcam_signed")],
    });
}

#[test]
fn seed_preset_equals_the_seed_algorithm() {
    let settings = preset(Preset::Seed);
    run(Case {
        settings,
        targets: None,
        method: Method::GuidedGradCam,
        checks: &[
            (Field::CamLayer, "seed_gradcam_layer"),
            (Field::Cam, "seed_gradcam"),
            (Field::GuidedGradCam, "seed_guided_gradcam"),
        ],
    });
}

#[test]
fn paper_preset_equals_torch_bilinear_logit_cam() {
    let settings = preset(Preset::Paper);
    run(Case {
        settings,
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::Cam, "paper_gradcam")],
    });
}

#[test]
fn guided_backprop_equals_pytorch_grad_cam() {
    let settings = preset(Preset::PytorchGradCam);
    run(Case {
        settings,
        targets: None,
        method: Method::GuidedBackprop,
        checks: &[(Field::GuidedBackprop, "pgc_guided_backprop")],
    });
}

#[test]
fn pytorch_grad_cam_preset_equals_pytorch_grad_cam() {
    run(Case {
        settings: preset(Preset::PytorchGradCam),
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::Cam, "pgc_gradcam")],
    });
}
