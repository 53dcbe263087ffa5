//! Where a dataset's images come from: a class-per-folder tree, a flat folder, a list file, or
//! images already in memory — each a Burn [`Dataset`] of [`Record`]s, so any Burn dataset
//! combinator (`PartialDataset`, `ShuffledDataset`, `MapperDataset`, …) applies to them, and any
//! Burn dataset of records can be audited.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use crate::AuditError;

/// One image of a dataset: where it is, its label when known, and its pixels when they are
/// already in memory (then at the model's input shape, planar `[C, H, W]` in `[0, 1]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The file (or, for images in memory, a name such as `digits.bin#17`).
    pub path: PathBuf,
    /// The class label, when the dataset knows it.
    pub label: Option<usize>,
    /// The pixels, when in memory; read from `path` when `None`.
    pub pixels: Option<Arc<[f32]>>,
}

impl Record {
    /// An image file, with its label when known.
    pub fn file(path: impl Into<PathBuf>, label: Option<usize>) -> Self {
        Self {
            path: path.into(),
            label,
            pixels: None,
        }
    }
}

/// A dataset of image records with its class names, built by one of the constructors; a Burn
/// [`Dataset`] of [`Record`]s.
///
/// ```no_run
/// use burn::data::dataset::{Dataset, DatasetError};
/// use gradcam_audit::Records;
///
/// // photos/cat/1.jpg, photos/dog/2.png, …: classes `cat` (0) and `dog` (1).
/// let records = Records::image_folder("photos")?;
/// assert_eq!(records.classes(), Some(&["cat".to_owned(), "dog".to_owned()][..]));
/// let first = records.get(0).unwrap();
/// assert_eq!(first.label, Some(0));
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Records {
    records: Vec<Record>,
    classes: Option<Vec<String>>,
}

/// The file extensions read as images.
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

impl Records {
    /// Records with their class names (if the labels have names).
    pub fn new(records: Vec<Record>, classes: Option<Vec<String>>) -> Self {
        Self { records, classes }
    }

    /// torchvision's `ImageFolder` layout (Burn's `ImageFolderDataset::new_classification`):
    /// each subdirectory of `root` is a class, classes in sorted order, and every PNG/JPEG file
    /// below it (any depth, sorted) is an image of that class. A file named like an image that
    /// is not one is kept: the audit records why it could not be read.
    pub fn image_folder(root: impl AsRef<Path>) -> Result<Self, AuditError> {
        let root = root.as_ref();
        let mut classes = Vec::new();
        for entry in read_dir_sorted(root)? {
            if entry.is_dir() {
                classes.push(entry);
            }
        }
        let mut records = Vec::new();
        let mut names = Vec::with_capacity(classes.len());
        for (label, dir) in classes.iter().enumerate() {
            names.push(file_name(dir));
            for path in image_files_below(dir)? {
                records.push(Record::file(path, Some(label)));
            }
        }
        if records.is_empty() {
            return Err(AuditError::NoImages {
                path: root.to_path_buf(),
            });
        }
        Ok(Self::new(records, Some(names)))
    }

    /// Every PNG/JPEG file below `dir` (any depth, sorted by path), without labels.
    pub fn flat_folder(dir: impl AsRef<Path>) -> Result<Self, AuditError> {
        let dir = dir.as_ref();
        let records: Vec<Record> = image_files_below(dir)?
            .into_iter()
            .map(|path| Record::file(path, None))
            .collect();
        if records.is_empty() {
            return Err(AuditError::NoImages {
                path: dir.to_path_buf(),
            });
        }
        Ok(Self::new(records, None))
    }

    /// A list file: one image per line, `path` or `path,label`, paths relative to the list
    /// file's directory; blank lines and lines starting with `#` are skipped. Labels are class
    /// indices (`3`) or class names (`cat`, numbered in sorted order), not both.
    pub fn list_file(list: impl AsRef<Path>) -> Result<Self, AuditError> {
        let list = list.as_ref();
        let text = std::fs::read_to_string(list).map_err(|source| AuditError::Read {
            path: list.to_path_buf(),
            source,
        })?;
        let base = list.parent().unwrap_or(Path::new(""));
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, label) = match line.rsplit_once(',') {
                Some((path, label)) => (path.trim(), Some(label.trim())),
                None => (line, None),
            };
            if path.is_empty() || label == Some("") {
                return Err(AuditError::ListLine {
                    path: list.to_path_buf(),
                    line: number + 1,
                    reason: "expected `path` or `path,label`".to_owned(),
                });
            }
            entries.push((base.join(path), label.map(str::to_owned), number + 1));
        }
        if entries.is_empty() {
            return Err(AuditError::NoImages {
                path: list.to_path_buf(),
            });
        }
        let numeric = entries
            .iter()
            .filter_map(|(_, label, _)| label.as_deref())
            .all(|label| label.parse::<usize>().is_ok());
        let classes: Option<Vec<String>> = (!numeric).then(|| {
            let mut names: Vec<String> = entries
                .iter()
                .filter_map(|(_, label, _)| label.clone())
                .collect();
            names.sort();
            names.dedup();
            names
        });
        let mut records = Vec::with_capacity(entries.len());
        for (path, label, line) in entries {
            let label = match (&label, &classes) {
                (None, _) => None,
                (Some(label), None) => label.parse().ok(),
                (Some(label), Some(names)) => names.binary_search(label).ok(),
            };
            if label.is_none() && classes.is_some() {
                return Err(AuditError::ListLine {
                    path: list.to_path_buf(),
                    line,
                    reason: "every line needs a label when any label is a class name".to_owned(),
                });
            }
            records.push(Record::file(path, label));
        }
        Ok(Self::new(records, classes))
    }

    /// Images already in memory: `images[i]` is planar `[C, H, W]` in `[0, 1]` at the model's
    /// input shape, named `<name>#<i>`.
    pub fn in_memory(
        name: &str,
        images: impl IntoIterator<Item = (Vec<f32>, Option<usize>)>,
        classes: Option<Vec<String>>,
    ) -> Self {
        let records = images
            .into_iter()
            .enumerate()
            .map(|(i, (pixels, label))| Record {
                path: PathBuf::from(format!("{name}#{i}")),
                label,
                pixels: Some(pixels.into()),
            })
            .collect();
        Self::new(records, classes)
    }

    /// The class names, by label, when known.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// The records, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }
}

impl Dataset<Record> for Records {
    fn get(&self, index: usize) -> Result<Record, DatasetError> {
        self.records.get(index).cloned().ok_or_else(|| {
            DatasetError::new(std::io::Error::other(format!(
                "no record {index}: the dataset holds {}",
                self.records.len()
            )))
        })
    }

    fn len(&self) -> usize {
        self.records.len()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let io = |source| AuditError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        paths.push(entry.map_err(io)?.path());
    }
    paths.sort();
    Ok(paths)
}

/// The image files below `dir`, depth first in sorted order (torchvision's `os.walk` order).
fn image_files_below(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut files = Vec::new();
    for path in read_dir_sorted(dir)? {
        if path.is_dir() {
            files.extend(image_files_below(&path)?);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            files.push(path);
        }
    }
    Ok(files)
}
