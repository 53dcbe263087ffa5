//! Reading and writing digits: the committed files, and a clear error for each bad input.

use crate::common;

use burn_gradcam::data::DataError;
use burn_gradcam::mnist::{Digits, DigitsError, IMAGE_PIXELS, ImageProblem};
use common::repo_path;

fn parse(json: &str) -> Result<Digits, DigitsError> {
    Digits::from_json_slice(json.as_bytes())
}

fn flat(n: usize, value: &str) -> String {
    format!("[{}]", vec![value; n].join(","))
}

#[test]
fn committed_test_images_are_eight_labelled_digits() {
    let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("test images");
    assert_eq!(digits.len(), 8);
    assert_eq!(digits.labels(), Some(&[0, 1, 2, 3, 4, 5, 6, 7][..]));
}

#[test]
fn committed_evaluation_set_is_2500_labelled_digits() {
    let digits =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    assert_eq!(digits.len(), 2500);
    let labels = digits.labels().expect("labels");
    for class in 0..10 {
        assert_eq!(labels.iter().filter(|l| **l == class).count(), 250);
    }
}

#[test]
fn flat_nested_and_object_layouts_agree() {
    let row = flat(28, "0.5");
    let nested = format!("[[{}]]", vec![row.as_str(); 28].join(","));
    let flat_json = format!("[{}]", flat(IMAGE_PIXELS, "0.5"));
    let object = format!("{{\"images\": {flat_json}, \"labels\": [3]}}");
    let a = parse(&nested).expect("nested");
    let b = parse(&flat_json).expect("flat");
    let c = parse(&object).expect("object");
    assert_eq!(a.pixels(), b.pixels());
    assert_eq!(b.pixels(), c.pixels());
    assert_eq!(c.labels(), Some(&[3][..]));
}

#[test]
fn json_round_trips() {
    let digits = Digits::from_json_file(repo_path("data/test_images.json")).expect("test images");
    assert_eq!(
        Digits::from_json_slice(digits.to_json().as_bytes()).expect("round trip"),
        digits
    );
}

#[test]
fn packed_round_trips() {
    let digits =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let small = digits.slice(0..40).expect("40 digits");
    let packed = small.to_packed().expect("labelled");
    assert_eq!(
        Digits::from_packed_slice(&packed).expect("round trip"),
        small
    );
}

fn image_problem(json: &str) -> (usize, ImageProblem) {
    match parse(json) {
        Err(DigitsError::Image { index, problem, .. }) => (index, problem),
        other => panic!("expected an image error for {:.60}…, got {other:?}", json),
    }
}

#[test]
fn bad_json_errors_name_the_image() {
    let good = flat(IMAGE_PIXELS, "0");
    let short = flat(780, "0");
    assert!(matches!(
        image_problem(&format!("[{good},{short}]")),
        (1, ImageProblem::Length { .. })
    ));
    let long = flat(785, "0");
    assert!(matches!(
        image_problem(&format!("[{long}]")),
        (0, ImageProblem::Length { .. })
    ));
    let bad_row = format!("[[{}]]", vec![flat(27, "0"); 28].join(","));
    assert!(matches!(
        image_problem(&bad_row),
        (0, ImageProblem::Length { .. })
    ));
    let mut values = vec!["0"; IMAGE_PIXELS];
    values[5] = "1.5";
    assert_eq!(
        image_problem(&format!("[{good},{good},[{}]]", values.join(","))),
        (
            2,
            ImageProblem::Value {
                pixel: 5,
                value: 1.5
            }
        )
    );
    values[5] = "-0.1";
    assert!(matches!(
        image_problem(&format!("[[{}]]", values.join(","))),
        (0, ImageProblem::Value { pixel: 5, .. })
    ));
    values[5] = "\"x\"";
    assert_eq!(
        image_problem(&format!("[[{}]]", values.join(","))),
        (0, ImageProblem::NotANumber { pixel: 5 })
    );
}

#[test]
fn bad_json_syntax_and_layout_are_refused() {
    for json in [
        "",
        "[",
        "{\"images\": [}",
        "[NaN]",
        "[Infinity]",
        "42",
        "\"text\"",
        "{\"pixels\": []}",
        "{\"labels\": [1]}",
        "[1e400]",
    ] {
        let error = parse(json).unwrap_err();
        assert!(
            matches!(error, DigitsError::Json { .. } | DigitsError::Image { .. }),
            "{json:?}: {error:?}"
        );
    }
    assert!(matches!(parse("[]"), Err(DigitsError::Empty { .. })));
    assert!(matches!(
        parse("{\"images\": []}"),
        Err(DigitsError::Empty { .. })
    ));
}

#[test]
fn bad_labels_are_refused() {
    let image = flat(IMAGE_PIXELS, "0");
    assert!(matches!(
        parse(&format!("{{\"images\": [{image}], \"labels\": [1, 2]}}")),
        Err(DigitsError::Labels { .. })
    ));
    assert!(matches!(
        parse(&format!("{{\"images\": [{image}], \"labels\": [10]}}")),
        Err(DigitsError::Labels { .. })
    ));
    assert!(matches!(
        parse(&format!("{{\"images\": [{image}], \"labels\": [-1]}}")),
        Err(DigitsError::Json { .. })
    ));
}

#[test]
fn missing_and_oversized_files_are_refused() {
    assert!(matches!(
        Digits::from_json_file("no/such/file.json"),
        Err(DigitsError::File(DataError::NotFound { .. }))
    ));
    let big = tempfile::NamedTempFile::new().expect("temp");
    big.as_file()
        .set_len(burn_gradcam::mnist::digits::MAX_JSON_BYTES + 1)
        .expect("sparse file");
    assert!(matches!(
        Digits::from_json_file(big.path()),
        Err(DigitsError::File(DataError::TooLarge { .. }))
    ));
}

#[test]
fn damaged_packed_files_are_refused() {
    let digits =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let packed = digits
        .slice(0..3)
        .expect("3")
        .to_packed()
        .expect("labelled");
    assert!(Digits::from_packed_slice(&packed[..packed.len() / 2]).is_err());
    assert!(matches!(
        Digits::from_packed_slice(b"not gzip"),
        Err(DigitsError::Packed { .. })
    ));
    let mut raw = vec![0_u8; 785 * 2 - 1];
    let odd = gzip(&raw);
    assert!(matches!(
        Digits::from_packed_slice(&odd),
        Err(DigitsError::Packed { .. })
    ));
    raw.push(0);
    raw[785] = 12;
    let bad_label = gzip(&raw);
    assert!(matches!(
        Digits::from_packed_slice(&bad_label),
        Err(DigitsError::Packed { .. })
    ));
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(raw).expect("in memory");
    encoder.finish().expect("in memory")
}
