//! Saliency (Simonyan et al., 2014).

use burn::config::Config;

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::GradientRule;
use crate::target::Targets;

/// Saliency (Captum's `Saliency`): the gradient of each image's score w.r.t. its input, or its
/// absolute value (Captum's default).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct Saliency {
    /// Take the absolute value (Captum's `abs=True`).
    #[config(default = true)]
    pub absolute: bool,
}

impl Default for Saliency {
    fn default() -> Self {
        Self::new()
    }
}

impl Saliency {
    fn rule(&self) -> GradientRule {
        if self.absolute {
            GradientRule::ABSOLUTE_GRADIENT
        } else {
            GradientRule::GRADIENT
        }
    }
}

impl Attribution for Saliency {
    fn label(&self) -> String {
        if self.absolute {
            "Saliency".to_owned()
        } else {
            "Signed saliency".to_owned()
        }
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        self.rule().attribute(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        Some(self.rule())
    }
}
