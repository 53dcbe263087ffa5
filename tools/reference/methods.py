"""Parity fixtures for the CAM family and the gradient pixel methods.

Writes tests/fixtures/methods.safetensors for the same 29 images as reference.py:

  pgc_<method>             pytorch-grad-cam GradCAM, GradCAMPlusPlus, XGradCAM, HiResCAM,
                           LayerCAM, GradCAMElementWise, AblationCAM, FEM, KPCA_CAM (its
                           defaults: sigmoid kernel, gamma 1/channels; pgc_kpcacam_<kernel> with the
                           linear, poly, rbf and cosine kernels) and EigenGradCAM (its SVD sign pinned by
                           pytorch-grad-cam's own sign correction, as for EigenCAM below) on
                           conv2, [M,28,28]. The model returns logits (the paper's
                           score): the log-probability's gradient of a confident prediction is at
                           float32's rounding floor, which pytorch-grad-cam's min-max rescaling
                           would magnify.
  pgc_fullgrad             pytorch-grad-cam FullGrad (the input gradient and the bias gradients
                           of conv1 and conv2), [M,28,28]
  pgc_gradcam_eigen_smooth, pgc_gradcam_elementwise_eigen_smooth
                           GradCAM and GradCAMElementWise with eigen_smooth=True (the projection's
                           sign pinned by pytorch-grad-cam's sign correction), [M,28,28]
  pgc_<method>_conv1_conv2 GradCAM, HiResCAM and ScoreCAM with target_layers=[conv1, conv2]
                           (each layer's map normalised and resized, averaged), [M,28,28]
  pgc_gradcam_aug_smooth   GradCAM with aug_smooth=True (ttach's flips x [0.9, 1, 1.1]), [M,28,28]
  pgc_gradcam_target_<t>   GradCAM on conv2 for targets other than the class's logit: sum_3_8
                           (a multi-label lambda, output[3] + output[8]), rest
                           (ClassifierOutputReST);
                           binary_0 (BinaryClassifierOutputTarget(0)) and raw_scores
                           (RawScoresOutputTarget) on a one-output model, logit 3 minus logit 8,
                           [M,28,28]
  pgc_scorecam_target_sum_3_8  ScoreCAM for output[3] + output[8], [M,28,28]
  captum_deconvolution     Captum Deconvolution, [M,1,28,28]
  captum_occlusion_3x3_s2  Captum Occlusion, window (1,3,3), strides (1,2,2), baseline 0 (the last
                           window of each row and column cut at the border), [M,1,28,28]
  captum_occlusion_4x4_black  window (1,4,4), strides (1,4,4), black baseline
  captum_saliency          Captum Saliency (abs=True), [M,1,28,28]
  captum_saliency_signed   Saliency with abs=False
  captum_input_x_gradient  Captum InputXGradient
  pgc_scorecam             pytorch-grad-cam ScoreCAM (logit score), [M,28,28]
  eigencam_projection      the first-principal-component projection of conv2's activations with
                           the sign pinned (pytorch-grad-cam's get_2d_projection_with_sign_correction)
  pgc_eigencam             EigenCAM through BaseCAM's ReLU / rescale steps on that projection
  eigencam_activation_scale  the largest |activation| of conv2 per image: the scale of the
                           projection's rounding (the blank image's projection is only rounding)
  eigencam_lapack_sign     +1 where LAPACK's sign (plain EigenCAM) agrees with the pinned one
  captum_ig_gausslegendre  Captum IntegratedGradients, zero baseline, 50 Gauss-Legendre steps,
                           and its convergence delta
  captum_ig_trapezoid_black  the same with a black-image baseline, 20 trapezoid steps
  captum_smoothgrad_saliency, captum_vargrad_saliency
                           Captum NoiseTunnel(Saliency), 5 samples, stdev 0.5, on the 8 test
                           images, and smoothgrad_noise: the noise it drew [40,1,28,28]
  target                   the predicted classes used, int64 [M]

    tools/reference/.venv/bin/python tools/reference/methods.py

Every Captum map explains the target class's logit (the model returns logits): the
log-probability's gradient of a prediction the model is sure of is rounding noise in float32, which
no parity check can compare (float64.py checks the log-probability in float64). The black baseline
is the inputs' own black pixel, normalize(0) in float32, so that the blank image (its own
baseline) has exactly zero attributions on both sides.

The file is written from scratch. torch's CPU kernels round differently on different processors
(measured up to 6e-5 on Integrated Gradients between two x86 machines): `regenerate.py --check`
says how far a regeneration moves the committed file.
"""

import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402
from model import LogitsNet, load_model, normalize  # noqa: E402
from reference import build_images, write_safetensors  # noqa: E402

from captum.attr import (Deconvolution, InputXGradient, IntegratedGradients,  # noqa: E402
                         NoiseTunnel, Occlusion, Saliency)
