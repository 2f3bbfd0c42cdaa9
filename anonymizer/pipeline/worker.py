"""The per-file task, the same in-process, in a process pool or on a Dask worker.

A :class:`Worker` reads one input, de-identifies it, computes its desired output path
from the layout and writes the bytes to a temporary file in that folder. It decides
nothing that depends on other files: the coordinator (``runner``) checks the vault,
settles path collisions and renames, in input order.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import os
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import FileDataset

from anonymizer.dicom.encoder import encode
from anonymizer.dicom.reader import head_of, is_dicom, load, looks_raw, read
from anonymizer.engine import marks
from anonymizer.engine.apply import deidentify
from anonymizer.engine.hierarchy import folder_tokens
from anonymizer.engine.plan import Plan
from anonymizer.errors import ActionError, AnonymizerError, InputError
from anonymizer.keys.secret import Secret, Subkeys
from anonymizer.pipeline.layout import relative_path
from anonymizer.pipeline.writer import write_temp
from anonymizer.pixels import redact
from anonymizer.profile.loader import Profile

if TYPE_CHECKING:
    from anonymizer.pixels.loop import TextDetector

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
PR_SET_PDEATHSIG = 1  # prctl(2)
# Errors of the storage OUT lives on: not a verdict on the file, the run stops (same command resumes).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})


class FileTimeout(BaseException):
    """One file took longer than its time limit (a BaseException, so no ``except Exception`` swallows it)."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`FileTimeout` in this thread after ``seconds`` (main thread only; else no limit)."""
    if seconds is None or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class FileResult:
    """The outcome of one input: status ``done``, ``failed`` or ``skipped``.

    ``reason`` is a stable code; ``detail`` holds safe fields only (tag, keyword, VR).
    ``output`` is the relative output path, ``temp`` the temporary file holding the
    bytes until the coordinator publishes them.
    """

    ordinal: int
    status: str
    reason: str = ""
    detail: str = ""
    output: str = ""
    temp: str = ""
    sop_uid: str = ""
    sha256: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    records: tuple[tuple[str, str, str], ...] = ()
    groups: Counter[str] = field(default_factory=Counter)
    pixels: str = ""  # JSON of redacted boxes (rule names, coordinates), "" when untouched


