//! torchvision's Swin Transformer (Liu et al., 2021): `swin_t`, `swin_s`, `swin_b` — a patch
//! embedding, four stages of blocks of windowed multi-head self-attention (every second block's
//! windows shifted by half a window, with a relative position bias) and a GELU MLP, patch
//! merging between the stages, a final LayerNorm, average pooling and a linear head. Its maps
//! are channels-last (`[N, H, W, C]`), seen channels-first by a CAM ([`ChannelsLast`],
//! pytorch-grad-cam's Swin `reshape_transform`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use gradcam_data::{LoadError, StateDictSpec, WeightsReport, load_state_dict};
use gradcam_explain::{
    ChannelsLast, Explainable, LayerView, Nested, OutputLayer, Reinitialize, ReluMode, UnknownName,
    WithSkips, gelu, reinitialize_layers,
};
use serde::{Deserialize, Serialize};

use crate::FEATURE_NAMES;

/// The shape of a Swin Transformer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwinConfig {
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Input height and width: what `Explainable::input_shape` asks for.
    pub input_size: [usize; 2],
    /// Side of a patch of the embedding, in pixels.
    pub patch_size: usize,
    /// The first stage's width (each later stage doubles it).
    pub embed_dim: usize,
    /// Blocks per stage.
    pub depths: [usize; 4],
    /// Attention heads per stage.
    pub heads: [usize; 4],
    /// Side of an attention window, in tokens.
    pub window: usize,
    /// Classes of the head.
    pub classes: usize,
}

/// The names of each stage's blocks' first LayerNorms (`features.<1 + 2s>.<j>.norm1`).
const NORM1_NAMES: [[&str; 18]; 4] = [
    crate::numbered_names!("features.1."; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; ".norm1"),
    crate::numbered_names!("features.3."; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; ".norm1"),
    crate::numbered_names!("features.5."; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; ".norm1"),
    crate::numbered_names!("features.7."; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; ".norm1"),
];

impl SwinConfig {
    /// torchvision's `swin_t()`: 96 wide, blocks 2, 2, 6, 2, heads 3, 6, 12, 24, 7×7 windows;
    /// 224×224 RGB inputs, 1000 classes.
    pub fn swin_t() -> Self {
        Self {
            in_channels: 3,
            input_size: [224, 224],
            patch_size: 4,
            embed_dim: 96,
            depths: [2, 2, 6, 2],
            heads: [3, 6, 12, 24],
            window: 7,
            classes: 1000,
        }
    }

    /// torchvision's `swin_s()`: blocks 2, 2, 18, 2.
    pub fn swin_s() -> Self {
        Self {
            depths: [2, 2, 18, 2],
            ..Self::swin_t()
        }
    }

    /// torchvision's `swin_b()`: 128 wide, blocks 2, 2, 18, 2, heads 4, 8, 16, 32.
    pub fn swin_b() -> Self {
        Self {
            embed_dim: 128,
            depths: [2, 2, 18, 2],
            heads: [4, 8, 16, 32],
            ..Self::swin_t()
        }
    }

    /// The same network with another number of classes.
    pub fn with_classes(self, classes: usize) -> Self {
        Self { classes, ..self }
    }

    /// The same network for inputs of another size.
    pub fn with_input_size(self, input_size: [usize; 2]) -> Self {
        Self { input_size, ..self }
    }

    /// The same network with every width divided by `divisor` (the heads kept, each narrower):
    /// the parity tests' reduced networks.
    pub fn narrowed(self, divisor: usize) -> Self {
        Self {
            embed_dim: (self.embed_dim / divisor.max(1)).max(1),
            ..self
        }
    }

    /// torchvision's builder name (`"swin_t"`), or a description of another shape.
    pub fn name(&self) -> String {
        let named = [
            ("swin_t", Self::swin_t()),
            ("swin_s", Self::swin_s()),
            ("swin_b", Self::swin_b()),
        ];
        let same = |other: &Self| {
            other.embed_dim == self.embed_dim
                && other.depths == self.depths
                && other.heads == self.heads
        };
        named.iter().find(|(_, config)| same(config)).map_or_else(
            || {
                format!(
                    "a Swin of {} wide, blocks {:?}",
                    self.embed_dim, self.depths
                )
            },
            |(name, _)| (*name).to_owned(),
        )
    }

