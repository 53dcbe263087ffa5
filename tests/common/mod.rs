//! Shared by the integration tests: the committed fixtures and a max-error comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use burn_gradcam::Backend;
use burn_gradcam::mnist::{Digits, MnistNet, load_weights};
use safetensors::{Dtype, SafeTensors};

// Also compiled into the xtask, whose benchmark gives the Python peers the same weights.
pub mod seeded;

/// A path relative to the repository root: `GRADCAM_REPO_ROOT` when set (a test binary carried
/// to another machine, as the GPU bundle's), else the checkout it was built in.
pub fn repo_path(relative: &str) -> PathBuf {
    match std::env::var_os("GRADCAM_REPO_ROOT") {
        Some(root) => PathBuf::from(root).join(relative),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(relative),
    }
}

/// An example's binary, which `cargo test` builds next to the test binaries.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds examples",
        path.display()
    );
    path
}

/// The committed network on `device`.
pub fn net(device: &Device) -> MnistNet {
    load_weights(repo_path("data/mnist_model.pth"), device)
        .expect("committed weights load")
        .0
}

/// The committed Fashion-MNIST ResNet on `device`, explained at `layer4`.
pub fn fashion_resnet(device: &Device) -> burn_gradcam::zoo::ResNet {
    burn_gradcam::zoo::ResNet::load(
        burn_gradcam::zoo::ResNetConfig::fashion(),
        repo_path("data/fashion_resnet.pth"),
        device,
    )
    .expect("the committed weights load")
    .0
}

/// Every backend compiled in that has a device here, with a plain device. A GPU backend without
/// a device is skipped with a note, unless `GRADCAM_REQUIRE_BACKENDS` (a comma-separated list of
/// backend names, as CI sets it) names it: then its absence fails the test.
/// `GRADCAM_BACKENDS` (the same form), when set, keeps only the backends it names, so that one
/// GPU backend can be tested in a process of its own (the GPU bundle's run does).
pub fn devices() -> Vec<(Backend, Device)> {
    let required = std::env::var("GRADCAM_REQUIRE_BACKENDS").unwrap_or_default();
    let required: Vec<&str> = required.split(',').map(str::trim).collect();
    let only = std::env::var("GRADCAM_BACKENDS").ok();
    let only: Option<Vec<&str>> = only
        .as_deref()
        .map(|names| names.split(',').map(str::trim).collect());
    Backend::ALL
        .iter()
        .filter(|backend| {
            only.as_ref()
                .is_none_or(|only| only.contains(&backend.name()))
        })
        .filter_map(|backend| match backend.device() {
            Ok(device) => Some((*backend, device)),
            Err(error) if required.contains(&backend.name()) => panic!("{error}"),
            Err(error) => {
                eprintln!("skipping {backend}: {error}");
                None
            }
        })
        .collect()
}

/// `method` on `input` for `targets`, read to the host.
pub fn explain(
    method: &dyn burn_gradcam::explain::Attribution,
    model: &dyn burn_gradcam::explain::Explainable,
    input: burn::tensor::Tensor<4>,
    targets: &burn_gradcam::explain::Targets,
) -> Vec<burn_gradcam::explain::ImageAttribution> {
    method
        .attribute(model, input, targets)
        .and_then(|a| a.to_host())
        .expect("explains")
}

/// A safetensors fixture written by `tools/reference/reference.py`.
pub struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    pub fn load(relative: &str) -> Self {
        let path = repo_path(relative);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Self { bytes }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("valid safetensors fixture")
    }

    /// An `f32` tensor: its shape and values.
    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let tensors = self.tensors();
        let view = tensors
            .tensor(name)
            .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        assert_eq!(view.dtype(), Dtype::F32, "{name} is f32");
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), values)
    }

    /// A 4-d `f32` tensor on `device`.
    pub fn tensor(&self, name: &str, device: &Device) -> Tensor<4> {
        let (shape, values) = self.f32(name);
        let shape: [usize; 4] = shape
            .try_into()
            .unwrap_or_else(|s| panic!("{name}: {s:?} is not 4-d"));
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// An `f64` tensor's values.
    pub fn f64(&self, name: &str) -> Vec<f64> {
        let tensors = self.tensors();
        let view = tensors
            .tensor(name)
            .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        assert_eq!(view.dtype(), Dtype::F64, "{name} is f64");
        view.data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect()
    }

    /// A `u8` tensor: its shape and values.
    pub fn u8(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        let tensors = self.tensors();
        let view = tensors
            .tensor(name)
            .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        assert_eq!(view.dtype(), Dtype::U8, "{name} is u8");
        (view.shape().to_vec(), view.data().to_vec())
    }

    /// An `i64` tensor's values as class indices.
    pub fn classes(&self, name: &str) -> Vec<usize> {
        let tensors = self.tensors();
        let view = tensors
            .tensor(name)
            .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        assert_eq!(view.dtype(), Dtype::I64, "{name} is i64");
        view.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .collect()
    }

    /// The fixture's images (raw pixels in [0, 1]) as digits.
    pub fn digits(&self) -> Digits {
        Digits::new(self.f32("pixels").1, None).expect("fixture pixels are valid digits")
    }
}

/// The reference fixture (8 test images, 16 held-out digits, 5 edge cases).
pub fn reference() -> Fixture {
    Fixture::load("tests/fixtures/reference.safetensors")
}

