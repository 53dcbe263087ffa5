//! Single-map renderers: each turns a [`MapRef`] into an [`RgbImage`].

use std::fmt;
use std::str::FromStr;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use crate::colormap::clamp_unit;
use crate::{Colormap, MapRef, VizError};

/// Largest width or height, in pixels, of any image this crate produces.
///
/// It keeps a mistaken scale factor from asking for gigabytes of memory.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// How a signed map (guided backprop, guided Grad-CAM) becomes colours.
///
/// Each style first normalises the map (see [`SignedStyle::normalise`]) and
/// then colours the normalised values:
///
/// | style | normalised value | colours |
/// |---|---|---|
/// | `Diverging` | `v / max(abs(v))`, in `[-1, 1]` | blue (−1), white (0), red (+1), matplotlib's `bwr` |
/// | `AbsPercentile` | `min(abs(v) / threshold, 1)`, in `[0, 1]` | black (0) to white (1) |
/// | `Positive` | min-max of `max(v, 0)`, in `[0, 1]` | black (0) to white (1) |
/// | `Deprocess` | `(v − mean) / (std + 1e-5) · 0.1 + 0.5`, clipped to `[0, 1]` | grey, or RGB for a 3-plane map |
///
/// A map of several planes (the pixel attribution of an RGB image) is drawn from the sum of
/// its planes, as Captum's `visualize_image_attr` does — except in `Deprocess`, which is
/// pytorch-grad-cam's `deprocess_image` and draws the planes as the RGB channels.
///
/// A map that is zero everywhere normalises to all zeros (white for
/// `Diverging`, black otherwise) rather than dividing by zero.
///
/// Names round-trip through [`Display`](fmt::Display) and [`FromStr`]:
/// `diverging`, `positive`, `abs` (percentile 98) and `abs:<percentile>`.
///
/// ```
/// use gradcam_viz::{MapRef, SignedStyle};
///
/// let values = [-2.0, 0.0, 1.0, 4.0];
/// let map = MapRef::new(&values, 2, 2)?;
/// assert_eq!(SignedStyle::Diverging.normalise(map)?, [-0.5, 0.0, 0.25, 1.0]);
/// assert_eq!(SignedStyle::Positive.normalise(map)?, [0.0, 0.0, 0.25, 1.0]);
///
/// let style: SignedStyle = "abs:99".parse()?;
/// assert_eq!(style, SignedStyle::AbsPercentile { percentile: 99.0 });
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum SignedStyle {
    /// Centred at 0 with a symmetric scale: each value is divided by the
    /// largest absolute value, so the sign stays visible.
    #[default]
    Diverging,
    /// Absolute value, clipped at a threshold and scaled to `[0, 1]`, as
    /// Captum's `visualize_image_attr(sign="absolute_value", outlier_perc=...)`.
    ///
    /// The threshold is Captum's cumulative-sum threshold: sort `abs(v)`
    /// ascending and take the first value at which the running sum reaches
    /// `percentile` percent of the total. So `percentile = 100 - outlier_perc`,
    /// and Captum's default `outlier_perc = 2` is `percentile: 98.0`. Values at
    /// or above the threshold become 1.
    AbsPercentile {
        /// Share of the total absolute attribution, in percent (`0..=100`),
        /// kept below the clip threshold.
        percentile: f32,
    },
    /// Negative values are clipped to 0, then the map is min-max scaled
    /// to `[0, 1]`.
    Positive,
    /// pytorch-grad-cam's `deprocess_image`: standardised over every value, scaled by 0.1,
    /// centred on 0.5 and clipped; a guided backprop of an RGB image is drawn in colour.
    Deprocess,
}

impl SignedStyle {
    /// Captum's default absolute-value style (`outlier_perc = 2`).
    pub const CAPTUM_ABS: SignedStyle = SignedStyle::AbsPercentile { percentile: 98.0 };

