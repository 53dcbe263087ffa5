"""Parity fixtures for ShapleyCAM: tests/fixtures/shapley_cam.safetensors.

pytorch-grad-cam 1.5.7's ``ShapleyCAM`` weighs each channel by the mean of ``grads - 0.5 * hvp``,
``hvp`` the Hessian of the score at the layer times the activations, from a second
``torch.autograd.grad`` through the gradient's own graph. Written here:

  mnist_target               the MNIST net's predicted classes on reference.py's 29 images, [29]
  mnist_pgc_shapleycam_rest  ShapleyCAM on conv2 of the logits model, ClassifierOutputReST
                             (the class's logit minus its cross-entropy), [29, 28, 28]
  mnist_pgc_gradcam_rest     GradCAM, same layer and target: how far the Hessian moves the map
  r18_target                 ResNet-18's classes (resnet.py's: the seeded weights, the three
                             committed 224x224 images), [3]
  r18_pgc_shapleycam_rest    ShapleyCAM on layer4, ClassifierOutputReST, every 4th row and column
                             of the 224x224 map, [3, 56, 56]
  r18_pgc_gradcam_rest       GradCAM, same layer and target
  r18_pgc_shapleycam_logit   ShapleyCAM with ClassifierOutputTarget: the head after layer4 is
                             affine, so no curvature (pytorch-grad-cam's hvp is None) and the map
                             is Grad-CAM's

    tools/reference/.venv/bin/python tools/reference/shapley_cam.py
"""

import argparse
import copy
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
from reference import build_images, write_safetensors  # noqa: E402
from resnet import STEP, seeded_resnet18  # noqa: E402

from pytorch_grad_cam import GradCAM, ShapleyCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputReST, ClassifierOutputTarget)


def cam_map(cls, model, layer, x, targets) -> np.ndarray:
    with cls(model=model, target_layers=[layer]) as cam:
        return np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    out = {}

    net = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net(x).argmax(dim=1)
    out["mnist_target"] = target.numpy().astype(np.int64)
    logits_model = LogitsNet(net).eval()
    rest = [ClassifierOutputReST(int(t)) for t in target]
    for name, cls in (("shapleycam", ShapleyCAM), ("gradcam", GradCAM)):
        out[f"mnist_pgc_{name}_rest"] = cam_map(cls, logits_model, logits_model.net.conv2, x, rest)

    model, x, target = seeded_resnet18()
    out["r18_target"] = target.numpy().astype(np.int64)
    sample = lambda m: np.ascontiguousarray(m[..., ::STEP, ::STEP])  # noqa: E731
    rest = [ClassifierOutputReST(int(t)) for t in target]
    logit = [ClassifierOutputTarget(int(t)) for t in target]
    for name, cls, targets in (("shapleycam_rest", ShapleyCAM, rest), ("gradcam_rest", GradCAM, rest),
                               ("shapleycam_logit", ShapleyCAM, logit)):
        fresh = copy.deepcopy(model)
        out[f"r18_pgc_{name}"] = sample(cam_map(cls, fresh, fresh.layer4, x, targets))

    from importlib.metadata import version
    meta = {"description": "ShapleyCAM (pytorch-grad-cam) on the MNIST net and ResNet-18",
            "version_torch": torch.__version__, "version_grad_cam": version("grad-cam"),
            "sample_step": STEP, "script": "tools/reference/shapley_cam.py"}
    path = os.path.join(args.out_dir, "shapley_cam.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for k in sorted(out):
        print(f"  {k:26s} {list(out[k].shape)} max|.| {np.abs(out[k]).max():.4g}")
    for a, b in (("mnist_pgc_shapleycam_rest", "mnist_pgc_gradcam_rest"),
                 ("r18_pgc_shapleycam_rest", "r18_pgc_gradcam_rest")):
        d = np.abs(out[a] - out[b]).reshape(len(out[a]), -1).max(axis=1)
        print(f"  {a} vs {b}: per-image max difference {np.array2string(d, precision=3)}")


if __name__ == "__main__":
    main()
