"""Gateway parts without Orthanc: URLs, backoff, settling, spool, outbox, delivery, conversion, pynetdicom."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, JPEGExtended12Bit
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from anonymizer.errors import GatewayError, StateError
from anonymizer.gateway.backoff import RetryPolicy
from anonymizer.gateway.deliver import Deliverer, make_sender
from anonymizer.gateway.destination import (
    DicomWebDestination,
    DimseDestination,
    Listen,
    parse_destination,
    parse_listen,
)
from anonymizer.gateway.dimse import (
    MAX_CONTEXTS,
    DimseSender,
    LossyConversionError,
    _File,
    dimse_outcome,
    plan_associations,
    to_uncompressed,
)
from anonymizer.gateway.outbox import Item, Outbox, Result
from anonymizer.gateway.outcome import Outcome
from anonymizer.gateway.receive import Receiver
from anonymizer.gateway.settle import SettleTracker
from anonymizer.gateway.spool import INCOMING, Cleaner, Spool, uid_key
from anonymizer.gateway.tls import client_context, server_context
from anonymizer.gateway.wire import reserve_responses_for_caller, set_tcp_nodelay, wake_on_connection_loss
from tests.gateway import make_pki


def bundled(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("dicom://PACS@10.0.0.5:11112", DimseDestination("PACS", "10.0.0.5", 11112)),
        ("dicom://RESEARCH@pacs.example.org", DimseDestination("RESEARCH", "pacs.example.org", 104)),
        ("dicoms://PACS@[::1]:2762", DimseDestination("PACS", "::1", 2762, tls=True)),
        ("dicomweb+http://127.0.0.1:8042/dicom-web", DicomWebDestination("http://127.0.0.1:8042/dicom-web")),
        ("dicomweb+https://pacs.example.org/dicom-web/", DicomWebDestination("https://pacs.example.org/dicom-web")),
    ],
)
def test_destination_urls(url: str, expected: object) -> None:
    assert parse_destination(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "dicom://127.0.0.1:104",
        "dicom://AN_AE_TITLE_TOO_LONG@host:104",
        "dicom://PACS@host:99999",
        "dicom://PACS:secret@host:104",
        "dicomweb+http://user:pw@host/dicom-web",
        "http://host/dicom-web",
    ],
)
def test_unusable_destination_urls_are_refused_without_echoing_credentials(url: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_destination(url)
    assert "secret" not in str(caught.value) and "pw" not in str(caught.value)


def test_listen_addresses_default_to_loopback() -> None:
    assert parse_listen("GW@11112") == Listen("GW", "127.0.0.1", 11112)
    assert parse_listen("GW@:0") == Listen("GW", "127.0.0.1", 0)
    assert parse_listen("GW@0.0.0.0:104") == Listen("GW", "0.0.0.0", 104)
    for bad in ("11112", "GW@host", "GW@host:70000", "@host:104"):
        with pytest.raises(GatewayError):
            parse_listen(bad)


def test_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(initial=0.5, factor=2, max_delay=3, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3, 3, 3]
    assert RetryPolicy(initial=1, jitter=0.2, rng=lambda: 1.0).delay(2) == pytest.approx(2.4)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_study_settles_when_idle_or_when_its_last_sender_releases() -> None:
    clock = Clock()
    tracker = SettleTracker(idle_seconds=10, clock=clock)
    a1, a2 = object(), object()
    tracker.opened(a1)
    tracker.opened(a2)
    tracker.arrived("s1", a1)
    tracker.arrived("s2", a1)
    tracker.arrived("s2", a2)  # s2 also comes from another open association
    clock.now = 5
    assert tracker.due() == []
    assert [(s.study, s.reason, s.instances) for s in tracker.released(a1)] == [("s1", "released", 1)]
    tracker.aborted(a2)  # an abort settles nothing...
    assert tracker.pending() == {"s2": 2}
    clock.now = 15  # ...the idle rule does
    assert [(s.study, s.reason) for s in tracker.due()] == [("s2", "idle")]


def test_spool_writes_privately_under_hashed_names_and_replaces_a_resend(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    first = spool.store(b"one", "1.2.3", "1.2.3.4")
    assert first.path == (tmp_path / "spool" / uid_key("1.2.3") / f"{uid_key('1.2.3.4')}.dcm").absolute()
    again = spool.store(b"two", "1.2.3", "1.2.3.4")
    assert not first.replaced and again.replaced and again.path.read_bytes() == b"two"
    for path, mode in ((spool.root, 0o700), (first.path.parent, 0o700), (first.path, 0o600)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert spool.instances() == [first.path] and Spool.count(spool.root) == 1
    assert "1.2.3" not in str(first.path.relative_to(tmp_path))


def test_spool_recovery_removes_temporaries_only_and_study_folders_never_hold_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    done = spool.store(b"x", "1", "2")
    (spool.root / INCOMING / "dead.part").write_bytes(b"partial")
    assert spool.recover() == 1
    assert [p for p in spool.root.rglob("*") if p.is_file()] == [done.path]
    spool.prune(done.study)  # not empty: kept
    assert done.path.exists()


def test_a_spool_write_error_raises_and_leaves_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    (spool.root / INCOMING).rmdir()
    (spool.root / INCOMING).write_bytes(b"")  # a real fault: the temporaries' folder is a file
    with pytest.raises(OSError):
        spool.store(b"data", "1", "2")
    assert spool.instances() == []


def test_the_outbox_delivers_each_instance_once_and_a_changed_one_again(tmp_path: Path) -> None:
    with Outbox(tmp_path / "state") as outbox:
        outbox.queue(["dest"], [Item("1.2", "a/1.dcm", "h1"), Item("1.3", "a/2.dcm", "h2")])
        assert [i.sop_uid for i in outbox.pending("dest", 10)] == ["1.2", "1.3"]
        outbox.record("dest", [Result("1.2", "delivered"), Result("1.3", "failed", "status 0xC000")])
        outbox.queue(["dest"], [Item("1.2", "a/1.dcm", "h1"), Item("1.3", "a/2.dcm", "h2")])  # re-sent, same bytes
        assert outbox.pending("dest", 10) == []
        outbox.queue(["dest"], [Item("1.2", "a/1.dcm", "h1-corrected")])
        assert [i.sop_uid for i in outbox.pending("dest", 10)] == ["1.2"]
        assert outbox.counts() == {"dest": {"failed": 1, "pending": 1}}
        assert outbox.retry_failed("dest") == 1 and outbox.count("dest", "pending") == 2
        assert '"error": "status 0xC000"' in (outbox.meta("last-error") or "")
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "gateway.db").st_mode) == 0o600
    with pytest.raises(StateError):
        Outbox(tmp_path / "elsewhere", readonly=True)


class Flaky:
    """Fails every file retryably ``failures`` times, one file always permanently, then succeeds."""

    def __init__(self, failures: int, refused: str):
        self.failures, self.refused, self.calls = failures, refused, 0

    def send(self, paths: Sequence[Path]) -> list[Outcome]:
        self.calls += 1
        return [
            Outcome(p, False, False, "status 0xC000")
            if p.name == self.refused
            else Outcome(p, self.calls > self.failures, self.calls <= self.failures, "down")
            for p in paths
        ]


def test_the_delivery_loop_retries_with_backoff_skips_altered_files_and_gives_up(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    items = []
    for name in ("a.dcm", "b.dcm", "c.dcm", "d.dcm"):
        (out / name).write_bytes(name.encode())
        items.append(Item(name, name, hashlib.sha256(name.encode()).hexdigest()))
    (out / "d.dcm").write_bytes(b"altered after the run")
    events: list[dict[str, object]] = []
    with Outbox(tmp_path / "state") as outbox:
        outbox.queue(["dest"], items)
    policy = RetryPolicy(initial=0, jitter=0, attempts=5)
    pending = Deliverer(
        tmp_path / "state", out, "dest", Flaky(2, "b.dcm"), policy, events.append, threading.Event()
    ).run(True)
    with Outbox(tmp_path / "state") as outbox:
        assert pending == 0 and outbox.counts() == {"dest": {"delivered": 2, "failed": 2}}
    assert [e["event"] for e in events].count("delivery-retry") == 2
    failed = [e for e in events if e["event"] == "delivery-failed"]
    assert {tuple(e["errors"]) for e in failed} == {("altered", "status 0xC000")}  # type: ignore[arg-type]
    with Outbox(tmp_path / "other") as outbox:
        outbox.queue(["dest"], items[:1])
    stuck = Deliverer(tmp_path / "other", out, "dest", Flaky(99, ""), policy, events.append, threading.Event())
    assert stuck.run(until_done=True) == 1  # gave up after 5 failed attempts; a re-run resumes


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [(0x0000, True, False), (0xB000, True, False), (0xA700, False, True), (0x0210, False, True),
     (0x0122, False, False), (0xC000, False, False)],
)  # fmt: skip
def test_c_store_statuses(status: int, ok: bool, retryable: bool) -> None:
    outcome = dimse_outcome(Path("x"), status, False)
    assert (outcome.ok, outcome.retryable) == (ok, retryable)


def test_associations_respect_the_presentation_context_limit() -> None:
    items = [_File(Path(f"{i}"), f"1.2.3.{i}", ExplicitVRLittleEndian) for i in range(200)]
    groups = plan_associations(items)
    assert sum(len(g) for g in groups) == 200
    assert all(len({i.sop_class for i in group}) * 2 <= MAX_CONTEXTS for group in groups)


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"])
def test_lossless_conversion_keeps_pixels_and_the_instance(name: str) -> None:
    ds = to_uncompressed(bundled(name))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(bundled("MR_small.dcm")).pixel_array)
    assert ds.SOPInstanceUID == pydicom.dcmread(bundled(name)).SOPInstanceUID


def test_lossy_data_is_never_decoded_for_a_peer() -> None:
    assert pydicom.dcmread(bundled("JPEG-lossy.dcm")).file_meta.TransferSyntaxUID == JPEGExtended12Bit
    with pytest.raises(LossyConversionError):
        to_uncompressed(bundled("JPEG-lossy.dcm"))


def test_the_pynetdicom_internals_the_wire_module_uses_are_there(tmp_path: Path) -> None:
    receiver = Receiver(Spool(tmp_path / "spool"), Listen("UNIT", "127.0.0.1", 0), lambda e: None, lambda s: None)
    receiver.start()
    try:
        ae = AE(ae_title="SCU")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="UNIT")
        assert assoc.is_established and isinstance(assoc, threading.Thread)
        assert set_tcp_nodelay(assoc) and reserve_responses_for_caller(assoc)
        with wake_on_connection_loss(assoc):
            assert assoc.send_c_echo().Status == 0  # responses still reach the caller
        assoc.release()
    finally:
        receiver.stop(drain=5)


def test_the_scp_answers_a_retryable_failure_when_the_spool_cannot_write(tmp_path: Path) -> None:
    events: list[dict[str, object]] = []
    spool = Spool(tmp_path / "spool")
    receiver = Receiver(spool, Listen("UNIT", "127.0.0.1", 0), events.append, lambda s: None).start()
    try:
        peer = DimseSender(DimseDestination("UNIT", "127.0.0.1", receiver.port), calling_aet="SCU")
        (spool.root / INCOMING).rmdir()
        (spool.root / INCOMING).write_bytes(b"")  # a real fault: every write fails (ENOTDIR)
        [refused] = peer.send([bundled("CT_small.dcm")])
        assert (refused.ok, refused.retryable, refused.detail) == (False, True, "status 0xA700")
        assert spool.instances() == [] and {"event": "spool-failed", "calling_aet": "SCU", "error": "ENOTDIR"} in events
        (spool.root / INCOMING).unlink()
        (spool.root / INCOMING).mkdir()
        assert [o.ok for o in peer.send([bundled("CT_small.dcm")])] == [True]  # the sender's retry then succeeds
        assert len(spool.instances()) == 1
    finally:
        receiver.stop(drain=5)


def test_tls_accepts_a_client_the_ca_signed_and_refuses_plain_tcp(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    spool = Spool(tmp_path / "spool")
    server = server_context(pki["server-cert"], pki["server-key"], pki["ca"])
    receiver = Receiver(spool, Listen("UNIT", "127.0.0.1", 0), lambda e: None, lambda s: None, ssl_context=server)
    receiver.start()
    try:
        url = f"dicoms://UNIT@127.0.0.1:{receiver.port}"
        client = client_context(pki["ca"], pki["client-cert"], pki["client-key"])
        assert [o.ok for o in make_sender(url, "SCU", client).send([bundled("CT_small.dcm")])] == [True]
        plain = DimseSender(DimseDestination("UNIT", "127.0.0.1", receiver.port), calling_aet="SCU")
        assert [o.ok for o in plain.send([bundled("MR_small.dcm")])] == [False]
        anonymous = client_context(pki["ca"])  # trusts the server, shows no certificate
        assert [o.ok for o in make_sender(url, "SCU", anonymous).send([bundled("MR_small.dcm")])] == [False]
        assert len(spool.instances()) == 1
        with pytest.raises(GatewayError):
            make_sender(url, "SCU", None)  # dicoms:// without TLS settings
        with pytest.raises(GatewayError):
            server_context(pki["server-cert"], pki["client-key"])  # a key that is not the certificate's
    finally:
        receiver.stop(drain=5)


def test_the_cleaner_removes_processed_files_but_not_a_copy_re_sent_since(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    kept = spool.store(b"first", "1.2.3", "1.2.3.1").path
    gone = spool.store(b"second", "1.2.3", "1.2.3.2").path
    processed = [(p, p.stat().st_size, p.stat().st_mtime_ns) for p in (kept, gone)]
    spool.store(b"re-sent, other bytes", "1.2.3", "1.2.3.1")  # arrives after the study's outcome was recorded
    cleaner = Cleaner(spool)
    cleaner.discard(uid_key("1.2.3"), processed)
    cleaner.wait(uid_key("1.2.3"))  # what the gateway does before processing the study again
    assert spool.instances() == [kept] and kept.read_bytes() == b"re-sent, other bytes"
    cleaner.discard(uid_key("1.2.3"), [(kept, kept.stat().st_size, kept.stat().st_mtime_ns)])
    cleaner.close()
    assert spool.instances() == [] and not spool.study_dir(uid_key("1.2.3")).exists()  # the empty folder too
