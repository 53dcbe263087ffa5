//! [`crate::ReluMode::Linearised`]: the second half of a pass's batch run through the network
//! linearised at the first half (each ReLU and max pooling with the first half's gates), so that
//! the difference of the halves' outputs is a Jacobian-vector product, with no forward-mode
//! autodiff: for a piecewise-linear network the linearisation is the network itself between the
//! gates, and affine layers give both halves the same bias, which the difference cancels.

use burn::tensor::Tensor;

use crate::forward::gradient_of;
use crate::rescale::halves;

/// A ReLU: the first half's own, the second half passed where the first half's input is
/// positive.
pub(crate) fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let Some((first, second)) = halves(x.clone()) else {
        return burn::tensor::activation::relu(x);
    };
    let closed = first.clone().lower_equal_elem(0.0);
    Tensor::cat(
        vec![
            burn::tensor::activation::relu(first),
            second.mask_fill(closed, 0.0),
        ],
        0,
    )
}

/// A max pooling `pool`: the first half pooled, the second half taken where the first half's
/// windows have their maxima. The maxima are found through `pool`'s own backward (a gradient of
/// ones lands on each window's maximum), the second half is pooled with every other position
/// set to −∞, and pooling it again must land on the same positions: where windows overlap and a
/// window would take another window's maximum, the result is made non-finite instead of wrong.
pub(crate) fn max_pool(x: Tensor<4>, pool: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let Some((first, second)) = halves(x.clone()) else {
        return pool(x);
    };
    let maxima = |x: Tensor<4>| {
        let leaf = x.detach().without_autodiff().autodiff().require_grad();
        let pooled = pool(leaf.clone()).sum();
        gradient_of(&leaf, pooled)
    };
    let chosen = maxima(first.clone());
    let masked = second.mask_fill(chosen.clone().equal_elem(0.0), f32::NEG_INFINITY);
    let same = maxima(masked.clone()).equal(chosen).all();
    // −∞ added where some window took another's maximum, 0 otherwise.
    let penalty = same.float().log().reshape([1, 1, 1, 1]);
    Tensor::cat(vec![pool(first), pool(masked) + penalty], 0)
}

/// A nonlinearity the linearisation cannot follow exactly (a curved activation, a gate):
/// the first half as computed, the second half NaN.
pub(crate) fn curved<const D: usize>(y: Tensor<D>) -> Tensor<D> {
    let Some((first, second)) = halves(y.clone()) else {
        return y;
    };
    Tensor::cat(vec![first, second.mul_scalar(f32::NAN)], 0)
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::host::floats_of as host;

    #[test]
    fn relu_passes_the_second_half_through_the_first_halfs_gates() {
        let x = Tensor::<2>::from_floats([[-1.0, 2.0], [5.0, -3.0]], &Device::default());
        // Gates from (−1, 2): closed, open. The second half (5, −3) → (0, −3).
        assert_eq!(host(relu(x)), [0.0, 2.0, 0.0, -3.0]);
    }

    #[test]
    fn max_pool_takes_the_second_half_at_the_first_halfs_maxima() {
        let pool = |x| max_pool2d(x, MaxPoolOptions::new([1, 2]).with_stride([1, 2]));
        // Windows (1, 4) and (3, 2): maxima at positions 1 and 2; the second half's values
        // there are 10 and 30, whatever its own maxima (20, 40).
        let x = Tensor::<4>::from_floats(
            [[[[1.0, 4.0, 3.0, 2.0]]], [[[20.0, 10.0, 30.0, 40.0]]]],
            &Device::default(),
        );
        assert_eq!(host(max_pool(x, pool)), [4.0, 3.0, 10.0, 30.0]);
    }

    #[test]
    fn overlapping_windows_that_would_pick_another_maximum_make_it_non_finite() {
        // Windows of 2 with stride 1 over (1, 5, 2): both have their maximum at position 1.
        // With the second half (9, 0, 7) only position 1 is kept: both windows read 0, right.
        let pool = |x| max_pool2d(x, MaxPoolOptions::new([1, 2]).with_stride([1, 1]));
        let agree = Tensor::<4>::from_floats(
            [[[[1.0, 5.0, 2.0]]], [[[9.0, 0.0, 7.0]]]],
            &Device::default(),
        );
        assert_eq!(host(max_pool(agree, pool)), [5.0, 5.0, 0.0, 0.0]);
        // Over (1, 5, 6): maxima at positions 1 and 2, and the first window [1, 5] keeps position
        // 1 only, but the second [5, 6] holds both kept positions: with (0, 3, 8) it takes 8 at
        // position 2, its own maximum, right; with (0, 8, 3) it would take position 1's 8.
        let own = Tensor::<4>::from_floats(
            [[[[1.0, 5.0, 6.0]]], [[[0.0, 3.0, 8.0]]]],
            &Device::default(),
        );
        assert_eq!(host(max_pool(own, pool)), [5.0, 6.0, 3.0, 8.0]);
        let other = Tensor::<4>::from_floats(
            [[[[1.0, 5.0, 6.0]]], [[[0.0, 8.0, 3.0]]]],
            &Device::default(),
        );
        let values = host(max_pool(other, pool));
        assert_eq!(values[..2], [5.0, 6.0]);
        assert!(values[2..].iter().all(|v| !v.is_finite()), "{values:?}");
    }

    #[test]
    fn a_curved_nonlinearity_makes_the_second_half_nan() {
        let y = Tensor::<2>::from_floats([[1.0], [2.0]], &Device::default());
        let values = host(curved(y));
        assert_eq!(values[0], 1.0);
        assert!(values[1].is_nan());
    }
}
