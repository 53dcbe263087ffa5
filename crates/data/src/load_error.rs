//! Why a state dict could not be loaded, and what loading converted.

use std::path::PathBuf;

/// Why a weights file could not be loaded; every variant names the file.
///
/// | input | error |
/// |---|---|
/// | a file that does not exist / is empty / a directory | [`LoadError::NotFound`] / [`LoadError::Empty`] / [`LoadError::NotPytorch`] |
/// | a file that cannot be read | [`LoadError::Io`] |
/// | a truncated archive | [`LoadError::Corrupt`] |
/// | random bytes, text, a zip that is not a checkpoint | [`LoadError::NotPytorch`] |
/// | a pickle that is not a dict (e.g. a list) | [`LoadError::NotStateDict`] |
/// | missing / extra keys, keys nested under `model_state_dict` | [`LoadError::MissingKeys`] (with a nesting hint) / [`LoadError::UnexpectedKeys`] |
/// | another network's keys (a ResNet of another depth) | [`LoadError::MissingKeys`] / [`LoadError::UnexpectedKeys`] led by what the file holds ("the file holds a resnet18 …"), at most 8 keys listed ("… (165 in all)") |
/// | a wrong shape | [`LoadError::Shape`] naming key, expected and found shapes |
/// | a parameter that is not a floating-point tensor | [`LoadError::DType`] |
/// | float64, float16 | loaded, converted to f32 (listed in the [`WeightsReport`]; f64 equal to f32 within 1e-6) |
/// | a full pickled model, the legacy (non-zip) format | loaded |
/// | NaN or ±∞ in a parameter (also a float64 value that overflows float32) | [`LoadError::NonFinite`] naming the key, the index (PyTorch's layout) and the value |
///
/// Weights that are finite but so large that the forward pass overflows load; the explainer
/// then reports them (`ExplainError::NonFinite` of `gradcam-explain`, naming the image and the
/// stage) before anything is drawn or written.
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
    #[error("{}", keys_message(path, "lacks", keys, hint))]
    MissingKeys {
        /// The path given.
        path: PathBuf,
        /// The absent keys.
        keys: Vec<String>,
        /// What the file's keys suggest (nested under a prefix, another network's), or empty.
        hint: String,
    },
    /// Entries the network does not have.
    #[error("{}", keys_message(path, "has unexpected", keys, hint))]
    UnexpectedKeys {
        /// The path given.
        path: PathBuf,
        /// The extra keys.
        keys: Vec<String>,
        /// What the file's keys suggest it holds, or empty.
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

/// Keys listed in a key-mismatch message before "… (N in all)".
const KEYS_SHOWN: usize = 8;

/// "weights file P: the file holds a resnet18 ([2, 2, 2, 2] basic blocks); it lacks 165 keys:
/// a, b, … (165 in all)": what the keys suggest first, then a short list.
fn keys_message(path: &std::path::Path, verb: &str, keys: &[String], hint: &str) -> String {
    let mut list = keys[..keys.len().min(KEYS_SHOWN)].join(", ");
    if keys.len() > KEYS_SHOWN {
        list.push_str(&format!(", … ({} in all)", keys.len()));
    }
    let count = plural(keys.len(), "key");
    let path = path.display();
    if hint.is_empty() {
        format!("weights file {path} {verb} {count}: {list} (is it a state dict of this network?)")
    } else {
        format!("weights file {path}: {hint}; it {verb} {count}: {list}")
    }
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
