"""Parity fixtures for the zoo's torchvision families beyond ResNet: tests/fixtures/families.safetensors.

Each network is torchvision's own module (its ``state_dict`` keys), with the seeded weights and
BatchNorm statistics of ``zoo.seeded_state_dict`` (regenerated bit for bit by the Rust tests),
in eval mode, on the three committed 224x224 RGB images (ImageNet normalisation), for explicit
per-image classes (each image's predicted class, ``<net>_target``), explained at the layer pytorch-grad-cam's README recommends for
the family. Per network ``<net>``:

    <net>_logits                  the logits [3, classes]
    <net>_captum_layer_gradcam    Captum LayerGradCam, relu_attributions=True [3, 1, h, w]
    <net>_captum_guided_backprop  Captum GuidedBackprop [3, 3, 56, 56] *
    <net>_captum_guided_gradcam   Captum GuidedGradCam [3, 3, 56, 56] *
    <net>_pgc_gradcam             pytorch-grad-cam GradCAM [3, 56, 56] *

(* every 4th row and column of the 224x224 map, as tests/fixtures/resnet.safetensors stores
them.) The networks:

    vgg16_narrow    torchvision ``vgg16()`` at an eighth of its width (convolutions 8..64,
                    classifier 512 wide), explained at ``features[-1]`` (the last max-pool, 7x7);
                    also ``vgg16_narrow_captum_layer_gradcam_features29`` at ``features[29]``
                    (the last ReLU, 14x14)
    vgg11_bn_narrow torchvision ``vgg11_bn()`` at an eighth of its width (BatchNorm folded on the
                    Rust side), at ``features[-1]``
    vgg16           torchvision ``vgg16()`` at full size: the check outside CI (an ignored test),
                    first image only
    mobilenet_v2    torchvision ``mobilenet_v2()`` at full size (BatchNorm, so the bound's
                    numerator is 3), at ``features[-1]``; its ReLU6s made ``nn.ReLU`` subclasses
                    (``GuidedReLU6``) so that Captum's guided backprop guides them, as the Rust
                    side guides every activation
    mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0
                    torchvision's at full size, at ``features[-1]``, first two images; every
                    hard-swish, SiLU and gate (sigmoid, hard sigmoid) followed by a
                    ``GuideMarker`` so that Captum's guided backprop guides it as the Rust side
                    does (``f'(x) * relu(grad)``)
    densenet121     torchvision's ``densenet121()`` at full size, at ``features[-1]``
                    (``norm5``), first two images; its final functional ReLU a module
                    (``ModuleReluDenseNet``)
    convnext_tiny   torchvision's ``convnext_tiny()`` at full size (layer scales drawn as
                    weights of fan-in 1), at ``features[-1]``, first two images; a
                    ``GuideMarker`` after every GELU
    vit_b_16_narrow torchvision's ``VisionTransformer`` of ``vit_b_16()``'s shape at a quarter
                    of its width (192 wide, 3 heads, MLP 768) and 4 blocks, at the last block's
                    ``ln_1`` (pytorch-grad-cam's ViT tutorial's layer), first two images; a
                    ``GuideMarker`` after every GELU. pytorch-grad-cam takes it with its
                    ``reshape_transform`` (the patch tokens as a 14x14 grid, the class token
                    dropped); Captum's layer methods have no reshape, so they are taken at an
                    identity module after ``ln_1`` that sees the same grid (``PatchGrid``)
    vit_b_16        torchvision's ``vit_b_16()`` at full size, first image: the check outside
                    CI (an ignored test)
    swin_t          torchvision's ``swin_t()`` at full size, at the last block's ``norm1``
                    (pytorch-grad-cam's Swin layer), first two images; a ``GuideMarker`` after
                    every GELU. pytorch-grad-cam takes it with its Swin ``reshape_transform``
                    (the channels-last map channels first); Captum's layer methods at an
                    identity module after ``norm1`` that sees the same map (``ChannelsFirst``)

and ``tests/fixtures/weights/vgg11_bn_tiny.pth`` (``torch.save`` of a ``vgg11_bn`` at 1/64 of its
width, 10 classes, seeded) with ``vgg11_bn_tiny_logits``, its logits on the first image: the
loader's ``.pth`` path, BatchNorm folded.

    tools/reference/.venv/bin/python tools/reference/families.py [--only NETWORK ...]
"""

