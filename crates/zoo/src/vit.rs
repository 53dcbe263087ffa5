//! A vision transformer in the common pre-norm layout (ViT, timm's and the PyTorch tutorials'),
//! explained at a block's output through [`TokenGrid`] (pytorch-grad-cam's `reshape_transform`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Explainable, LayerView, OutputLayer, Reinitialize, ReluMode, TokenGrid, gelu,
    reinitialize_layers,
};
use serde::{Deserialize, Serialize};

/// A vision transformer's shape.
///
/// `patches = conv(x)` (kernel and stride `patch_size`), flattened row-major to tokens; a class
/// token in front, learned position embeddings added; `blocks` pre-norm blocks
/// `x + attn(norm1(x))`, `x + fc2(gelu(fc1(norm2(x))))` (multi-head self-attention with
/// `heads` heads, LayerNorm ε = 1e-5, the exact GELU); a final LayerNorm; a linear head on the
/// class token. The state-dict keys are `patch.*`, `cls`, `pos`, `blocks.<i>.{norm1, attn.{query,
/// key, value, output}, norm2, fc1, fc2}.*`, `norm.*`, `head.*` (`tools/reference/vit.py` holds the
/// torch twin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Input channels.
    pub channels: usize,
    /// Side of the (square) input image, in pixels.
    pub image_size: usize,
    /// Side of a patch, in pixels (it divides `image_size`).
    pub patch_size: usize,
    /// Token width.
    pub width: usize,
    /// Attention heads (they divide `width`).
    pub heads: usize,
    /// Hidden width of each block's MLP.
    pub mlp_width: usize,
    /// Transformer blocks.
    pub blocks: usize,
    /// Outputs of the head.
    pub classes: usize,
}

impl VitConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Every key of the network's state dict with its PyTorch shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let (w, hidden) = (self.width, self.mlp_width);
        let mut keys = vec![
            (
                "patch.weight".to_owned(),
                vec![w, self.channels, self.patch_size, self.patch_size],
            ),
            ("patch.bias".to_owned(), vec![w]),
            ("cls".to_owned(), vec![1, 1, w]),
            ("pos".to_owned(), vec![1, 1 + self.grid() * self.grid(), w]),
        ];
        let linear = |name: String, d_in: usize, d_out: usize| {
            [
                (format!("{name}.weight"), vec![d_out, d_in]),
                (format!("{name}.bias"), vec![d_out]),
            ]
        };
        let norm = |name: String| {
            [
                (format!("{name}.weight"), vec![w]),
                (format!("{name}.bias"), vec![w]),
            ]
        };
        for i in 0..self.blocks {
            keys.extend(norm(format!("blocks.{i}.norm1")));
            for part in ["query", "key", "value", "output"] {
                keys.extend(linear(format!("blocks.{i}.attn.{part}"), w, w));
            }
            keys.extend(norm(format!("blocks.{i}.norm2")));
            keys.extend(linear(format!("blocks.{i}.fc1"), w, hidden));
            keys.extend(linear(format!("blocks.{i}.fc2"), hidden, w));
        }
        keys.extend(norm("norm".to_owned()));
        keys.extend(linear("head".to_owned(), w, self.classes));
        keys
    }
}

/// One pre-norm block.
#[derive(Module, Debug)]
struct VitBlock {
    norm1: LayerNorm,
    attn: MultiHeadAttention,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl VitBlock {
    fn init(config: &VitConfig, device: &Device) -> Self {
        Self {
            norm1: LayerNormConfig::new(config.width).init(device),
            // No dropout: the network is only ever evaluated (and the explainer's passes are
            // differentiable, where Burn's dropout would be active).
            attn: MultiHeadAttentionConfig::new(config.width, config.heads)
                .with_dropout(0.0)
                .init(device),
            norm2: LayerNormConfig::new(config.width).init(device),
            fc1: LinearConfig::new(config.width, config.mlp_width).init(device),
            fc2: LinearConfig::new(config.mlp_width, config.width).init(device),
        }
    }

    /// The GELU goes through `relu`, so guided backpropagation reaches it.
    fn forward(&self, x: Tensor<3>, relu: ReluMode) -> Tensor<3> {
        let attended = self
            .attn
            .forward(MhaInput::self_attn(self.norm1.forward(x.clone())))
            .context;
        let x = x + attended;
        let hidden = relu.activation(self.fc1.forward(self.norm2.forward(x.clone())), gelu);
        x + self.fc2.forward(hidden)
    }
}

/// The parameters, in the state dict's names.
#[derive(Module, Debug)]
struct VitModule {
    patch: Conv2d,
    cls: Param<Tensor<3>>,
    pos: Param<Tensor<3>>,
    blocks: Vec<VitBlock>,
    norm: LayerNorm,
    head: Linear,
}

/// A vision transformer ([`VitConfig`]), [`Explainable`] at the output of one of its blocks:
/// its tokens are seen as the `grid × grid` map of the patch tokens ([`TokenGrid`], the class
/// token left out), so every CAM of [`gradcam_explain`] runs on it.
///
/// Explain a block before the last: the head reads only the class token, so at the last block's
/// output the patch tokens have no gradient (pytorch-grad-cam's ViT tutorial explains the last
/// block's first LayerNorm, the input of its attention, for the same reason).
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{VisionTransformer, VitConfig};
///
/// let config = VitConfig {
///     channels: 3, image_size: 32, patch_size: 8, width: 32, heads: 4, mlp_width: 64,
///     blocks: 2, classes: 10,
/// };
/// let device = Device::default();
/// let vit = VisionTransformer::init(config, &device).explained_at(0).unwrap();
/// let input = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&vit, input, &Targets::predicted())?;
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 4, 4]); // the patch grid
/// # Ok::<(), gradcam_explain::ExplainError>(())
/// ```
#[derive(Module, Debug)]
pub struct VisionTransformer {
    net: VitModule,
    #[module(skip)]
    config: VitConfig,
    #[module(skip)]
    grid: TokenGrid,
    explained: usize,
}

