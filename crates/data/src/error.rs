//! What went wrong reading image files.

use std::path::PathBuf;

/// What went wrong reading images; every variant names the file (or `<memory>`).
///
/// | input | error |
/// |---|---|
/// | a file or directory that does not exist / cannot be read | [`DataError::NotFound`] / [`DataError::Io`] |
/// | a file larger than its format accepts | [`DataError::TooLarge`] |
/// | a directory without PNG/JPEG files, no files, an empty batch | [`DataError::Empty`] |
/// | a pixel outside `[0, 1]` or not finite (images in memory) | [`DataError::Pixel`] |
/// | an unreadable, truncated or other-format image file | [`DataError::Decode`] |
/// | an image of another size, resizing not asked for | [`DataError::ImageSize`] |
/// | an image narrower or shorter than [`crate::files::MIN_IMAGE_SIDE`] | [`DataError::TooSmall`] |
/// | a channel count other than 1 (grey) or 3 (RGB) | [`DataError::Channels`] |
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or directory does not exist.
    #[error("{path} not found")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than this format accepts.
    #[error("{path} is {size} bytes, more than the {limit} bytes this format accepts")]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// No image: a directory without image files, or an empty set.
    #[error("{path} holds no image")]
    Empty {
        /// The path given.
        path: PathBuf,
    },
    /// A pixel of an image in memory is outside `[0, 1]` or not finite.
    #[error("{path}: image {index}: pixel {pixel} is {value}, outside [0, 1]")]
    Pixel {
        /// `<memory>`.
        path: PathBuf,
        /// Index of the image.
        index: usize,
        /// Index of the pixel in the whole set (row-major).
        pixel: usize,
        /// Its value.
        value: f64,
    },
    /// An image file could not be decoded.
    #[error("{path}: cannot decode image")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An image file has the wrong size and resizing was not requested.
    #[error(
        "{path} is {width}×{height}, expected {}×{} (allow resizing: `resize` in the API, `--resize` on the command line)",
        expected[0],
        expected[1]
    )]
    ImageSize {
        /// The image file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The `[width, height]` expected.
        expected: [u32; 2],
    },
    /// An image file is too small to be a network's input, however resized.
    #[error("{path} is {width}×{height}: below {min} pixels a side, too small to explain")]
    TooSmall {
        /// The image file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// [`crate::files::MIN_IMAGE_SIDE`].
        min: u32,
    },
    /// Images were asked for in a channel count other than 1 (grey) or 3 (RGB).
    #[error("{channels} channels asked of {path}: images are read as 1 (grey) or 3 (RGB)")]
    Channels {
        /// The first image file.
        path: PathBuf,
        /// The channel count asked for.
        channels: usize,
    },
}
