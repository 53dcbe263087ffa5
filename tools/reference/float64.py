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
  captum_ig              Captum IntegratedGradients from the black image (the inputs' own black
                         pixel), 20 trapezoid steps. Not the zero baseline with Gauss-Legendre
                         points: near the zero baseline every max-pool window is a near-tie that
                         float32 breaks its own way, which moves torch's own float32 map far from
                         float64 on a few images whatever the score (the script prints it: on the
                         logit, 2.6e-4 on image 14, 0.1 and 0.41 on the blank and saturated images)
  <cam>_layer            relu(sum_k w_k A_k) at conv2 for Grad-CAM++, XGrad-CAM, HiResCAM and
                         LayerCAM with pytorch-grad-cam's weightings, log-probability score [M,8,8]
  smoothgrad_saliency    the mean |gradient| over the noisy copies of methods.safetensors'
                         smoothgrad_noise, for its 8 images [8,1,28,28]
  target                 the classes explained (the float32 model's predictions), int64 [M]
  confidence             1 - p_target in float64, float64 [M]

    tools/reference/.venv/bin/python tools/reference/float64.py
"""

import copy
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
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


def position_invariant_conv(conv):
    """`conv`'s forward (stride 1, no padding) summed in the same order at every output position,
    so that a constant input gives exactly constant outputs, as in exact arithmetic. torch's own
    float64 convolution rounds some positions differently on some processors (gemm blocking):
    on the saturated image that turns the max-pooling windows' exact ties into near-ties broken
    by rounding, and the reference would depend on the machine that wrote it."""
    weight, bias = conv.weight, conv.bias
    k = weight.shape[-1]

    def forward(x):
        ho, wo = x.shape[2] - k + 1, x.shape[3] - k + 1
        out = bias[None, :, None, None].expand(x.shape[0], -1, ho, wo)
        for i in range(k):
            for j in range(k):
                window = x[:, None, :, i:i + ho, j:j + wo]
                out = out + (weight[None, :, :, i, j, None, None] * window).sum(dim=2)
        return out

    return forward


def first_max_pool2d(x, kernel_size, *args, **kwargs):
    """max_pool2d (stride = kernel, no padding, floor) whose gradient goes to each window's
    first maximum, as PyTorch documents: an exact tie (the saturated image's constant regions)
    is routed by that convention, whatever the processor's pooling kernel does."""
    if args or kwargs:
        raise ValueError("only F.max_pool2d(x, k) is used by the network")
    k = kernel_size
    n, c, h, w = x.shape
    x = x[:, :, :h // k * k, :w // k * k]
    windows = x.reshape(n, c, h // k, k, w // k, k).permute(0, 1, 2, 4, 3, 5)
    return windows.reshape(n, c, h // k, w // k, k * k).max(dim=-1).values


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)

    net32 = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x32 = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net32(x32).argmax(dim=1)

    net32_copy = copy.deepcopy(net32)
    # Every float64 map: exact ties stay ties, and are routed to a window's first maximum.
    F.max_pool2d = first_max_pool2d
    net = net32.double()
    net.conv1.forward = position_invariant_conv(net.conv1)
    net.conv2.forward = position_invariant_conv(net.conv2)
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
    black = float(normalize(torch.zeros(1))[0])
    t["captum_ig"] = IntegratedGradients(net).attribute(
        x.clone(), baselines=black, target=target, n_steps=20, method="riemann_trapezoid")
    # Why not the zero baseline: torch's own float32 path against float64, on the logit.
    logits32, logits64 = LogitsNet(net32_copy).eval(), LogitsNet(net).eval()
    zero_path = dict(baselines=0.0, target=target, n_steps=50, method="gausslegendre")
    ig32 = IntegratedGradients(logits32).attribute(x32.clone(), **zero_path).double()
    ig64 = IntegratedGradients(logits64).attribute(x.clone(), **zero_path)
    zero_path_error = (ig32 - ig64).abs().amax(dim=(1, 2, 3)) / ig64.abs().amax(dim=(1, 2, 3))

    noise = load_file(os.path.join(args.out_dir, "methods.safetensors"))
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
    path = os.path.join(args.out_dir, "float64.safetensors")
    write_safetensors(path, out, {
        "torch": torch.__version__, "dtype": "float64 computation, float32 storage",
        "images": "reference.py's 29", "script": "tools/reference/float64.py"})
    sure = int((t["confidence"] < 1e-4).sum())
    print(f"wrote {path}: {len(target)} images, {sure} with 1 - p < 1e-4")
    print("  zero-baseline Gauss-Legendre Integrated Gradients (logit), torch float32 vs float64, per "
          "image: " + " ".join(f"{e:.1e}" for e in zero_path_error.tolist()))


if __name__ == "__main__":
    main()
