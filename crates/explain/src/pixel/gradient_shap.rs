//! GradientSHAP (Lundberg and Lee, 2017) as Captum's `GradientShap` computes it.

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{Result, SettingError, Stage};
use crate::model::Explainable;
use crate::noise;
use crate::forward::checked_features;
use crate::layer::layer_gradient;
use crate::model::ReluMode;
use crate::pixel::{GradientRule, Leaf};
use crate::pixel::references::{checked_images, constant_images};
use crate::predictions::Predictions;
use crate::smooth::{noisy_copies, repeated_copies, seeded_noise};
use crate::target::Targets;

/// GradientSHAP (Captum's `GradientShap`): SHAP values approximated by expected gradients.
/// Each image gets `samples` draws; a draw picks a baseline `b` at random from the baseline
/// distribution, adds Gaussian noise of `stdev` to the image (`x'`), picks `α` uniform in
/// [0, 1], and takes the gradient of the score at `α·x' + (1 − α)·b`; its attribution is
/// `(x' − b) × gradient` (the gradient alone without `multiply_by_inputs`). The map is the mean
/// over the draws.
///
/// The baseline distribution is `baselines`, each value a constant image, or any images
/// ([`GradientShap::attribute_with_baselines`]). The draws come from `seed` (portable ChaCha12
/// streams: the same seed draws the same on every backend and platform);
/// [`GradientShap::attribute_with_draws`] takes them from the caller instead, to reproduce
/// Captum's NumPy and torch draws.
///
/// ```
/// use gradcam_explain::{Attribution, GradientShap};
/// // Black and white MNIST digits (normalised) as the baseline distribution, 20 draws.
/// let shap = GradientShap::new()
///     .with_baselines(vec![-0.4242, 2.8215])
///     .with_samples(20);
/// assert_eq!(shap.label(), "GradientSHAP");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradientShap {
    /// Draws per image (Captum's `n_samples`; default 5).
    pub samples: usize,
    /// Standard deviation of the noise added to the (normalised) input (Captum's `stdevs`;
    /// default 0: no noise).
    pub stdev: f32,
    /// Seed of the draws (default 0).
    pub seed: u64,
    /// The baseline distribution: each value a constant image of it (Captum's `baselines`;
    /// default `[0.0]`).
    pub baselines: Vec<f32>,
    /// Multiply the gradient by `x' − b` (Captum's `multiply_by_inputs`; default true).
    pub multiply_by_inputs: bool,
}

impl Default for GradientShap {
    fn default() -> Self {
        Self::new()
    }
}

/// The random choices of one GradientSHAP call, in the layout of its `N · samples` draws
/// (image-major: an image's draws consecutive, as Captum lays them out).
#[derive(Clone, Debug)]
pub struct GradientShapDraws {
    /// Which baseline each draw takes: `N · samples` indices into the distribution.
    pub baseline_indices: Vec<usize>,
    /// Each draw's `α` in [0, 1]: `N · samples` values.
    pub alphas: Vec<f32>,
    /// The noise added to each draw's image `[N · samples, C, H, W]`.
    pub noise: Tensor<4>,
}

impl GradientShap {
    /// GradientSHAP with Captum's defaults: 5 draws, no noise, the baseline 0, multiplied by
    /// the inputs.
    pub fn new() -> Self {
        Self {
            samples: 5,
            stdev: 0.0,
            seed: 0,
            baselines: vec![0.0],
            multiply_by_inputs: true,
        }
    }

    /// Sets [`GradientShap::samples`].
    pub fn with_samples(self, samples: usize) -> Self {
        Self { samples, ..self }
    }

    /// Sets [`GradientShap::stdev`].
    pub fn with_stdev(self, stdev: f32) -> Self {
        Self { stdev, ..self }
    }

    /// Sets [`GradientShap::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`GradientShap::baselines`].
    pub fn with_baselines(self, baselines: Vec<f32>) -> Self {
        Self { baselines, ..self }
    }

