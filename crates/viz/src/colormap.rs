//! Colormaps from a scalar in `[0, 1]` to an RGB colour.

use std::fmt;
use std::str::FromStr;

use crate::VizError;
use crate::tables::{MAGMA, VIRIDIS};

/// A colormap: maps a scalar `t` in `[0, 1]` to an 8-bit RGB colour.
///
/// Names round-trip through [`Display`](fmt::Display) and [`FromStr`], so a
/// command line can take `--colormap jet`:
///
/// ```
/// use gradcam_viz::Colormap;
///
/// let cmap: Colormap = "viridis".parse()?;
/// assert_eq!(cmap, Colormap::Viridis);
/// assert_eq!(cmap.to_string(), "viridis");
/// assert_eq!(Colormap::Jet.rgb(0.0), [0, 0, 128]); // OpenCV's dark blue
/// assert_eq!(Colormap::Gray.rgb(f32::NAN), [0, 0, 0]);
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Colormap {
    /// OpenCV's `COLORMAP_JET`, the colormap pytorch-grad-cam uses: dark blue,
    /// blue, cyan, yellow, red, dark red.
    ///
    /// Like pytorch-grad-cam (`cv2.applyColorMap(np.uint8(255 * cam), ...)`),
    /// `t` is first truncated to one of 256 levels; each channel is then the
    /// piecewise-linear ramp of OpenCV's table. It reproduces OpenCV's 256
    /// entries exactly except for level 159, whose blue channel is 2 here and
    /// 1 in OpenCV because of float rounding there.
    #[default]
    Jet,
    /// Matplotlib's viridis (perceptually uniform, blue-green-yellow).
    Viridis,
    /// Matplotlib's magma (perceptually uniform, black-purple-orange-white).
    Magma,
    /// Linear grey ramp, black at 0 and white at 1.
    Gray,
}

impl Colormap {
    /// Every colormap, in a stable order.
    pub const ALL: [Colormap; 4] = [
        Colormap::Jet,
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Gray,
    ];

    /// The lower-case name accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Colormap::Jet => "jet",
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Gray => "gray",
        }
    }

    /// The colour of `t`; `t` is clamped to `[0, 1]` and NaN counts as 0.
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let t = clamp_unit(t);
        match self {
            Colormap::Jet => jet(level_255(t)),
            // Matplotlib's lookup for a 256-entry `ListedColormap`: floor(t * N),
            // with t == 1 folded onto the last entry.
            Colormap::Viridis => VIRIDIS[table_index(t)],
            Colormap::Magma => MAGMA[table_index(t)],
            Colormap::Gray => {
                let v = (t * 255.0).round() as u8;
                [v, v, v]
            }
        }
    }
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Colormap {
    type Err = VizError;

    /// Parses `jet`, `viridis`, `magma` or `gray` (also `grey`), ignoring
    /// ASCII case and surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        match name.as_str() {
            "jet" => Ok(Colormap::Jet),
            "viridis" => Ok(Colormap::Viridis),
            "magma" => Ok(Colormap::Magma),
            "gray" | "grey" => Ok(Colormap::Gray),
            _ => Err(VizError::UnknownName {
                what: "colormap",
                name: s.to_owned(),
                expected: "jet, viridis, magma, gray",
            }),
        }
    }
}

