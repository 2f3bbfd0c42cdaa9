"""The gateway end to end, against real Orthanc servers (Debian's ``orthanc`` and ``orthanc-dicomweb``).

Orthanc is the source (files uploaded over REST, then ``POST /modalities/gateway/store``
makes it C-STORE them to ``anonymizer serve``) and the destination (C-STORE and STOW-RS).
Each test starts its own servers on free loopback ports with a temporary configuration.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from anonymizer.evidence.manifest import MANIFEST
from anonymizer.testing import Sample, write_flat_corpus, write_sample
from tests.gateway import (
    GATEWAY_AET,
    SOURCE_AET,
    as_received,
    assert_destination_equals_out,
    destination,
    destination_uids,
    out_files,
    send,
    send_then_abort,
    serving,
    sop_uids,
    spool_files,
    storage_holds,
    wait_until,
)
from tests.integrity import process, tree
from tests.orthanc import DICOMWEB_PLUGIN, ORTHANC_BINARY, Modality, OrthancError, OrthancFactory

ROOT = Path(__file__).resolve().parents[1]
# Run wherever Orthanc is; CI (.ci/run) installs it and sets ANONYMIZER_REQUIRE_ORTHANC, so they never skip there.
MISSING = not (ORTHANC_BINARY.exists() and DICOMWEB_PLUGIN.exists()) and not os.environ.get(
    "ANONYMIZER_REQUIRE_ORTHANC"
)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING, reason="Debian's orthanc and orthanc-dicomweb are needed")]


@pytest.fixture
def orthancs(tmp_path: Path) -> Iterator[OrthancFactory]:
    """Real Orthanc servers for one test, all stopped at its end."""
    factory = OrthancFactory(tmp_path / "orthanc")
    try:
        yield factory
    finally:
        factory.close()


def _originals(sample: Sample) -> set[str]:
    """Every planted identifier and every original UID of the sample."""
    uids = set()
    for path in sample.files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
    return sample.sentinels | uids


def _status(serve_state: Path, out: Path) -> dict[str, object]:
    done = process("status", out, "--state", serve_state, "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_orthanc_to_gateway_to_orthanc_over_dimse_and_stow(
    tmp_path: Path, key_file: Path, orthancs: OrthancFactory
) -> None:
    sample = write_sample(tmp_path / "in", patients=2, instances=1)  # 12 templates: 8 transfer syntaxes, RT, SR
    research, web = destination(orthancs, "RESEARCH"), destination(orthancs, "WEB")
    forwards = (
        f"dicom://RESEARCH@127.0.0.1:{research.dicom_port}",
        f"dicomweb+http://127.0.0.1:{web.http_port}/dicom-web",
    )
    args = ("--allow-aet", f"OTHER,{SOURCE_AET}", "--forward", forwards[0], "--forward", forwards[1])
    with serving(tmp_path / "gw", key_file, *args, settle=30) as serve:
        source = orthancs(SOURCE_AET, modalities=[Modality("gateway", GATEWAY_AET, serve.port)])
        source.store_to_modality("gateway", source.upload_many(sample.files))  # Orthanc's own C-STORE SCU
        wait_until(lambda: len(research.instances()) == len(web.instances()) == len(sample.files), what="deliveries")
        wait_until(lambda: _status(serve.state, serve.out)["pending"] == 0, what="no pending delivery")
        status = _status(serve.state, serve.out)
    assert status == {
        "spool": 0,
        "pending": 0,
        "deliveries": {url: {"delivered": len(sample.files)} for url in forwards},
        "failed_inputs": 0,
        "last_error": None,
    }
    assert len(out_files(serve.out)) == len(sample.files) and spool_files(serve.spool) == []
    assert_destination_equals_out(research, serve.out)
    assert_destination_equals_out(web, serve.out)
    identifiers = _originals(sample)
    assert storage_holds(research, identifiers) == set() and storage_holds(web, identifiers) == set()
    logged = "".join(serve.lines) + serve.stderr
    assert not [s for s in identifiers if s in logged] and str(tmp_path / "in") not in logged
    opened = [e for e in serve.events if e["event"] == "association-opened"]
    assert opened and {e["calling_aet"] for e in opened} == {SOURCE_AET}
    assert serve.count("study-processed", "done") >= len(sample.files)


def test_out_is_byte_identical_to_run_over_the_same_instances(
    tmp_path: Path, key_file: Path, orthancs: OrthancFactory
) -> None:
    files = write_flat_corpus(tmp_path / "in", 60, per_patient=20)
    web = destination(orthancs, "WEB")
    url = f"dicomweb+http://127.0.0.1:{web.http_port}/dicom-web"
    with serving(tmp_path / "gw", key_file, "--forward", url) as serve:
        assert all(send(serve.port, files))
        serve.wait_for("study-processed", count=len(files), field="done")
        wait_until(lambda: len(web.instances()) == len(files), what="deliveries")
    received = as_received(files, tmp_path / "received")
    ran = process(
        "run", received, tmp_path / "ref", "--key-file", key_file, "--workers", "1", "--vault", tmp_path / "v"
    )
    assert ran.returncode == 0, ran.stderr
    assert tree(serve.out) == tree(tmp_path / "ref")  # every file and the manifest (its run block aside)
    assert_destination_equals_out(web, serve.out)


def test_a_calling_ae_title_not_allowed_is_rejected(tmp_path: Path, key_file: Path, orthancs: OrthancFactory) -> None:
    files = write_flat_corpus(tmp_path / "in", 3)
    with serving(tmp_path / "gw", key_file, "--allow-aet", "PACS1,PACS2") as serve:
        intruder = orthancs("INTRUDER", modalities=[Modality("gateway", GATEWAY_AET, serve.port)])
        with pytest.raises(OrthancError):
            intruder.store_to_modality("gateway", intruder.upload_many(files))
        assert send(serve.port, files, calling_aet="SCU") == [False] * 3
        serve.wait_for("association-rejected", count=2)
        assert send(serve.port, files[:1], calling_aet="PACS2") == [True]  # the allow list itself works
        serve.wait_for("study-processed")
    rejected = {e["calling_aet"] for e in serve.events if e["event"] == "association-rejected"}
    assert rejected == {"INTRUDER", "SCU"}
    assert len(out_files(serve.out)) == 1 and spool_files(serve.spool) == []


def _kill_during_receive(
    tmp: Path, key: Path, orthancs: OrthancFactory, forward: str, files: list[Path], dest_count: Callable[[], int]
) -> Path:
    """Orthanc pushes; the gateway dies after 40 instances are spooled; Orthanc's job fails and is resubmitted."""
    with serving(tmp, key, "--forward", forward, settle=600) as serve:
        source = orthancs(SOURCE_AET, modalities=[Modality("gateway", GATEWAY_AET, serve.port)])
        job = source.store_to_modality("gateway", source.upload_many(files), synchronous=False)["ID"]
        wait_until(lambda: len(spool_files(serve.spool)) >= 40, what="40 spooled instances")
        serve.kill9()
        assert source.wait_job(job)["State"] == "Failure"  # Orthanc never retries by itself
        assert out_files(serve.out) == [] and len(spool_files(serve.spool)) < len(files)
    with serving(tmp, key, "--forward", forward, settle=600, port=serve.port) as again:
        source.rest("POST", f"/jobs/{job}/resubmit", json={})
        assert source.wait_job(job)["State"] == "Success"
        wait_until(lambda: dest_count() == len(files), what="every instance delivered")
    return again.out


