//! The CAM family: a CAM method is its weighting of the explained layer's activations (and the
//! score's gradients at them); capture, combination, upsampling and checks are shared here
//! (pytorch-grad-cam's `BaseCAM`).
//!
//! Adding one is a file of this directory and its line in the registry below.

mod aug_smooth;
mod multi_layer;

pub use aug_smooth::AUG_SMOOTH_FACTORS;
pub use kpca_cam::KpcaKernel;
pub use multi_layer::MultiLayerCam;

registry! {
    /// Any built-in CAM method, by value (and any of them over several layers), for code that
    /// picks methods at run time; parsed from its name with its default settings.
    pub enum AnyCam: dyn Cam, "CAM method" {
        grad_cam::GradCam => "grad-cam",
        grad_cam_plus_plus::GradCamPlusPlus => "grad-cam-plus-plus",
        xgrad_cam::XGradCam => "xgrad-cam",
        hires_cam::HiResCam => "hires-cam",
        layer_cam::LayerCam => "layer-cam",
        score_cam::ScoreCam => "score-cam",
        eigen_cam::EigenCam => "eigen-cam",
        eigen_grad_cam::EigenGradCam => "eigen-grad-cam",
        grad_cam_element_wise::GradCamElementWise => "grad-cam-element-wise",
        ablation_cam::AblationCam => "ablation-cam",
        fem::Fem => "fem",
        kpca_cam::KpcaCam => "kpca-cam",
        shapley_cam::ShapleyCam => "shapley-cam",
    }
    /// [`MultiLayerCam`]: a CAM at the explained layer and at earlier ones, averaged.
    wrapper MultiLayer(MultiLayerCam<AnyCam>) => "multi-layer";
    apply with_settings(settings: CamSettings);
}

use burn::tensor::{Int, Tensor, activation};

use crate::attribution::{Attribution, Attributions, Input};
use crate::checks::Checks;
use crate::error::{ExplainError, Result, Stage};
use crate::forward::{
    self, Scoring, check_features, checked_features, checked_outputs, gradient_of,
};
use crate::model::{Explainable, ReluMode};
use crate::predictions::Predictions;
use crate::resize::upsample_layers;
use crate::settings::{CamSettings, Combination};
use crate::target::{Outputs, Targets};

/// A CAM method: how the explained layer's activations `A` (and the score's gradients
/// `G = ∂y/∂A`) become per-channel or per-cell weights, or directly a map.
///
/// Everything else — the forward split at the layer, one backward from the score to the layer,
/// the [`Combination`], the upsampling, the predictions — is shared, and every `Cam` is an
/// [`Attribution`]:
///
/// ```
/// use burn::tensor::Tensor;
/// use gradcam_explain::{Cam, CamSettings, CamWeights, Layer, Result};
///
/// /// Weighs each channel by its mean gradient's sign only.
/// struct SignCam(CamSettings);
///
/// impl Cam for SignCam {
///     fn label(&self) -> String { "Sign-CAM".into() }
///     fn settings(&self) -> &CamSettings { &self.0 }
///     fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
///         Ok(CamWeights::PerChannel(layer.gradients().mean_dims(&[2, 3]).sign()))
///     }
/// }
/// ```
pub trait Cam {
    /// A short human-readable name ("Grad-CAM++").
    fn label(&self) -> String;

    /// The shared settings: combination and upsampling.
    fn settings(&self) -> &CamSettings;

    /// Whether [`Cam::weights`] reads [`Layer::gradients`] (one backward from the score to the
    /// layer is skipped otherwise).
    fn needs_gradients(&self) -> bool {
        true
    }

    /// The method's weighting.
    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights>;

    /// Layers before the explained one whose maps are averaged with its map (the names the
    /// model's [`Explainable::features_tapped`] gives them); none but [`MultiLayerCam`]'s.
    fn extra_layers(&self) -> &[String] {
        &[]
    }
}

