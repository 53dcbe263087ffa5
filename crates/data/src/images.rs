//! Image files of any size and channel count (RGB kept as RGB), and their normalisation: the
//! input of the zoo's networks.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use crate::DataError;
use crate::files::{image_files, read_input};

/// Images on the host, row-major `[N, C, H, W]`, values in `[0, 1]` (byte / 255), with the
/// files they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    shape: [usize; 4],
    pixels: Vec<f32>,
    paths: Vec<PathBuf>,
}

impl Images {
    /// Reads image files (PNG or JPEG) as `channels` (1: grey by luma, 3: RGB; alpha dropped)
    /// of `size = [height, width]`: an image of another size is an error unless `resize` is set
    /// (bilinear, as torchvision's `Resize`).
    pub fn from_files(
        paths: &[PathBuf],
        channels: usize,
        size: [usize; 2],
        resize: bool,
    ) -> Result<Self, DataError> {
        if paths.is_empty() {
            return Err(DataError::Empty {
                path: PathBuf::from("<no image files>"),
            });
        }
        let [height, width] = size;
        let mut pixels = Vec::with_capacity(paths.len() * channels * height * width);
        for path in paths {
            pixels.extend(read_input(path, channels, size, resize)?.pixels);
        }
        Ok(Self {
            shape: [paths.len(), channels, height, width],
            pixels,
            paths: paths.to_vec(),
        })
    }

    /// Reads every `.png`, `.jpg` and `.jpeg` file of a directory, sorted by name (numbers in
    /// names sort numerically), as [`Images::from_files`].
    pub fn from_dir(
        dir: impl AsRef<Path>,
        channels: usize,
        size: [usize; 2],
        resize: bool,
    ) -> Result<Self, DataError> {
        Self::from_files(&image_files(dir.as_ref())?, channels, size, resize)
    }

    /// Images in memory, row-major `[N, C, H, W]` in `[0, 1]`.
    pub fn new(shape: [usize; 4], pixels: Vec<f32>) -> Result<Self, DataError> {
        let path = PathBuf::from("<memory>");
        if pixels.len() != shape.iter().product::<usize>() || shape[0] == 0 {
            return Err(DataError::Empty { path });
        }
        if let Some(pixel) = pixels.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return Err(DataError::Pixel {
                path,
                index: pixel / (shape[1] * shape[2] * shape[3]).max(1),
                pixel,
                value: f64::from(pixels[pixel]),
            });
        }
        Ok(Self {
            shape,
            paths: vec![PathBuf::from("<memory>"); shape[0]],
            pixels,
        })
    }

    /// `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether there is no image (never, for images read from files).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `index`, `[C, H, W]` row-major, if it exists.
    pub fn image(&self, index: usize) -> Option<&[f32]> {
        let size = self.shape[1] * self.shape[2] * self.shape[3];
        self.pixels.get(index * size..(index + 1) * size)
    }

    /// The file each image came from.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Images `range`, if the range lies within the set (an end beyond it is cut).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Images> {
        let end = range.end.min(self.len());
        if range.start >= end {
            return None;
        }
        let size = self.shape[1] * self.shape[2] * self.shape[3];
        Some(Self {
            shape: [
                end - range.start,
                self.shape[1],
                self.shape[2],
                self.shape[3],
            ],
            pixels: self.pixels[range.start * size..end * size].to_vec(),
            paths: self.paths[range.start..end].to_vec(),
        })
    }

    /// The network's input: `[N, C, H, W]` with `x ← (pixel − mean_c) / std_c`.
    pub fn to_tensor(&self, normalization: Normalization, device: &Device) -> Tensor<4> {
        let [_, c, h, w] = self.shape;
        let (mean, std) = normalization.mean_std(c);
        let plane = (h * w).max(1);
        let mut values = Vec::with_capacity(self.pixels.len());
        for (i, channel) in self.pixels.chunks_exact(plane).enumerate() {
            let (mean, std) = (mean[i % c], std[i % c]);
            values.extend(channel.iter().map(|p| (p - mean) / std));
        }
        Tensor::from_data(TensorData::new(values, self.shape), device)
    }
}

/// The per-channel normalisation a network was trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Normalization {
    /// ImageNet's (torchvision's models): mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
    ImageNet,
    /// MNIST's: mean 0.1307, std 0.3081 (every channel).
    Mnist,
    /// Fashion-MNIST's: mean 0.2860, std 0.3530 (every channel).
    FashionMnist,
    /// None: the pixels in `[0, 1]`.
    None,
}

impl Normalization {
    /// Every normalisation, in documentation order.
    pub const ALL: [Normalization; 4] =
        [Self::ImageNet, Self::Mnist, Self::FashionMnist, Self::None];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageNet => "imagenet",
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
            Self::None => "none",
        }
    }

    /// Mean and standard deviation of each of `channels` channels (grey images under ImageNet's
    /// use its luma-weighted mean of the three).
    pub fn mean_std(self, channels: usize) -> (Vec<f32>, Vec<f32>) {
        let (mean, std): (Vec<f32>, Vec<f32>) = match self {
            Self::ImageNet if channels == 3 => {
                (vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])
            }
            Self::ImageNet => (vec![0.449], vec![0.226]),
            Self::Mnist => (vec![0.1307], vec![0.3081]),
            Self::FashionMnist => (vec![0.2860], vec![0.3530]),
            Self::None => (vec![0.0], vec![1.0]),
        };
        let pick = |v: &[f32], c: usize| v[c.min(v.len() - 1)];
        (
            (0..channels).map(|c| pick(&mean, c)).collect(),
            (0..channels).map(|c| pick(&std, c)).collect(),
        )
    }
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Normalization {
    type Err = UnknownNormalization;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| UnknownNormalization(s.to_owned()))
    }
}

/// A normalisation name [`Normalization::from_str`](std::str::FromStr) does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown normalization `{0}`: expected imagenet, mnist, fashion-mnist or none")]
pub struct UnknownNormalization(pub String);
