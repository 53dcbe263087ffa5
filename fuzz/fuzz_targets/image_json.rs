//! Arbitrary bytes as image JSON: `Digits` or a `DataError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gradcam_mnist::Digits::from_json_slice(data);
    let _ = gradcam_mnist::Digits::from_packed_slice(data);
});
