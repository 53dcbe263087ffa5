//! Real CNNs for the explanation methods of [`gradcam_explain`]: the ResNet family in
//! torchvision's layout (ResNet-18, -34, -50, and any depth, width, stem or class count of that
//! shape), loaded from a torchvision `state_dict`, BatchNorm folded into the convolutions, every
//! ReLU routed through [`gradcam_explain::ReluMode`] and the forward split at any stage
//! (`layer1`…`layer4`); and a vision transformer ([`VisionTransformer`]) explained at a block's
//! output through pytorch-grad-cam's token reshape.
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
mod resnet;
mod vit;

pub use resnet::{BlockKind, LAYERS, ResNet, ResNetConfig, Stem};
pub use vit::{VisionTransformer, VitConfig};
