//! What burn-gradcam's networks read, for any network: PyTorch state dicts loaded strictly into
//! Burn modules ([`load_state_dict`]), and image files as normalised tensors ([`Images`],
//! [`Normalization`]).
//!
//! ```no_run
//! use burn::tensor::Device;
//! use gradcam_data::{Images, Normalization};
//!
//! // Every PNG/JPEG of a directory, RGB, resized to 224×224, with ImageNet's normalisation.
//! let images = Images::from_dir("photos", 3, [224, 224], true)?;
//! let input = images.to_tensor(Normalization::ImageNet, &Device::default());
//! assert_eq!(input.dims()[1..], [3, 224, 224]);
//! # Ok::<(), gradcam_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod error;
pub mod files;
mod images;
mod load_error;
pub mod output;
mod state_dict;

pub use error::DataError;
pub use images::{Images, Normalization, UnknownNormalization};
pub use load_error::{LoadError, WeightsReport};
pub use state_dict::{StateDictSpec, load_state_dict};
