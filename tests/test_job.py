"""The library Job: the whole run from the public API, and its commit order on an interrupt."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

import anonymizer
from anonymizer import Job, load_key_file
from anonymizer.pipeline import job as job_module
from anonymizer.pipeline.state import StateStore
from anonymizer.testing import Sample, write_flat_corpus
from tests.conftest import cli, make_key, output_files

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_example_uses_only_the_public_api_and_runs(sample: Sample, tmp_path: Path) -> None:
    example = ROOT / "examples" / "api_run.py"
    tree = ast.parse(example.read_text())
    imported = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    for node in imported:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("anonymizer"):
            assert node.module == "anonymizer" and {a.name for a in node.names} <= set(anonymizer.__all__)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert len(main.body) <= 10  # about ten lines
    key = make_key(tmp_path)
    in_dir, out = sample.files[0].parents[1], tmp_path / "out"
    args = [sys.executable, example, in_dir, out, "--key-file", key, "--vault", tmp_path / "v.db"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listed = json.loads((out / "anonymizer-manifest.json").read_text())["files"]
    assert len(listed) == len(sample.files) == len(output_files(out))


def test_an_interrupted_job_makes_files_durable_before_the_state_calls_them_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_flat_corpus(tmp_path / "in", 12)
    corpus = tmp_path / "in"
    events: list[str] = []
    real_sync, real_close = os.sync, StateStore.close

    def sync() -> None:
        events.append("sync")
        real_sync()

    def close(self: StateStore) -> None:
        events.append("state")
        real_close(self)

    monkeypatch.setattr(job_module.os, "sync", sync)
    monkeypatch.setattr(StateStore, "close", close)

    def stop_after_five(result: anonymizer.FileResult) -> None:
        if result.ordinal == 5:
            raise KeyboardInterrupt

    key = load_key_file(make_key(tmp_path))
    job = Job(corpus, tmp_path / "out", "research", key, vault=tmp_path / "v.db")
    with pytest.raises(KeyboardInterrupt), job:
        job.run(stop_after_five)
    assert events == ["sync", "state"]  # the bytes first, then the state calls them done
    assert not [p for p in (tmp_path / "out").rglob("*.part")]
    # the same command finishes the run; the five files recorded as done are not redone
    again = ("--key-file", tmp_path / "project.key", "--vault", tmp_path / "v.db", "--log-format", "json")
    result = cli("run", corpus, tmp_path / "out", *again)
    assert result.exit_code == 0
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["skipped"] == {"done-before": 5} and summary["done"] == 7


def test_plan_prints_no_value_that_pydicom_warns_about(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    ds.SpecificCharacterSet = "SNTCHARSET"
    ds.StudyDescription = "SNTDESC"
    ds.save_as(tmp_path / "f.dcm")
    done = subprocess.run(
        [Path(sys.executable).with_name("anonymizer"), "plan", tmp_path / "f.dcm"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "always"},
    )
    assert done.returncode == 0, done.stderr
    assert "SNT" not in done.stderr and "SNT" not in done.stdout


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_manifest_written_in_pieces_has_the_bytes_of_one_json_document(count: int) -> None:
    from anonymizer.evidence import manifest

    pixels = '{"boxes": [[0, 1, 2, 3]], "rules": ["r"]}'
    rows = [(f"P/S/{i}.dcm", f"2.25.{i}", f"{i:064x}", pixels * (i % 2)) for i in range(count)]
    files = manifest.Files(lambda: iter(rows), len(rows))
    content = {"a": {"nested": [1, 2]}, "files": files, "z": "ünïcode", "counts": {"files": files.count}}
    whole = dict(content, files=list(files.entries()))
    assert b"".join(manifest.chunks(content)) == (json.dumps(whole, indent=1, sort_keys=True) + "\n").encode("utf-8")
