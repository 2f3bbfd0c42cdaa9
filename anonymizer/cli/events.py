"""How a run talks to the operator: a progress bar, text lines or JSON lines.

Events carry ordinals, statuses, reason codes, de-identified output paths and counts;
never an input path or a value.
"""

from __future__ import annotations

import signal
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

from anonymizer.cli import json_line
from anonymizer.engine.plan import Plan
from anonymizer.evidence.verify import Verification
from anonymizer.pipeline.runner import RunSummary
from anonymizer.pipeline.worker import FileResult

BURNED_IN = ("burned-in", "burned-in-residual")  # reasons that hold back images for their pixels


class Events:
    """Renders run events in the chosen format (``auto``, ``text`` or ``json``).

    Text lines go to stderr once each and unwrapped; JSON events go to stdout, one object
    per line (errors and log records, on stderr, are JSON too: see :mod:`anonymizer.cli`).
    """

    def __init__(self, log_format: str, run_id: str, dry_run: bool = False):
        self.console = Console(stderr=True)
        self.format = ("bar" if self.console.is_terminal else "text") if log_format == "auto" else log_format
        self.run_id, self.dry_run = run_id, dry_run
        self.started = time.monotonic()
        self.failures = 0

    def _json(self, event: str, **fields: Any) -> None:
        json_line({"event": event, "run_id": self.run_id, **fields})

    def _text(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def note(self, event: str, text: str, **fields: Any) -> None:
        """One notice: a JSON event, or a text line on stderr."""
        if self.format == "json":
            self._json(event, **fields)
        else:
            self._text(text)

    def start(self, workers: int) -> None:
        if self.format == "json":
            self._json("run-started", workers=workers, dry_run=self.dry_run)

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
        where = f"file #{result.ordinal}" if result.ordinal else "walk entry"
        if self.format == "json":
            fields: dict[str, Any] = {"ordinal": result.ordinal, "status": result.status, "reason": result.reason}
            if result.output:
                fields["output"] = result.output
            self._json("file" if result.ordinal else "walk", **fields)
        elif result.status == "failed":
            detail = f" ({result.detail})" if result.detail else ""
            self._text(f"{where}: failed: {result.reason}{detail}")

    def finish(self, summary: RunSummary, plan: Plan, fingerprint: str, interrupted: int | None = None) -> None:
        """The closing summary (a JSON event, or a table and sentences on stderr)."""
        seconds = time.monotonic() - self.started
        if self.format == "json":
            extra = {"interrupted": signal.Signals(interrupted).name} if interrupted else {}
            self._json("run-finished", seconds=round(seconds, 3), dry_run=self.dry_run, **extra, **summary.as_dict())
            return
        title = f"{'DRY RUN (nothing written): ' if self.dry_run else ''}profile {plan.profile.name}, key {fingerprint}"
        table = Table(title=title, show_header=False)
        table.add_row("processed", str(summary.done))
        for reason, n in sorted(summary.skipped.items()):
            table.add_row(f"skipped: {reason}", str(n))
        for reason, n in sorted(summary.failed.items()):
            table.add_row(f"failed: {reason}", str(n))
        if summary.removed:
            table.add_row("outputs removed (input changed or gone)", str(summary.removed))
        for action, n in sorted(summary.actions.items()):
            table.add_row(f"elements: {action}", str(n))
        table.add_row("seconds", f"{seconds:.1f}")
        self.console.print(table)
        if summary.earlier_failures:
            self._text(f"{summary.earlier_failures} files failed in earlier runs; --retry-failed tries them again")
        held = sum(n for reason, n in summary.failed.items() if reason in BURNED_IN)
        if held:
            self._text(
                f"{held} files may hold burned-in text and got no output: 'anonymizer failures OUT' lists them, "
                "--quarantine DIR keeps copies for review, --burned-in ocr redacts the text the detector finds "
                "and ships what it can certify clean"
            )
        if interrupted:
            self._text(f"interrupted ({signal.Signals(interrupted).name}); run the same command to resume")

    def verification(self, outcome: Verification) -> None:
        """The verification's verdict, also when clean."""
        if self.format == "json":
            self._json("verified", **outcome.as_dict())
            return
        for f in outcome.findings:
            self._text(f"verify: {f.file}\t{f.path}\t{f.kind}")
        verdict = "clean" if outcome.clean else f"{len(outcome.findings)} findings"
        self._text(f"verify: {verdict} ({outcome.files} files, {outcome.identifiers} identifying values searched for)")
