//! Strict loading of a PyTorch state dict — a `.pth` file, or the same tensors in a
//! `.safetensors` file — into a Burn module: what every network of the workspace loads through.
//!
//! Burn's stores (burn-store's `PytorchStore`, `SafetensorsStore`) are lenient where a user would
//! want to hear about it: an extra key is only reported as unused, and float64/float16 tensors
//! are loaded as such (the first forward then panics on a dtype mismatch). So the file's keys,
//! shapes and dtypes are checked against the network first, its values for NaN and infinities,
//! and float parameters of another precision are converted to `f32`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::store::pytorch_reader::{DType as FileDType, PytorchError, PytorchReader};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use burn::tensor::{DType, FloatDType, Tensor, TensorData};

use crate::{LoadError, WeightsReport};

/// What a network expects of a state dict.
pub struct StateDictSpec {
    /// Every key the network needs, with its PyTorch-layout shape.
    pub keys: Vec<(String, Vec<usize>)>,
    /// Keys the file may hold that the network does not use (e.g. BatchNorm's
    /// `num_batches_tracked`).
    pub ignored: fn(&str) -> bool,
    /// `(regex, replacement)` pairs from the file's keys to the module's paths where Burn's
    /// structure differs.
    pub remaps: Vec<(String, String)>,
    /// A sentence explaining a key mismatch from the file's keys (e.g. "the file holds a
    /// resnet34"), or an empty string.
    pub explain_mismatch: fn(&[&str]) -> String,
}

/// The tensors of a file: key → (shape, dtype).
type Contents = BTreeMap<String, (Vec<usize>, FileDType)>;

/// Loads `module`'s parameters from the state dict at `path` (`.safetensors` by its extension,
/// else PyTorch's formats), strictly: every problem is a [`LoadError`] naming the file and, where
/// it applies, the key, the shapes, the dtype or the index of a non-finite value.
pub fn load_state_dict<M: Module + ModuleSnapshot>(
    mut module: M,
    path: &Path,
    spec: &StateDictSpec,
) -> Result<(M, WeightsReport), LoadError> {
    let safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    check_exists(path)?;
    let (contents, values) = if safetensors {
        read_safetensors(path)?
    } else {
        read_pytorch(path)?
    };
    let report = check_contents(path, &contents, spec)?;
    for (key, read) in values {
        if (spec.ignored)(&key) {
            continue;
        }
        let values = read().map_err(|reason| LoadError::Apply {
            path: path.to_path_buf(),
            reason: format!("{key} could not be read: {reason}"),
        })?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(LoadError::NonFinite {
                path: path.to_path_buf(),
                value: values[index],
                key,
                index,
            });
        }
    }
    let apply_error = |reason: String| LoadError::Apply {
        path: path.to_path_buf(),
        reason,
    };
    let applied = if safetensors {
        let mut store = SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter);
        for (from, to) in &spec.remaps {
            store = store.with_key_remapping(from, to);
        }
        module
            .load_from(&mut store)
            .map_err(|e| apply_error(e.to_string()))?
    } else {
        let mut store = PytorchStore::from_file(path);
        for (from, to) in &spec.remaps {
            store = store.with_key_remapping(from, to);
        }
        module
            .load_from(&mut store)
            .map_err(|e| apply_error(e.to_string()))?
    };
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        return Err(apply_error(applied.to_string()));
    }
    Ok((module.map(&mut F32Mapper), report))
}

fn check_exists(path: &Path) -> Result<(), LoadError> {
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
    Ok(())
}

/// Reads one tensor's values as `f32` (converting other float types).
type ReadValues = Box<dyn FnOnce() -> Result<Vec<f32>, String>>;

/// Converts raw little-endian bytes of a float type to `f32`.
fn to_f32(bytes: Vec<u8>, shape: Vec<usize>, dtype: FileDType) -> Result<Vec<f32>, String> {
    let dtype = match dtype {
        FileDType::F32 => DType::F32,
        FileDType::F64 => DType::F64,
        FileDType::F16 => DType::F16,
        FileDType::BF16 => DType::BF16,
        other => return Err(format!("dtype {other:?} is not a float")),
    };
    TensorData::try_from_bytes_vec(bytes, shape, dtype)
        .map_err(|e| e.to_string())?
        .try_into_vec_as::<f32>()
        .map_err(|e| e.to_string())
}

