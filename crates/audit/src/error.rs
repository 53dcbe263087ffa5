//! What can stop an audit. A bad image never does (unless the run is strict): it becomes a row
//! of the index with its reason.

use std::path::PathBuf;

/// Why an audit could not run or go on; every variant names the file, method or setting at
/// fault. Chunks written before the error are complete and kept: `resume` continues from them.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A method name the registry does not know.
    #[error("method `{name}`: {reason}")]
    Method {
        /// The name given.
        name: String,
        /// Why it is not a method.
        reason: String,
    },
    /// A setting out of its range.
    #[error("{setting}: {reason}")]
    Setting {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset source holds no image.
    #[error("{path} holds no image file (.png, .jpg, .jpeg)")]
    NoImages {
        /// The folder or list file.
        path: PathBuf,
    },
    /// A file or folder of the dataset could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a list file is malformed.
    #[error("{path}, line {line}: {reason}")]
    ListLine {
        /// The list file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The output directory holds another run and resuming was not asked for.
    #[error(
        "{dir} already holds a run ({manifest}): resume it (`resume`, `--resume`) or choose another directory"
    )]
    RunExists {
        /// The output directory.
        dir: PathBuf,
        /// Its manifest.
        manifest: PathBuf,
    },
    /// The run to resume was made with other settings.
    #[error("cannot resume the run in {dir}: its {field} is {found}, this run's is {expected}")]
    RunMismatch {
        /// The output directory.
        dir: PathBuf,
        /// The setting that differs.
        field: String,
        /// The run's value.
        found: String,
        /// This run's value.
        expected: String,
    },
    /// Too little free space for the outputs.
    #[error(
        "{dir} has {available} bytes free; this run's maps and index need about {needed} bytes (write f16 maps, fewer methods, or free space)"
    )]
    DiskFull {
        /// The output directory.
        dir: PathBuf,
        /// Bytes needed (an estimate, from the maps' sizes).
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] gradcam_data::output::OutputError),
    /// The index could not be encoded or read back.
    #[error("index {path}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A maps file could not be encoded or read back.
    #[error("maps {path}: {reason}")]
    Maps {
        /// The maps file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Merging found a chunk missing: a shard has not finished.
    #[error(
        "{dir}: chunk {chunk} of {chunks} is missing ({missing} missing in all): run its shard (index {shard} of {shards}) to the end"
    )]
    Incomplete {
        /// The output directory.
        dir: PathBuf,
        /// The first missing chunk.
        chunk: usize,
        /// Chunks in the run.
        chunks: usize,
        /// How many are missing.
        missing: usize,
        /// The shard that owns the first missing chunk.
        shard: usize,
        /// Shards of the run.
        shards: usize,
    },
    /// A strict run stopped at the first image it could not explain.
    #[error("image {index} ({path}) failed ({reason}): {message}")]
    Strict {
        /// Its position in the dataset.
        index: usize,
        /// Its file.
        path: PathBuf,
        /// The kind of failure.
        reason: &'static str,
        /// The full message.
        message: String,
    },
    /// The method failed on a batch in a way that is not the images' fault.
    #[error(transparent)]
    Explain(#[from] gradcam_explain::ExplainError),
}
