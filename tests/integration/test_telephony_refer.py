"""Call transfer by REFER through a live Parley: real baresip phones and sipp scenarios.

A phone in an answered call sends REFER; Parley answers 202, tells the phone "100 Trying" by
NOTIFY at once, runs the handler given to ``Telephony.handle_refers`` and reports its outcome
by a final NOTIFY (200 or 503). Malformed REFERs get 400 naming the header, a REFER outside a
call 403, and a node without a transfer handler 603.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from parley.events import ChannelCreated, Hangup, TelephonyEvent
from parley.telephony import ReferRequest, Replaces
from parley.telephony.channel import Bridge, Channel, until
from parley.telephony.server import Telephony
from parley.testing.peers import Baresip, Sipp, audio_similarity
from parley.testing.ports import free_port

from .conftest import needs_baresip, needs_sipp

Seen = list[tuple[Channel, ReferRequest]]


def answering_number(parley: Telephony, number: str) -> None:
    """``number`` answers and holds the call until the caller hangs up."""

    async def answer(channel: Channel) -> None:
        channel.answer()
        await channel.wait_ended()

    parley.route(number, answer, public=False)


def drain(events: asyncio.Queue[TelephonyEvent]) -> list[TelephonyEvent]:
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    return seen


# --- baresip -----------------------------------------------------------------------------


@needs_baresip
async def test_baresip_blind_transfer_reaches_the_handler_and_the_phone_hangs_up(
        parley: Telephony, tmp_path: Path) -> None:
    answering_number(parley, "600")
    seen: Seen = []

    async def on_refer(channel: Channel, refer: ReferRequest) -> bool:
        seen.append((channel, refer))
        return True

    parley.handle_refers(on_refer)
    phone = Baresip(tmp_path / "1001", user="1001", password="pw1001",
                    server_port=parley.sip_port)
    try:
        await phone.start()
        await phone.dial("600")
        await phone.wait_event("CALL_ESTABLISHED", within=10)
        (channel,) = parley.channels()
        await phone.command("transfer", "601")
        # NOTIFY "SIP/2.0 200 OK" makes baresip close the transferred call itself (BYE).
        closed = await phone.wait_event("CALL_CLOSED", within=10)
        assert await channel.wait_ended(within=5)
    finally:
        await phone.stop()
    assert [(ch, refer.target) for ch, refer in seen] == [(channel, "601")]
    refer = seen[0][1]
    assert refer.uri == f"sip:601@127.0.0.1:{parley.sip_port}"
    assert refer.replaces is None
    assert refer.referred_by.startswith("sip:1001@")
    assert "transfer" in closed.param.lower()  # "Call transfered": the NOTIFY 200 arrived
    assert channel.hangup_by == "remote"


@needs_baresip
async def test_blind_transfer_moves_the_other_party_to_the_new_target(
        parley: Telephony, tmp_path: Path) -> None:
    """1001 calls 1002 and transfers 1002 to 1003: 1002 and 1003 stay connected, one
    interaction id from the first INVITE to the transfer target's leg."""

    async def on_refer(channel: Channel, refer: ReferRequest) -> bool:
        bridge = channel.bridge
        assert bridge is not None
        (other,) = [member for member in bridge.members if member is not channel]
        target = parley.originate(refer.target, caller_id=other.caller, timeout=10,
                                  interaction_id=channel.interaction_id)
        if not await target.wait_answered(within=10):
            return False
        bridge = Bridge(parley.relay)
        bridge.add(other)  # out of the old bridge: the transferor may leave
        bridge.add(target)

        async def end_together() -> None:
            await until(None, (other.ended_signal, target.ended_signal), None)
            bridge.destroy()
            other.hangup()
            target.hangup()

        parley.engine.spawn(end_together(), "transferred")
        return True

    parley.handle_refers(on_refer)
    phones = [Baresip(tmp_path / user, user=user, password=f"pw{user}",
                      server_port=parley.sip_port, auto_answer=user != "1001")
              for user in ("1001", "1002", "1003")]
    transferor, transferee, target = phones
    async with parley.events() as events:
        try:
            for phone in phones:
                await phone.start()
            await transferor.dial("1002")
            await transferee.wait_event("CALL_ESTABLISHED", within=10)
            await transferor.wait_event("CALL_ESTABLISHED", within=10)
            await transferor.command("transfer", "1003")
            await transferor.wait_event("CALL_CLOSED", within=15)
            await target.wait_event("CALL_ESTABLISHED", within=10)
            await asyncio.sleep(4.0)  # four seconds of 1002 talking to 1003
            live = parley.channels()
            assert sorted(ch.called for ch in live) == ["1002", "1003"]
            assert not any(event.type == "CALL_CLOSED" for event in transferee.events)
            await transferee.hangup()
            await target.wait_event("CALL_CLOSED", within=10)
        finally:
            for phone in phones:
                await phone.stop()
        seen = drain(events)
    assert transferee.source is not None
    assert audio_similarity(target.received_wav(), transferee.source) > 0.8
    created = [event for event in seen if isinstance(event, ChannelCreated)]
    assert [(event.caller, event.called) for event in created] == [
        ("1001", "1002"), ("1001", "1002"), ("1001", "1003")]
    assert {event.interaction_id for event in created} == {created[0].channel_id}
    assert sum(isinstance(event, Hangup) for event in seen) == 3


