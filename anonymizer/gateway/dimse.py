"""C-STORE SCU: each file goes as stored when the peer accepts its transfer syntax.

For each SOP class, one presentation context per transfer syntax the files have (sent
byte for byte, without decoding: pynetdicom's ``STORE_SEND_CHUNKED_DATASET``, a
process-wide switch) plus one fallback context (Explicit, then Implicit VR Little
Endian). When the peer refuses a file's own syntax, the file is converted to the
accepted uncompressed one only when that is lossless (:data:`LOSSLESS`); a lossy file
then fails permanently rather than being decoded. A rejected association (calling AE
not recognised) is permanent; a connection failure, an abort, no response, or status
0xA7xx / 0x0210 may be retried; other statuses are permanent.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, _config, build_context
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from anonymizer.dicom.reader import read_meta
from anonymizer.errors import GatewayError
from anonymizer.gateway.destination import DimseDestination
from anonymizer.gateway.outcome import Outcome
from anonymizer.gateway.wire import reserve_responses_for_caller, set_tcp_nodelay, wake_on_connection_loss

LOSSLESS: frozenset[str] = frozenset(
    {
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEG2000Lossless,
        RLELossless,
        HTJ2KLossless,
        HTJ2KLosslessRPCL,
    }
)
"""Transfer syntaxes a file may be converted from, to Explicit VR Little Endian,
without losing anything. JPEG baseline/extended, JPEG-LS near-lossless, JPEG 2000
(4.91, which may or may not be reversible) and HTJ2K (4.203) are not in it."""

FALLBACK_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
MAX_CONTEXTS = 128  # PS3.8: presentation context ids are odd numbers 1..255
WARNING_STATUSES = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


class LossyConversionError(ValueError):
    """Converting the file would need lossy decompression."""


def dimse_outcome(path: Path, status: int, converted: bool) -> Outcome:
    """Classify a C-STORE response status.

    Success and warnings are delivered; ``0xA7xx`` (out of resources) and ``0x0210``
    (duplicate invocation) are retryable; everything else is permanent.
    """
    if status == 0x0000 or status in WARNING_STATUSES:
        return Outcome(path, True, converted=converted)
    retryable = 0xA700 <= status <= 0xA7FF or status == 0x0210
    return Outcome(path, False, retryable, f"status 0x{status:04X}", converted)


def to_uncompressed(path: Path) -> Dataset:
    """Read a file and convert it to Explicit VR Little Endian, losslessly.

    Parameters
    ----------
    path : Path
        A DICOM file in one of the :data:`LOSSLESS` transfer syntaxes.

    Returns
    -------
    Dataset
        With ``file_meta.TransferSyntaxUID`` Explicit VR Little Endian; pixel data
        decompressed (colour space kept as decoded: no YBR to RGB step), big endian
        values of OW/OF/OL/OD/OV elements byte-swapped. The SOP Instance UID is kept.

    Raises
    ------
    LossyConversionError
        When the transfer syntax is not in :data:`LOSSLESS`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings quote values
        ds = pydicom.dcmread(path)
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax not in LOSSLESS:
        raise LossyConversionError(f"{syntax} is lossy or not known to be lossless")
    if syntax.is_compressed:
        # pydicom 3 gives the instance a new SOP Instance UID by default; a lossless change of
        # transfer syntax is the same instance (and a new UID would break idempotent re-sends).
        ds.decompress(as_rgb=False, generate_instance_uid=False)
    elif syntax == ExplicitVRBigEndian:
        _big_to_little(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True, ds.original_character_set)
    return ds


def _big_to_little(ds: Dataset) -> None:
    """Swap the bytes of the OW/OF/OL/OD/OV values of a dataset read from big endian (in place).

    Values with a numeric VR (US, SS, UL, FL, FD, AT...) are decoded by pydicom and
    re-encoded in the new byte order by the writer; the ``O*`` VRs stay raw bytes
    and must be swapped by hand (pydicom leaves this to the caller). UN values
    cannot be interpreted and are left as they are.
    """
    for elem in list(ds.iterall()):  # iterating converts raw elements with the original encoding
        width = _SWAP_WIDTH.get(str(elem.VR))
        if width is None or not isinstance(elem.value, bytes | bytearray) or len(elem.value) % width:
            continue
        raw = bytearray(elem.value)
        for offset in range(width):
            raw[offset::width] = elem.value[width - 1 - offset :: width]
        elem.value = bytes(raw)


