//! Integrated Gradients (Sundararajan et al., 2017) as Captum computes it.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::predictions::Predictions;
use crate::error::{Result, SettingError};
use crate::forward::{checked_features, checked_outputs};
use crate::model::{Explainable, ReluMode};
use crate::pixel::GradientRule;
use crate::target::{Outputs, Targets};

/// How the path integral from the baseline to the input is approximated (Captum's `method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Integration {
    /// Gauss–Legendre quadrature on [0, 1] (Captum's default).
    #[default]
    GaussLegendre,
    /// Left Riemann sum: points `0, 1/n, …, 1 − 1/n`.
    RiemannLeft,
    /// Right Riemann sum: points `1/n, …, 1`.
    RiemannRight,
    /// Midpoint rule: points `1/(2n), …, 1 − 1/(2n)`.
    RiemannMiddle,
    /// Trapezoid rule: `n` points from 0 to 1, end weights halved.
    RiemannTrapezoid,
}

impl Integration {
    /// The points `α_k` on [0, 1] and their weights, as Captum's `approximation_parameters`.
    pub fn points_and_weights(self, steps: usize) -> (Vec<f64>, Vec<f64>) {
        let n = steps.max(1);
        let uniform = vec![1.0 / n as f64; n];
        let linspace = |start: f64, end: f64| -> Vec<f64> {
            if n == 1 {
                return vec![start];
            }
            (0..n)
                .map(|i| start + (end - start) * i as f64 / (n - 1) as f64)
                .collect()
        };
        match self {
            Self::GaussLegendre => {
                let (nodes, weights) = gauss_legendre(n);
                (
                    nodes.iter().map(|x| 0.5 * (1.0 + x)).collect(),
                    weights.iter().map(|w| 0.5 * w).collect(),
                )
            }
            Self::RiemannLeft => (linspace(0.0, 1.0 - 1.0 / n as f64), uniform),
            Self::RiemannRight => (linspace(1.0 / n as f64, 1.0), uniform),
            Self::RiemannMiddle => (linspace(0.5 / n as f64, 1.0 - 0.5 / n as f64), uniform),
            Self::RiemannTrapezoid => {
                let mut weights = uniform;
                weights[0] /= 2.0;
                weights[n - 1] /= 2.0;
                (linspace(0.0, 1.0), weights)
            }
        }
    }
}

/// Integrated Gradients (Captum's `IntegratedGradients`): the gradients along the straight
/// path from a constant baseline to each input, integrated by the chosen quadrature, times
/// `input − baseline`, with Captum's convergence delta ([`Attributions::convergence_delta`]).
/// The path points run as batches of `steps × N` images, or of at most `internal_batch_size`.
#[derive(Config, Debug, Copy, PartialEq)]
pub struct IntegratedGradients {
    /// Number of points on the path (Captum's `n_steps`).
    #[config(default = 50)]
    pub steps: usize,
    /// The quadrature (Captum's `method`).
    #[config(default = "Integration::GaussLegendre")]
    pub integration: Integration,
    /// The baseline: every input element set to this value (Captum's scalar `baselines`).
    #[config(default = 0.0)]
    pub baseline: f32,
    /// At most this many path points (images) per forward/backward pass, bounding memory
    /// (Captum's `internal_batch_size`); `None` runs all `steps × N` at once.
    pub internal_batch_size: Option<usize>,
}

impl Default for IntegratedGradients {
    fn default() -> Self {
        Self::new()
    }
}

impl Attribution for IntegratedGradients {
    fn label(&self) -> String {
        "Integrated Gradients".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let PathEnds {
            baseline,
            predictions,
            start,
            ..
        } = self.ends("IntegratedGradients", model, input, targets)?;
        let difference = input.tensor().clone() - baseline.clone();
        let (attribution, delta) =
            self.integrate(baseline, difference, &predictions, &start, |points, targets| {
                let points = Input::derived(points);
                Ok(GradientRule::GRADIENT.attribute(model, &points, targets)?.into_map())
            })?;
        Ok(Attributions::new(attribution, predictions, input).with_convergence_delta(delta))
    }
}

