//! Arbitrary bytes as a PNG/JPEG digit, with and without resizing: `Digits` or a `DataError`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gradcam_mnist::Digits::from_image_bytes(data, false);
    let _ = gradcam_mnist::Digits::from_image_bytes(data, true);
});