    /// Stage `stage`'s width.
    fn width(&self, stage: usize) -> usize {
        self.embed_dim << stage
    }

    /// `[height, width]` of stage `stage`'s map: the patch embedding's, halved (rounding up)
    /// by each patch merging before it.
    fn size(&self, stage: usize) -> [usize; 2] {
        let p = self.patch_size;
        let embedded = self.input_size.map(|side| side.saturating_sub(p) / p + 1);
        (0..stage).fold(embedded, |size, _| size.map(|side| side.div_ceil(2)))
    }

    /// Every state-dict key torchvision gives this network, with its shape (its attentions'
    /// integer `relative_position_index` buffers, which the network derives from the window,
    /// are accepted beside them and not read).
    pub fn state_dict_keys(&self) -> Vec<(String, Vec<usize>)> {
        let e = self.embed_dim;
        let p = self.patch_size;
        let mut keys = vec![
            (
                "features.0.0.weight".to_owned(),
                vec![e, self.in_channels, p, p],
            ),
            ("features.0.0.bias".to_owned(), vec![e]),
        ];
        let pair = |keys: &mut Vec<(String, Vec<usize>)>, name: &str, weight: Vec<usize>| {
            let bias = vec![weight[0]];
            keys.push((format!("{name}.weight"), weight));
            keys.push((format!("{name}.bias"), bias));
        };
        pair(&mut keys, "features.0.2", vec![e]);
        let table = (2 * self.window - 1).pow(2);
        for stage in 0..4 {
            let (c, module) = (self.width(stage), 1 + 2 * stage);
            for block in 0..self.depths[stage] {
                let b = format!("features.{module}.{block}");
                pair(&mut keys, &format!("{b}.norm1"), vec![c]);
                keys.push((
                    format!("{b}.attn.relative_position_bias_table"),
                    vec![table, self.heads[stage]],
                ));
                pair(&mut keys, &format!("{b}.attn.qkv"), vec![3 * c, c]);
                pair(&mut keys, &format!("{b}.attn.proj"), vec![c, c]);
                pair(&mut keys, &format!("{b}.norm2"), vec![c]);
                pair(&mut keys, &format!("{b}.mlp.0"), vec![4 * c, c]);
                pair(&mut keys, &format!("{b}.mlp.3"), vec![c, 4 * c]);
            }
            if stage < 3 {
                let m = format!("features.{}", module + 1);
                keys.push((format!("{m}.reduction.weight"), vec![2 * c, 4 * c]));
                pair(&mut keys, &format!("{m}.norm"), vec![4 * c]);
            }
        }
        pair(&mut keys, "norm", vec![self.width(3)]);
        pair(&mut keys, "head", vec![self.classes, self.width(3)]);
        keys
    }

    /// From torchvision's keys to the loading module's paths.
    fn remaps(&self) -> Vec<(String, String)> {
        let mut remaps = vec![
            (r"^features\.0\.0\.".to_owned(), "stem.".to_owned()),
            (r"^features\.0\.2\.".to_owned(), "stem_norm.".to_owned()),
        ];
        for stage in 0..4 {
            let module = 1 + 2 * stage;
            remaps.push((
                format!(r"^features\.{module}\.(\d+)\."),
                format!("stages.{stage}.$1."),
            ));
            if stage < 3 {
                remaps.push((
                    format!(r"^features\.{}\.", module + 1),
                    format!("merges.{stage}."),
                ));
            }
        }
        for (from, to) in [
            (r"\.attn\.qkv\.", ".qkv."),
            (r"\.attn\.proj\.", ".proj."),
            (r"\.attn\.relative_position_bias_table$", ".table"),
            (r"\.mlp\.0\.", ".fc1."),
            (r"\.mlp\.3\.", ".fc2."),
        ] {
            remaps.push((from.to_owned(), to.to_owned()));
        }
        remaps
    }
}

/// One block's attention windows: heads, side, and the shift of every second block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Windows {
    heads: usize,
    side: usize,
    shift: usize,
}

