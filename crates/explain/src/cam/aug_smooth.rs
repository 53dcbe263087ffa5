//! pytorch-grad-cam's `aug_smooth`: a CAM averaged over flipped and brightness-scaled copies of
//! each image, each copy's map mapped back to the image first.

use burn::tensor::Tensor;

use crate::attribution::{Attributions, Input};
use crate::cam::{Cam, cam_attribution};
use crate::error::Result;
use crate::model::Explainable;
use crate::predictions::Predictions;
use crate::target::Targets;

/// The intensity factors of pytorch-grad-cam's test-time augmentation (ttach's `Multiply`).
pub const AUG_SMOOTH_FACTORS: [f32; 3] = [0.9, 1.0, 1.1];

/// One augmented copy: whether it is mirrored left–right, and its intensity factor.
#[derive(Clone, Copy)]
struct Augmentation {
    mirrored: bool,
    factor: f32,
}

/// Every copy, in pytorch-grad-cam's order: unflipped then flipped, each at every factor.
fn copies() -> Vec<Augmentation> {
    [false, true]
        .into_iter()
        .flat_map(|mirrored| {
            AUG_SMOOTH_FACTORS
                .into_iter()
                .map(move |factor| Augmentation { mirrored, factor })
        })
        .collect()
}

/// A map `[N, C, H, W]` mirrored left–right when `mirrored` (its own inverse).
fn mirror(map: Tensor<4>, mirrored: bool) -> Tensor<4> {
    if mirrored { map.flip([3]) } else { map }
}

/// The CAM of every copy of every image in one batch (image-major: an image's copies are
/// consecutive), each copy's map mirrored back, averaged per image. Every copy is explained for
/// its image's class, resolved on the image itself; pytorch-grad-cam, given no targets,
/// predicts each copy anew (the same when targets are given).
pub(crate) fn aug_smooth<C: Cam + ?Sized>(
    cam: &C,
    model: &dyn Explainable,
    input: &Input,
    targets: &Targets,
) -> Result<Attributions> {
    let x = input.tensor();
    let [n, c, h, w] = x.dims();
    let copies = copies();
    let count = copies.len();
    let predictions = Predictions::of(model, input, targets)?;
    let augmented: Vec<Tensor<4>> = copies
        .iter()
        .map(|copy| mirror(x.clone(), copy.mirrored) * copy.factor)
        .collect();
    let batch = Tensor::stack::<5>(augmented, 1).reshape([n * count, c, h, w]);
    let inner = cam_attribution(
        cam,
        model,
        &Input::derived(batch),
        &predictions.targets().repeat_each(count),
    )?;
    let mean = |maps: &Tensor<4>| {
        let [_, channels, height, width] = maps.dims();
        let per_copy = maps.clone().reshape([n, count, channels, height, width]);
        let restored: Vec<Tensor<4>> = copies
            .iter()
            .enumerate()
            .map(|(j, copy)| {
                let one = per_copy.clone().narrow(1, j, 1);
                mirror(one.reshape([n, channels, height, width]), copy.mirrored)
            })
            .collect();
        Tensor::stack::<5>(restored, 0)
            .mean_dim(0)
            .reshape([n, channels, height, width])
    };
    let map = mean(inner.map());
    let layer = inner.layer_cam().map(mean);
    // The copies' checks name the image they were made from.
    let checks = inner.checks().clone().per_image(count);
    let result = Attributions::new(map, predictions.with_checks(checks), input);
    Ok(match layer {
        Some(layer) => result.with_layer_cam(layer),
        None => result,
    })
}
