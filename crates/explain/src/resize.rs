//! The one upsampler and the one normaliser, both tensor operations on the maps' device.

use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, TensorData};

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

/// pytorch-grad-cam's `scale_cam_image` (without its resize) on each map of `[N, C, H, W]`.
pub(crate) fn pytorch_grad_cam_scale(maps: Tensor<4>) -> Tensor<4> {
    min_max(maps, PYTORCH_GRAD_CAM_EPSILON)
}

/// pytorch-grad-cam's `scale_accross_batch_and_channels` (without its resize): every channel of
/// `[N, C, h, w]` normalised on its own.
pub(crate) fn pytorch_grad_cam_scale_channels(maps: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = maps.dims();
    pytorch_grad_cam_scale(maps.reshape([n * c, 1, h, w])).reshape([n, c, h, w])
}

/// Every map of `[N, C, h, w]` resized to `size` bilinearly with half-pixel centres (OpenCV's
/// `resize`, PyTorch's `F.interpolate(…, mode="bilinear", align_corners=False)`), on every
/// backend with PyTorch's border rule, and differentiable (two matrix products): the one
/// resampler, also inside a model (a segmentation network's output brought to the input's
/// size).
///
/// ```
/// use burn::tensor::{Device, Tensor, TensorData};
/// use gradcam_explain::bilinear;
/// let x = Tensor::<4>::from_data(TensorData::new(vec![0.0_f32, 1.0], [1, 1, 1, 2]), &Device::default());
/// let y = bilinear(x, [1, 4]).into_data().try_into_vec::<f32>().unwrap();
/// assert_eq!(y, [0.0, 0.25, 0.75, 1.0]);
/// ```
pub fn bilinear(maps: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    resample(
        maps,
        size,
        Kernel::Bilinear {
            align_corners: false,
        },
    )
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
    upsample_layers(vec![cam], size, upsampling)
}

/// The maps of several layers `[N, 1, h_l, w_l]` each brought to `size` as [`upsample`] does
/// but for its last normalisation, averaged, then normalised once (pytorch-grad-cam's
/// aggregation of several target layers; with one layer, exactly [`upsample`]).
pub(crate) fn upsample_layers(
    cams: Vec<Tensor<4>>,
    size: [usize; 2],
    upsampling: &Upsampling,
) -> Tensor<4> {
    let p = upsampling.pad;
    let rescale = |maps: Tensor<4>| {
        if upsampling.min_max_around_resize {
            min_max(maps, PYTORCH_GRAD_CAM_EPSILON)
        } else {
            maps
        }
    };
    let kernel = match upsampling.interpolation {
        Interpolation::Bilinear => Kernel::Bilinear {
            align_corners: false,
        },
        Interpolation::Nearest => Kernel::Nearest,
    };
    let mut resized: Vec<Tensor<4>> = cams
        .into_iter()
        .map(|cam| {
            let cam = if p > 0 {
                cam.pad((p, p, p, p), PadMode::Constant(0.0))
            } else {
                cam
            };
            resample(rescale(cam), size, kernel)
        })
        .collect();
    let mean = if resized.len() == 1 {
        resized.swap_remove(0)
    } else {
        Tensor::stack::<5>(resized, 0)
            .mean_dim(0)
            .squeeze_dim::<4>(0)
    };
    rescale(mean)
}

/// How a resampled pixel is read from the source grid, each rule as PyTorch's
/// `F.interpolate` computes its source coordinate (scale `in / out` in `f32`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kernel {
    /// `mode="nearest"`: source `min(floor(dst · scale), in − 1)`.
    Nearest,
    /// `mode="bilinear"`: half-pixel centres clamped at 0 (`align_corners=False`, PyTorch's
    /// default), or the corner pixels aligned (`align_corners=True`).
    Bilinear {
        /// PyTorch's `align_corners`.
        align_corners: bool,
    },
}