import copy
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from captum.attr import GuidedBackprop, GuidedGradCam, LayerGradCam
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torchvision.models.densenet import DenseNet
from torchvision.models.vgg import VGG, cfgs, make_layers

from reference import write_safetensors
from zoo import REPO_ROOT, imagenet_normalize, no_inplace_relus, reference_images, seeded_state_dict

SEED = 18
STEP = 4


def vgg(cfg: str, batch_norm: bool, divisor: int = 1, classes: int = 1000) -> nn.Module:
    """torchvision's VGG of configuration ``cfg`` ("A" vgg11, "B" vgg13, "D" vgg16, "E" vgg19),
    every width divided by ``divisor`` (the classifier's 4096 too); ``divisor=1`` is
    ``torchvision.models.vgg16()`` and its kin exactly."""
    layers = [v if v == "M" else v // divisor for v in cfgs[cfg]]
    model = VGG(make_layers(layers, batch_norm=batch_norm), num_classes=classes, init_weights=False)
    if divisor != 1:
        hidden, last = 4096 // divisor, 512 // divisor
        model.classifier[0] = nn.Linear(last * 7 * 7, hidden)
        model.classifier[3] = nn.Linear(hidden, hidden)
        model.classifier[6] = nn.Linear(hidden, classes)
    return model


class GuidedReLU6(nn.ReLU):
    """``nn.ReLU6`` as an ``nn.ReLU`` subclass, so that Captum's GuidedBackprop, which overrides
    the gradient of ``nn.ReLU`` modules only, guides it too (the Rust side guides every
    activation): its hook then gives ``relu(grad) * relu6'(x)``. The forward is ReLU6's."""

    def forward(self, x):
        return torch.clamp(x, 0.0, 6.0)


class GuideMarker(nn.ReLU):
    """The identity, as an ``nn.ReLU`` subclass: Captum's GuidedBackprop hooks it and zeroes the
    negative gradient arriving at the activation before it, which then applies its own
    derivative: ``f'(x) * relu(grad)``, the Rust side's guided rule for every activation. Outside
    guided backpropagation it does nothing."""

    def forward(self, x):
        return x.clone()


def guide_every_activation(model: nn.Module) -> nn.Module:
    """Every hard-swish, SiLU, sigmoid, hard sigmoid and GELU followed by a ``GuideMarker``
    (Captum guides ``nn.ReLU`` only; the plain ReLUs stay as they are)."""
    kinds = (nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kinds):
                setattr(parent, name, nn.Sequential(type(child)(), GuideMarker()))
    return model


class ModuleReluDenseNet(DenseNet):
    """torchvision's ``DenseNet`` (same modules, same keys, same computation) with the ReLU its
    ``forward`` applies functionally and in place after ``features`` made an ``nn.ReLU`` module:
    Captum's GuidedBackprop guides ``nn.ReLU`` modules only (the Rust side guides every ReLU),
    and pytorch-grad-cam keeps the hooked ``features[-1]`` output by reference on the CPU
    (``.cpu()`` of a CPU tensor is itself), where the in-place ReLU would rewrite it into the
    post-ReLU map, unlike on CUDA."""

    def __init__(self, growth_rate: int, block_config: tuple, num_init_features: int):
        super().__init__(growth_rate, block_config, num_init_features)
        self.final_relu = nn.ReLU()

    def forward(self, x):
        out = F.adaptive_avg_pool2d(self.final_relu(self.features(x)), (1, 1))
        return self.classifier(torch.flatten(out, 1))


def densenet(growth_rate: int, block_config: tuple, num_init_features: int) -> nn.Module:
    """torchvision's ``densenet121()`` and kin, its last ReLU a module."""
    return ModuleReluDenseNet(growth_rate, block_config, num_init_features)


class PatchGrid(nn.Module):
    """A LayerNorm over a ViT's tokens followed by an identity module (``grid``) that sees the
    patch tokens as the ``[N, D, side, side]`` grid pytorch-grad-cam's ``reshape_transform``
    makes (the class token passes beside it): where Captum's layer methods, which have no
    reshape, take a ViT's map. The computation is the LayerNorm's."""

    def __init__(self, norm: nn.Module, side: int):
        super().__init__()
        self.norm = norm
        self.grid = nn.Identity()
        self.side = side

    def forward(self, x):
        y = self.norm(x)
        n, t, d = y.shape
        grid = self.grid(y[:, 1:].reshape(n, self.side, self.side, d).permute(0, 3, 1, 2))
        return torch.cat([y[:, :1], grid.permute(0, 2, 3, 1).reshape(n, t - 1, d)], 1)


class ChannelsFirst(nn.Module):
    """A LayerNorm over a channels-last map ``[N, H, W, C]`` (a Swin block's ``norm1``) followed
    by an identity module (``grid``) that sees its output channels first, as pytorch-grad-cam's
    Swin ``reshape_transform`` does: where Captum's layer methods take a Swin's map."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm
        self.grid = nn.Identity()

    def forward(self, x):
        return self.grid(self.norm(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def swin_last_norm_grid(model: nn.Module) -> nn.Module:
    """The last block's ``norm1`` wrapped in a ``ChannelsFirst`` (after the weights are loaded),
    and the grid module Captum hooks."""
    last = model.features[-1][-1]
    last.norm1 = ChannelsFirst(last.norm1)
    return last.norm1.grid


def swin_reshape(tensor: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's Swin ``reshape_transform`` for torchvision's channels-last layers."""
    return tensor.permute(0, 3, 1, 2)


def vit_reshape(tensor: torch.Tensor, side: int = 14) -> torch.Tensor:
    """pytorch-grad-cam's ViT tutorial's ``reshape_transform``: the class token dropped, the
    patch tokens as a grid, channels first."""
    result = tensor[:, 1:, :].reshape(tensor.size(0), side, side, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


def vit_last_norm_grid(model: nn.Module) -> nn.Module:
    """The last block's ``ln_1`` wrapped in a ``PatchGrid`` (after the weights are loaded: the
    wrapper renames its keys), and the grid module Captum hooks."""
    last = model.encoder.layers[-1]
    last.ln_1 = PatchGrid(last.ln_1, model.image_size // model.patch_size)
    return last.ln_1.grid


def vit(divisor: int = 1, layers: int = 12) -> nn.Module:
    """torchvision's ``vit_b_16()`` shape, its widths divided by ``divisor`` and ``layers``
    blocks; ``vit(1, 12)`` is ``torchvision.models.vit_b_16()`` exactly."""
    model = torchvision.models.VisionTransformer(
        image_size=224, patch_size=16, num_layers=layers, num_heads=12 // divisor,
        hidden_dim=768 // divisor, mlp_dim=3072 // divisor)
    return guide_every_activation(model)


# pytorch-grad-cam's layer and reshape where they are not Captum's layer.
PGC_LAYERS = {
    "vit_b_16_narrow": (lambda m: m.encoder.layers[-1].ln_1, vit_reshape),
    "vit_b_16": (lambda m: m.encoder.layers[-1].ln_1, vit_reshape),
    "swin_t": (lambda m: m.features[-1][-1].norm1, swin_reshape),
}


def guided_relu6(model: nn.Module) -> nn.Module:
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, GuidedReLU6())
    return model


# name -> (network, target layer, images explained, the weights' bound numerator)
# He's bound (6) for VGG without BatchNorm: its thirteen ReLUs would otherwise shrink the signal
# until the biases drown it; 3 where BatchNorm follows every convolution.
NETWORKS = {
    "vgg16_narrow": (lambda: vgg("D", False, 8), lambda m: m.features[-1], 3, 6.0),
    "vgg11_bn_narrow": (lambda: vgg("A", True, 8), lambda m: m.features[-1], 3, 6.0),
    "vgg16": (lambda: vgg("D", False), lambda m: m.features[-1], 1, 6.0),
    "mobilenet_v2": (lambda: guided_relu6(torchvision.models.mobilenet_v2()),
                     lambda m: m.features[-1], 3, 3.0),
    "mobilenet_v3_small": (lambda: guide_every_activation(torchvision.models.mobilenet_v3_small()),
                           lambda m: m.features[-1], 2, 3.0),
    "mobilenet_v3_large": (lambda: guide_every_activation(torchvision.models.mobilenet_v3_large()),
                           lambda m: m.features[-1], 2, 3.0),
    "efficientnet_b0": (lambda: guide_every_activation(torchvision.models.efficientnet_b0()),
                        lambda m: m.features[-1], 2, 3.0),
    "densenet121": (lambda: densenet(32, (6, 12, 24, 16), 64), lambda m: m.features[-1], 2, 3.0),
    "convnext_tiny": (lambda: guide_every_activation(torchvision.models.convnext_tiny()),
                      lambda m: m.features[-1], 2, 3.0),
    "vit_b_16_narrow": (lambda: vit(4, 4), vit_last_norm_grid, 2, 3.0),
    "vit_b_16": (lambda: vit(1, 12), vit_last_norm_grid, 1, 3.0),
    "swin_t": (lambda: guide_every_activation(torchvision.models.swin_t()), swin_last_norm_grid,
               2, 3.0),
}


def seeded(model: nn.Module, numerator: float = 6.0) -> nn.Module:
    model.load_state_dict(seeded_state_dict(model, SEED, numerator=numerator))
    return no_inplace_relus(model.eval())


def fixtures(name: str, build, layer_of, count: int, numerator: float, x: torch.Tensor) -> dict:
    model = seeded(build(), numerator)
    x = x[:count]
    pgc_model = copy.deepcopy(model)  # before layer_of, which may wrap a module
    layer = layer_of(model)
    sample = lambda m: m[..., ::STEP, ::STEP]  # noqa: E731
    t = {}
    with torch.no_grad():
        t[f"{name}_logits"] = model(x)
    # The predicted classes: a random network's map for an arbitrary class is often negative
    # everywhere (an all-zero Grad-CAM, a check without teeth); its own prediction's is not.
    target = t[f"{name}_logits"].argmax(1)
    t[f"{name}_target"] = target
    t[f"{name}_captum_layer_gradcam"] = LayerGradCam(model, layer).attribute(
        x.clone(), target=target, relu_attributions=True)
    t[f"{name}_captum_guided_backprop"] = sample(
        GuidedBackprop(model).attribute(x.clone(), target=target))
    t[f"{name}_captum_guided_gradcam"] = sample(
        GuidedGradCam(model, layer).attribute(x.clone(), target=target))
    pgc_layer_of, reshape = PGC_LAYERS.get(name, (layer_of, None))
    with GradCAM(model=pgc_model, target_layers=[pgc_layer_of(pgc_model)],
                 reshape_transform=reshape) as cam:
        t[f"{name}_pgc_gradcam"] = sample(torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target])))
    if name == "vgg16_narrow":
        t[f"{name}_captum_layer_gradcam_features29"] = LayerGradCam(
            model, model.features[29]).attribute(x.clone(), target=target, relu_attributions=True)
    return t


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures"))
    ap.add_argument("--only", nargs="+", choices=sorted(NETWORKS), metavar="NETWORK",
                    help="recompute these networks' tensors only, keeping the file's others "
                         "(and the committed .pth)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    _, pixels = reference_images()
    x = torch.from_numpy(imagenet_normalize(pixels))
    path = os.path.join(args.out_dir, "families.safetensors")
    t = {}
    if args.only:
        # Every other network's tensors as the file has them.
        from safetensors.numpy import load_file
        t = {k: v for k, v in load_file(path).items()
             if not any(k.startswith(f"{name}_") for name in args.only)}
    for name, (build, layer_of, count, numerator) in NETWORKS.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}", flush=True)
        t.update(fixtures(name, build, layer_of, count, numerator, x))
    if not args.only:
        tiny = seeded(vgg("A", True, 64, classes=10))
        weights = os.path.join(args.out_dir, "weights", "vgg11_bn_tiny.pth")
        torch.save(tiny.state_dict(), weights)
        print(f"wrote {weights} ({os.path.getsize(weights)} bytes)")
        with torch.no_grad():
            t["vgg11_bn_tiny_logits"] = tiny(x[:1])
    out = {}
    for k, v in t.items():
        v = np.ascontiguousarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
        out[k] = v.astype(np.int64) if v.dtype.kind in "iu" else v.astype(np.float32)
    write_safetensors(path, out, {"torch": torch.__version__, "torchvision": torchvision.__version__,
                                  "seed": SEED, "sample_step": STEP,
                                  "script": "tools/reference/families.py"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
