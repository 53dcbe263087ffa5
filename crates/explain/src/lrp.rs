//! Layer-wise relevance propagation's rules (Bach et al. 2015; Montavon et al., "Layer-Wise
//! Relevance Propagation: An Overview", 2019) as zennit computes them: each rule is a backward
//! of an affine layer (a convolution or a fully connected layer) that redistributes the
//! relevance reaching the layer's output onto its input.
//!
//! A rule is a set of terms `k`, each the layer with modified parameters `W'_k, b'_k` applied to
//! a modified input `x_k`; the relevance `R` reaching the output is divided by a stabilised
//! denominator `s_k` (and masked), sent back through `W'_k`, and multiplied by `x_k`:
//! `R_in = Σ_k c_k · x_k ⊙ W'_kᵀ (R ⊙ m_k / s_k)`. Each piece `z_k = layer(u_k; W'_k, b'_k)` is
//! evaluated once, on `u_k = x_k.detach() ⊙ (x − x.detach() + 1)`, which is `x_k` bit for bit in
//! the forward and carries `x_k ⊙ ·` into `x` in the backward: its value makes the denominators,
//! and each term `v_k − v_k.detach()` with `v_k = z_k ⊙ (m_k / s_k).detach()` is zero in the
//! forward and that backward in the backward — no custom autodiff node, so every backend runs
//! it, and the forward values are the layer's own.

use std::cell::{Cell, RefCell};

use burn::tensor::{Bool, Tensor};

use crate::checks::Checks;
use crate::error::Stage;

/// Whether an affine layer is a convolution or a fully connected layer (composites pick their
/// rule by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AffineKind {
    /// A convolution.
    Convolution,
    /// A fully connected layer.
    Dense,
}

/// One affine layer of a model, as it hands it to the pass ([`crate::ReluMode::affine`]): the
/// layer as the model runs it, its parameters, and how to apply it with any parameters of their
/// shapes.
pub struct Affine<'a, const D: usize, const W: usize> {
    /// Convolution or fully connected.
    pub kind: AffineKind,
    /// Whether it is the first layer the input meets (composites may give it its own rule).
    pub first: bool,
    /// Whether the layer's input is never negative (it is a ReLU's output, or pooled or
    /// concatenated from such outputs). The rules that split the input into its positive and
    /// negative parts (z⁺, αβ, γ) then skip the negative part's terms, which are zero: half of
    /// their convolutions. The promise is checked on the device (under [`crate::Lrp`]), without
    /// a read: an image whose input to such a layer is negative somewhere is reported, with the
    /// first read of its map, as [`crate::ExplainError::NonFinite`] at
    /// [`crate::Stage::Relevance`] — never a wrong map.
    pub nonnegative_input: bool,
    /// The weight.
    pub weight: Tensor<W>,
    /// The bias, if any.
    pub bias: Option<Tensor<1>>,
    /// The layer with its own parameters, as the model runs it (its fastest kernel).
    pub forward: &'a dyn Fn(Tensor<D>) -> Tensor<D>,
    /// The layer applied to an input with the given weight and bias.
    pub apply: &'a dyn Fn(Tensor<D>, Tensor<W>, Option<Tensor<1>>) -> Tensor<D>,
}

/// An LRP rule for an affine layer, with zennit's parameters (its defaults in
/// [`LrpRule::default_epsilon`] and the composites). Activations always pass the relevance on
/// unchanged (zennit's `Pass`), max poolings route it to each window's maximum (their gradient).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrpRule {
    /// LRP-ε: `x ⊙ Wᵀ(R / (z + ε·sign z))` (ε = 0 is LRP-0).
    Epsilon {
        /// The stabiliser ε.
        epsilon: f32,
    },
    /// The generalised γ rule: positive contributions boosted by `γ·W⁺` (and negative ones by
    /// `γ·W⁻`, for outputs below zero).
    Gamma {
        /// γ.
        gamma: f32,
        /// The denominator's stabiliser.
        stabilizer: f32,
    },
    /// z⁺ (α = 1, β = 0): only the positive contributions `x⁺W⁺ + x⁻W⁻`.
    ZPlus {
        /// The denominator's stabiliser.
        stabilizer: f32,
    },
    /// αβ: positive contributions weighted by α, negative ones by β (α − β = 1).
    AlphaBeta {
        /// α.
        alpha: f32,
        /// β.
        beta: f32,
        /// The denominators' stabiliser.
        stabilizer: f32,
    },
    /// Flat: the relevance spread uniformly over the receptive field (weights and input ones).
    Flat {
        /// The denominator's stabiliser.
        stabilizer: f32,
    },
    /// w²: the relevance spread in proportion to the squared weights.
    WSquare {
        /// The denominator's stabiliser.
        stabilizer: f32,
    },
    /// z^B for a bounded input (the first layer): `x ⊙ Wᵀ − l ⊙ W⁺ᵀ − h ⊙ W⁻ᵀ` of `R / (z − l W⁺
    /// − h W⁻)`, with the input's lowest and highest values `l`, `h` (one value, or one per
    /// channel of an RGB input normalised per channel).
    ZBox {
        /// The lowest input value.
        low: Bound,
        /// The highest input value.
        high: Bound,
        /// The denominator's stabiliser.
        stabilizer: f32,
    },
}

