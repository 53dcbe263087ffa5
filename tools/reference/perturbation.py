"""Parity fixtures for the perturbation methods: Captum's FeatureAblation, ShapleyValueSampling
and KernelShap, and RISE in plain torch, on the MNIST net and on ResNet-18.

Writes tests/fixtures/perturbation.safetensors. On the MNIST net's first four test images
(predicted classes, the logit), with a 7x7 grid of features (``grid_ids``: pixel (y, x) of an
H x W image is in cell (y*rows//H, x*cols//W), the rule the Rust `FeatureMask::Grid` follows):

  target                          the predicted classes, int64 [4]
  grid7_mask                      the 7x7 grid's ids, int64 [1, 1, 28, 28]
  captum_feature_ablation         FeatureAblation, baseline 0, the 7x7 grid [4, 1, 28, 28]
  captum_feature_ablation_mean    the same with each image's mean as the baseline
  given_mask                      a mask per image, int64 [4, 1, 28, 28]: the image's quadrant
                                  (4) times its intensity (below the image's mean, above it,
                                  above the mean plus one standard deviation): 12 features
  captum_feature_ablation_given   FeatureAblation, baseline 0, those masks [4, 1, 28, 28]
  captum_shapley_value_sampling   ShapleyValueSampling, 4x4 grid, 5 orders [4, 1, 28, 28]
  shapley_orders                  the orders Captum drew (torch.randperm), int64 [5, 16]
  captum_kernel_shap              KernelShap, 4x4 grid, 60 coalitions [4, 1, 28, 28]
  kernel_shap_coalitions          the coalitions Captum drew, each image its own, [4, 60, 16]
  captum_kernel_shap_few          KernelShap with 10 coalitions of the 16 features (fewer than
                                  the unknowns: the minimum-norm least-squares solution)
  kernel_shap_few_coalitions      its coalitions [4, 10, 16]
  torch_rise                      RISE (Petsiuk et al. 2018) in plain torch: 300 masks of a 5x5
                                  grid (cells of 6 pixels, upsampled to 36x36 by F.interpolate,
                                  bilinear, and cropped at each mask's shift), p1 = 0.5, baseline
                                  0 [4, 1, 28, 28]
  rise_grids, rise_shifts         its draws (NumPy, seed RISE_SEED): [300, 5, 5], int64 [300, 2]

and on torchvision's ResNet-18 with the tests' seeded weights (resnet.py), the first committed
224x224 image, class 7, a 5x5 grid (whose cells are 44 or 45 pixels wide: the grid rule where
cells cannot be equal), each map stored as its 25 feature values (the map is constant on each
feature; the script checks it), [1, 25]:

  r18_captum_feature_ablation     FeatureAblation, baseline 0
  r18_captum_shapley_value_sampling   ShapleyValueSampling, 2 orders (r18_shapley_orders [2, 25])
  r18_torch_rise                  RISE, 60 masks of a 7x7 grid, the full map subsampled every
                                  8th row and column of the first channel [1, 28, 28]
                                  (r18_rise_grids [60, 7, 7], r18_rise_shifts [60, 2])
  r18_captum_kernel_shap          KernelShap, 40 coalitions (r18_kernel_shap_coalitions
                                  [1, 40, 25])

Captum draws from torch's global generator; the draws are recorded as Captum makes them (its
permutation and coalition generators wrapped) and stored, so the Rust side is given Captum's
own. Captum fits KernelShap's linear model with scikit-learn in float32; the float64 fit of the
same data is printed beside it (``float32 fit``), the part of any difference the peer owns.

    tools/reference/.venv/bin/python tools/reference/perturbation.py
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import logits_fixture_start, write_fixture  # noqa: E402
from resnet import seeded_resnet18  # noqa: E402

from captum.attr import FeatureAblation, KernelShap, ShapleyValueSampling  # noqa: E402

IMAGES = 4
SHAPLEY_SEED, KERNEL_SEED, RISE_SEED = 5, 6, 7


def grid_ids(h: int, w: int, rows: int, cols: int) -> torch.Tensor:
    """The grid's ids [1, 1, h, w]."""
    y = torch.arange(h).view(-1, 1) * rows // h
    x = torch.arange(w).view(1, -1) * cols // w
    return (y * cols + x).view(1, 1, h, w)


