"""From trained LNNs to formulas: ``lnn distill`` on five systems and on the real Schmidt & Lipson pendulum.

For each system an LNN is trained with ``lnn train``'s defaults (the command
itself, run as a subprocess: 100,000 random states, 150 s budget, 64 × 2
float32 network), then distilled with :func:`lnn.distill` on 2,000 states of the
system. The scale is fixed by one physical value, the true coefficient of the
first kinetic term (a known mass), so coefficients compare with the closed form;
the closed-form Lagrangian distilled with the same library gives the true terms.
Printed per system: true terms, terms found beyond / missing from them, the
largest relative coefficient error, the formula's acceleration error against the
model and against the true system, and the distillation's wall time.

Real pendulum (``real_pend_h_1.txt``): an LNN trained on the recording by
``lnn train --data … --method derivatives`` (from smoothed derivatives: the
default, trajectory matching, needs far more than the 150 s budget on 2 cores),
distilled on the recording's smoothed states. g/l from the formula L = a θ̇²/2 + b cos θ + c sin θ is √(b² + c²)/a.
From the recording: the period of each full swing between zero crossings of θ
(linear interpolation), corrected to small amplitude by T = T₀ (2/π) K(sin²(A/2))
with A that swing's amplitude, then g/l = (2π/T₀)² (light damping shifts ω by
γ²/2ω, left out).

    python benchmarks/distill.py                                  # trains 6 LNNs (≈ 20 min on 2 cores)
    python benchmarks/distill.py --runs /tmp/runs --only pendulum,real_pend   # reuse/keep the run folders
    python benchmarks/distill.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.special import ellipk

import lnn
from lnn import io, observed
from lnn.experiment import machine_description

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "schmidt-lipson" / "real_pend_h_1.txt"
SYSTEMS = {  # name: library options
    "pendulum": {},
    "spring": {},
    "double_pendulum": {},
    "kepler": {"inverse_distances": True},
    "magnetic_particle": {},
}


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # as the lnn command runs
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-distill"), help="run folders (reused if present)")
    parser.add_argument("--only", default=",".join([*SYSTEMS, "real_pend"]), help="comma-separated cases")
    parser.add_argument("--data", type=Path, default=DATA, help="the real pendulum recording")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    console = Console(width=160)
    cases = args.only.split(",")
    results = {}
    for name in cases:
        if name == "real_pend":
            results[name] = real_pendulum(args.runs / "real_pend", args.data)
        else:
            results[name] = system_case(name, args.runs / name)
    if args.json:
        print(json.dumps({"machine": machine_description(), **results}, indent=2))
        return
    console.print(f"machine: {machine_description()} ({cpu_model()}, Python {platform.python_version()})")
    console.print(f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}")
    table = Table(title="lnn distill of LNNs trained with lnn train's defaults (scale: true first kinetic coefficient)")
    for col in ("system", "true terms", "extra", "missing", "max coef. err.", "accel. err. model", "vs truth", "time"):
        table.add_column(col, justify="left" if col in ("system", "extra", "missing") else "right")
    for name, r in results.items():
        if name == "real_pend":
            continue
        table.add_row(
            name,
            str(len(r["true_terms"])),
            ", ".join(r["extra"]) or "none",
            ", ".join(r["missing"]) or "none",
            "-" if r["max_relative_error"] is None else f"{r['max_relative_error']:.3g}",
            f"{r['acceleration_error']:.3g}",
            "-" if r["data_error"] is None else f"{r['data_error']:.3g}",
            f"{r['seconds']:.1f} s",
        )
    console.print(table)
    for name, r in results.items():
        if name != "real_pend":
            console.print(f"{name}: {r['formula'] or 'outside the library (no formula)'}", highlight=False)
    if "real_pend" in results:
        r = results["real_pend"]
        console.print(
            f"real pendulum: L = {r['formula']} (acceleration error {r['acceleration_error']:.3g} against the "
            f"model, {r['data_error']:.3g} against the smoothed recording)",
            highlight=False,
        )
        console.print(
            f"  g/l from the formula {r['g_over_l_formula']:.4g} s⁻²; from the period "
            f"{r['g_over_l_period']:.4g} ± {r['g_over_l_period_sd']:.2g} s⁻² ({r['swings']} swings, amplitude "
            f"{r['amplitude_min']:.2f}–{r['amplitude_max']:.2f} rad, finite-amplitude corrected); "
            f"uncorrected {r['g_over_l_period_uncorrected']:.4g}; distilled in {r['seconds']:.1f} s",
            highlight=False,
        )


def cpu_model() -> str:
    """The CPU's model name and whether it has AVX-512, from /proc/cpuinfo (Linux), else the platform's word."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return platform.processor() or "cpu"
    text = info.read_text()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "cpu")
    return f"{name}, {'AVX-512' if 'avx512' in text else 'no AVX-512'}"


