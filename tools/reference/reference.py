"""Generates the numeric parity fixtures for the Rust crate.

Reads the committed ``data/mnist_model.pth``, ``data/test_images.json`` and
``data/eval_digits.bin.gz`` and writes

  * ``tests/fixtures/reference.safetensors``: Grad-CAM / Guided Backprop /
    Guided Grad-CAM maps from Captum, pytorch-grad-cam and a plain-torch
    transcription of the seed report's Algorithm 1, for 29 images, each
    explaining the target class's logit (the log-probability is checked in
    float64 by float64.py);
  * ``tests/fixtures/eval_predictions.safetensors``: the model's predictions
    on the 2,500 held-out digits;
  * ``tests/fixtures/weights/*.pth``: variant and malformed weight files for
    the loader's error tests.

    tools/reference/.venv/bin/python tools/reference/reference.py

Deterministic: rerunning it rewrites byte-identical files.
"""

import argparse
import copy
import io
import json
import os
import pickle
import pickletools
import struct
import sys
import warnings
import zipfile
from importlib.metadata import version

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import MNIST_MEAN, MNIST_STD, LogitsNet, Net, load_model, normalize  # noqa: E402

from captum.attr import GuidedBackprop, GuidedGradCam, LayerGradCam  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

EVAL_PICKS = [13 + 156 * k for k in range(16)]
SHIFT_X, SHIFT_Y = 4, 3

# ---------------------------------------------------------------------------
# Deterministic safetensors writer.  safetensors' own save_file serialises the
# metadata map in a random order, so two runs would differ in the header;
# this writer sorts metadata keys and tensor names.  The result is a standard
# safetensors file (checked by reading it back with the safetensors package).

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float64): "F64",
           np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


def write_fixture(out_dir: str, name: str, out: dict, description: str, *peers: str) -> None:
    """Writes ``out`` (torch tensors or NumPy arrays; integers as int64, the rest float32) to
    ``out_dir/name`` with the description and the versions of torch and of the peer packages,
    and prints each tensor's shape and largest magnitude."""
    from importlib.metadata import version
    out = {k: (v.detach().numpy() if torch.is_tensor(v) else v) for k, v in out.items()}
    out = {k: np.ascontiguousarray(v.astype(np.int64 if v.dtype.kind in "iu" else np.float32))
           for k, v in out.items()}
    meta = {"description": description, "version_torch": torch.__version__,
            **{f"version_{peer.replace('-', '_')}": version(peer) for peer in peers}}
    path = os.path.join(out_dir, name)
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for k in sorted(out):
        print(f"  {k:34s} {list(out[k].shape)} max|.| {np.abs(out[k]).max():.4g}")


