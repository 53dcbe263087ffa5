//! The networks the programs explain, chosen by name in one place: the seed's MNIST CNN, the
//! bundled Fashion-MNIST ResNets (28×28 items, and items on a 64×64 canvas), torchvision's
//! ResNet-18, -34 and -50, its VGGs, MobileNetV2, MobileNetV3, EfficientNet-B0 … B7, DenseNet-121,
//! -161, -169, -201, ConvNeXt tiny … large, the vision transformers ViT-B/16 … ViT-H/14 and
//! Swin-T, -S, -B, and the
//! segmentation networks FCN and DeepLabV3 on ResNet-50 and LR-ASPP on MobileNetV3-Large — each
//! with its weights, its images and its input normalisation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;

use crate::data::{DataError, Images, LoadError, Normalization, WeightsReport};
use crate::explain::{Explainable, UnknownName};
use crate::mnist::{Digits, DigitsError, MnistNet, load_weights};
use crate::zoo::{
    ConvNext, ConvNextConfig, DenseNet, DenseNetConfig, EfficientNet, EfficientNetConfig, LrAspp,
    LrAsppConfig, MobileNetV2, MobileNetV2Config, MobileNetV3, MobileNetV3Config, MobileNetV3Size,
    ResNet, ResNetConfig, Segmentation, SegmentationConfig, Swin, SwinConfig, Vgg, VggConfig,
    VisionTransformer, VitConfig,
};

/// A network the programs can explain, by the name the command line gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkName {
    /// The seed report's MNIST CNN (`data/mnist_model.pth`).
    Mnist,
    /// The bundled Fashion-MNIST ResNet (`data/fashion_resnet.pth`, [`ResNetConfig::fashion`]).
    FashionResnet,
    /// The Fashion-MNIST ResNet trained on items placed at random on a 64×64 canvas, whose boxes
    /// are known (`data/fashion_canvas.pth`; the localisation set of `data/fashion_canvas/`).
    FashionCanvas,
    /// torchvision's `resnet18()`.
    Resnet18,
    /// torchvision's `resnet34()`.
    Resnet34,
    /// torchvision's `resnet50()`.
    Resnet50,
    /// torchvision's `vgg11()`.
    Vgg11,
    /// torchvision's `vgg11_bn()`.
    Vgg11Bn,
    /// torchvision's `vgg13()`.
    Vgg13,
    /// torchvision's `vgg13_bn()`.
    Vgg13Bn,
    /// torchvision's `vgg16()`, the Grad-CAM paper's network.
    Vgg16,
    /// torchvision's `vgg16_bn()`.
    Vgg16Bn,
    /// torchvision's `vgg19()`.
    Vgg19,
    /// torchvision's `vgg19_bn()`.
    Vgg19Bn,
    /// torchvision's `mobilenet_v2()`.
    MobilenetV2,
    /// torchvision's `mobilenet_v3_small()`.
    MobilenetV3Small,
    /// torchvision's `mobilenet_v3_large()`.
    MobilenetV3Large,
    /// torchvision's `efficientnet_b0()`.
    EfficientnetB0,
    /// torchvision's `efficientnet_b1()`.
    EfficientnetB1,
    /// torchvision's `efficientnet_b2()`.
    EfficientnetB2,
    /// torchvision's `efficientnet_b3()`.
    EfficientnetB3,
    /// torchvision's `efficientnet_b4()`.
    EfficientnetB4,
    /// torchvision's `efficientnet_b5()`.
    EfficientnetB5,
    /// torchvision's `efficientnet_b6()`.
    EfficientnetB6,
    /// torchvision's `efficientnet_b7()`.
    EfficientnetB7,
    /// torchvision's `densenet121()`.
    Densenet121,
    /// torchvision's `densenet161()`.
    Densenet161,
    /// torchvision's `densenet169()`.
    Densenet169,
    /// torchvision's `densenet201()`.
    Densenet201,
    /// torchvision's `convnext_tiny()`.
    ConvnextTiny,
    /// torchvision's `convnext_small()`.
    ConvnextSmall,
    /// torchvision's `convnext_base()`.
    ConvnextBase,
    /// torchvision's `convnext_large()`.
    ConvnextLarge,
    /// torchvision's `vit_b_16()`.
    VitB16,
    /// torchvision's `vit_b_32()`.
    VitB32,
    /// torchvision's `vit_l_16()`.
    VitL16,
    /// torchvision's `vit_l_32()`.
    VitL32,
    /// torchvision's `vit_h_14()`.
    VitH14,
    /// torchvision's `swin_t()`.
    SwinT,
    /// torchvision's `swin_s()`.
    SwinS,
    /// torchvision's `swin_b()`.
    SwinB,
    /// torchvision's `fcn_resnet50()` (semantic segmentation).
    FcnResnet50,
    /// torchvision's `deeplabv3_resnet50()` (semantic segmentation).
    Deeplabv3Resnet50,
    /// torchvision's `lraspp_mobilenet_v3_large()` (semantic segmentation).
    LrasppMobilenetV3Large,
}

