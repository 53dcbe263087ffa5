//! The guided and the deconvolution ReLU as custom autodiff operations.
//!
//! Both have the forward `relu(x)`. The guided backward is `relu(grad) · 1[x > 0]`: only
//! positive gradients flow back, and only through units that were active (Springenberg et al.,
//! "Striving for Simplicity", 2015). The deconvolution backward is `relu(grad)` whatever the
//! input's sign (Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks",
//! 2014, as Captum's `Deconvolution` implements it). They are declared as a backend extension so
//! each backward is a real autodiff node, not a hook or a gradient edited after the fact. Inner
//! backends implement only the forward (an ordinary ReLU); `Autodiff<B>` records the backward.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Scalar};
use burn::tensor::Tensor;

use crate::extension::{Kernels, extension, record};

extension! {
/// Backends that can run the guided and the deconvolution ReLU.
pub trait GuidedReluBackend: Backend {
    /// Forward `relu(x)`; under autodiff, records the guided backward.
    fn guided_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }

    /// The guided gradient `relu(grad) · 1[x > 0]` for the ReLU input `x`.
    fn guided_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(Self::relu_backward(x, grad))
    }

    /// Forward `relu(x)`; under autodiff, records the deconvolution backward.
    fn deconvolution_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }

    /// Forward `y` unchanged; under autodiff, the incoming gradient is clipped to `relu(grad)`
    /// before it flows on into `y`'s graph (the guided rule around any activation).
    fn positive_gradient(y: FloatTensor<Self>) -> FloatTensor<Self> {
        y
    }

    /// Forward `y` (an activation of `x`); under autodiff, `relu(grad)` flows straight to `x`,
    /// nothing through `y` (the deconvolution rule around any activation).
    fn positive_gradient_to(x: FloatTensor<Self>, y: FloatTensor<Self>) -> FloatTensor<Self> {
        drop(x);
        y
    }
}
}

#[cfg(feature = "flex")]
impl GuidedReluBackend for burn::backend::Flex {
    /// One fused pass instead of a mask pass and a ReLU pass.
    fn guided_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::flex::ops::binary::binary_op;
        binary_op(
            grad,
            x,
            |g: f32, x: f32| if x > 0.0 && g > 0.0 { g } else { 0.0 },
            |g: f64, x: f64| if x > 0.0 && g > 0.0 { g } else { 0.0 },
            None,
        )
    }
}

#[derive(Debug)]
struct GuidedReluBackward;

impl<B: Backend + GuidedReluBackend> Backward<B, 1> for GuidedReluBackward {
    /// The checkpointed ReLU input.
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let input: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::guided_relu_backward(input, grad)
        });
    }
}

/// The deconvolution rule's backward, `relu(grad)`: it needs nothing from the forward.
#[derive(Debug)]
struct DeconvolutionReluBackward;

impl<B: Backend> Backward<B, 1> for DeconvolutionReluBackward {
    type State = ();

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        unary::<B, _>(ops.parents, ops.node, grads, B::relu);
    }
}

impl<B: Backend + GuidedReluBackend, C: CheckpointStrategy> GuidedReluBackend for Autodiff<B, C> {
    fn deconvolution_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        DeconvolutionReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateless(B::relu(x.into_primitive()))
    }

    fn positive_gradient(y: FloatTensor<Self>) -> FloatTensor<Self> {
        // `relu(grad)` needs nothing from the forward: the deconvolution rule's backward.
        let node = y.node();
        DeconvolutionReluBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateless(y.into_primitive())
    }

    fn positive_gradient_to(x: FloatTensor<Self>, y: FloatTensor<Self>) -> FloatTensor<Self> {
        DeconvolutionReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateless(y.into_primitive())
    }

    fn guided_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // Compute-bound: keep the input rather than re-running the forward during backward.
        match GuidedReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::relu(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu(x.into_primitive())),
        }
    }
}

/// Applies the guided ReLU to a tensor on any supported device.
///
/// On a plain device this is an ordinary ReLU; on an autodiff device its backward is the guided
/// gradient. Callers check [`crate::Kernels::is_supported`] first: Burn panics when an extension is
/// called on a backend it does not list.
pub fn guided_relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as GuidedReluBackend>::guided_relu(
        x.into_dispatch(),
    ))
}

/// Applies the deconvolution ReLU (forward `relu(x)`, backward `relu(grad)`); the same
/// contract as [`guided_relu`].
pub fn deconvolution_relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as GuidedReluBackend>::deconvolution_relu(
        x.into_dispatch(),
    ))
}

/// `y` unchanged, the incoming gradient clipped to `relu(grad)` before it flows on into `y`'s
/// graph: the guided rule around any activation `y = f(x)`; the same contract as
/// [`guided_relu`].
pub fn positive_gradient<const D: usize>(y: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as GuidedReluBackend>::positive_gradient(
        y.into_dispatch(),
    ))
}

/// `y` (an activation of `x`) unchanged, its incoming gradient clipped to `relu(grad)` and sent
/// straight to `x`, nothing through `y`: the deconvolution rule around any activation; the same
/// contract as [`guided_relu`].
pub fn positive_gradient_to<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as GuidedReluBackend>::positive_gradient_to(
        x.into_dispatch(),
        y.into_dispatch(),
    ))
}