def write_safetensors(path: str, tensors: dict, metadata: dict) -> None:
    header = {"__metadata__": {k: str(metadata[k]) for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
    # Read back with the reference implementation.
    from safetensors.numpy import load_file
    back = load_file(path)
    for name, arr in tensors.items():
        if not np.array_equal(back[name], np.asarray(arr)):
            raise RuntimeError(f"{path}: {name} did not round-trip")


# ---------------------------------------------------------------------------
# Inputs


def logits_fixture_start(description: str) -> tuple:
    """What a parity-fixture script on the MNIST net starts with: its ``--out-dir`` argument,
    one deterministic torch thread, the committed network wrapped to return logits, and the
    29 reference images, normalised. Returns (args, logits model, images [29, 1, 28, 28])."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)
    net = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    return args, LogitsNet(net).eval(), x


def build_images(test_images_path: str, eval_digits_path: str):
    """Returns (pixels float32 [M,28,28], labels int64 [M] (-1 = none), sources)."""
    test_images, test_labels = digits.read_test_images(test_images_path)
    eval_labels, eval_bytes = digits.read_eval_digits(eval_digits_path)
    if len(test_images) != digits.NUM_TEST_IMAGES or len(eval_labels) != 2500:
        raise ValueError("unexpected committed data sizes")
    test = test_images.reshape(-1, 28, 28).astype(np.float32)
    ev = digits.bytes_to_pixels(eval_bytes).reshape(-1, 28, 28)

    pixels, labels, sources = [], [], []
    for i in range(len(test)):
        pixels.append(test[i]); labels.append(test_labels[i])
        sources.append(f"test_images.json[{i}]")
    for j in EVAL_PICKS:
        pixels.append(ev[j]); labels.append(int(eval_labels[j]))
        sources.append(f"eval_digits.bin.gz[{j}]/255")
    pixels.append(np.zeros((28, 28), np.float32)); labels.append(-1); sources.append("blank:0")
    pixels.append(np.ones((28, 28), np.float32)); labels.append(-1); sources.append("saturated:1")
    noisy = np.random.default_rng(0).uniform(0, 1, (28, 28)).astype(np.float32)
    pixels.append(noisy); labels.append(-1); sources.append("noisy:numpy.random.default_rng(0).uniform(0,1,(28,28)).astype(float32)")
    pixels.append((np.float32(1.0) - test[0]).astype(np.float32)); labels.append(-1)
    sources.append("inverted:1-test_images.json[0]")
    shifted = np.zeros((28, 28), np.float32)
    shifted[SHIFT_Y:, SHIFT_X:] = test[1][:28 - SHIFT_Y, :28 - SHIFT_X]
    pixels.append(shifted); labels.append(-1)
    sources.append(f"shifted:test_images.json[1] right {SHIFT_X} down {SHIFT_Y} zero fill")
    return np.stack(pixels).astype(np.float32), np.asarray(labels, np.int64), sources


# ---------------------------------------------------------------------------
# Maps


def conv2_features_and_grads(net: Net, x: torch.Tensor, target: torch.Tensor, use_logits: bool):
    """Forward with conv2's output captured; backward of sum_n score[n, target[n]]."""
    store = {}

    def hook(_m, _i, out):
        out.retain_grad()
        store["a"] = out

    h = net.conv2.register_forward_hook(hook)
    try:
        out = net.logits(x) if use_logits else net(x)
        score = out.gather(1, target[:, None]).sum()
        score.backward()
    finally:
        h.remove()
    net.zero_grad(set_to_none=True)
    a = store["a"]
    return a.detach(), a.grad.detach()


def upsample_padded(cam: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """[M,8,8] -> pad `pad` zeros per side -> bilinear (align_corners=False) -> [M,28,28]."""
    return F.interpolate(F.pad(cam[:, None], (pad, pad, pad, pad)), size=(28, 28),
                         mode="bilinear", align_corners=False)[:, 0]


def seed_gradcam_layer(net: Net, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Seed report Algorithm 1, cam = sum_k relu(alpha_k * A_k), on the logit (the seed's
    log-probability is checked against float64 by float64.py: in float32 its gradient is rounding
    noise for the images the model is sure of)."""
    a, g = conv2_features_and_grads(net, x, target, use_logits=True)
    alpha = g.mean(dim=(2, 3), keepdim=True)
    return F.relu(alpha * a).sum(dim=1)


def paper_gradcam(net: Net, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grad-CAM paper: score = logit; cam = relu(sum_k alpha_k A_k); no padding; bilinear."""
    a, g = conv2_features_and_grads(net, x, target, use_logits=True)
    alpha = g.mean(dim=(2, 3), keepdim=True)
    return upsample_padded(F.relu((alpha * a).sum(dim=1)), pad=0)


def relu_modules_intact(net: Net) -> bool:
    mods = [net.relu1, net.relu2, net.relu3]
    return all(type(m) is nn.ReLU for m in mods) and len({id(m) for m in mods}) == 3


def pgc_maps(net: Net, x: torch.Tensor, target: torch.Tensor):
    """pytorch-grad-cam GradCAM (one batched call) and GuidedBackpropReLUModel (per image), on
    the logits model.

    Both tools modify the model they are given (GradCAM registers hooks and
    calls eval(); GuidedBackpropReLUModel swaps every nn.ReLU for its own
    module and puts back ONE shared nn.ReLU instance), so they run on copies.
    """
    model = LogitsNet(copy.deepcopy(net)).eval()
    with GradCAM(model=model, target_layers=[model.net.conv2]) as cam:
        gradcam = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(t)) for t in target])
    gbp_model = GuidedBackpropReLUModel(LogitsNet(copy.deepcopy(net)).eval(), device=torch.device("cpu"))
    gbp = []
    for i in range(x.shape[0]):
        img = x[i:i + 1].clone()  # __call__ sets requires_grad on its argument
        out = gbp_model(img, target_category=int(target[i]))  # (H, W, C)
        gbp.append(out[:, :, 0])
    return np.asarray(gradcam, np.float32), np.stack(gbp).astype(np.float32)


def compute_reference(net: Net, pixels_np: np.ndarray):
    pixels = torch.from_numpy(pixels_np)[:, None]
    x = normalize(pixels)
    logits_net = LogitsNet(net).eval()

    feats = {}
    h = net.conv2.register_forward_hook(lambda _m, _i, out: feats.__setitem__("a", out.detach()))
    with torch.no_grad():
        log_probs = net(x)
    h.remove()
    with torch.no_grad():
        logits = net.logits(x)
    target = log_probs.argmax(dim=1)
    alt_target = (target + 1) % 10

    t = {}
    t["pixels"] = pixels
    t["input"] = x
    t["log_probs"] = log_probs
    t["logits"] = logits
    t["target"] = target
    t["alt_target"] = alt_target
    t["features"] = feats["a"]

    # Every map explains the class's logit: the log-probability's gradient of a prediction the
    # model is sure of is rounding noise in float32 (its target term 1 - p rounds away), which
    # no parity check can compare; float64.py checks the log-probability in float64.
    t["captum_layer_gradcam_relu"] = LayerGradCam(logits_net, net.conv2).attribute(
        x.clone(), target=target, relu_attributions=True)
    t["captum_layer_gradcam_signed"] = LayerGradCam(logits_net, net.conv2).attribute(
        x.clone(), target=target, relu_attributions=False)
    t["captum_guided_backprop"] = GuidedBackprop(logits_net).attribute(x.clone(), target=target)
    t["captum_guided_gradcam"] = GuidedGradCam(logits_net, net.conv2).attribute(
        x.clone(), target=target)
    t["captum_guided_gradcam_alt"] = GuidedGradCam(logits_net, net.conv2).attribute(
        x.clone(), target=alt_target)

    pgc_gradcam, pgc_gbp = pgc_maps(net, x, target)
    if not relu_modules_intact(net):
        raise RuntimeError("the reference model's ReLU modules were modified")
    t["pgc_gradcam"] = pgc_gradcam
    t["pgc_guided_backprop"] = pgc_gbp

    seed_layer = seed_gradcam_layer(net, x, target)
    t["seed_gradcam_layer"] = seed_layer
    t["seed_gradcam"] = upsample_padded(seed_layer)
    t["seed_guided_gradcam"] = t["captum_guided_backprop"][:, 0] * t["seed_gradcam"]
    t["paper_gradcam"] = paper_gradcam(net, x, target)

    out = {}
    for k, v in t.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        out[k] = np.ascontiguousarray(v)
        if out[k].dtype.kind == "f":
            out[k] = out[k].astype(np.float32)
    return out


# ---------------------------------------------------------------------------
# Weight variants


def canonicalize_legacy_keys(path: str, expect: dict) -> None:
    """Makes a legacy (non-zip) torch.save file of float32 tensors reproducible.

    The legacy format is: pickles of the magic number, protocol version and
    sys info; the object pickle, whose persistent ids name each storage by its
    memory address (``str(storage._cdata)``); a pickled list of those keys,
    sorted as strings; then, in that order, each storage as an i64 element
    count followed by the raw bytes.  Addresses (and so the order) change from
    run to run, so the storages are renamed "0", "1", ... in the order the
    object pickle first mentions them, and the list and data are written in
    that order.  Keys are protocol-2 pickle strings (``X`` + u32 length +
    bytes) and nothing in the format holds byte offsets.
    """
    if any(v.dtype != torch.float32 for v in expect.values()):
        raise ValueError("only float32 state dicts are supported")
    with open(path, "rb") as f:
        raw = f.read()
    bio = io.BytesIO(raw)
    for _ in range(3):  # magic number, protocol version, sys info
        pickle.load(bio)
    obj_start = bio.tell()
    for _ in pickletools.genops(bio):  # skip the object pickle without running it
        pass
    obj_end = bio.tell()
    keys = pickle.load(bio)
    blocks = {}
    for key in keys:
        (count,) = struct.unpack("<q", bio.read(8))
        blocks[key] = struct.pack("<q", count) + bio.read(count * 4)
    if bio.read(1):
        raise RuntimeError(f"{path}: trailing bytes")

    obj = raw[obj_start:obj_end]
    enc = lambda k: b"X" + struct.pack("<I", len(k)) + k.encode()  # noqa: E731
    order = sorted(keys, key=lambda k: obj.find(enc(k)))
    if any(obj.find(enc(k)) < 0 for k in keys):
        raise RuntimeError(f"{path}: storage key not found in the object pickle")
    # Two-step rename so that a new name never collides with an old key.
    for i, key in enumerate(order):
        obj = obj.replace(enc(key), enc(f"@{i}"))
    for i in range(len(order)):
        obj = obj.replace(enc(f"@{i}"), enc(str(i)))
    out = raw[:obj_start] + obj + pickle.dumps([str(i) for i in range(len(order))], protocol=2)
    out += b"".join(blocks[k] for k in order)
    with open(path, "wb") as f:
        f.write(out)
    back = torch.load(path, map_location="cpu", weights_only=True)
    if list(back) != list(expect) or not all(torch.equal(back[k], expect[k]) for k in expect):
        raise RuntimeError(f"{path}: canonicalised file does not load back")


def write_weight_variants(net: Net, out_dir: str) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
    gen = torch.Generator().manual_seed(7)
    files = []

    def save(name, obj, **kw):
        path = os.path.join(out_dir, name)
        # torch names the archive's root folder after the file, so save by path.
        torch.save(obj, path, **kw)
        files.append(name)

    save("f64.pth", {k: v.to(torch.float64) for k, v in sd.items()})
    save("f16.pth", {k: v.to(torch.float16) for k, v in sd.items()})
    extra = dict(sd)
    extra["fc3.weight"] = torch.randn(10, 10, generator=gen)
    save("extra_key.pth", extra)
    save("missing_key.pth", {k: v for k, v in sd.items() if k != "fc2.bias"})
    wrong = dict(sd)
    wrong["conv2.weight"] = sd["conv2.weight"][:, :, 1:4, 1:4].contiguous()
    save("wrong_shape.pth", wrong)
    save("full_model.pth", net)
    save("nested.pth", {"model_state_dict": sd, "epoch": 3})
    save("not_state_dict.pth", [1, 2, 3])
    save("legacy.pth", sd, _use_new_zipfile_serialization=False)
    # Non-finite parameters (the loader refuses them, naming key and index), and a finite
    # weight so large that the forward pass overflows (the explainer reports it).
    nan = dict(sd)
    nan["conv1.weight"] = sd["conv1.weight"].clone()
    nan["conv1.weight"][0, 0, 1, 2] = float("nan")
    save("nan.pth", nan)
    inf = dict(sd)
    inf["fc1.bias"] = sd["fc1.bias"].clone()
    inf["fc1.bias"][7] = float("inf")
    save("inf.pth", inf)
    f64_overflow = {k: v.to(torch.float64) for k, v in sd.items()}
    f64_overflow["fc2.weight"][3, 4] = 1e300  # finite in float64, infinite in float32
    save("f64_overflow.pth", f64_overflow)
    huge = dict(sd)
    huge["conv1.weight"] = sd["conv1.weight"].clone()
    huge["conv1.weight"][:, 0, 2, 2] = 1e38
    save("overflow.pth", huge)
    canonicalize_legacy_keys(os.path.join(out_dir, "legacy.pth"), sd)

    zpath = os.path.join(out_dir, "zip_not_torch.pth")
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("readme.txt", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, "This is a zip archive but not a PyTorch checkpoint.\n")
    files.append("zip_not_torch.pth")
    return {name: os.path.getsize(os.path.join(out_dir, name)) for name in files}


# ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    ap.add_argument("--test-images", default=digits.TEST_IMAGES)
    ap.add_argument("--eval-digits", default=digits.EVAL_DIGITS)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    ap.add_argument("--skip-npm-check", action="store_true",
                    help="do not cross-check the committed data files against the npm JSON")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # Captum warns that it sets requires_grad and hooks the ReLUs; both expected.
    warnings.filterwarnings("ignore", category=UserWarning, module="captum")

    if not args.skip_npm_check and os.path.isdir(digits.DEFAULT_NPM_DIR):
        digits.check_committed_against_npm(args.test_images, args.eval_digits)
        print("committed data files match the npm JSON split rule")

    net = load_model(args.weights)
    pixels, labels, sources = build_images(args.test_images, args.eval_digits)
    ref = compute_reference(net, pixels)
    ref["labels"] = labels

    versions = {"torch": torch.__version__, "torchvision": version("torchvision"),
                "captum": version("captum"), "grad_cam": version("grad-cam"),
                "numpy": np.__version__, "python": sys.version.split()[0]}
    meta = {
        "description": "Grad-CAM parity fixtures for the MNIST CNN (data/mnist_model.pth)",
        "sources": json.dumps(sources),
        "normalization": f"(pixel - {MNIST_MEAN}) / {MNIST_STD}",
        "target_layer": "conv2",
        "score": "the target class's logit for every map (log_probs and logits: the outputs)",
        "labels": "true class of each image, -1 for synthetic edge cases",
        **{f"version_{k}": v for k, v in versions.items()},
    }
    ref_path = os.path.join(args.out_dir, "reference.safetensors")
    write_safetensors(ref_path, ref, meta)

    # Whole eval set.
    eval_labels, eval_bytes = digits.read_eval_digits(args.eval_digits)
    ex = normalize(torch.from_numpy(digits.bytes_to_pixels(eval_bytes)).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        lp = net(ex)
    pred = lp.argmax(dim=1).numpy().astype(np.int64)
    acc = float((pred == eval_labels).mean())
    eval_path = os.path.join(args.out_dir, "eval_predictions.safetensors")
    write_safetensors(eval_path, {"predictions": pred, "log_probs_head": lp[:64].numpy().astype(np.float32)},
                      {"accuracy": f"{acc:.4f}", "correct": str(int((pred == eval_labels).sum())),
                       "total": str(len(pred)), "pixels": "eval_digits.bin.gz byte/255",
                       **{f"version_{k}": v for k, v in versions.items()}})

    weights = write_weight_variants(net, os.path.join(args.out_dir, "weights"))

    # Summary.
    print(f"wrote {ref_path} ({os.path.getsize(ref_path)} bytes, M={len(pixels)})")
    for k in sorted(ref):
        v = ref[k]
        extra = f"max|.| {np.abs(v).max():.6g}" if v.dtype.kind == "f" else f"{v.tolist()}"
        print(f"  {k:34s} {str(list(v.shape)):16s} {str(v.dtype):8s} {extra}")
    print("  max |captum_gbp - pgc_gbp|       ",
          float(np.abs(ref["captum_guided_backprop"][:, 0] - ref["pgc_guided_backprop"]).max()))
    d = np.abs(ref["captum_layer_gradcam_relu"][:, 0] - ref["seed_gradcam_layer"]).max()
    print(f"  max |captum relu cam - seed cam| {float(d):.6g} (differ where channels have mixed signs)")
    print(f"wrote {eval_path}: accuracy {acc:.4f} ({int((pred == eval_labels).sum())}/{len(pred)})")
    print(f"wrote {len(weights)} weight variants ({sum(weights.values())} bytes):",
          ", ".join(f"{k}={v}" for k, v in sorted(weights.items())))


if __name__ == "__main__":
    main()
