//! A speed kernel: max pooling over non-overlapping windows, with its gradient.
//!
//! Burn 0.22's CPU pooling is written for the general case (padding, dilation, 3-D), always
//! computes an index tensor, and hands every call to rayon's pool, even for one MNIST digit,
//! where the hand-off costs more than the work. For PyTorch's common `F.max_pool2d(x, k)`
//! (stride = kernel, no padding, floor mode) on Flex a direct kernel computes the values only;
//! its gradient finds each window's maximum again from the kept input (one pass over it, no
//! index tensor to store) and routes the output's gradient there. Small work stays on the
//! calling thread.

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, get_or_init_device_settings};
use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d as burn_max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use crate::extension::{Kernels, extension, record};

extension! {
/// Backends with the window max pooling.
pub trait WindowPoolBackend: Backend {
    /// Max over `kernel`-sized windows with stride `kernel`.
    fn window_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false)
    }

    /// The gradient w.r.t. `x` of [`WindowPoolBackend::window_max_pool2d`], given the output's
    /// gradient `grad`: each window's gradient goes to its first maximum (a NaN counts as the
    /// maximum), as in PyTorch; the rest of the input gets 0.
    fn window_max_pool2d_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        indexed_grad::<Self>(x, grad, kernel)
    }
}
}

/// Burn's gradient of the window pooling: its indexed pooling again, then its backward.
fn indexed_grad<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    kernel: [usize; 2],
) -> FloatTensor<B> {
    let int_dtype = get_or_init_device_settings::<B>(&x.device()).int_dtype;
    let pooled =
        B::max_pool2d_with_indices(x.clone(), kernel, kernel, [0, 0], [1, 1], false, int_dtype);
    B::max_pool2d_with_indices_backward(
        x,
        kernel,
        kernel,
        [0, 0],
        [1, 1],
        false,
        grad,
        pooled.indices,
    )
    .x_grad
}

#[derive(Debug)]
struct WindowPoolBackward;

impl<B: WindowPoolBackend> Backward<B, 1> for WindowPoolBackward {
    /// The pooled input and the window.
    type State = (FloatTensor<B>, [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, kernel) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::window_max_pool2d_grad(x, grad, kernel)
        });
    }
}

impl<B: WindowPoolBackend, C: CheckpointStrategy> WindowPoolBackend for Autodiff<B, C> {
    fn window_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        record::<B, C, _>(
            WindowPoolBackward,
            x,
            |x| (x.clone(), kernel),
            |x| B::window_max_pool2d(x, kernel),
        )
    }
}

#[cfg(feature = "flex")]
impl WindowPoolBackend for burn::backend::Flex {
    fn window_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        match flex::Planes::of(&x, kernel) {
            Some(planes) => planes.pool(x),
            None => <Self as burn::backend::ops::ModuleOps<Self>>::max_pool2d(
                x,
                kernel,
                kernel,
                [0, 0],
                [1, 1],
                false,
            ),
        }
    }

    fn window_max_pool2d_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        use burn::tensor::DType;

        match flex::Planes::of(&x, kernel) {
            Some(planes) if grad.dtype() == DType::F32 => planes.route(x, grad),
            _ => indexed_grad::<Self>(x, grad, kernel),
        }
    }
}

#[cfg(feature = "flex")]
mod flex {
    //! The Flex kernels: one scan for each window's maximum, shared by the values and the
    //! gradient.

    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::tensor::{DType, TensorData};
    use rayon::prelude::*;

    /// Planes per parallel task: small batches stay on the calling thread.
    const PLANES_PER_TASK: usize = 64;

    /// The geometry of an `f32` `[n, c, h, w]` input pooled by `kernel`.
    #[derive(Clone, Copy)]
    pub(super) struct Planes {
        shape: [usize; 4],
        kernel: [usize; 2],
        rows: usize,
        cols: usize,
    }

