"""Regenerates every parity fixture of tests/fixtures from scratch, or checks that the committed
ones are reproduced.

    tools/reference/.venv/bin/python tools/reference/regenerate.py          # rewrite tests/fixtures
    tools/reference/.venv/bin/python tools/reference/regenerate.py --check  # compare, write nothing

The scripts run in dependency order (float64.py reads methods.py's SmoothGrad noise), each writing
its files from scratch. `--check` writes them into a temporary directory and compares every
tensor with the committed one, per first-axis slice (per image), relative to the committed
slice's largest magnitude, as the Rust tests compare maps; the other files (weight variants)
byte for byte. torch's CPU kernels round differently on different processors, so a float32
fixture written on another machine differs by float32 rounding (about 1e-7 of a map) and, where
a computation is ill-conditioned, by more: the report says how much, key by key.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures")
# (script, extra arguments), in dependency order.
SCRIPTS = [
    ("reference.py", ["--skip-npm-check"]),
    ("methods.py", []),
    ("float64.py", []),
    ("resnet.py", []),
    ("factorization.py", []),
    ("shapley_cam.py", []),
    ("families.py", []),
    ("segmentation.py", []),
    ("vit.py", []),
    ("metrics.py", []),
    ("shap.py", []),
    ("layer.py", []),
    ("deeplift.py", []),
    ("lrp.py", []),
    ("perturbation.py", []),
    ("slic.py", []),
    ("localisation.py", []),
]


def run_all(out_dir: str) -> None:
    for script, extra in SCRIPTS:
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, script), "--out-dir", out_dir, *extra],
                       check=True)


def relative_difference(new: np.ndarray, old: np.ndarray) -> float:
    if new.shape != old.shape:
        return float("inf")
    if new.dtype.kind not in "f":
        return 0.0 if np.array_equal(new, old) else float("inf")
    new64, old64 = new.astype(np.float64), old.astype(np.float64)
    n = old.shape[0] if old.ndim > 0 else 1
    new64, old64 = new64.reshape(n, -1), old64.reshape(n, -1)
    scale = np.maximum(np.abs(old64).max(axis=1), np.finfo(np.float32).tiny)
    return float((np.abs(new64 - old64).max(axis=1) / scale).max())


def check(out_dir: str, threshold: float) -> int:
    worst_overall, beyond = 0.0, []
    for root, _, files in sorted(os.walk(out_dir)):
        for name in sorted(files):
            new_path = os.path.join(root, name)
            rel = os.path.relpath(new_path, out_dir)
            old_path = os.path.join(FIXTURES, rel)
            if not os.path.exists(old_path):
                print(f"{rel}: not committed")
                beyond.append(rel)
                continue
            if name.endswith(".safetensors"):
                new, old = load_file(new_path), load_file(old_path)
                if set(new) != set(old):
                    print(f"{rel}: keys differ: new {sorted(set(new) - set(old))}, "
                          f"gone {sorted(set(old) - set(new))}")
                    beyond.append(rel)
                diffs = {k: relative_difference(new[k], old[k]) for k in sorted(set(new) & set(old))}
                worst_key = max(diffs, key=diffs.get)
                worst_overall = max(worst_overall, diffs[worst_key])
                print(f"{rel}: {len(diffs)} tensors, worst {diffs[worst_key]:.1e} ({worst_key})")
                for k, d in diffs.items():
                    if d > threshold:
                        print(f"    {k}: {d:.1e}")
                        beyond.append(f"{rel}:{k}")
            else:
                same = open(new_path, "rb").read() == open(old_path, "rb").read()
                print(f"{rel}: {'identical' if same else 'DIFFERENT'}")
                if not same:
                    beyond.append(rel)
    print(f"\nworst relative difference {worst_overall:.1e}; "
          f"{len(beyond)} beyond {threshold:.0e}: {beyond}")
    return 1 if beyond else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary directory and "
                    "compare with the committed fixtures; write nothing")
    ap.add_argument("--threshold", type=float, default=1e-5,
                    help="relative difference above which a tensor is listed (default 1e-5)")
    args = ap.parse_args()
    if not args.check:
        run_all(FIXTURES)
        return
    with tempfile.TemporaryDirectory() as out_dir:
        run_all(out_dir)
        sys.exit(check(out_dir, args.threshold))


if __name__ == "__main__":
    main()
