"""SDES-keyed SRTP on a trunk's leg (RFC 4568): which ``a=crypto`` lines to offer and answer,
and keying the leg's relay endpoint from them.

The media is the relay's ordinary endpoint with the per-packet functions of
:mod:`parley.media.srtp` set (``protect`` last before sending, ``unprotect`` first on
arrival), the same ones the WebRTC leg gets from DTLS. Each side sends with the key of its
own SDP, so an answer carries a fresh key of ours, never the carrier's back. Keys are never
logged: only the suite and tag appear in logs and errors.
"""

from __future__ import annotations

from parley.media.srtp import OFFERED_SUITES, Crypto, SdesSrtp, SrtpError
from parley.net.relay import MediaEndpoint

SRTP_MODES = ("off", "offer", "require")


def key_endpoint(endpoint: MediaEndpoint, local: Crypto, remote: Crypto) -> None:
    """Encrypt what ``endpoint`` sends with ``local``'s key, decrypt what it gets with
    ``remote``'s (raises :class:`SrtpError` if their suites differ)."""
    if endpoint.kernel_forwarded:  # SRTP is per hop: the relay must see every packet
        endpoint.relay.reclaim(endpoint)
    endpoint.protect, endpoint.unprotect = SdesSrtp(local, remote).packet_functions()


def offer_crypto() -> tuple[Crypto, ...]:
    """Our ``a=crypto`` lines for an offer to a carrier: a fresh key per suite, tags 1…n."""
    return tuple(Crypto.fresh(tag, suite) for tag, suite in enumerate(OFFERED_SUITES, 1))


def answer_crypto(endpoint: MediaEndpoint, offered: tuple[Crypto, ...]) -> Crypto:
    """The carrier offered ``offered`` (usable lines, its order): take the first, key the
    endpoint, and return our line for the answer (same tag and suite, our own fresh key)."""
    if not offered:
        raise SrtpError("the offer has no usable a=crypto line")
    chosen = offered[0]
    local = Crypto.fresh(chosen.tag, chosen.suite)
    key_endpoint(endpoint, local, chosen)
    return local


def answered_crypto(endpoint: MediaEndpoint, ours: tuple[Crypto, ...],
                    answer: tuple[Crypto, ...]) -> Crypto:
    """The carrier answered our offer of ``ours`` with ``answer``: its line must name one of
    our tags with the same suite (RFC 4568 §7.1.3). Keys the endpoint; returns our chosen
    line (the one later SDP of ours repeats)."""
    for line in answer:
        for offered in ours:
            if offered.tag == line.tag and offered.suite == line.suite:
                key_endpoint(endpoint, offered, line)
                return offered
    names = ", ".join(f"{line.tag} {line.suite}" for line in answer)
    raise SrtpError(f"the answer's a=crypto ({names}) matches no line of our offer")
