//! The perturbation engine shared by the model-agnostic methods (occlusion, feature ablation,
//! Shapley value sampling, KernelSHAP): perturbed copies of the batch are built on the device,
//! at most `batch_size` images per forward pass, and scored with the target; what a method does
//! with the scores is its own.
//!
//! A perturbation keeps some pixels of each image and sets the rest to the baseline:
//! `x · keep + b · (1 − keep)`, exact for a 0/1 `keep`. The feature methods say which features
//! they keep ([`FeatureMask`], segment ids per pixel), and the ids turn their choices into pixel
//! masks on the device.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::Input;
use crate::error::{Result, SettingError};
use crate::forward::{checked_features, checked_outputs};
use crate::model::{Explainable, ReluMode};
use crate::predictions::Predictions;
use crate::resize::gaussian_blur;
use crate::target::Targets;

/// The features a perturbation method turns on and off: a segment id per pixel (Captum's
/// `feature_mask`). Features are numbered from 0; their count is the largest id plus one.
///
/// ```
/// use gradcam_explain::FeatureMask;
/// // A 2×2 grid over 4×4 images: ids 0 1 / 2 3 in 2×2 blocks.
/// let grid = FeatureMask::grid(2, 2);
/// assert_eq!(grid.ids([1, 1, 4, 4]).unwrap(), (vec![0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3], 4));
/// // The caller's segments (superpixels, say), one map shared by every image and channel.
/// let given = FeatureMask::given(vec![0, 1, 1, 2], [1, 1, 2, 2]);
/// assert_eq!(given.ids([3, 1, 2, 2]).unwrap().1, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureMask {
    /// A grid of `rows × cols` cells over each image, numbered row-major and shared by every
    /// channel: pixel `(y, x)` of an `H × W` image is in cell `(y·rows/H, x·cols/W)` (integer
    /// division, so cells differ by at most a pixel when the grid does not divide the image).
    Grid {
        /// Cells down the image (1 to its height).
        rows: usize,
        /// Cells across it (1 to its width).
        cols: usize,
    },
    /// The caller's ids, row-major `[N or 1, C or 1, H, W]`: per image or shared by the batch,
    /// per channel or shared by the channels.
    Given {
        /// A segment id per element.
        ids: Vec<u32>,
        /// Their shape.
        shape: [usize; 4],
    },
}

impl Default for FeatureMask {
    /// A 7 × 7 grid: 49 features at any image size.
    fn default() -> Self {
        Self::grid(7, 7)
    }
}

impl FeatureMask {
    /// A grid of `rows × cols` cells ([`FeatureMask::Grid`]).
    pub fn grid(rows: usize, cols: usize) -> Self {
        Self::Grid { rows, cols }
    }

    /// The caller's ids of shape `[N or 1, C or 1, H, W]` ([`FeatureMask::Given`]).
    pub fn given(ids: Vec<u32>, shape: [usize; 4]) -> Self {
        Self::Given { ids, shape }
    }

    /// The ids of every element of a batch `[N, C, H, W]`, row-major, and the number of
    /// features; refused (naming the field) when the mask does not fit the batch.
    pub fn ids(&self, batch: [usize; 4]) -> Result<(Vec<u32>, usize)> {
        let [n, c, h, w] = batch;
        let owner = "FeatureMask";
        let ids: Vec<u32> = match self {
            Self::Grid { rows, cols } => {
                SettingError::check(
                    (1..=h).contains(rows) && (1..=w).contains(cols),
                    owner,
                    "grid",
                    format!("{rows} × {cols} cells for {h} × {w} images"),
                    "between 1 and the image's height rows and width columns",
                )?;
                let plane: Vec<u32> = (0..h * w)
                    .map(|i| ((i / w) * rows / h * cols + (i % w) * cols / w) as u32)
                    .collect();
                (0..n * c).flat_map(|_| plane.iter().copied()).collect()
            }
            Self::Given { ids, shape } => {
                let [mn, mc, mh, mw] = *shape;
                SettingError::check(
                    (mn == 1 || mn == n)
                        && (mc == 1 || mc == c)
                        && [mh, mw] == [h, w]
                        && ids.len() == shape.iter().product::<usize>(),
                    owner,
                    "ids",
                    format!("{} ids of shape {shape:?} for a batch {batch:?}", ids.len()),
                    "a shape [N or 1, C or 1, H, W] of the batch's, holding as many ids",
                )?;
                let plane = h * w;
                (0..n * c)
                    .flat_map(|i| {
                        let (image, channel) = ((i / c) % mn, (i % c) % mc);
                        let start = (image * mc + channel) * plane;
                        ids[start..start + plane].iter().copied()
                    })
                    .collect()
            }
        };
        let count = ids.iter().max().map_or(0, |&m| m as usize + 1);
        Ok((ids, count))
    }
}

