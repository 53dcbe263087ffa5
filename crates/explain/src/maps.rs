//! Host-side results: plain `f32` maps, ready to draw or serialise.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::ExplainConfig;
use crate::error::{ExplainError, Result};
use crate::pipeline::{DISPLAY_EPSILON, min_max_normalize};

/// One map of one image, row-major `[channels, height, width]`.
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

    /// A display copy: min-max normalised to `[0, 1]` by [`min_max_normalize`]; the raw map is
    /// left untouched.
    pub fn normalized(&self) -> Map {
        let mut values = self.values.clone();
        min_max_normalize(&mut values, DISPLAY_EPSILON);
        Map {
            shape: self.shape,
            values,
        }
    }

    /// Splits a batched tensor `[N, C, H, W]` into one map per image.
    pub(crate) fn split_batch(tensor: Tensor<4>) -> Vec<Map> {
        let [n, c, h, w] = tensor.dims();
        let values = host_values(tensor);
        let per_image = c * h * w;
        if per_image == 0 {
            return (0..n)
                .map(|_| Map {
                    shape: [c, h, w],
                    values: Vec::new(),
                })
                .collect();
        }
        values
            .chunks(per_image)
            .map(|chunk| Map {
                shape: [c, h, w],
                values: chunk.to_vec(),
            })
            .collect()
    }
}

/// The model's verdict on one image and the class explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Arg-max class.
    pub predicted: usize,
    /// Softmax of the logits.
    pub probabilities: Vec<f32>,
    /// The class whose score was differentiated.
    pub target: usize,
    /// The differentiated score (log-probability or logit, per [`crate::Score`]).
    pub score: f32,
}

/// Grad-CAM of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CamExplanation {
    /// Prediction and target.
    pub prediction: Prediction,
    /// The CAM at the explained layer's resolution, `[1, h, w]`.
    pub cam_layer: Map,
    /// The CAM at input resolution, `[1, H, W]`.
    pub cam: Map,
}

/// All three explanations of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageExplanation {
    /// Prediction and target.
    pub prediction: Prediction,
    /// The CAM at the explained layer's resolution, `[1, h, w]`.
    pub cam_layer: Map,
    /// The CAM at input resolution, `[1, H, W]`.
    pub cam: Map,
    /// Guided backpropagation: the guided gradient of the score w.r.t. the input, `[C, H, W]`.
    pub guided_backprop: Map,
    /// Guided Grad-CAM: `guided_backprop ⊙ cam`, `[C, H, W]`.
    pub guided_grad_cam: Map,
}

/// A batch's explanations and the settings that produced them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The settings used.
    pub config: ExplainConfig,
    /// One entry per input image, in batch order.
    pub images: Vec<ImageExplanation>,
}

/// An input-resolution attribution of one image: guided backpropagation, saliency or
/// input × gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelExplanation {
    /// Prediction and target.
    pub prediction: Prediction,
    /// One value per input element, `[C, H, W]`.
    pub attribution: Map,
}

/// A tensor's values on the host, as `f32`, row-major.
pub(crate) fn host_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Integrated Gradients of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegratedGradientsExplanation {
    /// Prediction and target (the score is the input's).
    pub prediction: Prediction,
    /// `(input − baseline) ⊙ ∫ gradient`, `[C, H, W]`.
    pub attribution: Map,
    /// `Σ attribution − (score(input) − score(baseline))`: how far the quadrature is from the
    /// completeness axiom (Captum's convergence delta).
    pub convergence_delta: f32,
}

/// A CAM, a pixel attribution and their product, for one image
/// ([`crate::Explainer::explain_pixels`]; for guided backprop the product is Guided Grad-CAM).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelCamExplanation {
    /// Prediction and target.
    pub prediction: Prediction,
    /// The CAM at the explained layer's resolution, `[1, h, w]`.
    pub cam_layer: Map,
    /// The CAM at input resolution, `[1, H, W]`.
    pub cam: Map,
    /// The pixel attribution, `[C, H, W]`.
    pub attribution: Map,
    /// `attribution ⊙ cam`, `[C, H, W]`.
    pub attribution_cam: Map,
}

impl Map {
    /// The maps of a batch as one `[N, C, H, W]` tensor (all maps share one shape).
    pub(crate) fn stack(maps: &[&Map], device: &burn::tensor::Device) -> Tensor<4> {
        let shape = maps.first().map_or([0, 0, 0], |m| m.shape);
        let values: Vec<f32> = maps.iter().flat_map(|m| m.values.iter().copied()).collect();
        Tensor::from_data(
            burn::tensor::TensorData::new(values, [maps.len(), shape[0], shape[1], shape[2]]),
            device,
        )
    }
}

impl From<ImageExplanation> for PixelCamExplanation {
    /// Guided backprop as the attribution, Guided Grad-CAM as its product with the CAM.
    fn from(image: ImageExplanation) -> Self {
        Self {
            prediction: image.prediction,
            cam_layer: image.cam_layer,
            cam: image.cam,
            attribution: image.guided_backprop,
            attribution_cam: image.guided_grad_cam,
        }
    }
}
