//! What is explained for each image: a class, and which scalar of the model's output at it.

use std::sync::Arc;

use burn::tensor::{Bool, Int, Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

use crate::error::{ExplainError, Result};
use crate::model::OutputLayer;
use crate::target::{Outputs, Target, scores_of};

/// Which scalar per image is differentiated (and scored by the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreGradient {
    /// Without cancellation: the score is written in the differences `z_j − z_c` (`j ≠ c`), so
    /// `∂ log p_c / ∂z_c = Σ_{j≠c} p_j` is a sum of small positive terms, exact in relative terms
    /// however sure the model is (and `∂p_c/∂z = p_c · ∂ log p_c/∂z` for the probability). What
    /// the seed's algorithm means; the default.
    #[default]
    Stable,
    /// Autodiff of `log_softmax` (or `softmax`) followed by the class's entry, as torch, Captum
    /// and pytorch-grad-cam compute it: reproduces the peers bit for bit, rounding included.
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

/// The class each image is explained for, and the [`Target`] differentiated: a [`Score`] of
/// that class (the default, [`Score::ModelOutput`]) or any other score of the model's output.
///
/// ```
/// use gradcam_explain::{ClassSum, Score, Targets};
/// let predicted = Targets::predicted(); // the class the model predicts, its model output
/// let three = Targets::class(3).with_score(Score::Logit); // class 3 for every image
/// let each = Targets::classes([3, 1, 4]); // one class per image
/// let both = Targets::predicted().with_target(ClassSum::new([3, 8], Score::Logit)); // multi-label
/// assert_eq!(three.target().label(), "logit");
/// # let _ = (predicted, each, both);
/// ```
#[derive(Clone, Debug)]
pub struct Targets {
    classes: Classes,
    target: Arc<dyn Target>,
    gradient: ScoreGradient,
}

#[derive(Clone, Debug)]
enum Classes {
    Predicted,
    All(usize),
    Each(Vec<usize>),
    /// Classes on the device, already checked against the model (from [`crate::Predictions`]).
    Resolved(Box<Tensor<1, Int>>),
}

impl Default for Targets {
    fn default() -> Self {
        Self::predicted()
    }
}

impl Targets {
    /// The class the model predicts for each image (the arg-max of its output), scored by
    /// [`Score::ModelOutput`].
    pub fn predicted() -> Self {
        Self::of(Classes::Predicted)
    }

    fn of(classes: Classes) -> Self {
        Self {
            classes,
            target: Arc::new(Score::ModelOutput),
            gradient: ScoreGradient::Stable,
        }
    }

    /// One class for every image of the batch (Captum's and pytorch-grad-cam's single target).
    pub fn class(class: usize) -> Self {
        Self::of(Classes::All(class))
    }

    /// One class per image, in batch order.
    pub fn classes(classes: impl Into<Vec<usize>>) -> Self {
        Self::of(Classes::Each(classes.into()))
    }

    /// The same classes, with another score of them.
    pub fn with_score(self, score: Score) -> Self {
        self.with_target(score)
    }

    /// The same classes, with another target (a sum over several classes, a binary or
    /// regression output, a closure: see [`Target`]).
    pub fn with_target(self, target: impl Target + 'static) -> Self {
        self.with_shared_target(Arc::new(target))
    }

    /// [`Targets::with_target`] for a target already shared.
    pub fn with_shared_target(self, target: Arc<dyn Target>) -> Self {
        Self { target, ..self }
    }

    /// The same classes and score, the gradient computed as `gradient` says
    /// ([`ScoreGradient::Naive`] reproduces the peers' rounding).
    pub fn with_gradient(self, gradient: ScoreGradient) -> Self {
        Self { gradient, ..self }
    }

    /// The target differentiated.
    pub fn target(&self) -> &Arc<dyn Target> {
        &self.target
    }

    /// How its gradient is computed.
    pub fn gradient(&self) -> ScoreGradient {
        self.gradient
    }

    /// The summed score of every image, to differentiate: one backward pass gives every image
    /// the gradient of its own score.
    pub(crate) fn total(
        &self,
        output_layer: OutputLayer,
        logits: Tensor<2>,
        classes: &Tensor<1, Int>,
    ) -> Result<Tensor<1>> {
        let outputs = Outputs::new(logits, output_layer);
        Ok(scores_of(self.target.as_ref(), &outputs, classes, Some(self.gradient))?.sum())
    }

    /// The targets of images `start..start + len` of the batch these targets are for (a list
    /// shorter than that is cut, and refused when it is resolved).
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        let classes = match &self.classes {
            Classes::Each(all) => {
                let from = start.min(all.len());
                let to = (start + len).min(all.len());
                Classes::Each(all[from..to].to_vec())
            }
            Classes::Resolved(tensor) => {
                let n = tensor.dims()[0];
                let from = start.min(n);
                match len.min(n - from) {
                    0 => Classes::Each(Vec::new()),
                    len => {
                        Classes::Resolved(Box::new(tensor.as_ref().clone().narrow(0, from, len)))
                    }
                }
            }
            other => other.clone(),
        };
        Self {
            classes,
            target: self.target.clone(),
            gradient: self.gradient,
        }
    }

    /// Each target repeated `times` times in a row (the layout of noisy copies and path points).
    pub(crate) fn repeat_each(&self, times: usize) -> Self {
        let classes = match &self.classes {
            Classes::Each(all) => Classes::Each(
                all.iter()
                    .flat_map(|&c| std::iter::repeat_n(c, times))
                    .collect(),
            ),
            Classes::Resolved(tensor) => {
                let n = tensor.dims()[0];
                Classes::Resolved(Box::new(
                    tensor
                        .as_ref()
                        .clone()
                        .reshape([n, 1])
                        .repeat_dim(1, times)
                        .reshape([n * times]),
                ))
            }
            other => other.clone(),
        };
        Self {
            classes,
            target: self.target.clone(),
            gradient: self.gradient,
        }
    }

    /// The targets repeated `times` times as a whole (the layout of path points, step-major).
    pub(crate) fn tile(&self, times: usize) -> Self {
        let classes = match &self.classes {
            Classes::Each(all) => Classes::Each(all.repeat(times)),
            Classes::Resolved(tensor) => {
                Classes::Resolved(Box::new(tensor.as_ref().clone().repeat_dim(0, times)))
            }
            other => other.clone(),
        };
        Self {
            classes,
            target: self.target.clone(),
            gradient: self.gradient,
        }
    }

    /// Checked classes on the device from targets already on it.
    pub(crate) fn resolved(
        classes: Tensor<1, Int>,
        target: Arc<dyn Target>,
        gradient: ScoreGradient,
    ) -> Self {
        Self {
            classes: Classes::Resolved(Box::new(classes)),
            target,
            gradient,
        }
    }

    /// Each image's class `[N]` on the logits' device: the predicted class (computed there) or
    /// the given ones, checked against the batch size and the number of classes (and the
    /// target against the number of outputs).
    pub(crate) fn resolve(&self, logits: &Tensor<2>) -> Result<Tensor<1, Int>> {
        let [batch, classes] = logits.dims();
        self.target.check(classes)?;
        let device = logits.device();
        let upload = |values: Vec<usize>| {
            let values: Vec<i64> = values.into_iter().map(|c| c as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [batch]), &device)
        };
        let check = |index: usize, target: usize| {
            if target < classes {
                Ok(())
            } else {
                Err(ExplainError::TargetOutOfRange {
                    index,
                    target,
                    classes,
                })
            }
        };
        match &self.classes {
            Classes::Predicted => Ok(predicted(logits.clone().detach())),
            Classes::All(class) => {
                check(0, *class)?;
                Ok(upload(vec![*class; batch]))
            }
            Classes::Each(given) => {
                count_fits(given.len(), batch)?;
                for (index, &target) in given.iter().enumerate() {
                    check(index, target)?;
                }
                Ok(upload(given.clone()))
            }
            Classes::Resolved(tensor) => {
                count_fits(tensor.dims()[0], batch)?;
                Ok(tensor.as_ref().clone().to_device(&device))
            }
        }
    }
}

fn count_fits(targets: usize, batch: usize) -> Result<()> {
    if targets == batch {
        Ok(())
    } else {
        Err(ExplainError::TargetCount { targets, batch })
    }
}

/// The arg-max class of each row of logits `[N, classes]` by softmax probability (the first on
/// ties, as `torch.argmax`), `[N]`.
pub(crate) fn predicted(logits: Tensor<2>) -> Tensor<1, Int> {
    let n = logits.dims()[0];
    activation::softmax(logits, 1).argmax(1).reshape([n])
}
