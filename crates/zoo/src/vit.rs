//! A vision transformer in the common pre-norm layout (ViT: torchvision's `vit_b_16` and kin,
//! timm's and the PyTorch tutorials'), explained at a block's output or at a block's first
//! LayerNorm through [`TokenGrid`] (pytorch-grad-cam's `reshape_transform`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    Explainable, LayerView, Nested, OutputLayer, Reinitialize, ReluMode, TokenGrid, UnknownName,
    WithSkips, gelu, reinitialize_layers,
};
use serde::{Deserialize, Serialize};

/// Whose state-dict layout a vision transformer loads, and the LayerNorm epsilon that comes with
/// it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VitLayout {
    /// The repository's torch twin (`tools/reference/vit.py`): `patch.*`, `cls`, `pos`,
    /// `blocks.<i>.{norm1, attn.{query, key, value, output}, norm2, fc1, fc2}.*`, `norm.*`,
    /// `head.*`; LayerNorm ε = 1e-5.
    #[default]
    Twin,
    /// torchvision's `VisionTransformer` (`vit_b_16` and kin): `conv_proj.*`, `class_token`,
    /// `encoder.pos_embedding`, `encoder.layers.encoder_layer_<i>.{ln_1,
    /// self_attention.{in_proj_weight, in_proj_bias, out_proj}, ln_2, mlp.0, mlp.3}.*`,
    /// `encoder.ln.*`, `heads.head.*`; LayerNorm ε = 1e-6.
    Torchvision,
}

impl VitLayout {
    fn epsilon(self) -> f64 {
        match self {
            Self::Twin => 1e-5,
            Self::Torchvision => 1e-6,
        }
    }

    /// The name of block `block`'s first LayerNorm (`normed`) or output (`""` past the names).
    fn name(self, block: usize, normed: bool) -> &'static str {
        match self.names(block) {
            Some((_, norm)) if normed => norm,
            Some((output, _)) => output,
            None => "",
        }
    }

    /// The names of block `i`'s output and of its first LayerNorm.
    fn names(self, block: usize) -> Option<(&'static str, &'static str)> {
        let (outputs, norms) = match self {
            Self::Twin => (&TWIN_BLOCKS, &TWIN_NORMS),
            Self::Torchvision => (&TORCH_BLOCKS, &TORCH_NORMS),
        };
        Some((*outputs.get(block)?, *norms.get(block)?))
    }
}

/// The names a layer is chosen by, as `'static` strings (up to 48 blocks).
const TWIN_BLOCKS: [&str; 48] = crate::numbered_names!("blocks.";
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47);
const TWIN_NORMS: [&str; 48] = crate::numbered_names!("blocks.";
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47; ".norm1");
const TORCH_BLOCKS: [&str; 48] = crate::numbered_names!("encoder.layers.encoder_layer_";
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47);
const TORCH_NORMS: [&str; 48] = crate::numbered_names!("encoder.layers.encoder_layer_";
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47; ".ln_1");

/// A vision transformer's shape.
///
/// `patches = conv(x)` (kernel and stride `patch_size`), flattened row-major to tokens; a class
/// token in front, learned position embeddings added; `blocks` pre-norm blocks
/// `x + attn(norm1(x))`, `x + fc2(gelu(fc1(norm2(x))))` (multi-head self-attention with
/// `heads` heads, the exact GELU); a final LayerNorm; a linear head on the class token. The
/// state-dict keys, and LayerNorm's epsilon, are the `layout`'s: torchvision's
/// ([`VitConfig::vit_b_16`] and kin) or the repository's torch twin (`tools/reference/vit.py`).
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
    /// Whose state-dict layout it loads (and LayerNorm's epsilon).
    #[serde(default)]
    pub layout: VitLayout,
}

impl VitConfig {
    /// A torchvision ViT of the given shape: 224×224 RGB inputs, 1000 classes.
    fn torchvision(patch_size: usize, width: usize, heads: usize, blocks: usize) -> Self {
        Self {
            channels: 3,
            image_size: 224,
            patch_size,
            width,
            heads,
            mlp_width: 4 * width,
            blocks,
            classes: 1000,
            layout: VitLayout::Torchvision,
        }
    }