/// Pascal VOC's classes as torchvision's segmentation networks number them (0 is the
/// background).
pub const VOC_CLASSES: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// Fashion-MNIST's classes, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
];

impl NetworkName {
    /// Every network, in documentation order.
    pub const ALL: [NetworkName; 44] = [
        Self::Mnist,
        Self::FashionResnet,
        Self::FashionCanvas,
        Self::Resnet18,
        Self::Resnet34,
        Self::Resnet50,
        Self::Vgg11,
        Self::Vgg11Bn,
        Self::Vgg13,
        Self::Vgg13Bn,
        Self::Vgg16,
        Self::Vgg16Bn,
        Self::Vgg19,
        Self::Vgg19Bn,
        Self::MobilenetV2,
        Self::MobilenetV3Small,
        Self::MobilenetV3Large,
        Self::EfficientnetB0,
        Self::EfficientnetB1,
        Self::EfficientnetB2,
        Self::EfficientnetB3,
        Self::EfficientnetB4,
        Self::EfficientnetB5,
        Self::EfficientnetB6,
        Self::EfficientnetB7,
        Self::Densenet121,
        Self::Densenet161,
        Self::Densenet169,
        Self::Densenet201,
        Self::ConvnextTiny,
        Self::ConvnextSmall,
        Self::ConvnextBase,
        Self::ConvnextLarge,
        Self::VitB16,
        Self::VitB32,
        Self::VitL16,
        Self::VitL32,
        Self::VitH14,
        Self::SwinT,
        Self::SwinS,
        Self::SwinB,
        Self::FcnResnet50,
        Self::Deeplabv3Resnet50,
        Self::LrasppMobilenetV3Large,
    ];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionResnet => "fashion-resnet",
            Self::FashionCanvas => "fashion-canvas",
            Self::Resnet18 => "resnet18",
            Self::Resnet34 => "resnet34",
            Self::Resnet50 => "resnet50",
            Self::Vgg11 => "vgg11",
            Self::Vgg11Bn => "vgg11_bn",
            Self::Vgg13 => "vgg13",
            Self::Vgg13Bn => "vgg13_bn",
            Self::Vgg16 => "vgg16",
            Self::Vgg16Bn => "vgg16_bn",
            Self::Vgg19 => "vgg19",
            Self::Vgg19Bn => "vgg19_bn",
            Self::MobilenetV2 => "mobilenet_v2",
            Self::MobilenetV3Small => "mobilenet_v3_small",
            Self::MobilenetV3Large => "mobilenet_v3_large",
            Self::EfficientnetB0 => "efficientnet_b0",
            Self::EfficientnetB1 => "efficientnet_b1",
            Self::EfficientnetB2 => "efficientnet_b2",
            Self::EfficientnetB3 => "efficientnet_b3",
            Self::EfficientnetB4 => "efficientnet_b4",
            Self::EfficientnetB5 => "efficientnet_b5",
            Self::EfficientnetB6 => "efficientnet_b6",
            Self::EfficientnetB7 => "efficientnet_b7",
            Self::Densenet121 => "densenet121",
            Self::Densenet161 => "densenet161",
            Self::Densenet169 => "densenet169",
            Self::Densenet201 => "densenet201",
            Self::ConvnextTiny => "convnext_tiny",
            Self::ConvnextSmall => "convnext_small",
            Self::ConvnextBase => "convnext_base",
            Self::ConvnextLarge => "convnext_large",
            Self::VitB16 => "vit_b_16",
            Self::VitB32 => "vit_b_32",
            Self::VitL16 => "vit_l_16",
            Self::VitL32 => "vit_l_32",
            Self::VitH14 => "vit_h_14",
            Self::SwinT => "swin_t",
            Self::SwinS => "swin_s",
            Self::SwinB => "swin_b",
            Self::FcnResnet50 => "fcn_resnet50",
            Self::Deeplabv3Resnet50 => "deeplabv3_resnet50",
            Self::LrasppMobilenetV3Large => "lraspp_mobilenet_v3_large",
        }
    }

    /// The network's architecture and shape (a torchvision network's at `classes` outputs).
    fn architecture(self, classes: usize) -> Architecture {
        let resnet = |config: ResNetConfig| Architecture::ResNet(config.with_classes(classes));
        let vgg = |config: VggConfig| Architecture::Vgg(config.with_classes(classes));
        let densenet =
            |config: DenseNetConfig| Architecture::DenseNet(config.with_classes(classes));
        let convnext =
            |config: ConvNextConfig| Architecture::ConvNext(config.with_classes(classes));
        let vit = |config: VitConfig| Architecture::Vit(config.with_classes(classes));
        let swin = |config: SwinConfig| Architecture::Swin(config.with_classes(classes));
        match self {
            Self::Mnist => Architecture::Mnist,
            Self::FashionResnet => Architecture::ResNet(ResNetConfig::fashion()),
            Self::FashionCanvas => {
                Architecture::ResNet(ResNetConfig::fashion().with_input_size([64, 64]))
            }
            Self::Resnet18 => resnet(ResNetConfig::resnet18()),
            Self::Resnet34 => resnet(ResNetConfig::resnet34()),
            Self::Resnet50 => resnet(ResNetConfig::resnet50()),
            Self::Vgg11 => vgg(VggConfig::vgg11()),
            Self::Vgg11Bn => vgg(VggConfig::vgg11().with_batch_norm()),
            Self::Vgg13 => vgg(VggConfig::vgg13()),
            Self::Vgg13Bn => vgg(VggConfig::vgg13().with_batch_norm()),
            Self::Vgg16 => vgg(VggConfig::vgg16()),
            Self::Vgg16Bn => vgg(VggConfig::vgg16_bn()),
            Self::Vgg19 => vgg(VggConfig::vgg19()),
            Self::Vgg19Bn => vgg(VggConfig::vgg19().with_batch_norm()),
            Self::MobilenetV2 => {
                Architecture::MobileNetV2(MobileNetV2Config::mobilenet_v2().with_classes(classes))
            }
            Self::MobilenetV3Small => Architecture::MobileNetV3(
                MobileNetV3Config::mobilenet_v3_small().with_classes(classes),
            ),
            Self::MobilenetV3Large => Architecture::MobileNetV3(
                MobileNetV3Config::mobilenet_v3_large().with_classes(classes),
            ),
            Self::EfficientnetB0
            | Self::EfficientnetB1
            | Self::EfficientnetB2
            | Self::EfficientnetB3
            | Self::EfficientnetB4
            | Self::EfficientnetB5
            | Self::EfficientnetB6
            | Self::EfficientnetB7 => {
                let variant = self.name().trim_start_matches("efficientnet_b");
                let config = variant
                    .parse()
                    .ok()
                    .and_then(EfficientNetConfig::variant)
                    .unwrap_or_else(EfficientNetConfig::efficientnet_b0);
                Architecture::EfficientNet(config.with_classes(classes))
            }
            Self::Densenet121 => densenet(DenseNetConfig::densenet121()),
            Self::Densenet161 => densenet(DenseNetConfig::densenet161()),
            Self::Densenet169 => densenet(DenseNetConfig::densenet169()),
            Self::Densenet201 => densenet(DenseNetConfig::densenet201()),
            Self::ConvnextTiny => convnext(ConvNextConfig::convnext_tiny()),
            Self::ConvnextSmall => convnext(ConvNextConfig::convnext_small()),
            Self::ConvnextBase => convnext(ConvNextConfig::convnext_base()),
            Self::ConvnextLarge => convnext(ConvNextConfig::convnext_large()),
            Self::VitB16 => vit(VitConfig::vit_b_16()),
            Self::VitB32 => vit(VitConfig::vit_b_32()),
            Self::VitL16 => vit(VitConfig::vit_l_16()),
            Self::VitL32 => vit(VitConfig::vit_l_32()),
            Self::VitH14 => vit(VitConfig::vit_h_14()),
            Self::SwinT => swin(SwinConfig::swin_t()),
            Self::SwinS => swin(SwinConfig::swin_s()),
            Self::SwinB => swin(SwinConfig::swin_b()),
            Self::FcnResnet50 => {
                Architecture::Segmentation(SegmentationConfig::fcn_resnet50().with_classes(classes))
            }
            Self::Deeplabv3Resnet50 => Architecture::Segmentation(
                SegmentationConfig::deeplabv3_resnet50().with_classes(classes),
            ),
            Self::LrasppMobilenetV3Large => Architecture::LrAspp(
                LrAsppConfig::lraspp_mobilenet_v3_large().with_classes(classes),
            ),
        }
    }

    /// The number of classes of the network's released torchvision weights: 1000 (ImageNet)
    /// for a classifier, 21 (Pascal VOC's 20 and the background) for a segmentation network;
    /// the bundled networks' own.
    pub fn default_classes(self) -> usize {
        match self {
            Self::Mnist | Self::FashionResnet | Self::FashionCanvas => 10,
            Self::FcnResnet50 | Self::Deeplabv3Resnet50 | Self::LrasppMobilenetV3Large => 21,
            _ => 1000,
        }
    }

    /// Whether the network labels every pixel (its output is a map of class scores).
    pub fn is_segmentation(self) -> bool {
        matches!(
            self,
            Self::FcnResnet50 | Self::Deeplabv3Resnet50 | Self::LrasppMobilenetV3Large
        )
    }

    /// The layer the CAMs are taken at unless one is chosen: the MNIST net's `conv2`, a
    /// ResNet's `layer4`, a VGG's `features[-1]` (`features.30` for vgg16; pytorch-grad-cam's
    /// recommendations), the last `features.<i>` of the inverted residual networks and of
    /// ConvNeXt (its last stage), a DenseNet's `features.norm5`, a ViT's last block's `ln_1`
    /// and a Swin's last block's `norm1` (pytorch-grad-cam's transformer layers), a segmentation network's `backbone.layer4` (LR-ASPP's
    /// `backbone.16`).
    pub fn default_layer(self) -> &'static str {
        match self.architecture(1) {
            Architecture::Mnist => "conv2",
            Architecture::ResNet(_) => "layer4",
            Architecture::Vgg(config) => config.last_layer(),
            Architecture::MobileNetV2(_) => "features.18",
            Architecture::MobileNetV3(config) => match config.size {
                MobileNetV3Size::Small => "features.12",
                MobileNetV3Size::Large => "features.16",
            },
            Architecture::EfficientNet(_) => "features.8",
            Architecture::DenseNet(_) => "features.norm5",
            Architecture::ConvNext(_) => "features.7",
            Architecture::Vit(config) => VisionTransformer::default_layer(&config),
            Architecture::Swin(config) => Swin::default_layer(&config),
            Architecture::Segmentation(_) => "backbone.layer4",
            Architecture::LrAspp(_) => "backbone.16",
        }
    }

    /// The weights bundled with the repository (relative to its root), if any.
    pub fn bundled_weights(self) -> Option<&'static str> {
        match self {
            Self::Mnist => Some("data/mnist_model.pth"),
            Self::FashionResnet => Some("data/fashion_resnet.pth"),
            Self::FashionCanvas => Some("data/fashion_canvas.pth"),
            _ => None,
        }
    }

    /// The images bundled with the repository for this network (relative to its root).
    pub fn bundled_images(self) -> &'static str {
        match self {
            Self::Mnist => "data/test_images.json",
            Self::FashionResnet => "data/fashion",
            Self::FashionCanvas => "data/fashion_canvas/images",
            _ => "data/images",
        }
    }

    /// The normalisation the network was trained with.
    pub fn normalization(self) -> Normalization {
        match self {
            Self::Mnist => Normalization::Mnist,
            Self::FashionResnet | Self::FashionCanvas => Normalization::FashionMnist,
            _ => Normalization::ImageNet,
        }
    }

    /// The names of the classes, where the network has them (Fashion-MNIST's; Pascal VOC's
    /// for a segmentation network).
    pub fn class_names(self) -> Option<&'static [&'static str]> {
        match self {
            Self::FashionResnet | Self::FashionCanvas => Some(&FASHION_CLASSES[..]),
            Self::FcnResnet50 | Self::Deeplabv3Resnet50 | Self::LrasppMobilenetV3Large => {
                Some(&VOC_CLASSES[..])
            }
            _ => None,
        }
    }

    /// Loads the network from `weights` (its bundled weights when `None`), a torchvision network
    /// with `classes` outputs explained at `layer` (its [`NetworkName::default_layer`] when
    /// `None`; the MNIST net ignores both).
    pub fn load(
        self,
        weights: Option<&Path>,
        classes: usize,
        layer: Option<&str>,
        device: &Device,
    ) -> Result<(Network, WeightsReport), NetworkError> {
        let layer = layer.unwrap_or(self.default_layer());
        let path = match (weights, self.bundled_weights()) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => return Err(NetworkError::NoWeights(self)),
        };
        let net = match self.architecture(classes) {
            Architecture::Mnist => {
                let (net, report) = load_weights(&path, device)?;
                (NetworkKind::Mnist(Box::new(net)), report)
            }
            Architecture::ResNet(config) => {
                let (net, report) = ResNet::load(config, &path, device)?;
                (
                    NetworkKind::ResNet(Box::new(net.explained_at(layer)?)),
                    report,
                )
            }
            Architecture::Vgg(config) => {
                let (net, report) = Vgg::load(config, &path, device)?;
                (NetworkKind::Vgg(Box::new(net.explained_at(layer)?)), report)
            }
            Architecture::MobileNetV2(config) => {
                let (net, report) = MobileNetV2::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::MobileNetV2(Box::new(net)), report)
            }
            Architecture::MobileNetV3(config) => {
                let (net, report) = MobileNetV3::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::MobileNetV3(Box::new(net)), report)
            }
            Architecture::EfficientNet(config) => {
                let (net, report) = EfficientNet::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::EfficientNet(Box::new(net)), report)
            }
            Architecture::DenseNet(config) => {
                let (net, report) = DenseNet::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::DenseNet(Box::new(net)), report)
            }
            Architecture::ConvNext(config) => {
                let (net, report) = ConvNext::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::ConvNext(Box::new(net)), report)
            }
            Architecture::Vit(config) => {
                let (net, report) = VisionTransformer::load(config, &path, device)?;
                let net = net.explained_at_layer(layer)?;
                (NetworkKind::Vit(Box::new(net)), report)
            }
            Architecture::Swin(config) => {
                let (net, report) = Swin::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::Swin(Box::new(net)), report)
            }
            Architecture::Segmentation(config) => {
                let (net, report) = Segmentation::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::Segmentation(Box::new(net)), report)
            }
            Architecture::LrAspp(config) => {
                let (net, report) = LrAspp::load(config, &path, device)?;
                let net = net.explained_at(layer)?;
                (NetworkKind::LrAspp(Box::new(net)), report)
            }
        };
        let (net, report) = net;
        Ok((Network::new(self, net, path), report))
    }
}

