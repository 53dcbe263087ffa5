//! A checked, borrowed view of a 2-D map of `f32` values.

use crate::VizError;

/// A row-major `width x height` map of finite `f32` values.
///
/// The only way to build one is [`MapRef::new`], which checks the size and the
/// values, so every drawing function can rely on them.
///
/// ```
/// use gradcam_viz::MapRef;
///
/// let values = [0.0, 0.5, 1.0, 0.25, 0.75, 0.0];
/// let map = MapRef::new(&values, 3, 2)?;
/// assert_eq!((map.width(), map.height()), (3, 2));
/// assert_eq!(map.get(2, 0), Some(1.0));
/// assert_eq!(map.get(3, 0), None);
///
/// assert!(MapRef::new(&values, 4, 2).is_err()); // 6 values for 8 cells
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapRef<'a> {
    width: usize,
    height: usize,
    channels: usize,
    values: &'a [f32],
}

impl<'a> MapRef<'a> {
    /// Wraps `values` (row-major, `values[y * width + x]`) as a map.
    ///
    /// # Errors
    ///
    /// [`VizError::EmptyMap`] if a side is zero, [`VizError::MapTooLarge`] if
    /// `width * height` overflows, [`VizError::LengthMismatch`] if
    /// `values.len() != width * height`, and [`VizError::NonFinite`] naming the
    /// first NaN or infinite value.
    pub fn new(values: &'a [f32], width: usize, height: usize) -> Result<Self, VizError> {
        Self::planar(values, 1, width, height)
    }

    /// Wraps `channels` planes of `width x height` values (`[C, H, W]` row-major, as a
    /// tensor stores an image): an RGB image or a pixel attribution of one.
    ///
    /// # Errors
    ///
    /// As [`MapRef::new`], with `channels × width × height` values expected (a zero channel
    /// count is an empty map).
    ///
    /// ```
    /// use gradcam_viz::MapRef;
    /// let rgb = MapRef::planar(&[0.5; 12], 3, 2, 2)?;
    /// assert_eq!((rgb.channels(), rgb.width(), rgb.height()), (3, 2, 2));
    /// # Ok::<(), gradcam_viz::VizError>(())
    /// ```
    pub fn planar(
        values: &'a [f32],
        channels: usize,
        width: usize,
        height: usize,
    ) -> Result<Self, VizError> {
        if width == 0 || height == 0 || channels == 0 {
            return Err(VizError::EmptyMap { width, height });
        }
        let expected = width
            .checked_mul(height)
            .and_then(|plane| plane.checked_mul(channels))
            .ok_or(VizError::MapTooLarge { width, height })?;
        if values.len() != expected {
            return Err(VizError::LengthMismatch {
                width,
                height,
                expected,
                actual: values.len(),
            });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(VizError::NonFinite {
                x: i % width,
                y: (i / width) % height,
                value: values[i],
            });
        }
        Ok(Self {
            width,
            height,
            channels,
            values,
        })
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of planes (1 for a map, 3 for an RGB image).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The values, row-major (plane after plane); all finite.
    pub fn values(&self) -> &'a [f32] {
        self.values
    }

    /// The sum of the planes (a one-plane map is its own sum), row-major `width × height`.
    pub(crate) fn channel_sum(&self) -> Vec<f32> {
        let plane = self.width * self.height;
        let mut sum = self.values[..plane].to_vec();
        for channel in self.values.chunks_exact(plane).skip(1) {
            sum.iter_mut().zip(channel).for_each(|(s, v)| *s += v);
        }
        sum
    }

    /// The value at column `x`, row `y`, or `None` outside the map.
    pub fn get(&self, x: usize, y: usize) -> Option<f32> {
        (x < self.width && y < self.height).then(|| self.values[y * self.width + x])
    }

    /// `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Fails with [`VizError::SizeMismatch`] naming `what` unless `other`
    /// has the same size as `self`.
    pub(crate) fn check_same_size(
        &self,
        other: &MapRef<'_>,
        what: &'static str,
    ) -> Result<(), VizError> {
        if self.size() == other.size() {
            Ok(())
        } else {
            Err(VizError::SizeMismatch {
                what,
                expected_width: self.width,
                expected_height: self.height,
                actual_width: other.width,
                actual_height: other.height,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_sizes() {
        assert!(matches!(
            MapRef::new(&[], 0, 3),
            Err(VizError::EmptyMap {
                width: 0,
                height: 3
            })
        ));
        assert!(matches!(
            MapRef::new(&[], 3, 0),
            Err(VizError::EmptyMap { .. })
        ));
    }

    #[test]
    fn rejects_length_mismatch() {
        let err = MapRef::new(&[0.0; 5], 2, 3).unwrap_err();
        assert!(matches!(
            err,
            VizError::LengthMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ));
        assert_eq!(err.to_string(), "a 2x3 map needs 6 values, got 5");
    }

    #[test]
    fn rejects_overflowing_sizes() {
        assert!(matches!(
            MapRef::new(&[0.0], usize::MAX, 2),
            Err(VizError::MapTooLarge { .. })
        ));
    }

    #[test]
    fn rejects_non_finite_values_by_position() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = [0.0; 6];
            values[4] = bad;
            let err = MapRef::new(&values, 3, 2).unwrap_err();
            assert!(
                matches!(err, VizError::NonFinite { x: 1, y: 1, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("(x=1, y=1)"), "{err}");
        }
    }

    #[test]
    fn accessors() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let map = MapRef::new(&values, 3, 2).unwrap();
        assert_eq!(map.size(), (3, 2));
        assert_eq!(map.values(), &values);
        assert_eq!(map.get(0, 1), Some(4.0));
        assert_eq!(map.get(0, 2), None);
    }
}
