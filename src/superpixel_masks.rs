//! Feature masks of superpixels: each image of a batch segmented by SLIC (`superpixels`), its
//! segments the features of a perturbation method (`explain::FeatureMask`). The bridge lives
//! here because neither crate knows the other.

use gradcam_data::Images;
use gradcam_explain::FeatureMask;
use gradcam_superpixels::{Slic, SlicError};

/// Why a batch could not be segmented.
#[derive(Debug, thiserror::Error)]
pub enum SuperpixelMaskError {
    /// The batch has no image.
    #[error("no image to segment")]
    Empty,
    /// SLIC refused an image (its settings, or its shape).
    #[error("image {index} ({path}): {source}")]
    Slic {
        /// The image's index in the batch.
        index: usize,
        /// The file it came from, if known.
        path: String,
        /// SLIC's reason.
        source: SlicError,
    },
}

/// The SLIC superpixels of every image of `images` as one feature mask `[N, 1, H, W]` (every
/// channel of a pixel in its segment), the ids shifted to start at 0 as Captum shifts a mask.
/// Each image is segmented from its bytes (`Images` holds `byte / 255`), as scikit-image's
/// `slic` segments the `uint8` array Captum's tutorials give it.
///
/// ```
/// use burn_gradcam::data::Images;
/// use burn_gradcam::explain::{FeatureMask, Lime};
/// use burn_gradcam::superpixel_mask;
/// use burn_gradcam::superpixels::Slic;
///
/// // A dark left half and a light right half: no superpixel crosses the edge.
/// let pixels: Vec<f32> = (0..3 * 32 * 32).map(|i| if i % 32 < 16 { 0.1 } else { 0.9 }).collect();
/// let images = Images::new([1, 3, 32, 32], pixels)?;
/// let mask = superpixel_mask(&images, &Slic::default().with_n_segments(4))?;
/// let FeatureMask::Given { ids, shape } = &mask else { unreachable!() };
/// assert_eq!(*shape, [1, 1, 32, 32]);
/// assert_eq!(ids.iter().min(), Some(&0));
/// for row in ids.chunks(32) {
///     assert!(row[..16].iter().all(|id| !row[16..].contains(id)));
/// }
/// let lime = Lime::new().with_mask(mask);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`SuperpixelMaskError::Empty`] for an empty batch, and SLIC's refusal naming the image.
pub fn superpixel_mask(images: &Images, slic: &Slic) -> Result<FeatureMask, SuperpixelMaskError> {
    let [n, c, h, w] = images.shape();
    if n == 0 {
        return Err(SuperpixelMaskError::Empty);
    }
    let mut ids = Vec::with_capacity(n * h * w);
    for index in 0..n {
        // `Images` holds `n` images; were one missing, the mask's shape check names the gap.
        let Some(image) = images.image(index) else {
            break;
        };
        // Interleaved bytes: `Images` holds `byte / 255` exactly, so rounding recovers the byte.
        let bytes: Vec<u8> = (0..h * w)
            .flat_map(|p| (0..c).map(move |ch| (ch, p)))
            .map(|(ch, p)| (image[ch * h * w + p] * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        let segmentation =
            slic.segment_u8(&bytes, h, w, c)
                .map_err(|source| SuperpixelMaskError::Slic {
                    index,
                    path: images
                        .paths()
                        .get(index)
                        .map_or_else(|| "in memory".to_owned(), |p| p.display().to_string()),
                    source,
                })?;
        ids.extend(segmentation.labels);
    }
    let first = ids.iter().copied().min().unwrap_or(0);
    let ids = ids.into_iter().map(|id| id - first).collect();
    Ok(FeatureMask::given(ids, [n, 1, h, w]))
}
