"""The HTTPS certificate: a trial one made once and kept, the admin's checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from parley.net.certificates import CertificateError, ensure_certificate, load_certificate


def test_a_trial_certificate_is_made_once_for_the_node_names(tmp_path: Path) -> None:
    made = ensure_certificate(tmp_path / "tls", ["pbx.example.org", "192.0.2.7"])
    assert made.generated
    assert (made.private_key.stat().st_mode & 0o777) == 0o600
    cert = x509.load_pem_x509_certificate(made.certificate.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pbx.example.org", "localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7",
                                                                           "127.0.0.1"]
    assert len(made.fingerprint.split(":")) == 32
    again = ensure_certificate(tmp_path / "tls", ["other.example.org"])
    assert again.fingerprint == made.fingerprint  # kept: browsers that trusted it still do


def test_the_admins_files_are_checked_and_named_when_wrong(tmp_path: Path) -> None:
    one = ensure_certificate(tmp_path / "one", ["a.example"])
    two = ensure_certificate(tmp_path / "two", ["b.example"])
    assert load_certificate(one.certificate, one.private_key).fingerprint == one.fingerprint
    with pytest.raises(CertificateError, match="does not belong"):
        load_certificate(one.certificate, two.private_key)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(CertificateError, match=r"junk\.pem: not a readable PEM certificate"):
        load_certificate(junk, one.private_key)
