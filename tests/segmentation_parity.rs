//! The zoo's segmentation networks equal torchvision, pytorch-grad-cam and Captum (fixtures:
//! `tools/reference/segmentation.py`): FCN and DeepLabV3 on a dilated ResNet-50, LR-ASPP on a
//! dilated MobileNetV3-Large, seeded weights and BatchNorm statistics, the committed 224×224
//! photographs, each image explained for the class covering most of its predicted pixels,
//! inside those pixels, at `backbone.layer4` (LR-ASPP: `backbone.16`):
//!
//! - at a quarter of ResNet-50's width (`narrowed(4)`), the first two photographs, on every
//!   backend (off flex, the first): the output map (its pixel means and every 8th row and
//!   column), pytorch-grad-cam's `GradCAM` with `SemanticSegmentationTarget(class, mask)`
//!   ([`Region::mask`] from the fixture's mask, and [`Region::predicted`], which finds the same
//!   pixels on the device), Captum's `LayerGradCam` of its segmentation tutorial's wrapper
//!   (each class summed over its predicted pixels: [`Region::predicted`]);
//! - torchvision's `lraspp_mobilenet_v3_large()` at full size (a small network), the same
//!   checks at `backbone.16` (the "high" features; its head also reads `backbone.4`, which the
//!   explained features carry around the split) and the CAMs at `backbone.2`, on every backend;
//! - torchvision's `fcn_resnet50()` and `deeplabv3_resnet50()` at full size on the first
//!   photograph, flex only, ignored in CI (`cargo test --release --test suite -- --ignored
//!   full_size`).
//!
//! Guided backpropagation is compared on LR-ASPP (Captum's `GuidedBackprop` and `GuidedGradCam`
//! of the tutorial's wrapper), not on the ResNet networks: through their dense head it follows
//! float32 rounding (the fixture script's docstring gives both measurements).
//!
//! Errors are relative to each image's reference map's largest magnitude; each tolerance is the
//! 1-2-5 step at or above four times the worst error measured on flex, ndarray and wgpu, never
//! below 2e-6 (the figures in `SUITE`).

use crate::common;

use burn::tensor::{Device, Tensor};
use burn_gradcam::Backend;
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{Combination, GradCam, GuidedGradCam, Map, Preset, Region, Targets};
use burn_gradcam::explain::{Explainable, ReluMode};
use burn_gradcam::zoo::{LrAspp, LrAsppConfig, Segmentation, SegmentationConfig};
use common::seeded::seeded_safetensors;
use common::{Check, Fixture, Suite, assert_close_per_image, devices, explain};