/// What a [`NetworkName`] is built as.
enum Architecture {
    Mnist,
    ResNet(ResNetConfig),
    Vgg(VggConfig),
    MobileNetV2(MobileNetV2Config),
    MobileNetV3(MobileNetV3Config),
    EfficientNet(EfficientNetConfig),
    DenseNet(DenseNetConfig),
    ConvNext(ConvNextConfig),
    Vit(VitConfig),
    Swin(SwinConfig),
    Segmentation(SegmentationConfig),
    LrAspp(LrAsppConfig),
}

impl fmt::Display for NetworkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NetworkName {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnknownName::find(s, &Self::ALL, |n| n.name(), "network")
    }
}

/// Why a network could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A network without bundled weights was asked for without a weights file.
    #[error("{0} has no bundled weights: give the torchvision checkpoint to load (`--weights`)")]
    NoWeights(NetworkName),
    /// The weights file could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The layer to explain is not one of the network's.
    #[error(transparent)]
    Layer(#[from] UnknownName),
}

/// A loaded network: what it is, where its weights came from, and the network itself.
#[derive(Debug)]
pub struct Network {
    name: NetworkName,
    weights: PathBuf,
    net: NetworkKind,
}

#[derive(Debug)]
enum NetworkKind {
    Mnist(Box<MnistNet>),
    ResNet(Box<ResNet>),
    Vgg(Box<Vgg>),
    MobileNetV2(Box<MobileNetV2>),
    MobileNetV3(Box<MobileNetV3>),
    EfficientNet(Box<EfficientNet>),
    DenseNet(Box<DenseNet>),
    ConvNext(Box<ConvNext>),
    Vit(Box<VisionTransformer>),
    Swin(Box<Swin>),
    Segmentation(Box<Segmentation>),
    LrAspp(Box<LrAspp>),
}

