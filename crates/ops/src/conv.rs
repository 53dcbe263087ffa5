//! A speed kernel: a square-kernel, symmetric-stride, symmetric-padding 2-D convolution with a
//! bias (the MNIST network's, and every torchvision ResNet convolution once its BatchNorm is
//! folded in), as a backend extension with its own input gradient.
//!
//! Why an extension of our own: on Flex, Burn 0.22's convolution converts the whole input to NHWC
//! on one thread, re-lays the weights on every call, multiplies each tile into a temporary and
//! scatters it into the output, and its input gradient goes through a transposed convolution
//! that scatters again. The kernel here multiplies straight from NCHW into the output (gemm
//! writing the output's rows, the bias already in place) from cache-sized im2col tiles, in
//! parallel over images × tiles, and for stride 1 over enough channels computes the input
//! gradient with the same kernel on the flipped weights (Burn's transposed convolution
//! otherwise, see [`FLIPPED_MIN_CHANNELS`]). Only the input is differentiated: the networks run in eval
//! mode and explain, they are not trained. Small work (one MNIST digit) stays on the calling
//! thread: handing a few microseconds of work to rayon's pool costs more than the work.
//!
//! Other backends take Burn's own `conv2d` and its input gradient (the trait's default bodies).

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};

use crate::extension::{Kernels, extension};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch};
use burn::config::Config;
use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
    Param,
};
use burn::nn::Initializer;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};

extension! {
/// Backends with the square convolution.
pub trait SquareConvBackend: Backend {
    /// `conv2d(x, weight) + bias` with `stride` and `padding` on both axes.
    fn square_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options(stride, padding))
    }

    /// The same convolution at stride 1, carrying `flipped` ([`flip_weight`] of `weight`) for
    /// its input gradient.
    fn square_conv2d_flipped(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let _ = flipped;
        Self::square_conv2d(x, weight, bias, 1, padding)
    }

    /// The gradient w.r.t. the convolution's `[_, _, height, width]` input, given the output's
    /// gradient `grad`.
    fn square_conv2d_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        height: usize,
        width: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        transposed::<Self>(grad, weight, height, width, stride, padding)
    }

    /// The input gradient of a stride-1 convolution: the convolution of `grad` with the
    /// flipped, transposed weights, padded by `kernel - 1 - padding`.
    fn square_conv2d_flipped_grad(
        grad: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let kernel = flipped.shape()[2];
        Self::conv2d(grad, flipped, None, options(1, kernel - 1 - padding))
    }

    /// The same stride-1 3×3 convolution by Winograd's F(2×2, 3×3) from the transformed
    /// kernels `winograd` (`[16, out, in]`, of `weight`), carrying `flipped` for its input
    /// gradient. Without the kernel: the flipped convolution, the transforms unused.
    fn square_conv2d_winograd(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        winograd: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let _ = winograd;
        Self::square_conv2d_flipped(x, weight, bias, flipped, padding)
    }

    /// The input gradient of [`SquareConvBackend::square_conv2d_winograd`]: the flipped
    /// convolution, by Winograd's algorithm from the forward's transformed kernels `winograd`
    /// (read transposed at the flipped points) where the backend has it.
    fn square_conv2d_winograd_grad(
        grad: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        winograd: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let _ = winograd;
        Self::square_conv2d_flipped_grad(grad, flipped, padding)
    }
}
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1)
}

/// The input gradient as Burn computes it: a transposed convolution, its output padding chosen
/// so that it has the input's size.
fn transposed<B: Backend>(
    grad: FloatTensor<B>,
    weight: FloatTensor<B>,
    height: usize,
    width: usize,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let kernel = weight.shape()[2];
    let [out_h, out_w] = [grad.shape()[2], grad.shape()[3]];
    // The rows and columns the forward's floor division dropped come back as output padding.
    let extra = |size: usize, out: usize| (size + 2 * padding - kernel) - (out - 1) * stride;
    B::conv_transpose2d(
        grad,
        weight,
        None,
        ConvTransposeOptions::new(
            [stride; 2],
            [padding; 2],
            [extra(height, out_h), extra(width, out_w)],
            [1, 1],
            1,
        ),
    )
}

#[cfg(feature = "flex")]
impl SquareConvBackend for burn::backend::Flex {
    fn square_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        flex::conv2d(x, weight, Some(bias), stride, padding)
    }

    fn square_conv2d_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        height: usize,
        width: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        flex::input_grad(grad, weight, [height, width], stride, padding)
    }

    fn square_conv2d_flipped_grad(
        grad: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let kernel = flipped.layout().shape()[2];
        flex::conv2d(grad, flipped, None, 1, kernel - 1 - padding)
    }

    fn square_conv2d_winograd(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        winograd: FloatTensor<Self>,
        _flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        flex::winograd(x, weight, winograd, false, Some(bias), padding)
    }

    fn square_conv2d_winograd_grad(
        grad: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        winograd: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        flex::winograd(grad, flipped, winograd, true, None, 2 - padding)
    }
}

/// The input gradient's recipe: Burn's (a transposed convolution) or, at stride 1 with the
/// flipped weights at hand, the forward kernel again.
#[derive(Clone, Debug)]
enum InputGrad<B: Backend> {
    Transposed {
        weight: FloatTensor<B>,
        size: [usize; 2],
        stride: usize,
        padding: usize,
    },
    Flipped {
        flipped: FloatTensor<B>,
        padding: usize,
    },
    Winograd {
        flipped: FloatTensor<B>,
        winograd: FloatTensor<B>,
        padding: usize,
    },
}

#[derive(Debug)]
struct SquareConvBackward;

impl<B: SquareConvBackend> Backward<B, 1> for SquareConvBackward {
    type State = InputGrad<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| match state {
            InputGrad::Transposed {
                weight,
                size: [height, width],
                stride,
                padding,
            } => B::square_conv2d_input_grad(grad, weight, height, width, stride, padding),
            InputGrad::Flipped { flipped, padding } => {
                B::square_conv2d_flipped_grad(grad, flipped, padding)
            }
            InputGrad::Winograd {
                flipped,
                winograd,
                padding,
            } => B::square_conv2d_winograd_grad(grad, flipped, winograd, padding),
        });
    }
}

/// Records the convolution `forward` computes on `x`, differentiated w.r.t. `x` only: the
/// parameters are constants here (the networks live on a plain device).
fn record<B: SquareConvBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    state: impl FnOnce([usize; 2]) -> InputGrad<B>,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let state = |x: &FloatTensor<B>| state([x.shape()[2], x.shape()[3]]);
    crate::extension::record::<B, C, _>(SquareConvBackward, x, state, forward)
}

