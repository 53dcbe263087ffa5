//! The prefetching stage: a thread that reads and decodes the next batches on a pool of its own
//! while the device explains the current one, handing them over in order through a bounded
//! queue — memory held is the queue's depth in batches, whatever the dataset's size.
//!
//! Burn's multi-threaded `DataLoader` hands batches over in the order its workers finish them,
//! each worker taking a contiguous part of the dataset; an audit needs every batch to hold the
//! same images in every run (resumed, sharded or not) so that its outputs are identical, hence
//! this stage.

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use burn::data::dataset::{Dataset, DatasetError};
use gradcam_data::DataError;
use gradcam_data::files::{Conversion, read_input};
use rayon::prelude::*;

use crate::source::Record;

/// One image read for the model, or why it could not be.
#[derive(Debug)]
pub(crate) struct Item {
    /// Its position in the dataset.
    pub index: usize,
    /// The record (its pixels dropped once read).
    pub record: Record,
    /// Planar `[C, H, W]` in `[0, 1]` with the conversions applied, or the failure.
    pub image: Result<(Vec<f32>, Vec<Conversion>), Failure>,
}

/// Why an image was not explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// A short, stable name of the kind of failure (`decode`, `too-small`, `size`,
    /// `not-found`, `read`, `too-large`, `channels`, `pixel`, `shape`, `dataset`, `label`,
    /// `non-finite`, `explain`), to group by.
    pub reason: &'static str,
    /// The full message, naming the file.
    pub message: String,
}

impl Failure {
    pub(crate) fn new(reason: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            reason,
            message: message.to_string(),
        }
    }
}

impl From<&DataError> for Failure {
    fn from(error: &DataError) -> Self {
        let reason = match error {
            DataError::NotFound { .. } => "not-found",
            DataError::Io { .. } => "read",
            DataError::TooLarge { .. } => "too-large",
            DataError::Empty { .. } | DataError::Decode { .. } => "decode",
            DataError::ImageSize { .. } => "size",
            DataError::TooSmall { .. } => "too-small",
            DataError::Pixel { .. } => "pixel",
            DataError::Channels { .. } => "channels",
        };
        // The message with its causes: the decoder's reason is what a reader needs.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { reason, message }
    }
}

/// How images are read: the model's input `[C, H, W]` and whether other sizes are resized.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader {
    pub shape: [usize; 3],
    pub resize: bool,
}

impl Reader {
    fn read(&self, index: usize, record: Result<Record, DatasetError>) -> Item {
        let [channels, height, width] = self.shape;
        let mut record = match record {
            Ok(record) => record,
            Err(error) => {
                return Item {
                    index,
                    record: Record::file(format!("<item {index}>"), None),
                    image: Err(Failure::new(
                        "dataset",
                        format!("the dataset could not give item {index}: {error}"),
                    )),
                };
            }
        };
        let image = match record.pixels.take() {
            Some(pixels) if pixels.len() == channels * height * width => {
                match pixels.iter().position(|p| !(0.0..=1.0).contains(p)) {
                    None => Ok((pixels.to_vec(), Vec::new())),
                    Some(at) => Err(Failure::new(
                        "pixel",
                        format!(
                            "{}: pixel {at} is {}, outside [0, 1]",
                            record.path.display(),
                            pixels[at]
                        ),
                    )),
                }
            }
            Some(pixels) => Err(Failure::new(
                "shape",
                format!(
                    "{}: {} values in memory, expected {channels}×{height}×{width}",
                    record.path.display(),
                    pixels.len()
                ),
            )),
            None => read_input(&record.path, channels, [height, width], self.resize)
                .map(|image| (image.pixels, image.conversions))
                .map_err(|error| Failure::from(&error)),
        };
        Item {
            index,
            record,
            image,
        }
    }
}

/// A batch read, in dataset order.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    /// Which batch of the run this is.
    pub batch: usize,
    pub items: Vec<Item>,
}

/// Starts reading `batches` (batch number, dataset range) in order on `pool`, at most `depth`
/// batches ahead of the consumer. The thread ends when every batch is sent or the receiver is
/// dropped.
pub(crate) fn prefetch<'scope, D: Dataset<Record> + ?Sized>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    dataset: &'scope D,
    batches: Vec<(usize, Range<usize>)>,
    reader: Reader,
    pool: &'scope rayon::ThreadPool,
    depth: usize,
) -> Receiver<ReadBatch> {
    let (sender, receiver): (SyncSender<ReadBatch>, _) = sync_channel(depth.max(1));
    scope.spawn(move || {
        for (batch, range) in batches {
            let items = pool.install(|| {
                range
                    .into_par_iter()
                    .map(|index| reader.read(index, dataset.get(index)))
                    .collect()
            });
            if sender.send(ReadBatch { batch, items }).is_err() {
                break;
            }
        }
    });
    receiver
}
