//! The model-randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps",
//! 2018): an explanation that survives the destruction of the model's weights explains the
//! input, not the model.

use burn::config::Config;
use burn::tensor::Tensor;
use gradcam_explain::{
    Attribution, Input, Map, Method, Predictions, Reinitialize, SettingError, Targets,
};
use serde::{Deserialize, Serialize};

use crate::batch::method_maps;
use crate::error::{MetricError, Result};
use crate::similarity::{spearman, ssim};

/// How the layers are re-initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Randomization {
    /// From the output down, each step re-initialising one more layer (step `k`: the top `k`).
    Cascading,
    /// One layer at a time, the others trained.
    Independent,
}

/// Mean similarity of the randomised model's maps to the trained model's, over the images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// Spearman rank correlation of the signed maps.
    pub spearman: f32,
    /// Spearman rank correlation of the absolute maps (Adebayo et al.'s main measure).
    pub spearman_abs: f32,
    /// SSIM of the absolute maps (summed over channels), each min-max normalised to `[0, 1]`.
    pub ssim: f32,
}

/// One point of a sanity curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SanityStep {
    /// `"original"`, or the layer this step re-initialises (cascading: down to it).
    pub label: String,
    /// The layers re-initialised at this step.
    pub randomized: Vec<String>,
    /// Similarity to the trained model's maps.
    pub similarity: Similarity,
}

/// One method under one randomisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SanityCurve {
    /// The method.
    pub method: Method,
    /// Its name.
    pub label: String,
    /// How the layers were re-initialised.
    pub randomization: Randomization,
    /// The trained model first, then one step per layer from the output down.
    pub steps: Vec<SanityStep>,
}

/// Settings of [`model_randomization`].
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct SanityConfig {
    /// Seed of the fresh parameters; a layer gets the same parameters in every step and in both
    /// randomisations.
    #[config(default = 0)]
    pub seed: u64,
    /// Most images explained per call of a method.
    #[config(default = 256)]
    pub batch_size: usize,
}

/// Runs the cascading and the independent randomisation for every method: each image is
/// explained for the trained model's class (or the given targets, with their score) by the
/// trained model and by each randomised copy, and the maps are compared ([`Similarity`]). One
/// curve per method and randomisation, methods in the given order, cascading first.
pub fn model_randomization<M: Reinitialize>(
    model: &M,
    input: Tensor<4>,
    targets: &Targets,
    methods: &[Method],
    sanity: &SanityConfig,
) -> Result<Vec<SanityCurve>> {
    let owner = "SanityConfig";
    SettingError::check(
        !methods.is_empty(),
        "model_randomization",
        "methods",
        "[]",
        "at least one method",
    )?;
    SettingError::check(
        sanity.batch_size > 0,
        owner,
        "batch_size",
        sanity.batch_size,
        "at least 1",
    )?;
    let layers = model.layer_names();
    SettingError::check(
        !layers.is_empty(),
        "model_randomization",
        "model",
        "no layer",
        "a model that names its layers",
    )?;
    // The trained model's classes, resolved once: every variant explains the same ones.
    let input = Input::new(model, input)?;
    let classes = Predictions::of(model, &input, targets)?.targets();
    let maps_of = |variant: &M, method: &Method| {
        method_maps(
            variant,
            method,
            input.tensor().clone(),
            &classes,
            sanity.batch_size,
        )
    };
    let originals: Vec<Vec<Map>> = methods
        .iter()
        .map(|method| maps_of(model, method))
        .collect::<Result<_>>()?;

    // Top-down: the output layer first.
    let top_down: Vec<usize> = (0..layers.len()).rev().collect();
    let mut curves = Vec::with_capacity(methods.len() * 2);
    for randomization in [Randomization::Cascading, Randomization::Independent] {
        let mut steps: Vec<Vec<SanityStep>> = originals
            .iter()
            .map(|maps| -> Result<Vec<SanityStep>> {
                Ok(vec![SanityStep {
                    label: "original".to_owned(),
                    randomized: Vec::new(),
                    similarity: similarity(maps, maps)?,
                }])
            })
            .collect::<Result<_>>()?;
        for (step, &layer) in top_down.iter().enumerate() {
            let randomized: Vec<usize> = match randomization {
                Randomization::Cascading => top_down[..=step].to_vec(),
                Randomization::Independent => vec![layer],
            };
            let variant = model.reinitialized(&randomized, sanity.seed);
            for ((method, original), method_steps) in methods.iter().zip(&originals).zip(&mut steps)
            {
                let maps = maps_of(&variant, method)?;
                method_steps.push(SanityStep {
                    label: layers[layer].clone(),
                    randomized: randomized.iter().map(|&l| layers[l].clone()).collect(),
                    similarity: similarity(original, &maps)?,
                });
            }
        }
        curves.extend(
            methods
                .iter()
                .zip(steps)
                .map(|(method, steps)| SanityCurve {
                    method: method.clone(),
                    label: method.label(),
                    randomization,
                    steps,
                }),
        );
    }
    Ok(curves)
}

