"""The MNIST CNN shared by the Python reference scripts.

The architecture and the state-dict keys are fixed: the Rust crate loads the
same ``mnist_model.pth`` and must reproduce these activations exactly.

    conv1 = Conv2d(1, 10, 5);  conv2 = Conv2d(10, 10, 5)
    fc1 = Linear(160, 50);     fc2 = Linear(50, 10)
    x = relu(max_pool2d(conv1(x), 2))          # (N,10,12,12)
    a = conv2(x)                               # (N,10,8,8)  Grad-CAM layer
    x = relu(max_pool2d(a, 2)).flatten(1)      # (N,160)
    x = relu(fc1(x)); out = log_softmax(fc2(x), dim=1)

Each ReLU is its own ``nn.ReLU`` module, because Captum's GuidedBackprop and
pytorch-grad-cam's GuidedBackpropReLUModel only override ``nn.ReLU`` modules
(a functional ``F.relu`` would silently be left unguided).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """Map [0,1] pixels to the network's input space."""
    return (pixels - MNIST_MEAN) / MNIST_STD


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 10, 5)
        self.fc1 = nn.Linear(160, 50)
        self.fc2 = nn.Linear(50, 10)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax class scores (the score used by the Grad-CAM paper)."""
        x = self.relu1(F.max_pool2d(self.conv1(x), 2))
        a = self.conv2(x)
        x = self.relu2(F.max_pool2d(a, 2)).flatten(1)
        x = self.relu3(self.fc1(x))
        return self.fc2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits(x), dim=1)


class LogitsNet(nn.Module):
    """Wraps a ``Net`` so that ``forward`` returns logits.

    The wrapped model is a submodule, so ``wrapper.net.conv2`` is the same
    layer object and layer hooks see the same activations.
    """

    def __init__(self, net: Net) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)


def load_model(path: str) -> Net:
    model = Net()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model
