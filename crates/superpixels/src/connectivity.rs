//! Connected superpixels: scikit-image's `_enforce_label_connectivity_cython` in 2-D.

/// A pixel no component has claimed yet.
const UNSET: u32 = u32::MAX;

/// Splits `segments` (row-major cluster indices) into 4-connected components and merges the
/// small ones into a neighbour, as skimage does; returns the new labels, numbered from
/// `start_label` in raster order of each component's first pixel.
///
/// Pixels are visited in raster order; an unclaimed pixel starts a component under the next
/// free label, grown breadth first over the 4-neighbours in skimage's order (x + 1, x − 1,
/// y + 1, y − 1) through pixels of the same cluster, and stopped once it holds `max_size`
/// pixels (the rest of that region starts new components later). While growing, the last
/// already-labelled neighbour of another component met is remembered; a component of fewer
/// than `min_size` pixels takes that neighbour's label (or keeps the free label, which the next
/// component then shares, if it met none), otherwise the free label is used up.
pub(crate) fn enforce(
    segments: &[u32],
    height: usize,
    width: usize,
    min_size: i64,
    max_size: usize,
    start_label: u32,
) -> Vec<u32> {
    debug_assert_eq!(segments.len(), height * width);
    debug_assert!(max_size >= 1);
    let mut connected = vec![UNSET; segments.len()];
    let mut queue = vec![0usize; max_size];
    let mut next_label = start_label;
    for first in 0..segments.len() {
        if connected[first] != UNSET {
            continue;
        }
        let mut adjacent = next_label;
        let label = segments[first];
        connected[first] = next_label;
        queue[0] = first;
        let mut size = 1;
        let mut visited = 0;
        while visited < size && size < max_size {
            let at = queue[visited];
            let (y, x) = (at / width, at % width);
            let neighbours = [
                (x + 1 < width).then_some(at + 1),
                (x > 0).then(|| at - 1),
                (y + 1 < height).then_some(at + width),
                (y > 0).then(|| at - width),
            ];
            for next in neighbours.into_iter().flatten() {
                if segments[next] == label && connected[next] == UNSET {
                    connected[next] = next_label;
                    queue[size] = next;
                    size += 1;
                    if size >= max_size {
                        break;
                    }
                } else if connected[next] != UNSET && connected[next] != next_label {
                    adjacent = connected[next];
                }
            }
            visited += 1;
        }
        if (size as i64) < min_size {
            for &at in &queue[..size] {
                connected[at] = adjacent;
            }
        } else {
            next_label += 1;
        }
    }
    connected
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster split in two pieces becomes two labels; a one-pixel island joins its
    /// neighbour.
    #[test]
    fn splits_and_merges() {
        #[rustfmt::skip]
        let segments = [
            0, 0, 1, 0,
            0, 0, 1, 0,
            1, 1, 1, 1,
            1, 2, 1, 1,
        ];
        let labels = enforce(&segments, 4, 4, 2, 16, 1);
        #[rustfmt::skip]
        let expected = [
            1, 1, 2, 3,
            1, 1, 2, 3,
            2, 2, 2, 2,
            2, 2, 2, 2,
        ];
        assert_eq!(labels, expected);
    }

    /// A region larger than `max_size` is cut into pieces of at most `max_size` pixels.
    #[test]
    fn max_size_cuts() {
        let segments = [0; 6];
        let labels = enforce(&segments, 1, 6, 0, 4, 0);
        assert_eq!(labels, [0, 0, 0, 0, 1, 1]);
    }
}