def given_ids(x: torch.Tensor) -> torch.Tensor:
    """Per image: quadrant times intensity class (3 classes), ids 0..11."""
    n, _, h, w = x.shape
    quadrant = grid_ids(h, w, 2, 2).expand(n, 1, h, w)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    level = (x > mean).long() + (x > mean + std).long()
    return quadrant * 3 + level


def shapley(model, x, target, mask, samples: int) -> tuple:
    torch.manual_seed(SHAPLEY_SEED)
    method = ShapleyValueSampling(model)
    orders = []
    draw = method.permutation_generator

    def recorded(features, count):
        for order in draw(features, count):
            orders.append(list(order))
            yield order

    method.permutation_generator = recorded
    attr = method.attribute(x.clone(), target=target, feature_mask=mask, n_samples=samples)
    return attr.detach(), torch.tensor(orders)


def kernel_shap(model, x, target, mask, samples: int) -> tuple:
    """Captum's KernelShap and each image's coalitions, and how far its float32 fit lies from a
    float64 fit of the same coalitions and scores."""
    torch.manual_seed(KERNEL_SEED)
    method = KernelShap(model)
    coalitions = []
    draw = method.perturb_func

    def recorded(original, **kwargs):
        for coalition in draw(original, **kwargs):
            coalitions.append(coalition.view(-1).clone())
            yield coalition

    method.perturb_func = recorded
    attr = method.attribute(x.clone(), target=target, feature_mask=mask, n_samples=samples)
    coalitions = torch.stack(coalitions).view(x.shape[0], samples, -1).float()
    # The float64 fit (scikit-learn's LinearRegression with weights, as Captum's) of the same
    # data: the float32 solve's own error.
    from sklearn.linear_model import LinearRegression
    features = coalitions.shape[2]
    masks = mask.expand(x.shape[0], *x.shape[1:]) if mask.shape[0] == 1 else mask
    worst = 0.0
    for i in range(x.shape[0]):
        c = coalitions[i]
        keep = c[:, masks[i].reshape(-1)].view(samples, *x.shape[1:])
        with torch.no_grad():
            scores = model(x[i:i + 1] * keep)[:, target[i]].double().numpy()
        members = c.sum(1)
        weights = np.where((members == 0) | (members == features), 1e6, 1.0)
        fit = LinearRegression().fit(c.double().numpy(), scores, sample_weight=weights)
        first = [int((masks[i].reshape(-1) == f).nonzero()[0]) for f in range(features)]
        ours = attr[i].reshape(-1)[first].double().numpy()
        worst = max(worst, float(np.abs(ours - fit.coef_).max() / np.abs(fit.coef_).max()))
    print(f"KernelShap ({samples} coalitions of {features}): Captum's float32 fit is {worst:.1e} "
          "(relative to the largest coefficient) from float64's")
    return attr.detach(), coalitions


