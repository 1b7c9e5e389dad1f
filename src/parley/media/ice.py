"""ICE-lite (RFC 8445 §2.5) for the WebRTC leg: answer the browser's STUN binding checks.

Parley's side of a browser call is a lite agent with one host candidate, the relay port: it
never sends checks of its own, it answers the checks the browser (the full, controlling agent)
sends, with short-term credentials from the SDP (``a=ice-ufrag``/``a=ice-pwd``). A check
carrying USE-CANDIDATE nominates the address it came from; media goes there from then on
(before a nomination, to the first address whose check passed).
Every later authenticated check from that address is the browser's consent to receive
(RFC 7675): when none arrives within the consent timeout, the leg stops sending and ends.

Pure: :meth:`IceLite.receive` takes a datagram, its source and the time, and returns the
response to send (or None). STUN messages are aioice's.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from aioice import stun

Address = tuple[str, int]

_ALPHABET = string.ascii_letters + string.digits + "+/"
CONSENT_TIMEOUT = 30.0  # RFC 7675 §5.1: consent expires 30 s after the last check


def random_credential(length: int) -> str:
    """An ICE ufrag (4+ chars) or password (22+ chars) from the ice-char alphabet."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def is_stun(data: bytes) -> bool:
    """RFC 7983 demultiplexing: STUN starts with a byte in 0-3."""
    return len(data) >= 20 and data[0] < 4


@dataclass
class IceLite:
    """The lite agent of one leg (module docstring)."""

    local_ufrag: str
    local_pwd: str
    remote_ufrag: str = ""
    remote_pwd: str = ""
    nominated: Address | None = None
    tentative: Address | None = None  # the first checked address, until one is nominated
    last_consent: float | None = None
    checks: int = 0
    refused: int = 0

    @classmethod
    def new(cls) -> IceLite:
        return cls(random_credential(8), random_credential(24))

    def set_remote(self, ufrag: str, pwd: str) -> None:
        """The browser's credentials from its SDP; a new ufrag is an ICE restart."""
        if ufrag != self.remote_ufrag:
            self.nominated = self.tentative = None
        self.remote_ufrag = ufrag
        self.remote_pwd = pwd

    def receive(self, data: bytes, source: Address, now: float) -> bytes | None:
        """Answer one STUN datagram: a success response to a valid binding request, a 400/401
        to a bad one, nothing to responses or indications (a lite agent sends no checks)."""
        try:
            message = stun.parse_message(data)
        except ValueError:
            self.refused += 1
            return None
        if message.message_method != stun.Method.BINDING:
            return None
        if message.message_class == stun.Class.INDICATION:
            return None  # keepalive (RFC 8445 §11)
        if message.message_class != stun.Class.REQUEST:
            return None
        username = message.attributes.get("USERNAME", "")
        local, _, remote = str(username).partition(":")
        if local != self.local_ufrag or (self.remote_ufrag and remote != self.remote_ufrag):
            self.refused += 1
            return self._error(message, 401, "Unauthorized (wrong ICE username)")
        if "MESSAGE-INTEGRITY" not in message.attributes:
            self.refused += 1
            return self._error(message, 400, "Bad Request (no MESSAGE-INTEGRITY)")
        if not message.check_message_integrity(self.local_pwd.encode()):
            self.refused += 1
            return self._error(message, 401, "Unauthorized (message integrity)")
        self.checks += 1
        if "USE-CANDIDATE" in message.attributes:
            self.nominated = source
        elif self.tentative is None:
            self.tentative = source
        if source == self.selected:
            self.last_consent = now
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE,
                                transaction_id=message.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = source
        response.add_message_integrity(self.local_pwd.encode())
        return bytes(response)

    @property
    def selected(self) -> Address | None:
        """Where media goes: the nominated address, else (browsers nominate after the first
        check succeeds, and start DTLS at once) the first address that passed a check."""
        return self.nominated or self.tentative

    def consent_expired(self, now: float, timeout: float = CONSENT_TIMEOUT) -> bool:
        """True once a nominated browser has not refreshed consent for ``timeout`` seconds."""
        return self.last_consent is not None and now - self.last_consent > timeout

    @staticmethod
    def _error(message: stun.Message, code: int, reason: str) -> bytes:
        response = stun.Message(stun.Method.BINDING, stun.Class.ERROR,
                                transaction_id=message.transaction_id)
        response.attributes["ERROR-CODE"] = (code, reason)
        response.add_fingerprint()
        return bytes(response)