import pytorch_grad_cam.base_cam  # noqa: E402
import pytorch_grad_cam.grad_cam_elementwise  # noqa: E402
from pytorch_grad_cam import (FEM, KPCA_CAM, AblationCAM, EigenGradCAM, FullGrad,  # noqa: E402
                              GradCAM, GradCAMElementWise, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM,
                              XGradCAM)
from pytorch_grad_cam.utils.image import scale_cam_image  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import (  # noqa: E402
    get_2d_projection, get_2d_projection_with_sign_correction)
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    BinaryClassifierOutputTarget, ClassifierOutputReST, ClassifierOutputTarget, RawScoresOutputTarget)



class ThreeVersusEight(torch.nn.Module):
    """A one-output (binary) model: logit 3 minus logit 8 of the logits model, [N, 1]."""

    def __init__(self, logits_model):
        super().__init__()
        self.net = logits_model.net
        self.logits_model = logits_model

    def forward(self, x):
        z = self.logits_model(x)
        return z[:, 3:4] - z[:, 8:9]


class PinnedEigenGradCAM(EigenGradCAM):
    """EigenGradCAM whose SVD sign is pinned by pytorch-grad-cam's sign correction (LAPACK's sign
    is arbitrary); everything else is BaseCAM's."""

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
        return get_2d_projection_with_sign_correction(grads * activations)


CAMS = {"gradcam": GradCAM, "gradcam_plusplus": GradCAMPlusPlus, "xgradcam": XGradCAM,
        "hirescam": HiResCAM, "layercam": LayerCAM, "scorecam": ScoreCAM,
        "gradcam_elementwise": GradCAMElementWise, "eigengradcam": PinnedEigenGradCAM,
        "ablationcam": AblationCAM, "fem": FEM, "kpcacam": KPCA_CAM}
# A black pixel after normalisation, as the inputs hold it (float32).
BLACK = float(normalize(torch.zeros(1))[0])
SMOOTHGRAD_SEED, SMOOTHGRAD_SAMPLES, SMOOTHGRAD_STDEV = 5, 5, 0.5


