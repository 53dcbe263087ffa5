//! RISE: randomised input sampling for explanation (Petsiuk, Das and Saenko, 2018).

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::{Result, SettingError};
use crate::model::Explainable;
use crate::noise;
use crate::perturb::{Perturbation, PerturbationBaseline};
use crate::pixel::feature_ablation::BATCH_SIZE;
use crate::resize::{Kernel, interpolation_matrix};
use crate::target::Targets;

/// RISE (Petsiuk et al., 2018): `masks` random masks, each a `cells × cells` grid of cells kept
/// with probability `probability`, upsampled bilinearly to `(cells + 1)` cells of
/// `⌈H / cells⌉ × ⌈W / cells⌉` pixels and cropped to the image at a random shift of less than a
/// cell; each image is scored masked (`x · M + b · (1 − M)`, `b` the baseline, 0 in the paper),
/// and the map is the mean of the masks weighted by their scores, divided by `probability`:
/// `Σ_i score_i · M_i / (masks · probability)` (the same for every channel).
///
/// The upsampling is PyTorch's bilinear `F.interpolate` (`align_corners=False`), the one
/// resampler of the crate; the parity test compares with a plain torch transcription. The
/// masks are built on the device, `batch_size` images at a time, from `seed`
/// (every image of a batch gets the same masks); [`Rise::attribute_with_draws`] takes the
/// grids and shifts from the caller.
///
/// ```
/// use gradcam_explain::{Attribution, Rise};
/// let rise = Rise::new().with_masks(2000).with_cells(8);
/// assert_eq!(rise.label(), "RISE");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rise {
    /// Random masks (default 1000; the paper used 4000 on ImageNet).
    pub masks: usize,
    /// Cells of the grid in each dimension (the paper's `s`; default 7).
    pub cells: usize,
    /// Probability that a cell is kept (the paper's `p₁`; default 0.5).
    pub probability: f32,
    /// What a masked pixel becomes (default 0, the paper's).
    pub baseline: PerturbationBaseline,
    /// Seed of the grids and shifts (default 0).
    pub seed: u64,
    /// Masked images per forward pass (default 256): bounds the memory.
    pub batch_size: usize,
}

/// The random choices of one RISE call.
#[derive(Clone, Debug, PartialEq)]
pub struct RiseDraws {
    /// The grids, `masks × cells × cells` values, 1 for a kept cell and 0 otherwise.
    pub grids: Vec<f32>,
    /// Each mask's shift `[down, right]` in pixels, each below the cell's size.
    pub shifts: Vec<[usize; 2]>,
}

impl Default for Rise {
    fn default() -> Self {
        Self::new()
    }
}

impl Rise {
    /// RISE with 1000 masks of a 7 × 7 grid, half the cells kept, the baseline 0, seed 0.
    pub fn new() -> Self {
        Self {
            masks: 1000,
            cells: 7,
            probability: 0.5,
            baseline: PerturbationBaseline::default(),
            seed: 0,
            batch_size: BATCH_SIZE,
        }
    }

    /// Sets [`Rise::masks`].
    pub fn with_masks(self, masks: usize) -> Self {
        Self { masks, ..self }
    }

    /// Sets [`Rise::cells`].
    pub fn with_cells(self, cells: usize) -> Self {
        Self { cells, ..self }
    }

    /// Sets [`Rise::probability`].
    pub fn with_probability(self, probability: f32) -> Self {
        Self {
            probability,
            ..self
        }
    }

    /// Sets [`Rise::baseline`].
    pub fn with_baseline(self, baseline: PerturbationBaseline) -> Self {
        Self { baseline, ..self }
    }

    /// Sets [`Rise::seed`].
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Sets [`Rise::batch_size`].
    pub fn with_batch_size(self, batch_size: usize) -> Self {
        Self { batch_size, ..self }
    }

    /// The size of a cell in pixels of an `[H, W]` image.
    fn cell(&self, size: [usize; 2]) -> [usize; 2] {
        size.map(|s| s.div_ceil(self.cells))
    }

    /// RISE on the caller's grids and shifts (`masks` and `seed` are not used; the draws'
    /// length sets the number of masks).
    pub fn attribute_with_draws(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
        draws: &RiseDraws,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        self.run(model, &input, targets, draws)
    }

