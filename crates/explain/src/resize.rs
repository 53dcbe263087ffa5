//! The one upsampler and the one normaliser, both tensor operations on the maps' device.

use burn::tensor::Tensor;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};

use crate::settings::{Interpolation, Upsampling};

/// Epsilon of display normalisation: the smallest normal `f32`, so an all-zero map stays zero
/// while a map whose whole scale is tiny (the log-probability gradient of a confident prediction
/// can be 1e-10) still spans `[0, 1]`.
const DISPLAY_EPSILON: f32 = f32::MIN_POSITIVE;

/// pytorch-grad-cam's epsilon in `scale_cam_image`, used only to reproduce it: maps whose range
/// is near or below 1e-7 come out darker than 1.
const PYTORCH_GRAD_CAM_EPSILON: f32 = 1e-7;

/// Display normalisation: each map of a batch `[N, C, H, W]` min-max normalised to `[0, 1]`
/// (an all-zero or constant map becomes all zero, never NaN), on the maps' device.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let maps = Tensor::<1>::from_floats([1.0, 3.0, 5.0, 2.0, 2.0, 2.0], &Device::default())
///     .reshape([2, 1, 1, 3]);
/// let normalized = gradcam_explain::normalize(maps).into_data().to_vec::<f32>().unwrap();
/// assert_eq!(normalized, [0.0, 0.5, 1.0, 0.0, 0.0, 0.0]);
/// ```
pub fn normalize(maps: Tensor<4>) -> Tensor<4> {
    min_max(maps, DISPLAY_EPSILON)
}

/// Per map: `v ← (v − min) / (max(v − min) + eps)`.
fn min_max(maps: Tensor<4>, eps: f32) -> Tensor<4> {
    let shifted = maps.clone() - maps.min_dims(&[1, 2, 3]);
    shifted.clone() / (shifted.max_dims(&[1, 2, 3]) + eps)
}

/// Brings layer maps `[N, 1, h, w]` to `size = [H, W]`: zero padding, then resampling; with
/// [`Upsampling::min_max_around_resize`], min-max normalised before and after the resize
/// (pytorch-grad-cam's order).
pub(crate) fn upsample(cam: Tensor<4>, size: [usize; 2], upsampling: &Upsampling) -> Tensor<4> {
    let p = upsampling.pad;
    let cam = if p > 0 {
        cam.pad((p, p, p, p), PadMode::Constant(0.0))
    } else {
        cam
    };
    let rescale = |maps: Tensor<4>| {
        if upsampling.min_max_around_resize {
            min_max(maps, PYTORCH_GRAD_CAM_EPSILON)
        } else {
            maps
        }
    };
    // Burn's bilinear default is the align_corners=True convention; PyTorch's default (and the
    // peers') is half-pixel centres, so the convention is chosen here, once.
    let options = match upsampling.interpolation {
        Interpolation::Bilinear => {
            InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false)
        }
        Interpolation::Nearest => InterpolateOptions::new(InterpolateMode::Nearest),
    };
    rescale(interpolate(rescale(cam), options.with_output_size(size)))
}
