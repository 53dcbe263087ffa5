"""Parity fixtures for the zoo's ResNets: tests/fixtures/resnet.safetensors.

* torchvision ``resnet18()`` with the seeded weights and BatchNorm statistics of
  ``zoo.seeded_state_dict(seed=18)`` (regenerated bit for bit by the Rust tests), in eval mode,
  on the three committed 224x224 RGB images (ImageNet normalisation), explained at ``layer4``
  for explicit per-image classes (``r18_target``):
    r18_logits                 the logits [3, 1000]
    r18_captum_layer_gradcam   Captum LayerGradCam, relu_attributions=True [3, 1, 7, 7]
    r18_captum_layer_gradcam_signed                  relu_attributions=False
    r18_captum_guided_backprop Captum GuidedBackprop [3, 3, 56, 56] *
    r18_captum_guided_gradcam  Captum GuidedGradCam [3, 3, 56, 56] *
    r18_pgc_gradcam            pytorch-grad-cam GradCAM [3, 56, 56] *
    r18_pgc_guided_backprop    pytorch-grad-cam GuidedBackpropReLUModel [3, 56, 56, 3] *
    r18_pgc_fullgrad           pytorch-grad-cam FullGrad (the input gradient and every
                               BatchNorm's bias gradient) [3, 56, 56] *
    r18_pgc_gradcam_layer3_layer4  pytorch-grad-cam GradCAM, target_layers=[layer3, layer4] [3, 56, 56] *
    r18_pgc_<cam>_layer        pytorch-grad-cam's Grad-CAM++, XGrad-CAM, HiResCAM, LayerCAM and
                               Eigen-CAM weighting at layer4, relu(sum_k w_k A_k), and
                               KPCA-CAM's projection (its defaults), relu'd [3, 7, 7]
  and tests/fixtures/weights/{resnet34,resnet50,fashion}_keys.pth: those networks' keys with
  one-element tensors, for the loader's error messages.
  (* every 4th row and column of the 224x224 map, so that the fixture stays small; the test
  compares the same samples.)
* the trained ``data/fashion_resnet.pth`` on the ten committed Fashion-MNIST images, predicted
  classes (``fashion_target``), log-softmax not applied (the model returns logits):
    fashion_captum_guided_gradcam_layer4 / _layer3   Captum GuidedGradCam [10, 1, 28, 28]
    fashion_captum_layer_gradcam_layer3              Captum LayerGradCam (ReLU) [10, 1, 7, 7]
    fashion_pgc_scorecam_layer4                      pytorch-grad-cam ScoreCAM [10, 28, 28]
    fashion_pgc_gradcam_layer3_layer4                GradCAM, target_layers=[layer3, layer4]

The file is written from scratch (torch's CPU kernels round differently on different processors:
`regenerate.py --check` says how far a regeneration moves the committed files).

    tools/reference/.venv/bin/python tools/reference/resnet.py
"""

import copy
import os
import warnings

import numpy as np
import torch
import torchvision

from captum.attr import GuidedBackprop, GuidedGradCam, LayerGradCam
from pytorch_grad_cam import FullGrad, GradCAM, ScoreCAM
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import (get_2d_projection_kernel,
                                                       get_2d_projection_with_sign_correction)

from reference import write_safetensors
from zoo import (REPO_ROOT, fashion_resnet, imagenet_normalize, no_inplace_relus,
                 reference_images, seeded_state_dict, trained_fashion_resnet)

SEED = 18
TARGETS = [7, 281, 504]
STEP = 4


def layer_activations_and_gradients(model, layer, x, target):
    store = {}

    def hook(_m, _i, out):
        out.retain_grad()
        store["a"] = out

    h = layer.register_forward_hook(hook)
    try:
        model(x).gather(1, target[:, None]).sum().backward()
    finally:
        h.remove()
    model.zero_grad(set_to_none=True)
    return store["a"].detach(), store["a"].grad.detach()


def cam_layers(a, g):
    """pytorch-grad-cam's weightings at the layer, combined as relu(sum_k w_k A_k)."""
    spatial = (2, 3)
    g2, g3 = g ** 2, g ** 3
    sum_a = a.sum(dim=spatial, keepdim=True)
    aij = torch.where(g != 0, g2 / (2 * g2 + sum_a * g3 + 1e-6), torch.zeros_like(g))
    relu = torch.nn.functional.relu
    weights = {
        "grad_cam_plus_plus": (relu(g) * aij).sum(dim=spatial, keepdim=True),
        "xgrad_cam": (g * a / (sum_a + 1e-7)).sum(dim=spatial, keepdim=True),
        "hires_cam": g,
        "layer_cam": relu(g),
    }
    out = {name: relu((w * a).sum(dim=1)) for name, w in weights.items()}
    projection = get_2d_projection_with_sign_correction(a.numpy())
    out["eigen_cam"] = relu(torch.from_numpy(np.asarray(projection, np.float32)))
    out["kpca_cam"] = relu(torch.from_numpy(get_2d_projection_kernel(a.numpy())))
    return out


