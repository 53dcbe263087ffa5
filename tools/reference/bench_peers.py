"""Benchmarks the Python peers of the Rust crate (images per second).

Peers, all on CPU, on the MNIST CNN (data/mnist_model.pth; --model resnet18 and --model vit
for the others):
  forward                 model forward only (torch.no_grad)
  captum_guided_gradcam   prediction forward + Captum GuidedGradCam(model, conv2)
  captum_layer_gradcam    prediction forward + Captum LayerGradCam (ReLU) +
                          LayerAttribution.interpolate to 28x28 (bilinear)
  captum_guided_backprop  prediction forward + Captum GuidedBackprop
  captum_deconvolution    prediction forward + Captum Deconvolution
  captum_occlusion        prediction forward + Captum Occlusion, window (1,4,4), strides
                          (1,4,4), perturbations_per_eval = 256 // batch (at most 256 images
                          per forward, as the Rust side)
  pgc_gradcam             pytorch-grad-cam GradCAM (batched, it predicts the target itself)
  pgc_gradcam_eigen_smooth, pgc_gradcam_aug_smooth
                          the same with eigen_smooth=True / aug_smooth=True
  pgc_ablationcam         pytorch-grad-cam AblationCAM (batch_size 32) on the logits
  pgc_gradcam_conv1_conv2 pytorch-grad-cam GradCAM with target_layers=[conv1, conv2]
  pgc_gradcam_guided      pytorch-grad-cam GradCAM (batched, it predicts the
                          target itself) + GuidedBackpropReLUModel (one image
                          per call, as that API requires) + their product

At batch 1 one pass runs over --batch1-images digits one at a time; at batch
B > 1 one pass is one call on the first B digits.  Every map is copied to a
host numpy array.  One warm-up pass, then --repeats timed passes; the median
images/s is reported.

Prints one JSON document on stdout; progress goes to stderr.

    tools/reference/.venv/bin/python tools/reference/bench_peers.py \\
        --digits data/eval_digits.bin.gz --weights data/mnist_model.pth \\
        --batches 1,1000 --repeats 5 --threads 1,2 --batch1-images 200
"""

import argparse
import copy
import json
import operator
import os
import statistics
import sys
import time
import warnings
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402

import torchvision  # noqa: E402
from captum.attr import (Deconvolution, GuidedBackprop, GuidedGradCam,  # noqa: E402
                         LayerAttribution, LayerGradCam, Occlusion)
from zoo import imagenet_normalize, no_inplace_relus, reference_images  # noqa: E402
from pytorch_grad_cam import AblationCAM, GradCAM  # noqa: E402
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel  # noqa: E402

PEERS = ["forward", "captum_guided_gradcam", "captum_layer_gradcam", "captum_guided_backprop",
         "pgc_gradcam_guided", "captum_deconvolution", "pgc_gradcam", "pgc_gradcam_eigen_smooth",
         "pgc_gradcam_aug_smooth", "pgc_ablationcam", "captum_occlusion", "pgc_gradcam_conv1_conv2"]


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


