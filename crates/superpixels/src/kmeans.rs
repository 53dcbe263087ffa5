//! SLIC's local k-means: scikit-image's `_slic_cython` for a 2-D image without a mask.

/// What the k-means loop needs besides the image and the initial centres.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// The grid strides of the centres along y and x (`regular_grid` of the centre count): a
    /// centre searches the pixels within two strides of it.
    pub step_y: usize,
    pub step_x: usize,
    /// `1 / step²`, `step` being the largest initial stride as `f32` (skimage passes it as
    /// `float32_t`) and the product of the two `f32` values rounded in `f32`.
    pub spatial_weight: f64,
    pub max_num_iter: usize,
    pub slic_zero: bool,
}

/// A pixel no centre has claimed yet.
pub(crate) const UNASSIGNED: u32 = u32::MAX;

/// Runs SLIC's k-means on an image of `C` feature planes (`height × width` values each,
/// row-major, already scaled by `1 / compactness`) from centres at `positions` (y, x) whose
/// colour starts at zero, and returns each pixel's cluster index (row-major).
///
/// Each iteration, in skimage's order: every distance is reset to `f64::MAX`; for each centre
/// in turn, every pixel of its window (`[c − 2·step, c + 2·step + 1)` per axis, clipped to the
/// image, bounds truncated to integers) takes the centre if its distance
/// `(dy² + dx²) · spatial_weight + Σ (pixel − colour)²` is strictly smaller than the pixel's
/// best so far (so the lowest-numbered centre wins a tie); the loop stops when no pixel
/// changed centre; otherwise every centre moves to the mean position and colour of its pixels,
/// summed in row-major order (a centre left without pixels becomes NaN, as skimage's `0 / 0`,
/// and claims nothing from then on). In SLICO mode the colour term is divided by the largest
/// colour distance seen in the centre's cluster (starting at one), updated after each move.
pub(crate) fn cluster<const C: usize>(
    planes: &[Vec<f64>; C],
    height: usize,
    width: usize,
    positions: Vec<[f64; 2]>,
    params: Params,
) -> Vec<u32> {
    debug_assert!(planes.iter().all(|p| p.len() == height * width));
    let n = positions.len();
    let mut positions = positions;
    let mut colours = vec![[0.0f64; C]; n];
    let mut max_colour = vec![1.0f64; n];
    let mut nearest = vec![UNASSIGNED; height * width];
    let mut distance = vec![f64::MAX; height * width];
    let mut counts = vec![0usize; n];
    let mut dx2 = Vec::with_capacity(4 * params.step_x + 2);

    for _ in 0..params.max_num_iter {
        distance.fill(f64::MAX);
        let pass = Pass {
            planes,
            positions: &positions,
            colours: &colours,
            max_colour: &max_colour,
            height,
            width,
            params,
        };
        let change = pass.run(&mut distance, &mut nearest, &mut dx2);
        if !change {
            break;
        }

        counts.fill(0);
        positions.fill([0.0; 2]);
        colours.fill([0.0; C]);
        for (i, &k) in nearest.iter().enumerate() {
            if k == UNASSIGNED {
                continue;
            }
            let k = k as usize;
            counts[k] += 1;
            positions[k][0] += (i / width) as f64;
            positions[k][1] += (i % width) as f64;
            for c in 0..C {
                colours[k][c] += planes[c][i];
            }
        }
        for ((position, colour), &count) in positions.iter_mut().zip(&mut colours).zip(&counts) {
            let count = count as f64;
            for v in position.iter_mut().chain(colour.iter_mut()) {
                *v /= count;
            }
        }

        if params.slic_zero {
            for (i, &k) in nearest.iter().enumerate() {
                if k == UNASSIGNED {
                    continue;
                }
                let k = k as usize;
                let mut colour_distance = 0.0;
                for c in 0..C {
                    let t = planes[c][i] - colours[k][c];
                    colour_distance += t * t;
                }
                if max_colour[k] < colour_distance {
                    max_colour[k] = colour_distance;
                }
            }
        }
    }
    nearest
}

