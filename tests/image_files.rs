//! Reading digits from image files.

use std::path::{Path, PathBuf};

use burn_gradcam::data::DataError;
use burn_gradcam::mnist::{Digits, DigitsError};
use image::{GrayImage, ImageBuffer, Luma, Rgb, Rgba};

fn save(dir: &Path, name: &str, save: impl FnOnce(&Path)) -> PathBuf {
    let path = dir.join(name);
    save(&path);
    path
}

#[test]
fn colour_and_16_bit_images_become_grey() {
    let dir = tempfile::tempdir().expect("dir");
    let rgb = save(dir.path(), "rgb.png", |p| {
        ImageBuffer::from_pixel(28, 28, Rgb([255_u8, 255, 255]))
            .save(p)
            .expect("save")
    });
    let rgba = save(dir.path(), "rgba.png", |p| {
        ImageBuffer::from_pixel(28, 28, Rgba([255_u8, 255, 255, 10]))
            .save(p)
            .expect("save")
    });
    let deep = save(dir.path(), "deep.png", |p| {
        ImageBuffer::from_pixel(28, 28, Luma([65535_u16]))
            .save(p)
            .expect("save")
    });
    let digits = Digits::from_image_files(&[rgb, rgba, deep], false).expect("reads");
    assert!(digits.pixels().iter().all(|p| (p - 1.0).abs() < 1e-6));
}

#[test]
fn wrong_size_is_an_error_unless_resizing() {
    let dir = tempfile::tempdir().expect("dir");
    let big = save(dir.path(), "big.png", |p| {
        GrayImage::from_pixel(56, 40, Luma([128]))
            .save(p)
            .expect("save")
    });
    match Digits::from_image_files(std::slice::from_ref(&big), false) {
        Err(DigitsError::File(DataError::ImageSize {
            width: 56,
            height: 40,
            expected: [28, 28],
            path,
        })) => assert_eq!(path, big),
        other => panic!("expected ImageSize, got {other:?}"),
    }
    let resized = Digits::from_image_files(&[big], true).expect("resizes");
    assert_eq!(resized.len(), 1);
}

#[test]
fn unreadable_and_truncated_images_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let good = save(dir.path(), "good.jpg", |p| {
        GrayImage::from_pixel(28, 28, Luma([90]))
            .save(p)
            .expect("save")
    });
    let bytes = std::fs::read(&good).expect("read");
    let truncated = save(dir.path(), "truncated.jpg", |p| {
        std::fs::write(p, &bytes[..bytes.len() / 3]).expect("write")
    });
    let text = save(dir.path(), "text.png", |p| {
        std::fs::write(p, "not an image").expect("write")
    });
    for path in [truncated, text] {
        match Digits::from_image_files(std::slice::from_ref(&path), false) {
            Err(DigitsError::File(DataError::Decode { path: named, .. })) => {
                assert_eq!(named, path)
            }
            other => panic!("{}: expected Decode, got {other:?}", path.display()),
        }
    }
    assert!(matches!(
        Digits::from_image_files(&[dir.path().join("absent.png")], false),
        Err(DigitsError::File(DataError::NotFound { .. }))
    ));
    let empty = tempfile::tempdir().expect("dir");
    assert!(matches!(
        Digits::from_image_dir(empty.path(), false),
        Err(DigitsError::File(DataError::Empty { .. }))
    ));
}
