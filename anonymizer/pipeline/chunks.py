"""Per-file submissions grouped into tasks of several files.

A task per file costs the process pool a round trip through its queues and pickling,
and a Dask cluster a scheduler transition, each more than a small file takes to
de-identify. :class:`Chunks` sends files in groups and hands back one handle per file,
so the coordinator still consumes results one file at a time, in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from anonymizer.pipeline.worker import FileResult

CHUNK = 16  # files per task


class Chunks:
    """Groups submitted files into tasks of ``size`` files (a pool's or a cluster's).

    Each file gets a handle whose ``result()`` sends its chunk first if it is still
    being filled, so the coordinator can wait on any file in input order. A chunk's
    results are fetched once, not once per file.
    """

    def __init__(self, send: Callable[[list[tuple[int, Path]]], Any], size: int = CHUNK):
        self._send, self._size = send, size
        self._chunk = _Chunk()

    def submit(self, ordinal: int, path: Path) -> _Handle:
        handle = _Handle(self, self._chunk, len(self._chunk.files))
        self._chunk.files.append((ordinal, path))
        if len(self._chunk.files) >= self._size:
            self.flush()
        return handle

    def flush(self) -> None:
        if self._chunk.files:
            self._chunk.future = self._send(self._chunk.files)
            self._chunk = _Chunk()


class _Chunk:
    def __init__(self) -> None:
        self.files: list[tuple[int, Path]] = []
        self.future: Any = None
        self.results: list[FileResult] | None = None

    def result(self, index: int) -> FileResult:
        if self.results is None:
            self.results = self.future.result()
            self.future = None  # let the executor release the task's data
        return self.results[index]


class _Handle:
    def __init__(self, chunks: Chunks, chunk: _Chunk, index: int):
        self.chunks, self.chunk, self.index = chunks, chunk, index

    def result(self) -> FileResult:
        if self.chunk.future is None and self.chunk.results is None:
            self.chunks.flush()
        return self.chunk.result(self.index)
