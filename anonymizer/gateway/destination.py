"""Delivery destinations written as URLs.

* ``dicom://AET@HOST:PORT``: DIMSE C-STORE to the called AE title ``AET`` (port 104
  if omitted).
* ``dicoms://AET@HOST:PORT``: the same over DICOM TLS (port 2762 if omitted).
* ``dicomweb+http://HOST[:PORT]/PATH`` and ``dicomweb+https://...``: STOW-RS to the
  DICOMweb root ``http(s)://HOST[:PORT]/PATH`` (STOW posts to ``<root>/studies``).

Credentials in the URL are refused: they would end up in logs and configuration
files; pass them to the sender separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from anonymizer.errors import GatewayError


@dataclass(frozen=True)
class DimseDestination:
    """A C-STORE SCP.

    Parameters
    ----------
    called_aet : str
        The peer's AE title.
    host : str
        Address or name.
    port : int
        DICOM port.
    tls : bool
        DICOM over TLS.
    """

    called_aet: str
    host: str
    port: int
    tls: bool = False


@dataclass(frozen=True)
class DicomWebDestination:
    """A STOW-RS service.

    Parameters
    ----------
    url : str
        DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web``.
    """

    url: str


Destination = DimseDestination | DicomWebDestination


def valid_aet(aet: str) -> bool:
    """Whether ``aet`` is a usable AE title: 1-16 printable ASCII characters, no backslash, not blank."""
    return 0 < len(aet) <= 16 and aet.strip() != "" and all(" " <= c <= "~" and c != "\\" for c in aet)


def parse_destination(text: str) -> Destination:
    """Parse a destination URL (see module docstring).

    Parameters
    ----------
    text : str
        The URL.

    Returns
    -------
    DimseDestination or DicomWebDestination
        The parsed destination.

    Raises
    ------
    GatewayError
        On an unknown scheme, a missing host or AE title, a bad port, or credentials.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise GatewayError("bad destination URL (its port is not a number from 0 to 65535)") from None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not host:
        raise GatewayError("destination URL has no host")
    if scheme in ("dicom", "dicoms"):
        aet = parts.username or ""
        if parts.password is not None:
            raise GatewayError("dicom:// URLs take AET@HOST:PORT, not credentials")
        if not valid_aet(aet):
            raise GatewayError("dicom:// URL needs a called AE title of 1-16 characters: dicom://AET@HOST:PORT")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise GatewayError("dicom:// URL takes no path, query or fragment")
        tls = scheme == "dicoms"
        return DimseDestination(aet, host, port if port is not None else (2762 if tls else 104), tls)
    if scheme in ("dicomweb+http", "dicomweb+https"):
        if parts.username is not None or parts.password is not None:
            raise GatewayError("credentials in a dicomweb URL are not accepted; pass them to the sender")
        if parts.query or parts.fragment:
            raise GatewayError("dicomweb URL takes no query or fragment")
        http = scheme.split("+", 1)[1]
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        return DicomWebDestination(f"{http}://{netloc}{parts.path.rstrip('/')}")
    raise GatewayError(f"unknown destination scheme {parts.scheme!r}: use dicom://, dicoms://, dicomweb+http(s)://")


@dataclass(frozen=True)
class Listen:
    """Where the gateway listens: its AE title, address and port (0: any free port)."""

    aet: str
    host: str
    port: int


def parse_listen(text: str) -> Listen:
    """Parse ``AET@HOST:PORT`` (``AET@PORT`` or ``AET@:PORT``: loopback, 127.0.0.1).

    Raises
    ------
    GatewayError
        A missing or invalid AE title, or a port that is not a number from 0 to 65535.
    """
    aet, at, address = text.rpartition("@")
    host, _, port_text = address.rpartition(":")
    if not at or not valid_aet(aet):
        raise GatewayError("--listen needs AET@HOST:PORT with an AE title of 1-16 characters")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise GatewayError("--listen needs AET@HOST:PORT with a port from 0 to 65535")
    return Listen(aet, host.strip("[]") or "127.0.0.1", int(port_text))