    /// Normalises `map` to display values: `[-1, 1]` for
    /// [`Diverging`](Self::Diverging), `[0, 1]` for the other styles.
    ///
    /// # Errors
    ///
    /// [`VizError::InvalidPercentile`] if an `AbsPercentile` percentile is NaN
    /// or outside `[0, 100]`.
    pub fn normalise(self, map: MapRef<'_>) -> Result<Vec<f32>, VizError> {
        self.validate()?;
        let summed;
        let values = if self == SignedStyle::Deprocess || map.channels() == 1 {
            map.values()
        } else {
            summed = map.channel_sum();
            &summed
        };
        let out = match self {
            SignedStyle::Deprocess => {
                let n = values.len().max(1) as f64;
                let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let variance = values
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let scale = 0.1 / (variance.sqrt() + 1e-5);
                values
                    .iter()
                    .map(|&v| ((f64::from(v) - mean) * scale + 0.5).clamp(0.0, 1.0) as f32)
                    .collect()
            }
            SignedStyle::Diverging => {
                let max = values.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
                values
                    .iter()
                    .map(|&v| ratio(v, max).clamp(-1.0, 1.0))
                    .collect()
            }
            SignedStyle::AbsPercentile { percentile } => {
                let threshold = cumulative_sum_threshold(values, percentile);
                values
                    .iter()
                    .map(|&v| ratio(v.abs(), threshold).min(1.0))
                    .collect()
            }
            SignedStyle::Positive => {
                let (lo, hi) = values.iter().fold((f32::INFINITY, 0.0_f32), |(lo, hi), v| {
                    let p = v.max(0.0);
                    (lo.min(p), hi.max(p))
                });
                values
                    .iter()
                    .map(|&v| ratio(v.max(0.0) - lo, hi - lo).clamp(0.0, 1.0))
                    .collect()
            }
        };
        Ok(out)
    }

    /// The colour of a value already normalised by [`normalise`](Self::normalise).
    pub fn color(self, normalised: f32) -> [u8; 3] {
        match self {
            SignedStyle::Diverging => {
                let v = if normalised.is_nan() {
                    0.0
                } else {
                    normalised.clamp(-1.0, 1.0)
                };
                // Fade the far channel(s) from 255 to 0 as |v| goes to 1.
                let fade = ((1.0 - v.abs()) * 255.0).round() as u8;
                if v < 0.0 {
                    [fade, fade, 255]
                } else {
                    [255, fade, fade]
                }
            }
            SignedStyle::AbsPercentile { .. } | SignedStyle::Positive | SignedStyle::Deprocess => {
                Colormap::Gray.rgb(normalised)
            }
        }
    }

    /// Range of normalised values: `(-1, 1)` or `(0, 1)`.
    pub(crate) fn range(self) -> (f32, f32) {
        match self {
            SignedStyle::Diverging => (-1.0, 1.0),
            _ => (0.0, 1.0),
        }
    }

    pub(crate) fn validate(self) -> Result<(), VizError> {
        match self {
            SignedStyle::AbsPercentile { percentile } if !(0.0..=100.0).contains(&percentile) => {
                Err(VizError::InvalidPercentile { percentile })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for SignedStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedStyle::Diverging => f.write_str("diverging"),
            SignedStyle::AbsPercentile { percentile } => write!(f, "abs:{percentile}"),
            SignedStyle::Positive => f.write_str("positive"),
            SignedStyle::Deprocess => f.write_str("deprocess"),
        }
    }
}

impl FromStr for SignedStyle {
    type Err = VizError;

