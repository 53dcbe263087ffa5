"""The localisation table of docs/audit.md from an audit run with ground-truth boxes: per method
the pointing-game hit rate, the mean energy pointing game, relevance mass and rank accuracy, and
the Grad-CAM paper's localisation (box IoU >= 0.5), read from the run's Parquet index with
pandas, as any user would.

    tools/reference/.venv/bin/python tools/reference/localisation_table.py runs/canvas
"""

import glob
import json
import os
import sys

import pandas as pd


def main() -> None:
    run = sys.argv[1]
    merged = os.path.join(run, "index.parquet")
    parts = [merged] if os.path.exists(merged) else sorted(glob.glob(os.path.join(run, "index", "*.parquet")))
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    methods = json.load(open(os.path.join(run, "run.json")))["methods"]
    print(f"{len(df)} images, accuracy {df.correct.mean() * 100:.2f} %, "
          f"boxes cover {((df.box_y1 - df.box_y0) * (df.box_x1 - df.box_x0)).mean() / 4096 * 100:.1f} % "
          "of a 64x64 canvas on average\n")
    print("| method | pointing game | energy pointing game | relevance mass | relevance rank "
          "| box IoU ≥ 0.5 | mean box IoU |")
    print("|---|---|---|---|---|---|---|")
    for method in methods:
        p = method.replace("-", "_").replace("*", "_x_")
        iou = df[f"{p}_wsol_iou"]
        print(f"| {method} | {df[f'{p}_pointing_game'].astype(float).mean() * 100:.1f} % "
              f"| {df[f'{p}_energy_pointing_game'].mean():.3f} | {df[f'{p}_relevance_mass'].mean():.3f} "
              f"| {df[f'{p}_relevance_rank'].mean():.3f} | {(iou >= 0.5).mean() * 100:.1f} % "
              f"| {iou.mean():.3f} |")


if __name__ == "__main__":
    main()
