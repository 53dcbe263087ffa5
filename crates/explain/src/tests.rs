//! Hand-checkable cases with exact answers.

use burn::tensor::{Device, Tensor, TensorData};

use crate::resize::upsample;
use crate::{
    Attribution, CamSettings, CamTimes, Combination, ExplainError, Explainable, GradCam,
    GuidedBackprop, GuidedGradCam, Interpolation, Map, OutputLayer, Preset, Region, ReluMode,
    Stage, Targets, Upsampling,
};

/// Features are the input itself (`K` channels of `h × w`); class `c`'s logit is
/// `Σ_k W[c][k] · Σ_ij A_k[i, j]`, so `∂logit_c / ∂A_k[i, j] = W[c][k]` and Grad-CAM's
/// `α_k = W[c][k]` exactly.
struct SumModel {
    weights: Vec<[f32; 2]>,
}

impl Explainable for SumModel {
    fn input_shape(&self) -> [usize; 3] {
        [2, 2, 2]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        // A ReLU on positive inputs changes nothing but lets guided mode be exercised.
        relu.apply(input)
    }

    fn logits(&self, features: Tensor<4>, _relu: ReluMode) -> Tensor<2> {
        let k = features.dims()[1];
        let sums: Tensor<2> = features.sum_dims_squeeze::<2, _>(&[2, 3]);
        let flat: Vec<f32> = self
            .weights
            .iter()
            .flat_map(|w| w.iter().copied())
            .collect();
        let w = Tensor::<2>::from_data(
            TensorData::new(flat, [self.weights.len(), k]),
            &sums.device(),
        );
        sums.matmul(w.transpose())
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        Device::default()
    }
}

fn settings(combination: Combination) -> CamSettings {
    Preset::Seed
        .cam_settings()
        .with_combination(combination)
        .with_upsampling(
            Upsampling::new()
                .with_pad(0)
                .with_interpolation(Interpolation::Nearest),
        )
}

/// Channel 0 = [[1, 2], [3, 4]], channel 1 = [[4, 3], [2, 1]].
fn input() -> Tensor<4> {
    let values = vec![1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0];
    Tensor::from_data(TensorData::new(values, [1, 2, 2, 2]), &Device::default())
}

fn model() -> SumModel {
    // Class 0 weighs channel 0 by 2 and channel 1 by -1; class 1 the opposite signs.
    SumModel {
        weights: vec![[2.0, -1.0], [-0.5, 1.0]],
    }
}

fn grad_cam(combination: Combination) -> GradCam {
    GradCam::new().with_settings(settings(combination))
}

#[test]
fn grad_cam_weights_are_the_spatial_mean_of_gradients() {
    let model = model();
    // logits: class 0 = 2·10 − 10 = 10, class 1 = −5 + 10 = 5 → predicted 0, α = [2, −1].
    let expected = [
        (
            Combination::Signed,
            [2.0 - 4.0, 4.0 - 3.0, 6.0 - 2.0, 8.0 - 1.0],
        ),
        (Combination::ReluAfterSum, [0.0, 1.0, 4.0, 7.0]),
        (Combination::PerChannelRelu, [2.0, 4.0, 6.0, 8.0]),
    ];
    for (combination, cam) in expected {
        let result = grad_cam(combination)
            .attribute(&model, input(), &Targets::predicted())
            .unwrap()
            .to_host()
            .unwrap();
        assert_eq!(result[0].prediction.predicted, 0);
        assert_eq!(result[0].prediction.score, 10.0);
        assert_eq!(
            result[0].layer_cam.as_ref().unwrap().values,
            cam,
            "{combination:?}"
        );
        assert_eq!(
            result[0].map.values, cam,
            "same size: upsampling is the identity"
        );
    }
}

#[test]
fn explicit_target_changes_the_weights() {
    let model = model();
    let result = grad_cam(Combination::Signed)
        .attribute(&model, input(), &Targets::classes([1]))
        .unwrap()
        .to_host()
        .unwrap();
    // α = [−0.5, 1]: −0.5·c0 + c1.
    assert_eq!(result[0].map.values, [3.5, 2.0, 0.5, -1.0]);
    assert_eq!(result[0].prediction.target, 1);
}