    /// Sets [`GradientShap::multiply_by_inputs`].
    pub fn with_multiply_by_inputs(self, multiply_by_inputs: bool) -> Self {
        Self {
            multiply_by_inputs,
            ..self
        }
    }

    /// GradientSHAP with the baseline distribution `baselines` `[B, C, H, W]` (any images of
    /// the input's shape) in place of [`GradientShap::baselines`]; the draws come from `seed`.
    pub fn attribute_with_baselines(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
    ) -> Result<Attributions> {
        self.attribute_with_baselines_at(model, input, targets, baselines, Leaf::Input)
    }

    /// [`GradientShap::attribute_with_baselines`] at `at`.
    pub(crate) fn attribute_with_baselines_at(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
        at: Leaf,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        let baselines = checked_images("GradientShap", &input, baselines)?;
        let draws = self.draw(&input, baselines.dims()[0])?;
        let noise_free = self.stdev == 0.0;
        self.run(model, &input, targets, baselines, draws, noise_free, at)
    }

    /// GradientSHAP with the caller's baseline distribution `[B, C, H, W]` and draws
    /// (`samples`, `stdev` and `seed` are not used; the draws' length sets the samples per
    /// image): how the parity tests feed Captum's own draws.
    pub fn attribute_with_draws(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
        draws: GradientShapDraws,
    ) -> Result<Attributions> {
        self.attribute_with_draws_at(model, input, targets, baselines, draws, Leaf::Input)
    }

    /// [`GradientShap::attribute_with_draws`] at `at`.
    pub(crate) fn attribute_with_draws_at(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        baselines: Tensor<4>,
        draws: GradientShapDraws,
        at: Leaf,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        let baselines = checked_images("GradientShap", &input, baselines)?;
        let n = input.len();
        let [_, c, h, w] = input.tensor().dims();
        let rows = draws.alphas.len();
        let owner = "GradientShap";
        SettingError::check(
            rows > 0 && rows.is_multiple_of(n) && draws.baseline_indices.len() == rows,
            owner,
            "draws",
            format!(
                "{} baseline indices and {rows} alphas for {n} images",
                draws.baseline_indices.len()
            ),
            "as many indices as alphas, a positive multiple of the images",
        )?;
        SettingError::check(
            draws.noise.dims() == [rows, c, h, w],
            owner,
            "draws.noise",
            format!("{:?} for {rows} draws of [{c}, {h}, {w}] images", draws.noise.dims()),
            "a shape [draws, C, H, W]: one noise image per draw",
        )?;
        let count = baselines.dims()[0];
        if let Some(index) = draws.baseline_indices.iter().find(|&&i| i >= count) {
            return Err(SettingError::new(
                owner,
                "draws.baseline_indices",
                format!("{index} of {count} baselines"),
                "indices below the number of baselines",
            )
            .into());
        }
        SettingError::check(
            draws.alphas.iter().all(|a| (0.0..=1.0).contains(a)),
            owner,
            "draws.alphas",
            "a value outside [0, 1]",
            "values in [0, 1]",
        )?;
        let noise = draws
            .noise
            .detach()
            .without_autodiff()
            .to_device(&input.tensor().device());
        let draws = GradientShapDraws { noise, ..draws };
        self.run(model, &input, targets, baselines, draws, false, at)
    }

    /// This call's draws from `seed`, for `count` baselines: three streams of the one seed,
    /// the baselines, the α's and the noise.
    fn draw(&self, input: &Input, count: usize) -> Result<GradientShapDraws> {
        let noise = seeded_noise(
            "GradientShap",
            input,
            self.samples,
            self.stdev,
            self.seed.wrapping_add(2),
        )?;
        let rows = noise.dims()[0];
        Ok(GradientShapDraws {
            baseline_indices: noise::indices(rows, count, self.seed),
            alphas: noise::unit(rows, self.seed.wrapping_add(1)),
            noise,
        })
    }

