"""Parley's SIP stack: pure (sans-IO) protocol logic, driven by ``parley.net``.

Where to find things:

- ``parley.sip.message``: ``parse_message(bytes) -> SipRequest | SipResponse``,
  ``bytes(msg)``, ``build_request(...)``, ``build_response(request, status, ...)``,
  ``new_branch()/new_tag()/new_call_id()``, ``StreamFramer`` (TCP framing, ``KeepAlive``),
  limits ``MAX_MESSAGE_SIZE``/``MAX_HEADERS``/``MAX_HEADER_LENGTH``, ``REASON_PHRASES``.
- ``parley.sip.headers``: ``Headers`` (immutable, case-insensitive), ``Via``, ``NameAddr``
  (From/To/Contact/Route), ``CSeq``, ``canonical_name`` (compact forms).
- ``parley.sip.uri``: ``SipUri.parse(text)`` / ``str(uri)``.
- ``parley.sip.errors``: ``SipError``, ``SipParseError`` (``.header``, ``.partial``),
  ``SipFramingError``, ``TransactionError``, ``DialogError``.
- ``parley.sip.auth``: digest authentication, server (``DigestAuthenticator``) and client
  (``authorization_header``).
- ``parley.sip.transaction``: RFC 3261 §17 transactions as transition tables;
  ``TransactionLayer`` takes messages/time/timer expiries and returns commands.
- ``parley.sip.registrar``: ``Registrar`` (REGISTER handling, lookup, sweep, static contacts).
- ``parley.sip.dialog``: ``Dialog`` (UAC/UAS), in-dialog request building, ``DialogSet``.

SDP lives in ``parley.sdp``. Nothing here does I/O, starts tasks, or reads the clock: time is
passed in as a float (seconds on the monotonic clock).
"""

from parley.sip.errors import SipError, SipParseError
from parley.sip.message import SipRequest, SipResponse, parse_message
from parley.sip.uri import SipUri

__all__ = ["SipError", "SipParseError", "SipRequest", "SipResponse", "SipUri", "parse_message"]