def _kill_between_spool_and_run(
    tmp: Path, key: Path, forward: str, files: list[Path], dest_count: Callable[[], int]
) -> Path:
    """Every instance is acknowledged, nothing is processed yet (no release, long settle): kill -9."""
    with serving(tmp, key, "--forward", forward, settle=600) as serve:
        assert send_then_abort(serve.port, files) == [0] * len(files)
        assert len(spool_files(serve.spool)) == len(files)
        serve.kill9()
    assert out_files(serve.out) == []
    with serving(tmp, key, "--forward", forward) as again:  # the spool is processed at start
        wait_until(lambda: dest_count() == len(files), what="every instance delivered")
    return again.out


def _kill_mid_forward(tmp: Path, key: Path, forward: str, files: list[Path], dest_count: Callable[[], int]) -> Path:
    """The first delivery batch is in the destination, the rest not yet: kill -9."""
    with serving(tmp, key, "--forward", forward) as serve:
        assert all(send(serve.port, files))
        serve.wait_for("delivered")
        serve.kill9()
        assert 0 < dest_count() < len(files)
        assert spool_files(serve.spool) == []  # queued and committed before the spool was emptied
    with serving(tmp, key, "--forward", forward) as again:
        wait_until(lambda: dest_count() == len(files), what="the rest delivered")
    return again.out