/// What a [`Cam`] returns.
#[derive(Clone, Debug)]
pub enum CamWeights {
    /// Weights `α` `[N, K, 1, 1]` (one per channel) or `[N, K, h, w]` (one per cell), combined
    /// with the activations by the settings' [`Combination`].
    PerChannel(Tensor<4>),
    /// Weighted activations `[N, K, h, w]` already combined per cell (element-wise Grad-CAM's
    /// `ReLU(G ⊙ A)`): summed over the channels (or projected, under
    /// [`CamSettings::eigen_smooth`]), then the combination's ReLU, if any.
    Weighted(Tensor<4>),
    /// A finished one-channel map `[N, 1, h, w]` (Eigen-CAM's projection); the combination's
    /// ReLU, if any, still applies.
    Map(Tensor<4>),
}

/// Where a [`Layer`]'s activations come from.
pub(crate) enum Source {
    /// The explained layer: the model's own output there (which its [`crate::LayerView`], if
    /// any, sees as the activations), from which the head runs.
    Explained(Box<Tensor<4>>),
    /// An earlier layer a [`MultiLayerCam`] tapped, by name: the head does not run from it.
    Tapped(String),
}

/// The explained layer of one batch, as a [`Cam`] sees it.
pub struct Layer<'a> {
    activations: Tensor<4>,
    gradients: Option<Tensor<4>>,
    source: Source,
    model: &'a dyn Explainable,
    input: &'a Tensor<4>,
    predictions: &'a Predictions,
    /// Checks of values a weighting computed on the way (read with the map).
    checks: std::cell::RefCell<Checks>,
}

