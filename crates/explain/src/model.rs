//! The contract a CNN fulfils to be explained.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData, activation};
use gradcam_ops::{deconvolution_relu, guided_relu, positive_gradient, positive_gradient_to};

use crate::linearise;
use crate::lrp::{self, Affine, AffineKind, LrpComposite};
use crate::noise;
use crate::rescale;

/// `f(x)` whose backward passes the incoming gradient (LRP's relevance) straight to `x`: zennit's
/// `Pass` rule for activations.
fn pass<const D: usize>(x: Tensor<D>, f: impl FnOnce(Tensor<D>) -> Tensor<D>) -> Tensor<D> {
    let y = f(x.clone().detach());
    y + (x.clone() - x.detach())
}
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
    /// `relu(x)` under DeepLIFT's Rescale rule (Captum's `DeepLift`): the pass's batch holds `N`
    /// inputs and then their `N` references, and the backward multiplies the incoming gradient
    /// by `(relu(x) − relu(x_ref)) / (x − x_ref)` (relu's own slope where `|x − x_ref| <
    /// 1e-10`). Max pooling under this mode ([`ReluMode::max_pool`]) follows Captum's DeepLIFT
    /// rule for it. On an odd batch (no pairs) the ordinary gradient is used.
    Rescale,
    /// Layer-wise relevance propagation under a composite: every affine layer the model routes
    /// through [`ReluMode::affine`] takes the composite's rule, every ReLU (and routed
    /// activation) passes the relevance on unchanged, max pooling keeps its gradient.
    Lrp(LrpComposite),
    /// `relu(x)` with its usual gradient, as [`ReluMode::Standard`]; each convolution routed
    /// through [`ReluMode::affine`] also gets a zero-valued differentiable probe on its output
    /// while a [`crate::FullGrad`] pass runs, whose gradient is the score's gradient there.
    BiasProbes,
    /// The network linearised at the first half of the pass's batch: the batch holds `N` points
    /// and then `N` more, and the second half goes through every ReLU and max pooling with the
    /// first half's gates (a ReLU passes `x₂` where `x₁ > 0`, a max pooling takes `x₂` where
    /// `x₁` has its maximum). Affine layers, sums and average poolings act on both halves
    /// alike, so for a network whose nonlinearities are all routed ReLUs and max poolings the
    /// second half's output minus the first's is exactly `J · (x₂ − x₁)`, the Jacobian of the
    /// first half's output times the difference (a forward-mode derivative; what
    /// [`crate::ShapleyCam`]'s Hessian-vector product needs). A nonlinearity it cannot
    /// linearise exactly — a routed activation other than a ReLU, a gate, a max pooling whose
    /// windows overlap another's maximum — makes the second half non-finite, so the caller
    /// knows. The forward of the first half is the network's own; its backward is not used.
    Linearised,
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
            Self::Standard | Self::BiasProbes => activation::relu(x),
            Self::Linearised => linearise::relu(x),
            Self::Guided => guided_relu(x),
            Self::Deconvolution => deconvolution_relu(x),
            Self::Rescale => rescale::nonlinearity(x, activation::relu),
            Self::Lrp(_) => pass(x, activation::relu),
        }
    }

    /// Applies an affine layer (a convolution or a fully connected layer) under this mode's
    /// rule: itself, except under [`ReluMode::Lrp`], where the composite's LRP rule for the
    /// layer replaces its backward. A model routes its affine layers through here (and says so
    /// in [`Explainable::routes_affine_layers`]) for LRP to reach them.
    ///
    /// ```
    /// use burn::tensor::module::linear;
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::{Affine, AffineKind, ReluMode};
    ///
    /// let device = Device::default();
    /// let weight = Tensor::<2>::from_floats([[1.0], [2.0]], &device);
    /// let layer = Affine {
    ///     kind: AffineKind::Dense,
    ///     first: true,
    ///     nonnegative_input: false,
    ///     weight: weight.clone(),
    ///     bias: None,
    ///     forward: &|x| linear(x, weight.clone(), None),
    ///     apply: &|x, w, b| linear(x, w, b),
    /// };
    /// let x = Tensor::<2>::from_floats([[3.0, 4.0]], &device);
    /// let y = ReluMode::Standard.affine(x, layer);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![11.0]);
    /// ```
    pub fn affine<const D: usize, const W: usize>(
        self,
        x: Tensor<D>,
        layer: Affine<'_, D, W>,
    ) -> Tensor<D> {
        match self {
            Self::Lrp(composite) => composite.rule(&layer).apply(x, &layer),
            Self::BiasProbes if layer.kind == AffineKind::Convolution => {
                crate::pixel::full_grad_probe((layer.forward)(x), layer.bias)
            }
            _ => (layer.forward)(x),
        }
    }

    /// Applies a max pooling `pool` (any window, stride and padding; its ordinary backward
    /// routes each window's gradient to the window's maximum) under this mode's rule: itself,
    /// except under [`ReluMode::Rescale`], where Captum's DeepLIFT rule for max pooling
    /// replaces its backward. A model that routes its max poolings through here gives DeepLIFT
    /// Captum's treatment of `nn.MaxPool2d`; one that does not gets the plain max-pool gradient
    /// there, as Captum does for a functional `F.max_pool2d`. Other modes need no routing.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use burn::tensor::module::max_pool2d;
    /// use burn::tensor::ops::MaxPoolOptions;
    /// use gradcam_explain::ReluMode;
    ///
    /// let pool = |x| max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]));
    /// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &Device::default());
    /// let y = ReluMode::Standard.max_pool(x, pool);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![4.0]);
    /// ```
    pub fn max_pool(self, x: Tensor<4>, pool: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
        match self {
            Self::Rescale => rescale::max_pool(x, pool),
            Self::Linearised => linearise::max_pool(x, pool),
            _ => pool(x),
        }
    }

    /// Adds a residual connection's branches under this mode's rule: their sum, except under
    /// [`ReluMode::Lrp`], where the relevance is split between the branches in proportion to
    /// their values (zennit's `Norm` rule on the sum its ResNet canonizer inserts). A model
    /// that sums its residual branches with `+` instead gives LRP the sum's gradient there
    /// (each branch the whole relevance), which does not conserve it.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::ReluMode;
    ///
    /// let device = Device::default();
    /// let a = Tensor::<1>::from_floats([1.0, 2.0], &device);
    /// let b = Tensor::<1>::from_floats([3.0, -1.0], &device);
    /// let y = ReluMode::Standard.add(a, b);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![4.0, 1.0]);
    /// ```
    pub fn add<const D: usize>(self, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Lrp(_) => lrp::norm_sum(vec![a, b]),
            _ => a + b,
        }
    }

    /// Scales `x` by a gate computed from it (a squeeze-and-excitation block's `x · σ(…)`,
    /// `scale` broadcast over `x`'s shape) under this mode's rule: the product, except under
    /// [`ReluMode::Lrp`], where the gate is a constant and all the relevance flows through `x`
    /// (the "signal-take-all" rule LRP uses for multiplicative gates, Arras et al. 2017). A
    /// model that multiplies with `*` instead splits the relevance's gradient between both
    /// factors. Under [`ReluMode::Linearised`] a gate curves the network, so the second half
    /// comes out NaN (a model that multiplies with `*` there must not claim
    /// [`Explainable::routes_head_nonlinearities`]).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::ReluMode;
    ///
    /// let device = Device::default();
    /// let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
    /// let scale = Tensor::<2>::from_floats([[0.5]], &device);
    /// let y = ReluMode::Standard.gate(x, scale);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![0.5, 1.0]);
    /// ```
    pub fn gate<const D: usize>(self, x: Tensor<D>, scale: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Lrp(_) => x * scale.detach(),
            Self::Linearised => linearise::curved(x * scale),
            _ => x * scale,
        }
    }

    /// Applies an average pooling `pool` (any window, or adaptive) under this mode's rule:
    /// itself, except under [`ReluMode::Lrp`], where the relevance of each window goes to its
    /// inputs in proportion to their values (zennit's `Norm` rule for average pooling).
    ///
    /// ```
    /// use burn::tensor::module::adaptive_avg_pool2d;
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::ReluMode;
    ///
    /// let x = Tensor::<4>::from_floats([[[[1.0, 3.0]]]], &Device::default());
    /// let y = ReluMode::Standard.avg_pool(x, |x| adaptive_avg_pool2d(x, [1, 1]));
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![2.0]);
    /// ```
    pub fn avg_pool(self, x: Tensor<4>, pool: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
        match self {
            Self::Lrp(_) => lrp::norm_pool(x, pool),
            _ => pool(x),
        }
    }

    /// Applies a `burn::nn::Linear` layer as an affine layer of the pass
    /// ([`ReluMode::affine`]): under [`ReluMode::Lrp`], the composite's rule for fully
    /// connected layers (`first`: the layer the input meets).
    ///
    /// ```
    /// use burn::nn::LinearConfig;
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::ReluMode;
    ///
    /// let device = Device::default();
    /// let layer = LinearConfig::new(3, 2).init(&device);
    /// let x = Tensor::<2>::ones([4, 3], &device);
    /// let routed = ReluMode::Standard.linear(&layer, x.clone(), false);
    /// assert_eq!(routed.into_data(), layer.forward(x).into_data());
    /// ```
    pub fn linear<const D: usize>(self, layer: &Linear, x: Tensor<D>, first: bool) -> Tensor<D> {
        self.affine(
            x,
            Affine {
                kind: AffineKind::Dense,
                first,
                nonnegative_input: false,
                weight: layer.weight.val(),
                bias: layer.bias.as_ref().map(|bias| bias.val()),
                forward: &|x| layer.forward(x),
                apply: &|x, weight, bias| burn::tensor::module::linear(x, weight, bias),
            },
        )
    }

    /// Whether the mode's ReLUs need the backend's guided-ReLU kernels.
    pub(crate) fn needs_kernels(self) -> bool {
        matches!(self, Self::Guided | Self::Deconvolution)
    }

    /// Applies any other activation `f` (SiLU, GELU, leaky ReLU, …) under this mode's rule, so
    /// that guided backpropagation and deconvolution reach models without ReLUs:
    ///
    /// - `Standard`: `f(x)` with its own gradient `grad · f'(x)`;
    /// - `Guided`: `f(x)` with `relu(grad) · f'(x)`: the activation's own derivative kept, the
    ///   negative incoming gradient zeroed (for `f = relu`, exactly [`ReluMode::apply`]);
    /// - `Deconvolution`: `f(x)` with `relu(grad)`, whatever `f'(x)` is.
    /// - `Rescale`: `f(x)` with DeepLIFT's multiplier `(f(x) − f(x_ref)) / (x − x_ref)`. Captum
    ///   applies it only to the activation modules it lists (ReLU, ELU, leaky ReLU, sigmoid,
    ///   tanh, softplus) and gives a GELU or SiLU its plain gradient; here every routed
    ///   activation takes it, as DeepLIFT defines the rule.
    /// - `Linearised`: `f(x)`, the batch's second half NaN: an activation other than a ReLU
    ///   curves the network, which a linearisation cannot follow exactly.
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
            Self::Standard | Self::BiasProbes => f(x),
            Self::Linearised => linearise::curved(f(x)),
            Self::Guided => positive_gradient(f(x)),
            Self::Deconvolution => {
                let y = f(x.clone()).detach();
                positive_gradient_to(x, y)
            }
            Self::Rescale => rescale::nonlinearity(x, f),
            Self::Lrp(_) => pass(x, f),
        }
    }
}