/// The ends of a path from the constant baseline image to the input, run in one pass.
pub(crate) struct PathEnds {
    /// The baseline image `[N, C, H, W]`.
    pub baseline: Tensor<4>,
    /// The explained layer's outputs for the inputs and then for the baselines `[2N, …]`.
    pub features: Tensor<4>,
    /// The inputs' predictions (targets resolved).
    pub predictions: Predictions,
    /// The baselines' predictions on the same classes.
    pub start: Predictions,
}

impl IntegratedGradients {
    /// The settings checked (named after `owner`), and the input and its baseline image in one
    /// forward pass: the path's ends and their scores.
    pub(crate) fn ends(
        &self,
        owner: &'static str,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<PathEnds> {
        self.check(owner)?;
        let x = input.tensor();
        let baseline = Tensor::<4>::full(x.dims(), self.baseline, &x.device());
        let ends = Tensor::cat(vec![x.clone(), baseline.clone()], 0);
        let features = checked_features(model, ends, ReluMode::Standard)?;
        let (predictions, start) = path_ends(model, features.clone(), targets)?;
        Ok(PathEnds {
            baseline,
            features,
            predictions,
            start,
        })
    }

    /// Refuses settings that cannot run, naming `owner`'s field.
    pub(crate) fn check(&self, owner: &'static str) -> Result<()> {
        SettingError::check(self.steps > 0, owner, "steps", self.steps, "at least 1")?;
        SettingError::check(
            self.baseline.is_finite(),
            owner,
            "baseline",
            self.baseline,
            "a finite value",
        )?;
        if let Some(size) = self.internal_batch_size {
            SettingError::check(size > 0, owner, "internal_batch_size", size, "at least 1")?;
        }
        Ok(())
    }

    /// The integral along the straight path `begin + α·difference` (`[N, …]` each) by this
    /// quadrature: `gradient(points, targets)` gives the score's gradient at a pass of path
    /// points (step-major, at most `internal_batch_size` images), their weighted sum times
    /// `difference` is the attribution, and the convergence delta is its sum minus the score's
    /// change from `start` (the baseline's predictions) to `predictions`.
    pub(crate) fn integrate(
        &self,
        begin: Tensor<4>,
        difference: Tensor<4>,
        predictions: &Predictions,
        start: &Predictions,
        mut gradient: impl FnMut(Tensor<4>, &Targets) -> Result<Tensor<4>>,
    ) -> Result<(Tensor<4>, Tensor<1>)> {
        let n = begin.dims()[0];
        let (alphas, weights) = self.integration.points_and_weights(self.steps);
        let per_pass = self
            .internal_batch_size
            .map_or(alphas.len(), |images| (images / n).max(1));
        let classes = predictions.targets();
        let mut total = begin.zeros_like();
        for first in (0..alphas.len()).step_by(per_pass) {
            let steps = first..(first + per_pass).min(alphas.len());
            let points: Vec<Tensor<4>> = steps
                .clone()
                .map(|k| begin.clone() + difference.clone() * alphas[k] as f32)
                .collect();
            let pass = gradient(Tensor::cat(points, 0), &classes.tile(steps.len()))?;
            total = total + weighted_steps(pass, &weights[steps], n);
        }
        let attribution = total * difference;
        let delta = attribution.clone().sum_dims(&[1, 2, 3]).reshape([n])
            - (predictions.scores() - start.scores());
        Ok((attribution, delta))
    }
}

/// The predictions of a batch holding the inputs and then their baselines, from its features:
/// the inputs' (targets resolved) and the baselines' (the same classes).
pub(crate) fn path_ends(
    model: &dyn Explainable,
    features: Tensor<4>,
    targets: &Targets,
) -> Result<(Predictions, Predictions)> {
    let n = features.dims()[0] / 2;
    let outputs = checked_outputs(model, features, ReluMode::Standard, 2 * n)?;
    pair_predictions(model, &outputs, targets)
}