/// zennit's default stabiliser of every rule.
pub const STABILIZER: f32 = 1e-6;

impl LrpRule {
    /// LRP-ε with zennit's default ε = 1e-6.
    pub const fn default_epsilon() -> Self {
        Self::Epsilon {
            epsilon: STABILIZER,
        }
    }

    /// `R_in` for the relevance `R` reaching `layer`'s output: the layer with its own forward,
    /// and this rule's backward.
    pub(crate) fn apply<const D: usize, const W: usize>(
        self,
        x: Tensor<D>,
        layer: &Affine<'_, D, W>,
    ) -> Tensor<D> {
        let plain = x.clone().detach();
        // Exactly 1 in the forward, the identity into `x` in the backward: a piece's input
        // times it is the input itself, bit for bit, with the backward of `input ⊙ x`.
        let unit = (x - plain.clone()) + 1.0;
        let carried = |input: Tensor<D>| input.detach() * unit.clone();
        // The layer with parameters `w, b` on the modified input `input`: one evaluation gives
        // the rule its denominator (the value) and its carrier (the backward).
        let piece = |input: Tensor<D>, w: Tensor<W>, b: Option<Tensor<1>>| {
            (layer.apply)(carried(input), w, b)
        };
        let weight = layer.weight.clone();
        let bias = layer.bias.clone();
        let positive = |t: Tensor<W>| t.clamp_min(0.0);
        let negative = |t: Tensor<W>| t.clamp_max(0.0);
        let positive_bias = bias.clone().map(|b| b.clamp_min(0.0));
        let negative_bias = bias.clone().map(|b| b.clamp_max(0.0));
        let value = |z: &Tensor<D>| z.clone().detach();
        // A non-negative input is its own positive part and has no negative part: the terms
        // of the negative part are skipped, and the promise is checked (`promise_checks`).
        let nonnegative = layer.nonnegative_input;
        if nonnegative {
            record_promise(&plain);
        }
        let x_plus = if nonnegative {
            plain.clone()
        } else {
            plain.clone().clamp_min(0.0)
        };
        let x_minus = (!nonnegative).then(|| plain.clone().clamp_max(0.0));
        let sum = |a: &Tensor<D>, b: &Option<Tensor<D>>| match b {
            Some(b) => value(a) + value(b),
            None => value(a),
        };
        // The layer's own output, from its own kernel.
        let own = || (layer.forward)(plain.clone());
        let (y, terms): (Tensor<D>, Vec<Term<D>>) = match self {
            Self::Epsilon { epsilon } => {
                let z = (layer.forward)(carried(plain.clone()));
                let y = value(&z);
                let scale = stabilize(y.clone(), epsilon).recip();
                (y, vec![Term::new(z, scale, 1.0)])
            }
            Self::ZPlus { stabilizer } => {
                let up = piece(x_plus, positive(weight.clone()), positive_bias);
                let down = x_minus.clone().map(|x| piece(x, negative(weight), None));
                let scale = stabilize(sum(&up, &down), stabilizer).recip();
                let terms = [(Some(up), scale.clone(), 1.0), (down, scale, 1.0)];
                (own(), Term::present(terms))
            }
            Self::AlphaBeta {
                alpha,
                beta,
                stabilizer,
            } => {
                let up_plus = piece(x_plus.clone(), positive(weight.clone()), positive_bias);
                let up_minus = x_minus
                    .clone()
                    .map(|x| piece(x, negative(weight.clone()), None));
                let down_plus = piece(x_plus, negative(weight.clone()), negative_bias);
                let down_minus = x_minus.clone().map(|x| piece(x, positive(weight), None));
                let up = stabilize(sum(&up_plus, &up_minus), stabilizer).recip();
                let down = stabilize(sum(&down_plus, &down_minus), stabilizer).recip();
                let terms = [
                    (Some(up_plus), up.clone(), alpha),
                    (up_minus, up, alpha),
                    (Some(down_plus), down.clone(), -beta),
                    (down_minus, down, -beta),
                ];
                (own(), Term::present(terms))
            }
            Self::Gamma { gamma, stabilizer } => {
                let boosted_up = weight.clone() + positive(weight.clone()) * gamma;
                let boosted_down = weight.clone() + negative(weight) * gamma;
                let bias_up = bias.clone().map(|b| b.clone() + b.clamp_min(0.0) * gamma);
                let bias_down = bias.map(|b| b.clone() + b.clamp_max(0.0) * gamma);
                let up_plus = piece(x_plus.clone(), boosted_up.clone(), bias_up);
                let up_minus = x_minus
                    .clone()
                    .map(|x| piece(x, boosted_down.clone(), None));
                let down_plus = piece(x_plus, boosted_down.clone(), bias_down);
                let down_minus = x_minus.clone().map(|x| piece(x, boosted_up, None));
                let y = own();
                // Outputs above zero take the boosted positive part, below zero the negative.
                let up = masked(
                    stabilize(sum(&up_plus, &up_minus), stabilizer).recip(),
                    y.clone().lower_equal_elem(0.0),
                );
                let down = masked(
                    stabilize(sum(&down_plus, &down_minus), stabilizer).recip(),
                    y.clone().greater_equal_elem(0.0),
                );
                let terms = [
                    (Some(up_plus), up.clone(), 1.0),
                    (up_minus, up, 1.0),
                    (Some(down_plus), down.clone(), 1.0),
                    (down_minus, down, 1.0),
                ];
                (y, Term::present(terms))
            }
            Self::Flat { stabilizer } => {
                let z = piece(plain.ones_like(), weight.ones_like(), None);
                let scale = stabilize(value(&z), stabilizer).recip();
                (own(), vec![Term::new(z, scale, 1.0)])
            }
            Self::WSquare { stabilizer } => {
                let z = piece(
                    plain.ones_like(),
                    weight.powi_scalar(2),
                    bias.map(|b| b.powi_scalar(2)),
                );
                let scale = stabilize(value(&z), stabilizer).recip();
                (own(), vec![Term::new(z, scale, 1.0)])
            }
            Self::ZBox {
                low,
                high,
                stabilizer,
            } => {
                let z = (layer.forward)(carried(plain.clone()));
                let y = value(&z);
                let lowest = piece(low.image(&plain), positive(weight.clone()), positive_bias);
                let highest = piece(high.image(&plain), negative(weight), negative_bias);
                let denominator = y.clone() - value(&lowest) - value(&highest);
                let scale = stabilize(denominator, stabilizer).recip();
                let terms = vec![
                    Term::new(z, scale.clone(), 1.0),
                    Term::new(lowest, scale.clone(), -1.0),
                    Term::new(highest, scale, -1.0),
                ];
                (y, terms)
            }
        };
        let backward = terms
            .into_iter()
            .map(Term::carrier)
            .reduce(|a, b| a + b)
            .expect("every rule has a term");
        y + backward
    }
}

