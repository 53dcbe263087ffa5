//! Explain a whole image dataset: stream it from disk, explain it batch by batch with any method
//! of the registry on any backend, and write what a model auditor analyses with their own
//! tools — the maps in `safetensors` chunks, one row per image in a Parquet index — resumably
//! and in deterministic shares across machines.
//!
//! - [`Records`]: the dataset — torchvision's class-per-folder layout, a flat folder, a list
//!   file or images in memory — a Burn [`Dataset`](burn::data::dataset::Dataset) of
//!   [`Record`]s, so any Burn dataset of records can be audited.
//! - [`audit`] with an [`AuditConfig`]: the methods ([`MethodSpec`], several per pass where
//!   they share a forward), the target, the batch, this process's [`Shard`], resuming.
//! - The run's directory ([`store`]): `run.json`, `maps/chunk-*.safetensors`,
//!   `index/chunk-*.parquet` (one row per image: prediction, probability, target, per method
//!   [`MapStats`], where its maps are, and why an image failed), and [`merge`]'s
//!   `index.parquet`.
//! - Localisation when the truth is known: with [`Boxes`] (a CSV of boxes), every map's
//!   [`Localisation`] — pointing game, energy pointing game, relevance mass and rank accuracy,
//!   the Grad-CAM paper's box IoU — is a column of the index.

#![warn(missing_docs)]

mod error;
mod plan;
mod prefetch;
mod run;
mod source;
mod stats;
pub mod store;
mod truth;

pub use error::AuditError;
/// A box of pixels (the truth of a row, a map's box).
pub use gradcam_metrics::PixelBox;
pub use plan::MethodSpec;
pub use prefetch::Failure;
pub use run::{AuditConfig, Progress, Shard, Summary, TargetClass, audit};
pub use source::{Record, Records};
pub use stats::{MapStats, Region};
pub use store::{
    Manifest, MapDtype, Merged, Row, StoredMaps, merge, read_index, read_maps, read_rows, read_run,
};
pub use truth::{Boxes, Localisation, map_box};