/// What a perturbed pixel becomes.
///
/// ```
/// use gradcam_explain::PerturbationBaseline;
/// assert_eq!(PerturbationBaseline::default(), PerturbationBaseline::Constant(0.0));
/// // A blur removes the detail and keeps the colours (Fong and Vedaldi's "blur" perturbation).
/// let blurred = PerturbationBaseline::Blurred { kernel_size: 31, sigma: 8.0 };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerturbationBaseline {
    /// One value everywhere (Captum's scalar `baselines`, in the model's input units).
    Constant(f32),
    /// Each image's own mean of each channel (Captum's `baselines=x.mean((2, 3), keepdim=True)`).
    ChannelMean,
    /// The image blurred by a Gaussian, as torchvision's `gaussian_blur(x, [kernel_size] * 2,
    /// [sigma] * 2)` (Captum's `baselines=` that tensor): an odd `kernel_size` whose half is
    /// below the image's height and width (the border is reflected), `sigma` above 0.
    Blurred {
        /// Taps of the kernel along each axis (odd).
        kernel_size: usize,
        /// The Gaussian's standard deviation, in pixels.
        sigma: f32,
    },
}

impl Default for PerturbationBaseline {
    fn default() -> Self {
        Self::Constant(0.0)
    }
}

impl PerturbationBaseline {
    /// The baseline images `[N, C, H, W]` of `input`'s images.
    pub(crate) fn images(self, owner: &'static str, input: &Input) -> Result<Tensor<4>> {
        let x = input.tensor();
        let dims = x.dims();
        match self {
            Self::Constant(value) => {
                SettingError::check(
                    value.is_finite(),
                    owner,
                    "baseline",
                    value,
                    "a finite value",
                )?;
                Ok(Tensor::full(dims, value, &x.device()))
            }
            Self::Blurred { kernel_size, sigma } => {
                let [_, _, h, w] = dims;
                SettingError::check(
                    kernel_size % 2 == 1 && kernel_size / 2 < h.min(w),
                    owner,
                    "baseline",
                    format!("a blur of {kernel_size} taps for {h} × {w} images"),
                    "an odd kernel size whose half is below the image's height and width",
                )?;
                SettingError::check(
                    sigma.is_finite() && sigma > 0.0,
                    owner,
                    "baseline",
                    format!("a blur of sigma {sigma}"),
                    "a finite sigma above 0",
                )?;
                Ok(gaussian_blur(x.clone(), kernel_size, sigma))
            }
            Self::ChannelMean => {
                let [n, c, h, w] = dims;
                Ok(x.clone()
                    .reshape([n, c, h * w])
                    .mean_dim(2)
                    .reshape([n, c, 1, 1])
                    .expand(dims))
            }
        }
    }
}

/// The feature ids of a batch on the device, `[N, C·H·W]`, and their count.
#[derive(Clone, Debug)]
pub(crate) struct FeatureIds {
    ids: Tensor<2, Int>,
    count: usize,
}

impl FeatureIds {
    /// `mask`'s ids for `input`'s batch, refused (`owner`'s `mask`) when it has no feature.
    pub fn new(owner: &'static str, mask: &FeatureMask, input: &Input) -> Result<Self> {
        let dims = input.tensor().dims();
        let (ids, count) = mask.ids(dims)?;
        SettingError::check(
            count > 0,
            owner,
            "mask",
            "no feature",
            "at least one feature",
        )?;
        let [n, c, h, w] = dims;
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        let ids = Tensor::from_data(
            TensorData::new(ids, [n, c * h * w]),
            &input.tensor().device(),
        );
        Ok(Self { ids, count })
    }

    /// The number of features.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Each feature's sum of `values` `[N, C·H·W]`: `[N, F]`.
    pub fn sum(&self, values: Tensor<2>) -> Tensor<2> {
        let n = values.dims()[0];
        Tensor::zeros([n, self.count], &values.device()).scatter(
            1,
            self.ids.clone(),
            values,
            IndexingUpdateOp::Add,
        )
    }

    /// Each element's value in `per_feature` `[N, F]`: the map `[N, C, H, W]` of a batch `dims`.
    pub fn spread(&self, per_feature: Tensor<2>, dims: [usize; 4]) -> Tensor<4> {
        per_feature.gather(1, self.ids.clone()).reshape(dims)
    }
}

/// Checks the caller's subsets of features (KernelSHAP's coalitions, Lime's samples): one list
/// per image or one for every image, of equal length, each subset `features` values of 0 or 1.
/// Returns the subsets per list.
pub(crate) fn check_subsets(
    owner: &'static str,
    field: &'static str,
    lists: &[Vec<Vec<f32>>],
    images: usize,
    features: usize,
) -> Result<usize> {
    let samples = lists.first().map_or(0, Vec::len);
    SettingError::check(
        (lists.len() == 1 || lists.len() == images)
            && samples > 0
            && lists.iter().all(|list| {
                list.len() == samples
                    && list
                        .iter()
                        .all(|c| c.len() == features && c.iter().all(|&v| v == 0.0 || v == 1.0))
            }),
        owner,
        field,
        format!(
            "{} lists for {images} images of {features} features",
            lists.len()
        ),
        "one list per image or one for all, of equal length, each of F values 0 or 1",
    )?;
    Ok(samples)
}

