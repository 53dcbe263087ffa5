//! Finiteness checks computed on the device and read with the results.
//!
//! Checking a batch for NaN eagerly would read from the device at every call (a GPU
//! synchronisation). Instead each check is one small tensor computed beside the maps — per row,
//! `Σ 0·x`, which is 0 when every value is finite and NaN as soon as one is not (`0·∞` is NaN,
//! and a sum of zeros cannot overflow) — read in the same transaction as the results. Only when
//! a row is bad is that row read again, to name the first bad element.

use burn::tensor::Tensor;

use crate::error::{ExplainError, Result, Stage};
use crate::host::{Read, Values};

/// Pending checks of one explanation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checks {
    entries: Vec<Check>,
}

#[derive(Clone, Debug)]
struct Check {
    stage: Stage,
    /// Rows per image of the explained batch (noisy copies).
    rows_per_image: usize,
    /// The checked values, `[rows, elements]`: read only to locate a bad value.
    values: Tensor<2>,
    /// `[rows, 1]`: `Σ 0·x` per row, NaN where the row holds a non-finite value.
    probe: Tensor<2>,
}

impl Checks {
    /// Checks every value of `tensor` (`[rows, …]`, `rows_per_image` rows per image).
    pub fn finite<const D: usize>(stage: Stage, tensor: &Tensor<D>, rows_per_image: usize) -> Self {
        let dims = tensor.dims();
        let rows = dims[0];
        let per_row = dims[1..].iter().product::<usize>().max(1);
        let values = tensor
            .clone()
            .detach()
            .without_autodiff()
            .reshape([rows, per_row]);
        let probe = (values.clone() * 0.0).sum_dim(1);
        Self {
            entries: vec![Check {
                stage,
                rows_per_image: rows_per_image.max(1),
                values,
                probe,
            }],
        }
    }

    /// The checks of images `start..start + len`.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|entry| {
                let rows = |t: &Tensor<2>| {
                    t.clone()
                        .narrow(0, start * entry.rows_per_image, len * entry.rows_per_image)
                };
                Check {
                    values: rows(&entry.values),
                    probe: rows(&entry.probe),
                    ..entry.clone()
                }
            })
            .collect();
        Self { entries }
    }

    /// Both sets of checks, these first.
    pub fn and(mut self, other: Checks) -> Self {
        self.entries.extend(other.entries);
        self
    }

    /// Each check with `factor` times as many rows per image: the checks of a batch of
    /// `factor` copies of each image (SmoothGrad's noisy copies), in image-major order.
    pub fn per_image(mut self, factor: usize) -> Self {
        for entry in &mut self.entries {
            entry.rows_per_image *= factor.max(1);
        }
        self
    }

    /// Registers every check in a read (before the results).
    pub fn register(&self, mut read: Read) -> Read {
        for entry in &self.entries {
            read = read.float(entry.probe.clone());
        }
        read
    }

    /// Takes the checks' values from a read and turns the first bad value — the earliest
    /// stage, then the first image — into an error (reading the bad row once more to name the
    /// element).
    pub fn verdict(&self, values: &mut Values) -> Result<()> {
        let mut first: Option<(Stage, usize, &Check, usize)> = None;
        for entry in &self.entries {
            let probe = values.floats()?;
            if let Some(row) = probe.iter().position(|p| !p.is_finite()) {
                let image = row / entry.rows_per_image;
                if first.is_none_or(|(stage, index, ..)| (entry.stage, image) < (stage, index)) {
                    first = Some((entry.stage, image, entry, row));
                }
            }
        }
        let Some((stage, index, entry, row)) = first else {
            return Ok(());
        };
        let bad = Read::default()
            .float(entry.values.clone().narrow(0, row, 1))
            .execute()?
            .floats()?;
        let element = bad.iter().position(|v| !v.is_finite()).unwrap_or(0);
        Err(ExplainError::NonFinite {
            stage,
            index,
            element,
        })
    }

    /// Reads only the checks.
    pub fn check(&self) -> Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let mut values = self.register(Read::default()).execute()?;
        self.verdict(&mut values)
    }
}
