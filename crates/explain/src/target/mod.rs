//! What is explained, as a function of the model's output: the [`Target`] trait, the class
//! scores ([`Score`]), the ready targets (pytorch-grad-cam's `model_targets`, multi-label sums,
//! closures), and the per-image choice of class ([`Targets`]), with the command line's grammar
//! for both ([`Targets`]'s and [`Objective`]'s `FromStr`).

mod builtin;
mod objective;
mod region;
mod score;
mod targets;

use std::fmt;

use burn::tensor::{Int, Tensor, activation};

use crate::error::{ExplainError, Result};
use crate::model::OutputLayer;

pub use builtin::{BinaryOutput, ClassSum, FinerWeighted, RawScores, ReSt, TargetFn};
pub use objective::Objective;
pub use region::Region;
pub(crate) use score::one_hot_mask;
pub use score::{Score, ScoreGradient};
pub use targets::Targets;
pub(crate) use targets::predicted;

/// The model's output for a batch, as a [`Target`] reads it: the logits `[N, K]`, the output
/// layer the model applies to them, and a dense-output model's map `[N, K, H, W]`
/// ([`crate::Explainable::output_map`]).
#[derive(Clone, Debug)]
pub struct Outputs {
    logits: Tensor<2>,
    output_layer: OutputLayer,
    map: Option<Tensor<4>>,
}

impl Outputs {
    /// The outputs of logits `[N, K]` under `output_layer` (a classifier's: no map).
    pub fn new(logits: Tensor<2>, output_layer: OutputLayer) -> Self {
        Self {
            logits,
            output_layer,
            map: None,
        }
    }

    /// A dense-output model's outputs: its map `[N, K, H, W]` and the `[N, K]` scores pooled
    /// from it ([`crate::pooled_scores`]).
    pub fn of_map(map: Tensor<4>, output_layer: OutputLayer) -> Self {
        Self {
            logits: crate::model::pooled_scores(map.clone()),
            output_layer,
            map: Some(map),
        }
    }

    /// Outputs already computed (the map's scores pooled from it).
    pub(crate) fn from_parts(
        logits: Tensor<2>,
        output_layer: OutputLayer,
        map: Option<Tensor<4>>,
    ) -> Self {
        Self {
            logits,
            output_layer,
            map,
        }
    }

    /// The output map `[N, K, H, W]` of a dense-output model (`None` for a classifier).
    pub fn map(&self) -> Option<Tensor<4>> {
        self.map.clone()
    }

    /// The same outputs detached from any graph (what a pass keeps once it has differentiated).
    pub(crate) fn detached(&self) -> Self {
        let plain = |t: Tensor<4>| t.detach().without_autodiff();
        Self {
            logits: self.logits.clone().detach().without_autodiff(),
            output_layer: self.output_layer,
            map: self.map.clone().map(plain),
        }
    }

    /// Images `start..start + len` of the batch.
    pub(crate) fn narrow(&self, start: usize, len: usize) -> Self {
        Self {
            logits: self.logits.clone().narrow(0, start, len),
            output_layer: self.output_layer,
            map: self.map.clone().map(|m| m.narrow(0, start, len)),
        }
    }

    /// The pre-softmax logits `[N, K]`.
    pub fn logits(&self) -> Tensor<2> {
        self.logits.clone()
    }

    /// What the model returns, `output_layer(logits)` `[N, K]` (pytorch-grad-cam's
    /// `model_output`; for the MNIST net the log-probabilities).
    pub fn output(&self) -> Tensor<2> {
        self.output_layer.apply(self.logits.clone())
    }

    /// The softmax probabilities `[N, K]`.
    pub fn probabilities(&self) -> Tensor<2> {
        activation::softmax(self.logits.clone(), 1)
    }

    /// The output layer the model applies to its logits.
    pub fn output_layer(&self) -> OutputLayer {
        self.output_layer
    }

    /// `[N, K]`: images and outputs.
    pub fn dims(&self) -> [usize; 2] {
        self.logits.dims()
    }
}