@dataclass(frozen=True)
class Limits:
    """What one file may cost: bytes on disk and seconds of work (None: no limit)."""

    max_size: int | None = 4 << 30
    seconds: float | None = 300.0


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs: the compiled plan, the keyed functions, the layout (picklable).

    The plan travels compiled (its digest is the one the coordinator records), and the
    keys travel as :class:`~anonymizer.keys.secret.Subkeys`: never the project key.

    Parameters
    ----------
    plan : Plan
        The compiled profile.
    keys : Subkeys
        Token, UID and date subkeys.
    layout : str
        The output path template.
    out_dir : Path or None
        OUT; None for a dry run (nothing written).
    limits : Limits
        Largest input and longest time per file.
    """

    plan: Plan
    keys: Subkeys
    layout: str
    out_dir: Path | None
    limits: Limits = field(default_factory=Limits)


def prepare(
    ordinal: int,
    path: Path,
    plan: Plan,
    keys: Secret | Subkeys,
    limits: Limits | None = None,
    layout: str | None = None,
) -> tuple[FileResult, FileDataset | None]:
    """Read and de-identify one file in memory; never raises for a bad input.

    With ``layout``, the result's ``output`` is the file's relative path in OUT (made from
    de-identified values and the hierarchy tokens of the original header). Whatever one
    file does (a decoder's native panic included) is that file's failure; only an
    interrupt (KeyboardInterrupt, SystemExit) propagates.
    """
    keys = keys.subkeys if isinstance(keys, Secret) else keys
    try:
        data = load(path, (limits or Limits()).max_size)
    except InputError as exc:
        return failure(ordinal, exc), None
    except OSError as exc:
        return FileResult(ordinal, "failed", "unreadable" if isinstance(exc, PermissionError) else "io"), None
    if not is_dicom(path, data) and not looks_raw(head_of(path, data)):
        return FileResult(ordinal, "skipped", "not-dicom"), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's warnings quote values
            ds = read(path, data)
        if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
            return FileResult(ordinal, "skipped", "dicomdir"), None
        folders = folder_tokens(ds, keys)
        pixels = redact.apply(ds, plan.profile.pixels, _detectors(plan), plan.pixel_rules)
        outcome = deidentify(ds, plan, keys)
        output = relative_path(ds, layout, folders) if layout is not None else ""
        if pixels.status == "redacted":
            redact.mark_clean(ds)
            outcome.counts[f"pixels/{pixels.boxes[0]['source']}"] += 1
        elif pixels.status == "kept":
            marks.identity_not_removed(ds)  # burned-in text may still name the patient
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        return failure(ordinal, exc), None
    done = FileResult(
        ordinal,
        "done",
        sop_uid=str(ds.SOPInstanceUID),
        counts=outcome.counts,
        records=tuple(outcome.records),
        groups=outcome.groups,
        pixels=json.dumps(pixels.boxes, sort_keys=True) if pixels.boxes else "",
        output=output,
    )
    return done, ds


def _detectors(plan: Plan) -> redact.Detectors | None:
    """The text detectors when the policy needs them and they can run here (loaded on first use)."""
    if plan.profile.pixels.burned_in != "ocr":
        return None
    from anonymizer.pixels import detect  # nothing heavy: OpenCV, onnxruntime and the models load on first use

    if not plan.memo("text-detection", "", lambda: (detect.unavailable() is None,))[0]:
        return None

    def detector(mode: str) -> TextDetector:
        from anonymizer.pixels.loop import TextDetector

        models = plan.memo("text-models", "", detect.Models)
        return plan.memo("text-detector", mode, lambda: TextDetector(mode, models=models))

    return detector


def with_burned_in(profile: Profile, policy: str | None) -> Profile:
    """``profile`` with its burned-in policy replaced (the CLI's ``--burned-in``)."""
    return profile if policy is None else replace(profile, pixels=replace(profile.pixels, burned_in=policy))


def failure(ordinal: int, exc: BaseException) -> FileResult:
    """A failed result with a stable reason; pydicom's messages (values) are dropped.

    Parsing happens in memory, so an ``OSError`` without an error number is pydicom
    meeting the end of the data inside an element or sequence: ``truncated``.
    """
    if isinstance(exc, ActionError):
        return FileResult(ordinal, "failed", "action", str(exc))
    if isinstance(exc, InputError):
        return FileResult(ordinal, "failed", exc.reason, exc.detail)
    if isinstance(exc, AnonymizerError):
        return FileResult(ordinal, "failed", exc.code)
    if isinstance(exc, FileTimeout):
        return FileResult(ordinal, "failed", "timeout")
    if isinstance(exc, OSError):
        return FileResult(ordinal, "failed", "io" if exc.errno else "truncated", type(exc).__name__)
    if not isinstance(exc, Exception):
        return FileResult(ordinal, "failed", "crash", type(exc).__name__)
    return FileResult(ordinal, "failed", "malformed", type(exc).__name__)


class Worker:
    """Processes inputs one at a time with a plan compiled once."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.plan = config.plan

    def process(self, ordinal: int, path: Path) -> FileResult:
        """De-identify ``path``; write its bytes to a temporary file unless dry run.

        A file that takes longer than ``limits.seconds`` fails with ``timeout`` (where the
        worker runs in its process's main thread: in-process and pool workers). A write
        that fails for lack of space or a read-only OUT is not the file's failure: the
        result's status is ``fault`` and the coordinator stops the run.
        """
        config = self.config
        try:
            with deadline(config.limits.seconds), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's warnings quote values (pixels, layout, encoding)
                result, ds = prepare(ordinal, path, self.plan, config.keys, config.limits, config.layout)
                if ds is None or config.out_dir is None:
                    return result
                data = encode(ds)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            return failure(ordinal, exc)
        try:
            temp = write_temp(data, (config.out_dir / result.output).parent, sync=False)  # synced per batch
        except OSError as exc:
            if exc.errno in STORAGE_ERRNOS:
                return FileResult(ordinal, "fault", "storage", errno.errorcode.get(exc.errno or 0, "EIO"))
            return failure(ordinal, exc)
        return replace(result, temp=str(temp), sha256=hashlib.sha256(data).hexdigest())


_PROCESS_WORKER: list[Worker] = []  # one per worker process, set by init_process
_CLUSTER_WORKERS: dict[str, Worker] = {}  # per Dask worker process, by configuration digest


GC_THRESHOLD = 10_000
"""Container allocations between young-generation collections in a process that de-identifies
(CPython's default is 700): a file allocates thousands of short-lived objects, nearly all freed
by reference counting, and the default made 2,000 collections (15 of the whole heap) over 2,000
small files, 7% of a one-worker run."""


def tune_gc() -> None:
    """Collect garbage less often in a process whose work is de-identifying files (ours: the
    command line's, a pool worker). What exists now (modules, the compiled plan) is never
    garbage and leaves the collector's generations; cycles are still collected, later."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 10, 10)


def init_process(config: WorkerConfig) -> None:
    """Process-pool initializer: tie the worker to its coordinator, keep its plan.

    A worker dies with the process that started it (Linux: the kernel's parent-death
    signal; elsewhere a watcher thread), and leaves SIGINT, SIGTERM and SIGHUP to the
    coordinator, which stops, commits and shuts the pool down.
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    die_with_parent()
    _PROCESS_WORKER[:] = [Worker(config)]
    tune_gc()


def die_with_parent() -> None:
    """End this process when its parent ends (kill -9 of the coordinator included)."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def process_chunk_in_pool(files: list[tuple[int, Path]]) -> list[FileResult]:
    """The task a pool runs: several files with the process's :class:`Worker`."""
    return [_PROCESS_WORKER[0].process(ordinal, path) for ordinal, path in files]


def process_files(config: WorkerConfig, files: list[tuple[int, Path]]) -> list[FileResult]:
    """The task a Dask worker runs: several files, the plan compiled once per process."""
    return [process_with_config(config, ordinal, path) for ordinal, path in files]


def process_with_config(config: WorkerConfig, ordinal: int, path: Path) -> FileResult:
    """One file with the worker process's cached :class:`Worker` for ``config``."""
    key = "|".join(
        (config.plan.digest, config.layout, str(config.out_dir), config.keys.fingerprint, config.keys.project)
    )
    worker = _CLUSTER_WORKERS.get(key)
    if worker is None:
        worker = _CLUSTER_WORKERS[key] = Worker(config)
    return worker.process(ordinal, path)