/// A `SwinTransformerBlock` as stored: the relative position bias as its table.
#[derive(Module, Debug)]
struct TorchBlock {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    table: Param<Tensor<2>>,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A patch merging: the 2×2 neighbours' channels side by side, normalised, projected.
#[derive(Module, Debug)]
struct Merging {
    norm: LayerNorm,
    reduction: Linear,
}

impl Merging {
    /// `[N, H, W, C]` → `[N, ⌈H/2⌉, ⌈W/2⌉, 2C]` (an odd side padded with zeros first).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = pad_to_multiple(x, 2);
        let [n, h, w, c] = x.dims();
        // torchvision's order: (0, 0), (1, 0), (0, 1), (1, 1) as (row, column) offsets.
        let merged = x
            .reshape([n, h / 2, 2, w / 2, 2, c])
            .permute([0, 1, 3, 4, 2, 5])
            .reshape([n, h / 2, w / 2, 4 * c]);
        self.reduction.forward(self.norm.forward(merged))
    }
}

/// torchvision's `SwinTransformer` as stored (remapped to these names).
#[derive(Module, Debug)]
struct TorchSwin {
    stem: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Vec<TorchBlock>>,
    merges: Vec<Merging>,
    norm: LayerNorm,
    head: Linear,
}

impl TorchSwin {
    fn init(config: &SwinConfig, device: &Device) -> Self {
        let norm = |width: usize| LayerNormConfig::new(width).init(device);
        let linear =
            |inputs: usize, outputs: usize| LinearConfig::new(inputs, outputs).init(device);
        let table = (2 * config.window - 1).pow(2);
        let p = config.patch_size;
        Self {
            stem: Conv2dConfig::new([config.in_channels, config.embed_dim], [p, p])
                .with_stride([p, p])
                .init(device),
            stem_norm: norm(config.embed_dim),
            stages: (0..4)
                .map(|stage| {
                    let c = config.width(stage);
                    (0..config.depths[stage])
                        .map(|_| TorchBlock {
                            norm1: norm(c),
                            qkv: linear(c, 3 * c),
                            proj: linear(c, c),
                            table: Param::from_tensor(Tensor::zeros(
                                [table, config.heads[stage]],
                                device,
                            )),
                            norm2: norm(c),
                            fc1: linear(c, 4 * c),
                            fc2: linear(4 * c, c),
                        })
                        .collect()
                })
                .collect(),
            merges: (0..3)
                .map(|stage| {
                    let c = config.width(stage);
                    Merging {
                        norm: norm(4 * c),
                        reduction: LinearConfig::new(4 * c, 2 * c)
                            .with_bias(false)
                            .init(device),
                    }
                })
                .collect(),
            norm: norm(config.width(3)),
            head: linear(config.width(3), config.classes),
        }
    }

    /// The network that runs: each block's bias gathered from its table.
    fn fold(self, config: SwinConfig) -> Swin {
        let index = relative_position_index(config.window);
        let stages = self
            .stages
            .into_iter()
            .enumerate()
            .map(|(stage, blocks)| {
                blocks
                    .into_iter()
                    .enumerate()
                    .map(|(j, b)| {
                        let table = b.table.val();
                        let device = table.device();
                        let [_, heads] = table.dims();
                        let n = config.window * config.window;
                        let index = Tensor::<1, Int>::from_data(
                            TensorData::new(index.clone(), [n * n]),
                            &device,
                        );
                        let bias = table
                            .select(0, index)
                            .reshape([n, n, heads])
                            .permute([2, 0, 1]);
                        SwinBlock {
                            norm1: b.norm1,
                            qkv: scale_queries(b.qkv, heads),
                            proj: b.proj,
                            bias: Param::from_tensor(bias),
                            norm2: b.norm2,
                            fc1: b.fc1,
                            fc2: b.fc2,
                            windows: Windows {
                                heads: config.heads[stage],
                                side: config.window,
                                shift: if j % 2 == 1 { config.window / 2 } else { 0 },
                            },
                        }
                    })
                    .collect()
            })
            .collect();
        Swin {
            config,
            stem: self.stem,
            stem_norm: self.stem_norm,
            stages,
            merges: self.merges,
            norm: self.norm,
            head: self.head,
            explained: SwinLayer::default_for(&config),
            normed_view: None,
        }
        .with_view()
    }
}

