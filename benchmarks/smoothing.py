"""Derivative estimation from noisy positions: which smoother holds on every recording (issue 14).

Recordings with known truth, over a grid of duration × frame rate × noise: the pendulum
(swings up to 134°, period about 2 s) and the double pendulum (energy up to half the
potential's range; chaotic), one motion each per frame rate, simulated for the longest
duration by ``lnn.observed.simulate`` (noise-free, with velocities; q̈ from the system);
each shorter recording is its beginning, and noise is added as ``simulate`` adds it
(Gaussian, a fraction of each coordinate's spread over that recording). Even stamps
unless --jitter. First row: the issue's own reproduction, 1.5 cos(2πt/1.1) over 41 s at
about 100 Hz with noise 1e-3. Each recording is smoothed by

* ``gcv``    — SciPy's cubic ``make_smoothing_spline``, λ by its generalised
               cross-validation over the whole recording (``lnn.observed.SmoothingSpline()``,
               the bare fit); left out above --gcv-max samples (its cost grows fast with the
               length), except on the issue's recording;
* ``knots``  — the default, ``lnn.observed.estimate()`` as it is: ``KnotSpline()``,
               least-squares cubic splines with a knot every κ samples, κ by exact GCV, its
               fallback to finer knots included ("fallback" in the check column where it
               was used; the κ chosen are in --json's rows); where estimate refuses, the bare
               fit is scored;
* ``savgol`` — Savitzky–Golay, 15 samples, degree 4 (``lnn.observed.SavitzkyGolay()``, the
               bare fit); left out above --savgol-max samples.

Columns per method: ``resid/σ`` the RMS of (recorded − smoothed position) over the true
noise σ (≈ 1 is right: the curve follows the motion and leaves the noise; for noise 0 the
residual over the coordinate's spread, in brackets); ``q̇ err`` and ``q̈ err`` the RMS error
against the truth over the RMS of the truth, over every sample (ends included), worst
coordinate; ``s`` the seconds of smoothing (all coordinates; for ``knots`` its residual
check included); ``check`` the residual check's worst ratio (``lnn.observed.departures``:
residual over what the noise allows; ✗ above 1: ``estimate`` refuses the curve).

    python benchmarks/smoothing.py            # the full grid (55 recordings)
    python benchmarks/smoothing.py --quick    # 9 pendulum recordings
    python benchmarks/smoothing.py --json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
import warnings

import jax
import numpy as np

import lnn
from lnn import observed
from lnn._angles import spread, unwrap_angles, wrapped_difference
from lnn.data import Dataset
from lnn.errors import DataError
from lnn.experiment import machine_description

SYSTEMS = {"pendulum": 0.7, "double_pendulum": 0.5}  # max energy, in units of the system's energy scale
GRID = {"durations": (5.0, 60.0, 300.0), "rates": (10.0, 100.0, 1000.0), "noise": (0.0, 0.01, 0.05)}
QUICK = {"durations": (5.0, 60.0), "rates": (30.0, 100.0), "noise": (0.0, 0.01)}
METHODS = ("gcv", "knots", "savgol")


def smoothers(gcv_max: int, savgol_max: int):
    """Each method: observations -> ((q̂, q̇, q̈), each (m, n), and a note), or None where it is not run."""

    def bare(smoother, obs):
        return smoother(obs.t, unwrap_angles(obs.q, obs.angles))

    def gcv(obs):
        return (bare(observed.SmoothingSpline(), obs), "") if len(obs) <= gcv_max else None

    def knots(obs):  # lnn.observed.estimate's default, its fallback included; if it refuses, what it refused
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                est = observed.estimate(obs)
            except DataError:
                return bare(observed.KnotSpline(), obs), "refused"
        spacings = est.metadata["derivatives"]["spacings"][0]
        return (est.q, est.qdot, est.qddot), ("fallback " if caught else "") + f"κ={','.join(map(str, spacings))}"

    def savgol(obs):
        return (bare(observed.SavitzkyGolay(15, 4), obs), "") if 15 <= len(obs) <= savgol_max else None

    return {"gcv": gcv, "knots": knots, "savgol": savgol}


def check_ratio(obs, q_smooth) -> float:
    """The residual check's worst ratio of residual to allowed residual (> 1: the estimate is refused)."""
    est = Dataset(q_smooth, q_smooth, q_smooth, obs.trajectory, obs.t)
    return max(d.ratio for d in observed.departures(obs, est))


def score(obs, clean, qddot, method_fn):
    t0 = time.perf_counter()
    out = method_fn(obs)
    seconds = time.perf_counter() - t0
    if out is None:
        return None
    (q, v, a), note = out
    noise = obs.metadata["noise"]
    scale = (noise if noise > 0 else 1.0) * spread(clean.q, clean.angles)
    resid = np.sqrt(np.mean(wrapped_difference(obs.q, q, obs.angles) ** 2, axis=0))

    def rel(got, want):
        return float(np.max(np.sqrt(np.mean((got - want) ** 2, axis=0) / np.mean(want**2, axis=0))))

    return {
        "resid": float(np.max(resid / scale)),
        "qdot": rel(v, clean.qdot),
        "qddot": rel(a, qddot),
        "seconds": seconds,
        "check": check_ratio(obs, q),
        "note": note.strip(),
    }


