//! The parity checks have teeth: for every check of every parity suite, the fixture's own values
//! with every element set to zero, with the sign flipped, with one element moved by 1e-3 of its
//! image's largest magnitude, or with a NaN, fail the comparison the suite makes, at the
//! tolerance the suite holds that check to. (The suites compare with `common::relative_errors`:
//! per image, relative to the reference's own largest magnitude.)

use crate::common::{Suite, ZERO, relative_errors};
use crate::{
    backend_parity, deeplift_parity, explain_parity, factorization_parity, families_parity,
    layer_parity, lrp_parity, methods_parity, metrics_parity, model_parity, perturbation_parity,
    segmentation_parity, shap_parity, shapley_parity, stability, vit_parity, zoo_parity,
};

/// Every fixture-based parity suite.
const SUITES: [Suite; 18] = [
    explain_parity::SUITE,
    factorization_parity::SUITE,
    families_parity::SUITE,
    methods_parity::SUITE,
    zoo_parity::SUITE,
    vit_parity::SUITE,
    model_parity::SUITE,
    model_parity::EVAL,
    stability::SUITE,
    metrics_parity::SUITE,
    shap_parity::SUITE,
    shapley_parity::SUITE,
    layer_parity::SUITE,
    deeplift_parity::SUITE,
    lrp_parity::SUITE,
    perturbation_parity::SUITE,
    segmentation_parity::SUITE,
    backend_parity::SYNTHETIC,
];

/// Whether the suite's comparison of `actual` with `expected` (`images` slices) fails at
/// `tolerance`.
fn fails(actual: &[f32], expected: &[f32], images: usize, tolerance: f32) -> bool {
    relative_errors(actual, expected, images)
        .iter()
        .any(|&(error, _)| error > tolerance)
}

/// The mutations of `expected` that must fail, by name.
fn mutations(expected: &[f32], images: usize) -> Vec<(&'static str, Vec<f32>)> {
    let per_image = expected.len() / images;
    // The first image that is not all zero, and its largest element.
    let (image, largest) = (0..images)
        .map(|i| {
            let slice = &expected[i * per_image..(i + 1) * per_image];
            let scale = slice.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            (i, scale)
        })
        .find(|&(_, scale)| scale > ZERO)
        .expect("a fixture tensor that is not all zero");
    let at = (image * per_image..(image + 1) * per_image)
        .max_by(|&a, &b| expected[a].abs().total_cmp(&expected[b].abs()))
        .expect("a non-empty image");
    let mut moved = expected.to_vec();
    moved[at] += 1e-3 * largest;
    let mut nan = expected.to_vec();
    nan[at] = f32::NAN;
    vec![
        ("zeros", vec![0.0; expected.len()]),
        ("sign flip", expected.iter().map(|v| -v).collect()),
        ("one element moved by 1e-3 of its image's maximum", moved),
        ("a NaN", nan),
    ]
}

#[test]
fn every_parity_check_fails_on_zeros_a_sign_flip_a_small_shift_and_a_nan() {
    let mut checked = 0;
    for suite in SUITES {
        let fixture = (!suite.fixture.is_empty()).then(|| suite.fixture());
        for check in suite.checks {
            let (shape, expected) = match &fixture {
                Some(fixture) => fixture.f32(check.key),
                None => backend_parity::synthetic(check.key),
            };
            let images = shape[0];
            // The unchanged reference passes, or the check could never pass.
            assert!(
                !fails(&expected, &expected, images, check.tolerance),
                "{}: {} fails against itself",
                suite.name,
                check.key
            );
            for (mutation, actual) in mutations(&expected, images) {
                assert!(
                    fails(&actual, &expected, images, check.tolerance),
                    "{}: {} passes with {mutation} at tolerance {:e}",
                    suite.name,
                    check.key,
                    check.tolerance
                );
            }
            checked += 1;
        }
    }
    println!(
        "{checked} checks of {} suites: each fails on every mutation",
        SUITES.len()
    );
    assert!(checked > 100, "{checked} checks");
}
