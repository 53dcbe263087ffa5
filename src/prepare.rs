//! The seed's data step: raw test-image JSON → 28×28 8-bit grey JPEGs.

use std::path::{Path, PathBuf};

use crate::model::{DataError, Digits};
use crate::output::{OutputError, ensure_dir, write_atomic};

/// JPEG quality used: at 100 the decoded digits stay within a few grey levels of the JSON
/// (quality 90 was off by up to 12 levels on sharp strokes, 75 by up to 44).
pub const JPEG_QUALITY: u8 = 100;

/// Why the images could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The input could not be read or encoded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Writes every image of the image-JSON file `input` to `out_dir/image_<i>.jpg` (creating the
/// directory) and returns the paths written. All images are encoded before any is written, and
/// each file is replaced atomically, so bad input leaves earlier outputs intact.
pub fn prepare_data(input: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, PrepareError> {
    let digits = Digits::from_json_file(input)?;
    let encoded = (0..digits.len())
        .map(|i| digits.to_jpeg(i, JPEG_QUALITY))
        .collect::<Result<Vec<_>, _>>()?;
    ensure_dir(out_dir)?;
    let mut written = Vec::with_capacity(encoded.len());
    for (i, bytes) in encoded.iter().enumerate() {
        let path = out_dir.join(format!("image_{i}.jpg"));
        write_atomic(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}
