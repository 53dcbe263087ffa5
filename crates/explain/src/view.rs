//! How a CAM sees a layer whose output is not a feature map: pytorch-grad-cam's
//! `reshape_transform`, for vision transformers.

use burn::tensor::Tensor;

/// A view of the explained layer's output as the `[N, K, h, w]` map a CAM weighs, and back.
///
/// A CNN needs none ([`crate::Explainable::layer_view`] is `None` by default). A vision
/// transformer's block output is a sequence of tokens: [`TokenGrid`] is the view for it.
pub trait LayerView: Send + Sync {
    /// The map `[N, K, h, w]` of the model's features (applied to the activations and to their
    /// gradients alike: a view only selects and reorders values).
    fn view(&self, features: Tensor<4>) -> Tensor<4>;

    /// Features whose view is `view`, everything the view leaves out taken from `features` (of
    /// the same images): what an ablation method runs the head on after changing the map.
    fn unview(&self, view: Tensor<4>, features: Tensor<4>) -> Tensor<4>;
}

/// A vision transformer's tokens seen as a grid (pytorch-grad-cam's `reshape_transform` for
/// ViTs): `[N, prefix + h·w, D]` → `[N, D, h, w]`, the prefix tokens (a class token, register
/// tokens) dropped.
///
/// [`crate::Explainable::features`] returns 4-dimensional tensors, so a transformer returns its
/// tokens as `[N, T, D, 1]` ([`TokenGrid::carry`]) and reads them back with
/// [`TokenGrid::tokens`].
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_explain::{LayerView, TokenGrid};
///
/// let grid = TokenGrid { prefix: 1, height: 2, width: 3 };
/// let tokens = Tensor::<3>::ones([4, 1 + 2 * 3, 8], &Device::default());
/// let features = TokenGrid::carry(tokens);
/// let map = grid.view(features.clone());
/// assert_eq!(map.dims(), [4, 8, 2, 3]);
/// assert_eq!(grid.unview(map, features).dims(), [4, 7, 8, 1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenGrid {
    /// Tokens before the patch tokens (1 for a class token), left out of the map.
    pub prefix: usize,
    /// Patch rows.
    pub height: usize,
    /// Patch columns.
    pub width: usize,
}

impl TokenGrid {
    /// Tokens `[N, T, D]` as features `[N, T, D, 1]`.
    pub fn carry(tokens: Tensor<3>) -> Tensor<4> {
        tokens.unsqueeze_dim(3)
    }

    /// Features `[N, T, D, 1]` back as tokens `[N, T, D]`.
    pub fn tokens(features: Tensor<4>) -> Tensor<3> {
        let [n, t, d, _] = features.dims();
        features.reshape([n, t, d])
    }
}

impl LayerView for TokenGrid {
    fn view(&self, features: Tensor<4>) -> Tensor<4> {
        let tokens = Self::tokens(features);
        let [n, _, d] = tokens.dims();
        tokens
            .narrow(1, self.prefix, self.height * self.width)
            .reshape([n, self.height, self.width, d])
            .permute([0, 3, 1, 2])
    }

    fn unview(&self, view: Tensor<4>, features: Tensor<4>) -> Tensor<4> {
        let [n, d, h, w] = view.dims();
        let patches = view.permute([0, 2, 3, 1]).reshape([n, h * w, d]);
        let prefix = Self::tokens(features).narrow(1, 0, self.prefix);
        Self::carry(Tensor::cat(vec![prefix, patches], 1))
    }
}
