//! The model's two halves, called with their output shapes checked; the head scored; the
//! gradient of a score.

use burn::tensor::Tensor;

use crate::error::{ExplainError, ModelPart, Result};
use crate::model::{Explainable, ReluMode};
use crate::predictions::Predictions;
use crate::target::{Outputs, Targets};

/// `model.features(input, relu)`, refused unless it is `[N, K, h, w]` with `K, h, w > 0`.
pub(crate) fn checked_features(
    model: &dyn Explainable,
    input: Tensor<4>,
    relu: ReluMode,
) -> Result<Tensor<4>> {
    let batch = input.dims()[0];
    check_features(batch, model.features(input, relu))
}

/// Features of a batch of `batch` images, refused unless `[batch, K, h, w]` with `K, h, w > 0`.
pub(crate) fn check_features(batch: usize, features: Tensor<4>) -> Result<Tensor<4>> {
    let dims = features.dims();
    if dims[0] != batch || dims[1..].contains(&0) {
        return Err(ExplainError::ModelOutput {
            part: ModelPart::Features,
            batch,
            found: dims.to_vec(),
        });
    }
    Ok(features)
}

/// The rest of the network from `features`: a classifier's `model.logits`, or a dense-output
/// model's map and the scores pooled from it ([`Explainable::output_map`]); refused unless the
/// scores are `[batch, classes]` (and the map `[batch, classes, H, W]`) with `classes > 0`.
pub(crate) fn checked_outputs(
    model: &dyn Explainable,
    features: Tensor<4>,
    relu: ReluMode,
    batch: usize,
) -> Result<Outputs> {
    let outputs = match model.output_map(features.clone(), relu) {
        Some(map) => {
            let dims = map.dims();
            if dims[0] != batch || dims[1..].contains(&0) {
                return Err(ExplainError::ModelOutput {
                    part: ModelPart::Logits,
                    batch,
                    found: dims.to_vec(),
                });
            }
            Outputs::of_map(map, model.output_layer())
        }
        None => Outputs::new(model.logits(features, relu), model.output_layer()),
    };
    let dims = outputs.dims();
    if dims[0] != batch || dims[1] == 0 {
        return Err(ExplainError::ModelOutput {
            part: ModelPart::Logits,
            batch,
            found: dims.to_vec(),
        });
    }
    Ok(outputs)
}

/// A plain batch as a differentiable leaf, on a device whose backend implements `relu`.
pub(crate) fn differentiable(input: &Tensor<4>, relu: ReluMode) -> Result<Tensor<4>> {
    if relu.needs_kernels() && !gradcam_ops::Kernels::of(&input.device()).is_supported() {
        return Err(ExplainError::UnsupportedDevice {
            device: format!("{:?}", input.device()),
        });
    }
    Ok(input.clone().autodiff().require_grad())
}

/// The gradient of `total` w.r.t. the differentiable leaf `leaf`, as a plain tensor (zeros if
/// it does not depend on it).
pub(crate) fn gradient_of(leaf: &Tensor<4>, total: Tensor<1>) -> Tensor<4> {
    let gradients = total.backward();
    leaf.grad(&gradients)
        .unwrap_or_else(|| leaf.zeros_like().without_autodiff())
}

/// How a head pass scores its images.
pub(crate) enum Scoring<'a> {
    /// Resolve these targets on the pass's logits (the predicted classes, or the given ones
    /// checked).
    Resolve(&'a Targets),
    /// Score the classes another pass of the same forward resolved (its logits and features
    /// already checked).
    Resolved(&'a Predictions),
}

/// The rest of the network from the explained layer's output `features` (every ReLU with
/// `relu`), scored: the predictions, and the summed target score of every image still on the
/// pass's graph — one backward from it gives each image the gradient of its own score. Every
/// method's "run the head, score, differentiate" is this.
pub(crate) fn head(
    model: &dyn Explainable,
    features: Tensor<4>,
    relu: ReluMode,
    scoring: Scoring<'_>,
) -> Result<(Predictions, Tensor<1>)> {
    let batch = features.dims()[0];
    let outputs = checked_outputs(model, features, relu, batch)?;
    match scoring {
        Scoring::Resolve(targets) => Predictions::with_total(model, outputs, targets),
        Scoring::Resolved(predictions) => {
            let total = predictions
                .targets()
                .total(&outputs, predictions.classes())?;
            Ok((predictions.clone(), total))
        }
    }
}