/// A batch, its baseline and its predictions, ready to be perturbed and scored.
pub(crate) struct Perturbation<'a> {
    model: &'a dyn Explainable,
    x: Tensor<4>,
    baseline: Tensor<4>,
    predictions: Predictions,
    batch_size: usize,
}

impl<'a> Perturbation<'a> {
    /// The batch of `input` with `baseline` `[N, C, H, W]`, scored for `targets` in passes of
    /// at most `batch_size` images (`owner`'s setting; at least one image per pass).
    pub fn new(
        owner: &'static str,
        model: &'a dyn Explainable,
        input: &Input,
        targets: &Targets,
        baseline: Tensor<4>,
        batch_size: usize,
    ) -> Result<Self> {
        SettingError::check(
            batch_size > 0,
            owner,
            "batch_size",
            batch_size,
            "at least 1",
        )?;
        Ok(Self {
            model,
            x: input.tensor().clone(),
            baseline,
            predictions: Predictions::of(model, input, targets)?,
            batch_size,
        })
    }

    /// The unperturbed batch's predictions.
    pub fn predictions(&self) -> &Predictions {
        &self.predictions
    }

    /// Perturbations of every image per forward pass (at least one).
    pub fn per_pass(&self) -> usize {
        (self.batch_size / self.x.dims()[0]).max(1)
    }

    /// The scores `[P, N]` of `P` perturbations of every image in one forward pass: perturbation
    /// `p` keeps the pixels where `keep` `[P, N or 1, C·H·W]` is 1 and sets the rest to the
    /// baseline.
    pub fn score(&self, keep: Tensor<3>) -> Result<Tensor<2>> {
        let [n, c, h, w] = self.x.dims();
        let len = keep.dims()[0];
        let x = self.x.clone().reshape([1, n, c * h * w]);
        let b = self.baseline.clone().reshape([1, n, c * h * w]);
        // Exact where keep is 0 or 1: the kept pixels are the image's own values.
        let perturbed = x * keep.clone() + b * (keep.neg() + 1.0);
        let perturbed = perturbed.reshape([len * n, c, h, w]);
        let features = checked_features(self.model, perturbed, ReluMode::Standard)?;
        let outputs = checked_outputs(self.model, features, ReluMode::Standard, len * n)?;
        let classes = self.predictions.classes().clone().repeat_dim(0, len);
        Ok(self
            .predictions
            .scores_of(&outputs, &classes)?
            .reshape([len, n]))
    }

    /// The scores `[P, N]` of `count` perturbations of every image, [`Perturbation::per_pass`]
    /// at a time: `keep(start, len)` gives perturbations `start..start + len` as
    /// [`Perturbation::score`] takes them.
    pub fn scores(
        &self,
        count: usize,
        keep: impl Fn(usize, usize) -> Tensor<3>,
    ) -> Result<Tensor<2>> {
        let per_pass = self.per_pass();
        let scores = (0..count)
            .step_by(per_pass)
            .map(|start| self.score(keep(start, per_pass.min(count - start))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(scores, 0))
    }

    /// The scores `[P, N]` of `count` feature selections: `on(start, len)` gives selections
    /// `start..start + len` of every image, row-major `[len, N, F]` (1 keeps a feature, 0 sets it
    /// to the baseline).
    pub fn feature_scores(
        &self,
        ids: &FeatureIds,
        count: usize,
        on: impl Fn(usize, usize) -> Vec<f32>,
    ) -> Result<Tensor<2>> {
        let n = self.x.dims()[0];
        let device = self.x.device();
        let features = ids.count();
        self.scores(count, |start, len| {
            let on = Tensor::<2>::from_data(
                TensorData::new(on(start, len), [len * n, features]),
                &device,
            );
            let keep = on.gather(1, ids.ids.clone().repeat_dim(0, len));
            let size = keep.dims()[1];
            keep.reshape([len, n, size])
        })
    }

    /// The scores `[S, N]` of each image with the features of its list's subsets kept (lists
    /// as [`check_subsets`] accepts them: one per image, or one for all).
    pub fn subset_scores(&self, ids: &FeatureIds, lists: &[Vec<Vec<f32>>]) -> Result<Tensor<2>> {
        let n = self.x.dims()[0];
        let samples = lists.first().map_or(0, Vec::len);
        let list = |image: usize| &lists[image % lists.len()];
        self.feature_scores(ids, samples, |start, len| {
            (start..start + len)
                .flat_map(|p| (0..n).flat_map(move |i| list(i)[p].iter().copied()))
                .collect()
        })
    }
}
