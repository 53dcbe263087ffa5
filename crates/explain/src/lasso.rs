//! The weighted Lasso fit of Lime's surrogate model, as scikit-learn's `Lasso(alpha)` with
//! `fit_intercept=True` and `sample_weight` (what Captum's `SkLearnLasso` calls): the weights
//! rescaled to sum to the sample count, the data centred on their weighted means and scaled by
//! the weights' square roots, then cyclic coordinate descent with gap-safe screening and
//! scikit-learn's stopping rule (the largest coordinate update at most `tol` times the largest
//! coefficient, then the duality gap at most `tol · ‖y‖²`). Written out rather than taken from
//! a crate because the answer must be scikit-learn's, stopping rule included: at its default
//! tolerance the solver stops short of the exact minimiser, and Captum's users see that point.
//! It runs in float64 on the host (a few hundred samples of a few hundred features).

/// A fitted linear model: `y ≈ x · coefficients + intercept`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LassoFit {
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    /// Full passes over the coordinates.
    pub iterations: usize,
    /// Whether the duality gap reached the tolerance within the passes allowed.
    pub converged: bool,
}

/// scikit-learn's settings: the L1 strength and the solver's budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LassoSettings {
    pub alpha: f64,
    pub max_iter: usize,
    pub tol: f64,
}

