//! SiLU, `x · σ(x)`, as one operation with one backward. Burn's `silu` is a sigmoid and a
//! product, and its gradient three passes more; on Flex the sigmoid is a scalar `expf` per
//! element on one core, which made it a third of an EfficientNet's Guided Grad-CAM. Here the
//! exponential is a polynomial the compiler vectorises, and forward and backward are a pass
//! each.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Scalar};
use burn::tensor::Tensor;

use crate::extension::{Kernels, extension, record};

extension! {
/// Backends that run SiLU, `x · σ(x)`, as one operation with one backward.
pub trait SiluBackend: Backend {
    /// Forward `x · σ(x)`; under autodiff, records the backward ([`SiluBackend::silu_backward`]).
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(x.clone(), Self::sigmoid(x))
    }

    /// The gradient `grad · σ(x) · (1 + x · (1 − σ(x)))` (torch's `silu_backward`).
    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        let one_minus = Self::float_add_scalar(Self::float_neg(s.clone()), Scalar::Float(1.0));
        let slope = Self::float_add_scalar(Self::float_mul(x, one_minus), Scalar::Float(1.0));
        Self::float_mul(grad, Self::float_mul(s, slope))
    }
}
}

/// `eˣ` in float32 to about 1 ulp, branch-free (Cephes' `expf`: `x = n·ln 2 + r`, a degree-6
/// polynomial in `r`, `2ⁿ` put in the exponent bits), so that a loop of it vectorises, where
/// the C library's `expf` is a call per element. Arguments are clamped to `[-87.3, 88.3]`, the
/// range whose result is a normal float.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, the first exact in few bits, so that `x − n·ln 2` loses nothing.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `σ(x) = 1 / (1 + e⁻ˣ)` through [`exp`].
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(feature = "flex")]
impl SiluBackend for burn::backend::Flex {
    /// One vectorised pass.
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::flex::ops::unary::unary_op;
        unary_op(x, |v: f32| v * sigmoid(v), |v: f64| v / (1.0 + (-v).exp()))
    }

    /// One vectorised pass (the sigmoid recomputed rather than stored).
    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::flex::ops::binary::binary_op;
        binary_op(
            grad,
            x,
            |g: f32, x: f32| {
                let s = sigmoid(x);
                g * s * (1.0 + x * (1.0 - s))
            },
            |g: f64, x: f64| {
                let s = 1.0 / (1.0 + (-x).exp());
                g * s * (1.0 + x * (1.0 - s))
            },
            None,
        )
    }
}

#[derive(Debug)]
struct SiluBackward;

impl<B: Backend + SiluBackend> Backward<B, 1> for SiluBackward {
    /// The input.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::silu_backward(x, grad)
        });
    }
}

impl<B: Backend + SiluBackend, C: CheckpointStrategy> SiluBackend for Autodiff<B, C> {
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<B, C, _>(SiluBackward, x, |x| x.clone(), B::silu)
    }
}

/// `x · σ(x)` (SiLU, swish) as one operation, its gradient `grad · σ(x) · (1 + x · (1 − σ(x)))`
/// in one pass, where the backend has the kernel ([`crate::Kernels::is_supported`]; Burn's
/// `silu` elsewhere).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_ops::silu;
///
/// let x = Tensor::<1>::from_floats([0.0, 2.0], &Device::default());
/// let y = silu(x).into_data().to_vec::<f32>().unwrap();
/// assert!(y[0] == 0.0 && (y[1] - 1.761_594).abs() < 1e-6);
/// ```
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !Kernels::of(&x.device()).is_supported() {
        return burn::tensor::activation::silu(x);
    }
    Tensor::from_dispatch(<Dispatch as SiluBackend>::silu(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, activation};

    use super::{exp, silu};

    /// The polynomial exponential is within 2 ulp (relative 2.4e-7) of the exact one over the
    /// whole range where SiLU's sigmoid uses it.
    #[test]
    fn the_vectorised_exponential_is_within_two_ulp() {
        let mut worst = 0.0_f64;
        let mut x = -87.0_f32;
        while x < 88.0 {
            let exact = f64::from(x).exp();
            let relative = ((f64::from(exp(x)) - exact) / exact).abs();
            worst = worst.max(relative);
            x += 0.001_37;
        }
        assert!(worst < 2.4e-7, "{worst:e}");
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(200.0).is_finite());
    }

    /// SiLU and its gradient equal Burn's `silu` (a sigmoid and a product) to float32 rounding,
    /// on every CPU backend.
    #[test]
    fn silu_and_its_gradient_equal_burn_s() {
        let mut devices = vec![Device::default()];
        #[cfg(feature = "ndarray")]
        devices.push(Device::ndarray());
        for device in devices {
            let device = device.autodiff();
            let values = [-90.0_f32, -12.5, -2.5, -0.5, 0.0, 0.5, 3.0, 9.0, 40.0, 1.25];
            let upstream = Tensor::<1>::from_floats(
                [1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, 8.0, 0.5, -1.5],
                &device,
            );
            let run = |f: &dyn Fn(Tensor<1>) -> Tensor<1>| {
                let x = Tensor::<1>::from_floats(values, &device).require_grad();
                let y = f(x.clone());
                let grads = (y.clone() * upstream.clone()).sum().backward();
                let grad = x.grad(&grads).expect("a gradient");
                let y = y.inner().into_data().to_vec::<f32>().expect("f32");
                (y, grad.into_data().to_vec::<f32>().expect("f32"))
            };
            let (fused, fused_grad) = run(&|x| silu(x));
            let (burn, burn_grad) = run(&|x| activation::silu(x));
            for (a, b) in fused
                .iter()
                .zip(&burn)
                .chain(fused_grad.iter().zip(&burn_grad))
            {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }
}
