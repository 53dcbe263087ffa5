//! Non-negative matrix factorisation `X ≈ W·H` as scikit-learn's `NMF(init="random",
//! solver="cd")` computes it (the Frobenius loss, no regularisation, coordinate descent without
//! shuffling), from the same random start: numpy's legacy `RandomState(seed)` normal draws.
//! Written once here: the linfa family's NMF starts and iterates differently, and the peer's
//! result depends on both (the factorisation is not unique).

use nalgebra::DMatrix;
use rand_mt::Mt;

/// How the factorisation runs (scikit-learn's `n_components`, `max_iter`, `tol`,
/// `random_state`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NmfSettings {
    pub components: usize,
    pub max_iterations: usize,
    pub tolerance: f64,
    pub seed: u32,
}

/// `x` (`rows × columns`, non-negative) factorised into `W` (`rows × components`) and `H`
/// (`components × columns`), both non-negative, in `f32` as scikit-learn keeps a `float32`
/// input.
pub(crate) fn factorize(x: &DMatrix<f32>, settings: NmfSettings) -> (DMatrix<f32>, DMatrix<f32>) {
    let (rows, columns) = x.shape();
    let k = settings.components;
    // scikit-learn's `_initialize_nmf(init="random")`: H first, then W, each drawn row-major,
    // scaled by √(mean(X) / k) and made non-negative.
    let mean = (x.iter().map(|&v| f64::from(v)).sum::<f64>() / (rows * columns) as f64) as f32;
    let scale = (mean / k as f32).sqrt();
    let mut normal = LegacyNormal::new(settings.seed);
    let mut draw = |r: usize, c: usize| {
        let row_major: Vec<f64> = (0..r * c)
            .map(|_| f64::from((scale * normal.next() as f32).abs()))
            .collect();
        DMatrix::from_row_slice(r, c, &row_major)
    };
    let h = draw(k, columns);
    let mut w = draw(rows, k);
    let mut ht = h.transpose();

    // `_fit_coordinate_descent`: W then H each iteration, stopped when the projected gradient's
    // size falls below `tolerance` of the first iteration's. The factors hold f32 values (every
    // update is rounded to f32, as the peer computes) in f64 matrices, the products' type.
    let x64 = x.map(f64::from);
    let xt64 = x64.transpose();
    let mut initial = 0.0_f64;
    for iteration in 1..=settings.max_iterations {
        let violation = update(&x64, &mut w, &ht) + update(&xt64, &mut ht, &w);
        if iteration == 1 {
            initial = violation;
        }
        if initial == 0.0 || violation / initial <= settings.tolerance {
            break;
        }
    }
    (w.map(|v| v as f32), ht.transpose().map(|v| v as f32))
}

/// Rows of a factor updated together: a block of its `k` columns (f64) and of the gradients
/// stays in the first levels of cache.
const BLOCK: usize = 1024;

/// Partial sums of the stopping rule's violation.
const LANES: usize = 8;

/// One sweep of coordinate descent over `w` (`n × k`) for `x ≈ w·htᵀ` (`x`: `n × m`, `ht`:
/// `m × k`), components in order, as scikit-learn's `_update_cdnmf_fast` (in `f32`): returns
/// the sum of the projected gradients' magnitudes.
fn update(x: &DMatrix<f64>, w: &mut DMatrix<f64>, ht: &DMatrix<f64>) -> f64 {
    // The two products summed in f64 (each product of f32 values exact there) and rounded: the
    // float32 values the peer's BLAS approximates. Summed in f32 instead, the two sides'
    // different rounding of these sums over thousands of cells moved the result ten times more
    // (3.8e-5 of H's largest value after 200 sweeps, against 3.6e-6).
    let hht = product(ht, true, ht).map(|v| v as f32);
    let xht = product(x, false, ht).map(|v| v as f32);
    let (n, k) = w.shape();
    // Block by block of rows, and within a block column by column: the cells of one component
    // do not depend on each other, so each column's gradients are taken at once (in the peer's
    // order of terms) before it is updated; a block's columns stay in cache across the `k²`
    // passes that take the gradients, where whole columns of a large `n` were read `k` times
    // each from memory.
    let columns = w.as_mut_slice();
    let xht = xht.as_slice();
    let mut gradients = vec![0.0_f32; BLOCK.min(n)];
    // Each component's projected gradients' magnitudes, summed block by block.
    let mut violations = vec![0.0_f32; k];
    for start in (0..n).step_by(BLOCK) {
        let rows = start..(start + BLOCK).min(n);
        let gradients = &mut gradients[..rows.len()];
        for t in 0..k {
            let hess = hht[(t, t)];
            for (g, &x) in gradients
                .iter_mut()
                .zip(&xht[t * n + rows.start..t * n + rows.end])
            {
                *g = -x;
            }
            for r in 0..k {
                let h = hht[(t, r)];
                let column = &columns[r * n + rows.start..r * n + rows.end];
                for (g, &v) in gradients.iter_mut().zip(column) {
                    *g += h * v as f32;
                }
            }
            let column = &mut columns[t * n + rows.start..t * n + rows.end];
            // The projected gradients' magnitudes summed in eight lanes (a sum the compiler
            // can vectorise; the stopping rule reads it, not the factors).
            let mut lanes = [0.0_f32; LANES];
            for (gradients, values) in gradients.chunks(LANES).zip(column.chunks(LANES)) {
                for ((lane, &gradient), &value) in lanes.iter_mut().zip(gradients).zip(values) {
                    let projected = if value == 0.0 {
                        gradient.min(0.0)
                    } else {
                        gradient
                    };
                    *lane += projected.abs();
                }
            }
            violations[t] += lanes.iter().sum::<f32>();
            if hess != 0.0 {
                for (&gradient, value) in gradients.iter().zip(column) {
                    *value = f64::from((*value as f32 - gradient / hess).max(0.0));
                }
            }
        }
    }
    let violation: f32 = violations.iter().sum();
    f64::from(violation)
}

