//! What a pass predicted and what it explains: the logits, the classes resolved, the target.

use std::sync::Arc;

use burn::tensor::{Int, Tensor, activation};

use crate::attribution::Input;
use crate::checks::Checks;
use crate::error::{ExplainError, Result, Stage};
use crate::forward::{checked_features, checked_outputs};
use crate::host::Read;
use crate::maps::Prediction;
use crate::model::{Explainable, OutputLayer, ReluMode};
use crate::target::{Outputs, Score, ScoreGradient, Target, Targets, predicted, scores_of};

/// The model's logits for a batch and the classes explained, on the device.
#[derive(Clone, Debug)]
pub struct Predictions {
    logits: Tensor<2>,
    output_layer: OutputLayer,
    /// A dense-output model's map `[N, classes, H, W]` (what a region target reads).
    map: Option<Tensor<4>>,
    classes: Tensor<1, Int>,
    target: Arc<dyn Target>,
    gradient: ScoreGradient,
    /// The checks of the pass that computed the logits (logits, feature maps, gradients).
    checks: Checks,
}

impl Predictions {
    /// The predictions of `model`'s logits `[N, classes]` for `targets`: the targets are
    /// resolved (the predicted classes found on the device, or the given ones checked against
    /// the batch size and the number of classes; the target checked against the outputs).
    pub fn from_logits(
        model: &dyn Explainable,
        logits: Tensor<2>,
        targets: &Targets,
    ) -> Result<Self> {
        Self::from_outputs(model, &Outputs::new(logits, model.output_layer()), targets)
    }

    /// [`Predictions::from_logits`] of a model's whole outputs (a dense-output model's map
    /// with its pooled scores).
    pub fn from_outputs(
        model: &dyn Explainable,
        outputs: &Outputs,
        targets: &Targets,
    ) -> Result<Self> {
        let predictions = Self::resolved(model, outputs, targets)?;
        // Once here, so that `scores` cannot meet a target that scores the wrong count.
        predictions.scores_of(&predictions.outputs(), &predictions.classes)?;
        Ok(predictions)
    }

    /// [`Predictions::from_logits`] of a pass that is differentiated, and the summed score of
    /// the targets to differentiate (`logits` still on the pass's graph): one score of the
    /// targets serves both as the gradient's source and as the check that the target scores
    /// one value per image.
    pub(crate) fn with_total(
        model: &dyn Explainable,
        outputs: Outputs,
        targets: &Targets,
    ) -> Result<(Self, Tensor<1>)> {
        let predictions = Self::resolved(model, &outputs, targets)?;
        let total = targets.total(&outputs, &predictions.classes)?;
        Ok((predictions, total))
    }

    /// The outputs detached, the targets resolved, the logits' check recorded.
    fn resolved(model: &dyn Explainable, outputs: &Outputs, targets: &Targets) -> Result<Self> {
        let outputs = outputs.detached();
        let logits = outputs.logits();
        let classes = targets.resolve(&logits)?;
        Ok(Self {
            checks: Checks::finite(Stage::Logits, &logits, 1),
            logits,
            output_layer: model.output_layer(),
            map: outputs.map(),
            classes,
            target: targets.target().clone(),
            gradient: targets.gradient(),
        })
    }

    /// The target's scores `[M]` of other outputs `[M, classes]` of the same model, image `i`
    /// scored at `classes[i]` (perturbed or ablated copies of the images).
    pub(crate) fn scores_of(
        &self,
        outputs: &Outputs,
        classes: &Tensor<1, Int>,
    ) -> Result<Tensor<1>> {
        scores_of(self.target.as_ref(), outputs, classes, None)
    }

    /// The target's Hessian with respect to the logits times `direction` `[N, K]`, at these
    /// predictions' outputs and classes ([`crate::Target::hessian_product`]); the target's label
    /// when it gives none.
    pub(crate) fn hessian_product(
        &self,
        direction: Tensor<2>,
    ) -> std::result::Result<Tensor<2>, String> {
        self.target
            .hessian_product(&self.outputs(), &self.classes, direction)
            .ok_or_else(|| self.target.label())
    }

    /// The pass's outputs as a target reads them.
    pub fn outputs(&self) -> Outputs {
        Outputs::from_parts(self.logits.clone(), self.output_layer, self.map.clone())
    }

