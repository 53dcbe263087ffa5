//! CAMs on a vision transformer equal pytorch-grad-cam's with its ViT `reshape_transform`: the
//! zoo's `VisionTransformer` (written with `burn::nn`: patch embedding, class token, two
//! attention blocks) with the weights of its torch twin, explained at the first block's output seen as a 4×4 grid of
//! patch tokens (`TokenGrid`); guided backpropagation and deconvolution through its GELUs.
//! Fixture: `tools/reference/vit.py`.
//!
//! Errors are relative to each image's reference map's largest magnitude; each tolerance is the
//! 1-2-5 step at or above four times the worst error measured on flex, ndarray and wgpu, never
//! below 2e-6 (the figures, per check, in `SUITE`). HiResCAM is left out: at a pre-norm block's output the patch tokens reach the
//! class token only through LayerNorms, whose invariances make each token's gradient orthogonal
//! to the token and sum to zero, so `Σ_k G_k A_k` is 0 up to rounding (about 1e-7 here, for
//! either library) and its normalised map is noise.

use crate::common;

use burn::tensor::{Device, Tensor, TensorData, activation};
use burn_gradcam::data::LoadError;
use burn_gradcam::explain::{
    AnyCam, Attribution, CamTimes, Deconvolution, Explainable, FinerWeighted, GuidedBackprop,
    Preset, ReluMode, Score, ScoreGradient, Targets, gelu,
};
use burn_gradcam::zoo::{VisionTransformer, VitConfig, VitLayout};
use common::{Check, Fixture, Suite, assert_close_per_image, devices, explain};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "vit_parity",
    fixture: "tests/fixtures/vit.safetensors",
    checks: &[
        Check::new("logits", 2e-6),                     // 4.6e-7 / 4.9e-7 / 3.1e-7
        Check::new("pgc_gradcam", 5e-6),                // 5.8e-7 (worst of the three)
        Check::new("pgc_gradcam_target_softmax", 5e-6), // 1.0e-6
        Check::new("pgc_gradcam_target_finer_3_5_8", 5e-6), // 6.3e-7
        Check::new("pgc_gradcam_plusplus", 5e-6),       // 1.0e-6
        Check::new("pgc_xgradcam", 5e-5),               // 9.8e-6
        Check::new("pgc_layercam", 5e-6),               // 1.1e-6
        Check::new("pgc_gradcam_elementwise", 5e-6),    // 1.0e-6
        Check::new("pgc_scorecam", 5e-6),               // 6.0e-7
        // A plain torch transcription of the guided and deconvolution rules through the GELUs.
        Check::new("guided_backprop_gelu", 2e-6), // 4.2e-7 / 4.9e-7 / 5.0e-7
        Check::new("deconvolution_gelu", 5e-6),   // 4.7e-7 / 5.1e-7 / 4.7e-7
    ],
};

const WIDTH: usize = 32;
const GRID: usize = 4;

/// The shape of `tools/reference/vit.py`'s network.
const CONFIG: VitConfig = VitConfig {
    channels: 3,
    image_size: 32,
    patch_size: 8,
    width: WIDTH,
    heads: 4,
    mlp_width: 64,
    blocks: 2,
    classes: 10,
    layout: VitLayout::Twin,
};

fn fixture() -> Fixture {
    SUITE.fixture()
}

/// The torch twin's weights, explained at the first block's output.
fn load(device: &Device) -> VisionTransformer {
    let path = common::repo_path("tests/fixtures/vit_weights.safetensors");
    let (vit, _) = VisionTransformer::load(CONFIG, path, device).expect("the committed weights");
    vit.explained_at(0).expect("block 0")
}