    /// torchvision's `vit_b_16()`: 16×16 patches, 768 wide, 12 heads, 12 blocks.
    pub fn vit_b_16() -> Self {
        Self::torchvision(16, 768, 12, 12)
    }

    /// torchvision's `vit_b_32()`.
    pub fn vit_b_32() -> Self {
        Self::torchvision(32, 768, 12, 12)
    }

    /// torchvision's `vit_l_16()`: 1024 wide, 16 heads, 24 blocks.
    pub fn vit_l_16() -> Self {
        Self::torchvision(16, 1024, 16, 24)
    }

    /// torchvision's `vit_l_32()`.
    pub fn vit_l_32() -> Self {
        Self::torchvision(32, 1024, 16, 24)
    }

    /// torchvision's `vit_h_14()`: 14×14 patches, 1280 wide, 16 heads, 32 blocks.
    pub fn vit_h_14() -> Self {
        Self::torchvision(14, 1280, 16, 32)
    }

    /// The same network with another number of classes.
    pub fn with_classes(self, classes: usize) -> Self {
        Self { classes, ..self }
    }

    /// The same network with `blocks` blocks and its widths divided by `divisor` (heads too):
    /// the parity tests' reduced networks.
    pub fn narrowed(self, divisor: usize, blocks: usize) -> Self {
        let divisor = divisor.max(1);
        Self {
            width: (self.width / divisor).max(1),
            heads: (self.heads / divisor).max(1),
            mlp_width: (self.mlp_width / divisor).max(1),
            blocks,
            ..self
        }
    }

    /// Tokens: the class token and the patches.
    fn tokens(&self) -> usize {
        1 + self.grid() * self.grid()
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Every key of the network's state dict with its PyTorch shape.
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        match self.layout {
            VitLayout::Twin => self.twin_keys(),
            VitLayout::Torchvision => self.torchvision_keys(),
        }
    }

    fn torchvision_keys(&self) -> Vec<(String, Vec<usize>)> {
        let (w, hidden) = (self.width, self.mlp_width);
        let p = self.patch_size;
        let mut keys = vec![
            ("conv_proj.weight".to_owned(), vec![w, self.channels, p, p]),
            ("conv_proj.bias".to_owned(), vec![w]),
            ("class_token".to_owned(), vec![1, 1, w]),
            (
                "encoder.pos_embedding".to_owned(),
                vec![1, self.tokens(), w],
            ),
        ];
        let pair = |name: &str, weight: Vec<usize>| {
            let bias = vec![weight[0]];
            [
                (format!("{name}.weight"), weight),
                (format!("{name}.bias"), bias),
            ]
        };
        for name in &TORCH_BLOCKS[..self.blocks.min(TORCH_BLOCKS.len())] {
            keys.extend(pair(&format!("{name}.ln_1"), vec![w]));
            let attention = format!("{name}.self_attention");
            keys.push((format!("{attention}.in_proj_weight"), vec![3 * w, w]));
            keys.push((format!("{attention}.in_proj_bias"), vec![3 * w]));
            keys.extend(pair(&format!("{attention}.out_proj"), vec![w, w]));
            keys.extend(pair(&format!("{name}.ln_2"), vec![w]));
            keys.extend(pair(&format!("{name}.mlp.0"), vec![hidden, w]));
            keys.extend(pair(&format!("{name}.mlp.3"), vec![w, hidden]));
        }
        keys.extend(pair("encoder.ln", vec![w]));
        keys.extend(pair("heads.head", vec![self.classes, w]));
        keys
    }

