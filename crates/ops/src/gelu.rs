//! The exact (erf) GELU, `x · Φ(x)`, as one operation with one backward, `Φ(x) + x · φ(x)`.
//!
//! Burn 0.22's `activation::gelu` computes the exact GELU, but its default backward (ndarray's
//! and the CubeCL backends'; flex has its own) is the derivative of the tanh approximation, up to
//! 8.7e-4 off: enough to move a transformer's CAM by 1e-4 against PyTorch's. Elsewhere than Flex
//! this is therefore Burn's own operations with the exact derivative. On Flex, the C library's
//! scalar `erff` per element was a sixth of a ConvNeXt's forward; here Φ comes from a
//! complementary error function the compiler vectorises, and each direction is one pass.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Scalar};
use burn::tensor::Tensor;

use crate::extension::{Kernels, extension, record};

/// `1/√2`.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1/√(2π)`, φ's constant.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

extension! {
/// Backends that run the exact GELU, `x · Φ(x)`, as one operation with one backward.
pub trait GeluBackend: Backend {
    /// Forward `x · Φ(x)`, `Φ(x) = (1 + erf(x/√2)) / 2`; under autodiff, records the backward
    /// ([`GeluBackend::exact_gelu_backward`]).
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(x.clone(), normal_cdf::<Self>(x))
    }

    /// The gradient `grad · (Φ(x) + x · φ(x))`, `φ(x) = e^(−x²/2) / √(2π)`.
    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let square = Self::float_mul(x.clone(), x.clone());
        let density = Self::float_mul_scalar(
            Self::float_exp(Self::float_mul_scalar(square, Scalar::Float(-0.5))),
            Scalar::Float(f64::from(FRAC_1_SQRT_2PI)),
        );
        let slope = Self::float_add(normal_cdf::<Self>(x.clone()), Self::float_mul(x, density));
        Self::float_mul(grad, slope)
    }
}
}

/// `Φ(x)` from the backend's `erf`.
fn normal_cdf<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let scaled = B::float_mul_scalar(x, Scalar::Float(f64::from(FRAC_1_SQRT_2)));
    let one_plus = B::float_add_scalar(B::float_erf(scaled), Scalar::Float(1.0));
    B::float_mul_scalar(one_plus, Scalar::Float(0.5))
}

/// `Φ(x)`, the standard normal distribution function, in float32 to a few 1e-7 relative
/// (absolute where `Φ > 1/2`), branch-free so that a loop of it vectorises: `erfc(z)` for
/// `z = |x|/√2` by Numerical Recipes' Chebyshev fit (`t · exp(−z² + P(t))`, `t = 1/(1 + z/2)`,
/// fractional error below 1.2e-7), then `Φ = erfc/2` below zero and `1 − erfc/2` above: no
/// `1 + erf` cancellation in the left tail.
#[inline(always)]
fn normal_cdf_f32(x: f32) -> f32 {
    let z = x.abs() * FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = 0.170_872_77_f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_9;
    p = p * t - 1.135_204;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_7;
    p = p * t - 1.265_512_2;
    let half_erfc = 0.5 * t * crate::silu::exp(p - z * z);
    if x < 0.0 { half_erfc } else { 1.0 - half_erfc }
}

/// `φ(x) = e^(−x²/2) / √(2π)`.
#[inline(always)]
fn normal_density_f32(x: f32) -> f32 {
    FRAC_1_SQRT_2PI * crate::silu::exp(-0.5 * x * x)
}

#[cfg(feature = "flex")]
impl GeluBackend for burn::backend::Flex {
    /// One vectorised pass.
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::flex::ops::unary::unary_op;
        unary_op(
            x,
            |v: f32| v * normal_cdf_f32(v),
            |v: f64| v * normal_cdf_f64(v),
        )
    }

    /// One vectorised pass (Φ and φ recomputed rather than stored).
    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::flex::ops::binary::binary_op;
        binary_op(
            grad,
            x,
            |g: f32, x: f32| g * (normal_cdf_f32(x) + x * normal_density_f32(x)),
            |g: f64, x: f64| {
                let density = f64::from(FRAC_1_SQRT_2PI) * (-0.5 * x * x).exp();
                g * (normal_cdf_f64(x) + x * density)
            },
            None,
        )
    }
}

/// `Φ(x)` in float64, for Flex's float64 tensors: the same fit, its exponential exact.
#[cfg(feature = "flex")]
fn normal_cdf_f64(x: f64) -> f64 {
    let z = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let coefficients = [
        0.170_872_77,
        -0.822_152_23,
        1.488_515_87,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_68,
        -1.265_512_23,
    ];
    let p = coefficients.iter().fold(0.0, |p, c| p * t + c);
    let half_erfc = 0.5 * t * (p - z * z).exp();
    if x < 0.0 { half_erfc } else { 1.0 - half_erfc }
}