    impl Planes {
        /// The geometry, if the kernel applies (`f32`, 4-D).
        pub(super) fn of(x: &FlexTensor, kernel: [usize; 2]) -> Option<Self> {
            let shape = x.layout().shape();
            if x.dtype() != DType::F32 || shape.num_dims() != 4 {
                return None;
            }
            let [h, w] = [shape[2], shape[3]];
            Some(Self {
                shape: [shape[0], shape[1], h, w],
                kernel,
                rows: h / kernel[0],
                cols: w / kernel[1],
            })
        }

        fn plane_len(&self) -> usize {
            self.shape[2] * self.shape[3]
        }

        fn pooled_len(&self) -> usize {
            self.rows * self.cols
        }

        fn planes(&self) -> usize {
            self.shape[0] * self.shape[1]
        }

        /// The offset in its plane of window `(row, col)`'s first maximum (any window size).
        #[inline(always)]
        fn argmax(&self, plane: &[f32], row: usize, col: usize) -> usize {
            let ([kh, kw], width) = (self.kernel, self.shape[3]);
            let mut best = (f32::NEG_INFINITY, (row * kh) * width + col * kw);
            for y in row * kh..(row + 1) * kh {
                for x in col * kw..(col + 1) * kw {
                    best = scan(best, plane[y * width + x], y * width + x);
                }
            }
            best.1
        }

        /// One task's planes: their window maxima.
        #[inline(never)]
        fn pool_task(&self, out: &mut [f32], planes: &[f32]) {
            let pairs = out.chunks_mut(self.pooled_len());
            for (out, plane) in pairs.zip(planes.chunks(self.plane_len())) {
                for (row, out) in out.chunks_exact_mut(self.cols).enumerate() {
                    if self.kernel == [2, 2] {
                        let [top, bottom] = self.row_pair(plane, row);
                        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                        for (o, (t, b)) in out.iter_mut().zip(windows) {
                            *o = scan4([t[0], t[1], b[0], b[1]]).1;
                        }
                    } else {
                        for (col, o) in out.iter_mut().enumerate() {
                            *o = plane[self.argmax(plane, row, col)];
                        }
                    }
                }
            }
        }

        /// One task's planes: each window's gradient at its maximum (the rest stays 0).
        #[inline(never)]
        fn route_task(&self, out: &mut [f32], planes: &[f32], grads: &[f32]) {
            let planes = planes.chunks(self.plane_len());
            let grads = grads.chunks(self.pooled_len());
            for ((out, plane), grad) in out.chunks_mut(self.plane_len()).zip(planes).zip(grads) {
                for (row, grad) in grad.chunks_exact(self.cols).enumerate() {
                    if self.kernel == [2, 2] {
                        let width = self.shape[3];
                        let (out_top, out_bottom) = out[2 * row * width..].split_at_mut(width);
                        route_row_pair(self.row_pair(plane, row), [out_top, out_bottom], grad);
                    } else {
                        for (col, &g) in grad.iter().enumerate() {
                            out[self.argmax(plane, row, col)] = g;
                        }
                    }
                }
            }
        }

        /// The two input rows under output row `row` of a 2×2 pooling, cut to the windows.
        #[inline(always)]
        fn row_pair<'a>(&self, plane: &'a [f32], row: usize) -> [&'a [f32]; 2] {
            let width = self.shape[3];
            let line = |y: usize| &plane[y * width..][..2 * self.cols];
            [line(2 * row), line(2 * row + 1)]
        }

        /// The window maxima `[n, c, rows, cols]`.
        pub(super) fn pool(self, x: FloatTensor<burn::backend::Flex>) -> FlexTensor {
            let x = x.to_contiguous();
            let input: &[f32] = x.storage();
            let mut output = vec![0.0_f32; self.planes() * self.pooled_len()];
            if self.pooled_len() > 0 {
                output
                    .par_chunks_mut(self.pooled_len() * PLANES_PER_TASK)
                    .zip(input.par_chunks(self.plane_len() * PLANES_PER_TASK))
                    .for_each(|(out, planes)| self.pool_task(out, planes));
            }
            let [n, c, ..] = self.shape;
            FlexTensor::from_data(TensorData::new(output, [n, c, self.rows, self.cols]))
        }