use crate::zoo_parity::{first_images, images, sampled};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "segmentation_parity",
    fixture: "tests/fixtures/segmentation.safetensors",
    checks: &[
        Check::new("fcn_narrow_scores", 2e-6), // 1.2e-7 / 1.2e-7 / 1.6e-7
        Check::new("fcn_narrow_map", 5e-6),    // 9.6e-7 / 1.1e-6 / 1.1e-6
        Check::new("fcn_narrow_pgc_gradcam", 1e-5), // 1.6e-6 / 1.3e-6 / 1.6e-6
        Check::new("fcn_narrow_captum_layer_gradcam", 1e-5), // 1.2e-6 / 1.2e-6 / 1.2e-6
        Check::new("deeplabv3_narrow_scores", 2e-6), // 3.7e-7 / 3.9e-7 / 3.1e-7
        Check::new("deeplabv3_narrow_map", 5e-6), // 9.2e-7 / 1.0e-6 / 9.1e-7
        Check::new("deeplabv3_narrow_pgc_gradcam", 1e-5), // 1.9e-6 / 1.6e-6 / 1.3e-6
        Check::new("deeplabv3_narrow_captum_layer_gradcam", 5e-6), // 1.3e-6 / 1.2e-6 / 9.8e-7
        Check::new("lraspp_mobilenet_v3_large_scores", 2e-6), // 1.8e-7 / 1.2e-7 / 2.0e-7
        Check::new("lraspp_mobilenet_v3_large_map", 5e-6), // 4.8e-7 / 5.6e-7 / 4.8e-7
        // At backbone.16 (960 channels of a 14×14 map): 7.7e-6 / 1.2e-5 / 1.4e-5.
        Check::new("lraspp_mobilenet_v3_large_pgc_gradcam", 1e-4),
        Check::new("lraspp_mobilenet_v3_large_captum_layer_gradcam", 1e-4), // 7.9e-6 / 1.2e-5 / 1.4e-5
        Check::new("lraspp_mobilenet_v3_large_pgc_gradcam_backbone2", 5e-6), // 6.2e-7 / 4.2e-7 / 3.9e-7
        Check::new("lraspp_mobilenet_v3_large_captum_guided_backprop", 2e-6), // 3.1e-7 ×3
        // The CAM's 1.4e-5 at backbone.16, carried: 1.2e-5 / 1.4e-5 / 2.0e-5.
        Check::new("lraspp_mobilenet_v3_large_captum_guided_gradcam", 1e-4),
        Check::new(
            "lraspp_mobilenet_v3_large_captum_layer_gradcam_backbone2",
            5e-6,
        ), // 8.6e-7 / 5.8e-7 / 5.8e-7
        // Full size, flex only (outside CI).
        Check::new("fcn_resnet50_scores", 2e-6), // 2.1e-7
        Check::new("fcn_resnet50_map", 1e-5),    // 1.8e-6
        Check::new("fcn_resnet50_pgc_gradcam", 2e-5), // 2.9e-6
        Check::new("fcn_resnet50_captum_layer_gradcam", 1e-5), // 2.3e-6
        Check::new("deeplabv3_resnet50_scores", 5e-6), // 5.4e-7
        Check::new("deeplabv3_resnet50_map", 1e-5), // 1.7e-6
        Check::new("deeplabv3_resnet50_pgc_gradcam", 5e-5), // 6.0e-6
        Check::new("deeplabv3_resnet50_captum_layer_gradcam", 5e-5), // 5.1e-6
    ],
};

/// The seed of the fixture's weights (bound ±√(3 / fan_in): BatchNorm follows the
/// convolutions).
const SEED: u64 = 21;
/// The fixture keeps every 8th row and column of the output map.
const MAP_STEP: usize = 8;

/// A network of `config`'s shape with the fixture's seeded weights, loaded from a
/// `.safetensors` file (with the auxiliary classifier's keys when `aux`).
pub(crate) fn seeded_segmentation(
    config: SegmentationConfig,
    aux: bool,
    device: &Device,
) -> Segmentation {
    let mut keys = config.state_dict_keys();
    if aux {
        keys.extend(config.aux_state_dict_keys());
    }
    let weights = seeded_safetensors(&keys, SEED);
    Segmentation::load(config, weights.path(), device)
        .expect("seeded weights load")
        .0
}

/// The first `n` committed photographs, ImageNet-normalised, on `device`.
fn photographs(n: usize, device: &Device) -> Tensor<4> {
    images()
        .slice(0..n)
        .expect("committed images")
        .to_tensor(Normalization::ImageNet, device)
}

/// Asserts that `actual` equals the fixture's `key` on the first `n` of its `of` images, at the
/// suite's tolerance.
fn check_key(
    fixture: &Fixture,
    key: &str,
    actual: &[f32],
    (n, of): (usize, usize),
    backend: Backend,
) {
    let expected = first_images(fixture, key, of, n);
    let what = format!("{backend}: {key}");
    assert_close_per_image(&what, actual, &expected, n, SUITE.tolerance(key));
}

/// The fixture's region of each of the first `n` images (`np.packbits` of the mask, bit order
/// big), as [`Region::mask`]s of `size`.
fn regions(fixture: &Fixture, key: &str, n: usize, size: [usize; 2]) -> Vec<Region> {
    let (shape, bytes) = fixture.u8(key);
    let per_image = shape[1];
    (0..n)
        .map(|i| {
            let bits = &bytes[i * per_image..(i + 1) * per_image];
            let weights: Vec<f32> = (0..size[0] * size[1])
                .map(|p| f32::from((bits[p / 8] >> (7 - p % 8)) & 1))
                .collect();
            Region::mask(weights, size).expect("one weight per pixel")
        })
        .collect()
}

