//! Parity of the localisation metrics with Quantus 0.6.0, TorchRay's pointing-game tolerance,
//! Score-CAM's energy pointing game and SciPy's `ndimage.label`, on the fixture written by
//! `tools/reference/localisation.py` (`tests/fixtures/localisation.safetensors`, 25 cases).
//!
//! Hits and boxes are compared exactly. The mass accuracies are compared relative to the value:
//! Quantus sums the `f32` map in `f32` (NumPy's pairwise sum), this crate in `f64`, so they
//! differ by `f32` rounding; the tolerances are the 1-2-5 step at or above four times the
//! worst error measured (`cargo test -p gradcam-metrics --test localisation_parity --
//! --nocapture` prints it).

use std::collections::HashMap;

use gradcam_metrics::{
    LocalisationError, PixelBox, WSOL_THRESHOLD, box_mask, energy_pointing_game, iou,
    pointing_game, relevance_mass_accuracy, relevance_rank_accuracy, wsol_box,
};
use safetensors::{Dtype, SafeTensors};

/// Quantus's `RelevanceMassAccuracy`, relative to the value: worst measured 3.8e-7 (a signed
/// map, whose sums cancel).
const MASS_TOLERANCE: f64 = 2e-6;
/// The energy pointing game against Quantus's `RelevanceMassAccuracy` of the map's positive
/// part, relative: worst measured 1.7e-7.
const ENERGY_QUANTUS_TOLERANCE: f64 = 1e-6;
/// The energy pointing game and the IoU against the fixture's `f64` values, relative: the `f32`
/// rounding of the result (at most half a unit in the last place, 6.0e-8; worst measured 4.7e-8).
const F64_TOLERANCE: f64 = 1e-7;

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/localisation.safetensors"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One case of the fixture: its inputs and every reference value it holds.
struct Case {
    name: String,
    shape: [usize; 2],
    map: Vec<f32>,
    mask: Vec<bool>,
    bbox: Option<PixelBox>,
    quantus_refuses: bool,
    u8s: HashMap<String, Vec<u8>>,
    floats: HashMap<String, Vec<f64>>,
    boxes: HashMap<String, PixelBox>,
}

impl Case {
    fn float(&self, key: &str) -> Option<f64> {
        self.floats.get(key).map(|v| v[0])
    }
}

fn values(tensors: &SafeTensors, key: &str) -> Option<(Vec<usize>, Dtype, Vec<u8>)> {
    let view = tensors.tensor(key).ok()?;
    Some((view.shape().to_vec(), view.dtype(), view.data().to_vec()))
}

fn floats(dtype: Dtype, data: &[u8]) -> Vec<f64> {
    match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        other => panic!("not a float tensor: {other:?}"),
    }
}

