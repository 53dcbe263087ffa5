//! Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2016) for the stride-1 3×3 convolutions of the zoo's networks, and of
//! their input gradients (the same convolution on the flipped weights).
//!
//! Each 2×2 block of outputs is computed from its 4×4 input patch with 16 multiplications per
//! input channel where a direct 3×3 convolution takes 36: the patch is transformed
//! (`V = Bᵀ d B`), multiplied point by point with the transformed kernels (`U = G g Gᵀ`,
//! computed once per network), summed over the channels — 16 matrix products
//! `[outputs, channels] · [channels, tiles]` — and transformed back (`Y = Aᵀ M A`). The
//! transforms only add, subtract and halve, so the result stays within a few ulps of the direct
//! convolution's (the parity tests against Burn's `conv2d` hold at the same tolerance).

/// Points of a transformed 4×4 tile.
pub(crate) const POINTS: usize = 16;

/// The tile point whose transformed kernel, in the forward convolution's `U`, is point `point` of
/// the flipped kernel's: flipping a 3×3 kernel reverses the columns of `G`, which swaps its first
/// and last rows, so `G (J g J) Gᵀ = P U P` with `P` swapping indices 0 and 3 on both axes. The
/// input gradient thus reads the forward's transformed kernels, transposed, instead of a second
/// copy.
pub(crate) fn flipped_point(point: usize) -> usize {
    let swap = |i: usize| match i {
        0 => 3,
        3 => 0,
        i => i,
    };
    4 * swap(point / 4) + swap(point % 4)
}

/// The transformed kernels `U = G g Gᵀ` of a `[outputs, channels, 3, 3]` weight, laid out
/// `[16, outputs, channels]` (one matrix per tile point), computed in `f64`.
pub(crate) fn transform_weight(weight: &[f32], outputs: usize, channels: usize) -> Vec<f32> {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let pairs = outputs * channels;
    let mut u = vec![0.0_f32; POINTS * pairs];
    for (pair, g) in weight.chunks_exact(9).take(pairs).enumerate() {
        // G·g (4×3), then (G·g)·Gᵀ (4×4).
        let mut left = [[0.0_f64; 3]; 4];
        for (i, row) in left.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                *value = (0..3).map(|k| G[i][k] * f64::from(g[3 * k + j])).sum();
            }
        }
        for (i, row) in left.iter().enumerate() {
            for (l, weights) in G.iter().enumerate() {
                let value: f64 = (0..3).map(|j| row[j] * weights[j]).sum();
                u[(4 * i + l) * pairs + pair] = value as f32;
            }
        }
    }
    u
}

#[cfg(feature = "flex")]
pub(crate) mod flex {
    //! The Flex kernel: blocks of tile rows, each transformed, multiplied and transformed back
    //! while it is in the cache.

    use rayon::prelude::*;

    use super::{POINTS, flipped_point};
    use crate::matmul::{self, Operand};
    use crate::scratch::with_scratch;

    /// Transformed input and product of one block, about this many bytes: they stay in the L2
    /// cache between the transforms and the products.
    const BLOCK_BYTES: usize = 1 << 20;
    /// Tiles per block, at least (fewer make the products too narrow for gemm's kernels).
    const MIN_BLOCK_TILES: usize = 32;