    fn check(&self, size: [usize; 2]) -> Result<()> {
        let owner = "Rise";
        SettingError::check(
            (1..=size[0].min(size[1])).contains(&self.cells),
            owner,
            "cells",
            format!("{} for {size:?} images", self.cells),
            "between 1 and the image's smaller side",
        )?;
        SettingError::check(
            self.probability > 0.0 && self.probability <= 1.0,
            owner,
            "probability",
            self.probability,
            "in (0, 1]",
        )?;
        Ok(())
    }

    fn run(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
        draws: &RiseDraws,
    ) -> Result<Attributions> {
        let owner = "Rise";
        let dims = input.tensor().dims();
        let [n, c, h, w] = dims;
        self.check([h, w])?;
        let cells = self.cells;
        let cell = self.cell([h, w]);
        let count = draws.shifts.len();
        SettingError::check(
            count > 0
                && draws.grids.len() == count * cells * cells
                && draws.grids.iter().all(|&v| v == 0.0 || v == 1.0)
                && draws.shifts.iter().all(|s| s[0] < cell[0] && s[1] < cell[1]),
            owner,
            "draws",
            format!(
                "{} grid values and {count} shifts for {cells} × {cells} cells of {cell:?} pixels",
                draws.grids.len()
            ),
            "a grid of 0s and 1s and a shift below the cell's size for each mask, at least one",
        )?;
        let baseline = self.baseline.images(owner, input)?;
        let run = Perturbation::new(owner, model, input, targets, baseline, self.batch_size)?;
        let device = input.tensor().device();
        // The upsampling's matrices to (cells + 1) cells, cropped at each mask's shift.
        let bilinear = Kernel::Bilinear {
            align_corners: false,
        };
        let rows = interpolation_matrix(cells, (cells + 1) * cell[0], bilinear);
        let columns = interpolation_matrix(cells, (cells + 1) * cell[1], bilinear);
        let crop = |matrix: &[f32], shift: usize, len: usize| {
            matrix[shift * cells..(shift + len) * cells].to_vec()
        };
        let mut total = Tensor::<2>::zeros([n, h * w], &device);
        for start in (0..count).step_by(run.per_pass()) {
            let len = run.per_pass().min(count - start);
            let shifts = &draws.shifts[start..start + len];
            let ys: Vec<f32> = shifts.iter().flat_map(|s| crop(&rows, s[0], h)).collect();
            let xs: Vec<f32> = shifts.iter().flat_map(|s| crop(&columns, s[1], w)).collect();
            let grids = draws.grids[start * cells * cells..(start + len) * cells * cells].to_vec();
            let tensor = |values: Vec<f32>, shape: [usize; 3]| {
                Tensor::<3>::from_data(TensorData::new(values, shape), &device)
            };
            let ys = tensor(ys, [len, h, cells]);
            let xs = tensor(xs, [len, w, cells]).swap_dims(1, 2);
            let grids = tensor(grids, [len, cells, cells]);
            let masks = ys.matmul(grids).matmul(xs).reshape([len, h * w]);
            let keep = masks
                .clone()
                .reshape([len, 1, 1, h * w])
                .expand([len, 1, c, h * w])
                .reshape([len, 1, c * h * w]);
            let scores = run.score(keep)?;
            total = total + scores.swap_dims(0, 1).matmul(masks);
        }
        let map = (total / (count as f32 * self.probability))
            .reshape([n, 1, h, w])
            .expand(dims);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }

    /// The draws of `seed` for `[H, W]` images.
    pub fn draws(&self, size: [usize; 2]) -> Result<RiseDraws> {
        self.check(size)?;
        SettingError::check(self.masks > 0, "Rise", "masks", self.masks, "at least 1")?;
        let cell = self.cell(size);
        let grids = noise::unit(self.masks * self.cells * self.cells, self.seed)
            .into_iter()
            .map(|u| f32::from(u8::from(u < self.probability)))
            .collect();
        let down = noise::indices(self.masks, cell[0], self.seed.wrapping_add(1));
        let right = noise::indices(self.masks, cell[1], self.seed.wrapping_add(2));
        let shifts = down.into_iter().zip(right).map(|(y, x)| [y, x]).collect();
        Ok(RiseDraws { grids, shifts })
    }
}

impl Attribution for Rise {
    fn label(&self) -> String {
        "RISE".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let [_, _, h, w] = input.tensor().dims();
        let draws = self.draws([h, w])?;
        self.run(model, input, targets, &draws)
    }
}
