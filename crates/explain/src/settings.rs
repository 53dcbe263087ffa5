//! What every CAM shares after its weighting: the channel combination, the upsampling, and the
//! presets that reproduce the seed report, the paper and the Python peers.

use burn::config::Config;

use crate::target::Score;

/// How the channel-weighted activations `α_k·A_k` are combined into one map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Combination {
    /// `Σ_k ReLU(α_k·A_k)`: ReLU per channel before the sum (the seed report, Algorithm 1 line 20).
    PerChannelRelu,
    /// `ReLU(Σ_k α_k·A_k)`: the paper's Grad-CAM, Captum `relu_attributions=True`, pytorch-grad-cam.
    ReluAfterSum,
    /// `Σ_k α_k·A_k`: no ReLU (Captum's `LayerGradCam` default).
    Signed,
}

impl Combination {
    /// Every combination, in documentation order.
    pub const ALL: [Combination; 3] = [Self::PerChannelRelu, Self::ReluAfterSum, Self::Signed];

    /// The combination as a formula: `Σ ReLU(αA)`, `ReLU(Σ αA)` or `Σ αA`.
    pub fn formula(self) -> &'static str {
        match self {
            Self::PerChannelRelu => "Σ ReLU(αA)",
            Self::ReluAfterSum => "ReLU(Σ αA)",
            Self::Signed => "Σ αA",
        }
    }

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::PerChannelRelu => "per-channel",
            Self::ReluAfterSum => "after-sum",
            Self::Signed => "signed",
        }
    }
}

/// The resampling filter that brings a layer map to the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Bilinear with half-pixel centres: exactly PyTorch's
    /// `F.interpolate(mode="bilinear", align_corners=False)` (and OpenCV's `INTER_LINEAR` when
    /// upsampling).
    Bilinear,
    /// PyTorch's `mode="nearest"`: source index `floor(dst · in / out)` (Captum's default).
    Nearest,
}

impl Interpolation {
    /// Every filter.
    pub const ALL: [Interpolation; 2] = [Self::Bilinear, Self::Nearest];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bilinear => "bilinear",
            Self::Nearest => "nearest",
        }
    }
}

/// How the layer-resolution map is brought to the input resolution.
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub struct Upsampling {
    /// Zero cells added on each side before resizing. The seed uses 1: without padding in its
    /// convolutions the 8×8 map covers the image's centre, not its border.
    #[config(default = 0)]
    pub pad: usize,
    /// The resampling filter.
    #[config(default = "Interpolation::Bilinear")]
    pub interpolation: Interpolation,
    /// pytorch-grad-cam's order: min-max normalise the layer map, resize, then min-max
    /// normalise again (with pytorch-grad-cam's epsilon, 1e-7). The upsampled map is then in
    /// `[0, 1]`.
    #[config(default = false)]
    pub min_max_around_resize: bool,
}

/// The settings every CAM method shares. The defaults are the paper's Grad-CAM, as the peers
/// compute it: ReLU after the channel sum, no padding, bilinear upsampling (the CAM settings
/// of [`Preset::Paper`]); the presets give the seed report's, Captum's and pytorch-grad-cam's.
///
/// ```
/// use gradcam_explain::{CamSettings, Combination, Interpolation, Preset};
/// let paper = CamSettings::default();
/// assert_eq!(paper, Preset::Paper.cam_settings());
/// assert_eq!(paper.combination, Combination::ReluAfterSum);
/// assert_eq!((paper.upsampling.pad, paper.upsampling.interpolation), (0, Interpolation::Bilinear));
/// let seed = Preset::Seed.cam_settings();
/// assert_eq!((seed.combination, seed.upsampling.pad), (Combination::PerChannelRelu, 1));
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub struct CamSettings {
    /// Channel combination of the CAM.
    #[config(default = "Combination::ReluAfterSum")]
    pub combination: Combination,
    /// Layer map → input-size map.
    #[config(default = "Upsampling::new()")]
    pub upsampling: Upsampling,
    /// pytorch-grad-cam's `eigen_smooth`: the weighted activations `α_k·A_k` are projected on
    /// their first principal component (as [`crate::EigenCam`] projects the activations, its
    /// sign pinned the same way) instead of summed over the channels; the combination's ReLU
    /// applies to the projection. Methods whose map is already a projection (Eigen-CAM,
    /// Eigen-Grad-CAM) ignore it, as pytorch-grad-cam does.
    #[config(default = false)]
    pub eigen_smooth: bool,
    /// pytorch-grad-cam's `aug_smooth`: the CAM of six copies of each image — unflipped and
    /// mirrored left–right, each with its intensities scaled by 0.9, 1 and 1.1
    /// ([`crate::AUG_SMOOTH_FACTORS`]) — each copy's map mirrored back, averaged. Six times the
    /// work, in one batch. Every copy is explained for the image's own class.
    #[config(default = false)]
    pub aug_smooth: bool,
}

impl Default for CamSettings {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for Upsampling {
    fn default() -> Self {
        Self::new()
    }
}

/// Named settings matching the seed report, the paper and the Python peers: CAM settings and
/// the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// The CAM settings this preset stands for.
    ///
    /// ```
    /// use gradcam_explain::{Combination, Interpolation, Preset};
    ///
    /// let captum = Preset::Captum.cam_settings();
    /// assert_eq!(captum.combination, Combination::ReluAfterSum);
    /// assert_eq!(captum.upsampling.pad, 0);
    /// assert_eq!(captum.upsampling.interpolation, Interpolation::Nearest);
    /// ```
    pub fn cam_settings(self) -> CamSettings {
        let (combination, pad, interpolation, min_max_around_resize) = match self {
            Self::Seed => (
                Combination::PerChannelRelu,
                1,
                Interpolation::Bilinear,
                false,
            ),
            Self::Paper => (Combination::ReluAfterSum, 0, Interpolation::Bilinear, false),
            Self::Captum => (Combination::ReluAfterSum, 0, Interpolation::Nearest, false),
            Self::PytorchGradCam => (Combination::ReluAfterSum, 0, Interpolation::Bilinear, true),
        };
        CamSettings {
            combination,
            upsampling: Upsampling {
                pad,
                interpolation,
                min_max_around_resize,
            },
            eigen_smooth: false,
            aug_smooth: false,
        }
    }

    /// The score this preset differentiates: the paper's logit, else the model's output.
    pub fn score(self) -> Score {
        match self {
            Self::Paper => Score::Logit,
            Self::Seed | Self::Captum | Self::PytorchGradCam => Score::ModelOutput,
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

named! {
    Combination => "combination",
    Interpolation => "interpolation",
    Preset => "preset",
}
