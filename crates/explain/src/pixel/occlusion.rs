//! Occlusion (Zeiler and Fergus, 2014).

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};

use crate::attribution::{Attribution, Attributions, Input};
use crate::error::{Result, SettingError};
use crate::model::Explainable;
use crate::perturb::{Perturbation, PerturbationBaseline};
use crate::target::Targets;

/// Occlusion (Captum's `Occlusion`): a window of `[channels, height, width]` slides over the
/// image by `strides`; at each position the window's pixels are set to `baseline` and the drop
/// of the score, `y − y_occluded`, is credited to every pixel the window covered. Each pixel's
/// attribution is the mean over the windows that covered it (Captum's weighting). As in Captum,
/// the last window in a dimension is cut at the border when the strides do not end on it.
///
/// No gradients: forward passes only, of at most `batch_size` occluded images each.
///
/// ```
/// use gradcam_explain::{Attribution, Occlusion};
/// let occlusion = Occlusion::new().with_window([1, 4, 4]).with_strides([1, 2, 2]);
/// assert_eq!(occlusion.label(), "Occlusion");
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct Occlusion {
    /// The window `[channels, height, width]` (Captum's `sliding_window_shapes`).
    #[config(default = "[1, 3, 3]")]
    pub window: [usize; 3],
    /// Its step in each dimension (Captum's `strides`): at least 1, and at most the window
    /// where the window is smaller than the image.
    #[config(default = "[1, 1, 1]")]
    pub strides: [usize; 3],
    /// The value occluded pixels take (Captum's `baselines`; in the model's input units).
    #[config(default = 0.0)]
    pub baseline: f32,
    /// Occluded images per forward pass (Captum's `perturbations_per_eval`, counted in images):
    /// bounds the memory.
    #[config(default = 256)]
    pub batch_size: usize,
}

impl Default for Occlusion {
    fn default() -> Self {
        Self::new()
    }
}

impl Occlusion {
    /// The window positions per dimension, checked against the image `[C, H, W]`.
    fn shifts(&self, image: [usize; 3]) -> Result<[usize; 3]> {
        let owner = "Occlusion";
        let mut shifts = [0; 3];
        for d in 0..3 {
            let (window, stride, size) = (self.window[d], self.strides[d], image[d]);
            SettingError::check(
                (1..=size).contains(&window),
                owner,
                "window",
                format!("{:?} for an image {image:?}", self.window),
                "between 1 and the image's size in every dimension",
            )?;
            SettingError::check(
                stride >= 1 && (window == size || stride <= window),
                owner,
                "strides",
                format!("{:?} for a window {:?}", self.strides, self.window),
                "at least 1, and at most the window where it is smaller than the image",
            )?;
            shifts[d] = (size - window).div_ceil(stride) + 1;
        }
        Ok(shifts)
    }

    /// The mask of window position `position` over an image `[C, H, W]`, row-major.
    fn mask(&self, position: usize, shifts: [usize; 3], image: [usize; 3]) -> Vec<f32> {
        // The first dimension varies fastest, as Captum numbers its positions.
        let mut rest = position;
        let mut ranges = [(0, 0); 3];
        for d in 0..3 {
            let start = (rest % shifts[d]) * self.strides[d];
            rest /= shifts[d];
            ranges[d] = (start, (start + self.window[d]).min(image[d]));
        }
        let [c, h, w] = image;
        let inside = |i: usize, (from, to): (usize, usize)| (from..to).contains(&i);
        (0..c * h * w)
            .map(|i| {
                let (ch, y, x) = (i / (h * w), (i / w) % h, i % w);
                let covered = inside(ch, ranges[0]) && inside(y, ranges[1]) && inside(x, ranges[2]);
                if covered { 1.0 } else { 0.0 }
            })
            .collect()
    }
}

impl Attribution for Occlusion {
    fn label(&self) -> String {
        "Occlusion".to_owned()
    }

    fn attribute_input(
        &self,
        model: &dyn Explainable,
        input: &Input,
        targets: &Targets,
    ) -> Result<Attributions> {
        let [n, c, h, w] = input.tensor().dims();
        let image = [c, h, w];
        let shifts = self.shifts(image)?;
        let positions = shifts.iter().product::<usize>();
        let size = c * h * w;
        let device = input.tensor().device();
        let baseline = PerturbationBaseline::Constant(self.baseline).images("Occlusion", input)?;
        let run = Perturbation::new("Occlusion", model, input, targets, baseline, self.batch_size)?;
        let initial = run.predictions().scores().reshape([1, n]);
        let mut total = Tensor::<2>::zeros([n, size], &device);
        let mut counts = vec![0.0_f32; size];
        for start in (0..positions).step_by(run.per_pass()) {
            let len = run.per_pass().min(positions - start);
            let masks: Vec<f32> = (start..start + len)
                .flat_map(|p| self.mask(p, shifts, image))
                .collect();
            for (i, m) in masks.iter().enumerate() {
                counts[i % size] += m;
            }
            let masks = Tensor::<2>::from_data(TensorData::new(masks, [len, size]), &device);
            let keep = (masks.clone().neg() + 1.0).reshape([len, 1, size]);
            let drops = initial.clone() - run.score(keep)?;
            // Each window's drop credited to the pixels it covered.
            total = total + drops.swap_dims(0, 1).matmul(masks);
        }
        let counts = Tensor::<2>::from_data(TensorData::new(counts, [1, size]), &device);
        let map = (total / counts).reshape([n, c, h, w]);
        Ok(Attributions::new(map, run.predictions().clone(), input))
    }
}
