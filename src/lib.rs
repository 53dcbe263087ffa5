//! burn-gradcam: Grad-CAM, Guided Backpropagation and Guided Grad-CAM for Burn CNNs, with the
//! numbers of Captum and pytorch-grad-cam.
//!
//! This facade re-exports the workspace's crates and holds the little the programs built on them
//! share (device choice, atomic output files):
//! - [`explain`]: the methods, generic over the model ([`explain::Explainable`]) and the backend;
//! - [`zoo`]: real networks (the ResNet and VGG families, MobileNetV2 and V3, EfficientNet, a vision transformer) as
//!   Burn modules;
//! - [`mnist`]: the seed report's MNIST network and its digit formats;
//! - [`data`]: strict state-dict loading and image files, for any network;
//! - [`ops`]: the speed kernels the networks run on (convolution, pooling, guided ReLUs);
//! - [`metrics`]: faithfulness metrics and the model-randomisation sanity check of their maps;
//! - [`viz`]: colour maps, overlays and the four-row figure;
//! - [`superpixels`]: SLIC superpixels equal to scikit-image's, and [`superpixel_mask`], a batch's
//!   superpixels as the feature mask of a perturbation method.
//!
//! ```no_run
//! use burn_gradcam::explain::{Attribution, GuidedGradCam, Preset, Targets};
//! use burn_gradcam::mnist::{Digits, load_weights, preprocess};
//!
//! let device = burn_gradcam::Backend::default().device()?;
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

pub use gradcam_audit as audit;
pub use gradcam_data as data;
pub use gradcam_explain as explain;
pub use gradcam_metrics as metrics;
pub use gradcam_mnist as mnist;
pub use gradcam_ops as ops;
pub use gradcam_report as report;
pub use gradcam_superpixels as superpixels;
pub use gradcam_viz as viz;
pub use gradcam_zoo as zoo;

pub mod maps_file;
pub mod networks;
pub mod output;
mod superpixel_masks;

mod backend;

pub use backend::{Backend, BackendError};
pub use superpixel_masks::{SuperpixelMaskError, superpixel_mask};

/// The README, whose Rust snippets run as doctests so that they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(not(any(feature = "flex", feature = "ndarray")))]
compile_error!("enable at least one CPU backend feature: `flex` (default) or `ndarray`");
