//! The metrics fixture (`tests/fixtures/metrics.safetensors`, from
//! `tools/reference/metrics.py`), for the unit tests of the crate's internals.

/// The values of the fixture's `f32` tensor `key`.
pub(crate) fn f32(key: &str) -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/metrics.safetensors"
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let view = tensors.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{key} is f32");
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