impl<B: SquareConvBackend, C: CheckpointStrategy> SquareConvBackend for Autodiff<B, C> {
    fn square_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let (weight, bias) = (weight.into_primitive(), bias.into_primitive());
        let kept = weight.clone();
        record::<B, C>(
            x,
            |size| InputGrad::Transposed {
                weight: kept,
                size,
                stride,
                padding,
            },
            |x| B::square_conv2d(x, weight, bias, stride, padding),
        )
    }

    fn square_conv2d_flipped(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let (weight, bias) = (weight.into_primitive(), bias.into_primitive());
        let flipped = flipped.into_primitive();
        record::<B, C>(
            x,
            |_| InputGrad::Flipped { flipped, padding },
            |x| B::square_conv2d(x, weight, bias, 1, padding),
        )
    }

    fn square_conv2d_winograd(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        winograd: FloatTensor<Self>,
        flipped: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let (weight, bias) = (weight.into_primitive(), bias.into_primitive());
        let (winograd, flipped) = (winograd.into_primitive(), flipped.into_primitive());
        let (kept, kept_winograd) = (flipped.clone(), winograd.clone());
        record::<B, C>(
            x,
            |_| InputGrad::Winograd {
                flipped: kept,
                winograd: kept_winograd,
                padding,
            },
            |x| B::square_conv2d_winograd(x, weight, bias, winograd, flipped, padding),
        )
    }
}

/// The weights `[out, in, k, k]` of a stride-1 convolution's input gradient: `[in, out, k, k]`,
/// each kernel rotated by 180°.
pub fn flip_weight(weight: Tensor<4>) -> Tensor<4> {
    weight.swap_dims(0, 1).flip([2, 3])
}

/// The configuration of a [`SquareConv2d`], as Burn's `Conv2dConfig` is a `Conv2d`'s.
///
/// ```
/// use burn::module::Module;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_ops::SquareConv2dConfig;
///
/// let device = Device::default();
/// let conv = SquareConv2dConfig::new([3, 8], 3).with_padding(1).init(&device);
/// let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Default, &device);
/// assert_eq!(conv.forward(x).dims(), [2, 8, 9, 9]);
/// assert_eq!(conv.num_params(), 8 * 3 * 3 * 3 + 8);
/// ```
#[derive(Config, Debug)]
pub struct SquareConv2dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Side of the square kernel.
    pub kernel_size: usize,
    /// Stride on both axes.
    #[config(default = 1)]
    pub stride: usize,
    /// Zero padding on each side of both axes.
    #[config(default = 0)]
    pub padding: usize,
    /// Winograd's F(2×2, 3×3) where it fits (see [`SquareConv2d::with_winograd`]).
    #[config(default = true)]
    pub winograd: bool,
    /// The initializer of the weight and the bias (Burn's `Conv2dConfig` default, Kaiming's
    /// uniform with gain 1/√3: PyTorch's uniform in `±1/√fan_in`).
    #[config(
        default = "Initializer::KaimingUniform{gain:0.577_350_269_189_625_8,fan_out_only:false}"
    )]
    pub initializer: Initializer,
}

impl SquareConv2dConfig {
    /// A convolution of this shape with freshly initialised parameters on `device`.
    pub fn init(&self, device: &Device) -> SquareConv2d {
        let [inputs, outputs] = self.channels;
        let k = self.kernel_size;
        let (fan_in, fan_out) = (Some(inputs * k * k), Some(outputs * k * k));
        let weights = Weights {
            weight: self
                .initializer
                .init_with([outputs, inputs, k, k], fan_in, fan_out, device),
            bias: self
                .initializer
                .init_with([outputs], fan_in, fan_out, device),
        };
        SquareConv2d::of(weights, self.stride, self.padding, self.winograd)
    }
}

/// What a [`SquareConv2d`]'s record holds: its parameters, under the names Burn's `Conv2d`
/// gives them.
#[derive(Module, Debug)]
struct Weights {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
}

/// What is computed from the weights once, for the kernels: never recorded, rebuilt whenever
/// the weights change (loading, mapping, moving).
#[derive(Clone, Debug, Default)]
struct Derived {
    /// The flipped weights of the stride-1 input gradient, materialised (Burn's flip is a
    /// strided view, which the kernel would otherwise copy on every backward).
    flipped: Option<Tensor<4>>,
    /// Winograd's transformed kernels of the weight (its input gradient reads them too).
    winograd: Option<Tensor<3>>,
}

/// A Burn module: a convolution with weights `[out, in, k, k]`, a bias, a symmetric stride and
/// padding — a `Conv2d` of square kernel with a bias, through this crate's kernels — with (on
/// a backend with the kernel) the flipped weights of its stride-1 input gradient and Winograd's
/// transformed kernels derived once from the weights.
///
/// Its record is the weight and the bias (`weight`, `bias`, as a `Conv2d`'s); the derived
/// kernels are rebuilt whenever the parameters change (`load_record`, `map`, `to_device`,
/// `fork`), so they are never stale.
///
/// ```
/// use burn::tensor::module::conv2d;
/// use burn::tensor::ops::ConvOptions;
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_ops::SquareConv2d;
///
/// let device = Device::default();
/// let weight = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &device);
/// let bias = Tensor::<1>::random([4], Distribution::Default, &device);
/// let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Default, &device);
/// let conv = SquareConv2d::new(weight.clone(), bias.clone(), 2, 1);
/// let burn = conv2d(x.clone(), weight, Some(bias), ConvOptions::new([2, 2], [1, 1], [1, 1], 1));
/// let difference = (conv.forward(x) - burn).abs().max().into_scalar::<f32>();
/// assert!(difference < 1e-5);
/// ```
#[derive(Clone, Debug)]
pub struct SquareConv2d {
    weights: Weights,
    stride: usize,
    padding: usize,
    /// Whether Winograd's algorithm is used where it fits.
    winograd: bool,
    derived: Derived,
}

impl SquareConv2d {
    /// The convolution `weight` (`[out, in, k, k]`, square), `bias` (`[out]`), `stride` and
    /// `padding` on both axes.
    pub fn new(weight: Tensor<4>, bias: Tensor<1>, stride: usize, padding: usize) -> Self {
        let weights = Weights {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
        };
        Self::of(weights, stride, padding, true)
    }

    fn of(weights: Weights, stride: usize, padding: usize, winograd: bool) -> Self {
        Self {
            weights,
            stride,
            padding,
            winograd,
            derived: Derived::default(),
        }
        .derive()
    }

