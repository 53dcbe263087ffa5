//! The seed report's MNIST network.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use gradcam_explain::{
    Affine, AffineKind, Explainable, OutputLayer, Reinitialize, ReluMode, noise,
};

use gradcam_ops::{max_pool2d, square_conv2d_with};

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
        self.features_tapped(input, relu, &mut |_, x| x)
    }

    fn logits_with(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let x = relu
            .apply(relu.max_pool(features, pool2))
            .flatten::<2>(1, 3);
        let x = relu.apply(relu.linear(&self.fc1, x, false));
        relu.linear(&self.fc2, x, false)
    }
}

fn pool2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, [2, 2])
}

/// A convolution of the network (stride 1, no padding) through the pass (`first`: the one the
/// input meets), computed by the square-convolution kernel, which keeps one digit on the calling
/// thread; its parameters stay `burn::nn`'s, so loading and re-initialising are unchanged.
fn conv(relu: ReluMode, layer: &Conv2d, x: Tensor<4>, first: bool) -> Tensor<4> {
    let apply = |x, weight, bias| square_conv2d_with(x, weight, bias, 1, 0);
    let (weight, bias) = (
        layer.weight.val(),
        layer.bias.as_ref().map(|bias| bias.val()),
    );
    relu.affine(
        x,
        Affine {
            kind: AffineKind::Convolution,
            first,
            // The second convolution takes the first's pooled ReLU.
            nonnegative_input: !first,
            weight: weight.clone(),
            bias: bias.clone(),
            forward: &|x| apply(x, weight.clone(), bias.clone()),
            apply: &apply,
        },
    )
}

impl Explainable for MnistNet {
    fn input_shape(&self) -> [usize; 3] {
        [1, IMAGE_SIDE, IMAGE_SIDE]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        self.features_with(input, relu)
    }

    /// conv1's output `[N, 10, 24, 24]` is tapped as `"conv1"`.
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let x = tap("conv1", conv(relu, &self.conv1, input, true));
        conv(
            relu,
            &self.conv2,
            relu.apply(relu.max_pool(x, pool2)),
            false,
        )
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        self.logits_with(features, relu)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::LogSoftmax
    }

    /// Both convolutions and both fully connected layers go through the pass.
    fn routes_affine_layers(&self) -> bool {
        true
    }

    /// Its ReLUs and max pooling go through the pass.
    fn routes_head_nonlinearities(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.conv1.weight.device()
    }
}

/// The parameterised layers, input to output (the order of [`Reinitialize::layer_names`]).
const LAYERS: [&str; 4] = ["conv1", "conv2", "fc1", "fc2"];

impl Reinitialize for MnistNet {
    fn layer_names(&self) -> Vec<String> {
        LAYERS.iter().map(|name| (*name).to_owned()).collect()
    }

    /// Fresh parameters from PyTorch's default distribution for `Conv2d` and `Linear`
    /// (uniform in `±1/√fan_in`, weights and biases alike), drawn from `seed` and the layer.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::Reinitialize;
    /// use gradcam_mnist::MnistNet;
    ///
    /// let net = MnistNet::init(&Device::default());
    /// let x = Tensor::<4>::ones([1, 1, 28, 28], &Device::default());
    /// let same = net.reinitialized(&[], 0).logits(x.clone());
    /// let other = net.reinitialized(&[3], 0).logits(x.clone());
    /// assert!(same.clone().equal(net.logits(x)).all().into_scalar::<bool>());
    /// assert!(!same.equal(other).all().into_scalar::<bool>());
    /// ```
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let mut net = self.clone();
        let device = self.device();
        // Distinct, reproducible streams per layer and per parameter.
        let stream = |layer: usize, part: u64| {
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(layer as u64 * 2 + part)
        };
        for &layer in layers {
            match layer {
                0 => reinit_conv(&mut net.conv1, stream(0, 0), stream(0, 1), &device),
                1 => reinit_conv(&mut net.conv2, stream(1, 0), stream(1, 1), &device),
                2 => reinit_linear(&mut net.fc1, stream(2, 0), stream(2, 1), &device),
                3 => reinit_linear(&mut net.fc2, stream(3, 0), stream(3, 1), &device),
                _ => {}
            }
        }
        net
    }
}

/// A tensor of `shape` uniform in `±1/√fan_in`.
fn uniform_param<const D: usize>(
    shape: [usize; D],
    fan_in: usize,
    seed: u64,
    device: &Device,
) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    let values = noise::uniform(shape.iter().product(), bound, seed);
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

fn reinit_conv(conv: &mut Conv2d, weight_seed: u64, bias_seed: u64, device: &Device) {
    let shape = conv.weight.dims();
    let fan_in = shape[1] * shape[2] * shape[3];
    conv.weight = uniform_param(shape, fan_in, weight_seed, device);
    if let Some(bias) = &conv.bias {
        conv.bias = Some(uniform_param(bias.dims(), fan_in, bias_seed, device));
    }
}

fn reinit_linear(linear: &mut Linear, weight_seed: u64, bias_seed: u64, device: &Device) {
    // Burn stores a linear weight as [in, out].
    let shape = linear.weight.dims();
    let fan_in = shape[0];
    linear.weight = uniform_param(shape, fan_in, weight_seed, device);
    if let Some(bias) = &linear.bias {
        linear.bias = Some(uniform_param(bias.dims(), fan_in, bias_seed, device));
    }
}
