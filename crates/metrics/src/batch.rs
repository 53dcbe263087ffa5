//! The scorer every metric is built on: a model, a score and a pass size; and the prepared
//! batch — its clean forward pass done once, its images on the host for perturbation.

use std::sync::Arc;

use burn::tensor::{Tensor, TensorData};
use gradcam_explain::{
    Attribution, ExplainError, Explainable, Input, Map, Predictions, Score, Targets,
};

use crate::error::{MetricError, Result};

/// Scores images with one model: each image's [`Score`] at its target class, without
/// gradients, in forward passes of at most `batch_size` images.
///
/// ```no_run
/// # use gradcam_metrics::{CurveConfig, Scorer, deletion_curves};
/// # use gradcam_explain::{Score, Targets};
/// # fn run(model: &dyn gradcam_explain::Explainable, input: burn::tensor::Tensor<4>,
/// #        maps: &[gradcam_explain::Map]) -> gradcam_metrics::Result<()> {
/// let scorer = Scorer::new(model, Score::Probability).with_batch_size(512);
/// let batch = scorer.prepare(input, &Targets::predicted())?; // the one clean forward pass
/// let deletion = deletion_curves(&batch, maps, &CurveConfig::new())?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct Scorer<'m> {
    model: &'m dyn Explainable,
    score: Score,
    batch_size: usize,
}

impl<'m> Scorer<'m> {
    /// Most images per forward pass unless set.
    pub const DEFAULT_BATCH_SIZE: usize = 1024;

    /// A scorer of `model`'s `score`, in passes of [`Scorer::DEFAULT_BATCH_SIZE`] images.
    pub fn new(model: &'m dyn Explainable, score: Score) -> Self {
        Self {
            model,
            score,
            batch_size: Self::DEFAULT_BATCH_SIZE,
        }
    }

    /// At most `batch_size` images (at least 1) per forward pass.
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self {
            batch_size: batch_size.max(1),
            ..self
        }
    }

    /// The same scorer with another score.
    pub fn with_score(self, score: Score) -> Self {
        Self { score, ..self }
    }

    /// The model scored.
    pub fn model(&self) -> &'m dyn Explainable {
        self.model
    }

    /// The score.
    pub fn score(&self) -> Score {
        self.score
    }

    /// Most images per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Checks a batch `[N, C, H, W]`, runs its clean forward pass once (the target classes
    /// resolved: the predicted ones, or those given, checked) and keeps its images on the host
    /// for the metrics to perturb. The classes of `targets` are used; the score is this
    /// scorer's.
    pub fn prepare(&self, input: Tensor<4>, targets: &Targets) -> Result<Batch<'m>> {
        let input = Input::new(self.model, input)?;
        let n = input.len();
        let targets = targets.clone().with_score(self.score);
        let mut logits = Vec::with_capacity(n.div_ceil(self.batch_size));
        for start in (0..n).step_by(self.batch_size) {
            let len = self.batch_size.min(n - start);
            let predictions = Predictions::of(
                self.model,
                &input.narrow(start, len),
                &targets.narrow(start, len),
            )
            .map_err(|error| offset_error(error, start))?;
            logits.push(predictions.logits().clone());
        }
        let predictions = Predictions::from_logits(self.model, Tensor::cat(logits, 0), &targets)?;
        let images = input.to_host()?;
        let clean = predictions.to_host()?;
        Ok(Batch {
            scorer: *self,
            shape: input.tensor().dims(),
            images: Arc::new(images.into_iter().flat_map(|m| m.values).collect()),
            classes: clean.iter().map(|p| p.target).collect(),
            clean: clean.iter().map(|p| p.score).collect(),
            predictions,
        })
    }

    /// The scores of host images `[count, C, H, W]` (row-major `values`), image `i` at
    /// `classes[i]`, in passes of at most `batch_size` images and read back once.
    pub(crate) fn scores(
        &self,
        values: &[f32],
        image: [usize; 3],
        classes: &[usize],
    ) -> Result<Vec<f32>> {
        let per_image = image.iter().product::<usize>().max(1);
        let device = self.model.device();
        let mut logits = Vec::with_capacity(classes.len().div_ceil(self.batch_size));
        for start in (0..classes.len()).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(classes.len());
            let chunk = Tensor::<4>::from_data(
                TensorData::new(
                    values[start * per_image..end * per_image].to_vec(),
                    [end - start, image[0], image[1], image[2]],
                ),
                &device,
            );
            let chunk = Input::new(self.model, chunk)?;
            let chunk_targets = Targets::classes(&classes[start..end]);
            logits.push(
                Predictions::of(self.model, &chunk, &chunk_targets)?
                    .logits()
                    .clone(),
            );
        }
        let targets = Targets::classes(classes).with_score(self.score);
        let predictions = Predictions::from_logits(self.model, Tensor::cat(logits, 0), &targets)?;
        Ok(predictions.read_scores()?)
    }
}

