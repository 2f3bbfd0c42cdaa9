"""Dask executor: a real LocalCluster (processes, loopback) against the process pool."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from anonymizer.engine.plan import Plan
from anonymizer.evidence.manifest import MANIFEST
from anonymizer.keys.secret import load_key_file
from anonymizer.keys.vault import SqliteVault
from anonymizer.pipeline.runner import RunOptions, run
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import FileResult, WorkerConfig
from anonymizer.profile.loader import load_profile
from anonymizer.profile.template import DEFAULT_LAYOUT
from anonymizer.testing import write_flat_corpus
from tests.conftest import cli
from tests.test_pipeline import tree

distributed = pytest.importorskip("distributed")  # the [dask] extra; installed by .ci/run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster") / "in"
    write_flat_corpus(folder, 120, per_patient=10)
    return folder


def test_local_dask_cluster_output_equals_the_process_pool(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    pool = cli("run", corpus, tmp_path / "pool", "--key-file", key_file, "--workers", "2")
    dask = cli("run", corpus, tmp_path / "dask", "--key-file", key_file, "--dask", "local:2")
    assert pool.exit_code == 0 and dask.exit_code == 0, dask.output
    assert tree(tmp_path / "pool") == tree(tmp_path / "dask")


def test_a_lost_worker_is_retried_and_each_output_written_once(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    killed: list[int] = []

    def kill_one_worker(result: FileResult) -> None:
        if result.ordinal == 10 and not killed:
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        secret = load_key_file(key_file)
        vault = SqliteVault(tmp_path / "vault.db", secret)
        state = StateStore(tmp_path / "state", tmp_path / "out", "lost-worker")
        config = WorkerConfig(Plan(load_profile("research")), vault.secret.subkeys, DEFAULT_LAYOUT, tmp_path / "out")
        options = RunOptions(dask=cluster.scheduler_address, batch=7)
        summary = run(corpus, config, vault, state, kill_one_worker, options)
        state.close()
        vault.close()
    finally:
        client.close()
        cluster.close()
    assert killed and summary.done == 120 and not summary.failed
    assert cli("run", corpus, tmp_path / "reference", "--key-file", key_file, "--workers", "1").exit_code == 0
    reference = {name: data for name, data in tree(tmp_path / "reference").items() if name != MANIFEST}
    assert tree(tmp_path / "out") == reference  # each output once, no temporary file left


def test_an_unreachable_scheduler_is_a_usage_error(
    corpus: Path, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("anonymizer.pipeline.cluster.CONNECT_SECONDS", 1)
    result = cli("run", corpus, tmp_path / "out", "--key-file", key_file, "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 2 and "Dask cluster" in result.output