#[derive(Debug)]
struct GeluBackward;

impl<B: Backend + GeluBackend> Backward<B, 1> for GeluBackward {
    /// The input.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::exact_gelu_backward(x, grad)
        });
    }
}

impl<B: Backend + GeluBackend, C: CheckpointStrategy> GeluBackend for Autodiff<B, C> {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<B, C, _>(GeluBackward, x, |x| x.clone(), B::exact_gelu)
    }
}

/// The exact (erf) GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, PyTorch's `nn.GELU()`, as one
/// operation whose gradient is the exact `Φ(x) + x · φ(x)` on every backend (Burn's own
/// `activation::gelu` differentiates the tanh approximation on most). Use it in a model that is
/// explained, e.g. as `relu.activation(x, gelu)`.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_ops::gelu;
///
/// let device = Device::default().autodiff();
/// let x = Tensor::<1>::from_floats([-1.0, 0.5], &device).require_grad();
/// let grads = gelu(x.clone()).sum().backward();
/// let slope = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
/// // Φ(x) + x·φ(x) at −1: 0.158655 − 0.241971.
/// assert!((slope[0] - (-0.083316)).abs() < 1e-6);
/// ```
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !Kernels::of(&x.device()).is_supported() {
        let phi = (x.clone() * FRAC_1_SQRT_2).erf().add_scalar(1.0) * 0.5;
        return x * phi;
    }
    Tensor::from_dispatch(<Dispatch as GeluBackend>::exact_gelu(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::{gelu, normal_cdf_f32};

    /// Φ against float64's `erf`-free reference: the series and continued fraction of the
    /// error function, through the complementary error function where it is small.
    fn reference_cdf(x: f64) -> f64 {
        // erfc by its continued fraction for |z| ≥ 2.5, erf by its Taylor series below.
        let z = x.abs() / std::f64::consts::SQRT_2;
        let erfc = if z < 2.5 {
            let mut term = z;
            let mut sum = z;
            for n in 1..200 {
                term *= -z * z / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            let mut fraction = 0.0;
            for k in (1..200).rev() {
                fraction = (k as f64 / 2.0) / (z + fraction);
            }
            (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + fraction)
        };
        if x < 0.0 {
            erfc / 2.0
        } else {
            1.0 - erfc / 2.0
        }
    }

    /// Φ is within float32 rounding of the exact one, relative below zero (where it is small)
    /// and absolute above, from −12 to 12: within `5e-7 + 2e-7·x²`, the exponential's argument
    /// `−z²` carrying float32's rounding of z² into the left tail (at −4, where Φ is 3e-5, 3.7e-6;
    /// at −12, where GELU is 1e-32, 2.9e-5).
    #[test]
    fn the_vectorised_distribution_function_is_within_float32_rounding() {
        let mut worst = 0.0_f64;
        let mut x = -12.0_f32;
        while x < 12.0 {
            let exact = reference_cdf(f64::from(x));
            let error = (f64::from(normal_cdf_f32(x)) - exact).abs() / exact.min(1.0);
            let bound = 5e-7 + 2e-7 * f64::from(x * x);
            assert!(error <= bound, "Φ({x}): {error:e} (at most {bound:e})");
            worst = worst.max(error / bound);
            x += 0.000_97;
        }
        println!("Φ: worst {worst:.2} of the bound");
    }

    /// GELU and its gradient equal the exact values (float64) to float32 rounding of the input's
    /// size, on every CPU backend.
    #[test]
    fn gelu_and_its_gradient_are_exact() {
        let mut devices = vec![Device::default()];
        #[cfg(feature = "ndarray")]
        devices.push(Device::ndarray());
        let values = [
            -12.0_f32, -5.5, -2.5, -0.7, -1e-3, 0.0, 0.3, 1.0, 2.2, 4.0, 9.0,
        ];
        for device in devices {
            let device = device.autodiff();
            let x = Tensor::<1>::from_floats(values, &device).require_grad();
            let y = gelu(x.clone());
            let grads = y.clone().sum().backward();
            let grad = x.grad(&grads).expect("a gradient");
            let y = y.inner().into_data().to_vec::<f32>().expect("f32");
            let grad = grad.into_data().to_vec::<f32>().expect("f32");
            for (i, &v) in values.iter().enumerate() {
                let v = f64::from(v);
                let cdf = reference_cdf(v);
                let density = (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let (value, slope) = (v * cdf, cdf + v * density);
                // Relative to the input's size: Burn's `erf` path (ndarray, the CubeCL
                // backends) computes `1 + erf` as PyTorch does, which is float32 rounding of 1
                // in the left tail.
                let close = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-6 * v.abs().max(1.0);
                assert!(close(y[i], value), "gelu({v}) = {} vs {value}", y[i]);
                assert!(close(grad[i], slope), "gelu'({v}) = {} vs {slope}", grad[i]);
            }
        }
    }
}
