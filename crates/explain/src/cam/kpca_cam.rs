//! KPCA-CAM (Karmani et al., 2024; pytorch-grad-cam's `KPCA_CAM`): Eigen-CAM with kernel PCA.

use burn::config::Config;
use burn::tensor::Tensor;

use crate::cam::eigen_cam::{centred_cells, top_eigenvector};
use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// The kernel of KPCA-CAM's kernel PCA, between two cells' centred activation vectors `x`, `y`
/// (scikit-learn's `pairwise_kernels`, which pytorch-grad-cam's `KPCA_CAM` calls through
/// `KernelPCA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KpcaKernel {
    /// `x·y`: the map is then Eigen-CAM's up to scale and sign.
    Linear,
    /// `(γ·x·y + c₀)^d`.
    Poly,
    /// `exp(−γ·|x − y|²)`, the distance summed from the differences themselves: float32's
    /// `|x|² + |y|² − 2x·y` cancels between near cells (scikit-learn upcasts a float32 input's
    /// distances to float64 for the same reason).
    Rbf,
    /// `tanh(γ·x·y + c₀)` (the peer's default).
    Sigmoid,
    /// `x·y / (|x|·|y|)` (0 where either is 0).
    Cosine,
}

impl KpcaKernel {
    /// Every kernel.
    pub const ALL: [KpcaKernel; 5] = [
        Self::Linear,
        Self::Poly,
        Self::Rbf,
        Self::Sigmoid,
        Self::Cosine,
    ];

    /// scikit-learn's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Poly => "poly",
            Self::Rbf => "rbf",
            Self::Sigmoid => "sigmoid",
            Self::Cosine => "cosine",
        }
    }

    /// Whether a kernel matrix of it can have negative eigenvalues.
    fn indefinite(self) -> bool {
        matches!(self, Self::Poly | Self::Sigmoid)
    }
}

/// KPCA-CAM (pytorch-grad-cam's `KPCA_CAM`): gradient-free, like Eigen-CAM, but the principal
/// component is found in a kernel's feature space. Each cell's activation vector (centred over
/// the cells) is one sample; the map is the samples' projection on the first component of the
/// centred kernel matrix, `u₁·√λ₁` (scikit-learn's `KernelPCA(n_components=1).fit_transform`),
/// its sign pinned as scikit-learn pins it: the entry of largest magnitude positive. The
/// combination's ReLU (if any) applies to the projection.
///
/// The component is found on the device as Eigen-CAM's is; an indefinite kernel's matrix
/// (sigmoid, polynomial) is first shifted by a bound on its eigenvalues' magnitude, so that
/// the largest eigenvalue, not the largest in magnitude, is the one found (the peer's
/// `eigh`/ARPACK `"LA"`).
///
/// ```
/// use gradcam_explain::{AnyCam, Attribution, KpcaCam, KpcaKernel};
/// let cam = KpcaCam::new();
/// assert_eq!((cam.kernel, cam.gamma, cam.coef0, cam.degree), (KpcaKernel::Sigmoid, None, 1.0, 3));
/// assert_eq!(cam.label(), "KPCA-CAM (sigmoid kernel)");
/// assert_eq!(AnyCam::from_name("kpca-cam").unwrap(), AnyCam::KpcaCam(KpcaCam::new()));
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct KpcaCam {
    /// Combination and upsampling.
    #[config(default = "CamSettings::new()")]
    pub settings: CamSettings,
    /// The kernel.
    #[config(default = "KpcaKernel::Sigmoid")]
    pub kernel: KpcaKernel,
    /// The kernel's `γ` (`None`: one over the number of channels, scikit-learn's default).
    #[config(default = "None")]
    pub gamma: Option<f32>,
    /// The sigmoid and polynomial kernels' `c₀`.
    #[config(default = 1.0)]
    pub coef0: f32,
    /// The polynomial kernel's degree.
    #[config(default = 3)]
    pub degree: u32,
}

impl Default for KpcaCam {
    fn default() -> Self {
        Self::new()
    }
}

