//! Finiteness checks computed on the device and read with the results.
//!
//! Checking a batch for NaN eagerly would read from the device at every call (a GPU
//! synchronisation). Instead each check is a small tensor computed beside the maps — per image,
//! whether a value is bad and where the first one is — and it is read in the same transaction as
//! the results: a bad value becomes a typed error the moment anything is read.

use burn::tensor::{Int, Tensor};

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
    /// Rows of `status` per image of the explained batch (noisy copies, path points).
    rows_per_image: usize,
    /// `[rows, 2]`: 1 if the row holds a non-finite value, and the index of the first one.
    status: Tensor<2, Int>,
}

impl Checks {
    /// Checks every value of `tensor` (`[rows, …]`, `rows_per_image` rows per image).
    pub fn finite<const D: usize>(stage: Stage, tensor: &Tensor<D>, rows_per_image: usize) -> Self {
        let dims = tensor.dims();
        let rows = dims[0];
        let per_row = dims[1..].iter().product::<usize>().max(1);
        let bad = tensor
            .clone()
            .detach()
            .reshape([rows, per_row])
            .is_finite()
            .bool_not()
            .int();
        let first = bad.clone().argmax(1);
        // Backends give indices and converted booleans different integer types.
        let any = bad.max_dim(1).cast(first.dtype());
        let status = Tensor::cat(vec![any, first], 1);
        Self {
            entries: vec![Check {
                stage,
                rows_per_image: rows_per_image.max(1),
                status,
            }],
        }
    }

    /// The checks of images `start..start + len`.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|entry| Check {
                status: entry.status.clone().narrow(
                    0,
                    start * entry.rows_per_image,
                    len * entry.rows_per_image,
                ),
                ..entry.clone()
            })
            .collect();
        Self { entries }
    }

    /// Both sets of checks, these first.
    pub fn and(mut self, other: Checks) -> Self {
        self.entries.extend(other.entries);
        self
    }

    /// Registers every check in a read (before the results, so that a bad value is reported
    /// rather than the results).
    pub fn register(&self, mut read: Read) -> Read {
        for entry in &self.entries {
            read = read.int(entry.status.clone());
        }
        read
    }

    /// Each check with `factor` times as many rows per image: the checks of a batch of
    /// `factor` copies of each image (SmoothGrad's noisy copies), in image-major order.
    pub fn per_image(mut self, factor: usize) -> Self {
        for entry in &mut self.entries {
            entry.rows_per_image *= factor.max(1);
        }
        self
    }

    /// Takes the checks' values from a read and turns the first bad value — the earliest
    /// stage, then the first image — into an error.
    pub fn verdict(&self, values: &mut Values) -> Result<()> {
        let mut first: Option<(Stage, usize, usize)> = None;
        for entry in &self.entries {
            let status = values.indices()?;
            if let Some(row) = status.chunks(2).position(|s| s[0] != 0) {
                let found = (entry.stage, row / entry.rows_per_image, status[row * 2 + 1]);
                if first.is_none_or(|best| (found.0, found.1) < (best.0, best.1)) {
                    first = Some(found);
                }
            }
        }
        match first {
            None => Ok(()),
            Some((stage, index, element)) => Err(ExplainError::NonFinite {
                stage,
                index,
                element,
            }),
        }
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