/// One assignment pass: every centre offered to the pixels of its window.
struct Pass<'a, const C: usize> {
    planes: &'a [Vec<f64>; C],
    positions: &'a [[f64; 2]],
    colours: &'a [[f64; C]],
    max_colour: &'a [f64],
    height: usize,
    width: usize,
    params: Params,
}

impl<const C: usize> Pass<'_, C> {
    /// Offers every centre in turn to the pixels of its window, updating each pixel's best
    /// distance and owner; returns whether any pixel changed owner. `dx2` is scratch space.
    ///
    /// Compiled twice on x86-64, for the baseline and for AVX2 (chosen at run time): the
    /// arithmetic is the same IEEE operations in the same order either way (Rust never fuses
    /// a multiply and an add by itself), so the labels are too.
    fn run(&self, distance: &mut [f64], nearest: &mut [u32], dx2: &mut Vec<f64>) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.run_avx2(distance, nearest, dx2) };
        }
        self.run_portable(distance, nearest, dx2)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(&self, distance: &mut [f64], nearest: &mut [u32], dx2: &mut Vec<f64>) -> bool {
        self.run_inline(distance, nearest, dx2)
    }

    fn run_portable(&self, distance: &mut [f64], nearest: &mut [u32], dx2: &mut Vec<f64>) -> bool {
        self.run_inline(distance, nearest, dx2)
    }

    #[inline(always)]
    fn run_inline(&self, distance: &mut [f64], nearest: &mut [u32], dx2: &mut Vec<f64>) -> bool {
        let (width, params) = (self.width, self.params);
        let reach_y = (2 * params.step_y) as f64;
        let reach_x = (2 * params.step_x) as f64;
        let mut change = false;
        for (k, (&[cy, cx], colour)) in self.positions.iter().zip(self.colours).enumerate() {
            if cy.is_nan() || cx.is_nan() {
                // skimage's window bounds of a NaN centre are empty ranges.
                continue;
            }
            let (y0, y1) = window(cy, reach_y, self.height);
            let (x0, x1) = window(cx, reach_x, width);
            dx2.clear();
            dx2.extend((x0..x1).map(|x| {
                let dx = cx - x as f64;
                dx * dx
            }));
            let centre = Centre {
                k: k as u32,
                colour,
                colour_scale: self.max_colour[k],
                spatial_weight: params.spatial_weight,
            };
            for y in y0..y1 {
                let dy = cy - y as f64;
                let span = y * width + x0..y * width + x1;
                let row = Row {
                    dy2: dy * dy,
                    dx2,
                    pixels: self.planes.each_ref().map(|p| &p[span.clone()]),
                    best: &mut distance[span.clone()],
                    owner: &mut nearest[span],
                };
                change |= if params.slic_zero {
                    centre.offer::<true>(row)
                } else {
                    centre.offer::<false>(row)
                };
            }
        }
        change
    }
}

/// One centre, offered to the pixels of its window row by row.
struct Centre<'a, const C: usize> {
    k: u32,
    colour: &'a [f64; C],
    colour_scale: f64,
    spatial_weight: f64,
}

/// One row of a centre's window: its squared row offset, the squared column offsets, and the
/// row's pixels (one slice per plane), best distances and owners.
struct Row<'a, const C: usize> {
    dy2: f64,
    dx2: &'a [f64],
    pixels: [&'a [f64]; C],
    best: &'a mut [f64],
    owner: &'a mut [u32],
}

