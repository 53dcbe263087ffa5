"""Parity fixtures for the faithfulness metrics.

Writes tests/fixtures/metrics.safetensors for M = 12 images of reference.py (the 8 images of
data/test_images.json, the first 3 held-out digits and the noisy image, whose confidence the CAM
raises), normalised, with the predicted class as the target of each image. Every score that is
differentiated or perturbed is well conditioned: the maps and Captum's metrics explain the logit
(a sure prediction's log-probability hardly moves, and its infidelity vanished to 1e-13 in float32).

  input, target            the normalised inputs [M,1,28,28] and the predicted classes, int64 [M]
  cam                      pytorch-grad-cam GradCAM on conv2 of LogitsNet (logit score), the
                           grayscale maps in [0,1], [M,28,28]
  attribution              Captum GuidedBackprop on LogitsNet (logit score), [M,1,28,28]

  ROAD (pytorch-grad-cam's classes, with the imputation noise switched off by setting the
  default of NoisyLinearImputer's `noise` argument to 0.0; score = softmax of the
  log-softmax output at the target, ClassifierOutputSoftmaxTarget):
  road_percentiles         10, 20, ..., 90, [9]
  road_morf, road_lerf     ROADMostRelevantFirst(p) / ROADLeastRelevantFirst(p) for each p,
                           score after imputation minus the original score, [9,M]
  road_combined            ROADCombined(percentiles=[10..90]), [M]
  road_imputed             image 0 after RemoveMostRelevantFirst(50) and RemoveLeastRelevantFirst(50)
                           with the noiseless imputer, [2,1,28,28]
  MoRF at a percentile p keeps the pixels with cam < percentile(cam, p) and imputes the rest
  (LeRF: 1 - cam < percentile(1 - cam, p)). Where p % of a cam or more is at its minimum (0
  outside the ReLU'd region) no pixel is kept and every pixel is imputed: the system matrix is
  singular, but the right-hand side is all zero and spsolve (SuperLU, no rank warning) returns
  the zero solution, so that image becomes all 0 (no NaN). The script prints these
  (percentile, image) pairs and any NaN.

  Confidence change (pytorch-grad-cam cam_mult_image: the model is run on input * cam):
  confidence_change_prob      CamMultImageConfidenceChange, softmax score (raw difference), [M]
  drop_in_confidence_prob     DropInConfidence: max(-difference, 0), [M]
  increase_in_confidence_prob IncreaseInConfidence: 1 where the difference > 0, [M] (the noisy
                              image's probability rises: its 1)
  confidence_change_logprob   CamMultImageConfidenceChange, log-probability score, [M]
  confidence_change_logit     CamMultImageConfidenceChange on LogitsNet, logit score, [M]

  Captum metrics on the first 6 images, 8 perturbations each; the perturbed batch is
  image-major (repeat_interleave: an image's 8 samples are consecutive):
  infidelity_noise         the perturbations I = 0.1 * randn (torch.Generator seeded 7), the
                           perturbed input is input - I, [48,1,28,28]
  infidelity               captum.metrics.infidelity of `attribution`, logit score (LogitsNet:
                           the log-probability of a sure prediction hardly moves, and its
                           infidelity vanishes to 1e-13), normalize=False, [6]
  infidelity_normalized    the same with normalize=True on the same noise, [6]
  sensitivity_noise        uniform noise in [-0.02, 0.02] (torch.Generator seeded 11), the
                           perturbed input is input + noise, [48,1,28,28]
  sensitivity_saliency     captum.metrics.sensitivity_max of Saliency (abs=True), logit score, [6]
  sensitivity_guided_backprop  the same for GuidedBackprop on the same noise, [6]

  Similarity between a = cam[i] and b = min-max normalised |attribution[i,0]| (float64):
  spearman                 scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic, [M]
  ssim                     skimage.metrics.structural_similarity(a, b, data_range=1.0), [M]

  Deletion / insertion (Petsiuk et al., RISE), transcribed here: 784 pixels, 28 steps, pixels
  in the order of descending cam (stable: ties in index order); step k changes the first
  (k * 784) // 28 pixels; the baseline is a black pixel after normalisation (normalize(0) in
  float32, the value of the inputs' own black pixels); score = the target's softmax
  probability (exp of the log-softmax output):
  deletion_curve, insertion_curve  [M,29]
  deletion_auc, insertion_auc      trapezoid rule over x = k/28 in [0,1], in float64, [M]

Everything is float32 unless said.

    tools/reference/.venv/bin/python tools/reference/metrics.py

The file is written from scratch; deterministic on one machine.
"""

