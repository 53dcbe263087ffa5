//! The Burn backends a build can run on, chosen by name at run time.

use burn::tensor::Device;
use thiserror::Error;

/// A Burn backend this library can run on. [`Backend::ALL`] lists the ones compiled in; every
/// variant exists in every build, so a name the build lacks gets [`BackendError::NotCompiled`]
/// rather than "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn-flex: gemm + SIMD + rayon; Burn 0.22's recommended CPU backend (feature `flex`).
    Flex,
    /// burn-ndarray: deprecated in Burn 0.22 in favour of flex; kept for comparison (feature
    /// `ndarray`).
    NdArray,
    /// CubeCL's wgpu runtime, graphics API chosen at run time (feature `wgpu`).
    Wgpu,
    /// wgpu pinned to Vulkan, SPIR-V shaders (feature `vulkan`).
    Vulkan,
    /// wgpu pinned to Metal, MSL shaders (feature `metal`).
    Metal,
    /// wgpu pinned to the browser's WebGPU (feature `webgpu`).
    WebGpu,
    /// CubeCL's CUDA runtime, first CUDA device (feature `cuda`).
    Cuda,
    /// CubeCL's HIP runtime, first ROCm device (feature `rocm`).
    Rocm,
}

/// Why a backend cannot give a device.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The name is no backend at all.
    #[error("unknown backend `{name}`: expected one of {}", Backend::EVERY.map(Backend::name).join(", "))]
    Unknown {
        /// The name given.
        name: String,
    },
    /// The backend exists but this build was made without its Cargo feature.
    #[error(
        "backend `{backend}` is not compiled into this build: rebuild with `--features {backend}` \
         (this build has: {})",
        Backend::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
    )]
    NotCompiled {
        /// The backend asked for.
        backend: Backend,
    },
    /// The backend is compiled in but found no device (no adapter, no driver).
    #[error("backend `{backend}` found no device (tried {tried}): {reason}")]
    NoDevice {
        /// The backend asked for.
        backend: Backend,
        /// What was tried, e.g. "the default wgpu adapter".
        tried: &'static str,
        /// What the runtime said.
        reason: String,
    },
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const EVERY: [Backend; 8] = [
        Backend::Flex,
        Backend::NdArray,
        Backend::Wgpu,
        Backend::Vulkan,
        Backend::Metal,
        Backend::WebGpu,
        Backend::Cuda,
        Backend::Rocm,
    ];

    /// Every backend compiled into this build, the default first.
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "flex")]
        Backend::Flex,
        #[cfg(feature = "ndarray")]
        Backend::NdArray,
        #[cfg(feature = "wgpu")]
        Backend::Wgpu,
        #[cfg(feature = "vulkan")]
        Backend::Vulkan,
        #[cfg(feature = "metal")]
        Backend::Metal,
        #[cfg(feature = "webgpu")]
        Backend::WebGpu,
        #[cfg(feature = "cuda")]
        Backend::Cuda,
        #[cfg(feature = "rocm")]
        Backend::Rocm,
    ];

    /// The name used on command lines, equal to the backend's Cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Vulkan => "vulkan",
            Backend::Metal => "metal",
            Backend::WebGpu => "webgpu",
            Backend::Cuda => "cuda",
            Backend::Rocm => "rocm",
        }
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        Self::ALL.contains(&self)
    }

    /// The adapter a GPU backend runs on, as its runtime names it, with the vendor and device
    /// ids CubeCL keys its caches by (`llvmpipe (LLVM 15.0.6, 256 bits) (spirv_65541_0)` for
    /// lavapipe). `None` for a CPU backend or one without a device here. Opens the device.
    ///
    /// ```
    /// use burn_gradcam::Backend;
    /// assert_eq!(Backend::Flex.adapter(), None);
    /// ```
    pub fn adapter(self) -> Option<String> {
        if !self.is_gpu() {
            return None;
        }
        #[cfg(feature = "cube")]
        {
            let identity = self.device().ok()?.identity()?;
            Some(format!("{} ({})", identity.name, identity.fingerprint))
        }
        #[cfg(not(feature = "cube"))]
        None
    }

    /// Whether the backend runs on a GPU (or a software rasteriser standing in for one).
    pub fn is_gpu(self) -> bool {
        !matches!(self, Backend::Flex | Backend::NdArray)
    }

    /// A plain (non-autodiff) device of this backend: the explainer makes only the input and
    /// the feature maps differentiable, so no weight gradient is ever computed.
    ///
    /// The CPU backends always have one. A GPU backend opens its device on the first call (the
    /// answer is kept: a CubeCL runtime initialises once per process); wgpu takes the adapter
    /// `CUBECL_WGPU_DEFAULT_DEVICE` names (`Cpu` for a software Vulkan driver such as lavapipe),
    /// else the most powerful one.
    ///
    /// ```
    /// use burn_gradcam::{Backend, BackendError};
    /// assert!(Backend::Flex.device().is_ok());
    /// if !Backend::Rocm.is_compiled() {
    ///     assert!(matches!(Backend::Rocm.device(), Err(BackendError::NotCompiled { .. })));
    /// }
    /// ```
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled { backend: self });
        }
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "cube")]
            gpu => gpu::device(gpu),
            #[allow(unreachable_patterns)]
            other => Err(BackendError::NotCompiled { backend: other }),
        }
    }
}

