//! Guided backpropagation (Springenberg et al., 2015).

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::GradientRule;
use crate::target::Targets;

/// Guided backpropagation (Captum's `GuidedBackprop`, pytorch-grad-cam's
/// `GuidedBackpropReLUModel`): the gradient of each image's score w.r.t. its input with every
/// ReLU of the model guided (backward `relu(grad) · 1[x > 0]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidedBackprop;

impl Attribution for GuidedBackprop {
    fn label(&self) -> String {
        "Guided Backprop".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        GradientRule::GUIDED.attribute(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        Some(GradientRule::GUIDED)
    }
}
