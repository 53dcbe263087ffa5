"""Writes the committed 224x224 RGB test images, data/images/*.png, from scikit-image's bundled
samples: astronaut (NASA, public domain), chelsea (CC0, Stefan van der Walt) and coffee (CC0,
Rachel Michetti). Each is resized so that its shorter side is 256 (bilinear) and centre-cropped
to 224x224, torchvision's evaluation transform. The PNGs are what both sides read: their pixels
are the test input, exactly.

    tools/reference/.venv/bin/python tools/reference/images.py
"""

import os

import numpy as np
from PIL import Image
from skimage import data

from zoo import IMAGES_DIR


def prepare(pixels: np.ndarray) -> Image.Image:
    image = Image.fromarray(pixels).convert("RGB")
    w, h = image.size
    scale = 256 / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    w, h = image.size
    left, top = (w - 224) // 2, (h - 224) // 2
    return image.crop((left, top, left + 224, top + 224))


def main() -> None:
    os.makedirs(IMAGES_DIR, exist_ok=True)
    for name in ["astronaut", "chelsea", "coffee"]:
        path = os.path.join(IMAGES_DIR, f"{name}.png")
        prepare(getattr(data, name)()).save(path, optimize=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
