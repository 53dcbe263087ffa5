//! A class inside a region of a dense output map: pytorch-grad-cam's
//! `SemanticSegmentationTarget`, and the pixels a segmentation network assigns to the class.

use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorData};

use super::{Outputs, Target};
use crate::error::{ExplainError, Result};

/// Which pixels a [`Region`] sums.
#[derive(Clone, Debug, PartialEq)]
enum Pixels {
    /// A weight per pixel of the map, row-major (`1.0` inside, `0.0` outside for a plain mask).
    Mask {
        weights: Arc<[f32]>,
        size: [usize; 2],
    },
    /// The pixels whose arg-max class is the image's class, found on the map itself.
    Predicted,
}

/// The image's class summed over a region of a segmentation network's output map
/// `[N, K, H, W]` (pre-softmax): `Σ_{y,x} map[n, c_n, y, x] · mask[y, x]`, `c_n` image `n`'s
/// class — pytorch-grad-cam's `SemanticSegmentationTarget(c, mask)` with the class given by
/// the [`crate::Targets`] (`Targets::class(c).with_target(region)`).
///
/// [`Region::predicted`] takes as its mask the pixels the network assigns to the class (arg-max
/// over the classes, found on the same pass and not differentiated: pytorch-grad-cam's tutorial
/// builds it so from the clean image; on a perturbed copy it is that copy's own prediction).
/// A model without an output map is refused ([`ExplainError::NoOutputMap`]), as is a mask of
/// another size than the map ([`ExplainError::RegionShape`]).
///
/// ```
/// use gradcam_explain::{Region, Targets};
/// // Class 7 (a car in Pascal VOC) inside the top-left quarter of a 4×4 map.
/// let mut mask = vec![0.0; 16];
/// for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
///     mask[y * 4 + x] = 1.0;
/// }
/// let region = Region::mask(mask, [4, 4]).expect("16 weights");
/// let targets = Targets::class(7).with_target(region);
/// // Or wherever the network predicts the class:
/// let own = Targets::class(7).with_target(Region::predicted());
/// # let _ = (targets, own);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pixels: Pixels,
}

impl Region {
    /// The region of `weights`, one per pixel of a `size = [height, width]` map, row-major (a
    /// mask: 1 inside, 0 outside; any weights are summed with them, as the peer's float mask).
    /// `None` unless there is one weight per pixel.
    pub fn mask(weights: Vec<f32>, size: [usize; 2]) -> Option<Self> {
        (weights.len() == size[0] * size[1] && weights.iter().all(|w| w.is_finite())).then(|| {
            Self {
                pixels: Pixels::Mask {
                    weights: weights.into(),
                    size,
                },
            }
        })
    }

    /// The pixels the network assigns to the image's class (arg-max over the classes of its
    /// own output map).
    pub fn predicted() -> Self {
        Self {
            pixels: Pixels::Predicted,
        }
    }

    /// The mask's `[height, width]` (`None` for [`Region::predicted`]).
    pub fn mask_size(&self) -> Option<[usize; 2]> {
        match &self.pixels {
            Pixels::Mask { size, .. } => Some(*size),
            Pixels::Predicted => None,
        }
    }
}

impl Target for Region {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        let Some(map) = outputs.map() else {
            // Refused by `check_map` before any score is taken; a direct call scores nothing.
            return Tensor::zeros([0], &outputs.logits.device());
        };
        let [n, _, h, w] = map.dims();
        let index = classes.clone().reshape([n, 1, 1, 1]).expand([n, 1, h, w]);
        let own = map.clone().gather(1, index.clone());
        let weights = match &self.pixels {
            Pixels::Mask { weights, size } => Tensor::<4>::from_data(
                TensorData::new(weights.to_vec(), [1, 1, size[0], size[1]]),
                &map.device(),
            ),
            Pixels::Predicted => {
                let predicted = map.detach().argmax(1);
                predicted.equal(index).float().detach()
            }
        };
        (own * weights).sum_dims(&[1, 2, 3]).reshape([n])
    }

    fn check_map(&self, map: Option<[usize; 4]>) -> Result<()> {
        let Some([_, _, h, w]) = map else {
            return Err(ExplainError::NoOutputMap {
                target: self.label(),
            });
        };
        match self.mask_size() {
            Some(mask) if mask != [h, w] => Err(ExplainError::RegionShape { mask, map: [h, w] }),
            _ => Ok(()),
        }
    }

    fn label(&self) -> String {
        match &self.pixels {
            Pixels::Mask { weights, size } => {
                let inside = weights.iter().filter(|&&w| w != 0.0).count();
                format!(
                    "class inside a region of {inside} of {}×{} pixels",
                    size[0], size[1]
                )
            }
            Pixels::Predicted => "class over its predicted pixels".to_owned(),
        }
    }
}
