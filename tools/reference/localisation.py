"""Parity fixture for the localisation metrics of `crates/metrics` (`localisation.rs`): Quantus
0.6's `PointingGame`, `RelevanceMassAccuracy` and `RelevanceRankAccuracy`, TorchRay's pointing
game tolerance, Score-CAM's energy-based pointing game and the Grad-CAM paper's weakly supervised
localisation box, on 25 small hand-built cases.

Writes tests/fixtures/localisation.safetensors. For each case ``<c>`` of the metadata's ``cases``
(comma-separated):

  <c>/map          float32 [H, W]: the attribution map (signed in several cases)
  <c>/mask         uint8 [H, W]: the ground-truth mask (0 or 1)
  <c>/box          int64 [4]: (y0, x0, y1, x1), half-open, when the mask is that box
  <c>/pointing_game            uint8 [1]: Quantus ``PointingGame`` (1 = hit)
  <c>/pointing_game_tolerance  uint8 [T]: TorchRay's ``PointingGame.evaluate`` (the acceptance
                   disc ``dy² + dx² < tolerance²``) at each tolerance of the global
                   ``tolerances``, applied at every maximum of the map (a hit if any hits)
  <c>/relevance_mass_accuracy  float32 [1]: Quantus ``RelevanceMassAccuracy``
  <c>/relevance_rank_accuracy  float64 [1]: Quantus ``RelevanceRankAccuracy``
  <c>/relevance_rank_accuracy_stable  float64 [1]: the same with ties ranked by position
                   (``np.argsort(-a, kind="stable")`` in place of Quantus's default sort)
  <c>/relevance_rank_accuracy_range   float64 [2]: the least and the most any order of the tied
                   values can give
  <c>/energy_pointing_game     float64 [1]: Score-CAM's energy-based pointing game, the share of
                   the map's positive part inside the mask, in float64
  <c>/energy_quantus           float32 [1]: Quantus ``RelevanceMassAccuracy`` of ``max(a, 0)``
  <c>/wsol_box, <c>/wsol_box_050  int64 [4]: the Grad-CAM paper's localisation box, at 15 % and
                   50 % of the maximum: the bounding box of the largest 8-connected component of
                   ``a >= np.float32(t) * a.max()`` (``scipy.ndimage.label``; equal sizes: the
                   lowest label, first in raster order); only where the maximum is positive
  <c>/wsol_box_4conn  int64 [4]: the same at 15 % with 4-connected components
  <c>/wsol_iou     float64 [1]: the IoU of ``wsol_box`` with ``box`` (pixel areas), where both exist
  <c>/quantus_refuses  uint8 [1]: present where Quantus refuses the map with an AssertionError
                   (a constant map; every value negative): no Quantus key is written there

A value Quantus or the transcription leaves undefined (NaN: the empty mask's mass and rank
accuracies, the energy of a map without a positive value) is not written; the metadata's
``undefined`` lists those keys, and the Rust functions return an error there.

Quantus is called as a user calls it: one metric object per call with its arguments written out
(``abs=False, normalise=True, normalise_func=normalise_by_max``, its defaults), ``model=None`` (the
localisation metrics need none), ``x_batch`` a [1, 3, H, W] image, ``a_batch`` the [1, H, W] map,
``s_batch`` the [1, 1, H, W] mask, ``channel_first=True``. One case per call: Quantus's
``normalise_by_max`` divides by the largest magnitude of the whole batch, and the Rust functions
take one map.

What the script establishes about Quantus 0.6.0 (printed, and in the metadata):

  * ``PointingGame(weighted=True)`` raises ``TypeError`` on every batch (it assigns a
    ``keepdims`` column into a boolean array), so its weighted variant has no output to match;
  * ``PointingGame`` reports a hit for an empty mask (its NaN is cast into a boolean array);
  * an attribution with a channel axis (``[N, C, H, W]``, C > 1) fails to broadcast against the
    ``[N, 1, H, W]`` masks in all three metrics: the channels must be reduced by the caller;
  * ``RelevanceRankAccuracy`` sorts with NumPy's default (unstable) ``argsort``: where tied values
    straddle the |mask|-th place, its value depends on NumPy's sorting kernel.

Deterministic (seeded NumPy draws).

    tools/reference/.venv/bin/python tools/reference/localisation.py
"""

