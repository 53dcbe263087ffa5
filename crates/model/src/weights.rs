//! Loading the MNIST network from a PyTorch `.pth` state dict, strictly (see
//! [`crate::load_state_dict`]).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::net::MnistNet;
use crate::state_dict::{StateDictSpec, load_state_dict};

/// The state-dict entries the network needs, in PyTorch's layout.
pub const EXPECTED_KEYS: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[10, 1, 5, 5]),
    ("conv1.bias", &[10]),
    ("conv2.weight", &[10, 10, 5, 5]),
    ("conv2.bias", &[10]),
    ("fc1.weight", &[50, 160]),
    ("fc1.bias", &[50]),
    ("fc2.weight", &[10, 50]),
    ("fc2.bias", &[10]),
];

/// Why a weights file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("weights file {path} not found")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read weights file {path}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("weights file {path} is empty")]
    Empty {
        /// The path given.
        path: PathBuf,
    },
    /// The file is a zip archive (PyTorch's format) that cannot be read: truncated or damaged.
    #[error("weights file {path} is a damaged or truncated PyTorch archive: {reason}")]
    Corrupt {
        /// The path given.
        path: PathBuf,
        /// What the reader found.
        reason: String,
    },
    /// The file is not a PyTorch checkpoint at all.
    #[error("{path} is not a PyTorch state dict (.pth): {reason}")]
    NotPytorch {
        /// The path given.
        path: PathBuf,
        /// What the reader found.
        reason: String,
    },
    /// The file is a PyTorch (or pickle) file, but not a dictionary of tensors.
    #[error("{path} is a PyTorch file but not a state dict: {reason}")]
    NotStateDict {
        /// The path given.
        path: PathBuf,
        /// What the reader found.
        reason: String,
    },
    /// Entries the network needs are absent.
    #[error("weights file {path} lacks {}: {}{hint}", plural(keys.len(), "key"), keys.join(", "))]
    MissingKeys {
        /// The path given.
        path: PathBuf,
        /// The absent keys.
        keys: Vec<String>,
        /// A suggestion when the keys look nested or prefixed.
        hint: String,
    },
    /// Entries the network does not have.
    #[error("weights file {path} has unexpected {}: {}{hint}", plural(keys.len(), "key"), keys.join(", "))]
    UnexpectedKeys {
        /// The path given.
        path: PathBuf,
        /// The extra keys.
        keys: Vec<String>,
        /// What the file's keys suggest it holds.
        hint: String,
    },
    /// An entry has the wrong shape.
    #[error("weights file {path}: {key} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The path given.
        path: PathBuf,
        /// The state-dict key.
        key: String,
        /// PyTorch-layout shape the network needs.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// An entry is not a floating-point tensor.
    #[error("weights file {path}: {key} has dtype {found}, expected a floating-point tensor")]
    DType {
        /// The path given.
        path: PathBuf,
        /// The state-dict key.
        key: String,
        /// The dtype in the file.
        found: String,
    },
    /// A parameter holds NaN or an infinity (after conversion to `f32`).
    #[error(
        "weights file {path}: {key} holds {value} at index {index} (row-major, PyTorch's layout)"
    )]
    NonFinite {
        /// The path given.
        path: PathBuf,
        /// The state-dict key.
        key: String,
        /// Index of the first bad value in the flattened tensor.
        index: usize,
        /// The value (NaN or ±inf).
        value: f32,
    },
    /// Burn's store refused the file after the checks above passed.
    #[error("cannot apply weights file {path}: {reason}")]
    Apply {
        /// The path given.
        path: PathBuf,
        /// The store's report.
        reason: String,
    },
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{n} {word}s")
    }
}

/// What loading found besides the weights themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightsReport {
    /// Keys whose tensors were not `f32` in the file and were converted, with their file dtype.
    pub converted: Vec<(String, String)>,
}

/// Loads the network from a PyTorch state dict saved with
/// `torch.save(model.state_dict(), path)`.
///
/// Every problem is a [`LoadError`] naming the file and, where it applies, the key, the shapes or
/// the dtype; float64, float16 and bfloat16 tensors are converted to `f32` (listed in the report).
///
/// ```no_run
/// use burn::tensor::Device;
/// let (net, report) = gradcam_model::load_weights("data/mnist_model.pth", &Device::default())?;
/// assert!(report.converted.is_empty());
/// # Ok::<(), gradcam_model::LoadError>(())
/// ```
pub fn load_weights(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<(MnistNet, WeightsReport), LoadError> {
    let spec = StateDictSpec {
        keys: EXPECTED_KEYS
            .iter()
            .map(|(key, shape)| ((*key).to_owned(), shape.to_vec()))
            .collect(),
        ignored: |_| false,
        remaps: Vec::new(),
        explain_mismatch: |_| String::new(),
    };
    load_state_dict(MnistNet::init(device), path.as_ref(), &spec)
}
