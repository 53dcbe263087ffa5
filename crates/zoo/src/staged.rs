//! Networks that run as torchvision's sequence of named modules (`features.<i>`, a DenseNet's
//! `features.denseblock<b>`, …) and are explained at one of them: the split, the taps and the
//! choice of layer, written once.

use burn::tensor::Tensor;
use gradcam_explain::{ReluMode, UnknownName};

/// A network as a sequence of named modules, one of which is explained.
pub(crate) trait Staged {
    /// The modules' torchvision names, input to output.
    fn stage_names(&self) -> &[&'static str];

    /// The explained module's index in [`Staged::stage_names`].
    fn explained_stage(&self) -> usize;

    /// Runs module `index` on `x` under the pass's rule.
    fn run_stage(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4>;
}

/// The modules up to the explained one, each earlier module's output through `tap` by its
/// name (`Explainable::features_tapped`).
pub(crate) fn features_tapped(
    net: &impl Staged,
    input: Tensor<4>,
    relu: ReluMode,
    tap: &mut dyn FnMut(&str, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let explained = net.explained_stage();
    let mut x = input;
    for (index, name) in net.stage_names().iter().enumerate().take(explained) {
        x = tap(name, net.run_stage(index, x, relu));
    }
    net.run_stage(explained, x, relu)
}

/// The modules after the explained one.
pub(crate) fn after_explained(net: &impl Staged, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
    (net.explained_stage() + 1..net.stage_names().len()).fold(x, |x, i| net.run_stage(i, x, relu))
}

/// The index of the module named `layer`, or an error listing the names (`what`: "DenseNet
/// layer").
pub(crate) fn find(
    net: &impl Staged,
    layer: &str,
    what: &'static str,
) -> Result<usize, UnknownName> {
    let names = net.stage_names();
    let indices: Vec<usize> = (0..names.len()).collect();
    UnknownName::find(layer, &indices, |&i| names[i], what)
}
