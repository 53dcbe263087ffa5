//! Loading the network from a PyTorch `.pth` state dict, strictly.
//!
//! Burn's PyTorch reader lives in burn-store (`PytorchStore`); burn-import is ONNX-only since
//! Burn 0.22. The store is lenient where a user would want to hear about it: an extra key is only
//! reported as unused, and float64/float16 tensors are loaded as such (the first forward then
//! panics on a dtype mismatch). So the file's keys, shapes and dtypes are checked against the
//! network first, and float parameters of another precision are converted to `f32`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::store::pytorch_reader::{DType as FileDType, PytorchError, PytorchReader};
use burn::store::{ModuleSnapshot, PytorchStore};
use burn::tensor::{DType, Device, FloatDType, Tensor};

use crate::net::MnistNet;

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
    #[error("weights file {path} has unexpected {}: {} (is it a state dict of this network?)", plural(keys.len(), "key"), keys.join(", "))]
    UnexpectedKeys {
        /// The path given.
        path: PathBuf,
        /// The extra keys.
        keys: Vec<String>,
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
    let path = path.as_ref();
    let report = check_file(path)?;
    let mut net = MnistNet::init(device);
    let mut store = PytorchStore::from_file(path);
    let applied = net.load_from(&mut store).map_err(|e| LoadError::Apply {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        return Err(LoadError::Apply {
            path: path.to_path_buf(),
            reason: applied.to_string(),
        });
    }
    let net = net.map_params_to_f32();
    check_finite(&net, path)?;
    Ok((net, report))
}

/// Refuses NaN and infinities in the parameters, naming the key and the first bad index.
fn check_finite(net: &MnistNet, path: &Path) -> Result<(), LoadError> {
    for (key, tensor) in net.state_dict_values() {
        let values = tensor
            .try_into_data()
            .map_err(|e| e.to_string())
            .and_then(|data| data.try_into_vec_as::<f32>().map_err(|e| e.to_string()))
            .map_err(|reason| LoadError::Apply {
                path: path.to_path_buf(),
                reason: format!("{key} could not be read back: {reason}"),
            })?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(LoadError::NonFinite {
                path: path.to_path_buf(),
                key,
                index,
                value: values[index],
            });
        }
    }
    Ok(())
}

/// Reads the file's table of contents and checks it against [`EXPECTED_KEYS`].
fn check_file(path: &Path) -> Result<WeightsReport, LoadError> {
    let owned = || path.to_path_buf();
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound { path: owned() },
        _ => LoadError::Io {
            path: owned(),
            source,
        },
    })?;
    if metadata.is_dir() {
        return Err(LoadError::NotPytorch {
            path: owned(),
            reason: "it is a directory".into(),
        });
    }
    if metadata.len() == 0 {
        return Err(LoadError::Empty { path: owned() });
    }
    let reader = PytorchReader::new(path).map_err(|e| {
        let reason = e.to_string();
        match e {
            PytorchError::Zip(_) | PytorchError::Io(_) | PytorchError::Tar(_)
                if starts_like_zip(path) =>
            {
                LoadError::Corrupt {
                    path: owned(),
                    reason,
                }
            }
            PytorchError::InvalidFormat(message) if message.contains("dictionary") => {
                LoadError::NotStateDict {
                    path: owned(),
                    reason,
                }
            }
            PytorchError::Pickle(_) | PytorchError::Serde(_) | PytorchError::KeyNotFound(_) => {
                LoadError::NotStateDict {
                    path: owned(),
                    reason,
                }
            }
            _ => LoadError::NotPytorch {
                path: owned(),
                reason,
            },
        }
    })?;

    let found: BTreeMap<String, (Vec<usize>, FileDType)> = reader
        .tensors()
        .iter()
        .map(|(key, t)| (key.clone(), (t.shape().to_vec(), t.dtype())))
        .collect();
    if found.is_empty() {
        return Err(LoadError::NotStateDict {
            path: owned(),
            reason: "it holds no tensors".into(),
        });
    }

    let missing: Vec<String> = EXPECTED_KEYS
        .iter()
        .filter(|(key, _)| !found.contains_key(*key))
        .map(|(key, _)| key.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::MissingKeys {
            path: owned(),
            hint: nesting_hint(&found),
            keys: missing,
        });
    }
    let unexpected: Vec<String> = found
        .keys()
        .filter(|key| !EXPECTED_KEYS.iter().any(|(k, _)| k == key))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        return Err(LoadError::UnexpectedKeys {
            path: owned(),
            keys: unexpected,
        });
    }

    let mut report = WeightsReport::default();
    for (key, expected) in EXPECTED_KEYS {
        let (shape, dtype) = &found[key];
        if shape.as_slice() != expected {
            return Err(LoadError::Shape {
                path: owned(),
                key: key.into(),
                expected: expected.to_vec(),
                found: shape.clone(),
            });
        }
        match dtype {
            FileDType::F32 => {}
            FileDType::F64 | FileDType::F16 | FileDType::BF16 => {
                report
                    .converted
                    .push((key.to_string(), format!("{dtype:?}")));
            }
            other => {
                return Err(LoadError::DType {
                    path: owned(),
                    key: key.into(),
                    found: format!("{other:?}"),
                });
            }
        }
    }
    Ok(report)
}

/// PyTorch's current format is a zip archive: a file that starts like one but cannot be read
/// is damaged rather than foreign.
fn starts_like_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0_u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"PK\x03\x04")
}

/// When every expected key appears under a common prefix, say so.
fn nesting_hint(found: &BTreeMap<String, (Vec<usize>, FileDType)>) -> String {
    let prefixes: Vec<&str> = EXPECTED_KEYS
        .iter()
        .filter_map(|(key, _)| {
            found
                .keys()
                .find(|k| k.len() > key.len() && k.ends_with(&format!(".{key}")))
                .map(|k| &k[..k.len() - key.len() - 1])
        })
        .collect();
    match prefixes.first() {
        Some(prefix)
            if prefixes.len() == EXPECTED_KEYS.len() && prefixes.iter().all(|p| p == prefix) =>
        {
            format!(" (the keys are nested under \"{prefix}\": save `model.state_dict()` itself)")
        }
        _ => String::new(),
    }
}

impl MnistNet {
    /// Casts every parameter to `f32`, the precision the network computes in.
    fn map_params_to_f32(self) -> Self {
        self.map(&mut F32Mapper)
    }
}

struct F32Mapper;

impl burn::module::ModuleMapper for F32Mapper {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.val().dtype() == DType::F32 {
            param
        } else {
            param.map(|t| t.cast(FloatDType::F32))
        }
    }
}