    /// The same convolution with its derived kernels rebuilt from its weights.
    fn derive(mut self) -> Self {
        let weight = self.weights.weight.val();
        let flipped = flips(&weight, self.stride, self.padding)
            .then(|| Tensor::from_data(flip_weight(weight.clone()).into_data(), &weight.device()));
        let winograd = match &flipped {
            Some(flipped) if self.winograd && winograd_fits(flipped, self.padding) => {
                Some(winograd_weight(&weight))
            }
            _ => None,
        };
        self.derived = Derived { flipped, winograd };
        self
    }

    /// The same convolution with its parameters changed by `f`, the derived kernels rebuilt.
    fn with_weights(self, f: impl FnOnce(Weights) -> Weights) -> Self {
        Self {
            weights: f(self.weights),
            ..self
        }
        .derive()
    }

    /// The same convolution with Winograd's algorithm switched off (`false`: im2col and gemm)
    /// or back on where it fits (`true`, the default): a 3×3, stride-1 convolution of at least
    /// 32 channels both ways, on a backend with the kernel (Flex).
    pub fn with_winograd(self, on: bool) -> Self {
        Self {
            winograd: on,
            ..self
        }
        .derive()
    }

    /// Whether the convolution runs by Winograd's algorithm (see
    /// [`SquareConv2d::with_winograd`]).
    pub fn is_winograd(&self) -> bool {
        self.derived.winograd.is_some()
    }

    /// The weight `[out, in, k, k]`.
    pub fn weight(&self) -> Tensor<4> {
        self.weights.weight.val()
    }

    /// The bias `[out]`.
    pub fn bias(&self) -> Tensor<1> {
        self.weights.bias.val()
    }

    /// The stride and the padding, on both axes.
    pub fn stride_padding(&self) -> [usize; 2] {
        [self.stride, self.padding]
    }

    /// `[N, in, H, W]` → `[N, out, H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (weight, bias) = (self.weight(), self.bias());
        let Derived { flipped, winograd } = &self.derived;
        let (Some(winograd), Some(flipped)) = (winograd, flipped) else {
            return apply(x, weight, bias, flipped.clone(), self.stride, self.padding);
        };
        Tensor::from_dispatch(<Dispatch as SquareConvBackend>::square_conv2d_winograd(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            winograd.clone().into_dispatch(),
            flipped.clone().into_dispatch(),
            self.padding,
        ))
    }
}

/// A `Module` by its parameters (the `Weights`, recorded under this module's path), every
/// change of them rebuilding the derived kernels.
impl Module for SquareConv2d {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.weights.collect_devices(devices)
    }

    fn fork(self, device: &Device) -> Self {
        self.with_weights(|w| w.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        self.with_weights(|w| w.to_device(device))
    }

    fn train(self) -> Self {
        self.with_weights(Module::train)
    }

    fn valid(&self) -> Self {
        self.clone().with_weights(|w| w.valid())
    }

    fn materialize(self) -> Self {
        self.with_weights(Module::materialize)
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.weights.visit(visitor);
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        self.with_weights(|w| w.map(mapper))
    }
}

impl ModuleDisplayDefault for SquareConv2d {
    fn content(&self, content: Content) -> Option<Content> {
        let [outputs, inputs, kernel, _] = self.weights.weight.dims();
        content
            .add("ch_in", &inputs)
            .add("ch_out", &outputs)
            .add("kernel_size", &kernel)
            .add("stride", &self.stride)
            .add("padding", &self.padding)
            .add("winograd", &self.is_winograd())
            .optional()
    }
}

impl ModuleDisplay for SquareConv2d {}

/// Input (and output) channels from which a 3×3 stride-1 convolution with flipped weights runs
/// by Winograd's algorithm: fewer leave its 16 products too thin to pay for the transforms.
const WINOGRAD_MIN_CHANNELS: usize = 32;

/// Whether the convolution whose input gradient takes `flipped` (`[in, out, k, k]`, stride 1)
/// runs by Winograd's F(2×2, 3×3): a 3×3 kernel, a padding of at most 2 (the gradient's is
/// `2 − padding`), enough channels both ways.
fn winograd_fits(flipped: &Tensor<4>, padding: usize) -> bool {
    let [inputs, outputs, kernel, _] = flipped.dims();
    kernel == 3 && padding <= 2 && inputs.min(outputs) >= WINOGRAD_MIN_CHANNELS
}

/// Winograd's transformed kernels `[16, out, in]` of a `[out, in, 3, 3]` weight (read once, at
/// construction).
fn winograd_weight(weight: &Tensor<4>) -> Tensor<3> {
    let [outputs, channels, ..] = weight.dims();
    let values = weight
        .clone()
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>();
    let values = values.expect("a float tensor converted to f32");
    let u = crate::winograd::transform_weight(&values, outputs, channels);
    Tensor::from_data(
        TensorData::new(u, [crate::winograd::POINTS, outputs, channels]),
        &weight.device(),
    )
}

/// `conv2d(x, weight) + bias`, square kernel, `stride` and `padding` on both axes, through the
/// kernel where the backend has it (Burn's `conv2d` elsewhere). For weights that change between
/// calls (a `burn::nn` layer's parameters): the flipped weights of the input gradient, where it
/// takes them, are a strided view here, copied by the backward, where [`SquareConv2d`] keeps
/// them.
pub fn square_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let flipped = flips(&weight, stride, padding).then(|| flip_weight(weight.clone()));
    apply(x, weight, bias, flipped, stride, padding)
}

/// [`square_conv2d`] with an optional bias (none: a zero bias, through the same kernel; LRP's
/// rules apply the layer with modified weights alone).
pub fn square_conv2d_with(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    square_conv2d(x, weight, bias, stride, padding)
}

fn apply(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    flipped: Option<Tensor<4>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let (x, weight, bias) = (
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    );
    Tensor::from_dispatch(match flipped {
        Some(flipped) => <Dispatch as SquareConvBackend>::square_conv2d_flipped(
            x,
            weight,
            bias,
            flipped.into_dispatch(),
            padding,
        ),
        None => <Dispatch as SquareConvBackend>::square_conv2d(x, weight, bias, stride, padding),
    })
}

/// Input channels from which the input gradient is the forward kernel on the flipped weights.
/// Below, that product has too few rows for gemm's microkernel (the gradient of a one-channel
/// input is a matrix-vector product behind a 25-fold im2col), and Burn's transposed convolution
/// is faster: measured on the MNIST network (1 and 10 channels, 5×5) and ResNet-18 (64 a tie,
/// 128 and up faster flipped).
const FLIPPED_MIN_CHANNELS: usize = 32;

