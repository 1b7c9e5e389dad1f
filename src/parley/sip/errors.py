"""The SIP exception family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.errors import ParleyError

if TYPE_CHECKING:
    from parley.sip.message import SipRequest


class SipError(ParleyError):
    """Base of every error raised by :mod:`parley.sip`."""


class SipParseError(SipError):
    """Bytes that are not a valid SIP message, URI or header value.

    ``header`` names the header at fault (None for the start line or framing), and the message
    says what is wrong with it. ``partial`` is the request as far as it could be read when the
    fault lies in one header's value: enough (Via, From, To, Call-ID, CSeq as text) for the
    transport to answer ``400 Bad Request`` instead of dropping the message silently.
    """

    def __init__(
        self, reason: str, *, header: str | None = None, partial: SipRequest | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header
        self.partial = partial


class SipFramingError(SipParseError):
    """A stream (TCP) cannot be split into messages any more; the connection must close."""


class TransactionError(SipError):
    """A transaction was driven with an event its current state does not accept."""


class DialogError(SipError):
    """A dialog operation that the dialog's state or the message does not allow."""


class SessionError(SipError):
    """An INVITE session was driven with an event its current state does not accept."""