fn images(fixture: &Fixture, device: &Device) -> Tensor<4> {
    let (shape, values) = fixture.f32("images");
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn the_burn_vit_computes_the_torch_logits() {
    let fixture = fixture();
    for (backend, device) in devices() {
        let vit = load(&device);
        let logits = vit.logits(
            vit.features(images(&fixture, &device), ReluMode::Standard),
            ReluMode::Standard,
        );
        let actual = logits.into_data().try_to_vec::<f32>().expect("f32");
        SUITE.check(
            &fixture,
            &format!("{backend}: the ViT's"),
            &actual,
            "logits",
        );
    }
}

#[test]
fn cams_on_a_vit_equal_pytorch_grad_cam() {
    let fixture = fixture();
    let targets = Targets::predicted().with_gradient(ScoreGradient::Naive);
    for (backend, device) in devices() {
        let vit = load(&device);
        let probability = targets.clone().with_score(Score::Probability);
        let finer = targets
            .clone()
            .with_target(FinerWeighted::new([3, 5, 8], 1.0));
        for (name, key, targets) in [
            ("grad-cam", "pgc_gradcam", &targets),
            ("grad-cam", "pgc_gradcam_target_softmax", &probability),
            ("grad-cam", "pgc_gradcam_target_finer_3_5_8", &finer),
            ("grad-cam-plus-plus", "pgc_gradcam_plusplus", &targets),
            ("xgrad-cam", "pgc_xgradcam", &targets),
            ("layer-cam", "pgc_layercam", &targets),
            ("grad-cam-element-wise", "pgc_gradcam_elementwise", &targets),
            ("score-cam", "pgc_scorecam", &targets),
        ] {
            let method = AnyCam::from_name(name)
                .expect("a CAM")
                .with_settings(Preset::PytorchGradCam.cam_settings());
            let cams = explain(&method, &vit, images(&fixture, &device), targets);
            let predicted: Vec<usize> = cams.iter().map(|c| c.prediction.target).collect();
            assert_eq!(predicted, fixture.classes("target"), "{backend}: {name}");
            assert_eq!(
                cams[0].layer_cam.as_ref().expect("a CAM").shape,
                [1, GRID, GRID]
            );
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {name} on the ViT"),
                cams.iter().map(|c| &c.map),
                key,
            );
        }
    }
}

/// Guided backpropagation and deconvolution through the GELUs (`ReluMode::activation`) equal a
/// plain torch transcription of the rules (a custom autograd function per rule): Captum and
/// pytorch-grad-cam replace only `nn.ReLU`, which this network has none of.
#[test]
fn guided_rules_through_gelu_equal_a_torch_transcription() {
    let fixture = fixture();
    let targets = Targets::predicted();
    for (backend, device) in devices() {
        let vit = load(&device);
        let methods: [(&dyn Attribution, &str); 2] = [
            (&GuidedBackprop, "guided_backprop_gelu"),
            (&Deconvolution, "deconvolution_gelu"),
        ];
        for (method, key) in methods {
            let maps = explain(method, &vit, images(&fixture, &device), &targets);
            SUITE.check_maps(
                &fixture,
                &format!("{backend}: {} on the ViT", method.label()),
                maps.iter().map(|m| &m.map),
                key,
            );
        }
    }
}

/// Ablation-CAM ablates a channel of the grid (the patch tokens; the class token is kept, where
/// pytorch-grad-cam's `AblationLayerVit` also ablates it, at a value that depends on the
/// ablation batch) and runs the second block on the tokens put back together: equal to ablating
/// by hand. Guided Grad-CAM runs through the GELUs' guided rule (no peer has one).
#[test]
fn ablation_and_guided_methods_run_through_the_token_grid() {
    let fixture = fixture();
    let device = burn_gradcam::Backend::Flex.device().expect("flex");
    let vit = load(&device);
    let x = images(&fixture, &device).narrow(0, 0, 2);
    let settings = Preset::PytorchGradCam.cam_settings();
    let ablation = AnyCam::from_name("ablation-cam")
        .expect("a CAM")
        .with_settings(settings);
    let result = ablation
        .attribute(&vit, x.clone(), &Targets::predicted())
        .expect("ablation on the grid");
    let maps = result.to_host().expect("maps");
    assert_eq!(maps.len(), 2);
    assert!(
        maps.iter()
            .all(|m| m.map.values.iter().all(|v| v.is_finite()))
    );

    // By hand, image 0: each channel of the grid set to its minimum − 1e7 in turn, the class
    // token kept; weight = relative drop of the score; map = ReLU(Σ_k w_k A_k) on the grid.
    let features = vit.features(x.clone().narrow(0, 0, 1), ReluMode::Standard);
    let class = maps[0].prediction.target;
    let score = |features: Tensor<4>| {
        let logits = vit.logits(features, ReluMode::Standard);
        logits
            .narrow(1, class, 1)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")[0]
    };
    let grid = vit.layer_view().expect("a token grid");
    let view = grid.view(features.clone());
    let minimum = view
        .clone()
        .min()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32")[0];
    let original = score(features.clone());
    let mut expected = Tensor::<4>::zeros([1, 1, GRID, GRID], &device);
    for k in 0..WIDTH {
        let channel = Tensor::<4>::zeros([1, WIDTH, GRID, GRID], &device)
            .slice_assign(
                [0..1, k..k + 1, 0..GRID, 0..GRID],
                Tensor::ones([1, 1, GRID, GRID], &device),
            )
            .equal_elem(1.0);
        let ablated = grid.unview(
            view.clone().mask_fill(channel, minimum - 1e7),
            features.clone(),
        );
        let weight = (original - score(ablated)) / original;
        expected = expected + view.clone().narrow(1, k, 1) * weight;
    }
    let expected = activation::relu(expected)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let actual = &maps[0].layer_cam.as_ref().expect("a CAM").values;
    // By hand in float32, a different order of operations: 1e-5 of the map.
    assert_close_per_image("Ablation-CAM on the grid", actual, &expected, 1, 1e-5);

    let guided = CamTimes::new(
        AnyCam::from_name("grad-cam")
            .expect("a CAM")
            .with_settings(settings),
        GuidedBackprop,
    );
    let maps = guided
        .attribute(&vit, x, &Targets::predicted())
        .and_then(|a| a.to_host())
        .expect("guided Grad-CAM on the ViT");
    assert_eq!(maps[0].map.shape, [3, 32, 32]);
    assert!(maps.iter().all(|m| m.map.max_abs() > 0.0));
}