import os
import sys
import warnings
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
from reference import build_images, write_safetensors  # noqa: E402

import scipy.stats  # noqa: E402
import skimage.metrics  # noqa: E402
from scipy.sparse.linalg import MatrixRankWarning  # noqa: E402
from captum.attr import GuidedBackprop, Saliency  # noqa: E402
from captum.metrics import infidelity, sensitivity_max  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.metrics import road  # noqa: E402
from pytorch_grad_cam.metrics.cam_mult_image import (  # noqa: E402
    CamMultImageConfidenceChange, DropInConfidence, IncreaseInConfidence)
from pytorch_grad_cam.metrics.perturbation_confidence import (  # noqa: E402
    RemoveLeastRelevantFirst, RemoveMostRelevantFirst)
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputSoftmaxTarget, ClassifierOutputTarget)

# The 8 test images, the first 3 held-out digits and the noisy image (reference.py's order):
# the noisy image is the one whose confidence a CAM raises (IncreaseInConfidence's positive case).
IMAGES = list(range(11)) + [26]
M = len(IMAGES)
PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
CAPTUM_IMAGES, CAPTUM_SAMPLES = 6, 8
INFIDELITY_SEED, INFIDELITY_SIGMA = 7, 0.1
SENSITIVITY_SEED, SENSITIVITY_RADIUS = 11, 0.02
STEPS = 28
# A black pixel after normalisation, in float32 arithmetic as `normalize` computes it
# (-0.42421296; the float64 quotient (0 - 0.1307) / 0.3081 would round to -0.42421293).
BLACK = normalize(torch.zeros(())).numpy()

# ROAD without noise: ROADMostRelevantFirst & co. build NoisyLinearImputer() with its defaults.
road.NoisyLinearImputer.__init__.__defaults__ = (0.0, road.neighbors_weights)


