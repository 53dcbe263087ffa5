//! Batched Grad-CAM, guided backpropagation and Guided Grad-CAM.

use burn::tensor::{Device, Int, Tensor, TensorData, activation};

use crate::config::{ExplainConfig, Score};
use crate::error::{ExplainError, Result};
use crate::guided;
use crate::maps::{
    CamExplanation, Explanation, ImageExplanation, Map, PixelExplanation, Prediction, host_values,
};
use crate::model::{Explainable, ReluMode};
use crate::pipeline::{cam_weights, combine, upsample};

/// Which class each image is explained for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Targets {
    /// The class the model predicts for the image.
    #[default]
    Predicted,
    /// One explicit class per image, in batch order.
    Classes(Vec<usize>),
}

/// Explains batches of images for one model under one configuration.
///
/// Every method runs the batch through one forward and one backward (Grad-CAM's backward starts
/// at the explained layer, so it is cheap); [`Explainer::explain`] computes all three maps from a
/// single forward pass through the feature extractor.
#[derive(Clone, Copy, Debug)]
pub struct Explainer<'m, M: ?Sized> {
    model: &'m M,
    config: ExplainConfig,
}

/// Scores of a batch: the host-side predictions and the summed target scores to differentiate.
struct Scored {
    predictions: Vec<Prediction>,
    total: Tensor<1>,
}

impl<'m, M: Explainable + ?Sized> Explainer<'m, M> {
    /// An explainer for `model` with the given settings.
    pub fn new(model: &'m M, config: ExplainConfig) -> Self {
        Self { model, config }
    }

    /// The settings in use.
    pub fn config(&self) -> &ExplainConfig {
        &self.config
    }

    /// Grad-CAM of a batch `[N, C, H, W]` of (already preprocessed) images.
    pub fn grad_cam(&self, input: Tensor<4>, targets: &Targets) -> Result<Vec<CamExplanation>> {
        let input = self.prepare_input(input)?;
        let [_, _, height, width] = input.dims();
        let features = self.checked_features(input, ReluMode::Standard)?;
        let (predictions, cam_layer) = self.layer_cam(features, targets)?;
        let cam = upsample(cam_layer.clone(), [height, width], &self.config.upsampling);
        Ok(predictions
            .into_iter()
            .zip(Map::split_batch(cam_layer))
            .zip(Map::split_batch(cam))
            .map(|((prediction, cam_layer), cam)| CamExplanation {
                prediction,
                cam_layer,
                cam,
            })
            .collect())
    }

    /// Guided backpropagation of a batch: the gradient of each image's score w.r.t. its input,
    /// with every ReLU of the model guided.
    pub fn guided_backprop(
        &self,
        input: Tensor<4>,
        targets: &Targets,
    ) -> Result<Vec<PixelExplanation>> {
        let (predictions, _, gradient) = self.input_gradient(input, targets, ReluMode::Guided)?;
        Ok(pixel_explanations(predictions, gradient))
    }

    /// Saliency (Simonyan et al.; Captum's `Saliency`): the gradient of each image's score w.r.t.
    /// its input, its absolute value when `absolute` (Captum's default).
    pub fn saliency(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        absolute: bool,
    ) -> Result<Vec<PixelExplanation>> {
        let (predictions, _, gradient) = self.input_gradient(input, targets, ReluMode::Standard)?;
        let gradient = if absolute { gradient.abs() } else { gradient };
        Ok(pixel_explanations(predictions, gradient))
    }

    /// Input × gradient (Captum's `InputXGradient`).
    pub fn input_x_gradient(
        &self,
        input: Tensor<4>,
        targets: &Targets,
    ) -> Result<Vec<PixelExplanation>> {
        let (predictions, input, gradient) =
            self.input_gradient(input, targets, ReluMode::Standard)?;
        Ok(pixel_explanations(predictions, input * gradient))
    }

    /// The gradient of each image's score w.r.t. its (checked) input, with the given ReLUs;
    /// returns the predictions, the plain input and the gradient.
    fn input_gradient(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        relu: ReluMode,
    ) -> Result<(Vec<Prediction>, Tensor<4>, Tensor<4>)> {
        let input = self.prepare_differentiable_input(input, relu)?;
        let features = self.checked_features(input.clone(), relu)?;
        let logits = self.checked_logits(features, relu, input.dims()[0])?;
        let scored = self.score(logits, targets)?;
        let gradient = gradient_of(&input, &scored.total);
        Ok((
            scored.predictions,
            input.detach().without_autodiff(),
            gradient,
        ))
    }

