"""Real Orthanc servers on loopback for the gateway tests: start, drive over REST, stop.

From the gateway prototype (``/work/proto/gateway/orthanc.py``, measured there).

Each :class:`Orthanc` gets its own temporary JSON configuration, HTTP port, DICOM
port, storage folder and log file, loads the DICOMweb plugin, has no authentication
and knows a fixed list of DICOM modalities (AET, host, port) it may C-STORE to.

Orthanc 1.10 has no option to choose the address its listeners bind to: both the
HTTP and the DICOM port listen on ``0.0.0.0``. The configuration limits who is
served instead: ``RemoteAccessAllowed: false`` makes the HTTP server answer only
loopback clients, and (unless ``accept_any_caller=True``) the DICOM server only
accepts C-ECHO and C-STORE from the configured modalities, at their configured host
(``DicomCheckModalityHost``), which here is always ``127.0.0.1``.

Examples
--------
>>> with Orthanc(tmp_path / "dest", aet="DEST") as dest:  # doctest: +SKIP
...     dest.upload(Path("CT_small.dcm"))
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
"""Debian's ``orthanc`` package installs the server here."""

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
"""Debian's ``orthanc-dicomweb`` package (a symlink to ``/usr/lib/orthanc/libOrthancDicomWeb.so.1.7``)."""

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free right now on ``host``.

    Parameters
    ----------
    host : str
        Address to probe (bind to port 0 and read back what the kernel chose).

    Returns
    -------
    int
        The port number. Another process may take it before the caller binds it;
        :meth:`Orthanc.start` retries with new ports when startup fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Modality:
    """A DICOM peer Orthanc knows by name.

    Parameters
    ----------
    name : str
        Orthanc's symbolic name (used in ``/modalities/<name>/store``).
    aet : str
        The peer's AE title.
    port : int
        The peer's DICOM port.
    host : str
        The peer's address; loopback only in tests.
    use_tls : bool
        Whether Orthanc uses DICOM TLS when it connects to this peer.
    """

    name: str
    aet: str
    port: int
    host: str = LOOPBACK
    use_tls: bool = False

    def to_config(self) -> dict[str, Any]:
        """Return the ``DicomModalities`` entry for this peer."""
        entry: dict[str, Any] = {"AET": self.aet, "Host": self.host, "Port": self.port}
        if self.use_tls:
            entry["UseDicomTls"] = True
        return entry


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when the test process dies (``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


@dataclass
class Orthanc:
    """One Orthanc process with its own temporary configuration and storage.

    Parameters
    ----------
    workdir : Path
        Folder for the configuration, storage (``db/``) and log; created if missing.
    aet : str
        Orthanc's own AE title (``DicomAet``), also used as calling AET when it C-STOREs.
    modalities : Sequence[Modality]
        Peers Orthanc may C-STORE to and, unless ``accept_any_caller``, the only
        callers it accepts C-STORE/C-ECHO from.
    overwrite_instances : bool
        Orthanc's ``OverwriteInstances``: replace a stored instance when the same
        SOP instance arrives again (default Orthanc behaviour is to keep the first).
    accepted_transfer_syntaxes : Sequence[str] or None
        Orthanc's ``AcceptedTransferSyntaxes`` for its SCP (default: Orthanc's own,
        ``1.2.840.10008.1.*``, i.e. everything).
    accept_any_caller : bool
        Orthanc's ``DicomAlwaysAllowStore``/``DicomAlwaysAllowEcho``.
    extra : Mapping[str, Any]
        Further configuration keys, applied last.
    environment : Mapping[str, str]
        Extra environment variables for the process, e.g. ``{"TCP_NODELAY": "1"}``
        (DCMTK, Orthanc's DICOM library, reads it to disable Nagle's algorithm).
    http_port, dicom_port : int or None
        Fixed ports (e.g. to restart on the same ports); free ones are chosen if None.
    binary, plugin : Path
        The Orthanc executable and DICOMweb plugin.
    """

    workdir: Path
    aet: str = "ORTHANC"
    modalities: Sequence[Modality] = ()
    overwrite_instances: bool = False
    accepted_transfer_syntaxes: Sequence[str] | None = None
    accept_any_caller: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    http_port: int | None = None
    dicom_port: int | None = None
    binary: Path = ORTHANC_BINARY
    plugin: Path = DICOMWEB_PLUGIN
    startup_seconds: float | None = field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._session.trust_env = False  # never route loopback calls through a proxy from the environment

    # ---------------------------------------------------------------- paths and URLs
    @property
    def storage_dir(self) -> Path:
        """Orthanc's ``StorageDirectory`` (and ``IndexDirectory``: SQLite ``index``)."""
        return self.workdir / "db"

    @property
    def config_path(self) -> Path:
        """The JSON configuration file passed to Orthanc."""
        return self.workdir / "orthanc.json"

    @property
    def log_path(self) -> Path:
        """Orthanc's stdout and stderr."""
        return self.workdir / "orthanc.log"

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """DICOMweb root (QIDO/WADO/STOW) of the plugin."""
        return f"{self.url}/dicom-web"

    @property
    def running(self) -> bool:
        """Whether the Orthanc process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._process.pid if self._process is not None else None

    # ---------------------------------------------------------------- configuration
    def config(self) -> dict[str, Any]:
        """Return the configuration this server starts with (ports must be set)."""
        storage = str(self.storage_dir)
        cfg: dict[str, Any] = {
            "Name": f"test-{self.aet}",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": False,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "SslEnabled": False,
            "HttpThreadsCount": 8,
            "WebDavEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": self.accept_any_caller,
            "DicomAlwaysAllowStore": self.accept_any_caller,
            "DicomCheckModalityHost": True,
            "DicomThreadsCount": 2,
            "DicomScuTimeout": 10,
            "DicomAssociationCloseDelay": 0,
            "DicomModalities": {m.name: m.to_config() for m in self.modalities},
            "DicomModalitiesInDatabase": False,
            "OrthancPeers": {},
            "HttpProxy": "",
            "OverwriteInstances": self.overwrite_instances,
            "SaveJobs": False,
            "ConcurrentJobs": 1,
            "JobsHistorySize": 50,
            "LuaScripts": [],
            "Plugins": [str(self.plugin)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Host": LOOPBACK, "Ssl": False},
            "DeidentifyLogs": True,
        }
        if self.accepted_transfer_syntaxes is not None:
            cfg["AcceptedTransferSyntaxes"] = list(self.accepted_transfer_syntaxes)
        cfg.update(self.extra)
        return cfg

    # ---------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 30.0, attempts: int = 3) -> Orthanc:
        """Write the configuration, start Orthanc and wait until HTTP and DICOM answer.

        Parameters
        ----------
        timeout : float
            Seconds to wait for readiness on each attempt.
        attempts : int
            Tries with fresh ports when Orthanc exits during startup (a port taken
            between :func:`free_port` and Orthanc's bind). Fixed ports are not changed.

        Returns
        -------
        Orthanc
            ``self``, started.

        Raises
        ------
        RuntimeError
            When Orthanc exits or does not answer in time; the message holds the
            log's last lines.
        """
        if self.running:
            return self
        fixed = self.http_port is not None and self.dicom_port is not None
        error = ""
        for _ in range(attempts):
            if not fixed:
                self.http_port, self.dicom_port = free_port(), free_port()
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            self.config_path.write_text(json.dumps(self.config(), indent=2))
            began = time.monotonic()
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [str(self.binary), str(self.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    env={**os.environ, **self.environment},
                    preexec_fn=_die_with_parent,
                )
            try:
                self._wait_ready(timeout)
            except RuntimeError as exc:
                error = str(exc)
                self.kill()
                if fixed:
                    break
                continue
            self.startup_seconds = time.monotonic() - began
            return self
        raise RuntimeError(f"Orthanc did not start: {error}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"exited early; log tail:\n{self.log_tail()}")
            try:
                ok = self._session.get(f"{self.url}/system", timeout=1).ok
                with socket.create_connection((LOOPBACK, int(self.dicom_port or 0)), timeout=1):
                    pass
            except (requests.ConnectionError, requests.Timeout, OSError):
                ok = False
            if ok:
                return
            time.sleep(0.02)
        raise RuntimeError(f"not ready after {timeout}s; log tail:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop Orthanc with SIGTERM (SIGKILL after ``timeout``); return its exit code."""
        proc = self._process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._process = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL Orthanc at once (simulates a crash)."""
        proc = self._process
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self._process = None

    def restart(self, timeout: float = 30.0) -> Orthanc:
        """Stop and start again on the same ports with the same storage."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of Orthanc's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ---------------------------------------------------------------- REST helpers
    def rest(self, method: str, path: str, timeout: float = 60.0, **kwargs: Any) -> requests.Response:
        """Call the REST API and raise on HTTP errors (with Orthanc's error body)."""
        response = self._session.request(method, f"{self.url}{path}", timeout=timeout, **kwargs)
        if not response.ok:
            raise OrthancError(response.status_code, response.text)
        return response

    def upload(self, dicom: Path | bytes) -> dict[str, Any]:
        """``POST /instances`` one DICOM file; return Orthanc's answer (``ID``, ``Status``...).

        ``Status`` is ``Success`` for a new instance and ``AlreadyStored`` for a
        duplicate (SOP Instance UID already present).
        """
        data = dicom if isinstance(dicom, bytes) else Path(dicom).read_bytes()
        answer: dict[str, Any] = self.rest(
            "POST", "/instances", data=data, headers={"Content-Type": "application/dicom"}
        ).json()
        return answer

    def upload_many(self, paths: Sequence[Path]) -> list[str]:
        """Upload each file; return the Orthanc instance ids in the same order."""
        return [str(self.upload(p)["ID"]) for p in paths]

    def add_modality(self, modality: Modality) -> None:
        """Declare a peer at run time (``PUT /modalities/<name>``; kept in memory only)."""
        self.rest("PUT", f"/modalities/{modality.name}", json=modality.to_config())

    def store_to_modality(
        self,
        name: str,
        resources: Sequence[str],
        synchronous: bool = True,
        timeout: float = 300.0,
        permissive: bool = False,
    ) -> dict[str, Any]:
        """Make Orthanc C-STORE resources to a configured modality.

        Parameters
        ----------
        name : str
            The modality's symbolic name.
        resources : Sequence[str]
            Orthanc ids of instances, series, studies or patients.
        synchronous : bool
            If True, wait for the job and return its summary; otherwise return
            ``{"ID": job_id, "Path": ...}`` at once.
        timeout : float
            HTTP timeout for the synchronous call.
        permissive : bool
            Orthanc's ``Permissive``: go on after a failed instance (counted in
            ``FailedInstancesCount``) instead of failing the job at the first one.

        Returns
        -------
        dict
            Orthanc's answer.

        Raises
        ------
        OrthancError
            On HTTP errors, e.g. when the association is refused or a store fails.
        """
        body = {"Resources": list(resources), "Synchronous": synchronous, "Permissive": permissive}
        answer: dict[str, Any] = self.rest("POST", f"/modalities/{name}/store", json=body, timeout=timeout).json()
        return answer

    def job(self, job_id: str) -> dict[str, Any]:
        """Return ``GET /jobs/<id>``."""
        answer: dict[str, Any] = self.rest("GET", f"/jobs/{job_id}").json()
        return answer

    def wait_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll a job until it is ``Success`` or ``Failure``; return its last state."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if info.get("State") in ("Success", "Failure") or time.monotonic() > deadline:
                return info
            time.sleep(0.05)

    def instances(self) -> list[str]:
        """Return the Orthanc ids of all stored instances."""
        answer: list[str] = self.rest("GET", "/instances").json()
        return answer

    def instance_dicom(self, instance_id: str) -> bytes:
        """Download an instance's DICOM file as stored (``GET /instances/<id>/file``)."""
        return self.rest("GET", f"/instances/{instance_id}/file").content

    def instance_metadata(self, instance_id: str) -> dict[str, str]:
        """Return Orthanc's metadata of an instance (TransferSyntax, RemoteAET, Origin...)."""
        answer: dict[str, str] = self.rest("GET", f"/instances/{instance_id}/metadata?expand").json()
        return answer

    def find_instance(self, sop_instance_uid: str) -> str | None:
        """Return the Orthanc id of the instance with this SOP Instance UID, if stored."""
        hits = self.rest("POST", "/tools/lookup", data=sop_instance_uid).json()
        for hit in hits:
            if hit.get("Type") == "Instance":
                return str(hit["ID"])
        return None

    def storage_files(self, instance_id: str) -> dict[str, Path]:
        """Return the on-disk file of each attachment of an instance.

        Orthanc's filesystem storage keeps attachment ``<uuid>`` at
        ``StorageDirectory/<uuid[0:2]>/<uuid[2:4]>/<uuid>``; the ``dicom``
        attachment is the file as received.
        """
        names: list[str] = self.rest("GET", f"/instances/{instance_id}/attachments").json()
        files = {}
        for name in names:
            info = self.rest("GET", f"/instances/{instance_id}/attachments/{name}/info").json()
            uuid = str(info["Uuid"])
            files[name] = self.storage_dir / uuid[0:2] / uuid[2:4] / uuid
        return files

    def delete_all(self) -> int:
        """Delete every patient (and so every instance); return how many instances went."""
        count = len(self.instances())
        for patient in self.rest("GET", "/patients").json():
            self.rest("DELETE", f"/patients/{patient}")
        return count


class OrthancError(RuntimeError):
    """An HTTP error answer from Orthanc's REST API.

    Parameters
    ----------
    status : int
        HTTP status code.
    body : str
        Orthanc's answer (JSON with ``Message``, ``OrthancError``, ``Details`` when
        ``HttpDescribeErrors`` is on, its default).
    """

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body

    def details(self) -> dict[str, Any]:
        """Return the JSON error answer, or ``{}`` if it is not JSON."""
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


class OrthancFactory:
    """Starts Orthanc servers under one folder and stops them all at the end.

    Parameters
    ----------
    root : Path
        Folder in which each server gets a subfolder named after its AET.
    """

    def __init__(self, root: Path):
        self.root = root
        self.servers: list[Orthanc] = []

    def __call__(self, aet: str = "ORTHANC", start: bool = True, **kwargs: Any) -> Orthanc:
        """Create (and unless ``start`` is False, start) a server; keyword arguments go to :class:`Orthanc`."""
        server = Orthanc(self.root / f"{aet}-{len(self.servers)}", aet=aet, **kwargs)
        self.servers.append(server)
        return server.start() if start else server

    def close(self) -> None:
        """Stop every server (also after a failed test); SIGTERM all first, since each takes ~3.5 s."""
        for server in self.servers:
            if server.running and server._process is not None:
                server._process.terminate()
        for server in self.servers:
            server.stop()

    def logs(self) -> str:
        """Return the log tail of every server, for failure reports."""
        return "\n".join(f"--- {s.aet} ({s.workdir}) ---\n{s.log_tail()}" for s in self.servers)
