//! The networks the programs explain, chosen by name in one place: the seed's MNIST CNN, the
//! bundled Fashion-MNIST ResNets (28×28 items, and items on a 64×64 canvas), and torchvision's
//! ResNet-18, -34 and -50 — each with its weights, its images and its input normalisation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;

use crate::data::{DataError, Images, LoadError, Normalization, WeightsReport};
use crate::explain::{Explainable, UnknownName};
use crate::mnist::{Digits, DigitsError, MnistNet, load_weights};
use crate::zoo::{ResNet, ResNetConfig};

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
}

/// Fashion-MNIST's classes, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
];

impl NetworkName {
    /// Every network, in documentation order.
    pub const ALL: [NetworkName; 6] = [
        Self::Mnist,
        Self::FashionResnet,
        Self::FashionCanvas,
        Self::Resnet18,
        Self::Resnet34,
        Self::Resnet50,
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
        }
    }

    /// The weights bundled with the repository (relative to its root), if any.
    pub fn bundled_weights(self) -> Option<&'static str> {
        match self {
            Self::Mnist => Some("data/mnist_model.pth"),
            Self::FashionResnet => Some("data/fashion_resnet.pth"),
            Self::FashionCanvas => Some("data/fashion_canvas.pth"),
            Self::Resnet18 | Self::Resnet34 | Self::Resnet50 => None,
        }
    }

    /// The images bundled with the repository for this network (relative to its root).
    pub fn bundled_images(self) -> &'static str {
        match self {
            Self::Mnist => "data/test_images.json",
            Self::FashionResnet => "data/fashion",
            Self::FashionCanvas => "data/fashion_canvas/images",
            Self::Resnet18 | Self::Resnet34 | Self::Resnet50 => "data/images",
        }
    }

    /// The normalisation the network was trained with.
    pub fn normalization(self) -> Normalization {
        match self {
            Self::Mnist => Normalization::Mnist,
            Self::FashionResnet | Self::FashionCanvas => Normalization::FashionMnist,
            Self::Resnet18 | Self::Resnet34 | Self::Resnet50 => Normalization::ImageNet,
        }
    }

    /// The names of the classes, where the network has them (Fashion-MNIST's).
    pub fn class_names(self) -> Option<&'static [&'static str]> {
        matches!(self, Self::FashionResnet | Self::FashionCanvas).then_some(&FASHION_CLASSES[..])
    }

    /// Loads the network from `weights` (its bundled weights when `None`), a ResNet with
    /// `classes` outputs explained at `layer` (the MNIST net ignores both).
    pub fn load(
        self,
        weights: Option<&Path>,
        classes: usize,
        layer: &str,
        device: &Device,
    ) -> Result<(Network, WeightsReport), NetworkError> {
        let path = match (weights, self.bundled_weights()) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => return Err(NetworkError::NoWeights(self)),
        };
        let config = match self {
            Self::Mnist => {
                let (net, report) = load_weights(&path, device)?;
                return Ok((
                    Network::new(self, NetworkKind::Mnist(Box::new(net)), path),
                    report,
                ));
            }
            Self::FashionResnet => ResNetConfig::fashion(),
            Self::FashionCanvas => ResNetConfig::fashion().with_input_size([64, 64]),
            Self::Resnet18 => ResNetConfig::resnet18().with_classes(classes),
            Self::Resnet34 => ResNetConfig::resnet34().with_classes(classes),
            Self::Resnet50 => ResNetConfig::resnet50().with_classes(classes),
        };
        let (net, report) = ResNet::load(config, &path, device)?;
        let net = net.explained_at(layer)?;
        Ok((
            Network::new(self, NetworkKind::ResNet(Box::new(net)), path),
            report,
        ))
    }
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
        }
    }

    /// The name of the explained layer.
    pub fn layer(&self) -> &'static str {
        match &self.net {
            NetworkKind::Mnist(_) => "conv2",
            NetworkKind::ResNet(net) => net.explained_layer(),
        }
    }

    /// The images at `source` (the bundled ones when `None`) in the network's input shape, with
    /// their labels when the format carries them: for the MNIST net an image-JSON file or a
    /// directory of grey PNG/JPEG files; for a ResNet a directory of PNG/JPEG files (RGB kept
    /// as RGB), resized to its input when `resize` is set.
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