/// Every check of network `name` (the fixture's prefix) on the first `n` of the fixture's
/// `of` images, on `device`: its output map and its CAMs at its explained layer (the fixture's
/// keys with `suffix`).
fn check_network(
    fixture: &Fixture,
    name: &str,
    net: &dyn Explainable,
    (n, of): (usize, usize),
    backend: Backend,
    device: &Device,
) {
    check_outputs(fixture, name, net, (n, of), backend, device);
    check_cams(fixture, name, "", net, (n, of), backend, device);
}

/// The network's output map: its pixel means (the scores the methods resolve classes on) and
/// a grid of its pixels.
fn check_outputs(
    fixture: &Fixture,
    name: &str,
    net: &dyn Explainable,
    (n, of): (usize, usize),
    backend: Backend,
    device: &Device,
) {
    let input = photographs(n, device);
    let check = |method: &str, actual: &[f32]| {
        check_key(
            fixture,
            &format!("{name}_{method}"),
            actual,
            (n, of),
            backend,
        );
    };
    let features = net.features(input, ReluMode::Standard);
    let map = net
        .output_map(features, ReluMode::Standard)
        .expect("a segmentation network's map");
    let [_, k, h, w] = map.dims();
    let scores = burn_gradcam::explain::pooled_scores(map.clone());
    check(
        "scores",
        &scores.into_data().try_into_vec::<f32>().expect("f32"),
    );
    let values = map.into_data().try_into_vec::<f32>().expect("f32");
    let grid: Vec<f32> = (0..n * k)
        .flat_map(|plane| {
            let values = &values;
            (0..h).step_by(MAP_STEP).flat_map(move |y| {
                (0..w)
                    .step_by(MAP_STEP)
                    .map(move |x| values[(plane * h + y) * w + x])
            })
        })
        .collect();
    check("map", &grid);
}

/// pytorch-grad-cam's `GradCAM` and Captum's `LayerGradCam` at the network's explained layer
/// (the fixture's `<name>_pgc_gradcam<suffix>`, `<name>_captum_layer_gradcam<suffix>`).
fn check_cams(
    fixture: &Fixture,
    name: &str,
    suffix: &str,
    net: &dyn Explainable,
    (n, of): (usize, usize),
    backend: Backend,
    device: &Device,
) {
    let input = photographs(n, device);
    let classes = fixture.classes(&format!("{name}_target"))[..n].to_vec();
    let check = |method: &str, actual: &[f32]| {
        check_key(
            fixture,
            &format!("{name}_{method}{suffix}"),
            actual,
            (n, of),
            backend,
        );
    };
    let [_, h, w] = net.input_shape();

    // pytorch-grad-cam: one target object per image, each with its own mask.
    let pgc = GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings());
    let masks = regions(fixture, &format!("{name}_mask"), n, [h, w]);
    let per_image: Vec<Map> = masks
        .into_iter()
        .zip(&classes)
        .enumerate()
        .map(|(i, (region, &class))| {
            let targets = Targets::class(class).with_target(region);
            explain(&pgc, net, input.clone().narrow(0, i, 1), &targets)
                .remove(0)
                .map
        })
        .collect();
    check(
        "pgc_gradcam",
        &sampled(&per_image.iter().collect::<Vec<_>>()),
    );
    // The same pixels found on the device, the whole batch in one pass.
    let predicted = Targets::classes(classes.clone()).with_target(Region::predicted());
    let batched = explain(&pgc, net, input.clone(), &predicted);
    let maps: Vec<&Map> = batched.iter().map(|r| &r.map).collect();
    check("pgc_gradcam", &sampled(&maps));

    // Captum, through its tutorial's wrapper: each class over its predicted pixels.
    let captum = Preset::Captum.cam_settings();
    let layer = GradCam::new().with_settings(captum.with_combination(Combination::ReluAfterSum));
    let result = explain(&layer, net, input, &predicted);
    let values: Vec<f32> = result
        .iter()
        .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
        .collect();
    check("captum_layer_gradcam", &values);
}

