//! Properties every explanation has, on the MNIST net and on a differently shaped CNN.

use crate::common;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Distribution, Tensor};
use burn_gradcam::explain::{
    AnyPixel, Attribution, Attributions, CamTimes, DeepLift, DeepLiftShap, ExplainError,
    Explainable, GradCam, GradientRule, GuidedBackprop, GuidedGradCam, Input, Lrp, Map,
    OutputLayer, Preset, ReluMode, SmoothGrad, Targets, normalize,
};
use burn_gradcam::mnist::{MnistNet, preprocess};
use common::{assert_close_per_image, devices, max_abs_diff, net, reference};

/// Not the MNIST net: RGB 32×32 input, three convolutions (one strided), 6 → 8 → 12 channels,
/// explained at a 16×16 layer, global average pooling, 5 classes, softmax output.
#[derive(Module, Debug)]
struct OtherCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    fc: Linear,
}

impl OtherCnn {
    fn new(device: &Device) -> Self {
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        Self {
            conv1: Conv2dConfig::new([3, 6], [3, 3])
                .with_padding(same.clone())
                .init(device),
            conv2: Conv2dConfig::new([6, 8], [3, 3])
                .with_stride([2, 2])
                .with_padding(same.clone())
                .init(device),
            conv3: Conv2dConfig::new([8, 12], [3, 3])
                .with_padding(same)
                .init(device),
            fc: LinearConfig::new(12, 5).init(device),
        }
    }
}

impl Explainable for OtherCnn {
    fn input_shape(&self) -> [usize; 3] {
        [3, 32, 32]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let x = relu.apply(self.conv1.forward(input));
        let x = relu.apply(self.conv2.forward(x));
        self.conv3.forward(x)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let pooled = adaptive_avg_pool2d(relu.apply(features), [1, 1]).flatten::<2>(1, 3);
        self.fc.forward(pooled)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Softmax
    }

    fn device(&self) -> Device {
        self.fc.weight.device()
    }
}

fn other_input(device: &Device) -> Tensor<4> {
    device.seed(7);
    Tensor::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), device)
}

#[test]
fn another_cnn_is_explained_with_its_own_shapes() {
    for (backend, device) in devices() {
        device.seed(3);
        let model = OtherCnn::new(&device);
        let method = GuidedGradCam::guided(Preset::Seed.cam_settings());
        let images = method
            .attribute(&model, other_input(&device), &Targets::predicted())
            .and_then(|a| a.to_host())
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(images.len(), 4);
        for image in &images {
            let [layer_cam, cam, guided] = [&image.layer_cam, &image.cam, &image.pixel]
                .map(|m| m.as_ref().expect("a product's parts"));
            assert_eq!(image.prediction.probabilities.len(), 5);
            assert_eq!(layer_cam.shape, [1, 16, 16]);
            assert_eq!(cam.shape, [1, 32, 32]);
            assert_eq!(guided.shape, [3, 32, 32]);
            assert_eq!(image.map.shape, [3, 32, 32]);
            assert!(
                layer_cam.values.iter().all(|v| *v >= 0.0),
                "per-channel ReLU is non-negative"
            );
            assert!(
                guided.max_abs() > 0.0,
                "{backend}: guided gradient reaches the input"
            );
            let sum: f32 = image.prediction.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
        }
        let wrong = Tensor::<4>::zeros([1, 1, 28, 28], &device);
        assert!(matches!(
            method.attribute(&model, wrong, &Targets::predicted()),
            Err(ExplainError::InputShape {
                expected: [3, 32, 32],
                found: [1, 1, 28, 28]
            })
        ));
    }
}

/// `method` on `input`, read to the host.
fn explain(
    method: &dyn Attribution,
    model: &dyn Explainable,
    input: Tensor<4>,
) -> Vec<burn_gradcam::explain::ImageAttribution> {
    common::explain(method, model, input, &Targets::predicted())
}

