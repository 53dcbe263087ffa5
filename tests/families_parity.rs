//! The zoo's torchvision families beyond ResNet equal torchvision, Captum and pytorch-grad-cam
//! (fixtures: `tools/reference/families.py`):
//!
//! - torchvision `mobilenet_v2()` at full size, seeded weights and BatchNorm statistics, the
//!   three photographs at 224×224, at `features[-1]`;
//! - torchvision `mobilenet_v3_small()`, `mobilenet_v3_large()` and `efficientnet_b0()` at full
//!   size, the same way, on the first two photographs;
//! - torchvision `vgg16()` and `vgg11_bn()` at an eighth of their width (convolutions 8–64 wide,
//!   the classifier 512), seeded weights and BatchNorm statistics (He's bound; regenerated here
//!   bit for bit, loaded from a `.safetensors` file), the three committed 224×224 RGB images, each
//!   image's predicted class, explained at `features[-1]` (pytorch-grad-cam's recommendation) and,
//!   for vgg16, at `features.29` (the last ReLU);
//! - torchvision `densenet121()` and `convnext_tiny()` at full size, seeded the same way, the
//!   first two photographs, at `features[-1]`;
//! - torchvision's `VisionTransformer` of `vit_b_16()`'s shape at a quarter of its width and
//!   four blocks, the first two photographs, at the last block's `ln_1` (pytorch-grad-cam's
//!   ViT layer, with its `reshape_transform`);
//! - torchvision's `swin_t()` at full size, the first two photographs, at the last block's
//!   `norm1` (pytorch-grad-cam's Swin layer, its channels-last map seen channels first);
//! - full-size `vgg16()` and `vit_b_16()` on the first image: [`full_size_vgg16_equals_torchvision`],
//!   [`full_size_vit_b_16_equals_torchvision`], ignored in CI (`cargo test --release --test
//!   suite -- --ignored full_size`).
//!
//! Errors are relative to each image's reference map's largest magnitude; each tolerance is the
//! 1-2-5 step at or above four times the worst error measured on flex, ndarray and wgpu, never
//! below 2e-6 (the figures in `SUITE`). Off flex, the first image only.

use crate::common;

use std::path::Path;

use burn::tensor::{Device, Tensor};
use burn_gradcam::Backend;
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{
    Combination, Explainable, GradCam, GuidedGradCam, Map, Preset, Targets,
};
use burn_gradcam::zoo::{
    ConvNext, ConvNextConfig, DenseNet, DenseNetConfig, EfficientNet, EfficientNetConfig,
    InvertedFamily, InvertedResidualNet, MobileNetV2, MobileNetV2Config, MobileNetV3,
    MobileNetV3Config, Swin, SwinConfig, Vgg, VggConfig, VisionTransformer, VitConfig,
};
use common::seeded::seeded_safetensors_with;
use common::{Check, Fixture, Suite, assert_close_per_image, devices, explain};

