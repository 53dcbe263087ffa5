"""The ResNet family of the Rust model zoo, in torchvision's layout, and what both sides share.

* ``ZooResNet``: torchvision's ResNet (its ``BasicBlock`` / ``Bottleneck``, the same
  ``state_dict`` keys: ``conv1, bn1, layer1..layer4 (.N.conv1/bn1/.../downsample.0/.1), fc``) with
  the stage widths, the input channels and the stem configurable: ``"imagenet"`` (7x7 stride-2
  convolution, 3x3 stride-2 max-pool) or ``"small"`` (3x3 stride-1 convolution, no max-pool, for
  28x28 inputs). ``ZooResNet(BasicBlock, [2, 2, 2, 2])`` is ``torchvision.models.resnet18()``.
* ``seeded_state_dict``: weights and BatchNorm statistics drawn from a counter-based generator
  (FNV-1a of the key, SplitMix64 of seed + key hash + index) that the Rust tests reproduce bit
  for bit, so that ResNet-18's 47 MB of parameters need not be committed.
* ``reference_images``: the committed 224x224 RGB test images.
"""

import os
import types

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torchvision.models.resnet import BasicBlock, conv1x1

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGES_DIR = os.path.join(REPO_ROOT, "data", "images")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


class ZooResNet(nn.Module):
    def __init__(self, block, layers, widths=(64, 128, 256, 512), in_channels=3,
                 num_classes=1000, stem="imagenet", replace_stride_with_dilation=(False,) * 3):
        super().__init__()
        self.inplanes = widths[0]
        self.dilation = 1
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1)
        dilate = replace_stride_with_dilation
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2, dilate[0])
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2, dilate[1])
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2, dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride, dilate=False):
        # torchvision's rule: a dilated stage keeps its resolution; its first block keeps the
        # previous dilation, the later ones take the new one.
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        extra = {} if self.dilation == 1 else {"dilation": previous}
        layers = [block(self.inplanes, planes, stride, downsample, **extra)]
        self.inplanes = planes * block.expansion
        extra = {} if self.dilation == 1 else {"dilation": self.dilation}
        layers += [block(self.inplanes, planes, **extra) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def fashion_resnet():
    """The Fashion-MNIST model: ResNet-18's blocks, widths 16-128, a 1-channel small stem."""
    return ZooResNet(BasicBlock, [2, 2, 2, 2], (16, 32, 64, 128), in_channels=1, num_classes=10,
                     stem="small")


def trained_fashion_resnet() -> tuple:
    """The trained data/fashion_resnet.pth in eval mode (in-place ReLUs off, for Captum) and the
    ten bundled Fashion-MNIST images, normalised, float32 [10, 1, 28, 28], sorted by name."""
    model = fashion_resnet()
    state = torch.load(os.path.join(REPO_ROOT, "data", "fashion_resnet.pth"), weights_only=True)
    model.load_state_dict(state)
    model = no_inplace_relus(model.eval())
    folder = os.path.join(REPO_ROOT, "data", "fashion")
    names = sorted(os.listdir(folder))
    pixels = np.stack([np.asarray(Image.open(os.path.join(folder, n)), np.float32) for n in names])
    x = ((torch.from_numpy(pixels / np.float32(255.0))[:, None] - FASHION_MEAN) / FASHION_STD)
    return model, x.float()


def no_inplace_relus(model: nn.Module) -> nn.Module:
    """Captum's hooks refuse in-place ReLUs; torchvision's blocks reuse theirs twice."""
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model


def distinct_block_relus(model: nn.Module) -> nn.Module:
    """Gives each ``BasicBlock`` a second ReLU module for its output, so that no module runs twice
    in a pass: Captum's ``DeepLift`` keeps a module's input and output on the module and refuses
    one that is used twice. The computation is unchanged."""
    def forward(block, x):
        out = block.relu(block.bn1(block.conv1(x)))
        out = block.bn2(block.conv2(out))
        identity = x if block.downsample is None else block.downsample(x)
        return block.relu_out(out + identity)

    for m in model.modules():
        if isinstance(m, BasicBlock):
            m.relu_out = nn.ReLU()
            m.forward = types.MethodType(forward, m)
    return model


# ---------------------------------------------------------------------------
# The counter-based generator shared with the Rust tests (tests/common/mod.rs).

MASK = (1 << 64) - 1


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def seeded_uniform(seed: int, key: str, count: int, low: float, high: float) -> np.ndarray:
    """``count`` float32 values in [low, high): SplitMix64 of (seed ^ fnv1a64(key)) + index,
    its top 24 bits as a float32 u in [0, 1), then ``low + (high - low) * u`` in float32."""
    with np.errstate(over="ignore"):
        x = np.uint64((seed ^ fnv1a64(key)) & MASK) + np.arange(count, dtype=np.uint64)
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return (np.float32(low) + np.float32(high - low) * u).astype(np.float32)


def seeded_state_dict(model: nn.Module, seed: int, numerator: float = 3.0) -> dict:
    """Every tensor of ``model``'s state dict from the generator: convolution and linear weights
    uniform in +-sqrt(numerator / fan_in) (3: unit variance preserving with BatchNorm after them;
    6: He's, variance preserving through ReLUs without BatchNorm, as VGG needs), biases
    +-0.1, BatchNorm gamma in [0.5, 1.5), beta +-0.1, running mean +-0.2 and running variance in
    [0.5, 1.5) (non-trivial statistics). Integer buffers (BatchNorm's ``num_batches_tracked``, a
    Swin attention's ``relative_position_index``) are kept as the model has them."""
    out = {}
    for key, value in model.state_dict().items():
        n = value.numel()
        if not value.is_floating_point():
            out[key] = value.clone()
            continue
        if value.dim() > 1:
            fan_in = int(np.prod(value.shape[1:]))
            bound = float(np.sqrt(numerator / fan_in))
            v = seeded_uniform(seed, key, n, -bound, bound)
        elif key.endswith("running_var") or (key.endswith(".weight")):
            v = seeded_uniform(seed, key, n, 0.5, 1.5)
        elif key.endswith("running_mean"):
            v = seeded_uniform(seed, key, n, -0.2, 0.2)
        else:
            v = seeded_uniform(seed, key, n, -0.1, 0.1)
        out[key] = torch.from_numpy(v.reshape(tuple(value.shape)))
    return out


# ---------------------------------------------------------------------------
# Images


def reference_images() -> tuple:
    """The committed 224x224 RGB PNGs (sorted by name) as float32 [N, 3, 224, 224] in [0, 1]."""
    names = sorted(n for n in os.listdir(IMAGES_DIR) if n.endswith(".png"))
    pixels = [np.asarray(Image.open(os.path.join(IMAGES_DIR, n)).convert("RGB"), np.float32)
              for n in names]
    x = np.stack(pixels).transpose(0, 3, 1, 2) / np.float32(255.0)
    return names, x.astype(np.float32)


def imagenet_normalize(x: np.ndarray) -> np.ndarray:
    mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
    return ((x - mean) / std).astype(np.float32)
