//! FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network
//! Visualization", 2019), as pytorch-grad-cam's `FullGrad` computes it.

use std::cell::{Cell, RefCell};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{ExplainError, Result, Stage};
use crate::forward::{Scoring, checked_features, differentiable, head};
use crate::model::{Explainable, ReluMode};
use crate::resize::{bilinear, pytorch_grad_cam_scale, pytorch_grad_cam_scale_channels};
use crate::target::Targets;

/// FullGrad (pytorch-grad-cam's `FullGrad`): the input-gradient term `|∇ₓS ⊙ x|` plus, for every
/// convolution with a bias `b`, the bias-gradient term `|∇_y S ⊙ b|` at its output `y`; each
/// channel of each term min-max normalised (pytorch-grad-cam's `scale_cam_image`, epsilon 1e-7),
/// summed over the channels, resized to the input (bilinear, half-pixel centres), summed over
/// the terms and min-max normalised once more. One forward and one backward; no layer is chosen
/// (pytorch-grad-cam ignores its `target_layers` here too). The map is `[N, 1, H, W]` in
/// `[0, 1]`.
///
/// A convolution's bias is the one the model runs: a BatchNorm folded into the convolution
/// before it gives its own `β − μ·γ/√(σ² + ε)` (what pytorch-grad-cam takes for a
/// `BatchNorm2d`), at the same output. A convolution that has a bias *and* a BatchNorm after it
/// (VGG's `_bn` variants) is one term here where pytorch-grad-cam counts two.
///
/// The model must route its convolutions through [`ReluMode::affine`]
/// ([`Explainable::routes_affine_layers`]), which is where the bias-gradient maps are taken;
/// others are refused with [`ExplainError::Unrouted`].
///
/// ```
/// use gradcam_explain::{AnyPixel, Attribution, FullGrad};
/// assert_eq!(FullGrad.label(), "FullGrad");
/// assert_eq!(AnyPixel::from_name("full-grad").unwrap(), AnyPixel::FullGrad(FullGrad));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullGrad;

impl Attribution for FullGrad {
    fn label(&self) -> String {
        "FullGrad".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        if !model.routes_affine_layers() {
            return Err(ExplainError::Unrouted { method: "FullGrad" });
        }
        let relu = ReluMode::BiasProbes;
        let leaf = differentiable(input.tensor(), relu)?;
        let collecting = Collecting::start();
        let features = checked_features(model, leaf.clone(), relu)?;
        let feature_checks = Checks::finite(Stage::Features, &features, 1);
        let (predictions, total) = head(model, features, relu, Scoring::Resolve(targets))?;
        let probes = collecting.finish();
        let gradients = total.backward();

        let image = input.tensor();
        let [_, _, height, width] = image.dims();
        let input_gradient = leaf
            .grad(&gradients)
            .unwrap_or_else(|| image.zeros_like());
        let checks = feature_checks.and(Checks::finite(Stage::Gradient, &input_gradient, 1));
        let mut sum = summed_channels((input_gradient * image.clone()).abs());
        for probe in probes {
            // A convolution the score does not depend on adds zeros, as the peer's does.
            let Some(gradient) = probe.leaf.grad(&gradients) else {
                continue;
            };
            let [channels] = probe.bias.dims();
            let term = (gradient * probe.bias.reshape([1, channels, 1, 1])).abs();
            sum = sum + bilinear(summed_channels(term), [height, width]);
        }
        Ok(Attributions::new(
            pytorch_grad_cam_scale(sum),
            predictions.with_checks(checks),
            input,
        ))
    }
}

/// Each channel of `[N, C, h, w]` min-max normalised, then summed: `[N, 1, h, w]`.
fn summed_channels(term: Tensor<4>) -> Tensor<4> {
    pytorch_grad_cam_scale_channels(term).sum_dim(1)
}

/// A convolution's bias and the zero leaf added to its output, whose gradient is the score's
/// gradient at that output.
struct Probe {
    bias: Tensor<1>,
    leaf: Tensor<4>,
}

thread_local! {
    /// Whether a FullGrad pass is collecting probes on this thread, and the probes so far. The
    /// pass rule is a `Copy` value handed through the model's own code, so the probes come
    /// back this way rather than through the model's signatures.
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
    static PROBES: RefCell<Vec<Probe>> = const { RefCell::new(Vec::new()) };
}

/// A FullGrad pass collecting probes on this thread; dropping it (an error on the way) ends the
/// collection.
struct Collecting;

impl Collecting {
    fn start() -> Self {
        PROBES.with_borrow_mut(Vec::clear);
        COLLECTING.set(true);
        Self
    }

    fn finish(self) -> Vec<Probe> {
        COLLECTING.set(false);
        PROBES.take()
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        COLLECTING.set(false);
        PROBES.with_borrow_mut(Vec::clear);
    }
}

/// A routed convolution's `output` under [`ReluMode::BiasProbes`]: plus a zero differentiable
/// leaf, recorded with the `bias`, while a FullGrad pass collects on this thread; unchanged
/// otherwise (no bias, not a feature map, no pass collecting).
pub(crate) fn probe<const D: usize>(output: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let (Some(bias), Ok([n, c, h, w])) = (bias, <[usize; 4]>::try_from(output.dims().as_slice()))
    else {
        return output;
    };
    if !COLLECTING.get() {
        return output;
    }
    let leaf = Tensor::<4>::zeros([n, c, h, w], &output.device())
        .autodiff()
        .require_grad();
    PROBES.with_borrow_mut(|probes| {
        probes.push(Probe {
            bias,
            leaf: leaf.clone(),
        })
    });
    let shape = output.shape();
    output + leaf.reshape(shape)
}
