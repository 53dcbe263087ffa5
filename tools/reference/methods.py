"""Parity fixtures for the CAM family and the gradient pixel methods.

Writes tests/fixtures/methods.safetensors for the same 29 images as reference.py:

  pgc_<method>             pytorch-grad-cam GradCAM, GradCAMPlusPlus, XGradCAM, HiResCAM and
                           LayerCAM on conv2, [M,28,28]. The model returns logits (the paper's
                           score): the log-probability's gradient of a confident prediction is at
                           float32's rounding floor, which pytorch-grad-cam's min-max rescaling
                           would magnify.
  captum_saliency          Captum Saliency (abs=True) on the log-softmax model, [M,1,28,28]
  captum_saliency_signed   Saliency with abs=False
  captum_input_x_gradient  Captum InputXGradient
  target                   the predicted classes used, int64 [M]

    tools/reference/.venv/bin/python tools/reference/methods.py
"""

import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
from reference import build_images, write_safetensors  # noqa: E402

from captum.attr import InputXGradient, Saliency  # noqa: E402
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

CAMS = {"gradcam": GradCAM, "gradcam_plusplus": GradCAMPlusPlus, "xgradcam": XGradCAM,
        "hirescam": HiResCAM, "layercam": LayerCAM}


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)

    net = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net(x).argmax(dim=1)
    out = {"target": target.numpy().astype(np.int64)}

    logits_model = LogitsNet(net).eval()
    targets = [ClassifierOutputTarget(int(t)) for t in target]
    for name, cls in CAMS.items():
        cam = cls(model=logits_model, target_layers=[logits_model.net.conv2])
        out[f"pgc_{name}"] = np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)

    out["captum_saliency"] = Saliency(net).attribute(x.clone(), target=target, abs=True).detach().numpy()
    out["captum_saliency_signed"] = Saliency(net).attribute(x.clone(), target=target, abs=False).detach().numpy()
    out["captum_input_x_gradient"] = InputXGradient(net).attribute(x.clone(), target=target).detach().numpy()

    from importlib.metadata import version
    meta = {"description": "CAM family (pytorch-grad-cam, logit score) and gradient pixel methods (Captum)",
            "version_torch": torch.__version__, "version_captum": version("captum"),
            "version_grad_cam": version("grad-cam")}
    path = os.path.join(digits.REPO_ROOT, "tests", "fixtures", "methods.safetensors")
    write_safetensors(path, {k: np.ascontiguousarray(v) for k, v in out.items()}, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for k in sorted(out):
        print(f"  {k:26s} {list(out[k].shape)} max|.| {np.abs(out[k]).max():.4g}")


if __name__ == "__main__":
    main()