# --- sipp --------------------------------------------------------------------------------

_HEAD = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]caller[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70"""


def _head(method: str, cseq: int, *, in_dialog: bool = True) -> str:
    return _HEAD.format(to_tag=";tag=[$ptag]" if in_dialog else "", cseq=cseq, method=method)


def _request(method: str, cseq: int, *, extra: str = "", expect: str = "200",
             in_dialog: bool = True, checks: str = "") -> str:
    extra_lines = f"{extra}\n" if extra else ""
    recv = (f'<recv response="{expect}"><action>{checks}</action></recv>' if checks
            else f'<recv response="{expect}" />')
    return f"""  <send retrans="500"><![CDATA[
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_head(method, cseq, in_dialog=in_dialog)}
{extra_lines}Content-Length: 0

]]></send>
  {recv}
"""


def _check(name: str, regexp: str, header: str | None = None) -> str:
    where = f'search_in="hdr" header="{header}"' if header else 'search_in="body"'
    return f'<ereg regexp="{regexp}" {where} check_it="true" assign_to="{name}" />'


def _notify(step: str, frag: str, state: str) -> str:
    return f"""  <recv request="NOTIFY"><action>
    {_check(step + "frag", frag)}
    {_check(step + "state", state, "Subscription-State:")}
    {_check(step + "event", "refer;id=3", "Event:")}
    {_check(step + "type", "message/sipfrag", "Content-Type:")}
    {_check(step + "route", "^ *&lt;sip:127.0.0.1:[0-9]+;lr&gt;$", "Route:")}
  </action></recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""


def _invite(cseq: int, *, authenticated: bool) -> str:
    """The INVITE to [service] (with digest credentials for sipp's -au/-ap user)."""
    auth = "[authentication]\n" if authenticated else ""
    return f"""  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_head("INVITE", cseq, in_dialog=False)}
Record-Route: <sip:[local_ip]:[local_port];lr>
{auth}Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
"""