#[test]
fn batch_equals_per_image_results() {
    let fixture = reference();
    let digits = fixture.digits();
    for (backend, device) in devices() {
        let net = net(&device);
        for preset in Preset::ALL {
            let method = GuidedGradCam::guided(preset.cam_settings());
            let batch = explain(&method, &net, preprocess(&digits, &device));
            for (i, batched) in batch.iter().enumerate() {
                let one = digits.slice(i..i + 1).expect("image");
                let single = &explain(&method, &net, preprocess(&one, &device))[0];
                assert_eq!(single.prediction.target, batched.prediction.target);
                for (name, a, b) in [
                    ("cam", &single.cam, &batched.cam),
                    ("guided backprop", &single.pixel, &batched.pixel),
                    (
                        "guided grad-cam",
                        &Some(single.map.clone()),
                        &Some(batched.map.clone()),
                    ),
                ] {
                    let (a, b) = (a.as_ref().expect("a map"), b.as_ref().expect("a map"));
                    // A batch and one image sum in other orders (worst 3.1e-6, relative to
                    // the map: Guided Grad-CAM maps of the sure digit 15 peak at 1e-14).
                    assert_close_per_image(
                        &format!("{backend} {preset} image {i} {name}"),
                        &a.values,
                        &b.values,
                        1,
                        2e-5,
                    );
                }
            }
        }
    }
}

#[test]
fn reruns_are_bit_identical_and_leave_the_model_unchanged() {
    let fixture = reference();
    for (backend, device) in devices() {
        let net = net(&device);
        let input = preprocess(&fixture.digits(), &device);
        let before = net
            .forward(input.clone())
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let method = GuidedGradCam::guided(Preset::Seed.cam_settings());
        let first = explain(&method, &net, input.clone());
        let second = explain(&method, &net, input.clone());
        assert_eq!(first, second, "{backend}: rerun differs");
        let after = net
            .forward(input)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(
            max_abs_diff(&before, &after),
            0.0,
            "{backend}: the model changed"
        );
    }
}

#[test]
fn separate_methods_agree_with_the_combined_pass() {
    let fixture = reference();
    for (backend, device) in devices() {
        let net = net(&device);
        let input = preprocess(&fixture.digits(), &device);
        let settings = Preset::Captum.cam_settings();
        let all = explain(&GuidedGradCam::guided(settings), &net, input.clone());
        let cams = explain(&GradCam::new().with_settings(settings), &net, input.clone());
        let guided = explain(&GuidedBackprop, &net, input);
        for ((image, cam), gb) in all.iter().zip(&cams).zip(&guided) {
            assert_eq!(image.prediction, cam.prediction, "{backend}");
            let (product_cam, pixel) = (image.cam.as_ref(), image.pixel.as_ref());
            let (product_cam, pixel) = (product_cam.expect("a CAM"), pixel.expect("a pixel map"));
            assert_close_per_image(
                backend.name(),
                &product_cam.values,
                &cam.map.values,
                1,
                1e-6,
            );
            assert_close_per_image(backend.name(), &pixel.values, &gb.map.values, 1, 1e-6);
        }
    }
}

/// A pixel method written outside the library, given as a public `GradientRule`.
struct SquaredGradient;

const SQUARED: GradientRule = GradientRule::new(ReluMode::Standard, |_, g| g.powf_scalar(2.0));

impl Attribution for SquaredGradient {
    fn label(&self) -> String {
        "Squared gradient".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> burn_gradcam::explain::Result<Attributions> {
        SQUARED.attribute(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        Some(SQUARED)
    }
}

/// A model that counts the forward passes through its feature extractor.
struct Counting<'a> {
    net: &'a MnistNet,
    passes: std::cell::Cell<usize>,
}

impl Explainable for Counting<'_> {
    fn input_shape(&self) -> [usize; 3] {
        self.net.input_shape()
    }
    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.passes.set(self.passes.get() + 1);
        Explainable::features(self.net, input, relu)
    }
    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        Explainable::logits(self.net, features, relu)
    }
    fn output_layer(&self) -> OutputLayer {
        self.net.output_layer()
    }
    fn device(&self) -> Device {
        Explainable::device(self.net)
    }
}

/// A pixel method of one's own shares the CAM's forward pass in a product, as the built-in
/// gradient methods do, and equals its two factors computed apart.
#[test]
fn a_pixel_method_written_elsewhere_fuses_with_a_cam() {
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = net(&device);
    let input = preprocess(
        &reference().digits().slice(0..4).expect("4 digits"),
        &device,
    );
    let counting = Counting {
        net: &net,
        passes: std::cell::Cell::new(0),
    };
    let cam = GradCam::new().with_settings(Preset::Captum.cam_settings());
    let product = CamTimes::new(cam.clone(), SquaredGradient);
    assert_eq!(product.label(), "Squared gradient ⊙ Grad-CAM");
    let fused = product
        .attribute(&counting, input.clone(), &Targets::predicted())
        .and_then(|a| a.to_host())
        .expect("explains");
    assert_eq!(
        counting.passes.get(),
        1,
        "one forward pass for both factors"
    );
    let cams = explain(&cam, &net, input.clone());
    let squared = explain(&SquaredGradient, &net, input);
    for ((image, cam), pixel) in fused.iter().zip(&cams).zip(&squared) {
        let product_cam = image.cam.as_ref().expect("a CAM");
        let product_pixel = image.pixel.as_ref().expect("a pixel map");
        assert_close_per_image("CAM", &product_cam.values, &cam.map.values, 1, 1e-6);
        assert_close_per_image("pixel", &product_pixel.values, &pixel.map.values, 1, 1e-6);
        assert!(pixel.map.values.iter().all(|v| *v >= 0.0), "squares");
    }
}

