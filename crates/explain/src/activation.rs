//! Activations whose gradients are exact on every backend.

use burn::tensor::Tensor;

/// The exact (erf) GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, written in Burn primitives so that
/// autodiff differentiates it exactly everywhere.
///
/// Burn 0.22's `activation::gelu` computes the exact GELU, but its default backward (used by
/// ndarray and the CubeCL backends; flex has its own) is the derivative of the tanh
/// approximation, up to 8.7e-4 off the true derivative: enough to move a transformer's CAM by
/// 1e-4 against PyTorch's. Use this one in a model that is explained, e.g. as
/// `relu.activation(x, gelu)` (see [`crate::ReluMode::activation`]).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_explain::gelu;
///
/// let device = Device::default().autodiff();
/// let x = Tensor::<1>::from_floats([-1.0, 0.5], &device).require_grad();
/// let grads = gelu(x.clone()).sum().backward();
/// let slope = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
/// // Φ(x) + x·φ(x) at −1: 0.158655 − 0.241971.
/// assert!((slope[0] - (-0.083316)).abs() < 1e-6);
/// ```
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let phi = (x.clone() * std::f32::consts::FRAC_1_SQRT_2)
        .erf()
        .add_scalar(1.0)
        * 0.5;
    x * phi
}
