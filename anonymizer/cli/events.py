"""How a run talks to the operator: a progress bar, text lines or JSON lines.

Events carry ordinals, statuses, reason codes, de-identified output paths and counts;
never an input path or a value.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from anonymizer.engine.plan import Plan
from anonymizer.pipeline.runner import RunSummary
from anonymizer.pipeline.worker import FileResult


class Events:
    """Renders run events in the chosen format (``auto``, ``text`` or ``json``)."""

    def __init__(self, log_format: str, run_id: str):
        self.console = Console(stderr=True)
        self.format = ("bar" if self.console.is_terminal else "text") if log_format == "auto" else log_format
        self.run_id = run_id
        self.started = time.monotonic()
        self.failures = 0

    def _json(self, event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event, "run_id": self.run_id, **fields}, sort_keys=True) + "\n")
        sys.stdout.flush()

    def note(self, event: str, text: str, **fields: Any) -> None:
        """One notice: a JSON event, or a text line on stderr."""
        if self.format == "json":
            self._json(event, **fields)
        else:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, workers: int) -> None:
        if self.format == "json":
            self._json("run-started", workers=workers)

    @contextmanager
    def progress(self, count: Callable[[], int]) -> Iterator[Callable[[FileResult], None]]:
        """A callback for each file result, with a live bar when on a terminal.

        ``count`` gives the number of inputs (a directory walk), only asked for the bar.
        """
        if self.format != "bar":
            yield self._line
            return
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} files/s"),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task("de-identifying", total=count(), rate=0.0, failed=0)

            def update(result: FileResult) -> None:
                self._line(result)
                done = bar.tasks[0].completed + 1
                rate = done / max(time.monotonic() - self.started, 1e-6)
                bar.update(task, completed=done, rate=rate, failed=self.failures)

            yield update

    def _line(self, result: FileResult) -> None:
        if result.status == "failed":
            self.failures += 1
        if self.format == "json":
            fields = {"ordinal": result.ordinal, "status": result.status, "reason": result.reason}
            if result.output:
                fields["output"] = result.output
            self._json("file", **fields)
        elif result.status == "failed":
            detail = f" ({result.detail})" if result.detail else ""
            message = f"file #{result.ordinal}: failed: {result.reason}{detail}"
            self.console.print(message, highlight=False, markup=False)

    def finish(self, summary: RunSummary, plan: Plan, fingerprint: str) -> None:
        seconds = time.monotonic() - self.started
        if self.format == "json":
            self._json("run-finished", seconds=round(seconds, 3), **summary.as_dict())
            return
        table = Table(title=f"profile {plan.profile.name}, key {fingerprint}", show_header=False)
        table.add_row("processed", str(summary.done))
        for reason, n in sorted(summary.skipped.items()):
            table.add_row(f"skipped: {reason}", str(n))
        for reason, n in sorted(summary.failed.items()):
            table.add_row(f"failed: {reason}", str(n))
        for action, n in sorted(summary.actions.items()):
            table.add_row(f"elements: {action}", str(n))
        table.add_row("seconds", f"{seconds:.1f}")
        self.console.print(table)