/// Largest absolute difference between two equally long slices; infinite if either holds a NaN
/// (a NaN must never compare as close).
pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    actual.iter().zip(expected).fold(0.0, |m, (a, e)| {
        let d = (a - e).abs();
        if d.is_nan() { f32::INFINITY } else { m.max(d) }
    })
}

/// The scale below which a reference map counts as zero: float32's smallest normal number. An
/// all-zero reference is matched only by zeros.
pub const ZERO: f32 = f32::MIN_POSITIVE;

/// The worst image of a comparison: its index, its error relative to its reference's largest
/// magnitude, and that magnitude.
#[derive(Clone, Copy, Debug)]
pub struct Worst {
    pub image: usize,
    pub error: f32,
    pub scale: f32,
}

/// Per image, `max |actual − expected| / max(max |expected|, ZERO)`: the error relative to that
/// image's reference map's own largest magnitude; infinite where either side holds a NaN.
pub fn relative_errors(actual: &[f32], expected: &[f32], images: usize) -> Vec<(f32, f32)> {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    assert!(
        images > 0 && expected.len().is_multiple_of(images),
        "{images} images"
    );
    let per_image = expected.len() / images;
    actual
        .chunks(per_image)
        .zip(expected.chunks(per_image))
        .map(|(a, e)| {
            let scale = e.iter().fold(ZERO, |m, v| m.max(v.abs()));
            let scale = if e.iter().any(|v| v.is_nan()) {
                f32::NAN
            } else {
                scale
            };
            let error = max_abs_diff(a, e) / scale;
            (if error.is_nan() { f32::INFINITY } else { error }, scale)
        })
        .collect()
}

/// The worst image of [`relative_errors`].
pub fn worst_relative_error(actual: &[f32], expected: &[f32], images: usize) -> Worst {
    relative_errors(actual, expected, images)
        .into_iter()
        .enumerate()
        .fold(
            Worst {
                image: 0,
                error: 0.0,
                scale: ZERO,
            },
            |worst, (image, (error, scale))| {
                if error > worst.error {
                    Worst {
                        image,
                        error,
                        scale,
                    }
                } else {
                    worst
                }
            },
        )
}

/// One parity check: a fixture tensor and the error its values are held to, relative to each
/// image's (each first-axis slice's) largest magnitude. Its comment in the suite gives the worst
/// error measured on each backend, which the tolerance is set from.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub key: &'static str,
    pub tolerance: f32,
}

/// A parity suite's checks of one fixture file: what `tests/teeth.rs` proves would catch a
/// wrong map, and where the suite's tests read their tolerances.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    pub name: &'static str,
    pub fixture: &'static str,
    pub checks: &'static [Check],
}

impl Check {
    pub const fn new(key: &'static str, tolerance: f32) -> Self {
        Self { key, tolerance }
    }
}

impl Suite {
    /// The tolerance of `key`; a key the suite does not list is a mistake in the test.
    pub fn tolerance(&self, key: &str) -> f32 {
        self.checks
            .iter()
            .find(|c| c.key == key)
            .unwrap_or_else(|| panic!("{}: no check of {key}", self.name))
            .tolerance
    }

    /// The suite's fixture.
    pub fn fixture(&self) -> Fixture {
        Fixture::load(self.fixture)
    }

    /// Asserts that `actual` (image-major, as the fixture tensor `key`) equals the fixture within
    /// the check's tolerance, per image; returns the worst error.
    pub fn check(&self, fixture: &Fixture, what: &str, actual: &[f32], key: &str) -> f32 {
        let images = fixture.f32(key).0[0];
        self.check_first(fixture, what, actual, key, images)
    }

    /// [`Suite::check`] of the fixture's first `images` images.
    pub fn check_first(
        &self,
        fixture: &Fixture,
        what: &str,
        actual: &[f32],
        key: &str,
        images: usize,
    ) -> f32 {
        let (shape, expected) = fixture.f32(key);
        let expected = &expected[..expected.len() / shape[0] * images];
        let what = format!("{what} vs {key}");
        assert_close_per_image(&what, actual, expected, images, self.tolerance(key))
    }

    /// [`Suite::check`] of one map per image.
    pub fn check_maps<'a>(
        &self,
        fixture: &Fixture,
        what: &str,
        maps: impl IntoIterator<Item = &'a burn_gradcam::explain::Map>,
        key: &str,
    ) -> f32 {
        let actual: Vec<f32> = maps
            .into_iter()
            .flat_map(|m| m.values.iter().copied())
            .collect();
        self.check(fixture, what, &actual, key)
    }
}

/// Asserts that every image's error relative to its reference map's largest magnitude is at
/// most `tolerance` (see [`relative_errors`]), prints the worst and returns it.
pub fn assert_close_per_image(
    what: &str,
    actual: &[f32],
    expected: &[f32],
    images: usize,
    tolerance: f32,
) -> f32 {
    let worst = worst_relative_error(actual, expected, images);
    let message = format!(
        "{what}: image {} differs by {:e} of its map's largest magnitude {:e} (tolerance {tolerance:e})",
        worst.image, worst.error, worst.scale
    );
    if std::env::var_os("GRADCAM_PARITY_MEASURE").is_some() {
        println!(
            "MEASURE {} {message}",
            if worst.error <= tolerance {
                "ok"
            } else {
                "FAIL"
            }
        );
        return worst.error;
    }
    assert!(worst.error <= tolerance, "{message}");
    println!("{what}: worst relative error {:.2e}", worst.error);
    worst.error
}