use crate::zoo_parity::{first_images, images, sampled};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "families_parity",
    fixture: "tests/fixtures/families.safetensors",
    checks: &[
        Check::new("vgg16_narrow_logits", 1e-5), // 1.2e-6 / 1.2e-6 / 1.8e-6
        Check::new("vgg16_narrow_captum_layer_gradcam", 5e-6), // 8.2e-7 / 7.8e-7 / 9.2e-7
        // 1.1e-6 / 1.3e-6 / 8.5e-7
        Check::new("vgg16_narrow_captum_layer_gradcam_features29", 1e-5),
        Check::new("vgg16_narrow_captum_guided_backprop", 2e-6), // 4.2e-7 / 3.4e-7 / 2.2e-7
        Check::new("vgg16_narrow_captum_guided_gradcam", 5e-6),  // 5.7e-7 / 8.6e-7 / 5.1e-7
        Check::new("vgg16_narrow_pgc_gradcam", 1e-5),            // 1.8e-6 / 1.4e-6 / 1.9e-6
        Check::new("vgg11_bn_narrow_logits", 5e-6),              // 1.2e-6 / 9.0e-7 / 1.1e-6
        Check::new("vgg11_bn_narrow_captum_layer_gradcam", 5e-6), // 7.1e-7 / 6.1e-7 / 5.5e-7
        Check::new("vgg11_bn_narrow_captum_guided_backprop", 2e-6), // 3.6e-7 / 4.1e-7 / 3.9e-7
        Check::new("vgg11_bn_narrow_captum_guided_gradcam", 5e-6), // 7.2e-7 / 8.6e-7 / 5.7e-7
        Check::new("vgg11_bn_narrow_pgc_gradcam", 1e-5),         // 1.3e-6 / 1.8e-6 / 1.2e-6
        Check::new("vgg11_bn_tiny_logits", 5e-6),                // 1.2e-6 / 7.1e-7 / 1.2e-6
        Check::new("mobilenet_v2_logits", 5e-6),                 // 5.0e-7 / 4.0e-7 / 9.1e-7
        Check::new("mobilenet_v2_captum_layer_gradcam", 5e-6),   // 1.1e-6 / 6.7e-7 / 8.2e-7
        Check::new("mobilenet_v2_captum_guided_backprop", 5e-6), // 6.3e-7 / 5.1e-7 / 5.1e-7
        Check::new("mobilenet_v2_captum_guided_gradcam", 5e-6),  // 1.0e-6 / 8.5e-7 / 8.5e-7
        Check::new("mobilenet_v2_pgc_gradcam", 2e-5),            // 2.7e-6 / 1.7e-6 / 2.1e-6
        Check::new("mobilenet_v3_small_logits", 5e-6),           // 9.4e-7 / 4.4e-7 / 7.7e-7
        Check::new("mobilenet_v3_small_captum_layer_gradcam", 5e-6), // 1.1e-6 / 7.2e-7 / 5.4e-7
        Check::new("mobilenet_v3_small_captum_guided_backprop", 5e-6), // 7.5e-7 / 6.6e-7 / 1.1e-6
        Check::new("mobilenet_v3_small_captum_guided_gradcam", 5e-6), // 1.1e-6 / 6.0e-7 / 1.2e-6
        Check::new("mobilenet_v3_small_pgc_gradcam", 1e-4),      // 1.4e-5 / 9.9e-6 / 1.1e-5
        Check::new("mobilenet_v3_large_logits", 5e-6),           // 4.4e-7 / 4.1e-7 / 8.9e-7
        Check::new("mobilenet_v3_large_captum_layer_gradcam", 5e-6), // 1.1e-6 / 5.8e-7 / 7.1e-7
        Check::new("mobilenet_v3_large_captum_guided_backprop", 5e-6), // 6.8e-7 / 3.9e-7 / 3.9e-7
        Check::new("mobilenet_v3_large_captum_guided_gradcam", 5e-6), // 8.2e-7 / 5.8e-7 / 6.7e-7
        Check::new("mobilenet_v3_large_pgc_gradcam", 1e-4),      // 1.3e-5 / 4.1e-6 / 7.1e-6
        Check::new("efficientnet_b0_logits", 5e-6),              // 4.5e-7 / 4.2e-7 / 9.1e-7
        Check::new("efficientnet_b0_captum_layer_gradcam", 1e-5), // 1.4e-6 / 6.2e-7 / 6.2e-7
        Check::new("efficientnet_b0_captum_guided_backprop", 1e-5), // 1.6e-6 / 1.3e-6 / 2.2e-6
        Check::new("efficientnet_b0_captum_guided_gradcam", 1e-5), // 1.2e-6 / 1.3e-6 / 2.3e-6
        Check::new("efficientnet_b0_pgc_gradcam", 5e-5),         // 8.5e-6 / 3.8e-6 / 4.7e-6
        Check::new("densenet121_logits", 5e-6),                  // 5.1e-7 / 3.4e-7 / 7.6e-7
        Check::new("densenet121_captum_layer_gradcam", 5e-6),    // 9.5e-7 / 1.0e-6 / 7.1e-7
        Check::new("densenet121_pgc_gradcam", 2e-5),             // 2.4e-6 / 2.9e-6 / 2.0e-6
        Check::new("convnext_tiny_logits", 5e-6),                // 7.3e-7 / 5.6e-7 / 9.5e-7
        Check::new("convnext_tiny_captum_layer_gradcam", 1e-5),  // 2.4e-6 / 1.7e-6 / 2.1e-6
        Check::new("convnext_tiny_captum_guided_backprop", 1e-5), // 1.4e-6 / 1.1e-6 / 9.1e-7
        Check::new("convnext_tiny_captum_guided_gradcam", 2e-5), // 2.9e-6 / 1.8e-6 / 2.2e-6
        Check::new("convnext_tiny_pgc_gradcam", 2e-5),           // 2.5e-6 / 2.4e-6 / 2.0e-6
        Check::new("vit_b_16_narrow_logits", 5e-6),              // 6.5e-7 / 5.7e-7 / 6.8e-7
        Check::new("vit_b_16_narrow_captum_layer_gradcam", 1e-5), // 1.6e-6 / 1.2e-6 / 1.4e-6
        Check::new("vit_b_16_narrow_captum_guided_backprop", 2e-5), // 2.5e-6 / 1.7e-6 / 1.8e-6
        Check::new("vit_b_16_narrow_captum_guided_gradcam", 2e-5), // 1.5e-6 / 2.9e-6 / 1.3e-6
        Check::new("vit_b_16_narrow_pgc_gradcam", 1e-5),         // 1.5e-6 / 1.2e-6 / 1.2e-6
        Check::new("swin_t_logits", 1e-5),                       // 5.6e-7 / 4.1e-7 / 1.6e-6
        Check::new("swin_t_captum_layer_gradcam", 5e-5),         // 5.7e-6 / 2.0e-6 / 6.6e-6
        Check::new("swin_t_captum_guided_backprop", 2e-5),       // 2.4e-6 / 1.2e-6 / 3.2e-6
        Check::new("swin_t_captum_guided_gradcam", 5e-5),        // 8.9e-6 / 2.6e-6 / 9.0e-6
        Check::new("swin_t_pgc_gradcam", 5e-5),                  // 6.0e-6 / 3.5e-6 / 6.8e-6
        // Full size, flex only (outside CI).
        Check::new("vit_b_16_logits", 5e-6), // 1.2e-6
        Check::new("vit_b_16_captum_layer_gradcam", 1e-5), // 1.9e-6
        Check::new("vit_b_16_captum_guided_backprop", 1e-5), // 1.9e-6
        Check::new("vit_b_16_captum_guided_gradcam", 1e-5), // 2.5e-6
        Check::new("vit_b_16_pgc_gradcam", 1e-5), // 1.5e-6
        Check::new("vgg16_logits", 2e-5),    // 3.2e-6
        Check::new("vgg16_captum_layer_gradcam", 1e-5), // 1.6e-6
        Check::new("vgg16_pgc_gradcam", 2e-5), // 2.6e-6
    ],
};