    fn twin_keys(&self) -> Vec<(String, Vec<usize>)> {
        let (w, hidden) = (self.width, self.mlp_width);
        let mut keys = vec![
            (
                "patch.weight".to_owned(),
                vec![w, self.channels, self.patch_size, self.patch_size],
            ),
            ("patch.bias".to_owned(), vec![w]),
            ("cls".to_owned(), vec![1, 1, w]),
            ("pos".to_owned(), vec![1, self.tokens(), w]),
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
        let norm = || {
            LayerNormConfig::new(config.width)
                .with_epsilon(config.layout.epsilon())
                .init(device)
        };
        Self {
            norm1: norm(),
            // No dropout: the network is only ever evaluated (and the explainer's passes are
            // differentiable, where Burn's dropout would be active).
            attn: MultiHeadAttentionConfig::new(config.width, config.heads)
                .with_dropout(0.0)
                .init(device),
            norm2: norm(),
            fc1: LinearConfig::new(config.width, config.mlp_width).init(device),
            fc2: LinearConfig::new(config.mlp_width, config.width).init(device),
        }
    }

    /// The GELU goes through `relu`, so guided backpropagation reaches it.
    fn forward(&self, x: Tensor<3>, relu: ReluMode) -> Tensor<3> {
        let normed = self.norm1.forward(x.clone());
        self.after_norm1(x, normed, relu)
    }

    /// The rest of the block from its input `x` and its first LayerNorm's output `normed`.
    fn after_norm1(&self, x: Tensor<3>, normed: Tensor<3>, relu: ReluMode) -> Tensor<3> {
        let attended = self.attn.forward(MhaInput::self_attn(normed)).context;
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

/// One of torchvision's `EncoderBlock`s as stored: its attention's query, key and value
/// projections in one `in_proj`.
#[derive(Module, Debug)]
struct TorchBlock {
    norm1: LayerNorm,
    in_proj: Linear,
    out_proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// torchvision's `VisionTransformer` as stored (remapped to these names).
#[derive(Module, Debug)]
struct TorchVit {
    patch: Conv2d,
    cls: Param<Tensor<3>>,
    pos: Param<Tensor<3>>,
    blocks: Vec<TorchBlock>,
    norm: LayerNorm,
    head: Linear,
}

impl TorchVit {
    fn init(config: &VitConfig, device: &Device) -> Self {
        let fresh = VisionTransformer::init(*config, device).net;
        let w = config.width;
        let blocks = fresh
            .blocks
            .into_iter()
            .map(|b| TorchBlock {
                norm1: b.norm1,
                in_proj: LinearConfig::new(w, 3 * w).init(device),
                out_proj: b.attn.output,
                norm2: b.norm2,
                fc1: b.fc1,
                fc2: b.fc2,
            })
            .collect();
        Self {
            patch: fresh.patch,
            cls: fresh.cls,
            pos: fresh.pos,
            blocks,
            norm: fresh.norm,
            head: fresh.head,
        }
    }

    /// The network that runs: each `in_proj` split into Burn's query, key and value
    /// projections.
    fn split(self, config: &VitConfig, device: &Device) -> VitModule {
        let w = config.width;
        let blocks = self
            .blocks
            .into_iter()
            .map(|b| {
                let weight = b.in_proj.weight.val();
                let bias = b.in_proj.bias.map(|bias| bias.val());
                let part = |i: usize| Linear {
                    weight: Param::from_tensor(weight.clone().narrow(1, i * w, w)),
                    bias: bias
                        .clone()
                        .map(|bias| Param::from_tensor(bias.narrow(0, i * w, w))),
                };
                let mut attn = MultiHeadAttentionConfig::new(w, config.heads)
                    .with_dropout(0.0)
                    .init(device);
                (attn.query, attn.key, attn.value) = (part(0), part(1), part(2));
                attn.output = b.out_proj;
                VitBlock {
                    norm1: b.norm1,
                    attn,
                    norm2: b.norm2,
                    fc1: b.fc1,
                    fc2: b.fc2,
                }
            })
            .collect();
        VitModule {
            patch: self.patch,
            cls: self.cls,
            pos: self.pos,
            blocks,
            norm: self.norm,
            head: self.head,
        }
    }
}

/// From torchvision's keys to [`TorchVit`]'s paths.
fn torchvision_remaps() -> Vec<(String, String)> {
    let block = r"^encoder\.layers\.encoder_layer_(\d+)\.";
    [
        (r"^conv_proj\.".to_owned(), "patch.".to_owned()),
        (r"^class_token$".to_owned(), "cls".to_owned()),
        (r"^encoder\.pos_embedding$".to_owned(), "pos".to_owned()),
        (format!("{block}ln_1\\."), "blocks.$1.norm1.".to_owned()),
        (
            format!("{block}self_attention\\.in_proj_weight$"),
            "blocks.$1.in_proj.weight".to_owned(),
        ),
        (
            format!("{block}self_attention\\.in_proj_bias$"),
            "blocks.$1.in_proj.bias".to_owned(),
        ),
        (
            format!("{block}self_attention\\.out_proj\\."),
            "blocks.$1.out_proj.".to_owned(),
        ),
        (format!("{block}ln_2\\."), "blocks.$1.norm2.".to_owned()),
        (format!("{block}mlp\\.0\\."), "blocks.$1.fc1.".to_owned()),
        (format!("{block}mlp\\.3\\."), "blocks.$1.fc2.".to_owned()),
        (r"^encoder\.ln\.".to_owned(), "norm.".to_owned()),
        (r"^heads\.head\.".to_owned(), "head.".to_owned()),
    ]
    .into()
}

/// A vision transformer ([`VitConfig`]), [`Explainable`] at the output of one of its blocks or
/// at a block's first LayerNorm: its tokens are seen as the `grid × grid` map of the patch
/// tokens ([`TokenGrid`], the class token left out, pytorch-grad-cam's `reshape_transform`), so
/// every CAM of [`gradcam_explain`] runs on it.
///
/// At the last block's output the patch tokens have no gradient (the head reads only the class
/// token): pytorch-grad-cam's ViT tutorial explains the last block's first LayerNorm, the input
/// of its attention (torchvision's `encoder.layers.encoder_layer_11.ln_1` in `vit_b_16`), and so
/// does a torchvision-layout network here unless another layer is chosen. The rest of the block
/// also reads its input (the residual sum around the attention), so there the features carry
/// it beside the normalised tokens ([`WithSkips`]), and the view shows a CAM only the latter.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{VisionTransformer, VitConfig, VitLayout};
///
/// let config = VitConfig {
///     channels: 3, image_size: 32, patch_size: 8, width: 32, heads: 4, mlp_width: 64,
///     blocks: 2, classes: 10, layout: VitLayout::Twin,
/// };
/// let device = Device::default();
/// let vit = VisionTransformer::init(config, &device).explained_at(0).unwrap();
/// let input = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&vit, input.clone(), &Targets::predicted())?;
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 4, 4]); // the patch grid
///
/// // pytorch-grad-cam's layer: the last block's first LayerNorm.
/// let vit = vit.explained_at_layer("blocks.1.norm1").unwrap();
/// let result = GradCam::new().attribute(&vit, input, &Targets::predicted())?;
/// assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 4, 4]);
/// # Ok::<(), gradcam_explain::ExplainError>(())
/// ```
#[derive(Module, Debug)]
pub struct VisionTransformer {
    net: VitModule,
    #[module(skip)]
    config: VitConfig,
    /// The view of a block's output.
    #[module(skip)]
    grid: TokenGrid,
    /// The view of a block's first LayerNorm: the normalised tokens, the block's input carried.
    #[module(skip)]
    normed_grid: Nested<WithSkips, TokenGrid>,
    explained: usize,
    /// Whether the explained layer is block `explained`'s first LayerNorm (else its output).
    normed: bool,
}

impl VisionTransformer {
    /// A network of `config`'s shape with freshly initialised parameters, explained at its
    /// second-to-last block's output (the first one with one block) in the twin's layout, at
    /// its last block's first LayerNorm in torchvision's.
    pub fn init(config: VitConfig, device: &Device) -> Self {
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
            pos: embedding([1, config.tokens(), config.width]),
            blocks: (0..config.blocks)
                .map(|_| VitBlock::init(&config, device))
                .collect(),
            norm: LayerNormConfig::new(config.width)
                .with_epsilon(config.layout.epsilon())
                .init(device),
            head: LinearConfig::new(config.width, config.classes).init(device),
        };
        Self::explaining(net, config)
    }

    /// The block and whether its first LayerNorm (else its output) a network of `config`'s
    /// shape is explained at unless another is chosen.
    fn default_position(config: &VitConfig) -> (usize, bool) {
        match config.layout {
            VitLayout::Twin => (config.blocks.saturating_sub(2), false),
            VitLayout::Torchvision => (config.blocks.saturating_sub(1), true),
        }
    }

    /// `net` explained at the layout's default layer.
    fn explaining(net: VitModule, config: VitConfig) -> Self {
        let grid = TokenGrid {
            prefix: 1,
            height: config.grid(),
            width: config.grid(),
        };
        let (explained, normed) = Self::default_position(&config);
        Self {
            net,
            grid,
            normed_grid: Nested {
                outer: WithSkips {
                    map: [config.tokens(), config.width, 1],
                },
                inner: grid,
            },
            explained,
            normed,
            config,
        }
    }

    /// Loads a state dict in the config's layout (`.pth`, or the same tensors in a
    /// `.safetensors` file) strictly: a missing, extra or misshaped key is a [`LoadError`]
    /// naming it; float64/float16 weights are converted; non-finite values refused.
    pub fn load(
        config: VitConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let twin = config.layout == VitLayout::Twin;
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |_| false,
            remaps: if twin {
                Vec::new()
            } else {
                torchvision_remaps()
            },
            explain_mismatch: describe_file,
        };
        let path = path.as_ref();
        let (net, report) = if twin {
            load_state_dict(Self::init(config, device).net, path, &spec)?
        } else {
            let (net, report) = load_state_dict(TorchVit::init(&config, device), path, &spec)?;
            (net.split(&config, device), report)
        };
        Ok((Self::explaining(net, config), report))
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
            self.normed = false;
            self
        })
    }

    /// The names of the layers the network can be explained at, input to output: each block's
    /// first LayerNorm and its output (`encoder.layers.encoder_layer_<i>.ln_1`,
    /// `encoder.layers.encoder_layer_<i>` in torchvision's layout; `blocks.<i>.norm1`,
    /// `blocks.<i>` in the twin's).
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        (0..self.config.blocks)
            .filter_map(|i| self.config.layout.names(i))
            .flat_map(|(output, norm)| [norm, output])
            .collect()
    }

    /// The same network explained at `layer` (one of
    /// [`VisionTransformer::explainable_layers`]).
    pub fn explained_at_layer(mut self, layer: &str) -> Result<Self, UnknownName> {
        let names = self.explainable_layers();
        let indices: Vec<usize> = (0..names.len()).collect();
        let at = UnknownName::find(layer, &indices, |&i| names[i], "ViT layer")?;
        (self.explained, self.normed) = (at / 2, at % 2 == 0);
        Ok(self)
    }

    /// The layer a network of `config`'s shape is explained at unless another is chosen: the
    /// last block's first LayerNorm in torchvision's layout (pytorch-grad-cam's ViT layer), the
    /// second-to-last block's output in the twin's.
    pub fn default_layer(config: &VitConfig) -> &'static str {
        let (explained, normed) = Self::default_position(config);
        config.layout.name(explained, normed)
    }

    /// The name of the explained layer.
    pub fn explained_layer(&self) -> &'static str {
        self.config.layout.name(self.explained, self.normed)
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
        for block in &self.net.blocks[..self.explained] {
            x = block.forward(x, relu);
        }
        let block = &self.net.blocks[self.explained];
        if self.normed {
            let normed = block.norm1.forward(x.clone());
            WithSkips::carry(TokenGrid::carry(normed), vec![TokenGrid::carry(x)])
        } else {
            TokenGrid::carry(block.forward(x, relu))
        }
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let mut x = if self.normed {
            let [t, d, _] = self.normed_grid.outer.map;
            let (normed, mut skips) = self.normed_grid.outer.split(features, &[[t, d, 1]]);
            let input = skips.pop().expect("the block's input");
            let block = &self.net.blocks[self.explained];
            block.after_norm1(TokenGrid::tokens(input), TokenGrid::tokens(normed), relu)
        } else {
            TokenGrid::tokens(features)
        };
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
        if self.normed {
            Some(&self.normed_grid)
        } else {
            Some(&self.grid)
        }
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        self.net.head.weight.device()
    }
}

/// How many blocks a torchvision ViT's state dict holds, and which of torchvision's builders
/// have that many ("the file holds a torchvision ViT of 24 blocks (vit_l_16 or vit_l_32)").
fn describe_file(keys: &[&str]) -> String {
    let blocks = keys
        .iter()
        .filter(|key| key.starts_with("encoder.layers.") && key.ends_with(".ln_1.weight"))
        .count();
    let builders = match blocks {
        0 => return String::new(),
        12 => " (vit_b_16 or vit_b_32)",
        24 => " (vit_l_16 or vit_l_32)",
        32 => " (vit_h_14)",
        _ => "",
    };
    format!("the file holds a torchvision ViT of {blocks} blocks{builders}")
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
