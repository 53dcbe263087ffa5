//! The MNIST CNN of the seed report as a Burn module, loaded from a PyTorch state dict, with the
//! data formats it reads (image JSON, the packed evaluation set, image files).

#![warn(missing_docs)]

mod conv;
pub mod data;
#[cfg(feature = "flex")]
mod matmul;
mod net;
mod pool;
#[cfg(feature = "flex")]
mod scratch;
mod state_dict;
mod weights;
mod winograd;

pub use data::{DataError, Digits, Images, MNIST_MEAN, MNIST_STD, Normalization, preprocess};
pub use net::{IMAGE_PIXELS, IMAGE_SIDE, MnistNet, NUM_CLASSES};
pub use state_dict::{StateDictSpec, load_state_dict};
pub use weights::{LoadError, WeightsReport, load_weights};

/// Speed kernels the networks run on, each with its input gradient (each equal to a Burn
/// operation, faster where it applies: on Flex).
pub mod ops {
    pub use crate::conv::{SquareConv2d, flip_weight, square_conv2d};
    pub use crate::pool::max_pool2d;
}

/// Whether `device`'s backend runs this crate's own kernels (`ops`: Flex); the others take
/// Burn's operations.
fn has_flex_kernels(device: &burn::tensor::Device) -> bool {
    use burn::backend::DispatchDevice;
    #[allow(unreachable_patterns)]
    match device.clone().inner().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        _ => false,
    }
}
