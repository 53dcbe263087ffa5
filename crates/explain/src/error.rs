//! Errors returned for bad calls; no function of this crate panics on user data.

use serde::{Deserialize, Serialize};

/// A stage of an explanation whose values are checked for NaN and infinities, in the order
/// they are computed (the earliest bad stage is the one reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// The images given to the method.
    Input,
    /// The explained layer's output (the feature maps).
    Features,
    /// The model's logits.
    Logits,
    /// The score's gradient (at the explained layer, or at the input).
    Gradient,
    /// LRP's relevance at the input: not finite where a layer declared to take a non-negative
    /// input ([`crate::Affine::nonnegative_input`]) got a negative value, or where a rule
    /// without a stabiliser (LRP-0) divided by a zero output.
    Relevance,
    /// The network after the explained layer linearised at the activations (ShapleyCAM's
    /// Hessian-vector product, [`crate::ReluMode::Linearised`]): not finite where that network
    /// is not piecewise linear.
    Hessian,
    /// The method's map.
    Map,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Features => "feature maps",
            Self::Logits => "logits",
            Self::Gradient => "gradient",
            Self::Relevance => {
                "relevance (a layer declared to take a non-negative input got a negative value, or a rule without a stabiliser divided by a zero output)"
            }
            Self::Hessian => {
                "Hessian-vector product (the network after the explained layer is not piecewise linear there: an activation other than a ReLU, a gate, or max poolings whose windows overlap)"
            }
            Self::Map => "map",
        })
    }
}

/// The part of the model whose output had an unexpected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelPart {
    /// [`crate::Explainable::features`]: `[N, K, h, w]` with `K, h, w > 0` was expected.
    Features,
    /// [`crate::Explainable::logits`]: `[N, classes]` with `classes > 0` was expected.
    Logits,
}

