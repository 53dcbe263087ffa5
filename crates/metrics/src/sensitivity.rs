//! Max-sensitivity (Yeh et al. 2019), as Captum's `captum.metrics.sensitivity_max` computes it.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use gradcam_explain::{Attribution, Map, SettingError, Targets, noise};

use crate::batch::{Batch, Perturbations, offset_error, perturbations};
use crate::error::Result;

/// Settings of [`sensitivity_max`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct SensitivityConfig {
    /// Perturbations per image (Captum's `n_perturb_samples`).
    #[config(default = 10)]
    pub samples: usize,
    /// Radius of the L∞ ball the perturbations are drawn from uniformly (Captum's
    /// `perturb_radius`).
    #[config(default = 0.02)]
    pub radius: f32,
    /// Seed of the perturbations.
    #[config(default = 0)]
    pub seed: u64,
    /// Most perturbed images explained per call of the method.
    #[config(default = 256)]
    pub batch_size: usize,
}

/// Max-sensitivity of `method` on each image: `max_I ‖φ(x + I) − φ(x)‖ / ‖φ(x)‖` (Frobenius
/// norms; a zero `‖φ(x)‖` counts as 1) over uniform perturbations `I` in the L∞ ball, each
/// perturbed image explained for the clean image's class with the batch's score. Lower is
/// better.
pub fn sensitivity_max<A: Attribution + ?Sized>(
    batch: &Batch<'_>,
    method: &A,
    config: &SensitivityConfig,
) -> Result<Vec<f32>> {
    let owner = "SensitivityConfig";
    SettingError::check(
        config.samples > 0,
        owner,
        "samples",
        config.samples,
        "at least 1",
    )?;
    SettingError::check(
        config.radius.is_finite() && config.radius >= 0.0,
        owner,
        "radius",
        config.radius,
        "a finite value ≥ 0",
    )?;
    let perturbations = perturbations(batch.shape(), config.samples, |count| {
        noise::uniform(count, config.radius, config.seed)
    })?;
    sensitivity_of(batch, method, &perturbations, config.batch_size)
}

/// [`sensitivity_max`] with given perturbations `[N · samples, C, H, W]` (added to the
/// input), image-major.
pub fn sensitivity_max_with_perturbations<A: Attribution + ?Sized>(
    batch: &Batch<'_>,
    method: &A,
    perturbations: Tensor<4>,
    batch_size: usize,
) -> Result<Vec<f32>> {
    let perturbations = Perturbations::given(batch, perturbations)?;
    sensitivity_of(batch, method, &perturbations, batch_size)
}

fn sensitivity_of<A: Attribution + ?Sized>(
    batch: &Batch<'_>,
    method: &A,
    noise: &Perturbations,
    batch_size: usize,
) -> Result<Vec<f32>> {
    SettingError::check(
        batch_size > 0,
        "SensitivityConfig",
        "batch_size",
        batch_size,
        "at least 1",
    )?;
    let model = batch.scorer().model();
    let samples = noise.samples;
    let [_, c, h, w] = batch.shape();
    let per_image = batch.per_image();
    let images_per_pass = (batch_size / samples).max(1);
    let mut result = Vec::with_capacity(batch.len());
    for start in (0..batch.len()).step_by(images_per_pass) {
        let end = (start + images_per_pass).min(batch.len());
        let targets = batch.targets().narrow(start, end - start);
        let originals = method
            .attribute(model, batch.images_tensor(start, end - start), &targets)
            .and_then(|a| a.to_maps())
            .map_err(|error| offset_error(error, start))?;
        let mut perturbed = Vec::with_capacity((end - start) * samples * per_image);
        for index in start..end {
            for sample in 0..samples {
                let shift = noise.of(batch, index, sample);
                perturbed.extend(batch.image(index).iter().zip(shift).map(|(x, d)| x + d));
            }
        }
        let perturbed = Tensor::<4>::from_data(
            TensorData::new(perturbed, [(end - start) * samples, c, h, w]),
            &model.device(),
        );
        let classes: Vec<usize> = batch.classes()[start..end]
            .iter()
            .flat_map(|&class| std::iter::repeat_n(class, samples))
            .collect();
        let explained = method
            .attribute(
                model,
                perturbed,
                &Targets::classes(classes)
                    .with_score(batch.scorer().score())
                    .with_gradient(targets.gradient()),
            )?
            .to_maps()?;
        for (original, group) in originals.iter().zip(explained.chunks(samples)) {
            result.push(max_relative_change(original, group));
        }
    }
    Ok(result)
}

/// `max ‖perturbed − original‖ / ‖original‖` (a zero norm counts as 1).
fn max_relative_change(original: &Map, perturbed: &[Map]) -> f32 {
    let norm = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>().sqrt();
    let base = norm(&mut original.values.iter().map(|&v| f64::from(v)));
    let base = if base == 0.0 { 1.0 } else { base };
    perturbed
        .iter()
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
