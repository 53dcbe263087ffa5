//! Output files, whole or not at all: every file the programs and the dataset audit write goes
//! through [`write_atomic`] (or [`write_atomic_with`], for an encoder that streams to a file).

use std::path::{Path, PathBuf};

/// Why an output file could not be written. The previous file, if any, is untouched.
///
/// | output | error |
/// |---|---|
/// | the output directory does not exist ([`write_atomic`]; [`ensure_dir`] creates it) | [`OutputError::MissingDir`] |
/// | the output directory is a file / the output file is a directory | [`OutputError::NotADir`] / [`OutputError::DirInTheWay`] |
/// | not writable (permissions, full disk, …) | [`OutputError::Io`], previous outputs intact |
/// | content that cannot be encoded as JSON | [`OutputError::Json`] |
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output directory does not exist.
    #[error("output directory {dir} does not exist")]
    MissingDir {
        /// The directory.
        dir: PathBuf,
    },
    /// Something that is not a directory stands where the output directory should be.
    #[error("{dir} is not a directory")]
    NotADir {
        /// The path.
        dir: PathBuf,
    },
    /// A directory stands where the output file should be.
    #[error("cannot write {path}: a directory is in the way")]
    DirInTheWay {
        /// The file that was to be written.
        path: PathBuf,
    },
    /// The content could not be encoded as JSON.
    #[error("cannot encode {path} as JSON")]
    Json {
        /// The file that was to be written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing failed (permissions, full disk, …).
    #[error("cannot write {path}")]
    Io {
        /// The file that was to be written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Creates `dir` (and its parents) unless it exists; refuses a file in the way.
pub fn ensure_dir(dir: &Path) -> Result<(), OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::NotADir {
            dir: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and then
/// renamed over the target: a reader sees the old file or the new one, never a partial one.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// gradcam_data::output::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path)?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic_with(path, |temp| std::fs::write(temp, bytes))
}

/// [`write_atomic`] for an encoder that writes a file itself: `fill` writes the whole content to
/// the temporary file it is given (a path in `path`'s directory), which is then synced and
/// renamed over `path`. Large outputs stream to disk without a copy of them in memory; if
/// `fill` fails, `path` is untouched and the temporary file is removed.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// gradcam_data::output::write_atomic_with(&path, |temp| std::fs::write(temp, "streamed"))?;
/// assert_eq!(std::fs::read_to_string(&path)?, "streamed");
/// // A failed encoder leaves nothing behind.
/// let failed = gradcam_data::output::write_atomic_with(&dir.path().join("no.txt"), |_| {
///     Err(std::io::Error::other("encoder failed"))
/// });
/// assert!(failed.is_err() && !dir.path().join("no.txt").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !dir.exists() {
        return Err(OutputError::MissingDir {
            dir: dir.to_path_buf(),
        });
    }
    if !dir.is_dir() {
        return Err(OutputError::NotADir {
            dir: dir.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(OutputError::DirInTheWay {
            path: path.to_path_buf(),
        });
    }
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(io)?;
    fill(temp.path()).map_err(io)?;
    // A temporary file is private (0600); the output is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
