"""Parity fixtures for the layer attributions: Captum's LayerActivation,
LayerGradientXActivation, LayerIntegratedGradients and LayerConductance at the MNIST net's conv2 (the layer the
CAMs explain), on the 29 reference images, and at the trained Fashion ResNet's layer3, on its
ten bundled images, explaining the predicted class's logit.

Writes tests/fixtures/layer.safetensors:

  captum_layer_activation             LayerActivation, [29, 10, 8, 8]
  captum_layer_gradient_x_activation  LayerGradientXActivation
  captum_layer_gradient               LayerGradientXActivation(multiply_by_inputs=False)
  captum_layer_ig_trapezoid_black     LayerIntegratedGradients, black baseline image, 20 trapezoid
                                      steps, and its convergence delta (_delta, [29])
  captum_layer_ig_gausslegendre_black the same with 50 Gauss-Legendre steps
  captum_layer_conductance_trapezoid_black, captum_layer_conductance_gausslegendre_black
                                      LayerConductance, black baseline image, 20 trapezoid and
                                      50 Gauss-Legendre steps, with convergence deltas
  target                              the predicted classes used, int64 [29]
  fashion_captum_layer_activation, fashion_captum_layer_gradient_x_activation,
  fashion_captum_layer_ig_trapezoid_black, fashion_captum_layer_conductance_trapezoid_black
  (and their _delta)
                                      the same at the Fashion ResNet's layer3 [10, 64, 7, 7]
                                      (its baseline the black image, normalised)
  fashion_target                      its predicted classes, int64 [10]
  r18_captum_layer_activation, r18_captum_layer_gradient_x_activation,
  r18_captum_layer_ig_trapezoid_zero (_delta), r18_captum_layer_conductance_trapezoid_zero
  (_delta), r18_float64_layer_conductance_trapezoid_zero (the same in float64, stored as float32)
                                      the same at ResNet-18's layer3, every 4th channel
                                      [3, 64, 14, 14] (seeded weights, resnet.py's classes), from
                                      the zero image, 5 trapezoid steps

    tools/reference/.venv/bin/python tools/reference/layer.py
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import normalize  # noqa: E402
from reference import logits_fixture_start, write_fixture  # noqa: E402

from captum.attr import (LayerActivation, LayerConductance,  # noqa: E402
                         LayerGradientXActivation, LayerIntegratedGradients)
from resnet import seeded_resnet18  # noqa: E402
from zoo import FASHION_MEAN, FASHION_STD, trained_fashion_resnet  # noqa: E402

BLACK = float(normalize(torch.zeros(1))[0])


def fashion_fixtures() -> dict:
    model, x = trained_fashion_resnet()
    with torch.no_grad():
        target = model(x).argmax(1)
    black = float(((torch.zeros(1) - FASHION_MEAN) / FASHION_STD).float()[0])
    layer = model.layer3
    out = {"fashion_target": target.numpy().astype(np.int64)}
    out["fashion_captum_layer_activation"] = LayerActivation(model, layer).attribute(x.clone())
    out["fashion_captum_layer_gradient_x_activation"] = LayerGradientXActivation(
        model, layer).attribute(x.clone(), target=target)
    attr, delta = LayerIntegratedGradients(model, layer).attribute(
        x.clone(), baselines=black, target=target, n_steps=20, method="riemann_trapezoid",
        return_convergence_delta=True)
    out["fashion_captum_layer_ig_trapezoid_black"] = attr
    out["fashion_captum_layer_ig_trapezoid_black_delta"] = delta
    attr, delta = LayerConductance(model, layer).attribute(
        x.clone(), baselines=black, target=target, n_steps=20, method="riemann_trapezoid",
        return_convergence_delta=True)
    out["fashion_captum_layer_conductance_trapezoid_black"] = attr
    out["fashion_captum_layer_conductance_trapezoid_black_delta"] = delta
    return out


def resnet18_fixtures() -> dict:
    """Activation, gradient x activation, Integrated Gradients and conductance at ResNet-18's layer3 (seeded weights, the three committed 224x224 images,
    resnet.py's classes; layer4 is followed by a linear head, where conductance is the gradient
    times the activation's change), from the zero image, with 5 trapezoid steps (the software GPU
    the tests run on computes each step at 224x224); every 4th channel is kept."""
    model, x, target = seeded_resnet18()
    layer = model.layer3
    out = {"r18_captum_layer_activation": LayerActivation(model, layer).attribute(x.clone())}
    out["r18_captum_layer_gradient_x_activation"] = LayerGradientXActivation(
        model, layer).attribute(x.clone(), target=target)
    # LayerConductance's float32 map of the first image lies 6.8e-4 of its maximum from
    # float64's (float64.py): the tests hold it to a tolerance set by that rounding.
    for key, method in (("r18_captum_layer_ig_trapezoid_zero", LayerIntegratedGradients),
                        ("r18_captum_layer_conductance_trapezoid_zero", LayerConductance)):
        attr, delta = method(model, layer).attribute(
            x.clone(), baselines=0.0, target=target, n_steps=5, method="riemann_trapezoid",
            return_convergence_delta=True)
        out[key], out[f"{key}_delta"] = attr, delta
    # The same conductance in float64: how far each float32 map is from the exact one.
    attr = LayerConductance(model.double(), model.layer3).attribute(
        x.clone().double(), baselines=0.0, target=target, n_steps=5, method="riemann_trapezoid")
    out["r18_float64_layer_conductance_trapezoid_zero"] = attr
    return {k: v if k.endswith("_delta") else v[:, ::4] for k, v in out.items()}


def main() -> None:
    args, model, x = logits_fixture_start(__doc__)
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    layer = model.net.conv2
    out = {"target": target.numpy().astype(np.int64)}
    out["captum_layer_activation"] = LayerActivation(model, layer).attribute(x.clone())
    out["captum_layer_gradient_x_activation"] = LayerGradientXActivation(model, layer).attribute(
        x.clone(), target=target)
    out["captum_layer_gradient"] = LayerGradientXActivation(
        model, layer, multiply_by_inputs=False).attribute(x.clone(), target=target)
    lig = LayerIntegratedGradients(model, layer)
    for key, steps, method in (("captum_layer_ig_trapezoid_black", 20, "riemann_trapezoid"),
                               ("captum_layer_ig_gausslegendre_black", 50, "gausslegendre")):
        attr, delta = lig.attribute(x.clone(), baselines=BLACK, target=target, n_steps=steps,
                                    method=method, return_convergence_delta=True)
        out[key], out[f"{key}_delta"] = attr, delta
    conductance = LayerConductance(model, layer)
    for key, steps, method in (("captum_layer_conductance_trapezoid_black", 20, "riemann_trapezoid"),
                               ("captum_layer_conductance_gausslegendre_black", 50, "gausslegendre")):
        attr, delta = conductance.attribute(x.clone(), baselines=BLACK, target=target,
                                            n_steps=steps, method=method,
                                            return_convergence_delta=True)
        out[key], out[f"{key}_delta"] = attr, delta
    out.update(fashion_fixtures())
    out.update(resnet18_fixtures())
    write_fixture(args.out_dir, "layer.safetensors", out,
                  "Captum layer attributions at conv2, logit score", "captum")


if __name__ == "__main__":
    main()