/// The seed of the fixture's weights, and their bound's numerator: He's (`±√(6 / fan_in)`) for
/// VGG without BatchNorm, 3 where BatchNorm follows every convolution.
const SEED: u64 = 18;
const HE: f64 = 6.0;
const BATCH_NORM: f64 = 3.0;

/// A VGG of `config`'s shape with the fixture's seeded weights.
pub(crate) fn seeded_vgg(config: VggConfig, device: &Device) -> Vgg {
    let weights = seeded_safetensors_with(&config.state_dict_keys(), SEED, HE);
    Vgg::load(config, weights.path(), device)
        .expect("seeded weights load")
        .0
}

/// Guided backpropagation through full-size vgg16 at 224×224 crosses 13.6 million ReLUs, some
/// of whose pre-activations lie within float32 rounding of zero: one resolved the other way
/// than torch closes or opens a gate and changes a patch of the map by up to a few 1e-2 of its
/// maximum (torch itself, in float64, moves the same way where it flips one). densenet121's
/// ReLUs see each block's whole concatenation again, layer after layer: torch's own guided map of
/// the second photograph moves by 1.4e-4 and 8.5e-4 of its maximum at a few positions when the
/// input moves by 2e-7 of itself. The full-size guided maps are held to this instead: at most
/// `FLIPPED` of the positions beyond 1e-4 of the map's maximum, none beyond `PATCH`.
const FLIPPED: f32 = 0.01;
const PATCH: f32 = 5e-2;

