//! Host-side results, for drawing and serialising: plain `f32` maps and predictions.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{ExplainError, Result};
use crate::host::{Read, Values};

/// One map of one image on the host, row-major `[channels, height, width]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Map {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// `channels × height × width` values, row-major.
    pub values: Vec<f32>,
}

impl Map {
    /// A map with checked shape.
    ///
    /// ```
    /// use gradcam_explain::Map;
    /// assert!(Map::new([1, 2, 2], vec![0.0; 4]).is_ok());
    /// assert!(Map::new([1, 2, 2], vec![0.0; 3]).is_err());
    /// ```
    pub fn new(shape: [usize; 3], values: Vec<f32>) -> Result<Self> {
        let expected = shape.iter().product();
        if values.len() != expected {
            return Err(ExplainError::MapShape {
                shape,
                expected,
                found: values.len(),
            });
        }
        Ok(Self { shape, values })
    }

    /// Height of the map.
    pub fn height(&self) -> usize {
        self.shape[1]
    }

    /// Width of the map.
    pub fn width(&self) -> usize {
        self.shape[2]
    }

    /// Largest absolute value (0 for an empty map).
    pub fn max_abs(&self) -> f32 {
        self.values.iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    /// Reads a batch of maps `[N, C, H, W]` from the device: one map per image.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::Map;
    /// let maps = Map::from_batch(Tensor::<4>::ones([2, 1, 3, 3], &Device::default()))?;
    /// assert_eq!(maps.len(), 2);
    /// assert_eq!(maps[1].shape, [1, 3, 3]);
    /// # Ok::<(), gradcam_explain::ExplainError>(())
    /// ```
    pub fn from_batch(tensor: Tensor<4>) -> Result<Vec<Map>> {
        let dims = tensor.dims();
        let mut values = Read::default().float(tensor).execute()?;
        Map::split(dims, &mut values)
    }

    /// The next tensor of a read, `[N, C, H, W]`, split into one map per image.
    pub(crate) fn split(dims: [usize; 4], values: &mut Values) -> Result<Vec<Map>> {
        let [n, c, h, w] = dims;
        let values = values.floats()?;
        let per_image = c * h * w;
        if values.len() != n * per_image {
            return Err(ExplainError::DeviceRead {
                reason: format!(
                    "{} values came back for a batch of shape {dims:?}",
                    values.len()
                ),
            });
        }
        Ok((0..n)
            .map(|i| Map {
                shape: [c, h, w],
                values: values[i * per_image..(i + 1) * per_image].to_vec(),
            })
            .collect())
    }
}

/// The model's verdict on one image and the class explained, on the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Arg-max class.
    pub predicted: usize,
    /// Softmax of the logits.
    pub probabilities: Vec<f32>,
    /// The class whose score was differentiated.
    pub target: usize,
    /// The differentiated score (per the [`crate::Target`]).
    pub score: f32,
}

/// Every result of one image, on the host ([`crate::Attributions::to_host`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageAttribution {
    /// Prediction and target.
    pub prediction: Prediction,
    /// The method's attribution at input resolution: `[1, H, W]` for a CAM, `[C, H, W]` for a
    /// pixel method or a product.
    pub map: Map,
    /// The CAM at the explained layer's resolution, `[1, h, w]` (CAMs and products).
    pub layer_cam: Option<Map>,
    /// The upsampled CAM, `[1, H, W]` (products; for a CAM it is `map`).
    pub cam: Option<Map>,
    /// The pixel attribution, `[C, H, W]` (products; for a pixel method it is `map`).
    pub pixel: Option<Map>,
    /// The method's convergence delta, where it has one ([`crate::Attributions::convergence_delta`]).
    pub convergence_delta: Option<f32>,
}
