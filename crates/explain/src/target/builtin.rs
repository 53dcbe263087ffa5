//! Ready targets beyond a class's score (pytorch-grad-cam's `model_targets`, multi-label sums,
//! closures).

use std::fmt;
use std::sync::Arc;

use burn::tensor::{Int, Tensor, activation};

use super::{Outputs, Score, ScoreGradient, Target};
use crate::error::{ExplainError, Result};

/// Every class of `classes` must be one of the model's `outputs`.
fn check_classes(name: &str, classes: &[usize], outputs: usize) -> Result<()> {
    match classes.iter().find(|&&c| c >= outputs) {
        Some(&class) => Err(ExplainError::TargetOutput {
            target: name.to_owned(),
            output: class,
            outputs,
        }),
        None => Ok(()),
    }
}

/// The same class for every image, `[N]`.
fn fixed_class(class: usize, outputs: &Outputs) -> Tensor<1, Int> {
    let [n, _] = outputs.dims();
    Tensor::<1, Int>::full([n], class as i64, &outputs.logits.device())
}

/// A sum of several classes' scores (multi-label explanations: what pytorch-grad-cam users write
/// as `lambda output: output[3] + output[8]`, Captum's target list summed).
///
/// ```
/// use gradcam_explain::{ClassSum, Score, Targets};
/// let both = Targets::predicted().with_target(ClassSum::new([3, 8], Score::Logit));
/// # let _ = both;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSum {
    classes: Vec<usize>,
    score: Score,
}

impl ClassSum {
    /// The sum of `score` at each of `classes`.
    pub fn new(classes: impl Into<Vec<usize>>, score: Score) -> Self {
        Self {
            classes: classes.into(),
            score,
        }
    }

    /// The classes summed.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    fn sum(&self, outputs: &Outputs, score: impl Fn(&Tensor<1, Int>) -> Tensor<1>) -> Tensor<1> {
        let [n, _] = outputs.dims();
        self.classes
            .iter()
            .map(|&c| score(&fixed_class(c, outputs)))
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| Tensor::zeros([n], &outputs.logits.device()))
    }
}

impl Target for ClassSum {
    fn scores(&self, outputs: &Outputs, _: &Tensor<1, Int>) -> Tensor<1> {
        self.sum(outputs, |class| self.score.scores(outputs, class))
    }

    fn differentiable(
        &self,
        outputs: &Outputs,
        _: &Tensor<1, Int>,
        gradient: ScoreGradient,
    ) -> Tensor<1> {
        self.sum(outputs, |class| {
            Target::differentiable(&self.score, outputs, class, gradient)
        })
    }

    fn hessian_product(
        &self,
        outputs: &Outputs,
        _: &Tensor<1, Int>,
        direction: Tensor<2>,
    ) -> Option<Tensor<2>> {
        let mut total = direction.zeros_like();
        for &class in &self.classes {
            total = total
                + self.score.hessian_product(
                    outputs,
                    &fixed_class(class, outputs),
                    direction.clone(),
                )?;
        }
        Some(total)
    }

    fn check(&self, outputs: usize) -> Result<()> {
        check_classes(&self.label(), &self.classes, outputs)
    }

    fn label(&self) -> String {
        let classes: Vec<String> = self.classes.iter().map(usize::to_string).collect();
        format!("sum of {} at classes {}", self.score, classes.join(", "))
    }
}

/// The sum of every model output (pytorch-grad-cam's `RawScoresOutputTarget`): for a regression
/// model with one output, that output. (One output of several is [`Score::ModelOutput`] at a
/// fixed class: `Targets::class(i)`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawScores;

impl Target for RawScores {
    fn scores(&self, outputs: &Outputs, _: &Tensor<1, Int>) -> Tensor<1> {
        let [n, _] = outputs.dims();
        outputs.output().sum_dim(1).reshape([n])
    }

    fn label(&self) -> String {
        "raw scores".to_owned()
    }
}

/// A binary classifier's output for one side (pytorch-grad-cam's
/// `BinaryClassifierOutputTarget`): the model output for the positive category, its negation for
/// the negative one. Meant for a model with one output; with several, their sum (as the peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryOutput {
    /// Explain the positive category (category 1 in pytorch-grad-cam), else the negative one.
    pub positive: bool,
}

impl Target for BinaryOutput {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        let raw = RawScores.scores(outputs, classes);
        if self.positive { raw } else { -raw }
    }

    fn label(&self) -> String {
        let side = if self.positive {
            "positive"
        } else {
            "negative"
        };
        format!("binary output, {side}")
    }
}

