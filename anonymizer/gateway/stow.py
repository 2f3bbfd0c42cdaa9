"""STOW-RS sender (``dicomweb-client``); its own retries are off, so one policy governs every sender.

HTTP 408, 429, 500, 502, 503, 504 and connection errors may be retried, and so may a
``FailedSOPSequence`` entry with reason 0xA7xx; anything else is permanent.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from anonymizer.gateway.destination import DicomWebDestination
from anonymizer.gateway.outcome import Outcome

RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class StowSender:
    """Posts files to a DICOMweb root, ``batch`` instances per request.

    Parameters
    ----------
    destination : DicomWebDestination
        The DICOMweb root.
    session : requests.Session or None
        For authentication, TLS settings or proxies; by default a fresh one that ignores
        the environment's proxy variables.
    batch : int
        Instances per request.
    timeout : float
        Seconds per request.
    """

    def __init__(
        self,
        destination: DicomWebDestination,
        session: requests.Session | None = None,
        batch: int = 20,
        timeout: float = 60.0,
    ):
        if session is None:
            session = requests.Session()
            session.trust_env = False
        self.client = DICOMwebClient(url=destination.url, session=session, timeout=timeout)
        self.client.set_http_retry_params(retry=False)
        self.batch = batch

    def send(self, paths: Sequence[Path]) -> list[Outcome]:
        """Attempt each file once."""
        outcomes: list[Outcome] = []
        for start in range(0, len(paths), self.batch):
            outcomes.extend(self._send_batch([Path(p) for p in paths[start : start + self.batch]]))
        return outcomes

    def _send_batch(self, paths: list[Path]) -> list[Outcome]:
        datasets: list[Dataset] = []
        readable: list[Path] = []
        outcomes: dict[Path, Outcome] = {}
        for path in paths:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pydicom's warnings quote values
                    datasets.append(pydicom.dcmread(path))
                readable.append(path)
            except Exception as exc:  # a missing or unreadable file: this file only
                outcomes[path] = Outcome(path, False, False, f"unreadable ({type(exc).__name__})")
        if datasets:
            outcomes.update(self._post(readable, datasets))
        return [outcomes[p] for p in paths]

    def _post(self, paths: list[Path], datasets: list[Dataset]) -> dict[Path, Outcome]:
        uids = [str(ds.SOPInstanceUID) for ds in datasets]
        answer: Dataset | None
        http = 200
        try:
            answer = self.client.store_instances(datasets)
        except requests.HTTPError as exc:
            http = exc.response.status_code if exc.response is not None else 0
            answer = _stow_body(exc.response)
            if answer is None:
                return {p: Outcome(p, False, http in RETRYABLE_HTTP, f"HTTP {http}") for p in paths}
        except (requests.ConnectionError, requests.Timeout) as exc:
            return {p: Outcome(p, False, True, f"HTTP failed ({type(exc).__name__})") for p in paths}
        stored = {str(item.ReferencedSOPInstanceUID) for item in answer.get("ReferencedSOPSequence", [])}
        failed = {
            str(item.ReferencedSOPInstanceUID): int(item.get("FailureReason", 0x0110))
            for item in answer.get("FailedSOPSequence", [])
        }
        result = {}
        for path, uid in zip(paths, uids, strict=True):
            if uid in failed:
                retry = 0xA700 <= failed[uid] <= 0xA7FF or http in RETRYABLE_HTTP
                result[path] = Outcome(path, False, retry, f"failure reason 0x{failed[uid]:04X}")
            elif uid in stored:
                result[path] = Outcome(path, True)
            else:
                result[path] = Outcome(path, False, True, "not in the STOW-RS answer")
        return result


def _stow_body(response: requests.Response | None) -> Dataset | None:
    """A STOW-RS error answer that still lists instances (409, for example), if it does."""
    if response is None or not response.content:
        return None
    try:
        ds = Dataset.from_json(response.json())
    except (ValueError, TypeError, KeyError):
        return None
    return ds if "FailedSOPSequence" in ds or "ReferencedSOPSequence" in ds else None
