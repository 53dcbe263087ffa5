"""Parity fixtures for CAMs on a vision transformer: tests/fixtures/vit.safetensors, and the
network's weights, tests/fixtures/vit_weights.safetensors (its state dict, torch's names).

A small ViT (the torch twin of gradcam_zoo::VisionTransformer): 3x32x32 images, 8x8 patches
(a 4x4 grid), width 32, a class token and learned position embeddings, two pre-norm blocks
(4-head self-attention, a GELU MLP of width 64), a final LayerNorm and a linear head on the class
token (10 outputs, logits). Seeded random weights (no training: parity needs only a fixed
function) and six seeded N(0, 1) images. pytorch-grad-cam explains the output of the first
block, ``target_layers=[model.blocks[0]]``, with the ``reshape_transform`` of its ViT tutorial
(class token dropped, ``[N, 1 + 4*4, 32]`` -> ``[N, 32, 4, 4]``), for the predicted classes:

  images [6,3,32,32], logits [6,10], target int64 [6]
  pgc_<cam>                 GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, GradCAMElementWise
                            and ScoreCAM, [6,32,32] (not HiResCAM: at a pre-norm block's output
                            sum_k G_k A_k vanishes, the LayerNorms' invariances, and its map is
                            rounding noise)
  pgc_gradcam_target_softmax, pgc_gradcam_target_finer_3_5_8
                            GradCAM for ClassifierOutputSoftmaxTarget and for
                            FinerWeightedTarget(class, [3, 5, 8], alpha=1): targets that
                            differentiate probabilities, well conditioned here, where the MNIST
                            net's confident predictions put p(1 - p) at float32's rounding floor,
                            [6,32,32]
  guided_backprop_gelu, deconvolution_gelu
                            the input gradient of the predicted logit with every GELU's backward
                            replaced by the guided rule, relu(grad) * gelu'(x), or by the
                            deconvolution rule, relu(grad) (a plain torch transcription: Captum's
                            and pytorch-grad-cam's guided models replace only nn.ReLU, which this
                            network has none of), [6,3,32,32]

Both files are written from scratch, the maps with the weights they explain.

    tools/reference/.venv/bin/python tools/reference/vit.py
"""

import math
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from reference import write_safetensors  # noqa: E402

from pytorch_grad_cam import (GradCAM, GradCAMElementWise, GradCAMPlusPlus,  # noqa: E402
                              LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputSoftmaxTarget, ClassifierOutputTarget, FinerWeightedTarget)

SIDE, PATCH, WIDTH, HEADS, HIDDEN, BLOCKS, CLASSES, IMAGES = 32, 8, 32, 4, 64, 2, 10, 6
GRID = SIDE // PATCH


class GuidedGelu(torch.autograd.Function):
    """GELU whose backward keeps its own derivative and zeroes the negative incoming gradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        return grad.clamp(min=0) * (cdf + x * pdf)


class DeconvolutionGelu(torch.autograd.Function):
    """GELU whose backward is relu(grad), whatever the input."""

    @staticmethod
    def forward(ctx, x):
        return F.gelu(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


ACTIVATION = [F.gelu]  # the rule every block's GELU runs under (swapped for the references)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value, self.output = (nn.Linear(WIDTH, WIDTH) for _ in range(4))

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, HEADS, d // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // HEADS), dim=-1)
        return self.output((weights @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(WIDTH), Attention(), nn.LayerNorm(WIDTH)
        self.fc1, self.fc2 = nn.Linear(WIDTH, HIDDEN), nn.Linear(HIDDEN, WIDTH)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(ACTIVATION[0](self.fc1(self.norm2(x))))


class SmallViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, WIDTH, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.randn(1, 1, WIDTH) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 1 + GRID * GRID, WIDTH) * 0.5)
        self.blocks = nn.ModuleList(Block() for _ in range(BLOCKS))
        self.norm, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        patches = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), patches], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def reshape_transform(tensor, height=GRID, width=GRID):
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


CAMS = {"gradcam": GradCAM, "gradcam_plusplus": GradCAMPlusPlus, "xgradcam": XGradCAM,
        "layercam": LayerCAM, "gradcam_elementwise": GradCAMElementWise,
        "scorecam": ScoreCAM}


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)

    model = SmallViT().eval()
    images = torch.randn(IMAGES, 3, SIDE, SIDE)
    with torch.no_grad():
        logits = model(images)
    target = logits.argmax(dim=1)
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    weights_path = os.path.join(args.out_dir, "vit_weights.safetensors")
    write_safetensors(weights_path, weights, {"description": "SmallViT of tools/reference/vit.py, seed 0"})
    out = {"images": images.numpy(), "logits": logits.numpy(), "target": target.numpy().astype(np.int64)}
    targets = [ClassifierOutputTarget(int(t)) for t in target]
    for name, cls in CAMS.items():
        cam = cls(model=model, target_layers=[model.blocks[0]], reshape_transform=reshape_transform)
        out[f"pgc_{name}"] = np.asarray(cam(input_tensor=images.clone(), targets=targets),
                                        dtype=np.float32)

    for key, cam_targets in (
            ("softmax", [ClassifierOutputSoftmaxTarget(int(t)) for t in target]),
            ("finer_3_5_8", [FinerWeightedTarget(int(t), [3, 5, 8], 1.0) for t in target])):
        cam = GradCAM(model=model, target_layers=[model.blocks[0]], reshape_transform=reshape_transform)
        out[f"pgc_gradcam_target_{key}"] = np.asarray(
            cam(input_tensor=images.clone(), targets=cam_targets), dtype=np.float32)

    for key, rule in (("guided_backprop_gelu", GuidedGelu.apply),
                      ("deconvolution_gelu", DeconvolutionGelu.apply)):
        ACTIVATION[0] = rule
        x = images.clone().requires_grad_(True)
        model(x).gather(1, target[:, None]).sum().backward()
        out[key] = x.grad.detach().numpy()
    ACTIVATION[0] = F.gelu

    from importlib.metadata import version
    meta = {"description": "CAMs on a small ViT (pytorch-grad-cam, reshape_transform)",
            "version_torch": torch.__version__, "version_grad_cam": version("grad-cam")}
    path = os.path.join(args.out_dir, "vit.safetensors")
    write_safetensors(path, {k: np.ascontiguousarray(v) for k, v in out.items()}, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes); predicted {target.tolist()}")
    print(f"  logits max {logits.abs().max():.3g}, margin min "
          f"{(logits.topk(2).values[:, 0] - logits.topk(2).values[:, 1]).min():.3g}")


if __name__ == "__main__":
    main()
