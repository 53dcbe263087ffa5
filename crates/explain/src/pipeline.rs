//! The steps shared by every CAM: combine weighted channels, upsample, normalise.
//! Each exists once and is reused by every method and preset.

use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};
use burn::tensor::{Tensor, TensorData, activation, module::interpolate};

use crate::config::{CamCombination, CamMethod, Interpolation, Upsampling};
use crate::maps::host_values;

/// Epsilon of display normalisation: the smallest normal `f32`, so an all-zero map stays zero
/// while a map whose whole scale is tiny (the log-probability gradient of a confident prediction
/// can be 1e-10) still spans `[0, 1]`.
pub const DISPLAY_EPSILON: f32 = f32::MIN_POSITIVE;

/// pytorch-grad-cam's epsilon in `scale_cam_image`, used only to reproduce it: maps whose range is
/// near or below 1e-7 come out darker than 1.
pub const PYTORCH_GRAD_CAM_EPSILON: f32 = 1e-7;

/// Grad-CAM++'s epsilon in the denominator of `a_ij` (pytorch-grad-cam's value).
const GRAD_CAM_PLUS_PLUS_EPSILON: f32 = 1e-6;
/// XGrad-CAM's epsilon in the denominator `Σ_ij A_k` (pytorch-grad-cam's value).
const XGRAD_CAM_EPSILON: f32 = 1e-7;

/// The weights of a gradient-based CAM method from activations `A` and gradients `G` (both
/// `[N, K, h, w]`): per channel `[N, K, 1, 1]`, or per cell `[N, K, h, w]` for HiResCAM and
/// LayerCAM. `None` for the gradient-free methods (Score-CAM, Eigen-CAM).
pub fn cam_weights(
    method: CamMethod,
    activations: &Tensor<4>,
    gradients: Tensor<4>,
) -> Option<Tensor<4>> {
    let spatial = [2, 3];
    Some(match method {
        CamMethod::GradCam => gradients.mean_dims(&spatial),
        CamMethod::GradCamPlusPlus => {
            let g2 = gradients.clone() * gradients.clone();
            let g3 = g2.clone() * gradients.clone();
            let sum_a = activations.clone().sum_dims(&spatial);
            let denominator = g2.clone() * 2.0 + sum_a * g3 + GRAD_CAM_PLUS_PLUS_EPSILON;
            let a_ij = (g2 / denominator).mask_fill(gradients.clone().equal_elem(0.0), 0.0);
            (activation::relu(gradients) * a_ij).sum_dims(&spatial)
        }
        CamMethod::XGradCam => {
            let sum_a = activations.clone().sum_dims(&spatial) + XGRAD_CAM_EPSILON;
            (gradients * activations.clone() / sum_a).sum_dims(&spatial)
        }
        CamMethod::HiResCam => gradients,
        CamMethod::LayerCam => activation::relu(gradients),
        CamMethod::ScoreCam | CamMethod::EigenCam => return None,
    })
}

/// Whether a CAM method needs the score's gradient at the explained layer.
pub(crate) fn uses_gradients(method: CamMethod) -> bool {
    !matches!(method, CamMethod::ScoreCam | CamMethod::EigenCam)
}

/// Eigen-CAM's map `[N, 1, h, w]`: per image, the centred activations (`h·w` cells × `K`
/// channels) projected on their first principal component, sign pinned (see
/// [`CamMethod::EigenCam`]). The component is found by power iteration on the `K × K` Gram
/// matrix in `f64`.
pub fn eigen_projection(activations: Tensor<4>) -> Tensor<4> {
    let device = activations.device();
    let [n, k, h, w] = activations.dims();
    let cells = h * w;
    let values = host_values(activations);
    let mut out = Vec::with_capacity(n * cells);
    for image in values.chunks(k * cells.max(1)) {
        // x[cell][channel], centred per channel; NaN counts as 0 as in pytorch-grad-cam.
        let mut x = vec![0.0_f64; cells * k];
        for channel in 0..k {
            let column = &image[channel * cells..(channel + 1) * cells];
            let clean = |v: f32| if v.is_nan() { 0.0 } else { f64::from(v) };
            let mean = column.iter().map(|&v| clean(v)).sum::<f64>() / cells as f64;
            for (cell, &v) in column.iter().enumerate() {
                x[cell * k + channel] = clean(v) - mean;
            }
        }
        let component = first_principal_component(&x, k);
        let mut projection: Vec<f64> = (0..cells)
            .map(|cell| (0..k).map(|c| x[cell * k + c] * component[c]).sum())
            .collect();
        let max = projection.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = projection.iter().copied().fold(f64::INFINITY, f64::min);
        if min.abs() > max.abs() {
            projection.iter_mut().for_each(|v| *v = -*v);
        }
        out.extend(projection.into_iter().map(|v| v as f32));
    }
    Tensor::from_data(TensorData::new(out, [n, 1, h, w]), &device)
}