#[test]
fn display_normalisation_is_separate_and_bounded() {
    let fixture = reference();
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = net(&device);
    let result = GradCam::new()
        .with_settings(Preset::Seed.cam_settings())
        .attribute(
            &net,
            preprocess(&fixture.digits(), &device),
            &Targets::predicted(),
        )
        .expect("explains");
    let raw = result.to_maps().expect("maps");
    let normalized = Map::from_batch(normalize(result.map().clone())).expect("maps");
    for (raw, normalized) in raw.iter().zip(&normalized) {
        assert!(
            normalized
                .values
                .iter()
                .all(|v| (0.0..=1.0).contains(v) && v.is_finite())
        );
        if raw.max_abs() > 0.0 {
            let top = normalized.values.iter().fold(0.0_f32, |m, v| m.max(*v));
            assert!((top - 1.0).abs() < 1e-4, "the maximum maps to 1");
        }
    }
}

/// Every method computes on the device and reads nothing back until its results are asked
/// for (but Lime, whose fit needs one); then one read brings everything (the crate routes every read through one counted
/// function, and its lint configuration forbids Burn's read methods elsewhere).
#[test]
fn methods_read_nothing_from_the_device_until_asked() {
    use burn_gradcam::explain::{
        AnyCam, AnyPixel, CamTimes, IntegratedGradients, Method, device_reads,
    };
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = net(&device);
    let digits = reference().digits().slice(0..4).expect("4 images");
    let input = preprocess(&digits, &device);
    let cam = |name: &str| {
        AnyCam::from_name(name)
            .expect("a CAM")
            .with_settings(Preset::Seed.cam_settings())
    };
    let pixel = |name: &str| AnyPixel::from_name(name).expect("a pixel method");
    let mut methods: Vec<Method> = AnyCam::NAMES.iter().map(|n| Method::Cam(cam(n))).collect();
    methods.extend(AnyPixel::NAMES.iter().map(|n| Method::Pixel(pixel(n))));
    methods.push(Method::Pixel(pixel("saliency").smoothed()));
    methods.push(Method::guided_grad_cam().with_cam_settings(Preset::Seed.cam_settings()));
    // A product whose pixel method cannot share the CAM's forward pass.
    methods.push(Method::Product(CamTimes::new(
        cam("score-cam"),
        AnyPixel::IntegratedGradients(IntegratedGradients::new().with_steps(4)),
    )));
    for method in &methods {
        for targets in [Targets::predicted(), Targets::classes([1, 2, 3, 4])] {
            // Lime's Lasso is fitted on the host: its scores come back in one read.
            let fit_reads = usize::from(method.label() == "Lime");
            let before = device_reads();
            let result = method
                .attribute(&net, input.clone(), &targets)
                .expect("explains");
            assert_eq!(
                device_reads(),
                before + fit_reads,
                "{}: read while computing",
                method.label()
            );
            let images = result.to_host().expect("reads");
            assert_eq!(images.len(), 4);
            assert_eq!(
                device_reads(),
                before + fit_reads + 1,
                "{}: one read",
                method.label()
            );
        }
    }
}

