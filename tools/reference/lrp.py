"""Parity fixtures for layer-wise relevance propagation: zennit's composites on the MNIST net's
29 reference images, explaining the predicted class's logit, the relevance starting at the logit
(zennit's ``attr_output = output * one_hot``).

The network is the committed one (tools/reference/model.py): its ReLUs are modules, which
zennit's composites give the Pass rule; its max-poolings are functions, which keep their gradient
(zennit maps no rule to max pooling either way); conv1 is the first layer.

Writes tests/fixtures/lrp.safetensors:

  epsilon_plus, epsilon_plus_flat, epsilon_alpha2_beta1, epsilon_alpha2_beta1_flat
                      zennit's composites of those names, [29, 1, 28, 28]
  epsilon_gamma_box   EpsilonGammaBox with the input's bounds: the black and the white digit,
                      normalised
  wsquare_epsilon     the w^2 rule on the convolutions, epsilon on the fully connected layers
                      (zennit's LayerMapComposite)
  captum_lrp          Captum's LRP with its default rules (epsilon = 1e-9 on the convolutions
                      and the fully connected layers, the ReLUs passing the relevance on), which
                      starts at the target's logit too
  captum_lrp_delta    its convergence deltas (input relevance summed minus the logit), [29]
  target              the predicted classes, int64 [29]

and on the trained Fashion ResNet's ten images (``fashion_`` keys, the predicted classes) and on
ResNet-18 at 224x224 (seeded weights, the three committed images and resnet.py's classes;
``r18_`` keys, every 4th row and column: the second image under ``r18_<composite>``, the first
and third, whose float32 maps lie up to 7.6e-3 from float64's, under ``r18_spread_<composite>``),
with zennit's ResNet canonizer (its residual sums under
the Norm rule, its average pooling too, the batch norms merged into the convolutions):

  <prefix>epsilon_plus, <prefix>epsilon_plus_flat, <prefix>epsilon_alpha2_beta1,
  <prefix>epsilon_alpha2_beta1_flat    the composites
  <prefix>epsilon_gamma_box            EpsilonGammaBox, the black and white image as bounds (on
                                       ResNet-18 normalised per channel)
  <prefix><composite>_sum              each map's total relevance, [N] (the conservation)
  <prefix>target                       the explained classes, int64 [N]

zennit 0.5.1's batch-norm merge leaves each merged batch norm dividing by sqrt(1 + eps) (see
ExactMergeBatchNorm): with it, its maps of a network with batch norms lie up to 5e-4 of their
largest magnitude from that network's LRP; the script merges exactly instead. It prints how far
each float32 map lies from float64's.

    tools/reference/.venv/bin/python tools/reference/lrp.py
"""

import copy
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import normalize  # noqa: E402
from reference import logits_fixture_start, write_fixture  # noqa: E402
from resnet import STEP, seeded_resnet18  # noqa: E402
from zoo import (FASHION_MEAN, FASHION_STD, imagenet_normalize,  # noqa: E402
                 trained_fashion_resnet)

from captum.attr import LRP  # noqa: E402
from zennit.attribution import Gradient  # noqa: E402
from zennit.canonizers import CompositeCanonizer, SequentialMergeBatchNorm  # noqa: E402
from zennit.torchvision import (ResNetBasicBlockCanonizer,  # noqa: E402
                                ResNetBottleneckCanonizer)
from zennit.composites import (EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat,  # noqa: E402
                               EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat, LayerMapComposite,
                               layer_map_base)
from zennit.rules import Epsilon, WSquare  # noqa: E402
from zennit.types import Convolution  # noqa: E402

BLACK = float(normalize(torch.zeros(1))[0])
WHITE = float(normalize(torch.ones(1))[0])




class ExactMergeBatchNorm(SequentialMergeBatchNorm):
    """zennit 0.5.1's merge leaves each batch norm computing ``x / sqrt(1 + eps)`` instead of the
    identity (it resets the statistics, weight and bias but keeps ``eps``), so its canonised
    network is not the network: every merged batch norm shrinks its output by 5e-6. Here the
    merged batch norm is the identity (``eps`` set to 0 while merged), as the merge intends and
    as a network with its batch norms folded at load computes."""

    def register(self, linears, batch_norm):
        super().register(linears, batch_norm)
        self.eps, batch_norm.eps = batch_norm.eps, 0.0

    def remove(self):
        self.batch_norm.eps = self.eps
        super().remove()


def resnet_canonizer():
    """zennit's ResNetCanonizer with the exact batch-norm merge."""
    return CompositeCanonizer((ExactMergeBatchNorm(), ResNetBottleneckCanonizer(),
                               ResNetBasicBlockCanonizer()))


def stem_batch_norm_first(model):
    """The zoo's torch twin registers the stem's max pool between ``conv1`` and ``bn1``;
    zennit's merge finds a batch norm only right after its convolution in registration order
    (torchvision's own ResNet registers ``conv1, bn1, relu, maxpool``), so ``bn1`` is moved next
    to ``conv1``. The computation is unchanged."""
    modules = model._modules
    order = ["conv1", "bn1"] + [k for k in modules if k not in ("conv1", "bn1")]
    model._modules = type(modules)((k, modules[k]) for k in order)
    return model