import argparse
import os
import sys
import warnings
from importlib.metadata import version

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import write_safetensors  # noqa: E402

import quantus  # noqa: E402
from quantus.functions.normalise_func import normalise_by_max  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 2024
TOLERANCES = (1, 2, 3, 5, 15)
WSOL_THRESHOLD = 0.15


# ---------------------------------------------------------------------------
# Cases


def box_mask(shape, box):
    y0, x0, y1, x1 = box
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def gaussian(shape, cy, cx, sigma, height=1.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return height * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * sigma ** 2))


def normalise_tie(rng):
    """A map whose largest value lies outside the mask and whose next float, inside the mask,
    becomes equal to it once divided by the map's largest magnitude (a negative value): Quantus's
    normalisation makes the tie, so its pointing game hits where the raw arg-max misses."""
    shape = (16, 16)
    scale = np.float32(1.9)
    while True:
        p = np.float32(rng.uniform(0.9, 1.0))
        q = np.nextafter(p, np.float32(0))
        if p / scale == q / scale:
            break
    a = (rng.uniform(-0.5, 0.5, size=shape) * 0.5).astype(np.float32)
    a[15, 15] = -scale
    box = (2, 2, 8, 8)
    a[12, 12] = p  # outside the box
    a[4, 4] = q  # inside
    assert a.max() == p and np.argmax(a) == 12 * 16 + 12
    return a, box