/// The unit eigenvector of `xᵀx` (`x` has `cols` columns, row-major) with the largest eigenvalue.
fn first_principal_component(x: &[f64], cols: usize) -> Vec<f64> {
    let mut gram = vec![0.0_f64; cols * cols];
    for row in x.chunks(cols) {
        for i in 0..cols {
            for j in 0..cols {
                gram[i * cols + j] += row[i] * row[j];
            }
        }
    }
    // Deterministic start; power iteration converges to the top eigenvector unless the start is
    // orthogonal to it, which the second start vector covers.
    let mut best = vec![0.0; cols];
    for start in [1.0_f64, -0.5] {
        let mut v: Vec<f64> = (0..cols)
            .map(|i| {
                if i == 0 {
                    1.0
                } else {
                    start / (i as f64 + 1.0)
                }
            })
            .collect();
        for _ in 0..1000 {
            let next: Vec<f64> = (0..cols)
                .map(|i| (0..cols).map(|j| gram[i * cols + j] * v[j]).sum())
                .collect();
            let norm = next.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            let next: Vec<f64> = next.iter().map(|a| a / norm).collect();
            let change = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = next;
            if change < 1e-13 {
                break;
            }
        }
        let energy = |v: &[f64]| -> f64 {
            (0..cols)
                .map(|i| v[i] * (0..cols).map(|j| gram[i * cols + j] * v[j]).sum::<f64>())
                .sum()
        };
        if energy(&v) > energy(&best) {
            best = v;
        }
    }
    best
}

/// Applies the combination's ReLU to a map that is already one channel (Eigen-CAM's projection).
pub(crate) fn relu_of(combination: CamCombination, map: Tensor<4>) -> Tensor<4> {
    match combination {
        CamCombination::Signed => map,
        CamCombination::PerChannelRelu | CamCombination::ReluAfterSum => activation::relu(map),
    }
}

/// Combines feature maps `A` `[N, K, h, w]` with weights `α` (`[N, K, 1, 1]` per channel, or
/// `[N, K, h, w]` per cell) into one map per image, `[N, 1, h, w]`.
pub fn combine(alpha: Tensor<4>, features: Tensor<4>, combination: CamCombination) -> Tensor<4> {
    let weighted = features * alpha;
    match combination {
        CamCombination::PerChannelRelu => activation::relu(weighted).sum_dim(1),
        CamCombination::ReluAfterSum => activation::relu(weighted.sum_dim(1)),
        CamCombination::Signed => weighted.sum_dim(1),
    }
}

/// Brings layer maps `[N, 1, h, w]` to `size = [H, W]`: zero padding, then resampling.
///
/// With [`Upsampling::min_max_around_resize`] the maps are min-max normalised before and after
/// the resize (pytorch-grad-cam's order), through [`min_max_normalize`] with
/// [`PYTORCH_GRAD_CAM_EPSILON`].
pub fn upsample(cam: Tensor<4>, size: [usize; 2], upsampling: &Upsampling) -> Tensor<4> {
    let p = upsampling.pad;
    let cam = if p > 0 {
        cam.pad((p, p, p, p), PadMode::Constant(0.0))
    } else {
        cam
    };
    let cam = if upsampling.min_max_around_resize {
        rescale_like_pytorch_grad_cam(cam)
    } else {
        cam
    };
    // Burn's bilinear default is the align_corners=True convention; PyTorch's default (and the
    // peers') is half-pixel centres, so the convention is chosen here, once.
    let options = match upsampling.interpolation {
        Interpolation::Bilinear => {
            InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false)
        }
        Interpolation::Nearest => InterpolateOptions::new(InterpolateMode::Nearest),
    };
    let resized = interpolate(cam, options.with_output_size(size));
    if upsampling.min_max_around_resize {
        rescale_like_pytorch_grad_cam(resized)
    } else {
        resized
    }
}

/// Per-image min-max to `[0, 1]`: `v ← (v − min) / (max(v − min) + eps)`.
///
/// The one normaliser of the crate (display normalisation and pytorch-grad-cam's rescaling).
/// An all-zero (or constant) map becomes all zero, never NaN.
///
/// ```
/// let mut map = [1.0_f32, 3.0, 5.0];
/// gradcam_explain::min_max_normalize(&mut map, 0.0);
/// assert_eq!(map, [0.0, 0.5, 1.0]);
/// let mut flat = [2.0_f32; 4];
/// gradcam_explain::min_max_normalize(&mut flat, 1e-7);
/// assert_eq!(flat, [0.0; 4]);
/// ```
pub fn min_max_normalize(values: &mut [f32], eps: f32) {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    if !min.is_finite() {
        return;
    }
    values.iter_mut().for_each(|v| *v -= min);
    let max = values.iter().copied().fold(0.0_f32, f32::max);
    let denominator = max + eps;
    if denominator > 0.0 {
        values.iter_mut().for_each(|v| *v /= denominator);
    }
}

/// pytorch-grad-cam's rescaling of each image of a `[N, C, H, W]` tensor.
fn rescale_like_pytorch_grad_cam(maps: Tensor<4>) -> Tensor<4> {
    let device = maps.device();
    let dims = maps.dims();
    let per_image = dims[1] * dims[2] * dims[3];
    let mut values = host_values(maps);
    if per_image > 0 {
        values
            .chunks_mut(per_image)
            .for_each(|image| min_max_normalize(image, PYTORCH_GRAD_CAM_EPSILON));
    }
    Tensor::from_data(burn::tensor::TensorData::new(values, dims), &device)
}