def refer_scenario(*, handler: bool) -> str:
    """A REFER outside a call (403); a call to [service] as the site's user 1001 (challenged,
    then with credentials: only the site's own phones may transfer); a REFER for an
    attended transfer whose Replaces names this very call (202 and two NOTIFYs that follow
    the call's route set, or 603 without a handler);
    REFERs with two Refer-To and with none (400 with a Warning); BYE. In-dialog requests
    carry Parley's tag as learnt from the 200 (``$ptag``)."""
    replaces = ("Refer-To: <sip:1002@[remote_ip]:[remote_port]?Replaces=[call_id]"
                "%3Bto-tag%3D[$ptag]%3Bfrom-tag%3D[pid]caller[call_number]>")
    refer = _request("REFER", 3, extra=replaces + "\nReferred-By: <sip:1001@[local_ip]>",
                     expect="202" if handler else "603")
    notifies = ""
    checked = ["junk", "ptag", "warn1", "warn2"]
    if handler:
        notifies = (_notify("n1", "SIP/2.0 100 Trying", "active")
                    + _notify("n2", "SIP/2.0 200 OK", "terminated;reason=noresource"))
        checked += [f"{step}{part}" for step in ("n1", "n2")
                    for part in ("frag", "state", "event", "type", "route")]
    two_targets = "Refer-To: <sip:1@[remote_ip]>\nRefer-To: <sip:2@[remote_ip]>"
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refer">
{_request("REFER", 1, extra="Refer-To: <sip:1002@[remote_ip]>", expect="403",
          in_dialog=False)}
{_invite(1, authenticated=False)}  <recv response="100" optional="true" />
  <recv response="401" auth="true" />
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
{_invite(2, authenticated=True)}  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="200"><action>
    <ereg regexp=";tag=([^;&gt;]*)" search_in="hdr" header="To:" check_it="true"
          assign_to="junk,ptag" />
  </action></recv>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_head("ACK", 2)}
Content-Length: 0

]]></send>
{refer}{notifies}{_request("REFER", 4, extra=two_targets, expect="400",
                           checks=_check("warn1", "399 parley", "Warning:"))}
{_request("REFER", 5, expect="400", checks=_check("warn2", "Refer-To", "Warning:"))}
{_request("BYE", 6)}
  <Reference variables="{",".join(checked)}" />
</scenario>
"""


async def _run_refer_scenario(parley: Telephony, tmp_path: Path, handler: bool) -> None:
    scenario = tmp_path / "refer.xml"
    scenario.write_text(refer_scenario(handler=handler))
    client = Sipp(tmp_path / "refer", scenario, target=f"127.0.0.1:{parley.sip_port}",
                  service="600", port=free_port(), calls=1,
                  extra=("-timeout", "20s", "-timeout_error", "-au", "1001", "-ap", "pw1001"))
    try:
        await client.start()
        result = await client.wait(30)
    finally:
        await client.stop()
    assert result.ok, result.log


@needs_sipp
async def test_sipp_attended_transfer_replaces_is_parsed_and_notified(
        parley: Telephony, tmp_path: Path) -> None:
    answering_number(parley, "600")
    seen: list[tuple[Channel, ReferRequest]] = []
    found: list[Channel | None] = []

    async def on_refer(channel: Channel, refer: ReferRequest) -> bool:
        seen.append((channel, refer))
        replaces = refer.replaces
        if replaces is not None:  # RFC 3891: to-tag is Parley's, from-tag the phone's
            found.append(parley.find_dialog(replaces.call_id, replaces.to_tag,
                                            replaces.from_tag))
            found.append(parley.find_dialog(replaces.call_id, replaces.from_tag,
                                            replaces.to_tag))  # the phone's own view
            found.append(parley.find_dialog(replaces.call_id, None, None))
            found.append(parley.find_dialog(replaces.call_id, "other", replaces.from_tag))
            found.append(parley.find_dialog("unknown-call", None, None))
        return True

    parley.handle_refers(on_refer)
    await _run_refer_scenario(parley, tmp_path, handler=True)
    assert len(seen) == 1, seen  # malformed REFERs never reach the handler
    channel, refer = seen[0]
    assert refer.target == "1002"
    assert refer.uri == f"sip:1002@127.0.0.1:{parley.sip_port}"
    assert refer.referred_by == "sip:1001@127.0.0.1"
    assert refer.replaces == Replaces(channel.call_id, to_tag=channel.local_tag,
                                      from_tag=channel.remote_tag or "")
    assert found == [channel, channel, channel, None, None]
    assert parley.channel(channel.id) is channel  # still known for a while after the end
    assert channel.ended
    assert parley.find_dialog(channel.call_id, None, None) is None  # ended: not replaceable


@needs_sipp
async def test_sipp_refer_without_handler_is_declined(parley: Telephony,
                                                      tmp_path: Path) -> None:
    answering_number(parley, "600")
    assert parley.engine.on_refer is None
    await _run_refer_scenario(parley, tmp_path, handler=False)
