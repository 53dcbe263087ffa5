//! Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", 2019), as
//! Captum's `captum.metrics.infidelity` computes it.

use burn::tensor::Tensor;
use gradcam_explain::{Explainable, Explainer, Map, Targets, gaussian_noise};
use serde::{Deserialize, Serialize};

use crate::batch::{HostBatch, broadcast, check_maps, perturbations, resolve, scores};
use crate::error::{MetricError, Result, ensure};

/// Settings of [`infidelity`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InfidelityConfig {
    /// Perturbations per image (Captum's `n_perturb_samples`, default 10).
    pub samples: usize,
    /// Standard deviation of the Gaussian perturbation `I` (the input becomes `x − I`).
    pub stdev: f32,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Captum's `normalize`: scale the attribution by the optimal `β` first, making the value
    /// invariant to the attribution's scale.
    pub normalize: bool,
    /// Most images per forward pass.
    pub batch_size: usize,
}

impl Default for InfidelityConfig {
    fn default() -> Self {
        Self {
            samples: 10,
            stdev: 0.1,
            seed: 0,
            normalize: true,
            batch_size: 1024,
        }
    }
}

/// Infidelity of each image's attribution: `E_I[(Iᵀ·φ − (f(x) − f(x − I)))²]` over Gaussian
/// perturbations `I`, `f` the explainer's score. Attributions are `[C, H, W]` (or `[1, H, W]`,
/// repeated over the channels). Lower is better.
pub fn infidelity<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    attributions: &[Map],
    config: &InfidelityConfig,
) -> Result<Vec<f32>> {
    ensure(
        config.samples > 0 && config.stdev.is_finite() && config.stdev >= 0.0,
        || {
            format!(
                "infidelity needs samples ≥ 1 and a finite stdev ≥ 0, got {} and {}",
                config.samples, config.stdev
            )
        },
    )?;
    let perturbations = perturbations(
        input.dims(),
        config.samples,
        &explainer.model().device(),
        |count| gaussian_noise(count, config.stdev, config.seed),
    )?;
    infidelity_with_perturbations(
        explainer,
        input,
        targets,
        attributions,
        perturbations,
        config.normalize,
        config.batch_size,
    )
}

/// [`infidelity`] with given perturbations `[N · samples, C, H, W]`, image-major (an image's
/// samples consecutive, Captum's `repeat_interleave` layout).
pub fn infidelity_with_perturbations<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    attributions: &[Map],
    perturbations: Tensor<4>,
    normalize: bool,
    batch_size: usize,
) -> Result<Vec<f32>> {
    ensure(batch_size > 0, || "batch_size must be ≥ 1".to_owned())?;
    let (batch, predictions) = resolve(explainer, input, targets, batch_size)?;
    check_maps(&batch, attributions)?;
    let noise = HostBatch::from_tensor(perturbations);
    let samples = samples_of(&batch, &noise)?;
    let per_image = batch.per_image();
    let channels = batch.image_shape()[0];

    let mut perturbed = Vec::with_capacity(noise.values.len());
    let mut dots = Vec::with_capacity(noise.len());
    for (index, attribution) in attributions.iter().enumerate() {
        let attribution = broadcast(attribution, channels);
        for sample in 0..samples {
            let perturbation = noise.image(index * samples + sample);
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
    debug_assert_eq!(perturbed.len(), batch.len() * samples * per_image);
    let classes: Vec<usize> = predictions
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.target, samples))
        .collect();
    let after = scores(
        explainer,
        &perturbed,
        batch.image_shape(),
        &classes,
        batch_size,
    )?;

    Ok(predictions
        .iter()
        .enumerate()
        .map(|(index, prediction)| {
            let range = index * samples..(index + 1) * samples;
            let (mut aa, mut ab, mut bb) = (0.0_f64, 0.0_f64, 0.0_f64);
            for k in range {
                let a = dots[k];
                let b = f64::from(prediction.score - after[k]);
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

/// Perturbations per image, checking the perturbation batch's shape.
pub(crate) fn samples_of(batch: &HostBatch, noise: &HostBatch) -> Result<usize> {
    let n = batch.len();
    let fits = noise.len() > 0
        && noise.len().is_multiple_of(n)
        && noise.image_shape() == batch.image_shape();
    if !fits {
        return Err(MetricError::PerturbationShape {
            found: noise.shape,
            batch: batch.shape,
        });
    }
    if let Some(position) = noise.values.iter().position(|v| !v.is_finite()) {
        let per_image = noise.per_image().max(1);
        return Err(MetricError::NonFiniteMap {
            index: position / per_image,
            element: position % per_image,
        });
    }
    Ok(noise.len() / n)
}
