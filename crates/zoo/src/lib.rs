//! Real CNNs for the explanation methods of [`gradcam_explain`]: the ResNet family in
//! torchvision's layout (ResNet-18, -34, -50, and any depth, width, stem or class count of that
//! shape), loaded from a torchvision `state_dict`, BatchNorm folded into the convolutions, every
//! ReLU routed through [`gradcam_explain::ReluMode`] and the forward split at any stage
//! (`layer1`…`layer4`); the VGG family ([`Vgg`], `vgg11` … `vgg19_bn`), explained at any of
//! torchvision's `features.<i>` modules; the inverted residual networks ([`MobileNetV2`],
//! [`MobileNetV3`] small and large, [`EfficientNet`] B0 … B7), explained at any of their
//! `features.<i>` blocks; [`DenseNet`] (`densenet121` … `densenet201`), explained at any of its
//! dense blocks, transitions or `norm5`; [`ConvNext`] (`convnext_tiny` … `convnext_large`),
//! explained at any of its `features.<i>`; vision transformers ([`VisionTransformer`]: torchvision's
//! `vit_b_16` … `vit_h_14`, and the repository's torch twin) explained at a block's output or
//! first LayerNorm through pytorch-grad-cam's token reshape; torchvision's Swin Transformer
//! ([`Swin`], `swin_t`, `swin_s`, `swin_b`) at any stage or block's first LayerNorm, its
//! channels-last maps seen channels first; and the segmentation networks FCN and
//! DeepLabV3 on a dilated ResNet-50 ([`Segmentation`]) and LR-ASPP on a dilated
//! MobileNetV3-Large ([`LrAspp`]), explained at a backbone stage for a class inside a region of
//! their output map.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use gradcam_explain::{Attribution, GuidedGradCam, Preset, Targets};
//! use gradcam_zoo::{ResNet, ResNetConfig};
//!
//! let device = Device::default();
//! let net = ResNet::init(ResNetConfig::fashion(), &device).explained_at("layer3").unwrap();
//! let input = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
//! let result = GuidedGradCam::guided(Preset::Captum.cam_settings())
//!     .attribute(&net, input, &Targets::predicted())?;
//! assert_eq!(result.layer_cam().unwrap().dims(), [2, 1, 7, 7]);
//! # Ok::<(), gradcam_explain::ExplainError>(())
//! ```

#![warn(missing_docs)]

mod checkpoint;
mod convnext;
mod densenet;
mod efficientnet;
mod inverted;
mod lraspp;
mod mobilenet;
mod resnet;
mod segmentation;
mod staged;
mod swin;
mod vgg;
mod vit;

pub use convnext::{ConvNext, ConvNextConfig};
pub use densenet::{DenseNet, DenseNetConfig};
pub use efficientnet::EfficientNetConfig;
pub use inverted::{EfficientNet, InvertedFamily, InvertedResidualNet, MobileNetV2, MobileNetV3};
pub use lraspp::{LrAspp, LrAsppConfig};
pub use mobilenet::{MobileNetV2Config, MobileNetV3Config, MobileNetV3Size};
pub use resnet::{BlockKind, LAYERS, ResNet, ResNetConfig, Stem};
pub use segmentation::{SEGMENTATION_LAYERS, Segmentation, SegmentationConfig, SegmentationHead};
pub use swin::{Swin, SwinConfig};
pub use vgg::{Vgg, VggConfig};
pub use vit::{VisionTransformer, VitConfig, VitLayout};

/// torchvision's names of a `Sequential`'s numbered children: `prefix`, each index, and
/// `suffix` if given (a child's own module).
macro_rules! numbered_names {
    ($prefix:literal; $($i:literal)*) => { [$(concat!($prefix, $i)),*] };
    ($prefix:literal; $($i:literal)*; $suffix:literal) => { [$(concat!($prefix, $i, $suffix)),*] };
}
pub(crate) use numbered_names;
/// `"features.0"` … `"features.52"` (torchvision's `features.<i>`; vgg19_bn has 53 modules
/// there): the names a layer is chosen by, as `'static` strings.
pub(crate) const FEATURE_NAMES: [&str; 53] = numbered_names!("features.";
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33
    34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52
);