class Peers:
    def __init__(self, net, layer_name: str, size: int, pgc_gbp_images: int,
                 reshape_transform=None) -> None:
        self.net = net
        self.size = size
        layer = operator.attrgetter(layer_name)(net)
        self.ggc = GuidedGradCam(net, layer)
        self.lgc = LayerGradCam(net, layer)
        self.gbp = GuidedBackprop(net)
        self.deconvolution = Deconvolution(net)
        self.occlusion = Occlusion(net)
        # pytorch-grad-cam mutates the model it is given, so it gets a copy.
        self.pgc_net = copy.deepcopy(net)
        self.pgc_cam = GradCAM(model=self.pgc_net,
                               target_layers=[operator.attrgetter(layer_name)(self.pgc_net)],
                               reshape_transform=reshape_transform)
        # Ablation-CAM divides by the clean score: the logit's, as the Rust row, since the
        # log-probability of a certain prediction is 0.
        ablation_net = copy.deepcopy(net)
        ablation_layer = operator.attrgetter(layer_name)(ablation_net)
        if hasattr(ablation_net, "logits"):
            ablation_net = LogitsNet(ablation_net)
        self.pgc_ablation = AblationCAM(model=ablation_net, target_layers=[ablation_layer])
        # The MNIST net over two layers (pytorch-grad-cam's list of target layers).
        self.pgc_cam_two = GradCAM(model=self.pgc_net, target_layers=[
            self.pgc_net.conv1, self.pgc_net.conv2]) if layer_name == "conv2" else None
        self.pgc_gbp = GuidedBackpropReLUModel(self.pgc_net, device=torch.device("cpu"))
        self.pgc_gbp_images = pgc_gbp_images
        self.estimated_secs = None

    def predict(self, x):
        with torch.no_grad():
            return self.net(x).argmax(dim=1)

    def forward(self, x):
        with torch.no_grad():
            return self.net(x).numpy()

    def captum_guided_gradcam(self, x):
        return self.ggc.attribute(x.clone(), target=self.predict(x)).detach().numpy()

    def captum_layer_gradcam(self, x):
        cam = self.lgc.attribute(x.clone(), target=self.predict(x), relu_attributions=True)
        return LayerAttribution.interpolate(cam, (self.size, self.size),
                                            interpolate_mode="bilinear").detach().numpy()

    def captum_guided_backprop(self, x):
        return self.gbp.attribute(x.clone(), target=self.predict(x)).detach().numpy()

    def captum_deconvolution(self, x):
        return self.deconvolution.attribute(x.clone(), target=self.predict(x)).detach().numpy()

    def captum_occlusion(self, x):
        return self.occlusion.attribute(
            x.clone(), target=self.predict(x), sliding_window_shapes=(x.shape[1], 4, 4),
            strides=(x.shape[1], 4, 4), perturbations_per_eval=max(1, 256 // x.shape[0])
        ).detach().numpy()

    def pgc_gradcam(self, x):
        return self.pgc_cam(input_tensor=x, targets=None)

    def pgc_gradcam_eigen_smooth(self, x):
        return self.pgc_cam(input_tensor=x, targets=None, eigen_smooth=True)

    def pgc_gradcam_aug_smooth(self, x):
        return self.pgc_cam(input_tensor=x, targets=None, aug_smooth=True)

    def pgc_gradcam_conv1_conv2(self, x):
        return self.pgc_cam_two(input_tensor=x, targets=None)

    def pgc_ablationcam(self, x):
        return self.pgc_ablation(input_tensor=x, targets=None)

    def pgc_gradcam_guided(self, x):
        """Returns the maps; sets self.estimated_secs when only a subset was run."""
        t0 = time.perf_counter()
        cam = self.pgc_cam(input_tensor=x, targets=None)  # [N,H,W] numpy, argmax targets
        pred = self.pgc_cam.outputs.argmax(dim=1)
        t1 = time.perf_counter()
        n = x.shape[0]
        if self.pgc_gbp_images and n > self.pgc_gbp_images:
            n = self.pgc_gbp_images
        gb = np.stack([self.pgc_gbp(x[i:i + 1].clone(), target_category=int(pred[i]))
                       for i in range(n)])  # [n, H, W, C]
        out = cam[:n, :, :, None] * gb
        t2 = time.perf_counter()
        if n < x.shape[0]:
            self.estimated_secs = (t1 - t0) + (t2 - t1) * x.shape[0] / n
        return out


def time_pass(bench: "Peers", fn, x: torch.Tensor, batch: int, n_images: int) -> float:
    """Seconds for one pass over n_images images at the given batch size."""
    bench.estimated_secs = None
    t0 = time.perf_counter()
    if batch == 1:
        for i in range(n_images):
            fn(x[i:i + 1])
    else:
        fn(x[:batch])
    secs = time.perf_counter() - t0
    return secs if bench.estimated_secs is None else bench.estimated_secs


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mnist", choices=["mnist", "resnet18", "vit"],
                    help="the seed's MNIST CNN on the evaluation digits, torchvision's resnet18 "
                         "(random weights, eval mode, explained at layer4) on the committed "
                         "224x224 images, repeated to the batch size, or the tests' small ViT "
                         "(tests/fixtures/vit_weights.safetensors, explained at blocks[0] with "
                         "its reshape_transform) on seeded N(0, 1) 32x32 images")
    ap.add_argument("--digits", default=digits.EVAL_DIGITS)
    ap.add_argument("--weights", default=os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    ap.add_argument("--batches", default="1,1000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch1-images", type=int, default=200)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--pgc-gbp-images", type=int, default=0,
                    help="at batch > 1, time pytorch-grad-cam's per-image guided backprop loop on only "
                         "this many images and scale its time to the batch (0 = all images)")
    args = ap.parse_args()

    warnings.filterwarnings("ignore")
    batches = [int(b) for b in args.batches.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p}")

    need = max([args.batch1_images if b == 1 else b for b in batches])
    if args.model == "mnist":
        _, eval_bytes = digits.read_eval_digits(args.digits)
        x_all = normalize(torch.from_numpy(digits.bytes_to_pixels(eval_bytes)).reshape(-1, 1, 28, 28))
        if need > x_all.shape[0]:
            ap.error(f"need {need} digits, the file has {x_all.shape[0]}")
        bench = Peers(load_model(args.weights), "conv2", 28, args.pgc_gbp_images)
    elif args.model == "vit":
        import vit
        from safetensors.torch import load_file
        net = vit.SmallViT().eval()
        net.load_state_dict(load_file(os.path.join(digits.REPO_ROOT, "tests", "fixtures",
                                                   "vit_weights.safetensors")))
        torch.manual_seed(7)
        x_all = torch.randn(need, 3, vit.SIDE, vit.SIDE)
        bench = Peers(net, "blocks.0", vit.SIDE, args.pgc_gbp_images,
                      reshape_transform=vit.reshape_transform)
    else:
        torch.manual_seed(18)
        net = no_inplace_relus(torchvision.models.resnet18().eval())
        _, pixels = reference_images()
        x = torch.from_numpy(imagenet_normalize(pixels))
        x_all = x.repeat((need + len(x) - 1) // len(x), 1, 1, 1)[:need].contiguous()
        bench = Peers(net, "layer4", 224, args.pgc_gbp_images)
    results = []
    load_start = loadavg()
    t_start = time.perf_counter()
    for t in threads:
        torch.set_num_threads(t)
        for b in batches:
            n_images = args.batch1_images if b == 1 else b
            for p in peers:
                fn = getattr(bench, p)
                scaled = p == "pgc_gradcam_guided" and b > 1 and 0 < args.pgc_gbp_images < b
                time_pass(bench, fn, x_all, b, n_images)  # warm-up
                runs = []
                for _ in range(args.repeats):
                    secs = time_pass(bench, fn, x_all, b, n_images)
                    runs.append(n_images / secs)
                res = {"peer": p, "batch": b, "threads": t, "images": n_images,
                       "images_per_s": statistics.median(runs), "runs": runs}
                if scaled:
                    res["note"] = (f"GradCAM ran on all {b} images in one call; the per-image "
                                   f"GuidedBackpropReLUModel loop was timed on the first "
                                   f"{args.pgc_gbp_images} images and its time scaled by "
                                   f"{b}/{args.pgc_gbp_images}")
                results.append(res)
                log(f"threads={t} batch={b:5d} {p:24s} {res['images_per_s']:10.1f} img/s "
                    f"({time.perf_counter() - t_start:.0f}s)")

    doc = {
        "model": args.model,
        "torch": torch.__version__,
        "captum": version("captum"),
        "grad_cam": version("grad-cam"),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "repeats": args.repeats,
        "batch1_images": args.batch1_images,
        "results": results,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