/// `qkv` with its query projection scaled by `1/√(head width)`: the attention's scaling of the
/// queries, folded into the layer once instead of a pass over every window's queries.
fn scale_queries(qkv: Linear, heads: usize) -> Linear {
    let weight = qkv.weight.val();
    let [c, outputs] = weight.dims();
    let scale = (c as f64 / heads as f64).powf(-0.5);
    let factors: Vec<f32> = (0..outputs)
        .map(|i| if i < c { scale as f32 } else { 1.0 })
        .collect();
    let factors = Tensor::<1>::from_data(TensorData::new(factors, [outputs]), &weight.device());
    Linear {
        weight: Param::from_tensor(weight * factors.clone().unsqueeze_dim(0)),
        bias: qkv
            .bias
            .map(|bias| Param::from_tensor(bias.val() * factors)),
    }
}

/// torchvision's `relative_position_index` of a `side × side` window: for each pair of its
/// tokens (row-major), the row of the bias table for their offset.
fn relative_position_index(side: usize) -> Vec<i64> {
    let n = side * side;
    let span = 2 * side as i64 - 1;
    let mut index = Vec::with_capacity(n * n);
    for a in 0..n {
        for b in 0..n {
            let dy = (a / side) as i64 - (b / side) as i64 + side as i64 - 1;
            let dx = (a % side) as i64 - (b % side) as i64 + side as i64 - 1;
            index.push(dy * span + dx);
        }
    }
    index
}

/// `x` `[N, H, W, C]` padded with zeros below and to the right to multiples of `multiple`.
fn pad_to_multiple(x: Tensor<4>, multiple: usize) -> Tensor<4> {
    let [n, h, w, c] = x.dims();
    let (pad_h, pad_w) = (
        h.next_multiple_of(multiple) - h,
        w.next_multiple_of(multiple) - w,
    );
    let device = x.device();
    let x = if pad_w > 0 {
        Tensor::cat(vec![x, Tensor::zeros([n, h, pad_w, c], &device)], 2)
    } else {
        x
    };
    if pad_h > 0 {
        Tensor::cat(vec![x, Tensor::zeros([n, pad_h, w + pad_w, c], &device)], 1)
    } else {
        x
    }
}

/// One block, its relative position bias gathered: `x + attn(norm1(x))`, then
/// `x + fc2(gelu(fc1(norm2(x))))`.
#[derive(Module, Debug)]
struct SwinBlock {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    /// The relative position bias `[heads, side², side²]`.
    bias: Param<Tensor<3>>,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    #[module(skip)]
    windows: Windows,
}

impl SwinBlock {
    fn forward(&self, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let normed = self.norm1.forward(x.clone());
        self.after_norm1(x, normed, relu)
    }

    /// The rest of the block from its input `x` and its first LayerNorm's output `normed`; the
    /// GELU goes through `relu`, so guided backpropagation reaches it.
    fn after_norm1(&self, x: Tensor<4>, normed: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        let x = x + self.attention(normed);
        let hidden = relu.activation(self.fc1.forward(self.norm2.forward(x.clone())), gelu);
        x + self.fc2.forward(hidden)
    }

