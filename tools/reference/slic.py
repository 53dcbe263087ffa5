"""Parity fixture for the SLIC superpixels of `crates/superpixels`: scikit-image's
``skimage.segmentation.slic`` on a few small images.

Writes tests/fixtures/slic.safetensors. Inputs (stored exactly as segmented, so the Rust side
reads the same pixels):

  image/astronaut     uint8 [224, 224, 3]: ``skimage.data.astronaut()`` (512 x 512), every
                      other pixel of its centre 448 x 448 crop, ``astronaut()[32:480:2, 32:480:2]``
  image/chelsea       uint8 [48, 48, 3]: ``skimage.data.chelsea()[60:252:4, 120:312:4]`` (every
                      fourth pixel of a 192 x 192 crop of the cat)
  image/digit_<i>     uint8 [28, 28]: held-out digit record i of ``data/eval_digits.bin.gz``
  image/fashion_boot  uint8 [28, 28]: ``data/fashion/0000_boot.png`` (8-bit grey PNG)
  image/blocks        uint8 [48, 48]: a synthetic grey image of 3 x 3 flat blocks of 16 pixels,
                      block (i, j) at level ((3 i + j) mod 4) * 85: distances tie exactly there
  image/digit_float   float32 [28, 28]: digit 13's bytes / 255 * 0.5 + 0.25 in float32: a float
                      image not spanning [0, 1], segmented by skimage as ``.astype(float64)``
                      (slic rescales it to [0, 1] first)
  lab/rgb, lab/skimage  uint8 [192, 3] colours (every fourth grey level and 128 seeded random
                      colours) and ``skimage.color.rgb2lab`` of them as float64 [192, 3]

and for each case of the metadata's ``cases`` (a JSON list: name, image, and the keyword
arguments passed to ``slic``; ``channel_axis`` is -1 for the RGB images and None for the grey
ones), ``labels/<name>``: slic's labels as uint8 [H, W] (every case has fewer than 256 labels;
the script checks it). The float arguments are short decimals, which every JSON reader parses to
the same double (serde_json's default parser can be one unit in the last place off on long
ones, and one unit of compactness moves labels).

The RGB photographs are segmented with the parameters of Captum's tutorials (n_segments 50 and
100, compactness 10, start_label 0 and 1); the grey images with small compactness (0.01 to 0.5:
their intensities lie in [0, 1], where the default 10 makes the segments a plain grid); one case
each without connectivity enforcement, in SLICO mode and on raw RGB (``convert2lab=False``,
fewer iterations, other size factors: the largest-segment limit splits segments there). With
the smallest compactness some k-means clusters lose all their pixels (``digit_13_n100``, and
``digit_169_unconnected``, whose labels then skip those clusters' numbers).

Deterministic (SLIC on a regular grid draws nothing).

    tools/reference/.venv/bin/python tools/reference/slic.py
"""

import argparse
import json
import os
import sys
from importlib.metadata import version

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from reference import write_safetensors  # noqa: E402

from skimage import data  # noqa: E402
from skimage.color import rgb2lab  # noqa: E402
from skimage.segmentation import slic  # noqa: E402

DIGITS = (13, 169, 325)
LAB_SEED = 11