def eigen_cam(activations: np.ndarray) -> tuple:
    """pytorch-grad-cam's EigenCAM pipeline, with the SVD sign pinned by its own sign correction
    (flip when |min| > |max|, Seg-Eigen-CAM eq. 13), since LAPACK's sign is arbitrary: the raw
    projection, and the map after ReLU, min-max + resize and min-max, as BaseCAM does."""
    projection = get_2d_projection_with_sign_correction(activations)
    cam = scale_cam_image(np.maximum(projection, 0), (28, 28))
    cam = scale_cam_image(np.maximum(cam[:, None], 0).mean(axis=1))
    return projection, np.float32(cam)


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(digits.REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", category=UserWarning)

    net = load_model(os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    pixels, _, _ = build_images(digits.TEST_IMAGES, digits.EVAL_DIGITS)
    x = normalize(torch.from_numpy(pixels).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        target = net(x).argmax(dim=1)
    out = {"target": target.numpy().astype(np.int64)}

    logits_model = LogitsNet(net).eval()
    targets = [ClassifierOutputTarget(int(t)) for t in target]
    for name, cls in CAMS.items():
        cam = cls(model=logits_model, target_layers=[logits_model.net.conv2])
        out[f"pgc_{name}"] = np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)

    for kernel in ("linear", "poly", "rbf", "cosine"):
        cam = KPCA_CAM(model=logits_model, target_layers=[logits_model.net.conv2], kernel=kernel)
        out[f"pgc_kpcacam_{kernel}"] = np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)

    # FullGrad ignores target_layers: every Conv2d / BatchNorm2d with a bias (conv1, conv2 here).
    cam = FullGrad(model=logits_model, target_layers=[])
    out["pgc_fullgrad"] = np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)

    for name in ("gradcam", "hirescam", "scorecam"):
        cam = CAMS[name](model=logits_model, target_layers=[logits_model.net.conv1, logits_model.net.conv2])
        out[f"pgc_{name}_conv1_conv2"] = np.asarray(cam(input_tensor=x.clone(), targets=targets), dtype=np.float32)

    # eigen_smooth projects with get_2d_projection, whose SVD sign LAPACK leaves arbitrary; the
    # fixtures pin it with pytorch-grad-cam's own sign correction, as for EigenCAM below.
    pinned = get_2d_projection_with_sign_correction
    pytorch_grad_cam.base_cam.get_2d_projection = pinned
    pytorch_grad_cam.grad_cam_elementwise.get_2d_projection = pinned
    for name, cls in (("gradcam", GradCAM), ("gradcam_elementwise", GradCAMElementWise)):
        cam = cls(model=logits_model, target_layers=[logits_model.net.conv2])
        out[f"pgc_{name}_eigen_smooth"] = np.asarray(
            cam(input_tensor=x.clone(), targets=targets, eigen_smooth=True), dtype=np.float32)
    cam = GradCAM(model=logits_model, target_layers=[logits_model.net.conv2])
    out["pgc_gradcam_aug_smooth"] = np.asarray(
        cam(input_tensor=x.clone(), targets=targets, aug_smooth=True), dtype=np.float32)
    # Targets other than one class's logit.
    def conv2_cam(cls, model, cam_targets):
        cam = cls(model=model, target_layers=[model.net.conv2])
        return np.asarray(cam(input_tensor=x.clone(), targets=cam_targets), dtype=np.float32)

    n = len(target)
    sum_3_8 = [lambda o: o[3] + o[8]] * n
    out["pgc_gradcam_target_sum_3_8"] = conv2_cam(GradCAM, logits_model, sum_3_8)
    out["pgc_scorecam_target_sum_3_8"] = conv2_cam(ScoreCAM, logits_model, sum_3_8)
    out["pgc_gradcam_target_rest"] = conv2_cam(
        GradCAM, logits_model, [ClassifierOutputReST(int(t)) for t in target])
    binary = ThreeVersusEight(logits_model).eval()
    out["pgc_gradcam_target_binary_0"] = conv2_cam(GradCAM, binary, [BinaryClassifierOutputTarget(0)] * n)
    out["pgc_gradcam_target_raw_scores"] = conv2_cam(GradCAM, binary, [RawScoresOutputTarget()] * n)

    occlusion = Occlusion(logits_model)
    out["captum_occlusion_3x3_s2"] = occlusion.attribute(
        x.clone(), target=target, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2),
        perturbations_per_eval=16).detach().numpy()
    out["captum_occlusion_4x4_black"] = occlusion.attribute(
        x.clone(), target=target, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4),
        baselines=BLACK).detach().numpy()
    out["captum_deconvolution"] = Deconvolution(logits_model).attribute(
        x.clone(), target=target).detach().numpy()

    with torch.no_grad():
        acts = net.conv2(net.relu1(torch.nn.functional.max_pool2d(net.conv1(x), 2))).numpy()
    out["eigencam_projection"], out["pgc_eigencam"] = eigen_cam(acts)
    out["eigencam_activation_scale"] = np.abs(acts).max(axis=(1, 2, 3)).astype(np.float32)
    unpinned = get_2d_projection(acts)
    out["eigencam_lapack_sign"] = np.sign((unpinned * out["eigencam_projection"]).sum(axis=(1, 2))).astype(np.float32)

    ig = IntegratedGradients(logits_model)
    attr, delta = ig.attribute(x.clone(), target=target, n_steps=50, method="gausslegendre",
                               return_convergence_delta=True)
    out["captum_ig_gausslegendre"], out["captum_ig_gausslegendre_delta"] = attr.detach().numpy(), delta.detach().numpy().astype(np.float32)
    attr, delta = ig.attribute(x.clone(), baselines=BLACK, target=target, n_steps=20,
                               method="riemann_trapezoid", return_convergence_delta=True)
    out["captum_ig_trapezoid_black"], out["captum_ig_trapezoid_black_delta"] = attr.detach().numpy(), delta.detach().numpy().astype(np.float32)

    # SmoothGrad / VarGrad (NoiseTunnel around Saliency) on the 8 test images. NoiseTunnel draws
    # its noise with torch.normal; the same draws are repeated under the same seed and stored,
    # so the Rust side can be given exactly that noise.
    xs, ts = x[:8].clone(), target[:8]
    for kind in ("smoothgrad", "vargrad"):
        torch.manual_seed(SMOOTHGRAD_SEED)
        out[f"captum_{kind}_saliency"] = NoiseTunnel(Saliency(logits_model)).attribute(
            xs.clone(), nt_type=kind, nt_samples=SMOOTHGRAD_SAMPLES, stdevs=SMOOTHGRAD_STDEV,
            target=ts).detach().numpy()
    torch.manual_seed(SMOOTHGRAD_SEED)
    shape = (xs.shape[0] * SMOOTHGRAD_SAMPLES,) + tuple(xs.shape[1:])
    out["smoothgrad_noise"] = torch.normal(0, torch.tensor(SMOOTHGRAD_STDEV).repeat(shape)).numpy()

    out["captum_saliency"] = Saliency(logits_model).attribute(
        x.clone(), target=target, abs=True).detach().numpy()
    out["captum_saliency_signed"] = Saliency(logits_model).attribute(
        x.clone(), target=target, abs=False).detach().numpy()
    out["captum_input_x_gradient"] = InputXGradient(logits_model).attribute(
        x.clone(), target=target).detach().numpy()

    from importlib.metadata import version
    meta = {"description": "CAM family (pytorch-grad-cam) and pixel methods (Captum), logit score",
            "version_torch": torch.__version__, "version_captum": version("captum"),
            "version_grad_cam": version("grad-cam")}
    path = os.path.join(args.out_dir, "methods.safetensors")
    write_safetensors(path, {k: np.ascontiguousarray(v) for k, v in out.items()}, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for k in sorted(out):
        print(f"  {k:26s} {list(out[k].shape)} max|.| {np.abs(out[k]).max():.4g}")


if __name__ == "__main__":
    main()
