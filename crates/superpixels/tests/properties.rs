//! Every error of `Slic::segment`, and properties of its labels on seeded random images.

use std::collections::{HashSet, VecDeque};

use gradcam_superpixels::{Segmentation, Slic, SlicError};

/// Seeded pseudo-random values in `[0, 1)` (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Smooth blobs plus a little noise: images with regions for SLIC to find.
fn blobs(seed: u64, height: usize, width: usize, channels: usize) -> Vec<f32> {
    let jitter = noise(seed, height * width * channels);
    let phase = noise(seed + 1, channels);
    (0..height * width * channels)
        .map(|i| {
            let (p, c) = (i / channels, i % channels);
            let (y, x) = ((p / width) as f32, (p % width) as f32);
            let wave = ((y / 5.0 + phase[c] * 6.0).sin() * (x / 7.0).cos() + 1.0) / 2.0;
            0.8 * wave + 0.2 * jitter[i]
        })
        .collect()
}

fn unsupported(result: Result<Segmentation, SlicError>) -> &'static str {
    match result {
        Err(SlicError::Unsupported { option, .. }) => option,
        other => panic!("expected an Unsupported error, got {other:?}"),
    }
}

#[test]
fn malformed_images_are_refused() {
    let slic = Slic::default();
    let image = vec![0.5f32; 4 * 5 * 3];
    assert_eq!(
        slic.segment(&[], 0, 5, 3),
        Err(SlicError::EmptyImage {
            height: 0,
            width: 5
        })
    );
    assert_eq!(
        slic.segment_u8(&[], 4, 0, 1),
        Err(SlicError::EmptyImage {
            height: 4,
            width: 0
        })
    );
    let err = slic.segment(&image[1..], 4, 5, 3).unwrap_err();
    assert_eq!(
        err,
        SlicError::BufferLength {
            height: 4,
            width: 5,
            channels: 3,
            expected: 60,
            actual: 59
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("60") && message.contains("59"),
        "{message}"
    );
    assert_eq!(
        slic.segment(&image, usize::MAX, 2, 3),
        Err(SlicError::TooLarge {
            height: usize::MAX,
            width: 2,
            channels: 3
        })
    );
    for channels in [0, 2, 4] {
        assert_eq!(
            slic.segment(&image, 4, 5, channels),
            Err(SlicError::UnsupportedChannels { channels })
        );
    }
    for (index, bad) in [(7, f32::NAN), (0, f32::INFINITY), (59, f32::NEG_INFINITY)] {
        let mut image = image.clone();
        image[index] = bad;
        match slic.segment(&image, 4, 5, 3) {
            Err(SlicError::NonFinite { index: at, value }) => {
                assert_eq!(at, index);
                assert_eq!(value.to_bits(), bad.to_bits());
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
}

#[test]
fn options_out_of_their_domain_are_refused() {
    let grey = vec![0.5f32; 6 * 6];
    let rgb = vec![0.5f32; 6 * 6 * 3];
    let on_rgb = |slic: Slic| slic.segment(&rgb, 6, 6, 3);
    assert_eq!(
        on_rgb(Slic::default().with_n_segments(0)),
        Err(SlicError::ZeroSegments)
    );
    for compactness in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            unsupported(on_rgb(Slic::default().with_compactness(compactness))),
            "compactness"
        );
    }
    assert_eq!(
        unsupported(on_rgb(Slic::default().with_max_num_iter(0))),
        "max_num_iter"
    );
    assert_eq!(
        unsupported(on_rgb(Slic::default().with_sigma(1.0))),
        "sigma"
    );
    assert_eq!(
        unsupported(on_rgb(Slic::default().with_sigma(-0.5))),
        "sigma"
    );
    assert_eq!(
        unsupported(on_rgb(Slic::default().with_start_label(2))),
        "start_label"
    );
    assert_eq!(
        unsupported(on_rgb(Slic::default().with_min_size_factor(f64::NAN))),
        "min_size_factor"
    );
    for factor in [0.0, -3.0, f64::INFINITY] {
        assert_eq!(
            unsupported(on_rgb(Slic::default().with_max_size_factor(factor))),
            "max_size_factor"
        );
    }
    assert_eq!(
        unsupported(
            Slic::default()
                .with_convert2lab(true)
                .segment(&grey, 6, 6, 1)
        ),
        "convert2lab"
    );
    // The message names the option, its value and the reason.
    let message = on_rgb(Slic::default().with_sigma(1.5))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("sigma") && message.contains("1.5"),
        "{message}"
    );
    // Options off their domain are refused only where they apply: these are fine.
    assert!(
        Slic::default()
            .with_convert2lab(false)
            .segment(&grey, 6, 6, 1)
            .is_ok()
    );
    assert!(
        Slic::default()
            .with_convert2lab(true)
            .segment(&rgb, 6, 6, 3)
            .is_ok()
    );
    assert!(on_rgb(Slic::default().with_min_size_factor(-1.0)).is_ok());
}

#[test]
fn defaults_are_skimage_026s() {
    let slic = Slic::default();
    assert_eq!(slic.n_segments, 100);
    assert_eq!(slic.compactness, 10.0);
    assert_eq!(slic.max_num_iter, 10);
    assert_eq!(slic.sigma, 0.0);
    assert!(slic.enforce_connectivity);
    assert_eq!(slic.min_size_factor, 0.5);
    assert_eq!(slic.max_size_factor, 3.0);
    assert_eq!(slic.start_label, 1);
    assert_eq!(slic.convert2lab, None);
    assert!(!slic.slic_zero);
}

/// The pixels of each label form one 4-connected region.
fn connected(segmentation: &Segmentation) -> bool {
    let (h, w) = (segmentation.height, segmentation.width);
    let labels = &segmentation.labels;
    let mut seen = vec![false; labels.len()];
    let mut regions = HashSet::new();
    for start in 0..labels.len() {
        if seen[start] {
            continue;
        }
        if !regions.insert(labels[start]) {
            return false; // a second region of a label already met
        }
        let mut queue = VecDeque::from([start]);
        seen[start] = true;
        while let Some(at) = queue.pop_front() {
            let (y, x) = (at / w, at % w);
            let next = [
                (x + 1 < w).then_some(at + 1),
                (x > 0).then(|| at - 1),
                (y + 1 < h).then_some(at + w),
                (y > 0).then(|| at - w),
            ];
            for n in next.into_iter().flatten() {
                if !seen[n] && labels[n] == labels[at] {
                    seen[n] = true;
                    queue.push_back(n);
                }
            }
        }
    }
    true
}

#[test]
fn labels_are_contiguous_connected_and_counted() {
    let shapes = [(1, 1), (1, 17), (23, 1), (7, 13), (30, 20), (41, 64)];
    let mut checked = 0;
    for (seed, &(height, width)) in shapes.iter().enumerate() {
        for channels in [1, 3] {
            let image = blobs(seed as u64, height, width, channels);
            for n_segments in [1, 5, 40, 1000] {
                for start_label in [0, 1] {
                    let compactness = if channels == 3 { 10.0 } else { 0.1 };
                    let slic = Slic::default()
                        .with_n_segments(n_segments)
                        .with_compactness(compactness)
                        .with_start_label(start_label);
                    let s = slic.segment(&image, height, width, channels).unwrap();
                    let context = format!("{height}×{width}×{channels}, n {n_segments}");
                    assert_eq!(s.labels.len(), height * width, "{context}");
                    assert_eq!((s.height, s.width), (height, width), "{context}");
                    let ids: HashSet<u32> = s.labels.iter().copied().collect();
                    assert_eq!(s.count, ids.len(), "{context}");
                    let expected: HashSet<u32> =
                        (start_label..start_label + s.count as u32).collect();
                    assert_eq!(
                        ids, expected,
                        "{context}: ids not contiguous from {start_label}"
                    );
                    assert!(connected(&s), "{context}: a label is split");
                    // Ids are numbered in raster order of each superpixel's first pixel.
                    let mut next = start_label;
                    for &label in &s.labels {
                        assert!(label <= next, "{context}: {label} met before {next}");
                        next = next.max(label + 1);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, shapes.len() * 2 * 4 * 2);
}

#[test]
fn start_label_shifts_every_label_by_one() {
    let image = blobs(3, 40, 50, 3);
    for connect in [true, false] {
        let slic = Slic::default()
            .with_n_segments(30)
            .with_enforce_connectivity(connect);
        let zero = slic
            .clone()
            .with_start_label(0)
            .segment(&image, 40, 50, 3)
            .unwrap();
        let one = slic.with_start_label(1).segment(&image, 40, 50, 3).unwrap();
        assert_eq!(zero.count, one.count);
        assert!(
            zero.labels
                .iter()
                .zip(&one.labels)
                .all(|(z, o)| z + 1 == *o)
        );
    }
}

/// Without connectivity enforcement the labels are the clusters' numbers, from
/// `start_label`, one per grid centre at most.
#[test]
fn unconnected_labels_are_cluster_numbers() {
    let image = blobs(4, 36, 36, 1);
    let s = Slic::default()
        .with_n_segments(36)
        .with_compactness(0.1)
        .with_enforce_connectivity(false)
        .segment(&image, 36, 36, 1)
        .unwrap();
    // 36 × 36 / 36: a 6 × 6 grid of centres.
    assert!(s.labels.iter().all(|&l| (1..=36).contains(&l)));
    assert_eq!(s.count, s.labels.iter().collect::<HashSet<_>>().len());
}

/// SLIC rescales the image by its extremes: scaling every value by a power of two gives the
/// same labels, exactly; and the result does not depend on anything but the input.
#[test]
fn rescaling_invariance_and_determinism() {
    let image = blobs(5, 32, 48, 3);
    let slic = Slic::default().with_n_segments(24);
    let base = slic.segment(&image, 32, 48, 3).unwrap();
    for scale in [0.25f32, 2.0, 64.0] {
        let scaled: Vec<f32> = image.iter().map(|v| v * scale).collect();
        assert_eq!(
            slic.segment(&scaled, 32, 48, 3).unwrap(),
            base,
            "scale {scale}"
        );
    }
    assert_eq!(slic.segment(&image, 32, 48, 3).unwrap(), base);
    // A constant image is not rescaled and still segments (into the grid's cells).
    let flat = Slic::default()
        .with_n_segments(4)
        .segment(&[0.3; 16 * 16], 16, 16, 1)
        .unwrap();
    assert_eq!(flat.count, 4);
}

#[test]
fn a_flat_two_colour_image_splits_along_its_edge() {
    let (h, w) = (24, 24);
    let bytes: Vec<u8> = (0..h * w)
        .flat_map(|i| {
            if i % w < 10 {
                [200, 30, 30]
            } else {
                [20, 40, 220]
            }
        })
        .collect();
    let s = Slic::default()
        .with_n_segments(9)
        .segment_u8(&bytes, h, w, 3)
        .unwrap();
    for y in 0..h {
        assert_ne!(s.label(y, 9), s.label(y, 10), "row {y}");
    }
}

#[test]
#[should_panic(expected = "outside")]
fn label_outside_the_image_panics() {
    let s = Slic::default().segment(&[0.0; 4], 2, 2, 1).unwrap();
    s.label(2, 0);
}