/// One term of a rule: a piece of the layer (its modified parameters on its modified input,
/// carried into `x`), scaled by `scale` (the masked inverse denominator) and by `factor`.
struct Term<const D: usize> {
    piece: Tensor<D>,
    scale: Tensor<D>,
    factor: f32,
}

impl<const D: usize> Term<D> {
    fn new(piece: Tensor<D>, scale: Tensor<D>, factor: f32) -> Self {
        Self {
            piece,
            scale,
            factor,
        }
    }

    /// The terms whose piece was evaluated (a skipped negative part has none).
    fn present<const K: usize>(terms: [(Option<Tensor<D>>, Tensor<D>, f32); K]) -> Vec<Self> {
        terms
            .into_iter()
            .filter_map(|(piece, scale, factor)| Some(Self::new(piece?, scale, factor)))
            .collect()
    }

    /// Zero in the forward (an exact zero, formed before it is added); in the backward
    /// `factor · input ⊙ W'ᵀ(R ⊙ scale)` into `x`.
    fn carrier(self) -> Tensor<D> {
        let through = self.piece * (self.scale.detach() * self.factor);
        through.clone() - through.detach()
    }
}

thread_local! {
    /// Whether a pass run by [`promise_checks`] is collecting on this thread.
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
    /// The promises of non-negative inputs that pass met: one column per layer, zero for an
    /// image whose input was nowhere negative, NaN for one whose was.
    static PROMISES: RefCell<Vec<Tensor<2>>> = const { RefCell::new(Vec::new()) };
}

