//! Every method gives the same maps on every backend compiled in: each backend against flex, on
//! the seed's MNIST network and on the trained Fashion-MNIST ResNet (the zoo's convolution
//! kernel on flex, Burn's convolution elsewhere), within 1e-4 relative to max(1, the map's
//! largest magnitude). On a CPU-only build this compares ndarray with flex; with a GPU feature
//! (`wgpu`, `cuda`, …) and a device it compares the GPU too (CI runs wgpu on a software Vulkan
//! driver). The peers' fixtures, in the other parity tests, run on every backend as well.

use crate::common;

use burn::tensor::{Device, Tensor};
use burn_gradcam::Backend;
use burn_gradcam::data::{Images, Normalization};
use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, ExplainError, Explainable, FeatureMask, IntegratedGradients,
    Integration, Method, Occlusion, Preset, Rise, Score, ShapleyValueSampling, SmoothGrad, Targets,
};
use burn_gradcam::mnist::preprocess;
use common::{Check, Suite, devices, net, repo_path, worst_relative_error};

/// The bounds, per method label (`"every other method"` for the rest), relative to each image's
/// map's largest magnitude on flex; the worst measured on ndarray / wgpu against flex in each
/// comment. The ill-conditioned methods multiply the backends' rounding: Grad-CAM++ divides by
/// `2g² + Σ a·g³`, Ablation-CAM's weights are differences of nearly equal scores `(y − y_k) / y`;
/// each tolerance is the 1-2-5 step at or above four times the worst measured.
/// The maps explain the logit (the log-probability's rounding is `stability.rs`'s subject).
pub(crate) const SYNTHETIC: Suite = Suite {
    name: "backend_parity",
    fixture: "",
    checks: &[
        // MNIST ndarray / wgpu, Fashion ResNet ndarray / wgpu.
        Check::new("Grad-CAM++", 1e-4), // 2.9e-6 / 1.6e-5, 3.6e-7 / 6.3e-7
        Check::new("Ablation-CAM", 5e-5), // 1.7e-6 / 1.5e-6, 9.8e-6 / 3.1e-6
        // Eight right-Riemann points from the zero baseline: on the Fashion ResNet a pooling
        // near-tie at a path point goes the other way than flex's (3.3e-7 / 2.6e-7, 1.8e-4 /
        // 1.8e-4). Held to 5e-4, below the 1e-3 a moved pixel must exceed.
        Check::new("Integrated Gradients", 5e-4),
        Check::new("every other method", 2e-5), // at most 3.0e-6 (Grad-CAM, Fashion ResNet, wgpu)
    ],
};

fn tolerance(label: &str) -> f32 {
    SYNTHETIC
        .checks
        .iter()
        .find(|c| c.key == label)
        .unwrap_or(&SYNTHETIC.checks[SYNTHETIC.checks.len() - 1])
        .tolerance
}

/// A map of 4 images × 1 × 8 × 8 of varied signs and scales, for `tests/teeth.rs` to mutate (this
/// suite's references are flex's maps, computed in the test).
pub(crate) fn synthetic(_key: &str) -> (Vec<usize>, Vec<f32>) {
    let values = (0..4 * 64)
        .map(|i: i32| (i as f32 * 0.37).sin() * 10f32.powi(i / 64 - 3))
        .collect();
    (vec![4, 1, 8, 8], values)
}

/// Every built-in method: each CAM, Grad-CAM with each smoothing, each pixel method,
/// SmoothGrad and Guided Grad-CAM.
fn methods() -> Vec<Method> {
    let settings = Preset::PytorchGradCam.cam_settings();
    let cam = |name: &str, settings| {
        Method::Cam(AnyCam::from_name(name).unwrap().with_settings(settings))
    };
    let mut methods: Vec<Method> = AnyCam::NAMES
        .iter()
        .map(|name| cam(name, settings))
        .collect();
    methods.push(cam("grad-cam", settings.with_eigen_smooth(true)));
    methods.push(cam("grad-cam", settings.with_aug_smooth(true)));
    methods.extend(AnyPixel::NAMES.iter().map(|name| {
        Method::Pixel(match AnyPixel::from_name(name).unwrap() {
            // Sixteen 7×7 windows: every forward pass of Occlusion, few enough for a GPU
            // emulated on the CPU.
            AnyPixel::Occlusion(_) => AnyPixel::Occlusion(
                Occlusion::new()
                    .with_window([1, 7, 7])
                    .with_strides([1, 7, 7]),
            ),
            // Eight points of the path, none near the baseline: the backends' agreement does not
            // need a fine integral, and fifty points were over a minute on the software GPU.
            AnyPixel::IntegratedGradients(method) => {
                AnyPixel::IntegratedGradients(IntegratedGradients {
                    steps: 8,
                    integration: Integration::RiemannRight,
                    ..method
                })
            }
            // Three orders of a 4 × 4 grid: 49 passes, the rule's every step on every backend.
            AnyPixel::ShapleyValueSampling(_) => AnyPixel::ShapleyValueSampling(
                ShapleyValueSampling::new()
                    .with_mask(FeatureMask::grid(4, 4))
                    .with_samples(3),
            ),
            // Sixty-four masks: RISE's every step, at a sixteenth of its default passes.
            AnyPixel::Rise(_) => AnyPixel::Rise(Rise::new().with_masks(64)),
            method => method,
        })
    }));
    methods.push(Method::Pixel(AnyPixel::SmoothGrad(Box::new(
        SmoothGrad::new(AnyPixel::from_name("saliency").unwrap()).with_samples(4),
    ))));
    methods.push(Method::guided_grad_cam().with_cam_settings(Preset::Seed.cam_settings()));
    methods
}