/// How the guided maps are compared: to the suite's tolerance, or by [`FLIPPED`] and [`PATCH`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guided {
    Strict,
    GateFlips,
}

/// Asserts [`Guided::GateFlips`]'s bound on each image and prints what it found.
fn assert_gate_flips_only(what: &str, actual: &[f32], expected: &[f32], images: usize) {
    let per_image = expected.len() / images;
    for image in 0..images {
        let range = image * per_image..(image + 1) * per_image;
        let (a, e) = (&actual[range.clone()], &expected[range]);
        let scale = e.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        let errors: Vec<f32> = a
            .iter()
            .zip(e)
            .map(|(a, e)| (a - e).abs() / scale)
            .collect();
        let beyond =
            errors.iter().filter(|r| r.is_nan() || **r > 1e-4).count() as f32 / per_image as f32;
        let worst = errors.iter().fold(
            0.0_f32,
            |m, &r| if r.is_nan() { f32::INFINITY } else { m.max(r) },
        );
        println!(
            "{what}: image {image}: {:.3} % beyond 1e-4, worst {worst:.1e}",
            beyond * 100.0
        );
        assert!(
            beyond <= FLIPPED && worst <= PATCH,
            "{what}: image {image}: {:.3} % of the map beyond 1e-4 of its maximum (at most {} %), worst {worst:e} (at most {PATCH:e})",
            beyond * 100.0,
            FLIPPED * 100.0
        );
    }
}

/// A network under test: the explained model, its forward to the logits, and the same network
/// explained at other layers, each with its fixture key's suffix.
struct Network<'a> {
    net: &'a dyn Explainable,
    forward: &'a dyn Fn(Tensor<4>) -> Tensor<2>,
    other_layers: Vec<(&'static str, &'a dyn Explainable)>,
}

/// Every check of network `name` (the fixture's prefix) on the first `n` of the fixture's
/// `of` images, on `device`.
fn check_network(
    fixture: &Fixture,
    name: &str,
    network: &Network<'_>,
    (n, of): (usize, usize),
    (backend, guided_rule): (Backend, Guided),
    device: &Device,
) {
    let images = images();
    let classes = fixture.classes(&format!("{name}_target"));
    let input = images
        .slice(0..n)
        .expect("committed images")
        .to_tensor(Normalization::ImageNet, device);
    let targets = Targets::classes(classes[..n].to_vec());
    let check = |method: &str, actual: &[f32]| {
        let key = format!("{name}_{method}");
        let expected = first_images(fixture, &key, of, n);
        let what = format!("{backend}: {key}");
        if guided_rule == Guided::GateFlips && method.contains("guided") {
            assert_gate_flips_only(&what, actual, &expected, n);
        } else {
            assert_close_per_image(&what, actual, &expected, n, SUITE.tolerance(&key));
        }
    };

    let net = network.net;
    let logits = (network.forward)(input.clone());
    check(
        "logits",
        &logits
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 logits"),
    );

    let captum = Preset::Captum.cam_settings();
    let layer_cam = |net: &dyn Explainable| {
        let cam = GradCam::new().with_settings(captum.with_combination(Combination::ReluAfterSum));
        let result = explain(&cam, net, input.clone(), &targets);
        let values: Vec<f32> = result
            .iter()
            .flat_map(|r| r.layer_cam.clone().expect("a layer map").values)
            .collect();
        values
    };
    check("captum_layer_gradcam", &layer_cam(net));
    for &(suffix, at) in &network.other_layers {
        check(&format!("captum_layer_gradcam_{suffix}"), &layer_cam(at));
    }

    let guided = explain(&GuidedGradCam::guided(captum), net, input.clone(), &targets);
    let pixel: Vec<&Map> = guided
        .iter()
        .map(|g| g.pixel.as_ref().expect("pixel"))
        .collect();
    check("captum_guided_backprop", &sampled(&pixel));
    let maps: Vec<&Map> = guided.iter().map(|g| &g.map).collect();
    check("captum_guided_gradcam", &sampled(&maps));

    let cams = explain(
        &GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings()),
        net,
        input,
        &targets,
    );
    let maps: Vec<&Map> = cams.iter().map(|c| &c.map).collect();
    check("pgc_gradcam", &sampled(&maps));
}

