//! A ResNet checkpoint of the wrong depth, shape or contents gets an error naming the key (and
//! saying which ResNet the file holds); other float types are converted.

use crate::common;

use burn::tensor::Device;
use burn_gradcam::data::LoadError;
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use common::repo_path;
use common::seeded::seeded_safetensors;

fn device() -> Device {
    burn_gradcam::Backend::default()
        .device()
        .expect("CPU device")
}

fn load(config: ResNetConfig, file: &str) -> Result<ResNet, LoadError> {
    ResNet::load(
        config,
        repo_path(&format!("tests/fixtures/weights/{file}")),
        &device(),
    )
    .map(|(net, _)| net)
}

#[test]
fn another_depth_is_named() {
    for (file, holds) in [
        ("resnet34_keys.pth", "resnet34 ([3, 4, 6, 3] basic blocks)"),
        (
            "resnet50_keys.pth",
            "resnet50 ([3, 4, 6, 3] bottleneck blocks)",
        ),
    ] {
        let error = load(ResNetConfig::resnet18(), file).unwrap_err();
        assert!(
            matches!(error, LoadError::UnexpectedKeys { .. }),
            "{file}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("the file holds a {holds}")),
            "{message}"
        );
    }
    // ResNet-18 weights given to a ResNet-34: the missing blocks are named, and what is there.
    let resnet18 = seeded_safetensors(&ResNetConfig::resnet18().state_dict_keys(), 1);
    let error = ResNet::load(ResNetConfig::resnet34(), resnet18.path(), &device()).unwrap_err();
    match &error {
        LoadError::MissingKeys { keys, .. } => {
            assert!(keys.contains(&"layer1.2.conv1.weight".to_owned()))
        }
        other => panic!("expected MissingKeys, got {other:?}"),
    }
    assert!(
        error.to_string().contains("the file holds a resnet18"),
        "{error}"
    );
}

#[test]
fn a_misshaped_key_is_named_with_both_shapes() {
    match load(ResNetConfig::fashion(), "fashion_keys.pth").unwrap_err() {
        LoadError::Shape {
            key,
            expected,
            found,
            ..
        } => {
            assert_eq!(key, "conv1.weight");
            assert_eq!((expected, found), (vec![16, 1, 3, 3], vec![1]));
        }
        other => panic!("expected Shape, got {other:?}"),
    }
    // Ten classes expected, a thousand given.
    let wide = seeded_safetensors(
        &ResNetConfig::fashion().with_classes(1000).state_dict_keys(),
        2,
    );
    match ResNet::load(ResNetConfig::fashion(), wide.path(), &device()).unwrap_err() {
        LoadError::Shape { key, .. } => assert_eq!(key, "fc.weight"),
        other => panic!("expected Shape, got {other:?}"),
    }
}

#[test]
fn other_float_types_are_converted_and_non_finite_values_refused() {
    use safetensors::Dtype;
    let config = ResNetConfig::fashion();
    let keys = config.state_dict_keys();
    let write = |dtype: Dtype, poison: Option<(&str, usize)>| {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = keys
            .iter()
            .map(|(key, shape)| {
                let mut values = common::seeded::seeded_values(key, shape, 3, 3.0);
                if let Some((bad, index)) = poison
                    && bad == key
                {
                    values[index] = f32::NAN;
                }
                let bytes = match dtype {
                    Dtype::F64 => values
                        .iter()
                        .flat_map(|v| f64::from(*v).to_le_bytes())
                        .collect(),
                    _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                };
                (key.clone(), shape.clone(), bytes)
            })
            .collect();
        let views: Vec<_> = tensors
            .iter()
            .map(|(key, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)
                    .expect("a view");
                (key.clone(), view)
            })
            .collect();
        let file = tempfile::Builder::new()
            .suffix(".safetensors")
            .tempfile()
            .expect("temp file");
        std::fs::write(
            file.path(),
            safetensors::tensor::serialize(views, None).expect("bytes"),
        )
        .expect("write");
        file
    };
    let f64_file = write(Dtype::F64, None);
    let (net, report) = ResNet::load(config, f64_file.path(), &device()).expect("float64 loads");
    assert_eq!(report.converted.len(), keys.len());
    assert!(report.converted.iter().all(|(_, dtype)| dtype == "F64"));
    let f32_file = write(Dtype::F32, None);
    let (same, _) = ResNet::load(config, f32_file.path(), &device()).expect("float32 loads");
    let input = burn::tensor::Tensor::<4>::ones([1, 1, 28, 28], &device());
    let difference = (net.forward(input.clone()) - same.forward(input))
        .abs()
        .max();
    assert_eq!(
        difference.into_scalar::<f32>(),
        0.0,
        "float64 of float32 values is exact"
    );

    let poisoned = write(Dtype::F32, Some(("layer2.0.bn1.running_var", 5)));
    match ResNet::load(config, poisoned.path(), &device()).unwrap_err() {
        LoadError::NonFinite { key, index, .. } => {
            assert_eq!((key.as_str(), index), ("layer2.0.bn1.running_var", 5));
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn a_stage_is_chosen_by_name() {
    let net = ResNet::init(ResNetConfig::fashion(), &device());
    assert_eq!(net.explained_layer(), "layer4");
    assert_eq!(
        net.clone()
            .explained_at("layer2")
            .expect("a stage")
            .explained_layer(),
        "layer2"
    );
    let error = net.explained_at("layer5").unwrap_err();
    assert_eq!(error.expected, ["layer1", "layer2", "layer3", "layer4"]);
}
