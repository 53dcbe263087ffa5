"""Parity fixtures for DeepLIFT: Captum's DeepLift (the Rescale rule) and DeepLiftShap on the
MNIST net (its 29 reference images), the trained Fashion ResNet (its ten bundled images) and
ResNet-18 at 224x224 (seeded weights as resnet.py, the three committed images), explaining the
predicted class's logit (ResNet-18: resnet.py's classes).

Captum's DeepLift applies its rules to modules: the MNIST net's max-poolings are written there
as functions, so they run here as ``nn.MaxPool2d`` modules (the same network, the same weights),
and the ResNets' blocks get a second ReLU module (``zoo.distinct_block_relus``) because Captum
refuses a module used twice. Captum 0.9 has two DeepLIFT bugs that its maintainers fixed after
the release, and the script works around both, so that the fixtures hold DeepLIFT's rules:

* when two supported modules follow each other directly (the MNIST net's max-pool -> ReLU,
  ResNet-18's stem ReLU -> max-pool), the first one's rule reads its output gradient before the
  second one's rule has changed it (Captum issue #1104, fixed by pull request #1843): a copy
  between the two (``Copy``) gives each its own output tensor, which mends it;
* where an input of a max-pool equals its reference, the rule falls back to the ordinary
  gradient of the batch's first example for every example (issue #1276, fixed by #1847):
  ``maxpool2d_own_fallback`` puts each example's own back;
* where windows overlap (ResNet-18's 3x3 stride-2 max-pool) and two share a maximum, the rule's
  ``max_unpool2d`` keeps one window's share and drops the other's, so the convergence delta does
  not vanish: ``summing_unpool2d``, the max-pool's own backward, adds them.

Writes tests/fixtures/deeplift.safetensors:

  deep_lift_zero, deep_lift_black      DeepLift against the zero and the black image [29, 1, 28, 28],
                                       each with its convergence delta (_delta, [29])
  deep_lift_black_multipliers          the same, multiply_by_inputs=False
  deep_lift_shap                       DeepLiftShap against shap_baselines [4, 1, 28, 28] (uniform
                                       noise images, normalised), with the mean of its deltas
  layer_deep_lift_black, layer_deep_lift_shap
                                       LayerDeepLift (black) and LayerDeepLiftShap (shap_baselines)
                                       at conv2 [29, 10, 8, 8], with their deltas
  target                               the predicted classes, int64 [29]
  fashion_deep_lift_black, fashion_deep_lift_shap (fashion_shap_baselines [3, 1, 28, 28]),
  fashion_target                       the same on the Fashion ResNet [10, 1, 28, 28]
  fashion_layer_deep_lift_black        LayerDeepLift at its layer3 [10, 64, 7, 7], with its delta
  r18_deep_lift_zero, r18_deep_lift_black (_delta)
                                       ResNet-18 against the zero image and the black image
                                       (normalised), every 4th row and column [3, 3, 56, 56]
  r18_deep_lift_shap (_delta)          ResNet-18's DeepLiftShap against the constant images -1, 0
                                       and 1, sampled as above
  r18_layer_deep_lift_zero (_delta)    ResNet-18's LayerDeepLift at layer4 against the zero image
                                       [3, 512, 7, 7]

It prints how far torch's own float32 maps lie from float64 on the ResNets (DeepLIFT's secant
slopes are ill-conditioned where an input nearly equals its reference).

    tools/reference/.venv/bin/python tools/reference/deeplift.py
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import LogitsNet, Net, normalize  # noqa: E402
from reference import logits_fixture_start, write_fixture  # noqa: E402
from resnet import STEP, seeded_resnet18  # noqa: E402

from captum.attr import DeepLift, DeepLiftShap, LayerDeepLift, LayerDeepLiftShap  # noqa: E402
from captum.attr._core import deep_lift  # noqa: E402
from zoo import (FASHION_MEAN, FASHION_STD, distinct_block_relus, imagenet_normalize,  # noqa: E402
                 no_inplace_relus, trained_fashion_resnet)

BLACK = float(normalize(torch.zeros(1))[0])


class Copy(nn.Module):
    """``x.clone()``: a module Captum does not hook, between two that it does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


