//! The network flags both examples take, and loading the network they name.

use std::path::PathBuf;

use burn::tensor::Device;
use burn_gradcam::data::WeightsReport;
use burn_gradcam::networks::{Network, NetworkError, NetworkName};

/// Which network to explain and where its weights are.
#[derive(clap::Args)]
pub struct NetworkArgs {
    /// The network: mnist (the seed's CNN), fashion-resnet (the bundled Fashion-MNIST ResNet),
    /// fashion-canvas (the same trained on items placed on a 64×64 canvas, with known boxes), or
    /// a torchvision resnet18, resnet34, resnet50, vgg11, vgg13, vgg16, vgg19 (and their `_bn`
    /// variants), mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0 …
    /// efficientnet_b7, densenet121, densenet161, densenet169, densenet201, convnext_tiny,
    /// convnext_small, convnext_base or convnext_large, the vision transformers vit_b_16,
    /// vit_b_32, vit_l_16, vit_l_32, vit_h_14, swin_t, swin_s and swin_b, or the segmentation
    /// networks fcn_resnet50, deeplabv3_resnet50 and lraspp_mobilenet_v3_large (give its
    /// `--weights`).
    #[arg(long, default_value = "mnist")]
    pub model: NetworkName,
    /// PyTorch state dict (`.pth`, or the same tensors as `.safetensors`); default: the bundled
    /// weights of mnist, fashion-resnet and fashion-canvas.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Classes of a torchvision network's final layer (default: its released weights', 1000 for a
    /// classifier, 21 for a segmentation network).
    #[arg(long)]
    pub classes: Option<usize>,
    /// The layer the CAMs are taken at: a ResNet's stage (layer1…layer4; default layer4); a
    /// VGG's, MobileNet's, EfficientNet's or ConvNeXt's torchvision module (features.<i>;
    /// default features[-1]); a DenseNet's (features.denseblock<b>, features.transition<b>, …;
    /// default features.norm5); a ViT's block's first LayerNorm or output
    /// (encoder.layers.encoder_layer_<i>.ln_1, encoder.layers.encoder_layer_<i>; default the
    /// last block's ln_1); a Swin's features.<i> or a block's features.<i>.<j>.norm1 (default
    /// the last block's norm1); a segmentation network's backbone stage (backbone.layer1…
    /// backbone.layer4; default backbone.layer4; LR-ASPP's backbone.0…backbone.16, default
    /// backbone.16).
    #[arg(long)]
    pub layer: Option<String>,
}

impl NetworkArgs {
    /// Loads the network on `device`.
    pub fn load(&self, device: &Device) -> Result<(Network, WeightsReport), NetworkError> {
        self.model.load(
            self.weights.as_deref(),
            self.classes.unwrap_or(self.model.default_classes()),
            self.layer.as_deref(),
            device,
        )
    }
}