    /// Parses `diverging`, `positive`, `deprocess`, `abs` (percentile 98, Captum's
    /// default) or `abs:<percentile>`, ignoring ASCII case and surrounding
    /// white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        let unknown = || VizError::UnknownName {
            what: "signed style",
            name: s.to_owned(),
            expected: "diverging, positive, deprocess, abs, abs:<percentile>",
        };
        let style = match name.as_str() {
            "diverging" => SignedStyle::Diverging,
            "positive" => SignedStyle::Positive,
            "deprocess" => SignedStyle::Deprocess,
            "abs" => SignedStyle::CAPTUM_ABS,
            other => {
                let p = other.strip_prefix("abs:").ok_or_else(unknown)?;
                let percentile = p.trim().parse::<f32>().map_err(|_| unknown())?;
                SignedStyle::AbsPercentile { percentile }
            }
        };
        style.validate()?;
        Ok(style)
    }
}

/// `num / den`, with `x / 0` read as the limit of `x / eps`: 0 for 0, else ±1.
///
/// This is what keeps an all-zero map (or a zero threshold) free of NaN.
fn ratio(num: f32, den: f32) -> f32 {
    if den > 0.0 {
        num / den
    } else if num == 0.0 {
        0.0
    } else {
        num.signum()
    }
}

/// Captum's `_cumulative_sum_threshold(|values|, percentile)`.
fn cumulative_sum_threshold(values: &[f32], percentile: f32) -> f32 {
    let mut abs: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    abs.sort_unstable_by(f32::total_cmp);
    // f64 running sum: thousands of small f32 values would drift otherwise.
    let total: f64 = abs.iter().map(|&v| f64::from(v)).sum();
    let target = total * 0.01 * f64::from(percentile);
    let mut running = 0.0_f64;
    for &v in &abs {
        running += f64::from(v);
        if running >= target {
            return v;
        }
    }
    // Only reachable through rounding at percentile 100.
    abs.last().copied().unwrap_or(0.0)
}

/// Output size of `map` magnified by `scale`, within [`MAX_IMAGE_SIDE`].
pub(crate) fn scaled_size(
    map: &MapRef<'_>,
    scale: u32,
    what: &'static str,
) -> Result<(u32, u32), VizError> {
    if scale == 0 {
        return Err(VizError::InvalidScale { scale });
    }
    let side = |n: usize| (n as u64).saturating_mul(u64::from(scale));
    let (width, height) = (side(map.width()), side(map.height()));
    check_side(what, width, height)?;
    Ok((width as u32, height as u32))
}

pub(crate) fn check_side(what: &'static str, width: u64, height: u64) -> Result<(), VizError> {
    let max = u64::from(MAX_IMAGE_SIDE);
    if width > max || height > max {
        return Err(VizError::ImageTooLarge {
            what,
            width,
            height,
            max_side: MAX_IMAGE_SIDE,
        });
    }
    Ok(())
}

/// Draws one colour per map cell as a `scale x scale` block.
pub(crate) fn paint(
    map: &MapRef<'_>,
    scale: u32,
    what: &'static str,
    color: impl Fn(usize) -> [u8; 3],
) -> Result<RgbImage, VizError> {
    let (width, height) = scaled_size(map, scale, what)?;
    let scale = scale as usize;
    let row_bytes = width as usize * 3;
    let mut image = RgbImage::new(width, height);
    let buf: &mut [u8] = &mut image;
    for (y, block) in buf.chunks_exact_mut(row_bytes * scale).enumerate() {
        let (first, rest) = block.split_at_mut(row_bytes);
        for (x, px) in first.chunks_exact_mut(3 * scale).enumerate() {
            let rgb = color(y * map.width() + x);
            for p in px.chunks_exact_mut(3) {
                p.copy_from_slice(&rgb);
            }
        }
        // Nearest-neighbour magnification: the other rows of the block repeat the first.
        for row in rest.chunks_exact_mut(row_bytes) {
            row.copy_from_slice(first);
        }
    }
    Ok(image)
}

