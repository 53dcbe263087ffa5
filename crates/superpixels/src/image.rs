//! Segmenting the `image` crate's 8-bit buffers.

use image::{GrayImage, RgbImage};

use crate::{Segmentation, Slic, SlicError};

impl Slic {
    /// Segments an 8-bit RGB image: [`Slic::segment_u8`] on its pixels, three channels
    /// (skimage's `slic` on the `uint8` array of shape `(height, width, 3)`).
    ///
    /// # Errors
    ///
    /// As [`Slic::segment_u8`]: an empty image or an unsupported option.
    pub fn segment_rgb(&self, image: &RgbImage) -> Result<Segmentation, SlicError> {
        let (width, height) = image.dimensions();
        self.segment_u8(image.as_raw(), height as usize, width as usize, 3)
    }

    /// Segments an 8-bit grey image: [`Slic::segment_u8`] on its pixels, one channel
    /// (skimage's `slic` on the `uint8` array of shape `(height, width)`, `channel_axis=None`).
    ///
    /// # Errors
    ///
    /// As [`Slic::segment_u8`]: an empty image or an unsupported option.
    pub fn segment_gray(&self, image: &GrayImage) -> Result<Segmentation, SlicError> {
        let (width, height) = image.dimensions();
        self.segment_u8(image.as_raw(), height as usize, width as usize, 1)
    }
}
