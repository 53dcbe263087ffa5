//! The regular grid of SLIC's initial centres: scikit-image's `skimage.util.regular_grid`.

/// One axis of the grid: the first index and the stride (a Python `slice(start, None, step)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Axis {
    pub start: usize,
    pub step: usize,
}

/// `regular_grid(shape, n_points)`: about `n_points` points spaced as evenly as possible over
/// an array of `shape` (here `[depth, height, width]`), as one start and stride per axis.
///
/// The strides are the cube root of the volume per point, except that an axis too short for a
/// whole stride is taken whole (stride = its length) and the others are recomputed from what
/// remains, shortest axis first; starts are half a stride, rounded down, and strides are
/// rounded half to even (NumPy's `round`). Every computation is skimage's, in `f64` with the
/// C library's `pow`, as Python computes it.
pub(crate) fn regular_grid(shape: [usize; 3], n_points: usize) -> [Axis; 3] {
    const NDIM: usize = 3;
    let mut space_size = shape.iter().map(|&d| d as f64).product::<f64>();
    if space_size <= n_points as f64 {
        return [Axis { start: 0, step: 1 }; NDIM];
    }
    // A stable sort of the axes by length (NumPy's argsort of three elements is stable).
    let mut order = [0usize, 1, 2];
    order.sort_by_key(|&axis| shape[axis]);
    let sorted = order.map(|axis| shape[axis] as f64);
    let n = n_points as f64;
    let mut steps = [(space_size / n).powf(1.0 / NDIM as f64); NDIM];
    if sorted.iter().zip(&steps).any(|(d, s)| d < s) {
        for dim in 0..NDIM {
            steps[dim] = sorted[dim];
            space_size = sorted[dim + 1..].iter().product::<f64>();
            let rest = (space_size / n).powf(1.0 / (NDIM - dim - 1) as f64);
            for step in &mut steps[dim + 1..] {
                *step = rest;
            }
            if sorted.iter().zip(&steps).all(|(d, s)| d >= s) {
                break;
            }
        }
    }
    let sorted_axes = steps.map(|s| Axis {
        start: (s / 2.0).floor() as usize,
        step: s.round_ties_even() as usize,
    });
    let mut axes = [Axis { start: 0, step: 1 }; NDIM];
    for (rank, &axis) in order.iter().enumerate() {
        axes[axis] = sorted_axes[rank];
    }
    axes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slices(shape: [usize; 3], n: usize) -> [(usize, usize); 3] {
        regular_grid(shape, n).map(|a| (a.start, a.step))
    }

    /// The examples of skimage's docstring (a 2-D shape is the same as depth 1 in front, where
    /// the depth axis gets `slice(0, None, 1)`).
    #[test]
    fn skimage_docstring_examples() {
        assert_eq!(slices([1, 20, 40], 8), [(0, 1), (5, 10), (5, 10)]);
        assert_eq!(slices([1, 20, 40], 32), [(0, 1), (2, 5), (2, 5)]);
        assert_eq!(slices([3, 20, 40], 8), [(1, 3), (5, 10), (5, 10)]);
    }

    #[test]
    fn short_axis_is_taken_whole() {
        // sqrt(4 * 400 / 4) = 20 > 4: the 4-row axis is one stride and x gets 400 / 4 = 100.
        assert_eq!(slices([1, 4, 400], 4), [(0, 1), (2, 4), (50, 100)]);
        assert_eq!(slices([1, 100, 3], 10), [(0, 1), (5, 10), (1, 3)]);
        assert_eq!(slices([1, 3, 100], 10), [(0, 1), (1, 3), (5, 10)]);
        // One row: the depth and the row axes tie at length 1 and are both taken whole.
        assert_eq!(slices([1, 1, 50], 5), [(0, 1), (0, 1), (5, 10)]);
    }

    #[test]
    fn at_most_one_point_per_pixel() {
        assert_eq!(slices([1, 5, 5], 25), [(0, 1); 3]);
        assert_eq!(slices([1, 5, 5], 1000), [(0, 1); 3]);
    }

    #[test]
    fn the_fixture_sizes() {
        // 224 x 224 / 100: sqrt(501.76) = 22.4; / 50: sqrt(1003.52) = 31.68.
        assert_eq!(slices([1, 224, 224], 100), [(0, 1), (11, 22), (11, 22)]);
        assert_eq!(slices([1, 224, 224], 50), [(0, 1), (15, 32), (15, 32)]);
        // 28 x 28 / 50: sqrt(15.68) = 3.96.
        assert_eq!(slices([1, 28, 28], 50), [(0, 1), (1, 4), (1, 4)]);
        // 64 x 64 / 30: sqrt(136.53) = 11.68, rounded to 12, starting at 5.
        assert_eq!(slices([1, 64, 64], 30), [(0, 1), (5, 12), (5, 12)]);
    }
}