/// Every map of `[N, C, h, w]` resampled to `size`, as `Wy · map · Wxᵀ` with the interpolation
/// matrices built on the host (they depend on the sizes only). Two small matrix products run on
/// every backend with the same rule: Burn's own bilinear kernel on CubeCL devices reads taps
/// outside the grid as zeros where PyTorch clamps the coordinate, which darkens the border.
pub(crate) fn resample(maps: Tensor<4>, size: [usize; 2], kernel: Kernel) -> Tensor<4> {
    let [_, _, height, width] = maps.dims();
    if [height, width] == size {
        return maps;
    }
    let rows = interpolation_matrix(height, size[0], kernel);
    let columns = interpolation_matrix(width, size[1], kernel);
    separable(maps, &rows, &columns)
}

/// `rows · map · columnsᵀ` for every map of `[N, C, h, w]`: `rows` is `[H, h]` and `columns`
/// `[W, w]`, row-major — the one way a separable linear filter (a resampling, a blur) runs.
fn separable(maps: Tensor<4>, rows: &[f32], columns: &[f32]) -> Tensor<4> {
    let [_, _, height, width] = maps.dims();
    let device = maps.device();
    let (out_h, out_w) = (rows.len() / height, columns.len() / width);
    let mut transposed = vec![0.0_f32; columns.len()];
    for (row, chunk) in columns.chunks_exact(width).enumerate() {
        for (col, &w) in chunk.iter().enumerate() {
            transposed[col * out_w + row] = w;
        }
    }
    let rows = Tensor::<4>::from_data(
        TensorData::new(rows.to_vec(), [1, 1, out_h, height]),
        &device,
    );
    let columns =
        Tensor::<4>::from_data(TensorData::new(transposed, [1, 1, width, out_w]), &device);
    rows.matmul(maps.matmul(columns))
}

/// Every image of `[N, C, H, W]` blurred as torchvision's `gaussian_blur(img, [k, k], [σ, σ])`:
/// the kernel `exp(−t² / 2σ²)` normalised over `t = −k/2 … k/2`, the border reflected (without
/// repeating the edge pixel); the caller checks that `k` is odd and `k/2` below each side.
pub(crate) fn gaussian_blur(images: Tensor<4>, kernel_size: usize, sigma: f32) -> Tensor<4> {
    let [_, _, height, width] = images.dims();
    let rows = gaussian_matrix(height, kernel_size, sigma);
    let columns = gaussian_matrix(width, kernel_size, sigma);
    separable(images, &rows, &columns)
}

/// The `[size, size]` matrix of a 1-D Gaussian blur with reflected borders.
fn gaussian_matrix(size: usize, kernel_size: usize, sigma: f32) -> Vec<f32> {
    let radius = (kernel_size / 2) as isize;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|t| (-(t * t) as f64 / (2.0 * f64::from(sigma).powi(2))).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    let last = size as isize - 1;
    let mut matrix = vec![0.0_f32; size * size];
    for i in 0..size as isize {
        for (tap, weight) in (-radius..=radius).zip(&taps) {
            let j = i + tap;
            // Reflection: −1 ↦ 1, size ↦ size − 2.
            let j = if j < 0 {
                -j
            } else if j > last {
                2 * last - j
            } else {
                j
            };
            matrix[i as usize * size + j as usize] += (weight / total) as f32;
        }
    }
    matrix
}

/// The `[output, input]` matrix whose row `dst` holds the source weights of output pixel `dst`.
pub(crate) fn interpolation_matrix(input: usize, output: usize, kernel: Kernel) -> Vec<f32> {
    let mut weights = vec![0.0_f32; output * input];
    let last = input.saturating_sub(1);
    for dst in 0..output {
        let row = &mut weights[dst * input..(dst + 1) * input];
        match kernel {
            Kernel::Nearest => {
                let scale = input as f32 / output as f32;
                row[((dst as f32 * scale).floor() as usize).min(last)] = 1.0;
            }
            Kernel::Bilinear { align_corners } => {
                let source = if align_corners {
                    let scale = if output > 1 {
                        last as f32 / (output - 1) as f32
                    } else {
                        0.0
                    };
                    scale * dst as f32
                } else {
                    let scale = input as f32 / output as f32;
                    (scale * (dst as f32 + 0.5) - 0.5).max(0.0)
                };
                let low = (source as usize).min(last);
                let high = (low + 1).min(last);
                let upper = source - low as f32;
                row[low] += 1.0 - upper;
                row[high] += upper;
            }
        }
    }
    weights
}
