//! Layer-wise relevance propagation's rules (Bach et al. 2015; Montavon et al., "Layer-Wise
//! Relevance Propagation: An Overview", 2019) as zennit computes them: each rule is a backward
//! of an affine layer (a convolution or a fully connected layer) that redistributes the
//! relevance reaching the layer's output onto its input.
//!
//! A rule is a set of terms `k`, each the layer with modified parameters `W'_k, b'_k` applied to
//! a modified input `x_k`; the relevance `R` reaching the output is divided by a stabilised
//! denominator `s_k` (and masked), sent back through `W'_k`, and multiplied by `x_k`:
//! `R_in = Σ_k c_k · x_k ⊙ W'_kᵀ (R ⊙ m_k / s_k)`. Each term is written as
//! `v_k − v_k.detach()` with `v_k = layer(x_k.detach() ⊙ x; W'_k) ⊙ (m_k / s_k).detach()`: zero in
//! the forward, that backward in the backward — no custom autodiff node, so every backend runs
//! it, and the forward values are the layer's own.

use burn::tensor::{Bool, Tensor};

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
    /// − h W⁻)`, with the input's lowest and highest values `l`, `h`.
    ZBox {
        /// The lowest input value.
        low: f32,
        /// The highest input value.
        high: f32,
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
        let y = (layer.forward)(plain.clone());
        let weight = layer.weight.clone();
        let bias = layer.bias.clone();
        let positive = |t: Tensor<W>| t.clamp_min(0.0);
        let negative = |t: Tensor<W>| t.clamp_max(0.0);
        let positive_bias = bias.clone().map(|b| b.clamp_min(0.0));
        let negative_bias = bias.clone().map(|b| b.clamp_max(0.0));
        let x_plus = plain.clone().clamp_min(0.0);
        let x_minus = plain.clone().clamp_max(0.0);
        // The layer's output with parameters `w, b` on the input `input` (the denominators).
        let z = |input: Tensor<D>, w: Tensor<W>, b: Option<Tensor<1>>| (layer.apply)(input, w, b);
        let terms: Vec<Term<D, W>> = match self {
            Self::Epsilon { epsilon } => {
                let scale = stabilize(y.clone(), epsilon).recip();
                vec![Term::new(plain.clone(), weight, scale, 1.0)]
            }
            Self::ZPlus { stabilizer } => {
                let denominator = z(x_plus.clone(), positive(weight.clone()), positive_bias)
                    + z(x_minus.clone(), negative(weight.clone()), None);
                let scale = stabilize(denominator, stabilizer).recip();
                vec![
                    Term::new(x_plus, positive(weight.clone()), scale.clone(), 1.0),
                    Term::new(x_minus, negative(weight), scale, 1.0),
                ]
            }
            Self::AlphaBeta {
                alpha,
                beta,
                stabilizer,
            } => {
                let up = z(x_plus.clone(), positive(weight.clone()), positive_bias)
                    + z(x_minus.clone(), negative(weight.clone()), None);
                let down = z(x_plus.clone(), negative(weight.clone()), negative_bias)
                    + z(x_minus.clone(), positive(weight.clone()), None);
                let up = stabilize(up, stabilizer).recip();
                let down = stabilize(down, stabilizer).recip();
                vec![
                    Term::new(x_plus.clone(), positive(weight.clone()), up.clone(), alpha),
                    Term::new(x_minus.clone(), negative(weight.clone()), up, alpha),
                    Term::new(x_plus, negative(weight.clone()), down.clone(), -beta),
                    Term::new(x_minus, positive(weight), down, -beta),
                ]
            }
            Self::Gamma { gamma, stabilizer } => {
                let boosted_up = weight.clone() + positive(weight.clone()) * gamma;
                let boosted_down = weight.clone() + negative(weight.clone()) * gamma;
                let bias_up = bias.clone().map(|b| b.clone() + b.clamp_min(0.0) * gamma);
                let bias_down = bias.clone().map(|b| b.clone() + b.clamp_max(0.0) * gamma);
                let up = z(x_plus.clone(), boosted_up.clone(), bias_up)
                    + z(x_minus.clone(), boosted_down.clone(), None);
                let down = z(x_plus.clone(), boosted_down.clone(), bias_down)
                    + z(x_minus.clone(), boosted_up.clone(), None);
                // Outputs above zero take the boosted positive part, below zero the negative.
                let up = masked(
                    stabilize(up, stabilizer).recip(),
                    y.clone().lower_equal_elem(0.0),
                );
                let down = masked(
                    stabilize(down, stabilizer).recip(),
                    y.clone().greater_equal_elem(0.0),
                );
                vec![
                    Term::new(x_plus.clone(), boosted_up.clone(), up.clone(), 1.0),
                    Term::new(x_minus.clone(), boosted_down.clone(), up, 1.0),
                    Term::new(x_plus, boosted_down, down.clone(), 1.0),
                    Term::new(x_minus, boosted_up, down, 1.0),
                ]
            }
            Self::Flat { stabilizer } => {
                let ones = weight.ones_like();
                let denominator = z(plain.ones_like(), ones.clone(), None);
                let scale = stabilize(denominator, stabilizer).recip();
                vec![Term::new(plain.ones_like(), ones, scale, 1.0)]
            }
            Self::WSquare { stabilizer } => {
                let squared = weight.powi_scalar(2);
                let denominator = z(
                    plain.ones_like(),
                    squared.clone(),
                    bias.map(|b| b.powi_scalar(2)),
                );
                let scale = stabilize(denominator, stabilizer).recip();
                vec![Term::new(plain.ones_like(), squared, scale, 1.0)]
            }
            Self::ZBox {
                low,
                high,
                stabilizer,
            } => {
                let low_image = plain.full_like(low);
                let high_image = plain.full_like(high);
                let denominator = y.clone()
                    - z(low_image.clone(), positive(weight.clone()), positive_bias)
                    - z(high_image.clone(), negative(weight.clone()), negative_bias);
                let scale = stabilize(denominator, stabilizer).recip();
                vec![
                    Term::new(plain.clone(), weight.clone(), scale.clone(), 1.0),
                    Term::new(low_image, positive(weight.clone()), scale.clone(), -1.0),
                    Term::new(high_image, negative(weight), scale, -1.0),
                ]
            }
        };
        let backward = terms
            .into_iter()
            .map(|term| term.carrier(&x, layer))
            .reduce(|a, b| a + b)
            .expect("every rule has a term");
        y + backward
    }
}