def relevance(model, composite, x, target, classes):
    """zennit's relevance at the input, starting from the target's logit."""
    one_hot = torch.nn.functional.one_hot(target, classes).to(x.dtype)
    with Gradient(model=model, composite=composite) as attributor:
        _, attribution = attributor(x.clone(), lambda output: output * one_hot)
    return attribution.detach()


def resnet_composites(low=None, high=None):
    made = {
        "epsilon_plus": lambda: EpsilonPlus(canonizers=[resnet_canonizer()]),
        "epsilon_plus_flat": lambda: EpsilonPlusFlat(canonizers=[resnet_canonizer()]),
        "epsilon_alpha2_beta1": lambda: EpsilonAlpha2Beta1(canonizers=[resnet_canonizer()]),
        "epsilon_alpha2_beta1_flat":
            lambda: EpsilonAlpha2Beta1Flat(canonizers=[resnet_canonizer()]),
    }
    if low is not None:
        made["epsilon_gamma_box"] = lambda: EpsilonGammaBox(
            low=low, high=high, canonizers=[resnet_canonizer()])
    return made


def float_errors(a, b):
    return " ".join(f"{float((p.double() - q).abs().max() / q.abs().max()):.1e}"
                    for p, q in zip(a, b))


def resnet_fixtures(prefix, model, x, target, classes, low=None, high=None, sample=None):
    """Each composite on ``model`` with zennit's ResNet canonizer (the exact merge); prints how far
    float32 lies from float64 and from zennit's own merge."""
    out = {f"{prefix}target": target}
    sample = sample or (lambda m: m)
    for key, made in resnet_composites(low, high).items():
        attribution = relevance(model, made(), x, target, classes)
        out[f"{prefix}{key}"] = sample(attribution)
        out[f"{prefix}{key}_sum"] = attribution.flatten(1).sum(1)
        double = copy.deepcopy(model).double()
        made64 = resnet_composites(None if low is None else low.double(),
                                   None if high is None else high.double())[key]
        float64 = relevance(double, made64(), x.double(), target, classes)
        print(f"  {prefix}{key}: float32 vs float64 {float_errors(attribution, float64)}")
    return out


def fashion_fixtures() -> dict:
    model, x = trained_fashion_resnet()
    model = stem_batch_norm_first(model)
    with torch.no_grad():
        target = model(x).argmax(1)
    black, white = ((torch.tensor([0.0, 1.0]) - FASHION_MEAN) / FASHION_STD).float()
    low, high = torch.full_like(x, float(black)), torch.full_like(x, float(white))
    return resnet_fixtures("fashion_", model, x, target, 10, low, high)


def resnet18_fixtures() -> dict:
    model, x, target = seeded_resnet18()
    # EpsilonGammaBox's bounds: the black and the white image, normalised per channel.
    low = torch.from_numpy(imagenet_normalize(np.zeros(x.shape, np.float32)))
    high = torch.from_numpy(imagenet_normalize(np.ones(x.shape, np.float32)))
    out = resnet_fixtures("r18_", model, x, target, 1000, low, high,
                          sample=lambda m: m[..., ::STEP, ::STEP])
    # The first and third images' float32 maps lie up to 7.6e-3 from float64's: kept apart
    # from the second's, which float32 computes to 1.3e-6.
    for key in list(out):
        if key.endswith(("_sum", "target")):
            continue
        out[key.replace("r18_", "r18_spread_")] = out[key][[0, 2]]
        out[key] = out[key][1:2]
    return out


def main() -> None:
    args, model, x = logits_fixture_start(__doc__)
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    composites = {
        "epsilon_plus": EpsilonPlus(),
        "epsilon_plus_flat": EpsilonPlusFlat(),
        "epsilon_alpha2_beta1": EpsilonAlpha2Beta1(),
        "epsilon_alpha2_beta1_flat": EpsilonAlpha2Beta1Flat(),
        "epsilon_gamma_box": EpsilonGammaBox(low=BLACK, high=WHITE),
        "wsquare_epsilon": LayerMapComposite(layer_map=layer_map_base() + [
            (Convolution, WSquare()), (torch.nn.Linear, Epsilon())]),
    }
    out = {"target": target.numpy().astype(np.int64)}
    for key, composite in composites.items():
        out[key] = relevance(model, composite, x, target, 10).numpy()
    attribution, delta = LRP(copy.deepcopy(model)).attribute(
        x.clone(), target=target, return_convergence_delta=True)
    out["captum_lrp"] = attribution.detach().numpy()
    out["captum_lrp_delta"] = delta.detach().numpy()
    with torch.no_grad():
        logits = model(x).gather(1, target[:, None])[:, 0].numpy()
    mnist = dict(out)
    out.update(fashion_fixtures())
    out.update(resnet18_fixtures())
    write_fixture(args.out_dir, "lrp.safetensors", out,
                  "zennit composites (with its ResNet canonizer on the ResNets) and Captum's LRP, "
                  "relevance from the logit",
                  "zennit", "captum")
    for k in sorted(mnist):
        if k not in ("target", "captum_lrp_delta"):
            kept = mnist[k].reshape(len(x), -1).sum(1) / logits
            print(f"  {k:28s} relevance kept of the logit {kept.min():.3f}..{kept.max():.3f}")

if __name__ == "__main__":
    main()
