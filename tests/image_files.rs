//! `prepare-data` and reading digits back from image files.

use crate::common;

use std::path::{Path, PathBuf};

use burn_gradcam::model::{DataError, Digits};
use burn_gradcam::prepare::prepare_data;
use common::repo_path;
use image::{GrayImage, ImageBuffer, Luma, Rgb, Rgba};

/// Grey levels the decoded JPEGs may differ from the JSON by.
const JPEG_LEVELS: f32 = 4.0;

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
        Err(DataError::ImageSize {
            width: 56,
            height: 40,
            expected: [28, 28],
            path,
        }) => assert_eq!(path, big),
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
            Err(DataError::Decode { path: named, .. }) => assert_eq!(named, path),
            other => panic!("{}: expected Decode, got {other:?}", path.display()),
        }
    }
    assert!(matches!(
        Digits::from_image_files(&[dir.path().join("absent.png")], false),
        Err(DataError::NotFound { .. })
    ));
    let empty = tempfile::tempdir().expect("dir");
    assert!(matches!(
        Digits::from_image_dir(empty.path(), false),
        Err(DataError::Empty { .. })
    ));
}
