//! Input × gradient (Shrikumar et al., 2016).

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::Result;
use crate::model::Explainable;
use crate::pixel::GradientRule;
use crate::target::Targets;


/// Input × gradient (Captum's `InputXGradient`): the input times the score's gradient w.r.t. it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputXGradient;

impl Attribution for InputXGradient {
    fn label(&self) -> String {
        "Input × Gradient".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        GradientRule::INPUT_X_GRADIENT.attribute(model, input, targets)
    }

    fn gradient_rule(&self) -> Option<GradientRule> {
        Some(GradientRule::INPUT_X_GRADIENT)
    }
}
