"""Rich progress bars for long work (training, refinement), or a silent stand-in."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Silent:
    """The subset of :class:`rich.progress.Progress` the training code uses, doing nothing."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


def progress_bar(enabled: bool) -> Progress | _Silent:
    """A bar showing steps, loss, validation loss, elapsed time and ETA (or nothing)."""
    if not enabled:
        return _Silent()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("loss {task.fields[loss]:.4g}  val {task.fields[val]:.4g}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
