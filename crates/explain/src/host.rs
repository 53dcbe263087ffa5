//! The one way results leave the device: a [`Read`] of several tensors in one transaction.
//!
//! On a GPU every read is a synchronisation, so the crate reads only where the caller asks for
//! host values ([`crate::Attributions::to_host`], [`crate::Predictions::to_host`],
//! [`crate::Map::from_batch`]). Every read goes through here (the crate's `clippy.toml` forbids
//! Burn's read methods elsewhere) and is counted per thread, so a test can prove that a method
//! reads nothing while it computes.

use std::cell::Cell;

use burn::tensor::{Int, Tensor, TensorData, Transaction};

use crate::error::{ExplainError, Result};

thread_local! {
    static READS: Cell<usize> = const { Cell::new(0) };
}

/// How many device reads this thread has made through the crate so far.
///
/// A test hook (hidden from the documentation): the counter proves that an explanation reads
/// nothing from the device until its results are asked for.
#[doc(hidden)]
pub fn device_reads() -> usize {
    READS.with(Cell::get)
}

/// Tensors to read back together, in registration order.
#[derive(Default)]
pub(crate) struct Read {
    transaction: Transaction,
    count: usize,
}

impl Read {
    pub fn float<const D: usize>(mut self, tensor: Tensor<D>) -> Self {
        self.transaction = self.transaction.register(tensor);
        self.count += 1;
        self
    }

    pub fn int<const D: usize>(mut self, tensor: Tensor<D, Int>) -> Self {
        self.transaction = self.transaction.register(tensor);
        self.count += 1;
        self
    }

    /// Runs the transaction: one synchronisation for every registered tensor.
    pub fn execute(self) -> Result<Values> {
        READS.with(|reads| reads.set(reads.get() + 1));
        // The one sanctioned read of the crate.
        #[allow(clippy::disallowed_methods)]
        let data = self.transaction.try_execute().map_err(failed)?;
        if data.len() != self.count {
            return Err(ExplainError::DeviceRead {
                reason: format!("{} of {} tensors came back", data.len(), self.count),
            });
        }
        Ok(Values {
            data: data.into_iter(),
        })
    }
}

/// The host values of a [`Read`], taken in registration order.
pub(crate) struct Values {
    data: std::vec::IntoIter<TensorData>,
}

impl Values {
    fn next(&mut self) -> Result<TensorData> {
        self.data.next().ok_or_else(|| ExplainError::DeviceRead {
            reason: "fewer tensors came back than were read".to_owned(),
        })
    }

    /// The next tensor's values as `f32`, row-major.
    pub fn floats(&mut self) -> Result<Vec<f32>> {
        self.next()?.try_into_vec_as::<f32>().map_err(failed)
    }

    /// The next tensor's values as indices.
    pub fn indices(&mut self) -> Result<Vec<usize>> {
        let values = self.next()?.try_into_vec_as::<i64>().map_err(failed)?;
        Ok(values.into_iter().map(|v| v.max(0) as usize).collect())
    }
}

fn failed(error: impl std::fmt::Display) -> ExplainError {
    ExplainError::DeviceRead {
        reason: error.to_string(),
    }
}

/// A tensor's values on the host, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn floats_of<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    Read::default()
        .float(tensor)
        .execute()
        .and_then(|mut values| values.floats())
        .expect("reads the tensor")
}