impl Network {
    fn new(name: NetworkName, net: NetworkKind, weights: PathBuf) -> Self {
        Self { name, weights, net }
    }

    /// Which network this is.
    pub fn name(&self) -> NetworkName {
        self.name
    }

    /// The weights file it was loaded from.
    pub fn weights(&self) -> &Path {
        &self.weights
    }

    /// The network, to explain.
    pub fn explainable(&self) -> &dyn Explainable {
        match &self.net {
            NetworkKind::Mnist(net) => net.as_ref(),
            NetworkKind::ResNet(net) => net.as_ref(),
            NetworkKind::Vgg(net) => net.as_ref(),
            NetworkKind::MobileNetV2(net) => net.as_ref(),
            NetworkKind::MobileNetV3(net) => net.as_ref(),
            NetworkKind::EfficientNet(net) => net.as_ref(),
            NetworkKind::DenseNet(net) => net.as_ref(),
            NetworkKind::ConvNext(net) => net.as_ref(),
            NetworkKind::Vit(net) => net.as_ref(),
            NetworkKind::Swin(net) => net.as_ref(),
            NetworkKind::Segmentation(net) => net.as_ref(),
            NetworkKind::LrAspp(net) => net.as_ref(),
        }
    }

    /// The name of the explained layer.
    pub fn layer(&self) -> &'static str {
        match &self.net {
            NetworkKind::Mnist(_) => "conv2",
            NetworkKind::ResNet(net) => net.explained_layer(),
            NetworkKind::Vgg(net) => net.explained_layer(),
            NetworkKind::MobileNetV2(net) => net.explained_layer(),
            NetworkKind::MobileNetV3(net) => net.explained_layer(),
            NetworkKind::EfficientNet(net) => net.explained_layer(),
            NetworkKind::DenseNet(net) => net.explained_layer(),
            NetworkKind::ConvNext(net) => net.explained_layer(),
            NetworkKind::Vit(net) => net.explained_layer(),
            NetworkKind::Swin(net) => net.explained_layer(),
            NetworkKind::Segmentation(net) => net.explained_layer(),
            NetworkKind::LrAspp(net) => net.explained_layer(),
        }
    }

    /// The images at `source` (the bundled ones when `None`) in the network's input shape, with
    /// their labels when the format carries them: for the MNIST net an image-JSON file or a
    /// directory of grey PNG/JPEG files; for a torchvision network a directory of PNG/JPEG files (RGB
    /// kept as RGB), resized to its input when `resize` is set.
    pub fn read_images(
        &self,
        source: Option<&Path>,
        resize: bool,
    ) -> Result<LabelledImages, ImagesError> {
        let source = source.map_or_else(
            || PathBuf::from(self.name.bundled_images()),
            Path::to_path_buf,
        );
        let [channels, height, width] = self.explainable().input_shape();
        let (images, labels) = if let NetworkKind::Mnist(_) = self.net {
            let digits = if source.is_dir() {
                Digits::from_image_dir(&source, resize)?
            } else {
                Digits::from_json_file(&source)?
            };
            let shape = [digits.len(), channels, height, width];
            let labels = digits.labels().map(<[u8]>::to_vec);
            (Images::new(shape, digits.pixels().to_vec())?, labels)
        } else {
            (
                Images::from_dir(&source, channels, [height, width], resize)?,
                None,
            )
        };
        Ok(LabelledImages {
            images,
            labels,
            source,
        })
    }
}

/// Why the images could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// Digits (image JSON, grey image files) for the MNIST net.
    #[error(transparent)]
    Digits(#[from] DigitsError),
    /// Image files for a ResNet.
    #[error(transparent)]
    Files(#[from] DataError),
}

/// Images to explain, with their labels when known and where they came from.
#[derive(Clone, Debug)]
pub struct LabelledImages {
    /// The images, `[N, C, H, W]` in `[0, 1]`.
    pub images: Images,
    /// One label per image, when the file carries them.
    pub labels: Option<Vec<u8>>,
    /// The file or directory they were read from.
    pub source: PathBuf,
}