/// Colours `map` with `colormap`, magnified `scale` times (nearest neighbour).
///
/// Values are expected in `[0, 1]` (normalised for display by the caller)
/// and are clamped.
///
/// # Errors
///
/// [`VizError::InvalidScale`] for `scale == 0`, [`VizError::ImageTooLarge`]
/// if a side would exceed [`MAX_IMAGE_SIDE`].
///
/// ```
/// use gradcam_viz::{heatmap, Colormap, MapRef};
///
/// let map = MapRef::new(&[0.0, 1.0], 2, 1)?;
/// let img = heatmap(map, Colormap::Jet, 3)?;
/// assert_eq!(img.dimensions(), (6, 3));
/// assert_eq!(img.get_pixel(0, 2).0, [0, 0, 128]);
/// assert_eq!(img.get_pixel(5, 0).0, [128, 0, 0]);
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn heatmap(map: MapRef<'_>, colormap: Colormap, scale: u32) -> Result<RgbImage, VizError> {
    let values = map.values();
    paint(&map, scale, "heat map", |i| colormap.rgb(values[i]))
}

/// Draws an image — one plane in grey levels (0 black, 1 white), three planes as RGB —
/// clamped to `[0, 1]`, magnified `scale` times (nearest neighbour).
///
/// # Errors
///
/// As [`heatmap`].
pub fn grayscale(map: MapRef<'_>, scale: u32) -> Result<RgbImage, VizError> {
    let values = map.values();
    paint(&map, scale, "image", |i| {
        pixel(&map, values, i).map(|v| (clamp_unit(v) * 255.0).round() as u8)
    })
}

/// Pixel `i` of an image as RGB in `[0, 1]`-scale values: its three planes, or its one plane
/// repeated.
pub(crate) fn pixel(map: &MapRef<'_>, values: &[f32], i: usize) -> [f32; 3] {
    if map.channels() >= 3 {
        let plane = map.width() * map.height();
        [values[i], values[plane + i], values[2 * plane + i]]
    } else {
        [values[i]; 3]
    }
}

/// The coloured `heat` map over an image (grey or RGB), as pytorch-grad-cam's
/// `show_cam_on_image`: `alpha · colormap(heat) + (1 − alpha) · image`, divided by its maximum
/// over the whole picture, then truncated to 8 bits.
///
/// `alpha = 0` gives the image (brightened to a maximum of 1), `alpha = 1` the plain heat map;
/// pytorch-grad-cam's default `image_weight = 0.5` is `alpha = 0.5`. The image and the heat map
/// are expected in `[0, 1]` and clamped.
///
/// # Errors
///
/// [`VizError::SizeMismatch`] if the maps differ in size,
/// [`VizError::InvalidAlpha`] unless `0 <= alpha <= 1`, and the errors of
/// [`heatmap`].
///
/// ```
/// use gradcam_viz::{overlay, Colormap, MapRef};
///
/// let digit = MapRef::new(&[0.5; 4], 2, 2)?;
/// let heat = MapRef::new(&[1.0; 4], 2, 2)?;
/// let img = overlay(digit, heat, Colormap::Jet, 0.5, 1)?;
/// assert_eq!(img.get_pixel(0, 0).0, [255, 127, 127]); // dark red over grey, rescaled
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn overlay(
    image: MapRef<'_>,
    heat: MapRef<'_>,
    colormap: Colormap,
    alpha: f32,
    scale: u32,
) -> Result<RgbImage, VizError> {
    image.check_same_size(&heat, "heat map")?;
    check_alpha(alpha)?;
    let (values, heat_values) = (image.values(), heat.values());
    let blended: Vec<[f32; 3]> = (0..image.width() * image.height())
        .map(|i| {
            let hot = colormap.rgb(heat_values[i]);
            let under = pixel(&image, values, i);
            std::array::from_fn(|c| {
                alpha * f32::from(hot[c]) / 255.0 + (1.0 - alpha) * clamp_unit(under[c])
            })
        })
        .collect();
    let max = blended.iter().flatten().fold(0.0_f32, |m, &v| m.max(v));
    let max = if max > 0.0 { max } else { 1.0 };
    paint(&image, scale, "overlay", |i| {
        blended[i].map(|v| (255.0 * v / max) as u8)
    })
}

