//! Errors returned for bad calls; no function of this crate panics on user data.

/// Why an explanation could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExplainError {
    /// The batch holds no image.
    #[error("empty batch: at least one image is needed")]
    EmptyBatch,
    /// The input tensor's shape does not fit the model.
    #[error(
        "input shape {found:?} does not fit the model: expected [N, {}, {}, {}]",
        expected[0],
        expected[1],
        expected[2]
    )]
    InputShape {
        /// `[channels, height, width]` the model expects.
        expected: [usize; 3],
        /// Shape of the tensor that was given.
        found: [usize; 4],
    },
    /// An image contains NaN or an infinity.
    #[error("image {index} contains a non-finite value (NaN or infinity) at element {element}")]
    NonFiniteInput {
        /// Index of the image in the batch.
        index: usize,
        /// Index of the first bad element within the image (row-major `C×H×W`).
        element: usize,
    },
    /// A requested target class does not exist.
    #[error(
        "target class {target} for image {index} is out of range: the model has {classes} classes"
    )]
    TargetOutOfRange {
        /// Index of the image in the batch.
        index: usize,
        /// The requested class.
        target: usize,
        /// Number of classes the model outputs.
        classes: usize,
    },
    /// The number of explicit targets differs from the batch size.
    #[error("{targets} target classes were given for a batch of {batch} images")]
    TargetCount {
        /// Number of targets given.
        targets: usize,
        /// Number of images in the batch.
        batch: usize,
    },
    /// The model returned a tensor of an unexpected shape.
    #[error("the model's {stage} returned shape {found:?}, expected {expected}")]
    ModelOutput {
        /// `"features"` or `"logits"`.
        stage: &'static str,
        /// What was expected, in words.
        expected: String,
        /// The shape that was returned.
        found: Vec<usize>,
    },
    /// The guided ReLU has no implementation for the tensors' backend.
    #[error(
        "guided backpropagation is not implemented for device {device}: use a Flex or NdArray device (enable the matching feature)"
    )]
    UnsupportedDevice {
        /// The device, as Burn prints it.
        device: String,
    },
    /// A method's setting is out of its range.
    #[error("invalid setting: {what}")]
    InvalidSetting {
        /// What is wrong.
        what: String,
    },
    /// A map buffer does not match its declared shape.
    #[error("map of shape {shape:?} needs {expected} values, found {found}")]
    MapShape {
        /// Declared `[channels, height, width]`.
        shape: [usize; 3],
        /// `channels × height × width`.
        expected: usize,
        /// Values supplied.
        found: usize,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ExplainError> = std::result::Result<T, E>;