#[test]
fn guided_backprop_keeps_only_positive_gradients_through_active_units() {
    let model = model();
    // ∂logit_0/∂x = W[0][k] on every active unit: channel 0 → 2, channel 1 → −1 (dropped).
    let maps = GuidedBackprop
        .attribute(&model, input(), &Targets::predicted())
        .unwrap()
        .to_maps()
        .unwrap();
    assert_eq!(maps[0].values, [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn guided_relu_backward_matches_hand_computation() {
    let device = Device::default().autodiff();
    let gradient = |relu: ReluMode| {
        let x = Tensor::<1>::from_floats([-1.0, 0.5, 2.0, 3.0], &device).require_grad();
        let upstream = Tensor::<1>::from_floats([3.0, -4.0, 5.0, 0.0], &device);
        let grads = (relu.apply(x.clone()) * upstream).sum().backward();
        let grad = x.grad(&grads).unwrap().reshape([1, 1, 1, 4]);
        Map::from_batch(grad).unwrap()[0].values.clone()
    };
    assert_eq!(gradient(ReluMode::Guided), [0.0, 0.0, 5.0, 0.0]);
    assert_eq!(gradient(ReluMode::Standard), [0.0, -4.0, 5.0, 0.0]);
    // Deconvolution ignores the input's sign: the negative x = -1 passes its positive gradient.
    assert_eq!(gradient(ReluMode::Deconvolution), [3.0, 0.0, 5.0, 0.0]);
}

/// The rules around any activation: for ReLU they are exactly the ReLU ops; for a leaky ReLU
/// (slope 0.1) guided keeps the slope and zeroes the negative incoming gradient, and
/// deconvolution passes `relu(grad)` whatever the slope.
#[test]
fn activation_rules_match_hand_computation() {
    let device = Device::default().autodiff();
    let gradient = |mode: ReluMode, leaky: bool| {
        let x = Tensor::<1>::from_floats([-1.0, 0.5, 2.0, 3.0], &device).require_grad();
        let upstream = Tensor::<1>::from_floats([3.0, -4.0, 5.0, 0.0], &device);
        let y = if leaky {
            mode.activation(x.clone(), |x| burn::tensor::activation::leaky_relu(x, 0.1))
        } else {
            mode.activation(x.clone(), burn::tensor::activation::relu)
        };
        let grads = (y * upstream).sum().backward();
        let grad = x.grad(&grads).unwrap().reshape([1, 1, 1, 4]);
        Map::from_batch(grad).unwrap()[0].values.clone()
    };
    assert_eq!(gradient(ReluMode::Standard, false), [0.0, -4.0, 5.0, 0.0]);
    assert_eq!(gradient(ReluMode::Guided, false), [0.0, 0.0, 5.0, 0.0]);
    assert_eq!(
        gradient(ReluMode::Deconvolution, false),
        [3.0, 0.0, 5.0, 0.0]
    );
    let close = |a: Vec<f32>, b: [f32; 4]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-6);
    assert!(close(
        gradient(ReluMode::Standard, true),
        [0.3, -4.0, 5.0, 0.0]
    ));
    assert!(close(
        gradient(ReluMode::Guided, true),
        [0.3, 0.0, 5.0, 0.0]
    ));
    assert!(close(
        gradient(ReluMode::Deconvolution, true),
        [3.0, 0.0, 5.0, 0.0]
    ));
}

#[test]
fn zero_gradient_gives_a_zero_map_not_nan() {
    let model = SumModel {
        weights: vec![[0.0, 0.0]],
    };
    let images = GuidedGradCam::guided(settings(Combination::PerChannelRelu))
        .attribute(&model, input(), &Targets::predicted())
        .unwrap();
    let normalized = Map::from_batch(crate::normalize(images.map().clone())).unwrap();
    let image = &images.to_host().unwrap()[0];
    for map in [
        image.layer_cam.as_ref().unwrap(),
        image.cam.as_ref().unwrap(),
        image.pixel.as_ref().unwrap(),
        &image.map,
        &normalized[0],
    ] {
        assert!(map.values.iter().all(|v| *v == 0.0), "{map:?}");
    }
}

#[test]
fn upsampling_pads_then_resizes_like_torch() {
    // F.interpolate(F.pad([[1, 2], [3, 4]], (1, 1, 1, 1)), size=(4, 4), mode="bilinear") with
    // align_corners=False maps onto the padded 4×4 grid exactly: the padded map itself.
    let cam = Tensor::<4>::from_data(
        TensorData::new(vec![1.0_f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
        &Device::default(),
    );
    let resized = |size: usize, upsampling: Upsampling| {
        let map = upsample(cam.clone(), [size, size], &upsampling);
        Map::from_batch(map).unwrap().remove(0).values
    };
    let bilinear = Upsampling::new().with_interpolation(Interpolation::Bilinear);
    let expected = [
        0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(resized(4, bilinear.with_pad(1)), expected);
    // 2 → 3 nearest: torch picks floor(dst · 2 / 3) = [0, 0, 1].
    assert_eq!(
        resized(
            3,
            Upsampling::new().with_interpolation(Interpolation::Nearest)
        ),
        [1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]
    );
    // 2 → 4 bilinear, half-pixel centres: row [1, 2] becomes [1, 1.25, 1.75, 2].
    assert_eq!(resized(4, bilinear)[..4], [1.0, 1.25, 1.75, 2.0]);
}

#[test]
fn bad_calls_are_typed_errors() {
    let model = model();
    let method = GuidedGradCam::guided(settings(Combination::Signed));
    let wrong = Tensor::<4>::zeros([1, 3, 2, 2], &Device::default());
    assert!(matches!(
        method.attribute(&model, wrong, &Targets::predicted()),
        Err(ExplainError::InputShape { .. })
    ));
    assert!(matches!(
        method.attribute(&model, input(), &Targets::classes([2])),
        Err(ExplainError::TargetOutOfRange {
            index: 0,
            target: 2,
            classes: 2
        })
    ));
    let count = grad_cam(Combination::Signed)
        .attribute(&model, input(), &Targets::classes([0, 1]))
        .unwrap_err();
    assert_eq!(
        count,
        ExplainError::TargetCount {
            targets: 2,
            batch: 1
        }
    );
    assert_eq!(
        count.to_string(),
        "2 target classes were given for a batch of 1 image"
    );
    let nan = Tensor::<4>::from_data(
        TensorData::new(
            vec![0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1, 2, 2, 2],
        ),
        &Device::default(),
    );
    // The input is checked on the device; the error comes with the first read.
    let result = GuidedBackprop
        .attribute(&model, nan, &Targets::predicted())
        .expect("computed on the device");
    let error = ExplainError::NonFinite {
        stage: Stage::Input,
        index: 0,
        element: 2,
    };
    assert_eq!(result.check().unwrap_err(), error);
    assert_eq!(result.to_maps().unwrap_err(), error);
    assert_eq!(result.to_host().unwrap_err(), error);
    let empty = Tensor::<4>::zeros([0, 2, 2, 2], &Device::default());
    assert_eq!(
        grad_cam(Combination::Signed)
            .attribute(&model, empty, &Targets::predicted())
            .unwrap_err(),
        ExplainError::EmptyBatch
    );
}

#[test]
fn a_product_labels_itself_by_its_factors() {
    use crate::{GradCamPlusPlus, Saliency};
    assert_eq!(
        GuidedGradCam::guided(Preset::Seed.cam_settings()).label(),
        "Guided Grad-CAM"
    );
    assert_eq!(
        CamTimes::new(GradCamPlusPlus::new(), GuidedBackprop).label(),
        "Guided Grad-CAM++"
    );
    assert_eq!(
        CamTimes::new(GradCam::new(), Saliency::new()).label(),
        "Saliency ⊙ Grad-CAM"
    );
}

/// The logits are the input itself (`[N, 3, 1, 1]` → `[N, 3]`), under a log-softmax.
struct Logits;

impl Explainable for Logits {
    fn input_shape(&self) -> [usize; 3] {
        [3, 1, 1]
    }

    fn features(&self, input: Tensor<4>, _relu: ReluMode) -> Tensor<4> {
        input
    }

    fn logits(&self, features: Tensor<4>, _relu: ReluMode) -> Tensor<2> {
        features.flatten(1, 3)
    }

    // Its model output is the log-probability, as the MNIST net's.
    fn output_layer(&self) -> OutputLayer {
        OutputLayer::LogSoftmax
    }

    fn device(&self) -> Device {
        Device::default()
    }
}

#[test]
fn the_stable_gradient_keeps_the_target_term_of_a_sure_prediction() {
    use crate::{Saliency, Score, ScoreGradient};
    // p_0 = 1 / (1 + 2e⁻²⁰): 1 − p_0 = 4.1e-9 is below float32's resolution near 1.
    let input = Tensor::<4>::from_data(
        TensorData::new(vec![20.0_f32, 0.0, 0.0], [1, 3, 1, 1]),
        &Device::default(),
    );
    let e = (-20.0_f64).exp();
    let others = e / (1.0 + 2.0 * e);
    let gradient = |score: Score, gradient: ScoreGradient| {
        let targets = Targets::class(0).with_score(score).with_gradient(gradient);
        let maps = Saliency::new()
            .with_absolute(false)
            .attribute(&Logits, input.clone(), &targets)
            .and_then(|a| a.to_maps())
            .unwrap();
        maps[0].values.clone()
    };
    let close = |actual: &[f32], expected: [f64; 3]| {
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (f64::from(*a) - e).abs() <= 1e-6 * e.abs(),
                "{actual:?} vs {expected:?}"
            );
        }
    };
    // ∂ log p_0 / ∂z = (Σ_{j≠0} p_j, −p_1, −p_2).
    let log_probability = [2.0 * others, -others, -others];
    close(
        &gradient(Score::ModelOutput, ScoreGradient::Stable),
        log_probability,
    );
    // ∂ p_0 / ∂z = p_0 · ∂ log p_0 / ∂z.
    let p0 = 1.0 / (1.0 + 2.0 * e);
    close(
        &gradient(Score::Probability, ScoreGradient::Stable),
        log_probability.map(|g| p0 * g),
    );
    // The peers' arithmetic loses the target term: 1 − p_0 rounds to 0 in float32.
    let naive = gradient(Score::ModelOutput, ScoreGradient::Naive);
    assert_eq!(naive[0], 0.0, "{naive:?}");
}

#[test]
fn each_target_differentiates_its_own_score() {
    use crate::{BinaryOutput, ClassSum, RawScores, ReSt, Saliency, Score, TargetFn};
    // `Logits`: z = the input, the model output log softmax(z); class 1 is predicted.
    let z = [1.0_f64, 2.0, 0.5];
    let input = Tensor::<4>::from_data(
        TensorData::new(z.map(|v| v as f32).to_vec(), [1, 3, 1, 1]),
        &Device::default(),
    );
    let total: f64 = z.iter().map(|v| v.exp()).sum();
    let p = z.map(|v| v.exp() / total);
    let explain = |targets: Targets| {
        let result = Saliency::new()
            .with_absolute(false)
            .attribute(&Logits, input.clone(), &targets)
            .and_then(|a| a.to_host())
            .unwrap();
        (result[0].map.values.clone(), result[0].prediction.score)
    };
    let close = |(gradient, score): (Vec<f32>, f32), expected: [f64; 3], value: f64| {
        for (a, e) in gradient.iter().zip(expected) {
            assert!(
                (f64::from(*a) - e).abs() <= 1e-6,
                "{gradient:?} vs {expected:?}"
            );
        }
        assert!(
            (f64::from(score) - value).abs() <= 1e-5,
            "{score} vs {value}"
        );
    };
    let predicted = Targets::predicted();
    let log_p = p.map(f64::ln);
    // Multi-label: logit 0 + logit 2.
    close(
        explain(
            predicted
                .clone()
                .with_target(ClassSum::new([0, 2], Score::Logit)),
        ),
        [1.0, 0.0, 1.0],
        z[0] + z[2],
    );
    // Raw scores: Σ_k log p_k, whose gradient is 1 − 3 p_j; the negative side of a binary
    // output is its negation.
    let raw = p.map(|pj| 1.0 - 3.0 * pj);
    let sum: f64 = log_p.iter().sum();
    close(explain(predicted.clone().with_target(RawScores)), raw, sum);
    close(
        explain(
            predicted
                .clone()
                .with_target(BinaryOutput { positive: false }),
        ),
        raw.map(|g| -g),
        -sum,
    );
    // ReST at the predicted class 1: z_1 + log p_1, gradient 2·e_1 − p.
    close(
        explain(predicted.clone().with_target(ReSt)),
        [-p[0], 2.0 - p[1], -p[2]],
        z[1] + log_p[1],
    );
    // A closure: z_0 − z_2.
    let margin = TargetFn::new("0 over 2", |outputs, _| {
        let [n, _] = outputs.dims();
        let z = outputs.logits();
        (z.clone().narrow(1, 0, 1) - z.narrow(1, 2, 1)).reshape([n])
    });
    close(
        explain(predicted.with_target(margin)),
        [1.0, 0.0, -1.0],
        z[0] - z[2],
    );
}

/// [`SumModel`] per pixel: class `c`'s output map is `Σ_k W[c][k] · A_k` (a 1×1 convolution),
/// its scores the map's means.
struct PerPixelModel(SumModel);

impl Explainable for PerPixelModel {
    fn input_shape(&self) -> [usize; 3] {
        self.0.input_shape()
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.0.features(input, relu)
    }

    fn output_map(&self, features: Tensor<4>, _relu: ReluMode) -> Option<Tensor<4>> {
        let maps = self
            .0
            .weights
            .iter()
            .map(|w| {
                features.clone().narrow(1, 0, 1) * w[0] + features.clone().narrow(1, 1, 1) * w[1]
            })
            .collect();
        Some(Tensor::cat(maps, 1))
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        crate::pooled_scores(self.output_map(features, relu).expect("a map"))
    }

    fn device(&self) -> Device {
        Device::default()
    }
}

#[test]
fn a_region_target_differentiates_its_class_inside_the_region() {
    let model = PerPixelModel(model());
    // Pixels (0, 0) and (1, 1): ∂/∂A_k is W[c][k] there and 0 elsewhere, so Grad-CAM's
    // α_k = W[c][k] · 2/4.
    let region = Region::mask(vec![1.0, 0.0, 0.0, 1.0], [2, 2]).expect("4 weights");
    for (class, alpha) in [(0, [1.0, -0.5]), (1, [-0.25, 0.5])] {
        let targets = Targets::class(class).with_target(region.clone());
        let result = grad_cam(Combination::Signed)
            .attribute(&model, input(), &targets)
            .unwrap()
            .to_host()
            .unwrap();
        let [c0, c1] = [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]];
        let expected: Vec<f32> = (0..4)
            .map(|i| alpha[0] * c0[i] + alpha[1] * c1[i])
            .collect();
        assert_eq!(result[0].map.values, expected, "class {class}");
        // The score: the class's map summed over the region.
        let w = &model.0.weights[class];
        let score = (w[0] * c0[0] + w[1] * c1[0]) + (w[0] * c0[3] + w[1] * c1[3]);
        assert_eq!(result[0].prediction.score, score, "class {class}");
    }

    // The predicted pixels: class 0's map is 2·c0 − c1 = [−2, 1, 4, 7], class 1's
    // −0.5·c0 + c1 = [3.5, 2, 0.5, −1]: class 0 wins at pixels 2 and 3, class 1 at 0 and 1.
    for (class, mask) in [(0, [0.0, 0.0, 1.0, 1.0]), (1, [1.0, 1.0, 0.0, 0.0])] {
        let predicted = Targets::class(class).with_target(Region::predicted());
        let given = Targets::class(class).with_target(Region::mask(mask.to_vec(), [2, 2]).unwrap());
        let run = |targets: &Targets| {
            grad_cam(Combination::Signed)
                .attribute(&model, input(), targets)
                .unwrap()
                .to_host()
                .unwrap()
                .remove(0)
        };
        let (a, b) = (run(&predicted), run(&given));
        assert_eq!(a.map.values, b.map.values, "class {class}");
        assert_eq!(a.prediction.score, b.prediction.score);
    }
}

#[test]
fn a_region_target_refuses_a_classifier_and_a_mask_of_another_size() {
    let region = Region::mask(vec![1.0; 9], [3, 3]).expect("9 weights");
    assert!(Region::mask(vec![1.0; 8], [3, 3]).is_none());
    let targets = Targets::class(0).with_target(region.clone());
    let error = grad_cam(Combination::Signed)
        .attribute(&model(), input(), &targets)
        .unwrap_err();
    assert!(matches!(error, ExplainError::NoOutputMap { .. }), "{error}");
    let error = grad_cam(Combination::Signed)
        .attribute(&PerPixelModel(model()), input(), &targets)
        .unwrap_err();
    assert_eq!(
        error,
        ExplainError::RegionShape {
            mask: [3, 3],
            map: [2, 2]
        }
    );
    assert_eq!(
        error.to_string(),
        "the region's mask is 3×3 pixels and the model's output map 2×2: the mask must cover the map"
    );
}