    /// torchvision's `shifted_window_attention` on `[N, H, W, C]`.
    fn attention(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, w, c] = x.dims();
        let Windows { heads, side, shift } = self.windows;
        let x = pad_to_multiple(x, side);
        let [_, hp, wp, _] = x.dims();
        // No shift along a side the window covers whole.
        let shifts = [hp, wp].map(|s| if side >= s { 0 } else { shift });
        let shifted = shifts.iter().any(|&s| s > 0);
        let back = shifts.map(|s| s as i64);
        let x = if shifted {
            x.roll(&[-back[0], -back[1]], &[1, 2])
        } else {
            x
        };
        let (rows, columns) = (hp / side, wp / side);
        let (windows, n, d) = (b * rows * columns, side * side, c / heads);
        let tokens = x
            .reshape([b, rows, side, columns, side, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([windows, n, c]);
        let qkv = self
            .qkv
            .forward(tokens)
            .reshape([windows, n, 3, heads, d])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([windows, heads, n, d]);
        // The queries come scaled by 1/√d (`scale_queries`).
        let attn = part(0).matmul(part(1).swap_dims(2, 3));
        let bias = self.bias.val();
        let attn = if shifted {
            // The bias and the windows' masks in one addition.
            let mask = shift_mask([hp, wp], side, shifts);
            let mask = Tensor::<3>::from_data(
                TensorData::new(mask, [rows * columns, n, n]),
                &bias.device(),
            );
            let offsets = bias.unsqueeze_dim::<4>(0) + mask.unsqueeze_dim::<4>(1);
            (attn.reshape([b, rows * columns, heads, n, n]) + offsets.unsqueeze_dim(0))
                .reshape([windows, heads, n, n])
        } else {
            attn + bias.unsqueeze_dim(0)
        };
        let attn = activation::softmax(attn, 3);
        let out = attn
            .matmul(part(2))
            .swap_dims(1, 2)
            .reshape([windows, n, c]);
        let out = self
            .proj
            .forward(out)
            .reshape([b, rows, columns, side, side, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([b, hp, wp, c]);
        let out = if shifted {
            out.roll(&[back[0], back[1]], &[1, 2])
        } else {
            out
        };
        if hp > h || wp > w {
            out.narrow(1, 0, h).narrow(2, 0, w)
        } else {
            out
        }
    }
}

/// torchvision's attention mask of shifted windows `[windows, side², side²]` for a padded map of
/// `size`: −100 between two tokens of a window that came from different regions of the
/// unshifted map, 0 otherwise (a side that is not shifted is one region).
fn shift_mask(size: [usize; 2], side: usize, shifts: [usize; 2]) -> Vec<f32> {
    let region = |at: usize, length: usize, shift: usize| match shift {
        0 => 0,
        _ if at < length - side => 0,
        _ if at < length - shift => 1,
        _ => 2,
    };
    let [hp, wp] = size;
    let (rows, columns) = (hp / side, wp / side);
    let n = side * side;
    let mut mask = Vec::with_capacity(rows * columns * n * n);
    for row in 0..rows {
        for column in 0..columns {
            let ids: Vec<usize> = (0..n)
                .map(|t| {
                    let (y, x) = (row * side + t / side, column * side + t % side);
                    region(y, hp, shifts[0]) * 3 + region(x, wp, shifts[1])
                })
                .collect();
            for &a in &ids {
                mask.extend(ids.iter().map(|&b| if a == b { 0.0 } else { -100.0 }));
            }
        }
    }
    mask
}

/// Where a Swin is explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwinLayer {
    /// The output of torchvision's `features.<i>` (the patch embedding, a stage, a merging).
    Module(usize),
    /// The first LayerNorm of block `block` of stage `stage` (`features.<1 + 2·stage>.<block>.norm1`).
    Norm1 { stage: usize, block: usize },
}

impl SwinLayer {
    /// pytorch-grad-cam's Swin layer: the last block's first LayerNorm.
    fn default_for(config: &SwinConfig) -> Self {
        Self::Norm1 {
            stage: 3,
            block: config.depths[3].saturating_sub(1),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Module(i) => FEATURE_NAMES[i],
            Self::Norm1 { stage, block } => NORM1_NAMES[stage].get(block).copied().unwrap_or(""),
        }
    }
}

/// torchvision's Swin Transformer ([`SwinConfig`]: `swin_t`, `swin_s`, `swin_b`), in eval mode,
/// explained at any `features.<i>` (the patch embedding, a stage, a patch merging) or at any
/// block's first LayerNorm (`features.<i>.<j>.norm1`; the last block's by default,
/// pytorch-grad-cam's Swin layer). Its maps are channels-last, seen channels-first by a CAM
/// ([`ChannelsLast`]); at a block's first LayerNorm the features also carry the block's input,
/// which its residual sum reads ([`WithSkips`]).
///
/// Every GELU goes through [`ReluMode::activation`] (guided backpropagation guides it); the
/// attention, the LayerNorms and the patch mergings have no LRP rule, so LRP refuses the
/// network.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gradcam_explain::{Attribution, GradCam, Targets};
/// use gradcam_zoo::{Swin, SwinConfig};
///
/// let device = Device::default();
/// let config = SwinConfig::swin_t().narrowed(8).with_input_size([64, 64]).with_classes(10);
/// let net = Swin::init(config, &device);
/// assert_eq!(net.explained_layer(), "features.7.1.norm1");
/// let input = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
/// let result = GradCam::new().attribute(&net, input, &Targets::predicted())?;
/// assert_eq!(result.layer_cam().unwrap().dims(), [1, 1, 2, 2]);
/// # Ok::<(), gradcam_explain::ExplainError>(())
/// ```
#[derive(Module, Debug)]
pub struct Swin {
    #[module(skip)]
    config: SwinConfig,
    stem: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Vec<SwinBlock>>,
    merges: Vec<Merging>,
    norm: LayerNorm,
    head: Linear,
    #[module(skip)]
    explained: SwinLayer,
    /// The view at a block's first LayerNorm: the normalised map, the block's input carried.
    #[module(skip)]
    normed_view: Option<Nested<WithSkips, ChannelsLast>>,
}

impl Swin {
    /// A network of `config`'s shape with freshly initialised parameters.
    pub fn init(config: SwinConfig, device: &Device) -> Self {
        TorchSwin::init(&config, device).fold(config)
    }

    /// Loads a torchvision `state_dict` (`.pth`, or `.safetensors`) strictly: a missing, extra
    /// or misshaped key is a [`LoadError`] naming it (and, when the file is another of
    /// torchvision's Swins, which).
    pub fn load(
        config: SwinConfig,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, WeightsReport), LoadError> {
        let spec = StateDictSpec {
            keys: config.state_dict_keys(),
            ignored: |key| key.ends_with(".attn.relative_position_index"),
            remaps: config.remaps(),
            explain_mismatch: describe_file,
        };
        let module = TorchSwin::init(&config, device);
        let (module, report) = load_state_dict(module, path.as_ref(), &spec)?;
        Ok((module.fold(config), report))
    }

    /// The network's shape.
    pub fn config(&self) -> &SwinConfig {
        &self.config
    }

    /// Every layer the network can be explained at, input to output.
    fn layers(&self) -> Vec<SwinLayer> {
        let mut layers = vec![SwinLayer::Module(0)];
        for stage in 0..4 {
            layers.extend(
                (0..self.config.depths[stage]).map(|block| SwinLayer::Norm1 { stage, block }),
            );
            layers.push(SwinLayer::Module(1 + 2 * stage));
            if stage < 3 {
                layers.push(SwinLayer::Module(2 + 2 * stage));
            }
        }
        layers
    }

    /// The names of the layers the network can be explained at, input to output:
    /// `features.0`, `features.1.0.norm1`, …, `features.1`, `features.2`, …, `features.7`.
    pub fn explainable_layers(&self) -> Vec<&'static str> {
        self.layers().into_iter().map(SwinLayer::name).collect()
    }

    /// The same network, explained at `layer` (one of [`Swin::explainable_layers`]).
    pub fn explained_at(mut self, layer: &str) -> Result<Self, UnknownName> {
        let layers = self.layers();
        self.explained = UnknownName::find(layer, &layers, |l| l.name(), "Swin layer")?;
        Ok(self.with_view())
    }

    /// The name of the explained layer.
    pub fn explained_layer(&self) -> &'static str {
        self.explained.name()
    }

