//! Arbitrary bytes as a `.pth` file: the loader returns the network or a `LoadError`, never
//! panics, and a network that loads also runs.
#![no_main]

use std::sync::OnceLock;

use burn::tensor::{Device, Tensor};
use libfuzzer_sys::fuzz_target;

fn path() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("fuzz-weights-{}.pth", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(path(), data).expect("temp file");
    let device = Device::flex();
    if let Ok((net, _)) = gradcam_mnist::load_weights(path(), &device) {
        let _ = net.forward(Tensor::zeros([1, 1, 28, 28], &device)).into_data();
    }
});
