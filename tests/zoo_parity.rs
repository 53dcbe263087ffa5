//! The zoo's ResNets equal torchvision, Captum and pytorch-grad-cam on real architectures
//! (fixtures: `tools/reference/resnet.py`):
//!
//! - torchvision `resnet18()` with seeded weights and BatchNorm statistics (regenerated here bit
//!   for bit, loaded from a `.safetensors` file), the three committed 224×224 RGB images, explicit
//!   classes, explained at `layer4`;
//! - the trained Fashion-MNIST ResNet (`data/fashion_resnet.pth`) at `layer4` and `layer3`.
//!
//! Errors are relative to each image's reference map's largest magnitude (BatchNorm is folded into
//! the convolutions here, a difference of float rounding; pytorch-grad-cam's CAM is resized by
//! OpenCV); each tolerance is the 1-2-5 step at or above four times the worst error measured on
//! flex, ndarray and wgpu, never below 2e-6 (the figures in `SUITE`). The 224×224 maps are
//! compared at every 4th row and column, as the fixture stores them.
//!
//! Every backend checks every map; off flex on fewer images (ResNet-18: the first of three, the
//! Fashion ResNet: three of ten, Score-CAM one), since a 224×224 ResNet on a software GPU costs
//! tens of seconds per method in CI.

use crate::common;

use burn::tensor::Device;
use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    AnyCam, Combination, FullGrad, GradCam, GuidedBackprop, GuidedGradCam, Map, MultiLayerCam,
    Preset, ScoreCam, Targets,
};
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use common::seeded::seeded_safetensors;
use common::{Check, Fixture, Suite, assert_close_per_image, devices, explain, repo_path};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "zoo_parity",
    fixture: "tests/fixtures/resnet.safetensors",
    checks: &[
        Check::new("r18_logits", 5e-6), // 7.3e-7 / 6.4e-7 / 8.3e-7
        Check::new("r18_captum_layer_gradcam", 2e-5), // 2.9e-6 / 3.1e-6 / 4.5e-6
        Check::new("r18_captum_layer_gradcam_signed", 2e-5), // 3.2e-6 / 2.3e-6 / 4.6e-6
        // Guided backprop crosses ResNet-18's 50 ReLUs; one pre-activation of the coffee image
        // sits within float32 rounding of 0, which every backend here resolves as torch does:
        // 4.1e-7 / 4.3e-7 / 3.7e-7 (a kernel whose rounding flipped it would fail this check).
        Check::new("r18_captum_guided_backprop", 2e-6),
        Check::new("r18_captum_guided_gradcam", 5e-5), // 3.9e-6 / 3.3e-6 / 5.7e-6
        Check::new("r18_pgc_gradcam", 2e-5),           // 2.7e-6 / 3.7e-6 / 4.3e-6
        Check::new("r18_pgc_gradcam_layer3_layer4", 2e-5), // 1.7e-6 / 2.5e-6 / 2.7e-6
        Check::new("r18_pgc_guided_backprop", 2e-6),   // 3.1e-7 / 4.3e-7 / 3.7e-7
        // One ReLU of layer1.1 whose input lies within float32's rounding of zero closes on flex
        // and stays open in torch (ndarray and wgpu agree with torch there): the bias gradients
        // of the five layers before it move by up to 2.9 % of a map locally, FullGrad's map by
        // 8.1e-5 / 1.3e-6 / 1.3e-6.
        Check::new("r18_pgc_fullgrad", 2e-4),
        Check::new("r18_pgc_grad_cam_plus_plus_layer", 5e-6), // 8.0e-7 / 6.0e-7 / 5.3e-7
        Check::new("r18_pgc_xgrad_cam_layer", 2e-5),          // 2.8e-6 / 3.3e-6 / 4.2e-6
        Check::new("r18_pgc_hires_cam_layer", 2e-5),          // 2.3e-6 / 3.2e-6 / 4.5e-6
        Check::new("r18_pgc_layer_cam_layer", 5e-6),          // 5.5e-7 / 4.8e-7 / 7.6e-7
        Check::new("r18_pgc_eigen_cam_layer", 5e-6),          // 8.7e-7 / 5.8e-7 / 5.6e-7
        Check::new("r18_pgc_kpca_cam_layer", 5e-6),           // 1.0e-6 / 8.1e-7 / 1.0e-6
        Check::new("fashion_captum_guided_gradcam_layer3", 1e-5), // 1.3e-6 / 6.5e-7 / 5.3e-7
        Check::new("fashion_captum_guided_gradcam_layer4", 5e-6), // 4.6e-7 / 6.3e-7 / 6.5e-7
        Check::new("fashion_captum_layer_gradcam_layer3", 5e-6), // 1.2e-6 / 5.5e-7 / 5.0e-7
        Check::new("fashion_pgc_scorecam_layer4", 1e-5),      // 1.8e-6 / 5.4e-7 / 6.0e-7
        Check::new("fashion_pgc_gradcam_layer3_layer4", 5e-6), // 1.0e-6 / 3.6e-7 / 3.9e-7
    ],
};
pub(crate) const STEP: usize = 4;