impl<const C: usize> Centre<'_, C> {
    /// Offers the centre to one row of its window; returns whether a pixel took it. A pixel
    /// takes it where the distance is strictly smaller than its best so far, written without
    /// branches so that the loop vectorises (the arithmetic is the scalar one, lane by lane).
    #[inline(always)]
    fn offer<const SLIC_ZERO: bool>(&self, row: Row<'_, C>) -> bool {
        let n = row.dx2.len();
        let (best, owner) = (&mut row.best[..n], &mut row.owner[..n]);
        let pixels = row.pixels.map(|p| &p[..n]);
        let mut change = false;
        for i in 0..n {
            let mut d = (row.dy2 + row.dx2[i]) * self.spatial_weight;
            let mut colour_distance = 0.0;
            for (plane, colour) in pixels.iter().zip(self.colour) {
                let t = plane[i] - colour;
                colour_distance += t * t;
            }
            if SLIC_ZERO {
                colour_distance /= self.colour_scale;
            }
            d += colour_distance;
            let closer = best[i] > d;
            best[i] = if closer { d } else { best[i] };
            owner[i] = if closer { self.k } else { owner[i] };
            change |= closer;
        }
        change
    }
}

/// The search window of a centre at `centre` along an axis of `len` pixels:
/// `[max(centre − reach, 0), min(centre + reach + 1, len))`, each bound truncated to an integer
/// as skimage's `<Py_ssize_t>` casts do (Cython's `max(a, b)` is `b if b > a else a`).
fn window(centre: f64, reach: f64, len: usize) -> (usize, usize) {
    let low = centre - reach;
    let low = if 0.0 > low { 0.0 } else { low };
    let high = centre + reach + 1.0;
    let len_f = len as f64;
    let high = if len_f < high { len_f } else { high };
    (low as usize, (high as usize).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_clip_and_truncate() {
        assert_eq!(window(11.0, 44.0, 224), (0, 56));
        assert_eq!(window(100.7, 44.0, 224), (56, 145));
        assert_eq!(window(200.2, 44.0, 224), (156, 224));
    }

    /// Two flat halves, one centre in each: each centre keeps its own half.
    #[test]
    fn two_halves() {
        let (h, w) = (4, 8);
        let image = [(0..h * w)
            .map(|i| if i % w < 4 { 0.0 } else { 10.0 })
            .collect()];
        let params = Params {
            step_y: 4,
            step_x: 4,
            spatial_weight: 1.0 / 16.0,
            max_num_iter: 10,
            slic_zero: false,
        };
        let labels = cluster(&image, h, w, vec![[2.0, 2.0], [2.0, 6.0]], params);
        let expected: Vec<u32> = (0..h * w).map(|i| u32::from(i % w >= 4)).collect();
        assert_eq!(labels, expected);
    }

    /// The AVX2 build of a pass and the portable one give the same distances, bit for bit, and
    /// the same owners (on a CPU without AVX2 both runs are the portable build).
    #[test]
    fn vector_builds_agree() {
        let (h, w) = (37, 53);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let planes: [Vec<f64>; 3] =
            std::array::from_fn(|_| (0..h * w).map(|_| next() * 7.0).collect());
        let positions: Vec<[f64; 2]> = (0..30)
            .map(|_| [next() * h as f64, next() * w as f64])
            .collect();
        let colours: Vec<[f64; 3]> = (0..30)
            .map(|_| [next() * 7.0, next() * 7.0, next() * 7.0])
            .collect();
        let max_colour: Vec<f64> = (0..30).map(|_| 1.0 + next()).collect();
        for slic_zero in [false, true] {
            let pass = Pass {
                planes: &planes,
                positions: &positions,
                colours: &colours,
                max_colour: &max_colour,
                height: h,
                width: w,
                params: Params {
                    step_y: 7,
                    step_x: 9,
                    spatial_weight: 1.0 / 81.0,
                    max_num_iter: 1,
                    slic_zero,
                },
            };
            let mut scratch = Vec::new();
            let (mut d1, mut n1) = (vec![f64::MAX; h * w], vec![UNASSIGNED; h * w]);
            let (mut d2, mut n2) = (d1.clone(), n1.clone());
            assert!(pass.run(&mut d1, &mut n1, &mut scratch));
            assert!(pass.run_portable(&mut d2, &mut n2, &mut scratch));
            assert_eq!(n1, n2);
            assert!(d1.iter().zip(&d2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
