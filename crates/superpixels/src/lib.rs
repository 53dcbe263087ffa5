//! SLIC superpixels (Achanta et al., TPAMI 2012) equal to scikit-image 0.26's
//! `skimage.segmentation.slic`, on plain host images.
//!
//! [`Slic`] holds slic's parameters with skimage's defaults; [`Slic::segment`] (`f32` pixels),
//! [`Slic::segment_u8`] (8-bit pixels) and, with the `image` feature, [`Slic::segment_rgb`] /
//! [`Slic::segment_gray`] return a [`Segmentation`]: one label per pixel, row-major. A
//! 3-channel image is RGB (skimage's `channel_axis=-1`), a 1-channel image is grey
//! (`channel_axis=None`).
//!
//! The computation is skimage's, step by step and in its order, in `f64`: `img_as_float`
//! (bytes times `1/255`), the rescaling of the whole image to `[0, 1]` by its minimum and
//! maximum, `rgb2lab` for RGB (see [`rgb_to_lab`]), the centres on `regular_grid`'s grid with
//! their colour starting at zero, the colours scaled by `1 / compactness` and the distances by
//! `1 / step²`, the k-means loop of `_slic_cython` (windows of two grid strides around each
//! centre, the lowest-numbered centre winning a tie) and `_enforce_label_connectivity_cython`
//! (breadth-first components, small ones merged into a neighbour, large ones cut).
//!
//! Where the result can differ from skimage's:
//!
//! * `f32` pixels are widened to `f64` first: the result is skimage's on
//!   `image.astype(np.float64)` (skimage computes a `float32` array in `float32`);
//! * the sRGB-to-Lab conversion uses the C library's `pow` and `cbrt` and sums the XYZ matrix
//!   product in order, where NumPy uses its vectorised routines and BLAS: the Lab values may
//!   differ in the last bits (under 1e-12), which changes a label only where two distances tie
//!   to that precision;
//! * the options skimage has and this crate lacks are refused or absent: Gaussian smoothing
//!   (`sigma` other than 0 is refused with [`SlicError::Unsupported`]), `spacing` and `mask`
//!   (absent: unit spacing, no mask), 3-D volumes and channel counts other than 1 and 3;
//! * values skimage accepts but that make no sense are refused: `max_num_iter = 0` (skimage
//!   returns every pixel as `start_label − 1`), `compactness <= 0` (0 raises in skimage, a
//!   negative one acts as its absolute value), `convert2lab = Some(true)` on a grey image
//!   (ignored by skimage); and a `max_size_factor` small enough to make the largest segment
//!   empty counts as one pixel (skimage writes past an empty buffer).
//!
//! ```
//! use gradcam_superpixels::Slic;
//!
//! // A 32 × 32 RGB image: a red left half and a blue right half.
//! let (height, width) = (32, 32);
//! let mut image = vec![0.0f32; height * width * 3];
//! for (i, pixel) in image.chunks_exact_mut(3).enumerate() {
//!     pixel.copy_from_slice(if i % width < 16 { &[1.0, 0.0, 0.0] } else { &[0.0, 0.0, 1.0] });
//! }
//! let segmentation = Slic::default().with_n_segments(4).segment(&image, height, width, 3)?;
//! assert_eq!(segmentation.count, 4);
//! // No superpixel straddles the two halves.
//! for y in 0..height {
//!     assert_ne!(segmentation.label(y, 15), segmentation.label(y, 16));
//! }
//! # Ok::<(), gradcam_superpixels::SlicError>(())
//! ```

mod connectivity;
mod grid;
#[cfg(feature = "image")]
mod image;
mod kmeans;
mod lab;

pub use lab::rgb_to_lab;

