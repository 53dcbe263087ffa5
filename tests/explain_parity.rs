//! Every map equals its PyTorch-ecosystem peer (Captum 0.9, pytorch-grad-cam 1.5.7, and a
//! plain-torch transcription of the seed's Algorithm 1) on the committed weights and images.
//! Fixtures: `tools/reference/reference.py`. The cases are a table: settings, method, and which
//! map must equal which fixture tensor.
//!
//! Tolerances: 1e-5 of max(1, the reference map's largest magnitude) where the maths is the same
//! (float32 summation order is the only difference); 1e-3 for pytorch-grad-cam's CAM, which
//! OpenCV resizes with its own arithmetic. pytorch-grad-cam min-max normalises its maps: for an
//! image the model is sure of (target probability above 1 − 1e-4) the score's gradient `δ − p`
//! sits at float32's noise floor, and normalising magnifies a one-ulp difference in `exp` (seen on
//! ndarray) into percent-level changes. For those images the normalised map is rounding noise, so
//! the test compares what precedes the normalisation: the raw layer CAM, to 1e-5.

use crate::common;

use burn_gradcam::explain::{
    Attribution, CamSettings, Combination, GradCam, GuidedBackprop, GuidedGradCam,
    ImageAttribution, Map, Preset, Score, ScoreGradient, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Fixture, assert_close_per_image, devices, net, reference};

const SAME_MATH: f32 = 1e-5;
const OPENCV_RESIZE: f32 = 1e-3;
const SATURATED: f32 = 1e-4;

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
    score: Score,
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
    // The peers' gradient, rounding included.
    let targets = match case.targets {
        None => Targets::predicted(),
        Some(key) => Targets::classes(fixture.classes(key)),
    }
    .with_score(case.score)
    .with_gradient(ScoreGradient::Naive);
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
    let fixture = reference();
    let expected_targets = fixture.classes(case.targets.unwrap_or("target"));
    for (backend, images) in compute(&case, &fixture) {
        let targets: Vec<usize> = images.iter().map(|m| m.prediction.target).collect();
        assert_eq!(targets, expected_targets, "{backend}: targets");
        for &(wanted, key) in case.checks {
            fixture.check_maps(
                &format!("{backend}: {wanted:?}"),
                images.iter().map(|m| field(m, case.method, wanted)),
                key,
                SAME_MATH,
            );
        }
    }
}

/// A preset's CAM settings and score.
fn preset(preset: Preset) -> (CamSettings, Score) {
    (preset.cam_settings(), preset.score())
}

#[test]
fn captum_preset_equals_captum_guided_grad_cam() {
    let (settings, score) = preset(Preset::Captum);
    run(Case {
        settings,
        score,
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
    let (settings, score) = preset(Preset::Captum);
    run(Case {
        settings,
        score,
        targets: Some("alt_target"),
        method: Method::GuidedGradCam,
        checks: &[(Field::GuidedGradCam, "captum_guided_gradcam_alt")],
    });
}

#[test]
fn signed_layer_cam_equals_captum_default() {
    let (settings, score) = preset(Preset::Captum);
    run(Case {
        settings: settings.with_combination(Combination::Signed),
        score,
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::CamLayer, "captum_layer_gradcam_signed")],
    });
}

#[test]
fn logit_score_layer_cam_equals_captum_on_logits() {
    run(Case {
        settings: Preset::Captum.cam_settings(),
        score: Score::Logit,
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::CamLayer, "captum_layer_gradcam_logit_relu")],
    });
}

#[test]
fn seed_preset_equals_the_seed_algorithm() {
    let (settings, score) = preset(Preset::Seed);
    run(Case {
        settings,
        score,
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
    let (settings, score) = preset(Preset::Paper);
    run(Case {
        settings,
        score,
        targets: None,
        method: Method::GradCam,
        checks: &[(Field::Cam, "paper_gradcam")],
    });
}

#[test]
fn guided_backprop_equals_pytorch_grad_cam() {
    let (settings, score) = preset(Preset::PytorchGradCam);
    run(Case {
        settings,
        score,
        targets: None,
        method: Method::GuidedBackprop,
        checks: &[(Field::GuidedBackprop, "pgc_guided_backprop")],
    });
}

#[test]
fn pytorch_grad_cam_preset_equals_pytorch_grad_cam() {
    let fixture = reference();
    let (_, expected) = fixture.f32("pgc_gradcam");
    let (_, layer) = fixture.f32("captum_layer_gradcam_relu");
    for (backend, device) in devices() {
        let net = net(&device);
        let cams = GradCam::new()
            .with_settings(Preset::PytorchGradCam.cam_settings())
            .attribute(
                &net,
                preprocess(&fixture.digits(), &device),
                &Targets::predicted().with_gradient(ScoreGradient::Naive),
            )
            .and_then(|a| a.to_host())
            .expect("explains");
        let (mut worst, mut saturated) = (0.0_f32, 0);
        for (i, cam) in cams.iter().enumerate() {
            let p = &cam.prediction;
            let what = format!("{backend}: pgc CAM image {i}");
            if 1.0 - p.probabilities[p.target] < SATURATED {
                let layer_map = cam.layer_cam.as_ref().expect("a CAM's layer map");
                let n = layer_map.values.len();
                assert_close_per_image(
                    &what,
                    &layer_map.values,
                    &layer[i * n..(i + 1) * n],
                    1,
                    SAME_MATH,
                );
                saturated += 1;
            } else {
                let n = cam.map.values.len();
                let error = assert_close_per_image(
                    &what,
                    &cam.map.values,
                    &expected[i * n..(i + 1) * n],
                    1,
                    OPENCV_RESIZE,
                );
                worst = worst.max(error);
            }
        }
        println!(
            "{backend}: CAM vs pgc_gradcam: worst error {worst:.2e} ({saturated} saturated images compared before normalisation)"
        );
    }
}
