//! The zoo's ResNets equal torchvision, Captum and pytorch-grad-cam on real architectures
//! (fixtures: `tools/reference/resnet.py`):
//!
//! - torchvision `resnet18()` with seeded weights and BatchNorm statistics (regenerated here bit
//!   for bit, loaded from a `.safetensors` file), the three committed 224×224 RGB images, explicit
//!   classes, explained at `layer4`;
//! - the trained Fashion-MNIST ResNet (`data/fashion_resnet.pth`) at `layer4` and `layer3`.
//!
//! Tolerance: 1e-4 of the reference map's largest magnitude, per image (BatchNorm is folded into
//! the convolutions here, a difference of float rounding; pytorch-grad-cam's CAM is resized by
//! OpenCV). The 224×224 maps are compared at every 4th row and column, as the fixture stores them.
//!
//! ResNet-18 runs every fixture on flex and, on the other backends, the core of each peer (the
//! logits, Captum's Grad-CAM and Guided Grad-CAM, pytorch-grad-cam's Grad-CAM) on one image:
//! `backend_parity.rs` compares every method across backends already, and a 224×224 ResNet on a
//! software GPU costs minutes per method in CI.

use crate::common;

use burn::tensor::Device;
use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    AnyCam, Combination, GradCam, GuidedBackprop, GuidedGradCam, Map, MultiLayerCam, Preset,
    ScoreCam, Targets,
};
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use common::{
    Fixture, devices, explain, repo_path, seeded_safetensors, worst_error_per_image_above,
};

const TOLERANCE: f32 = 1e-4;
/// Guided backprop on ResNet-18 crosses 50 ReLUs: where one pre-activation is within float32
/// rounding of 0, any change of rounding flips it. torch itself, with the BatchNorms folded as
/// here, moves the coffee image's guided map by 3.0e-3 of its maximum (the other two: 3e-7);
/// the maps built on it get that tolerance.
const GUIDED_ON_RESNET: f32 = 5e-3;
const STEP: usize = 4;

fn fixture() -> Fixture {
    Fixture::load("tests/fixtures/resnet.safetensors")
}

/// The fixture `key`'s values (`of` images, the same count each) of the first `n` images.
fn first_images(fixture: &Fixture, key: &str, of: usize, n: usize) -> Vec<f32> {
    let values = fixture.f32(key).1;
    values[..values.len() / of * n].to_vec()
}

/// Every `STEP`th row and column of each plane of each map, row-major.
fn sampled(maps: &[&Map]) -> Vec<f32> {
    let mut out = Vec::new();
    for map in maps {
        let [c, h, w] = map.shape;
        for plane in 0..c {
            for y in (0..h).step_by(STEP) {
                for x in (0..w).step_by(STEP) {
                    out.push(map.values[(plane * h + y) * w + x]);
                }
            }
        }
    }
    out
}

/// Asserts `max |a − e| ≤ TOLERANCE · max |e|` per image and returns the worst ratio.
fn check(what: &str, actual: &[f32], expected: &[f32], images: usize) -> f32 {
    check_within(what, actual, expected, images, TOLERANCE)
}

fn check_within(
    what: &str,
    actual: &[f32],
    expected: &[f32],
    images: usize,
    tolerance: f32,
) -> f32 {
    let (i, worst, _) =
        worst_error_per_image_above(what, actual, expected, images, f32::MIN_POSITIVE);
    assert!(
        worst <= tolerance,
        "{what}: image {i} differs by {worst:e} of its maximum"
    );
    println!("{what}: worst {worst:.2e} of the map's maximum");
    worst
}

fn resnet18(device: &Device) -> ResNet {
    let config = ResNetConfig::resnet18();
    let weights = seeded_safetensors(&config.state_dict_keys(), 18);
    ResNet::load(config, weights.path(), device)
        .expect("seeded weights load")
        .0
}

fn images() -> Images {
    Images::from_dir(repo_path("data/images"), 3, [224, 224], false).expect("committed images")
}