def summing_unpool2d(values, indices, kernel_size, stride, padding, output_size):
    """``F.max_unpool2d`` that adds the values of windows sharing a maximum (max-pool's backward)."""
    n, c, h, w = output_size
    out = torch.zeros(n, c, h * w, dtype=values.dtype)
    out.scatter_add_(2, indices.flatten(2), values.flatten(2))
    return out.view(n, c, h, w)


def maxpool2d_own_fallback(module, inputs, outputs, grad_input, grad_output, eps=1e-10):
    """Captum 0.9's max-pool rule with a summing unpool, and where the input equals its reference
    taking each example's own ordinary gradient (``grad_input``) instead of the first example's
    (``grad_input[0]``)."""
    result = deep_lift.maxpool(module, F.max_pool2d, summing_unpool2d, inputs, outputs,
                               grad_input, grad_output, eps=eps)
    x, x_ref = inputs.chunk(2)
    delta = torch.cat(2 * [x - x_ref])
    return torch.where(delta.abs() < eps, grad_input, result)


deep_lift.SUPPORTED_NON_LINEAR[nn.MaxPool2d] = maxpool2d_own_fallback


class PooledNet(Net):
    """The MNIST net with its max-poolings as modules, each followed by a copy, for Captum's
    DeepLift (the same parameters: ``load_state_dict`` takes the net's)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool1 = nn.MaxPool2d(2)
        self.pool2 = nn.MaxPool2d(2)
        self.copy1 = Copy()
        self.copy2 = Copy()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.copy1(self.pool1(self.conv1(x))))
        x = self.relu2(self.copy2(self.pool2(self.conv2(x)))).flatten(1)
        return self.fc2(self.relu3(self.fc1(x)))


def deeplift_ready(net: nn.Module) -> nn.Module:
    """``net`` (the MNIST net, or a ResNet in torchvision's layout, in eval mode) as Captum's
    DeepLift needs it to compute DeepLIFT: the MNIST net's poolings as modules, a ResNet's
    blocks with a ReLU module each per use and a copy before its stem's max-pool. The MNIST net
    comes back as a new module with the same parameters; a ResNet is changed in place."""
    if isinstance(net, Net):
        pooled = PooledNet()
        pooled.load_state_dict(net.state_dict())
        return pooled.eval()
    net = distinct_block_relus(no_inplace_relus(net))
    if isinstance(getattr(net, "maxpool", None), nn.MaxPool2d):  # a ResNet stem
        net.maxpool = nn.Sequential(Copy(), net.maxpool)
    return net


def per_image(method, x, target, baselines, **kwargs):
    """``method.attribute`` one image at a time: the attributions and the convergence deltas
    (DeepLiftShap's, one per reference, averaged per image)."""
    maps, deltas = [], []
    for i in range(len(x)):
        b = baselines if not torch.is_tensor(baselines) or len(baselines) != len(x) \
            else baselines[i:i + 1]
        attr, delta = method.attribute(x[i:i + 1].clone(), baselines=b, target=int(target[i]),
                                       return_convergence_delta=True, **kwargs)
        maps.append(attr)
        deltas.append(delta.mean().reshape(1))
    return torch.cat(maps), torch.cat(deltas)


def float32_share(what: str, float32: torch.Tensor, float64: torch.Tensor) -> None:
    """Prints how far torch's float32 map lies from float64's, per image, relative to its maximum."""
    errors = [float((a.double() - b).abs().max() / b.abs().max()) for a, b in zip(float32, float64)]
    print(f"  {what}: float32 vs float64 " + " ".join(f"{e:.1e}" for e in errors))


def uniform_images(count: int, seed: int, mean: float, std: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(count, 1, 28, 28, generator=g) - mean) / std).float()


def mnist_fixtures(model, x) -> dict:
    pooled = LogitsNet(deeplift_ready(model.net))
    with torch.no_grad():
        target = pooled(x).argmax(1)
        assert torch.equal(target, model(x).argmax(1))
    out = {"target": target}
    deep_lift = DeepLift(pooled)
    for key, baseline in (("deep_lift_zero", 0.0), ("deep_lift_black", BLACK)):
        out[key], out[f"{key}_delta"] = per_image(deep_lift, x, target, baseline)
    out["deep_lift_black_multipliers"], _ = per_image(
        DeepLift(pooled, multiply_by_inputs=False), x, target, BLACK)
    baselines = uniform_images(4, 32, 0.1307, 0.3081)
    out["shap_baselines"] = baselines
    out["deep_lift_shap"], out["deep_lift_shap_delta"] = per_image(
        DeepLiftShap(pooled), x, target, baselines)
    layer = pooled.net.conv2
    out["layer_deep_lift_black"], out["layer_deep_lift_black_delta"] = per_image(
        LayerDeepLift(pooled, layer), x, target, BLACK)
    out["layer_deep_lift_shap"], out["layer_deep_lift_shap_delta"] = per_image(
        LayerDeepLiftShap(pooled, layer), x, target, baselines)
    return out


def fashion_fixtures() -> dict:
    model, x = trained_fashion_resnet()
    model = deeplift_ready(model)
    with torch.no_grad():
        target = model(x).argmax(1)
    black = float(((torch.zeros(1) - FASHION_MEAN) / FASHION_STD).float()[0])
    out = {"fashion_target": target}
    out["fashion_deep_lift_black"], out["fashion_deep_lift_black_delta"] = per_image(
        DeepLift(model), x, target, black)
    out["fashion_layer_deep_lift_black"], out["fashion_layer_deep_lift_black_delta"] = per_image(
        LayerDeepLift(model, model.layer3), x, target, black)
    float64 = per_image(DeepLift(model.double()), x.double(), target, black)[0]
    float32_share("Fashion ResNet black", out["fashion_deep_lift_black"], float64)
    model.float()
    baselines = uniform_images(3, 33, FASHION_MEAN, FASHION_STD)
    out["fashion_shap_baselines"] = baselines
    out["fashion_deep_lift_shap"], out["fashion_deep_lift_shap_delta"] = per_image(
        DeepLiftShap(model), x, target, baselines)
    return out


def resnet18_fixtures() -> dict:
    model, x, target = seeded_resnet18()
    model = deeplift_ready(model)
    black = torch.from_numpy(imagenet_normalize(np.zeros((1, 3, 224, 224), np.float32)))
    out = {}
    for key, baseline in (("r18_deep_lift_zero", 0.0), ("r18_deep_lift_black", black)):
        attr, out[f"{key}_delta"] = per_image(DeepLift(model), x, target, baseline)
        out[key] = attr[..., ::STEP, ::STEP]
    # DeepLiftShap against the constant images -1, 0 and 1 (the library's default references).
    constants = torch.stack([torch.full((3, 224, 224), v) for v in (-1.0, 0.0, 1.0)])
    maps, deltas = [], []
    for i in range(len(x)):
        attr, delta = DeepLiftShap(model).attribute(
            x[i:i + 1].clone(), baselines=constants, target=int(target[i]),
            return_convergence_delta=True)
        maps.append(attr[..., ::STEP, ::STEP])
        deltas.append(delta.mean().reshape(1))
    out["r18_deep_lift_shap"], out["r18_deep_lift_shap_delta"] = torch.cat(maps), torch.cat(deltas)
    out["r18_layer_deep_lift_zero"], out["r18_layer_deep_lift_zero_delta"] = per_image(
        LayerDeepLift(model, model.layer4), x, target, 0.0)
    float64 = per_image(DeepLift(model.double()), x.double(), target, black.double())[0]
    float32_share("ResNet-18 black", out["r18_deep_lift_black"], float64[..., ::STEP, ::STEP])
    float64 = per_image(LayerDeepLift(model, model.layer4), x.double(), target, 0.0)[0]
    float32_share("ResNet-18 layer4 zero", out["r18_layer_deep_lift_zero"], float64)
    model.float()
    return out


def main() -> None:
    args, model, x = logits_fixture_start(__doc__)
    # Captum's max-pool rule unpools; torch flags max_unpool2d as nondeterministic (its writes
    # could collide on a GPU), which on one CPU thread it is not.
    torch.use_deterministic_algorithms(True, warn_only=True)
    out = mnist_fixtures(model, x)
    out.update(fashion_fixtures())
    out.update(resnet18_fixtures())
    write_fixture(args.out_dir, "deeplift.safetensors", out,
                  "Captum DeepLift and DeepLiftShap, logit score", "captum")


if __name__ == "__main__":
    main()