/// What the model's forward pass applies to its logits; it decides the default score.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OutputLayer {
    /// `log_softmax(logits)`, as the MNIST reference network does.
    LogSoftmax,
    /// `softmax(logits)`.
    Softmax,
    /// The logits themselves (a torchvision classifier's output; the default).
    #[default]
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

/// A dense-output model's `[N, classes]` scores: its output map `[N, classes, H, W]` averaged
/// over the pixels (what the methods resolve "the predicted class" on; see
/// [`Explainable::output_map`]).
pub fn pooled_scores(map: Tensor<4>) -> Tensor<2> {
    map.mean_dims(&[2, 3]).flatten::<2>(1, 3)
}

/// A CNN split at the layer whose activations Grad-CAM weighs.
///
/// `forward(x) = output_layer(logits(features(x)))`. Every ReLU of both halves must go through
/// the given [`ReluMode`], so that guided backpropagation reaches all of them; DeepLIFT also
/// needs every max pooling routed through [`ReluMode::max_pool`] (without it, those take their
/// ordinary gradient).
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

    /// For a model with a dense output (a segmentation network): the rest of the network from
    /// the explained layer's output to its output map `[N, classes, H, W]` (pre-softmax, per
    /// pixel). `None`, the default, for a classifier.
    ///
    /// When it is given, the methods read the model's `[N, classes]` scores as the map's mean
    /// over its pixels ([`crate::pooled_scores`]; [`Explainable::logits`] should return the
    /// same), and a target may read the map itself: a class inside a region
    /// ([`crate::Region`], pytorch-grad-cam's `SemanticSegmentationTarget`).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::{Explainable, ReluMode, pooled_scores};
    ///
    /// /// Two classes per pixel: the feature and its negation.
    /// struct PerPixel;
    /// impl Explainable for PerPixel {
    ///     fn input_shape(&self) -> [usize; 3] { [1, 4, 4] }
    ///     fn features(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> { relu.apply(x) }
    ///     fn output_map(&self, a: Tensor<4>, _: ReluMode) -> Option<Tensor<4>> {
    ///         Some(Tensor::cat(vec![a.clone(), -a], 1))
    ///     }
    ///     fn logits(&self, a: Tensor<4>, relu: ReluMode) -> Tensor<2> {
    ///         pooled_scores(self.output_map(a, relu).expect("a map"))
    ///     }
    ///     fn device(&self) -> Device { Device::default() }
    /// }
    /// # let _ = PerPixel;
    /// ```
    fn output_map(&self, features: Tensor<4>, relu: ReluMode) -> Option<Tensor<4>> {
        let _ = (features, relu);
        None
    }

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

    /// What the forward pass applies to the logits: nothing by default (the model returns its
    /// logits, as torchvision's classifiers do); a model ending in `log_softmax` (the seed's
    /// MNIST network) says so, and the default score, its model output, is then the
    /// log-probability.
    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    /// Whether every convolution and fully connected layer of the model goes through
    /// [`ReluMode::affine`] (or [`ReluMode::linear`]), and every residual sum and average
    /// pooling through [`ReluMode::add`] and [`ReluMode::avg_pool`], as LRP needs (false by
    /// default: LRP then refuses the model with [`crate::ExplainError::Unrouted`]).
    fn routes_affine_layers(&self) -> bool {
        false
    }

    /// Whether every nonlinearity of [`Explainable::logits`] (the network after the explained
    /// layer) goes through the pass rule: each ReLU through [`ReluMode::apply`], each max
    /// pooling through [`ReluMode::max_pool`], any other activation through
    /// [`ReluMode::activation`] and a multiplicative gate through [`ReluMode::gate`] — no
    /// unrouted LayerNorm, softmax or product of activations there. [`ReluMode::Linearised`]
    /// is then exact, or says it is not; [`crate::ShapleyCam`] needs it (false by default: it
    /// then refuses the model with [`crate::ExplainError::NoHessian`]).
    fn routes_head_nonlinearities(&self) -> bool {
        false
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

/// A copy of `module` whose parameters under each of the module paths `layers` (a field name,
/// `"fc"`, or a nested path, `"stages.3"`) are drawn afresh: uniform in `±1/√fan_in`, PyTorch's
/// default for `Conv2d` and `Linear`, weights and biases alike (a bias takes its module's
/// weight's fan-in), each parameter from its own stream of `seed` (so the draw of one does not
/// depend on which others are drawn). Every other parameter is kept. What
/// [`Reinitialize::reinitialized`] does for a Burn module.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::Device;
/// use gradcam_explain::reinitialize_layers;
///
/// #[derive(Module, Debug)]
/// struct Two { first: Linear, second: Linear }
///
/// let device = Device::default();
/// let net = Two {
///     first: LinearConfig::new(16, 4).init(&device),
///     second: LinearConfig::new(4, 2).init(&device),
/// };
/// let fresh = reinitialize_layers(net.clone(), &["second"], 7);
/// let same = |a: &Linear, b: &Linear| a.weight.val().equal(b.weight.val()).all().into_scalar::<bool>();
/// assert!(same(&fresh.first, &net.first) && !same(&fresh.second, &net.second));
/// // ±1/√4: PyTorch's bound for a layer of four inputs.
/// assert!(fresh.second.weight.val().abs().max().into_scalar::<f32>() <= 0.5);
/// ```
pub fn reinitialize_layers<M: Module>(module: M, layers: &[&str], seed: u64) -> M {
    module.map(&mut Reinitializer {
        layers,
        seed,
        path: Vec::new(),
        fan_in: Vec::new(),
    })
}

/// The mapper of [`reinitialize_layers`].
struct Reinitializer<'a> {
    layers: &'a [&'a str],
    seed: u64,
    /// The module path of the parameter being mapped.
    path: Vec<String>,
    /// The fan-in of the last weight seen in each module (by path): its bias's bound.
    fan_in: Vec<(String, usize)>,
}

impl ModuleMapper for Reinitializer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let chosen = self
            .layers
            .iter()
            .any(|layer| path == *layer || path.starts_with(&format!("{layer}.")));
        if !chosen {
            return param;
        }
        let tensor = param.val();
        let dims = tensor.dims();
        let module = self.path[..self.path.len().saturating_sub(1)].join(".");
        let fan_in = match D {
            // A bias (or another vector): its module's weight's fan-in.
            1 => self
                .fan_in
                .iter()
                .rev()
                .find(|(m, _)| *m == module)
                .map_or(dims[0], |(_, fan_in)| *fan_in),
            // Burn stores a linear weight as `[in, out]`.
            2 => dims[0],
            // `[out, in, k, k]` and the like.
            _ => dims[1..].iter().product(),
        };
        if D > 1 {
            self.fan_in.push((module, fan_in));
        }
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        // FNV-1a of the path, mixed with the seed: one stream per parameter.
        let stream = path.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
        }) ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let values = noise::uniform(dims.iter().product(), bound, stream);
        let device = tensor.device();
        param.map(|_| Tensor::from_data(TensorData::new(values, dims), &device))
    }
}
