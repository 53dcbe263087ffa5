//! A CAM over several layers (pytorch-grad-cam's list of `target_layers`).

use serde::{Deserialize, Serialize};

use crate::cam::{Cam, CamWeights, Layer};
use crate::error::Result;
use crate::settings::CamSettings;

/// `cam` at the model's explained layer and at each of `layers` before it, the maps averaged
/// as pytorch-grad-cam averages its `target_layers`: each layer's map min-max normalised and
/// resized to the input, the mean normalised again (with the pytorch-grad-cam preset; other
/// upsampling settings resize each map their way before the mean).
///
/// The layers are named as the model's [`crate::Explainable::features_tapped`] names them (a
/// ResNet explained at `layer4` taps `layer1`…`layer3`; a name it does not tap is an
/// [`crate::ExplainError::UnknownLayer`]). One forward pass taps them all and the backward runs
/// once, segment by segment, so the cost is one forward and one backward whatever the number
/// of layers.
///
/// ```
/// use gradcam_explain::{Attribution, GradCam, MultiLayerCam, Preset};
/// let cam = MultiLayerCam::new(
///     GradCam::new().with_settings(Preset::PytorchGradCam.cam_settings()),
///     ["layer3"],
/// );
/// assert_eq!(cam.label(), "Grad-CAM (+layer3)");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiLayerCam<C> {
    /// The CAM method, applied at every layer.
    pub cam: C,
    /// The layers before the explained one, by name.
    pub layers: Vec<String>,
}

impl<C> MultiLayerCam<C> {
    /// `cam` at the explained layer and at `layers`.
    pub fn new(cam: C, layers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            cam,
            layers: layers.into_iter().map(Into::into).collect(),
        }
    }
}

impl MultiLayerCam<crate::AnyCam> {
    /// The same layers, the CAM with other shared settings.
    pub fn with_settings(self, settings: CamSettings) -> Self {
        Self {
            cam: self.cam.with_settings(settings),
            ..self
        }
    }
}

impl<C: Cam> Cam for MultiLayerCam<C> {
    fn label(&self) -> String {
        if self.layers.is_empty() {
            self.cam.label()
        } else {
            format!("{} (+{})", self.cam.label(), self.layers.join(", +"))
        }
    }

    fn settings(&self) -> &CamSettings {
        self.cam.settings()
    }

    fn needs_gradients(&self) -> bool {
        self.cam.needs_gradients()
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        self.cam.weights(layer)
    }

    fn extra_layers(&self) -> &[String] {
        &self.layers
    }
}