class RecordingPerturbation:
    """A perturb_func that draws its noise from its own generator and records every draw in
    call order; after `replay()` it hands back the recorded noise instead of drawing."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.recorded = []
        self.replaying = None
        self.calls = 0

    def noise(self, shape, draw) -> torch.Tensor:
        self.calls += 1
        if self.replaying is not None:
            return self.replaying.pop(0)
        n = draw(shape)
        self.recorded.append(n.clone())
        return n

    def replay(self) -> None:
        self.replaying = list(self.recorded)
        self.calls = 0


class InfidelityNoise(RecordingPerturbation):
    def __call__(self, inputs: torch.Tensor):
        n = self.noise(inputs.shape,
                       lambda s: INFIDELITY_SIGMA * torch.randn(s, generator=self.generator))
        return n, inputs - n


class SensitivityNoise(RecordingPerturbation):
    def __call__(self, inputs: torch.Tensor, perturb_radius: float):
        n = self.noise(inputs.shape, lambda s: torch.empty(s).uniform_(
            -perturb_radius, perturb_radius, generator=self.generator))
        return inputs + n


def min_max(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def deletion_insertion(net, x: torch.Tensor, cam: np.ndarray, target: int):
    """Deletion and insertion curves of one image ([1,28,28] input, [28,28] cam)."""
    pixels = x.reshape(-1).numpy()
    p = pixels.size
    order = np.argsort(-cam.ravel(), kind="stable")
    deleted, inserted = [], []
    for k in range(STEPS + 1):
        n = (k * p) // STEPS
        d = pixels.copy()
        d[order[:n]] = BLACK
        deleted.append(d)
        ins = np.full(p, BLACK, np.float32)
        ins[order[:n]] = pixels[order[:n]]
        inserted.append(ins)
    curves = []
    for images in (deleted, inserted):
        batch = torch.from_numpy(np.stack(images)).reshape(-1, 1, 28, 28)
        with torch.no_grad():
            curves.append(torch.exp(net(batch)[:, target]).numpy().astype(np.float32))
    return curves


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)
    # numpy 2 deprecation raised inside pytorch-grad-cam (np.float32 of a torch tensor)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    net = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels[IMAGES]).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net(x).argmax(dim=1)
    out = {"input": x.numpy(), "target": target.numpy().astype(np.int64)}

    logits_model = LogitsNet(net).eval()
    gradcam = GradCAM(model=logits_model, target_layers=[logits_model.net.conv2])
    cam = np.asarray(gradcam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(t)) for t in target]),
                     dtype=np.float32)
    out["cam"] = cam
    attribution = GuidedBackprop(logits_model).attribute(x.clone(), target=target).detach()
    out["attribution"] = attribution.numpy()

    # ROAD, noiseless.
    prob_targets = [ClassifierOutputSoftmaxTarget(int(t)) for t in target]
    logp_targets = [ClassifierOutputTarget(int(t)) for t in target]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["road_percentiles"] = np.asarray(PERCENTILES, np.float32)
        out["road_morf"] = np.stack([np.asarray(road.ROADMostRelevantFirst(p)(x, cam, prob_targets, net),
                                                np.float32).reshape(M) for p in PERCENTILES])
        out["road_lerf"] = np.stack([np.asarray(road.ROADLeastRelevantFirst(p)(x, cam, prob_targets, net),
                                                np.float32).reshape(M) for p in PERCENTILES])
        out["road_combined"] = np.asarray(road.ROADCombined(percentiles=PERCENTILES)(x, cam, prob_targets, net),
                                          np.float32).reshape(M)
        out["road_imputed"] = torch.stack([
            remove(50, road.NoisyLinearImputer(noise=0.0))(x[0], torch.from_numpy(cam[0]))
            for remove in (RemoveMostRelevantFirst, RemoveLeastRelevantFirst)]).numpy()
    rank_warnings = sum(issubclass(w.category, MatrixRankWarning) for w in caught)
    all_imputed = [(p, i) for p in PERCENTILES for i in range(M) if not (cam[i] < np.percentile(cam[i], p)).any()]

    # Confidence change on input * cam.
    out["confidence_change_prob"] = np.asarray(CamMultImageConfidenceChange()(x, cam, prob_targets, net), np.float32).reshape(M)
    out["drop_in_confidence_prob"] = np.asarray(DropInConfidence()(x, cam, prob_targets, net), np.float32).reshape(M)
    out["increase_in_confidence_prob"] = np.asarray(IncreaseInConfidence()(x, cam, prob_targets, net), np.float32).reshape(M)
    out["confidence_change_logprob"] = np.asarray(CamMultImageConfidenceChange()(x, cam, logp_targets, net), np.float32).reshape(M)
    out["confidence_change_logit"] = np.asarray(
        CamMultImageConfidenceChange()(x, cam, logp_targets, logits_model), np.float32).reshape(M)

    # Captum infidelity and sensitivity on the first images.
    xs, ts, attr = x[:CAPTUM_IMAGES].clone(), target[:CAPTUM_IMAGES], attribution[:CAPTUM_IMAGES]
    perturb = InfidelityNoise(INFIDELITY_SEED)
    out["infidelity"] = infidelity(logits_model, perturb, xs, attr, target=ts,
                                   n_perturb_samples=CAPTUM_SAMPLES).numpy()
    assert perturb.calls == 1 and len(perturb.recorded) == 1
    perturb.replay()
    out["infidelity_normalized"] = infidelity(logits_model, perturb, xs, attr, target=ts,
                                              n_perturb_samples=CAPTUM_SAMPLES, normalize=True).numpy()
    assert perturb.calls == 1
    out["infidelity_noise"] = perturb.recorded[0].numpy()

    perturb = SensitivityNoise(SENSITIVITY_SEED)
    out["sensitivity_saliency"] = sensitivity_max(Saliency(logits_model).attribute, xs, perturb, perturb_radius=SENSITIVITY_RADIUS,
                                                  n_perturb_samples=CAPTUM_SAMPLES, target=ts).numpy()
    assert perturb.calls == 1 and len(perturb.recorded) == 1
    perturb.replay()
    out["sensitivity_guided_backprop"] = sensitivity_max(GuidedBackprop(logits_model).attribute, xs, perturb,
                                                         perturb_radius=SENSITIVITY_RADIUS,
                                                         n_perturb_samples=CAPTUM_SAMPLES, target=ts).numpy()
    assert perturb.calls == 1
    out["sensitivity_noise"] = perturb.recorded[0].numpy()
    for k in ("infidelity_noise", "sensitivity_noise"):
        assert out[k].shape == (CAPTUM_IMAGES * CAPTUM_SAMPLES, 1, 28, 28), k

    # Similarity between the cam and the guided-backprop magnitude.
    spearman, ssim = [], []
    for i in range(M):
        a = cam[i].astype(np.float64)
        b = min_max(np.abs(out["attribution"][i, 0].astype(np.float64)))
        spearman.append(scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic)
        ssim.append(skimage.metrics.structural_similarity(a, b, data_range=1.0))
    out["spearman"] = np.asarray(spearman, np.float64).astype(np.float32)
    out["ssim"] = np.asarray(ssim, np.float64).astype(np.float32)

    # Deletion / insertion.
    curves = [deletion_insertion(net, x[i], cam[i], int(target[i])) for i in range(M)]
    out["deletion_curve"] = np.stack([c[0] for c in curves])
    out["insertion_curve"] = np.stack([c[1] for c in curves])
    for kind in ("deletion", "insertion"):
        out[f"{kind}_auc"] = np.trapezoid(out[f"{kind}_curve"].astype(np.float64), dx=1.0 / STEPS,
                                          axis=1).astype(np.float32)

    meta = {"description": "faithfulness metrics: ROAD and cam-mult confidence change (pytorch-grad-cam), "
                           "infidelity and sensitivity_max (Captum), Spearman / SSIM similarity, deletion / insertion",
            "images": f"the first {M} images of reference.safetensors",
            "road_noise": "0.0 (NoisyLinearImputer default patched)",
            "version_torch": torch.__version__, "version_captum": version("captum"),
            "version_grad_cam": version("grad-cam"), "version_scipy": version("scipy"),
            "version_scikit_image": version("scikit-image"), "version_numpy": np.__version__}
    path = os.path.join(args.out_dir, "metrics.safetensors")
    write_safetensors(path, {k: np.ascontiguousarray(v) for k, v in out.items()}, meta)

    print(f"wrote {path} ({os.path.getsize(path)} bytes, M={M})")
    for k in sorted(out):
        v = out[k]
        nan = int(np.isnan(v).sum()) if v.dtype.kind == "f" else 0
        extra = f"max|.| {np.nanmax(np.abs(v)):.4g}" if v.dtype.kind == "f" else str(v.tolist())
        print(f"  {k:28s} {str(list(v.shape)):16s} {str(v.dtype):8s} {extra}" + (f"  NaN: {nan}" if nan else ""))
    print(f"  ROAD MoRF imputes every pixel (singular system, zero solution) at (percentile, image): {all_imputed}")
    print(f"  spsolve rank warnings: {rank_warnings}")
    for name in ("road_morf", "road_lerf", "road_combined"):
        bad = np.argwhere(np.isnan(out[name])).tolist()
        print(f"  {name} NaN at {bad}" if bad else f"  {name}: no NaN")


if __name__ == "__main__":
    main()