impl VisionTransformer {
    /// A network of `config`'s shape with freshly initialised parameters, explained at its
    /// second-to-last block (the first one with one block).
    pub fn init(config: VitConfig, device: &Device) -> Self {
        let tokens = 1 + config.grid() * config.grid();
        let embedding = |shape: [usize; 3]| {
            Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init(shape, device)
        };
        let net = VitModule {
            patch: Conv2dConfig::new(
                [config.channels, config.width],
                [config.patch_size, config.patch_size],
            )
            .with_stride([config.patch_size, config.patch_size])
            .init(device),
            cls: embedding([1, 1, config.width]),
            pos: embedding([1, tokens, config.width]),
            blocks: (0..config.blocks)
                .map(|_| VitBlock::init(&config, device))
                .collect(),
            norm: LayerNormConfig::new(config.width).init(device),
            head: LinearConfig::new(config.width, config.classes).init(device),
        };
        Self {
            net,
            grid: TokenGrid {
                prefix: 1,
                height: config.grid(),
                width: config.grid(),
            },
            explained: config.blocks.saturating_sub(2),
            config,
        }
    }

    /// Loads a PyTorch state dict of the twin network (`.pth`, or the same tensors in a
    /// `.safetensors` file) strictly: a missing, extra or misshaped key is a [`LoadError`]
    /// naming it; float64/float16 weights are converted; non-finite values refused.
    pub fn load(
        config: VitConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |_| false,
            remaps: Vec::new(),
            explain_mismatch: |_| String::new(),
        };
        let fresh = Self::init(config, device);
        let (net, report) = load_state_dict(fresh.net, path.as_ref(), &spec)?;
        Ok((Self { net, ..fresh }, report))
    }

    /// The network's shape.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// The same network explained at the output of block `block` (0-based); `None` past the
    /// last block.
    pub fn explained_at(mut self, block: usize) -> Option<Self> {
        (block < self.config.blocks).then(|| {
            self.explained = block;
            self
        })
    }

    /// The explained block.
    pub fn explained_block(&self) -> usize {
        self.explained
    }

    /// Input `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        self.logits(self.features(input, ReluMode::Standard), ReluMode::Standard)
    }
}

impl Explainable for VisionTransformer {
    fn input_shape(&self) -> [usize; 3] {
        let side = self.config.image_size;
        [self.config.channels, side, side]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let n = input.dims()[0];
        let patches = self
            .net
            .patch
            .forward(input)
            .flatten::<3>(2, 3)
            .swap_dims(1, 2);
        let class = self.net.cls.val().expand([n, 1, self.config.width]);
        let mut x = Tensor::cat(vec![class, patches], 1) + self.net.pos.val();
        for block in &self.net.blocks[..=self.explained] {
            x = block.forward(x, relu);
        }
        TokenGrid::carry(x)
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let mut x = TokenGrid::tokens(features);
        for block in &self.net.blocks[self.explained + 1..] {
            x = block.forward(x, relu);
        }
        let n = x.dims()[0];
        let class = self
            .net
            .norm
            .forward(x)
            .narrow(1, 0, 1)
            .reshape([n, self.config.width]);
        self.net.head.forward(class)
    }

    fn layer_view(&self) -> Option<&dyn LayerView> {
        Some(&self.grid)
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        self.net.head.weight.device()
    }
}

impl Reinitialize for VisionTransformer {
    /// The patch embedding (with the class token and position embeddings), each block
    /// (`block0`, `block1`, …), the final norm and the head.
    fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["embedding".to_owned()];
        names.extend((0..self.config.blocks).map(|i| format!("block{i}")));
        names.extend(["norm".to_owned(), "head".to_owned()]);
        names
    }

    /// Fresh parameters, uniform in `±1/√fan_in` ([`reinitialize_layers`]), for the chosen
    /// layers.
    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let blocks = self.config.blocks;
        let mut paths = Vec::new();
        for &layer in layers {
            match layer {
                0 => paths.extend(["net.patch", "net.cls", "net.pos"].map(str::to_owned)),
                i if i <= blocks => paths.push(format!("net.blocks.{}", i - 1)),
                i if i == blocks + 1 => paths.push("net.norm".to_owned()),
                i if i == blocks + 2 => paths.push("net.head".to_owned()),
                _ => {}
            }
        }
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}
