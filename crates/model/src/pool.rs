//! A speed kernel: max pooling over non-overlapping windows, faster for plain tensors.
//!
//! Burn 0.22's CPU pooling is written for the general case (padding, dilation, 3-D) and always
//! computes an index tensor for the backward, even on a plain tensor. The faithfulness metrics
//! run millions of gradient-free forward passes, so for PyTorch's common `F.max_pool2d(x, k)`
//! (stride = kernel, no padding, floor mode) on a plain Flex tensor a direct kernel computes the
//! values only. Differentiable tensors keep Burn's pooling and its indexed backward.

// burn-ndarray is deprecated in Burn 0.22 but kept as a comparison backend (see guided.rs).
#![allow(deprecated)]
// Built without a backend, the extension has no implementation to use its inputs.
#![cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(unused))]

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d as burn_max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

/// Backends with the window max pooling.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"))]
pub trait WindowPoolBackend: Backend {
    /// Max over `kernel`-sized windows with stride `kernel`.
    fn window_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false)
    }
}

#[cfg(feature = "flex")]
impl WindowPoolBackend for burn::backend::Flex {
    fn window_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        use burn::backend::flex::FlexTensor;
        use burn::backend::ops::ModuleOps;
        use burn::tensor::{DType, TensorData};
        use rayon::prelude::*;

        /// Planes per parallel task: small batches stay on one thread.
        const PLANES_PER_TASK: usize = 64;

        let shape = x.layout().shape();
        if x.dtype() != DType::F32 || shape.num_dims() != 4 {
            return Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false);
        }
        let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
        let (rows, cols) = (h / kernel[0], w / kernel[1]);
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        let mut output = vec![0.0_f32; n * c * rows * cols];
        if rows * cols > 0 {
            output
                .par_chunks_mut(rows * cols * PLANES_PER_TASK)
                .zip(input.par_chunks(h * w * PLANES_PER_TASK))
                .for_each(|(out, planes)| {
                    for (out, plane) in out.chunks_mut(rows * cols).zip(planes.chunks(h * w)) {
                        for row in 0..rows {
                            for col in 0..cols {
                                out[row * cols + col] =
                                    window_max(plane, w, row * kernel[0], col * kernel[1], kernel);
                            }
                        }
                    }
                });
        }
        FlexTensor::from_data(TensorData::new(output, [n, c, rows, cols]))
    }
}

/// The window's maximum; a NaN propagates, as in PyTorch.
#[cfg(feature = "flex")]
#[inline(always)]
fn window_max(plane: &[f32], width: usize, top: usize, left: usize, kernel: [usize; 2]) -> f32 {
    let mut value = f32::NEG_INFINITY;
    for row in top..top + kernel[0] {
        for &v in &plane[row * width + left..row * width + left + kernel[1]] {
            if v > value || v.is_nan() {
                value = v;
            }
        }
    }
    value
}

#[cfg(feature = "ndarray")]
impl WindowPoolBackend for burn::backend::NdArray {}

/// Max pooling over non-overlapping `kernel` windows (stride = kernel, no padding, the rows and
/// columns that do not fill a window dropped): PyTorch's `F.max_pool2d(x, kernel)`. A plain
/// tensor on Flex takes a direct kernel; a differentiable tensor, or another backend, Burn's
/// pooling (whose gradient goes to each window's first maximum, as PyTorch's).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_model::ops::max_pool2d;
///
/// let x = Tensor::<1>::from_floats([1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0], &Device::default())
///     .reshape([1, 1, 2, 4]);
/// let y = max_pool2d(x, [2, 2]);
/// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![5.0, 9.0]);
/// ```
pub fn max_pool2d(x: Tensor<4>, kernel: [usize; 2]) -> Tensor<4> {
    if kernel.contains(&0) || x.is_autodiff() || !has_kernel(&x.device()) {
        return burn_max_pool2d(x, MaxPoolOptions::new(kernel));
    }
    Tensor::from_dispatch(<Dispatch as WindowPoolBackend>::window_max_pool2d(
        x.into_dispatch(),
        kernel,
    ))
}

/// Whether the window kernel is implemented for this device's backend.
fn has_kernel(device: &burn::tensor::Device) -> bool {
    use burn::backend::DispatchDevice;
    #[allow(unreachable_patterns)]
    match device.clone().inner().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}