def train(args: list[str], out: Path) -> None:
    if not (out / "model.eqx").is_file():
        subprocess.run(
            [sys.executable, "-c", "from lnn.cli import main; main()", "train", *args, "--out", str(out)], check=True
        )


def system_case(name: str, out: Path) -> dict:
    train(["--system", name], out)
    model, _ = io.load_model(out / "model.eqx")
    system = lnn.systems.get(name)
    options = SYSTEMS[name]
    truth = lnn.distill(system, system, key=jax.random.key(1), **options)
    true = {t.term: t.coefficient for t in truth.terms}
    first = truth.terms[0]
    t0 = time.perf_counter()
    result = lnn.distill(model, system, key=jax.random.key(1), scale=(first.expression, first.coefficient), **options)
    seconds = time.perf_counter() - t0
    got = {t.term: t.coefficient for t in result.terms}
    shared = set(true) & set(got)
    return {
        "true_terms": sorted(true),
        "extra": sorted(set(got) - set(true)),
        "missing": sorted(set(true) - set(got)) if result.explained else ["(outside the library)"],
        "max_relative_error": max((abs(got[k] / true[k] - 1) for k in shared), default=None)
        if result.explained
        else None,
        "acceleration_error": result.acceleration_error,
        "data_error": result.data_error,
        "formula": result.lagrangian,
        "seconds": seconds,
    }


def real_pendulum(out: Path, path: Path) -> dict:
    train(["--data", str(path), "--method", "derivatives"], out)
    model, meta = io.load_model(out / "model.eqx")
    obs = observed.load_schmidt_lipson(path)
    t0 = time.perf_counter()
    result = lnn.distill(model, coordinates=meta["coordinates"], angles=meta["angles"], states=observed.estimate(obs))
    seconds = time.perf_counter() - t0
    name = meta["coordinates"][0]
    c = {t.term: t.coefficient for t in result.terms}
    a = c.get(f"{name}_dot**2/2", float("nan"))
    g_over_l = float(np.hypot(c.get(f"cos({name})", 0.0), c.get(f"sin({name})", 0.0)) / a)
    periods = swing_periods(obs.t, obs.q[:, 0])
    return {
        "formula": result.lagrangian,
        "terms": [t.to_json() for t in result.terms],
        "acceleration_error": result.acceleration_error,
        "data_error": result.data_error,
        "g_over_l_formula": g_over_l,
        **periods,
        "seconds": seconds,
    }


def swing_periods(t: np.ndarray, theta: np.ndarray) -> dict:
    """g/l from each full swing's period between upward zero crossings, corrected for its amplitude."""
    up = np.flatnonzero((theta[:-1] < 0) & (theta[1:] >= 0))
    crossings = t[up] - theta[up] * (t[up + 1] - t[up]) / (theta[up + 1] - theta[up])
    T, amplitude = np.diff(crossings), []
    for i, j in zip(up[:-1], up[1:], strict=True):
        amplitude.append(0.5 * (np.max(theta[i : j + 2]) - np.min(theta[i : j + 2])))
    A = np.asarray(amplitude)
    T0 = T / (2 / np.pi * ellipk(np.sin(A / 2) ** 2))  # scipy's K takes m = k²
    w2, w2_raw = (2 * np.pi / T0) ** 2, (2 * np.pi / T) ** 2
    return {
        "g_over_l_period": float(np.mean(w2)),
        "g_over_l_period_sd": float(np.std(w2)),
        "g_over_l_period_uncorrected": float(np.mean(w2_raw)),
        "swings": len(T),
        "amplitude_min": float(A.min()),
        "amplitude_max": float(A.max()),
    }


if __name__ == "__main__":
    main()