/// The errors of [`Slic::segment`] and its variants: a malformed image or an option this
/// implementation refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SlicError {
    /// The image has no pixels.
    #[error("the image is empty ({height}×{width})")]
    EmptyImage {
        /// The height given.
        height: usize,
        /// The width given.
        width: usize,
    },
    /// The buffer does not hold `height × width × channels` values.
    #[error("a {height}×{width}×{channels} image holds {expected} values, the buffer {actual}")]
    BufferLength {
        /// The height given.
        height: usize,
        /// The width given.
        width: usize,
        /// The channel count given.
        channels: usize,
        /// `height × width × channels`.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// `height × width × channels` does not fit in `usize`.
    #[error("a {height}×{width} image of {channels} channels is too large to address")]
    TooLarge {
        /// The height given.
        height: usize,
        /// The width given.
        width: usize,
        /// The channel count given.
        channels: usize,
    },
    /// Only grey (1 channel) and RGB (3 channels) images are segmented.
    #[error("{channels} channels: only 1 (grey) or 3 (RGB) are supported")]
    UnsupportedChannels {
        /// The channel count given.
        channels: usize,
    },
    /// `n_segments` is 0.
    #[error("n_segments must be at least 1")]
    ZeroSegments,
    /// A pixel value is NaN or infinite (skimage raises a `ValueError` too).
    #[error("the pixel value at index {index} of the buffer is not finite ({value})")]
    NonFinite {
        /// The value's index in the buffer (interleaved channels).
        index: usize,
        /// The value.
        value: f32,
    },
    /// An option has a value this implementation refuses.
    #[error("{option} = {value} is not supported: {reason}")]
    Unsupported {
        /// The option's name, as the field of [`Slic`].
        option: &'static str,
        /// Its value, formatted.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// The parameters of `skimage.segmentation.slic`, with skimage 0.26's defaults
/// ([`Slic::default`]); set them with the `with_…` methods or the public fields.
///
/// Validated when an image is segmented, not when set.
#[derive(Debug, Clone, PartialEq)]
pub struct Slic {
    /// The approximate number of superpixels (default 100). The initial centres lie on a
    /// regular grid of about this many points (`regular_grid`), fewer or more where the image's
    /// sides do not divide evenly; connectivity enforcement then merges and splits.
    pub n_segments: usize,
    /// Balances colour and space (default 10): higher values give more square superpixels.
    /// Colour differences are divided by it, so it is on the scale of the colour values: Lab
    /// for RGB images (about 1 to 40), `[0, 1]` for grey images (about 0.01 to 1). Must be
    /// positive and finite.
    pub compactness: f64,
    /// The most k-means iterations (default 10); at least 1. The loop stops early once no pixel
    /// changes superpixel.
    pub max_num_iter: usize,
    /// Width of a Gaussian pre-smoothing (default 0, none). Only 0 is supported.
    pub sigma: f64,
    /// Whether superpixels are made 4-connected (default `true`): small pieces merged into a
    /// neighbour, pieces larger than `max_size_factor` times the mean size cut.
    pub enforce_connectivity: bool,
    /// Pieces smaller than this fraction of the mean superpixel size (pixels / initial
    /// centres; the product truncated to an integer) are merged into a neighbour (default
    /// 0.5). Must be finite.
    pub min_size_factor: f64,
    /// Pieces are cut at this multiple of the mean superpixel size (the product truncated to
    /// an integer, at least 1) (default 3). Must be positive and finite.
    pub max_size_factor: f64,
    /// The first label: 0 or 1 (default 1, as in skimage 0.26).
    pub start_label: u32,
    /// Whether a 3-channel image is converted from sRGB to Lab first. `None` (the default)
    /// converts RGB images, as skimage decides; `Some(true)` on a grey image is refused
    /// (skimage ignores it).
    pub convert2lab: Option<bool>,
    /// SLICO, the zero-parameter SLIC (default `false`): each superpixel's colour distance is
    /// normalised by the largest one seen in it, `compactness` being the initial value.
    pub slic_zero: bool,
}

impl Default for Slic {
    fn default() -> Self {
        Self {
            n_segments: 100,
            compactness: 10.0,
            max_num_iter: 10,
            sigma: 0.0,
            enforce_connectivity: true,
            min_size_factor: 0.5,
            max_size_factor: 3.0,
            start_label: 1,
            convert2lab: None,
            slic_zero: false,
        }
    }
}

impl Slic {
    /// Sets [`Slic::n_segments`].
    #[must_use]
    pub fn with_n_segments(mut self, n_segments: usize) -> Self {
        self.n_segments = n_segments;
        self
    }

    /// Sets [`Slic::compactness`].
    #[must_use]
    pub fn with_compactness(mut self, compactness: f64) -> Self {
        self.compactness = compactness;
        self
    }

    /// Sets [`Slic::max_num_iter`].
    #[must_use]
    pub fn with_max_num_iter(mut self, max_num_iter: usize) -> Self {
        self.max_num_iter = max_num_iter;
        self
    }

    /// Sets [`Slic::sigma`] (only 0 is supported).
    #[must_use]
    pub fn with_sigma(mut self, sigma: f64) -> Self {
        self.sigma = sigma;
        self
    }

    /// Sets [`Slic::enforce_connectivity`].
    #[must_use]
    pub fn with_enforce_connectivity(mut self, enforce_connectivity: bool) -> Self {
        self.enforce_connectivity = enforce_connectivity;
        self
    }

    /// Sets [`Slic::min_size_factor`].
    #[must_use]
    pub fn with_min_size_factor(mut self, min_size_factor: f64) -> Self {
        self.min_size_factor = min_size_factor;
        self
    }

    /// Sets [`Slic::max_size_factor`].
    #[must_use]
    pub fn with_max_size_factor(mut self, max_size_factor: f64) -> Self {
        self.max_size_factor = max_size_factor;
        self
    }

    /// Sets [`Slic::start_label`] (0 or 1).
    #[must_use]
    pub fn with_start_label(mut self, start_label: u32) -> Self {
        self.start_label = start_label;
        self
    }

    /// Sets [`Slic::convert2lab`] to `Some(convert2lab)`.
    #[must_use]
    pub fn with_convert2lab(mut self, convert2lab: bool) -> Self {
        self.convert2lab = Some(convert2lab);
        self
    }

    /// Sets [`Slic::slic_zero`].
    #[must_use]
    pub fn with_slic_zero(mut self, slic_zero: bool) -> Self {
        self.slic_zero = slic_zero;
        self
    }

    /// Segments an image of `f32` values, `height × width` pixels of `channels` interleaved
    /// values (1: grey; 3: RGB, row-major `[y][x][channel]`).
    ///
    /// The values may lie in any range: like skimage, SLIC rescales the whole image (all
    /// channels together) to `[0, 1]` by its minimum and maximum first, so RGB values should be
    /// the usual `[0, 1]` (or any range whose extremes are black and white). The values are
    /// widened to `f64`: the labels are skimage's for `image.astype(np.float64)`.
    ///
    /// # Errors
    ///
    /// [`SlicError`] for an empty image, a buffer of the wrong length, a channel count other
    /// than 1 or 3, a NaN or infinite value, or an option out of its domain.
    ///
    /// ```
    /// use gradcam_superpixels::Slic;
    ///
    /// // A grey ramp, dark left to bright right, 20 × 40.
    /// let (height, width) = (20, 40);
    /// let image: Vec<f32> = (0..height * width).map(|i| (i % width) as f32 / 39.0).collect();
    /// let slic = Slic::default().with_n_segments(8).with_compactness(0.1).with_start_label(0);
    /// let segmentation = slic.segment(&image, height, width, 1)?;
    /// assert_eq!(segmentation.labels.len(), height * width);
    /// // Labels run from 0 to count − 1, the first one in the top-left corner.
    /// assert_eq!(segmentation.label(0, 0), 0);
    /// assert_eq!(*segmentation.labels.iter().max().unwrap() as usize, segmentation.count - 1);
    /// # Ok::<(), gradcam_superpixels::SlicError>(())
    /// ```
    pub fn segment(
        &self,
        image: &[f32],
        height: usize,
        width: usize,
        channels: usize,
    ) -> Result<Segmentation, SlicError> {
        check_shape(image.len(), height, width, channels)?;
        self.check_options(channels)?;
        if let Some((index, &value)) = image.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SlicError::NonFinite { index, value });
        }
        let values = image.iter().map(|&v| f64::from(v)).collect();
        Ok(self.run(values, None, height, width, channels))
    }

    /// Segments an 8-bit image, `height × width` pixels of `channels` interleaved bytes (1:
    /// grey; 3: RGB): skimage's `slic` on the `uint8` array, whose `img_as_float` maps a byte
    /// `b` to `b · (1/255)` in `f64`.
    ///
    /// # Errors
    ///
    /// As [`Slic::segment`] (a byte is always finite).
    pub fn segment_u8(
        &self,
        image: &[u8],
        height: usize,
        width: usize,
        channels: usize,
    ) -> Result<Segmentation, SlicError> {
        check_shape(image.len(), height, width, channels)?;
        self.check_options(channels)?;
        let values = image.iter().map(|&v| byte_to_float(v)).collect();
        Ok(self.run(values, Some(image), height, width, channels))
    }

    fn check_options(&self, channels: usize) -> Result<(), SlicError> {
        fn refuse(option: &'static str, value: impl ToString, reason: &'static str) -> SlicError {
            SlicError::Unsupported {
                option,
                value: value.to_string(),
                reason,
            }
        }
        if self.n_segments == 0 {
            return Err(SlicError::ZeroSegments);
        }
        if !(self.compactness.is_finite() && self.compactness > 0.0) {
            return Err(refuse(
                "compactness",
                self.compactness,
                "it must be positive and finite",
            ));
        }
        if self.max_num_iter == 0 {
            return Err(refuse(
                "max_num_iter",
                0,
                "at least one iteration is needed to assign every pixel",
            ));
        }
        if self.sigma != 0.0 {
            return Err(refuse(
                "sigma",
                self.sigma,
                "Gaussian pre-smoothing is not implemented; smooth the image first",
            ));
        }
        if !self.min_size_factor.is_finite() {
            return Err(refuse(
                "min_size_factor",
                self.min_size_factor,
                "it must be finite",
            ));
        }
        if !(self.max_size_factor.is_finite() && self.max_size_factor > 0.0) {
            return Err(refuse(
                "max_size_factor",
                self.max_size_factor,
                "it must be positive and finite",
            ));
        }
        if self.start_label > 1 {
            return Err(refuse("start_label", self.start_label, "it must be 0 or 1"));
        }
        if channels == 1 && self.convert2lab == Some(true) {
            return Err(refuse(
                "convert2lab",
                true,
                "a grey image cannot be converted from RGB",
            ));
        }
        Ok(())
    }

    /// SLIC on values already `img_as_float`'s, shape and options checked; `bytes` are the
    /// 8-bit pixels they came from, if they did.
    fn run(
        &self,
        mut values: Vec<f64>,
        bytes: Option<&[u8]>,
        height: usize,
        width: usize,
        channels: usize,
    ) -> Segmentation {
        // Rescale to [0, 1] by the extremes of every channel (skimage: `image -= imin`, then
        // `image /= imax - imin` unless they are equal).
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = max - min;
        let rescale = |v: f64| {
            if max != min {
                (v - min) / range
            } else {
                v - min
            }
        };
        for v in &mut values {
            *v = rescale(*v);
        }

        let grid = grid::regular_grid([1, height, width], self.n_segments);
        let positions: Vec<[f64; 2]> = (grid[1].start..height)
            .step_by(grid[1].step)
            .flat_map(|y| {
                (grid[2].start..width)
                    .step_by(grid[2].step)
                    .map(move |x| [y as f64, x as f64])
            })
            .collect();
        let n_centres = positions.len();
        // `step = max(steps)` over the three axes (depth's is 1), passed to Cython as float32.
        let step = grid.iter().map(|a| a.step).max().unwrap_or(1) as f32;
        let search = grid::regular_grid([1, height, width], n_centres);
        let params = kmeans::Params {
            step_y: search[1].step,
            step_x: search[2].step,
            spatial_weight: 1.0 / f64::from(step * step),
            max_num_iter: self.max_num_iter,
            slic_zero: self.slic_zero,
        };
        let ratio = 1.0 / self.compactness;

        let clusters = if channels == 3 {
            let mut planes: [Vec<f64>; 3] =
                std::array::from_fn(|_| Vec::with_capacity(height * width));
            let mut push = |pixel: [f64; 3]| {
                for (plane, v) in planes.iter_mut().zip(pixel) {
                    plane.push(v * ratio);
                }
            };
            match (self.convert2lab != Some(false), bytes) {
                (false, _) => values
                    .chunks_exact(3)
                    .for_each(|p| push([p[0], p[1], p[2]])),
                (true, None) => values
                    .chunks_exact(3)
                    .for_each(|p| push(rgb_to_lab([p[0], p[1], p[2]]))),
                (true, Some(bytes)) => {
                    // 256 levels: linearise each once (the same arithmetic, so the same values).
                    let linear: Vec<f64> = (0..=255u8)
                        .map(|b| lab::linearise(rescale(byte_to_float(b))))
                        .collect();
                    bytes.chunks_exact(3).for_each(|p| {
                        let rgb = [p[0], p[1], p[2]].map(|b| linear[usize::from(b)]);
                        push(lab::lab_from_linear(rgb));
                    });
                }
            }
            kmeans::cluster(&planes, height, width, positions, params)
        } else {
            for v in &mut values {
                *v *= ratio;
            }
            kmeans::cluster(&[values], height, width, positions, params)
        };

        let labels = if self.enforce_connectivity {
            let segment_size = (height * width) as f64 / n_centres as f64;
            // Python's `int()` truncates toward zero.
            let min_size = (self.min_size_factor * segment_size) as i64;
            let max_size = ((self.max_size_factor * segment_size) as usize).max(1);
            connectivity::enforce(
                &clusters,
                height,
                width,
                min_size,
                max_size,
                self.start_label,
            )
        } else {
            clusters.into_iter().map(|k| k + self.start_label).collect()
        };
        Segmentation::new(labels, height, width)
    }
}