def cases(rng):
    out = []

    def add(name, a, mask=None, box=None):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if box is not None:
            mask = box_mask(a.shape, box)
        out.append({"name": name, "map": a, "mask": np.asarray(mask, dtype=bool), "box": box})

    s = (32, 32)
    add("gaussian_in_box", gaussian(s, 12, 18, 4.0) + 0.05 * rng.random(s), box=(6, 10, 20, 26))
    add("gaussian_off_box", gaussian(s, 26, 5, 3.0) + 0.05 * rng.random(s), box=(6, 10, 20, 26))
    add("signed_random", rng.normal(size=s), box=(8, 8, 24, 24))
    add("signed_offset_top_left", rng.normal(size=s) + 0.5, box=(0, 0, 10, 13))
    # A peak three pixels right of a box touching the bottom border: a miss up to tolerance 3
    # (TorchRay's disc is strict), a hit at 5.
    m = gaussian((24, 28), 20, 21, 2.0) + 0.02 * rng.random((24, 28))
    add("peak_near_bottom_box", m, box=(14, 8, 24, 19))
    m = gaussian((24, 24), 20, 20, 2.0)
    add("box_bottom_right_corner", m - 0.1, box=(16, 16, 24, 24))
    m = 0.5 * rng.random((20, 20)).astype(np.float32)
    m[3, 3] = m[15, 16] = 2.0
    add("tied_maxima_in_and_out", m, box=(12, 12, 20, 20))
    m = 0.5 * rng.random((20, 20)).astype(np.float32)
    m[3, 3] = m[18, 1] = 2.0
    add("tied_maxima_out", m, box=(10, 10, 16, 16))
    add("flat_positive", np.full((16, 16), 0.75), box=(4, 5, 9, 12))
    add("flat_zero", np.zeros((16, 16)), box=(4, 5, 9, 12))
    add("quantised_ties", np.floor(rng.random((24, 24)) * 4.0) / 4.0, box=(5, 3, 16, 11))
    add("quantised_signed_ties", np.round(rng.normal(size=(24, 24)) * 2.0) / 2.0,
        box=(0, 12, 9, 24))
    m = -rng.random((20, 20)) - 0.1
    add("all_negative", m, box=(3, 3, 12, 9))
    m = m.copy()
    m[5, 5] = 0.05  # the one positive value, inside the box
    add("mostly_negative", m, box=(3, 3, 12, 9))
    a, box = normalise_tie(rng)
    add("normalise_tie", a, box=box)
    add("thin_row_box", gaussian((16, 24), 7, 12, 3.0) + 0.1 * rng.normal(size=(16, 24)),
        box=(7, 0, 8, 24))
    add("single_pixel_box", gaussian((16, 16), 9, 6, 2.0), box=(9, 6, 10, 7))
    add("full_mask", rng.normal(size=(16, 16)) + 0.2, box=(0, 0, 16, 16))
    yy, xx = np.mgrid[:28, :28]
    disc = (yy - 13) ** 2 + (xx - 15) ** 2 < 7.5 ** 2
    add("disc_mask", gaussian((28, 28), 14, 14, 5.0) + 0.1 * rng.normal(size=(28, 28)),
        mask=disc)
    # Three blobs of different sizes; the largest is not the highest.
    m = (gaussian((40, 48), 10, 10, 2.0, 1.0) + gaussian((40, 48), 26, 30, 6.0, 0.7)
         + gaussian((40, 48), 33, 8, 3.0, 0.8))
    add("multi_component", m, box=(17, 20, 36, 41))
    # Two bars meeting only at a diagonal: one component 8-connected, two 4-connected.
    m = 0.01 * rng.random((24, 24))
    m[4:12, 4:7] = 1.0  # 8 x 3
    m[12:22, 7:10] = 0.9  # 10 x 3, touching (11, 6) diagonally at (12, 7)
    m[2:6, 16:22] = 0.8  # 4 x 6 = 24: smaller than the second bar alone
    add("diagonal_components", m, box=(4, 4, 22, 10))
    # Two components of equal size: the first in raster order is kept.
    m = 0.01 * rng.random((20, 20))
    m[12:16, 2:7] = 1.0
    m[3:7, 11:16] = 0.6
    add("equal_components", m, box=(12, 2, 16, 7))
    m = gaussian((20, 30), 0, 29, 4.0) + 0.02 * rng.random((20, 30))
    add("component_at_border", m, box=(0, 22, 8, 30))
    m = sum(gaussian((48, 40), rng.uniform(0, 48), rng.uniform(0, 40), rng.uniform(2, 6),
                     rng.uniform(0.3, 1.0)) for _ in range(6))
    add("smooth_blobs_48x40", m + 0.05 * rng.normal(size=(48, 40)), box=(10, 6, 30, 28))
    add("empty_mask", rng.random((16, 16)), mask=np.zeros((16, 16), dtype=bool))
    return out


# ---------------------------------------------------------------------------
# Quantus, as a user calls it


def quantus_batch(case):
    a = case["map"]
    h, w = a.shape
    x = np.random.default_rng(0).random((1, 3, h, w)).astype(np.float32)
    return dict(model=None, x_batch=x, y_batch=np.zeros(1, dtype=np.int64), a_batch=a[None],
                s_batch=case["mask"][None, None].astype(np.uint8), channel_first=True)


def common():
    return dict(abs=False, normalise=True, normalise_func=normalise_by_max,
                return_aggregate=False, disable_warnings=True, display_progressbar=False)