    /// The expected gradient over the draws, at the input or at the explained layer (`at`);
    /// `noise_free` says the draws' noise is zero (each noisy image its clean one).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        baselines: Tensor<4>,
        draws: GradientShapDraws,
        noise_free: bool,
        at: Leaf,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let n = x.dims()[0];
        let device = x.device();
        let rows = draws.alphas.len();
        let samples = rows / n;
        // The clean images' predictions fix each image's class for all of its draws.
        let predictions = Predictions::of(model, input, targets)?;
        let noisy = noisy_copies(x, samples, draws.noise);
        let indices = draws
            .baseline_indices
            .iter()
            .map(|&i| i as i64)
            .collect::<Vec<_>>();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [rows]), &device);
        let drawn = baselines.clone().select(0, indices.clone());
        // Non-finite baselines or noise name the image whose draw took them.
        let drawn_checks = Checks::finite(Stage::Input, &drawn, samples)
            .and(Checks::finite(Stage::Input, &noisy, samples));
        let alphas = Tensor::<1>::from_data(TensorData::new(draws.alphas, [rows]), &device)
            .reshape([rows, 1, 1, 1]);
        // Captum's arithmetic: α·x' + (1 − α)·b.
        let points = alphas.clone() * noisy.clone() + (alphas.neg() + 1.0) * drawn.clone();
        let classes = predictions.targets().repeat_each(samples);
        let (gradient, difference, checks) = match at {
            Leaf::Input => {
                let gradient =
                    GradientRule::GRADIENT.attribute(model, &Input::derived(points), &classes)?;
                let checks = gradient.checks().clone().per_image(samples);
                (gradient.into_map(), noisy - drawn, checks)
            }
            Leaf::Layer => {
                // Captum's LayerGradientShap: the layer's gradient at the point, times the
                // difference of the layer's outputs for the noisy image and the baseline.
                let features = checked_features(model, points, ReluMode::Standard)?;
                let (_, gradient) = layer_gradient(model, features, &classes)?;
                // The ends' layer outputs from one pass over the distinct images only: each
                // clean image once when there is no noise, each baseline once when there are
                // fewer of them than draws (Captum runs every draw's pair).
                let distinct_references = baselines.dims()[0] < rows;
                let starts = if noise_free { x.clone() } else { noisy };
                let references = if distinct_references {
                    baselines
                } else {
                    drawn
                };
                let firsts = starts.dims()[0];
                let ends = Tensor::cat(vec![starts, references], 0);
                let ends = checked_features(model, ends, ReluMode::Standard)?;
                let seconds = ends.dims()[0] - firsts;
                let (starts, references) =
                    (ends.clone().narrow(0, 0, firsts), ends.narrow(0, firsts, seconds));
                let starts = match noise_free {
                    true => repeated_copies(&starts, samples),
                    false => starts,
                };
                let references = match distinct_references {
                    true => references.select(0, indices),
                    false => references,
                };
                let difference = starts - references;
                let checks = Checks::finite(Stage::Gradient, &gradient, samples);
                (gradient, difference, checks)
            }
        };
        let per_draw = if self.multiply_by_inputs {
            difference * gradient
        } else {
            gradient
        };
        let [_, k, h, w] = per_draw.dims();
        let map = per_draw.reshape([n, samples, k, h, w]).mean_dim(1);
        Ok(Attributions::new(
            map.reshape([n, k, h, w]),
            predictions.with_checks(drawn_checks.and(checks)),
            input,
        ))
    }

    /// [`Attribution::attribute_input`] at `at`: the constant baselines, the seeded draws.
    pub(crate) fn attribute_input_at(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        at: Leaf,
    ) -> Result<Attributions> {
        let baselines = constant_images("GradientShap", &self.baselines, input)?;
        let draws = self.draw(input, self.baselines.len())?;
        let noise_free = self.stdev == 0.0;
        self.run(model, input, targets, baselines, draws, noise_free, at)
    }
}

impl Attribution for GradientShap {
    fn label(&self) -> String {
        "GradientSHAP".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.attribute_input_at(model, input, targets, Leaf::Input)
    }
}