/// Records the check of a layer's input `x` declared non-negative, when a pass is collecting.
fn record_promise<const D: usize>(x: &Tensor<D>) {
    if COLLECTING.get() {
        let lowest = x.clone().reshape([x.dims()[0] as i64, -1]).min_dim(1);
        let negative = lowest.clone().lower_elem(0.0);
        let promise = lowest.zeros_like().mask_fill(negative, f32::NAN);
        PROMISES.with_borrow_mut(|promises| promises.push(promise));
    }
}

/// Runs the pass `f` and returns, beside its result, the checks of the non-negative inputs it
/// met ([`Affine::nonnegative_input`]): non-finite, at [`Stage::Relevance`], for an image whose
/// input to such a layer was negative somewhere (the rules skipped its negative part, so its
/// relevance is wrong). Read with the result, like every other check. A pass run inside `f`
/// collects its own.
pub(crate) fn promise_checks<T>(f: impl FnOnce() -> T) -> (T, Checks) {
    let outer = PROMISES.take();
    let was_collecting = COLLECTING.replace(true);
    let result = f();
    let promises = PROMISES.replace(outer);
    COLLECTING.set(was_collecting);
    let checks = match promises.is_empty() {
        true => Checks::default(),
        false => Checks::finite(Stage::Relevance, &Tensor::cat(promises, 1), 1),
    };
    (result, checks)
}

/// `scale` with zeros where `mask` holds.
fn masked<const D: usize>(scale: Tensor<D>, mask: Tensor<D, Bool>) -> Tensor<D> {
    scale.mask_fill(mask, 0.0)
}

/// zennit's `Norm` rule for a sum of `parts` (a residual connection's branches, as zennit's
/// ResNet canonizer sums them): each part receives the relevance in proportion to its value,
/// `R_i = x_i ⊙ R / (Σ_j x_j + ε·sign)`. The forward is the sum itself.
pub(crate) fn norm_sum<const D: usize>(parts: Vec<Tensor<D>>) -> Tensor<D> {
    let plain = parts
        .iter()
        .map(|part| part.clone().detach())
        .reduce(|a, b| a + b)
        .expect("a sum of at least one part");
    let scale = stabilize(plain.clone(), STABILIZER).recip();
    // Each carrier is formed as `t − t.detach()` first, an exact zero, so that the forward
    // stays the sum bit for bit: `(sum + t) − t` would round it when `t` is large.
    parts.into_iter().fold(plain, |sum, part| {
        let through = part.clone() * (part.detach() * scale.clone());
        sum + (through.clone() - through.detach())
    })
}

/// zennit's `Norm` rule for an average pooling `pool`: `R_in = x ⊙ poolᵀ(R / (pool(x) +
/// ε·sign))`. The forward is the pooling itself.
pub(crate) fn norm_pool(x: Tensor<4>, pool: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let plain = x.clone().detach();
    let y = pool(plain.clone());
    let scale = stabilize(y.clone(), STABILIZER).recip();
    let through = pool(x * plain) * scale;
    y + (through.clone() - through.detach())
}

/// zennit's stabiliser: `z + ε·sign(z)`, with the sign of zero taken as +1.
fn stabilize<const D: usize>(z: Tensor<D>, epsilon: f32) -> Tensor<D> {
    let sign = z.clone().sign().mask_fill(z.clone().equal_elem(0.0), 1.0);
    z + sign * epsilon
}

