//! Digits as image files (PNG, JPEG): read as 8-bit grey, written as 8-bit grey.

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageFormat, imageops::FilterType};

use super::{DataError, Digits};
use crate::net::{IMAGE_PIXELS, IMAGE_SIDE};

/// Largest image file accepted (16 MiB).
pub(super) const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest width or height decoded: a digit needs far less, and a small file declaring a huge
/// image (a decompression bomb) would otherwise cost seconds to decode and resize.
const MAX_IMAGE_SIDE: u32 = 2048;

impl Digits {
    /// Reads image files as digits, in the order given. Colour images are converted to grey
    /// (luma; alpha is ignored), 16-bit images to 8-bit; an image that is not 28×28 is an error
    /// unless `resize` is set, in which case it is resized (Lanczos3) to 28×28.
    pub fn from_image_files(paths: &[PathBuf], resize: bool) -> Result<Self, DataError> {
        if paths.is_empty() {
            return Err(DataError::Empty {
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
    pub fn from_image_dir(dir: impl AsRef<Path>, resize: bool) -> Result<Self, DataError> {
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
    pub fn to_jpeg(&self, index: usize, quality: u8) -> Result<Vec<u8>, DataError> {
        let image = self.to_grey_image(index).ok_or(DataError::Empty {
            path: PathBuf::from("<memory>"),
        })?;
        let mut bytes = Vec::new();
        let encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100));
        image
            .write_with_encoder(encoder)
            .map_err(|source| DataError::Encode { index, source })?;
        Ok(bytes)
    }
}

impl Digits {
    /// Decodes one PNG or JPEG image held in memory as a digit (as
    /// [`Digits::from_image_files`] does for files); errors name `<memory>`.
    pub fn from_image_bytes(bytes: &[u8], resize: bool) -> Result<Self, DataError> {
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
    decode_grey(super::read_limited(path, MAX_IMAGE_BYTES)?, path, resize)
}

fn decode_grey(bytes: Vec<u8>, path: &Path, resize: bool) -> Result<GrayImage, DataError> {
    let image = decode(bytes, path)?.into_luma8();
    let side = IMAGE_SIDE as u32;
    fit(image, path, [side, side], resize, FilterType::Lanczos3)
}

/// Decodes a PNG or JPEG held in memory, refusing other formats and images beyond
/// [`MAX_IMAGE_SIDE`] (a decompression bomb).
pub(super) fn decode(bytes: Vec<u8>, path: &Path) -> Result<DynamicImage, DataError> {
    let decode = |source| DataError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let format = image::guess_format(&bytes).map_err(decode)?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        let hint = image::error::ImageFormatHint::Exact(format);
        return Err(decode(image::ImageError::Unsupported(hint.into())));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    reader.decode().map_err(decode)
}

/// `image` if it is `[width, height]`; else resized with `filter` when `resize` is set, or an
/// error naming the file and both sizes.
pub(super) fn fit<P: image::Pixel + 'static>(
    image: image::ImageBuffer<P, Vec<P::Subpixel>>,
    path: &Path,
    [width, height]: [u32; 2],
    resize: bool,
    filter: FilterType,
) -> Result<image::ImageBuffer<P, Vec<P::Subpixel>>, DataError> {
    let (found_width, found_height) = image.dimensions();
    if (found_width, found_height) == (width, height) {
        Ok(image)
    } else if resize {
        Ok(image::imageops::resize(&image, width, height, filter))
    } else {
        Err(DataError::ImageSize {
            path: path.to_path_buf(),
            width: found_width,
            height: found_height,
            expected: [width, height],
        })
    }
}

/// The `.png`, `.jpg` and `.jpeg` files of a directory, sorted by name (numbers in names sort
/// numerically).
pub(super) fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: dir.to_path_buf(),
        },
        _ => DataError::Io {
            path: dir.to_path_buf(),
            source,
        },
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"));
        if is_image && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(DataError::Empty {
            path: dir.to_path_buf(),
        });
    }
    paths.sort_by_key(|p| natural_key(p));
    Ok(paths)
}

/// Splits a file name into text and number runs so that `image_10` sorts after `image_9`.
fn natural_key(path: &Path) -> Vec<(String, u64)> {
    // A path without a file name (none is listed from a directory) sorts first.
    let name = path.file_name().map_or("".into(), |n| n.to_string_lossy());
    let mut key = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u64::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    key.push((text, digits.parse().unwrap_or(0)));
    key
}
