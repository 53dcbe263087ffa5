//! Max-sensitivity (Yeh et al. 2019), as Captum's `captum.metrics.sensitivity_max` computes it.

use burn::tensor::Tensor;
use gradcam_explain::{Explainable, Explainer, Map, Method, Targets, uniform_noise};
use serde::{Deserialize, Serialize};

use crate::batch::{HostBatch, perturbations, resolve, to_tensor};
use crate::error::{Result, ensure};
use crate::infidelity::samples_of;

/// Settings of [`sensitivity_max`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityConfig {
    /// Perturbations per image (Captum's `n_perturb_samples`, default 10).
    pub samples: usize,
    /// Radius of the L∞ ball the perturbations are drawn from uniformly (Captum's
    /// `perturb_radius`, default 0.02).
    pub radius: f32,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Most perturbed images explained per call of the method.
    pub batch_size: usize,
}

impl Default for SensitivityConfig {
    fn default() -> Self {
        Self {
            samples: 10,
            radius: 0.02,
            seed: 0,
            batch_size: 256,
        }
    }
}

/// Max-sensitivity of `method` on each image: `max_I ‖φ(x + I) − φ(x)‖ / ‖φ(x)‖` (Frobenius
/// norms; a zero `‖φ(x)‖` counts as 1) over uniform perturbations `I` in the L∞ ball, each
/// perturbed image explained for the clean image's class. Lower is better.
pub fn sensitivity_max<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    method: &Method,
    config: &SensitivityConfig,
) -> Result<Vec<f32>> {
    ensure(
        config.samples > 0 && config.radius.is_finite() && config.radius >= 0.0,
        || {
            format!(
                "sensitivity needs samples ≥ 1 and a finite radius ≥ 0, got {} and {}",
                config.samples, config.radius
            )
        },
    )?;
    let perturbations = perturbations(
        input.dims(),
        config.samples,
        &explainer.model().device(),
        |count| uniform_noise(count, config.radius, config.seed),
    )?;
    sensitivity_max_with_perturbations(
        explainer,
        input,
        targets,
        method,
        perturbations,
        config.batch_size,
    )
}

/// [`sensitivity_max`] with given perturbations `[N · samples, C, H, W]` (added to the
/// input), image-major.
pub fn sensitivity_max_with_perturbations<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    method: &Method,
    perturbations: Tensor<4>,
    batch_size: usize,
) -> Result<Vec<f32>> {
    ensure(batch_size > 0, || "batch_size must be ≥ 1".to_owned())?;
    let device = explainer.model().device();
    let (batch, _) = resolve(explainer, input, targets, batch_size)?;
    let noise = HostBatch::from_tensor(perturbations);
    let samples = samples_of(&batch, &noise)?;
    let images_per_pass = (batch_size / samples).max(1);
    let mut result = Vec::with_capacity(batch.len());
    for start in (0..batch.len()).step_by(images_per_pass) {
        let end = (start + images_per_pass).min(batch.len());
        let per_image = batch.per_image();
        let clean = to_tensor(
            batch.values[start * per_image..end * per_image].to_vec(),
            batch.image_shape(),
            &device,
        );
        let chunk_targets = match targets {
            Targets::Predicted => Targets::Predicted,
            Targets::Classes(classes) => Targets::Classes(classes[start..end].to_vec()),
        };
        let originals = explainer.attribution(clean, &chunk_targets, method)?;
        let classes: Vec<usize> = originals
            .iter()
            .flat_map(|o| std::iter::repeat_n(o.prediction.target, samples))
            .collect();
        let mut perturbed = Vec::with_capacity((end - start) * samples * per_image);
        for index in start..end {
            for sample in 0..samples {
                let shift = noise.image(index * samples + sample);
                perturbed.extend(batch.image(index).iter().zip(shift).map(|(x, d)| x + d));
            }
        }
        let explained = explainer.attribution(
            to_tensor(perturbed, batch.image_shape(), &device),
            &Targets::Classes(classes),
            method,
        )?;
        for (original, group) in originals.iter().zip(explained.chunks(samples)) {
            result.push(max_relative_change(
                &original.attribution,
                group.iter().map(|e| &e.attribution),
            ));
        }
    }
    Ok(result)
}

/// `max ‖perturbed − original‖ / ‖original‖` (a zero norm counts as 1).
fn max_relative_change<'a>(original: &Map, perturbed: impl Iterator<Item = &'a Map>) -> f32 {
    let norm = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>().sqrt();
    let base = norm(&mut original.values.iter().map(|&v| f64::from(v)));
    let base = if base == 0.0 { 1.0 } else { base };
    perturbed
        .map(|map| {
            let mut difference = map
                .values
                .iter()
                .zip(&original.values)
                .map(|(a, b)| f64::from(a - b));
            norm(&mut difference) / base
        })
        .fold(0.0_f64, f64::max) as f32
}