#[allow(clippy::type_complexity)]
fn read_pytorch(path: &Path) -> Result<(Contents, Vec<(String, ReadValues)>), LoadError> {
    let owned = || path.to_path_buf();
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
    let contents = reader
        .tensors()
        .iter()
        .map(|(key, t)| (key.clone(), (t.shape().to_vec(), t.dtype())))
        .collect();
    let values = reader
        .into_tensors()
        .into_iter()
        .map(|(key, tensor)| {
            let read: ReadValues = Box::new(move || {
                let (shape, dtype) = (tensor.shape().to_vec(), tensor.dtype());
                let bytes = tensor.read().map_err(|e| e.to_string())?;
                to_f32(bytes, shape, dtype)
            });
            (key, read)
        })
        .collect();
    Ok((contents, values))
}

#[allow(clippy::type_complexity)]
fn read_safetensors(path: &Path) -> Result<(Contents, Vec<(String, ReadValues)>), LoadError> {
    let owned = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: owned(),
        source,
    })?;
    let file =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| LoadError::NotPytorch {
            path: owned(),
            reason: format!("not a safetensors file: {e}"),
        })?;
    let mut contents = Contents::new();
    let mut values: Vec<(String, ReadValues)> = Vec::new();
    for (key, view) in file.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => FileDType::F32,
            safetensors::Dtype::F64 => FileDType::F64,
            safetensors::Dtype::F16 => FileDType::F16,
            safetensors::Dtype::BF16 => FileDType::BF16,
            safetensors::Dtype::I64 => FileDType::I64,
            _ => FileDType::U8,
        };
        let shape = view.shape().to_vec();
        contents.insert(key.clone(), (shape.clone(), dtype));
        let data = view.data().to_vec();
        values.push((key, Box::new(move || to_f32(data, shape, dtype))));
    }
    Ok((contents, values))
}

/// Checks the file's keys, shapes and dtypes against the spec.
fn check_contents(
    path: &Path,
    found: &Contents,
    spec: &StateDictSpec,
) -> Result<WeightsReport, LoadError> {
    let owned = || path.to_path_buf();
    if found.is_empty() {
        return Err(LoadError::NotStateDict {
            path: owned(),
            reason: "it holds no tensors".into(),
        });
    }
    let file_keys: Vec<&str> = found.keys().map(String::as_str).collect();
    let missing: Vec<String> = spec
        .keys
        .iter()
        .filter(|(key, _)| !found.contains_key(key))
        .map(|(key, _)| key.clone())
        .collect();
    let unexpected: Vec<String> = found
        .keys()
        .filter(|key| !(spec.ignored)(key) && !spec.keys.iter().any(|(k, _)| k == *key))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut hint = nesting_hint(&spec.keys, found);
        if hint.is_empty() {
            hint = explanation(spec, &file_keys);
        }
        return Err(LoadError::MissingKeys {
            path: owned(),
            hint,
            keys: missing,
        });
    }
    if !unexpected.is_empty() {
        return Err(LoadError::UnexpectedKeys {
            path: owned(),
            hint: explanation(spec, &file_keys),
            keys: unexpected,
        });
    }
    let mut report = WeightsReport::default();
    for (key, expected) in &spec.keys {
        let (shape, dtype) = &found[key];
        if shape != expected {
            return Err(LoadError::Shape {
                path: owned(),
                key: key.clone(),
                expected: expected.clone(),
                found: shape.clone(),
            });
        }
        match dtype {
            FileDType::F32 => {}
            FileDType::F64 | FileDType::F16 | FileDType::BF16 => {
                report.converted.push((key.clone(), format!("{dtype:?}")));
            }
            other => {
                return Err(LoadError::DType {
                    path: owned(),
                    key: key.clone(),
                    found: format!("{other:?}"),
                });
            }
        }
    }
    Ok(report)
}

fn explanation(spec: &StateDictSpec, file_keys: &[&str]) -> String {
    (spec.explain_mismatch)(file_keys)
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
fn nesting_hint(expected: &[(String, Vec<usize>)], found: &Contents) -> String {
    let prefixes: Vec<&str> = expected
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
            if prefixes.len() == expected.len() && prefixes.iter().all(|p| p == prefix) =>
        {
            format!("the keys are nested under \"{prefix}\": save `model.state_dict()` itself")
        }
        _ => String::new(),
    }
}

/// Casts every float parameter to `f32`, the precision the networks compute in.
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