/// One term of a rule: the layer with `weight` on `input ⊙ x`, its output scaled by `scale`
/// (the masked inverse denominator) and by `factor`.
struct Term<const D: usize, const W: usize> {
    input: Tensor<D>,
    weight: Tensor<W>,
    scale: Tensor<D>,
    factor: f32,
}

impl<const D: usize, const W: usize> Term<D, W> {
    fn new(input: Tensor<D>, weight: Tensor<W>, scale: Tensor<D>, factor: f32) -> Self {
        Self {
            input,
            weight,
            scale,
            factor,
        }
    }

    /// Zero in the forward; in the backward `factor · input ⊙ Wᵀ(R ⊙ scale)` into `x`.
    fn carrier(self, x: &Tensor<D>, layer: &Affine<'_, D, W>) -> Tensor<D> {
        let through = (layer.apply)(self.input.detach() * x.clone(), self.weight, None)
            * (self.scale.detach() * self.factor);
        through.clone() - through.detach()
    }
}

/// zennit's stabiliser: `z + ε·sign(z)`, with the sign of zero taken as +1.
fn stabilize<const D: usize>(z: Tensor<D>, epsilon: f32) -> Tensor<D> {
    let sign = z.clone().sign().mask_fill(z.clone().equal_elem(0.0), 1.0);
    z + sign * epsilon
}

/// `scale` with zeros where `mask` holds.
fn masked<const D: usize>(scale: Tensor<D>, mask: Tensor<D, Bool>) -> Tensor<D> {
    scale.mask_fill(mask, 0.0)
}

impl LrpRule {
    /// The rule's parameters as bits, for equality and hashing (bitwise, so that the pass
    /// context stays `Eq` and `Hash`).
    fn key(&self) -> (u8, [u32; 3]) {
        let bits = |values: [f32; 3]| values.map(f32::to_bits);
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
            } => (6, bits([low, high, stabilizer])),
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
    /// `high`, in the model's input space), γ = 0.25 for the convolutions, ε for the fully
    /// connected layers.
    pub const fn epsilon_gamma_box(low: f32, high: f32) -> Self {
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

    /// The rule of `layer`.
    pub(crate) fn rule<const D: usize, const W: usize>(&self, layer: &Affine<'_, D, W>) -> LrpRule {
        match (layer.first, self.first, layer.kind) {
            (true, Some(first), _) => first,
            (_, _, AffineKind::Convolution) => self.convolution,
            (_, _, AffineKind::Dense) => self.dense,
        }
    }
}
