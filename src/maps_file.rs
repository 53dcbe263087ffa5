//! `maps.json`: the main job's record of every raw map of every image, with what produced it.

use std::path::Path;

use serde::Serialize;

use crate::explain::{
    AnyCam, AnyPixel, CamTimes, ImageAttribution, Map, Prediction, Preset, Score, ScoreGradient,
    Targets,
};
use crate::networks::{LabelledImages, Network};
use crate::output::{OutputError, write_atomic};

/// `maps.json`, one object:
///
/// | key | value |
/// |---|---|
/// | `model`, `layer`, `normalization` | the network's name, the explained layer, the input normalisation |
/// | `preset`, `method` | the preset named, the method's label ("Guided Grad-CAM") |
/// | `cam`, `cam_layers`, `pixel` | the CAM (by its registry name, with its settings), the earlier layers averaged with it, the pixel method |
/// | `score`, `objective`, `score_gradient` | the class score, what was differentiated (the target's label), how its gradient was computed |
/// | `backend`, `weights`, `images_source` | where it ran and what it read |
/// | `images` | one entry per image: `index`, `label` (or `null`), `prediction` (`predicted`, `probabilities`, `target`, `score`), and the maps `cam_layer` (the CAM at the layer's resolution), `cam` (upsampled), `attribution` (the pixel method's), `attribution_cam` (their product), each `{"shape": [C, H, W], "values": [...]}` row-major |
#[derive(Debug, Serialize)]
pub struct MapsFile<'a> {
    model: &'static str,
    layer: &'static str,
    normalization: String,
    preset: Preset,
    method: String,
    cam: &'a AnyCam,
    cam_layers: &'a [String],
    pixel: &'a AnyPixel,
    score: Score,
    objective: String,
    score_gradient: ScoreGradient,
    backend: String,
    weights: &'a Path,
    images_source: &'a Path,
    images: Vec<MapsEntry<'a>>,
}

/// One image of [`MapsFile`].
#[derive(Debug, Serialize)]
struct MapsEntry<'a> {
    index: usize,
    label: Option<u8>,
    prediction: &'a Prediction,
    cam_layer: &'a Map,
    cam: &'a Map,
    attribution: &'a Map,
    attribution_cam: &'a Map,
}

/// What [`MapsFile::new`] records besides the maps.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    /// The network explained.
    pub network: &'a Network,
    /// The images explained.
    pub images: &'a LabelledImages,
    /// Their normalisation.
    pub normalization: crate::data::Normalization,
    /// The preset the settings started from.
    pub preset: Preset,
    /// The class score.
    pub score: Score,
    /// The targets explained.
    pub targets: &'a Targets,
    /// The backend it ran on.
    pub backend: crate::Backend,
}

impl<'a> MapsFile<'a> {
    /// The record of `results` (one per image, in order; each a product's, with its layer CAM
    /// and both factors) of `method`; `None` if a result lacks one of its maps.
    pub fn new(
        method: &'a CamTimes<AnyCam, AnyPixel>,
        results: &'a [ImageAttribution],
        provenance: Provenance<'a>,
    ) -> Option<Self> {
        let labels = provenance.images.labels.as_deref();
        let images = results
            .iter()
            .enumerate()
            .map(|(index, image)| {
                Some(MapsEntry {
                    index,
                    label: labels.and_then(|l| l.get(index).copied()),
                    prediction: &image.prediction,
                    cam_layer: image.layer_cam.as_ref()?,
                    cam: image.cam.as_ref()?,
                    attribution: image.pixel.as_ref()?,
                    attribution_cam: &image.map,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let (cam, cam_layers) = match &method.cam {
            AnyCam::MultiLayer(multi) => (&multi.cam, multi.layers.as_slice()),
            cam => (cam, &[][..]),
        };
        Some(Self {
            model: provenance.network.name().name(),
            layer: provenance.network.layer(),
            normalization: provenance.normalization.to_string(),
            preset: provenance.preset,
            method: crate::explain::Attribution::label(method),
            cam,
            cam_layers,
            pixel: &method.pixel,
            score: provenance.score,
            objective: provenance.targets.target().label(),
            score_gradient: provenance.targets.gradient(),
            backend: provenance.backend.to_string(),
            weights: provenance.network.weights(),
            images_source: &provenance.images.source,
            images,
        })
    }

    /// Writes the file to `path`, whole or not at all.
    pub fn write(&self, path: &Path) -> Result<(), OutputError> {
        let json = serde_json::to_vec(self).map_err(|source| OutputError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        write_atomic(path, &json)
    }
}