impl Layer<'_> {
    /// The layer's activations `A`, `[N, K, h, w]` (plain tensors).
    pub fn activations(&self) -> &Tensor<4> {
        &self.activations
    }

    /// The score's gradients `∂y/∂A`, `[N, K, h, w]`; zeros when the method declared that it
    /// needs none.
    pub fn gradients(&self) -> Tensor<4> {
        self.gradients
            .clone()
            .unwrap_or_else(|| self.activations.zeros_like())
    }

    /// The explained images `[N, C, H, W]` (for perturbation methods such as Score-CAM).
    pub fn input(&self) -> &Tensor<4> {
        self.input
    }

    /// The class explained for each image, `[N]`.
    pub fn classes(&self) -> &Tensor<1, Int> {
        self.predictions.classes()
    }

    /// Each image's target score for a batch of (perturbed) images `[M, C, H, W]`, without
    /// gradients, in forward passes of at most `batch_size` images: `[M]`, image `i` scored at
    /// `classes[i]` (`[M]`).
    pub fn scores(
        &self,
        images: Tensor<4>,
        classes: Tensor<1, Int>,
        batch_size: usize,
    ) -> Result<Tensor<1>> {
        self.scored(images, classes, batch_size, |images, _, len| {
            let features = checked_features(self.model, images, ReluMode::Standard)?;
            checked_outputs(self.model, features, ReluMode::Standard, len)
        })
    }

    /// The same from (modified) activations of this layer `[M, K, h, w]`, row `i` a copy of
    /// image `images[i]` (`[M]`): only the rest of the network runs (for ablation methods such
    /// as Ablation-CAM). Only the explained layer has a rest of the network to run: from a
    /// layer a [`MultiLayerCam`] tapped, an error.
    pub fn head_scores(
        &self,
        activations: Tensor<4>,
        classes: Tensor<1, Int>,
        images: Tensor<1, Int>,
        batch_size: usize,
    ) -> Result<Tensor<1>> {
        let features = match &self.source {
            Source::Explained(features) => features.as_ref(),
            Source::Tapped(layer) => {
                return Err(ExplainError::NoHead {
                    layer: layer.clone(),
                });
            }
        };
        let view = self.model.layer_view();
        self.scored(
            activations,
            classes,
            batch_size,
            |activations, start, len| {
                let activations = match view {
                    Some(view) => {
                        let own = images.clone().narrow(0, start, len);
                        view.unview(activations, features.clone().select(0, own))
                    }
                    None => activations,
                };
                checked_outputs(self.model, activations, ReluMode::Standard, len)
            },
        )
    }

    /// The Hessian of the score with respect to the explained layer's output, times
    /// `direction` (a tensor of the layer's shape), image by image: `H · v = Jᵀ ∇²s (J · v)`,
    /// where `J` is the Jacobian of the logits with respect to the layer's output and `∇²s` the
    /// score's Hessian with respect to the logits. It is exact where the network after the
    /// layer is piecewise linear (its own second derivative is then zero): `J · v` comes from
    /// one pass of the rest linearised at the activations ([`ReluMode::Linearised`] on the
    /// batch `[A; A + v]`, the second half's logits minus the first's), `∇²s · (J · v)` from the
    /// target ([`crate::Target::hessian_product`]) and `Jᵀ` from one backward. pytorch-grad-cam's
    /// ShapleyCAM differentiates its gradient a second time for the same product.
    ///
    /// Errors with [`ExplainError::NoHessian`] (naming `method`) at a tapped or viewed layer, on
    /// a model with a dense output map, on a model that does not route every nonlinearity after
    /// the layer ([`Explainable::routes_head_nonlinearities`]), and for a target without a
    /// second derivative. Where the rest is not piecewise linear (a curved activation, a gate,
    /// overlapping max poolings) the linearised pass is not finite, which the explanation's
    /// checks report with its first read: [`ExplainError::NonFinite`] at [`Stage::Hessian`]
    /// (nothing is read from the device here).
    pub fn hessian_product(&self, direction: Tensor<4>, method: &'static str) -> Result<Tensor<4>> {
        let refuse = |reason: String| ExplainError::NoHessian { method, reason };
        let features = match &self.source {
            Source::Explained(features) => features.as_ref().clone(),
            Source::Tapped(layer) => {
                return Err(refuse(format!(
                    "{layer:?} is a tapped layer; the rest of the network runs from the explained layer only"
                )));
            }
        };
        if self.model.layer_view().is_some() {
            return Err(refuse(
                "the explained layer is seen through a view (tokens as a grid, or a map beside skipped tensors)".to_owned(),
            ));
        }
        if self.predictions.outputs().map().is_some() {
            return Err(refuse("the model has a dense output map".to_owned()));
        }
        if !self.model.routes_head_nonlinearities() {
            return Err(refuse(
                "the model does not say that every nonlinearity after the explained layer goes through the pass rule (Explainable::routes_head_nonlinearities)".to_owned(),
            ));
        }
        let n = features.dims()[0];
        let pair = Tensor::cat(vec![features.clone(), features.clone() + direction], 0);
        let logits = self.model.logits(pair, ReluMode::Linearised);
        let [rows, _] = logits.dims();
        if rows != 2 * n {
            return Err(ExplainError::ModelOutput {
                part: crate::error::ModelPart::Logits,
                batch: 2 * n,
                found: logits.dims().to_vec(),
            });
        }
        let along = logits.clone().narrow(0, n, n) - logits.narrow(0, 0, n);
        // Not finite where the linearisation met a nonlinearity it cannot follow: checked on
        // the device with the results, never read here.
        self.checks.replace_with(|checks| {
            std::mem::take(checks).and(Checks::finite(Stage::Hessian, &along, 1))
        });
        let curvature = self.predictions.hessian_product(along).map_err(|target| {
            refuse(format!(
                "the target {target} gives no second derivative (Target::hessian_product)"
            ))
        })?;
        let leaf = features.autodiff().require_grad();
        let logits = self.model.logits(leaf.clone(), ReluMode::Standard);
        let total = (logits * curvature.autodiff()).sum();
        Ok(gradient_of(&leaf, total))
    }

    /// Scores of `batch` `[M, …]` in passes of at most `batch_size`, `outputs` running one pass
    /// on rows `start..start + len`.
    fn scored(
        &self,
        batch: Tensor<4>,
        classes: Tensor<1, Int>,
        batch_size: usize,
        outputs: impl Fn(Tensor<4>, usize, usize) -> Result<Outputs>,
    ) -> Result<Tensor<1>> {
        let m = batch.dims()[0];
        let per_pass = batch_size.max(1);
        let mut scores = Vec::with_capacity(m.div_ceil(per_pass));
        for start in (0..m).step_by(per_pass) {
            let len = per_pass.min(m - start);
            let outputs = outputs(batch.clone().narrow(0, start, len), start, len)?;
            let classes = classes.clone().narrow(0, start, len);
            scores.push(self.predictions.scores_of(&outputs, &classes)?);
        }
        Ok(Tensor::cat(scores, 0))
    }
}