/// Each method's maps on `device`, on the host, image after image; a method the model does not
/// route the layers for (LRP on a model that does not route its affine layers) is skipped.
fn maps(model: &dyn Explainable, input: Tensor<4>) -> Vec<(String, Vec<f32>)> {
    methods()
        .iter()
        .filter_map(|method| {
            let attributions = match method
                .attribute(
                    model,
                    input.clone(),
                    &Targets::predicted().with_score(Score::Logit),
                )
                .and_then(|a| a.to_host())
            {
                Err(ExplainError::Unrouted { .. }) if !model.routes_affine_layers() => {
                    return None;
                }
                other => other.unwrap_or_else(|e| panic!("{}: {e}", method.label())),
            };
            let values = attributions
                .iter()
                .flat_map(|a| a.map.values.iter().copied())
                .collect();
            Some((method.label(), values))
        })
        .collect()
}

fn compare(what: &str, images: usize, mut run: impl FnMut(&Device) -> Vec<(String, Vec<f32>)>) {
    let devices = devices();
    assert!(
        devices.len() > 1,
        "nothing to compare: only flex has a device (build with `--features ndarray` or `wgpu`)"
    );
    let (reference_backend, reference_device) = &devices[0];
    assert_eq!(*reference_backend, Backend::Flex, "flex is the reference");
    let reference = run(reference_device);
    // Every comparison is printed before any failure is reported, so one run shows them all.
    let mut failures = Vec::new();
    for (backend, device) in &devices[1..] {
        for ((label, actual), (_, expected)) in run(device).iter().zip(&reference) {
            let what = format!("{what}, {backend} vs flex: {label}");
            let worst = worst_relative_error(actual, expected, images);
            let (image, error, scale) = (worst.image, worst.error, worst.scale);
            println!("MEASURE {what}: worst {error:.1e} (image {image}, scale {scale:e})");
            if error > tolerance(label) {
                failures.push(format!("{what}: {error:e} > {:e}", tolerance(label)));
            }
        }
    }
    if std::env::var_os("GRADCAM_PARITY_MEASURE").is_none() {
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

#[test]
#[cfg_attr(
    not(any(feature = "ndarray", feature = "cube")),
    ignore = "one backend compiled in: build with --features ndarray or wgpu to compare"
)]
fn every_method_on_the_mnist_network_equals_flex_on_every_backend() {
    let digits = common::reference().digits();
    let digits = digits.slice(0..6).expect("six digits");
    compare("MNIST CNN", digits.len(), |device| {
        maps(&net(device), preprocess(&digits, device))
    });
}

#[test]
#[cfg_attr(
    not(any(feature = "ndarray", feature = "cube")),
    ignore = "one backend compiled in: build with --features ndarray or wgpu to compare"
)]
fn every_method_on_the_fashion_resnet_equals_flex_on_every_backend() {
    // Four of the bundled images (four classes): every method on a software GPU is minutes of
    // CI, and more images of the same network add little.
    let images = Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false)
        .expect("bundled images")
        .slice(0..4)
        .expect("four images");
    compare("Fashion ResNet", images.len(), |device| {
        let net = common::fashion_resnet(device);
        let net = net.explained_at("layer3").expect("a stage");
        maps(&net, images.to_tensor(Normalization::FashionMnist, device))
    });
}

#[test]
fn a_backend_not_compiled_in_or_unknown_is_a_typed_error() {
    for backend in Backend::EVERY {
        if !backend.is_compiled() {
            let error = backend.device().unwrap_err();
            assert!(
                error.to_string().contains(&format!("--features {backend}")),
                "{error}"
            );
            assert!(backend.name().parse::<Backend>().is_err());
        }
    }
    let error = "tpu".parse::<Backend>().unwrap_err().to_string();
    assert!(
        error.contains("unknown backend `tpu`") && error.contains("wgpu"),
        "{error}"
    );
}
