//! What an explanation computes: the CAM combination, the score, the upsampling.

use serde::{Deserialize, Serialize};

/// How the channel-weighted feature maps `α_k·A_k` are combined into one map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamCombination {
    /// `Σ_k ReLU(α_k·A_k)`: ReLU per channel before the sum (the seed report, Algorithm 1 line 20).
    PerChannelRelu,
    /// `ReLU(Σ_k α_k·A_k)`: the paper's Grad-CAM, Captum `relu_attributions=True`, pytorch-grad-cam.
    ReluAfterSum,
    /// `Σ_k α_k·A_k`: no ReLU (Captum's `LayerGradCam` default).
    Signed,
}

/// How the explained layer's activations `A` and the score's gradients `G = ∂y/∂A` are turned
/// into per-channel (or per-cell) weights — the one thing that distinguishes the CAM methods
/// (pytorch-grad-cam's `get_cam_weights` / `get_cam_image`). The weights then go through the
/// same [`CamCombination`], upsampling and normalisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CamMethod {
    /// Grad-CAM (Selvaraju et al.): `α_k = mean_ij G_k[i, j]`.
    #[default]
    GradCam,
    /// Grad-CAM++ (Chattopadhyay et al., eq. 19): `α_k = Σ_ij ReLU(G) · a_ij` with
    /// `a_ij = G² / (2G² + (Σ_ij A_k)·G³ + 1e-6)`, and `a_ij = 0` where `G = 0`.
    GradCamPlusPlus,
    /// XGrad-CAM (Fu et al.): `α_k = Σ_ij G·A / (Σ_ij A_k + 1e-7)`.
    XGradCam,
    /// HiResCAM (Draelos and Carin): per-cell weights `G` (the map is `Σ_k G_k ⊙ A_k`).
    HiResCam,
    /// LayerCAM (Jiang et al.): per-cell weights `ReLU(G)`.
    LayerCam,
    /// Score-CAM (Wang et al.): no gradients. Each activation channel, bilinearly upsampled
    /// (corners aligned, as pytorch-grad-cam's `UpsamplingBilinear2d`) and min-max normalised,
    /// masks the input; the channel's weight is the softmax over channels of the masked input's
    /// score. The masked inputs run in batches of [`SCORE_CAM_BATCH`](crate::SCORE_CAM_BATCH).
    ScoreCam,
    /// Eigen-CAM (Muhammad and Yeasin): no gradients, no weights. The map is the projection of
    /// the centred activations (cells × channels) on their first principal component. An SVD's
    /// sign is arbitrary; it is pinned as pytorch-grad-cam's sign correction does: negated when
    /// its most negative value outweighs its most positive one. The combination's ReLU (if any)
    /// applies to the projection.
    EigenCam,
}

impl CamMethod {
    /// Every method, in documentation order.
    pub const ALL: [CamMethod; 7] = [
        Self::GradCam,
        Self::GradCamPlusPlus,
        Self::XGradCam,
        Self::HiResCam,
        Self::LayerCam,
        Self::ScoreCam,
        Self::EigenCam,
    ];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::GradCam => "grad-cam",
            Self::GradCamPlusPlus => "grad-cam-plus-plus",
            Self::XGradCam => "xgrad-cam",
            Self::HiResCam => "hires-cam",
            Self::LayerCam => "layer-cam",
            Self::ScoreCam => "score-cam",
            Self::EigenCam => "eigen-cam",
        }
    }
}

impl std::fmt::Display for CamMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CamMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name(s, &Self::ALL, |v| v.name(), "CAM method")
    }
}

/// Which scalar per image is differentiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// The model's output at the target class (for the MNIST net a log-probability), as the seed
    /// report, Captum and pytorch-grad-cam use it.
    ModelOutput,
    /// The pre-softmax logit at the target class, as the Grad-CAM paper does.
    Logit,
    /// The softmax probability of the target class (pytorch-grad-cam's
    /// `ClassifierOutputSoftmaxTarget`; the score RISE's deletion and insertion curves use).
    Probability,
}

/// The resampling filter used to bring a layer map to the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear with half-pixel centres: exactly PyTorch's
    /// `F.interpolate(mode="bilinear", align_corners=False)` (and OpenCV's `INTER_LINEAR` when
    /// upsampling).
    Bilinear,
    /// PyTorch's `mode="nearest"`: source index `floor(dst · in / out)` (Captum's default).
    Nearest,
}

