//! What every backend extension of this crate shares: the backends it is declared for, Burn's
//! own operations (the trait's default bodies) on every backend without a kernel of its own,
//! the recording of a differentiable operation, and which kernels a device runs.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};
use burn::tensor::Device;

/// Declares a backend extension for Autodiff, Flex, NdArray and every CubeCL runtime, and
/// implements it for NdArray and CubeCL with its default bodies. Flex (its kernels) and
/// Autodiff (its backward) are implemented beside the declaration.
macro_rules! extension {
    ($(#[$meta:meta])* pub trait $name:ident: Backend { $($body:tt)* }) => {
        $(#[$meta])*
        #[burn::backend::backend_extension(
            Autodiff,
            Flex: cfg(feature = "flex"),
            NdArray: cfg(feature = "ndarray"),
            Cube: cfg(feature = "cube")
        )]
        pub trait $name: Backend { $($body)* }

        #[cfg(feature = "ndarray")]
        impl $name for burn::backend::NdArray {}

        /// Every CubeCL runtime (wgpu, Vulkan, Metal, CUDA, ROCm; with or without Burn's
        /// fusion): Burn's kernels.
        #[cfg(feature = "cube")]
        impl $name for burn::backend::Cube {}
    };
}

pub(crate) use extension;

/// The kernels a device's backend runs for the operations of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernels {
    /// This crate's own CPU kernels (Burn's Flex backend).
    Flex,
    /// Burn's own operations (NdArray, and every CubeCL runtime: wgpu, Vulkan, CUDA, …).
    Burn,
    /// None: a backend this build does not list (an extension called there would panic).
    Unsupported,
}

impl Kernels {
    /// The kernels `device` runs.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use gradcam_ops::Kernels;
    /// assert_eq!(Kernels::of(&Device::flex()), Kernels::Flex);
    /// ```
    pub fn of(device: &Device) -> Self {
        use burn::backend::DispatchDevice;
        #[allow(unreachable_patterns)]
        match device.clone().inner().as_dispatch() {
            #[cfg(feature = "flex")]
            DispatchDevice::Flex(_) => Self::Flex,
            #[cfg(feature = "ndarray")]
            DispatchDevice::NdArray(_) => Self::Burn,
            #[cfg(feature = "cube")]
            DispatchDevice::Cube(_) => Self::Burn,
            _ => Self::Unsupported,
        }
    }

    /// Whether the extensions run on this device at all.
    pub fn is_supported(self) -> bool {
        self != Self::Unsupported
    }
}

/// Records `forward` of `x` as one differentiable operation whose backward is `backward`, with
/// the state `state` computes from the (inner) input when the graph tracks it.
pub(crate) fn record<B, C, T>(
    backward: T,
    x: FloatTensor<Autodiff<B, C>>,
    state: impl FnOnce(&FloatTensor<B>) -> T::State,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    T: Backward<B, 1>,
{
    let node = x.node();
    let x = x.into_primitive();
    match backward.prepare::<C>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let state = state(&x);
            prep.finish(state, forward(x))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x)),
    }
}
