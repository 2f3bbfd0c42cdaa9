"""Helpers for the gateway tests: ``anonymizer serve`` as a process, SCUs, inputs as a PACS sends them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pydicom
from pynetdicom import AE, _config, build_context

from anonymizer.gateway.destination import DimseDestination
from anonymizer.gateway.dimse import DimseSender
from anonymizer.gateway.wire import set_tcp_nodelay
from tests.orthanc import Modality, Orthanc, OrthancFactory

SOURCE_AET, GATEWAY_AET = "CLINICAL", "DEIDGW"


def as_received(files: Iterable[Path], folder: Path) -> Path:
    """Copies of ``files`` as DICOM networking delivers them: the same bytes after a zeroed preamble.

    The 128-byte preamble is not sent over the network (a receiver writes its own), and
    ``anonymizer run`` keeps an input's preamble; so ``run`` over these copies is ``run``
    over the instances the gateway receives.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(sorted(files)):
        data = path.read_bytes()
        (folder / f"{index:05d}.dcm").write_bytes(b"\0" * 128 + data[128:])
    return folder


def send(port: int, paths: Iterable[Path], calling_aet: str = SOURCE_AET) -> list[bool]:
    """C-STORE the files as stored (the package's own SCU), released at the end; one success flag each."""
    sender = DimseSender(DimseDestination(GATEWAY_AET, "127.0.0.1", port), calling_aet=calling_aet)
    return [outcome.ok for outcome in sender.send(list(paths))]


def send_then_abort(port: int, paths: list[Path], calling_aet: str = SOURCE_AET, pause: float = 0.0) -> list[int]:
    """C-STORE the files on one association (``pause`` seconds apart) and abort it (nothing settles on release)."""
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title=calling_aet)
    classes = sorted({(str(m.MediaStorageSOPClassUID), str(m.TransferSyntaxUID)) for m in map(_meta, paths)})
    contexts = [build_context(sop_class, [syntax]) for sop_class, syntax in classes]
    assoc = ae.associate("127.0.0.1", port, contexts=contexts, ae_title=GATEWAY_AET)
    assert assoc.is_established
    set_tcp_nodelay(assoc)
    statuses = []
    for path in paths:
        statuses.append(int(assoc.send_c_store(path).get("Status", -1)))
        time.sleep(pause)
    assoc.abort()
    return statuses


def _meta(path: Path) -> Any:
    return pydicom.filereader.read_file_meta_info(path)


def sop_uids(paths: Iterable[Path]) -> set[str]:
    """The SOP Instance UIDs of DICOM files."""
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def out_files(out: Path) -> list[Path]:
    """The DICOM files in OUT (not the manifest)."""
    return sorted(out.rglob("*.dcm"))


def spool_files(spool: Path) -> list[Path]:
    """Every file in the spool (complete instances and temporaries)."""
    return sorted(p for p in spool.rglob("*") if p.is_file())


def storage_holds(orthanc: Orthanc, needles: Iterable[str]) -> set[str]:
    """Which of ``needles`` occur (case-insensitively) in any file of Orthanc's storage folder (index included)."""
    wanted = {n.lower().encode() for n in needles}
    found = set()
    for path in orthanc.storage_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            found |= {n.decode() for n in wanted if n in data}
    return found


def destination_uids(orthanc: Orthanc) -> list[str]:
    """The SOP Instance UID of every instance the Orthanc stores (a list: duplicates would show)."""
    return [orthanc.rest("GET", f"/instances/{i}/tags?simplify").json()["SOPInstanceUID"] for i in orthanc.instances()]


def destination(factory: OrthancFactory, aet: str = "RESEARCH", nagle: bool = False) -> Orthanc:
    """A destination Orthanc that accepts C-STORE from the gateway's AE title on loopback.

    ``nagle``: leave DCMTK's default (Nagle's algorithm on: about 20 instances/s).
    """
    environment = {} if nagle else {"TCP_NODELAY": "1"}
    return factory(aet, modalities=[Modality("gateway", GATEWAY_AET, 1)], environment=environment)


