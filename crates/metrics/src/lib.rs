//! Is the explanation faithful? Metrics and sanity checks for the maps of
//! [`gradcam_explain`], batched on the model's Burn device.
//!
//! A [`Scorer`] (a model, a [`gradcam_explain::Score`], a pass size) prepares a [`Batch`]: the
//! clean forward pass is run once and shared by every metric that scores the batch.
//!
//! - [`deletion_curves`] / [`insertion_curves`] with their areas (Petsiuk et al., RISE 2018);
//! - [`road`] / [`road_combined`] (Rong et al. 2022) and [`confidence_change`], matching
//!   pytorch-grad-cam's `metrics`;
//! - [`infidelity`] and [`sensitivity_max`], matching Captum's `captum.metrics`;
//! - localisation on the host, for one `[H, W]` map and a ground-truth mask or box:
//!   [`pointing_game`], [`relevance_mass_accuracy`] and [`relevance_rank_accuracy`] matching
//!   Quantus 0.6, [`energy_pointing_game`] (Score-CAM), and the Grad-CAM paper's weakly supervised
//!   localisation box, [`wsol_box`] with [`iou`];
//! - [`model_randomization`], the sanity check of Adebayo et al. (2018), with [`spearman`] and
//!   [`ssim`] matching SciPy and scikit-image.
//!
//! The peers' scores: [`gradcam_explain::Score::Probability`] for RISE and ROAD
//! (pytorch-grad-cam's `ClassifierOutputSoftmaxTarget`), [`gradcam_explain::Score::ModelOutput`]
//! for Captum. Maps are one per image, `[C, H, W]` or `[1, H, W]` ([`gradcam_explain::Map`]).

#![warn(missing_docs)]

mod batch;
mod confidence;
mod curves;
mod error;
mod infidelity;
mod localisation;
mod road;
mod sanity;
mod sensitivity;
mod similarity;

#[cfg(test)]
mod fixture;

pub use batch::{Batch, Scorer, method_maps};
pub use confidence::{ConfidenceChange, confidence_change};
pub use curves::{
    Baseline, Curve, CurveConfig, CurveKind, curves, deletion_curves, insertion_curves,
    trapezoid_auc,
};
pub use error::{MetricError, Result};
pub use infidelity::{InfidelityConfig, infidelity, infidelity_with_perturbations};
pub use localisation::{
    LocalisationError, PixelBox, WSOL_IOU_HIT, WSOL_THRESHOLD, box_mask, energy_pointing_game, iou,
    pointing_game, relevance_mass_accuracy, relevance_rank_accuracy, wsol_box,
};
pub use road::{ROAD_PERCENTILES, RoadConfig, RoadOrder, RoadScores, road, road_combined};
pub use sanity::{
    Randomization, SanityConfig, SanityCurve, SanityStep, Similarity, model_randomization,
};
pub use sensitivity::{SensitivityConfig, sensitivity_max, sensitivity_max_with_perturbations};
pub use similarity::{SSIM_WINDOW, spearman, ssim};
