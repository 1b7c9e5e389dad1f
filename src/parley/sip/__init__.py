"""Parley's SIP stack: pure (sans-IO) protocol logic, driven by ``parley.net``.

Nothing here does I/O, starts tasks, or reads the clock: time comes in as a float (seconds on
the monotonic clock). Where to find things:

- ``parley.sip.message``: ``parse_message(bytes) -> SipRequest | SipResponse`` (raises
  ``SipParseError``), ``bytes(msg)``; accessors ``vias/via/branch/from_/to/call_id/cseq/
  contacts/contact/is_star_contact/routes/record_routes/max_forwards/expires/content_type/
  header(name)``; copies via ``with_header/set_header/without_header/with_body``;
  ``build_request(method, uri, from_=, to=, call_id=, cseq=, via=, contact=, routes=,
  headers=, body=, content_type=)``, ``build_response(request, status, reason=None, to_tag=,
  contact=, headers=, body=, content_type=)``, ``new_branch()/new_tag()/new_call_id(host)``,
  ``precheck_request`` (420/483);
  ``StreamFramer().feed(bytes) -> list[bytes | KeepAlive]`` for TCP; limits
  ``MAX_MESSAGE_SIZE``, ``MAX_HEADERS``, ``MAX_HEADER_LENGTH``; ``REASON_PHRASES``.
- ``parley.sip.headers``: ``Headers`` (immutable, case-insensitive, compact forms), ``Via``
  (``branch``, ``received``, ``rport``, ``wants_rport``, ``response_address()``), ``NameAddr``
  (From/To/Contact/Route: ``uri``, ``tag``, ``with_tag``, ``expires``, ``q``), ``CSeq``.
- ``parley.sip.uri``: ``SipUri.parse(text)`` / ``str(uri)``, ``param()``, ``with_param()``,
  ``transport``, ``address_of_record``.
- ``parley.sip.errors``: ``SipError``, ``SipParseError`` (``.header``, ``.reason``,
  ``.partial`` to answer 400), ``SipFramingError``, ``TransactionError``, ``DialogError``.
- ``parley.sip.auth``: server ``DigestAuthenticator(realm, secret).challenge(now)`` and
  ``.verify(request, now, lookup) -> AuthResult`` (OK / CHALLENGE with ``stale`` / FORBIDDEN),
  ``compute_ha1``; client ``authorization_header(challenge, ...)``, ``authorize_request``.
- ``parley.sip.transaction``: ``TransactionLayer(TimerConfig())`` with ``receive``,
  ``send_request``, ``send_response``, ``timer_expired``, ``transport_error`` returning
  commands ``Send``, ``StartTimer``, ``CancelTimer``, ``Deliver``, ``CancelRequested``,
  ``Terminated``, ``Dropped``; ``build_cancel(invite)``; the tables ``TABLES``.
- ``parley.sip.registrar``: ``Registrar(...).register(request, now, authenticated_user=,
  source=, transport=) -> RegisterResult``, ``lookup(aor, now)``, ``sweep(now)``,
  ``set_static(aor, contacts)``, ``restore(bindings, now)``.
- ``parley.sip.dialog``: ``Dialog.from_response``/``from_request``, ``ack``, ``bye``,
  ``reinvite``, ``info``, ``refer``, ``receive_request``, ``receive_response``; ``DialogSet``;
  ``unknown_dialog_response`` (481), ``options_response``, ``late_answer_requests``.
- ``parley.sip.session``: ``InviteSession.outgoing(invite, ...)`` / ``incoming(invite, ...)``,
  one call's INVITE session over its dialog: ``start``, ``ring``, ``answer``, ``hangup``,
  ``reinvite``, ``answer_reinvite``, ``receive_response``, ``receive_request``,
  ``request_failed``, ``cancelled``, ``no_ack``, ``timer_fired`` returning commands
  ``SendRequest``, ``SendResponse``, ``SendAck``, ``StartTimer``, ``CancelTimer`` and reports
  ``Ringing``, ``Answered``, ``ReinviteOffered``, ``ReinviteDone``, ``RequestReceived``,
  ``Ended``; the tables ``CALLER`` and ``CALLEE``.

SDP lives in ``parley.sdp``; the in-memory network for tests in ``parley.testing.network``.
"""

from parley.sip.errors import SipError, SipParseError
from parley.sip.message import SipRequest, SipResponse, parse_message
from parley.sip.uri import SipUri

__all__ = ["SipError", "SipParseError", "SipRequest", "SipResponse", "SipUri", "parse_message"]