#[test]
fn resnet18_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = fixture();
    let images = images();
    let classes = fixture.classes("r18_target");
    for (backend, device) in devices() {
        let every_fixture = backend == Backend::Flex;
        // Off flex, the first image: on a software GPU each pass over three is half a minute.
        let n = if every_fixture { images.len() } else { 1 };
        let net = resnet18(&device);
        let input = images
            .slice(0..n)
            .expect("committed images")
            .to_tensor(Normalization::ImageNet, &device);
        let targets = Targets::classes(classes[..n].to_vec());
        let expected = |key: &str| first_images(&fixture, key, images.len(), n);
        let what = |m: &str| format!("{backend}: resnet18 {m}");

        let logits = net.forward(input.clone());
        let logits = Map::from_batch(logits.reshape([n, 1, 1, 1000])).expect("reads");
        let logits: Vec<f32> = logits.iter().flat_map(|m| m.values.clone()).collect();
        check(&what("logits"), &logits, &expected("r18_logits"), n);

        let captum = Preset::Captum.cam_settings();
        let combinations = [
            (Combination::ReluAfterSum, "r18_captum_layer_gradcam"),
            (Combination::Signed, "r18_captum_layer_gradcam_signed"),
        ];
        for (combination, key) in &combinations[..if every_fixture { 2 } else { 1 }] {
            let cam = GradCam::new().with_settings(captum.with_combination(*combination));
            let result = explain(&cam, &net, input.clone(), &targets);
            let layers: Vec<f32> = result
                .iter()
                .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                .collect();
            check(&what(key), &layers, &expected(key), n);
        }
        let guided = explain(
            &GuidedGradCam::guided(captum),
            &net,
            input.clone(),
            &targets,
        );
        let pixel: Vec<&Map> = guided
            .iter()
            .map(|g| g.pixel.as_ref().expect("pixel"))
            .collect();
        let maps: Vec<&Map> = guided.iter().map(|g| &g.map).collect();
        let key = "r18_captum_guided_backprop";
        let guided_map = |key: &str, maps: &[&Map]| {
            check_within(
                &what(key),
                &sampled(maps),
                &expected(key),
                n,
                GUIDED_ON_RESNET,
            )
        };
        guided_map(key, &pixel);
        // Where the near-tie sits the CAM is zero: Guided Grad-CAM holds the 1e-4.
        let key = "r18_captum_guided_gradcam";
        check(&what(key), &sampled(&maps), &expected(key), n);

        let pgc = Preset::PytorchGradCam.cam_settings();
        let cams = explain(
            &GradCam::new().with_settings(pgc),
            &net,
            input.clone(),
            &targets,
        );
        let maps: Vec<&Map> = cams.iter().map(|c| &c.map).collect();
        check(
            &what("r18_pgc_gradcam"),
            &sampled(&maps),
            &expected("r18_pgc_gradcam"),
            n,
        );
        if !every_fixture {
            continue;
        }
        // Two target layers: the backward reaches layer3 through layer4's blocks.
        let two_layers = MultiLayerCam::new(GradCam::new().with_settings(pgc), ["layer3"]);
        let cams = explain(&two_layers, &net, input.clone(), &targets);
        let maps: Vec<&Map> = cams.iter().map(|c| &c.map).collect();
        let key = "r18_pgc_gradcam_layer3_layer4";
        check(&what(key), &sampled(&maps), &expected(key), n);
        // pytorch-grad-cam's guided backprop is [H, W, C]: compare channel-major.
        let gbp = explain(&GuidedBackprop, &net, input.clone(), &targets);
        let maps: Vec<&Map> = gbp.iter().map(|g| &g.map).collect();
        let (shape, hwc) = fixture.f32("r18_pgc_guided_backprop");
        let (h, w) = (shape[1], shape[2]);
        let chw: Vec<f32> = (0..n)
            .flat_map(|i| {
                let hwc = &hwc;
                (0..3).flat_map(move |c| (0..h * w).map(move |p| hwc[((i * h * w) + p) * 3 + c]))
            })
            .collect();
        let key = "r18_pgc_guided_backprop";
        check_within(&what(key), &sampled(&maps), &chw, n, GUIDED_ON_RESNET);

        let relu_after_sum = pgc.with_combination(Combination::ReluAfterSum);
        for (name, key) in [
            ("grad-cam-plus-plus", "r18_pgc_grad_cam_plus_plus_layer"),
            ("xgrad-cam", "r18_pgc_xgrad_cam_layer"),
            ("hires-cam", "r18_pgc_hires_cam_layer"),
            ("layer-cam", "r18_pgc_layer_cam_layer"),
            ("eigen-cam", "r18_pgc_eigen_cam_layer"),
        ] {
            let method = AnyCam::from_name(name)
                .expect("a CAM")
                .with_settings(relu_after_sum);
            let result = explain(&method, &net, input.clone(), &targets);
            let layers: Vec<f32> = result
                .iter()
                .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                .collect();
            check(&what(key), &layers, &expected(key), n);
        }
    }
}