def quantus_scores(case):
    """Quantus's three scores and its mass accuracy of the positive part, or the message of the
    assertion with which it refuses the map (constant, or every value negative)."""
    batch = quantus_batch(case)
    try:
        quantus.PointingGame(weighted=False, **common())(**batch)
    except AssertionError as e:
        return str(e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pg = quantus.PointingGame(weighted=False, **common())(**batch)
        rma = quantus.RelevanceMassAccuracy(**common())(**batch)
        rra = quantus.RelevanceRankAccuracy(**common())(**batch)
        positive = dict(batch, a_batch=np.maximum(case["map"], np.float32(0))[None])
        try:
            energy = quantus.RelevanceMassAccuracy(**common())(**positive)[0]
        except AssertionError:  # no positive value: the positive part is all zero
            energy = np.nan
    return bool(pg[0]), np.float32(rma[0]), np.float64(rra[0]), np.float32(energy)


def weighted_pointing_game_outcome(case) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return repr(quantus.PointingGame(weighted=True, **common())(**quantus_batch(case)))
    except Exception as e:  # the outcome is what the fixture records
        return f"{type(e).__name__}: {e}"


def channel_axis_outcome(case) -> str:
    batch = quantus_batch(case)
    batch["a_batch"] = np.repeat(case["map"][None, None], 3, axis=1)
    outcomes = []
    for metric in (quantus.PointingGame, quantus.RelevanceMassAccuracy,
                   quantus.RelevanceRankAccuracy):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric(**common())(**batch)
            outcomes.append(f"{metric.__name__}: accepted")
        except Exception as e:
            outcomes.append(f"{metric.__name__}: {type(e).__name__}")
    return "; ".join(outcomes)


# ---------------------------------------------------------------------------
# Transcriptions


def normalised(a):
    """Quantus's ``normalise_by_max`` of one map (float32)."""
    return a if np.all(a == 0.0) else a / np.max(np.abs(a))


def torchray_hit(mask, point, tolerance):
    """TorchRay's ``PointingGame.evaluate`` (torchray/benchmark/pointing_game.py), in NumPy."""
    v = (np.arange(mask.shape[0], dtype=np.float32) - point[0]) ** 2
    u = (np.arange(mask.shape[1], dtype=np.float32) - point[1]) ** 2
    accept = (v[:, None] + u[None, :]) < tolerance ** 2
    return bool((mask & accept).any())


def pointing_game_tolerance(case):
    a = normalised(case["map"])
    maxima = np.argwhere(a == a.max())
    return [any(torchray_hit(case["mask"], p, t) for p in maxima) for t in TOLERANCES]


def rank_accuracy_stable(case):
    a, s = normalised(case["map"]).ravel(), case["mask"].ravel()
    k = int(s.sum())
    if k == 0:
        return np.nan
    order = np.argsort(-a, kind="stable")
    return float(s[order[:k]].sum() / k)


def rank_accuracy_range(case):
    """The least and the most hits among the top |mask| over every order of the tied values."""
    a, s = normalised(case["map"]).ravel(), case["mask"].ravel()
    k = int(s.sum())
    if k == 0:
        return [np.nan, np.nan]
    kth = np.sort(-a, kind="stable")[k - 1]  # the k-th largest, negated
    above = -a < kth
    tied = -a == kth
    sure = int(s[above].sum())
    places = k - int(above.sum())
    tied_in, tied_out = int(s[tied].sum()), int((~s[tied]).sum())
    lo = sure + max(0, places - tied_out)
    hi = sure + min(places, tied_in)
    return [lo / k, hi / k]


def energy(case):
    p = np.maximum(case["map"].astype(np.float64), 0.0)
    total = p.sum()
    return np.nan if total == 0 else float(p[case["mask"]].sum() / total)


def wsol_box(a, threshold, structure):
    binary = a >= np.float32(threshold) * a.max()
    labels, count = ndimage.label(binary, structure=structure)
    sizes = np.bincount(labels.ravel())[1:]
    largest = int(np.argmax(sizes)) + 1
    ys, xs = np.nonzero(labels == largest)
    return [int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1]


EIGHT = np.ones((3, 3), dtype=int)
FOUR = ndimage.generate_binary_structure(2, 1)


def iou(a, b):
    area = lambda r: max(0, r[2] - r[0]) * max(0, r[3] - r[1])  # noqa: E731
    inter = area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    union = area(a) + area(b) - inter
    return inter / union


# ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    all_cases = cases(rng)
    out = {"tolerances": np.asarray(TOLERANCES, dtype=np.int64)}
    differ, refused = [], []
    for case in all_cases:
        c, a = case["name"], case["map"]
        scores = quantus_scores(case)
        out[f"{c}/map"] = a
        out[f"{c}/mask"] = case["mask"].astype(np.uint8)
        if case["box"] is not None:
            out[f"{c}/box"] = np.asarray(case["box"], dtype=np.int64)
        if a.max() > 0:
            box = wsol_box(a, WSOL_THRESHOLD, EIGHT)
            out[f"{c}/wsol_box"] = np.asarray(box, dtype=np.int64)
            out[f"{c}/wsol_box_050"] = np.asarray(wsol_box(a, 0.5, EIGHT), dtype=np.int64)
            out[f"{c}/wsol_box_4conn"] = np.asarray(wsol_box(a, WSOL_THRESHOLD, FOUR),
                                                    dtype=np.int64)
            if case["box"] is not None:
                out[f"{c}/wsol_iou"] = np.asarray([iou(box, case["box"])], dtype=np.float64)
        wsol = f" wsol {out[f'{c}/wsol_box'].tolist()}" if f"{c}/wsol_box" in out else ""
        if isinstance(scores, str):
            refused.append(c)
            out[f"{c}/quantus_refuses"] = np.asarray([1], dtype=np.uint8)
            print(f"  {c:26s} {a.shape[0]:2d}x{a.shape[1]:2d} Quantus refuses: "
                  f"{scores[:60]}...{wsol}")
            continue
        pg, rma, rra, energy_q = scores
        stable = rank_accuracy_stable(case)
        out[f"{c}/pointing_game"] = np.asarray([pg], dtype=np.uint8)
        out[f"{c}/pointing_game_tolerance"] = np.asarray(pointing_game_tolerance(case),
                                                         dtype=np.uint8)
        out[f"{c}/relevance_mass_accuracy"] = np.asarray([rma], dtype=np.float32)
        out[f"{c}/relevance_rank_accuracy"] = np.asarray([rra], dtype=np.float64)
        out[f"{c}/relevance_rank_accuracy_stable"] = np.asarray([stable], dtype=np.float64)
        out[f"{c}/relevance_rank_accuracy_range"] = np.asarray(rank_accuracy_range(case),
                                                               dtype=np.float64)
        out[f"{c}/energy_pointing_game"] = np.asarray([energy(case)], dtype=np.float64)
        out[f"{c}/energy_quantus"] = np.asarray([energy_q], dtype=np.float32)
        if not (np.isnan(rra) and np.isnan(stable)) and rra != stable:
            differ.append(c)
        lo, hi = rank_accuracy_range(case)
        print(f"  {c:26s} {a.shape[0]:2d}x{a.shape[1]:2d} pg {int(pg)} rma {rma:+.6f} "
              f"rra {rra:.4f} (stable {stable:.4f}, ties {lo:.4f}..{hi:.4f}) "
              f"energy {energy_q:.6f}{wsol}")
    weighted = weighted_pointing_game_outcome(all_cases[0])
    channels = channel_axis_outcome(all_cases[0])
    print(f"PointingGame(weighted=True): {weighted}")
    print(f"a [1, 3, H, W] attribution: {channels}")
    print(f"RelevanceRankAccuracy differs from the stable ranking on this machine in: {differ}")
    meta = {"description": "Quantus localisation metrics, TorchRay's pointing-game tolerance, "
                           "Score-CAM's energy pointing game and Grad-CAM's WSOL box for "
                           "crates/metrics/src/localisation.rs",
            "cases": ",".join(case["name"] for case in all_cases),
            "quantus_weighted_pointing_game": weighted,
            "quantus_channel_axis": channels,
            "rank_accuracy_unstable_cases": ",".join(differ),
            "quantus_refuses": ",".join(refused),
            "version_quantus": version("quantus"), "version_numpy": version("numpy"),
            "version_scipy": version("scipy")}
    # Undefined values (NaN: an empty mask, no positive value) are left out; the Rust side
    # expects an error there.
    undefined = sorted(k for k, v in out.items() if v.dtype.kind == "f" and np.isnan(v).any())
    for k in undefined:
        del out[k]
    meta["undefined"] = ",".join(undefined)
    path = os.path.join(args.out_dir, "localisation.safetensors")
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(all_cases)} cases)")


if __name__ == "__main__":
    main()