/// A batch prepared by a [`Scorer`]: its images on the host, its target classes resolved and
/// its clean scores computed, once, for every metric that scores it.
#[derive(Clone)]
pub struct Batch<'m> {
    scorer: Scorer<'m>,
    shape: [usize; 4],
    images: Arc<Vec<f32>>,
    classes: Vec<usize>,
    clean: Vec<f32>,
    predictions: Predictions,
}

impl<'m> Batch<'m> {
    /// The same batch scored by another [`Score`] (the clean scores are recomputed from the
    /// clean logits: no forward pass).
    pub fn with_score(&self, score: Score) -> Result<Batch<'m>> {
        let predictions = self.predictions.with_score(score);
        Ok(Self {
            scorer: self.scorer.with_score(score),
            clean: predictions.read_scores()?,
            predictions,
            ..self.clone()
        })
    }

    /// The scorer.
    pub fn scorer(&self) -> &Scorer<'m> {
        &self.scorer
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch is empty (never: [`Scorer::prepare`] refuses an empty batch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// The target class of each image.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    /// These classes as targets, scored by the batch's score.
    pub fn targets(&self) -> Targets {
        self.predictions.targets()
    }

    /// The clean images' scores.
    pub fn clean_scores(&self) -> &[f32] {
        &self.clean
    }

    /// The clean predictions (on the device).
    pub fn predictions(&self) -> &Predictions {
        &self.predictions
    }

    /// The images as a tensor on the model's device.
    pub fn input(&self) -> Tensor<4> {
        self.images_tensor(0, self.len())
    }

    /// `[C, H, W]` of one image.
    pub(crate) fn image_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }

    pub(crate) fn per_image(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    pub(crate) fn pixels(&self) -> usize {
        self.shape[2] * self.shape[3]
    }

    /// Every image's values, row-major `[N, C, H, W]`.
    pub(crate) fn images(&self) -> &[f32] {
        &self.images
    }

    pub(crate) fn image(&self, index: usize) -> &[f32] {
        let size = self.per_image();
        &self.images[index * size..(index + 1) * size]
    }

    /// Images `start..start + len` as a tensor on the model's device.
    pub(crate) fn images_tensor(&self, start: usize, len: usize) -> Tensor<4> {
        let values =
            self.images[start * self.per_image()..(start + len) * self.per_image()].to_vec();
        let [_, c, h, w] = self.shape;
        Tensor::from_data(
            TensorData::new(values, [len, c, h, w]),
            &self.scorer.model.device(),
        )
    }

    /// The scores of host images built from this batch (image `i` at `classes[i]`).
    pub(crate) fn scores(&self, values: &[f32], classes: &[usize]) -> Result<Vec<f32>> {
        self.scorer.scores(values, self.image_shape(), classes)
    }

    /// Checks one finite map per image, each `[C, H, W]` or `[1, H, W]`.
    pub(crate) fn check_maps(&self, maps: &[Map]) -> Result<()> {
        if maps.len() != self.len() {
            return Err(MetricError::MapCount {
                found: maps.len(),
                batch: self.len(),
            });
        }
        let expected = self.image_shape();
        for (index, map) in maps.iter().enumerate() {
            let fits = map.shape[1..] == expected[1..]
                && (map.shape[0] == expected[0] || map.shape[0] == 1)
                && map.values.len() == map.shape.iter().product::<usize>();
            if !fits {
                return Err(MetricError::MapShape {
                    index,
                    expected,
                    found: map.shape,
                });
            }
            if let Some(element) = map.values.iter().position(|v| !v.is_finite()) {
                return Err(MetricError::NonFiniteMap { index, element });
            }
        }
        Ok(())
    }

    /// Checks the maps and returns each one's per-pixel relevance (summed over channels),
    /// `H × W` values per image.
    pub(crate) fn pixel_relevance(&self, maps: &[Map]) -> Result<Vec<Vec<f32>>> {
        self.check_maps(maps)?;
        let pixels = self.pixels();
        Ok(maps
            .iter()
            .map(|map| {
                let mut relevance = vec![0.0_f32; pixels];
                for channel in map.values.chunks(pixels) {
                    for (r, v) in relevance.iter_mut().zip(channel) {
                        *r += v;
                    }
                }
                relevance
            })
            .collect())
    }
}

