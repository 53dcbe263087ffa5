//! What can stop a report.

use std::path::PathBuf;

/// Why a report or an overlay could not be made; each variant names the run, image or method
/// at fault. No output file is left half-written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run's files could not be read.
    #[error(transparent)]
    Audit(#[from] gradcam_audit::AuditError),
    /// An output file could not be written.
    #[error(transparent)]
    Output(#[from] gradcam_data::output::OutputError),
    /// The run holds no finished chunk yet.
    #[error("{dir} holds no finished chunk: nothing to report yet")]
    Empty {
        /// The run's directory.
        dir: PathBuf,
    },
    /// An image of the run could not be read again to draw under its maps.
    #[error("image {index} ({path}): {reason}")]
    Image {
        /// Its position in the dataset.
        index: usize,
        /// Its path.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A map could not be drawn.
    #[error("image {index}, method `{method}`: {source}")]
    Draw {
        /// The image's position in the dataset.
        index: usize,
        /// The method.
        method: String,
        /// What the drawing refused.
        #[source]
        source: gradcam_viz::VizError,
    },
}
