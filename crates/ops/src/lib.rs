//! Speed kernels for burn-gradcam's networks and methods, each a Burn backend extension with its
//! own gradient: this crate's kernels on Flex (Burn's fast CPU backend), Burn's own operations on
//! every other backend (NdArray, and every CubeCL runtime: wgpu, Vulkan, CUDA, …).
//!
//! - [`SquareConv2d`] (a Burn `Module`, built by [`SquareConv2dConfig`]) and [`square_conv2d`]:
//!   a square-kernel 2-D convolution with a bias — im2col tiles and gemm, or Winograd's
//!   F(2×2, 3×3) for 3×3 stride-1 convolutions of 32 channels and more — with its input
//!   gradient by the same kernels on the flipped weights;
//! - [`max_pool2d`]: max pooling over non-overlapping windows (PyTorch's `F.max_pool2d(x, k)`),
//!   its gradient recomputing each window's maximum instead of storing indices;
//! - [`guided_relu`], [`deconvolution_relu`], [`positive_gradient`], [`positive_gradient_to`]:
//!   the ReLU rules of guided backpropagation and deconvolution as autodiff operations;
//! - [`capped_relu`] (ReLU6), [`silu`] and the exact [`gelu`]: activations as one operation and
//!   one backward pass.
//!
//! It knows nothing of models or explanation methods; [`Kernels::of`] says which kernels a
//! device runs. Only the input is ever differentiated: the networks are evaluated, not trained.

#![warn(missing_docs)]
// burn-ndarray is deprecated in Burn 0.22 (in favour of burn-flex) but kept as a comparison
// backend; every extension names it, so the deprecation is acknowledged here once.
#![allow(deprecated)]
// Built without a backend, the extensions have no implementation to use their inputs.
#![cfg_attr(
    not(any(feature = "flex", feature = "ndarray", feature = "cube")),
    allow(unused)
)]

mod conv;
mod extension;
mod gelu;
#[cfg(feature = "flex")]
mod matmul;
mod pool;
mod relu;
#[cfg(feature = "flex")]
mod scratch;
mod silu;
mod winograd;

pub use conv::{SquareConv2d, SquareConv2dConfig, flip_weight, square_conv2d, square_conv2d_with};
pub use extension::Kernels;
pub use gelu::gelu;
pub use pool::max_pool2d;
pub use relu::{
    capped_relu, deconvolution_relu, guided_relu, positive_gradient, positive_gradient_to,
};
pub use silu::silu;
