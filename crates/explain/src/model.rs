//! The contract a CNN fulfils to be explained.

use burn::tensor::{Device, Tensor, activation};

use crate::guided::{deconvolution_relu, guided_relu, positive_gradient, positive_gradient_to};
use crate::view::LayerView;

/// How a model applies its ReLUs during an explanation.
///
/// Grad-CAM runs the ordinary network; guided backpropagation runs it with every ReLU replaced by
/// a guided ReLU, whose forward is an ordinary ReLU and whose backward also zeroes negative
/// incoming gradients; deconvolution replaces every ReLU's backward by a ReLU of the incoming
/// gradient. A model implementing [`Explainable`] routes each of its ReLUs through
/// [`ReluMode::apply`] so both can be run from one definition of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReluMode {
    /// `relu(x)` with its usual gradient `grad · 1[x > 0]`.
    #[default]
    Standard,
    /// `relu(x)` with the guided gradient `relu(grad) · 1[x > 0]`.
    Guided,
    /// `relu(x)` with the deconvolution gradient `relu(grad)`, whatever the sign of `x`.
    Deconvolution,
}

impl ReluMode {
    /// Applies the ReLU this mode stands for.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::ReluMode;
    ///
    /// let x = Tensor::<1>::from_floats([-1.0, 2.0], &Device::default());
    /// let y = ReluMode::Guided.apply(x);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
    /// ```
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Standard => activation::relu(x),
            Self::Guided => guided_relu(x),
            Self::Deconvolution => deconvolution_relu(x),
        }
    }

    /// Applies any other activation `f` (SiLU, GELU, leaky ReLU, …) under this mode's rule, so
    /// that guided backpropagation and deconvolution reach models without ReLUs:
    ///
    /// - `Standard`: `f(x)` with its own gradient `grad · f'(x)`;
    /// - `Guided`: `f(x)` with `relu(grad) · f'(x)`: the activation's own derivative kept, the
    ///   negative incoming gradient zeroed (for `f = relu`, exactly [`ReluMode::apply`]);
    /// - `Deconvolution`: `f(x)` with `relu(grad)`, whatever `f'(x)` is.
    ///
    /// Captum's `GuidedBackprop` and `Deconvolution` override only `nn.ReLU` modules (a SiLU or
    /// GELU keeps its plain gradient there), as does pytorch-grad-cam's
    /// `GuidedBackpropReLUModel`; this rule is the one that generalises theirs.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor, activation};
    /// use gradcam_explain::ReluMode;
    ///
    /// let device = Device::default().autodiff();
    /// let x = Tensor::<1>::from_floats([-1.0, 2.0], &device).require_grad();
    /// let y = ReluMode::Guided.activation(x.clone(), activation::silu);
    /// let upstream = Tensor::<1>::from_floats([1.0, -1.0], &device);
    /// let grads = (y * upstream).sum().backward();
    /// let grad = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
    /// // silu'(-1) = 0.0723…; the negative upstream gradient at x = 2 is zeroed.
    /// assert!((grad[0] - 0.072_329).abs() < 1e-5 && grad[1] == 0.0);
    /// ```
    pub fn activation<const D: usize>(
        self,
        x: Tensor<D>,
        f: impl FnOnce(Tensor<D>) -> Tensor<D>,
    ) -> Tensor<D> {
        match self {
            Self::Standard => f(x),
            Self::Guided => positive_gradient(f(x)),
            Self::Deconvolution => {
                let y = f(x.clone()).detach();
                positive_gradient_to(x, y)
            }
        }
    }
}

/// What the model's forward pass applies to its logits; it decides the default score.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputLayer {
    /// `log_softmax(logits)`, as the MNIST reference network does.
    #[default]
    LogSoftmax,
    /// `softmax(logits)`.
    Softmax,
    /// The logits themselves.
    Identity,
}

impl OutputLayer {
    /// Applies the output layer to logits of shape `[N, classes]`.
    pub fn apply(self, logits: Tensor<2>) -> Tensor<2> {
        match self {
            Self::LogSoftmax => activation::log_softmax(logits, 1),
            Self::Softmax => activation::softmax(logits, 1),
            Self::Identity => logits,
        }
    }
}

/// A CNN split at the layer whose activations Grad-CAM weighs.
///
/// `forward(x) = output_layer(logits(features(x)))`. Every ReLU of both halves must go through
/// the given [`ReluMode`], so that guided backpropagation reaches all of them.
///
/// The model's parameters should live on a plain (non-autodiff) device: the explainer makes only
/// the input and the feature maps differentiable, so no weight gradient is ever computed.
pub trait Explainable {
    /// `[channels, height, width]` of one input image.
    fn input_shape(&self) -> [usize; 3];

    /// Runs the network from the input `[N, C, H, W]` up to the explained layer's output
    /// `[N, K, h, w]`.
    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4>;

    /// Runs the rest of the network, from the explained layer's output to the pre-softmax
    /// class scores `[N, classes]`.
    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2>;

    /// [`Explainable::features`] with `tap(name, x)` called at each of the model's other split
    /// points (a ResNet's earlier stages), the forward continuing from what `tap` returns:
    /// what a CAM over several layers ([`crate::MultiLayerCam`], pytorch-grad-cam's list of
    /// `target_layers`) needs. It must compute what `features` computes; the default has no
    /// other split point.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::{Explainable, ReluMode};
    ///
    /// struct TwoLayers;
    /// impl Explainable for TwoLayers {
    ///     fn input_shape(&self) -> [usize; 3] { [1, 4, 4] }
    ///     fn features(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
    ///         self.features_tapped(x, relu, &mut |_, x| x)
    ///     }
    ///     fn features_tapped(
    ///         &self,
    ///         x: Tensor<4>,
    ///         relu: ReluMode,
    ///         tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ///     ) -> Tensor<4> {
    ///         let first = tap("first", relu.apply(x * 2.0));
    ///         relu.apply(first - 1.0)
    ///     }
    ///     fn logits(&self, a: Tensor<4>, _: ReluMode) -> Tensor<2> { a.sum_dims_squeeze::<2, _>(&[2, 3]) }
    ///     fn device(&self) -> Device { Device::default() }
    /// }
    /// # let _ = TwoLayers;
    /// ```
    fn features_tapped(
        &self,
        input: Tensor<4>,
        relu: ReluMode,
        tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let _ = tap;
        self.features(input, relu)
    }

    /// How a CAM sees the explained layer's output, when it is not a feature map (pytorch-grad-cam's
    /// `reshape_transform`: a vision transformer's tokens as a grid, [`crate::TokenGrid`]).
    /// `None`, the default, for a CNN: the features are the map.
    fn layer_view(&self) -> Option<&dyn LayerView> {
        None
    }

    /// What the forward pass applies to the logits.
    fn output_layer(&self) -> OutputLayer {
        OutputLayer::LogSoftmax
    }

    /// The device the parameters live on; inputs are moved there.
    fn device(&self) -> Device;
}

/// A model whose layers can be re-initialised: what the model-randomisation sanity check
/// (Adebayo et al., "Sanity Checks for Saliency Maps", 2018) needs.
pub trait Reinitialize: Explainable + Sized {
    /// The names of the layers that carry parameters, from input to output.
    fn layer_names(&self) -> Vec<String>;

    /// A copy whose layers at the given indices (into [`Reinitialize::layer_names`]) have fresh
    /// random parameters drawn from `seed`; the other layers are shared unchanged. Indices out of
    /// range are ignored.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self;
}
