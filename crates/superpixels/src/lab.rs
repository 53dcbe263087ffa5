//! sRGB to CIE L*a*b*, as `skimage.color.rgb2lab` converts (illuminant D65, 2° observer).

/// sRGB (linear) to XYZ: the matrix of `skimage.color.colorconv.xyz_from_rgb`.
const XYZ_FROM_RGB: [[f64; 3]; 3] = [
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
];

/// The D65 white point for the 2° observer, as skimage tabulates it (`Y` = 1).
const D65_WHITE: [f64; 3] = [0.95047, 1.0, 1.08883];

/// Converts one sRGB colour with channels in `[0, 1]` to CIE L*a*b* (D65, 2° observer), the
/// arithmetic of scikit-image's `rgb2lab` (`rgb2xyz` then `xyz2lab`) in `f64`:
///
/// * each channel is linearised with the sRGB curve, `((v + 0.055) / 1.055)^2.4` above 0.04045
///   and `v / 12.92` at or below it;
/// * XYZ is the product with skimage's `xyz_from_rgb` matrix, summed red, green, blue;
/// * each of X, Y, Z is divided by the white point (0.95047, 1, 1.08883) and mapped by `t^(1/3)`
///   above 0.008856 and `7.787 t + 16/116` at or below it (skimage's constants, not CIE's exact
///   fractions);
/// * L* = 116 f(Y) − 16, a* = 500 (f(X) − f(Y)), b* = 200 (f(Y) − f(Z)).
///
/// `pow` and `cbrt` are the C library's; NumPy evaluates them with its own vectorised routines
/// and the matrix product through BLAS, which may round the last bit differently (the results
/// lie within a few units in the last place, under 1e-12 in L*a*b* units).
///
/// ```
/// use gradcam_superpixels::rgb_to_lab;
///
/// let [l, a, b] = rgb_to_lab([1.0, 1.0, 1.0]);
/// assert!((l - 100.0).abs() < 1e-4 && a.abs() < 1e-2 && b.abs() < 1e-2);
/// assert_eq!(rgb_to_lab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
/// ```
pub fn rgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    lab_from_linear(rgb.map(linearise))
}

/// The sRGB transfer curve's inverse: a channel in `[0, 1]` to linear light.
pub(crate) fn linearise(v: f64) -> f64 {
    if v > 0.04045 {
        ((v + 0.055) / 1.055).powf(2.4)
    } else {
        v / 12.92
    }
}

/// [`rgb_to_lab`] from linearised channels.
pub(crate) fn lab_from_linear(linear: [f64; 3]) -> [f64; 3] {
    let mut f = [0.0; 3];
    for (i, (row, white)) in XYZ_FROM_RGB.iter().zip(D65_WHITE).enumerate() {
        let xyz = linear[0] * row[0] + linear[1] * row[1] + linear[2] * row[2];
        let t = xyz / white;
        f[i] = if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        };
    }
    [
        116.0 * f[1] - 16.0,
        500.0 * (f[0] - f[1]),
        200.0 * (f[1] - f[2]),
    ]
}
