//! burn-gradcam: Grad-CAM, Guided Backpropagation and Guided Grad-CAM for Burn CNNs, with the
//! numbers of Captum and pytorch-grad-cam.
//!
//! This facade re-exports the workspace's crates and holds the little the programs built on them
//! share (device choice, atomic output files):
//! - [`explain`]: the methods, generic over the model ([`explain::Explainable`]) and the backend;
//! - [`metrics`]: faithfulness metrics and the model-randomisation sanity check of their maps;
//! - [`model`]: the seed report's MNIST network, loaded from a PyTorch state dict, and its data;
//! - [`viz`]: colour maps, overlays and the four-row figure.
//!
//! ```no_run
//! use burn_gradcam::explain::{Attribution, GuidedGradCam, Preset, Targets};
//! use burn_gradcam::model::{Digits, load_weights, preprocess};
//!
//! let device = burn_gradcam::Backend::default().device();
//! let (net, _) = load_weights("data/mnist_model.pth", &device)?;
//! let digits = Digits::from_json_file("data/test_images.json")?;
//! let attributions = GuidedGradCam::guided(Preset::Seed.cam_settings())
//!     .attribute(&net, preprocess(&digits, &device), &Targets::predicted())?;
//! for image in attributions.to_host()? {
//!     println!("predicted {} (p = {:.3})", image.prediction.predicted,
//!              image.prediction.probabilities[image.prediction.predicted]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub use gradcam_explain as explain;
pub use gradcam_metrics as metrics;
pub use gradcam_model as model;
pub use gradcam_viz as viz;
pub use gradcam_zoo as zoo;

pub mod cli;
pub mod output;
pub mod prepare;

use burn::tensor::Device;

/// The CPU backends this build can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn-flex: gemm + SIMD + rayon; Burn 0.22's recommended CPU backend.
    #[cfg(feature = "flex")]
    Flex,
    /// burn-ndarray: deprecated in Burn 0.22 in favour of flex; kept for comparison.
    #[cfg(feature = "ndarray")]
    NdArray,
}

impl Backend {
    /// Every backend compiled into this build, the default first.
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "flex")]
        Backend::Flex,
        #[cfg(feature = "ndarray")]
        Backend::NdArray,
    ];

    /// A plain (non-autodiff) device of this backend: the explainer makes only the input and
    /// the feature maps differentiable, so no weight gradient is ever computed.
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::NdArray => Device::ndarray(),
        }
    }

    /// The name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => "flex",
            #[cfg(feature = "ndarray")]
            Backend::NdArray => "ndarray",
        }
    }
}

impl Default for Backend {
    /// flex when compiled in (6–16× faster than ndarray on the guided backward, measured by
    /// `cargo xtask bench`), else ndarray.
    fn default() -> Self {
        Self::ALL[0]
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = explain::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        explain::UnknownName::find(s, Self::ALL, |b| b.name(), "backend (or not compiled in)")
    }
}

/// The README, whose Rust snippets run as doctests so that they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(not(any(feature = "flex", feature = "ndarray")))]
compile_error!("enable at least one CPU backend feature: `flex` (default) or `ndarray`");