#[test]
fn narrow_vggs_equal_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let networks = [
        ("vgg16_narrow", VggConfig::vgg16().narrowed(8)),
        (
            "vgg11_bn_narrow",
            VggConfig::vgg11().with_batch_norm().narrowed(8),
        ),
    ];
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex { 3 } else { 1 };
        for (name, config) in networks {
            let net = seeded_vgg(config, &device);
            // vgg16's last ReLU.
            let last_relu = (name == "vgg16_narrow")
                .then(|| net.clone().explained_at("features.29").expect("a layer"));
            let network = Network {
                net: &net,
                forward: &|x| net.forward(x),
                other_layers: last_relu
                    .iter()
                    .map(|at| ("features29", at as &dyn Explainable))
                    .collect(),
            };
            let rule = (backend, Guided::Strict);
            check_network(&fixture, name, &network, (n, 3), rule, &device);
        }
    }
}

/// `torch.save` of a tiny vgg11_bn (1/64 of its width, 10 classes) loads through the `.pth`
/// path, its BatchNorms folded, and gives torch's logits; offered as a vgg11 without BatchNorm or
/// as a vgg13_bn, the error says what the file holds.
#[test]
fn a_vgg_pth_loads_and_another_variant_says_what_it_holds() {
    let fixture = SUITE.fixture();
    let path = common::repo_path("tests/fixtures/weights/vgg11_bn_tiny.pth");
    let tiny = VggConfig::vgg11().narrowed(64).with_classes(10);
    for (backend, device) in devices() {
        let (net, _) = Vgg::load(tiny.with_batch_norm(), &path, &device).expect("loads");
        let input = images()
            .slice(0..1)
            .expect("committed images")
            .to_tensor(Normalization::ImageNet, &device);
        let logits = net.forward(input).into_data().try_into_vec::<f32>();
        let key = "vgg11_bn_tiny_logits";
        assert_close_per_image(
            &format!("{backend}: {key}"),
            &logits.expect("f32 logits"),
            &fixture.f32(key).1,
            1,
            SUITE.tolerance(key),
        );
    }
    let device = Device::default();
    for config in [
        tiny,
        VggConfig::vgg13()
            .with_batch_norm()
            .narrowed(64)
            .with_classes(10),
    ] {
        let error = Vgg::load(config, &path, &device).expect_err("another variant");
        let message = error.to_string();
        assert!(
            message.contains("the file holds a vgg11_bn (8 convolutions, BatchNorm)"),
            "{message}"
        );
    }
}

/// Full-size vgg16 (138 M parameters, 15.5 billion multiply-adds a pass) on flex: outside CI.
/// Its guided maps are held to [`Guided::GateFlips`].
#[test]
#[ignore = "full-size vgg16: minutes on two cores; run with --ignored"]
fn full_size_vgg16_equals_torchvision() {
    let fixture = SUITE.fixture();
    let device = Backend::Flex.device().expect("flex");
    let net = seeded_vgg(VggConfig::vgg16(), &device);
    let network = Network {
        net: &net,
        forward: &|x| net.forward(x),
        other_layers: Vec::new(),
    };
    let rule = (Backend::Flex, Guided::GateFlips);
    check_network(&fixture, "vgg16", &network, (1, 1), rule, &device);
}

