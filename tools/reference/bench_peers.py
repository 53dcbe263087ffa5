"""Benchmarks the Python peers of the Rust crate (images per second).

Peers, on the CPU (or the GPU with --device cuda), on the MNIST CNN (data/mnist_model.pth; --model resnet18, --model vgg16 and
--model vit for the others):
  forward                 model forward only (torch.no_grad)
  captum_guided_gradcam   prediction forward + Captum GuidedGradCam(model, conv2)
  captum_layer_gradcam    prediction forward + Captum LayerGradCam (ReLU) +
                          LayerAttribution.interpolate to the input size (nearest, as
                          GuidedGradCam and the Rust row's captum preset)
  captum_guided_backprop  prediction forward + Captum GuidedBackprop
  captum_deconvolution    prediction forward + Captum Deconvolution
  captum_occlusion        prediction forward + Captum Occlusion, window (1,4,4), strides
                          (1,4,4), perturbations_per_eval = 256 // batch (at most 256 images
                          per forward, as the Rust side)
  captum_feature_ablation prediction forward + Captum FeatureAblation of a 7x7 grid of features
                          (perturbation.py's grid rule), baseline 0, perturbations_per_eval =
                          256 // batch, as the Rust side
  captum_shapley_value_sampling  the same grid with Captum ShapleyValueSampling, 2 orders
  captum_kernel_shap      the same grid with Captum KernelShap, 25 coalitions, all of an image's
                          in one pass (perturbations_per_eval = 25: Captum explains one image
                          at a time, so that is its fastest setting)
  captum_lime             the same grid with Captum Lime (its defaults: SkLearnLasso(alpha=0.01),
                          the cosine kernel), 25 samples in one pass, as captum_kernel_shap
  torch_rise              prediction forward + RISE in plain torch (perturbation.py's
                          transcription, batched): 250 masks of a 7x7 grid, p1 = 0.5, at most
                          256 masked images per forward, as the Rust side
  pgc_gradcam             pytorch-grad-cam GradCAM (batched, it predicts the target itself)
  pgc_gradcam_eigen_smooth, pgc_gradcam_aug_smooth
                          the same with eigen_smooth=True / aug_smooth=True
  pgc_ablationcam         pytorch-grad-cam AblationCAM (batch_size 32) on the logits
  pgc_kpcacam             pytorch-grad-cam KPCA_CAM (its defaults: the sigmoid kernel)
  pgc_fullgrad            pytorch-grad-cam FullGrad (every biased Conv2d / BatchNorm2d)
  pgc_shapleycam          pytorch-grad-cam ShapleyCAM (its Hessian-vector product by a second
                          autograd pass; the predicted class, the model's output as the score)
  pgc_dff                 pytorch-grad-cam DeepFeatureFactorization at the explained layer, 5
                          concepts (the head on the concepts: a ResNet's fc; none on the MNIST net)
  pgc_gradcam_conv1_conv2 pytorch-grad-cam GradCAM with target_layers=[conv1, conv2]
  pgc_gradcam_guided      pytorch-grad-cam GradCAM (batched, it predicts the
                          target itself) + GuidedBackpropReLUModel (one image
                          per call, as that API requires) + their product
  <peer>_given            for captum_guided_gradcam, captum_layer_gradcam,
                          captum_guided_backprop and pgc_gradcam: the same, explaining classes
                          given in advance (the predictions, computed before the clock starts)

Every peer object gets its own copy of the network, so that no object's hooks run in
another's pass. The inputs and weights are the Rust side's: the evaluation digits; the
committed images with the generator's seed-18 weights (zoo.seeded_state_dict, the tests'
ResNet-18; vgg16 with He's bound, numerator 6); the generator's images for the ViT (zoo.seeded_uniform, key "bench_vit_images").

At batch 1 one pass runs over --batch1-images images one at a time; at batch B > 1 one pass
is one call on the first B images.  Every map is copied to a host numpy array.  One warm-up
pass, then --repeats timed passes; the median images/s is reported.

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
from captum.attr import (DeepLift, DeepLiftShap, Deconvolution, GradientShap,  # noqa: E402
                         GuidedBackprop, GuidedGradCam, LayerAttribution, LayerConductance,
                         LayerDeepLift, LayerGradCam, LayerGradientShap, Occlusion,
                         FeatureAblation, KernelShap, Lime, ShapleyValueSampling)
from deeplift import deeplift_ready  # noqa: E402
from perturbation import grid_ids  # noqa: E402
from zoo import (imagenet_normalize, no_inplace_relus, reference_images,  # noqa: E402
                 seeded_state_dict, seeded_uniform)
from pytorch_grad_cam import (KPCA_CAM, AblationCAM, DeepFeatureFactorization, FullGrad,  # noqa: E402
                             GradCAM, ShapleyCAM)
from zennit.composites import EpsilonPlus  # noqa: E402
from lrp import resnet_canonizer  # noqa: E402
from torchvision.models.resnet import BasicBlock  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel  # noqa: E402

PEERS = ["forward", "captum_guided_gradcam", "captum_layer_gradcam", "captum_guided_backprop",
         "pgc_gradcam_guided", "captum_deconvolution", "pgc_gradcam", "pgc_gradcam_eigen_smooth",
         "pgc_gradcam_aug_smooth", "pgc_ablationcam", "captum_occlusion", "pgc_gradcam_conv1_conv2",
         "captum_gradient_shap", "captum_deep_lift", "captum_deep_lift_shap", "zennit_lrp",
         "captum_layer_deep_lift", "captum_layer_gradient_shap", "captum_layer_conductance",
         "captum_feature_ablation", "captum_shapley_value_sampling", "captum_kernel_shap",
         "captum_lime", "torch_rise", "pgc_kpcacam", "pgc_fullgrad", "pgc_shapleycam", "pgc_dff"]
# The peers that also run on classes given in advance, as "<peer>_given".
GIVEN = ["captum_guided_gradcam", "captum_layer_gradcam", "captum_guided_backprop", "pgc_gradcam"]
VIT_IMAGES = "bench_vit_images"


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
    """Each method as fn(x, given): the maps of the images x for the classes given (a [N]
    int64 tensor), or for the predicted classes when given is None."""

    def __init__(self, net, layer_name: str, size: int, pgc_gbp_images: int,
                 reshape_transform=None) -> None:
        def fresh():
            """A copy of the network for one peer object, and its explained layer."""
            copy_ = copy.deepcopy(net)
            return copy_, operator.attrgetter(layer_name)(copy_)

        self.size = size
        self.net, _ = fresh()
        self.ggc = GuidedGradCam(*fresh())
        self.lgc = LayerGradCam(*fresh())
        self.gbp = GuidedBackprop(fresh()[0])
        self.deconvolution = Deconvolution(fresh()[0])
        self.occlusion = Occlusion(fresh()[0])
        self.gradient_shap = GradientShap(fresh()[0])
        self.feature_ablation = FeatureAblation(fresh()[0])
        self.shapley = ShapleyValueSampling(fresh()[0])
        self.kernel_shap = KernelShap(fresh()[0])
        self.lime = Lime(fresh()[0])
        # DeepLIFT needs each nonlinearity as a module of its own (deeplift.py).
        self.deep_lift = DeepLift(deeplift_ready(fresh()[0]))
        self.deep_lift_shap = DeepLiftShap(deeplift_ready(fresh()[0]))
        ready = deeplift_ready(fresh()[0])
        self.layer_deep_lift = LayerDeepLift(ready, operator.attrgetter(layer_name)(ready))
        self.layer_gradient_shap = LayerGradientShap(*fresh())
        self.layer_conductance = LayerConductance(*fresh())
        # zennit's EpsilonPlus, its hooks registered once on a copy of its own; a ResNet with
        # zennit's ResNet canonizer (lrp.py's, with the exact batch-norm merge).
        self.lrp_net = fresh()[0]
        is_resnet = any(isinstance(m, BasicBlock) for m in self.lrp_net.modules())
        EpsilonPlus(canonizers=[resnet_canonizer()] if is_resnet else None).register(self.lrp_net)
        pgc_net, pgc_layer = fresh()
        self.pgc_cam = GradCAM(model=pgc_net, target_layers=[pgc_layer],
                               reshape_transform=reshape_transform)
        smooth_net, smooth_layer = fresh()
        self.pgc_cam_smooth = GradCAM(model=smooth_net, target_layers=[smooth_layer],
                                      reshape_transform=reshape_transform)
        # Ablation-CAM divides by the clean score: the logit's, as the Rust row, since the
        # log-probability of a certain prediction is 0.
        ablation_net, ablation_layer = fresh()
        if hasattr(ablation_net, "logits"):
            ablation_net = LogitsNet(ablation_net)
        self.pgc_ablation = AblationCAM(model=ablation_net, target_layers=[ablation_layer])
        kpca_net, kpca_layer = fresh()
        self.pgc_kpca = KPCA_CAM(model=kpca_net, target_layers=[kpca_layer],
                                 reshape_transform=reshape_transform)
        self.pgc_full = FullGrad(model=fresh()[0], target_layers=[],
                                 reshape_transform=reshape_transform)
        shapley_net, shapley_layer = fresh()
        self.pgc_shapley = ShapleyCAM(model=shapley_net, target_layers=[shapley_layer],
                                      reshape_transform=reshape_transform)
        dff_net, dff_layer = fresh()
        self.pgc_dff_object = DeepFeatureFactorization(
            model=dff_net, target_layer=dff_layer, reshape_transform=reshape_transform,
            computation_on_concepts=getattr(dff_net, "fc", None))
        # The MNIST net over two layers (pytorch-grad-cam's list of target layers).
        if layer_name == "conv2":
            two_net, _ = fresh()
            self.pgc_cam_two = GradCAM(model=two_net, target_layers=[two_net.conv1, two_net.conv2])
        # pytorch-grad-cam's composition: its GradCAM and guided backprop, each on its own copy.
        guided_net, guided_layer = fresh()
        self.pgc_guided_cam = GradCAM(model=guided_net, target_layers=[guided_layer],
                                      reshape_transform=reshape_transform)
        self.pgc_gbp = GuidedBackpropReLUModel(fresh()[0], device=next(net.parameters()).device)
        self.pgc_gbp_images = pgc_gbp_images
        self.estimated_secs = None

    def target(self, x, given):
        """The classes explained: the given ones, else the prediction (a forward pass)."""
        if given is not None:
            return given
        with torch.no_grad():
            return self.net(x).argmax(dim=1)

    @staticmethod
    def pgc_targets(given):
        return None if given is None else [ClassifierOutputTarget(int(c)) for c in given]

    def forward(self, x, given):
        with torch.no_grad():
            return self.net(x).cpu().numpy()

    @staticmethod
    def forget_removed_hooks(captum_method) -> None:
        """Captum 0.9's guided backprop and deconvolution append every call's hook handles to a
        list they never clear, and remove the whole list at each call: one object slows down
        with every call (1,184 -> 474 images/s over 8 passes of 200 digits). The handles are
        already removed, so forgetting them after each call times Captum at its best."""
        captum_method.backward_hooks.clear()

    def captum_guided_gradcam(self, x, given):
        maps = self.ggc.attribute(x.clone(), target=self.target(x, given)).detach().cpu().numpy()
        self.forget_removed_hooks(self.ggc.guided_backprop)
        return maps

    def captum_layer_gradcam(self, x, given):
        cam = self.lgc.attribute(x.clone(), target=self.target(x, given), relu_attributions=True)
        return LayerAttribution.interpolate(cam, (self.size, self.size),
                                            interpolate_mode="nearest").detach().cpu().numpy()

    def captum_guided_backprop(self, x, given):
        maps = self.gbp.attribute(x.clone(), target=self.target(x, given)).detach().cpu().numpy()
        self.forget_removed_hooks(self.gbp)
        return maps

    def captum_deconvolution(self, x, given):
        maps = self.deconvolution.attribute(x.clone(), target=self.target(x, given)).detach().cpu().numpy()
        self.forget_removed_hooks(self.deconvolution)
        return maps

    def captum_occlusion(self, x, given):
        return self.occlusion.attribute(
            x.clone(), target=self.target(x, given), sliding_window_shapes=(x.shape[1], 4, 4),
            strides=(x.shape[1], 4, 4), perturbations_per_eval=max(1, 256 // x.shape[0])
        ).detach().cpu().numpy()

    def captum_feature_ablation(self, x, given):
        return self.feature_ablation.attribute(
            x.clone(), target=self.target(x, given), feature_mask=self.grid(x),
            perturbations_per_eval=max(1, 256 // x.shape[0])).detach().cpu().numpy()

    def captum_shapley_value_sampling(self, x, given):
        return self.shapley.attribute(
            x.clone(), target=self.target(x, given), feature_mask=self.grid(x), n_samples=2,
            perturbations_per_eval=max(1, 256 // x.shape[0])).detach().cpu().numpy()

    def captum_kernel_shap(self, x, given):
        return self.kernel_shap.attribute(
            x.clone(), target=self.target(x, given), feature_mask=self.grid(x), n_samples=25,
            perturbations_per_eval=25).detach().cpu().numpy()

    def captum_lime(self, x, given):
        return self.lime.attribute(
            x.clone(), target=self.target(x, given), feature_mask=self.grid(x), n_samples=25,
            perturbations_per_eval=25).detach().cpu().numpy()

    def torch_rise(self, x, given):
        target = self.target(x, given)
        n, c, h, w = x.shape
        grids = (torch.rand(250, 7, 7) < 0.5).float().to(x.device)
        cell = [-(-h // 7), -(-w // 7)]
        up = torch.nn.functional.interpolate(grids[:, None], size=(8 * cell[0], 8 * cell[1]),
                                             mode="bilinear", align_corners=False)[:, 0]
        sy = torch.randint(0, cell[0], (250,)).tolist()
        sx = torch.randint(0, cell[1], (250,)).tolist()
        masks = torch.stack([up[i, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(sy, sx))])
        per_pass = max(1, 256 // n)
        total = torch.zeros(n, h * w, device=x.device)
        with torch.no_grad():
            for start in range(0, 250, per_pass):
                m = masks[start:start + per_pass]
                out = self.net((x[None] * m[:, None, None]).reshape(-1, c, h, w))
                scores = out.view(len(m), n, -1)[:, torch.arange(n), target]
                total += scores.T @ m.reshape(len(m), -1)
        return (total / 250 / 0.5).view(n, 1, h, w).expand(n, c, h, w).cpu().numpy()

    @staticmethod
    def grid(x):
        """The Rust rows' features: a 7x7 grid."""
        return grid_ids(x.shape[2], x.shape[3], 7, 7).to(x.device)

    def captum_gradient_shap(self, x, given):
        # The Rust row's defaults: five draws from the one zero baseline, no noise.
        baselines = torch.zeros((1,) + tuple(x.shape[1:]), device=x.device)
        return self.gradient_shap.attribute(x.clone(), baselines=baselines, n_samples=5,
                                            stdevs=0.0, target=self.target(x, given)).detach().cpu().numpy()

    def captum_deep_lift(self, x, given):
        # The Rust row's default: the zero image as the reference.
        return self.deep_lift.attribute(x.clone(), baselines=0.0,
                                        target=self.target(x, given)).detach().cpu().numpy()

    def captum_deep_lift_shap(self, x, given):
        # The Rust row's default: the constant images -1, 0 and 1 as the references.
        baselines = torch.tensor([-1.0, 0.0, 1.0], device=x.device).view(3, 1, 1, 1).expand(
            (3,) + tuple(x.shape[1:])).contiguous()
        return self.deep_lift_shap.attribute(x.clone(), baselines=baselines,
                                             target=self.target(x, given)).detach().cpu().numpy()

    def captum_layer_deep_lift(self, x, given):
        # The Rust row's default: the zero image as the reference.
        return self.layer_deep_lift.attribute(x.clone(), baselines=0.0,
                                              target=self.target(x, given)).detach().cpu().numpy()

    def captum_layer_gradient_shap(self, x, given):
        # The Rust row's defaults: five draws from the zero baseline, no noise.
        baselines = torch.zeros((1,) + tuple(x.shape[1:]), device=x.device)
        return self.layer_gradient_shap.attribute(
            x.clone(), baselines=baselines, n_samples=5, stdevs=0.0,
            target=self.target(x, given)).detach().cpu().numpy()

    def path_points_per_pass(self) -> int:
        """The Rust rows' bound (`path_points_per_pass`): a thousand points on the small nets,
        one 224x224 image's fifty on the others."""
        return 50 if self.size == 224 else 1000

    def captum_layer_conductance(self, x, given):
        # The Rust row's settings: 50 Gauss-Legendre steps from zero, its points per pass.
        return self.layer_conductance.attribute(
            x.clone(), baselines=0.0, target=self.target(x, given), n_steps=50,
            internal_batch_size=self.path_points_per_pass()).detach().cpu().numpy()

    def zennit_lrp(self, x, given):
        # zennit's Gradient attributor's work: the relevance from the target's output.
        x = x.clone().requires_grad_()
        output = self.lrp_net(x)
        target = given if given is not None else output.detach().argmax(dim=1)
        one_hot = torch.nn.functional.one_hot(target, output.shape[1])
        relevance, = torch.autograd.grad(output, x, grad_outputs=output * one_hot)
        return relevance.detach().cpu().numpy()

    def pgc_gradcam(self, x, given):
        return self.pgc_cam(input_tensor=x, targets=self.pgc_targets(given))

    def pgc_gradcam_eigen_smooth(self, x, given):
        return self.pgc_cam_smooth(input_tensor=x, targets=None, eigen_smooth=True)

    def pgc_gradcam_aug_smooth(self, x, given):
        return self.pgc_cam_smooth(input_tensor=x, targets=None, aug_smooth=True)

    def pgc_gradcam_conv1_conv2(self, x, given):
        return self.pgc_cam_two(input_tensor=x, targets=None)

    def pgc_ablationcam(self, x, given):
        return self.pgc_ablation(input_tensor=x, targets=None)

    def pgc_kpcacam(self, x, given):
        return self.pgc_kpca(input_tensor=x, targets=self.pgc_targets(given))

    def pgc_dff(self, x, given):
        return self.pgc_dff_object(input_tensor=x, n_components=5)[1]

    def pgc_fullgrad(self, x, given):
        return self.pgc_full(input_tensor=x, targets=self.pgc_targets(given))

    def pgc_shapleycam(self, x, given):
        return self.pgc_shapley(input_tensor=x, targets=self.pgc_targets(given))

    def pgc_gradcam_guided(self, x, given):
        """Returns the maps; sets self.estimated_secs when only a subset was run."""
        t0 = time.perf_counter()
        cam = self.pgc_guided_cam(input_tensor=x, targets=None)  # [N,H,W] numpy, argmax targets
        pred = self.pgc_guided_cam.outputs.argmax(dim=1)
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


