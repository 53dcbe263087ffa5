//! Every built-in method as one value, for code that chooses or compares methods at run time
//! (command lines, reports, the metrics' sanity check).

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::cam::{AnyCam, GradCam};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::{AnyPixel, GradientRule, GuidedBackprop};
use crate::product::CamTimes;
use crate::settings::CamSettings;
use crate::target::Targets;

/// A CAM, a pixel method, or a pixel method times a CAM: every method of the crate as one value
/// (the main job's figure is a [`Method::Product`]; serde spells it by the registry's names).
///
/// ```
/// use gradcam_explain::{AnyCam, AnyPixel, Attribution, Method};
/// let methods = [
///     Method::Cam("score-cam".parse().unwrap()),
///     Method::Pixel("integrated-gradients".parse().unwrap()),
///     Method::guided_grad_cam(),
/// ];
/// let labels: Vec<String> = methods.iter().map(Attribution::label).collect();
/// assert_eq!(labels, ["Score-CAM", "Integrated Gradients", "Guided Grad-CAM"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A CAM, upsampled to the input: `[N, 1, H, W]`.
    Cam(AnyCam),
    /// A pixel attribution: `[N, C, H, W]`.
    Pixel(AnyPixel),
    /// A pixel attribution times a CAM: `[N, C, H, W]`.
    Product(CamTimes<AnyCam, AnyPixel>),
}

impl Method {
    /// Every built-in method once: each registered CAM with `settings`, each registered pixel
    /// method with its defaults, and Guided Grad-CAM with `settings` — what a report or a
    /// parity suite runs, so that a method added to the registry is in it.
    pub fn all(settings: CamSettings) -> Vec<Self> {
        let cams = AnyCam::all()
            .into_iter()
            .map(|cam| Self::Cam(cam.with_settings(settings)));
        let pixels = AnyPixel::all().into_iter().map(Self::Pixel);
        cams.chain(pixels)
            .chain([Self::guided_grad_cam().with_cam_settings(settings)])
            .collect()
    }

    /// Guided Grad-CAM with the default (the paper's) CAM settings.
    pub fn guided_grad_cam() -> Self {
        Self::Product(CamTimes::new(
            AnyCam::GradCam(GradCam::new()),
            AnyPixel::GuidedBackprop(GuidedBackprop),
        ))
    }

    /// The same method with its CAM (if any) using `settings`.
    pub fn with_cam_settings(self, settings: CamSettings) -> Self {
        match self {
            Self::Cam(cam) => Self::Cam(cam.with_settings(settings)),
            Self::Product(product) => Self::Product(CamTimes::new(
                product.cam.with_settings(settings),
                product.pixel,
            )),
            pixel @ Self::Pixel(_) => pixel,
        }
    }

    fn inner(&self) -> &dyn Attribution {
        match self {
            Self::Cam(method) => method,
            Self::Pixel(method) => method,
            Self::Product(method) => method,
        }
    }
}

impl Attribution for Method {
    fn label(&self) -> String {
        self.inner().label()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.inner().attribute_input(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        self.inner().gradient_rule()
    }
}