/// Combines weighted activations `α_k·A_k` `[N, K, h, w]` into one map per image,
/// `[N, 1, h, w]`: summed over the channels, or under `eigen_smooth` projected on their first
/// principal component (pytorch-grad-cam's `get_2d_projection`).
fn combine(weighted: Tensor<4>, settings: &CamSettings) -> Tensor<4> {
    let weighted = match settings.combination {
        Combination::PerChannelRelu => activation::relu(weighted),
        Combination::ReluAfterSum | Combination::Signed => weighted,
    };
    let map = if settings.eigen_smooth {
        eigen_cam::projection(weighted)
    } else {
        weighted.sum_dim(1)
    };
    relu_of(settings.combination, map)
}

/// The combination's ReLU on a map that is already one channel.
fn relu_of(combination: Combination, map: Tensor<4>) -> Tensor<4> {
    match combination {
        Combination::Signed => map,
        Combination::PerChannelRelu | Combination::ReluAfterSum => activation::relu(map),
    }
}

/// The layer-resolution CAM `[N, 1, h, w]` and the predictions, from the explained layer's
/// output `features` (any graph it belongs to is left intact); `input` is the plain batch.
pub(crate) fn layer_cam<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    input: &Tensor<4>,
    features: Tensor<4>,
    targets: &Targets,
) -> Result<(Predictions, Tensor<4>)> {
    let (predictions, activations, gradients) = head(cam, model, features, targets)?;
    let (map, checks) = layer_map(
        cam,
        model,
        input,
        &predictions,
        (activations, gradients),
        None,
    )?;
    Ok((predictions.with_checks(checks), map))
}

/// The head of the network from a fresh leaf at the explained layer's output: the
/// predictions, the plain activations and (if the method reads them) the score's gradients.
fn head<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    features: Tensor<4>,
    targets: &Targets,
) -> Result<(Predictions, Tensor<4>, Option<Tensor<4>>)> {
    // A fresh leaf: the head's backward stops here.
    let activations = features.detach().autodiff().require_grad();
    let scoring = Scoring::Resolve(targets);
    let (predictions, total) =
        forward::head(model, activations.clone(), ReluMode::Standard, scoring)?;
    let gradients = cam
        .needs_gradients()
        .then(|| gradient_of(&activations, total));
    Ok((
        predictions,
        activations.detach().without_autodiff(),
        gradients,
    ))
}

/// One layer's map `[N, 1, h, w]` from its plain activations and gradients, and the checks of
/// both: the explained layer's (seen through the model's view, if any), or the layer `tapped`.
fn layer_map<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    input: &Tensor<4>,
    predictions: &Predictions,
    (activations, gradients): (Tensor<4>, Option<Tensor<4>>),
    tapped: Option<String>,
) -> Result<(Tensor<4>, Checks)> {
    let mut checks = Checks::finite(Stage::Features, &activations, 1);
    if let Some(gradients) = &gradients {
        checks = checks.and(Checks::finite(Stage::Gradient, gradients, 1));
    }
    let (source, activations, gradients) = match (tapped, model.layer_view()) {
        (Some(name), _) => (Source::Tapped(name), activations, gradients),
        (None, Some(view)) => (
            Source::Explained(Box::new(activations.clone())),
            view.view(activations),
            gradients.map(|g| view.view(g)),
        ),
        (None, None) => (
            Source::Explained(Box::new(activations.clone())),
            activations,
            gradients,
        ),
    };
    let layer = Layer {
        activations,
        gradients,
        source,
        model,
        input,
        predictions,
        checks: Default::default(),
    };
    let settings = cam.settings();
    let weights = cam.weights(&layer)?;
    let checks = checks.and(layer.checks.take());
    let map = match weights {
        CamWeights::PerChannel(alpha) => combine(layer.activations * alpha, settings),
        CamWeights::Weighted(weighted) => combine(weighted, settings),
        CamWeights::Map(map) => relu_of(settings.combination, map),
    };
    Ok((map, checks))
}

