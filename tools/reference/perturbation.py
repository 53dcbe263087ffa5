"""Parity fixtures for the perturbation methods: Captum's FeatureAblation, ShapleyValueSampling,
KernelShap and Lime, and RISE in plain torch, on the MNIST net and on ResNet-18.

Writes tests/fixtures/perturbation.safetensors. On the MNIST net's first four test images
(predicted classes, the logit), with a 7x7 grid of features (``grid_ids``: pixel (y, x) of an
H x W image is in cell (y*rows//H, x*cols//W), the rule the Rust `FeatureMask::Grid` follows):

  target                          the predicted classes, int64 [4]
  grid7_mask                      the 7x7 grid's ids, int64 [1, 1, 28, 28]
  captum_feature_ablation         FeatureAblation, baseline 0, the 7x7 grid [4, 1, 28, 28]
  captum_feature_ablation_mean    the same with each image's mean as the baseline
  captum_feature_ablation_blurred the same with the image blurred as the baseline (torchvision's
                                  gaussian_blur, kernel 9, sigma 2.5)
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
  captum_lime                     Lime with its defaults (SkLearnLasso(alpha=0.01), the cosine
                                  kernel of width 1), 4x4 grid, 60 samples [4, 1, 28, 28]
  lime_samples                    the samples Captum drew, each image its own, [4, 60, 16]
  captum_lime_euclidean           Lime with the Euclidean kernel of width 20, the 7x7 grid and
                                  30 samples (fewer than the 49 features) [4, 1, 28, 28]
  lime_euclidean_samples          its samples [4, 30, 49]

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
  r18_captum_feature_ablation_blurred  FeatureAblation, the image blurred (kernel 31, sigma 8)
  r18_slic_segments               the number of SLIC superpixels of the first image (scikit-image's
                                  slic of its bytes, n_segments 50, compactness 10, start_label 0)
  r18_captum_feature_ablation_slic  FeatureAblation over those superpixels, [1, F]
  r18_captum_lime_slic            Lime over them, 60 samples (r18_lime_slic_samples [1, 60, F])
  r18_captum_lime                 Lime with its defaults, 40 samples (r18_lime_samples [1, 40, 25])

Captum draws from torch's global generator; the draws are recorded as Captum makes them (its
permutation and coalition generators wrapped) and stored, so the Rust side is given Captum's
own. Captum fits KernelShap's linear model with scikit-learn in float32; the float64 fit of the
same data is printed beside it (``float32 fit``), the part of any difference the peer owns.
Lime's Lasso is scikit-learn's coordinate descent at its default tolerance, in float32; how far
that lies from the exact minimiser (a float64 fit to 1e-12) is printed too.

    tools/reference/.venv/bin/python tools/reference/perturbation.py
"""

import os
import sys

import numpy as np
import torch
from torchvision.transforms.functional import gaussian_blur

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import logits_fixture_start, write_fixture  # noqa: E402
from resnet import seeded_resnet18  # noqa: E402
from zoo import reference_images  # noqa: E402

from captum._utils.models.linear_model import SkLearnLasso  # noqa: E402
from captum.attr import FeatureAblation, KernelShap, Lime, ShapleyValueSampling  # noqa: E402
from captum.attr._core.lime import default_perturb_func, get_exp_kernel_similarity_function  # noqa: E402

IMAGES = 4
SHAPLEY_SEED, KERNEL_SEED, RISE_SEED, LIME_SEED = 5, 6, 7, 8


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


