//! Image files (PNG, JPEG): bounded reading, decoding, size checks and directory listing, for
//! every format built on them.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, imageops::FilterType};

use crate::DataError;

/// Largest image file accepted (16 MiB).
pub const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest width or height decoded: a network's input needs far less, and a small file
/// declaring a huge image (a decompression bomb) would otherwise cost seconds to decode and
/// resize.
pub const MAX_IMAGE_SIDE: u32 = 2048;

/// Reads a whole file after checking its size, naming the file in every error.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Decodes a PNG or JPEG held in memory, refusing other formats and images beyond
/// [`MAX_IMAGE_SIDE`] (a decompression bomb).
pub fn decode(bytes: Vec<u8>, path: &Path) -> Result<DynamicImage, DataError> {
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
/// error naming the file (`path`) and both sizes.
pub fn fit<P: image::Pixel + 'static>(
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
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
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