impl LrpRule {
    /// The rule's parameters as bits, for equality and hashing (bitwise, so that the pass
    /// context stays `Eq` and `Hash`).
    fn key(&self) -> (u8, [u32; 7]) {
        let bits = |values: [f32; 3]| {
            let [a, b, c] = values.map(f32::to_bits);
            [a, b, c, 0, 0, 0, 0]
        };
        match *self {
            Self::Epsilon { epsilon } => (0, bits([epsilon, 0.0, 0.0])),
            Self::Gamma { gamma, stabilizer } => (1, bits([gamma, stabilizer, 0.0])),
            Self::ZPlus { stabilizer } => (2, bits([stabilizer, 0.0, 0.0])),
            Self::AlphaBeta {
                alpha,
                beta,
                stabilizer,
            } => (3, bits([alpha, beta, stabilizer])),
            Self::Flat { stabilizer } => (4, bits([stabilizer, 0.0, 0.0])),
            Self::WSquare { stabilizer } => (5, bits([stabilizer, 0.0, 0.0])),
            Self::ZBox {
                low,
                high,
                stabilizer,
            } => {
                let [l0, l1, l2] = low.key();
                let [h0, h1, h2] = high.key();
                (6, [l0, l1, l2, h0, h1, h2, stabilizer.to_bits()])
            }
        }
    }
}

/// A bound of z^B's input box: one value for every input element, or one per channel of an RGB
/// input (an image normalised per channel, whose black and white differ by channel, as
/// zennit's `EpsilonGammaBox` takes them for an ImageNet model).
///
/// ```
/// use gradcam_explain::{Bound, LrpComposite};
/// let mean = [0.485, 0.456, 0.406];
/// let std = [0.229, 0.224, 0.225];
/// let black = Bound::Channels([0, 1, 2].map(|c| (0.0 - mean[c]) / std[c]));
/// let white = Bound::Channels([0, 1, 2].map(|c| (1.0 - mean[c]) / std[c]));
/// let composite = LrpComposite::epsilon_gamma_box(black, white);
/// assert_eq!(LrpComposite::epsilon_gamma_box(-1.0, 1.0).first.is_some(), composite.first.is_some());
/// ```
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// The same value everywhere.
    Value(f32),
    /// One value per channel of a three-channel input.
    Channels([f32; 3]),
}

impl From<f32> for Bound {
    fn from(value: f32) -> Self {
        Self::Value(value)
    }
}

impl From<[f32; 3]> for Bound {
    fn from(values: [f32; 3]) -> Self {
        Self::Channels(values)
    }
}

impl Bound {
    /// Channels the bound is for (none: any).
    pub(crate) fn channels(self) -> Option<usize> {
        match self {
            Self::Value(_) => None,
            Self::Channels(values) => Some(values.len()),
        }
    }

    /// The bound as an input like `like`: per channel along axis 1, each channel's value over a
    /// third of that axis (a convolution's channels; a flattened channel-major image's blocks).
    fn image<const D: usize>(self, like: &Tensor<D>) -> Tensor<D> {
        match self {
            Self::Value(value) => like.full_like(value),
            Self::Channels(values) => {
                let dims = like.dims();
                let block = dims[1] / values.len();
                let along: Vec<f32> = values
                    .iter()
                    .flat_map(|&v| std::iter::repeat_n(v, block))
                    .collect();
                let mut shape = [1; D];
                shape[1] = along.len();
                Tensor::<1>::from_floats(along.as_slice(), &like.device())
                    .reshape(shape)
                    .expand(dims)
            }
        }
    }

    fn key(self) -> [u32; 3] {
        match self {
            Self::Value(value) => [value.to_bits(), u32::MAX, u32::MAX],
            Self::Channels(values) => values.map(f32::to_bits),
        }
    }
}

