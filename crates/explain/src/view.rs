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

/// The explained layer's map carried beside what a skip connection takes around the split: a
/// network whose rest also reads an earlier layer's output (LR-ASPP's head reads its backbone's
/// low-level features beside the explained high-level ones) returns both from
/// [`crate::Explainable::features`], packed as `[N, K·h·w + …, 1, 1]` ([`WithSkips::carry`]),
/// and splits them again in [`crate::Explainable::logits`] ([`WithSkips::split`]). The view is
/// the map; the skips are carried unchanged, so a CAM weighs only the map, while the gradient of
/// the input still flows through both paths.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_explain::{LayerView, WithSkips};
///
/// let device = Device::default();
/// let map = Tensor::<4>::ones([2, 8, 3, 3], &device);
/// let low = Tensor::<4>::zeros([2, 4, 6, 6], &device);
/// let features = WithSkips::carry(map, vec![low]);
/// assert_eq!(features.dims(), [2, 8 * 3 * 3 + 4 * 6 * 6, 1, 1]);
/// let view = WithSkips { map: [8, 3, 3] };
/// assert_eq!(view.view(features.clone()).dims(), [2, 8, 3, 3]);
/// // An ablation method changes the map and keeps the skips.
/// let changed = view.unview(view.view(features.clone()) * 0.0, features.clone());
/// assert_eq!(changed.clone().sum().into_scalar::<f32>(), 0.0);
/// let (map, skips) = view.split(features, &[[4, 6, 6]]);
/// assert_eq!((map.dims(), skips[0].dims()), ([2, 8, 3, 3], [2, 4, 6, 6]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithSkips {
    /// The explained map's `[channels, height, width]`.
    pub map: [usize; 3],
}

impl WithSkips {
    /// The map `[N, K, h, w]` and the skips (each `[N, C, H, W]`) as one feature tensor
    /// `[N, K·h·w + Σ C·H·W, 1, 1]`.
    pub fn carry(map: Tensor<4>, skips: Vec<Tensor<4>>) -> Tensor<4> {
        let parts: Vec<Tensor<2>> = std::iter::once(map)
            .chain(skips)
            .map(|part| part.flatten::<2>(1, 3))
            .collect();
        Tensor::cat(parts, 1).unsqueeze_dims(&[2, 3])
    }

    /// The map and the skips of the given `[channels, height, width]` back from
    /// [`WithSkips::carry`]'s features.
    pub fn split(&self, features: Tensor<4>, skips: &[[usize; 3]]) -> (Tensor<4>, Vec<Tensor<4>>) {
        let n = features.dims()[0];
        let flat = features.flatten::<2>(1, 3);
        let mut start = self.map.iter().product::<usize>();
        let map = self.view(flat.clone().unsqueeze_dims(&[2, 3]));
        let skips = skips
            .iter()
            .map(|&[c, h, w]| {
                let part = flat
                    .clone()
                    .narrow(1, start, c * h * w)
                    .reshape([n, c, h, w]);
                start += c * h * w;
                part
            })
            .collect();
        (map, skips)
    }
}

impl LayerView for WithSkips {
    fn view(&self, features: Tensor<4>) -> Tensor<4> {
        let [k, h, w] = self.map;
        let n = features.dims()[0];
        features
            .flatten::<2>(1, 3)
            .narrow(1, 0, k * h * w)
            .reshape([n, k, h, w])
    }

    fn unview(&self, view: Tensor<4>, features: Tensor<4>) -> Tensor<4> {
        let length = self.map.iter().product::<usize>();
        let flat = features.flatten::<2>(1, 3);
        let rest = flat.dims()[1] - length;
        let mut parts = vec![view.flatten::<2>(1, 3)];
        if rest > 0 {
            parts.push(flat.narrow(1, length, rest));
        }
        Tensor::cat(parts, 1).unsqueeze_dims(&[2, 3])
    }
}

/// One view seen through another: `inner` applied to what `outer` shows (a transformer explained
/// at a block's first LayerNorm carries the block's input beside the normalised tokens,
/// [`WithSkips`], and the tokens are seen as a grid, [`TokenGrid`]).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_explain::{LayerView, Nested, TokenGrid, WithSkips};
///
/// let device = Device::default();
/// let normed = Tensor::<3>::ones([2, 1 + 2 * 3, 8], &device);
/// let residual = Tensor::<3>::zeros([2, 1 + 2 * 3, 8], &device);
/// let features = WithSkips::carry(TokenGrid::carry(normed), vec![TokenGrid::carry(residual)]);
/// let view = Nested {
///     outer: WithSkips { map: [7, 8, 1] },
///     inner: TokenGrid { prefix: 1, height: 2, width: 3 },
/// };
/// let grid = view.view(features.clone());
/// assert_eq!(grid.dims(), [2, 8, 2, 3]);
/// assert_eq!(view.unview(grid, features.clone()).dims(), features.dims());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nested<A, B> {
    /// The view of the features.
    pub outer: A,
    /// The view of what `outer` shows.
    pub inner: B,
}

impl<A: LayerView, B: LayerView> LayerView for Nested<A, B> {
    fn view(&self, features: Tensor<4>) -> Tensor<4> {
        self.inner.view(self.outer.view(features))
    }

    fn unview(&self, view: Tensor<4>, features: Tensor<4>) -> Tensor<4> {
        let shown = self.outer.view(features.clone());
        self.outer.unview(self.inner.unview(view, shown), features)
    }
}

/// A channels-last map `[N, H, W, C]` (a Swin transformer's layers, torchvision's layout) seen
/// as the channels-first `[N, C, H, W]` a CAM weighs: pytorch-grad-cam's Swin
/// `reshape_transform`.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gradcam_explain::{ChannelsLast, LayerView};
///
/// let features = Tensor::<4>::ones([2, 7, 7, 96], &Device::default());
/// let map = ChannelsLast.view(features.clone());
/// assert_eq!(map.dims(), [2, 96, 7, 7]);
/// assert_eq!(ChannelsLast.unview(map, features).dims(), [2, 7, 7, 96]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelsLast;

impl LayerView for ChannelsLast {
    fn view(&self, features: Tensor<4>) -> Tensor<4> {
        features.permute([0, 3, 1, 2])
    }

    fn unview(&self, view: Tensor<4>, _features: Tensor<4>) -> Tensor<4> {
        view.permute([0, 2, 3, 1])
    }
}
