//! Loading the MNIST network from a PyTorch `.pth` state dict, strictly (see
//! [`gradcam_data::load_state_dict`]).

use std::path::Path;

use burn::tensor::Device;

use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};

use crate::net::MnistNet;

/// The state-dict entries the network needs, in PyTorch's layout.
pub const EXPECTED_KEYS: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[10, 1, 5, 5]),
    ("conv1.bias", &[10]),
    ("conv2.weight", &[10, 10, 5, 5]),
    ("conv2.bias", &[10]),
    ("fc1.weight", &[50, 160]),
    ("fc1.bias", &[50]),
    ("fc2.weight", &[10, 50]),
    ("fc2.bias", &[10]),
];

/// Loads the network from a PyTorch state dict saved with
/// `torch.save(model.state_dict(), path)`.
///
/// Every problem is a [`LoadError`] naming the file and, where it applies, the key, the shapes or
/// the dtype; float64, float16 and bfloat16 tensors are converted to `f32` (listed in the report).
///
/// ```no_run
/// use burn::tensor::Device;
/// let (net, report) = gradcam_mnist::load_weights("data/mnist_model.pth", &Device::default())?;
/// assert!(report.converted.is_empty());
/// # Ok::<(), gradcam_data::LoadError>(())
/// ```
pub fn load_weights(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<(MnistNet, WeightsReport), LoadError> {
    let spec = StateDictSpec {
        keys: EXPECTED_KEYS
            .iter()
            .map(|(key, shape)| ((*key).to_owned(), shape.to_vec()))
            .collect(),
        ignored: |_| false,
        remaps: Vec::new(),
        explain_mismatch: |_| String::new(),
    };
    load_state_dict(MnistNet::init(device), path.as_ref(), &spec)
}