def lime(model, x, target, mask, samples: int, distance: str = "cosine",
         width: float = 1.0) -> tuple:
    """Captum's Lime and each image's samples, and how far its float32 Lasso, stopped at
    scikit-learn's default tolerance, lies from the exact float64 minimiser of the same data."""
    torch.manual_seed(LIME_SEED)
    drawn = []

    def recorded(original, **kwargs):
        sample = default_perturb_func(original, **kwargs)
        drawn.append(sample.view(-1).clone())
        return sample

    similarity = get_exp_kernel_similarity_function(distance, width)
    method = Lime(model, interpretable_model=SkLearnLasso(alpha=0.01),
                  similarity_func=similarity, perturb_func=recorded)
    attr = method.attribute(x.clone(), target=target, feature_mask=mask, n_samples=samples)
    drawn = torch.stack(drawn).view(x.shape[0], samples, -1).float()
    from sklearn.linear_model import Lasso
    masks = mask.expand(x.shape[0], *x.shape[1:]) if mask.shape[0] == 1 else mask
    features = drawn.shape[2]
    worst = 0.0
    for i in range(x.shape[0]):
        c = drawn[i]
        keep = c[:, masks[i].reshape(-1)].view(samples, *x.shape[1:])
        perturbed = x[i:i + 1] * keep
        with torch.no_grad():
            scores = model(perturbed)[:, target[i]].double().numpy()
        weights = np.array([similarity(x[i:i + 1], p[None], None) for p in perturbed])
        exact = Lasso(alpha=0.01, tol=1e-12, max_iter=1_000_000).fit(
            c.double().numpy(), scores, sample_weight=weights)
        first = [int((masks[i].reshape(-1) == f).nonzero()[0]) for f in range(features)]
        ours = attr[i].reshape(-1)[first].double().numpy()
        scale = max(np.abs(exact.coef_).max(), 1e-12)
        worst = max(worst, float(np.abs(ours - exact.coef_).max() / scale))
    print(f"Lime ({samples} samples of {features}, {distance}): Captum's float32 Lasso at the "
          f"default tolerance is {worst:.1e} (relative to the largest coefficient) from the "
          "exact float64 fit")
    return attr.detach(), drawn


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
    blurred = FeatureAblation(model).attribute(
        x.clone(), baselines=gaussian_blur(x, [31, 31], [8.0, 8.0]), target=target,
        feature_mask=mask)
    out["r18_captum_feature_ablation_blurred"] = per_feature(blurred.detach(), mask)
    attr, orders = shapley(model, x, target, mask, 2)
    out["r18_captum_shapley_value_sampling"] = per_feature(attr, mask)
    out["r18_shapley_orders"] = orders
    attr, coalitions = kernel_shap(model, x, target, mask, 40)
    out["r18_captum_kernel_shap"] = per_feature(attr, mask)
    grids, shifts = rise_draws(60, 7, (224, 224), 0.5)
    out["r18_torch_rise"] = rise(model, x, target, grids, shifts, 0.5)[:, 0, ::8, ::8]
    out["r18_rise_grids"], out["r18_rise_shifts"] = grids, shifts
    out["r18_kernel_shap_coalitions"] = coalitions
    attr, drawn = lime(model, x, target, mask, 40)
    out["r18_captum_lime"] = per_feature(attr, mask)
    out["r18_lime_samples"] = drawn
    from skimage.segmentation import slic
    pixels = np.round(reference_images()[1][0].transpose(1, 2, 0) * 255).astype(np.uint8)
    segments = torch.from_numpy(
        slic(pixels, n_segments=50, compactness=10, start_label=0)).long()[None, None]
    out["r18_slic_segments"] = torch.tensor([int(segments.max()) + 1])
    ablation = FeatureAblation(model).attribute(x.clone(), target=target, feature_mask=segments)
    out["r18_captum_feature_ablation_slic"] = per_feature(ablation.detach(), segments)
    attr, drawn = lime(model, x, target, segments, 60)
    out["r18_captum_lime_slic"] = per_feature(attr, segments)
    out["r18_lime_slic_samples"] = drawn
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
    out["captum_feature_ablation_blurred"] = ablation.attribute(
        x.clone(), baselines=gaussian_blur(x, [9, 9], [2.5, 2.5]), target=target,
        feature_mask=grid7)
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
    out["captum_lime"], out["lime_samples"] = lime(model, x, target, grid4, 60)
    out["captum_lime_euclidean"], out["lime_euclidean_samples"] = lime(
        model, x, target, grid7, 30, "euclidean", 20.0)
    out.update(resnet18_fixtures())
    write_fixture(args.out_dir, "perturbation.safetensors", out,
                  "Captum FeatureAblation, ShapleyValueSampling, KernelShap and Lime with their "
                  "draws, "
                  "logit score (MNIST) and logits (ResNet-18)", "captum", "scikit-learn")


if __name__ == "__main__":
    main()