/// One score per image from the model's output: what a method differentiates (and what Score-CAM,
/// Ablation-CAM, Occlusion and the metrics score perturbed images by).
///
/// `classes` `[N]` is each image's class: the predicted one unless the [`crate::Targets`] name
/// others; a target that is not about one class (a multi-label sum, a regression output) ignores
/// it. Implement it for any score of `[N, K]` outputs, or pass a closure ([`TargetFn`]).
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// use gradcam_explain::{Outputs, Target};
///
/// /// The margin of the image's class over class 0.
/// #[derive(Debug)]
/// struct MarginOverZero;
/// impl Target for MarginOverZero {
///     fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1> {
///         let [n, _] = outputs.dims();
///         let logits = outputs.logits();
///         let own = logits.clone().gather(1, classes.clone().reshape([n, 1]));
///         (own - logits.narrow(1, 0, 1)).reshape([n])
///     }
///     fn label(&self) -> String { "margin over class 0".into() }
/// }
/// ```
pub trait Target: fmt::Debug + Send + Sync {
    /// Each image's score `[N]`.
    fn scores(&self, outputs: &Outputs, classes: &Tensor<1, Int>) -> Tensor<1>;

    /// The score as it is differentiated, its gradient computed as `gradient` says (the class
    /// scores of [`Score`] have a form without cancellation; a target without one returns
    /// [`Target::scores`], the default).
    fn differentiable(
        &self,
        outputs: &Outputs,
        classes: &Tensor<1, Int>,
        gradient: ScoreGradient,
    ) -> Tensor<1> {
        let _ = gradient;
        self.scores(outputs, classes)
    }

    /// Checks the target against a model with `outputs` outputs (before any score is taken):
    /// a class it reads must exist.
    fn check(&self, outputs: usize) -> Result<()> {
        let _ = outputs;
        Ok(())
    }

    /// Checks the target against the shape of the model's output map (`None`: the model has
    /// none) before it scores: a target that reads the map ([`Region`]) refuses a classifier,
    /// or a map of another size than its region's.
    fn check_map(&self, map: Option<[usize; 4]>) -> Result<()> {
        let _ = map;
        Ok(())
    }

    /// The Hessian of each image's score with respect to its logits, times `direction`
    /// `[N, K]` (row by row): how the score's logit gradient changes along `direction`, what
    /// [`crate::ShapleyCam`]'s Hessian-vector product needs. `None`, the default, for a target
    /// that does not give it; the class scores of [`Score`], [`ReSt`] and [`ClassSum`] do.
    ///
    /// ```
    /// use burn::tensor::{Device, Int, Tensor};
    /// use gradcam_explain::{OutputLayer, Outputs, Score, Target};
    ///
    /// let device = Device::default();
    /// let outputs = Outputs::new(Tensor::<2>::from_floats([[0.0, 0.0]], &device), OutputLayer::Identity);
    /// let class = Tensor::<1, Int>::from_ints([0], &device);
    /// let along = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
    /// // A logit is linear in the logits; log p₀ = z₀ − logsumexp(z) curves by −(diag p − p pᵀ).
    /// let logit = Score::Logit.hessian_product(&outputs, &class, along.clone()).unwrap();
    /// assert_eq!(logit.into_data().to_vec::<f32>().unwrap(), [0.0, 0.0]);
    /// let log_p = Score::ModelOutput.hessian_product(
    ///     &Outputs::new(outputs.logits(), OutputLayer::LogSoftmax), &class, along).unwrap();
    /// assert_eq!(log_p.into_data().to_vec::<f32>().unwrap(), [-0.25, 0.25]);
    /// ```
    fn hessian_product(
        &self,
        outputs: &Outputs,
        classes: &Tensor<1, Int>,
        direction: Tensor<2>,
    ) -> Option<Tensor<2>> {
        let _ = (outputs, classes, direction);
        None
    }

    /// A short name for captions and reports ("logit", "sum of classes 3, 8").
    fn label(&self) -> String;
}

/// `target`'s scores `[N]` of `outputs` (differentiable with `gradient` when given), checked
/// to be one per image: a [`TargetFn`] is the user's code.
pub(crate) fn scores_of(
    target: &dyn Target,
    outputs: &Outputs,
    classes: &Tensor<1, Int>,
    gradient: Option<ScoreGradient>,
) -> Result<Tensor<1>> {
    target.check_map(outputs.map.as_ref().map(Tensor::dims))?;
    let scores = match gradient {
        Some(gradient) => target.differentiable(outputs, classes, gradient),
        None => target.scores(outputs, classes),
    };
    let [batch, _] = outputs.dims();
    if scores.dims() == [batch] {
        Ok(scores)
    } else {
        Err(ExplainError::TargetShape {
            target: target.label(),
            batch,
            found: scores.dims().to_vec(),
        })
    }
}