def rise_draws(masks: int, cells: int, size: tuple, p1: float) -> tuple:
    """Grids of cells kept with probability p1 and shifts below the cell size."""
    rng = np.random.default_rng(RISE_SEED)
    grids = (rng.random((masks, cells, cells)) < p1).astype(np.float32)
    cell = [-(-s // cells) for s in size]
    shifts = np.stack([rng.integers(0, cell[0], masks), rng.integers(0, cell[1], masks)], axis=1)
    return torch.from_numpy(grids), torch.from_numpy(shifts.astype(np.int64))


def rise(model, x, target, grids, shifts, p1: float) -> torch.Tensor:
    """RISE in plain torch: sum_i score_i M_i / (N p1), M_i the upsampled, shifted grid."""
    masks_count, cells = grids.shape[0], grids.shape[1]
    n, c, h, w = x.shape
    cell = [-(-h // cells), -(-w // cells)]
    up = torch.nn.functional.interpolate(
        grids[:, None], size=((cells + 1) * cell[0], (cells + 1) * cell[1]), mode="bilinear",
        align_corners=False)[:, 0]
    masks = torch.stack([up[i, sy:sy + h, sx:sx + w] for i, (sy, sx) in enumerate(shifts.tolist())])
    out = torch.zeros(n, h, w)
    with torch.no_grad():
        for i in range(n):
            scores = model(x[i:i + 1] * masks[:, None])[:, target[i]]
            out[i] = (scores[:, None, None] * masks).sum(0) / masks_count / p1
    return out[:, None].expand(n, c, h, w).contiguous()


def per_feature(attr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each feature's value [N, F], after checking that the map is constant on each feature."""
    flat_mask = mask.expand_as(attr).reshape(attr.shape[0], -1)
    flat = attr.reshape(attr.shape[0], -1)
    features = int(mask.max()) + 1
    values = torch.zeros(attr.shape[0], features)
    for f in range(features):
        inside = flat_mask[0] == f
        values[:, f] = flat[:, inside][:, 0]
        if not torch.equal(flat[:, inside], values[:, f:f + 1].expand(-1, int(inside.sum()))):
            raise SystemExit(f"feature {f}: the map is not constant on it")
    return values


def resnet18_fixtures() -> dict:
    model, x, target = seeded_resnet18()
    x, target = x[:1], target[:1]
    mask = grid_ids(224, 224, 5, 5)
    out = {}
    ablation = FeatureAblation(model).attribute(x.clone(), target=target, feature_mask=mask)
    out["r18_captum_feature_ablation"] = per_feature(ablation.detach(), mask)
    attr, orders = shapley(model, x, target, mask, 2)
    out["r18_captum_shapley_value_sampling"] = per_feature(attr, mask)
    out["r18_shapley_orders"] = orders
    attr, coalitions = kernel_shap(model, x, target, mask, 40)
    out["r18_captum_kernel_shap"] = per_feature(attr, mask)
    grids, shifts = rise_draws(60, 7, (224, 224), 0.5)
    out["r18_torch_rise"] = rise(model, x, target, grids, shifts, 0.5)[:, 0, ::8, ::8]
    out["r18_rise_grids"], out["r18_rise_shifts"] = grids, shifts
    out["r18_kernel_shap_coalitions"] = coalitions
    return out


def main() -> None:
    args, model, images = logits_fixture_start(__doc__)
    x = images[:IMAGES].clone()
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    grid7, grid4 = grid_ids(28, 28, 7, 7), grid_ids(28, 28, 4, 4)
    given = given_ids(x)
    out = {"target": target, "grid7_mask": grid7, "given_mask": given}
    ablation = FeatureAblation(model)
    out["captum_feature_ablation"] = ablation.attribute(
        x.clone(), target=target, feature_mask=grid7)
    out["captum_feature_ablation_mean"] = ablation.attribute(
        x.clone(), baselines=x.mean(dim=(2, 3), keepdim=True), target=target, feature_mask=grid7)
    out["captum_feature_ablation_given"] = ablation.attribute(
        x.clone(), target=target, feature_mask=given)
    out["captum_shapley_value_sampling"], out["shapley_orders"] = shapley(
        model, x, target, grid4, 5)
    out["captum_kernel_shap"], out["kernel_shap_coalitions"] = kernel_shap(
        model, x, target, grid4, 60)
    out["captum_kernel_shap_few"], out["kernel_shap_few_coalitions"] = kernel_shap(
        model, x, target, grid4, 10)
    grids, shifts = rise_draws(300, 5, (28, 28), 0.5)
    out["torch_rise"] = rise(model, x, target, grids, shifts, 0.5)
    out["rise_grids"], out["rise_shifts"] = grids, shifts
    out.update(resnet18_fixtures())
    write_fixture(args.out_dir, "perturbation.safetensors", out,
                  "Captum FeatureAblation, ShapleyValueSampling and KernelShap with their draws, "
                  "logit score (MNIST) and logits (ResNet-18)", "captum", "scikit-learn")


if __name__ == "__main__":
    main()