/// Whether the input gradient takes the flipped weights: stride 1, a padding the flipped
/// convolution can express, enough input channels, a backend with the kernel.
fn flips(weight: &Tensor<4>, stride: usize, padding: usize) -> bool {
    let [_, channels, kernel, _] = weight.dims();
    stride == 1
        && padding < kernel
        && channels >= FLIPPED_MIN_CHANNELS
        && Kernels::of(&weight.device()) == Kernels::Flex
}

#[cfg(feature = "flex")]
mod flex {
    //! The Flex kernel: im2col tiles from NCHW, gemm into the output.

    use burn::backend::flex::FlexTensor;
    use burn::backend::ops::ModuleOps;
    use burn::tensor::{DType, TensorData};
    use rayon::prelude::*;

    use super::{options, transposed};
    use crate::matmul::{self, Operand};
    use crate::scratch::with_scratch;

    /// `col` (`[rows, n]`, `rows = col.len() / n`) `= Wᵀ · rhs`: the im2col columns of an
    /// input gradient from `n` columns of the output's gradient (`rhs`, `[outputs, n]`), `W`
    /// the columns `first..first + rows` of the `[outputs, depth]` row-major `weight`.
    ///
    /// # Safety
    /// `rhs`'s `[outputs, n]` elements at its strides are in bounds.
    unsafe fn gradient_columns(
        col: &mut [f32],
        n: usize,
        weight: &[f32],
        first: usize,
        g: &Geometry,
        rhs: Operand<*const f32>,
        parallelism: gemm::Parallelism,
    ) {
        let rows = col.len() / n;
        debug_assert!(first + rows <= g.depth() && weight.len() >= g.outputs * g.depth());
        let lhs = Operand::columns(weight[first..].as_ptr(), g.depth());
        // SAFETY: lhs reads columns first..first + rows of the weight's rows, dst is `col`,
        // rhs is the caller's.
        unsafe {
            matmul::product(
                [rows, n, g.outputs],
                Operand::rows(col.as_mut_ptr(), n),
                lhs,
                rhs,
                false,
                parallelism,
            )
        };
    }

    /// im2col tiles of about this many bytes: they stay in the L2 cache between being written
    /// and being multiplied.
    const TILE_BYTES: usize = 256 * 1024;
    /// Output positions per tile, at least and at most.
    const TILE_COLUMNS: std::ops::RangeInclusive<usize> = 64..=1024;

    /// Multiply-adds below which an input gradient stays on the calling thread (one MNIST
    /// digit's are about 150 000): handing them to rayon costs more than it saves.
    const PARALLEL_WORK: usize = 1 << 20;

    /// The output pointer shared by the tasks; each writes its own (image, tile) block.
    #[derive(Clone, Copy)]
    struct Output(*mut f32);
    // SAFETY: tasks write disjoint blocks of the output and nothing reads it until they finish.
    unsafe impl Send for Output {}
    unsafe impl Sync for Output {}

    /// The geometry of one convolution.
    #[derive(Clone, Copy)]
    struct Geometry {
        channels: usize,
        height: usize,
        width: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        out_h: usize,
        out_w: usize,
    }

    impl Geometry {
        fn positions(&self) -> usize {
            self.out_h * self.out_w
        }

        fn depth(&self) -> usize {
            self.channels * self.kernel * self.kernel
        }

        /// A 1×1, stride-1, unpadded convolution multiplies the input planes as they are.
        fn is_pointwise(&self) -> bool {
            self.kernel == 1 && self.stride == 1 && self.padding == 0
        }

        /// Whether the products run on wide positions `oy·width + ox`, `ox` up to the input's
        /// width rather than the output's: for a stride-1, unpadded convolution each im2col row
        /// is then one contiguous slice of an input plane (and each col2im row one contiguous
        /// add), where the output's positions cut it into runs of `out_w` pixels (8 for the
        /// MNIST network's second convolution). The product's extra columns are dropped (or,
        /// for the input gradient, multiply zeros).
        fn is_wide(&self) -> bool {
            self.stride == 1 && self.padding == 0 && self.kernel > 1
        }

        /// Wide columns of output rows `first..first + rows`: the last row stops at `out_w`.
        fn wide_columns(&self, rows: usize) -> usize {
            (rows - 1) * self.width + self.out_w
        }
    }

