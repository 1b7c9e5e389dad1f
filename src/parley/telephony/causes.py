"""Hang-up causes (Q.850, :class:`parley.events.HangupCause`) mapped to SIP status codes and back.

One table, read both ways: a leg that ends with a SIP failure gets the cause for that status,
and a channel hung up with a cause before answer sends the status for that cause (RFC 3398
§7.2.4.1 and §8.2.6.1, as most PBXs apply them).
"""

from __future__ import annotations

from parley.events import HangupCause

#: cause -> the SIP final response that tells a caller about it before answer.
CAUSE_TO_STATUS: dict[HangupCause, int] = {
    HangupCause.UNALLOCATED_NUMBER: 404,
    HangupCause.NO_ROUTE_DESTINATION: 404,
    HangupCause.NORMAL_CLEARING: 480,
    HangupCause.USER_BUSY: 486,
    HangupCause.NO_USER_RESPONSE: 408,
    HangupCause.NO_ANSWER: 480,
    HangupCause.CALL_REJECTED: 603,
    HangupCause.NUMBER_CHANGED: 410,
    HangupCause.DESTINATION_OUT_OF_ORDER: 502,
    HangupCause.INVALID_NUMBER_FORMAT: 484,
    HangupCause.NORMAL_UNSPECIFIED: 480,
    HangupCause.NORMAL_CIRCUIT_CONGESTION: 503,
    HangupCause.NETWORK_OUT_OF_ORDER: 500,
    HangupCause.TEMPORARY_FAILURE: 503,
    HangupCause.SWITCH_CONGESTION: 503,
    HangupCause.BEARER_CAPABILITY_NOT_AVAILABLE: 488,
    HangupCause.INCOMPATIBLE_DESTINATION: 488,
    HangupCause.RECOVERY_ON_TIMER_EXPIRE: 504,
    HangupCause.INTERWORKING: 500,
    HangupCause.ORIGINATOR_CANCEL: 487,
    HangupCause.MEDIA_TIMEOUT: 408,
    HangupCause.CONSENT_EXPIRED: 408,
}

#: SIP final status -> cause, for failures coming back from a called phone or trunk.
STATUS_TO_CAUSE: dict[int, HangupCause] = {
    400: HangupCause.INTERWORKING,
    401: HangupCause.CALL_REJECTED,
    402: HangupCause.CALL_REJECTED,
    403: HangupCause.CALL_REJECTED,
    404: HangupCause.UNALLOCATED_NUMBER,
    405: HangupCause.INTERWORKING,
    406: HangupCause.INTERWORKING,
    407: HangupCause.CALL_REJECTED,
    408: HangupCause.NO_USER_RESPONSE,
    410: HangupCause.NUMBER_CHANGED,
    413: HangupCause.INTERWORKING,
    414: HangupCause.INTERWORKING,
    415: HangupCause.INTERWORKING,
    420: HangupCause.INTERWORKING,
    480: HangupCause.NO_ANSWER,
    481: HangupCause.INTERWORKING,
    482: HangupCause.INTERWORKING,
    483: HangupCause.INTERWORKING,
    484: HangupCause.INVALID_NUMBER_FORMAT,
    485: HangupCause.UNALLOCATED_NUMBER,
    486: HangupCause.USER_BUSY,
    487: HangupCause.ORIGINATOR_CANCEL,
    488: HangupCause.INCOMPATIBLE_DESTINATION,
    500: HangupCause.TEMPORARY_FAILURE,
    501: HangupCause.INTERWORKING,
    502: HangupCause.NETWORK_OUT_OF_ORDER,
    503: HangupCause.TEMPORARY_FAILURE,
    504: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    505: HangupCause.INTERWORKING,
    513: HangupCause.INTERWORKING,
    600: HangupCause.USER_BUSY,
    603: HangupCause.CALL_REJECTED,
    604: HangupCause.UNALLOCATED_NUMBER,
    606: HangupCause.INCOMPATIBLE_DESTINATION,
}


def cause_for_status(status: int) -> HangupCause:
    """The cause of a SIP failure status; unknown codes fall back by class (4xx, 5xx, 6xx)."""
    if status in STATUS_TO_CAUSE:
        return STATUS_TO_CAUSE[status]
    if 500 <= status < 600:
        return HangupCause.TEMPORARY_FAILURE
    if status >= 600:
        return HangupCause.CALL_REJECTED
    return HangupCause.NORMAL_UNSPECIFIED


def status_for_cause(cause: HangupCause) -> int:
    """The SIP final response that reports ``cause`` to a caller who was never answered."""
    return CAUSE_TO_STATUS.get(cause, 480)
