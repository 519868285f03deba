"""Figures: trajectories, energy over time, phase portraits, loss curves. PNG, readable on their own.

Uses matplotlib's non-interactive Agg backend, so it works without a screen.
Every function writes one file atomically and returns its path.
"""

from __future__ import annotations

import io as _io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from lnn import io
from lnn.metrics import Evaluation
from lnn.systems import System

COLORS = {"truth": "black", "lnn": "tab:blue", "baseline": "tab:red", "hnn": "tab:orange", "hnn_true_p": "tab:green"}


def _save(fig, path) -> Path:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return io.atomic_write(path, lambda f: f.write(buf.getvalue()))


def _color(name: str, i: int) -> str:
    return COLORS.get(name, f"C{i + 2}")


def trajectories(
    path, system: System, evaluations: Mapping[str, Evaluation], *, index: int = 0, t_max: float = 10.0
) -> Path:
    """True vs predicted coordinates over time for one initial condition, one panel per coordinate."""
    n = system.dof
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.4 * n), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        _draw_trajectory(ax, system, evaluations, j, index, t_max)
    axes[0, 0].legend(loc="upper right", ncol=len(evaluations) + 1, fontsize=9)
    axes[0, 0].set_title(f"{system.name}: true vs predicted motion from the same initial state")
    axes[-1, 0].set_xlabel("time (s)")
    return _save(fig, path)


def _draw_trajectory(ax, system: System, evaluations, j: int, index: int, t_max: float) -> None:
    first = next(iter(evaluations.values()))
    keep = first.ts <= t_max
    ax.plot(first.ts[keep], _unwrap(first.q_true[index, keep, j], system.angles[j]), color="black", lw=2, label="truth")
    for i, (name, ev) in enumerate(evaluations.items()):
        ax.plot(
            ev.ts[keep],
            _unwrap(ev.q_pred[index, keep, j], system.angles[j]),
            color=_color(name, i),
            lw=1.3,
            ls="--",
            label=name,
        )
    unit = " (rad)" if system.angles[j] else ""
    ax.set_ylabel(f"{system.coordinates[j]}{unit}")
    ax.grid(alpha=0.3)