/// Fits `x` (`samples × features`, row-major) to `y` with sample weights `w` (positive).
pub(crate) fn weighted_lasso(x: &[f64], y: &[f64], w: &[f64], settings: LassoSettings) -> LassoFit {
    let samples = y.len();
    let features = x.len().checked_div(samples).unwrap_or(0);
    let total: f64 = w.iter().sum();
    // scikit-learn rescales the weights to sum to the sample count, which leaves the weighted
    // means unchanged and scales the data by √(n w / Σw).
    let weights: Vec<f64> = w.iter().map(|v| v * samples as f64 / total).collect();
    let weight_sum: f64 = weights.iter().sum();
    let x_offset: Vec<f64> = (0..features)
        .map(|f| {
            (0..samples)
                .map(|s| weights[s] * x[s * features + f])
                .sum::<f64>()
                / weight_sum
        })
        .collect();
    let y_offset = (0..samples).map(|s| weights[s] * y[s]).sum::<f64>() / weight_sum;
    let root: Vec<f64> = weights.iter().map(|v| v.sqrt()).collect();
    // Column-major, as the solver walks columns.
    let columns: Vec<Vec<f64>> = (0..features)
        .map(|f| {
            (0..samples)
                .map(|s| (x[s * features + f] - x_offset[f]) * root[s])
                .collect()
        })
        .collect();
    let y: Vec<f64> = (0..samples).map(|s| (y[s] - y_offset) * root[s]).collect();
    let (coefficients, iterations, converged) = coordinate_descent(
        &columns,
        &y,
        settings.alpha * samples as f64,
        settings.max_iter,
        settings.tol,
    );
    let intercept = y_offset - dot(&x_offset, &coefficients);
    LassoFit {
        coefficients,
        intercept,
        iterations,
        converged,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The duality gap of `½‖R‖² + alpha‖w‖₁` at `w` with residuals `r`, and `Xᵀr`'s largest
/// magnitude (scikit-learn's `gap_enet`, formulation A, without the L2 term).
fn gap(columns: &[Vec<f64>], y: &[f64], r: &[f64], w: &[f64], alpha: f64) -> (f64, Vec<f64>, f64) {
    let xtr: Vec<f64> = columns.iter().map(|c| dot(c, r)).collect();
    let dual_norm = xtr.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let r_norm2 = dot(r, r);
    let ry = dot(r, y);
    let l1: f64 = w.iter().map(|v| v.abs()).sum();
    let primal = 0.5 * r_norm2 + alpha * l1;
    let scale = if dual_norm > alpha {
        alpha / dual_norm
    } else {
        1.0
    };
    let dual = -0.5 * scale * scale * r_norm2 + scale * ry;
    (primal - dual, xtr, dual_norm)
}

/// scikit-learn's `enet_coordinate_descent` for `beta = 0`, cyclic, from zero, with its gap-safe
/// screening (Ndiaye et al. 2017): returns the coefficients, the passes made and whether the
/// gap reached `tol · ‖y‖²`.
fn coordinate_descent(
    columns: &[Vec<f64>],
    y: &[f64],
    alpha: f64,
    max_iter: usize,
    tol: f64,
) -> (Vec<f64>, usize, bool) {
    let features = columns.len();
    let norms: Vec<f64> = columns.iter().map(|c| dot(c, c)).collect();
    let mut w = vec![0.0; features];
    let mut r = y.to_vec();
    let gap_tol = tol * dot(y, y);
    let (mut g, mut xtr, mut dual_norm) = gap(columns, y, &r, &w, alpha);
    if g <= gap_tol {
        return (w, 0, true);
    }
    let screening = alpha > 0.0;
    let mut excluded = vec![false; features];
    let mut active: Vec<usize> = (0..features).collect();
    // Features whose dual constraint is provably inactive at the optimum are zero there.
    let screen = |excluded: &mut Vec<bool>,
                  w: &mut Vec<f64>,
                  r: &mut Vec<f64>,
                  xtr: &[f64],
                  dual_norm: f64,
                  g: f64,
                  first: bool| {
        let mut active = Vec::new();
        for j in 0..features {
            if first && norms[j] == 0.0 {
                w[j] = 0.0;
                excluded[j] = true;
                continue;
            }
            if !first && excluded[j] {
                continue;
            }
            let theta = xtr[j] / alpha.max(dual_norm);
            let d = (1.0 - theta.abs()) / norms[j].sqrt();
            if d <= (2.0 * g).sqrt() / alpha {
                active.push(j);
                excluded[j] = false;
            } else {
                if w[j] != 0.0 {
                    for (r, x) in r.iter_mut().zip(&columns[j]) {
                        *r += w[j] * x;
                    }
                    w[j] = 0.0;
                }
                excluded[j] = true;
            }
        }
        active
    };
    if screening {
        active = screen(&mut excluded, &mut w, &mut r, &xtr, dual_norm, g, true);
    }
    for iteration in 0..max_iter {
        let (mut w_max, mut d_w_max) = (0.0_f64, 0.0_f64);
        for &j in &active {
            if norms[j] == 0.0 {
                continue;
            }
            let previous = w[j];
            let tmp = dot(&columns[j], &r) + previous * norms[j];
            w[j] = tmp.signum() * (tmp.abs() - alpha).max(0.0) / norms[j];
            if w[j] != previous {
                let step = previous - w[j];
                for (r, x) in r.iter_mut().zip(&columns[j]) {
                    *r += step * x;
                }
            }
            d_w_max = d_w_max.max((w[j] - previous).abs());
            w_max = w_max.max(w[j].abs());
        }
        if w_max == 0.0 || d_w_max / w_max <= tol || iteration + 1 == max_iter {
            (g, xtr, dual_norm) = gap(columns, y, &r, &w, alpha);
            if g <= gap_tol {
                return (w, iteration + 1, true);
            }
            if screening {
                active = screen(&mut excluded, &mut w, &mut r, &xtr, dual_norm, g, false);
            }
        }
    }
    (w, max_iter, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIGHT: LassoSettings = LassoSettings {
        alpha: 0.01,
        max_iter: 100_000,
        tol: 1e-14,
    };

    /// With orthogonal, centred columns the Lasso is a soft threshold of least squares: with
    /// `n` samples, `w_j = sign(b_j) · max(|b_j| − n·alpha / ‖x_j‖², 0)`.
    #[test]
    fn an_orthogonal_design_is_soft_thresholded() {
        // Columns ±1, orthogonal and centred over 4 samples.
        let x = [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0];
        let truth = [0.5, -0.02];
        let y: Vec<f64> = (0..4)
            .map(|s| 3.0 + truth[0] * x[2 * s] + truth[1] * x[2 * s + 1])
            .collect();
        let settings = LassoSettings {
            alpha: 0.01,
            ..TIGHT
        };
        let fit = weighted_lasso(&x, &y, &[1.0; 4], settings);
        // n·alpha / ‖x_j‖² = 4 · 0.01 / 4.
        assert!((fit.coefficients[0] - 0.49).abs() < 1e-12, "{fit:?}");
        assert!((fit.coefficients[1] + 0.01).abs() < 1e-12, "{fit:?}");
        assert!((fit.intercept - 3.0).abs() < 1e-12);
        assert!(fit.converged);
        // A threshold above a coefficient zeroes it.
        let fit = weighted_lasso(
            &x,
            &y,
            &[1.0; 4],
            LassoSettings {
                alpha: 0.05,
                ..TIGHT
            },
        );
        assert_eq!(fit.coefficients[1], 0.0);
        assert!((fit.coefficients[0] - 0.45).abs() < 1e-12);
    }

    /// The weights act as repeated samples: weight 2 on a sample equals that sample twice.
    #[test]
    fn weights_are_repetitions() {
        let x = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let y = [0.3, 1.2, 2.0, -0.4, 0.9];
        let w = [1.0, 2.0, 1.0, 1.0, 3.0];
        let weighted = weighted_lasso(&x, &y, &w, TIGHT);
        let (mut xr, mut yr) = (Vec::new(), Vec::new());
        for s in 0..5 {
            for _ in 0..w[s] as usize {
                xr.extend_from_slice(&x[2 * s..2 * s + 2]);
                yr.push(y[s]);
            }
        }
        let repeated = weighted_lasso(&xr, &yr, &vec![1.0; yr.len()], TIGHT);
        for (a, b) in weighted.coefficients.iter().zip(&repeated.coefficients) {
            assert!((a - b).abs() < 1e-10, "{weighted:?} {repeated:?}");
        }
        assert!((weighted.intercept - repeated.intercept).abs() < 1e-10);
    }

    /// A column that never varies gets no coefficient; equal scores fit nothing.
    #[test]
    fn constant_columns_and_scores_give_zero() {
        let x = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let fit = weighted_lasso(&x, &[1.0, 2.0, 0.5], &[1.0; 3], TIGHT);
        assert_eq!(fit.coefficients[0], 0.0);
        assert!(fit.coefficients[1] > 0.0);
        let fit = weighted_lasso(&x, &[2.0; 3], &[1.0; 3], TIGHT);
        assert_eq!(fit.coefficients, [0.0, 0.0]);
        assert_eq!(fit.intercept, 2.0);
    }
}
