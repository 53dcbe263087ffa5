//! The seed's data step: raw test-image JSON → 28×28 8-bit grey JPEGs.

use std::path::{Path, PathBuf};

use burn_gradcam::mnist::Digits;
use burn_gradcam::output::{ensure_dir, write_atomic};

/// JPEG quality used: at 100 the decoded digits stay within a few grey levels of the JSON
/// (quality 90 was off by up to 12 levels on sharp strokes, 75 by up to 44).
pub const JPEG_QUALITY: u8 = 100;

/// Writes every image of the image-JSON file `input` to `out_dir/image_<i>.jpg` (creating the
/// directory) and returns the paths written. All images are encoded before any is written, and
/// each file is replaced atomically, so bad input leaves earlier outputs intact.
pub fn prepare_data(input: &Path, out_dir: &Path) -> crate::Result<Vec<PathBuf>> {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use burn_gradcam::mnist::Digits;

    use super::prepare_data;

    /// Grey levels the decoded JPEGs may differ from the JSON by.
    const JPEG_LEVELS: f32 = 4.0;

    fn repo_path(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(relative)
    }

    #[test]
    fn prepare_data_writes_eight_readable_jpegs_close_to_the_json() {
        let out = tempfile::tempdir().expect("dir");
        let json = repo_path("data/test_images.json");
        let written = prepare_data(&json, out.path()).expect("prepares");
        assert_eq!(written.len(), 8);
        let digits = Digits::from_json_file(&json).expect("json");
        let mut worst = 0.0_f32;
        for (i, path) in written.iter().enumerate() {
            assert_eq!(path, &out.path().join(format!("image_{i}.jpg")));
            let image = image::open(path).expect("decodes");
            assert_eq!((image.width(), image.height()), (28, 28));
            assert!(
                matches!(image, image::DynamicImage::ImageLuma8(_)),
                "8-bit grey"
            );
            let decoded = image.into_luma8();
            for (pixel, expected) in decoded.as_raw().iter().zip(digits.image(i).expect("image")) {
                worst = worst.max((f32::from(*pixel) - expected * 255.0).abs());
            }
        }
        println!("worst JPEG round-trip error: {worst:.1} grey levels");
        assert!(
            worst <= JPEG_LEVELS,
            "JPEG round trip off by {worst} grey levels"
        );

        // The directory reads back in natural order, close to the JSON.
        let back = Digits::from_image_dir(out.path(), false).expect("reads back");
        assert_eq!(back.len(), 8);
        let error = back
            .pixels()
            .iter()
            .zip(digits.pixels())
            .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(error * 255.0 <= JPEG_LEVELS + 0.5);
    }

    #[test]
    fn prepare_data_rerun_overwrites_and_bad_input_leaves_outputs_intact() {
        let out = tempfile::tempdir().expect("dir");
        let json = repo_path("data/test_images.json");
        prepare_data(&json, out.path()).expect("first run");
        let before = std::fs::read(out.path().join("image_3.jpg")).expect("written");
        prepare_data(&json, out.path()).expect("second run overwrites");
        assert_eq!(
            std::fs::read(out.path().join("image_3.jpg")).expect("still there"),
            before
        );

        let bad = out.path().join("bad.json");
        std::fs::write(&bad, "[[0.5, 2.0]]").expect("write");
        assert!(prepare_data(&bad, out.path()).is_err());
        assert_eq!(
            std::fs::read(out.path().join("image_3.jpg")).expect("intact"),
            before
        );
        let leftovers: Vec<_> = std::fs::read_dir(out.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left behind");
    }

    #[test]
    fn prepare_data_refuses_a_file_in_place_of_the_directory() {
        let dir = tempfile::tempdir().expect("dir");
        let blocker = dir.path().join("out");
        std::fs::write(&blocker, "a file").expect("write");
        assert!(prepare_data(&repo_path("data/test_images.json"), &blocker).is_err());
    }
}
