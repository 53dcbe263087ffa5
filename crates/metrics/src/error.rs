//! Errors returned for bad calls; no function of this crate panics on user data.

use gradcam_explain::{ExplainError, SettingError};

/// Why a metric could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The model or a method refused the batch or a target (shape, NaN, class out of range…).
    #[error(transparent)]
    Explain(#[from] ExplainError),
    /// The number of maps differs from the batch size.
    #[error("{found} maps were given for a batch of {batch} images")]
    MapCount {
        /// Maps given.
        found: usize,
        /// Images in the batch.
        batch: usize,
    },
    /// A map's shape does not fit the images.
    #[error(
        "map {index} has shape {found:?}; expected [{}, {}, {}] or [1, {}, {}]",
        expected[0], expected[1], expected[2], expected[1], expected[2]
    )]
    MapShape {
        /// Index of the map in the batch.
        index: usize,
        /// `[channels, height, width]` of the images.
        expected: [usize; 3],
        /// The map's shape.
        found: [usize; 3],
    },
    /// A map (or a perturbation) holds NaN or an infinity.
    #[error("map {index} contains a non-finite value at element {element}")]
    NonFiniteMap {
        /// Index of the map in the batch.
        index: usize,
        /// Index of the first bad value (row-major `C×H×W`).
        element: usize,
    },
    /// Given perturbations do not fit the batch.
    #[error(
        "perturbations of shape {found:?} do not fit a batch of shape {batch:?}: expected [N · samples, C, H, W]"
    )]
    PerturbationShape {
        /// Shape of the perturbation tensor.
        found: [usize; 4],
        /// Shape of the input batch.
        batch: [usize; 4],
    },
    /// Two sequences compared or combined differ in length.
    #[error("lengths differ: {left} and {right} values")]
    LengthMismatch {
        /// Length of the first.
        left: usize,
        /// Length of the second.
        right: usize,
    },
    /// A setting is out of its range.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// Result alias for this crate.
pub type Result<T, E = MetricError> = std::result::Result<T, E>;

/// Most perturbed values one call draws: bounds the memory a setting can ask for.
pub(crate) const MAX_PERTURBED_VALUES: usize = 1 << 31;

/// The number of perturbed values `images × samples × per_image`, refused when it would exceed
/// [`MAX_PERTURBED_VALUES`].
pub(crate) fn perturbed_values(images: usize, samples: usize, per_image: usize) -> Result<usize> {
    images
        .checked_mul(samples)
        .and_then(|n| n.checked_mul(per_image))
        .filter(|&n| n <= MAX_PERTURBED_VALUES)
        .ok_or_else(|| {
            SettingError::new(
                "perturbations",
                "samples",
                samples,
                "few enough that the perturbed images fit in 2^31 values",
            )
            .into()
        })
}