    /// The predictions of a plain forward pass of `model` on a checked batch.
    pub fn of(model: &dyn Explainable, input: &Input, targets: &Targets) -> Result<Self> {
        let features = checked_features(model, input.tensor().clone(), ReluMode::Standard)?;
        let outputs = checked_outputs(model, features, ReluMode::Standard, input.len())?;
        Self::from_outputs(model, &outputs, targets)
    }

    /// The same classes and score for other outputs of the same images (a baseline's).
    pub(crate) fn with_outputs(&self, outputs: &Outputs) -> Self {
        let outputs = outputs.detached();
        let logits = outputs.logits();
        Self {
            checks: self
                .checks
                .clone()
                .and(Checks::finite(Stage::Logits, &logits, 1)),
            logits,
            map: outputs.map(),
            ..self.clone()
        }
    }

    pub(crate) fn checks(&self) -> &Checks {
        &self.checks
    }

    /// With the checks of other values of the same pass (feature maps, gradients).
    pub(crate) fn with_checks(mut self, checks: Checks) -> Self {
        self.checks = self.checks.and(checks);
        self
    }

    /// The pre-softmax logits `[N, classes]`.
    pub fn logits(&self) -> &Tensor<2> {
        &self.logits
    }

    /// The softmax probabilities `[N, classes]`.
    pub fn probabilities(&self) -> Tensor<2> {
        activation::softmax(self.logits.clone(), 1)
    }

    /// The arg-max class of each image `[N]`.
    pub fn predicted(&self) -> Tensor<1, Int> {
        predicted(self.logits.clone())
    }

    /// The class explained for each image `[N]`.
    pub fn classes(&self) -> &Tensor<1, Int> {
        &self.classes
    }

    /// Each image's target score, `[N]` (per [`Predictions::target`]).
    pub fn scores(&self) -> Tensor<1> {
        self.target.scores(&self.outputs(), &self.classes)
    }

    /// A dense-output model's map `[N, classes, H, W]` (`None` for a classifier).
    pub fn map(&self) -> Option<&Tensor<4>> {
        self.map.as_ref()
    }

    /// The target [`Predictions::scores`] gives.
    pub fn target(&self) -> &Arc<dyn Target> {
        &self.target
    }

    /// The same predictions scored by another [`Score`] of their classes (no forward pass).
    pub fn with_score(&self, score: Score) -> Self {
        Self {
            target: Arc::new(score),
            ..self.clone()
        }
    }

    /// These classes as targets for another method or another batch of the same images,
    /// with the same target and gradient: every method then explains the same thing.
    pub fn targets(&self) -> Targets {
        Targets::resolved(self.classes.clone(), self.target.clone(), self.gradient)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.classes.dims()[0]
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the scores only to the host (after the checks: a NaN in the logits is an error).
    pub fn read_scores(&self) -> Result<Vec<f32>> {
        let mut values = self
            .checks
            .register(Read::default())
            .float(self.scores())
            .execute()?;
        self.checks.verdict(&mut values)?;
        values.floats()
    }

    /// Reads the predictions to the host (after the checks: a NaN in the logits is an error).
    pub fn to_host(&self) -> Result<Vec<Prediction>> {
        let read = self.register(self.checks.register(Read::default()));
        let mut values = read.execute()?;
        self.checks.verdict(&mut values)?;
        self.take(&mut values)
    }

    pub(crate) fn register(&self, read: Read) -> Read {
        read.float(self.probabilities())
            .int(self.predicted())
            .int(self.classes.clone())
            .float(self.scores())
    }

    pub(crate) fn take(&self, values: &mut crate::host::Values) -> Result<Vec<Prediction>> {
        let [n, classes] = self.logits.dims();
        let probabilities = values.floats()?;
        let predicted = values.indices()?;
        let targets = values.indices()?;
        let scores = values.floats()?;
        if probabilities.len() != n * classes || scores.len() != n {
            return Err(ExplainError::DeviceRead {
                reason: format!("predictions of {n} images came back incomplete"),
            });
        }
        Ok((0..n)
            .map(|i| Prediction {
                predicted: predicted[i],
                probabilities: probabilities[i * classes..(i + 1) * classes].to_vec(),
                target: targets[i],
                score: scores[i],
            })
            .collect())
    }
}