/// Why an explanation could not be computed.
///
/// | input | error |
/// |---|---|
/// | an empty batch / an input of the wrong shape | [`ExplainError::EmptyBatch`] / [`ExplainError::InputShape`] |
/// | NaN or ±∞ in the input | [`ExplainError::NonFinite`] (stage, image, element; checked on the device, reported with the first read) |
/// | a target class out of range / neither one class nor one per image | [`ExplainError::TargetOutOfRange`] / [`ExplainError::TargetCount`] giving both counts (one class is applied to every image) |
/// | a target reading a class the model lacks ([`crate::ClassSum`], [`crate::FinerWeighted`], `--objective sum:3,12`) / a closure target not scoring one value per image | [`ExplainError::TargetOutput`] naming the target, output and output count / [`ExplainError::TargetShape`] |
/// | Ablation-CAM inside a [`crate::MultiLayerCam`] at a tapped layer (the head runs only from the explained layer) | [`ExplainError::NoHead`] naming the layer |
/// | ShapleyCAM on a model that does not route the nonlinearities after the layer ([`crate::Explainable::routes_head_nonlinearities`]), at a tapped or viewed layer, on a dense output, or for a target without a second derivative ([`crate::Target::hessian_product`]) / where the network after the layer is not piecewise linear | [`ExplainError::NoHessian`] saying which / [`ExplainError::NonFinite`] at [`Stage::Hessian`] (found on the device, reported with the first read) |
/// | a [`crate::MultiLayerCam`] naming a layer the model does not tap | [`ExplainError::UnknownLayer`] listing the ones it does |
/// | a region target ([`crate::Region`]) on a model without an output map / a mask of another size than the map | [`ExplainError::NoOutputMap`] naming the target / [`ExplainError::RegionShape`] giving both sizes |
/// | a model whose halves return tensors of the wrong shape | [`ExplainError::ModelOutput`] |
/// | weights finite but so large that the forward pass overflows; Ablation-CAM's weights on a clean score of 0 | [`ExplainError::NonFinite`] naming the image and the [`Stage`] (feature maps, logits, gradient, map), before anything is drawn or written |
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A value of one image is NaN or an infinity.
    #[error(
        "image {index} has a non-finite value (NaN or infinity) in its {stage} at element {element}"
    )]
    NonFinite {
        /// Where the value was found.
        stage: Stage,
        /// Index of the image in the batch.
        index: usize,
        /// Index of the first bad element within the image's tensor (row-major).
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
    /// A target reads a class the model does not output.
    #[error("the target {target:?} reads output {output}, but the model has {outputs} outputs")]
    TargetOutput {
        /// The target's name.
        target: String,
        /// The output it reads.
        output: usize,
        /// Number of outputs of the model.
        outputs: usize,
    },
    /// A target did not return one score per image.
    #[error(
        "the target {target:?} returned shape {found:?} for a batch of {batch}: one score per image expected"
    )]
    TargetShape {
        /// The target's name.
        target: String,
        /// Images in the batch.
        batch: usize,
        /// The shape it returned.
        found: Vec<usize>,
    },
    /// A target that reads a dense output map ([`crate::Region`]) met a model without one.
    #[error(
        "the target {target:?} reads the model's output map, and this model gives class scores only (a segmentation network gives a map)"
    )]
    NoOutputMap {
        /// The target's name.
        target: String,
    },
    /// A region's mask is not the size of the model's output map.
    #[error(
        "the region's mask is {}×{} pixels and the model's output map {}×{}: the mask must cover the map",
        mask[0], mask[1], map[0], map[1]
    )]
    RegionShape {
        /// The mask's `[height, width]`.
        mask: [usize; 2],
        /// The output map's `[height, width]`.
        map: [usize; 2],
    },
    /// The number of explicit targets differs from the batch size.
    #[error(
        "{} given for a batch of {}",
        count(*targets, "target class was", "target classes were"),
        count(*batch, "image", "images")
    )]
    TargetCount {
        /// Number of targets given.
        targets: usize,
        /// Number of images in the batch.
        batch: usize,
    },
    /// The model returned a tensor of an unexpected shape.
    #[error("the model's {part:?} returned shape {found:?} for a batch of {batch}")]
    ModelOutput {
        /// Which half of the model.
        part: ModelPart,
        /// Images in the batch.
        batch: usize,
        /// The shape that was returned.
        found: Vec<usize>,
    },
    /// A method that runs the rest of the network from modified activations (Ablation-CAM) was
    /// asked to at a layer the model only taps.
    #[error(
        "the rest of the network cannot run from the tapped layer {layer:?}: Ablation-CAM works on the model's explained layer only"
    )]
    NoHead {
        /// The tapped layer.
        layer: String,
    },
    /// A CAM over several layers names a layer the model does not tap.
    #[error(
        "the model has no layer {layer:?} before its explained layer; it taps {}",
        if available.is_empty() { "none (it does not implement Explainable::features_tapped)".to_owned() } else { available.join(", ") }
    )]
    UnknownLayer {
        /// The layer asked for.
        layer: String,
        /// The layers the model's forward taps, in order.
        available: Vec<String>,
    },
    /// A method needs the model to route layers it does not route.
    #[error(
        "{method} needs every convolution and fully connected layer of the model routed through ReluMode::affine; this model does not say it does (Explainable::routes_affine_layers)"
    )]
    Unrouted {
        /// The method.
        method: &'static str,
    },
    /// The score's Hessian-vector product at the explained layer ([`crate::ShapleyCam`]) cannot
    /// be taken exactly for this model, layer or target.
    #[error(
        "{method} needs the score's Hessian at the explained layer, which it cannot take here: {reason}"
    )]
    NoHessian {
        /// The method.
        method: &'static str,
        /// Why: what the model, the layer or the target does not give.
        reason: String,
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
    #[error(transparent)]
    Setting(#[from] SettingError),
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
    /// Reading results from the device failed.
    #[error("reading results from the device failed: {reason}")]
    DeviceRead {
        /// The backend's message.
        reason: String,
    },
}

/// A setting of a method or metric outside its range: which setting, the value given and the
/// range it must lie in.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {owner}.{field} = {value}: expected {expected}")]
pub struct SettingError {
    /// The method or metric (`"SmoothGrad"`, `"IntegratedGradients"`, …).
    pub owner: &'static str,
    /// The field (`"samples"`, …).
    pub field: &'static str,
    /// The value given, as text.
    pub value: String,
    /// The range it must lie in, in words (`"at least 1"`).
    pub expected: &'static str,
}

impl SettingError {
    /// An error for `owner.field = value`, which should be `expected`.
    pub fn new(
        owner: &'static str,
        field: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self {
            owner,
            field,
            value: value.to_string(),
            expected,
        }
    }

    /// `Ok` when `ok`, else the error for `owner.field = value`.
    pub fn check(
        ok: bool,
        owner: &'static str,
        field: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::new(owner, field, value, expected))
        }
    }
}

/// Text that the targets' grammar does not read ([`crate::Targets`]' and
/// [`crate::Objective`]'s `FromStr`): the text and what was expected.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{text:?}: {reason}")]
pub struct ParseTargetError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A name that names none of the values of a setting (the `FromStr` error of every named
/// setting: presets, methods, combinations…).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown {what} {name:?}; expected one of {}", expected.join(", "))]
pub struct UnknownName {
    /// What was being named (`"preset"`, `"CAM method"`, …).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// Every valid name.
    pub expected: Vec<&'static str>,
}

impl UnknownName {
    /// The value among `all` whose name is `text`, or the error listing every name.
    ///
    /// ```
    /// use gradcam_explain::{Preset, UnknownName};
    /// let names = |p: &Preset| p.name();
    /// assert_eq!(UnknownName::find("seed", &Preset::ALL, names, "preset"), Ok(Preset::Seed));
    /// let error = UnknownName::find("x", &Preset::ALL, names, "preset").unwrap_err();
    /// assert_eq!(error.expected, ["seed", "paper", "captum", "pytorch-grad-cam"]);
    /// ```
    pub fn find<T: Clone>(
        text: &str,
        all: &[T],
        name: impl Fn(&T) -> &'static str,
        what: &'static str,
    ) -> Result<T, Self> {
        all.iter()
            .find(|v| name(v) == text)
            .cloned()
            .ok_or_else(|| Self {
                what,
                name: text.to_owned(),
                expected: all.iter().map(name).collect(),
            })
    }
}

/// `"1 image"`, `"2 images"`.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Result alias for this crate.
pub type Result<T, E = ExplainError> = std::result::Result<T, E>;
