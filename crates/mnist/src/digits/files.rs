//! Digits as image files (PNG, JPEG): read as 8-bit grey, written as 8-bit grey.

use std::path::{Path, PathBuf};

use gradcam_data::DataError;
use gradcam_data::files::{MAX_IMAGE_BYTES, decode, fit, image_files, read_limited};
use image::{GrayImage, imageops::FilterType};

use super::{Digits, DigitsError};
use crate::net::{IMAGE_PIXELS, IMAGE_SIDE};

impl Digits {
    /// Reads image files as digits, in the order given. Colour images are converted to grey
    /// (luma; alpha is ignored), 16-bit images to 8-bit; an image that is not 28×28 is an error
    /// unless `resize` is set, in which case it is resized (Lanczos3) to 28×28.
    pub fn from_image_files(paths: &[PathBuf], resize: bool) -> Result<Self, DigitsError> {
        if paths.is_empty() {
            return Err(DigitsError::Empty {
                path: PathBuf::from("<no image files>"),
            });
        }
        let mut pixels = Vec::with_capacity(paths.len() * IMAGE_PIXELS);
        for path in paths {
            let grey = read_grey(path, resize)?;
            pixels.extend(grey.as_raw().iter().map(|&b| f32::from(b) / 255.0));
        }
        Ok(Digits {
            pixels,
            labels: None,
        })
    }

    /// Reads every `.png`, `.jpg` and `.jpeg` file of a directory, sorted by name (numbers in
    /// names sort numerically, so `image_10` follows `image_9`).
    pub fn from_image_dir(dir: impl AsRef<Path>, resize: bool) -> Result<Self, DigitsError> {
        Self::from_image_files(&image_files(dir.as_ref())?, resize)
    }

    /// Image `index` as an 8-bit grey image (`round(pixel × 255)`), if it exists.
    pub fn to_grey_image(&self, index: usize) -> Option<GrayImage> {
        let bytes = self
            .image(index)?
            .iter()
            .map(|p| (p * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        GrayImage::from_raw(IMAGE_SIDE as u32, IMAGE_SIDE as u32, bytes)
    }

    /// Image `index` encoded as a grey JPEG of the given quality (1–100).
    pub fn to_jpeg(&self, index: usize, quality: u8) -> Result<Vec<u8>, DigitsError> {
        let image = self.to_grey_image(index).ok_or(DigitsError::Empty {
            path: PathBuf::from("<memory>"),
        })?;
        let mut bytes = Vec::new();
        let encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100));
        image
            .write_with_encoder(encoder)
            .map_err(|source| DigitsError::Encode { index, source })?;
        Ok(bytes)
    }
}

impl Digits {
    /// Decodes one PNG or JPEG image held in memory as a digit (as
    /// [`Digits::from_image_files`] does for files); errors name `<memory>`.
    pub fn from_image_bytes(bytes: &[u8], resize: bool) -> Result<Self, DigitsError> {
        let grey = decode_grey(bytes.to_vec(), Path::new("<memory>"), resize)?;
        let pixels = grey
            .as_raw()
            .iter()
            .map(|&b| f32::from(b) / 255.0)
            .collect();
        Ok(Digits {
            pixels,
            labels: None,
        })
    }
}

fn read_grey(path: &Path, resize: bool) -> Result<GrayImage, DataError> {
    decode_grey(read_limited(path, MAX_IMAGE_BYTES)?, path, resize)
}

/// A decoded image as a 28×28 grey digit (Lanczos3 when resized).
fn decode_grey(bytes: Vec<u8>, path: &Path, resize: bool) -> Result<GrayImage, DataError> {
    let image = decode(bytes, path)?.into_luma8();
    let side = IMAGE_SIDE as u32;
    fit(image, path, [side, side], resize, FilterType::Lanczos3)
}