    /// The layer a network of `config`'s shape is explained at unless another is chosen: the
    /// last block's first LayerNorm (pytorch-grad-cam's Swin layer).
    pub fn default_layer(config: &SwinConfig) -> &'static str {
        SwinLayer::default_for(config).name()
    }

    /// Input → logits `[N, classes]`, as torchvision's `forward`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let features = Explainable::features(self, input, ReluMode::Standard);
        Explainable::logits(self, features, ReluMode::Standard)
    }

    /// How a block of stage `stage` carries its first LayerNorm's output `[N, H, W, C]` (and,
    /// beside it, its input of the same shape).
    fn carried(&self, stage: usize) -> WithSkips {
        let [h, w] = self.config.size(stage);
        WithSkips {
            map: [h, w, self.config.width(stage)],
        }
    }

    fn with_view(self) -> Self {
        let normed_view = match self.explained {
            SwinLayer::Norm1 { stage, .. } => Some(Nested {
                outer: self.carried(stage),
                inner: ChannelsLast,
            }),
            SwinLayer::Module(_) => None,
        };
        Self {
            normed_view,
            ..self
        }
    }

    /// Runs torchvision's `features.<index>` on `x` (channels-last after the embedding).
    fn run_module(&self, index: usize, x: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        match index {
            0 => self
                .stem_norm
                .forward(self.stem.forward(x).permute([0, 2, 3, 1])),
            i if i % 2 == 1 => self.stages[i / 2]
                .iter()
                .fold(x, |x, block| block.forward(x, relu)),
            i => self.merges[i / 2 - 1].forward(x),
        }
    }
}

