//! Batched Grad-CAM, guided backpropagation and Guided Grad-CAM.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

/// Masked inputs per forward pass in Score-CAM: bounds its memory to this many input images.
pub const SCORE_CAM_BATCH: usize = 256;
/// Score-CAM's epsilon in the mask normalisation (pytorch-grad-cam's value).
const SCORE_CAM_EPSILON: f32 = 1e-8;
/// Most noise values one SmoothGrad call draws.
const MAX_NOISE_VALUES: usize = 1 << 31;

use crate::config::CamMethod;
use crate::config::{ExplainConfig, Score};
use crate::error::{ExplainError, Result};
use crate::guided;
use crate::integrated::IntegratedGradientsConfig;
use crate::maps::{
    CamExplanation, Explanation, ImageExplanation, IntegratedGradientsExplanation, Map,
    PixelCamExplanation, PixelExplanation, Prediction, host_values,
};
use crate::model::{Explainable, ReluMode};
use crate::noise::gaussian_noise;
use crate::pipeline::{cam_weights, combine, eigen_projection, relu_of, upsample, uses_gradients};
use crate::smooth::{NoiseAggregation, PixelMethod, SmoothGradConfig};

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

    /// The model explained.
    pub fn model(&self) -> &'m M {
        self.model
    }

    /// Grad-CAM of a batch `[N, C, H, W]` of (already preprocessed) images.
    pub fn grad_cam(&self, input: Tensor<4>, targets: &Targets) -> Result<Vec<CamExplanation>> {
        let input = self.prepare_input(input)?;
        let [_, _, height, width] = input.dims();
        let features = self.checked_features(input.clone(), ReluMode::Standard)?;
        let (predictions, cam_layer) = self.layer_cam(&input, features, targets)?;
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

    /// Any pixel method, by value: the one `attribute(inputs, targets)` shape for all of them.
    pub fn attribute(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        method: &PixelMethod,
    ) -> Result<Vec<PixelExplanation>> {
        match method {
            PixelMethod::GuidedBackprop => self.guided_backprop(input, targets),
            PixelMethod::Saliency { absolute } => self.saliency(input, targets, *absolute),
            PixelMethod::InputXGradient => self.input_x_gradient(input, targets),
            PixelMethod::IntegratedGradients(config) => Ok(self
                .integrated_gradients(input, targets, config)?
                .into_iter()
                .map(|ig| PixelExplanation {
                    prediction: ig.prediction,
                    attribution: ig.attribution,
                })
                .collect()),
        }
    }

    /// SmoothGrad (Captum's `NoiseTunnel`): `method` on `samples` noisy copies of each image,
    /// aggregated; the noise comes from `config.seed`. Predictions are those of the clean input.
    pub fn smooth_grad(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        method: &PixelMethod,
        config: &SmoothGradConfig,
    ) -> Result<Vec<PixelExplanation>> {
        if !(config.stdev.is_finite() && config.stdev >= 0.0) || config.samples == 0 {
            return Err(ExplainError::InvalidSetting {
                what: format!(
                    "SmoothGrad needs samples ≥ 1 and a finite stdev ≥ 0, got {} and {}",
                    config.samples, config.stdev
                ),
            });
        }
        let [n, c, h, w] = input.dims();
        if n == 0 {
            return Err(ExplainError::EmptyBatch);
        }
        // Bounds the memory a setting can ask for.
        let count = n
            .checked_mul(config.samples)
            .and_then(|m| m.checked_mul(c * h * w))
            .filter(|&m| m <= MAX_NOISE_VALUES)
            .ok_or_else(|| ExplainError::InvalidSetting {
                what: format!(
                    "{} SmoothGrad samples of {n} images exceed {MAX_NOISE_VALUES} noise values",
                    config.samples
                ),
            })?;
        let noise = gaussian_noise(count, config.stdev, config.seed);
        let noise = Tensor::<4>::from_data(
            TensorData::new(noise, [n * config.samples, c, h, w]),
            &self.model.device().inner(),
        );
        self.smooth_grad_with_noise(input, targets, method, noise, config.aggregation)
    }

    /// SmoothGrad with given noise `[N · samples, C, H, W]`, image-major (an image's copies
    /// consecutive, as Captum lays them out).
    pub fn smooth_grad_with_noise(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        method: &PixelMethod,
        noise: Tensor<4>,
        aggregation: NoiseAggregation,
    ) -> Result<Vec<PixelExplanation>> {
        let input = self.prepare_input(input)?;
        let [n, c, h, w] = input.dims();
        let noise_dims = noise.dims();
        if noise_dims[0] == 0 || !noise_dims[0].is_multiple_of(n) || noise_dims[1..] != [c, h, w] {
            return Err(ExplainError::InvalidSetting {
                what: format!(
                    "noise of shape {noise_dims:?} does not fit a batch of shape {:?}",
                    input.dims()
                ),
            });
        }
        let samples = noise_dims[0] / n;
        let predictions = self.plain_predictions(input.clone(), targets)?;
        let classes: Vec<usize> = predictions
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.target, samples))
            .collect();
        let noisy = input
            .reshape([n, 1, c, h, w])
            .repeat_dim(1, samples)
            .reshape([n * samples, c, h, w])
            + noise.to_device(&self.model.device().inner());
        let attributions = self.attribute(noisy, &Targets::Classes(classes), method)?;
        let values: Vec<f32> = attributions
            .into_iter()
            .flat_map(|a| a.attribution.values)
            .collect();
        let per_sample = Tensor::<1>::from_data(
            TensorData::new(values, [n * samples * c * h * w]),
            &self.model.device().inner(),
        )
        .reshape([n, samples, c, h, w]);
        let mean = per_sample.clone().mean_dim(1);
        let aggregated = match aggregation {
            NoiseAggregation::SmoothGrad => mean,
            NoiseAggregation::SmoothGradSquared => (per_sample.clone() * per_sample).mean_dim(1),
            NoiseAggregation::VarGrad => {
                (per_sample.clone() * per_sample).mean_dim(1) - mean.clone() * mean
            }
        };
        Ok(pixel_explanations(
            predictions,
            aggregated.reshape([n, c, h, w]),
        ))
    }

    /// Grad-CAM (per the configured CAM method), a pixel method (optionally wrapped in
    /// SmoothGrad) for the same classes, and their product — Guided Grad-CAM generalised to any
    /// pixel method. For guided backprop without SmoothGrad, [`Explainer::explain`] computes the
    /// same in one forward pass.
    pub fn explain_pixels(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        method: &PixelMethod,
        smooth: Option<&SmoothGradConfig>,
    ) -> Result<Vec<PixelCamExplanation>> {
        let cams = self.grad_cam(input.clone(), targets)?;
        let resolved = Targets::Classes(cams.iter().map(|c| c.prediction.target).collect());
        let pixels = match smooth {
            Some(config) => self.smooth_grad(input, &resolved, method, config)?,
            None => self.attribute(input, &resolved, method)?,
        };
        let device = self.model.device().inner();
        let attributions = Map::stack(
            &pixels.iter().map(|p| &p.attribution).collect::<Vec<_>>(),
            &device,
        );
        let upsampled = Map::stack(&cams.iter().map(|c| &c.cam).collect::<Vec<_>>(), &device);
        let products = Map::split_batch(weight_by_cam(attributions, upsampled));
        Ok(cams
            .into_iter()
            .zip(pixels)
            .zip(products)
            .map(|((cam, pixel), attribution_cam)| PixelCamExplanation {
                prediction: cam.prediction,
                cam_layer: cam.cam_layer,
                cam: cam.cam,
                attribution: pixel.attribution,
                attribution_cam,
            })
            .collect())
    }

    /// Integrated Gradients (Captum's `IntegratedGradients`): the gradients along the straight
    /// path from a constant baseline to each input, integrated by the chosen quadrature, times
    /// `input − baseline`; with the convergence delta. The path points run as batches of
    /// `steps × N` images, or of at most `internal_batch_size` images.
    pub fn integrated_gradients(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        config: &IntegratedGradientsConfig,
    ) -> Result<Vec<IntegratedGradientsExplanation>> {
        let input = self.prepare_input(input)?;
        let [n, c, h, w] = input.dims();
        let device = input.device();
        let end = self.plain_predictions(input.clone(), targets)?;
        let classes: Vec<usize> = end.iter().map(|p| p.target).collect();
        let baseline = Tensor::<4>::full([n, c, h, w], config.baseline, &device);
        let start = self.plain_predictions(baseline.clone(), &Targets::Classes(classes.clone()))?;

        let (alphas, weights) = config.integration.points_and_weights(config.steps);
        let per_pass = config
            .internal_batch_size
            .map_or(alphas.len(), |images| (images / n).max(1));
        let difference = input - baseline.clone();
        let mut total = Tensor::<4>::zeros([n, c, h, w], &device);
        for first in (0..alphas.len()).step_by(per_pass) {
            let steps = first..(first + per_pass).min(alphas.len());
            let m = steps.len();
            let points: Vec<Tensor<4>> = steps
                .clone()
                .map(|k| baseline.clone() + difference.clone() * alphas[k] as f32)
                .collect();
            let repeated: Vec<usize> = (0..m).flat_map(|_| classes.iter().copied()).collect();
            let (_, _, gradient) = self.input_gradient(
                Tensor::cat(points, 0),
                &Targets::Classes(repeated),
                ReluMode::Standard,
            )?;
            let step_weights: Vec<f32> = steps.map(|k| weights[k] as f32).collect();
            let step_weights = Tensor::<1>::from_data(TensorData::new(step_weights, [m]), &device)
                .reshape([m, 1, 1, 1, 1]);
            let weighted = (gradient.reshape([m, n, c, h, w]) * step_weights)
                .sum_dim(0)
                .reshape([n, c, h, w]);
            total = total + weighted;
        }
        let attribution = total * difference;
        let sums = host_values(attribution.clone().sum_dims(&[1, 2, 3]));
        Ok(end
            .into_iter()
            .zip(start)
            .zip(Map::split_batch(attribution))
            .zip(sums)
            .map(
                |(((prediction, start), attribution), sum)| IntegratedGradientsExplanation {
                    convergence_delta: sum - (prediction.score - start.score),
                    prediction,
                    attribution,
                },
            )
            .collect())
    }

    /// Predictions and target scores (per the configured [`Score`]) of a batch, without
    /// gradients: the forward pass the faithfulness metrics are built on.
    pub fn predict(&self, input: Tensor<4>, targets: &Targets) -> Result<Vec<Prediction>> {
        let input = self.prepare_input(input)?;
        self.plain_predictions(input, targets)
    }

    /// Predictions and scores of a checked batch, without gradients.
    fn plain_predictions(&self, input: Tensor<4>, targets: &Targets) -> Result<Vec<Prediction>> {
        let batch = input.dims()[0];
        let features = self.checked_features(input, ReluMode::Standard)?;
        let logits = self.checked_logits(features, ReluMode::Standard, batch)?;
        Ok(self.score(logits, targets)?.predictions)
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

        let plain = input.clone().detach().without_autodiff();
        let (predictions, cam_layer) = self.layer_cam(&plain, features.clone(), targets)?;
        // Explain the guided pass for exactly the classes Grad-CAM used (already checked, and
        // the predictions are known: only the scores' sum is needed).
        let classes: Vec<usize> = predictions.iter().map(|p| p.target).collect();
        let logits = self.checked_logits(features, ReluMode::Guided, batch)?;
        let guided = gradient_of(&input, &self.target_scores(logits, &classes).sum());

        let cam = upsample(cam_layer.clone(), [height, width], &self.config.upsampling);
        let guided_grad_cam = weight_by_cam(guided.clone(), cam.clone());
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

    /// The layer-resolution CAM `[N, 1, h, w]` from the explained layer's activations; `input`
    /// is the plain (non-differentiable) batch, which Score-CAM masks.
    fn layer_cam(
        &self,
        input: &Tensor<4>,
        features: Tensor<4>,
        targets: &Targets,
    ) -> Result<(Vec<Prediction>, Tensor<4>)> {
        let batch = features.dims()[0];
        // A fresh leaf: the head's backward stops here and leaves any earlier graph intact.
        let activations = features.detach().autodiff().require_grad();
        let logits = self.checked_logits(activations.clone(), ReluMode::Standard, batch)?;
        let scored = self.score(logits, targets)?;
        let method = self.config.method;
        let combination = self.config.combination;
        let gradients = uses_gradients(method).then(|| {
            let gradients = scored.total.backward();
            activations
                .grad(&gradients)
                .unwrap_or_else(|| activations.zeros_like().without_autodiff())
        });
        let activations = activations.detach().without_autodiff();
        let cam = match (method, gradients) {
            (CamMethod::EigenCam, _) => relu_of(combination, eigen_projection(activations)),
            (CamMethod::ScoreCam, _) => {
                let classes: Vec<usize> = scored.predictions.iter().map(|p| p.target).collect();
                let weights = self.score_cam_weights(input, &activations, &classes)?;
                combine(weights, activations, combination)
            }
            (_, gradients) => {
                let gradients = gradients.unwrap_or_else(|| activations.zeros_like());
                match cam_weights(method, &activations, gradients) {
                    Some(weights) => combine(weights, activations, combination),
                    None => activations.zeros_like().sum_dim(1),
                }
            }
        };
        Ok((scored.predictions, cam))
    }

    /// Score-CAM's channel weights `[N, K, 1, 1]` (see [`CamMethod::ScoreCam`]).
    fn score_cam_weights(
        &self,
        input: &Tensor<4>,
        activations: &Tensor<4>,
        classes: &[usize],
    ) -> Result<Tensor<4>> {
        let [n, c, height, width] = input.dims();
        let k = activations.dims()[1];
        let upsampled = interpolate(
            activations.clone(),
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(true)
                .with_output_size([height, width]),
        );
        let flat = upsampled.clone().reshape([n, k, height * width]);
        let mins = flat.clone().min_dim(2).reshape([n, k, 1, 1]);
        let maxs = flat.max_dim(2).reshape([n, k, 1, 1]);
        let masks = (upsampled - mins.clone()) / (maxs - mins + SCORE_CAM_EPSILON);
        let masked = input.clone().reshape([n, 1, c, height, width])
            * masks.reshape([n, k, 1, height, width]);
        let masked = masked.reshape([n * k, c, height, width]);
        let repeated: Vec<usize> = classes
            .iter()
            .flat_map(|&class| std::iter::repeat_n(class, k))
            .collect();
        let mut scores = Vec::with_capacity(n * k);
        for start in (0..n * k).step_by(SCORE_CAM_BATCH) {
            let end = (start + SCORE_CAM_BATCH).min(n * k);
            let batch = masked.clone().narrow(0, start, end - start);
            let features = self.checked_features(batch, ReluMode::Standard)?;
            let logits = self.checked_logits(features, ReluMode::Standard, end - start)?;
            let scored = self.score(logits, &Targets::Classes(repeated[start..end].to_vec()))?;
            scores.extend(scored.predictions.iter().map(|p| p.score));
        }
        let scores = Tensor::<2>::from_data(TensorData::new(scores, [n, k]), &input.device());
        Ok(activation::softmax(scores, 1).reshape([n, k, 1, 1]))
    }

    /// Predictions, resolved targets and the summed target scores: one backward of the sum gives
    /// every image the gradient of its own score.
    /// Each image's score at its class, `[N, 1]` (per [`Score`]); classes already checked.
    fn target_scores(&self, logits: Tensor<2>, classes: &[usize]) -> Tensor<2> {
        let output = match self.config.score {
            Score::ModelOutput => self.model.output_layer().apply(logits),
            Score::Logit => logits,
            Score::Probability => activation::softmax(logits, 1),
        };
        let device = output.device();
        output.gather(1, class_indices(classes, &device))
    }

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

        let picked = self.target_scores(logits, &target_classes);
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

/// A pixel attribution `[N, C, H, W]` weighted by the upsampled CAM `[N, 1, H, W]` (broadcast
/// over channels): Guided Grad-CAM when the attribution is guided backprop.
fn weight_by_cam(attribution: Tensor<4>, cam: Tensor<4>) -> Tensor<4> {
    attribution * cam
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
    // Checked on the device; the batch is copied to the host only to locate a bad value.
    if input.clone().is_finite().all().into_scalar::<bool>() {
        return Ok(());
    }
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