        /// The input's gradient `[n, c, h, w]`: `grad` (`[n, c, rows, cols]`) at each window's
        /// maximum, 0 elsewhere.
        pub(super) fn route(
            self,
            x: FloatTensor<burn::backend::Flex>,
            grad: FloatTensor<burn::backend::Flex>,
        ) -> FlexTensor {
            let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
            let (input, grad): (&[f32], &[f32]) = (x.storage(), grad.storage());
            let mut output = vec![0.0_f32; self.planes() * self.plane_len()];
            if self.pooled_len() > 0 {
                output
                    .par_chunks_mut(self.plane_len() * PLANES_PER_TASK)
                    .zip(input.par_chunks(self.plane_len() * PLANES_PER_TASK))
                    .zip(grad.par_chunks(self.pooled_len() * PLANES_PER_TASK))
                    .for_each(|((out, planes), grads)| self.route_task(out, planes, grads));
            }
            FlexTensor::from_data(TensorData::new(output, self.shape))
        }
    }

    /// One row of 2×2 windows (`grad`'s length of them, over the input rows `top` and
    /// `bottom`): each window's gradient at its maximum, written into all four of its places
    /// (the rest 0). Branch-free over arrays of pairs, so that it vectorises: the window's
    /// maximum is random, and a branch on it mispredicts half the time.
    #[inline(never)]
    fn route_row_pair(
        [top, bottom]: [&[f32]; 2],
        [out_top, out_bottom]: [&mut [f32]; 2],
        grad: &[f32],
    ) {
        let n = grad.len();
        let (top, _) = top[..2 * n].as_chunks::<2>();
        let (bottom, _) = bottom[..2 * n].as_chunks::<2>();
        let (out_top, _) = out_top[..2 * n].as_chunks_mut::<2>();
        let (out_bottom, _) = out_bottom[..2 * n].as_chunks_mut::<2>();
        for i in 0..n {
            let ([t0, t1], [b0, b1]) = (top[i], bottom[i]);
            let [w1, w2, w3] = scan4([t0, t1, b0, b1]).0;
            let at = |wins: bool| select(wins, grad[i], 0.0);
            out_top[i] = [at(!(w1 | w2 | w3)), at(w1 & !(w2 | w3))];
            out_bottom[i] = [at(w2 & !w3), at(w3)];
        }
    }

    /// One step of PyTorch's window scan over `(value, index)`: a larger value or a NaN takes
    /// over, so the first maximum wins and a NaN propagates. Branch-free (selects).
    #[inline(always)]
    fn scan(best: (f32, usize), value: f32, index: usize) -> (f32, usize) {
        let take = value > best.0 || value.is_nan();
        (
            if take { value } else { best.0 },
            if take { index } else { best.1 },
        )
    }

    /// The same scan over a 2×2 window (row-major): whether each of its last three values
    /// takes over, and the maximum. Flags, not an index, so that a row of windows vectorises.
    #[inline(always)]
    fn scan4(window: [f32; 4]) -> ([bool; 3], f32) {
        // `|`, not `||`, and bit selects: no branch for the compiler to keep.
        let takes = |value: f32, max: f32| (value > max) | value.is_nan();
        let t1 = takes(window[1], window[0]);
        let m1 = select(t1, window[1], window[0]);
        let t2 = takes(window[2], m1);
        let m2 = select(t2, window[2], m1);
        let t3 = takes(window[3], m2);
        ([t1, t2, t3], select(t3, window[3], m2))
    }

    /// `if take { a } else { b }` as a bit mask, which vectorises.
    #[inline(always)]
    fn select(take: bool, a: f32, b: f32) -> f32 {
        let mask = u32::from(take).wrapping_neg();
        f32::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
    }
}

