"""Progress on a terminal: a spinner with the running counts, on stderr, only when stderr is a terminal (a
scheduler's log gets the summary alone)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gateway.backup.summary import Summary


@contextmanager
def shown(summary: Summary, stream: TextIO | None = None) -> Iterator[Summary]:
    """Display `summary` as it changes while the block runs, when `stream` (stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        yield summary
        return
    console = Console(file=stream)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task(f"{summary.command}: starting", total=None)

        def changed(current: Summary) -> None:
            progress.update(task, description=f"{current.command}: {current.line()}, {len(current.errors)} error(s)")

        summary.changed = changed
        try:
            yield summary
        finally:
            summary.changed = lambda current: None