    /// Grad-CAM, guided backpropagation and Guided Grad-CAM (`guided ⊙ upsampled CAM`) of a
    /// batch, from one forward pass through the feature extractor.
    ///
    /// The guided ReLU's forward is an ordinary ReLU, so the guided pass's feature maps are the
    /// Grad-CAM feature maps; only the two short backward passes differ.
    pub fn explain(&self, input: Tensor<4>, targets: &Targets) -> Result<Explanation> {
        let input = self.prepare_differentiable_input(input, ReluMode::Guided)?;
        let [batch, _, height, width] = input.dims();
        let features = self.checked_features(input.clone(), ReluMode::Guided)?;

        let (predictions, cam_layer) = self.layer_cam(features.clone(), targets)?;
        // Explain the guided pass for exactly the classes Grad-CAM used.
        let resolved = Targets::Classes(predictions.iter().map(|p| p.target).collect());
        let logits = self.checked_logits(features, ReluMode::Guided, batch)?;
        let guided = gradient_of(&input, &self.score(logits, &resolved)?.total);

        let cam = upsample(cam_layer.clone(), [height, width], &self.config.upsampling);
        let guided_grad_cam = guided.clone() * cam.clone();
        let images = predictions
            .into_iter()
            .zip(Map::split_batch(cam_layer))
            .zip(Map::split_batch(cam))
            .zip(Map::split_batch(guided))
            .zip(Map::split_batch(guided_grad_cam))
            .map(
                |((((prediction, cam_layer), cam), guided_backprop), guided_grad_cam)| {
                    ImageExplanation {
                        prediction,
                        cam_layer,
                        cam,
                        guided_backprop,
                        guided_grad_cam,
                    }
                },
            )
            .collect();
        Ok(Explanation {
            config: self.config,
            images,
        })
    }

    /// Checks the batch and moves it, detached and without autodiff, to the model's device.
    fn prepare_input(&self, input: Tensor<4>) -> Result<Tensor<4>> {
        let found = input.dims();
        let expected = self.model.input_shape();
        if found[0] == 0 {
            return Err(ExplainError::EmptyBatch);
        }
        if found[1..] != expected {
            return Err(ExplainError::InputShape { expected, found });
        }
        let input = input
            .detach()
            .without_autodiff()
            .to_device(&self.model.device().inner());
        check_finite(&input)?;
        Ok(input)
    }

    /// [`Self::prepare_input`], then made a differentiable leaf (on a device the guided ReLU
    /// supports, when it is to be used).
    fn prepare_differentiable_input(&self, input: Tensor<4>, relu: ReluMode) -> Result<Tensor<4>> {
        let input = self.prepare_input(input)?;
        if relu == ReluMode::Guided {
            ensure_guided_support(&input.device())?;
        }
        Ok(input.autodiff().require_grad())
    }

    fn checked_features(&self, input: Tensor<4>, relu: ReluMode) -> Result<Tensor<4>> {
        let batch = input.dims()[0];
        let features = self.model.features(input, relu);
        let dims = features.dims();
        if dims[0] != batch || dims[1..].contains(&0) {
            return Err(ExplainError::ModelOutput {
                stage: "features",
                expected: format!("[{batch}, K, h, w] with K, h, w > 0"),
                found: dims.to_vec(),
            });
        }
        Ok(features)
    }

    fn checked_logits(
        &self,
        features: Tensor<4>,
        relu: ReluMode,
        batch: usize,
    ) -> Result<Tensor<2>> {
        let logits = self.model.logits(features, relu);
        let dims = logits.dims();
        if dims[0] != batch || dims[1] == 0 {
            return Err(ExplainError::ModelOutput {
                stage: "logits",
                expected: format!("[{batch}, classes] with classes > 0"),
                found: dims.to_vec(),
            });
        }
        Ok(logits)
    }

