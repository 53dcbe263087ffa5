//! The seed report's MNIST network.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use gradcam_explain::{Explainable, OutputLayer, ReluMode};

/// Side of an MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in an MNIST image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes.
pub const NUM_CLASSES: usize = 10;

/// The MNIST CNN of the seed report, in PyTorch notation:
///
/// ```text
/// conv1 = Conv2d(1, 10, 5);  conv2 = Conv2d(10, 10, 5);  fc1 = Linear(160, 50);  fc2 = Linear(50, 10)
/// x = relu(max_pool2d(conv1(x), 2))          # (N,10,12,12)
/// a = conv2(x)                               # (N,10,8,8)   <- the feature maps Grad-CAM uses
/// x = relu(max_pool2d(a, 2)).flatten(1)      # (N,160)
/// x = relu(fc1(x));  out = log_softmax(fc2(x), dim=1)
/// ```
///
/// Field names match the PyTorch state-dict keys, so [`crate::load_weights`] maps them directly.
#[derive(Module, Debug)]
pub struct MnistNet {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl MnistNet {
    /// A network with randomly initialised parameters on `device` (weights are then usually
    /// loaded with [`crate::load_weights`]).
    pub fn init(device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([1, 10], [5, 5]).init(device),
            conv2: Conv2dConfig::new([10, 10], [5, 5]).init(device),
            fc1: LinearConfig::new(160, 50).init(device),
            fc2: LinearConfig::new(50, 10).init(device),
        }
    }

    /// Input `[N, 1, 28, 28]` (normalised, see [`crate::preprocess`]) → conv2's output
    /// `[N, 10, 8, 8]`, the feature maps Grad-CAM weighs.
    pub fn features(&self, input: Tensor<4>) -> Tensor<4> {
        self.features_with(input, ReluMode::Standard)
    }

    /// conv2's output `[N, 10, 8, 8]` → log-probabilities `[N, 10]`.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        OutputLayer::LogSoftmax.apply(self.logits_with(features, ReluMode::Standard))
    }

    /// Input → pre-softmax scores `[N, 10]`.
    pub fn logits(&self, input: Tensor<4>) -> Tensor<2> {
        self.logits_with(self.features(input), ReluMode::Standard)
    }

    /// Input → log-probabilities `[N, 10]`: `head ∘ features`, as PyTorch's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        self.head(self.features(input))
    }

    fn features_with(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let x = relu.apply(pool2(self.conv1.forward(input)));
        self.conv2.forward(x)
    }

    fn logits_with(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = relu.apply(pool2(features)).flatten::<2>(1, 3);
        let x = relu.apply(self.fc1.forward(x));
        self.fc2.forward(x)
    }
}

fn pool2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

impl Explainable for MnistNet {
    fn input_shape(&self) -> [usize; 3] {
        [1, IMAGE_SIDE, IMAGE_SIDE]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_with(input, relu)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        self.logits_with(features, relu)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::LogSoftmax
    }

    fn device(&self) -> Device {
        self.conv1.weight.device()
    }
}
