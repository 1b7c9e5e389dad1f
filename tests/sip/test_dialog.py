"""Dialogs: creation from captured calls, in-dialog requests, routing, matching, races."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.clock import VirtualClock
from parley.sdp import build_offer, with_direction
from parley.sip.dialog import (
    Dialog,
    DialogSet,
    DialogState,
    is_in_dialog,
    late_answer_requests,
    options_response,
    unknown_dialog_response,
)
from parley.sip.errors import DialogError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, build_response, parse_message
from parley.sip.transaction import CancelRequested, Command, Deliver, build_cancel
from parley.sip.uri import SipUri
from parley.testing.network import MemoryNetwork, SipEndpoint

DATA = Path(__file__).parent / "data"


def req(name: str) -> SipRequest:
    message = parse_message((DATA / name).read_bytes())
    assert isinstance(message, SipRequest)
    return message


def resp(name: str) -> SipResponse:
    message = parse_message((DATA / name).read_bytes())
    assert isinstance(message, SipResponse)
    return message


def caller_dialog() -> Dialog:
    return Dialog.from_response(req("015-baresip-req-invite.sip"),
                                resp("022-asterisk-resp-200-invite.sip"))


def test_caller_dialog_ack_matches_baresip() -> None:
    dialog = caller_dialog()
    assert dialog.state is DialogState.CONFIRMED
    ack = dialog.ack(resp("022-asterisk-resp-200-invite.sip"))
    captured = req("023-baresip-req-ack.sip")
    assert ack.uri == captured.uri
    assert ack.cseq == captured.cseq
    assert ack.call_id == captured.call_id
    assert ack.from_.tag == captured.from_.tag
    assert ack.to.tag == captured.to.tag
    assert ack.via.host == captured.via.host
    assert ack.branch != req("015-baresip-req-invite.sip").branch  # a 2xx ACK is new


def test_incoming_bye_matches_and_ends_dialog() -> None:
    dialogs = DialogSet()
    dialog = caller_dialog()
    dialogs.add(dialog)
    bye = req("026-asterisk-req-bye.sip")
    assert is_in_dialog(bye)
    assert dialogs.find_for_request(bye) is dialog
    assert dialog.receive_request(bye) is None
    assert dialog.state is DialogState.TERMINATED
    assert dialogs.prune() == [dialog]
    assert dialogs.find_for_request(bye) is None
    assert unknown_dialog_response(bye).status == 481


def test_callee_dialog_bye_matches_baresip() -> None:
    invite = req("017-asterisk-req-invite.sip")
    answer = resp("020-baresip-resp-200-invite.sip")
    dialog = Dialog.from_request(
        invite, local_tag=answer.to.tag or "", local_contact=answer.contact or invite.to,
        local_via=Via("UDP", "127.0.0.1", 35222), local_seq=49091)
    dialog.confirm()
    dialogs = DialogSet()
    dialogs.add(dialog)
    assert dialogs.find_for_request(req("021-asterisk-req-ack.sip")) is dialog
    bye = dialog.bye()
    captured = req("024-baresip-req-bye.sip")
    assert (bye.uri, bye.cseq, bye.call_id) == (captured.uri, captured.cseq, captured.call_id)
    assert bye.from_.tag == captured.from_.tag
    assert bye.to.tag == captured.to.tag
    assert dialogs.find_for_response(resp("025-asterisk-resp-200-bye.sip")) is dialog
    with pytest.raises(DialogError, match="ended"):
        dialog.bye()


def routed_dialog(record_route: str) -> Dialog:
    invite = req("015-baresip-req-invite.sip")
    ok = resp("022-asterisk-resp-200-invite.sip").with_header("Record-Route", record_route)
    return Dialog.from_response(invite, ok)


def test_loose_route_set_is_reversed_record_route() -> None:
    dialog = routed_dialog("<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    bye = dialog.bye()
    assert [r.uri.host for r in bye.routes] == ["p2.example.com", "p1.example.com"]
    assert bye.uri == SipUri.parse("sip:1002@127.0.0.1:47060")
    assert dialog.next_hop.host == "p2.example.com"


def test_strict_router_goes_into_request_uri() -> None:
    dialog = routed_dialog("<sip:p1.example.com;lr>, <sip:strict.example.com;transport=udp>")
    bye = dialog.bye()
    assert bye.uri == SipUri.parse("sip:strict.example.com")
    assert [str(r.uri) for r in bye.routes] == ["sip:p1.example.com;lr",
                                                "sip:1002@127.0.0.1:47060"]


def test_hold_and_resume_reinvites() -> None:
    dialog = caller_dialog()
    offer = build_offer("127.0.0.1", 20000, session_id="1", version=1)
    hold = dialog.reinvite(bytes(with_direction(offer, "sendonly")))
    assert hold.method == "INVITE"
    assert hold.cseq.seq == 38238
    assert b"a=sendonly" in hold.body
    assert hold.content_type == "application/sdp"
    assert hold.contact is not None
    with pytest.raises(DialogError, match="already pending"):
        dialog.reinvite(hold.body)
    ok = build_response(hold, 200, to_tag="x").with_header("Contact", "<sip:1002@10.9.9.9>")
    dialog.receive_response(ok)
    assert dialog.remote_target.host == "10.9.9.9"  # target refresh
    ack = dialog.ack(ok)
    assert ack.cseq.seq == 38238
    assert ack.uri.host == "10.9.9.9"
    resume = dialog.reinvite(bytes(with_direction(offer, "sendrecv")))
    assert b"a=sendrecv" in resume.body
    assert resume.cseq.seq == 38239


def test_incoming_cseq_order_glare_and_target_refresh() -> None:
    dialog = caller_dialog()
    incoming = req("026-asterisk-req-bye.sip")
    info = SipRequest("INFO", incoming.uri, incoming.headers.set("CSeq", "100 INFO"))
    assert dialog.receive_request(info) is None
    older = SipRequest("INFO", incoming.uri, incoming.headers.set("CSeq", "99 INFO"))
    rejected = dialog.receive_request(older)
    assert rejected is not None
    assert rejected.status == 500
    dialog.reinvite(b"v=0\r\n")
    crossing = SipRequest("INVITE", incoming.uri, incoming.headers.set("CSeq", "101 INVITE")
                          .add("Contact", "<sip:moved@10.1.1.1>"))
    glare = dialog.receive_request(crossing)
    assert glare is not None
    assert glare.status == 491
    dialog.receive_response(build_response(crossing, 200, to_tag="x"))  # our re-INVITE done
    assert dialog.receive_request(SipRequest(
        "INVITE", incoming.uri, crossing.headers.set("CSeq", "102 INVITE"))) is None
    assert dialog.remote_target.user == "moved"


def test_481_or_408_to_in_dialog_request_ends_dialog() -> None:
    dialog = caller_dialog()
    info = dialog.info(b"Signal=5\r\nDuration=160\r\n")
    dialog.receive_response(build_response(info, 481))
    assert dialog.state is DialogState.TERMINATED


def test_options_answer() -> None:
    options = req("053-probe-req-options.sip")
    answer = options_response(options, to_tag="t")
    assert answer.status == 200
    assert "INVITE" in (answer.header("Allow") or "")
    assert answer.header("Accept") == "application/sdp, application/dtmf-relay"
    assert parse_message(bytes(answer)) == answer


def test_no_dialog_from_bad_responses() -> None:
    invite = req("015-baresip-req-invite.sip")
    with pytest.raises(DialogError, match="creates no dialog"):
        Dialog.from_response(invite, resp("016-asterisk-resp-100-invite.sip"))
    early = Dialog.from_response(invite, resp("019-asterisk-resp-180-invite.sip"))
    assert early.state is DialogState.EARLY
    early.confirm(resp("022-asterisk-resp-200-invite.sip"))
    assert early.state is DialogState.CONFIRMED


def test_cancel_racing_200_the_200_wins_then_bye() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, min_delay=0.05, max_delay=0.05)
    caller_addr, callee_addr = ("10.0.0.1", 5060), ("10.0.0.2", 5060)
    invite = req("015-baresip-req-invite.sip").set_header(
        "Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKrace;rport")
    state: dict[str, object] = {}

    def callee(endpoint: SipEndpoint, command: Command) -> None:
        if isinstance(command, Deliver) and isinstance(command.message, SipRequest):
            request = command.message
            if request.method == "INVITE":
                endpoint.send_response(build_response(
                    request, 200, to_tag="callee",
                    contact=NameAddr(SipUri.parse("sip:1002@10.0.0.2:5060"))))
            elif request.method == "BYE":
                endpoint.send_response(build_response(request, 200))

    def caller(endpoint: SipEndpoint, command: Command) -> None:
        if isinstance(command, Deliver) and isinstance(command.message, SipResponse):
            response = command.message
            if response.is_success and response.cseq.method == "INVITE" and "bye" not in state:
                _dialog, ack, bye = late_answer_requests(invite, response)
                state["bye"] = bye
                endpoint.send_raw(ack, callee_addr)
                endpoint.send_request(bye, callee_addr)

    a = SipEndpoint(net, caller_addr, on_command=caller)
    b = SipEndpoint(net, callee_addr, on_command=callee)
    a.send_request(invite, callee_addr)
    clock.advance(0.05)  # the INVITE arrives and is answered at once...
    a.send_request(build_cancel(invite), callee_addr)  # ...while our CANCEL is on its way
    clock.advance(60)
    at_callee = [c.message.method for c in b.received
                 if isinstance(c, Deliver) and isinstance(c.message, SipRequest)]
    assert at_callee == ["INVITE", "ACK", "BYE"]
    assert not any(isinstance(c, CancelRequested) for c in b.received)
    answers = {(c.message.cseq.method, c.message.status) for c in a.received
               if isinstance(c, Deliver) and isinstance(c.message, SipResponse)}
    assert {("INVITE", 200), ("CANCEL", 200), ("BYE", 200)} <= answers
    assert len(a.layer) == len(b.layer) == 0


def test_retransmitted_2xx_gets_the_same_ack() -> None:
    dialog = caller_dialog()
    ok = resp("022-asterisk-resp-200-invite.sip")
    first = dialog.ack(ok)
    assert dialog.ack(ok) is first
    assert bytes(dialog.ack(ok)) == bytes(first)


def test_a_dialog_carried_to_another_node_builds_the_same_requests() -> None:
    """A confirmed dialog's state, through JSON, is the same dialog on another node: its BYE
    goes to the same target with the same Call-ID, tags and routes, a CSeq past the gap,
    and a request the phone sends in it is still in order."""
    import json

    dialog = caller_dialog()
    dialog.local_seq += 3  # re-INVITEs sent before the copy
    via = Via("UDP", "10.0.0.100", 5060)
    carried = Dialog.restored(json.loads(json.dumps(dialog.state_of())), local_via=via,
                              seq_gap=100)
    assert carried.state is DialogState.CONFIRMED
    assert carried.id == dialog.id
    expected, bye = dialog.bye(), carried.bye()
    assert bye.uri == expected.uri
    assert bye.headers.values("Route") == expected.headers.values("Route")
    assert (bye.from_, bye.to, bye.call_id) == (expected.from_, expected.to, expected.call_id)
    assert bye.cseq.seq == expected.cseq.seq + 100
    assert (bye.via.host, bye.via.port) == ("10.0.0.100", 5060)


@pytest.mark.parametrize("broken", [{}, {"call_id": "x"}, {"remote_target": "not a uri"}])
def test_a_state_that_is_no_dialog_is_refused_with_what_is_wrong(broken: dict[str, str]
                                                                 ) -> None:
    state = {**caller_dialog().state_of(), **broken} if broken else {}
    if broken == {"call_id": "x"}:
        del state["route_set"]
    with pytest.raises(DialogError, match="not a dialog's state"):
        Dialog.restored(state, local_via=Via("UDP", "10.0.0.100", 5060))
