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
/// Smallest width or height accepted: an image smaller than this holds too little to resize
/// into a network's input (a 1×1 "image" is a placeholder or a tracking pixel, not a photo).
pub const MIN_IMAGE_SIDE: u32 = 8;

/// One image file read as a network's input, with what was done to make it one.
#[derive(Clone, Debug, PartialEq)]
pub struct InputImage {
    /// Planar `[C, H, W]` values in `[0, 1]` (an 8-bit value / 255, a 16-bit one / 65535).
    pub pixels: Vec<f32>,
    /// The file's own `[width, height]`.
    pub size: [u32; 2],
    /// The conversions applied, in order; empty when the file was already the input.
    pub conversions: Vec<Conversion>,
}

/// A conversion [`read_input`] applied to make a file the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// 16 bits per channel, kept at full precision (not cut to 8 bits).
    SixteenBit,
    /// A colour image made grey (luma, as `image`'s and PIL's `L` conversion).
    ToGrey,
    /// A grey image with its channel repeated as red, green and blue.
    ToRgb,
    /// The alpha channel dropped (not composited on a background).
    AlphaDropped,
    /// Resized from this `[width, height]` (bilinear).
    Resized([u32; 2]),
}

impl std::fmt::Display for Conversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SixteenBit => f.write_str("16-bit"),
            Self::ToGrey => f.write_str("colour to grey"),
            Self::ToRgb => f.write_str("grey to RGB"),
            Self::AlphaDropped => f.write_str("alpha dropped"),
            Self::Resized([w, h]) => write!(f, "resized from {w}×{h}"),
        }
    }
}

/// Reads one PNG or JPEG file as `channels` (1: grey by luma, 3: RGB) planes of
/// `size = [height, width]` in `[0, 1]`: the one reader behind [`crate::Images::from_files`]
/// and every dataset. A file of another size is an error unless `resize` is set (bilinear, as
/// torchvision's `Resize`); a side below [`MIN_IMAGE_SIDE`] is always one. 16-bit images keep
/// their precision; what was converted is listed in [`InputImage::conversions`].
///
/// ```no_run
/// use gradcam_data::files::{Conversion, read_input};
/// let image = read_input("photo.jpg".as_ref(), 3, [224, 224], true)?;
/// assert_eq!(image.pixels.len(), 3 * 224 * 224);
/// let resized = image.conversions.iter().any(|c| matches!(c, Conversion::Resized(_)));
/// # Ok::<(), gradcam_data::DataError>(())
/// ```
pub fn read_input(
    path: &Path,
    channels: usize,
    size: [usize; 2],
    resize: bool,
) -> Result<InputImage, DataError> {
    if !matches!(channels, 1 | 3) {
        return Err(DataError::Channels {
            path: path.to_path_buf(),
            channels,
        });
    }
    let image = decode(read_limited(path, MAX_IMAGE_BYTES)?, path)?;
    let (width, height) = (image.width(), image.height());
    if width.min(height) < MIN_IMAGE_SIDE {
        return Err(DataError::TooSmall {
            path: path.to_path_buf(),
            width,
            height,
            min: MIN_IMAGE_SIDE,
        });
    }
    let colour = image.color();
    let mut conversions = Vec::new();
    let sixteen_bit = colour.bytes_per_pixel() / colour.channel_count() > 1;
    if sixteen_bit {
        conversions.push(Conversion::SixteenBit);
    }
    match (channels, colour.has_color()) {
        (1, true) => conversions.push(Conversion::ToGrey),
        (3, false) => conversions.push(Conversion::ToRgb),
        _ => {}
    }
    if colour.has_alpha() {
        conversions.push(Conversion::AlphaDropped);
    }
    let [out_height, out_width] = size;
    let target = [out_width as u32, out_height as u32];
    if [width, height] != target {
        conversions.push(Conversion::Resized([width, height]));
    }
    // 8-bit images are resized as bytes (as PIL does), 16-bit ones as floats.
    let interleaved: Vec<f32> = match (channels, sixteen_bit) {
        (1, false) => bytes(fit(image.into_luma8(), path, target, resize, BILINEAR)?),
        (1, true) => fit(image.to_luma32f(), path, target, resize, BILINEAR)?.into_raw(),
        (_, false) => bytes(fit(image.into_rgb8(), path, target, resize, BILINEAR)?),
        (_, true) => fit(image.into_rgb32f(), path, target, resize, BILINEAR)?.into_raw(),
    };
    let pixels = (0..channels)
        .flat_map(|c| interleaved.iter().skip(c).step_by(channels).copied())
        .map(|v| v.clamp(0.0, 1.0))
        .collect();
    Ok(InputImage {
        pixels,
        size: [width, height],
        conversions,
    })
}

/// The resampling filter of [`read_input`]: bilinear (a triangle), as torchvision's `Resize`.
const BILINEAR: FilterType = FilterType::Triangle;

fn bytes<P: image::Pixel<Subpixel = u8>>(image: image::ImageBuffer<P, Vec<u8>>) -> Vec<f32> {
    image
        .into_raw()
        .iter()
        .map(|&b| f32::from(b) / 255.0)
        .collect()
}

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