/// The class's logit plus its log-probability, `z_c + log softmax(z)_c` (pytorch-grad-cam's
/// `ClassifierOutputReST`: pre- and post-softmax together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReSt;

impl Target for ReSt {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        let [n, _] = outputs.dims();
        let both = outputs.logits() + activation::log_softmax(outputs.logits(), 1);
        both.gather(1, classes.clone().reshape([n, 1])).reshape([n])
    }

    fn hessian_product(
        &self,
        outputs: &Outputs,
        _: &Tensor<1, Int>,
        direction: Tensor<2>,
    ) -> Option<Tensor<2>> {
        // The logit is linear; log p_c curves as −(diag p − p pᵀ).
        Some(-super::score::softmax_curvature(
            outputs.probabilities(),
            direction,
        ))
    }

    fn label(&self) -> String {
        "ReST".to_owned()
    }
}

/// The class's logit against similar classes, weighted by their probabilities (Finer-CAM;
/// pytorch-grad-cam's `FinerWeightedTarget`):
/// `Σ_j p_j (z_c − α z_j) / (Σ_j p_j + 1e-9)` over the comparison classes `j`, the
/// probabilities differentiated too.
#[derive(Clone, Debug, PartialEq)]
pub struct FinerWeighted {
    comparisons: Vec<usize>,
    alpha: f32,
}

impl FinerWeighted {
    /// The image's class compared with `comparisons` at strength `alpha` (pytorch-grad-cam's
    /// Finer-CAM uses 1).
    pub fn new(comparisons: impl Into<Vec<usize>>, alpha: f32) -> Self {
        Self {
            comparisons: comparisons.into(),
            alpha,
        }
    }
}

impl Target for FinerWeighted {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        let [n, _] = outputs.dims();
        let logits = outputs.logits();
        let probabilities = outputs.probabilities();
        let at = |t: &Tensor<2>, class: &Tensor<1, Int>| {
            t.clone()
                .gather(1, class.clone().reshape([n, 1]))
                .reshape([n])
        };
        let own = at(&logits, classes);
        let zeros = Tensor::<1>::zeros([n], &logits.device());
        let (numerator, denominator) =
            self.comparisons
                .iter()
                .fold((zeros.clone(), zeros), |(numerator, denominator), &j| {
                    let j = fixed_class(j, outputs);
                    let weight = at(&probabilities, &j);
                    let difference = own.clone() - at(&logits, &j) * self.alpha;
                    (
                        numerator + weight.clone() * difference,
                        denominator + weight,
                    )
                });
        numerator / (denominator + 1e-9)
    }

    fn check(&self, outputs: usize) -> Result<()> {
        check_classes(&self.label(), &self.comparisons, outputs)
    }

    fn label(&self) -> String {
        let classes: Vec<String> = self.comparisons.iter().map(usize::to_string).collect();
        format!(
            "Finer (alpha {}) against {}",
            self.alpha,
            classes.join(", ")
        )
    }
}

/// A target from a closure over the outputs and the classes (pytorch-grad-cam accepts any
/// callable as a target).
///
/// ```
/// use gradcam_explain::{Targets, TargetFn};
/// // The logit margin of class 3 over class 5, for every image.
/// let margin = TargetFn::new("3 over 5", |outputs, _classes| {
///     let [n, _] = outputs.dims();
///     let z = outputs.logits();
///     (z.clone().narrow(1, 3, 1) - z.narrow(1, 5, 1)).reshape([n])
/// });
/// let targets = Targets::predicted().with_target(margin);
/// # let _ = targets;
/// ```
#[derive(Clone)]
pub struct TargetFn {
    name: String,
    score: Arc<ScoreFn>,
}

type ScoreFn = dyn Fn(&Outputs, &Tensor<1, Int>) -> Tensor<1> + Send + Sync;

impl TargetFn {
    /// The target `score`, called `name` in captions. The closure must return `[N]` and keep to
    /// the outputs the model has (it is not checked).
    pub fn new(
        name: impl Into<String>,
        score: impl Fn(&Outputs, &Tensor<1, Int>) -> Tensor<1> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            score: Arc::new(score),
        }
    }
}

impl fmt::Debug for TargetFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Target for TargetFn {
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
        (self.score)(outputs, classes)
    }

    fn label(&self) -> String {
        self.name.clone()
    }
}
