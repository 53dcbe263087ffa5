//! The class scores: which scalar of the model's output at a class is differentiated, and how
//! its gradient is computed.

use burn::tensor::{Bool, Int, Tensor, activation};

use super::{Outputs, Target};
use crate::model::OutputLayer;

/// Which scalar per image is differentiated (and scored by the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Score {
    /// The model's output at the target class (for the MNIST net a log-probability), as the seed
    /// report, Captum and pytorch-grad-cam use it.
    #[default]
    ModelOutput,
    /// The pre-softmax logit at the target class, as the Grad-CAM paper does.
    Logit,
    /// The softmax probability of the target class (pytorch-grad-cam's
    /// `ClassifierOutputSoftmaxTarget`; the score RISE's deletion and insertion curves use).
    Probability,
}

impl Score {
    /// Every score, in documentation order.
    pub const ALL: [Score; 3] = [Self::ModelOutput, Self::Logit, Self::Probability];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::ModelOutput => "output",
            Self::Logit => "logit",
            Self::Probability => "probability",
        }
    }

    /// The score to differentiate: [`Score::of`] written as `gradient` says.
    pub(crate) fn differentiable(
        self,
        gradient: ScoreGradient,
        output_layer: OutputLayer,
        logits: Tensor<2>,
        classes: &Tensor<1, Int>,
    ) -> Tensor<1> {
        let probability = match (self, output_layer) {
            (Self::ModelOutput, OutputLayer::LogSoftmax) => false,
            (Self::ModelOutput, OutputLayer::Softmax) | (Self::Probability, _) => true,
            (Self::ModelOutput, OutputLayer::Identity) | (Self::Logit, _) => {
                return self.of(output_layer, logits, classes);
            }
        };
        match gradient {
            ScoreGradient::Naive => self.of(output_layer, logits, classes),
            ScoreGradient::Stable if probability => stable_log_probability(logits, classes).exp(),
            ScoreGradient::Stable => stable_log_probability(logits, classes),
        }
    }

    /// Each image's score at its class, `[N]`, from logits `[N, classes]` and classes `[N]`.
    pub(crate) fn of(
        self,
        output_layer: OutputLayer,
        logits: Tensor<2>,
        classes: &Tensor<1, Int>,
    ) -> Tensor<1> {
        let n = classes.dims()[0];
        let output = match self {
            Self::ModelOutput => output_layer.apply(logits),
            Self::Logit => logits,
            Self::Probability => activation::softmax(logits, 1),
        };
        output
            .gather(1, classes.clone().reshape([n, 1]))
            .reshape([n])
    }
}

named! {
    Score => "score",
}

/// How the gradient of a (log-)probability score is computed.
///
/// `log p_c = z_c − logsumexp(z)` has the logit gradient `e_c − softmax(z)`. When the model is
/// sure of class `c`, `p_c` rounds to 1 in `float32`, so the target term `1 − p_c` comes out as
/// 0 or one ulp (6e-8) when its true value is, say, 1e-9: the term that carries the target
/// class is lost and the map shows mostly the gradient of the other classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScoreGradient {
    /// Without cancellation: the score is written in the differences `z_j − z_c` (`j ≠ c`), so
    /// `∂ log p_c / ∂z_c = Σ_{j≠c} p_j` is a sum of small positive terms, exact in relative terms
    /// however sure the model is (and `∂p_c/∂z = p_c · ∂ log p_c/∂z` for the probability). What
    /// the seed's algorithm means; the default.
    #[default]
    Stable,
    /// Autodiff of `log_softmax` (or `softmax`) followed by the class's entry, as torch, Captum
    /// and pytorch-grad-cam compute it: the same float32 arithmetic as the peers, so the same
    /// rounding noise where the model is sure (not bit-identical: the kernels differ).
    Naive,
}

impl ScoreGradient {
    /// Both kinds.
    pub const ALL: [ScoreGradient; 2] = [Self::Stable, Self::Naive];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Naive => "naive",
        }
    }
}

named! {
    ScoreGradient => "score gradient",
}