def issue_cosine(seed: int):
    """The issue's reproduction: 1.5 cos(2πt/1.1) over 41 s at about 100 Hz, noise 1e-3 (0.09 % of its spread)."""
    t = np.linspace(0, 41, 4125)
    w = 2 * np.pi / 1.1
    y = 1.5 * np.cos(w * t)
    meta = {"noise": 1e-3 / (1.5 / np.sqrt(2))}
    rng = np.random.default_rng(seed)
    traj = np.zeros(t.size)
    obs = observed.Observations(t=t, q=y + 1e-3 * rng.normal(size=t.size), trajectory=traj, metadata=meta)
    clean = observed.Observations(t=t, q=y, qdot=-1.5 * w * np.sin(w * t), trajectory=traj, metadata=meta)
    return obs, clean, -(w**2) * y[:, None]


def recordings(grid, systems, jitter: float, seed: int):
    """``(name, duration, fps, noise, obs, clean, q̈)`` for every recording of the grid.

    One motion per system and frame rate, simulated for the longest duration
    (``lnn.observed.simulate``, noise-free, with velocities); each shorter
    recording is its beginning. Noise is added as ``simulate`` adds it:
    Gaussian, of standard deviation ``noise`` × the spread of each coordinate
    of that recording.
    """
    rng = np.random.default_rng(seed)
    for name in systems:
        system = lnn.systems.get(name)
        e_max = SYSTEMS[name] * system.energy_scale
        for fps in grid["rates"]:
            whole = observed.simulate(
                system,
                jax.random.key(seed),
                1,
                duration=max(grid["durations"]),
                fps=fps,
                jitter=jitter,
                max_energy=e_max,
                velocities=True,
            )
            qddot_whole = np.asarray(lnn.accelerations(system, whole.q, whole.qdot))
            for duration in grid["durations"]:
                keep = np.flatnonzero(whole.t <= duration + 0.5 / fps)
                clean = whole.subset(keep)
                sigma = spread(clean.q, clean.angles)
                for noise in grid["noise"]:
                    q = clean.q + noise * sigma * rng.normal(size=clean.q.shape)
                    obs = dataclasses.replace(clean, q=q, qdot=None, metadata={**clean.metadata, "noise": noise})
                    yield name, duration, fps, noise, obs, clean, qddot_whole[keep]


def run(grid, systems, jitter: float, gcv_max: int, savgol_max: int, seed: int):
    obs, clean, qddot = issue_cosine(seed)  # SciPy's GCV spline is always run on the issue's own recording
    cases = itertools.chain(
        [("cosine (issue)", 41.0, 100.0, obs.metadata["noise"], obs, clean, qddot)],
        recordings(grid, systems, jitter, seed),
    )
    for name, duration, fps, noise, obs, clean, qddot in cases:
        row = {"system": name, "duration": duration, "fps": fps, "noise": noise, "samples": len(obs)}
        methods = smoothers(max(gcv_max, len(obs)) if name == "cosine (issue)" else gcv_max, savgol_max)
        for m, fn in methods.items():
            row[m] = score(obs, clean, qddot, fn)
        yield row


def fmt_row(row) -> str:
    cells = [row["system"], f"{row['duration']:g} s", f"{row['fps']:g} Hz", f"{row['noise'] * 100:.2g} %"]
    for m in METHODS:
        r = row[m]
        if r is None:
            cells += ["—"] * 5
            continue
        resid = f"{r['resid']:.2f}" if row["noise"] > 0 else f"[{r['resid']:.0e}]"
        check = (
            f"{r['check']:.2f}" + (" ✗" if r["check"] > 1 else "") + (" fallback" if "fallback" in r["note"] else "")
        )
        cells += [resid, f"{r['qdot']:.2g}", f"{r['qddot']:.2g}", f"{r['seconds']:.2f}", check]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small grid (pendulum only)")
    parser.add_argument("--systems", default=None, help="comma-separated (default: pendulum,double_pendulum)")
    parser.add_argument("--jitter", type=float, default=0.0, help="uneven stamps, as lnn.observed.simulate")
    parser.add_argument(
        "--gcv-max", type=int, default=3001, help="largest recording SciPy's GCV spline is run on (besides the issue's)"
    )
    parser.add_argument("--savgol-max", type=int, default=60001, help="largest recording Savitzky–Golay is run on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    grid = QUICK if args.quick else GRID
    systems = args.systems.split(",") if args.systems else (["pendulum"] if args.quick else list(SYSTEMS))
    start = time.perf_counter()
    if not args.json:
        print(f"# smoothing benchmark: {machine_description()}; jitter {args.jitter:g}; seed {args.seed}")
        head = ["system", "duration", "rate", "noise"]
        for m in ("gcv (SciPy)", "knots (default)", "savgol 15/4"):
            head += [f"{m} resid/σ", "q̇ err", "q̈ err", "s", "check"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    rows = []
    for row in run(grid, systems, args.jitter, args.gcv_max, args.savgol_max, args.seed):
        rows.append(row)
        if not args.json:
            print(fmt_row(row), flush=True)
    if args.json:
        print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
    else:
        print(f"\n{len(rows)} recordings in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
