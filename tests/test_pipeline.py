"""The batch pipeline: hierarchy, workers, resume after SIGKILL, incremental nights, manifest."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from anonymizer.evidence.manifest import MANIFEST
from anonymizer.pipeline.state import StateStore
from anonymizer.testing import write_flat_corpus, write_sample
from tests.conftest import cli, make_key, output_files


def tree(out: Path) -> dict[str, bytes]:
    """Every file under OUT (temporaries included) by relative path; the manifest's run
    block (id, times, this run's counts) and vault identity are the only parts allowed to differ."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == MANIFEST:
            content = json.loads(data)
            content.pop("run")
            content.pop("vault")  # the random identity of the vault used, not a property of the files
            data = json.dumps(content, sort_keys=True).encode()
        files[str(path.relative_to(out))] = data
    return files


def anonymizer(*args: object) -> list[str]:
    return [sys.executable, "-m", "anonymizer", "run", *map(str, args)]


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A flat dump with random names: 5 patients x 12 templates x 2 instances."""
    folder = tmp_path_factory.mktemp("flat")
    sample = write_sample(folder / "nested", patients=5, instances=2)
    flat_dir = folder / "dump"
    flat_dir.mkdir()
    rng = random.Random(7)
    for path in sample.files:
        shutil.copy(path, flat_dir / f"{rng.getrandbits(48):012x}")
    return flat_dir, sample.sentinels


def test_flat_dump_becomes_patient_study_series_tree(flat, tmp_path: Path, key_file: Path) -> None:
    dump, sentinels = flat
    result = cli("run", dump, tmp_path / "out", "--key-file", key_file, "--workers", "1")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    outputs = output_files(out)
    assert len(outputs) == len(list(dump.iterdir()))
    patients = [p for p in out.iterdir() if p.is_dir()]
    assert len(patients) == 5
    folders: dict[str, set[str]] = {}
    for path in outputs:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        patient, study, series, _ = path.relative_to(out).parts
        folders.setdefault(patient, set()).add(ds.PatientID)  # one folder per patient, by a keyed token
        assert study.startswith(f"{ds.StudyDate}_")
        assert series.startswith(f"{int(ds.SeriesNumber):04d}_{ds.Modality}_")
    assert all(len(ids) == 1 for ids in folders.values())
    assert len({min(ids) for ids in folders.values()}) == len(folders)
    names = " ".join(str(p.relative_to(out)) for p in out.rglob("*"))
    manifest_text = (out / MANIFEST).read_text()
    for sentinel in sentinels:
        assert sentinel not in names and sentinel not in manifest_text
    manifest = json.loads(manifest_text)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == {str(p.relative_to(out)) for p in outputs}
    for path in outputs:
        entry = listed[str(path.relative_to(out))]
        assert entry["sop_instance_uid"] == pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert len(entry["sha256"]) == 64
    assert manifest["profile"]["name"] == "research" and len(manifest["profile"]["plan_sha256"]) == 64
    assert manifest["options"][0]["cid7050"] == "113100"
    assert manifest["counts"]["files"] == len(outputs) and manifest["run"]["done"] == len(outputs)


def test_one_and_two_workers_give_identical_trees(flat, tmp_path: Path, key_file: Path) -> None:
    dump, _ = flat
    for workers in ("1", "2"):
        result = cli("run", dump, tmp_path / f"out{workers}", "--key-file", key_file, "--workers", workers)
        assert result.exit_code == 0
    assert tree(tmp_path / "out1") == tree(tmp_path / "out2")


def test_same_path_for_two_instances_gives_distinct_deterministic_names(flat, tmp_path: Path, key_file: Path) -> None:
    dump, _ = flat
    for workers in ("1", "2"):
        args = ("run", dump, tmp_path / f"o{workers}", "--key-file", key_file, "--workers", workers)
        assert cli(*args, "--layout", "{PatientID}/{Modality}.dcm").exit_code == 0
    one = tree(tmp_path / "o1")
    assert one == tree(tmp_path / "o2")
    assert len([p for p in one if p != MANIFEST]) == len(list(dump.iterdir()))


def test_hostile_layout_values_stay_inside_out(tmp_path: Path, key_file: Path) -> None:
    sample = write_sample(tmp_path / "in", patients=1, instances=1, templates=("CT_small.dcm", "MR_small.dcm"))
    for n, path in enumerate(sample.files):
        ds = pydicom.dcmread(path)
        ds.Manufacturer = ["../../etc", "/abs\x00olute"][n]  # kept by research
        ds.save_as(path, enforce_file_format=True)
    result = cli(
        "run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--layout", "{Manufacturer}/{Modality}.dcm"
    )
    assert result.exit_code == 0
    outputs = output_files(tmp_path / "out")
    assert len(outputs) == 2
    for path in outputs:
        assert (tmp_path / "out").resolve() in path.resolve().parents
    assert not (tmp_path / "etc").exists()


def test_second_night_processes_only_new_files(tmp_path: Path, key_file: Path) -> None:
    write_flat_corpus(tmp_path / "in", 40, per_patient=10)
    first = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--log-format", "json")
    assert first.exit_code == 0
    more = write_flat_corpus(tmp_path / "more", 44, per_patient=10)[40:]  # 10% new
    for path in more:
        shutil.move(path, tmp_path / "in" / path.name)
    second = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--log-format", "json")
    assert second.exit_code == 0
    events = [json.loads(line) for line in second.output.splitlines() if line.startswith("{")]
    finished = next(e for e in events if e["event"] == "run-finished")
    assert finished["done"] == 4 and finished["skipped"] == {"done-before": 40}
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["counts"]["files"] == 44 == len(output_files(tmp_path / "out"))
    forced = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--force", "--log-format", "json")
    assert json.loads(forced.output.splitlines()[-1])["done"] == 44


def test_failed_inputs_are_retried_only_when_asked(tmp_path: Path, key_file: Path) -> None:
    paths = write_flat_corpus(tmp_path / "in", 3)
    paths[1].write_bytes(paths[1].read_bytes()[:-500])  # truncated
    assert cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file).exit_code == 1
    again = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--log-format", "json")
    assert again.exit_code == 1 and '"failed-before": 1' in again.output  # OUT is still incomplete
    retried = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--retry-failed")
    assert retried.exit_code == 1 and "truncated" in retried.output


def test_json_events_and_the_local_run_log(flat, tmp_path: Path, key_file: Path) -> None:
    dump, sentinels = flat
    result = cli(
        "run", dump, tmp_path / "out", "--key-file", key_file, "--log-format", "json", "--state", tmp_path / "st"
    )
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0]["event"] == "run-started" and lines[-1]["event"] == "run-finished"
    assert lines[1]["event"] == "vault-created"
    assert all(e["event"] == "file" and e["ordinal"] >= 1 for e in lines[2:-1])
    for sentinel in (*sentinels, str(dump)):
        assert sentinel not in result.output
    logs = list((tmp_path / "st").glob("run-*.jsonl"))
    assert len(logs) == 1 and str(dump) in logs[0].read_text()  # input paths: local state only
    assert logs[0].stat().st_mode & 0o777 == 0o600


def test_a_second_concurrent_run_is_refused(flat, tmp_path: Path, key_file: Path) -> None:
    dump, _ = flat
    holder = StateStore(tmp_path / "held", tmp_path / "out", "holder")
    try:
        same_out = cli("run", dump, tmp_path / "out", "--key-file", key_file)
        assert same_out.exit_code == 2 and "another run" in same_out.output
        same_state = cli("run", dump, tmp_path / "out2", "--key-file", key_file, "--state", tmp_path / "held")
        assert same_state.exit_code == 2
    finally:
        holder.close()
    assert cli("run", dump, tmp_path / "out3", "--key-file", key_file, "--state", tmp_path / "held").exit_code == 2


def test_dry_run_writes_no_output_state_or_vault(flat, tmp_path: Path, key_file: Path) -> None:
    dump, _ = flat
    result = cli("run", dump, tmp_path / "out", "--key-file", key_file, "--dry-run")
    assert result.exit_code == 0
    assert not (tmp_path / "out").exists() and not (tmp_path / ".anonymizer").exists()


def test_sigkill_at_a_random_moment_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    write_flat_corpus(tmp_path / "in", 2000)
    key = make_key(tmp_path)
    common = ("--key-file", key, "--workers", "2", "--batch-size", "50")
    killed_args = anonymizer(tmp_path / "in", tmp_path / "out", *common, "--vault", tmp_path / "v1" / "vault.db")
    target = random.Random().randint(1, 1900)
    proc = subprocess.Popen(killed_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(1 for p in (tmp_path / "out").rglob("*.dcm")) >= target if (tmp_path / "out").exists() else False:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    assert proc.wait() == -signal.SIGKILL, f"finished before {target} outputs"
    assert subprocess.run(killed_args, capture_output=True).returncode == 0
    clean_args = anonymizer(tmp_path / "in", tmp_path / "clean", *common, "--vault", tmp_path / "v2" / "vault.db")
    assert subprocess.run(clean_args, capture_output=True).returncode == 0
    resumed, clean = tree(tmp_path / "out"), tree(tmp_path / "clean")
    assert not [name for name in resumed if name.endswith(".part")]
    assert resumed == clean and len(resumed) == 2001


def test_resume_does_not_depend_on_the_working_directory(tmp_path: Path, key_file: Path, monkeypatch) -> None:
    write_flat_corpus(tmp_path / "data" / "in", 5)
    monkeypatch.chdir(tmp_path / "data")
    vault = ("--vault", tmp_path / "v.db")
    assert cli("run", "in", tmp_path / "out", "--key-file", key_file, *vault).exit_code == 0
    monkeypatch.chdir(tmp_path)
    again = cli("run", "data/in", tmp_path / "out", "--key-file", key_file, *vault, "--log-format", "json")
    assert '"done-before": 5' in again.output


def test_tuned_collector_still_collects_cycles_made_after_start_up() -> None:
    """tune_gc (run, serve and pool workers) freezes start-up and collects less often, not never."""
    code = (
        "import gc, weakref\n"
        "from anonymizer.pipeline.worker import GC_THRESHOLD, tune_gc\n"
        "tune_gc()\n"
        "assert gc.get_threshold()[0] == GC_THRESHOLD and gc.get_freeze_count() > 0\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"
        "gone = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "assert gone() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
