//! Per-thread scratch buffers of the Flex kernels (im2col tiles, products, transforms), reused
//! across calls: no allocation and no zeroing once they have grown.

use std::cell::Cell;

thread_local! {
    static BUFFERS: Cell<Vec<Vec<f32>>> = const { Cell::new(Vec::new()) };
}

/// Calls `f` with `N` of this thread's scratch buffers, of lengths `lens`, holding whatever an
/// earlier call left there (every kernel writes before it reads).
///
/// The buffers are taken out of the thread's cell for the call, not borrowed: a kernel that
/// waits on rayon inside `f` may run another kernel on this thread meanwhile, which then finds
/// the cell empty and allocates its own rather than failing.
pub(crate) fn with_scratch<const N: usize, R>(
    lens: [usize; N],
    f: impl FnOnce([&mut [f32]; N]) -> R,
) -> R {
    let mut buffers = BUFFERS.take();
    if buffers.len() < N {
        buffers.resize_with(N, Vec::new);
    }
    for (buffer, &len) in buffers.iter_mut().zip(&lens) {
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
    }
    let mut lens = lens.into_iter();
    let mut buffers_iter = buffers.iter_mut();
    let slices = std::array::from_fn(|_| match (buffers_iter.next(), lens.next()) {
        (Some(buffer), Some(len)) => &mut buffer[..len],
        // N buffers of at least their lengths exist (above).
        _ => &mut [][..],
    });
    let result = f(slices);
    BUFFERS.set(buffers);
    result
}
