//! Deconvolution (Zeiler and Fergus, 2014).

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::GradientRule;
use crate::target::Targets;

/// Deconvolution (Captum's `Deconvolution`): the gradient of each image's score w.r.t. its
/// input with every ReLU's backward replaced by `relu(grad)`, whatever the sign of the ReLU's
/// input. Guided backpropagation keeps the forward mask as well; deconvolution keeps only the
/// sign rule, so its maps depend on the image through the max-pooling switches and the
/// convolutions alone.
///
/// ```
/// use gradcam_explain::{AnyPixel, Attribution, Deconvolution};
/// assert_eq!(Deconvolution.label(), "Deconvolution");
/// assert_eq!(AnyPixel::from_name("deconvolution").unwrap(), AnyPixel::Deconvolution(Deconvolution));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deconvolution;

impl Attribution for Deconvolution {
    fn label(&self) -> String {
        "Deconvolution".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        GradientRule::DECONVOLUTION.attribute(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        Some(GradientRule::DECONVOLUTION)
    }
}
