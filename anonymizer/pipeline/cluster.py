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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anonymizer.errors import ClusterError
from anonymizer.pipeline.chunks import CHUNK, Chunks
from anonymizer.pipeline.worker import WorkerConfig, process_files

RETRIES = 2
# A local cluster shares the machine's cores and memory with the work: no sampling
# profiler in the workers, short in-memory logs in the scheduler (memory stays flat).
LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.log-length": 1000,
    "distributed.admin.low-level-log-length": 100,
}
CONNECT_SECONDS = 10


@contextmanager
def dask_submitter(address: str, config: WorkerConfig) -> Iterator[tuple[Callable[[int, Path], Any], int]]:
    """``(submit, window)`` for a Dask cluster; the cluster is closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--dask needs the extra: pip install 'anonymizer-dicom[dask]'") from None
    cluster = None
    try:
        if address.startswith("local:"):
            import dask

            workers = int(address.split(":", 1)[1])
            # no statistical profiler in the workers: on few cores it costs throughput
            dask.config.set(LOCAL_CONFIG)
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, ValueError, TimeoutError):
        if cluster is not None:
            cluster.close()
        raise ClusterError("cannot start or reach the Dask cluster") from None
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        shared = client.scatter(config, broadcast=True)
        chunks = Chunks(lambda files: client.submit(process_files, shared, files, pure=False, retries=RETRIES))
        yield chunks.submit, 4 * CHUNK * workers
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
