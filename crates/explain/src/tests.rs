//! Hand-checkable cases with exact answers.

use burn::tensor::{Device, Tensor, TensorData};

use crate::{
    CamCombination, CamMethod, ExplainConfig, ExplainError, Explainable, Explainer, Interpolation,
    OutputLayer, ReluMode, Score, Targets, Upsampling,
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

fn config(combination: CamCombination) -> ExplainConfig {
    ExplainConfig {
        method: CamMethod::GradCam,
        combination,
        score: Score::ModelOutput,
        upsampling: Upsampling {
            pad: 0,
            interpolation: Interpolation::Nearest,
            min_max_around_resize: false,
        },
    }
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

#[test]
fn grad_cam_weights_are_the_spatial_mean_of_gradients() {
    let model = model();
    // logits: class 0 = 2·10 − 10 = 10, class 1 = −5 + 10 = 5 → predicted 0, α = [2, −1].
    let expected = [
        (
            CamCombination::Signed,
            [2.0 - 4.0, 4.0 - 3.0, 6.0 - 2.0, 8.0 - 1.0],
        ),
        (CamCombination::ReluAfterSum, [0.0, 1.0, 4.0, 7.0]),
        (CamCombination::PerChannelRelu, [2.0, 4.0, 6.0, 8.0]),
    ];
    for (combination, cam) in expected {
        let result = Explainer::new(&model, config(combination))
            .grad_cam(input(), &Targets::Predicted)
            .unwrap();
        assert_eq!(result[0].prediction.predicted, 0);
        assert_eq!(result[0].prediction.score, 10.0);
        assert_eq!(result[0].cam_layer.values, cam, "{combination:?}");
        assert_eq!(
            result[0].cam.values, cam,
            "same size: upsampling is the identity"
        );
    }
}

#[test]
fn explicit_target_changes_the_weights() {
    let model = model();
    let result = Explainer::new(&model, config(CamCombination::Signed))
        .grad_cam(input(), &Targets::Classes(vec![1]))
        .unwrap();
    // α = [−0.5, 1]: −0.5·c0 + c1.
    assert_eq!(result[0].cam_layer.values, [3.5, 2.0, 0.5, -1.0]);
    assert_eq!(result[0].prediction.target, 1);
}

#[test]
fn guided_backprop_keeps_only_positive_gradients_through_active_units() {
    let model = model();
    // ∂logit_0/∂x = W[0][k] on every active unit: channel 0 → 2, channel 1 → −1 (dropped).
    let result = Explainer::new(&model, config(CamCombination::Signed))
        .guided_backprop(input(), &Targets::Predicted)
        .unwrap();
    assert_eq!(
        result[0].attribution.values,
        [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn guided_relu_backward_matches_hand_computation() {
    let device = Device::default().autodiff();
    let x = Tensor::<1>::from_floats([-1.0, 0.5, 2.0, 3.0], &device).require_grad();
    let upstream = Tensor::<1>::from_floats([3.0, -4.0, 5.0, 0.0], &device);
    let guided = (ReluMode::Guided.apply(x.clone()) * upstream.clone())
        .sum()
        .backward();
    assert_eq!(
        x.grad(&guided)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
        [0.0, 0.0, 5.0, 0.0]
    );
    let x2 = Tensor::<1>::from_floats([-1.0, 0.5, 2.0, 3.0], &device).require_grad();
    let standard = (ReluMode::Standard.apply(x2.clone()) * upstream)
        .sum()
        .backward();
    assert_eq!(
        x2.grad(&standard)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
        [0.0, -4.0, 5.0, 0.0]
    );
}

#[test]
fn zero_gradient_gives_a_zero_map_not_nan() {
    let model = SumModel {
        weights: vec![[0.0, 0.0]],
    };
    let explanation = Explainer::new(&model, config(CamCombination::PerChannelRelu))
        .explain(input(), &Targets::Predicted)
        .unwrap();
    let image = &explanation.images[0];
    for map in [
        &image.cam_layer,
        &image.cam,
        &image.guided_backprop,
        &image.guided_grad_cam,
    ] {
        assert!(map.values.iter().all(|v| *v == 0.0), "{map:?}");
        assert!(map.normalized().values.iter().all(|v| *v == 0.0));
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
    let padded = crate::upsample(
        cam.clone(),
        [4, 4],
        &Upsampling {
            pad: 1,
            interpolation: Interpolation::Bilinear,
            min_max_around_resize: false,
        },
    );
    let expected = [
        0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(padded.into_data().try_to_vec::<f32>().unwrap(), expected);
    // 2 → 3 nearest: torch picks floor(dst · 2 / 3) = [0, 0, 1].
    let nearest = crate::upsample(
        cam.clone(),
        [3, 3],
        &Upsampling {
            pad: 0,
            interpolation: Interpolation::Nearest,
            min_max_around_resize: false,
        },
    );
    assert_eq!(
        nearest.into_data().try_to_vec::<f32>().unwrap(),
        [1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]
    );
    // 2 → 4 bilinear, half-pixel centres: row [1, 2] becomes [1, 1.25, 1.75, 2].
    let bilinear = crate::upsample(
        cam,
        [4, 4],
        &Upsampling {
            pad: 0,
            interpolation: Interpolation::Bilinear,
            min_max_around_resize: false,
        },
    );
    let values = bilinear.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(values[..4], [1.0, 1.25, 1.75, 2.0]);
}

#[test]
fn bad_calls_are_typed_errors() {
    let model = model();
    let explainer = Explainer::new(&model, config(CamCombination::Signed));
    let wrong = Tensor::<4>::zeros([1, 3, 2, 2], &Device::default());
    assert!(matches!(
        explainer.explain(wrong, &Targets::Predicted),
        Err(ExplainError::InputShape { .. })
    ));
    assert!(matches!(
        explainer.explain(input(), &Targets::Classes(vec![2])),
        Err(ExplainError::TargetOutOfRange {
            index: 0,
            target: 2,
            classes: 2
        })
    ));
    assert!(matches!(
        explainer.grad_cam(input(), &Targets::Classes(vec![0, 1])),
        Err(ExplainError::TargetCount {
            targets: 2,
            batch: 1
        })
    ));
    let nan = Tensor::<4>::from_data(
        TensorData::new(
            vec![0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1, 2, 2, 2],
        ),
        &Device::default(),
    );
    assert_eq!(
        explainer
            .guided_backprop(nan, &Targets::Predicted)
            .unwrap_err(),
        ExplainError::NonFiniteInput {
            index: 0,
            element: 2
        }
    );
    let empty = Tensor::<4>::zeros([0, 2, 2, 2], &Device::default());
    assert_eq!(
        explainer.grad_cam(empty, &Targets::Predicted).unwrap_err(),
        ExplainError::EmptyBatch
    );
}
