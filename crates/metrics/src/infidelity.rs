//! Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", 2019), as
//! Captum's `captum.metrics.infidelity` computes it.

use burn::config::Config;
use burn::tensor::Tensor;
use gradcam_explain::{Map, SettingError, noise};

use crate::batch::{Batch, Perturbations, broadcast, perturbations};
use crate::error::Result;

/// Settings of [`infidelity`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct InfidelityConfig {
    /// Perturbations per image (Captum's `n_perturb_samples`).
    #[config(default = 10)]
    pub samples: usize,
    /// Standard deviation of the Gaussian perturbation `I` (the input becomes `x − I`).
    #[config(default = 0.1)]
    pub stdev: f32,
    /// Seed of the perturbations.
    #[config(default = 0)]
    pub seed: u64,
    /// Captum's `normalize`: scale the attribution by the optimal `β` first, making the value
    /// invariant to the attribution's scale.
    #[config(default = true)]
    pub normalize: bool,
}

/// Infidelity of each image's attribution: `E_I[(Iᵀ·φ − (f(x) − f(x − I)))²]` over Gaussian
/// perturbations `I`, `f` the batch's score. Attributions are `[C, H, W]` (or `[1, H, W]`,
/// repeated over the channels). Lower is better.
pub fn infidelity(
    batch: &Batch<'_>,
    attributions: &[Map],
    config: &InfidelityConfig,
) -> Result<Vec<f32>> {
    let owner = "InfidelityConfig";
    SettingError::check(
        config.samples > 0,
        owner,
        "samples",
        config.samples,
        "at least 1",
    )?;
    SettingError::check(
        config.stdev.is_finite() && config.stdev >= 0.0,
        owner,
        "stdev",
        config.stdev,
        "a finite value ≥ 0",
    )?;
    let perturbations = perturbations(batch.shape(), config.samples, |count| {
        noise::gaussian(count, config.stdev, config.seed)
    })?;
    infidelity_of(batch, attributions, &perturbations, config.normalize)
}

/// [`infidelity`] with given perturbations `[N · samples, C, H, W]`, image-major (an image's
/// samples consecutive, Captum's `repeat_interleave` layout).
pub fn infidelity_with_perturbations(
    batch: &Batch<'_>,
    attributions: &[Map],
    perturbations: Tensor<4>,
    normalize: bool,
) -> Result<Vec<f32>> {
    let perturbations = Perturbations::given(batch, perturbations)?;
    infidelity_of(batch, attributions, &perturbations, normalize)
}

fn infidelity_of(
    batch: &Batch<'_>,
    attributions: &[Map],
    noise: &Perturbations,
    normalize: bool,
) -> Result<Vec<f32>> {
    batch.check_maps(attributions)?;
    let samples = noise.samples;
    let channels = batch.image_shape()[0];
    let mut perturbed = Vec::with_capacity(noise.values.len());
    let mut dots = Vec::with_capacity(batch.len() * samples);
    for (index, attribution) in attributions.iter().enumerate() {
        let attribution = broadcast(attribution, channels);
        for sample in 0..samples {
            let perturbation = noise.of(batch, index, sample);
            perturbed.extend(
                batch
                    .image(index)
                    .iter()
                    .zip(perturbation)
                    .map(|(x, i)| x - i),
            );
            let dot: f64 = attribution
                .iter()
                .zip(perturbation)
                .map(|(a, i)| f64::from(a * i))
                .sum();
            dots.push(dot);
        }
    }
    let classes: Vec<usize> = batch
        .classes()
        .iter()
        .flat_map(|&class| std::iter::repeat_n(class, samples))
        .collect();
    let after = batch.scores(&perturbed, &classes)?;

    Ok(batch
        .clean_scores()
        .iter()
        .enumerate()
        .map(|(index, clean)| {
            let (mut aa, mut ab, mut bb) = (0.0_f64, 0.0_f64, 0.0_f64);
            for k in index * samples..(index + 1) * samples {
                let a = dots[k];
                let b = f64::from(clean - after[k]);
                aa += a * a;
                ab += a * b;
                bb += b * b;
            }
            let value = if normalize {
                // Captum's safe_div: a zero denominator divides by 1.
                let beta = ab / if aa == 0.0 { 1.0 } else { aa };
                beta * beta * aa - 2.0 * beta * ab + bb
            } else {
                aa - 2.0 * ab + bb
            };
            (value / samples as f64) as f32
        })
        .collect())
}
