//! The packed evaluation set: gzip of 785-byte records (label, then 784 pixel bytes).

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use gradcam_data::files::read_limited;

use super::{Digits, DigitsError};
use crate::net::{IMAGE_PIXELS, NUM_CLASSES};

/// Largest packed file accepted, compressed and decompressed (64 MiB, about 85,000 digits).
pub const MAX_PACKED_BYTES: u64 = 64 * 1024 * 1024;

const RECORD: usize = 1 + IMAGE_PIXELS;

impl Digits {
    /// Reads a packed digit file (gzip of records: one label byte, 784 pixel bytes).
    pub fn from_packed_file(path: impl AsRef<Path>) -> Result<Self, DigitsError> {
        let path = path.as_ref();
        let bytes = read_limited(path, MAX_PACKED_BYTES)?;
        Self::parse_packed(&bytes, path)
    }

    /// Parses a packed digit file from memory; errors name `<memory>` as the file.
    pub fn from_packed_slice(bytes: &[u8]) -> Result<Self, DigitsError> {
        Self::parse_packed(bytes, Path::new("<memory>"))
    }

    /// The set in the packed format; `None` when labels are unknown. Pixels are stored as
    /// `round(pixel × 255)`.
    pub fn to_packed(&self) -> Option<Vec<u8>> {
        let labels = self.labels.as_ref()?;
        let mut raw = Vec::with_capacity(labels.len() * RECORD);
        for (label, image) in labels.iter().zip(self.pixels.chunks(IMAGE_PIXELS)) {
            raw.push(*label);
            raw.extend(
                image
                    .iter()
                    .map(|p| (p * 255.0).round().clamp(0.0, 255.0) as u8),
            );
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        encoder.write_all(&raw).ok()?;
        encoder.finish().ok()
    }

    fn parse_packed(bytes: &[u8], path: &Path) -> Result<Self, DigitsError> {
        let packed = |problem: String| DigitsError::Packed {
            path: path.to_path_buf(),
            problem,
        };
        let mut raw = Vec::new();
        // Bounded: a small file must not inflate into unbounded memory.
        GzDecoder::new(bytes)
            .take(MAX_PACKED_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| packed(format!("gzip: {e}")))?;
        if raw.len() as u64 > MAX_PACKED_BYTES {
            return Err(packed(format!(
                "inflates to more than {MAX_PACKED_BYTES} bytes"
            )));
        }
        if raw.is_empty() {
            return Err(DigitsError::Empty {
                path: path.to_path_buf(),
            });
        }
        if !raw.len().is_multiple_of(RECORD) {
            return Err(packed(format!(
                "{} bytes is not a whole number of {RECORD}-byte records",
                raw.len()
            )));
        }
        let mut labels = Vec::with_capacity(raw.len() / RECORD);
        let mut pixels = Vec::with_capacity(raw.len() / RECORD * IMAGE_PIXELS);
        for (index, record) in raw.chunks(RECORD).enumerate() {
            if usize::from(record[0]) >= NUM_CLASSES {
                return Err(packed(format!(
                    "record {index} has label {}, expected 0–9",
                    record[0]
                )));
            }
            labels.push(record[0]);
            pixels.extend(record[1..].iter().map(|&b| f32::from(b) / 255.0));
        }
        Ok(Digits {
            pixels,
            labels: Some(labels),
        })
    }
}
