"""Parity fixtures for Deep Feature Factorisation: tests/fixtures/factorization.safetensors.

pytorch-grad-cam 1.5.7's ``DeepFeatureFactorization`` (scikit-learn's NMF, ``init="random"``,
``random_state=0``, its coordinate descent) on

* the MNIST CNN (``data/mnist_model.pth``, logits) at ``conv2`` over the 29 reference images
  (one factorisation for the batch), 5 and 3 components:
    mnist_dff<k>_concepts        [k, 10]  (the transpose of the peer's [10, k])
    mnist_dff<k>_maps            [29, k, 28, 28]  each concept's map, min-max normalised, resized
    mnist_dff<k>_concept_logits  [k, 10]  the network after conv2 on a map holding the concept in
                                 every cell (computation_on_concepts)
* torchvision ``resnet18()`` with the tests' seeded weights (seed 18, resnet.py's) at ``layer4``
  over the three committed 224x224 images, 5 components, ``computation_on_concepts=model.fc``:
    r18_dff_concepts [5, 512], r18_dff_maps [3, 5, 56, 56] (every 4th row and column),
    r18_dff_concept_logits [5, 1000]

    tools/reference/.venv/bin/python tools/reference/factorization.py
"""

import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
from reference import build_images, write_safetensors  # noqa: E402
from resnet import STEP, seeded_resnet18  # noqa: E402

from pytorch_grad_cam import DeepFeatureFactorization  # noqa: E402


def run(model, layer, x, components, head):
    dff = DeepFeatureFactorization(model=model, target_layer=layer, computation_on_concepts=head)
    concepts, maps, logits = dff(x.clone(), n_components=components)
    # Concepts stored one per row ([k, channels]), so each is compared to its own largest value.
    return (np.float32(concepts).T, np.stack(maps).astype(np.float32), np.float32(logits))


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    out = {}

    net = LogitsNet(load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))).eval()
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    inner = net.net

    def mnist_head(concepts):
        """The network after conv2, on [k, 10, 8, 8] maps holding each concept everywhere."""
        a = concepts[:, :, None, None].expand(-1, -1, 8, 8)
        h = inner.relu2(F.max_pool2d(a, 2)).flatten(1)
        return inner.fc2(inner.relu3(inner.fc1(h)))

    for k in (5, 3):
        concepts, maps, logits = run(net, inner.conv2, x, k, mnist_head)
        out[f"mnist_dff{k}_concepts"], out[f"mnist_dff{k}_maps"] = concepts, maps
        out[f"mnist_dff{k}_concept_logits"] = logits

    model, x, _ = seeded_resnet18()
    concepts, maps, logits = run(model, model.layer4, x, 5, model.fc)
    out["r18_dff_concepts"], out["r18_dff_concept_logits"] = concepts, logits
    out["r18_dff_maps"] = np.ascontiguousarray(maps[..., ::STEP, ::STEP])

    from importlib.metadata import version
    meta = {"description": "pytorch-grad-cam DeepFeatureFactorization", "version_torch": torch.__version__,
            "version_grad_cam": version("grad-cam"), "version_scikit_learn": version("scikit-learn"),
            "script": "tools/reference/factorization.py"}
    path = os.path.join(args.out_dir, "factorization.safetensors")
    write_safetensors(path, {k: np.ascontiguousarray(v) for k, v in out.items()}, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for k in sorted(out):
        print(f"  {k:28s} {list(out[k].shape)} max|.| {np.abs(out[k]).max():.4g}")


if __name__ == "__main__":
    main()
