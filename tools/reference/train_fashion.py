"""Trains the zoo's Fashion-MNIST ResNet (``zoo.fashion_resnet``: ResNet-18's BasicBlocks in
torchvision's layout, widths 16-128, a 1-channel 3x3 stem without max-pool) on the 60,000
training images of Debian's ``dataset-fashion-mnist`` and reports the accuracy on the 10,000
test images. Writes

  * ``data/fashion_resnet.pth``: the float32 state dict (torchvision's keys);
  * ``data/fashion/<index>_<class>.png``: the first test image of each class, 28x28 grey.

Input normalisation: (pixel / 255 - 0.2860) / 0.3530. A few minutes of CPU.

    tools/reference/.venv/bin/python tools/reference/train_fashion.py
"""

import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from zoo import FASHION_MEAN, FASHION_STD, REPO_ROOT, fashion_resnet

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "boot"]


def read_idx(name: str) -> np.ndarray:
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def normalize(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0))[:, None]
    return (x - FASHION_MEAN) / FASHION_STD


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    train_x, train_y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    x, y = normalize(train_x), torch.from_numpy(train_y.astype(np.int64))
    model = fashion_resnet()
    steps = args.epochs * (len(x) // 128)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(len(x) // 128):
            batch = order[i * 128:(i + 1) * 128]
            images = x[batch]
            flip = torch.rand(len(batch), generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            loss = F.cross_entropy(model(images), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(normalize(test_x[i:i + 1000])).argmax(1)
                               for i in range(0, len(test_x), 1000)])
    accuracy = (predicted.numpy() == test_y).mean()
    print(f"test accuracy on {len(test_y)} images: {accuracy * 100:.2f}%")
    path = os.path.join(REPO_ROOT, "data", "fashion_resnet.pth")
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    print(f"wrote {path}")
    out = os.path.join(REPO_ROOT, "data", "fashion")
    os.makedirs(out, exist_ok=True)
    for c in range(10):
        index = int(np.flatnonzero(test_y == c)[0])
        Image.fromarray(test_x[index]).save(os.path.join(out, f"{index:04d}_{CLASSES[c]}.png"))
    print(f"wrote 10 test images to {out}")


if __name__ == "__main__":
    main()
