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
    /// a torchvision resnet18, resnet34 or resnet50 (give its `--weights`).
    #[arg(long, default_value = "mnist")]
    pub model: NetworkName,
    /// PyTorch state dict (`.pth`, or the same tensors as `.safetensors`); default: the bundled
    /// weights of mnist, fashion-resnet and fashion-canvas.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Classes of a torchvision ResNet's final layer.
    #[arg(long, default_value_t = 1000)]
    pub classes: usize,
    /// The ResNet stage the CAMs are taken at: layer1, layer2, layer3 or layer4.
    #[arg(long, default_value = "layer4")]
    pub layer: String,
}

impl NetworkArgs {
    /// Loads the network on `device`.
    pub fn load(&self, device: &Device) -> Result<(Network, WeightsReport), NetworkError> {
        self.model
            .load(self.weights.as_deref(), self.classes, &self.layer, device)
    }
}