/// torchvision's `mobilenet_v2()` at full size (3.5 M parameters, 0.3 billion multiply-adds):
/// depthwise convolutions, ReLU6, inverted residuals. Captum's guided backprop is taken with
/// the ReLU6s made `nn.ReLU` subclasses, so that it guides them as the zoo does.
#[test]
fn mobilenet_v2_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let config = MobileNetV2Config::mobilenet_v2();
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex { 3 } else { 1 };
        let weights = seeded_safetensors_with(&config.state_dict_keys(), SEED, BATCH_NORM);
        let (net, _) = MobileNetV2::load(config, weights.path(), &device).expect("loads");
        let network = Network {
            net: &net,
            forward: &|x| net.forward(x),
            other_layers: Vec::new(),
        };
        let rule = (backend, Guided::Strict);
        check_network(&fixture, "mobilenet_v2", &network, (n, 3), rule, &device);
    }
}

/// A full-size network with the fixture's seeded weights (`keys`, loaded on each backend by
/// `load`; `forward` its logits), checked as the fixture's `name` on the fixture's two images on
/// flex (the first elsewhere), its guided maps by `guided`.
fn check_full_size<N: Explainable>(
    fixture: &Fixture,
    name: &str,
    keys: &[(String, Vec<usize>)],
    load: impl Fn(&Path, &Device) -> N,
    forward: fn(&N, Tensor<4>) -> Tensor<2>,
    guided: Guided,
) {
    let weights = seeded_safetensors_with(keys, SEED, BATCH_NORM);
    for (backend, device) in devices() {
        let n = if backend == Backend::Flex { 2 } else { 1 };
        let net = load(weights.path(), &device);
        let network = Network {
            net: &net,
            forward: &|x| forward(&net, x),
            other_layers: Vec::new(),
        };
        check_network(fixture, name, &network, (n, 2), (backend, guided), &device);
    }
}

/// One inverted residual network of `config`'s shape, checked by [`check_full_size`].
fn check_inverted<F: InvertedFamily>(fixture: &Fixture, name: &str, config: F) {
    let load = |path: &Path, device: &Device| {
        InvertedResidualNet::load(config, path, device)
            .expect("loads")
            .0
    };
    let keys = config.state_dict_keys();
    check_full_size(
        fixture,
        name,
        &keys,
        load,
        |net, x| net.forward(x),
        Guided::Strict,
    );
}

/// torchvision's `mobilenet_v3_small()` and `mobilenet_v3_large()` at full size: hard-swish,
/// squeeze-and-excitation gates with a hard sigmoid, BatchNorm's epsilon 1e-3. Captum's guided
/// backprop is taken with a `nn.ReLU`-subclass marker after every hard-swish and gate, so that
/// it guides them as the zoo does (`f'(x) · relu(grad)`). Each family's weights, offered as the
/// other size, say what the file holds.
#[test]
fn mobilenet_v3_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let small = MobileNetV3Config::mobilenet_v3_small();
    check_inverted(&fixture, "mobilenet_v3_small", small);
    check_inverted(
        &fixture,
        "mobilenet_v3_large",
        MobileNetV3Config::mobilenet_v3_large(),
    );

    let weights = seeded_safetensors_with(&small.state_dict_keys(), SEED, BATCH_NORM);
    let large = MobileNetV3Config::mobilenet_v3_large();
    let error =
        MobileNetV3::load(large, weights.path(), &Device::default()).expect_err("the other size");
    let message = error.to_string();
    assert!(
        message.contains("the file holds a mobilenet_v3_small"),
        "{message}"
    );
}

