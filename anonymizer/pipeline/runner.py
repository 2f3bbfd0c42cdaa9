"""Run a plan over a folder: discover, skip what is done, fan out, decide in order, record.

Inputs are numbered by their position in sorted discovery order (the *ordinal*); that
number, never the path, names a file in events and messages. Workers (in-process, a
process pool, or later a Dask cluster) de-identify files and write temporary files;
this coordinator consumes their results strictly in ordinal order, with a bounded
window of tasks in flight (memory stays flat), and for each one: checks and stages its
vault tokens (a collision fails the file), settles its output path (a path another
instance owns gets a deterministic suffix), renames the temporary file into place and
stages the state record. Vault and state are committed every ``batch`` files, the vault
first. Every decision is made in ordinal order, so OUT is byte-identical for any
number of workers, and a killed run re-run with the same command ends identical too.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from anonymizer.errors import FolderError, InputError, ProfileError, TokenCollisionError
from anonymizer.inputs import discover
from anonymizer.keys.vault import Vault
from anonymizer.pipeline.chunks import CHUNK, Chunks
from anonymizer.pipeline.layout import disambiguate, path_key
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import FileResult, Worker, WorkerConfig, init_process, process_chunk_in_pool
from anonymizer.pipeline.writer import publish, sweep_temporaries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How to run: parallelism, commit size, what to redo."""

    workers: int = 1
    batch: int = 256
    force: bool = False  # redo inputs done before
    retry_failed: bool = False  # redo inputs that failed before
    dask: str | None = None  # a scheduler address, or local:N (see anonymizer.pipeline.cluster)
    dry_run: bool = False  # de-identify in memory; write nothing (OUT, vault, state)
    verify: bool = False  # search OUT for the inputs' identifiers afterwards (Job)


@dataclass
class RunSummary:
    """Counts for a whole run; holds no value and no input path."""

    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)

    def add(self, result: FileResult) -> None:
        if result.status == "done":
            self.done += 1
            self.actions.update(result.counts)
            self.groups.update(result.groups)
        elif result.status == "failed":
            self.failed[result.reason] += 1
        else:
            self.skipped[result.reason] += 1

    def as_dict(self) -> dict[str, Any]:
        """Counts only: done, skipped and failed by reason, elements per action and group."""
        return {
            "done": self.done,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": dict(sorted(self.failed.items())),
            "actions": dict(sorted(self.actions.items())),
            "groups": dict(sorted(self.groups.items())),
        }

    @property
    def exit_code(self) -> int:
        """0 when no file failed, 1 otherwise."""
        return 1 if self.failed else 0


def check_folders(in_dir: Path, out_dir: Path, *others: Path) -> None:
    """Refuse OUT inside IN (a re-run would read its own output), IN inside OUT, and
    the vault or state inside OUT."""
    src, dst = in_dir.resolve(), out_dir.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise FolderError("OUT and IN must not contain one another")
    for other in others:
        if dst in other.resolve().parents or other.resolve() == dst:
            raise FolderError("the vault and the state must not live inside OUT")


_Item = tuple[int, Path, os.stat_result]


