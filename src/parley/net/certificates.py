"""The web server's TLS certificate: the admin's own, or one generated for a trial.

Browsers give a page the microphone only in a secure context, so operators who are not on the
node's own machine need HTTPS (and the browser phone WSS). A site gives its certificate and
key (``https_certificate``, ``https_private_key``); without them :func:`ensure_certificate`
makes a self-signed one at first start in ``<data_dir>/tls/`` (kept for later starts, so that
browsers that trusted it keep trusting it) and the node prints its SHA-256 fingerprint, which
docs/deployment.md explains how to check and trust.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRIAL_DAYS = 825  # the longest validity browsers accept for a certificate


class CertificateError(ValueError):
    """A certificate or key file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class ServerCertificate:
    """The files the web server loads, and the fingerprint people compare."""

    certificate: Path
    private_key: Path
    fingerprint: str  # SHA-256, colon-separated hex, as browsers show it
    generated: bool  # made by Parley for a trial (self-signed)


def fingerprint(certificate: x509.Certificate) -> str:
    digest = certificate.fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def load_certificate(certificate: Path, private_key: Path) -> ServerCertificate:
    """Check that the admin's files are a PEM certificate and its key."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{certificate}: not a readable PEM certificate ({exc})") \
            from exc
    try:
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"{private_key}: not a readable PEM private key without a "
                               f"passphrase ({exc})") from exc
    public = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo) != public:
        raise CertificateError(f"{private_key}: this key does not belong to {certificate}")
    return ServerCertificate(certificate, private_key, fingerprint(cert), generated=False)


def ensure_certificate(folder: Path, names: list[str], *,
                       now: dt.datetime | None = None) -> ServerCertificate:
    """The trial certificate in ``folder`` (made at first start for ``names``: host names
    and addresses the node is reached at)."""
    cert_path, key_path = folder / "parley.crt", folder / "parley.key"
    if cert_path.is_file() and key_path.is_file():
        loaded = load_certificate(cert_path, key_path)
        return ServerCertificate(cert_path, key_path, loaded.fingerprint, generated=True)
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or dt.datetime.now(dt.UTC)
    alternative: list[x509.GeneralName] = []
    for name in dict.fromkeys([*names, "localhost", "127.0.0.1"]):
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names
                                            else "localhost"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Parley trial")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=TRIAL_DAYS))
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ServerCertificate(cert_path, key_path, fingerprint(cert), generated=True)
