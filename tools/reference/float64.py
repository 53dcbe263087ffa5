"""Float64 reference maps: what the methods compute without float32's rounding.

The log-probability's gradient of a confident prediction, ``e_c - softmax(z)``, loses its target
term in float32 (``1 - p_c`` rounds to 0 or one ulp). These maps are computed with the committed
weights in float64 (``model.double()``), where that term survives, for the same 29 images as
``reference.py``, explained for the classes the float32 model predicts.

Writes tests/fixtures/float64.safetensors (maps stored as float32; their float64 rounding error is
far below the 1e-4 the test asks for):

  seed_gradcam_layer     the seed's Algorithm 1 (sum_k relu(alpha_k A_k), log-probability) [M,8,8]
  seed_gradcam           upsampled as the seed preset does (pad 1, bilinear) [M,28,28]
  seed_guided_gradcam    Captum GuidedBackprop times seed_gradcam [M,28,28]
  captum_layer_gradcam   Captum LayerGradCam(conv2), relu_attributions=True [M,1,8,8]
  captum_guided_backprop Captum GuidedBackprop [M,1,28,28]
  captum_guided_gradcam  Captum GuidedGradCam(conv2) [M,1,28,28]
  captum_saliency        Captum Saliency (abs) [M,1,28,28]
  captum_input_x_gradient Captum InputXGradient [M,1,28,28]
  captum_ig              Captum IntegratedGradients (50 Gauss-Legendre steps, zero baseline)
  <cam>_layer            relu(sum_k w_k A_k) at conv2 for Grad-CAM++, XGrad-CAM, HiResCAM and
                         LayerCAM with pytorch-grad-cam's weightings, log-probability score [M,8,8]
  smoothgrad_saliency    the mean |gradient| over the noisy copies of methods.safetensors'
                         smoothgrad_noise, for its 8 images [8,1,28,28]
  target                 the classes explained (the float32 model's predictions), int64 [M]
  confidence             1 - p_target in float64, float64 [M]

    tools/reference/.venv/bin/python tools/reference/float64.py
"""

import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import load_model, normalize  # noqa: E402
from reference import build_images, upsample_padded, write_safetensors  # noqa: E402

from captum.attr import (GuidedBackprop, GuidedGradCam, InputXGradient,  # noqa: E402
                         IntegratedGradients, LayerGradCam, Saliency)
from safetensors.numpy import load_file  # noqa: E402


def conv2_features_and_grads(net, x, target):
    """conv2's output and the log-probability's gradient at it."""
    store = {}

    def hook(_m, _i, out):
        out.retain_grad()
        store["a"] = out

    h = net.conv2.register_forward_hook(hook)
    try:
        net(x).gather(1, target[:, None]).sum().backward()
    finally:
        h.remove()
    net.zero_grad(set_to_none=True)
    return store["a"].detach(), store["a"].grad.detach()


def cam_layers(a, g):
    """pytorch-grad-cam's weightings, combined as relu(sum_k w_k A_k)."""
    spatial = (2, 3)
    g2, g3 = g ** 2, g ** 3
    sum_a = a.sum(dim=spatial, keepdim=True)
    aij = torch.where(g != 0, g2 / (2 * g2 + sum_a * g3 + 1e-6), torch.zeros_like(g))
    weights = {
        "grad_cam_plus_plus": (F.relu(g) * aij).sum(dim=spatial, keepdim=True),
        "xgrad_cam": (g * a / (sum_a + 1e-7)).sum(dim=spatial, keepdim=True),
        "hires_cam": g,
        "layer_cam": F.relu(g),
    }
    return {name: F.relu((w * a).sum(dim=1)) for name, w in weights.items()}


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)

    net32 = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x32 = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net32(x32).argmax(dim=1)

    net = net32.double()
    x = x32.double()
    with torch.no_grad():
        p = torch.exp(net(x)).gather(1, target[:, None])[:, 0]
    t = {"target": target.numpy().astype(np.int64),
         "confidence": (1 - p).numpy().astype(np.float64)}

    a, g = conv2_features_and_grads(net, x.clone(), target)
    seed_layer = F.relu(g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)
    t["seed_gradcam_layer"] = seed_layer
    t["seed_gradcam"] = upsample_padded(seed_layer)
    for name, layer in cam_layers(a, g).items():
        t[f"{name}_layer"] = layer

    guided = GuidedBackprop(net).attribute(x.clone(), target=target)
    t["captum_guided_backprop"] = guided
    t["seed_guided_gradcam"] = guided[:, 0] * t["seed_gradcam"]
    t["captum_layer_gradcam"] = LayerGradCam(net, net.conv2).attribute(
        x.clone(), target=target, relu_attributions=True)
    t["captum_guided_gradcam"] = GuidedGradCam(net, net.conv2).attribute(x.clone(), target=target)
    t["captum_saliency"] = Saliency(net).attribute(x.clone(), target=target, abs=True)
    t["captum_input_x_gradient"] = InputXGradient(net).attribute(x.clone(), target=target)
    t["captum_ig"] = IntegratedGradients(net).attribute(
        x.clone(), baselines=0.0, target=target, n_steps=50, method="gausslegendre")

    noise = load_file(os.path.join(digits.REPO_ROOT, "tests", "fixtures", "methods.safetensors"))
    noise = torch.from_numpy(noise["smoothgrad_noise"]).double()
    samples = noise.shape[0] // 8
    noisy = x[:8].repeat_interleave(samples, dim=0) + noise
    copies = Saliency(net).attribute(noisy, target=target[:8].repeat_interleave(samples), abs=True)
    t["smoothgrad_saliency"] = copies.reshape(8, samples, 1, 28, 28).mean(dim=1)

    out = {}
    for k, v in t.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        v = np.ascontiguousarray(v)
        if v.dtype == np.float64 and k != "confidence":
            v = v.astype(np.float32)
        out[k] = v
    path = os.path.join(digits.REPO_ROOT, "tests", "fixtures", "float64.safetensors")
    write_safetensors(path, out, {
        "torch": torch.__version__, "dtype": "float64 computation, float32 storage",
        "images": "reference.py's 29", "script": "tools/reference/float64.py"})
    sure = int((t["confidence"] < 1e-4).sum())
    print(f"wrote {path}: {len(target)} images, {sure} with 1 - p < 1e-4")


if __name__ == "__main__":
    main()