fn fixture() -> Fixture {
    SUITE.fixture()
}

/// The fixture `key`'s values (`of` images, the same count each) of the first `n` images.
pub(crate) fn first_images(fixture: &Fixture, key: &str, of: usize, n: usize) -> Vec<f32> {
    let values = fixture.f32(key).1;
    values[..values.len() / of * n].to_vec()
}

/// Every `STEP`th row and column of each plane of each map, row-major.
pub(crate) fn sampled(maps: &[&Map]) -> Vec<f32> {
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

/// Every 4th channel of a layer's map (what the layer fixtures keep), row-major.
pub(crate) fn every_fourth_channel(map: &Map) -> Vec<f32> {
    let plane = map.shape[1] * map.shape[2];
    map.values
        .chunks(plane)
        .step_by(4)
        .flatten()
        .copied()
        .collect()
}

/// Asserts the check of `key` per image and returns the worst error.
fn check(what: &str, actual: &[f32], expected: &[f32], images: usize, key: &str) -> f32 {
    assert_close_per_image(what, actual, expected, images, SUITE.tolerance(key))
}

pub(crate) fn resnet18(device: &Device) -> ResNet {
    let config = ResNetConfig::resnet18();
    let weights = seeded_safetensors(&config.state_dict_keys(), 18);
    ResNet::load(config, weights.path(), device)
        .expect("seeded weights load")
        .0
}

pub(crate) fn images() -> Images {
    Images::from_dir(repo_path("data/images"), 3, [224, 224], false).expect("committed images")
}

#[test]
fn resnet18_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = fixture();
    let images = images();
    let classes = fixture.classes("r18_target");
    for (backend, device) in devices() {
        // Off flex, the first image: on a software GPU each pass over three is half a minute.
        let n = if backend == Backend::Flex {
            images.len()
        } else {
            1
        };
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
        check(
            &what("logits"),
            &logits,
            &expected("r18_logits"),
            n,
            "r18_logits",
        );

        let captum = Preset::Captum.cam_settings();
        let combinations = [
            (Combination::ReluAfterSum, "r18_captum_layer_gradcam"),
            (Combination::Signed, "r18_captum_layer_gradcam_signed"),
        ];
        for (combination, key) in combinations {
            let cam = GradCam::new().with_settings(captum.with_combination(combination));
            let result = explain(&cam, &net, input.clone(), &targets);
            let layers: Vec<f32> = result
                .iter()
                .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                .collect();
            check(&what(key), &layers, &expected(key), n, key);
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
        check(&what(key), &sampled(&pixel), &expected(key), n, key);
        let key = "r18_captum_guided_gradcam";
        check(&what(key), &sampled(&maps), &expected(key), n, key);

        let pgc = Preset::PytorchGradCam.cam_settings();
        let cams = explain(
            &GradCam::new().with_settings(pgc),
            &net,
            input.clone(),
            &targets,
        );
        let maps: Vec<&Map> = cams.iter().map(|c| &c.map).collect();
        let key = "r18_pgc_gradcam";
        check(&what(key), &sampled(&maps), &expected(key), n, key);
        // Two target layers: the backward reaches layer3 through layer4's blocks.
        let two_layers = MultiLayerCam::new(GradCam::new().with_settings(pgc), ["layer3"]);
        let cams = explain(&two_layers, &net, input.clone(), &targets);
        let maps: Vec<&Map> = cams.iter().map(|c| &c.map).collect();
        let key = "r18_pgc_gradcam_layer3_layer4";
        check(&what(key), &sampled(&maps), &expected(key), n, key);
        // pytorch-grad-cam's guided backprop is [H, W, C]: compare channel-major.
        let gbp = explain(&GuidedBackprop, &net, input.clone(), &targets);
        let maps: Vec<&Map> = gbp.iter().map(|g| &g.map).collect();
        let (shape, hwc) = fixture.f32("r18_pgc_guided_backprop");
        let (h, w) = (shape[1], shape[2]);
        let hwc = &hwc[..n * h * w * 3];
        let chw: Vec<f32> = (0..n)
            .flat_map(|i| {
                let hwc = &hwc;
                (0..3).flat_map(move |c| (0..h * w).map(move |p| hwc[((i * h * w) + p) * 3 + c]))
            })
            .collect();
        let key = "r18_pgc_guided_backprop";
        check(&what(key), &sampled(&maps), &chw, n, key);
        // FullGrad: the folded convolutions' biases are the BatchNorms' the peer takes.
        let full = explain(&FullGrad, &net, input.clone(), &targets);
        let maps: Vec<&Map> = full.iter().map(|f| &f.map).collect();
        let key = "r18_pgc_fullgrad";
        check(&what(key), &sampled(&maps), &expected(key), n, key);

        let relu_after_sum = pgc.with_combination(Combination::ReluAfterSum);
        for (name, key) in [
            ("grad-cam-plus-plus", "r18_pgc_grad_cam_plus_plus_layer"),
            ("xgrad-cam", "r18_pgc_xgrad_cam_layer"),
            ("hires-cam", "r18_pgc_hires_cam_layer"),
            ("layer-cam", "r18_pgc_layer_cam_layer"),
            ("eigen-cam", "r18_pgc_eigen_cam_layer"),
            ("kpca-cam", "r18_pgc_kpca_cam_layer"),
        ] {
            let method = AnyCam::from_name(name)
                .expect("a CAM")
                .with_settings(relu_after_sum);
            let result = explain(&method, &net, input.clone(), &targets);
            let layers: Vec<f32> = result
                .iter()
                .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                .collect();
            check(&what(key), &layers, &expected(key), n, key);
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
        let net = common::fashion_resnet(&device);
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
            check(
                &format!("{backend}: {key}"),
                &maps,
                &expected(&key),
                n,
                &key,
            );
            if layer == "layer3" {
                let layers: Vec<f32> = result
                    .iter()
                    .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
                    .collect();
                let key = "fashion_captum_layer_gradcam_layer3";
                check(
                    &format!("{backend}: {key}"),
                    &layers,
                    &expected(key),
                    n,
                    key,
                );
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
            key,
        );
        let two_layers = MultiLayerCam::new(
            GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings()),
            ["layer3"],
        );
        let result = explain(&two_layers, &net, input, &targets);
        let maps: Vec<f32> = result.iter().flat_map(|r| r.map.values.clone()).collect();
        let key = "fashion_pgc_gradcam_layer3_layer4";
        check(&format!("{backend}: {key}"), &maps, &expected(key), n, key);
    }
}