/// Max pooling over non-overlapping `kernel` windows (stride = kernel, no padding, the rows and
/// columns that do not fill a window dropped): PyTorch's `F.max_pool2d(x, kernel)`, its gradient
/// going to each window's first maximum, as PyTorch's. Flex takes the direct kernels, plain or
/// differentiable; another backend, Burn's pooling.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_ops::max_pool2d;
///
/// let x = Tensor::<1>::from_floats([1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0], &Device::default())
///     .reshape([1, 1, 2, 4]);
/// let y = max_pool2d(x, [2, 2]);
/// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![5.0, 9.0]);
/// ```
pub fn max_pool2d(x: Tensor<4>, kernel: [usize; 2]) -> Tensor<4> {
    if kernel.contains(&0) || Kernels::of(&x.device()) != Kernels::Flex {
        return burn_max_pool2d(x, MaxPoolOptions::new(kernel));
    }
    Tensor::from_dispatch(<Dispatch as WindowPoolBackend>::window_max_pool2d(
        x.into_dispatch(),
        kernel,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::max_pool2d as burn_max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::max_pool2d;

    /// The window pooling and its gradient against Burn's pooling on the same device.
    fn check(device: &Device) {
        for (shape, kernel, low) in [
            ([3, 4, 24, 24], [2, 2], 0.0),
            ([2, 5, 9, 7], [2, 2], -3.0),
            ([2, 3, 13, 11], [3, 2], 0.0),
            ([1, 2, 7, 10], [3, 3], -2.0),
            ([70, 2, 4, 4], [2, 2], 0.0), // more planes than one task takes: the parallel path
        ] {
            // Few distinct values: many ties inside the windows; odd sizes drop the remainder;
            // negative windows check that no zero sneaks in as an initial maximum.
            let x = Tensor::<4>::random(shape, Distribution::Uniform(low, 3.0), device).floor();
            let ours = max_pool2d(x.clone(), kernel);
            let theirs = burn_max_pool2d(x.clone(), MaxPoolOptions::new(kernel));
            assert_eq!(ours.dims(), theirs.dims(), "{shape:?} / {kernel:?}");
            assert!(
                ours.clone().equal(theirs).all().into_scalar::<bool>(),
                "{shape:?} / {kernel:?}: values"
            );
            let upstream = Tensor::<4>::random(ours.dims(), Distribution::Default, device);
            let gradient = |pool: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let leaf = x.clone().autodiff().require_grad();
                let total = (pool(leaf.clone()) * upstream.clone().autodiff()).sum();
                leaf.grad(&total.backward()).expect("a gradient")
            };
            let ours = gradient(&|t| max_pool2d(t, kernel));
            let theirs = gradient(&|t| burn_max_pool2d(t, MaxPoolOptions::new(kernel)));
            assert!(
                ours.equal(theirs).all().into_scalar::<bool>(),
                "{shape:?} / {kernel:?}: the gradient goes to each window's first maximum"
            );
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_kernel_equals_burn_pooling_and_its_gradient() {
        check(&Device::flex());
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn ndarray_takes_burn_pooling() {
        check(&Device::ndarray());
    }

    /// A NaN is a window's maximum, as in PyTorch, and gets its gradient.
    #[cfg(feature = "flex")]
    #[test]
    fn a_nan_is_the_window_maximum() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([1.0, f32::NAN, 3.0, 2.0], &device).reshape([1, 1, 2, 2]);
        let pooled = max_pool2d(x.clone(), [2, 2])
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(pooled[0].is_nan());
        let leaf = x.autodiff().require_grad();
        let grad = leaf
            .grad(&max_pool2d(leaf.clone(), [2, 2]).sum().backward())
            .expect("a gradient");
        assert_eq!(
            grad.into_data().to_vec::<f32>().unwrap(),
            [0.0, 1.0, 0.0, 0.0]
        );
    }
}
