"""TLS contexts for DICOM over TLS (pynetdicom's ``ssl_context`` and ``tls_args``), standard library only."""

from __future__ import annotations

import ssl
from pathlib import Path

from anonymizer.errors import GatewayError


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 at least); with ``client_ca``, clients must show a certificate it signed.

    Raises
    ------
    GatewayError
        A certificate, key or CA file that cannot be read or does not match.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
    except (OSError, ssl.SSLError):
        raise GatewayError("the TLS certificate, key or CA file cannot be used") from None
    return context


def client_context(ca: Path | None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS client context verifying the server against ``ca`` (the system's CAs when None).

    Raises
    ------
    GatewayError
        A certificate, key or CA file that cannot be read or does not match.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=None if ca is None else str(ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError):
        raise GatewayError("the TLS certificate, key or CA file cannot be used") from None
    return context