impl<C: Cam> Attribution for C {
    fn label(&self) -> String {
        smoothed_label(self)
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        if self.settings().aug_smooth {
            aug_smooth::aug_smooth(self, model, input, targets)
        } else {
            cam_attribution(self, model, input, targets)
        }
    }
}

/// The CAM's label, with its smoothings named ("Grad-CAM (eigen-smooth, aug-smooth)").
pub(crate) fn smoothed_label<C: Cam + ?Sized>(cam: &C) -> String {
    let settings = cam.settings();
    let smoothings: Vec<&str> = [
        (settings.eigen_smooth, "eigen-smooth"),
        (settings.aug_smooth, "aug-smooth"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if smoothings.is_empty() {
        cam.label()
    } else {
        format!("{} ({})", cam.label(), smoothings.join(", "))
    }
}

/// The CAM of one batch, upsampled to the input (no augmentation): at the explained layer, and
/// at each of the method's [`Cam::extra_layers`], whose maps are averaged with it. One forward
/// pass taps every layer; the backward runs once, segment by segment, from the score down to
/// the earliest layer.
fn cam_attribution<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    input: &Input,
    targets: &Targets,
) -> Result<Attributions> {
    let x = input.tensor();
    let [batch, _, height, width] = x.dims();
    let wanted = cam.extra_layers();
    let mut seen = Vec::new();
    // Each tapped layer's output, and the leaf the forward continued from.
    let mut taps: Vec<(String, Tensor<4>, Tensor<4>)> = Vec::new();
    let features = model.features_tapped(x.clone(), ReluMode::Standard, &mut |name, output| {
        seen.push(name.to_owned());
        if wanted.iter().any(|w| w == name) {
            let leaf = output.clone().detach().autodiff().require_grad();
            taps.push((name.to_owned(), output, leaf.clone()));
            leaf
        } else {
            output
        }
    });
    if let Some(layer) = wanted.iter().find(|w| !seen.contains(w)) {
        return Err(ExplainError::UnknownLayer {
            layer: layer.clone(),
            available: seen,
        });
    }
    let features = check_features(batch, features)?;
    let (predictions, activations, gradients) = head(cam, model, features.clone(), targets)?;
    let (layer, mut checks) = layer_map(
        cam,
        model,
        x,
        &predictions,
        (activations, gradients.clone()),
        None,
    )?;
    let mut maps = vec![layer.clone()];
    // The gradient at each earlier layer: the vector-Jacobian product of the segment above it.
    let (mut above, mut gradient) = (features, gradients);
    for (name, output, leaf) in taps.into_iter().rev() {
        let below = gradient.map(|g| gradient_of(&leaf, (above * g.autodiff()).sum()));
        let activations = output.clone().detach().without_autodiff();
        let (map, more) = layer_map(
            cam,
            model,
            x,
            &predictions,
            (activations, below.clone()),
            Some(name),
        )?;
        maps.push(map);
        checks = checks.and(more);
        (above, gradient) = (output, below);
    }
    // Input to output, the order pytorch-grad-cam averages its target layers in.
    maps.reverse();
    let map = upsample_layers(maps, [height, width], &cam.settings().upsampling);
    Ok(Attributions::new(map, predictions.with_checks(checks), input).with_layer_cam(layer))
}

impl Cam for AnyCam {
    fn label(&self) -> String {
        self.inner().label()
    }

    fn settings(&self) -> &CamSettings {
        self.inner().settings()
    }

    fn needs_gradients(&self) -> bool {
        self.inner().needs_gradients()
    }

    fn weights(&self, layer: &Layer<'_>) -> Result<CamWeights> {
        self.inner().weights(layer)
    }

    fn extra_layers(&self) -> &[String] {
        self.inner().extra_layers()
    }
}
