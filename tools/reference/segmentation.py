"""Parity fixtures for the zoo's segmentation networks: tests/fixtures/segmentation.safetensors.

torchvision's FCN and DeepLabV3 on a dilated ResNet-50 (``replace_stride_with_dilation =
[False, True, True]``, output stride 8) and LR-ASPP on a dilated MobileNetV3-Large, with the
seeded weights and BatchNorm statistics of ``zoo.seeded_state_dict`` (regenerated bit for bit
by the Rust tests), in eval mode, on the committed 224x224 RGB images (ImageNet normalisation).
Each image is explained for the class that covers most of its predicted pixels
(``<net>_target``), inside the pixels predicted as that class, at ``backbone.layer4``
(pytorch-grad-cam's tutorial's layer; LR-ASPP: at ``backbone["16"]``, the "high" features its
head joins with ``backbone["4"]``, and with the suffix ``_backbone2`` at ``backbone["2"]``).
Per network ``<net>``:

    <net>_scores                  the output map's mean over the pixels [N, 21]
    <net>_map                     the output map, every 8th row and column [N, 21, 28, 28]
    <net>_target                  the class explained per image [N]
    <net>_mask                    its predicted pixels, np.packbits of [N, 224 * 224] (bit order
                                  big, row-major)
    <net>_pgc_gradcam             pytorch-grad-cam GradCAM with SemanticSegmentationTarget(class,
                                  mask) on the model's "out" [N, 56, 56] *
    <net>_captum_layer_gradcam    Captum LayerGradCam (relu_attributions=True) of Captum's
                                  segmentation tutorial's wrapper (each class's scores summed
                                  over the pixels predicted as it) [N, 1, 28, 28]

(* every 4th row and column of the 224x224 map.) LR-ASPP also has

    <net>_captum_guided_backprop  Captum GuidedBackprop of the tutorial's wrapper [N, 3, 56, 56] *
    <net>_captum_guided_gradcam   Captum GuidedGradCam of the tutorial's wrapper [N, 3, 56, 56] *

with a ``GuideMarker`` after every hard-swish, hard sigmoid and sigmoid, so that Captum guides
them as the Rust side does (its guided map moves by 4e-7 of its maximum when the input moves by
3e-7 of itself, and float64 gives the same map to 2.7e-7: no gate resolves within rounding).
The ResNet networks have no guided backpropagation: through their dense head it follows float32
rounding. Each layer4 position's gradient reaches a large part of the
image, and the seeded layer4 has ReLU inputs within 3e-8 of its largest, so one gate that
closes in torch and opens here (or the reverse) moves much of the guided map. Measured on the
narrow FCN, first image: 3.8 % of the map's maximum on flex, ndarray and wgpu alike, 5 % of the
pixels beyond 1e-2 of it, while the gradient at layer4's output agrees to 6e-7 element by
element and at layer3's output differs by 1.4e-2 at 2,527 of 200,704 values (a few layer4
gates' dilated neighbourhoods). The networks:

    fcn_narrow          FCN at a quarter of ResNet-50's width (stages 16..128 wide, 512 out),
                        with its auxiliary classifier (the Rust loader accepts and ignores it),
                        first two images
    deeplabv3_narrow    DeepLabV3 at the same width, its pyramid 64 wide, first two images
    lraspp_mobilenet_v3_large
                        torchvision's ``lraspp_mobilenet_v3_large()`` at full size (a small
                        network), first two images
    fcn_resnet50, deeplabv3_resnet50
                        torchvision's ``fcn_resnet50()`` and ``deeplabv3_resnet50()`` at full
                        size (with ``aux_loss=True``, as the released weights), first image: the
                        check outside CI (ignored tests)

    tools/reference/.venv/bin/python tools/reference/segmentation.py
"""

import copy
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import torchvision
from captum.attr import GuidedBackprop, GuidedGradCam, LayerGradCam
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.resnet import Bottleneck
from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3
from torchvision.models.segmentation.fcn import FCN, FCNHead

from families import guide_every_activation
from reference import write_safetensors
from zoo import REPO_ROOT, ZooResNet, imagenet_normalize, no_inplace_relus, reference_images, \
    seeded_state_dict

SEED = 21
STEP = 4
MAP_STEP = 8
CLASSES = 21


def narrow_backbone(aux: bool) -> nn.Module:
    resnet = ZooResNet(Bottleneck, [3, 4, 6, 3], (16, 32, 64, 128),
                       replace_stride_with_dilation=(False, True, True))
    layers = {"layer4": "out", "layer3": "aux"} if aux else {"layer4": "out"}
    return IntermediateLayerGetter(resnet, return_layers=layers)


def fcn_narrow() -> nn.Module:
    return FCN(narrow_backbone(True), FCNHead(512, CLASSES), FCNHead(256, CLASSES))


