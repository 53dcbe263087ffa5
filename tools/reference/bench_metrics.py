"""Benchmarks the Python peers of the Rust crate's faithfulness metrics (images per second).

Set-up, not timed, on the first --images evaluation digits (normalised, [N,1,28,28]) and the
MNIST CNN (data/mnist_model.pth, log-softmax output):
  targets        the predicted classes
  cams           pytorch-grad-cam GradCAM on conv2 of the model (ClassifierOutputTarget of the
                 predicted class), grayscale maps [N,28,28]
  attributions   Captum GuidedBackprop, [N,1,28,28]

Metrics, all on CPU; one pass = the metric over all N images (score = softmax probability
of the target unless said):
  road_combined             pytorch-grad-cam ROADCombined(percentiles=[10, 20, ..., 90]) with
                            its default imputation noise (0.01); one sparse solve per image
                            and percentile, twice (MoRF and LeRF)
  drop_in_confidence        pytorch-grad-cam DropInConfidence (the model on input * cam)
  infidelity                captum.metrics.infidelity of `attributions`, log-probability
                            score, 10 perturbations of 0.1 * randn (perturbed input =
                            input - noise), normalize=True
  sensitivity_max_saliency  captum.metrics.sensitivity_max of Saliency, 10 perturbations,
                            Captum's default uniform noise with radius 0.02
  deletion_insertion        deletion and insertion (RISE; no library ships them), a plain
                            torch transcription looping over the images: 28 steps of 28
                            pixels in the order of descending cam (stable), the baseline a
                            black pixel after normalisation; per image one no_grad forward of
                            its 29 deletion and 29 insertion images, trapezoid areas

One warm-up pass, then --repeats timed passes; the median images/s is reported.

Prints one JSON document on stdout; progress goes to stderr.

    tools/reference/.venv/bin/python tools/reference/bench_metrics.py \\
        --digits data/eval_digits.bin.gz --weights data/mnist_model.pth \\
        --images 200 --repeats 3 --threads 1,2
"""

import argparse
import copy
import json
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
from bench_peers import cpu_model, loadavg, log  # noqa: E402
from model import load_model, normalize  # noqa: E402

from captum.attr import GuidedBackprop, Saliency  # noqa: E402
from captum.metrics import infidelity, sensitivity_max  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence  # noqa: E402
from pytorch_grad_cam.metrics.road import ROADCombined  # noqa: E402
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputSoftmaxTarget, ClassifierOutputTarget)

METRICS = ["road_combined", "drop_in_confidence", "infidelity", "sensitivity_max_saliency",
           "deletion_insertion"]
PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
PERTURB_SAMPLES = 10
INFIDELITY_SIGMA = 0.1
SENSITIVITY_RADIUS = 0.02
STEPS = 28
BLACK = normalize(torch.zeros(()))


def infidelity_perturb(inputs: torch.Tensor):
    noise = INFIDELITY_SIGMA * torch.randn_like(inputs)
    return noise, inputs - noise


class Metrics:
    def __init__(self, net, x: torch.Tensor) -> None:
        self.net = net
        self.x = x
        with torch.no_grad():
            self.targets = net(x).argmax(dim=1)
        # pytorch-grad-cam hooks the layer it is given, so it gets a copy; the hooks are
        # removed when the `with` block ends.
        cam_net = copy.deepcopy(net)
        with GradCAM(model=cam_net, target_layers=[cam_net.conv2]) as cam:
            self.cams = np.asarray(cam(input_tensor=x.clone(),
                                       targets=[ClassifierOutputTarget(int(t)) for t in self.targets]),
                                   dtype=np.float32)
        self.attributions = GuidedBackprop(net).attribute(x.clone(), target=self.targets).detach()
        self.softmax_targets = [ClassifierOutputSoftmaxTarget(int(t)) for t in self.targets]
        self.road = ROADCombined(percentiles=PERCENTILES)
        self.drop = DropInConfidence()
        self.saliency = Saliency(net)

    def road_combined(self):
        return self.road(self.x, self.cams, self.softmax_targets, self.net)

    def drop_in_confidence(self):
        return self.drop(self.x, self.cams, self.softmax_targets, self.net)

    def infidelity(self):
        return infidelity(self.net, infidelity_perturb, self.x.clone(), self.attributions,
                          target=self.targets, n_perturb_samples=PERTURB_SAMPLES, normalize=True).numpy()

    def sensitivity_max_saliency(self):
        return sensitivity_max(self.saliency.attribute, self.x.clone(), n_perturb_samples=PERTURB_SAMPLES,
                               perturb_radius=SENSITIVITY_RADIUS, target=self.targets).numpy()

    def deletion_insertion(self):
        aucs = []
        for i in range(self.x.shape[0]):
            pixels = self.x[i].reshape(-1)
            p = pixels.numel()
            order = torch.argsort(-torch.from_numpy(self.cams[i]).reshape(-1), stable=True)
            deleted, inserted = [], []
            for k in range(STEPS + 1):
                idx = order[:(k * p) // STEPS]
                d = pixels.clone()
                d[idx] = BLACK
                deleted.append(d)
                ins = torch.full_like(pixels, BLACK.item())
                ins[idx] = pixels[idx]
                inserted.append(ins)
            batch = torch.stack(deleted + inserted).reshape(-1, 1, 28, 28)
            with torch.no_grad():
                prob = torch.softmax(self.net(batch), dim=1)[:, int(self.targets[i])].numpy()
            aucs.append((np.trapezoid(prob[:STEPS + 1], dx=1.0 / STEPS),
                         np.trapezoid(prob[STEPS + 1:], dx=1.0 / STEPS)))
        return np.asarray(aucs)


def time_pass(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digits", default=digits.EVAL_DIGITS)
    ap.add_argument("--weights", default=os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    ap.add_argument("--images", type=int, default=200, help="the first N evaluation digits")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--metrics", default=",".join(METRICS))
    args = ap.parse_args()

    warnings.filterwarnings("ignore")
    threads = [int(t) for t in args.threads.split(",")]
    metrics = [m for m in args.metrics.split(",") if m]
    for m in metrics:
        if m not in METRICS:
            ap.error(f"unknown metric {m}")

    _, eval_bytes = digits.read_eval_digits(args.digits)
    x_all = normalize(torch.from_numpy(digits.bytes_to_pixels(eval_bytes)).reshape(-1, 1, 28, 28))
    n = args.images
    if not 0 < n <= x_all.shape[0]:
        ap.error(f"--images must be in 1..{x_all.shape[0]}")

    torch.manual_seed(0)
    net = load_model(args.weights)
    log(f"set-up: targets, GradCAM maps and Guided Backprop attributions for {n} images")
    bench = Metrics(net, x_all[:n].clone())
    results = []
    load_start = loadavg()
    t_start = time.perf_counter()
    for t in threads:
        torch.set_num_threads(t)
        for m in metrics:
            fn = getattr(bench, m)
            secs = time_pass(fn)  # warm-up
            log(f"threads={t} {m:26s} warm-up {secs:.1f}s")
            runs = []
            for _ in range(args.repeats):
                runs.append(n / time_pass(fn))
            res = {"metric": m, "threads": t, "images": n,
                   "images_per_s": statistics.median(runs), "runs": runs}
            results.append(res)
            log(f"threads={t} {m:26s} {res['images_per_s']:10.1f} img/s "
                f"({time.perf_counter() - t_start:.0f}s)")

    doc = {
        "torch": torch.__version__,
        "captum": version("captum"),
        "grad_cam": version("grad-cam"),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "repeats": args.repeats,
        "images": n,
        "results": results,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