#[test]
fn the_trained_fashion_resnet_equals_captum_and_pytorch_grad_cam_at_two_stages() {
    let fixture = fixture();
    let images =
        Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false).expect("bundled images");
    for (backend, device) in devices() {
        // Off flex, three of the ten images (three classes), as for ResNet-18 above.
        let n = if backend == Backend::Flex {
            images.len()
        } else {
            3
        };
        let expected = |key: &str| first_images(&fixture, key, images.len(), n);
        let (net, _) = ResNet::load(
            ResNetConfig::fashion(),
            repo_path("data/fashion_resnet.pth"),
            &device,
        )
        .expect("the committed weights load");
        let input = images
            .slice(0..n)
            .expect("bundled images")
            .to_tensor(Normalization::FashionMnist, &device);
        let targets = Targets::predicted();
        let captum = Preset::Captum.cam_settings();
        for layer in ["layer3", "layer4"] {
            let at = net.clone().explained_at(layer).expect("a stage");
            let result = explain(&GuidedGradCam::guided(captum), &at, input.clone(), &targets);
            let classes: Vec<usize> = result.iter().map(|r| r.prediction.target).collect();
            assert_eq!(
                classes,
                fixture.classes("fashion_target")[..n],
                "{backend}: predictions"
            );
            let maps: Vec<f32> = result.iter().flat_map(|r| r.map.values.clone()).collect();
            let key = format!("fashion_captum_guided_gradcam_{layer}");
            check(&format!("{backend}: {key}"), &maps, &expected(&key), n);
            if layer == "layer3" {
                let layers: Vec<f32> = result
                    .iter()
                    .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                    .collect();
                let key = "fashion_captum_layer_gradcam_layer3";
                check(&format!("{backend}: {key}"), &layers, &expected(key), n);
            }
        }
        // Score-CAM is a forward pass per channel of layer4: off flex, on the first image.
        let scored = if backend == Backend::Flex { n } else { 1 };
        let score_cam = ScoreCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
        let first = input.clone().slice(0..scored);
        let result = explain(&score_cam, &net, first, &targets);
        let maps: Vec<f32> = result.iter().flat_map(|r| r.map.values.clone()).collect();
        let key = "fashion_pgc_scorecam_layer4";
        let expected_scores = first_images(&fixture, key, images.len(), scored);
        check(
            &format!("{backend}: {key}"),
            &maps,
            &expected_scores,
            scored,
        );
        let two_layers = MultiLayerCam::new(
            GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings()),
            ["layer3"],
        );
        let result = explain(&two_layers, &net, input, &targets);
        let maps: Vec<f32> = result.iter().flat_map(|r| r.map.values.clone()).collect();
        let key = "fashion_pgc_gradcam_layer3_layer4";
        check(&format!("{backend}: {key}"), &maps, &expected(key), n);
    }
}
