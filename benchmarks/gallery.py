"""The docs' gallery: one `lnn compare` per built-in system, one figure each, with the command that made it.

For every system in ``lnn.systems.names()`` (so systems added later appear when
this is rerun) it runs

    lnn compare SYSTEM --models lnn,hnn,baseline --steps S --n-train N --n-initial K --out RUNS/SYSTEM

copies ``RUNS/SYSTEM/figures/overview.png`` (motion, phase portrait, energy error
over time) to ``docs/gallery/SYSTEM.png``, and rewrites the section of
``docs/gallery.md`` between ``<!-- gallery:start -->`` and ``<!-- gallery:end -->``
with each figure, its command and its numbers.

    python benchmarks/gallery.py                       # all systems, 5,000 steps per model
    python benchmarks/gallery.py --systems pendulum --steps 1000

Every model gets the same number of steps (not seconds): the figures then do not
depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import os
from io import BytesIO
from pathlib import Path

import jax
from PIL import Image

import lnn
from lnn import io
from lnn.cli import app
from lnn.experiment import machine_description

START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"


def small_copy(src: Path, dst: Path) -> None:
    """Copy a figure as a 256-colour PNG (a third of the size; the figures are line plots)."""
    image = Image.open(src).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = BytesIO()
    image.save(buf, format="png", optimize=True)
    io.atomic_write(dst, lambda f: f.write(buf.getvalue()))


def command(system: str, args) -> list[str]:
    return [
        "compare",
        system,
        "--models",
        "lnn,hnn,baseline",
        "--steps",
        str(args.steps),
        "--n-train",
        str(args.n_train),
        "--n-initial",
        str(args.n_initial),
        "--seed",
        str(args.seed),
        "--out",
        f"{args.runs}/{system}",
    ]


def section(entries: list[tuple[str, list[str], dict]], args, figures: str) -> str:
    """The gallery's Markdown; ``figures`` is the figures' folder relative to the page."""
    parts = [
        f"Made by `python benchmarks/gallery.py --steps {args.steps}` on {machine_description()}. "
        "Each system is one `lnn compare` run: the same training states and the same number of training "
        "steps for every model (a short budget: these show behaviour, not each model's best); "
        "figures show the first coordinate's motion and phase portrait from one initial condition, and "
        "the true energy error along the rollouts (mean over initial conditions, band 25–75 %).",
        "",
    ]
    for system, cmd, results in entries:
        s = lnn.systems.get(system)
        parts += [
            f"### {system}",
            "",
            s.description + ".",
            "",
            "```bash",
            "lnn " + " ".join(cmd),
            "```",
            "",
            f"![{system}]({figures}/{system}.png)",
            "",
            "| model | derivative loss | rollout error (≤ 10 s) | energy error | valid time |",
            "|---|---|---|---|---|",
        ]
        for name, r in results.items():
            parts.append(
                f"| {name} | {r['derivative_loss']:.3g} | {r['rollout_error']:.3g} | "
                f"{r['energy_error'] * 100:.3g} % | {r['valid_time']:.3g} s |"
            )
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", default=",".join(lnn.systems.names()))
    p.add_argument("--steps", type=int, default=5000, help="training steps per model")
    p.add_argument("--n-train", type=int, default=20_000)
    p.add_argument("--n-initial", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/gallery", help="folder for the compare runs")
    p.add_argument("--docs", default="docs/gallery", help="folder for the committed figures")
    p.add_argument("--page", default="docs/gallery.md", help="page whose gallery section is rewritten ('' to skip)")
    args = p.parse_args()

    entries = []
    for system in args.systems.split(","):
        cmd = command(system, args)
        app(cmd, standalone_mode=False)
        figure = Path(args.runs) / system / "figures" / "overview.png"
        Path(args.docs).mkdir(parents=True, exist_ok=True)
        small_copy(figure, Path(args.docs) / f"{system}.png")
        results = json.loads((Path(args.runs) / system / "results.json").read_text())
        entries.append((system, cmd, results))
    page = Path(args.page) if args.page else None
    figures = os.path.relpath(args.docs, page.parent) if page else args.docs
    text = section(entries, args, figures)
    io.write_text(Path(args.runs) / "gallery.md", text + "\n")
    if page:
        old = page.read_text()
        if START in old and END in old:
            head, rest = old.split(START, 1)
            _, tail = rest.split(END, 1)
            io.write_text(page, f"{head}{START}\n{text}\n{END}{tail}")
            print(f"rewrote the gallery section of {page}")
        else:
            print(f"{page} has no {START} ... {END} section; the gallery is in {Path(args.runs) / 'gallery.md'}")


if __name__ == "__main__":
    main()