impl Explainable for Swin {
    fn input_shape(&self) -> [usize; 3] {
        let [h, w] = self.config.input_size;
        [self.config.in_channels, h, w]
    }

    fn features(&self, input: Tensor<4>, relu: ReluMode) -> Tensor<4> {
        match self.explained {
            SwinLayer::Module(last) => (0..=last).fold(input, |x, i| self.run_module(i, x, relu)),
            SwinLayer::Norm1 { stage, block } => {
                let module = 1 + 2 * stage;
                let x = (0..module).fold(input, |x, i| self.run_module(i, x, relu));
                let blocks = &self.stages[stage];
                let x = blocks[..block].iter().fold(x, |x, b| b.forward(x, relu));
                let normed = blocks[block].norm1.forward(x.clone());
                WithSkips::carry(normed, vec![x])
            }
        }
    }

    fn logits(&self, features: Tensor<4>, relu: ReluMode) -> Tensor<2> {
        let (x, next) = match self.explained {
            SwinLayer::Norm1 { stage, block } => {
                let outer = self.carried(stage);
                let (normed, mut skips) = outer.split(features, &[outer.map]);
                let input = skips.pop().expect("split returns the carried input");
                let blocks = &self.stages[stage];
                let x = blocks[block].after_norm1(input, normed, relu);
                let x = blocks[block + 1..]
                    .iter()
                    .fold(x, |x, b| b.forward(x, relu));
                (x, 2 + 2 * stage)
            }
            SwinLayer::Module(i) => (features, i + 1),
        };
        let x = (next..8).fold(x, |x, i| self.run_module(i, x, relu));
        let pooled = self.norm.forward(x).mean_dims(&[1, 2]).flatten::<2>(1, 3);
        self.head.forward(pooled)
    }

    fn layer_view(&self) -> Option<&dyn LayerView> {
        match &self.normed_view {
            Some(view) => Some(view),
            None => Some(&ChannelsLast),
        }
    }

    fn output_layer(&self) -> OutputLayer {
        OutputLayer::Identity
    }

    fn device(&self) -> Device {
        self.head.weight.device()
    }
}

impl Reinitialize for Swin {
    /// torchvision's `features.0` … `features.7`, `norm` and `head`.
    fn layer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = FEATURE_NAMES[..8].iter().map(|&n| n.to_owned()).collect();
        names.extend(["norm".to_owned(), "head".to_owned()]);
        names
    }

    fn reinitialized(&self, layers: &[usize], seed: u64) -> Self {
        let mut paths = Vec::new();
        for &layer in layers {
            match layer {
                0 => paths.extend(["stem".to_owned(), "stem_norm".to_owned()]),
                i if i < 8 && i % 2 == 1 => paths.push(format!("stages.{}", i / 2)),
                i if i < 8 => paths.push(format!("merges.{}", i / 2 - 1)),
                8 => paths.push("norm".to_owned()),
                9 => paths.push("head".to_owned()),
                _ => {}
            }
        }
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        reinitialize_layers(self.clone(), &paths, seed)
    }
}

/// Which of torchvision's Swins a state dict's keys describe, by its blocks per stage.
fn describe_file(keys: &[&str]) -> String {
    let depth = |module: usize| {
        keys.iter()
            .filter(|k| {
                k.starts_with(&format!("features.{module}.")) && k.ends_with(".norm1.weight")
            })
            .count()
    };
    let depths = [depth(1), depth(3), depth(5), depth(7)];
    if depths.iter().all(|&d| d == 0) {
        return String::new();
    }
    let names: Vec<&str> = [
        ("swin_t", SwinConfig::swin_t()),
        ("swin_s or swin_b", SwinConfig::swin_s()),
    ]
    .iter()
    .filter(|(_, config)| config.depths == depths)
    .map(|(name, _)| *name)
    .collect();
    match names.as_slice() {
        [name] => format!("the file holds a {name} (blocks {depths:?})"),
        _ => format!("the file holds a Swin of blocks {depths:?}"),
    }
}