    /// `conv2d(x, weight) + bias` for `f32` NCHW tensors; Burn's convolution for anything else.
    pub(super) fn conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: Option<FlexTensor>,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let x_shape = x.layout().shape().to_vec();
        let w_shape = weight.layout().shape().to_vec();
        let square = w_shape.len() == 4 && w_shape[2] == w_shape[3];
        let fits = x_shape.len() == 4
            && square
            && x_shape[1] == w_shape[1]
            && x_shape[2] + 2 * padding >= w_shape[2]
            && x_shape[3] + 2 * padding >= w_shape[3]
            && stride > 0;
        let all_f32 = [x.dtype(), weight.dtype()]
            .into_iter()
            .chain(bias.as_ref().map(|b| b.dtype()))
            .all(|d| d == DType::F32);
        if !fits || !all_f32 {
            return burn::backend::Flex::conv2d(x, weight, bias, options(stride, padding));
        }
        let (kernel, [batch, channels, height, width]) =
            (w_shape[2], [x_shape[0], x_shape[1], x_shape[2], x_shape[3]]);
        let out = |size: usize| (size + 2 * padding - kernel) / stride + 1;
        let geometry = Geometry {
            channels,
            height,
            width,
            outputs: w_shape[0],
            kernel,
            stride,
            padding,
            out_h: out(height),
            out_w: out(width),
        };
        let (x, weight) = (x.to_contiguous(), contiguous_weight(weight));
        let bias = bias.map(|b| b.to_contiguous());
        let output = run(
            x.storage(),
            batch,
            weight.storage(),
            bias.as_ref().map(|b| b.storage()),
            geometry,
        );
        FlexTensor::from_data(TensorData::new(
            output,
            [batch, geometry.outputs, geometry.out_h, geometry.out_w],
        ))
    }

    /// A 4-D `f32` weight made contiguous: a view's kernels (a stride-1 input gradient's
    /// flipped, transposed weights, built afresh for each call where the weights change) are
    /// copied one `k × k` kernel at a time, where Flex's general copy walks each element's
    /// index.
    fn contiguous_weight(weight: FlexTensor) -> FlexTensor {
        let layout = weight.layout();
        let shape = layout.shape().to_vec();
        if layout.is_contiguous() || shape.len() != 4 || weight.dtype() != DType::F32 {
            return weight.to_contiguous();
        }
        let strides = layout.strides().to_vec();
        let start = layout.start_offset() as isize;
        let src = weight.storage::<f32>();
        let mut dst = Vec::with_capacity(shape.iter().product());
        let taps = shape[2] * shape[3];
        // Each kernel one block of the storage, in order or reversed (a flipped kernel).
        let block = strides[3].abs() == 1 && strides[2] == strides[3] * shape[3] as isize;
        for a in 0..shape[0] as isize {
            for b in 0..shape[1] as isize {
                let base = start + a * strides[0] + b * strides[1];
                if block && strides[3] == 1 {
                    dst.extend_from_slice(&src[base as usize..base as usize + taps]);
                    continue;
                }
                if block {
                    let first = base as usize + 1 - taps;
                    dst.extend(src[first..=base as usize].iter().rev());
                    continue;
                }
                for y in 0..shape[2] as isize {
                    let row = base + y * strides[2];
                    dst.extend(
                        (0..shape[3] as isize).map(|x| src[(row + x * strides[3]) as usize]),
                    );
                }
            }
        }
        FlexTensor::from_data(TensorData::new(dst, shape))
    }

    /// `conv2d(x, weight) + bias` at stride 1 by Winograd's F(2×2, 3×3) from `winograd`, the
    /// transformed kernels of `weight` or, when `flipped` (an input gradient, `weight` the
    /// flipped weights), those of the forward convolution's weight; [`conv2d`] for anything the
    /// algorithm does not fit.
    pub(super) fn winograd(
        x: FlexTensor,
        weight: FlexTensor,
        winograd: FlexTensor,
        flipped: bool,
        bias: Option<FlexTensor>,
        padding: usize,
    ) -> FlexTensor {
        let x_shape = x.layout().shape().to_vec();
        let u_shape = winograd.layout().shape().to_vec();
        // `[16, outputs, channels]`, or `[16, channels, outputs]` for the flipped kernels.
        let (outputs, channels) = match (u_shape.as_slice(), flipped) {
            (&[_, outputs, channels], false) | (&[_, channels, outputs], true) => {
                (outputs, channels)
            }
            _ => (0, 0),
        };
        let fits = x_shape.len() == 4
            && u_shape.len() == 3
            && u_shape[0] == crate::winograd::POINTS
            && channels == x_shape[1]
            && outputs > 0
            && bias
                .as_ref()
                .is_none_or(|b| b.layout().shape().to_vec() == [outputs])
            && padding <= 2
            && x_shape[2] + 2 * padding >= 3
            && x_shape[3] + 2 * padding >= 3
            && [x.dtype(), winograd.dtype()]
                .into_iter()
                .chain(bias.as_ref().map(|b| b.dtype()))
                .all(|d| d == DType::F32);
        if !fits {
            return conv2d(x, weight, bias, 1, padding);
        }
        let g = crate::winograd::flex::Geometry {
            channels,
            height: x_shape[2],
            width: x_shape[3],
            outputs,
            padding,
        };
        let (x, winograd) = (x.to_contiguous(), winograd.to_contiguous());
        let bias = bias.map(|b| b.to_contiguous());
        let kernels = if flipped {
            crate::winograd::flex::Kernels::Flipped(winograd.storage())
        } else {
            crate::winograd::flex::Kernels::Forward(winograd.storage())
        };
        let output = crate::winograd::flex::conv2d(
            x.storage(),
            x_shape[0],
            kernels,
            bias.as_ref().map(|b| b.storage()),
            g,
        );
        FlexTensor::from_data(TensorData::new(
            output,
            [x_shape[0], g.outputs, g.out_h(), g.out_w()],
        ))
    }

    fn run(x: &[f32], batch: usize, weight: &[f32], bias: Option<&[f32]>, g: Geometry) -> Vec<f32> {
        let (positions, depth) = (g.positions(), g.depth());
        let mut output = vec![0.0_f32; batch * g.outputs * positions];
        if output.is_empty() {
            return output;
        }
        let columns = (TILE_BYTES / (4 * depth)).clamp(*TILE_COLUMNS.start(), *TILE_COLUMNS.end());
        let (tiles, columns) = if g.is_wide() {
            // Whole output rows per tile.
            let tiles = g.out_h.div_ceil((columns / g.out_w).max(1));
            (tiles, g.out_h.div_ceil(tiles) * g.out_w)
        } else {
            let tiles = positions.div_ceil(columns);
            (tiles, positions.div_ceil(tiles))
        };
        let tasks = batch * tiles;
        let threads = rayon::current_num_threads();
        let out = Output(output.as_mut_ptr());
        let task = |index: usize, parallelism: gemm::Parallelism| {
            let (image, tile) = (index / tiles, index % tiles);
            let start = tile * columns;
            let end = (start + columns).min(positions);
            let input =
                &x[image * g.channels * g.height * g.width..][..g.channels * g.height * g.width];
            // SAFETY: this task alone writes columns start..end of this image's output rows.
            unsafe { tile_product(input, weight, bias, g, start, end, out, image, parallelism) };
        };
        if tasks >= 2 * threads {
            (0..tasks)
                .into_par_iter()
                .for_each(|index| task(index, gemm::Parallelism::None));
        } else {
            // Too few tiles to share out: gemm splits each product over the threads instead.
            let parallelism = if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            (0..tasks).for_each(|index| task(index, parallelism));
        }
        output
    }

    /// The gradient w.r.t. an `f32` NCHW input of `[_, _, height, width]`, given the output's
    /// gradient `grad` and the `weight` of the convolution (Burn's transposed convolution for
    /// anything else): per image, `weightᵀ · grad` in cache-sized tiles of output positions, each
    /// column added back to the input pixel its tap saw (col2im), one input row at a time.
    pub(super) fn input_grad(
        grad: FlexTensor,
        weight: FlexTensor,
        [height, width]: [usize; 2],
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let g_shape = grad.layout().shape().to_vec();
        let w_shape = weight.layout().shape().to_vec();
        let out = |size: usize, kernel: usize| {
            (size + 2 * padding)
                .checked_sub(kernel)
                .map(|span| span / stride.max(1) + 1)
        };
        let fits = g_shape.len() == 4
            && w_shape.len() == 4
            && w_shape[2] == w_shape[3]
            && g_shape[1] == w_shape[0]
            && stride > 0
            && out(height, w_shape[2]) == Some(g_shape[2])
            && out(width, w_shape[3]) == Some(g_shape[3])
            && grad.dtype() == DType::F32
            && weight.dtype() == DType::F32;
        if !fits {
            return transposed::<burn::backend::Flex>(grad, weight, height, width, stride, padding);
        }
        let geometry = Geometry {
            channels: w_shape[1],
            height,
            width,
            outputs: w_shape[0],
            kernel: w_shape[2],
            stride,
            padding,
            out_h: g_shape[2],
            out_w: g_shape[3],
        };
        let (grad, weight) = (grad.to_contiguous(), contiguous_weight(weight));
        let batch = g_shape[0];
        let dx = run_input_grad(grad.storage(), batch, weight.storage(), geometry);
        FlexTensor::from_data(TensorData::new(
            dx,
            [batch, geometry.channels, height, width],
        ))
    }

    fn run_input_grad(grad: &[f32], batch: usize, weight: &[f32], g: Geometry) -> Vec<f32> {
        let plane = g.height * g.width;
        let mut dx = vec![0.0_f32; batch * g.channels * plane];
        if dx.is_empty() || g.positions() == 0 || g.outputs == 0 {
            return dx;
        }
        let threads = rayon::current_num_threads();
        let large = batch * g.outputs * g.depth() * g.positions() >= PARALLEL_WORK;
        let image_grad = |image: usize| &grad[image * g.outputs * g.positions()..];
        if large && batch * g.channels >= 2 * threads {
            // Tasks write disjoint input planes: blocks of channels of one image, enough of
            // them to share out when the batch alone is not.
            let blocks = (2 * threads).div_ceil(batch).min(g.channels);
            let block = g.channels.div_ceil(blocks) * plane;
            dx.par_chunks_mut(g.channels * plane)
                .enumerate()
                .for_each(|(image, planes)| {
                    planes
                        .par_chunks_mut(block)
                        .enumerate()
                        .for_each(|(index, planes)| {
                            let first = index * block / plane;
                            let parallelism = gemm::Parallelism::None;
                            channels_grad(image_grad(image), weight, g, first, planes, parallelism);
                        });
                });
        } else {
            // Too few planes to share out: gemm splits each product over the threads instead.
            let parallelism = if large && threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            for (image, planes) in dx.chunks_mut(g.channels * plane).enumerate() {
                channels_grad(image_grad(image), weight, g, 0, planes, parallelism);
            }
        }
        dx
    }

    /// The gradient of one image's input planes `first..` (as many as `planes` holds) from the
    /// output's gradient `grad` (`[outputs, positions]`, the image's).
    fn channels_grad(
        grad: &[f32],
        weight: &[f32],
        g: Geometry,
        first: usize,
        planes: &mut [f32],
        parallelism: gemm::Parallelism,
    ) {
        let (positions, taps) = (g.positions(), g.kernel * g.kernel);
        let rows = planes.len() / (g.height * g.width) * taps;
        let columns = (TILE_BYTES / (4 * rows)).clamp(*TILE_COLUMNS.start(), *TILE_COLUMNS.end());
        if g.is_wide() {
            return wide_channels_grad(grad, weight, g, first, planes, columns, parallelism);
        }
        let tiles = positions.div_ceil(columns);
        let columns = positions.div_ceil(tiles);
        with_scratch([rows * columns], |[col]| {
            for start in (0..positions).step_by(columns) {
                let n = columns.min(positions - start);
                let col = &mut col[..rows * n];
                let rhs = Operand::rows(grad[start..].as_ptr(), positions);
                // SAFETY: rhs, the gradient's columns `start..start + n` of its `outputs`
                // rows, is in bounds.
                unsafe {
                    gradient_columns(col, n, weight, first * taps, &g, rhs, parallelism);
                }
                col2im(col, g, start, start + n, planes);
            }
        });
    }

    /// [`channels_grad`] on wide positions ([`Geometry::is_wide`]): the output's gradient is
    /// laid out on them once (zeros in the extra columns), then each tile of whole output rows
    /// is one product and each of its rows one contiguous add into an input plane. The extra
    /// columns' products are exact zeros added to pixels inside the plane.
    fn wide_channels_grad(
        grad: &[f32],
        weight: &[f32],
        g: Geometry,
        first: usize,
        planes: &mut [f32],
        columns: usize,
        parallelism: gemm::Parallelism,
    ) {
        let (positions, taps) = (g.positions(), g.kernel * g.kernel);
        let plane = g.height * g.width;
        let rows = planes.len() / plane * taps;
        let full = g.wide_columns(g.out_h);
        let tile_rows = (columns / g.width).max(1);
        let most = g.wide_columns(tile_rows.min(g.out_h));
        with_scratch([g.outputs * full, rows * most], |[wide, col]| {
            for (o, wide) in wide.chunks_exact_mut(full).enumerate() {
                let grad = &grad[o * positions..][..positions];
                for (oy, line) in grad.chunks_exact(g.out_w).enumerate() {
                    let at = oy * g.width;
                    wide[at..at + g.out_w].copy_from_slice(line);
                    let gap = (at + g.width).min(full);
                    wide[at + g.out_w..gap].fill(0.0);
                }
            }
            for first_row in (0..g.out_h).step_by(tile_rows) {
                let n = g.wide_columns(tile_rows.min(g.out_h - first_row));
                let col = &mut col[..rows * n];
                let rhs = Operand::rows(wide[first_row * g.width..].as_ptr(), full);
                // SAFETY: rhs, the wide gradient's columns `first_row · width..` (n of them)
                // of its `outputs` rows, is in bounds.
                unsafe {
                    gradient_columns(col, n, weight, first * taps, &g, rhs, parallelism);
                }
                for (r, row) in col.chunks_exact(n).enumerate() {
                    let (channel, tap) = (r / taps, r % taps);
                    let at =
                        channel * plane + (first_row + tap / g.kernel) * g.width + tap % g.kernel;
                    for (pixel, value) in planes[at..at + n].iter_mut().zip(row) {
                        *pixel += value;
                    }
                }
            }
        });
    }

    /// The output positions `start..end` as runs along the output rows: `(offset from start,
    /// row, first column, length)`. One division per call, not per run: for a small image the
    /// runs are a few pixels long, and two divisions each were a large part of im2col's time.
    fn row_runs(
        g: Geometry,
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        let (mut oy, mut ox, mut position) = (start / g.out_w, start % g.out_w, start);
        std::iter::from_fn(move || {
            (position < end).then(|| {
                let run = (end - position).min(g.out_w - ox);
                let item = (position - start, oy, ox, run);
                (position, oy, ox) = (position + run, oy + 1, 0);
                item
            })
        })
    }

    /// im2col's inverse, adding: each row `(channel, ky, kx)` of `col` (columns: the output
    /// positions `start..end`) into the input pixels that tap saw; the padding's are dropped.
    fn col2im(col: &[f32], g: Geometry, start: usize, end: usize, planes: &mut [f32]) {
        let n = end - start;
        let plane_len = g.height * g.width;
        for (r, row) in col.chunks_exact(n).enumerate() {
            let (channel, tap) = (r / (g.kernel * g.kernel), r % (g.kernel * g.kernel));
            let (ky, kx) = (tap / g.kernel, tap % g.kernel);
            let plane = &mut planes[channel * plane_len..][..plane_len];
            for (offset, oy, ox, run) in row_runs(g, start, end) {
                let src = &row[offset..][..run];
                let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                if iy < 0 || iy >= g.height as isize {
                    continue;
                }
                let line = &mut plane[iy as usize * g.width..][..g.width];
                let first = (ox * g.stride + kx) as isize - g.padding as isize;
                if g.stride == 1 {
                    let lo = (-first).clamp(0, run as isize) as usize;
                    let hi = (g.width as isize - first).clamp(lo as isize, run as isize) as usize;
                    let from = (first + lo as isize) as usize;
                    let line = &mut line[from..from + (hi - lo)];
                    for (pixel, value) in line.iter_mut().zip(&src[lo..hi]) {
                        *pixel += value;
                    }
                } else {
                    for (j, value) in src.iter().enumerate() {
                        let ix = first + (j * g.stride) as isize;
                        if ix >= 0 && ix < g.width as isize {
                            line[ix as usize] += value;
                        }
                    }
                }
            }
        }
    }

    /// Output columns `start..end` of one image: `weight [outputs, depth] · col [depth, n]`
    /// (+ bias), written into the output rows in place.
    ///
    /// # Safety
    /// `out` points to a `[batch, outputs, positions]` buffer of which this call alone writes
    /// columns `start..end` of `image`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_product(
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        g: Geometry,
        start: usize,
        end: usize,
        out: Output,
        image: usize,
        parallelism: gemm::Parallelism,
    ) {
        let (positions, depth, n) = (g.positions(), g.depth(), end - start);
        // SAFETY: in bounds: image < batch, start < positions (the caller's contract).
        let dst = unsafe { out.0.add(image * g.outputs * positions + start) };
        if g.is_wide() {
            // SAFETY: the caller's contract, with whole output rows start..end.
            unsafe { wide_tile_product(input, weight, bias, g, start, end, dst, parallelism) };
            return;
        }
        if let Some(bias) = bias {
            for (row, &b) in bias.iter().enumerate() {
                // SAFETY: row < outputs and start + n <= positions; no other task writes here.
                unsafe { std::slice::from_raw_parts_mut(dst.add(row * positions), n) }.fill(b);
            }
        }
        let multiply = |rhs: *const f32, rhs_rs: usize| {
            // SAFETY: lhs is [outputs, depth] row-major, rhs [depth, n] with row stride rhs_rs,
            // dst [outputs, n] with row stride `positions`; all in bounds.
            unsafe {
                matmul::product(
                    [g.outputs, n, depth],
                    Operand::rows(dst, positions),
                    Operand::rows(weight.as_ptr(), depth),
                    Operand::rows(rhs, rhs_rs),
                    bias.is_some(),
                    parallelism,
                )
            }
        };
        if g.is_pointwise() {
            // SAFETY: start < positions, so the offset stays in the image's planes.
            multiply(unsafe { input.as_ptr().add(start) }, positions);
            return;
        }
        with_scratch([depth * n], |[col]| {
            im2col(input, g, start, end, col);
            multiply(col.as_ptr(), n);
        });
    }

    /// [`tile_product`] of whole output rows `start / out_w..end / out_w` on wide positions
    /// ([`Geometry::is_wide`]): each im2col row is one copy, the product goes to a scratch
    /// buffer, and its rows' first `out_w` columns (+ bias) to the output.
    ///
    /// # Safety
    /// `dst` points to column `start` of this image's `[outputs, positions]` output, of which
    /// this call alone writes columns `start..end`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn wide_tile_product(
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        g: Geometry,
        start: usize,
        end: usize,
        dst: *mut f32,
        parallelism: gemm::Parallelism,
    ) {
        let (positions, depth, taps) = (g.positions(), g.depth(), g.kernel * g.kernel);
        let (first_row, rows) = (start / g.out_w, (end - start) / g.out_w);
        let n = g.wide_columns(rows);
        let plane = g.height * g.width;
        with_scratch([depth * n, g.outputs * n], |[col, product]| {
            for (r, row) in col.chunks_exact_mut(n).enumerate() {
                let (channel, tap) = (r / taps, r % taps);
                let at = channel * plane + (first_row + tap / g.kernel) * g.width;
                row.copy_from_slice(&input[at + tap % g.kernel..][..n]);
            }
            // SAFETY: lhs is [outputs, depth] row-major, rhs `col` [depth, n], dst
            // `product` [outputs, n]; all in bounds.
            unsafe {
                matmul::product(
                    [g.outputs, n, depth],
                    Operand::rows(product.as_mut_ptr(), n),
                    Operand::rows(weight.as_ptr(), depth),
                    Operand::rows(col.as_ptr(), n),
                    false,
                    parallelism,
                )
            };
            for (o, wide) in product.chunks_exact(n).enumerate() {
                let b = bias.map_or(0.0, |b| b[o]);
                for j in 0..rows {
                    // SAFETY: row o, columns start + j·out_w.. of out_w: inside start..end.
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.add(o * positions + j * g.out_w),
                            g.out_w,
                        )
                    };
                    for (value, &sum) in out.iter_mut().zip(&wide[j * g.width..]) {
                        *value = sum + b;
                    }
                }
            }
        });
    }

    /// Rows `(channel, ky, kx)`, columns the output positions `start..end`: the input pixel
    /// each kernel tap sees, 0 in the padding.
    fn im2col(input: &[f32], g: Geometry, start: usize, end: usize, col: &mut [f32]) {
        let n = end - start;
        let plane_len = g.height * g.width;
        for (r, row) in col.chunks_exact_mut(n).enumerate() {
            let (channel, tap) = (r / (g.kernel * g.kernel), r % (g.kernel * g.kernel));
            let (ky, kx) = (tap / g.kernel, tap % g.kernel);
            let plane = &input[channel * plane_len..][..plane_len];
            for (offset, oy, ox, run) in row_runs(g, start, end) {
                let dst = &mut row[offset..][..run];
                let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                if iy < 0 || iy >= g.height as isize {
                    dst.fill(0.0);
                    continue;
                }
                let line = &plane[iy as usize * g.width..][..g.width];
                // The input column of the run's first tap.
                let first = (ox * g.stride + kx) as isize - g.padding as isize;
                if g.stride == 1 {
                    let lo = (-first).clamp(0, run as isize) as usize;
                    let hi = (g.width as isize - first).clamp(lo as isize, run as isize) as usize;
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let from = (first + lo as isize) as usize;
                    dst[lo..hi].copy_from_slice(&line[from..from + (hi - lo)]);
                } else {
                    for (j, value) in dst.iter_mut().enumerate() {
                        let ix = first + (j * g.stride) as isize;
                        *value = if ix >= 0 && ix < g.width as isize {
                            line[ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::conv2d;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::{SquareConv2d, options, square_conv2d};

    /// The square convolution (the module, and the function of changing weights) and its input
    /// gradient against Burn's `conv2d` on the same device, for every kernel, stride and
    /// padding the ResNet family uses and a few more (odd sizes, a 1-pixel image, outputs that
    /// drop the last row). Every other shape's weight is a permuted view (the kernels' copy
    /// by element), the others' contiguous (the flipped kernels' copy by block).
    fn check(device: &Device, shapes: &[([usize; 4], usize, usize, usize, usize)]) {
        for (index, &(x_shape, outputs, kernel, stride, padding)) in shapes.iter().enumerate() {
            let [_, channels, ..] = x_shape;
            let normal = Distribution::Normal(0.0, 1.0);
            let weight = match index % 2 {
                0 => Tensor::<4>::random([outputs, channels, kernel, kernel], normal, device),
                _ => Tensor::<4>::random([kernel, kernel, outputs, channels], normal, device)
                    .permute([2, 3, 0, 1]),
            };
            let bias = Tensor::<1>::random([outputs], Distribution::Normal(0.0, 1.0), device);
            let x = Tensor::<4>::random(x_shape, Distribution::Normal(0.0, 1.0), device);
            let conv = SquareConv2d::new(weight.clone(), bias.clone(), stride, padding);

            let gradient = |ours: Option<bool>| {
                let x = x.clone().autodiff().require_grad();
                let y = match ours {
                    Some(true) => conv.forward(x.clone()),
                    Some(false) => {
                        square_conv2d(x.clone(), weight.clone(), bias.clone(), stride, padding)
                    }
                    None => conv2d(
                        x.clone(),
                        weight.clone(),
                        Some(bias.clone()),
                        options(stride, padding),
                    ),
                };
                // A fixed, non-uniform upstream gradient (a seeded function of the position).
                let count = y.shape().num_elements();
                let upstream: Vec<f32> = (0..count).map(|i| (i as f32).sin()).collect();
                let upstream =
                    Tensor::<1>::from_floats(upstream.as_slice(), &y.device()).reshape(y.dims());
                let grads = (y.clone() * upstream).sum().backward();
                (
                    y.detach().without_autodiff(),
                    x.grad(&grads).expect("input gradient"),
                )
            };
            let (y_ref, dx_ref) = gradient(None);
            for module in [true, false] {
                let (y, dx) = gradient(Some(module));
                let label = format!(
                    "x {x_shape:?}, {outputs} outputs, k {kernel}, s {stride}, p {padding}, \
                     module {module}"
                );
                assert_eq!(y.dims(), y_ref.dims(), "{label}");
                let scale = |t: &Tensor<4>| t.clone().abs().max().into_scalar::<f32>().max(1.0);
                let forward = (y - y_ref.clone()).abs().max().into_scalar::<f32>() / scale(&y_ref);
                let backward =
                    (dx - dx_ref.clone()).abs().max().into_scalar::<f32>() / scale(&dx_ref);
                assert!(forward < 1e-5, "{label}: forward differs by {forward:e}");
                assert!(
                    backward < 1e-5,
                    "{label}: input gradient differs by {backward:e}"
                );
            }
        }
    }

    const SHAPES: &[([usize; 4], usize, usize, usize, usize)] = &[
        ([2, 3, 23, 19], 8, 7, 2, 3),   // the ImageNet stem, odd sizes
        ([3, 16, 14, 14], 16, 3, 1, 1), // a basic block's convolutions
        ([2, 16, 15, 13], 32, 3, 2, 1), // the first block of a stage
        ([2, 16, 15, 13], 32, 1, 2, 0), // its downsample
        ([1, 32, 7, 7], 24, 1, 1, 0),   // a bottleneck's 1×1
        ([1, 8, 1, 1], 4, 3, 1, 1),     // a 1-pixel image
        ([2, 4, 9, 9], 6, 3, 1, 0),     // no padding: the output shrinks
        ([1, 4, 8, 8], 5, 2, 2, 0),     // an even kernel
        ([1, 600, 6, 6], 8, 3, 1, 1),   // a deep input: tiles of the minimum width
        ([2, 64, 30, 30], 16, 3, 1, 1), // many tiles: the parallel path
        ([3, 64, 30, 30], 16, 1, 1, 0), // many pointwise tiles
        // The col2im input gradient's parallel paths: over images, over blocks of one image's
        // channels (10 in uneven blocks), and inside gemm (too few planes to share out).
        ([4, 8, 30, 30], 16, 3, 2, 1),
        ([1, 10, 40, 40], 32, 3, 2, 1),
        ([1, 3, 64, 64], 16, 7, 2, 3),
        // Stride 1 unpadded, on wide positions: the MNIST network's two convolutions, tiles
        // of several output rows (the last one shorter), a 1×1 output.
        ([3, 1, 28, 28], 10, 5, 1, 0),
        ([2, 10, 12, 12], 10, 5, 1, 0),
        ([2, 16, 41, 40], 8, 3, 1, 0),
        ([1, 3, 5, 5], 4, 5, 1, 0),
        // Winograd's F(2×2, 3×3) (3×3, stride 1, at least 32 channels both ways): odd sizes
        // (tiles cut at the border), every padding it takes (its gradient's is 2 − padding),
        // a 1-pixel image, enough blocks to run in parallel.
        ([2, 32, 13, 11], 40, 3, 1, 1),
        ([1, 48, 7, 7], 32, 3, 1, 1),
        ([2, 32, 9, 10], 32, 3, 1, 0),
        ([1, 32, 5, 6], 33, 3, 1, 2),
        ([1, 32, 1, 1], 32, 3, 1, 1),
        ([3, 32, 40, 40], 32, 3, 1, 1),
    ];

    #[cfg(feature = "flex")]
    #[test]
    fn flex_kernel_equals_burn_conv2d_and_its_input_gradient() {
        check(&Device::flex(), SHAPES);
    }

    #[test]
    fn default_device_equals_burn_conv2d_and_its_input_gradient() {
        check(&Device::default(), &SHAPES[..3]);
    }
}