/// The map's value for every element of a `[C, H, W]` image (a one-channel map is repeated
/// over the channels).
pub(crate) fn broadcast(map: &Map, channels: usize) -> Vec<f32> {
    if map.shape[0] == channels {
        map.values.clone()
    } else {
        map.values.repeat(channels)
    }
}

/// Every image's map for `method`, explained in passes of at most `batch_size` images so that
/// memory stays bounded on large batches, read to the host. An error names the image within
/// the whole batch.
pub fn method_maps<A: Attribution + ?Sized>(
    model: &dyn Explainable,
    method: &A,
    input: Tensor<4>,
    targets: &Targets,
    batch_size: usize,
) -> Result<Vec<Map>> {
    let input = Input::new(model, input)?;
    let n = input.len();
    let per_pass = batch_size.max(1);
    let mut maps = Vec::with_capacity(n);
    for start in (0..n).step_by(per_pass) {
        let len = per_pass.min(n - start);
        let explained = method
            .attribute_input(
                model,
                &input.narrow(start, len),
                &targets.narrow(start, len),
            )
            .and_then(|a| a.to_maps())
            .map_err(|error| offset_error(error, start))?;
        maps.extend(explained);
    }
    Ok(maps)
}

/// An error of a pass starting at image `offset`, naming the image within the whole batch.
pub(crate) fn offset_error(error: ExplainError, offset: usize) -> ExplainError {
    match error {
        ExplainError::NonFinite {
            stage,
            index,
            element,
        } => ExplainError::NonFinite {
            stage,
            index: index + offset,
            element,
        },
        ExplainError::TargetOutOfRange {
            index,
            target,
            classes,
        } => ExplainError::TargetOutOfRange {
            index: index + offset,
            target,
            classes,
        },
        other => other,
    }
}

/// `samples` perturbations per image of a batch of shape `dims`, image-major, their values
/// drawn by `draw(count)`; refused when they would exceed [`crate::error::MAX_PERTURBED_VALUES`].
pub(crate) fn perturbations(
    dims: [usize; 4],
    samples: usize,
    draw: impl FnOnce(usize) -> Vec<f32>,
) -> Result<Perturbations> {
    let [n, c, h, w] = dims;
    let count = crate::error::perturbed_values(n, samples, c * h * w)?;
    Ok(Perturbations {
        values: draw(count),
        samples,
    })
}

/// Perturbations of a batch, on the host: `samples` per image, image-major.
pub(crate) struct Perturbations {
    pub values: Vec<f32>,
    pub samples: usize,
}

impl Perturbations {
    /// Given perturbations `[N · samples, C, H, W]` of `batch`, checked and read to the host.
    pub fn given(batch: &Batch<'_>, tensor: Tensor<4>) -> Result<Self> {
        let dims = tensor.dims();
        let n = batch.len();
        let fits = dims[0] > 0 && dims[0].is_multiple_of(n) && dims[1..] == batch.shape[1..];
        if !fits {
            return Err(MetricError::PerturbationShape {
                found: dims,
                batch: batch.shape,
            });
        }
        let values: Vec<f32> = Map::from_batch(tensor)?
            .into_iter()
            .flat_map(|m| m.values)
            .collect();
        if let Some(position) = values.iter().position(|v| !v.is_finite()) {
            let per_image = batch.per_image().max(1);
            return Err(MetricError::NonFiniteMap {
                index: position / per_image,
                element: position % per_image,
            });
        }
        Ok(Self {
            values,
            samples: dims[0] / n,
        })
    }

    /// Perturbation `sample` of image `index`.
    pub fn of(&self, batch: &Batch<'_>, index: usize, sample: usize) -> &[f32] {
        let size = batch.per_image();
        let at = (index * self.samples + sample) * size;
        &self.values[at..at + size]
    }
}
