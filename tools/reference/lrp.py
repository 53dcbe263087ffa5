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
  target              the predicted classes, int64 [29]

    tools/reference/.venv/bin/python tools/reference/lrp.py
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import normalize  # noqa: E402
from reference import logits_fixture_start, write_fixture  # noqa: E402

from zennit.attribution import Gradient  # noqa: E402
from zennit.composites import (EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat,  # noqa: E402
                               EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat, LayerMapComposite,
                               layer_map_base)
from zennit.rules import Epsilon, WSquare  # noqa: E402
from zennit.types import Convolution  # noqa: E402

BLACK = float(normalize(torch.zeros(1))[0])
WHITE = float(normalize(torch.ones(1))[0])


def relevance(model, composite, x, target):
    """zennit's relevance at the input, starting from the target's logit."""
    one_hot = torch.nn.functional.one_hot(target, 10).float()
    with Gradient(model=model, composite=composite) as attributor:
        _, attribution = attributor(x.clone(), lambda output: output * one_hot)
    return attribution.detach()


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
        out[key] = relevance(model, composite, x, target).numpy()
    with torch.no_grad():
        logits = model(x).gather(1, target[:, None])[:, 0].numpy()
    write_fixture(args.out_dir, "lrp.safetensors", out,
                  "zennit composites on the MNIST net, relevance from the logit", "zennit")
    for k in sorted(out):
        if k != "target":
            kept = out[k].reshape(len(x), -1).sum(1) / logits
            print(f"  {k:28s} relevance kept of the logit {kept.min():.3f}..{kept.max():.3f}")

if __name__ == "__main__":
    main()
