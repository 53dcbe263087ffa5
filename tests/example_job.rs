//! The main job end to end: the `guided_gradcam` example's figure, its `maps.json`, and its
//! behaviour on bad input. `cargo test` builds the example next to the test binaries.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn_gradcam::explain::{
    AnyCam, AnyPixel, Attribution, GuidedGradCam, Map, Prediction, Preset, Saliency, Targets,
};
use burn_gradcam::mnist::{Digits, preprocess};
use common::{net, repo_path};

fn example() -> PathBuf {
    common::example_binary("guided_gradcam")
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
        .current_dir(repo_path(""))
        .args(args)
        .output()
        .expect("example runs")
}

#[derive(serde::Deserialize)]
struct MapsFile {
    preset: String,
    method: String,
    cam: AnyCam,
    pixel: AnyPixel,
    objective: String,
    images: Vec<Entry>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Entry {
    index: usize,
    label: Option<u8>,
    prediction: Prediction,
    cam_layer: Map,
    cam: Map,
    attribution: Map,
    attribution_cam: Map,
}

#[test]
fn default_run_writes_the_figure_and_all_maps() {
    let root = tempfile::tempdir().expect("dir");
    // A missing output directory is created, parents included.
    let out = root.path().join("new/output");
    let output = run(&["--out", out.to_str().expect("utf-8")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("image ")).count(),
        8,
        "{stdout}"
    );

    // The figure: landscape, with grey digits and coloured heat maps.
    let figure = image::open(out.as_path().join("guided_gradcam.png"))
        .expect("PNG decodes")
        .into_rgb8();
    assert!(figure.width() > figure.height(), "landscape");
    let (mut grey, mut coloured) = (0_usize, 0_usize);
    for pixel in figure.pixels() {
        let [r, g, b] = pixel.0;
        if r == g && g == b {
            grey += 1
        } else if r.abs_diff(b) > 60 || g.abs_diff(b) > 60 {
            coloured += 1
        }
    }
    let total = (figure.width() * figure.height()) as usize;
    assert!(
        grey > total / 4,
        "grey digits and background: {grey} of {total}"
    );
    assert!(
        coloured > total / 20,
        "heat-map and signed cells: {coloured} of {total}"
    );

    let svg =
        std::fs::read_to_string(out.as_path().join("guided_gradcam.svg")).expect("SVG written");
    assert!(
        svg.contains("<svg") && svg.contains("Guided Grad-CAM"),
        "the SVG holds the figure"
    );

    // maps.json round-trips and holds exactly what the library computes.
    let file: MapsFile =
        serde_json::from_slice(&std::fs::read(out.as_path().join("maps.json")).expect("maps.json"))
            .expect("parses");
    assert_eq!(file.preset, "seed");
    assert_eq!(file.method, "Guided Grad-CAM");
    assert_eq!(
        file.pixel,
        AnyPixel::from_name("guided-backprop").expect("a method")
    );
    assert_eq!(file.cam.name(), "grad-cam");
    let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("images");
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = net(&device);
    let expected = GuidedGradCam::guided(Preset::Seed.cam_settings())
        .attribute(&net, preprocess(&digits, &device), &Targets::predicted())
        .and_then(|a| a.to_host())
        .expect("explains");
    assert_eq!(file.images.len(), 8);
    for (entry, expected) in file.images.iter().zip(&expected) {
        assert_eq!(entry.label, digits.labels().map(|l| l[entry.index]));
        let missing = "a product's maps";
        let expected = Entry {
            index: entry.index,
            label: entry.label,
            prediction: expected.prediction.clone(),
            cam_layer: expected.layer_cam.clone().expect(missing),
            cam: expected.cam.clone().expect(missing),
            attribution: expected.pixel.clone().expect(missing),
            attribution_cam: expected.map.clone(),
        };
        assert_eq!(entry, &expected, "image {}", entry.index);
    }
}

#[test]
fn flags_select_preset_targets_images_and_panels() {
    let out = tempfile::tempdir().expect("dir");
    let images = tempfile::tempdir().expect("dir");
    let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("digits");
    for i in 0..digits.len() {
        let jpeg = digits.to_jpeg(i, 100).expect("encodes");
        std::fs::write(images.path().join(format!("image_{i}.jpg")), jpeg).expect("writes");
    }
    let output = run(&[
        "--out",
        out.path().to_str().expect("utf-8"),
        "--images",
        images.path().to_str().expect("utf-8"),
        "--preset",
        "captum",
        "--cam-method",
        "layer-cam",
        "--target",
        "1,1,1,1,1,1,1,1",
        "--batch-size",
        "3",
        "--panels",
        "--colormap",
        "viridis",
        "--signed-style",
        "abs:98",
        "--pixel-method",
        "saliency",
        "--smooth-grad",
        "--eigen-smooth",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file: MapsFile =
        serde_json::from_slice(&std::fs::read(out.path().join("maps.json")).expect("maps.json"))
            .expect("parses");
    assert_eq!(file.preset, "captum");
    assert_eq!(file.cam.name(), "layer-cam");
    assert_eq!(
        file.cam,
        AnyCam::from_name("layer-cam")
            .expect("a CAM")
            .with_settings(Preset::Captum.cam_settings().with_eigen_smooth(true))
    );
    assert_eq!(
        file.pixel,
        AnyPixel::Saliency(Saliency::new()).smoothed(),
        "saliency in SmoothGrad"
    );
    assert_eq!(
        file.method,
        "SmoothGrad(Saliency) ⊙ LayerCAM (eigen-smooth)"
    );
    assert!(
        file.images
            .iter()
            .all(|e| e.prediction.target == 1 && e.label.is_none())
    );
    assert_eq!(
        std::fs::read_dir(out.path().join("panels"))
            .expect("panels")
            .count(),
        24
    );
}

/// A successful run with `args` into `dir`: its `maps.json`, untyped.
fn run_into(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = run(&[&["--out", dir.to_str().expect("utf-8")][..], args].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("maps.json")).expect("maps.json"))
        .expect("parses")
}

/// A successful run with `args` into a fresh directory: its `maps.json`.
fn maps_of(args: &[&str]) -> MapsFile {
    let out = tempfile::tempdir().expect("dir");
    serde_json::from_value(run_into(out.path(), args)).expect("a maps file")
}

#[test]
fn one_target_explains_every_image_for_that_class() {
    let file = maps_of(&["--target", "3"]);
    assert_eq!(file.images.len(), 8);
    assert!(file.images.iter().all(|e| e.prediction.target == 3));
    assert_eq!(file.objective, "output");
}

#[test]
fn an_objective_replaces_the_class_score() {
    let file = maps_of(&["--objective", "sum:3,8"]);
    assert_eq!(file.objective, "sum of output at classes 3, 8");
    // The score read back is the objective's: log p_3 + log p_8 of each image.
    for entry in &file.images {
        let p = &entry.prediction;
        let expected = p.probabilities[3].ln() + p.probabilities[8].ln();
        assert!(
            (p.score - expected).abs() <= 1e-4 * expected.abs().max(1.0),
            "image {}: {} vs {expected}",
            entry.index,
            p.score
        );
    }
}

#[test]
fn bad_input_exits_non_zero_with_a_message_and_keeps_earlier_outputs() {
    let out = tempfile::tempdir().expect("dir");
    let dir = out.path().to_str().expect("utf-8");
    assert!(run(&["--out", dir]).status.success());
    let figure = std::fs::read(out.path().join("guided_gradcam.png")).expect("figure");
    let maps = std::fs::read(out.path().join("maps.json")).expect("maps");

    let bad_json = out.path().join("bad.json");
    std::fs::write(&bad_json, "[[0.5, 0.5]]").expect("write");
    for (args, message) in [
        (vec!["--weights", "missing.pth"], "not found"),
        (
            vec!["--images", bad_json.to_str().expect("utf-8")],
            "image 0",
        ),
        (
            vec!["--target", "1,2"],
            "--target gives 2 classes for 8 images",
        ),
        (vec!["--target", "12,1,1,1,1,1,1,1"], "out of range"),
        (vec!["--target", "12"], "out of range"),
        (
            vec!["--objective", "sum:3,12"],
            "reads output 12, but the model has 10 outputs",
        ),
        (vec!["--objective", "binary"], "expected sum:<classes>"),
        (
            vec!["--weights", "tests/fixtures/weights/nan.pth"],
            "conv1.weight holds NaN at index 7",
        ),
        // Finite weights whose forward pass overflows: refused before anything is drawn.
        (
            vec!["--weights", "tests/fixtures/weights/overflow.pth"],
            "non-finite value (NaN or infinity) in its feature maps",
        ),
    ] {
        let output = run(&[&["--out", dir][..], &args].concat());
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(
        std::fs::read(out.path().join("guided_gradcam.png")).expect("figure"),
        figure
    );
    assert_eq!(
        std::fs::read(out.path().join("maps.json")).expect("maps"),
        maps
    );

    // Not writable (procfs refuses new files, even to root): a clear error, nothing written.
    let output = run(&["--out", "/proc/self"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write /proc/self/"), "{stderr}");

    let blocker = out.path().join("a-file");
    std::fs::write(&blocker, "x").expect("write");
    let output = run(&["--out", blocker.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a directory"));
}

/// The help names every registered CAM and pixel method (its lists are written by hand).
#[test]
fn the_help_names_every_registered_method() {
    let output = run(&["--help"]);
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for name in AnyCam::NAMES.iter().chain(AnyPixel::NAMES) {
        assert!(help.contains(name), "--help does not name {name}");
    }
}

/// LRP on a ResNet from the main job (zennit's `EpsilonPlus` by default).
#[test]
fn lrp_explains_the_fashion_resnet_from_the_main_job() {
    let out = tempfile::tempdir().expect("dir");
    let file = run_into(
        out.path(),
        &["--model", "fashion-resnet", "--pixel-method", "lrp"],
    );
    assert_eq!(file["method"], "LRP ⊙ Grad-CAM");
    assert!(file["pixel"]["lrp"]["composite"]["convolution"]["z-plus"].is_object());
    assert!(image::open(out.path().join("guided_gradcam.png")).is_ok());
}

#[test]
fn the_fashion_resnet_is_explained_at_the_chosen_stage() {
    let out = tempfile::tempdir().expect("dir");
    let dir = out.path().to_str().expect("utf-8");
    let file = run_into(
        out.path(),
        &[
            "--model",
            "fashion-resnet",
            "--layer",
            "layer3",
            "--extra-layers",
            "layer1,layer2",
            "--aug-smooth",
            "--panels",
        ],
    );
    assert_eq!(file["model"], "fashion-resnet");
    assert_eq!(file["layer"], "layer3");
    assert_eq!(file["cam_layers"], serde_json::json!(["layer1", "layer2"]));
    assert_eq!(file["cam"]["grad-cam"]["settings"]["aug_smooth"], true);
    assert_eq!(
        file["method"],
        "Guided Grad-CAM (+layer1, +layer2) (aug-smooth)"
    );
    assert_eq!(file["normalization"], "fashion-mnist");
    let images = file["images"].as_array().expect("images");
    assert_eq!(images.len(), 10);
    assert_eq!(
        images[0]["cam_layer"]["shape"],
        serde_json::json!([1, 7, 7])
    );
    assert_eq!(
        images[0]["attribution"]["shape"],
        serde_json::json!([1, 28, 28])
    );
    assert!(image::open(out.path().join("guided_gradcam.png")).is_ok());

    for (args, message) in [
        (vec!["--model", "resnet18"], "--weights"),
        (
            vec!["--model", "fashion-resnet", "--layer", "layer5"],
            "unknown ResNet stage \"layer5\"",
        ),
        (
            vec![
                "--model",
                "fashion-resnet",
                "--layer",
                "layer2",
                "--extra-layers",
                "layer3",
            ],
            "no layer \"layer3\" before its explained layer; it taps layer1",
        ),
        (
            vec![
                "--model",
                "resnet34",
                "--weights",
                "tests/fixtures/weights/resnet50_keys.pth",
            ],
            "the file holds a resnet50",
        ),
    ] {
        let output = run(&[&["--out", dir][..], &args].concat());
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn a_torchvision_resnet_explains_rgb_images_in_colour() {
    let weights = common::seeded::seeded_safetensors(
        &burn_gradcam::zoo::ResNetConfig::resnet18().state_dict_keys(),
        18,
    );
    let out = tempfile::tempdir().expect("dir");
    let output = run(&[
        "--out",
        out.path().to_str().expect("utf-8"),
        "--model",
        "resnet18",
        "--weights",
        weights.path().to_str().expect("utf-8"),
        "--target",
        "7,281,504",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("maps.json")).expect("maps.json"))
            .expect("parses");
    assert_eq!(file["normalization"], "imagenet");
    let images = file["images"].as_array().expect("images");
    assert_eq!(images.len(), 3);
    assert_eq!(images[1]["prediction"]["target"], 281);
    assert_eq!(
        images[0]["cam_layer"]["shape"],
        serde_json::json!([1, 7, 7])
    );
    assert_eq!(
        images[0]["attribution"]["shape"],
        serde_json::json!([3, 224, 224])
    );
    // The raw row is the RGB photograph: plenty of pixels that are not grey.
    let figure = image::open(out.path().join("guided_gradcam.png"))
        .expect("PNG")
        .into_rgb8();
    let colourful = figure
        .pixels()
        .filter(|p| p.0[0].abs_diff(p.0[2]) > 60)
        .count();
    assert!(colourful > 10_000, "{colourful}");
}

/// The inverted residual networks, DenseNet, ConvNeXt, Swin and ViT through the main job:
/// `--model mobilenet_v2` (and `mobilenet_v3_small`, `efficientnet_b0`, `densenet121`,
/// `convnext_tiny`, `swin_t`, `vit_b_16`) with torchvision-layout weights, explained at
/// pytorch-grad-cam's recommended layer (`features[-1]`; the transformers' last block's first
/// LayerNorm) unless `--layer` says otherwise; a layer it does not have is an error naming the
/// ones it has.
#[test]
fn torchvision_families_run_through_the_main_job_at_their_recommended_layer() {
    use burn_gradcam::zoo::{
        ConvNextConfig, DenseNetConfig, EfficientNetConfig, MobileNetV2Config, MobileNetV3Config,
        SwinConfig, VitConfig,
    };
    let networks = [
        (
            "mobilenet_v2",
            MobileNetV2Config::mobilenet_v2().state_dict_keys(),
            vec![
                (None, "features.18", 7),
                (Some("features.13"), "features.13", 14),
            ],
        ),
        (
            "mobilenet_v3_small",
            MobileNetV3Config::mobilenet_v3_small().state_dict_keys(),
            vec![(None, "features.12", 7)],
        ),
        (
            "efficientnet_b0",
            EfficientNetConfig::efficientnet_b0().state_dict_keys(),
            vec![(Some("features.5"), "features.5", 14)],
        ),
        (
            "convnext_tiny",
            ConvNextConfig::convnext_tiny().state_dict_keys(),
            vec![(Some("features.5"), "features.5", 14)],
        ),
        (
            "densenet121",
            DenseNetConfig::densenet121().state_dict_keys(),
            vec![
                (None, "features.norm5", 7),
                (Some("features.denseblock3"), "features.denseblock3", 14),
            ],
        ),
        (
            "swin_t",
            SwinConfig::swin_t().state_dict_keys(),
            vec![
                (None, "features.7.1.norm1", 7),
                (Some("features.5"), "features.5", 14),
            ],
        ),
        (
            "vit_b_16",
            VitConfig::vit_b_16().state_dict_keys(),
            vec![(None, "encoder.layers.encoder_layer_11.ln_1", 14)],
        ),
    ];
    for (model, keys, layers) in networks {
        let weights = common::seeded::seeded_safetensors(&keys, 18);
        let weights = weights.path().to_str().expect("utf-8");
        let out = tempfile::tempdir().expect("dir");
        let out_dir = out.path().to_str().expect("utf-8");
        let common_args = ["--out", out_dir, "--model", model, "--weights", weights];
        for (layer, explained, side) in layers {
            let layer_args = layer.map(|l| ["--layer", l]);
            let args: Vec<&str> = common_args
                .iter()
                .copied()
                .chain(layer_args.iter().flatten().copied())
                .collect();
            let output = run(&args);
            assert!(
                output.status.success(),
                "{model}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let file: serde_json::Value = serde_json::from_slice(
                &std::fs::read(out.path().join("maps.json")).expect("maps.json"),
            )
            .expect("parses");
            assert_eq!(file["layer"], explained, "{model}");
            assert_eq!(
                file["images"][0]["cam_layer"]["shape"],
                serde_json::json!([1, side, side]),
                "{model}"
            );
        }
        if model == "mobilenet_v2" {
            let output = run(&[&common_args[..], &["--layer", "layer4"]].concat());
            assert!(!output.status.success());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("unknown MobileNetV2 layer \"layer4\"")
                    && stderr.contains("features.18"),
                "{stderr}"
            );
        }
    }
}

/// A segmentation network through the main job: `--model fcn_resnet50` with torchvision-layout
/// weights (21 classes, the auxiliary classifier's keys beside them) explains each image's class
/// over its predicted pixels at `backbone.layer4`, draws the predicted classes
/// (`segmentation.png`, a legend of Pascal VOC's names) and takes `--layer backbone.layer3`;
/// `--model lraspp_mobilenet_v3_large` does the same at `backbone.16` (features that carry
/// `backbone.4` around the split); `--objective region` on a classifier is refused, naming the
/// target.
#[test]
fn a_segmentation_network_runs_through_the_main_job_with_its_predicted_classes() {
    use burn_gradcam::zoo::SegmentationConfig;
    let config = SegmentationConfig::fcn_resnet50();
    let mut keys = config.state_dict_keys();
    keys.extend(config.aux_state_dict_keys());
    let weights = common::seeded::seeded_safetensors(&keys, 21);
    let weights = weights.path().to_str().expect("utf-8");
    let out = tempfile::tempdir().expect("dir");
    let dir = out.path().to_str().expect("utf-8");
    let common_args = [
        "--out",
        dir,
        "--model",
        "fcn_resnet50",
        "--weights",
        weights,
    ];
    let lraspp = burn_gradcam::zoo::LrAsppConfig::lraspp_mobilenet_v3_large();
    let lraspp_weights = common::seeded::seeded_safetensors(&lraspp.state_dict_keys(), 21);
    let lraspp_args = [
        "--out",
        dir,
        "--model",
        "lraspp_mobilenet_v3_large",
        "--weights",
        lraspp_weights.path().to_str().expect("utf-8"),
    ];
    for (network, layer, default_layer, side) in [
        (&common_args, None, "backbone.layer4", 28),
        (&common_args, Some("backbone.layer3"), "backbone.layer4", 28),
        (&lraspp_args, None, "backbone.16", 14),
    ] {
        let layer_args = layer.map(|l| ["--layer", l]);
        let args: Vec<&str> = network
            .iter()
            .copied()
            .chain(layer_args.iter().flatten().copied())
            .chain(["--target", "5"])
            .collect();
        let output = run(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let file: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join("maps.json")).expect("maps.json"),
        )
        .expect("parses");
        assert_eq!(file["layer"], layer.unwrap_or(default_layer));
        assert_eq!(
            file["images"][0]["cam_layer"]["shape"],
            serde_json::json!([1, side, side])
        );
        assert_eq!(file["images"][0]["prediction"]["target"], 5);
        let figure = image::open(out.path().join("segmentation.png")).expect("a PNG");
        assert!(figure.width() > 224 * 3, "{}", figure.width());
        let svg = std::fs::read_to_string(out.path().join("segmentation.svg")).expect("svg");
        let named = burn_gradcam::networks::VOC_CLASSES
            .iter()
            .any(|class| svg.contains(&format!(">{class}")));
        assert!(named && svg.contains("% of the pixels"), "{svg:.300}");
    }

    let output = run(&[
        "--model",
        "fashion-resnet",
        "--objective",
        "region",
        "--out",
        dir,
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reads the model's output map") && stderr.contains("predicted pixels"),
        "{stderr}"
    );
}

/// `--factorize K`: Deep Feature Factorisation of the images at the explained layer, drawn with
/// each concept's colour over the images and a legend naming its likeliest classes; zero
/// concepts are refused before anything runs.
#[test]
fn factorize_draws_the_concepts_with_their_classes() {
    let out = tempfile::tempdir().expect("dir");
    let dir = out.path().to_str().expect("utf-8");
    let output = run(&[
        "--model",
        "fashion-resnet",
        "--factorize",
        "4",
        "--out",
        dir,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figure = image::open(out.path().join("factorization.png"))
        .expect("PNG decodes")
        .into_rgb8();
    // Every concept's colour (gist_rainbow at i / 4) appears in its legend swatch.
    for color in burn_gradcam::viz::concept_colors(4) {
        assert!(
            figure.pixels().any(|p| p.0 == color),
            "no swatch of {color:?}"
        );
    }
    let svg = std::fs::read_to_string(out.path().join("factorization.svg")).expect("SVG");
    assert_eq!(
        svg.matches("concept ").count(),
        4,
        "one legend line per concept"
    );
    assert!(svg.contains("layer4"), "the layer is named");

    let refused = run(&["--factorize", "0", "--out", dir]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--factorize"));
}
