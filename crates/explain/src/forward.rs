//! The model's two halves, called with their output shapes checked, and the input gradient.

use burn::tensor::Tensor;

use crate::error::{ExplainError, ModelPart, Result};
use crate::guided;
use crate::model::{Explainable, ReluMode};

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

/// `model.logits(features, relu)`, refused unless it is `[batch, classes]` with `classes > 0`.
pub(crate) fn checked_logits(
    model: &dyn Explainable,
    features: Tensor<4>,
    relu: ReluMode,
    batch: usize,
) -> Result<Tensor<2>> {
    let logits = model.logits(features, relu);
    let dims = logits.dims();
    if dims[0] != batch || dims[1] == 0 {
        return Err(ExplainError::ModelOutput {
            part: ModelPart::Logits,
            batch,
            found: dims.to_vec(),
        });
    }
    Ok(logits)
}

/// A plain batch as a differentiable leaf, on a device whose backend implements `relu`.
pub(crate) fn differentiable(input: &Tensor<4>, relu: ReluMode) -> Result<Tensor<4>> {
    if relu != ReluMode::Standard && !guided::is_supported_device(&input.device()) {
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