/// Bitwise, as the hash.
impl PartialEq for LrpRule {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for LrpRule {}

impl std::hash::Hash for LrpRule {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// Which rule each affine layer takes, as zennit's composites choose by layer kind: one for the
/// convolutions, one for the fully connected layers, and optionally one for the first layer the
/// input meets.
///
/// ```
/// use gradcam_explain::{LrpComposite, LrpRule};
/// let composite = LrpComposite::epsilon_gamma_box(-0.4242, 2.8215);
/// assert!(matches!(composite.first, Some(LrpRule::ZBox { .. })));
/// assert_eq!(composite.dense, LrpRule::Epsilon { epsilon: 1e-6 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LrpComposite {
    /// The rule of every convolution (but the first, if `first` is set).
    pub convolution: LrpRule,
    /// The rule of every fully connected layer (but the first, if `first` is set).
    pub dense: LrpRule,
    /// The first layer's own rule, if any.
    pub first: Option<LrpRule>,
}

impl Default for LrpComposite {
    fn default() -> Self {
        Self::epsilon_plus()
    }
}

impl LrpComposite {
    /// LRP-ε with the stabiliser `epsilon` on every affine layer: Captum's `LRP` with its
    /// default rules is `LrpComposite::epsilon(1e-9)`.
    ///
    /// ```
    /// use gradcam_explain::{LrpComposite, LrpRule};
    /// let captum = LrpComposite::epsilon(1e-9);
    /// assert_eq!(captum.convolution, LrpRule::Epsilon { epsilon: 1e-9 });
    /// assert_eq!(captum.dense, captum.convolution);
    /// ```
    pub const fn epsilon(epsilon: f32) -> Self {
        Self {
            convolution: LrpRule::Epsilon { epsilon },
            dense: LrpRule::Epsilon { epsilon },
            first: None,
        }
    }

    /// zennit's `EpsilonPlus`: z⁺ for the convolutions, ε for the fully connected layers.
    pub const fn epsilon_plus() -> Self {
        Self {
            convolution: LrpRule::ZPlus {
                stabilizer: STABILIZER,
            },
            dense: LrpRule::default_epsilon(),
            first: None,
        }
    }

    /// zennit's `EpsilonPlusFlat`: [`LrpComposite::epsilon_plus`] with the flat rule for the
    /// first layer.
    pub const fn epsilon_plus_flat() -> Self {
        Self {
            first: Some(LrpRule::Flat {
                stabilizer: STABILIZER,
            }),
            ..Self::epsilon_plus()
        }
    }

    /// zennit's `EpsilonGammaBox`: z^B for the first layer (the input bounded by `low` and
    /// `high`, in the model's input space: one value, or one per channel, [`Bound`]), γ = 0.25
    /// for the convolutions, ε for the fully connected layers.
    pub fn epsilon_gamma_box(low: impl Into<Bound>, high: impl Into<Bound>) -> Self {
        let (low, high) = (low.into(), high.into());
        Self {
            convolution: LrpRule::Gamma {
                gamma: 0.25,
                stabilizer: STABILIZER,
            },
            dense: LrpRule::default_epsilon(),
            first: Some(LrpRule::ZBox {
                low,
                high,
                stabilizer: STABILIZER,
            }),
        }
    }

    /// zennit's `EpsilonAlpha2Beta1`: α = 2, β = 1 for the convolutions, ε for the fully
    /// connected layers.
    pub const fn epsilon_alpha2_beta1() -> Self {
        Self {
            convolution: LrpRule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
                stabilizer: STABILIZER,
            },
            dense: LrpRule::default_epsilon(),
            first: None,
        }
    }

    /// zennit's `EpsilonAlpha2Beta1Flat`: [`LrpComposite::epsilon_alpha2_beta1`] with the flat
    /// rule for the first layer.
    pub const fn epsilon_alpha2_beta1_flat() -> Self {
        Self {
            first: Some(LrpRule::Flat {
                stabilizer: STABILIZER,
            }),
            ..Self::epsilon_alpha2_beta1()
        }
    }

    /// The channels its box bounds are for, if any rule's bounds are per channel.
    pub(crate) fn bound_channels(&self) -> Option<usize> {
        [Some(self.convolution), Some(self.dense), self.first]
            .into_iter()
            .flatten()
            .find_map(|rule| match rule {
                LrpRule::ZBox { low, high, .. } => low.channels().or(high.channels()),
                _ => None,
            })
    }

    /// The rule of `layer`.
    pub(crate) fn rule<const D: usize, const W: usize>(&self, layer: &Affine<'_, D, W>) -> LrpRule {
        match (layer.first, self.first, layer.kind) {
            (true, Some(first), _) => first,
            (_, _, AffineKind::Convolution) => self.convolution,
            (_, _, AffineKind::Dense) => self.dense,
        }
    }
}