def inputs() -> dict:
    _, eval_bytes = digits.read_eval_digits(digits.EVAL_DIGITS)
    images = {
        "astronaut": np.ascontiguousarray(data.astronaut()[32:480:2, 32:480:2]),
        "chelsea": np.ascontiguousarray(data.chelsea()[60:252:4, 120:312:4]),
        "fashion_boot": np.asarray(
            Image.open(os.path.join(digits.REPO_ROOT, "data", "fashion", "0000_boot.png"))),
    }
    for i in DIGITS:
        images[f"digit_{i}"] = eval_bytes[i].reshape(28, 28)
    yy, xx = np.mgrid[:48, :48]
    images["blocks"] = (((yy // 16) * 3 + xx // 16) % 4 * 85).astype(np.uint8)
    images["digit_float"] = (eval_bytes[DIGITS[0]].reshape(28, 28).astype(np.float32)
                             / np.float32(255) * np.float32(0.5) + np.float32(0.25))
    assert images["astronaut"].shape == (224, 224, 3) and images["chelsea"].shape == (48, 48, 3)
    assert images["fashion_boot"].dtype == np.uint8 and images["fashion_boot"].shape == (28, 28)
    return images


def cases() -> list:
    out = []
    for n in (50, 100):
        for start in (0, 1):
            out.append({"name": f"astronaut_n{n}_start{start}", "image": "astronaut",
                        "n_segments": n, "compactness": 10.0, "start_label": start})
    out += [
        {"name": "chelsea_unconnected", "image": "chelsea", "n_segments": 40,
         "compactness": 10.0, "enforce_connectivity": False},
        {"name": "chelsea_slico", "image": "chelsea", "n_segments": 40, "compactness": 10.0,
         "slic_zero": True},
        {"name": "chelsea_rgb", "image": "chelsea", "n_segments": 30, "compactness": 0.3,
         "convert2lab": False, "max_num_iter": 4, "min_size_factor": 0.2,
         "max_size_factor": 1.0, "start_label": 0},
    ]
    for i in DIGITS:
        out.append({"name": f"digit_{i}_n20", "image": f"digit_{i}", "n_segments": 20,
                    "compactness": 0.1})
        out.append({"name": f"digit_{i}_n50", "image": f"digit_{i}", "n_segments": 50,
                    "compactness": 0.3})
    out += [
        {"name": "fashion_boot_n20", "image": "fashion_boot", "n_segments": 20,
         "compactness": 0.1},
        {"name": "fashion_boot_n50", "image": "fashion_boot", "n_segments": 50,
         "compactness": 0.5, "start_label": 0},
        {"name": f"digit_{DIGITS[0]}_n100", "image": f"digit_{DIGITS[0]}", "n_segments": 100,
         "compactness": 0.01},
        {"name": f"digit_{DIGITS[1]}_unconnected", "image": f"digit_{DIGITS[1]}",
         "n_segments": 50, "compactness": 0.03, "enforce_connectivity": False},
        {"name": "blocks_n30", "image": "blocks", "n_segments": 30, "compactness": 0.1},
        {"name": "digit_float_n20", "image": "digit_float", "n_segments": 20,
         "compactness": 0.1},
    ]
    return out


def lab_colours() -> np.ndarray:
    grey = np.concatenate([np.arange(0, 256, 4), [255]])[:64].astype(np.uint8)
    rng = np.random.default_rng(LAB_SEED)
    colours = rng.integers(0, 256, size=(128, 3), dtype=np.uint8)
    return np.concatenate([np.repeat(grey[:, None], 3, axis=1), colours])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    images = inputs()
    out = {f"image/{k}": v for k, v in images.items()}
    all_cases = cases()
    for case in all_cases:
        image = images[case["image"]]
        kwargs = {k: v for k, v in case.items() if k not in ("name", "image")}
        if image.dtype == np.float32:
            image = image.astype(np.float64)
        channel_axis = -1 if image.ndim == 3 else None
        labels = slic(image, channel_axis=channel_axis, **kwargs)
        ids = np.unique(labels)
        if ids.max() >= 256:
            raise ValueError(f"{case['name']}: {ids.max()} does not fit uint8")
        out[f"labels/{case['name']}"] = labels.astype(np.uint8)
        print(f"  {case['name']:28s} {len(ids):4d} segments, ids {ids.min()}..{ids.max()}")
    colours = lab_colours()
    out["lab/rgb"] = colours
    out["lab/skimage"] = rgb2lab(colours[None]).reshape(-1, 3)
    meta = {"description": "scikit-image slic labels for the Rust SLIC of crates/superpixels",
            "cases": json.dumps(all_cases, sort_keys=True),
            "version_scikit_image": version("scikit-image"), "version_numpy": version("numpy")}
    path = os.path.join(args.out_dir, "slic.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