pub(crate) fn check_alpha(alpha: f32) -> Result<(), VizError> {
    if (0.0..=1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(VizError::InvalidAlpha { alpha })
    }
}

/// Draws a signed map (guided backprop, guided Grad-CAM) in `style`,
/// magnified `scale` times (nearest neighbour). See [`SignedStyle`] for the
/// normalisation and colours.
///
/// # Errors
///
/// [`VizError::InvalidPercentile`] for a bad `AbsPercentile`, and the errors
/// of [`heatmap`].
///
/// ```
/// use gradcam_viz::{signed, MapRef, SignedStyle};
///
/// let map = MapRef::new(&[-1.0, 0.0, 1.0], 3, 1)?;
/// let img = signed(map, SignedStyle::Diverging, 1)?;
/// let px: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
/// assert_eq!(px, [[0, 0, 255], [255, 255, 255], [255, 0, 0]]);
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn signed(map: MapRef<'_>, style: SignedStyle, scale: u32) -> Result<RgbImage, VizError> {
    let normalised = style.normalise(map)?;
    if style == SignedStyle::Deprocess && map.channels() >= 3 {
        return paint(&map, scale, "signed map", |i| {
            pixel(&map, &normalised, i).map(|v| (v * 255.0) as u8)
        });
    }
    paint(&map, scale, "signed map", |i| style.color(normalised[i]))
}

/// A colour bar for `colormap`: vertical (1 at the top, 0 at the bottom)
/// when `height >= width`, horizontal (0 at the left) otherwise.
///
/// # Errors
///
/// [`VizError::EmptyImage`] if a side is zero, [`VizError::ImageTooLarge`]
/// if a side exceeds [`MAX_IMAGE_SIDE`].
///
/// ```
/// use gradcam_viz::{colorbar, Colormap};
///
/// let bar = colorbar(Colormap::Jet, 10, 100)?;
/// assert_eq!(bar.get_pixel(0, 0).0, [128, 0, 0]); // top: t = 1
/// assert_eq!(bar.get_pixel(9, 99).0, [0, 0, 128]); // bottom: t = 0
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn colorbar(colormap: Colormap, width: u32, height: u32) -> Result<RgbImage, VizError> {
    gradient_bar(width, height, 0.0, 1.0, |t| colormap.rgb(t))
}

/// A bar running from `lo` to `hi` (top or right end), coloured by `color`.
pub(crate) fn gradient_bar(
    width: u32,
    height: u32,
    lo: f32,
    hi: f32,
    color: impl Fn(f32) -> [u8; 3],
) -> Result<RgbImage, VizError> {
    if width == 0 || height == 0 {
        return Err(VizError::EmptyImage {
            what: "colour bar",
            width,
            height,
        });
    }
    check_side("colour bar", width.into(), height.into())?;
    let vertical = height >= width;
    let steps = if vertical { height - 1 } else { width - 1 }.max(1) as f32;
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let k = if vertical { height - 1 - y } else { x } as f32 / steps;
        image::Rgb(color(lo + (hi - lo) * k))
    }))
}