/// `[n, k]`, true at `(i, indices[i])`: Burn's `one_hot` without its round trip through the
/// host (it reads the indices back to check them), which is a sync on a GPU and most of the
/// operation's time for one image. The indices are already checked against `k` here.
pub(crate) fn one_hot_mask(indices: Tensor<1, Int>, k: usize) -> Tensor<2, Bool> {
    let n = indices.dims()[0];
    let columns = Tensor::<1, Int>::arange(0..k as i64, &indices.device())
        .reshape([1, k])
        .expand([n, k]);
    columns.equal(indices.reshape([n, 1]).expand([n, k]))
}

/// `log softmax(logits)` at each row's class, `[N]`, with a gradient in which no term cancels.
///
/// In the differences `d_j = z_j − z_c` and their largest value `m ≥ 0`, with
/// `e_j = exp(d_j − m)` and `S = exp(−m) + Σ_{j≠c} e_j`: `log p_c = −(m + log S)`,
/// `∂/∂z_j = −e_j / S` (`j ≠ c`) and `∂/∂z_c = Σ_{j≠c} e_j / S`, a sum of positive terms. Both
/// are computed off the autodiff graph; the score returned is `log p_c + Σ_j g_j·(z_j − z_j)`
/// with the gradient `g` a constant, whose value is exactly `log p_c` and whose gradient w.r.t.
/// the logits is exactly `g` (four recorded operations, where differentiating the formula
/// itself recorded a dozen).
fn stable_log_probability(logits: Tensor<2>, classes: &Tensor<1, Int>) -> Tensor<1> {
    let [n, k] = logits.dims();
    let plain = logits.clone().detach().without_autodiff();
    let target = plain.clone().gather(1, classes.clone().reshape([n, 1]));
    let differences = plain - target;
    let largest = differences.clone().max_dim(1);
    let is_target = one_hot_mask(classes.clone(), k);
    let exponentials = (differences - largest.clone())
        .exp()
        .mask_fill(is_target.clone(), 0.0);
    let others = exponentials.clone().sum_dim(1);
    let total = others.clone() + (-largest.clone()).exp();
    let value = -(largest + total.clone().log());
    let gradient = (-exponentials).mask_where(is_target, others.expand([n, k])) / total;
    let zero = logits.clone() - logits.detach();
    (zero * gradient).sum_dim(1).reshape([n]) + value.reshape([n])
}

/// `(diag(p) − p pᵀ) u` row by row, with `p` the softmax probabilities: the Hessian of
/// `logsumexp` at the logits times `u`.
pub(crate) fn softmax_curvature(probabilities: Tensor<2>, u: Tensor<2>) -> Tensor<2> {
    let [n, k] = probabilities.dims();
    let mean = (probabilities.clone() * u.clone())
        .sum_dim(1)
        .expand([n, k]);
    probabilities * (u - mean)
}

impl Target for Score {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        self.of(outputs.output_layer, outputs.logits(), classes)
    }

    fn hessian_product(
        &self,
        outputs: &Outputs,
        classes: &Tensor<1, Int>,
        direction: Tensor<2>,
    ) -> Option<Tensor<2>> {
        let p = outputs.probabilities();
        Some(match (self, outputs.output_layer) {
            (Self::Logit, _) | (Self::ModelOutput, OutputLayer::Identity) => direction.zeros_like(),
            // log p_c = z_c − logsumexp(z).
            (Self::ModelOutput, OutputLayer::LogSoftmax) => -softmax_curvature(p, direction),
            // p_c = exp(log p_c): p_c (g gᵀ − (diag p − p pᵀ)) with g = e_c − p.
            (Self::Probability, _) | (Self::ModelOutput, OutputLayer::Softmax) => {
                let [n, k] = p.dims();
                let own = p
                    .clone()
                    .gather(1, classes.clone().reshape([n, 1]))
                    .expand([n, k]);
                let g = one_hot_mask(classes.clone(), k).float() - p.clone();
                let along = (g.clone() * direction.clone()).sum_dim(1).expand([n, k]);
                (g * along - softmax_curvature(p, direction)) * own
            }
        })
    }

    fn differentiable(
        &self,
        outputs: &Outputs,
        classes: &Tensor<1, Int>,
        gradient: ScoreGradient,
    ) -> Tensor<1> {
        Score::differentiable(
            *self,
            gradient,
            outputs.output_layer,
            outputs.logits(),
            classes,
        )
    }

    fn label(&self) -> String {
        Score::name(*self).to_owned()
    }
}
