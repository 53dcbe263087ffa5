//! DeepLIFT's Rescale rule (Shrikumar et al., "Learning Important Features Through Propagating
//! Activation Differences", 2017) as Captum's `DeepLift` applies it: a pass whose batch holds the
//! inputs and then, in the same order, their references, so that every nonlinearity sees each
//! input beside its reference.
//!
//! The forward values are the layer's own, bit for bit; only the backward changes. Each rule is
//! written as `value.detach() + (carrier − carrier.detach())`-style terms, where the carrier is
//! zero in the forward and carries the rule's multiplier in the backward: no custom autodiff
//! node, so every backend runs it.

use burn::tensor::{Bool, Tensor};

/// Below this input difference the multiplier is the layer's ordinary gradient (Captum's `eps`).
const EPS: f32 = 1e-10;

/// `(inputs, references)`: the two halves of a pass's batch, or `None` for an odd batch (no
/// pairs: the plain gradient is used).
pub(crate) fn halves<const D: usize>(x: Tensor<D>) -> Option<(Tensor<D>, Tensor<D>)> {
    let rows = x.dims()[0];
    (rows.is_multiple_of(2) && rows > 0).then(|| {
        let n = rows / 2;
        (x.clone().narrow(0, 0, n), x.narrow(0, n, n))
    })
}

/// Zero in the forward, the identity in the backward: `x − x.detach()`.
fn carrier<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() - x.detach()
}

/// Where `|Δx| < EPS`, and `1 / Δx` elsewhere (0 where the mask holds).
fn inverse_difference<const D: usize>(delta: Tensor<D>) -> (Tensor<D>, Tensor<D, Bool>) {
    let small = delta.clone().abs().lower_elem(EPS);
    let inverse = delta.recip().mask_fill(small.clone(), 0.0);
    (inverse, small)
}

/// An elementwise nonlinearity `f` under the Rescale rule: the backward multiplies the incoming
/// gradient by `(f(x) − f(x_ref)) / (x − x_ref)`, the same for an input and its reference, and
/// keeps `f`'s own gradient where the two inputs coincide.
pub(crate) fn nonlinearity<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let y = f(x.clone());
    let Some((x_in, x_ref)) = halves(x.clone().detach()) else {
        return y;
    };
    let (y_in, y_ref) = halves(y.clone().detach()).expect("f keeps the batch");
    let (inverse, small) = inverse_difference(x_in - x_ref);
    let multiplier = (y_in - y_ref) * inverse;
    let multiplier = Tensor::cat(vec![multiplier.clone(), multiplier], 0);
    let small = Tensor::cat(vec![small.clone(), small], 0);
    let rescaled = y.clone().detach() + carrier(x) * multiplier;
    rescaled.mask_where(small, y)
}