/// pytorch-grad-cam's `aug_smooth` averages an image's flipped and unflipped copies (each map
/// mirrored back), so mirroring the image mirrors its map; in a product, the augmented CAM is
/// the factor.
#[test]
fn aug_smooth_is_mirror_equivariant_and_composes() {
    for (backend, device) in devices() {
        device.seed(3);
        let model = OtherCnn::new(&device);
        let settings = Preset::PytorchGradCam.cam_settings().with_aug_smooth(true);
        let cam = GradCam::new().with_settings(settings);
        let targets = Targets::class(2);
        let input = other_input(&device);
        let values = |maps: Tensor<4>| -> Vec<f32> {
            let maps = Map::from_batch(maps).expect("maps");
            maps.into_iter().flat_map(|m| m.values).collect()
        };
        let maps = |x: Tensor<4>| {
            let maps = cam.attribute(&model, x, &targets).expect("aug-smoothed");
            maps.map().clone()
        };
        let direct = values(maps(input.clone()).flip([3]));
        let mirrored = values(maps(input.clone().flip([3])));
        let worst = max_abs_diff(&direct, &mirrored);
        assert!(
            worst <= 1e-5,
            "{backend}: mirrored image's map differs by {worst:e}"
        );
        let product = GuidedGradCam::new(cam.clone(), GuidedBackprop)
            .attribute(&model, input.clone(), &targets)
            .and_then(|a| a.to_host())
            .expect("a product");
        let alone = common::explain(&cam, &model, input, &targets);
        for (p, c) in product.iter().zip(&alone) {
            assert_eq!(p.cam.as_ref().expect("a CAM factor").values, c.map.values);
        }
        assert_eq!(
            GuidedGradCam::new(cam.clone(), GuidedBackprop).label(),
            "Guided Grad-CAM (aug-smooth)"
        );
    }
}

/// The reference and relevance methods compose as every pixel method does: SmoothGrad of each is
/// the mean of the method over the noisy copies (each copy explaining its clean image's class),
/// and each times Grad-CAM is the product of the CAM and the method alone.
#[test]
fn reference_and_relevance_methods_compose_with_smoothgrad_and_a_cam() {
    let methods: [(&str, AnyPixel); 3] = [
        ("DeepLIFT", DeepLift::new().into()),
        ("DeepLiftShap", DeepLiftShap::new().into()),
        ("LRP", Lrp::default().into()),
    ];
    let (n, samples) = (3, 4);
    for (backend, device) in devices() {
        let model = net(&device);
        let x = preprocess(&reference().digits(), &device).narrow(0, 0, n);
        let classes: Vec<usize> =
            common::explain(&GradCam::new(), &model, x.clone(), &Targets::predicted())
                .iter()
                .map(|r| r.prediction.target)
                .collect();
        let targets = Targets::classes(classes.clone());
        let noise = Tensor::<4>::random(
            [n * samples, 1, 28, 28],
            Distribution::Normal(0.0, 0.3),
            &device,
        );
        let copies = x
            .clone()
            .unsqueeze_dim::<5>(1)
            .repeat_dim(1, samples)
            .reshape([n * samples, 1, 28, 28])
            + noise.clone();
        let copy_targets = Targets::classes(
            classes
                .iter()
                .flat_map(|&c| std::iter::repeat_n(c, samples))
                .collect::<Vec<_>>(),
        );
        for (name, method) in &methods {
            let smoothed = SmoothGrad::new(method.clone())
                .attribute_with_noise(&model, x.clone(), &targets, noise.clone())
                .and_then(|a| a.to_host())
                .expect("smoothed");
            let per_copy = common::explain(method, &model, copies.clone(), &copy_targets);
            for (i, image) in smoothed.iter().enumerate() {
                assert!(
                    image.map.values.iter().any(|v| *v != 0.0),
                    "{backend}: SmoothGrad({name}), image {i}: an empty map"
                );
                let copies = &per_copy[i * samples..(i + 1) * samples];
                let mean: Vec<f32> = (0..image.map.values.len())
                    .map(|p| copies.iter().map(|c| c.map.values[p]).sum::<f32>() / samples as f32)
                    .collect();
                assert_close_per_image(
                    &format!("{backend}: SmoothGrad({name}), image {i}"),
                    &image.map.values,
                    &mean,
                    1,
                    1e-5,
                );
            }
            let product = common::explain(
                &CamTimes::new(GradCam::new(), method.clone()),
                &model,
                x.clone(),
                &targets,
            );
            let cam = common::explain(&GradCam::new(), &model, x.clone(), &targets);
            let alone = common::explain(method, &model, x.clone(), &targets);
            for ((p, c), a) in product.iter().zip(&cam).zip(&alone) {
                assert_eq!(
                    p.pixel.as_ref().expect("a pixel factor").values,
                    a.map.values,
                    "{backend}: {name}"
                );
                assert_eq!(
                    p.cam.as_ref().expect("a CAM factor").values,
                    c.map.values,
                    "{backend}: {name}"
                );
                let expected: Vec<f32> = a
                    .map
                    .values
                    .iter()
                    .zip(&c.map.values)
                    .map(|(a, c)| a * c)
                    .collect();
                assert_close_per_image(
                    &format!("{backend}: {name} ⊙ Grad-CAM"),
                    &p.map.values,
                    &expected,
                    1,
                    1e-6,
                );
            }
        }
    }
}
