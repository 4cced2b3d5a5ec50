"""A run's progress on a terminal: sources read, pages fetched and extracted, articles processed,
each with its count, rate and time left (rich). Nothing at all when the output is not a
terminal (a pipe, a log file, cron): the summary line is all such readers get.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bars
from rich.text import Text

from monitor.progress import SILENT, Progress

_STAGES = {
    "seeds": "Reading seeds",
    "sources": "Reading sources",
    "pages": "Fetching pages",
    "processing": "Deduplicating and classifying",
}


class _Rate(ProgressColumn):
    """Items per second over rich's speed window; blank until there is one."""

    def render(self, task: Task) -> Text:
        """The task's rate, e.g. '12.3/s'."""
        speed = task.finished_speed or task.speed
        return Text("" if not speed else f"{speed:,.1f}/s", style="progress.data.speed")


class RunDisplay(Progress):
    """Bars for the stages of a run that has counts: sources, fetched, extracted, processed."""

    def __init__(self, console: Console) -> None:
        self._bars = Bars(
            SpinnerColumn(),
            TextColumn("{task.description:<32}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            _Rate(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._prefix = ""

    @classmethod
    @contextmanager
    def for_terminal(cls, console: Console) -> Iterator[Progress]:
        """A display while the block runs, when `console` is a terminal; else SILENT."""
        if not console.is_terminal:
            yield SILENT
            return
        display = cls(console)
        with display._bars:
            yield display

    def _task(self, key: str, description: str, total: int | None) -> TaskID:
        task = self._tasks.get(key)
        label = f"{self._prefix}{description}"
        if task is None:
            task = self._tasks[key] = self._bars.add_task(label, total=total)
        elif total is not None:
            self._bars.update(task, description=label, total=total)
        return task

    def begin(self, label: str) -> None:
        """Start over with new bars under the run's label (the next of several runs)."""
        for task in self._tasks.values():
            self._bars.remove_task(task)
        self._tasks.clear()
        self._prefix = f"{label}: "

    def stage(self, name: str) -> None:
        """Show the stage as a spinner line until it has counts."""
        self._task("stage", _STAGES.get(name, name), None)

    def sources_due(self, count: int) -> None:
        """The sources bar."""
        self._task("sources", "Sources read", count)

    def source_read(self, name: str, links: int) -> None:
        """One more source read."""
        self._bars.advance(self._task("sources", "Sources read", None), 1)

    def pages_to_fetch(self, count: int) -> None:
        """The fetched and extracted bars."""
        self._task("fetched", "Pages fetched", count)
        self._task("extracted", "Pages extracted", count)

    def page_fetched(self) -> None:
        """One more page fetched."""
        self._bars.advance(self._tasks["fetched"], 1)

    def pages_extracted(self, count: int) -> None:
        """More pages extracted."""
        self._bars.advance(self._tasks["extracted"], count)

    def processed(self, count: int, total: int) -> None:
        """Articles deduplicated, grouped and classified so far."""
        task = self._task("processed", "Articles processed", total)
        self._bars.update(task, completed=count)
