//! Deep Feature Factorisation (Collins, Achanta and Süsstrunk, "Deep Feature Factorization for
//! Concept Discovery", 2018), as pytorch-grad-cam's `DeepFeatureFactorization` computes it.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use nalgebra::DMatrix;

use crate::attribution::Input;
use crate::checks::Checks;
use crate::error::{Result, SettingError, Stage};
use crate::forward::{checked_features, checked_outputs};
use crate::host::Read;
use crate::model::{Explainable, ReluMode};
use crate::nmf::{NmfSettings, factorize};
use crate::resize::{bilinear, pytorch_grad_cam_scale_channels};

/// Deep Feature Factorisation (pytorch-grad-cam's `DeepFeatureFactorization`): the explained
/// layer's activations of the whole batch, each channel a row `[C, N·h·w]` shifted by its
/// minimum, factorised by non-negative matrix factorisation into `components` concepts —
/// scikit-learn's `NMF(init="random", random_state=seed)` from the same random start, on the
/// host. Gradient-free; no class is explained: the concepts are what the layer's activations
/// are made of, and each image's maps say where each concept lies.
///
/// ```
/// use gradcam_explain::DeepFeatureFactorization;
/// let dff = DeepFeatureFactorization::new().with_components(4);
/// assert_eq!((dff.components, dff.max_iterations, dff.seed), (4, 200, 0));
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct DeepFeatureFactorization {
    /// Concepts (pytorch-grad-cam's `n_components`; its `dff` function's default).
    #[config(default = 5)]
    pub components: usize,
    /// Coordinate descent's sweeps at most (scikit-learn's `max_iter`).
    #[config(default = 200)]
    pub max_iterations: usize,
    /// Stop when the projected gradient falls below this share of the first sweep's
    /// (scikit-learn's `tol`).
    #[config(default = 1e-4)]
    pub tolerance: f64,
    /// The random start's seed (numpy's legacy `RandomState`, pytorch-grad-cam's 0).
    #[config(default = 0)]
    pub seed: u32,
}

impl Default for DeepFeatureFactorization {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`DeepFeatureFactorization::factorize`] finds.
#[derive(Clone, Debug)]
pub struct Factorization {
    /// `[K, components]`: each concept as an activation vector of the layer's `K` channels
    /// (pytorch-grad-cam's `concepts`: the factor `W` plus each channel's minimum).
    pub concepts: Tensor<2>,
    /// `[N, components, H, W]`: where each concept lies in each image, every map min-max
    /// normalised (pytorch-grad-cam's epsilon) and resized bilinearly to the input (its
    /// processed explanations).
    pub maps: Tensor<4>,
    /// `[components, classes]`: the model's logits for a layer output holding the concept in
    /// every cell — for a head that pools globally (a ResNet's), the classifier on the concept
    /// itself, pytorch-grad-cam's `computation_on_concepts=model.fc`. `None` for a model that
    /// views its layer through a [`crate::LayerView`] (a transformer's head reads tokens the
    /// concepts do not give).
    pub concept_logits: Option<Tensor<2>>,
}

impl DeepFeatureFactorization {
    /// Factorises the explained layer's activations of `input`'s images (one factorisation for
    /// the batch, as the peer's).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gradcam_explain::{DeepFeatureFactorization, Explainable, Input, ReluMode};
    ///
    /// /// Features: the input itself; logits: the channel means.
    /// struct Identity;
    /// impl Explainable for Identity {
    ///     fn input_shape(&self) -> [usize; 3] { [3, 4, 4] }
    ///     fn features(&self, x: Tensor<4>, _: ReluMode) -> Tensor<4> { x }
    ///     fn logits(&self, a: Tensor<4>, _: ReluMode) -> Tensor<2> { a.mean_dims(&[2, 3]).flatten(1, 3) }
    ///     fn device(&self) -> Device { Device::default() }
    /// }
    ///
    /// let images = Tensor::<4>::ones([2, 3, 4, 4], &Device::default());
    /// let input = Input::new(&Identity, images)?;
    /// let found = DeepFeatureFactorization::new().with_components(2).factorize(&Identity, &input)?;
    /// assert_eq!(found.concepts.dims(), [3, 2]);
    /// assert_eq!(found.maps.dims(), [2, 2, 4, 4]);
    /// assert_eq!(found.concept_logits.unwrap().dims(), [2, 3]);
    /// # Ok::<(), gradcam_explain::ExplainError>(())
    /// ```
    pub fn factorize(&self, model: &dyn Explainable, input: &Input) -> Result<Factorization> {
        SettingError::check(
            self.components >= 1,
            "DeepFeatureFactorization",
            "components",
            self.components,
            "at least 1",
        )?;
        SettingError::check(
            self.max_iterations >= 1,
            "DeepFeatureFactorization",
            "max_iterations",
            self.max_iterations,
            "at least 1",
        )?;
        let features = checked_features(model, input.tensor().clone(), ReluMode::Standard)?;
        let view = model.layer_view();
        let map = match view {
            Some(view) => view.view(features.clone()),
            None => features.clone(),
        };
        let [n, channels, h, w] = map.dims();
        let checks = input
            .checks()
            .clone()
            .and(Checks::finite(Stage::Features, &map, 1));
        let mut values = checks
            .register(Read::default())
            .float(map.clone())
            .execute()?;
        checks.verdict(&mut values)?;
        let activations = values.floats()?;

        // One row per channel over every cell of every image, shifted to be non-negative.
        let cells = h * w;
        let at = |c: usize, j: usize| activations[((j / cells) * channels + c) * cells + j % cells];
        let offsets: Vec<f32> = (0..channels)
            .map(|c| {
                (0..n * cells)
                    .map(|j| at(c, j))
                    .fold(f32::INFINITY, f32::min)
            })
            .collect();
        let shifted = DMatrix::from_fn(channels, n * cells, |c, j| at(c, j) - offsets[c]);
        let (factor, loadings) = factorize(
            &shifted,
            NmfSettings {
                components: self.components,
                max_iterations: self.max_iterations,
                tolerance: self.tolerance,
                seed: self.seed,
            },
        );
        let k = self.components;
        let device = features.device();

        let concepts: Vec<f32> = (0..channels)
            .flat_map(|c| (0..k).map(move |t| (c, t)))
            .map(|(c, t)| factor[(c, t)] + offsets[c])
            .collect();
        let concepts = Tensor::<2>::from_data(TensorData::new(concepts, [channels, k]), &device);

        // `[components, N·h·w]` → `[N, components, h, w]`, each map normalised, then resized.
        let loadings = &loadings;
        let per_image: Vec<f32> = (0..n)
            .flat_map(|i| {
                (0..k).flat_map(move |t| (0..cells).map(move |p| loadings[(t, i * cells + p)]))
            })
            .collect();
        let maps = Tensor::<4>::from_data(TensorData::new(per_image, [n, k, h, w]), &device);
        let [_, _, height, width] = input.tensor().dims();
        let maps = bilinear(pytorch_grad_cam_scale_channels(maps), [height, width]);

        let concept_logits = match view {
            Some(_) => None,
            None => {
                let filled = concepts
                    .clone()
                    .transpose()
                    .reshape([k, channels, 1, 1])
                    .expand([k, channels, h, w]);
                Some(checked_outputs(model, filled, ReluMode::Standard, k)?.logits())
            }
        };
        Ok(Factorization {
            concepts,
            maps,
            concept_logits,
        })
    }
}
