//! The host-side batch every metric perturbs, and the batched scoring of perturbed images.

use burn::tensor::{Device, Tensor, TensorData};
use gradcam_explain::{ExplainError, Explainable, Explainer, Map, Method, Prediction, Targets};

use crate::error::{MetricError, Result, perturbed_values};

/// Images on the host, row-major `[N, C, H, W]`.
#[derive(Clone, Debug)]
pub(crate) struct HostBatch {
    pub shape: [usize; 4],
    pub values: Vec<f32>,
}

impl HostBatch {
    pub fn from_tensor(tensor: Tensor<4>) -> Self {
        let shape = tensor.dims();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        Self { shape, values }
    }

    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// `[C, H, W]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }

    pub fn per_image(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    pub fn pixels(&self) -> usize {
        self.shape[2] * self.shape[3]
    }

    pub fn image(&self, index: usize) -> &[f32] {
        let size = self.per_image();
        &self.values[index * size..(index + 1) * size]
    }
}

/// `count` images `[count, C, H, W]` from host values.
pub(crate) fn to_tensor(values: Vec<f32>, image: [usize; 3], device: &Device) -> Tensor<4> {
    let count = values.len() / image.iter().product::<usize>().max(1);
    Tensor::from_data(
        TensorData::new(values, [count, image[0], image[1], image[2]]),
        device,
    )
}

/// Checks the batch and returns it on the host with its predictions (targets resolved and
/// checked), running the clean images in batches of `batch_size`.
pub(crate) fn resolve<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    batch_size: usize,
) -> Result<(HostBatch, Vec<Prediction>)> {
    let batch = HostBatch::from_tensor(input);
    let n = batch.len();
    check_batch(n, targets)?;
    let device = explainer.model().device();
    let per_pass = batch_size.max(1);
    let mut predictions = Vec::with_capacity(n);
    for start in (0..n).step_by(per_pass) {
        let end = (start + per_pass).min(n);
        let chunk = to_tensor(
            batch.values[start * batch.per_image()..end * batch.per_image()].to_vec(),
            batch.image_shape(),
            &device,
        );
        let chunk_targets = match targets {
            Targets::Predicted => Targets::Predicted,
            Targets::Classes(classes) => Targets::Classes(classes[start..end].to_vec()),
        };
        // Errors name the image within the whole batch, not within the pass.
        let scored = explainer
            .predict(chunk, &chunk_targets)
            .map_err(|error| offset_error(error, start))?;
        predictions.extend(scored);
    }
    Ok((batch, predictions))
}

fn offset_error(error: ExplainError, offset: usize) -> ExplainError {
    match error {
        ExplainError::NonFiniteInput { index, element } => ExplainError::NonFiniteInput {
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

/// Target scores (per the explainer's score) of host images `[count, C, H, W]` for `classes`
/// (one per image, already checked), in passes of at most `batch_size` images.
pub(crate) fn scores<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    values: &[f32],
    image: [usize; 3],
    classes: &[usize],
    batch_size: usize,
) -> Result<Vec<f32>> {
    let per_image = image.iter().product::<usize>().max(1);
    let device = explainer.model().device();
    let per_pass = batch_size.max(1);
    let mut scores = Vec::with_capacity(classes.len());
    for start in (0..classes.len()).step_by(per_pass) {
        let end = (start + per_pass).min(classes.len());
        let chunk = to_tensor(
            values[start * per_image..end * per_image].to_vec(),
            image,
            &device,
        );
        let predictions =
            explainer.predict(chunk, &Targets::Classes(classes[start..end].to_vec()))?;
        scores.extend(predictions.iter().map(|p| p.score));
    }
    Ok(scores)
}

/// Checks one map per image, each `[C, H, W]` or `[1, H, W]` and finite, and returns each
/// map's per-pixel relevance (summed over channels), `H × W` values per image.
pub(crate) fn pixel_relevance(batch: &HostBatch, maps: &[Map]) -> Result<Vec<Vec<f32>>> {
    check_maps(batch, maps)?;
    let pixels = batch.pixels();
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

/// Checks one finite map per image, each `[C, H, W]` or `[1, H, W]`.
pub(crate) fn check_maps(batch: &HostBatch, maps: &[Map]) -> Result<()> {
    if maps.len() != batch.len() {
        return Err(MetricError::MapCount {
            found: maps.len(),
            batch: batch.len(),
        });
    }
    let expected = batch.image_shape();
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

/// The map's value for every element of a `[C, H, W]` image (a one-channel map is repeated
/// over the channels).
pub(crate) fn broadcast(map: &Map, channels: usize) -> Vec<f32> {
    if map.shape[0] == channels {
        map.values.clone()
    } else {
        map.values.repeat(channels)
    }
}

/// Every image's map for `method` (the `attribution` of [`Explainer::attribution`]), explained
/// in passes of at most `batch_size` images so that memory stays bounded on large batches.
///
/// An error names the image within the whole batch.
pub fn method_maps<M: Explainable + ?Sized>(
    explainer: &Explainer<'_, M>,
    input: Tensor<4>,
    targets: &Targets,
    method: &Method,
    batch_size: usize,
) -> Result<Vec<Map>> {
    let n = input.dims()[0];
    check_batch(n, targets)?;
    let per_pass = batch_size.max(1);
    let mut maps = Vec::with_capacity(n);
    for start in (0..n).step_by(per_pass) {
        let end = (start + per_pass).min(n);
        let chunk_targets = match targets {
            Targets::Predicted => Targets::Predicted,
            Targets::Classes(classes) => Targets::Classes(classes[start..end].to_vec()),
        };
        let explained = explainer
            .attribution(
                input.clone().narrow(0, start, end - start),
                &chunk_targets,
                method,
            )
            .map_err(|error| offset_error(error, start))?;
        maps.extend(explained.into_iter().map(|e| e.attribution));
    }
    Ok(maps)
}

/// Refuses an empty batch and a target list of another length.
fn check_batch(n: usize, targets: &Targets) -> Result<()> {
    if n == 0 {
        return Err(ExplainError::EmptyBatch.into());
    }
    match targets {
        Targets::Classes(classes) if classes.len() != n => Err(ExplainError::TargetCount {
            targets: classes.len(),
            batch: n,
        }
        .into()),
        _ => Ok(()),
    }
}

/// `samples` perturbations per image of a batch of shape `dims`, `[N · samples, C, H, W]`
/// image-major, their values drawn by `draw(count)`; refused when they would exceed
/// [`crate::error::MAX_PERTURBED_VALUES`].
pub(crate) fn perturbations(
    dims: [usize; 4],
    samples: usize,
    device: &Device,
    draw: impl FnOnce(usize) -> Vec<f32>,
) -> Result<Tensor<4>> {
    let [n, c, h, w] = dims;
    let count = perturbed_values(n, samples, c * h * w)?;
    Ok(Tensor::from_data(
        TensorData::new(draw(count), [n * samples, c, h, w]),
        device,
    ))
}