    /// The layer-resolution CAM `[N, 1, h, w]` from the explained layer's activations.
    fn layer_cam(
        &self,
        features: Tensor<4>,
        targets: &Targets,
    ) -> Result<(Vec<Prediction>, Tensor<4>)> {
        let batch = features.dims()[0];
        // A fresh leaf: the head's backward stops here and leaves any earlier graph intact.
        let activations = features.detach().autodiff().require_grad();
        let logits = self.checked_logits(activations.clone(), ReluMode::Standard, batch)?;
        let scored = self.score(logits, targets)?;
        let gradients = scored.total.backward();
        let activations_grad = activations
            .grad(&gradients)
            .unwrap_or_else(|| activations.zeros_like().without_autodiff());
        let activations = activations.detach().without_autodiff();
        let weights = cam_weights(self.config.method, &activations, activations_grad);
        let cam = combine(weights, activations, self.config.combination);
        Ok((scored.predictions, cam))
    }

    /// Predictions, resolved targets and the summed target scores: one backward of the sum gives
    /// every image the gradient of its own score.
    fn score(&self, logits: Tensor<2>, targets: &Targets) -> Result<Scored> {
        let [batch, classes] = logits.dims();
        let probabilities = rows(
            activation::softmax(logits.clone().detach().without_autodiff(), 1),
            classes,
        );
        let predicted: Vec<usize> = probabilities.iter().map(|p| argmax(p)).collect();
        let target_classes = match targets {
            Targets::Predicted => predicted.clone(),
            Targets::Classes(classes_given) => {
                if classes_given.len() != batch {
                    return Err(ExplainError::TargetCount {
                        targets: classes_given.len(),
                        batch,
                    });
                }
                if let Some((index, &target)) = classes_given
                    .iter()
                    .enumerate()
                    .find(|(_, t)| **t >= classes)
                {
                    return Err(ExplainError::TargetOutOfRange {
                        index,
                        target,
                        classes,
                    });
                }
                classes_given.clone()
            }
        };

        let output = match self.config.score {
            Score::ModelOutput => self.model.output_layer().apply(logits),
            Score::Logit => logits,
        };
        let device = output.device();
        let picked = output.gather(1, class_indices(&target_classes, &device));
        let scores = rows(picked.clone().detach().without_autodiff(), 1);
        let predictions = probabilities
            .into_iter()
            .zip(predicted)
            .zip(target_classes)
            .zip(scores)
            .map(|(((probabilities, predicted), target), score)| Prediction {
                predicted,
                probabilities,
                target,
                score: score[0],
            })
            .collect();
        Ok(Scored {
            predictions,
            total: picked.sum(),
        })
    }
}

fn pixel_explanations(
    predictions: Vec<Prediction>,
    attribution: Tensor<4>,
) -> Vec<PixelExplanation> {
    predictions
        .into_iter()
        .zip(Map::split_batch(attribution))
        .map(|(prediction, attribution)| PixelExplanation {
            prediction,
            attribution,
        })
        .collect()
}

/// The gradient of `total` w.r.t. the differentiable leaf `input` (zeros if it does not depend
/// on it).
fn gradient_of(input: &Tensor<4>, total: &Tensor<1>) -> Tensor<4> {
    let gradients = total.backward();
    input
        .grad(&gradients)
        .unwrap_or_else(|| input.zeros_like().without_autodiff())
}

fn ensure_guided_support(device: &Device) -> Result<()> {
    if guided::is_supported_device(device) {
        Ok(())
    } else {
        Err(ExplainError::UnsupportedDevice {
            device: format!("{device:?}"),
        })
    }
}

/// Refuses NaN and infinities, naming the first image and element at fault.
fn check_finite(input: &Tensor<4>) -> Result<()> {
    let [_, c, h, w] = input.dims();
    let values = host_values(input.clone());
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(position) => {
            let per_image = c * h * w;
            Err(ExplainError::NonFiniteInput {
                index: position / per_image,
                element: position % per_image,
            })
        }
    }
}

fn class_indices(classes: &[usize], device: &Device) -> Tensor<2, Int> {
    let indices: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    Tensor::from_data(TensorData::new(indices, [classes.len(), 1]), device)
}

/// A `[N, width]` tensor as host rows.
fn rows(tensor: Tensor<2>, width: usize) -> Vec<Vec<f32>> {
    let values = host_values(tensor);
    values.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

/// Index of the largest value; the first one on ties, as `torch.argmax`.
fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(best, best_value), (i, &v)| {
            if v > best_value {
                (i, v)
            } else {
                (best, best_value)
            }
        })
        .0
}
