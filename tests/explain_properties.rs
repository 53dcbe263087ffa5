//! Properties every explanation has, on the MNIST net and on a differently shaped CNN.

mod common;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Distribution, Tensor};
use burn_gradcam::explain::{
    ExplainError, Explainable, Explainer, OutputLayer, Preset, ReluMode, Targets,
};
use burn_gradcam::model::preprocess;
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
        let explanation = Explainer::new(&model, Preset::Seed.config())
            .explain(other_input(&device), &Targets::Predicted)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(explanation.images.len(), 4);
        for image in &explanation.images {
            assert_eq!(image.prediction.probabilities.len(), 5);
            assert_eq!(image.cam_layer.shape, [1, 16, 16]);
            assert_eq!(image.cam.shape, [1, 32, 32]);
            assert_eq!(image.guided_backprop.shape, [3, 32, 32]);
            assert_eq!(image.guided_grad_cam.shape, [3, 32, 32]);
            assert!(
                image.cam_layer.values.iter().all(|v| *v >= 0.0),
                "per-channel ReLU is non-negative"
            );
            assert!(
                image.guided_backprop.max_abs() > 0.0,
                "{backend}: guided gradient reaches the input"
            );
            let sum: f32 = image.prediction.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
        }
        let wrong = Tensor::<4>::zeros([1, 1, 28, 28], &device);
        assert!(matches!(
            Explainer::new(&model, Preset::Seed.config()).explain(wrong, &Targets::Predicted),
            Err(ExplainError::InputShape {
                expected: [3, 32, 32],
                found: [1, 1, 28, 28]
            })
        ));
    }
}

#[test]
fn batch_equals_per_image_results() {
    let fixture = reference();
    let digits = fixture.digits();
    for (backend, device) in devices() {
        let net = net(&device);
        for preset in Preset::ALL {
            let explainer = Explainer::new(&net, preset.config());
            let batch = explainer
                .explain(preprocess(&digits, &device), &Targets::Predicted)
                .expect("batch");
            for (i, batched) in batch.images.iter().enumerate() {
                let one = digits.slice(i..i + 1).expect("image");
                let single = explainer
                    .explain(preprocess(&one, &device), &Targets::Predicted)
                    .expect("single");
                let single = &single.images[0];
                assert_eq!(single.prediction.target, batched.prediction.target);
                for (name, a, b) in [
                    ("cam", &single.cam, &batched.cam),
                    (
                        "guided backprop",
                        &single.guided_backprop,
                        &batched.guided_backprop,
                    ),
                    (
                        "guided grad-cam",
                        &single.guided_grad_cam,
                        &batched.guided_grad_cam,
                    ),
                ] {
                    assert_close_per_image(
                        &format!("{backend} {preset} image {i} {name}"),
                        &a.values,
                        &b.values,
                        1,
                        1e-6,
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
        let explainer = Explainer::new(&net, Preset::Seed.config());
        let first = explainer
            .explain(input.clone(), &Targets::Predicted)
            .expect("first");
        let second = explainer
            .explain(input.clone(), &Targets::Predicted)
            .expect("second");
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
        let explainer = Explainer::new(&net, Preset::Captum.config());
        let all = explainer
            .explain(input.clone(), &Targets::Predicted)
            .expect("explain");
        let cams = explainer
            .grad_cam(input.clone(), &Targets::Predicted)
            .expect("grad-cam");
        let guided = explainer
            .guided_backprop(input, &Targets::Predicted)
            .expect("guided");
        for ((image, cam), gb) in all.images.iter().zip(&cams).zip(&guided) {
            assert_eq!(image.prediction, cam.prediction, "{backend}");
            assert_close_per_image(backend.name(), &image.cam.values, &cam.cam.values, 1, 1e-6);
            assert_close_per_image(
                backend.name(),
                &image.guided_backprop.values,
                &gb.attribution.values,
                1,
                1e-6,
            );
        }
    }
}

#[test]
fn display_normalisation_is_separate_and_bounded() {
    let fixture = reference();
    let device = burn_gradcam::Backend::default().device();
    let net = net(&device);
    let explanation = Explainer::new(&net, Preset::Seed.config())
        .explain(preprocess(&fixture.digits(), &device), &Targets::Predicted)
        .expect("explains");
    for image in &explanation.images {
        let normalized = image.cam.normalized();
        assert!(
            normalized
                .values
                .iter()
                .all(|v| (0.0..=1.0).contains(v) && v.is_finite())
        );
        if image.cam.max_abs() > 0.0 {
            let top = normalized.values.iter().fold(0.0_f32, |m, v| m.max(*v));
            assert!((top - 1.0).abs() < 1e-4, "the maximum maps to 1");
        }
    }
}

#[test]
fn window_max_pooling_equals_burn_s_pooling_and_its_gradient() {
    use burn::tensor::module::max_pool2d as burn_max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    use burn_gradcam::explain::max_pool2d;

    for (backend, device) in devices() {
        for (shape, kernel) in [([3, 4, 24, 24], [2, 2]), ([2, 3, 13, 11], [3, 2])] {
            // Few distinct values: many ties inside the windows; odd sizes drop the remainder.
            let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 3.0), &device).floor();
            let ours = max_pool2d(x.clone(), kernel);
            let theirs = burn_max_pool2d(x.clone(), MaxPoolOptions::new(kernel));
            assert_eq!(
                ours.dims(),
                theirs.dims(),
                "{backend}: {shape:?} / {kernel:?}"
            );
            assert!(
                ours.clone().equal(theirs).all().into_scalar::<bool>(),
                "{backend}: values"
            );
            let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let gradient = |pool: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let leaf = x.clone().autodiff().require_grad();
                let total = (pool(leaf.clone()) * upstream.clone().autodiff()).sum();
                leaf.grad(&total.backward()).expect("a gradient")
            };
            let ours = gradient(&|t| max_pool2d(t, kernel));
            let theirs = gradient(&|t| burn_max_pool2d(t, MaxPoolOptions::new(kernel)));
            assert!(
                ours.equal(theirs).all().into_scalar::<bool>(),
                "{backend}: the gradient goes to each window's first maximum"
            );
        }
    }
}
