"""A localisation set with known boxes, and a network trained on it: each Fashion-MNIST item
(Debian's ``dataset-fashion-mnist``) is placed at a random position on a black 64x64 canvas, its
box (the tight box of its non-zero pixels) recorded. The network is the zoo's Fashion-MNIST
ResNet (``zoo.fashion_resnet``: global average pooling, so any input size), started from
``data/fashion_resnet.pth`` and trained on canvases, each batch at fresh random positions.
Writes

  * ``data/fashion_canvas.pth``: the float32 state dict (torchvision's keys);
  * ``data/fashion_canvas/``: the first ten test canvases of each class (the bundled sample the
    tests and README use);
  * with ``--test-set DIR``: all 10,000 test canvases there (the set ``docs/audit.md``'s
    localisation table is measured on).

A set is a folder of ``images/<test index>_<class>.png``, a list file ``labels.txt``
(``images/<name>,<label>`` per line, the labels Fashion-MNIST's numbers) and ``boxes.csv``
(``path,y0,x0,y1,x1`` per image, the path relative to the CSV's folder, the box in pixels,
half-open: rows ``y0..y1``, columns ``x0..x1``). Test positions are drawn from a fixed seed, so
the sets are the same on every machine. Input normalisation: Fashion-MNIST's,
(pixel / 255 - 0.2860) / 0.3530. About twenty minutes of two CPU cores; ``--skip-training``
writes the sets again from the saved weights.

    tools/reference/.venv/bin/python tools/reference/train_fashion_canvas.py --test-set /tmp/canvas
"""

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from train_fashion import CLASSES, normalize, read_idx
from zoo import REPO_ROOT, fashion_resnet

CANVAS = 64
ITEM = 28


def place(items: np.ndarray, rng: np.random.Generator) -> tuple:
    """The items [N, 28, 28] on black canvases [N, 64, 64] at random positions, and their boxes
    [N, 4] (y0, x0, y1, x1, half-open)."""
    n = len(items)
    canvases = np.zeros((n, CANVAS, CANVAS), np.uint8)
    offsets = rng.integers(0, CANVAS - ITEM + 1, size=(n, 2))
    boxes = np.zeros((n, 4), np.int64)
    for i, (item, (y, x)) in enumerate(zip(items, offsets)):
        canvases[i, y:y + ITEM, x:x + ITEM] = item
        rows, cols = np.flatnonzero(item.any(1)), np.flatnonzero(item.any(0))
        boxes[i] = (y + rows[0], x + cols[0], y + rows[-1] + 1, x + cols[-1] + 1)
    return canvases, boxes


def write_set(folder: str, canvases: np.ndarray, labels: np.ndarray, boxes: np.ndarray,
              indices: np.ndarray) -> None:
    """The canvases as ``images/<index>_<class>.png``, ``labels.txt`` and ``boxes.csv``."""
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    listed, boxed = [], ["path,y0,x0,y1,x1"]
    for i in indices:
        name = f"images/{i:05d}_{CLASSES[labels[i]]}.png"
        Image.fromarray(canvases[i]).save(os.path.join(folder, name))
        listed.append(f"{name},{labels[i]}")
        boxed.append(f"{name},{','.join(str(int(v)) for v in boxes[i])}")
    for file, lines in [("labels.txt", listed), ("boxes.csv", boxed)]:
        with open(os.path.join(folder, file), "w") as f:
            f.write("\n".join(lines) + "\n")
    print(f"wrote {len(indices)} canvases, labels.txt and boxes.csv to {folder}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--test-set", help="also write all 10,000 test canvases to this folder")
    ap.add_argument("--skip-training", action="store_true",
                    help="load data/fashion_canvas.pth instead of training it")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    train_x, train_y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    test_canvases, test_boxes = place(test_x, np.random.default_rng(12345))
    y = torch.from_numpy(train_y.astype(np.int64))
    path = os.path.join(REPO_ROOT, "data", "fashion_canvas.pth")
    model = fashion_resnet()
    start_from = path if args.skip_training else os.path.join(REPO_ROOT, "data", "fashion_resnet.pth")
    model.load_state_dict(torch.load(start_from, weights_only=True))
    if not args.skip_training:
        train(model, train_x, y, args.epochs, rng)
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, path)
        print(f"wrote {path}")
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(normalize(test_canvases[i:i + 500])).argmax(1)
                               for i in range(0, len(test_canvases), 500)])
    accuracy = (predicted.numpy() == test_y).mean()
    print(f"test accuracy on {len(test_y)} canvases: {accuracy * 100:.2f}%")
    sample = np.concatenate([np.flatnonzero(test_y == c)[:10] for c in range(10)])
    write_set(os.path.join(REPO_ROOT, "data", "fashion_canvas"), test_canvases, test_y,
              test_boxes, np.sort(sample))
    if args.test_set:
        write_set(args.test_set, test_canvases, test_y, test_boxes, np.arange(len(test_y)))


def train(model, train_x: np.ndarray, y: torch.Tensor, epochs: int,
          rng: np.random.Generator) -> None:
    """AdamW with a one-cycle schedule, batches of 128, items flipped left-right at random and
    placed at fresh random positions."""
    steps = epochs * (len(train_x) // 128)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train_x))
        for i in range(len(train_x) // 128):
            batch = order[i * 128:(i + 1) * 128]
            items = train_x[batch]
            flip = rng.random(len(batch)) < 0.5
            items = np.where(flip[:, None, None], items[:, :, ::-1], items)
            canvases, _ = place(items, rng)
            loss = F.cross_entropy(model(normalize(canvases)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