def time_pass(bench: "Peers", fn, x: torch.Tensor, given, batch: int, n_images: int) -> float:
    """Seconds for one pass over n_images images at the given batch size (given: the classes
    of every image, or None to predict them)."""
    bench.estimated_secs = None
    t0 = time.perf_counter()
    if batch == 1:
        for i in range(n_images):
            fn(x[i:i + 1], None if given is None else given[i:i + 1])
    else:
        fn(x[:batch], None if given is None else given[:batch])
    secs = time.perf_counter() - t0
    return secs if bench.estimated_secs is None else bench.estimated_secs


SEGMENTATION = ("fcn_resnet50", "deeplabv3_resnet50", "lraspp_mobilenet_v3_large")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mnist", choices=["mnist", "resnet18", "resnet50", "vgg16", "mobilenet_v2", "mobilenet_v3_large",
                                                  "efficientnet_b0", "densenet121", "convnext_tiny", "fcn_resnet50",
                                                  "deeplabv3_resnet50", "lraspp_mobilenet_v3_large", "vit_b_16",
                                                  "swin_t",
                                                  "vit"],
                    help="the seed's MNIST CNN on the evaluation digits, torchvision's resnet18 "
                         "(the generator's seed-18 weights, eval mode, explained at layer4) or "
                         "vgg16 (seed 18, He's bound) or mobilenet_v2, mobilenet_v3_large, efficientnet_b0, "
                         "densenet121, convnext_tiny, resnet50 (seed 18), explained at "
                         "features[-1], or fcn_resnet50, deeplabv3_resnet50, "
                         "lraspp_mobilenet_v3_large (seed 18, 21 "
                         "classes, each class summed over its predicted pixels as Captum's "
                         "segmentation tutorial wraps the model, explained at "
                         "backbone.layer4, LR-ASPP at backbone['16']), or vit_b_16 (seed 18, at "
                         "its last block's ln_1, the patch tokens seen as a 14x14 grid by "
                         "families.PatchGrid: pytorch-grad-cam's reshape_transform, where Captum "
                         "can take it too), or swin_t (seed 18, at its last block's norm1, "
                         "seen channels first by families.ChannelsFirst), on "
                         "the committed 224x224 images, repeated to the batch size, or the "
                         "tests' small ViT (tests/fixtures/vit_weights.safetensors, explained at "
                         "blocks[0] with its reshape_transform) on the generator's 32x32 "
                         "images in [-2, 2)")
    ap.add_argument("--digits", default=digits.EVAL_DIGITS)
    ap.add_argument("--weights", default=os.path.join(digits.REPO_ROOT, "data", "mnist_model.pth"))
    ap.add_argument("--batches", default="1,1000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch1-images", type=int, default=200)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--device", default="cpu",
                    help="torch device the peers run on (cpu, cuda): with cuda each row also "
                         "reports torch.cuda.max_memory_allocated")
    ap.add_argument("--pgc-gbp-images", type=int, default=0,
                    help="at batch > 1, time pytorch-grad-cam's per-image guided backprop loop on only "
                         "this many images and scale its time to the batch (0 = all images)")
    args = ap.parse_args()

    warnings.filterwarnings("ignore")
    batches = [int(b) for b in args.batches.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS and p.removesuffix("_given") not in GIVEN:
            ap.error(f"unknown peer {p}")

    need = max([args.batch1_images if b == 1 else b for b in batches])
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.model == "mnist":
        _, eval_bytes = digits.read_eval_digits(args.digits)
        x_all = normalize(torch.from_numpy(digits.bytes_to_pixels(eval_bytes)).reshape(-1, 1, 28, 28))
        if need > x_all.shape[0]:
            ap.error(f"need {need} digits, the file has {x_all.shape[0]}")
        bench = Peers(load_model(args.weights).to(device), "conv2", 28, args.pgc_gbp_images)
    elif args.model == "vit":
        import vit
        from safetensors.torch import load_file
        net = vit.SmallViT().eval()
        net.load_state_dict(load_file(os.path.join(digits.REPO_ROOT, "tests", "fixtures",
                                                   "vit_weights.safetensors")))
        shape = (need, 3, vit.SIDE, vit.SIDE)
        x_all = torch.from_numpy(seeded_uniform(7, VIT_IMAGES, int(np.prod(shape)), -2.0, 2.0)
                                 .reshape(shape))
        bench = Peers(net.to(device), "blocks.0", vit.SIDE, args.pgc_gbp_images,
                      reshape_transform=vit.reshape_transform)
    else:
        if args.model == "vgg16":
            net, layer = torchvision.models.vgg16(), "features.30"
            net.load_state_dict(seeded_state_dict(net, 18, numerator=6.0))
        elif args.model in ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"):
            net = getattr(torchvision.models, args.model)()
            layer = f"features.{len(net.features) - 1}"
            net.load_state_dict(seeded_state_dict(net, 18))
        elif args.model == "densenet121":
            net, layer = torchvision.models.densenet121(), "features.norm5"
            net.load_state_dict(seeded_state_dict(net, 18))
        elif args.model == "vit_b_16":
            from families import vit_last_norm_grid
            net = torchvision.models.vit_b_16()
            net.load_state_dict(seeded_state_dict(net, 18))
            vit_last_norm_grid(net)
            layer = f"encoder.layers.encoder_layer_{len(net.encoder.layers) - 1}.ln_1.grid"
        elif args.model == "swin_t":
            from families import swin_last_norm_grid
            net = torchvision.models.swin_t()
            net.load_state_dict(seeded_state_dict(net, 18))
            swin_last_norm_grid(net)
            layer = f"features.7.{len(net.features[7]) - 1}.norm1.grid"
        elif args.model in SEGMENTATION:
            from segmentation import PredictedPixels
            seg = getattr(torchvision.models.segmentation, args.model)(
                weights=None, weights_backbone=None, num_classes=21)
            seg.load_state_dict(seeded_state_dict(seg, 18))
            high = "16" if args.model.startswith("lraspp") else "layer4"
            net, layer = PredictedPixels(seg), f"model.backbone.{high}"
        else:
            net, layer = getattr(torchvision.models, args.model)(), "layer4"
            net.load_state_dict(seeded_state_dict(net, 18))
        net = no_inplace_relus(net.eval())
        _, pixels = reference_images()
        x = torch.from_numpy(imagenet_normalize(pixels))
        x_all = x.repeat((need + len(x) - 1) // len(x), 1, 1, 1)[:need].contiguous()
        bench = Peers(net.to(device), layer, 224, args.pgc_gbp_images)
    x_all = x_all.to(device)
    # A segmentation network's class scores are its output map's pixel means (the Rust side's
    # pooled_scores); its peers explain each class over its predicted pixels.
    scores = ((lambda x: bench.net.model(x)["out"].mean(dim=(2, 3)))
              if args.model in SEGMENTATION else bench.net)
    with torch.no_grad():  # the given-class rows' targets, before any clock starts
        predictions = torch.cat([scores(x_all[i:i + 100]).argmax(dim=1)
                                 for i in range(0, len(x_all), 100)])
    results = []
    load_start = loadavg()
    t_start = time.perf_counter()
    for t in threads:
        torch.set_num_threads(t)
        for b in batches:
            n_images = args.batch1_images if b == 1 else b
            for p in peers:
                fn = getattr(bench, p.removesuffix("_given"))
                given = predictions if p.endswith("_given") else None
                scaled = p == "pgc_gradcam_guided" and b > 1 and 0 < args.pgc_gbp_images < b
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                time_pass(bench, fn, x_all, given, b, n_images)  # warm-up
                runs = []
                for _ in range(args.repeats):
                    secs = time_pass(bench, fn, x_all, given, b, n_images)
                    runs.append(n_images / secs)
                res = {"peer": p, "batch": b, "threads": t, "images": n_images,
                       "images_per_s": statistics.median(runs), "runs": runs}
                if cuda:
                    res["max_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
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
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "repeats": args.repeats,
        "batch1_images": args.batch1_images,
        # The class predicted for each image, for the Rust side to confirm the same inputs.
        "predictions": predictions.tolist(),
        "results": results,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