#[cfg(feature = "cube")]
mod gpu {
    use std::sync::OnceLock;

    use burn::tensor::Device;

    use super::{Backend, BackendError};

    /// One answer per backend per process: CubeCL refuses to initialise a runtime twice.
    static OPENED: [OnceLock<Result<Device, BackendError>>; Backend::EVERY.len()] =
        [const { OnceLock::new() }; Backend::EVERY.len()];

    pub(super) fn device(backend: Backend) -> Result<Device, BackendError> {
        let slot = Backend::EVERY
            .iter()
            .position(|b| *b == backend)
            .expect("every backend is in EVERY");
        OPENED[slot].get_or_init(|| open(backend)).clone()
    }

    fn open(backend: Backend) -> Result<Device, BackendError> {
        match backend {
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => wgpu(backend, burn::tensor::wgpu::WgpuBackend::Auto),
            #[cfg(feature = "vulkan")]
            Backend::Vulkan => wgpu(backend, burn::tensor::wgpu::WgpuBackend::Vulkan),
            #[cfg(feature = "metal")]
            Backend::Metal => wgpu(backend, burn::tensor::wgpu::WgpuBackend::Metal),
            #[cfg(feature = "webgpu")]
            Backend::WebGpu => wgpu(backend, burn::tensor::wgpu::WgpuBackend::WebGpu),
            #[cfg(feature = "cuda")]
            Backend::Cuda => first(backend, burn::tensor::DeviceType::Cuda, "the CUDA devices"),
            #[cfg(feature = "rocm")]
            Backend::Rocm => first(backend, burn::tensor::DeviceType::Rocm, "the ROCm devices"),
            other => Err(BackendError::NotCompiled { backend: other }),
        }
    }

    #[cfg(feature = "wgpu")]
    fn wgpu(
        backend: Backend,
        api: burn::tensor::wgpu::WgpuBackend,
    ) -> Result<Device, BackendError> {
        Device::wgpu_options()
            .graphics_api(api)
            .init()
            .map_err(|error| BackendError::NoDevice {
                backend,
                tried: "the default wgpu adapter (set CUBECL_WGPU_DEFAULT_DEVICE to choose one)",
                reason: error.to_string(),
            })
    }

    /// The first device the runtime enumerates. A runtime whose driver library is missing may
    /// panic while loading it; that becomes the error's reason instead of ending the program.
    #[cfg(any(feature = "cuda", feature = "rocm"))]
    fn first(
        backend: Backend,
        kind: burn::tensor::DeviceType,
        tried: &'static str,
    ) -> Result<Device, BackendError> {
        let listed = std::panic::catch_unwind(|| Device::enumerate(kind));
        let reason = match listed {
            Ok(devices) => match devices.into_iter().next() {
                Some(device) => return Ok(device),
                None => "none found".to_owned(),
            },
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the runtime failed to start".to_owned()),
        };
        Err(BackendError::NoDevice {
            backend,
            tried,
            reason,
        })
    }
}

impl Default for Backend {
    /// flex when compiled in (6–16× faster than ndarray on the guided backward, measured by
    /// `cargo xtask bench`), else the first backend compiled in.
    fn default() -> Self {
        Self::ALL[0]
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = BackendError;

    /// A backend compiled into this build, by name.
    ///
    /// ```
    /// use burn_gradcam::{Backend, BackendError};
    /// assert_eq!("flex".parse::<Backend>(), Ok(Backend::Flex));
    /// assert!(matches!("tpu".parse::<Backend>(), Err(BackendError::Unknown { .. })));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let backend = Self::EVERY
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| BackendError::Unknown { name: s.to_owned() })?;
        if backend.is_compiled() {
            Ok(backend)
        } else {
            Err(BackendError::NotCompiled { backend })
        }
    }
}
