//! The portable generator of `tools/reference/zoo.py`: weights and inputs that the Python
//! reference scripts reproduce bit for bit, so both sides run on the same numbers without a
//! committed weight file. Compiled into the tests and, by path, into the xtask's benchmark.

/// The counter-based generator of `tools/reference/zoo.py` (`seeded_uniform`), bit for bit:
/// SplitMix64 of `(seed ^ fnv1a64(key)) + index`, its top 24 bits as `u` in `[0, 1)`, then
/// `low + (high − low)·u` in `f32`.
pub fn seeded_uniform(seed: u64, key: &str, count: usize, low: f64, high: f64) -> Vec<f32> {
    let hash = key.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let (low32, range) = (low as f32, (high - low) as f32);
    (0..count as u64)
        .map(|i| {
            let mut z = (seed ^ hash)
                .wrapping_add(i)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 / (1_u32 << 24) as f32;
            low32 + range * u
        })
        .collect()
}

/// One tensor of `zoo.seeded_state_dict`: weights ±√(numerator / fan_in) (3 for networks with
/// BatchNorm, 6, He's bound, for those without), BatchNorm γ and running variance in
/// [0.5, 1.5), running mean ±0.2, biases ±0.1.
pub fn seeded_values(key: &str, shape: &[usize], seed: u64, numerator: f64) -> Vec<f32> {
    let n = shape.iter().product();
    if shape.len() > 1 {
        let fan_in: usize = shape[1..].iter().product();
        let bound = (numerator / fan_in as f64).sqrt();
        seeded_uniform(seed, key, n, -bound, bound)
    } else if key.ends_with("running_var") || key.ends_with(".weight") {
        seeded_uniform(seed, key, n, 0.5, 1.5)
    } else if key.ends_with("running_mean") {
        seeded_uniform(seed, key, n, -0.2, 0.2)
    } else {
        seeded_uniform(seed, key, n, -0.1, 0.1)
    }
}

/// `zoo.seeded_state_dict` of a network with these PyTorch-layout keys and shapes, written as
/// a `.safetensors` file (what a torchvision checkpoint converted to safetensors holds).
pub fn seeded_safetensors(keys: &[(String, Vec<usize>)], seed: u64) -> tempfile::NamedTempFile {
    seeded_safetensors_with(keys, seed, 3.0)
}

/// [`seeded_safetensors`] with weights ±√(numerator / fan_in) ([`seeded_values`]).
pub fn seeded_safetensors_with(
    keys: &[(String, Vec<usize>)],
    seed: u64,
    numerator: f64,
) -> tempfile::NamedTempFile {
    let values: Vec<(String, Vec<usize>, Vec<u8>)> = keys
        .iter()
        .map(|(key, shape)| {
            let v = seeded_values(key, shape, seed, numerator);
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (key.clone(), shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = values
        .iter()
        .map(|(key, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("a valid view");
            (key.clone(), view)
        })
        .collect();
    let bytes = safetensors::tensor::serialize(views, None).expect("serialises");
    let file = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), bytes).expect("write");
    file
}