/// Clamps to `[0, 1]`, mapping NaN to 0.
pub(crate) fn clamp_unit(t: f32) -> f32 {
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

/// `t` in `[0, 1]` to a level in `0..=255` by truncation, as `np.uint8(255 * t)`.
fn level_255(t: f32) -> u8 {
    (t * 255.0) as u8
}

fn table_index(t: f32) -> usize {
    ((t * 256.0) as usize).min(255)
}

/// OpenCV's JET table at level `i`: each channel is a trapezoid of slope 4
/// per level, clipped to `[0, 255]`.
fn jet(i: u8) -> [u8; 3] {
    let i = i32::from(i);
    let ramp = |rise: i32, fall: i32| rise.min(fall).clamp(0, 255) as u8;
    [
        ramp(4 * i - 382, 1148 - 4 * i),
        ramp(4 * i - 128, 892 - 4 * i),
        ramp(4 * i + 128, 638 - 4 * i),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative luminance (Rec. 709 weights on linearised sRGB).
    fn luminance([r, g, b]: [u8; 3]) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    #[test]
    fn jet_matches_opencv_reference_levels() {
        // (level, RGB) from cv2.applyColorMap(..., cv2.COLORMAP_JET), BGR flipped.
        let reference: [(u8, [u8; 3]); 16] = [
            (0, [0, 0, 128]),
            (1, [0, 0, 132]),
            (31, [0, 0, 252]),
            (32, [0, 0, 255]),
            (33, [0, 4, 255]),
            (64, [0, 128, 255]),
            (95, [0, 252, 255]),
            (96, [2, 255, 254]),
            (127, [126, 255, 130]),
            (128, [130, 255, 126]),
            (160, [255, 252, 0]),
            (191, [255, 128, 0]),
            (223, [255, 0, 0]),
            (224, [252, 0, 0]),
            (254, [132, 0, 0]),
            (255, [128, 0, 0]),
        ];
        for (level, rgb) in reference {
            assert_eq!(jet(level), rgb, "level {level}");
        }
    }

    #[test]
    fn jet_endpoints_are_dark_blue_and_dark_red() {
        assert_eq!(Colormap::Jet.rgb(0.0), [0, 0, 128]);
        assert_eq!(Colormap::Jet.rgb(1.0), [128, 0, 0]);
    }

    #[test]
    fn jet_truncates_like_numpy_uint8_cast() {
        // 255 * 0.999 = 254.7 -> 254, not 255.
        assert_eq!(Colormap::Jet.rgb(0.999), jet(254));
    }

    #[test]
    fn clamping_and_nan() {
        for cmap in Colormap::ALL {
            assert_eq!(cmap.rgb(-3.0), cmap.rgb(0.0), "{cmap}");
            assert_eq!(cmap.rgb(7.5), cmap.rgb(1.0), "{cmap}");
            assert_eq!(cmap.rgb(f32::NAN), cmap.rgb(0.0), "{cmap}");
            assert_eq!(cmap.rgb(f32::INFINITY), cmap.rgb(1.0), "{cmap}");
            assert_eq!(cmap.rgb(f32::NEG_INFINITY), cmap.rgb(0.0), "{cmap}");
        }
    }

    #[test]
    fn table_endpoints_match_matplotlib() {
        assert_eq!(Colormap::Viridis.rgb(0.0), [68, 1, 84]);
        assert_eq!(Colormap::Viridis.rgb(1.0), [253, 231, 37]);
        assert_eq!(Colormap::Magma.rgb(0.0), [0, 0, 4]);
        assert_eq!(Colormap::Magma.rgb(1.0), [252, 253, 191]);
        assert_eq!(Colormap::Gray.rgb(0.5), [128, 128, 128]);
    }

    #[test]
    fn perceptual_maps_have_increasing_luminance() {
        for cmap in [Colormap::Viridis, Colormap::Magma, Colormap::Gray] {
            let lum: Vec<f64> = (0..=64)
                .map(|k| luminance(cmap.rgb(k as f32 / 64.0)))
                .collect();
            for (k, pair) in lum.windows(2).enumerate() {
                assert!(
                    pair[1] > pair[0],
                    "{cmap} not increasing at step {k}: {pair:?}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for cmap in Colormap::ALL {
            assert_eq!(cmap.to_string().parse::<Colormap>().unwrap(), cmap);
        }
        assert_eq!(" Grey ".parse::<Colormap>().unwrap(), Colormap::Gray);
        let err = "rainbow".parse::<Colormap>().unwrap_err();
        assert!(err.to_string().contains("rainbow"), "{err}");
    }
}