/// `lhs · rhs`, or `lhsᵀ · rhs` when `transpose`, by gemm (vectorised for the CPU at hand;
/// several threads for a very large product).
fn product(lhs: &DMatrix<f64>, transpose: bool, rhs: &DMatrix<f64>) -> DMatrix<f64> {
    // Column-major storage: element (i, j) of an `r × c` matrix at `i + j·r`.
    let (rows, inner, lhs_row, lhs_col) = if transpose {
        (lhs.ncols(), lhs.nrows(), lhs.nrows(), 1)
    } else {
        (lhs.nrows(), lhs.ncols(), 1, lhs.nrows())
    };
    assert_eq!(inner, rhs.nrows(), "product of mismatched matrices");
    let columns = rhs.ncols();
    let mut out = DMatrix::<f64>::zeros(rows, columns);
    // The factorisation's products are thin (`k` columns on one side): a 1000-digit batch's
    // 6.4-million-term products ran 15 % faster on one thread than split over two cores (the
    // split's synchronisation outweighs it), so only far larger ones are split.
    let parallelism = if rows * columns * inner >= 1 << 26 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `out` is `rows × columns` column-major (row stride 1, column stride `rows`);
    // `lhs` read through the strides above is `rows × inner` within its `inner · rows`
    // elements, `rhs` is `inner × columns` column-major; `out` is borrowed mutably alone.
    unsafe {
        gemm::gemm(
            rows,
            columns,
            inner,
            out.as_mut_ptr(),
            rows as isize,
            1,
            false,
            lhs.as_ptr(),
            lhs_col as isize,
            lhs_row as isize,
            rhs.as_ptr(),
            rhs.nrows() as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    out
}

/// numpy's legacy `RandomState(seed).standard_normal()`: MT19937 seeded by `init_genrand`, 53-bit
/// uniforms, the polar method keeping its second value for the next call.
struct LegacyNormal {
    mt: Mt,
    spare: Option<f64>,
}

impl LegacyNormal {
    fn new(seed: u32) -> Self {
        Self {
            mt: Mt::new(seed),
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        let a = f64::from(self.mt.next_u32() >> 5);
        let b = f64::from(self.mt.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    fn next(&mut self) -> f64 {
        if let Some(value) = self.spare.take() {
            return value;
        }
        loop {
            let x1 = 2.0 * self.uniform() - 1.0;
            let x2 = 2.0 * self.uniform() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.spare = Some(f * x1);
                return f * x2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 2's `np.random.RandomState(0).standard_normal(6)`.
    #[test]
    fn legacy_normal_draws_are_numpys() {
        let mut normal = LegacyNormal::new(0);
        let drawn: Vec<f64> = (0..6).map(|_| normal.next()).collect();
        let numpy = [
            1.764_052_345_967_664,
            0.400_157_208_367_223,
            0.978_737_984_105_739,
            2.240_893_199_201_458,
            1.867_557_990_149_967,
            -0.977_277_879_876_411,
        ];
        for (ours, theirs) in drawn.iter().zip(numpy) {
            assert!((ours - theirs).abs() < 1e-15, "{drawn:?}");
        }
    }

    /// An exact rank-2 product is recovered (the fit's residual falls to float32 rounding).
    /// The gemm product equals nalgebra's, plain and transposed.
    #[test]
    fn products_are_nalgebras() {
        let a = DMatrix::from_fn(7, 5, |i, j| (i * 5 + j) as f64 * 0.25 - 3.0);
        let b = DMatrix::from_fn(5, 3, |i, j| (i + 2 * j) as f64 - 1.5);
        let c = DMatrix::from_fn(7, 3, |i, j| (i * j) as f64 + 0.5);
        assert_eq!(product(&a, false, &b), &a * &b);
        assert_eq!(product(&a, true, &c), a.tr_mul(&c));
    }

    #[test]
    fn recovers_a_non_negative_product() {
        let w = DMatrix::from_row_slice(4, 2, &[1.0, 0.0, 0.5, 2.0, 0.0, 1.0, 3.0, 1.0]);
        let h = DMatrix::from_row_slice(2, 5, &[1.0, 2.0, 0.0, 1.0, 0.5, 0.0, 1.0, 3.0, 1.0, 2.0]);
        let x = &w * &h;
        let settings = NmfSettings {
            components: 2,
            max_iterations: 2000,
            tolerance: 1e-9,
            seed: 0,
        };
        let (fw, fh) = factorize(&x, settings);
        assert!(fw.iter().chain(fh.iter()).all(|&v| v >= 0.0));
        let residual = (&fw * &fh - &x).abs().max();
        assert!(residual < 1e-3, "residual {residual}");
    }
}
