//! Eigen-CAM (Muhammad and Yeasin, 2020).

use burn::config::Config;
use burn::tensor::Tensor;

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// Squarings of the Gram matrix: its top eigenvector then dominates as `(λ₂/λ₁)^(2^24)`,
/// converged for any eigenvalue gap float32 resolves (a ratio of 1 − 1e-6 leaves 5e-8).
const SQUARINGS: usize = 24;
/// Squarings between two normalisations. With the trace at 1 the largest eigenvalue lies in
/// `[1/m, 1]`, so three squarings neither overflow nor lose it (`(1/m)^8 ≥ 3e-27` for
/// `m ≤ 2048`); the smaller ones may vanish, as they should.
const SQUARINGS_PER_NORMALISATION: usize = 3;
/// Power iterations with the Gram matrix itself after the squarings, to polish the vector.
const REFINEMENTS: usize = 2;
/// Keeps all-zero activations at a zero map instead of NaN.
const TINY: f32 = f32::MIN_POSITIVE;

/// Eigen-CAM (pytorch-grad-cam's `EigenCAM`): no gradients, no weights. The map is the
/// projection of the centred activations (cells × channels) on their first principal
/// component. An SVD's sign is arbitrary; it is pinned as pytorch-grad-cam's sign correction
/// does: negated when its most negative value outweighs its most positive one. The
/// combination's ReLU (if any) applies to the projection.
///
/// The component is found on the device, without an SVD: the smaller Gram matrix of the
/// activations is squared repeatedly (normalised by its trace), which leaves the projector on
/// its top eigenvector, and two power iterations polish it.
#[derive(Config, Debug, PartialEq)]
pub struct EigenCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
}

impl Default for EigenCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for EigenCam {
    fn label(&self) -> String {
        "Eigen-CAM".to_owned()
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn needs_gradients(&self) -> bool {
        false
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::Map(projection(layer.activations().clone())))
    }
}

/// The sign-pinned projection `[N, 1, h, w]` of activations `[N, K, h, w]` (pytorch-grad-cam's
/// `get_2d_projection`).
pub(crate) fn projection(activations: Tensor<4>) -> Tensor<4> {
    let [n, k, h, w] = activations.dims();
    let cells = h * w;
    let x = centred_cells(activations);
    // With M = xᵀ (cells × channels), the component is M's top right-singular vector v, the
    // top eigenvector of MᵀM = x·xᵀ (K × K) or, through u of M·Mᵀ (cells × cells), Mᵀu/|Mᵀu|.
    let v = if k <= cells {
        top_eigenvector(x.clone().matmul(x.clone().swap_dims(1, 2)))
    } else {
        let u = top_eigenvector(x.clone().swap_dims(1, 2).matmul(x.clone()));
        unit(x.clone().matmul(u))
    };
    let p = x.swap_dims(1, 2).matmul(v);
    let flip = p
        .clone()
        .min_dim(1)
        .abs()
        .greater(p.clone().max_dim(1).abs())
        .float();
    (p * (flip * -2.0 + 1.0)).reshape([n, 1, h, w])
}

/// Activations `[N, K, h, w]` as `[N, K, cells]`, NaN counted as 0 and each channel centred over
/// the cells, as pytorch-grad-cam's projections take them.
pub(crate) fn centred_cells(activations: Tensor<4>) -> Tensor<3> {
    let [n, k, h, w] = activations.dims();
    let x = activations.reshape([n, k, h * w]);
    let x = x.clone().mask_fill(x.is_nan(), 0.0);
    x.clone() - x.mean_dim(2)
}

/// The unit eigenvector `[N, m, 1]` of the largest eigenvalue of each symmetric positive
/// semi-definite `[m, m]` matrix of `gram` `[N, m, m]`.
pub(crate) fn top_eigenvector(gram: Tensor<3>) -> Tensor<3> {
    let [_, m, _] = gram.dims();
    let eye = Tensor::<2>::eye(m, &gram.device()).unsqueeze::<3>();
    let trace = |t: &Tensor<3>| (t.clone() * eye.clone()).sum_dims(&[1, 2]);
    let mut power = gram.clone() / (trace(&gram) + TINY);
    for _ in 0..SQUARINGS / SQUARINGS_PER_NORMALISATION {
        for _ in 0..SQUARINGS_PER_NORMALISATION {
            power = power.clone().matmul(power);
        }
        power = power.clone() / (trace(&power) + TINY);
    }
    // `power` ≈ u·uᵀ: its column with the largest diagonal entry is u, scaled by u_j.
    let column = (power.clone() * eye).sum_dim(2).argmax(1).repeat_dim(1, m);
    let mut u = unit(power.gather(2, column));
    for _ in 0..REFINEMENTS {
        u = unit(gram.clone().matmul(u));
    }
    u
}

/// Each column vector `[N, m, 1]` scaled to unit length (a zero vector stays zero).
fn unit(v: Tensor<3>) -> Tensor<3> {
    let norm = v.clone().square().sum_dim(1).sqrt();
    v / (norm + TINY)
}
