"""Per-file tasks on a Dask distributed cluster (extra ``[dask]``).

``--dask tcp://scheduler:8786`` connects to a running cluster (Slurm, Kubernetes, cloud:
dask-jobqueue, dask-kubernetes); ``--dask local:N`` starts a local cluster of N worker
processes on 127.0.0.1. Workers run the same :class:`~anonymizer.worker.Worker` task as
the process pool: IN and OUT must be on storage every worker sees, at the same paths.
The coordinator keeps the vault and the state. Dask re-runs the tasks of a lost worker
(``retries`` covers task errors too); a re-run only writes another temporary file, and
the coordinator publishes each output once. The worker configuration, which holds the
project's subkeys, is scattered to the workers once: use TLS on a shared cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anonymizer.errors import ClusterError
from anonymizer.pipeline.chunks import CHUNK, Chunks
from anonymizer.pipeline.worker import FileResult, WorkerConfig, process_files

RETRIES = 2
# A local cluster shares the machine's cores and memory with the work: no sampling
# profiler in the workers, short in-memory logs in the scheduler (memory stays flat).
LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.log-length": 1000,
    "distributed.admin.low-level-log-length": 100,
}
CONNECT_SECONDS = 10


class OnCluster:
    """Files sent to Dask in tasks of :data:`CHUNK`; a lost task's files retried one by one."""

    def __init__(self, client: Any, config: WorkerConfig, workers: int):
        self._client = client
        self._shared = client.scatter(config, broadcast=True)
        self.window = 4 * CHUNK * workers
        self._chunks = Chunks(self._send)

    def _send(self, files: list[tuple[int, Path]]) -> Any:
        return self._client.submit(process_files, self._shared, files, pure=False, retries=RETRIES)

    def submit(self, ordinal: int, path: Path) -> Any:
        return self._chunks.submit(ordinal, path)

    def alone(self, ordinal: int, path: Path) -> FileResult:
        try:
            result: FileResult = self._send([(ordinal, path)]).result()[0]
        except Exception:  # KilledWorker and the like: the file killed every worker it met
            return FileResult(ordinal, "failed", "crash", "the worker process died on this file")
        return result


@contextmanager
def cluster(address: str, config: WorkerConfig) -> Iterator[OnCluster]:
    """An executor on a Dask cluster (``address``, or ``local:N``); the cluster is closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--dask needs the extra: pip install 'anonymizer-dicom[dask]'") from None
    local = None
    try:
        if address.startswith("local:"):
            import dask

            # no statistical profiler in the workers: on few cores it costs throughput
            dask.config.set(LOCAL_CONFIG)
            local = LocalCluster(
                n_workers=int(address.split(":", 1)[1]),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(local)
        else:
            client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, ValueError, TimeoutError):
        if local is not None:
            local.close()
        raise ClusterError("cannot start or reach the Dask cluster") from None
    try:
        yield OnCluster(client, config, max(1, len(client.scheduler_info().get("workers", {}))))
    finally:
        client.close()
        if local is not None:
            local.close()
