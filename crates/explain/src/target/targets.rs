//! What is explained for each image: a class, the target scored at it, and how the score's
//! gradient is computed.

use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorData, activation};

use super::{Outputs, Score, ScoreGradient, Target, scores_of};
use crate::error::{ExplainError, Result};

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
///
/// As text (`FromStr`, the command line's `--target`): `predicted`, one class for every image
/// (`3`), or one class per image (`3,1,4`):
///
/// ```
/// use gradcam_explain::Targets;
/// let each: Targets = "3,1,4".parse()?;
/// assert_eq!(each.given(), Some(&[3, 1, 4][..]));
/// assert_eq!("predicted".parse::<Targets>()?.given(), None);
/// assert!("3,x".parse::<Targets>().is_err());
/// # Ok::<(), gradcam_explain::ParseTargetError>(())
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

    /// The classes given, one for every image or one per image (`None` for the predicted
    /// classes, or classes already resolved on the device).
    pub fn given(&self) -> Option<&[usize]> {
        match &self.classes {
            Classes::All(class) => Some(std::slice::from_ref(class)),
            Classes::Each(classes) => Some(classes),
            Classes::Predicted | Classes::Resolved(_) => None,
        }
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
    pub(crate) fn total(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Result<Tensor<1>> {
        Ok(scores_of(self.target.as_ref(), outputs, classes, Some(self.gradient))?.sum())
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

impl std::str::FromStr for Targets {
    type Err = crate::ParseTargetError;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        if text == "predicted" {
            return Ok(Self::predicted());
        }
        Ok(match super::objective::class_list(text, text)?.as_slice() {
            [class] => Self::class(*class),
            classes => Self::classes(classes),
        })
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
