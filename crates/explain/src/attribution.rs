//! The one shape of every method: `attribute(model, input, targets)` → [`Attributions`] on the
//! model's device.

use burn::tensor::Tensor;

use crate::checks::Checks;
use crate::error::{ExplainError, Result, Stage};
use crate::host::Read;
use crate::maps::{ImageAttribution, Map};
use crate::model::Explainable;
use crate::pixel::GradientRule;
use crate::predictions::Predictions;
use crate::target::Targets;

/// An explanation method: Captum's `attribute(inputs, target)` for a Burn model.
///
/// Every method of the crate implements it — the CAMs (through [`crate::Cam`]), the pixel
/// methods, and the compositions [`crate::SmoothGrad`] and [`crate::CamTimes`] — and so can a
/// method of one's own: implement [`Attribution::attribute_input`].
///
/// The trait is object safe: `Box<dyn Attribution>` and `&dyn Explainable` work.
pub trait Attribution {
    /// A short human-readable name ("Grad-CAM", "Guided Grad-CAM", "Integrated Gradients").
    fn label(&self) -> String;

    /// Explains a batch `[N, C, H, W]` of (preprocessed) images for `targets`.
    ///
    /// The input is checked against the model ([`Input::new`]) and moved to its device; the
    /// results stay there until they are read ([`Attributions::to_host`]), and a NaN or infinity
    /// in the input is reported then.
    fn attribute(
        &self,
        model: &dyn Explainable,
        input: Tensor<4>,
        targets: &Targets,
    ) -> Result<Attributions> {
        let input = Input::new(model, input)?;
        self.attribute_input(model, &input, targets)
    }

    /// Explains an already checked batch: what a method implements, and what a composition
    /// calls on the methods it is built from (so the batch is checked once).
    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions>;

    /// The input-gradient rule of a method that is one forward and one backward pass with a
    /// given ReLU rule (guided backprop, saliency, input × gradient): a [`crate::CamTimes`]
    /// built on it then shares one forward pass with the CAM. `None` (the default) for every
    /// other method.
    fn gradient_rule(&self) -> Option<GradientRule> {
        None
    }
}

/// A batch checked against a model: non-empty, of the model's input shape, detached and on the
/// model's device. Its values are checked for NaN and infinities on the device, and a bad
/// value is reported when results computed from it are read.
#[derive(Clone, Debug)]
pub struct Input {
    tensor: Tensor<4>,
    checks: Checks,
}

impl Input {
    /// Checks the batch's shape against `model` and moves it to the model's device.
    pub fn new(model: &dyn Explainable, tensor: Tensor<4>) -> Result<Self> {
        let found = tensor.dims();
        let expected = model.input_shape();
        if found[0] == 0 {
            return Err(ExplainError::EmptyBatch);
        }
        if found[1..] != expected {
            return Err(ExplainError::InputShape { expected, found });
        }
        let tensor = tensor
            .detach()
            .without_autodiff()
            .to_device(&model.device().inner());
        let checks = Checks::finite(Stage::Input, &tensor, 1);
        Ok(Self { tensor, checks })
    }

    /// A batch derived on the device from a checked one (noisy copies, path points): its
    /// values are covered by the original's checks.
    pub(crate) fn derived(tensor: Tensor<4>) -> Self {
        Self {
            tensor,
            checks: Checks::default(),
        }
    }

    /// The images, `[N, C, H, W]`.
    pub fn tensor(&self) -> &Tensor<4> {
        &self.tensor
    }

    /// Images `start..start + len` (within the batch), with their checks.
    pub fn narrow(&self, start: usize, len: usize) -> Self {
        Self {
            tensor: self.tensor.clone().narrow(0, start, len),
            checks: self.checks.narrow(start, len),
        }
    }

    /// Reads the checks only: `Err` if an image holds a NaN or an infinity.
    pub fn check(&self) -> Result<()> {
        self.checks.check()
    }

    /// Reads the images to the host, one map per image (after the checks).
    pub fn to_host(&self) -> Result<Vec<Map>> {
        let read = self
            .checks
            .register(Read::default())
            .float(self.tensor.clone());
        let mut values = read.execute()?;
        self.checks.verdict(&mut values)?;
        Map::split(self.tensor.dims(), &mut values)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.tensor.dims()[0]
    }

    /// Whether the batch is empty (never, for a checked batch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn checks(&self) -> &Checks {
        &self.checks
    }
}

/// What a method computed for a batch, on the model's device.
///
/// Nothing is read from the device until asked: [`Attributions::to_host`] reads everything in
/// one transaction, [`Attributions::to_maps`] only the maps. Both first report a NaN or
/// infinity found in the input ([`ExplainError::NonFinite`]); [`Attributions::check`] does
/// only that.
#[derive(Clone, Debug)]
pub struct Attributions {
    map: Tensor<4>,
    predictions: Predictions,
    layer_cam: Option<Tensor<4>>,
    factors: Option<(Tensor<4>, Tensor<4>)>,
    convergence_delta: Option<Tensor<1>>,
    checks: Checks,
}

impl Attributions {
    /// A method's attribution `[N, C, H, W]` and its predictions, with the checks of its input,
    /// of the pass that made the predictions, and of the map.
    pub fn new(map: Tensor<4>, predictions: Predictions, input: &Input) -> Self {
        let checks = input
            .checks()
            .clone()
            .and(predictions.checks().clone())
            .and(Checks::finite(Stage::Map, &map, 1));
        Self {
            map,
            predictions,
            layer_cam: None,
            factors: None,
            convergence_delta: None,
            checks,
        }
    }

