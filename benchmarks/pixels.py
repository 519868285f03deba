"""Learning from pixels: latent LNN vs black box vs HNN on rendered 32×32 RGB frames with 1 % pixel noise.

For each system (pendulum, double pendulum) every model learns from the same frames
(--motions motions of 5 s at 20 frames/s, rendered by lnn.vision with Gaussian pixel
noise of standard deviation 0.01), for the same wall-clock budget (--budget seconds
each, compilation included), with the same objective (lnn.vision.PixelObjective:
reconstruction + 6-frame prediction + latent consistency 1e-3) and the same encoder and
decoder; only the latent dynamics differs (lnn.LagrangianNN, lnn.BlackBox,
lnn.HamiltonianNN). They are judged on the same 4 held-out motions of 401 frames
(lnn.vision.evaluate_video): VPT (first frame whose MSE exceeds 2.5 % of the frame's mean
square), pixel MSE at 1, 10, 100 and 400 frames, R² of the best polynomial map from the
latent to the true coordinates, and the learned energy's drift along 2,000-frame latent
rollouts (relative to its spread over the encoded held-out states).

The issue's target (on an idle 2-core machine, 10 min per model): pendulum LNN VPT ≥ 1.5×
the black box's and ≥ the HNN's, R² ≥ 0.99, energy drift ≤ 1 %.

    python benchmarks/pixels.py                                  # both systems, 600 s per model
    python benchmarks/pixels.py --only pendulum --budget 60      # a quick look
    python benchmarks/pixels.py --json --out runs/pixels         # figures and GIFs under --out
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import jax

from lnn.experiment import PixelExperimentConfig, machine_description, run_pixels

SYSTEMS = ("pendulum", "double_pendulum")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SYSTEMS, help="one system")
    parser.add_argument("--models", default="lnn,baseline,hnn")
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per model")
    parser.add_argument("--steps", type=int, default=None, help="a fixed number of steps instead of a budget")
    parser.add_argument("--motions", type=int, default=40, help="training motions (5 s at 20 fps each)")
    parser.add_argument("--test-frames", type=int, default=401, help="frames per held-out motion")
    parser.add_argument("--drift-frames", type=int, default=2000, help="latent rollout length for the energy drift")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/pixels"))
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)  # the CLI's setting: physics in float64, networks in float32

    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"command: {command}")
    print(f"machine: {machine_description()}")
    everything = {}
    for system in (args.only,) if args.only else SYSTEMS:
        config = PixelExperimentConfig(
            system=system,
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            n_train=args.motions,
            test_frames=args.test_frames,
            drift_frames=args.drift_frames,
            budget=args.budget if args.steps is None else 0.0,
            steps=args.steps,
            seed=args.seed,
        )
        t0 = time.perf_counter()
        results = run_pixels(config, args.out / system, progress=False, log=lambda msg: print(f"  {msg}", flush=True))
        everything[system] = results
        print(f"\n{system} from 32×32 frames, pixel noise 1 %: {time.perf_counter() - t0:.0f} s in all")
        print(table(results))
        if "lnn" in results and "baseline" in results and results["baseline"]["vpt"] > 0:
            print(f"VPT ratio lnn / baseline: {results['lnn']['vpt'] / results['baseline']['vpt']:.2f}")
        if "lnn" in results and "hnn" in results and results["hnn"]["vpt"] > 0:
            print(f"VPT ratio lnn / hnn: {results['lnn']['vpt'] / results['hnn']['vpt']:.2f}")
        if {"lnn", "baseline"} <= set(results):
            path = args.out / system / "truth_lnn_baseline.gif"
            small_animation(
                args.out / system / "lnn" / "prediction.gif", args.out / system / "baseline" / "prediction.gif", path
            )
            print(f"wrote {path} (truth | LNN | black box)")
    if args.json:
        print(json.dumps(everything))


def small_animation(lnn_gif: Path, baseline_gif: Path, path: Path) -> None:
    """Truth | LNN | black box from the two runs' prediction GIFs (each prediction | truth), every second
    frame at half the scale and 16 colours: small enough for the docs (docs/video_pendulum.gif)."""
    import imageio.v3 as iio
    import numpy as np
    from PIL import Image

    lnn, box = (iio.imread(gif, index=None) for gif in (lnn_gif, baseline_gif))
    width = lnn.shape[1]  # each panel is square; the white gap between them is the rest of the width
    gap = np.full((*lnn.shape[:2], 4, 3), 255, np.uint8)
    frames = np.concatenate([lnn[:, :, -width:], gap, lnn[:, :, :width], gap, box[:, :, :width]], axis=2)
    frames = (np.round(frames[::2, ::2, ::2] / 16.0) * 16).clip(0, 255).astype(np.uint8)
    quantised = [
        Image.fromarray(f).quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        for f in frames
    ]
    quantised[0].save(path, save_all=True, append_images=quantised[1:], duration=100, loop=0, optimize=True)


def table(results: dict) -> str:
    horizons = list(next(iter(results.values()))["pixel_mse"])
    head = ["model", "steps", "train s", "VPT (s)", *[f"MSE@{h}" for h in horizons], "R²", "energy drift"]
    rows = [head, ["---"] * len(head)]
    for name, r in results.items():
        drift = r["energy_drift"]
        rows.append(
            [
                name,
                f"{r['train_steps']:,}",
                f"{r['train_seconds']:.0f}",
                f"{r['vpt']:.3g}",
                *[f"{r['pixel_mse'][h]:.3g}" for h in horizons],
                "-" if r["coordinate_r2"] is None else f"{r['coordinate_r2']:.3f}",
                "-" if drift is None else f"{100 * drift:.3g} %",
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


if __name__ == "__main__":
    main()
