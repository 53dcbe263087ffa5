//! Parity with scikit-image 0.26's `skimage.segmentation.slic` on the fixture written by
//! `tools/reference/slic.py` (`tests/fixtures/slic.safetensors`): every case's labels equal.

use std::collections::HashSet;

use gradcam_superpixels::{Segmentation, Slic, rgb_to_lab};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/slic.safetensors"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One input image of the fixture.
enum Pixels {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
}

struct Image {
    pixels: Pixels,
    height: usize,
    width: usize,
    channels: usize,
}

fn image(tensors: &SafeTensors, name: &str) -> Image {
    let view = tensors.tensor(&format!("image/{name}")).unwrap();
    let shape = view.shape();
    let (height, width) = (shape[0], shape[1]);
    let channels = if shape.len() == 3 { shape[2] } else { 1 };
    let pixels = match view.dtype() {
        Dtype::U8 => Pixels::Bytes(view.data().to_vec()),
        Dtype::F32 => Pixels::Floats(
            view.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        ),
        other => panic!("image/{name}: unexpected dtype {other:?}"),
    };
    Image {
        pixels,
        height,
        width,
        channels,
    }
}

/// A case's `slic` keyword arguments as a [`Slic`]; an argument the test does not know fails
/// the test rather than being ignored.
fn slic_of(case: &Value) -> Slic {
    let mut slic = Slic::default();
    for (key, value) in case.as_object().unwrap() {
        let float = || value.as_f64().unwrap();
        let int = || value.as_u64().unwrap();
        let flag = || value.as_bool().unwrap();
        slic = match key.as_str() {
            "name" | "image" => slic,
            "n_segments" => slic.with_n_segments(int() as usize),
            "compactness" => slic.with_compactness(float()),
            "max_num_iter" => slic.with_max_num_iter(int() as usize),
            "start_label" => slic.with_start_label(int() as u32),
            "enforce_connectivity" => slic.with_enforce_connectivity(flag()),
            "slic_zero" => slic.with_slic_zero(flag()),
            "convert2lab" => slic.with_convert2lab(flag()),
            "min_size_factor" => slic.with_min_size_factor(float()),
            "max_size_factor" => slic.with_max_size_factor(float()),
            other => panic!("case {case}: unknown argument {other}"),
        };
    }
    slic
}

fn segment(slic: &Slic, image: &Image) -> Segmentation {
    let Image {
        height,
        width,
        channels,
        ..
    } = *image;
    match &image.pixels {
        Pixels::Bytes(bytes) => slic.segment_u8(bytes, height, width, channels),
        Pixels::Floats(floats) => slic.segment(floats, height, width, channels),
    }
    .unwrap()
}

struct Case {
    name: String,
    image: String,
    slic: Slic,
    expected: Vec<u8>,
}

fn cases(bytes: &[u8]) -> (SafeTensors<'_>, Vec<Case>) {
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    let list: Value =
        serde_json::from_str(&metadata.metadata().as_ref().unwrap()["cases"]).unwrap();
    let tensors = SafeTensors::deserialize(bytes).unwrap();
    let cases = list
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let name = case["name"].as_str().unwrap().to_owned();
            let labels = tensors.tensor(&format!("labels/{name}")).unwrap();
            assert_eq!(labels.dtype(), Dtype::U8, "{name}");
            Case {
                image: case["image"].as_str().unwrap().to_owned(),
                slic: slic_of(case),
                expected: labels.data().to_vec(),
                name,
            }
        })
        .collect();
    (tensors, cases)
}

/// The fraction of pixels whose labels agree.
fn agreement(expected: &[u8], actual: &[u32]) -> f64 {
    let same = expected
        .iter()
        .zip(actual)
        .filter(|(e, a)| u32::from(**e) == **a)
        .count();
    same as f64 / expected.len() as f64
}

/// The parity verdict: every label equal (so the segment counts are too).
fn compare(expected: &[u8], actual: &[u32]) -> Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!(
            "{} labels, skimage {}",
            actual.len(),
            expected.len()
        ));
    }
    let distinct = expected.iter().collect::<HashSet<_>>().len();
    let ours = actual.iter().collect::<HashSet<_>>().len();
    let agreement = agreement(expected, actual);
    if agreement < 1.0 || distinct != ours {
        return Err(format!(
            "labels agree on {:.4} % of the pixels; {ours} segments, skimage {distinct}",
            100.0 * agreement
        ));
    }
    Ok(())
}