    /// The geometry of one convolution.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Geometry {
        pub channels: usize,
        pub height: usize,
        pub width: usize,
        pub outputs: usize,
        pub padding: usize,
    }

    impl Geometry {
        pub fn out_h(&self) -> usize {
            self.height + 2 * self.padding - 2
        }

        pub fn out_w(&self) -> usize {
            self.width + 2 * self.padding - 2
        }

        fn tiles_h(&self) -> usize {
            self.out_h().div_ceil(2)
        }

        fn tiles_w(&self) -> usize {
            self.out_w().div_ceil(2)
        }
    }

    /// The output pointer shared by the blocks; each writes its own tile rows.
    #[derive(Clone, Copy)]
    struct Output(*mut f32);
    // SAFETY: blocks write disjoint output rows and nothing reads them until all finish.
    unsafe impl Send for Output {}
    unsafe impl Sync for Output {}

    /// The transformed kernels a convolution multiplies by.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Kernels<'a> {
        /// `U` of its own weight, `[16, outputs, channels]`.
        Forward(&'a [f32]),
        /// `U` of the forward convolution whose input gradient this is, `[16, channels,
        /// outputs]`: read transposed, at the flipped points (see [`flipped_point`]).
        Flipped(&'a [f32]),
    }

    impl Kernels<'_> {
        /// The `[outputs, channels]` matrix of tile point `point`.
        fn matrix(&self, point: usize, g: &Geometry) -> Operand<*const f32> {
            let size = g.outputs * g.channels;
            match *self {
                Kernels::Forward(u) => Operand::rows(u[point * size..].as_ptr(), g.channels),
                Kernels::Flipped(u) => {
                    Operand::columns(u[flipped_point(point) * size..].as_ptr(), g.outputs)
                }
            }
        }
    }

    /// `conv2d(x, g) + bias` at stride 1 for `x` `[batch, channels, height, width]` (NCHW) and
    /// the transformed kernels `u`: `[batch, outputs, out_h, out_w]`. The caller checks that
    /// `u` holds `16 · outputs · channels` values, `height + 2·padding ≥ 3` and the same for
    /// the width.
    pub(crate) fn conv2d(
        x: &[f32],
        batch: usize,
        u: Kernels<'_>,
        bias: Option<&[f32]>,
        g: Geometry,
    ) -> Vec<f32> {
        let (out_h, out_w) = (g.out_h(), g.out_w());
        let mut output = vec![0.0_f32; batch * g.outputs * out_h * out_w];
        if output.is_empty() {
            return output;
        }
        let tiles_w = g.tiles_w();
        // Whole rows of tiles per block.
        let budget = (BLOCK_BYTES / (4 * POINTS * (g.channels + g.outputs))).max(MIN_BLOCK_TILES);
        let rows_per_block = (budget / tiles_w).max(1);
        let rows = batch * g.tiles_h();
        let blocks = rows.div_ceil(rows_per_block);
        let threads = rayon::current_num_threads();
        let out = Output(output.as_mut_ptr());
        let task = |block: usize, parallel_points: bool| {
            let first = block * rows_per_block;
            let count = rows_per_block.min(rows - first);
            // SAFETY: block `block` alone writes the output rows of tile rows first..+count.
            unsafe { block_product(x, u, bias, g, first, count, out, parallel_points) };
        };
        if blocks >= 2 * threads {
            (0..blocks)
                .into_par_iter()
                .for_each(|block| task(block, false));
        } else {
            // Too few blocks to share out: each block's 16 products are shared out instead.
            (0..blocks).for_each(|block| task(block, threads > 1));
        }
        output
    }

    /// Tile rows `first..first + count` (row `r` is image `r / tiles_h`, tile row
    /// `r % tiles_h`): input transform, the 16 products, output transform.
    ///
    /// # Safety
    /// `out` points to the `[batch, outputs, out_h, out_w]` output, of which this call alone
    /// writes the output rows of these tile rows.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block_product(
        x: &[f32],
        u: Kernels<'_>,
        bias: Option<&[f32]>,
        g: Geometry,
        first: usize,
        count: usize,
        out: Output,
        parallel_points: bool,
    ) {
        let tiles_w = g.tiles_w();
        let n = count * tiles_w;
        let lens = [
            POINTS * g.channels * n,
            POINTS * g.outputs * n,
            2 * (tiles_w + 1) + POINTS * tiles_w,
        ];
        with_scratch(lens, |[v, m, scratch]| {
            let arch = pulp::Arch::new();
            arch.dispatch(InputTransforms {
                x,
                g,
                first,
                count,
                scratch,
                v,
            });
            let v: &[f32] = v;
            let product = |(point, m): (usize, &mut [f32])| {
                // SAFETY: lhs is point `point`'s [outputs, channels] matrix at its strides, rhs
                // `v[point]` [channels, n], dst `m` (`m[point]`) [outputs, n]; all in bounds.
                unsafe {
                    matmul::product(
                        [g.outputs, n, g.channels],
                        Operand::rows(m.as_mut_ptr(), n),
                        u.matrix(point, &g),
                        Operand::rows(v[point * g.channels * n..].as_ptr(), n),
                        false,
                        gemm::Parallelism::None,
                    )
                };
            };
            let points = &mut m[..POINTS * g.outputs * n];
            if parallel_points {
                points
                    .par_chunks_mut(g.outputs * n)
                    .enumerate()
                    .for_each(product);
            } else {
                points
                    .chunks_mut(g.outputs * n)
                    .enumerate()
                    .for_each(product);
            }
            arch.dispatch(OutputTransforms {
                m,
                bias,
                g,
                first,
                count,
                out,
                scratch,
            });
        });
    }

    /// The input transform of tile rows `first..first + count` into `v` (`[16, channels, n]`),
    /// compiled for the CPU's vector extensions: pulp's run-time dispatch (as gemm's) calls
    /// `with_simd` from a function built for AVX2 or AVX-512, and everything below it is
    /// inlined there, so that the transforms' loops vectorise to the widest registers.
    struct InputTransforms<'a> {
        x: &'a [f32],
        g: Geometry,
        first: usize,
        count: usize,
        scratch: &'a mut [f32],
        v: &'a mut [f32],
    }

    impl pulp::WithSimd for InputTransforms<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                x,
                g,
                first,
                count,
                scratch,
                v,
            } = self;
            let (tiles_h, tiles_w) = (g.tiles_h(), g.tiles_w());
            let n = count * tiles_w;
            for r in 0..count {
                let (image, tile_row) = ((first + r) / tiles_h, (first + r) % tiles_h);
                let planes = &x[image * g.channels * g.height * g.width..];
                for c in 0..g.channels {
                    let plane = &planes[c * g.height * g.width..][..g.height * g.width];
                    let at = Strided {
                        stride: g.channels * n,
                        offset: c * n + r * tiles_w,
                        len: tiles_w,
                    };
                    transform_input(plane, g, tile_row, scratch, v, at);
                }
            }
        }
    }

    /// The output transform of tile rows `first..first + count` from the products `m`
    /// (`[16, outputs, n]`), + bias, into the output; vectorised as [`InputTransforms`].
    /// Only the block that owns these tile rows builds one (it writes their output rows).
    struct OutputTransforms<'a> {
        m: &'a [f32],
        bias: Option<&'a [f32]>,
        g: Geometry,
        first: usize,
        count: usize,
        out: Output,
        scratch: &'a mut [f32],
    }

    impl pulp::WithSimd for OutputTransforms<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                m,
                bias,
                g,
                first,
                count,
                out,
                scratch,
            } = self;
            let (tiles_h, tiles_w) = (g.tiles_h(), g.tiles_w());
            let (out_h, out_w) = (g.out_h(), g.out_w());
            let n = count * tiles_w;
            for r in 0..count {
                let (image, tile_row) = ((first + r) / tiles_h, (first + r) % tiles_h);
                for o in 0..g.outputs {
                    let b = bias.map_or(0.0, |b| b[o]);
                    let at = Strided {
                        stride: g.outputs * n,
                        offset: o * n + r * tiles_w,
                        len: tiles_w,
                    };
                    for i in 0..2.min(out_h - 2 * tile_row) {
                        let y = 2 * tile_row + i;
                        // SAFETY: output row `y` of image `image`, channel `o`: this block's
                        // (see the struct).
                        let line = unsafe {
                            std::slice::from_raw_parts_mut(
                                out.0.add(((image * g.outputs + o) * out_h + y) * out_w),
                                out_w,
                            )
                        };
                        transform_output(m, at, i, b, scratch, line);
                    }
                }
            }
        }
    }

    /// Where one tile row's values of each point lie in a `[16, …]` buffer: point `p`'s at
    /// `p·stride + offset`, `len` of them (one per tile).
    #[derive(Clone, Copy)]
    struct Strided {
        stride: usize,
        offset: usize,
        len: usize,
    }

    impl Strided {
        fn range(&self, point: usize) -> std::ops::Range<usize> {
            let start = point * self.stride + self.offset;
            start..start + self.len
        }
    }

    /// `Bᵀ d B` of the 4×4 patch of every tile of one tile row of a plane (zeros outside the
    /// plane), into `v` at `at`. `scratch` holds at least `2·(tiles_w + 1) + 16·tiles_w`
    /// values.
    #[inline(always)]
    fn transform_input(
        plane: &[f32],
        g: Geometry,
        tile_row: usize,
        scratch: &mut [f32],
        v: &mut [f32],
        at: Strided,
    ) {
        let tiles_w = at.len;
        let (padded, r) = scratch.split_at_mut(2 * (tiles_w + 1));
        // r[4i + j]: Bᵀ's transform along the columns of the patches' input row i, point j.
        let r = &mut r[..POINTS * tiles_w];
        for (i, rows) in r.chunks_exact_mut(4 * tiles_w).enumerate() {
            let y = (2 * tile_row + i) as isize - g.padding as isize;
            if y < 0 || y >= g.height as isize {
                rows.fill(0.0);
                continue;
            }
            // The input row with its padding: the tiles' patches span its columns 0..2·tiles_w + 2
            // (at least width + 2·padding of them).
            let line = &plane[y as usize * g.width..][..g.width];
            padded[..g.padding].fill(0.0);
            padded[g.padding..g.padding + g.width].copy_from_slice(line);
            padded[g.padding + g.width..].fill(0.0);
            let (r0, rows) = rows.split_at_mut(tiles_w);
            let (r1, rows) = rows.split_at_mut(tiles_w);
            let (r2, r3) = rows.split_at_mut(tiles_w);
            // Tile t's patch row is padded[2t..2t + 4] = (d0, d1, d2, d3).
            let patches = padded.chunks_exact(2).zip(padded[2..].chunks_exact(2));
            for ((((r0, r1), r2), r3), (left, right)) in
                r0.iter_mut().zip(r1).zip(r2).zip(r3).zip(patches)
            {
                let (d0, d1, d2, d3) = (left[0], left[1], right[0], right[1]);
                *r0 = d0 - d2;
                *r1 = d1 + d2;
                *r2 = d2 - d1;
                *r3 = d1 - d3;
            }
        }
        // Bᵀ along the rows: point (a, j) from the four rows' point j.
        let row = |i: usize, j: usize| &r[(4 * i + j) * tiles_w..][..tiles_w];
        for j in 0..4 {
            let (q0, q1, q2, q3) = (row(0, j), row(1, j), row(2, j), row(3, j));
            combine(&mut v[at.range(j)], q0, q2, |a, b| a - b);
            combine(&mut v[at.range(4 + j)], q1, q2, |a, b| a + b);
            combine(&mut v[at.range(8 + j)], q2, q1, |a, b| a - b);
            combine(&mut v[at.range(12 + j)], q1, q3, |a, b| a - b);
        }
    }

    /// `out[t] = f(a[t], b[t])`.
    #[inline(always)]
    fn combine(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
        for ((out, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *out = f(a, b);
        }
    }

    /// Output row `i` (0 or 1) of every tile of a tile row, `Aᵀ M A + bias`, from the products
    /// `m` at `at`, written to `line` (the output row, cut at its width). `scratch` holds at
    /// least `4·tiles_w` values.
    #[inline(always)]
    fn transform_output(
        m: &[f32],
        at: Strided,
        i: usize,
        bias: f32,
        scratch: &mut [f32],
        line: &mut [f32],
    ) {
        let tiles_w = at.len;
        let (s0, s) = scratch[..4 * tiles_w].split_at_mut(tiles_w);
        let (s1, s) = s.split_at_mut(tiles_w);
        let (s2, s3) = s.split_at_mut(tiles_w);
        // Aᵀ along the rows: s_j = m_0j + m_1j + m_2j (row 0), m_1j − m_2j − m_3j (row 1).
        for (j, sj) in [s0, s1, s2, s3].into_iter().enumerate() {
            let (m0, m1) = (&m[at.range(j)], &m[at.range(4 + j)]);
            let (m2, m3) = (&m[at.range(8 + j)], &m[at.range(12 + j)]);
            let points = m0.iter().zip(m1).zip(m2).zip(m3);
            for (s, (((&m0, &m1), &m2), &m3)) in sj.iter_mut().zip(points) {
                *s = if i == 0 { m0 + m1 + m2 } else { m1 - m2 - m3 };
            }
        }
        let (s0, s) = scratch[..4 * tiles_w].split_at(tiles_w);
        let (s1, s) = s.split_at(tiles_w);
        let (s2, s3) = s.split_at(tiles_w);
        // A along the columns: the tile's two outputs of this row.
        let sums = s0.iter().zip(s1).zip(s2).zip(s3);
        let mut pairs = line.chunks_exact_mut(2);
        for (pair, (((&s0, &s1), &s2), &s3)) in (&mut pairs).zip(sums) {
            pair[0] = s0 + s1 + s2 + bias;
            pair[1] = s1 - s2 - s3 + bias;
        }
        // An odd width: the last tile's first column only.
        if let [last] = pairs.into_remainder() {
            let t = tiles_w - 1;
            *last = s0[t] + s1[t] + s2[t] + bias;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{POINTS, flipped_point, transform_weight};

    /// A deterministic, non-symmetric kernel set `[outputs, channels, 3, 3]`.
    fn kernels(outputs: usize, channels: usize) -> Vec<f32> {
        (0..outputs * channels * 9)
            .map(|i| ((i * 7 + 3) % 11) as f32 / 5.0 - 1.0)
            .collect()
    }

    /// Each kernel rotated by 180° and the `[outputs, channels]` axes swapped: the weights of a
    /// stride-1 convolution's input gradient.
    fn flipped(weight: &[f32], outputs: usize, channels: usize) -> Vec<f32> {
        let mut out = vec![0.0; weight.len()];
        for o in 0..outputs {
            for c in 0..channels {
                for k in 0..9 {
                    out[(c * outputs + o) * 9 + (8 - k)] = weight[(o * channels + c) * 9 + k];
                }
            }
        }
        out
    }

    /// The transform of a kernel that is 1 at one tap is the outer product of two columns of
    /// `G` (rows 1/2/1/… of the minimal-filtering matrix).
    #[test]
    fn the_transform_of_a_single_tap_is_an_outer_product_of_g_columns() {
        let columns = [
            [1.0, 0.5, 0.5, 0.0],
            [0.0, 0.5, -0.5, 0.0],
            [0.0, 0.5, 0.5, 1.0],
        ];
        for tap in 0..9 {
            let mut kernel = [0.0_f32; 9];
            kernel[tap] = 1.0;
            let u = transform_weight(&kernel, 1, 1);
            let (row, col) = (columns[tap / 3], columns[tap % 3]);
            for point in 0..POINTS {
                let expected = row[point / 4] * col[point % 4];
                assert_eq!(u[point], expected as f32, "tap {tap}, point {point}");
            }
        }
    }

    /// The flipped kernels' transform is the forward one's at the flipped points, transposed:
    /// what lets the input gradient read the forward's transformed kernels.
    #[test]
    fn the_flipped_kernels_transform_is_the_forward_one_at_the_flipped_points() {
        let (outputs, channels) = (3, 2);
        let weight = kernels(outputs, channels);
        let u = transform_weight(&weight, outputs, channels);
        let v = transform_weight(&flipped(&weight, outputs, channels), channels, outputs);
        for point in 0..POINTS {
            for o in 0..outputs {
                for c in 0..channels {
                    let forward = u[(flipped_point(point) * outputs + o) * channels + c];
                    let flip = v[(point * channels + c) * outputs + o];
                    assert!((forward - flip).abs() < 1e-6, "point {point}, ({o}, {c})");
                }
            }
        }
    }

    /// The Flex kernel equals a direct cross-correlation written out in the test, on odd sizes
    /// (tiles cut at the border) and every padding, with and without a bias, forward and read
    /// flipped.
    #[cfg(feature = "flex")]
    #[test]
    fn the_flex_kernel_equals_a_direct_convolution() {
        use super::flex::{Geometry, Kernels, conv2d};

        let direct = |x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry, batch| {
            let (oh, ow) = (g.out_h(), g.out_w());
            let mut out = vec![0.0_f32; batch * g.outputs * oh * ow];
            for n in 0..batch {
                for o in 0..g.outputs {
                    for y in 0..oh {
                        for xo in 0..ow {
                            let mut sum = bias.map_or(0.0, |b| f64::from(b[o]));
                            for c in 0..g.channels {
                                for ky in 0..3 {
                                    for kx in 0..3 {
                                        let iy = (y + ky) as isize - g.padding as isize;
                                        let ix = (xo + kx) as isize - g.padding as isize;
                                        if iy < 0 || ix < 0 {
                                            continue;
                                        }
                                        let (iy, ix) = (iy as usize, ix as usize);
                                        if iy >= g.height || ix >= g.width {
                                            continue;
                                        }
                                        let xv = x
                                            [((n * g.channels + c) * g.height + iy) * g.width + ix];
                                        let wv = w[((o * g.channels + c) * 3 + ky) * 3 + kx];
                                        sum += f64::from(xv) * f64::from(wv);
                                    }
                                }
                            }
                            out[((n * g.outputs + o) * oh + y) * ow + xo] = sum as f32;
                        }
                    }
                }
            }
            out
        };
        for (batch, channels, outputs, height, width, padding) in [
            (2, 3, 4, 7, 5, 1),
            (1, 2, 2, 6, 6, 0),
            (1, 4, 3, 5, 8, 2),
            (3, 2, 5, 1, 1, 1),
        ] {
            let g = Geometry {
                channels,
                height,
                width,
                outputs,
                padding,
            };
            let x: Vec<f32> = (0..batch * channels * height * width)
                .map(|i| ((i * 13 + 5) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let weight = kernels(outputs, channels);
            let bias: Vec<f32> = (0..outputs).map(|o| o as f32 * 0.25 - 0.5).collect();
            let u = transform_weight(&weight, outputs, channels);
            let label = format!("{batch}×{channels}×{height}×{width} → {outputs}, pad {padding}");
            for bias in [None, Some(bias.as_slice())] {
                let ours = conv2d(&x, batch, Kernels::Forward(&u), bias, g);
                let theirs = direct(&x, &weight, bias, &g, batch);
                let worst = ours
                    .iter()
                    .zip(&theirs)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0_f32, f32::max);
                assert!(worst < 1e-5, "{label}: differs by {worst:e}");
            }
            // The input gradient's reading: the flipped weights' convolution from the
            // forward's transformed kernels.
            let flipped_geometry = Geometry {
                channels: outputs,
                outputs: channels,
                ..g
            };
            let grad: Vec<f32> = (0..batch * outputs * height * width)
                .map(|i| ((i * 5 + 1) % 9) as f32 / 4.0 - 1.0)
                .collect();
            let ours = conv2d(&grad, batch, Kernels::Flipped(&u), None, flipped_geometry);
            let flip = flipped(&weight, outputs, channels);
            let theirs = direct(&grad, &flip, None, &flipped_geometry, batch);
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0_f32, f32::max);
            assert!(worst < 1e-5, "{label}, flipped: differs by {worst:e}");
        }
    }
}