def wait_until(check: Callable[[], object], timeout: float = 120.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """``anonymizer serve`` as its own process with JSON events collected from stdout.

    ``args`` come after ``serve``; ``--listen``, ``--log-format json`` are added.
    """

    def __init__(self, tmp: Path, key: Path, *args: object, port: int = 0, settle: float = 1.0):
        self.tmp = tmp
        self.out, self.state, self.vault = tmp / "out", tmp / "state", tmp / "vault.db"
        self.args = [
            *("--listen", f"{GATEWAY_AET}@127.0.0.1:{port}", "--out", self.out, "--key-file", key),
            *("--vault", self.vault, "--state", self.state, "--settle", settle, "--log-format", "json"),
            *args,
        ]
        self.events: list[dict[str, Any]] = []
        self.stderr = ""
        command = [sys.executable, "-m", "anonymizer", "serve", *map(str, self.args)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = int(self.wait_for("listening")["port"])

    @property
    def spool(self) -> Path:
        return self.state / "spool"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self.events.append(json.loads(line))  # every stdout line is JSON: a bad one fails the test

    def _err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr += line

    def count(self, name: str, field: str | None = None) -> int:
        """How many events of this name (or the sum of their ``field``) arrived so far."""
        matching = [e for e in list(self.events) if e.get("event") == name]
        return sum(int(e.get(field, 0)) for e in matching) if field else len(matching)

    def wait_for(self, name: str, count: int = 1, field: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
        """Wait for ``count`` events named ``name`` (or that much of their ``field``); return the last one."""

        def seen() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers drain
                if self.count(name, field) < count:
                    raise AssertionError(f"serve exited {self.proc.returncode} before {name}: {self.stderr[-3000:]}")
            if self.count(name, field) >= count:
                return [e for e in list(self.events) if e.get("event") == name][-1]
            return None

        found: dict[str, Any] = wait_until(seen, timeout, f"{count} x {name}")
        return found

    def signal(self, number: int, timeout: float = 120.0) -> int:
        """Send a signal and wait for the exit code."""
        self.proc.send_signal(number)
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def kill9(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        for reader in self._readers:
            reader.join(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.signal(signal.SIGTERM, 60)
        if self.proc.poll() is None:
            self.kill9()


@contextlib.contextmanager
def serving(tmp: Path, key: Path, *args: object, **kwargs: Any) -> Iterator[Serve]:
    """A :class:`Serve` stopped (SIGTERM, then SIGKILL) when the block ends."""
    serve = Serve(tmp, key, *args, **kwargs)
    try:
        yield serve
    finally:
        serve.stop()


TRAILING_PADDING = 0xFFFCFFFC  # DCMTK (Orthanc) drops Data Set Trailing Padding


def dataset_differences(a: pydicom.Dataset, b: pydicom.Dataset) -> list[str]:
    """The elements two datasets disagree on, transfer syntax aside (values, not encodings).

    Pixel Data is compared byte for byte in the same transfer syntax, else decoded.
    """
    import numpy as np

    diffs = []
    same_syntax = a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID
    for tag in sorted(set(a.keys()) | set(b.keys())):
        if tag.group == 0x0002 or tag == TRAILING_PADDING:
            continue
        if tag not in a or tag not in b:
            diffs.append(f"{tag} present in one only")
        elif tag == 0x7FE00010 and not same_syntax:
            if not np.array_equal(a.pixel_array, b.pixel_array):
                diffs.append("PixelData (decoded)")
        elif a[tag].VR in ("OW", "OF", "OL", "OD", "OV") and not same_syntax:
            continue
        elif a[tag].value != b[tag].value:
            diffs.append(a[tag].keyword or str(tag))
    return diffs


def assert_destination_equals_out(orthanc: Orthanc, out: Path) -> None:
    """The destination holds each instance of OUT once, element for element, and nothing else."""
    import io

    files = out_files(out)
    uids = destination_uids(orthanc)
    assert len(uids) == len(set(uids)) == len(files)
    for path in files:
        ours = pydicom.dcmread(path)
        found = orthanc.find_instance(str(ours.SOPInstanceUID))
        assert found is not None, path
        theirs = pydicom.dcmread(io.BytesIO(orthanc.instance_dicom(found)))
        assert dataset_differences(ours, theirs) == [], path


def make_pki(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server and a client certificate it signed (EC P-256; localhost, 127.0.0.1)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def certificate(subject: str, key: Any, issuer: x509.Name, signer: Any, extra: list[Any]) -> x509.Certificate:
        builder = x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer).public_key(key.public_key())
        builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        builder = builder.not_valid_after(now + datetime.timedelta(days=1))
        for extension, critical in extra:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        "test CA", ca_key, name("test CA"), ca_key, [(x509.BasicConstraints(ca=True, path_length=0), True)]
    )
    paths = {"ca": folder / "ca.crt"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = certificate(role, key, ca.subject, ca_key, [(san, False), (x509.ExtendedKeyUsage([usage]), False)])
        paths[f"{role}-cert"], paths[f"{role}-key"] = folder / f"{role}.crt", folder / f"{role}.key"
        paths[f"{role}-cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        paths[f"{role}-key"].write_bytes(pem)
    return paths
