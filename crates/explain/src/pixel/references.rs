//! The reference distributions of the SHAP methods (GradientSHAP, DeepLiftShap): constant
//! images from the settings, or the caller's images, checked once for both.

use burn::tensor::{Tensor, TensorData};

use crate::attribution::Input;
use crate::error::{Result, SettingError};

/// The constant images `values` `[B, C, H, W]` for `input`'s images, refused unless there is at
/// least one value and every one is finite (`owner`'s `baselines`).
pub(crate) fn constant_images(
    owner: &'static str,
    values: &[f32],
    input: &Input,
) -> Result<Tensor<4>> {
    SettingError::check(
        !values.is_empty() && values.iter().all(|b| b.is_finite()),
        owner,
        "baselines",
        format!("{values:?}"),
        "at least one value, every one finite",
    )?;
    let [_, c, h, w] = input.tensor().dims();
    let count = values.len();
    Ok(Tensor::<1>::from_data(
        TensorData::new(values.to_vec(), [count]),
        &input.tensor().device(),
    )
    .reshape([count, 1, 1, 1])
    .expand([count, c, h, w]))
}

/// The caller's distribution `[B, C, H, W]`, refused unless `B ≥ 1` and its images have the
/// input's shape (`owner`'s `baselines`), as a plain tensor on the input's device.
pub(crate) fn checked_images(
    owner: &'static str,
    input: &Input,
    baselines: Tensor<4>,
) -> Result<Tensor<4>> {
    let [_, c, h, w] = input.tensor().dims();
    let dims = baselines.dims();
    SettingError::check(
        dims[0] > 0 && dims[1..] == [c, h, w],
        owner,
        "baselines",
        format!("{dims:?} for [{c}, {h}, {w}] images"),
        "a shape [B, C, H, W]: B ≥ 1 images of the input's shape",
    )?;
    Ok(baselines
        .detach()
        .without_autodiff()
        .to_device(&input.tensor().device()))
}
