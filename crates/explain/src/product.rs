//! A pixel attribution weighted by an upsampled CAM: Guided Grad-CAM, generalised.

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::cam::{Cam, GradCam, layer_cam, smoothed_label};
use crate::checks::Checks;
use crate::error::Result;
use crate::error::Stage;
use crate::forward::{Scoring, checked_features, differentiable, gradient_of, head};
use crate::model::Explainable;
use crate::pixel::GuidedBackprop;
use crate::resize::upsample;
use crate::settings::CamSettings;
use crate::target::Targets;

/// `pixel ⊙ upsampled cam` for each image (the CAM broadcast over the input's channels), both
/// for the same class: Guided Grad-CAM ([`GuidedGradCam`]) when the pixel method is guided
/// backprop and the CAM is Grad-CAM (Captum's `GuidedGradCam`), any CAM with any pixel method
/// otherwise.
///
/// When the pixel method is one input-gradient pass ([`Attribution::gradient_rule`]: guided
/// backprop, saliency, input × gradient) the CAM is computed from the same forward pass — the
/// guided ReLU's forward is an ordinary ReLU, so the activations are the CAM's — and only the
/// two backward passes differ. Otherwise the CAM runs first and the pixel method explains the
/// classes it resolved.
///
/// ```
/// use gradcam_explain::{CamTimes, GradCamPlusPlus, GuidedGradCam, Preset, Saliency};
/// let guided_grad_cam = GuidedGradCam::guided(Preset::Captum.cam_settings());
/// let saliency_plus_plus = CamTimes::new(GradCamPlusPlus::new(), Saliency::new());
/// # let _ = (guided_grad_cam, saliency_plus_plus);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CamTimes<C, P> {
    /// The CAM.
    pub cam: C,
    /// The pixel method.
    pub pixel: P,
}

/// Guided Grad-CAM (Selvaraju et al.; Captum's `GuidedGradCam`): guided backprop ⊙ Grad-CAM.
pub type GuidedGradCam = CamTimes<GradCam, GuidedBackprop>;

impl<C, P> CamTimes<C, P> {
    /// `pixel ⊙ cam`.
    pub fn new(cam: C, pixel: P) -> Self {
        Self { cam, pixel }
    }
}

impl GuidedGradCam {
    /// Guided Grad-CAM with the given CAM settings.
    pub fn guided(settings: CamSettings) -> Self {
        Self::new(GradCam { settings }, GuidedBackprop)
    }
}

impl<C: Cam, P: Attribution> Attribution for CamTimes<C, P> {
    fn label(&self) -> String {
        let cam = smoothed_label(&self.cam);
        if self.pixel.label() == GuidedBackprop.label() {
            format!("Guided {cam}")
        } else {
            format!("{} ⊙ {cam}", self.pixel.label())
        }
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let x = input.tensor();
        let [_, _, height, width] = x.dims();
        // An augmented CAM runs on its own copies of the images, and a CAM over several layers
        // taps its own forward: no pass to share.
        let settings = self.cam.settings();
        let shared = self
            .pixel
            .gradient_rule()
            .filter(|_| !settings.aug_smooth && self.cam.extra_layers().is_empty());
        let upsampling = &settings.upsampling;
        let (predictions, layer, cam, pixel) = match shared {
            Some(rule) => {
                let leaf = differentiable(x, rule.relu())?;
                let features = checked_features(model, leaf.clone(), rule.relu())?;
                let (predictions, layer) =
                    layer_cam(&self.cam, model, x, features.clone(), targets)?;
                // The pixel pass explains exactly the classes the CAM resolved, from the
                // same feature maps and logits (checked once, by the CAM's pass).
                let scoring = Scoring::Resolved(&predictions);
                let (_, total) = head(model, features, rule.relu(), scoring)?;
                let gradient = gradient_of(&leaf, total);
                let checks = Checks::finite(Stage::Gradient, &gradient, 1);
                let cam = upsample(layer.clone(), [height, width], upsampling);
                (
                    predictions.with_checks(checks),
                    layer,
                    cam,
                    rule.finish(x, gradient),
                )
            }
            None => {
                let cam = self.cam.attribute_input(model, input, targets)?;
                let pixel =
                    self.pixel
                        .attribute_input(model, input, &cam.predictions().targets())?;
                let layer = cam
                    .layer_cam()
                    .cloned()
                    .unwrap_or_else(|| cam.map().clone());
                // The input's checks come with `input`; the passes' with their predictions.
                let checks = pixel.predictions().checks().clone();
                let predictions = cam.predictions().clone().with_checks(checks);
                (predictions, layer, cam.into_map(), pixel.into_map())
            }
        };
        Ok(
            Attributions::new(pixel.clone() * cam.clone(), predictions, input)
                .with_layer_cam(layer)
                .with_factors(cam, pixel),
        )
    }
}