/// Captum's `GuidedBackprop` and `GuidedGradCam` of its segmentation tutorial's wrapper (each
/// class summed over its predicted pixels: [`Region::predicted`]) at the explained layer.
fn check_guided(
    fixture: &Fixture,
    name: &str,
    net: &dyn Explainable,
    (n, of): (usize, usize),
    backend: Backend,
    device: &Device,
) {
    let input = photographs(n, device);
    let classes = fixture.classes(&format!("{name}_target"))[..n].to_vec();
    let targets = Targets::classes(classes).with_target(Region::predicted());
    let guided = explain(
        &GuidedGradCam::guided(Preset::Captum.cam_settings()),
        net,
        input,
        &targets,
    );
    let check = |method: &str, maps: &[&Map]| {
        check_key(
            fixture,
            &format!("{name}_{method}"),
            &sampled(maps),
            (n, of),
            backend,
        );
    };
    let pixel: Vec<&Map> = guided
        .iter()
        .map(|g| g.pixel.as_ref().expect("a guided map"))
        .collect();
    check("captum_guided_backprop", &pixel);
    let maps: Vec<&Map> = guided.iter().map(|g| &g.map).collect();
    check("captum_guided_gradcam", &maps);
}

#[test]
fn narrow_fcn_and_deeplabv3_equal_torchvision_pytorch_grad_cam_and_captum() {
    let fixture = SUITE.fixture();
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex { 2 } else { 1 };
        for (name, config, aux) in [
            ("fcn_narrow", SegmentationConfig::fcn_resnet50(), true),
            (
                "deeplabv3_narrow",
                SegmentationConfig::deeplabv3_resnet50(),
                false,
            ),
        ] {
            let net = seeded_segmentation(config.narrowed(4), aux, &device);
            check_network(&fixture, name, &net, (n, 2), backend, &device);
        }
    }
}

/// torchvision's `lraspp_mobilenet_v3_large()` with the fixture's seeded weights.
pub(crate) fn seeded_lraspp(device: &Device) -> LrAspp {
    let config = LrAsppConfig::lraspp_mobilenet_v3_large();
    let weights = seeded_safetensors(&config.state_dict_keys(), SEED);
    LrAspp::load(config, weights.path(), device)
        .expect("seeded weights load")
        .0
}

/// LR-ASPP at full size: explained at `backbone.16` (its head also reads `backbone.4`, which
/// the explained features carry around the split) and at `backbone.2` (before it).
#[test]
fn lraspp_mobilenet_v3_large_equals_torchvision_pytorch_grad_cam_and_captum() {
    let fixture = SUITE.fixture();
    let name = "lraspp_mobilenet_v3_large";
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex { 2 } else { 1 };
        let net = seeded_lraspp(&device);
        check_network(&fixture, name, &net, (n, 2), backend, &device);
        check_guided(&fixture, name, &net, (n, 2), backend, &device);
        let early = net.explained_at("backbone.2").expect("a backbone module");
        check_cams(
            &fixture,
            name,
            "_backbone2",
            &early,
            (n, 2),
            backend,
            &device,
        );
    }
}

#[test]
#[ignore = "full-size segmentation networks: minutes on two cores; run with --ignored full_size"]
fn full_size_fcn_and_deeplabv3_resnet50_equal_torchvision() {
    let fixture = SUITE.fixture();
    let device = Device::flex();
    for (name, config) in [
        ("fcn_resnet50", SegmentationConfig::fcn_resnet50()),
        (
            "deeplabv3_resnet50",
            SegmentationConfig::deeplabv3_resnet50(),
        ),
    ] {
        let net = seeded_segmentation(config, true, &device);
        check_network(&fixture, name, &net, (1, 1), Backend::Flex, &device);
    }
}

#[test]
fn a_segmentation_file_of_the_other_head_says_what_it_holds() {
    let device = Device::flex();
    let deeplab = SegmentationConfig::deeplabv3_resnet50().narrowed(8);
    let weights = seeded_safetensors(&deeplab.state_dict_keys(), SEED);
    let fcn = SegmentationConfig::fcn_resnet50().narrowed(8);
    let error = Segmentation::load(fcn, weights.path(), &device).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("the file holds a DeepLabV3"), "{message}");
    assert!(message.contains("classifier.0.weight"), "{message}");
}