/// The predictions of a pair batch's outputs `[2N, classes]` (the inputs, then their
/// baselines): the inputs' (targets resolved) and the baselines' (the same classes).
pub(crate) fn pair_predictions(
    model: &dyn Explainable,
    outputs: &Outputs,
    targets: &Targets,
) -> Result<(Predictions, Predictions)> {
    let n = outputs.dims()[0] / 2;
    let predictions = Predictions::from_outputs(model, &outputs.narrow(0, n), targets)?;
    let start = predictions.with_outputs(&outputs.narrow(n, n));
    Ok((predictions, start))
}

/// `Σ_j weights[j] · gradient_j` of a pass's gradients `[m · N, …]`, step-major (step `j`'s
/// `N` images at rows `j·N…`), as `[N, …]`: the quadrature's sum over one pass of path points,
/// for the input's path and a layer's alike. Two-dimensional: a five-dimensional broadcast of
/// the weights gave wrong sums on wgpu (Burn 0.22.1 on Mesa's lavapipe) for the Fashion
/// ResNet's `[m, N, 64, 7, 7]` layer gradients.
pub(crate) fn weighted_steps(gradient: Tensor<4>, weights: &[f64], n: usize) -> Tensor<4> {
    let [rows, c, h, w] = gradient.dims();
    let m = weights.len();
    debug_assert_eq!(rows, m * n);
    let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    let weights =
        Tensor::<1>::from_data(TensorData::new(weights, [m]), &gradient.device()).reshape([m, 1]);
    (gradient.reshape([m, n * c * h * w]) * weights)
        .sum_dim(0)
        .reshape([n, c, h, w])
}

/// Gauss–Legendre nodes and weights on [−1, 1], ascending (as numpy's `leggauss`): Newton's
/// method on the Legendre polynomial from the Chebyshev-like initial guesses, in `f64`.
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 1 { x } else { p1 };
            let pn_minus_1 = if n == 1 { 1.0 } else { p0 };
            derivative = n as f64 * (x * pn - pn_minus_1) / (x * x - 1.0);
            let step = pn / derivative;
            x -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        weights[i] = weight;
        weights[n - 1 - i] = weight;
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_matches_known_values_and_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(2);
        let r = 1.0 / 3.0_f64.sqrt();
        assert!((x[0] + r).abs() < 1e-15 && (x[1] - r).abs() < 1e-15);
        assert!((w[0] - 1.0).abs() < 1e-14 && (w[1] - 1.0).abs() < 1e-14);
        // An n-point rule integrates degree 2n − 1 exactly: ∫₀¹ t⁹ dt = 1/10 with n = 5.
        let (points, weights) = Integration::GaussLegendre.points_and_weights(5);
        let integral: f64 = points
            .iter()
            .zip(&weights)
            .map(|(t, w)| w * t.powi(9))
            .sum();
        assert!((integral - 0.1).abs() < 1e-14, "{integral}");
        let (_, weights) = Integration::GaussLegendre.points_and_weights(50);
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-13);
    }

    #[test]
    fn riemann_rules_follow_captum() {
        assert_eq!(
            Integration::RiemannLeft.points_and_weights(4).0,
            [0.0, 0.25, 0.5, 0.75]
        );
        assert_eq!(
            Integration::RiemannRight.points_and_weights(4).0,
            [0.25, 0.5, 0.75, 1.0]
        );
        assert_eq!(
            Integration::RiemannMiddle.points_and_weights(4).0,
            [0.125, 0.375, 0.625, 0.875]
        );
        let (points, weights) = Integration::RiemannTrapezoid.points_and_weights(5);
        assert_eq!(points, [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(weights, [0.1, 0.2, 0.2, 0.2, 0.1]);
    }
}