def deeplabv3_narrow() -> nn.Module:
    # torchvision's DeepLabHead with its pyramid 64 wide instead of 256.
    head = nn.Sequential(ASPP(512, [12, 24, 36], 64), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                         nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, CLASSES, 1))
    return DeepLabV3(narrow_backbone(False), head, None)


RESNET_LAYER = (("", lambda m: m.backbone.layer4),)
# LR-ASPP at its "high" features (a split the low features skip around), and at a module
# before its "low" ones (no skip).
LRASPP_LAYERS = (("", lambda m: m.backbone["16"]), ("_backbone2", lambda m: m.backbone["2"]))

NETWORKS = {
    "fcn_narrow": (fcn_narrow, 2, RESNET_LAYER),
    "deeplabv3_narrow": (deeplabv3_narrow, 2, RESNET_LAYER),
    "lraspp_mobilenet_v3_large": (lambda: guide_every_activation(
        torchvision.models.segmentation.lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=CLASSES)), 2, LRASPP_LAYERS),
    "fcn_resnet50": (lambda: torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=CLASSES, aux_loss=True), 1,
        RESNET_LAYER),
    "deeplabv3_resnet50": (lambda: torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=CLASSES, aux_loss=True), 1,
        RESNET_LAYER),
}


class Out(nn.Module):
    """The model's ``"out"`` (pytorch-grad-cam's ``SegmentationModelOutputWrapper``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


class PredictedPixels(nn.Module):
    """Captum's segmentation tutorial's ``agg_segmentation_wrapper``: each class's scores summed
    over the pixels predicted as it, ``[N, classes]``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)["out"]
        selected = torch.zeros_like(out).scatter_(1, out.argmax(1, keepdim=True), 1)
        return (out * selected).sum(dim=(2, 3))


def fixtures(name: str, build, count: int, layers, x: torch.Tensor) -> dict:
    model = build()
    model.load_state_dict(seeded_state_dict(model, SEED, numerator=3.0))
    model = no_inplace_relus(model.eval())
    x = x[:count]
    sample = lambda m: m[..., ::STEP, ::STEP]  # noqa: E731
    t = {}
    with torch.no_grad():
        out = model(x)["out"]
    t[f"{name}_scores"] = out.mean(dim=(2, 3))
    t[f"{name}_map"] = out[..., ::MAP_STEP, ::MAP_STEP]
    predicted = out.argmax(1)
    # The class covering most pixels: a region that is not empty.
    target = torch.tensor([int(np.bincount(p.flatten().numpy(), minlength=CLASSES).argmax())
                           for p in predicted])
    t[f"{name}_target"] = target
    masks = (predicted == target[:, None, None]).float()
    t[f"{name}_mask"] = np.packbits(masks.numpy().astype(np.uint8).reshape(count, -1), axis=1)
    print(f"  classes {target.tolist()}, region pixels {masks.sum((1, 2)).tolist()}", flush=True)

    for suffix, layer_of in layers:
        pgc_model = Out(copy.deepcopy(model))
        with GradCAM(model=pgc_model, target_layers=[layer_of(pgc_model.model)]) as cam:
            targets = [SemanticSegmentationTarget(int(c), m.numpy())
                       for c, m in zip(target, masks)]
            t[f"{name}_pgc_gradcam{suffix}"] = sample(torch.from_numpy(
                cam(input_tensor=x.clone(), targets=targets)))
        wrapped = PredictedPixels(model)
        t[f"{name}_captum_layer_gradcam{suffix}"] = LayerGradCam(wrapped, layer_of(model)).attribute(
            x.clone(), target=target, relu_attributions=True)
    if name.startswith("lraspp"):
        wrapped = PredictedPixels(model)
        t[f"{name}_captum_guided_backprop"] = sample(
            GuidedBackprop(wrapped).attribute(x.clone(), target=target))
        t[f"{name}_captum_guided_gradcam"] = sample(GuidedGradCam(
            wrapped, layers[0][1](model)).attribute(x.clone(), target=target))
    return t


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    _, pixels = reference_images()
    x = torch.from_numpy(imagenet_normalize(pixels))
    t = {}
    for name, (build, count, layers) in NETWORKS.items():
        print(name, flush=True)
        t.update(fixtures(name, build, count, layers, x))
    out = {}
    for k, v in t.items():
        v = np.ascontiguousarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
        if v.dtype == np.uint8:
            out[k] = v
        else:
            out[k] = v.astype(np.int64) if v.dtype.kind in "iu" else v.astype(np.float32)
    path = os.path.join(args.out_dir, "segmentation.safetensors")
    write_safetensors(path, out, {"torch": torch.__version__,
                                  "torchvision": torchvision.__version__,
                                  "seed": SEED, "sample_step": STEP, "map_step": MAP_STEP,
                                  "script": "tools/reference/segmentation.py"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
