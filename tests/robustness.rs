//! Random and mutated inputs never make a reader or the weights loader panic: they return `Ok`
//! or a typed error. A bounded number of cases keeps this to a few seconds; the cargo-fuzz
//! targets under `fuzz/` run the same entry points for as long as one likes.

use crate::common;

use burn_gradcam::mnist::{Digits, load_weights};
use common::repo_path;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Applies byte flips, truncation and insertions to a valid input.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(position, value, kind) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = position % bytes.len();
        match kind % 3 {
            0 => bytes[i] = value,
            1 => bytes.insert(i, value),
            _ => {
                bytes.remove(i);
            }
        }
    }
    if let Some(cut) = cut {
        let len = bytes.len();
        bytes.truncate(cut % (len + 1));
    }
    bytes
}

fn edits() -> impl Strategy<Value = (Vec<(usize, u8, u8)>, Option<usize>)> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        prop::option::of(any::<usize>()),
    )
}

fn sample(relative: &str) -> Vec<u8> {
    std::fs::read(repo_path(relative)).expect("committed sample")
}

fn png_sample() -> Vec<u8> {
    let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("json");
    let mut bytes = Vec::new();
    digits
        .to_grey_image(2)
        .expect("image")
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("png");
    bytes
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn image_json_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Digits::from_json_slice(&bytes);
    }

    #[test]
    fn mutated_image_json_never_panics((edits, cut) in edits()) {
        let bytes = mutate(sample("data/test_images.json"), &edits, cut);
        let _ = Digits::from_json_slice(&bytes);
    }

    #[test]
    fn packed_digits_never_panic((edits, cut) in edits(), raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let packed = Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("eval").slice(0..4).expect("4").to_packed().expect("labels");
        let _ = Digits::from_packed_slice(&mutate(packed, &edits, cut));
        let _ = Digits::from_packed_slice(&raw);
    }

    #[test]
    fn image_decoding_never_panics((edits, cut) in edits()) {
        let _ = Digits::from_image_bytes(&mutate(png_sample(), &edits, cut), true);
        let jpeg = Digits::from_json_file(repo_path("data/test_images.json")).expect("json").to_jpeg(1, 90).expect("jpeg");
        let _ = Digits::from_image_bytes(&mutate(jpeg, &edits, cut), false);
    }
}

proptest! {
    // Each case writes a file and opens a zip archive: fewer cases.
    #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

    #[test]
    fn mutated_weights_never_panic((edits, cut) in edits()) {
        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(file.path(), mutate(sample("data/mnist_model.pth"), &edits, cut)).expect("write");
        let device = burn_gradcam::Backend::default().device().expect("CPU device");
        if let Ok((net, _)) = load_weights(file.path(), &device) {
            // Whatever loaded must also run.
            let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("json");
            let _ = net.forward(burn_gradcam::mnist::preprocess(&digits, &device));
        }
    }
}