/// `img_as_float` of a byte: `b · (1/255)` in `f64`.
fn byte_to_float(b: u8) -> f64 {
    f64::from(b) * (1.0 / 255.0)
}

fn check_shape(len: usize, height: usize, width: usize, channels: usize) -> Result<(), SlicError> {
    if channels != 1 && channels != 3 {
        return Err(SlicError::UnsupportedChannels { channels });
    }
    if height == 0 || width == 0 {
        return Err(SlicError::EmptyImage { height, width });
    }
    let expected = height
        .checked_mul(width)
        .and_then(|n| n.checked_mul(channels))
        .ok_or(SlicError::TooLarge {
            height,
            width,
            channels,
        })?;
    if len != expected {
        return Err(SlicError::BufferLength {
            height,
            width,
            channels,
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// The superpixels of one image: a label per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmentation {
    /// One label per pixel, row-major (`labels[y * width + x]`). With connectivity enforced the
    /// labels are `start_label .. start_label + count`, numbered in raster order of each
    /// superpixel's first pixel. Without it they are the k-means clusters' indices plus
    /// `start_label`, as skimage returns them: a cluster that lost all its pixels leaves its
    /// number unused.
    pub labels: Vec<u32>,
    /// The image's height.
    pub height: usize,
    /// The image's width.
    pub width: usize,
    /// The number of distinct labels.
    pub count: usize,
}

impl Segmentation {
    fn new(labels: Vec<u32>, height: usize, width: usize) -> Self {
        let mut seen = vec![false; labels.iter().max().map_or(0, |&m| m as usize + 1)];
        for &label in &labels {
            seen[label as usize] = true;
        }
        let count = seen.iter().filter(|&&s| s).count();
        Self {
            labels,
            height,
            width,
            count,
        }
    }

    /// The label of the pixel in row `y`, column `x`.
    ///
    /// # Panics
    ///
    /// If `(y, x)` lies outside the image.
    pub fn label(&self, y: usize, x: usize) -> u32 {
        assert!(
            y < self.height && x < self.width,
            "pixel ({y}, {x}) outside {}×{}",
            self.height,
            self.width
        );
        self.labels[y * self.width + x]
    }
}
