"""Where the per-file tasks run: in this process, a process pool, or a Dask cluster.

An executor hands back one handle per submitted file (whose ``result()`` gives its
:class:`~anonymizer.pipeline.worker.FileResult`) and says how many files may be in
flight (its *window*). When a task dies with its process (a decoder that aborts, the
out-of-memory killer, a worker lost by the cluster), :meth:`Executor.alone` runs that
file again on its own in a fresh worker: a file that kills its worker twice fails with
reason ``crash``, and every other file of the lost tasks is done as usual.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from anonymizer.pipeline.chunks import CHUNK, Chunks
from anonymizer.pipeline.worker import FileResult, Worker, WorkerConfig, init_process, process_chunk_in_pool


class Handle(Protocol):
    """A submitted file: ``result()`` waits for it."""

    def result(self) -> FileResult: ...


class Executor(Protocol):
    """Runs files; see the module docstring."""

    window: int

    def submit(self, ordinal: int, path: Path) -> Handle | FileResult: ...

    def alone(self, ordinal: int, path: Path) -> FileResult: ...


class InProcess:
    """Every file in this process, one at a time (``--workers 1``)."""

    window = 1

    def __init__(self, config: WorkerConfig):
        self._worker = Worker(config)

    def submit(self, ordinal: int, path: Path) -> FileResult:
        return self._worker.process(ordinal, path)

    def alone(self, ordinal: int, path: Path) -> FileResult:
        return self._worker.process(ordinal, path)


class Pool:
    """A pool of spawned worker processes (they inherit no descriptor, lock or thread)."""

    def __init__(self, config: WorkerConfig, workers: int):
        self._config, self._workers = config, workers
        self.window = 4 * CHUNK * workers
        self._pool = self._start()
        self._chunks = Chunks(self._send)

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self._workers, context, initializer=init_process, initargs=(self._config,))

    def _send(self, files: list[tuple[int, Path]]) -> Any:
        try:
            return self._pool.submit(process_chunk_in_pool, files)
        except BrokenProcessPool:
            self._restart()
            return self._pool.submit(process_chunk_in_pool, files)

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start()

    def submit(self, ordinal: int, path: Path) -> Handle:
        return self._chunks.submit(ordinal, path)

    def alone(self, ordinal: int, path: Path) -> FileResult:
        for _ in range(2):
            if self._broken():
                self._restart()
            try:
                return self._pool.submit(process_chunk_in_pool, [(ordinal, path)]).result()[0]
            except BrokenProcessPool:
                continue
        self._restart()
        return FileResult(ordinal, "failed", "crash", "the worker process died on this file")

    def _broken(self) -> bool:
        return bool(getattr(self._pool, "_broken", False))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


@contextmanager
def executor(config: WorkerConfig, workers: int, dask: str | None) -> Iterator[Executor]:
    """In-process (one worker), a process pool, or a Dask cluster (``dask``: address or ``local:N``)."""
    if dask:
        from anonymizer.pipeline.cluster import cluster

        with cluster(dask, config) as on_cluster:
            yield on_cluster
        return
    if workers == 1:
        yield InProcess(config)
        return
    pool = Pool(config, workers)
    try:
        yield pool
    finally:
        pool.close()
