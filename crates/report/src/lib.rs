//! The pictures of a dataset audit (`gradcam-audit`): one self-contained HTML page per run
//! ([`write_report`]: no server, no network, it opens from disk) and overlay PNGs per image
//! ([`write_overlays`]).
//!
//! The report shows, per class, its accuracy (and, when the run had ground-truth boxes, how
//! often each method's map localised them) with a grid of overlays; the most and least
//! confident images; the misclassified ones with every method's map; the failed images with
//! their reasons; and every row of the index in a table sortable by any column. Its pictures
//! are drawn from the maps the run stored, over the images read again from the dataset the run
//! explained, and embedded in the page.

#![warn(missing_docs)]

mod error;
mod html;
mod picture;

pub use error::ReportError;
pub use html::{REPORT_FILE, ReportConfig, ReportSummary, write_report};
pub use picture::write_overlays;
