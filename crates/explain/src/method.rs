//! Every method behind one name and one call, for code that evaluates or compares methods.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::CamMethod;
use crate::error::Result;
use crate::explainer::{Explainer, Targets};
use crate::maps::PixelExplanation;
use crate::model::Explainable;
use crate::smooth::PixelMethod;

/// An explanation method whose input-resolution map [`Explainer::attribution`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A CAM method (the rest of the explainer's settings apply), upsampled: `[1, H, W]`.
    Cam(CamMethod),
    /// A pixel attribution, `[C, H, W]`.
    Pixel(PixelMethod),
    /// A pixel attribution times the explainer's CAM, `[C, H, W]`: Guided Grad-CAM for
    /// [`PixelMethod::GuidedBackprop`].
    PixelCam(PixelMethod),
}

impl Method {
    /// Guided Grad-CAM, the seed report's method.
    pub const GUIDED_GRAD_CAM: Method = Method::PixelCam(PixelMethod::GuidedBackprop);

    /// A short human-readable name ("Grad-CAM++", "Guided Grad-CAM", "Integrated Gradients").
    ///
    /// ```
    /// use gradcam_explain::{CamMethod, Method, PixelMethod};
    /// assert_eq!(Method::Cam(CamMethod::GradCamPlusPlus).label(), "Grad-CAM++");
    /// assert_eq!(Method::GUIDED_GRAD_CAM.label(), "Guided Grad-CAM");
    /// assert_eq!(Method::Pixel(PixelMethod::Saliency { absolute: true }).label(), "Saliency");
    /// ```
    pub fn label(&self) -> String {
        match self {
            Self::Cam(method) => cam_label(*method).to_owned(),
            Self::Pixel(method) => pixel_label(method).to_owned(),
            Self::PixelCam(PixelMethod::GuidedBackprop) => "Guided Grad-CAM".to_owned(),
            Self::PixelCam(method) => format!("{} ⊙ CAM", pixel_label(method)),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

fn cam_label(method: CamMethod) -> &'static str {
    match method {
        CamMethod::GradCam => "Grad-CAM",
        CamMethod::GradCamPlusPlus => "Grad-CAM++",
        CamMethod::XGradCam => "XGrad-CAM",
        CamMethod::HiResCam => "HiResCAM",
        CamMethod::LayerCam => "LayerCAM",
        CamMethod::ScoreCam => "Score-CAM",
        CamMethod::EigenCam => "Eigen-CAM",
    }
}

fn pixel_label(method: &PixelMethod) -> &'static str {
    match method {
        PixelMethod::GuidedBackprop => "Guided Backprop",
        PixelMethod::Saliency { absolute: true } => "Saliency",
        PixelMethod::Saliency { absolute: false } => "Signed saliency",
        PixelMethod::InputXGradient => "Input × Gradient",
        PixelMethod::IntegratedGradients(_) => "Integrated Gradients",
    }
}

impl<M: Explainable + ?Sized> Explainer<'_, M> {
    /// The input-resolution map of any [`Method`] for a batch: the one call that metrics and
    /// comparisons use for every method.
    ///
    /// For [`Method::Cam`] the map is the upsampled CAM, computed with this explainer's
    /// settings and the given CAM method.
    pub fn attribution(
        &self,
        input: Tensor<4>,
        targets: &Targets,
        method: &Method,
    ) -> Result<Vec<PixelExplanation>> {
        match method {
            Method::Cam(cam_method) => {
                let mut config = *self.config();
                config.method = *cam_method;
                let cams = Explainer::new(self.model(), config).grad_cam(input, targets)?;
                Ok(cams
                    .into_iter()
                    .map(|cam| PixelExplanation {
                        prediction: cam.prediction,
                        attribution: cam.cam,
                    })
                    .collect())
            }
            Method::Pixel(pixel) => self.attribute(input, targets, pixel),
            Method::PixelCam(pixel) => Ok(self
                .explain_pixels(input, targets, pixel, None)?
                .into_iter()
                .map(|image| PixelExplanation {
                    prediction: image.prediction,
                    attribution: image.attribution_cam,
                })
                .collect()),
        }
    }
}