/// A max pooling `pool` (with its ordinary backward, which routes a window's gradient to the
/// window's maximum) under Captum's DeepLIFT rule for max pooling. With `m = max(y, y_ref)`, an
/// input's window sends `g · (m − y_ref)` to the input's maximum and its reference's window sends
/// `g_ref · (y − m)` to the reference's maximum; each position's total, divided by its `Δx`, is
/// the multiplier of the input and of the reference alike. Where `Δx` vanishes, each takes its
/// own ordinary gradient (Captum since its fix of issue #1276; 0.9 gives every image the first
/// image's).
pub(crate) fn max_pool(x: Tensor<4>, pool: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let y = pool(x.clone());
    let Some((x_in, x_ref)) = halves(x) else {
        return y;
    };
    let (y_in, y_ref) = halves(y.detach()).expect("pooling keeps the batch");
    let (plain_in, plain_ref) = (x_in.clone().detach(), x_ref.clone().detach());
    let (inverse, small) = inverse_difference(plain_in.clone() - plain_ref.clone());
    let small = small.float();
    // `pool` of `plain` (its maxima chosen by `plain`'s values) plus `routed`, which is zero in
    // the forward and in the backward carries each window's gradient on from its maximum.
    let through = |plain: &Tensor<4>, routed: Tensor<4>| {
        let pooled = pool(plain.clone() + routed);
        pooled.clone() - pooled.detach()
    };
    // To the input and to its reference alike, divided by `Δx`.
    let both = (carrier(x_in.clone()) + carrier(x_ref.clone())) * inverse;
    let top = y_in.clone().max_pair(y_ref.clone());
    let to_input = (top.clone() - y_ref.clone()) * through(&plain_in, both.clone());
    let to_reference = (y_in.clone() - top) * through(&plain_ref, both);
    let own_in = through(&plain_in, carrier(x_in) * small.clone());
    let own_ref = through(&plain_ref, carrier(x_ref) * small);
    Tensor::cat(
        vec![y_in + to_input + own_in, y_ref + to_reference + own_ref],
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::floats_of as host;
    use burn::tensor::Device;

    #[test]
    fn rescale_multiplies_by_the_secant_slope_and_keeps_the_forward() {
        let device = Device::default().autodiff();
        // Input against reference: (−1, 2) has relu's secant (0 − 2)/(−1 − 2) = 2/3; (3, 3)
        // and (−2, −2) coincide, so relu's own slopes 1 and 0; (5e−11, 0) differ by less than
        // the threshold, so each half keeps its own slope (1 and 0), as Captum.
        let x =
            Tensor::<2>::from_floats([[-1.0, 3.0, -2.0, 5e-11], [2.0, 3.0, -2.0, 0.0]], &device)
                .require_grad();
        let y = nonlinearity(x.clone(), burn::tensor::activation::relu);
        assert_eq!(host(y.clone()), [0.0, 3.0, 0.0, 5e-11, 2.0, 3.0, 0.0, 0.0]);
        let upstream = Tensor::<2>::from_floats([[1.0; 4], [0.5, 1.0, 1.0, 1.0]], &device);
        let g = host(x.grad(&(y * upstream).sum().backward()).unwrap());
        let third = 2.0 / 3.0;
        assert!((g[0] - third).abs() < 1e-6 && (g[4] - 0.5 * third).abs() < 1e-6);
        assert_eq!(
            [g[1], g[5], g[2], g[6], g[3], g[7]],
            [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn max_pool_routes_both_maxima_and_divides_by_the_difference() {
        let device = Device::default().autodiff();
        // One window of two: input (4, 1), reference (0, 2). m = max(4, 2) = 4: the input's
        // maximum (position 0) receives g·(4 − 2) = 2g; the reference's maximum (position 1)
        // receives g_ref·(4 − 4) = 0. Multipliers: 2g / (4 − 0) and 0 / (1 − 2).
        let x = Tensor::<4>::from_floats([[[[4.0, 1.0]]], [[[0.0, 2.0]]]], &device).require_grad();
        let pool = |x: Tensor<4>| {
            burn::tensor::module::max_pool2d(
                x,
                burn::tensor::ops::MaxPoolOptions::new([1, 2]).with_stride([1, 2]),
            )
        };
        let y = max_pool(x.clone(), pool);
        let values = host(y.clone());
        assert_eq!(values, [4.0, 2.0]);
        let upstream = Tensor::<4>::from_floats([[[[3.0]]], [[[5.0]]]], &device);
        let grads = (y * upstream).sum().backward();
        let g = host(x.grad(&grads).unwrap());
        assert_eq!(g, [1.5, 0.0, 1.5, 0.0]);
    }

    #[test]
    fn max_pool_keeps_each_halfs_own_gradient_where_the_difference_vanishes() {
        let device = Device::default().autodiff();
        // Input (3, 1), reference (3, 5): position 0 coincides, each half keeps its own
        // max-pool gradient there (the input's maximum is position 0, the reference's is 1);
        // the reference's window sends g_ref·(3 − 5) = −10 to position 1, divided by 1 − 5.
        let x = Tensor::<4>::from_floats([[[[3.0, 1.0]]], [[[3.0, 5.0]]]], &device).require_grad();
        let pool = |x: Tensor<4>| {
            burn::tensor::module::max_pool2d(
                x,
                burn::tensor::ops::MaxPoolOptions::new([1, 2]).with_stride([1, 2]),
            )
        };
        let y = max_pool(x.clone(), pool);
        let upstream = Tensor::<4>::from_floats([[[[3.0]]], [[[5.0]]]], &device);
        let grads = (y * upstream).sum().backward();
        let g = host(x.grad(&grads).unwrap());
        assert_eq!(g, [3.0, 2.5, 0.0, 2.5]);
    }
}