extension! {
/// Backends that run a capped ReLU, `min(max(x, 0), cap)` (ReLU6 at `cap = 6`), as one
/// operation with one backward, where `clamp` and its gradient take several passes through
/// masks.
pub trait CappedReluBackend: Backend {
    /// Forward `min(max(x, 0), cap)`; under autodiff, records the backward
    /// ([`CappedReluBackend::capped_relu_backward`]).
    fn capped_relu(x: FloatTensor<Self>, cap: f32) -> FloatTensor<Self> {
        Self::float_clamp(x, Scalar::Float(0.0), Scalar::Float(f64::from(cap)))
    }

    /// The gradient `grad · 1[0 < x < cap]` for the input `x` (torch's `hardtanh_backward`).
    fn capped_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        cap: f32,
    ) -> FloatTensor<Self> {
        // `relu_backward(t, g)` is `g · 1[t > 0]`: once for `x`, once for `cap − x`.
        let below_cap = Self::float_add_scalar(Self::float_neg(x.clone()), Scalar::Float(f64::from(cap)));
        Self::relu_backward(below_cap, Self::relu_backward(x, grad))
    }
}
}

#[cfg(feature = "flex")]
impl CappedReluBackend for burn::backend::Flex {
    /// One pass; NaN propagates, as in torch.
    fn capped_relu(x: FloatTensor<Self>, cap: f32) -> FloatTensor<Self> {
        use burn::backend::flex::ops::unary::unary_op;
        let cap64 = f64::from(cap);
        unary_op(
            x,
            move |v: f32| {
                if v <= 0.0 {
                    0.0
                } else if v >= cap {
                    cap
                } else {
                    v
                }
            },
            move |v: f64| {
                if v <= 0.0 {
                    0.0
                } else if v >= cap64 {
                    cap64
                } else {
                    v
                }
            },
        )
    }

    /// One pass instead of two masks and a product.
    fn capped_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        cap: f32,
    ) -> FloatTensor<Self> {
        use burn::backend::flex::ops::binary::binary_op;
        let cap64 = f64::from(cap);
        binary_op(
            grad,
            x,
            move |g: f32, x: f32| if x > 0.0 && x < cap { g } else { 0.0 },
            move |g: f64, x: f64| if x > 0.0 && x < cap64 { g } else { 0.0 },
            None,
        )
    }
}

#[derive(Debug)]
struct CappedReluBackward;

impl<B: Backend + CappedReluBackend> Backward<B, 1> for CappedReluBackward {
    /// The input and the cap.
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, cap) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::capped_relu_backward(x, grad, cap)
        });
    }
}

impl<B: Backend + CappedReluBackend, C: CheckpointStrategy> CappedReluBackend for Autodiff<B, C> {
    fn capped_relu(x: FloatTensor<Self>, cap: f32) -> FloatTensor<Self> {
        record::<B, C, _>(
            CappedReluBackward,
            x,
            |x| (x.clone(), cap),
            |x| B::capped_relu(x, cap),
        )
    }
}

/// `min(max(x, 0), cap)` (ReLU6 at `cap = 6`) as one operation, its gradient
/// `grad · 1[0 < x < cap]` (torch's `hardtanh_backward`), where the backend has the kernel
/// ([`crate::Kernels::is_supported`]; `clamp` elsewhere).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_ops::capped_relu;
///
/// let x = Tensor::<1>::from_floats([-1.0, 3.0, 8.0], &Device::default());
/// assert_eq!(capped_relu(x, 6.0).into_data().to_vec::<f32>().unwrap(), vec![0.0, 3.0, 6.0]);
/// ```
pub fn capped_relu<const D: usize>(x: Tensor<D>, cap: f32) -> Tensor<D> {
    if !Kernels::of(&x.device()).is_supported() {
        return x.clamp(0.0, cap);
    }
    Tensor::from_dispatch(<Dispatch as CappedReluBackend>::capped_relu(
        x.into_dispatch(),
        cap,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::capped_relu;

    /// The fused capped ReLU and its gradient equal `clamp`'s (values away from 0 and the cap,
    /// where torch's `hardtanh_backward` and Burn's `clamp` agree), on every CPU backend.
    #[test]
    fn capped_relu_and_its_gradient_equal_clamp_s() {
        let mut devices = vec![Device::default()];
        #[cfg(feature = "ndarray")]
        devices.push(Device::ndarray());
        for device in devices {
            let device = device.autodiff();
            let values = [-2.5_f32, -0.5, 0.5, 3.0, 5.5, 6.5, 9.0, 1.25];
            let upstream =
                Tensor::<1>::from_floats([1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, 8.0], &device);
            let grad_of = |f: &dyn Fn(Tensor<1>) -> Tensor<1>| {
                let x = Tensor::<1>::from_floats(values, &device).require_grad();
                let y = f(x.clone());
                let grads = (y.clone() * upstream.clone()).sum().backward();
                let grad = x.grad(&grads).expect("a gradient");
                (y.inner().into_data(), grad.into_data())
            };
            let (fused, fused_grad) = grad_of(&|x| capped_relu(x, 6.0));
            let (clamped, clamped_grad) = grad_of(&|x| x.clamp(0.0, 6.0));
            assert_eq!(fused, clamped);
            assert_eq!(fused_grad, clamped_grad);
            assert_eq!(
                fused_grad.to_vec::<f32>().expect("f32"),
                vec![0.0, 0.0, 3.0, -4.0, 5.0, 0.0, 0.0, 8.0]
            );
        }
    }
}