/// torchvision's `efficientnet_b0()` at full size: SiLU, squeeze-and-excitation gates with a
/// sigmoid, stages of several blocks (`features.<stage>.<block>`). B1's weights offered as B0's
/// say what the file holds (B1 and B2 differ in widths only, so both are named).
#[test]
fn efficientnet_b0_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let b0 = EfficientNetConfig::efficientnet_b0();
    check_inverted(&fixture, "efficientnet_b0", b0);

    let b1 = EfficientNetConfig::variant(1).expect("B1");
    let weights = seeded_safetensors_with(&b1.state_dict_keys(), SEED, BATCH_NORM);
    let error = EfficientNet::load(b0, weights.path(), &Device::default()).expect_err("B1");
    let message = error.to_string();
    assert!(
        message.contains("the file holds one of efficientnet_b1, efficientnet_b2"),
        "{message}"
    );
}

/// torchvision's `densenet121()` at full size (8 M parameters, 2.9 billion multiply-adds a
/// pass; all 58 dense layers): dense concatenation, a BatchNorm before each ReLU (kept unfolded),
/// average-pooled transitions. Captum's guided backprop is taken with torchvision's final
/// functional ReLU made an `nn.ReLU` module, so that it guides every ReLU as the zoo does;
/// pytorch-grad-cam the same way (on the CPU that ReLU, in place, would rewrite the activations
/// it keeps). densenet169's weights offered as densenet121's say what the file holds.
#[test]
fn densenet121_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let config = DenseNetConfig::densenet121();
    let load =
        |path: &Path, device: &Device| DenseNet::load(config, path, device).expect("loads").0;
    // Guided maps: 3.2e-7 / 4.1e-7 / 1.0e-5 on the first image, 1.4e-4 at 0.05 % of the
    // second's positions on flex (a gate flip; see [`FLIPPED`]).
    let keys = config.state_dict_keys();
    let forward = |net: &DenseNet, x| net.forward(x);
    check_full_size(
        &fixture,
        "densenet121",
        &keys,
        load,
        forward,
        Guided::GateFlips,
    );

    let other = DenseNetConfig::densenet169().narrowed(8);
    let weights = seeded_safetensors_with(&other.state_dict_keys(), SEED, BATCH_NORM);
    let narrow = config.narrowed(8);
    let error = DenseNet::load(narrow, weights.path(), &Device::default()).expect_err("169");
    let message = error.to_string();
    assert!(
        message.contains("the file holds a densenet169 (blocks of 6, 12, 32, 32 layers)"),
        "{message}"
    );
}

/// torchvision's `convnext_tiny()` at full size (28.6 M parameters, 4.5 billion multiply-adds a
/// pass): 7×7 depthwise convolutions, LayerNorm over channels, GELU, layer scale. Captum's
/// guided backprop is taken with a `nn.ReLU`-subclass marker after every GELU, so that it guides
/// them as the zoo does. convnext_small's weights offered as convnext_tiny's say what the file
/// holds.
#[test]
fn convnext_tiny_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let config = ConvNextConfig::convnext_tiny();
    let load =
        |path: &Path, device: &Device| ConvNext::load(config, path, device).expect("loads").0;
    let keys = config.state_dict_keys();
    let forward = |net: &ConvNext, x| net.forward(x);
    check_full_size(
        &fixture,
        "convnext_tiny",
        &keys,
        load,
        forward,
        Guided::Strict,
    );

    let small = ConvNextConfig::convnext_small().narrowed(16);
    let weights = seeded_safetensors_with(&small.state_dict_keys(), SEED, BATCH_NORM);
    let narrow = config.narrowed(16);
    let error = ConvNext::load(narrow, weights.path(), &Device::default()).expect_err("small");
    let message = error.to_string();
    assert!(
        message.contains("the file holds one of convnext_small, convnext_base, convnext_large"),
        "{message}"
    );
}