def seeded_resnet18() -> tuple:
    """torchvision's ResNet-18 with the tests' seeded weights (eval mode, in-place ReLUs off), the
    three committed 224x224 images normalised, and their classes: (model, x, target)."""
    model = torchvision.models.resnet18()
    model.load_state_dict(seeded_state_dict(model, SEED))
    model = no_inplace_relus(model.eval())
    _, pixels = reference_images()
    x = torch.from_numpy(imagenet_normalize(pixels))
    return model, x, torch.tensor(TARGETS[:len(x)])


def resnet18_fixtures() -> dict:
    model, x, target = seeded_resnet18()
    t = {"r18_target": target, "r18_input": x[:, :, ::STEP, ::STEP]}
    with torch.no_grad():
        t["r18_logits"] = model(x)
    t["r18_captum_layer_gradcam"] = LayerGradCam(model, model.layer4).attribute(
        x.clone(), target=target, relu_attributions=True)
    t["r18_captum_layer_gradcam_signed"] = LayerGradCam(model, model.layer4).attribute(
        x.clone(), target=target, relu_attributions=False)
    sample = lambda m: m[..., ::STEP, ::STEP]  # noqa: E731
    t["r18_captum_guided_backprop"] = sample(GuidedBackprop(model).attribute(x.clone(), target=target))
    t["r18_captum_guided_gradcam"] = sample(
        GuidedGradCam(model, model.layer4).attribute(x.clone(), target=target))
    pgc_model = copy.deepcopy(model)
    with GradCAM(model=pgc_model, target_layers=[pgc_model.layer4]) as cam:
        t["r18_pgc_gradcam"] = sample(torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target])))
    with GradCAM(model=pgc_model, target_layers=[pgc_model.layer3, pgc_model.layer4]) as cam:
        t["r18_pgc_gradcam_layer3_layer4"] = sample(torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target])))
    with FullGrad(model=pgc_model, target_layers=[]) as cam:
        t["r18_pgc_fullgrad"] = sample(torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target])))
    gbp = GuidedBackpropReLUModel(copy.deepcopy(model), device=torch.device("cpu"))
    t["r18_pgc_guided_backprop"] = np.stack([
        gbp(x[i:i + 1].clone(), target_category=int(target[i]))[::STEP, ::STEP]
        for i in range(len(target))])
    a, g = layer_activations_and_gradients(model, model.layer4, x.clone(), target)
    for name, layer in cam_layers(a, g).items():
        t[f"r18_pgc_{name}_layer"] = layer
    return t


def fashion_fixtures() -> dict:
    model, x = trained_fashion_resnet()
    with torch.no_grad():
        target = model(x).argmax(1)
    t = {"fashion_target": target}
    for layer in ["layer3", "layer4"]:
        t[f"fashion_captum_guided_gradcam_{layer}"] = GuidedGradCam(
            model, getattr(model, layer)).attribute(x.clone(), target=target)
    t["fashion_captum_layer_gradcam_layer3"] = LayerGradCam(model, model.layer3).attribute(
        x.clone(), target=target, relu_attributions=True)
    pgc_model = copy.deepcopy(model)
    with ScoreCAM(model=pgc_model, target_layers=[pgc_model.layer4]) as cam:
        t["fashion_pgc_scorecam_layer4"] = torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target]))
    with GradCAM(model=pgc_model, target_layers=[pgc_model.layer3, pgc_model.layer4]) as cam:
        t["fashion_pgc_gradcam_layer3_layer4"] = torch.from_numpy(cam(
            input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(c)) for c in target]))
    return t


def write_key_files(out: str) -> None:
    """Tiny state dicts with a ResNet's keys (every tensor a single zero) for the loader's
    error tests: tests/fixtures/weights/resnet34_keys.pth, resnet50_keys.pth, and
    fashion_keys.pth (the Fashion ResNet's keys: every shape wrong)."""
    os.makedirs(out, exist_ok=True)
    models = {
        "resnet34_keys.pth": torchvision.models.resnet34(),
        "resnet50_keys.pth": torchvision.models.resnet50(),
        "fashion_keys.pth": fashion_resnet(),
    }
    for name, model in models.items():
        keys = {k: torch.zeros(1) for k in model.state_dict()}
        torch.save(keys, os.path.join(out, name))
        print(f"wrote {name}")


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    t = {**resnet18_fixtures(), **fashion_fixtures()}
    out = {}
    for k, v in t.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        v = np.ascontiguousarray(v)
        out[k] = v.astype(np.int64) if v.dtype.kind in "iu" else v.astype(np.float32)
    path = os.path.join(args.out_dir, "resnet.safetensors")
    write_safetensors(path, out, {"torch": torch.__version__, "torchvision": torchvision.__version__,
                                  "seed": SEED, "sample_step": STEP,
                                  "script": "tools/reference/resnet.py"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    write_key_files(os.path.join(args.out_dir, "weights"))


if __name__ == "__main__":
    main()