/// Mean [`Similarity`] of paired maps.
fn similarity(originals: &[Map], randomized: &[Map]) -> Result<Similarity> {
    let mut sums = [0.0_f64; 3];
    for (a, b) in originals.iter().zip(randomized) {
        if a.shape != b.shape {
            return Err(MetricError::LengthMismatch {
                left: a.values.len(),
                right: b.values.len(),
            });
        }
        let absolute = |m: &Map| m.values.iter().map(|v| v.abs()).collect::<Vec<f32>>();
        let [_, height, width] = a.shape;
        sums[0] += f64::from(spearman(&a.values, &b.values)?);
        sums[1] += f64::from(spearman(&absolute(a), &absolute(b))?);
        sums[2] += f64::from(ssim(
            &normalized_magnitude(a),
            &normalized_magnitude(b),
            width,
            height,
            1.0,
        )?);
    }
    let n = originals.len().max(1) as f64;
    Ok(Similarity {
        spearman: (sums[0] / n) as f32,
        spearman_abs: (sums[1] / n) as f32,
        ssim: (sums[2] / n) as f32,
    })
}

/// `Σ_channels |map|`, min-max normalised to `[0, 1]` (a constant map becomes zeros).
pub(crate) fn normalized_magnitude(map: &Map) -> Vec<f32> {
    let pixels = map.height() * map.width();
    let mut magnitude = vec![0.0_f32; pixels];
    for channel in map.values.chunks(pixels.max(1)) {
        for (m, v) in magnitude.iter_mut().zip(channel) {
            *m += v.abs();
        }
    }
    let (low, high) = magnitude
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let range = high - low;
    magnitude
        .iter()
        .map(|&v| if range > 0.0 { (v - low) / range } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use gradcam_explain::Map;

    use super::normalized_magnitude;
    use crate::{spearman, ssim};

    /// What the sanity check compares, Spearman's ρ and SSIM between a CAM and the normalised
    /// magnitude of a pixel attribution, equal SciPy's and scikit-image's on the fixture images
    /// (`tools/reference/metrics.py`).
    #[test]
    fn spearman_and_ssim_equal_scipy_and_scikit_image() {
        use crate::fixture::f32 as fixture;
        let maps = |key: &str| -> Vec<Map> {
            fixture(key)
                .chunks(784)
                .map(|chunk| Map::new([1, 28, 28], chunk.to_vec()).unwrap())
                .collect()
        };
        let (cams, attributions) = (maps("cam"), maps("attribution"));
        for (i, (cam, attribution)) in cams.iter().zip(&attributions).enumerate() {
            let magnitude = normalized_magnitude(attribution);
            let rho = spearman(&cam.values, &magnitude).unwrap();
            let structural = ssim(&cam.values, &magnitude, 28, 28, 1.0).unwrap();
            let (expected_rho, expected_ssim) = (fixture("spearman")[i], fixture("ssim")[i]);
            assert!(
                (rho - expected_rho).abs() <= 1e-6,
                "image {i}: ρ {rho} vs {expected_rho}"
            );
            assert!(
                (structural - expected_ssim).abs() <= 1e-5,
                "image {i}: SSIM {structural} vs {expected_ssim}"
            );
        }
    }
}
