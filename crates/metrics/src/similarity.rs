//! Similarity of two maps: Spearman rank correlation and SSIM, as SciPy's `spearmanr` and
//! scikit-image's `structural_similarity` compute them.

use gradcam_explain::SettingError;

use crate::error::{MetricError, Result};

/// Side of SSIM's square window (scikit-image's default `win_size`).
pub const SSIM_WINDOW: usize = 7;

/// Spearman's rank correlation of two equally long sequences: the Pearson correlation of their
/// ranks, tied values sharing their average rank (SciPy's `spearmanr`). A constant sequence has
/// no ranking, where SciPy returns NaN: this returns 1 for two identical sequences (a map agrees
/// with itself) and 0 otherwise (no rank agreement).
///
/// ```
/// use gradcam_metrics::spearman;
/// assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0])?, 1.0);
/// assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0])?, -1.0);
/// # Ok::<(), gradcam_metrics::MetricError>(())
/// ```
pub fn spearman(a: &[f32], b: &[f32]) -> Result<f32> {
    if a.len() != b.len() {
        return Err(MetricError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    if a == b {
        return Ok(1.0);
    }
    Ok(pearson(&ranks(a), &ranks(b)) as f32)
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    if a.is_empty() {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0)
    }
}

/// The structural similarity of two `width × height` single-channel maps, as scikit-image's
/// `structural_similarity(a, b, data_range=data_range)` with its defaults: a 7×7 uniform window,
/// sample covariance, `K1 = 0.01`, `K2 = 0.03`, the mean over the windows that lie inside the
/// image.
///
/// ```
/// use gradcam_metrics::ssim;
/// let map: Vec<f32> = (0..100).map(|i| (i % 10) as f32 / 9.0).collect();
/// assert!((ssim(&map, &map, 10, 10, 1.0)? - 1.0).abs() < 1e-6);
/// # Ok::<(), gradcam_metrics::MetricError>(())
/// ```
pub fn ssim(a: &[f32], b: &[f32], width: usize, height: usize, data_range: f32) -> Result<f32> {
    if a.len() != b.len() {
        return Err(MetricError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    if a.len() != width * height {
        return Err(MetricError::LengthMismatch {
            left: a.len(),
            right: width * height,
        });
    }
    SettingError::check(
        width >= SSIM_WINDOW && height >= SSIM_WINDOW,
        "ssim",
        "width × height",
        format!("{width}×{height}"),
        "at least 7×7 (the window)",
    )?;
    SettingError::check(
        data_range.is_finite() && data_range > 0.0,
        "ssim",
        "data_range",
        data_range,
        "a finite value > 0",
    )?;
    let count = (SSIM_WINDOW * SSIM_WINDOW) as f64;
    let covariance_norm = count / (count - 1.0);
    let c1 = (0.01 * f64::from(data_range)).powi(2);
    let c2 = (0.03 * f64::from(data_range)).powi(2);
    let at = |v: &[f32], x: usize, y: usize| f64::from(v[y * width + x]);
    let mut total = 0.0;
    let windows = (width - SSIM_WINDOW + 1) * (height - SSIM_WINDOW + 1);
    for top in 0..=height - SSIM_WINDOW {
        for left in 0..=width - SSIM_WINDOW {
            let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in top..top + SSIM_WINDOW {
                for x in left..left + SSIM_WINDOW {
                    let (p, q) = (at(a, x, y), at(b, x, y));
                    sx += p;
                    sy += q;
                    sxx += p * p;
                    syy += q * q;
                    sxy += p * q;
                }
            }
            let (ux, uy) = (sx / count, sy / count);
            let vx = covariance_norm * (sxx / count - ux * ux);
            let vy = covariance_norm * (syy / count - uy * uy);
            let vxy = covariance_norm * (sxy / count - ux * uy);
            total += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
        }
    }
    Ok((total / windows as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_average_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn constant_maps_have_no_rank_correlation() {
        assert_eq!(spearman(&[1.0; 4], &[1.0, 2.0, 3.0, 4.0]).unwrap(), 0.0);
        assert_eq!(spearman(&[0.0; 4], &[0.0; 4]).unwrap(), 1.0);
    }

    #[test]
    fn ssim_refuses_small_or_mismatched_maps() {
        assert!(ssim(&[0.0; 36], &[0.0; 36], 6, 6, 1.0).is_err());
        assert!(matches!(
            ssim(&[0.0; 49], &[0.0; 48], 7, 7, 1.0),
            Err(MetricError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn ssim_of_unrelated_maps_is_low() {
        let a: Vec<f32> = (0..196).map(|i| ((i * 37) % 11) as f32 / 10.0).collect();
        let b: Vec<f32> = (0..196).map(|i| ((i * 53) % 7) as f32 / 6.0).collect();
        assert!(ssim(&a, &b, 14, 14, 1.0).unwrap() < 0.5);
    }
}
