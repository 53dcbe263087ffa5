//! Confidence change when the image is multiplied by its map (pytorch-grad-cam's
//! `CamMultImageConfidenceChange`, `DropInConfidence`, `IncreaseInConfidence`).

use burn::tensor::Tensor;
use gradcam_explain::{Explainable, Explainer, Map, Targets};
use serde::{Deserialize, Serialize};

use crate::batch::{broadcast, check_maps, resolve, scores};
use crate::error::{Result, ensure};

/// The score change of each image when multiplied by its map.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceChange {
    /// `score(image ⊙ map) − score(image)`.
    pub change: f32,
}

impl ConfidenceChange {
    /// `max(−change, 0)`: pytorch-grad-cam's `DropInConfidence` (lower is better).
    pub fn drop(&self) -> f32 {
        (-self.change).max(0.0)
    }

    /// 1 when the score rose, else 0: pytorch-grad-cam's `IncreaseInConfidence` (its mean is
    /// the fraction of images whose score rose; higher is better).
    pub fn increase(&self) -> f32 {
        if self.change > 0.0 { 1.0 } else { 0.0 }
    }
}

/// The change of each image's score (per the explainer's score) when the (normalised) image is
/// multiplied element-wise by its map — `[1, H, W]` maps, such as CAMs in `[0, 1]`, scale every
/// channel. Runs at most `batch_size` images per forward pass.
pub fn confidence_change<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    maps: &[Map],
    batch_size: usize,
) -> Result<Vec<ConfidenceChange>> {
    ensure(batch_size > 0, || "batch_size must be ≥ 1".to_owned())?;
    let (batch, predictions) = resolve(explainer, input, targets, batch_size)?;
    check_maps(&batch, maps)?;
    let channels = batch.image_shape()[0];
    let values: Vec<f32> = maps
        .iter()
        .enumerate()
        .flat_map(|(index, map)| {
            let weights = broadcast(map, channels);
            batch
                .image(index)
                .iter()
                .zip(weights)
                .map(|(v, w)| v * w)
                .collect::<Vec<_>>()
        })
        .collect();
    let classes: Vec<usize> = predictions.iter().map(|p| p.target).collect();
    let after = scores(
        explainer,
        &values,
        batch.image_shape(),
        &classes,
        batch_size,
    )?;
    Ok(after
        .iter()
        .zip(&predictions)
        .map(|(a, p)| ConfidenceChange {
            change: a - p.score,
        })
        .collect())
}
