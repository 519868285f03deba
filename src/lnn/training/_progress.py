"""Rich progress bars for long work (training, refinement), silent when disabled."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bar(enabled: bool) -> Progress:
    """A bar showing steps, loss, validation loss, skipped steps (field ``skipped``, a note or ""), elapsed
    time and ETA (``enabled=False``: shows nothing)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("loss {task.fields[loss]:.4g}  val {task.fields[val]:.4g}{task.fields[skipped]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )
