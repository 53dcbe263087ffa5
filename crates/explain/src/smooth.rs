//! SmoothGrad around any method (Captum's `NoiseTunnel`).

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{Result, SettingError, Stage};
use crate::model::Explainable;
use crate::noise;
use crate::predictions::Predictions;
use crate::target::Targets;

/// Most noise values one call draws: bounds the memory a setting can ask for.
const MAX_NOISE_VALUES: usize = 1 << 31;

/// How SmoothGrad aggregates the attributions of the noisy copies (Captum's `nt_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseAggregation {
    /// Their mean (SmoothGrad, Smilkov et al. 2017).
    #[default]
    SmoothGrad,
    /// The mean of their squares.
    SmoothGradSquared,
    /// Their variance (VarGrad, Adebayo et al. 2018).
    VarGrad,
}

/// SmoothGrad (Captum's `NoiseTunnel`): `method` on `samples` noisy copies of each image,
/// aggregated. The Gaussian noise comes from `seed` (a portable ChaCha12 stream: the same seed
/// gives the same noise on every backend and platform); the predictions are the clean images'.
///
/// ```
/// use gradcam_explain::{NoiseAggregation, Saliency, SmoothGrad};
/// let vargrad = SmoothGrad::new(Saliency::new())
///     .with_samples(10)
///     .with_stdev(0.2)
///     .with_aggregation(NoiseAggregation::VarGrad);
/// assert_eq!(vargrad.samples, 10);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothGrad<A> {
    /// The method run on the noisy copies.
    pub method: A,
    /// Noisy copies per image (Captum's `nt_samples`; default 5).
    pub samples: usize,
    /// Standard deviation of the noise added to the (normalised) input (Captum's `stdevs`;
    /// default 1.0).
    pub stdev: f32,
    /// Seed of the noise (default 0).
    pub seed: u64,
    /// The aggregation (default: the mean).
    pub aggregation: NoiseAggregation,
}

impl<A> SmoothGrad<A> {
    /// SmoothGrad around `method`, with Captum's defaults: 5 samples, stdev 1.0, the mean.
    pub fn new(method: A) -> Self {
        Self {
            method,
            samples: 5,
            stdev: 1.0,
            seed: 0,
            aggregation: NoiseAggregation::SmoothGrad,
        }
    }

    /// Sets [`SmoothGrad::samples`].
    pub fn with_samples(self, samples: usize) -> Self {
        Self { samples, ..self }
    }

    /// Sets [`SmoothGrad::stdev`].
    pub fn with_stdev(self, stdev: f32) -> Self {
        Self { stdev, ..self }
    }

    /// Sets [`SmoothGrad::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`SmoothGrad::aggregation`].
    pub fn with_aggregation(self, aggregation: NoiseAggregation) -> Self {
        Self {
            aggregation,
            ..self
        }
    }
}

impl<A: Attribution> SmoothGrad<A> {
    /// SmoothGrad with given noise `[N · samples, C, H, W]`, image-major (an image's copies
    /// consecutive, as Captum lays them out); `samples`, `stdev` and `seed` are not used.
    pub fn attribute_with_noise(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        noise: Tensor<4>,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        let [n, c, h, w] = input.tensor().dims();
        let dims = noise.dims();
        SettingError::check(
            dims[0] > 0 && dims[0].is_multiple_of(n) && dims[1..] == [c, h, w],
            "SmoothGrad",
            "noise",
            format!("{dims:?}"),
            "a shape [N · samples, C, H, W] for the batch",
        )?;
        let noise = noise
            .detach()
            .without_autodiff()
            .to_device(&input.tensor().device());
        let checks = Checks::finite(Stage::Input, &noise, dims[0] / n);
        Ok(self.run(model, &input, targets, noise)?.with_checks(checks))
    }

    /// The method on the noisy copies `input + noise` (noise `[N · samples, C, H, W]`).
    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        noise: Tensor<4>,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let n = x.dims()[0];
        let samples = noise.dims()[0] / n;
        // The clean images' predictions fix each image's class for all of its copies.
        let predictions = Predictions::of(model, input, targets)?;
        let noisy = noisy_copies(x, samples, noise);
        let inner = self.method.attribute_input(
            model,
            &Input::derived(noisy),
            &predictions.targets().repeat_each(samples),
        )?;
        let [_, channels, height, width] = inner.map().dims();
        let per_sample = inner
            .map()
            .clone()
            .reshape([n, samples, channels, height, width]);
        let mean = || per_sample.clone().mean_dim(1);
        let squares = || (per_sample.clone() * per_sample.clone()).mean_dim(1);
        let aggregated = match self.aggregation {
            NoiseAggregation::SmoothGrad => mean(),
            NoiseAggregation::SmoothGradSquared => squares(),
            NoiseAggregation::VarGrad => squares() - mean() * mean(),
        };
        // The copies' checks name the image they were copied from.
        let checks = inner.checks().clone().per_image(samples);
        Ok(Attributions::new(
            aggregated.reshape([n, channels, height, width]),
            predictions.with_checks(checks),
            input,
        ))
    }
}

impl<A: Attribution> Attribution for SmoothGrad<A> {
    fn label(&self) -> String {
        let name = match self.aggregation {
            NoiseAggregation::SmoothGrad => "SmoothGrad",
            NoiseAggregation::SmoothGradSquared => "SmoothGrad²",
            NoiseAggregation::VarGrad => "VarGrad",
        };
        format!("{name}({})", self.method.label())
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let noise = seeded_noise("SmoothGrad", input, self.samples, self.stdev, self.seed)?;
        self.run(model, input, targets, noise)
    }
}

/// Seeded Gaussian noise `[N · samples, C, H, W]` for `samples` noisy copies of each image of
/// `input` (image-major), after checking the settings of `owner` (SmoothGrad, GradientSHAP).
pub(crate) fn seeded_noise(
    owner: &'static str,
    input: &Input,
    samples: usize,
    stdev: f32,
    seed: u64,
) -> Result<Tensor<4>> {
    SettingError::check(samples > 0, owner, "samples", samples, "at least 1")?;
    SettingError::check(
        stdev.is_finite() && stdev >= 0.0,
        owner,
        "stdev",
        stdev,
        "a finite value ≥ 0",
    )?;
    let [n, c, h, w] = input.tensor().dims();
    let count = n
        .checked_mul(samples)
        .and_then(|m| m.checked_mul(c * h * w))
        .filter(|&m| m <= MAX_NOISE_VALUES);
    SettingError::check(
        count.is_some(),
        owner,
        "samples",
        samples,
        "few enough that the noise fits in 2^31 values",
    )?;
    let noise = noise::gaussian(count.unwrap_or(0), stdev, seed);
    Ok(Tensor::<4>::from_data(
        TensorData::new(noise, [n * samples, c, h, w]),
        &input.tensor().device(),
    ))
}

/// Each image of `x` `[N, C, H, W]` repeated `samples` times in a row, plus `noise`
/// `[N · samples, C, H, W]`.
pub(crate) fn noisy_copies(x: &Tensor<4>, samples: usize, noise: Tensor<4>) -> Tensor<4> {
    repeated_copies(x, samples) + noise
}

/// Each image of `x` `[N, C, H, W]` repeated `samples` times in a row: `[N · samples, C, H, W]`.
pub(crate) fn repeated_copies(x: &Tensor<4>, samples: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.clone()
        .reshape([n, 1, c, h, w])
        .repeat_dim(1, samples)
        .reshape([n * samples, c, h, w])
}
