//! MNIST digits in memory and the formats they are read from and written to.
//!
//! - Image JSON ([`Digits::from_json_file`]): an array of images, each a flat array of 784
//!   numbers or 28 arrays of 28 numbers, values in `[0, 1]`; or an object
//!   `{"images": [...], "labels": [...]}` with one label (0–9) per image.
//! - The packed evaluation set ([`Digits::from_packed_file`]): gzip of records of 785 bytes,
//!   a label byte then 784 pixel bytes (row-major, pixel = byte / 255).
//! - Image files ([`Digits::from_image_files`]): PNG or JPEG, converted to 8-bit grey.

mod files;
mod json;
mod packed;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};

use gradcam_data::DataError;

use crate::net::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

pub use json::MAX_JSON_BYTES;
pub use packed::MAX_PACKED_BYTES;

/// Mean of MNIST's training pixels (in `[0, 1]`), PyTorch's usual normalisation constant.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of MNIST's training pixels.
pub const MNIST_STD: f32 = 0.3081;

/// What went wrong reading or writing digits; every variant names the file (or `<memory>`).
///
/// | input | error |
/// |---|---|
/// | a missing, unreadable, too large or undecodable file; a directory without images | [`DigitsError::File`] ([`DataError`]) |
/// | image JSON: syntax error, NaN/Infinity, wrong layout, unknown key | [`DigitsError::Json`] with line and column |
/// | image JSON: wrong length, bad row, value outside `[0, 1]`, not a number | [`DigitsError::Image`] with the image index and [`ImageProblem`] |
/// | no image | [`DigitsError::Empty`] |
/// | labels of the wrong count, or above 9 | [`DigitsError::Labels`] |
/// | packed digits: not gzip, a partial record, a label above 9, a gzip bomb | [`DigitsError::Packed`] (inflation capped at 64 MiB) |
#[derive(Debug, thiserror::Error)]
pub enum DigitsError {
    /// The file could not be read or decoded.
    #[error(transparent)]
    File(#[from] DataError),
    /// The file is not valid JSON, or not in the image-JSON layout.
    #[error("{path}: invalid image JSON: {source}")]
    Json {
        /// The path given.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// One image is malformed.
    #[error("{path}: image {index}: {problem}")]
    Image {
        /// The path given.
        path: PathBuf,
        /// Index of the image in the file (or in the list of files).
        index: usize,
        /// What is wrong with it.
        problem: ImageProblem,
    },
    /// The file holds no image.
    #[error("{path} holds no image")]
    Empty {
        /// The path given.
        path: PathBuf,
    },
    /// Labels are malformed.
    #[error("{path}: {problem}")]
    Labels {
        /// The path given.
        path: PathBuf,
        /// What is wrong with them.
        problem: String,
    },
    /// The packed evaluation file is damaged.
    #[error("{path}: not a packed digit file: {problem}")]
    Packed {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// An image could not be encoded.
    #[error("cannot encode image {index}")]
    Encode {
        /// Index of the image.
        index: usize,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
}

/// What is wrong with one image of an image JSON file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageProblem {
    /// Neither 784 numbers nor 28 rows of 28.
    #[error("expected {IMAGE_PIXELS} numbers or {IMAGE_SIDE} rows of {IMAGE_SIDE}, found {found}")]
    Length {
        /// What was found, in words.
        found: String,
    },
    /// A pixel is outside `[0, 1]` or not finite.
    #[error("pixel {pixel} is {value}, outside [0, 1]")]
    Value {
        /// Index of the pixel (row-major).
        pixel: usize,
        /// Its value.
        value: f64,
    },
    /// A pixel is not a number.
    #[error("pixel {pixel} is not a number")]
    NotANumber {
        /// Index of the pixel (row-major).
        pixel: usize,
    },
}

/// A set of 28×28 grey digits with pixels in `[0, 1]`, and optionally their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pixels: Vec<f32>,
    labels: Option<Vec<u8>>,
}

impl Digits {
    /// Digits from row-major pixels (784 per image, in `[0, 1]`) and optional labels.
    ///
    /// ```
    /// use gradcam_mnist::Digits;
    /// let digits = Digits::new(vec![0.0; 2 * 784], Some(vec![3, 7]))?;
    /// assert_eq!(digits.len(), 2);
    /// assert!(Digits::new(vec![0.0; 783], None).is_err());
    /// # Ok::<(), gradcam_mnist::DigitsError>(())
    /// ```
    pub fn new(pixels: Vec<f32>, labels: Option<Vec<u8>>) -> Result<Self, DigitsError> {
        let path = PathBuf::from("<memory>");
        if pixels.is_empty() {
            return Err(DigitsError::Empty { path });
        }
        if !pixels.len().is_multiple_of(IMAGE_PIXELS) {
            let index = pixels.len() / IMAGE_PIXELS;
            let found = format!("{} numbers", pixels.len() % IMAGE_PIXELS);
            return Err(DigitsError::Image {
                path,
                index,
                problem: ImageProblem::Length { found },
            });
        }
        if let Some(position) = pixels.iter().position(|v| !(0.0..=1.0).contains(v)) {
            let problem = ImageProblem::Value {
                pixel: position % IMAGE_PIXELS,
                value: f64::from(pixels[position]),
            };
            return Err(DigitsError::Image {
                path,
                index: position / IMAGE_PIXELS,
                problem,
            });
        }
        let count = pixels.len() / IMAGE_PIXELS;
        check_labels(&path, labels.as_deref(), count)?;
        Ok(Self { pixels, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }

    /// Always false: a `Digits` holds at least one image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The pixels of image `index` (784 values), if it exists.
    pub fn image(&self, index: usize) -> Option<&[f32]> {
        self.pixels
            .get(index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS)
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// The labels, when known.
    pub fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    /// The images `range` of this set (clamped to its length), or `None` if that is empty.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Digits> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        (start < end).then(|| Digits {
            pixels: self.pixels[start * IMAGE_PIXELS..end * IMAGE_PIXELS].to_vec(),
            labels: self.labels.as_ref().map(|l| l[start..end].to_vec()),
        })
    }
}

fn check_labels(
    path: &std::path::Path,
    labels: Option<&[u8]>,
    count: usize,
) -> Result<(), DigitsError> {
    let Some(labels) = labels else { return Ok(()) };
    if labels.len() != count {
        return Err(DigitsError::Labels {
            path: path.to_path_buf(),
            problem: format!("{} labels for {count} images", labels.len()),
        });
    }
    if let Some((index, label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= NUM_CLASSES)
    {
        return Err(DigitsError::Labels {
            path: path.to_path_buf(),
            problem: format!("label {index} is {label}, expected 0–9"),
        });
    }
    Ok(())
}

/// The network's input for a set of digits: `[N, 1, 28, 28]` with
/// `x ← (pixel − 0.1307) / 0.3081` (pixels already in `[0, 1]`, i.e. byte / 255).
///
/// ```
/// use burn::tensor::Device;
/// use gradcam_mnist::{Digits, preprocess};
/// let digits = Digits::new(vec![0.1307; 784], None)?;
/// let x = preprocess(&digits, &Device::default());
/// assert_eq!(x.dims(), [1, 1, 28, 28]);
/// assert!(x.abs().max().into_scalar::<f32>() < 1e-6);
/// # Ok::<(), gradcam_mnist::DigitsError>(())
/// ```
pub fn preprocess(digits: &Digits, device: &Device) -> Tensor<4> {
    let normalised: Vec<f32> = digits
        .pixels
        .iter()
        .map(|p| (p - MNIST_MEAN) / MNIST_STD)
        .collect();
    Tensor::from_data(
        TensorData::new(normalised, [digits.len(), 1, IMAGE_SIDE, IMAGE_SIDE]),
        device,
    )
}
