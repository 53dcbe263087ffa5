//! Every bad weights file gets its own clear error; variants that can be used are converted.

use crate::common;

use burn::tensor::Device;
use burn_gradcam::data::LoadError;
use burn_gradcam::mnist::{MnistNet, load_weights, preprocess};
use common::{max_abs_diff, reference, repo_path};

fn device() -> Device {
    burn_gradcam::Backend::default()
        .device()
        .expect("CPU device")
}

fn load_fixture(name: &str) -> Result<MnistNet, LoadError> {
    load_weights(
        repo_path(&format!("tests/fixtures/weights/{name}")),
        &device(),
    )
    .map(|(net, _)| net)
}

fn log_probs(net: &MnistNet) -> Vec<f32> {
    net.forward(preprocess(&reference().digits(), &device()))
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32")
}

fn committed() -> MnistNet {
    load_weights(repo_path("data/mnist_model.pth"), &device())
        .expect("loads")
        .0
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), bytes).expect("write");
    file
}

#[test]
fn missing_file() {
    let error = load_weights("no/such/weights.pth", &device()).unwrap_err();
    assert!(matches!(error, LoadError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("no/such/weights.pth"), "{error}");
}

#[test]
fn empty_file() {
    let file = temp_file(b"");
    assert!(matches!(
        load_weights(file.path(), &device()),
        Err(LoadError::Empty { .. })
    ));
}

#[test]
fn directory_instead_of_file() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(matches!(
        load_weights(dir.path(), &device()),
        Err(LoadError::NotPytorch { .. })
    ));
}

#[test]
fn truncated_file() {
    let bytes = std::fs::read(repo_path("data/mnist_model.pth")).expect("committed weights");
    for keep in [bytes.len() / 2, bytes.len() - 30, 100] {
        let file = temp_file(&bytes[..keep]);
        let error = load_weights(file.path(), &device()).unwrap_err();
        assert!(
            matches!(error, LoadError::Corrupt { .. }),
            "truncated to {keep}: {error:?}"
        );
    }
}

#[test]
fn random_bytes_and_text() {
    let noise: Vec<u8> = (0..4096_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for bytes in [&noise[..], b"just some text, not a checkpoint\n"] {
        let file = temp_file(bytes);
        let error = load_weights(file.path(), &device()).unwrap_err();
        assert!(
            matches!(
                error,
                LoadError::NotPytorch { .. } | LoadError::Corrupt { .. }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains(&file.path().display().to_string())
        );
    }
}

#[test]
fn zip_that_is_not_a_checkpoint() {
    let error = load_fixture("zip_not_torch.pth").unwrap_err();
    assert!(matches!(error, LoadError::NotPytorch { .. }), "{error:?}");
}

#[test]
fn pickle_that_is_not_a_state_dict() {
    let error = load_fixture("not_state_dict.pth").unwrap_err();
    assert!(matches!(error, LoadError::NotStateDict { .. }), "{error:?}");
}

#[test]
fn missing_key_is_named() {
    match load_fixture("missing_key.pth").unwrap_err() {
        LoadError::MissingKeys { keys, .. } => assert_eq!(keys, ["fc2.bias"]),
        other => panic!("expected MissingKeys, got {other:?}"),
    }
}

#[test]
fn extra_key_is_refused_and_named() {
    match load_fixture("extra_key.pth").unwrap_err() {
        LoadError::UnexpectedKeys { keys, .. } => assert_eq!(keys, ["fc3.weight"]),
        other => panic!("expected UnexpectedKeys, got {other:?}"),
    }
}

#[test]
fn wrong_shape_names_key_and_shapes() {
    match load_fixture("wrong_shape.pth").unwrap_err() {
        LoadError::Shape {
            key,
            expected,
            found,
            ..
        } => {
            assert_eq!(key, "conv2.weight");
            assert_eq!(expected, [10, 10, 5, 5]);
            assert_eq!(found, [10, 10, 3, 3]);
        }
        other => panic!("expected Shape, got {other:?}"),
    }
}

#[test]
fn nested_state_dict_gets_a_hint() {
    let error = load_fixture("nested.pth").unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::MissingKeys { .. } | LoadError::UnexpectedKeys { .. }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("model_state_dict"), "{error}");
}

#[test]
fn float64_weights_are_converted_and_compute_the_same() {
    let (net, report) =
        load_weights(repo_path("tests/fixtures/weights/f64.pth"), &device()).expect("f64 loads");
    assert_eq!(report.converted.len(), 8, "{report:?}");
    let error = max_abs_diff(&log_probs(&net), &log_probs(&committed()));
    assert!(error <= 1e-6, "f64 weights differ by {error:e}");
}

#[test]
fn float16_weights_are_converted_and_compute_nearly_the_same() {
    let (net, report) =
        load_weights(repo_path("tests/fixtures/weights/f16.pth"), &device()).expect("f16 loads");
    assert!(
        report.converted.iter().all(|(_, dtype)| dtype == "F16"),
        "{report:?}"
    );
    let error = max_abs_diff(&log_probs(&net), &log_probs(&committed()));
    assert!(error <= 0.05, "f16 weights differ by {error:e}");
}

#[test]
fn full_pickled_model_and_legacy_format_load_the_same_weights() {
    let expected = log_probs(&committed());
    for name in ["full_model.pth", "legacy.pth"] {
        match load_fixture(name) {
            Ok(net) => assert!(max_abs_diff(&log_probs(&net), &expected) <= 1e-6, "{name}"),
            Err(error) => panic!("{name}: {error}"),
        }
    }
}

#[test]
fn non_finite_parameters_are_named_with_their_index() {
    // conv1.weight[0, 0, 1, 2] is NaN: index 1·5 + 2 = 7 of the flattened [10, 1, 5, 5].
    for (file, key, index, nan) in [
        ("nan.pth", "conv1.weight", 7, true),
        ("inf.pth", "fc1.bias", 7, false),
        // 1e300 is finite in float64 and infinite once converted: fc2.weight[3, 4] of [10, 50].
        ("f64_overflow.pth", "fc2.weight", 3 * 50 + 4, false),
    ] {
        match load_fixture(file).unwrap_err() {
            LoadError::NonFinite {
                key: found,
                index: at,
                value,
                ..
            } => {
                assert_eq!((found.as_str(), at), (key, index), "{file}");
                assert_eq!(value.is_nan(), nan, "{file}: {value}");
                let message = load_fixture(file).unwrap_err().to_string();
                assert!(
                    message.contains(key) && message.contains(&index.to_string()),
                    "{message}"
                );
            }
            other => panic!("{file}: expected NonFinite, got {other:?}"),
        }
    }
}

#[test]
fn weights_that_overflow_are_reported_by_the_explanation_not_drawn() {
    use burn_gradcam::explain::{Attribution, ExplainError, GuidedGradCam, Preset, Stage, Targets};
    // Every weight is finite, but a conv1 weight of 1e38 overflows the forward pass.
    let net = load_fixture("overflow.pth").expect("finite weights load");
    let input = preprocess(&reference().digits(), &device());
    let result = GuidedGradCam::guided(Preset::Seed.cam_settings())
        .attribute(&net, input, &Targets::predicted())
        .expect("computed on the device");
    match result.to_host().unwrap_err() {
        ExplainError::NonFinite { stage, index, .. } => {
            assert!(stage > Stage::Input, "{stage:?}");
            println!("overflow reported at image {index}, stage {stage}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
}