def phase_portraits(
    path, system: System, evaluations: Mapping[str, Evaluation], *, index: int = 0, t_max: float = 20.0
) -> Path:
    """(q_j, q̇_j) curves of the true and predicted motion from one initial state, one panel per coordinate.

    A conservative 1-dof motion traces a closed curve (or, past the box, an open
    one); a model whose energy drifts spirals in or out of it.
    """
    n = system.dof
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), squeeze=False)
    for j, ax in enumerate(axes[0]):
        _draw_phase(ax, system, evaluations, j, index, t_max)
    axes[0, 0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{system.name}: phase portraits, t ≤ {min(t_max, _t_end(evaluations)):g} s")
    return _save(fig, path)


def _draw_phase(ax, system: System, evaluations, j: int, index: int, t_max: float) -> None:
    first = next(iter(evaluations.values()))
    keep = first.ts <= t_max
    ax.plot(
        _unwrap(first.q_true[index, keep, j], system.angles[j]),
        first.qdot_true[index, keep, j],
        color="black",
        lw=2,
        label="truth",
    )
    for i, (name, ev) in enumerate(evaluations.items()):
        ax.plot(
            _unwrap(ev.q_pred[index, keep, j], system.angles[j]),
            ev.qdot_pred[index, keep, j],
            color=_color(name, i),
            lw=1.2,
            ls="--",
            label=name,
        )
    unit = " (rad)" if system.angles[j] else ""
    ax.set_xlabel(f"{system.coordinates[j]}{unit}")
    ax.set_ylabel(f"d{system.coordinates[j]}/dt")
    ax.grid(alpha=0.3)


def _t_end(evaluations) -> float:
    return float(next(iter(evaluations.values())).ts[-1])


def energy(path, system: System, evaluations: Mapping[str, Evaluation]) -> Path:
    """Energy error over time: |E_true(predicted state at t) − E_true(initial)| / E_scale, log scale.

    A perfect model stays at the integrator's floor. Lines: mean over initial
    conditions (the protocol's statistic, at t = t_end); band: 25–75 % of them.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    _draw_energy(ax, system, evaluations)
    ax.set_title(f"{system.name}: true energy error along predicted rollouts")
    ax.legend(loc="lower right")
    return _save(fig, path)


def overview(path, system: System, evaluations: Mapping[str, Evaluation], *, index: int = 0) -> Path:
    """One figure per system (the README's gallery): motion of the first coordinate, its phase
    portrait, and the energy error over time, truth and every model."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    t_max = min(10.0, _t_end(evaluations))
    _draw_trajectory(axes[0], system, evaluations, 0, index, t_max)
    axes[0].set_xlabel("time (s)")
    _draw_phase(axes[1], system, evaluations, 0, index, t_max)
    _draw_energy(axes[2], system, evaluations)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{system.name}: {system.description}")
    return _save(fig, path)


def _draw_energy(ax, system: System, evaluations) -> None:
    scale = system.energy_scale
    for i, (name, ev) in enumerate(evaluations.items()):
        rel = np.abs(ev.energy_pred - ev.energy_pred[:, :1]) / scale * 100
        rel = np.where(np.isfinite(rel), rel, np.nan)[:, 1:]
        ts = ev.ts[1:]
        ax.plot(ts, np.nanmean(rel, axis=0), color=_color(name, i), label=f"{name} (mean)", lw=1.6)
        lo, hi = np.nanpercentile(rel, [25, 75], axis=0)
        ax.fill_between(ts, np.maximum(lo, 1e-8), hi, color=_color(name, i), alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"|E(t) − E(0)| / {scale:g}   (%)")
    ax.grid(alpha=0.3, which="both")


def loss_curves(path, histories: Mapping[str, Sequence[Mapping]]) -> Path:
    """Training and validation loss against wall-clock training time, log scale, one colour per model.

    Time, not steps, on the x-axis: models are compared at equal budgets, and an
    LNN step costs several baseline steps.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, hist) in enumerate(histories.items()):
        seconds = [h["time"] for h in hist]
        ax.plot(seconds, [h["train_loss"] for h in hist], color=_color(name, i), lw=1, alpha=0.6, label=f"{name} train")
        ax.plot(
            seconds,
            [h["val_loss"] for h in hist],
            color=_color(name, i),
            lw=2,
            label=f"{name} validation ({hist[-1]['step']:,} steps)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("loss (normalised)")
    ax.set_title("training")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def position_error(path, system: System, evaluations: Mapping[str, Evaluation], threshold: float) -> Path:
    """Mean normalised position error over time (log scale), with the valid-time threshold."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, ev) in enumerate(evaluations.items()):
        ax.plot(ev.ts[1:], ev.position_error[1:], color=_color(name, i), label=name)
    ax.axhline(threshold, color="gray", ls=":", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("normalised position error")
    ax.set_title(f"{system.name}: position error of rollouts (chaos amplifies any error)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def _unwrap(x, is_angle: bool):
    return np.unwrap(x) if is_angle else x


def noise_robustness(
    path, rows: Sequence[Mapping], *, error_key: str = "error_1s", title: str = "learned from noisy positions only"
) -> Path:
    """Rollout error and valid-prediction time against measurement noise, one line per (model, method).

    ``rows``: dicts with ``model``, ``method``, ``noise`` (fraction), ``error_key`` and ``valid_time``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = {"exact": ":", "derivatives": "--", "matching": "-"}
    models = list(dict.fromkeys(r["model"] for r in rows))
    for i, model in enumerate(models):
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["model"] == model and r["method"] == method]
            x = [100 * r["noise"] for r in sel]
            kw = dict(linestyle=styles.get(method, "-."), marker="o", color=_color(model, i))
            axes[0].plot(x, [r[error_key] for r in sel], label=f"{model} ({method})", **kw)
            axes[1].plot(x, [r["valid_time"] for r in sel], **kw)
    axes[0].set(xlabel="noise (% of each coordinate's spread)", ylabel=error_key.replace("_", " "), yscale="log")
    axes[1].set(xlabel="noise (% of each coordinate's spread)", ylabel="valid-prediction time (s)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def charges(path, title: str, labels: Sequence[str], verification, *, n_show: int = 4) -> Path:
    """Noether charges over time along rollouts: the model's (dashed) and the true system's (solid).

    One panel per symmetry (``labels``), then the energy. Each charge is divided by
    its RMS over the test states, so a drift of 0.01 is 1 % of the charge's
    typical size; a conserved charge is a flat line. Colours pair a model
    rollout with the true one from the same initial state.
    """
    series = [(label, verification.charge_model[i], verification.charge_true[i]) for i, label in enumerate(labels)]
    # L, and so E, is defined up to an additive constant: show the energy's change
    series.append(
        (
            "energy − E(0) (time translation)",
            verification.energy_model - verification.energy_model[:, :1],
            verification.energy_true - verification.energy_true[:, :1],
        )
    )
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.3 * len(series)), sharex=True, squeeze=False)
    ts = verification.ts
    for ax, (label, model, truth) in zip(axes[:, 0], series, strict=True):
        for j in range(min(n_show, model.shape[0])):
            ax.plot(ts, truth[j], color=f"C{j}", lw=2.5, alpha=0.35)
            ax.plot(ts, model[j], color=f"C{j}", lw=1.2, ls="--")
        ax.set_ylabel("charge / RMS")
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="gray", lw=2.5, alpha=0.35), Line2D([], [], color="gray", ls="--")]
    axes[0, 0].legend(handles, ["true system", "model"], loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    axes[-1, 0].set_xlabel("time (s)")
    return _save(fig, path)


def field_rollouts(
    path,
    ts,
    energies: Mapping[str, Sequence],
    fields: Mapping[str, np.ndarray],
    *,
    length: float = 1.0,
    title: str = "",
) -> Path:
    """Energy over time (top) and space-time images of a 1D field (bottom), one per rollout.

    ``energies``: label → relative energy change (E(t) − E(0)) / E(0), shape ``(T,)``, drawn
    in percent on a symmetric log scale. ``fields``: label → displacement ``(T, n)`` over
    time (vertical) and position (horizontal), on one shared colour scale.
    """
    fig = plt.figure(figsize=(3.2 * max(len(fields), 2), 6.4))
    grid = fig.add_gridspec(2, len(fields), height_ratios=[1, 1.4], hspace=0.35)
    ax = fig.add_subplot(grid[0, :])
    top = 1.0
    for i, (label, rel) in enumerate(energies.items()):
        rel = 100 * np.asarray(rel, dtype=float)
        rel = np.where(np.isfinite(rel), rel, np.nan)  # a blown-up rollout's line ends where it blew up
        top = max(top, float(np.nanmax(np.abs(rel), initial=0.0)))
        ax.plot(ts, rel, color=f"C{i}", lw=1.4, label=label)
    ax.axhspan(-1, 1, color="gray", alpha=0.12, lw=0, label="±1 %")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(-1.5 * min(top, 1e4), 1.5 * min(top, 1e4))
    ax.set_xlabel("time (periods)")
    ax.set_ylabel("(E(t) − E(0)) / E(0)   (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    vmax = float(np.max(np.abs(next(iter(fields.values())))))
    for j, (label, field) in enumerate(fields.items()):
        axj = fig.add_subplot(grid[1, j])
        axj.imshow(
            np.clip(field, -vmax, vmax),
            aspect="auto",
            origin="lower",
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            extent=(0, length, ts[0], ts[-1]),
            interpolation="nearest",
        )
        axj.set_title(label, fontsize=9)
        axj.set_xlabel("x")
        if j == 0:
            axj.set_ylabel("time (periods)")
    return _save(fig, path)


def pixel_errors(path, results: Mapping[str, Mapping], dt: float) -> Path:
    """Frame MSE of pixel models' predictions against the horizon (frames, and seconds on top), log scale.

    ``results``: model name -> :func:`lnn.vision.pixel_errors`'s dict (its ``"mse"`` curve and ``"vpt"``).
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, r) in enumerate(results.items()):
        mse = np.asarray(r["mse"])
        steps = np.arange(mse.size)
        ax.plot(steps[1:], mse[1:], color=_color(name, i), label=f"{name} (VPT {r['vpt']:.3g} s)")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("prediction horizon (frames)")
    ax.set_ylabel("pixel MSE")
    top = ax.secondary_xaxis("top", functions=(lambda k: np.asarray(k) * dt, lambda t: np.asarray(t) / dt))
    top.set_xlabel("horizon (s)")
    ax.set_title("prediction error from pixels")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)