impl Cam for KpcaCam {
    fn label(&self) -> String {
        format!("KPCA-CAM ({} kernel)", self.kernel.name())
    }

    fn settings(&self) -> &CamSettings {
        &self.settings
    }

    fn needs_gradients(&self) -> bool {
        false
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        Ok(CamWeights::Map(self.projection(layer.activations().clone())))
    }
}

impl KpcaCam {
    /// The sign-pinned projection `[N, 1, h, w]` of activations `[N, K, h, w]`.
    fn projection(&self, activations: Tensor<4>) -> Tensor<4> {
        let [n, _, h, w] = activations.dims();
        let cells = h * w;
        // Samples as rows: [N, cells, K].
        let x = centred_cells(activations).swap_dims(1, 2);
        let kernel = self.kernel_matrix(x);
        // Centred in feature space (scikit-learn's `KernelCenterer`).
        let centred = kernel.clone() - kernel.clone().mean_dim(1) - kernel.clone().mean_dim(2)
            + kernel.mean_dims(&[1, 2]);
        let eye = Tensor::<2>::eye(cells, &centred.device()).unsqueeze::<3>();
        let shifted = if self.kernel.indefinite() {
            // Gershgorin: no eigenvalue lies below minus the largest absolute row sum.
            let bound = centred.clone().abs().sum_dim(2).max_dim(1);
            centred.clone() + eye * bound
        } else {
            centred.clone()
        };
        let u = top_eigenvector(shifted);
        let eigenvalue = u
            .clone()
            .swap_dims(1, 2)
            .matmul(centred.matmul(u.clone()))
            .clamp_min(0.0);
        // The entry of largest magnitude made positive (scikit-learn's `svd_flip`).
        let largest = u.clone().abs().argmax(1);
        let sign = u.clone().gather(1, largest).sign();
        let sign = sign.clone() + sign.equal_elem(0.0).float();
        (u * sign * eigenvalue.sqrt()).reshape([n, 1, h, w])
    }

    /// The kernel matrix `[N, cells, cells]` of samples `x` `[N, cells, K]`.
    fn kernel_matrix(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, _, k] = x.dims();
        let gamma = self.gamma.unwrap_or(1.0 / k as f32);
        let gram = x.clone().matmul(x.clone().swap_dims(1, 2));
        match self.kernel {
            KpcaKernel::Linear => gram,
            KpcaKernel::Poly => (gram * gamma + self.coef0).powi_scalar(self.degree as i32),
            KpcaKernel::Sigmoid => (gram * gamma + self.coef0).tanh(),
            KpcaKernel::Rbf => (squared_distances(x) * -gamma).exp(),
            KpcaKernel::Cosine => {
                let norms = x.square().sum_dim(2).sqrt();
                let scale = norms.clone().matmul(norms.swap_dims(1, 2));
                let zero = scale.clone().equal_elem(0.0);
                (gram / scale.mask_fill(zero.clone(), 1.0)).mask_fill(zero, 0.0)
            }
        }
    }
}

/// Elements of the largest difference tensor [`squared_distances`] builds at once.
const DIFFERENCES_AT_ONCE: usize = 1 << 24;

/// `|x_i − x_j|²` `[N, cells, cells]` of samples `x` `[N, cells, K]`, summed over channel chunks
/// whose `[N, cells, cells, chunk]` differences stay within [`DIFFERENCES_AT_ONCE`].
fn squared_distances(x: Tensor<3>) -> Tensor<3> {
    let [n, cells, k] = x.dims();
    let chunk = (DIFFERENCES_AT_ONCE / (n * cells * cells).max(1)).clamp(1, k);
    let mut total = Tensor::<3>::zeros([n, cells, cells], &x.device());
    for start in (0..k).step_by(chunk) {
        let part = x.clone().narrow(2, start, chunk.min(k - start));
        let differences = part.clone().unsqueeze_dim::<4>(2) - part.unsqueeze_dim::<4>(1);
        total = total + differences.square().sum_dim(3).squeeze_dim::<3>(3);
    }
    total
}

named! {
    KpcaKernel => "KPCA-CAM kernel",
}