    /// With the layer-resolution CAM `[N, 1, h, w]`.
    pub(crate) fn with_layer_cam(mut self, layer_cam: Tensor<4>) -> Self {
        self.layer_cam = Some(layer_cam);
        self
    }

    /// With the two factors of a product: the upsampled CAM and the pixel attribution.
    pub(crate) fn with_factors(mut self, cam: Tensor<4>, pixel: Tensor<4>) -> Self {
        self.factors = Some((cam, pixel));
        self
    }

    /// With the method's convergence delta `[N]`.
    pub(crate) fn with_convergence_delta(mut self, delta: Tensor<1>) -> Self {
        self.convergence_delta = Some(delta);
        self
    }

    /// With further checks (of a batch derived from the input).
    pub(crate) fn with_checks(mut self, checks: Checks) -> Self {
        self.checks = self.checks.and(checks);
        self
    }

    pub(crate) fn checks(&self) -> &Checks {
        &self.checks
    }

    /// The attribution at input resolution: `[N, 1, H, W]` for a CAM, `[N, C, H, W]` for a
    /// pixel method or a product.
    pub fn map(&self) -> &Tensor<4> {
        &self.map
    }

    /// The attribution, consumed.
    pub fn into_map(self) -> Tensor<4> {
        self.map
    }

    /// The model's predictions and the classes explained.
    pub fn predictions(&self) -> &Predictions {
        &self.predictions
    }

    /// The CAM at the explained layer's resolution, `[N, 1, h, w]` (CAMs and products).
    pub fn layer_cam(&self) -> Option<&Tensor<4>> {
        self.layer_cam.as_ref()
    }

    /// The upsampled CAM `[N, 1, H, W]` of a product (for a CAM it is [`Attributions::map`]).
    pub fn cam(&self) -> Option<&Tensor<4>> {
        self.factors.as_ref().map(|(cam, _)| cam)
    }

    /// The pixel attribution `[N, C, H, W]` of a product.
    pub fn pixel(&self) -> Option<&Tensor<4>> {
        self.factors.as_ref().map(|(_, pixel)| pixel)
    }

    /// The convergence delta `[N]` of a method that has one (Integrated Gradients and its layer
    /// version, DeepLIFT, DeepLiftShap): `Σ attribution − (score(input) − score(baseline))`;
    /// DeepLiftShap's baseline score is the mean over its reference distribution (the mean of
    /// Captum's per-reference deltas).
    pub fn convergence_delta(&self) -> Option<&Tensor<1>> {
        self.convergence_delta.as_ref()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.map.dims()[0]
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the checks only: `Err` naming the image and the stage (input, feature maps,
    /// logits, gradient, map) of the first NaN or infinity.
    pub fn check(&self) -> Result<()> {
        self.checks.check()
    }

    /// Reads the maps to the host, one per image.
    pub fn to_maps(&self) -> Result<Vec<Map>> {
        let read = self
            .checks
            .register(Read::default())
            .float(self.map.clone());
        let mut values = read.execute()?;
        self.checks.verdict(&mut values)?;
        Map::split(self.map.dims(), &mut values)
    }

    /// Reads everything to the host in one transaction, one entry per image.
    pub fn to_host(&self) -> Result<Vec<ImageAttribution>> {
        let mut read = self.checks.register(Read::default());
        read = self.predictions.register(read).float(self.map.clone());
        let optional = [self.layer_cam.as_ref(), self.cam(), self.pixel()];
        for tensor in optional.iter().flatten() {
            read = read.float((*tensor).clone());
        }
        if let Some(delta) = &self.convergence_delta {
            read = read.float(delta.clone());
        }
        let mut values = read.execute()?;
        self.checks.verdict(&mut values)?;
        let predictions = self.predictions.take(&mut values)?;
        let maps = Map::split(self.map.dims(), &mut values)?;
        let mut optional_maps = Vec::with_capacity(3);
        for tensor in optional {
            optional_maps.push(match tensor {
                Some(tensor) => Some(Map::split(tensor.dims(), &mut values)?),
                None => None,
            });
        }
        let deltas = match self.convergence_delta {
            Some(_) => Some(values.floats()?),
            None => None,
        };
        let [layer_cams, cams, pixels]: [Option<Vec<Map>>; 3] =
            optional_maps
                .try_into()
                .map_err(|_| ExplainError::DeviceRead {
                    reason: "missing maps".to_owned(),
                })?;
        let mut layer_cams = layer_cams.map(Vec::into_iter);
        let mut cams = cams.map(Vec::into_iter);
        let mut pixels = pixels.map(Vec::into_iter);
        Ok(predictions
            .into_iter()
            .zip(maps)
            .enumerate()
            .map(|(i, (prediction, map))| ImageAttribution {
                prediction,
                map,
                layer_cam: layer_cams.as_mut().and_then(Iterator::next),
                cam: cams.as_mut().and_then(Iterator::next),
                pixel: pixels.as_mut().and_then(Iterator::next),
                convergence_delta: deltas.as_ref().and_then(|d| d.get(i).copied()),
            })
            .collect())
    }
}