/// `erf` to 1e-15 for |x| ≤ 3, by its Taylor series.
fn erf(x: f64) -> f64 {
    let (mut sum, mut term) = (0.0, x);
    for n in 0..200 {
        sum += term / f64::from(2 * n + 1);
        term *= -x * x / f64::from(n + 1);
    }
    std::f64::consts::FRAC_2_SQRT_PI * sum
}

/// The crate's GELU and its gradient are exact on every backend (Burn 0.22's own backward is
/// the tanh approximation's derivative on ndarray and wgpu, up to 8.7e-4 off).
#[test]
fn gelu_and_its_gradient_are_exact_on_every_backend() {
    let values: Vec<f32> = (0..31).map(|i| -3.0 + 0.2 * i as f32).collect();
    for (backend, device) in devices() {
        let x = Tensor::<1>::from_data(TensorData::new(values.clone(), [31]), &device.autodiff())
            .require_grad();
        let y = gelu(x.clone());
        let grads = y.clone().sum().backward();
        let slope = x.grad(&grads).expect("a gradient").into_data();
        let slope = slope.try_to_vec::<f32>().expect("f32");
        let y = y.into_data().try_to_vec::<f32>().expect("f32");
        for (i, v) in values.iter().map(|&v| f64::from(v)).enumerate() {
            let cdf = 0.5 * (1.0 + erf(v * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = (-v * v / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!(
                (f64::from(y[i]) - v * cdf).abs() < 1e-6,
                "{backend}: gelu({v})"
            );
            let exact = cdf + v * pdf;
            assert!(
                (f64::from(slope[i]) - exact).abs() < 1e-6,
                "{backend}: gelu'({v})"
            );
        }
    }
}

/// The loader is strict: a file of another shape names the key at fault.
#[test]
fn weights_of_another_shape_are_refused_by_key() {
    let device = burn_gradcam::Backend::Flex.device().expect("flex");
    let path = common::repo_path("tests/fixtures/vit_weights.safetensors");
    let deeper = VitConfig {
        blocks: 3,
        ..CONFIG
    };
    match VisionTransformer::load(deeper, &path, &device) {
        Err(LoadError::MissingKeys { keys, .. }) => {
            assert!(
                keys.iter().any(|k| k == "blocks.2.attn.query.weight"),
                "{keys:?}"
            );
        }
        other => panic!("expected MissingKeys, got {:?}", other.err()),
    }
    let wider = VitConfig {
        mlp_width: 128,
        ..CONFIG
    };
    match VisionTransformer::load(wider, &path, &device) {
        Err(LoadError::Shape { key, .. }) => assert!(key.starts_with("blocks.0.fc"), "{key}"),
        other => panic!("expected Shape, got {:?}", other.err()),
    }
    assert!(
        load(&device).explained_at(2).is_none(),
        "two blocks: 0 and 1"
    );
}