/// torchvision's `VisionTransformer` of `vit_b_16()`'s shape at a quarter of its width and four
/// blocks, explained at the last block's `ln_1` (pytorch-grad-cam's ViT layer, its patch tokens
/// as a 14×14 grid; the features carry the block's input around the split): its attention's
/// packed `in_proj` split into Burn's query, key and value projections, LayerNorm's ε 1e-6.
/// Captum's guided backprop is taken with a marker after every GELU; its layer methods at an
/// identity module that sees the same grid. A file of another depth says what it holds.
#[test]
fn vit_b_16_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let config = VitConfig::vit_b_16().narrowed(4, 4);
    let load = |path: &Path, device: &Device| {
        let net = VisionTransformer::load(config, path, device)
            .expect("loads")
            .0;
        assert_eq!(net.explained_layer(), "encoder.layers.encoder_layer_3.ln_1");
        net
    };
    let keys = config.state_dict_keys();
    let forward = |net: &VisionTransformer, x| net.forward(x);
    check_full_size(
        &fixture,
        "vit_b_16_narrow",
        &keys,
        load,
        forward,
        Guided::Strict,
    );

    let deeper = VitConfig::vit_b_16().narrowed(4, 5);
    let weights = seeded_safetensors_with(&deeper.state_dict_keys(), SEED, BATCH_NORM);
    let error =
        VisionTransformer::load(config, weights.path(), &Device::default()).expect_err("5 blocks");
    let message = error.to_string();
    assert!(
        message.contains("the file holds a torchvision ViT of 5 blocks"),
        "{message}"
    );
}

/// Full-size `vit_b_16()` (86 M parameters, 17.6 billion multiply-adds a pass) on flex: outside
/// CI.
#[test]
#[ignore = "full-size vit_b_16: a minute on two cores; run with --ignored full_size"]
fn full_size_vit_b_16_equals_torchvision() {
    let fixture = SUITE.fixture();
    let device = Backend::Flex.device().expect("flex");
    let config = VitConfig::vit_b_16();
    let weights = seeded_safetensors_with(&config.state_dict_keys(), SEED, BATCH_NORM);
    let (net, _) = VisionTransformer::load(config, weights.path(), &device).expect("loads");
    let network = Network {
        net: &net,
        forward: &|x| net.forward(x),
        other_layers: Vec::new(),
    };
    let rule = (Backend::Flex, Guided::Strict);
    check_network(&fixture, "vit_b_16", &network, (1, 1), rule, &device);
}

/// torchvision's `swin_t()` at full size (28 M parameters, 4.5 billion multiply-adds a pass):
/// windowed attention with a relative position bias, every second block's windows shifted (the
/// last stage's 7×7 map is one window, so not there), patch merging, channels-last maps;
/// explained at the last block's `norm1` (the features carry the block's input around the
/// split). Captum's guided backprop is taken with a marker after every GELU; its layer methods
/// at an identity module that sees the map channels first. swin_s's weights offered as
/// swin_t's say what the file holds.
#[test]
fn swin_t_equals_torchvision_captum_and_pytorch_grad_cam() {
    let fixture = SUITE.fixture();
    let config = SwinConfig::swin_t();
    let load = |path: &Path, device: &Device| {
        let net = Swin::load(config, path, device).expect("loads").0;
        assert_eq!(net.explained_layer(), "features.7.1.norm1");
        net
    };
    let keys = config.state_dict_keys();
    let forward = |net: &Swin, x| net.forward(x);
    check_full_size(&fixture, "swin_t", &keys, load, forward, Guided::Strict);

    let small = SwinConfig::swin_s().narrowed(8);
    let weights = seeded_safetensors_with(&small.state_dict_keys(), SEED, BATCH_NORM);
    let error =
        Swin::load(config.narrowed(8), weights.path(), &Device::default()).expect_err("swin_s");
    let message = error.to_string();
    assert!(
        message.contains("the file holds a swin_s or swin_b (blocks [2, 2, 18, 2])"),
        "{message}"
    );
}
