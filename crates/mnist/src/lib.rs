//! The seed report's MNIST CNN as a Burn module, loaded from a PyTorch state dict, and the digit
//! formats it reads (image JSON, the packed evaluation set, grey image files).
//!
//! ```no_run
//! use burn::tensor::Device;
//! use gradcam_mnist::{Digits, load_weights, preprocess};
//!
//! let device = Device::default();
//! let (net, _) = load_weights("data/mnist_model.pth", &device)?;
//! let digits = Digits::from_json_file("data/test_images.json")?;
//! let log_probabilities = net.forward(preprocess(&digits, &device));
//! assert_eq!(log_probabilities.dims(), [digits.len(), 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod digits;
mod net;
mod weights;

pub use digits::{Digits, DigitsError, ImageProblem, MNIST_MEAN, MNIST_STD, preprocess};
pub use net::{IMAGE_PIXELS, IMAGE_SIDE, MnistNet, NUM_CLASSES};
pub use weights::load_weights;
