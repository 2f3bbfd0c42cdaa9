"""Run a plan over a folder: discover, skip what is done, fan out, settle in order, record.

Inputs are numbered by their position in sorted discovery order (the *ordinal*, see
:mod:`anonymizer.inputs`); that number, never the path, names a file in events and
messages. Workers (in-process, a process pool or a Dask cluster) de-identify files and
write temporary files; this coordinator consumes their results strictly in ordinal
order, with a bounded window of tasks in flight (memory stays flat), and settles each
one into OUT (:mod:`anonymizer.pipeline.settle`). Every ``batch`` files the outputs are
synced, then the vault commits, then the state. Every decision is made in ordinal order,
so OUT is byte-identical for any number of workers, and a killed run re-run with the
same command ends identical too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymizer.errors import FolderError, ProfileError, TokenCollisionError
from anonymizer.inputs import BY_DESIGN, Problem, walk
from anonymizer.keys.store import Vault
from anonymizer.pipeline.executor import Executor, executor
from anonymizer.pipeline.quarantine import Quarantine
from anonymizer.pipeline.settle import Settler
from anonymizer.pipeline.state import Previous, StateStore
from anonymizer.pipeline.worker import FileResult, Limits, WorkerConfig
from anonymizer.pipeline.writer import sweep_temporaries

if TYPE_CHECKING:
    from anonymizer.evidence.verify import Verification

log = logging.getLogger(__name__)
SKIPPED_BY_DESIGN = frozenset({"not-dicom", "dicomdir", "duplicate", "done-before", *BY_DESIGN})


@dataclass(frozen=True)
class RunOptions:
    """How to run: parallelism, commit size, what to redo, limits, extras.

    Parameters
    ----------
    workers : int
        Worker processes (1: in this process).
    batch : int
        Files per commit.
    force : bool
        Redo every input, also those a previous run finished (and accept a changed binding).
    retry_failed : bool
        Redo inputs a previous run failed on.
    dask : str or None
        A Dask scheduler address, or ``local:N``.
    dry_run : bool
        De-identify in memory; write nothing (OUT, vault, state).
    verify : bool
        Search OUT for the inputs' identifiers afterwards.
    check : bool
        Reconcile OUT by SHA-256 of every output, not only size and time.
    limits : Limits
        Largest input and longest time per file.
    quarantine : Path or None
        A folder (outside IN and OUT) for a copy of each input that fails, with a sidecar
        saying why, for review.
    """

    workers: int = 1
    batch: int = 256
    force: bool = False
    retry_failed: bool = False
    dask: str | None = None
    dry_run: bool = False
    verify: bool = False
    check: bool = False
    limits: Limits = field(default_factory=Limits)
    quarantine: Path | None = None


@dataclass
class RunSummary:
    """Counts for a whole run; holds no value and no input path."""

    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)
    earlier_failures: int = 0  # inputs that failed in an earlier run and were not retried
    removed: int = 0  # outputs removed (their input changed, now fails, or a --force pass left them)
    complete: bool = False  # the run went over every input

    def add(self, result: FileResult) -> None:
        """Count one file's result: done (with its elements per action and group), failed or skipped by reason.

        Parameters
        ----------
        result : FileResult
            The file's settled result.
        """
        if result.status == "done":
            self.done += 1
            self.actions.update(result.counts)
            self.groups.update(result.groups)
        elif result.status == "failed":
            self.failed[result.reason] += 1
        else:
            self.skipped[result.reason] += 1
            if result.reason == "failed-before":
                self.earlier_failures += 1

    def as_dict(self) -> dict[str, Any]:
        """Counts only: done, skipped and failed by reason, elements per action and group.

        Returns
        -------
        dict of str to object
            ``done``, ``skipped``, ``failed``, ``earlier_failures``, ``removed``, ``actions``
            and ``groups`` (the by-reason and per-action counts as dicts sorted by key); no
            value and no path.
        """
        return {
            "done": self.done,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": dict(sorted(self.failed.items())),
            "earlier_failures": self.earlier_failures,
            "removed": self.removed,
            "actions": dict(sorted(self.actions.items())),
            "groups": dict(sorted(self.groups.items())),
        }

    @property
    def exit_code(self) -> int:
        """0 only when every input has an output or was skipped by design; else 1."""
        return 1 if self.failed or self.earlier_failures or not self.complete else 0


def check_folders(in_dir: Path, out_dir: Path, *others: Path) -> None:
    """Refuse OUT inside IN (a re-run would read its own output), IN inside OUT, and
    the vault or state inside OUT."""
    src, dst = in_dir.resolve(), out_dir.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise FolderError("OUT and IN must not contain one another")
    for other in others:
        if dst in other.resolve().parents or other.resolve() == dst:
            raise FolderError("the vault and the state must not live inside OUT")


_Item = tuple[int, Path, os.stat_result | None, Previous | None]


def _todo(
    in_dir: Path, out_dir: Path | None, state: StateStore, options: RunOptions, binding: str
) -> Iterator[tuple[_Item, FileResult | None]]:
    """Inputs in order, each with a ready result when the state says to skip it (or it is a walk problem)."""
    ordinal = 0
    for entry in walk(in_dir.absolute(), out_dir):  # state keys: absolute
        if isinstance(entry, Problem):
            status = "skipped" if entry.reason in BY_DESIGN else "failed"
            yield (0, entry.path, None, None), FileResult(0, status, entry.reason)
            continue
        ordinal += 1
        try:
            stat = entry.stat()
        except OSError:
            yield (ordinal, entry, None, None), FileResult(ordinal, "failed", "unreadable")
            continue
        before = state.previous(entry)
        skip = None
        if before is not None and (before.size, before.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            current = before.binding == binding
            if current and before.status in ("done", "skipped") and not options.force:
                skip = FileResult(ordinal, "skipped", "done-before")
            elif current and before.status == "failed" and not (options.retry_failed or options.force):
                skip = FileResult(ordinal, "skipped", "failed-before", before.reason)
        yield (ordinal, entry, stat, before), skip


def _ordered(items: Iterable[tuple[_Item, FileResult | None]], runner: Executor) -> Iterator[tuple[_Item, FileResult]]:
    """Results in input order with at most ``runner.window`` files in flight (back-pressure)."""
    pending: deque[tuple[_Item, Any]] = deque()

    def settled(item: _Item, outcome: Any) -> FileResult:
        if isinstance(outcome, FileResult):
            return outcome
        try:
            result: FileResult = outcome.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # the task died with its worker: this file again, alone
            return runner.alone(item[0], item[1])
        return result

    for item, ready in items:
        pending.append((item, ready if ready is not None else runner.submit(item[0], item[1])))
        while len(pending) > runner.window or (pending and isinstance(pending[0][1], FileResult)):
            head, outcome = pending.popleft()
            yield head, settled(head, outcome)
    while pending:
        head, outcome = pending.popleft()
        yield head, settled(head, outcome)


def run(
    in_dir: Path,
    config: WorkerConfig,
    vault: Vault,
    state: StateStore,
    on_result: Callable[[FileResult], None] = lambda r: None,
    options: RunOptions = RunOptions(),
    binding: str = "",
    summary: RunSummary | None = None,
    sweep: bool = True,
) -> RunSummary:
    """De-identify every file under ``in_dir`` into ``config.out_dir`` (None: dry run).

    Parameters
    ----------
    in_dir : Path
        The inputs (a folder, or one file).
    config : WorkerConfig
        Plan, subkeys, layout and OUT for the workers.
    vault : Vault
        Where the reversible tokens go (checked for collisions in input order).
    state : StateStore
        What earlier runs did; what this one does.
    on_result : callable
        Called with each result in input order; what it raises propagates.
    options : RunOptions
        Workers, commit size, what to redo, Dask.
    binding : str
        The id of what makes the outputs (plan, keys, layout, tool, vault): inputs done
        under another binding are done again.
    summary : RunSummary or None
        Counts to fill in (the caller keeps them if the run is interrupted).
    sweep : bool
        Remove temporaries an interrupted run or a lost worker left in OUT, before and
        after (a walk of all of OUT; a caller running many small passes sweeps once).

    Returns
    -------
    RunSummary

    Raises
    ------
    StorageError
        OUT's storage failed: nothing more is settled (the same command resumes).
    """
    out_dir = config.out_dir
    if out_dir is not None and sweep and sweep_temporaries(out_dir):
        log.info("removed temporary files of an interrupted run")
    try:
        vault.add(config.plan.lookup_records())  # the controller's crosswalks, whole
    except TokenCollisionError:
        raise ProfileError("a lookup table gives two originals one pseudonym") from None
    vault.commit()
    summary = summary if summary is not None else RunSummary()
    settler = Settler(out_dir, vault, state, binding)
    quarantine = Quarantine(options.quarantine) if options.quarantine is not None and out_dir is not None else None
    early = EarlyWriteback()
    with executor(config, options.workers, options.dask) as runner:
        for count, ((ordinal, path, stat, previous), result) in enumerate(
            _ordered(_todo(in_dir, out_dir, state, options, binding), runner), start=1
        ):
            if result.reason not in ("done-before", "failed-before"):
                result = settler.settle(result, path, previous)
                counts = json.dumps(result.groups) if result.groups else ""  # "group/action" -> elements
                fields = (result.output, binding, "", result.sop_uid, ordinal, counts)
                state.record(path, stat, result.status, result.reason, *fields)
                if quarantine is not None:
                    quarantine.settle(path, result, state.run_id)
            summary.add(result)
            on_result(result)
            if count % options.batch == 0:
                commit(out_dir, vault, state)
            elif out_dir is not None and count % max(1, options.batch // 8) == 0:
                early.start()
    if out_dir is not None and sweep:
        sweep_temporaries(out_dir)  # a re-run task of a lost worker may leave one
    settler.collect_garbage()
    summary.removed, summary.complete = settler.removed, True
    commit(out_dir, vault, state)
    return summary


class EarlyWriteback:
    """Starts the kernel writing files back while work goes on (``os.sync`` in a thread).

    Durability still rests on the ``os.sync`` of each commit; starting writeback early
    leaves that one little to wait for, instead of a whole batch of dirty pages.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=os.sync, name="early-writeback", daemon=True)
            self._thread.start()


def commit(out_dir: Path | None, vault: Vault, state: StateStore) -> None:
    """Make a batch durable: the files (one sync), then the vault, then the state.

    The state marks a file done only after its bytes and its tokens are on disk.
    """
    if out_dir is not None:
        os.sync()
    vault.commit()
    state.commit()


@dataclass
class JobResult:
    """What a run did: its counts, the verification (when asked) and the manifest written."""

    run_id: str
    summary: RunSummary
    verification: Verification | None = None
    manifest: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 when every file is done and verification (if any) found nothing, else 1."""
        if self.summary.exit_code:
            return self.summary.exit_code
        return 1 if self.verification is not None and not self.verification.clean else 0