@pytest.mark.parametrize("point", ["during-receive", "between-spool-and-run", "mid-forward"])
def test_kill_9_then_the_same_command_delivers_every_acknowledged_instance_once(
    tmp_path: Path, key_file: Path, orthancs: OrthancFactory, point: str
) -> None:
    files = write_flat_corpus(tmp_path / "in", 150, per_patient=50)
    slow = point == "mid-forward"  # Orthanc with Nagle on: about 20 instances/s, so the kill lands mid-way
    dest = destination(orthancs, "RESEARCH", nagle=slow)
    forward = f"dicom://RESEARCH@127.0.0.1:{dest.dicom_port}"
    gw = tmp_path / "gw"
    count = lambda: len(dest.instances())  # noqa: E731
    if point == "during-receive":
        out = _kill_during_receive(gw, key_file, orthancs, forward, files, count)
    elif point == "between-spool-and-run":
        out = _kill_between_spool_and_run(gw, key_file, forward, files, count)
    else:
        out = _kill_mid_forward(gw, key_file, forward, files, count)
    assert_destination_equals_out(dest, out)
    assert sorted(destination_uids(dest)) == sorted(sop_uids(out_files(out)))
    assert spool_files(gw / "state" / "spool") == []
    status = _status(gw / "state", out)
    assert (status["spool"], status["pending"], status["failed_inputs"]) == (0, 0, 0)
    received = as_received(files, tmp_path / "received")
    ran = process(
        "run", received, tmp_path / "ref", "--key-file", key_file, "--workers", "1", "--vault", tmp_path / "v"
    )
    assert ran.returncode == 0
    ours, theirs = tree(out), tree(tmp_path / "ref")
    if point == "during-receive":  # Orthanc's SCU re-encodes what it sends (DCMTK drops group lengths):
        del ours[MANIFEST], theirs[MANIFEST]  # the same output files; removal counts differ by one per input
    assert ours == theirs


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pid: int) -> bool:
    """The process has ended (no /proc entry, or a zombie not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_receiving_and_delivering_processes_die_with_the_service(tmp_path: Path, key_file: Path) -> None:
    with serving(tmp_path / "gw", key_file, "--forward", "dicom://NOBODY@127.0.0.1:9") as serve:
        children = _children(serve.proc.pid)
        assert len(children) == 2  # the receiver and one deliverer
        serve.kill9()
    wait_until(lambda: all(_gone(c) for c in children), timeout=10, what="no process of the service left")
    with serving(tmp_path / "gw", key_file, port=serve.port) as again:  # nothing holds the port
        assert len(_children(again.proc.pid)) == 1  # no destination: the receiver alone


def test_a_receiving_process_that_dies_stops_the_service_with_an_error(tmp_path: Path, key_file: Path) -> None:
    files = write_flat_corpus(tmp_path / "in", 3)
    with serving(tmp_path / "gw", key_file, settle=600) as serve:
        assert all(send(serve.port, files))
        (receiver,) = _children(serve.proc.pid)
        os.kill(receiver, signal.SIGKILL)
        code = serve.proc.wait(60)
        for reader in serve._readers:
            reader.join(10)
    assert code == 1
    assert serve.count("process-lost") == 1
    last = json.loads(serve.stderr.strip().splitlines()[-1])  # one line, JSON as asked
    assert last["message"] == "the gateway's receive process ended unexpectedly; the same command restarts it"
    with serving(tmp_path / "gw", key_file, settle=600) as again:  # the same command serves again
        assert all(send(again.port, files))
        again.wait_for("study-processed")
    assert len(out_files(again.out)) == len(files)


def test_a_destination_down_for_20_seconds_gets_everything_when_it_returns(
    tmp_path: Path, key_file: Path, orthancs: OrthancFactory
) -> None:
    files = write_flat_corpus(tmp_path / "in", 40, per_patient=20)
    dest = destination(orthancs, "RESEARCH")
    dest.stop()  # its ports stay its own: it comes back on them
    forward = f"dicom://RESEARCH@127.0.0.1:{dest.dicom_port}"
    with serving(
        tmp_path / "gw", key_file, "--forward", forward, "--retry-initial", "0.5", "--retry-max", "2"
    ) as serve:
        assert all(send(serve.port, files))
        serve.wait_for("delivery-retry")
        down = _status(serve.state, serve.out)
        assert down["pending"] == len(files) and down["spool"] == 0
        assert isinstance(down["last_error"], dict) and down["last_error"]["destination"] == forward
        time.sleep(20)
        dest.start()
        wait_until(lambda: _status(serve.state, serve.out)["pending"] == 0, what="deliveries after the return")
    assert serve.count("delivery-retry") >= 5
    assert_destination_equals_out(dest, serve.out)


def test_sigterm_lets_the_open_association_finish_then_exits_143(tmp_path: Path, key_file: Path) -> None:
    files = write_flat_corpus(tmp_path / "in", 40)
    statuses: list[int] = []
    with serving(tmp_path / "gw", key_file, "--drain", "60", settle=600) as serve:

        def slow_sender() -> None:
            statuses.extend(send_then_abort(serve.port, files, pause=0.1))

        sender = threading.Thread(target=slow_sender)
        sender.start()
        wait_until(lambda: len(spool_files(serve.spool)) >= 5, what="the association under way")
        serve.proc.send_signal(signal.SIGTERM)
        sender.join(120)
        assert serve.proc.wait(120) == 143
    assert statuses == [0] * len(files)  # every C-STORE of the open association succeeded
    assert len(spool_files(serve.spool)) == len(files)  # in the spool, for the next start
    assert serve.events[-1] == {"event": "stopped", "signal": "SIGTERM"}
    with serving(tmp_path / "gw", key_file) as again:
        again.wait_for("study-processed", count=len(files), field="done")
    assert len(out_files(again.out)) == len(files)


def test_send_pushes_an_existing_out_once(tmp_path: Path, key_file: Path, orthancs: OrthancFactory) -> None:
    write_flat_corpus(tmp_path / "in", 30)
    vault = tmp_path / "vault.db"
    assert process("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--vault", vault).returncode == 0
    web = destination(orthancs, "WEB")
    url = f"dicomweb+http://127.0.0.1:{web.http_port}/dicom-web"
    first = process("send", tmp_path / "out", "--to", url, "--vault", vault)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["delivered"] == 30
    assert_destination_equals_out(web, tmp_path / "out")
    web.delete_all()
    again = process("send", tmp_path / "out", "--to", url, "--vault", vault)  # each instance once: nothing sent
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert again.returncode == 0 and not [e for e in events if e["event"] == "delivered"] and web.instances() == []


def test_the_systemd_unit_serves_and_stops_with_an_accepted_exit_code(tmp_path: Path, key_file: Path) -> None:
    unit = (ROOT / "examples" / "systemd" / "anonymizer-gateway.service").read_text()
    fields = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    srv = tmp_path / "srv"
    (srv / "deid").mkdir(parents=True)
    (srv / "deid" / "project.key").write_bytes(key_file.read_bytes())
    (srv / "deid" / "project.key").chmod(0o600)
    (srv / "deid" / ".venv").symlink_to(Path(sys.executable).parent.parent)
    command = fields["ExecStart"].replace("/srv/", f"{srv}/")
    command = command.replace("@0.0.0.0:11112", "@127.0.0.1:0")  # any free port on loopback
    environment = dict(e.split("=", 1) for e in shlex.split(fields["Environment"]))
    environment = {k: v.replace("/srv/", f"{srv}/") for k, v in environment.items()}
    proc = subprocess.Popen(
        shlex.split(command),
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **environment},
        cwd=fields["WorkingDirectory"].replace("/srv/", f"{srv}/"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    events = []
    while not events or events[-1]["event"] != "listening":
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        events.append(json.loads(line))
    proc.send_signal(getattr(signal, fields["KillSignal"]) if "KillSignal" in fields else signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode in {int(c) for c in fields["SuccessExitStatus"].split()}, stderr
    assert all(json.loads(line) for line in stdout.splitlines())