def _todo(in_dir: Path, state: StateStore, options: RunOptions) -> Iterator[tuple[_Item, FileResult | None]]:
    """Inputs in order, each with a ready result when the state says to skip it."""
    for ordinal, path in enumerate(discover(in_dir.absolute()), start=1):  # state keys: absolute
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished since discovery
        before = state.previous(path)
        unchanged = before is not None and (before.size, before.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        skip = None
        if unchanged and before is not None:
            if before.status in ("done", "skipped") and not options.force:
                skip = FileResult(ordinal, "skipped", "done-before")
            elif before.status == "failed" and not options.retry_failed:
                skip = FileResult(ordinal, "skipped", "failed-before")
        yield (ordinal, path, stat), skip


def _ordered(
    items: Iterable[tuple[_Item, FileResult | None]],
    submit: Callable[[int, Path], Any] | None,
    worker: Worker,
    window: int,
) -> Iterator[tuple[_Item, FileResult]]:
    """Results in input order with at most ``window`` tasks in flight (back-pressure).

    ``submit`` returns a future (``concurrent.futures`` or Dask); None runs in-process.
    """
    pending: deque[tuple[_Item, Any]] = deque()
    for item, ready in items:
        if ready is not None:
            pending.append((item, ready))
        elif submit is None:
            pending.append((item, worker.process(item[0], item[1])))
        else:
            pending.append((item, submit(item[0], item[1])))
        while len(pending) > window or (pending and isinstance(pending[0][1], FileResult)):
            head, outcome = pending.popleft()
            yield head, outcome if isinstance(outcome, FileResult) else outcome.result()
    while pending:
        head, outcome = pending.popleft()
        yield head, outcome if isinstance(outcome, FileResult) else outcome.result()


def run(
    in_dir: Path,
    config: WorkerConfig,
    vault: Vault,
    state: StateStore,
    on_result: Callable[[FileResult], None] = lambda r: None,
    options: RunOptions = RunOptions(),
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

    Returns
    -------
    RunSummary
    """
    worker = Worker(config)
    out_dir = config.out_dir
    if out_dir is not None and sweep_temporaries(out_dir):
        log.info("removed temporary files of an interrupted run")
    try:
        vault.add(worker.plan.lookup_records())  # the controller's crosswalks, whole
    except TokenCollisionError:
        raise ProfileError("a lookup table gives two originals one pseudonym") from None
    vault.commit()
    summary = RunSummary()
    early = EarlyWriteback()
    with _executor(config, options) as (submit, window):
        for count, ((ordinal, path, stat), result) in enumerate(
            _ordered(_todo(in_dir, state, options), submit, worker, window), start=1
        ):
            if result.status == "done":
                result = _settle(result, out_dir, vault, state)
            if result.reason not in ("done-before", "failed-before"):
                state.record(path, stat, result.status, result.reason, result.output)
            summary.add(result)
            if result.status == "failed":
                log.warning("file #%d failed: %s %s", ordinal, result.reason, result.detail)
            on_result(result)
            if count % options.batch == 0:
                _commit(out_dir, vault, state)
            elif out_dir is not None and count % max(1, options.batch // 8) == 0:
                early.start()
    if out_dir is not None:
        sweep_temporaries(out_dir)  # a re-run task of a lost cluster worker may leave one
    _commit(out_dir, vault, state)
    return summary


@contextmanager
def _executor(config: WorkerConfig, options: RunOptions) -> Iterator[tuple[Callable[[int, Path], Any] | None, int]]:
    """``(submit, window)``: in-process (None), a spawn process pool, or a Dask cluster."""
    if options.dask:
        from anonymizer.pipeline.cluster import dask_submitter

        with dask_submitter(options.dask, config) as dask:
            yield dask
        return
    if options.workers == 1:
        yield None, 1
        return
    # spawn: workers inherit no descriptor (locks, databases) and no threads
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(options.workers, context, initializer=init_process, initargs=(config,))
    chunks = Chunks(lambda files: pool.submit(process_chunk_in_pool, files))
    try:
        yield chunks.submit, 4 * CHUNK * options.workers
    finally:
        pool.shutdown(cancel_futures=True)


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


def _commit(out_dir: Path | None, vault: Vault, state: StateStore) -> None:
    """Make a batch durable: the files (one sync), then the vault, then the state.

    The state marks a file done only after its bytes and its tokens are on disk.
    """
    if out_dir is not None:
        os.sync()
    vault.commit()
    state.commit()


def _settle(result: FileResult, out_dir: Path | None, vault: Vault, state: StateStore) -> FileResult:
    """Vault tokens, output path, rename: a failure here leaves no output."""
    temp = Path(result.temp) if result.temp else None
    try:
        vault.add(result.records)
        output = result.output
        owner = state.owner(path_key(output))
        if owner is not None and owner != result.sop_uid:
            output = disambiguate(output, result.sop_uid)
        if out_dir is not None and temp is not None:
            publish(temp, out_dir / output)
        state.claim(path_key(output), output, result.sop_uid, result.sha256, result.pixels)
    except Exception as exc:
        if temp is not None:
            temp.unlink(missing_ok=True)
        reason = exc.reason if isinstance(exc, InputError) else "io"
        return FileResult(result.ordinal, "failed", reason)
    return replace(result, output=output, temp="")