/// Encodes `image` as PNG bytes, for the caller to write wherever it likes.
///
/// # Errors
///
/// [`VizError::EmptyImage`] for an image with a zero side,
/// [`VizError::Encode`] if the encoder fails.
///
/// ```
/// use gradcam_viz::panel_png;
///
/// let img = image::RgbImage::new(4, 3);
/// let png = panel_png(&img)?;
/// assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn panel_png(image: &RgbImage) -> Result<Vec<u8>, VizError> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(VizError::EmptyImage {
            what: "image",
            width,
            height,
        });
    }
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .map_err(VizError::Encode)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(img: &RgbImage) -> Vec<[u8; 3]> {
        img.pixels().map(|p| p.0).collect()
    }

    #[test]
    fn heatmap_magnifies_without_blurring() {
        let map = MapRef::new(&[0.0, 1.0, 1.0, 0.0], 2, 2).unwrap();
        let img = heatmap(map, Colormap::Gray, 3).unwrap();
        assert_eq!(img.dimensions(), (6, 6));
        for (x, y, p) in img.enumerate_pixels() {
            let expect = if (x / 3 + y / 3) % 2 == 1 { 255 } else { 0 };
            assert_eq!(p.0, [expect; 3], "pixel ({x}, {y})");
        }
    }

    #[test]
    fn heatmap_clamps_out_of_range_values() {
        let map = MapRef::new(&[-5.0, 5.0], 2, 1).unwrap();
        let img = heatmap(map, Colormap::Viridis, 1).unwrap();
        assert_eq!(
            pixels(&img),
            [Colormap::Viridis.rgb(0.0), Colormap::Viridis.rgb(1.0)]
        );
    }

    #[test]
    fn grayscale_is_grey() {
        let map = MapRef::new(&[0.0, 0.25, 0.5, 1.0], 4, 1).unwrap();
        let img = grayscale(map, 2).unwrap();
        assert!(img.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
        assert_eq!(img.get_pixel(7, 1).0, [255; 3]);
    }

    #[test]
    fn bad_scale_and_huge_images_are_errors() {
        let map = MapRef::new(&[0.5; 4], 2, 2).unwrap();
        assert!(matches!(
            heatmap(map, Colormap::Jet, 0),
            Err(VizError::InvalidScale { scale: 0 })
        ));
        assert!(matches!(
            heatmap(map, Colormap::Jet, u32::MAX),
            Err(VizError::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn overlay_alpha_extremes() {
        let digit_values = [0.0, 0.2, 0.6, 1.0];
        let heat_values = [1.0, 0.7, 0.3, 0.0];
        let digit = MapRef::new(&digit_values, 2, 2).unwrap();
        let heat = MapRef::new(&heat_values, 2, 2).unwrap();
        for cmap in Colormap::ALL {
            let none = overlay(digit, heat, cmap, 0.0, 2).unwrap();
            assert_eq!(none, grayscale(digit, 2).unwrap(), "{cmap}");
            // The plain heat map, rescaled so that its brightest channel is 255 (exactly the
            // heat map when it already reaches 255, as jet does).
            let full = overlay(digit, heat, cmap, 1.0, 2).unwrap();
            let plain = heatmap(heat, cmap, 2).unwrap();
            let top = |img: &RgbImage| img.as_raw().iter().copied().max().unwrap_or(0);
            assert_eq!(top(&full), 255, "{cmap}");
            if top(&plain) == 255 {
                assert_eq!(full, plain, "{cmap}");
            }
        }
    }

    #[test]
    fn rgb_images_draw_in_colour_and_under_the_heat_map() {
        // Planes R, G, B of a 2x1 image: red, then white.
        let rgb = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let image = MapRef::planar(&rgb, 3, 2, 1).unwrap();
        assert_eq!(
            pixels(&grayscale(image, 1).unwrap()),
            [[255, 0, 0], [255, 255, 255]]
        );
        let cold = MapRef::new(&[0.0, 0.0], 2, 1).unwrap();
        // Jet's 0 is dark blue (0, 0, 128): half of it over red and white, then rescaled.
        let blended = overlay(image, cold, Colormap::Jet, 0.5, 1).unwrap();
        let max = 0.5 + 0.5 * 128.0 / 255.0;
        let expect = |c: f32| (255.0 * c / max) as u8;
        assert_eq!(
            pixels(&blended),
            [
                [expect(0.5), 0, expect(0.5 * 128.0 / 255.0)],
                [expect(0.5), expect(0.5), 255]
            ]
        );
    }

    #[test]
    fn planes_are_summed_except_by_deprocess_which_draws_them_in_colour() {
        let planes = [1.0, -1.0, 1.0, 0.0, 1.0, 0.0];
        let map = MapRef::planar(&planes, 3, 2, 1).unwrap();
        // Sums 3 and −1: divided by 3.
        assert_eq!(
            SignedStyle::Diverging.normalise(map).unwrap(),
            [1.0, -1.0 / 3.0]
        );
        // Deprocess: (v − mean) / (std + 1e-5) · 0.1 + 0.5 over all six values.
        let normalised = SignedStyle::Deprocess.normalise(map).unwrap();
        assert_eq!(normalised.len(), 6);
        let mean = 1.0 / 3.0_f64;
        let std = (planes
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / 6.0)
            .sqrt();
        let first = ((1.0 - mean) / (std + 1e-5) * 0.1 + 0.5) as f32;
        assert!((normalised[0] - first).abs() < 1e-6);
        let image = signed(map, SignedStyle::Deprocess, 1).unwrap();
        let red = (first * 255.0) as u8;
        assert_eq!(pixels(&image)[0][0], red, "R from the first plane");
    }

    #[test]
    fn overlay_rejects_bad_input() {
        let digit = MapRef::new(&[0.0; 4], 2, 2).unwrap();
        let wide = MapRef::new(&[0.0; 4], 4, 1).unwrap();
        let err = overlay(digit, wide, Colormap::Jet, 0.5, 1).unwrap_err();
        assert!(matches!(
            err,
            VizError::SizeMismatch {
                actual_width: 4,
                actual_height: 1,
                ..
            }
        ));
        assert!(err.to_string().contains("4x1"), "{err}");
        for alpha in [-0.1, 1.5, f32::NAN] {
            assert!(matches!(
                overlay(digit, digit, Colormap::Jet, alpha, 1),
                Err(VizError::InvalidAlpha { .. })
            ));
        }
    }

    #[test]
    fn all_zero_maps_render_in_every_style() {
        let zeros = [0.0_f32; 9];
        let map = MapRef::new(&zeros, 3, 3).unwrap();
        for style in [
            SignedStyle::Diverging,
            SignedStyle::CAPTUM_ABS,
            SignedStyle::Positive,
        ] {
            let normalised = style.normalise(map).unwrap();
            assert!(
                normalised.iter().all(|&v| v == 0.0),
                "{style}: {normalised:?}"
            );
            let img = signed(map, style, 2).unwrap();
            let expect = if style == SignedStyle::Diverging {
                [255; 3]
            } else {
                [0; 3]
            };
            assert!(img.pixels().all(|p| p.0 == expect), "{style}");
        }
    }

    #[test]
    fn diverging_is_symmetric_in_max_abs() {
        let values = [-4.0, -1.0, 0.0, 2.0];
        let map = MapRef::new(&values, 4, 1).unwrap();
        assert_eq!(
            SignedStyle::Diverging.normalise(map).unwrap(),
            [-1.0, -0.25, 0.0, 0.5]
        );
        let img = signed(map, SignedStyle::Diverging, 1).unwrap();
        assert_eq!(
            pixels(&img),
            [
                [0, 0, 255],
                [191, 191, 255],
                [255, 255, 255],
                [255, 128, 128]
            ]
        );
    }

    #[test]
    fn abs_percentile_matches_captum_threshold() {
        // |v| sorted: 1, 1, 2, 96; total 100. 98% of the mass is first reached at 96,
        // so nothing is clipped; at 4% it is reached at 2.
        let values = [1.0, -2.0, 96.0, -1.0];
        let map = MapRef::new(&values, 2, 2).unwrap();
        let p98 = SignedStyle::AbsPercentile { percentile: 98.0 }
            .normalise(map)
            .unwrap();
        assert_eq!(p98, [1.0 / 96.0, 2.0 / 96.0, 1.0, 1.0 / 96.0]);
        let p4 = SignedStyle::AbsPercentile { percentile: 4.0 }
            .normalise(map)
            .unwrap();
        assert_eq!(p4, [0.5, 1.0, 1.0, 0.5]);
        // Threshold 0 (percentile 0 with zeros present): non-zero values saturate, no NaN.
        let sparse = MapRef::new(&[0.0, 0.0, -3.0], 3, 1).unwrap();
        let p0 = SignedStyle::AbsPercentile { percentile: 0.0 }
            .normalise(sparse)
            .unwrap();
        assert_eq!(p0, [0.0, 0.0, 1.0]);
    }

    #[test]
    fn positive_clips_negatives_then_min_max() {
        let all_positive = MapRef::new(&[2.0, 3.0, 4.0], 3, 1).unwrap();
        assert_eq!(
            SignedStyle::Positive.normalise(all_positive).unwrap(),
            [0.0, 0.5, 1.0]
        );
        let mixed = MapRef::new(&[-5.0, 1.0, 4.0], 3, 1).unwrap();
        assert_eq!(
            SignedStyle::Positive.normalise(mixed).unwrap(),
            [0.0, 0.25, 1.0]
        );
        let negative = MapRef::new(&[-5.0, -1.0], 2, 1).unwrap();
        assert_eq!(
            SignedStyle::Positive.normalise(negative).unwrap(),
            [0.0, 0.0]
        );
    }

    #[test]
    fn invalid_percentiles_are_errors() {
        let map = MapRef::new(&[1.0], 1, 1).unwrap();
        for percentile in [-1.0, 100.5, f32::NAN] {
            let style = SignedStyle::AbsPercentile { percentile };
            assert!(matches!(
                style.normalise(map),
                Err(VizError::InvalidPercentile { .. })
            ));
            assert!(signed(map, style, 1).is_err());
        }
        assert!("abs:101".parse::<SignedStyle>().is_err());
        assert!("abs:x".parse::<SignedStyle>().is_err());
        assert!("median".parse::<SignedStyle>().is_err());
    }

    #[test]
    fn signed_style_names_round_trip() {
        for style in [
            SignedStyle::Diverging,
            SignedStyle::Positive,
            SignedStyle::CAPTUM_ABS,
            SignedStyle::AbsPercentile { percentile: 99.5 },
        ] {
            assert_eq!(style.to_string().parse::<SignedStyle>().unwrap(), style);
        }
        assert_eq!(
            "ABS".parse::<SignedStyle>().unwrap(),
            SignedStyle::CAPTUM_ABS
        );
    }

    #[test]
    fn colorbar_orientation_and_errors() {
        let horizontal = colorbar(Colormap::Gray, 256, 4).unwrap();
        assert_eq!(horizontal.get_pixel(0, 0).0, [0; 3]);
        assert_eq!(horizontal.get_pixel(255, 3).0, [255; 3]);
        let single = colorbar(Colormap::Jet, 1, 1).unwrap();
        assert_eq!(single.get_pixel(0, 0).0, Colormap::Jet.rgb(0.0));
        assert!(matches!(
            colorbar(Colormap::Jet, 0, 10),
            Err(VizError::EmptyImage { .. })
        ));
        assert!(matches!(
            colorbar(Colormap::Jet, 10, MAX_IMAGE_SIDE + 1),
            Err(VizError::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn panel_png_round_trips() {
        let map = MapRef::new(&[0.0, 0.3, 0.6, 0.9, 1.0, 0.1], 3, 2).unwrap();
        let img = heatmap(map, Colormap::Magma, 4).unwrap();
        let png = panel_png(&img).unwrap();
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        assert_eq!(decoded, img);
        assert!(matches!(
            panel_png(&RgbImage::new(0, 5)),
            Err(VizError::EmptyImage { .. })
        ));
    }
}