@dataclass
class _File:
    path: Path
    sop_class: str = ""
    syntax: str = ""
    error: str = ""


def _read_meta(path: Path) -> _File:
    try:
        meta = read_meta(path)
        item = _File(path, str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
    except Exception as exc:  # missing file, no DICM, missing elements
        return _File(path, error=f"unreadable file meta ({type(exc).__name__})")
    if not item.sop_class or not item.syntax:
        item.error = "file meta lacks SOP class or transfer syntax"
    return item


def _contexts_for(item: _File) -> set[tuple[str, tuple[str, ...]]]:
    return {(item.sop_class, (item.syntax,)), (item.sop_class, FALLBACK_SYNTAXES)}


def plan_associations(items: Sequence[_File]) -> list[list[_File]]:
    """Split files into groups whose presentation contexts fit one association (<= 128)."""
    groups: list[list[_File]] = []
    group: list[_File] = []
    contexts: set[tuple[str, tuple[str, ...]]] = set()
    for item in items:
        needed = contexts | _contexts_for(item)
        if group and len(needed) > MAX_CONTEXTS:
            groups.append(group)
            group, needed = [], _contexts_for(item)
        group.append(item)
        contexts = needed
    if group:
        groups.append(group)
    return groups


class DimseSender:
    """C-STORE SCU that keeps each file's transfer syntax when the peer accepts it.

    Parameters
    ----------
    destination : DimseDestination
        The peer.
    calling_aet : str
        Our AE title.
    ssl_context : ssl.SSLContext or None
        Client TLS context, required when ``destination.tls``.
    connect_timeout, acse_timeout, dimse_timeout, network_timeout : float
        pynetdicom timeouts (TCP connect, association negotiation, per response, idle).
    maximum_pdu_size : int
        Our maximum receive PDU (pynetdicom default 16382).
    tcp_nodelay : bool
        Disable Nagle's algorithm once associated (see :func:`anonymizer.gateway.wire.set_tcp_nodelay`).

    Notes
    -----
    Files go on the wire as stored (pynetdicom's ``STORE_SEND_CHUNKED_DATASET`` mode,
    a process-wide switch this class turns on): no decode and re-encode, and no full
    copy in memory.
    """

    def __init__(
        self,
        destination: DimseDestination,
        calling_aet: str = "GATEWAY",
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        acse_timeout: float = 30.0,
        dimse_timeout: float = 60.0,
        network_timeout: float = 60.0,
        maximum_pdu_size: int = 16382,
        tcp_nodelay: bool = True,
    ):
        if destination.tls and ssl_context is None:
            raise GatewayError("a dicoms:// destination needs TLS settings (--tls-ca)")
        self.destination = destination
        self.ssl_context = ssl_context
        self.tcp_nodelay = tcp_nodelay
        self.ae = AE(ae_title=calling_aet)
        self.ae.connection_timeout = connect_timeout
        self.ae.acse_timeout = acse_timeout
        self.ae.dimse_timeout = dimse_timeout
        self.ae.network_timeout = network_timeout
        self.ae.maximum_pdu_size = maximum_pdu_size
        _config.STORE_SEND_CHUNKED_DATASET = True

    def send(self, paths: Sequence[Path]) -> list[Outcome]:
        """Attempt each file once over as few associations as possible."""
        items = [_read_meta(Path(p)) for p in paths]
        results: dict[int, Outcome] = {}
        good = []
        for index, item in enumerate(items):
            if item.error:
                results[index] = Outcome(item.path, False, False, detail=item.error)
            else:
                good.append((index, item))
        position = {id(item): index for index, item in good}
        for group in plan_associations([item for _, item in good]):
            for item, outcome in zip(group, self._send_group(group), strict=True):
                results[position[id(item)]] = outcome
        return [results[i] for i in range(len(items))]

    def _associate(self, contexts: list[PresentationContext]) -> Association:
        dest = self.destination
        tls_args = (self.ssl_context, dest.host) if dest.tls and self.ssl_context is not None else None
        assoc = self.ae.associate(dest.host, dest.port, contexts=contexts, ae_title=dest.called_aet, tls_args=tls_args)
        if assoc.is_established:
            reserve_responses_for_caller(assoc)
            if self.tcp_nodelay:
                set_tcp_nodelay(assoc)
        return assoc

    def _send_group(self, group: list[_File]) -> list[Outcome]:
        wanted = sorted(set().union(*(_contexts_for(item) for item in group)))
        contexts = [build_context(sop_class, list(syntaxes)) for sop_class, syntaxes in wanted]
        try:
            assoc = self._associate(contexts)
        except (OSError, RuntimeError) as exc:  # TLS handshake errors, socket errors raised by pynetdicom
            return [Outcome(i.path, False, True, detail=f"connect failed ({type(exc).__name__})") for i in group]
        if not assoc.is_established:
            return [self._not_established(assoc, i.path) for i in group]
        outcomes = []
        try:
            with wake_on_connection_loss(assoc):
                for message_id, item in enumerate(group, start=1):
                    if not assoc.is_established:
                        outcomes.append(Outcome(item.path, False, True, detail="association lost"))
                        continue
                    try:
                        outcomes.append(self._send_one(assoc, item, message_id % 65536))
                    except Exception as exc:  # e.g. the file vanished or is unreadable: this file only
                        outcomes.append(Outcome(item.path, False, False, detail=f"send failed ({type(exc).__name__})"))
        finally:
            if assoc.is_established:
                assoc.release()
        return outcomes

    @staticmethod
    def _not_established(assoc: Association, path: Path) -> Outcome:
        if assoc.is_rejected:
            primitive = assoc.acceptor.primitive
            result = getattr(primitive, "result", None)
            reason = f"rejected ({getattr(primitive, 'result_str', '?')}: {getattr(primitive, 'reason_str', '?')})"
            return Outcome(path, False, result == 0x02, detail=reason)
        if assoc.rejected_contexts and not assoc.accepted_contexts:
            return Outcome(path, False, False, detail="peer accepted no presentation context")
        return Outcome(path, False, True, detail="association aborted or peer unreachable")

    def _send_one(self, assoc: Association, item: _File, message_id: int) -> Outcome:
        accepted = {
            str(cx.transfer_syntax[0])
            for cx in assoc.accepted_contexts
            if cx.abstract_syntax == item.sop_class and cx.as_scu
        }
        if not accepted:
            return Outcome(item.path, False, False, detail="peer accepted no context for this SOP class")
        if item.syntax in accepted:
            status = assoc.send_c_store(item.path, msg_id=message_id)
            return self._classify(item, status, False)
        target = next((s for s in FALLBACK_SYNTAXES if s in accepted), None)
        if target is None:
            return Outcome(item.path, False, False, detail="peer refused the file's and the fallback transfer syntaxes")
        try:
            ds = to_uncompressed(item.path)
        except LossyConversionError as exc:
            return Outcome(item.path, False, False, detail=f"peer refused {item.syntax}; not decoding ({exc})")
        except Exception as exc:  # no decoder plugin, corrupt pixel data
            return Outcome(item.path, False, False, detail=f"conversion failed ({type(exc).__name__})")
        status = assoc.send_c_store(ds, msg_id=message_id)
        return self._classify(item, status, True)

    @staticmethod
    def _classify(item: _File, status: Dataset, converted: bool) -> Outcome:
        if "Status" not in status:  # timeout, abort or invalid response
            return Outcome(item.path, False, True, "no response (abort or timeout)", converted)
        return dimse_outcome(item.path, int(status.Status), converted)