fn pixel_box(data: &[u8]) -> PixelBox {
    let v: Vec<usize> = data
        .chunks_exact(8)
        .map(|b| usize::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
        .collect();
    PixelBox::new(v[0], v[1], v[2], v[3])
}

fn load(bytes: &[u8]) -> (Vec<Case>, HashMap<String, String>, Vec<u32>) {
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    let meta = metadata.metadata().clone().unwrap();
    let tensors = SafeTensors::deserialize(bytes).unwrap();
    let (_, dtype, data) = values(&tensors, "tolerances").unwrap();
    assert_eq!(dtype, Dtype::I64);
    let tolerances = data
        .chunks_exact(8)
        .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
        .collect();
    let cases = meta["cases"]
        .split(',')
        .map(|name| {
            let (shape, dtype, data) = values(&tensors, &format!("{name}/map")).unwrap();
            assert_eq!(dtype, Dtype::F32, "{name}");
            let map = floats(dtype, &data).into_iter().map(|v| v as f32).collect();
            let (_, dtype, mask) = values(&tensors, &format!("{name}/mask")).unwrap();
            assert_eq!(dtype, Dtype::U8, "{name}");
            let mut case = Case {
                name: name.to_owned(),
                shape: [shape[0], shape[1]],
                map,
                mask: mask.iter().map(|&m| m != 0).collect(),
                bbox: values(&tensors, &format!("{name}/box")).map(|(_, _, d)| pixel_box(&d)),
                quantus_refuses: values(&tensors, &format!("{name}/quantus_refuses")).is_some(),
                u8s: HashMap::new(),
                floats: HashMap::new(),
                boxes: HashMap::new(),
            };
            let prefix = format!("{name}/");
            for key in tensors.names() {
                let Some(field) = key.strip_prefix(&prefix) else {
                    continue;
                };
                let view = tensors.tensor(key).unwrap();
                match (field, view.dtype()) {
                    ("map" | "mask" | "box", _) => {}
                    (f, Dtype::U8) => {
                        case.u8s.insert(f.to_owned(), view.data().to_vec());
                    }
                    (f, Dtype::F32 | Dtype::F64) => {
                        case.floats
                            .insert(f.to_owned(), floats(view.dtype(), view.data()));
                    }
                    (f, Dtype::I64) => {
                        case.boxes.insert(f.to_owned(), pixel_box(view.data()));
                    }
                    (f, other) => panic!("{name}/{f}: unexpected dtype {other:?}"),
                }
            }
            case
        })
        .collect();
    (cases, meta, tolerances)
}

/// The worst relative error of each compared value, for the report.
#[derive(Default)]
struct Worst {
    mass: f64,
    energy_quantus: f64,
    energy_f64: f64,
    iou: f64,
    compared: usize,
}

fn relative(actual: f32, expected: f64) -> f64 {
    (f64::from(actual) - expected).abs() / expected.abs().max(f64::from(f32::MIN_POSITIVE))
}

/// Every comparison of one case on the given map and mask against the case's reference values;
/// the failures, in words.
fn verdict(
    case: &Case,
    map: &[f32],
    mask: &[bool],
    tolerances: &[u32],
    unstable: &[&str],
    worst: &mut Worst,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: &str, detail: String| failures.push(format!("{what}: {detail}"));
    let shape = case.shape;
    let empty_mask = !case.mask.iter().any(|&m| m);
    // Quantus's three metrics, for the cases where only whether they refuse matters.
    let quantus_metrics = [
        (
            "pointing game",
            pointing_game(map, mask, shape, 0).map(|_| ()),
        ),
        (
            "mass accuracy",
            relevance_mass_accuracy(map, mask).map(|_| ()),
        ),
        (
            "rank accuracy",
            relevance_rank_accuracy(map, mask).map(|_| ()),
        ),
    ];

    if case.quantus_refuses {
        // Quantus refuses the map (an AssertionError): so must the three metrics.
        let expected = if case.map.iter().all(|&v| v < 0.0) {
            LocalisationError::AllNegative
        } else {
            LocalisationError::ConstantMap
        };
        for (name, result) in quantus_metrics {
            if result != Err(expected.clone()) {
                fail(name, format!("{result:?}, Quantus refuses the map"));
            }
        }
    } else if empty_mask {
        // Quantus: a hit (its NaN cast to a boolean) and NaN; here an error.
        let energy = ("energy", energy_pointing_game(map, mask).map(|_| ()));
        for (name, result) in quantus_metrics.into_iter().chain([energy]) {
            if result != Err(LocalisationError::EmptyMask) {
                fail(name, format!("{result:?} for an empty mask"));
            }
        }
    } else {
        worst.compared += 1;
        let expected = case.u8s["pointing_game"][0] != 0;
        match pointing_game(map, mask, shape, 0) {
            Ok(hit) if hit == expected => {}
            other => fail("pointing game", format!("{other:?}, Quantus {expected}")),
        }
        for (&t, &hit) in tolerances.iter().zip(&case.u8s["pointing_game_tolerance"]) {
            let expected = hit != 0;
            match pointing_game(map, mask, shape, t) {
                Ok(hit) if hit == expected => {}
                other => fail(
                    "pointing game",
                    format!("tolerance {t}: {other:?}, TorchRay {expected}"),
                ),
            }
        }

        let expected = case.float("relevance_mass_accuracy").unwrap();
        match relevance_mass_accuracy(map, mask) {
            Ok(v) => {
                let e = relative(v, expected);
                worst.mass = worst.mass.max(e);
                if e > MASS_TOLERANCE {
                    fail(
                        "mass accuracy",
                        format!("{v}, Quantus {expected} ({e:.1e})"),
                    );
                }
            }
            Err(e) => fail("mass accuracy", format!("{e}, Quantus {expected}")),
        }

        // Ties ranked by position: NumPy's stable argsort. Quantus's unstable one agrees
        // wherever no tie straddles the mask's size, and lies within the ties' range anyway.
        let stable = case.float("relevance_rank_accuracy_stable").unwrap();
        let quantus = case.float("relevance_rank_accuracy").unwrap();
        let range = &case.floats["relevance_rank_accuracy_range"];
        match relevance_rank_accuracy(map, mask) {
            Ok(v) if f64::from(v) == stable as f32 as f64 => {}
            other => fail(
                "rank accuracy",
                format!("{other:?}, stable ranking {stable}"),
            ),
        }
        if !unstable.contains(&case.name.as_str()) && quantus != stable {
            fail(
                "rank accuracy",
                format!("Quantus {quantus}, stable {stable}"),
            );
        }
        if !(range[0] <= quantus && quantus <= range[1] && range[0] <= stable && stable <= range[1])
        {
            fail(
                "rank accuracy",
                format!("outside the ties' range {range:?}"),
            );
        }

        let transcription = case.float("energy_pointing_game").unwrap();
        match (
            energy_pointing_game(map, mask),
            case.float("energy_quantus"),
        ) {
            (Ok(v), Some(quantus)) => {
                let (e64, eq) = (relative(v, transcription), relative(v, quantus));
                worst.energy_f64 = worst.energy_f64.max(e64);
                worst.energy_quantus = worst.energy_quantus.max(eq);
                if e64 > F64_TOLERANCE || eq > ENERGY_QUANTUS_TOLERANCE {
                    fail(
                        "energy",
                        format!(
                            "{v}, float64 {transcription} ({e64:.1e}), Quantus {quantus} ({eq:.1e})"
                        ),
                    );
                }
            }
            (other, quantus) => fail("energy", format!("{other:?}, Quantus {quantus:?}")),
        }
    }

    match case.boxes.get("wsol_box") {
        Some(&expected) => {
            for (t, key) in [(WSOL_THRESHOLD, "wsol_box"), (0.5, "wsol_box_050")] {
                let expected = case.boxes[key];
                match wsol_box(map, shape, t) {
                    Ok(b) if b == expected => {}
                    other => fail("wsol box", format!("at {t}: {other:?}, SciPy {expected:?}")),
                }
            }
            if let (Some(gt), Some(reference)) = (case.bbox, case.float("wsol_iou")) {
                let v = iou(expected, gt);
                let e = relative(v, reference);
                worst.iou = worst.iou.max(e);
                if e > F64_TOLERANCE {
                    fail("iou", format!("{v}, float64 {reference}"));
                }
            }
        }
        None => {
            if wsol_box(map, shape, WSOL_THRESHOLD) != Err(LocalisationError::NoPositiveValue) {
                fail(
                    "wsol box",
                    "a box for a map without a positive value".into(),
                );
            }
        }
    }
    failures
}

fn unstable(meta: &HashMap<String, String>) -> Vec<&str> {
    meta["rank_accuracy_unstable_cases"]
        .split(',')
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_case_equals_the_peers() {
    let bytes = fixture();
    let (cases, meta, tolerances) = load(&bytes);
    assert!(cases.len() >= 20, "{} cases", cases.len());
    assert_eq!(meta["version_quantus"], "0.6.0");
    let unstable = unstable(&meta);
    let mut worst = Worst::default();
    let mut failures = Vec::new();
    for case in &cases {
        if let Some(bbox) = case.bbox {
            assert_eq!(
                box_mask(bbox, case.shape).unwrap(),
                case.mask,
                "{}: box_mask",
                case.name
            );
        }
        for f in verdict(
            case,
            &case.map,
            &case.mask,
            &tolerances,
            &unstable,
            &mut worst,
        ) {
            failures.push(format!("{}: {f}", case.name));
        }
    }
    println!(
        "MEASURE localisation: {} cases scored by Quantus; worst relative error: mass accuracy \
         {:.1e}, energy vs Quantus {:.1e}, energy vs float64 {:.1e}, IoU {:.1e}; \
         rank accuracy's unstable ties in {unstable:?}",
        worst.compared, worst.mass, worst.energy_quantus, worst.energy_f64, worst.iou
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(worst.compared >= 18, "{} cases compared", worst.compared);
}

/// The fixture covers what the functions must get right: a tie made by Quantus's normalisation,
/// ties at the maximum, ties in the ranking, the tolerance's strict disc, and a WSOL box that
/// 4-connectivity would draw elsewhere.
#[test]
fn the_fixture_exercises_the_edge_cases() {
    let bytes = fixture();
    let (cases, meta, tolerances) = load(&bytes);
    let case = |name: &str| cases.iter().find(|c| c.name == name).unwrap();

    // normalise_tie: the raw arg-max misses, the normalised map's tied maximum hits.
    let c = case("normalise_tie");
    let argmax = (0..c.map.len())
        .max_by(|&i, &j| c.map[i].total_cmp(&c.map[j]))
        .unwrap();
    assert!(!c.mask[argmax]);
    assert_eq!(c.u8s["pointing_game"], [1]);
    assert!(pointing_game(&c.map, &c.mask, c.shape, 0).unwrap());

    // peak_near_bottom_box: three pixels from the box: a miss at tolerance 3 (the disc is
    // strict), a hit at 5.
    let c = case("peak_near_bottom_box");
    let at = |t: u32| {
        let i = tolerances.iter().position(|&x| x == t).unwrap();
        c.u8s["pointing_game_tolerance"][i]
    };
    assert_eq!((c.u8s["pointing_game"][0], at(3), at(5)), (0, 0, 1));

    // diagonal_components: the 8-connected box is not the 4-connected one.
    let c = case("diagonal_components");
    assert_ne!(c.boxes["wsol_box"], c.boxes["wsol_box_4conn"]);
    assert_eq!(
        wsol_box(&c.map, c.shape, WSOL_THRESHOLD).unwrap(),
        c.boxes["wsol_box"]
    );

    // Ties straddle the mask's size somewhere: the stable ranking's range is not a point.
    assert!(cases.iter().any(|c| {
        c.floats
            .get("relevance_rank_accuracy_range")
            .is_some_and(|r| r[0] < r[1])
    }));
    // And Quantus's refusals and the undefined values are in the fixture.
    assert!(!meta["quantus_refuses"].is_empty());
    assert!(meta["undefined"].contains("empty_mask/relevance_mass_accuracy"));
    assert!(meta["quantus_weighted_pointing_game"].starts_with("TypeError"));
}

/// The verdict has teeth: each case's own map with its sign flipped, or its mask moved one pixel
/// to the right (the leftmost column emptied), fails it.
#[test]
fn verdict_rejects_a_sign_flip_and_a_shifted_mask() {
    let bytes = fixture();
    let (cases, meta, tolerances) = load(&bytes);
    let unstable = unstable(&meta);
    let mut worst = Worst::default();
    for case in &cases {
        let flipped: Vec<f32> = case.map.iter().map(|v| -v).collect();
        // A constant map stays constant, and refused, when negated: only the WSOL box moves.
        let constant = case.map.iter().all(|&v| v == case.map[0]);
        if !(constant && case.map[0] == 0.0) {
            assert!(
                !verdict(
                    case,
                    &flipped,
                    &case.mask,
                    &tolerances,
                    &unstable,
                    &mut worst
                )
                .is_empty(),
                "{}: sign flip accepted",
                case.name
            );
        }

        let width = case.shape[1];
        let shifted: Vec<bool> = (0..case.mask.len())
            .map(|i| i % width != 0 && case.mask[i - 1])
            .collect();
        // A refused map is refused whatever the mask; an empty mask stays empty.
        if !case.quantus_refuses && case.mask.iter().any(|&m| m) {
            assert!(
                !verdict(
                    case,
                    &case.map,
                    &shifted,
                    &tolerances,
                    &unstable,
                    &mut worst
                )
                .is_empty(),
                "{}: shifted mask accepted",
                case.name
            );
        }
    }
}
