//! Confidence change when the image is multiplied by its map (pytorch-grad-cam's
//! `CamMultImageConfidenceChange`, `DropInConfidence`, `IncreaseInConfidence`).

use gradcam_explain::Map;
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, broadcast};
use crate::error::Result;

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

/// The change of each image's score when the (normalised) image is multiplied element-wise by
/// its map — `[1, H, W]` maps, such as CAMs in `[0, 1]` ([`gradcam_explain::normalize`]),
/// scale every channel.
pub fn confidence_change(batch: &Batch<'_>, maps: &[Map]) -> Result<Vec<ConfidenceChange>> {
    batch.check_maps(maps)?;
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
    let after = batch.scores(&values, batch.classes())?;
    Ok(after
        .iter()
        .zip(batch.clean_scores())
        .map(|(a, clean)| ConfidenceChange { change: a - clean })
        .collect())
}