/// How the layer-resolution map is brought to the input resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Upsampling {
    /// Zero cells added on each side before resizing. The seed uses 1: without padding in its
    /// convolutions the 8×8 map covers the image's centre, not its border.
    pub pad: usize,
    /// The resampling filter.
    pub interpolation: Interpolation,
    /// pytorch-grad-cam's order: min-max normalise the layer map, resize, then min-max
    /// normalise again (epsilon [`crate::PYTORCH_GRAD_CAM_EPSILON`]). The upsampled map is then in `[0, 1]`.
    pub min_max_around_resize: bool,
}

/// Everything that decides the numbers of an explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExplainConfig {
    /// How activations and gradients become weights (Grad-CAM unless set).
    #[serde(default)]
    pub method: CamMethod,
    /// Channel combination of the CAM.
    pub combination: CamCombination,
    /// The differentiated score (for Grad-CAM and guided backpropagation alike).
    pub score: Score,
    /// Layer map → input-size map.
    pub upsampling: Upsampling,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Preset::Seed.config()
    }
}

/// Named combinations matching the seed report, the paper and the Python peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The seed report: per-channel ReLU, model-output score, pad 1, bilinear.
    Seed,
    /// Selvaraju et al.: ReLU after the sum, logit score, no pad, bilinear.
    Paper,
    /// Captum's `GuidedGradCam`: ReLU after the sum, model-output score, no pad, nearest.
    Captum,
    /// pytorch-grad-cam's `GradCAM`: ReLU after the sum, model-output score, min-max, bilinear
    /// resize, min-max.
    PytorchGradCam,
}

impl Preset {
    /// Every preset, in documentation order.
    pub const ALL: [Preset; 4] = [Self::Seed, Self::Paper, Self::Captum, Self::PytorchGradCam];

    /// The settings this preset stands for.
    ///
    /// ```
    /// use gradcam_explain::{CamCombination, Interpolation, Preset};
    ///
    /// let seed = Preset::Seed.config();
    /// assert_eq!(seed.combination, CamCombination::PerChannelRelu);
    /// assert_eq!(seed.upsampling.pad, 1);
    /// assert_eq!(seed.upsampling.interpolation, Interpolation::Bilinear);
    /// ```
    pub fn config(self) -> ExplainConfig {
        let (combination, score, pad, interpolation, min_max_around_resize) = match self {
            Self::Seed => (
                CamCombination::PerChannelRelu,
                Score::ModelOutput,
                1,
                Interpolation::Bilinear,
                false,
            ),
            Self::Paper => (
                CamCombination::ReluAfterSum,
                Score::Logit,
                0,
                Interpolation::Bilinear,
                false,
            ),
            Self::Captum => (
                CamCombination::ReluAfterSum,
                Score::ModelOutput,
                0,
                Interpolation::Nearest,
                false,
            ),
            Self::PytorchGradCam => (
                CamCombination::ReluAfterSum,
                Score::ModelOutput,
                0,
                Interpolation::Bilinear,
                true,
            ),
        };
        ExplainConfig {
            method: CamMethod::GradCam,
            combination,
            score,
            upsampling: Upsampling {
                pad,
                interpolation,
                min_max_around_resize,
            },
        }
    }

    /// The preset's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Paper => "paper",
            Self::Captum => "captum",
            Self::PytorchGradCam => "pytorch-grad-cam",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name(s, &Self::ALL, |v| v.name(), "preset")
    }
}

/// The value among `all` whose command-line name is `text`, or an error listing the names:
/// the one `FromStr` behind every named setting.
///
/// ```
/// use gradcam_explain::{Preset, parse_name};
/// assert_eq!(parse_name("seed", &Preset::ALL, |p| p.name(), "preset"), Ok(Preset::Seed));
/// assert!(parse_name("x", &Preset::ALL, |p| p.name(), "preset").unwrap_err().contains("seed"));
/// ```
pub fn parse_name<T: Copy>(
    text: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|v| name(*v)).collect();
            format!(
                "unknown {what} {text:?}; expected one of {}",
                names.join(", ")
            )
        })
}