#[test]
fn every_case_equals_skimage() {
    let bytes = fixture();
    let (tensors, cases) = cases(&bytes);
    assert!(cases.len() >= 19, "the fixture holds {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let input = image(&tensors, &case.image);
        let segmentation = segment(&case.slic, &input);
        assert_eq!(
            (segmentation.height, segmentation.width),
            (input.height, input.width)
        );
        let distinct = case.expected.iter().collect::<HashSet<_>>().len();
        println!(
            "{:28} {:3} segments (skimage {:3}), agreement {:.4} %",
            case.name,
            segmentation.count,
            distinct,
            100.0 * agreement(&case.expected, &segmentation.labels)
        );
        if let Err(e) = compare(&case.expected, &segmentation.labels) {
            failures.push(format!("{}: {e}", case.name));
        }
        assert_eq!(
            segmentation.count,
            segmentation.labels.iter().collect::<HashSet<_>>().len()
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The verdict has teeth: skimage's own labels moved one pixel to the right, or with two
/// segments' ids swapped, are rejected in every case.
#[test]
fn comparison_rejects_a_shift_and_a_swap() {
    let bytes = fixture();
    let (tensors, cases) = cases(&bytes);
    for case in &cases {
        let input = image(&tensors, &case.image);
        let exact: Vec<u32> = case.expected.iter().map(|&l| u32::from(l)).collect();
        assert_eq!(compare(&case.expected, &exact), Ok(()), "{}", case.name);

        let width = input.width;
        let shifted: Vec<u32> = (0..exact.len())
            .map(|i| {
                if i % width == 0 {
                    exact[i]
                } else {
                    exact[i - 1]
                }
            })
            .collect();
        assert!(
            compare(&case.expected, &shifted).is_err(),
            "{}: shift accepted",
            case.name
        );

        let (a, b) = (exact[0], *exact.last().unwrap());
        assert_ne!(a, b, "{}", case.name);
        let swapped: Vec<u32> = exact
            .iter()
            .map(|&l| match l {
                l if l == a => b,
                l if l == b => a,
                l => l,
            })
            .collect();
        assert!(
            compare(&case.expected, &swapped).is_err(),
            "{}: swap accepted",
            case.name
        );
    }
}

/// The `image` crate's buffers give the labels of the raw bytes.
#[cfg(feature = "image")]
#[test]
fn image_buffers_equal_skimage() {
    let bytes = fixture();
    let (tensors, cases) = cases(&bytes);
    let mut checked = 0;
    for case in &cases {
        let input = image(&tensors, &case.image);
        let Pixels::Bytes(pixels) = &input.pixels else {
            continue;
        };
        let (w, h) = (input.width as u32, input.height as u32);
        let segmentation = if input.channels == 3 {
            case.slic
                .segment_rgb(&image::RgbImage::from_raw(w, h, pixels.clone()).unwrap())
        } else {
            case.slic
                .segment_gray(&image::GrayImage::from_raw(w, h, pixels.clone()).unwrap())
        }
        .unwrap();
        assert_eq!(
            compare(&case.expected, &segmentation.labels),
            Ok(()),
            "{}",
            case.name
        );
        checked += 1;
    }
    assert!(checked >= 18, "{checked} byte images");
}

/// `rgb_to_lab` against `skimage.color.rgb2lab` on the fixture's 192 colours.
#[test]
fn lab_equals_skimage() {
    let bytes = fixture();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let rgb = tensors.tensor("lab/rgb").unwrap();
    let lab = tensors.tensor("lab/skimage").unwrap();
    assert_eq!((rgb.dtype(), lab.dtype()), (Dtype::U8, Dtype::F64));
    let expected: Vec<f64> = lab
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(rgb.data().len(), expected.len());
    let (mut worst, mut differ) = (0.0f64, 0);
    for (colour, want) in rgb.data().chunks_exact(3).zip(expected.chunks_exact(3)) {
        let got = rgb_to_lab([0, 1, 2].map(|c| f64::from(colour[c]) * (1.0 / 255.0)));
        for (g, w) in got.iter().zip(want) {
            worst = worst.max((g - w).abs());
            differ += usize::from(g != w);
        }
    }
    println!(
        "Lab: {differ} of {} values differ, by at most {worst:.2e}",
        expected.len()
    );
    assert!(worst <= 1e-12, "Lab differs from skimage by {worst:e}");
}
